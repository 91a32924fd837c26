"""The tasks of a continual-learning stream: what each task draws its training samples from,
its held-out probes, and how a sample becomes the network's input.

- "split": the classes, in ``class_order`` ("natural" 0, 1, ...; "seeded" a permutation drawn
  from ``task_seed``; or a list), cut into tasks of ``classes_per_task`` classes (split MNIST:
  {0, 1}, {2, 3}, ..., {8, 9}). ``n_tasks`` is then classes / classes_per_task.
- "permuted": ``n_tasks`` tasks over every class, task ``t`` showing each image with its pixels
  in a fixed order drawn from ``(task_seed, t)``; with ``identity_first`` (the default) task 0
  is the identity, the unpermuted images. ``permutations`` (a .npy file, one row per task)
  gives the pixel orders instead; ``n_tasks`` is then its number of rows.

Probes are held out: up to ``probe_samples`` test samples of each task's classes, chosen by
``task_seed`` (the permuted tasks share the digits, each in its own pixel order). The one-hot
patterns (``dataset = "patterns"``, the toy experiments' items, no download) have no held-out
set: a pattern's probe is the pattern itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.data import load_dataset
from neurosim.data.datasets import N_CLASSES
from neurosim.errors import ValidationError
from neurosim.experiments.continual.protocol import check_settings
from neurosim.streams.tasks import TaskSchedule

# salts that keep the task set's draws apart from each other
_PERMUTATION_SALT = 1
_PROBE_SALT = 2


@dataclass(frozen=True)
class TaskSet:
    """The data and tasks of a stream (module docstring)."""

    train_images: np.ndarray  # (n, inputs) uint8
    train_labels: np.ndarray  # (n,)
    pools: list[np.ndarray]  # per task: training indices it draws from
    classes: list[np.ndarray]  # per task: its classes
    permutations: list[np.ndarray | None]  # per task: pixel order, None for the identity
    probe_images: np.ndarray  # (probes, inputs) uint8, every task's probes, task by task
    probe_labels: np.ndarray  # (probes,)
    probe_tasks: np.ndarray  # (probes,) the task of each probe
    n_outputs: int

    @property
    def n_tasks(self) -> int:
        return len(self.pools)

    @property
    def n_inputs(self) -> int:
        return int(self.train_images.shape[1])

    def inputs(self, tasks: np.ndarray, items: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
        """The training samples ``items`` of ``tasks`` as inputs scaled to [0, 1]."""
        images = self.train_images[items].astype(dtype)
        images /= 255
        for task in np.unique(tasks):
            order = self.permutations[task]
            if order is not None:
                rows = tasks == task
                images[rows] = images[rows][:, order]
        return images

    def schedule(self, table: dict[str, Any], seed: int) -> TaskSchedule:
        """The stream's schedule under the settings ``table``, its draws seeded by ``seed``."""
        return TaskSchedule(
            self.pools,
            range(self.n_tasks),
            schedule=table["schedule"],
            samples_per_task=table["samples_per_task"],
            cycles=table["cycles"] or None,
            seed=seed,
        )

    def answer(self, outputs: np.ndarray, tasks: np.ndarray, evaluation: str) -> np.ndarray:
        """The predicted class of each row of ``outputs`` (states of the output neurons):
        the argmax over every class ("class"-incremental) or over the classes of the row's
        task only ("task"-incremental)."""
        if evaluation == "class":
            return np.argmax(outputs, axis=1)
        masked = np.full_like(outputs, -np.inf)
        for task in np.unique(tasks):
            rows = np.flatnonzero(tasks == task)
            masked[np.ix_(rows, self.classes[task])] = outputs[np.ix_(rows, self.classes[task])]
        return np.argmax(masked, axis=1)


def _class_groups(table: dict[str, Any], n_classes: int) -> list[np.ndarray]:
    order = table["class_order"]
    if order == "natural":
        order = np.arange(n_classes)
    elif order == "seeded":
        order = np.random.default_rng(table["task_seed"]).permutation(n_classes)
    order = np.asarray(order, dtype=np.int64)
    per_task = table["classes_per_task"]
    return [order[k : k + per_task] for k in range(0, n_classes, per_task)]


def _probes(
    labels: np.ndarray, classes: np.ndarray, count: int, task_seed: int, task: int
) -> np.ndarray:
    """Up to ``count`` indices of ``labels`` in ``classes``, in an order drawn from the seed."""
    candidates = np.flatnonzero(np.isin(labels, classes))
    chosen = np.random.default_rng((task_seed, _PROBE_SALT, task)).permutation(candidates)
    return np.sort(chosen[:count])


def _read_permutations(path: str, n_inputs: int) -> np.ndarray:
    """The permuted tasks' pixel orders from the .npy file ``path``: one row per task, each
    row a permutation of 0 .. n_inputs - 1."""
    key = "experiment.permutations"
    try:
        orders = np.load(Path(path).expanduser(), allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValidationError(
            f"{key} = {path!r}: cannot be read as a .npy array ({error})"
        ) from None
    if orders.ndim != 2 or orders.shape[1] != n_inputs or not len(orders):
        raise ValidationError(
            f"{key} = {path!r}: holds an array of shape {orders.shape}; expected (tasks, "
            f"{n_inputs}), one permutation of the {n_inputs} inputs per task"
        )
    identity = np.arange(n_inputs)
    for task, order in enumerate(orders):
        if not np.array_equal(np.sort(order), identity):
            raise ValidationError(
                f"{key} = {path!r}: row {task} is not a permutation of 0 to {n_inputs - 1}"
            )
    return orders.astype(np.int64)


def build_tasks(table: dict[str, Any]) -> TaskSet:
    """The tasks the settings ``table`` describe, after every check that needs the data."""
    if table["dataset"] == "patterns":
        n_classes = table["n_patterns"]
        train_images = (np.eye(n_classes) * 255).astype(np.uint8)
        train_labels = np.arange(n_classes)
        test_images, test_labels = train_images, train_labels
    else:
        n_classes = N_CLASSES
        dataset = load_dataset(table["dataset"], table.get("data_dir"))
        train_images, train_labels = dataset.train_images, dataset.train_labels
        test_images, test_labels = dataset.test_images, dataset.test_labels
    check_settings(table, n_classes)
    if table["tasks"] == "split":
        classes = _class_groups(table, n_classes)
        permutations: list[np.ndarray | None] = [None] * len(classes)
    elif "permutations" in table:
        permutations = list(_read_permutations(table["permutations"], train_images.shape[1]))
        classes = [np.arange(n_classes)] * len(permutations)
    else:
        classes = [np.arange(n_classes)] * table["n_tasks"]
        n_pixels = train_images.shape[1]
        permutations = [
            None
            if task == 0 and table["identity_first"]
            else np.random.default_rng((table["task_seed"], _PERMUTATION_SALT, task)).permutation(
                n_pixels
            )
            for task in range(table["n_tasks"])
        ]
    pools = [np.flatnonzero(np.isin(train_labels, group)) for group in classes]
    probe_images, probe_labels, probe_tasks = [], [], []
    for task, group in enumerate(classes):
        # the permuted tasks share their digits, each in its own pixel order
        draw = 0 if table["tasks"] == "permuted" else task
        chosen = _probes(test_labels, group, table["probe_samples"], table["task_seed"], draw)
        images = test_images[chosen]
        if permutations[task] is not None:
            images = images[:, permutations[task]]
        probe_images.append(images)
        probe_labels.append(test_labels[chosen])
        probe_tasks.append(np.full(len(chosen), task))
    return TaskSet(
        train_images=train_images,
        train_labels=np.asarray(train_labels, dtype=np.int64),
        pools=pools,
        classes=classes,
        permutations=permutations,
        probe_images=np.concatenate(probe_images),
        probe_labels=np.concatenate(probe_labels).astype(np.int64),
        probe_tasks=np.concatenate(probe_tasks),
        n_outputs=n_classes,
    )
