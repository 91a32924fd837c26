"""The ``[experiment]`` keys of a continual-learning stream, their defaults, and the checks
that involve several keys or the data set."""

from __future__ import annotations

from typing import Any

from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL, TEST_MODEL_KEY
from neurosim.keys import Key, boolean, choice, integer, integer_list, number, seed, text
from neurosim.streams.tasks import SCHEDULES

DATASETS = ("mnist", "fashion-mnist", "patterns")
TASKS = ("split", "permuted")
EVALUATIONS = ("class", "task")


def _class_order(name: str, value: Any) -> str | list[int]:
    """ "natural", "seeded", or a list of the classes in the order their tasks come."""
    if isinstance(value, str):
        return choice(("natural", "seeded"))(name, value)
    return integer_list(0)(name, value)


KEYS = {
    # the data: an image set, or the toy experiments' one-hot patterns (no download)
    "dataset": Key(choice(DATASETS), "mnist"),
    "data_dir": Key(text),
    "n_patterns": Key(integer(2, 1024), 8),
    # the tasks: disjoint class subsets ("split") or pixel permutations of every class
    "tasks": Key(choice(TASKS), "split"),
    "classes_per_task": Key(integer(1), 2),
    "class_order": Key(_class_order, "natural"),
    "n_tasks": Key(integer(1), 10),
    "identity_first": Key(boolean, True),
    # the permutations from a .npy file of shape (n_tasks, inputs) instead of drawn
    "permutations": Key(text),
    "task_seed": Key(seed, 0),
    # the schedule: blocks of samples_per_task, the order passed `cycles` times (0: no end)
    "schedule": Key(choice(SCHEDULES), "blocks"),
    "samples_per_task": Key(integer(1), 1000),
    "cycles": Key(integer(0), 1),
    "samples": Key(integer(0), 0),
    # the network
    "hidden": Key(integer_list(1, unique=False), [256]),
    "topology": Key(choice(("layered", "recurrent")), "layered"),
    # how each sample is shown: free (prediction), then with its label (learning)
    "batch_size": Key(integer(1, 4096), 1),
    "free_steps": Key(integer(1), 20),
    "clamped_steps": Key(integer(1), 20),
    "learn_free": Key(boolean, True),
    "weight_decay": Key(number(0.0), 0.0),
    "evaluation": Key(choice(EVALUATIONS), "class"),
    # online metrics
    "prequential_window": Key(integer(1), 500),
    "probe_samples": Key(integer(1), 200),
    "probe_every": Key(integer(0), 500),
    "test_steps": Key(integer(1), 40),
    "eval_batch_size": Key(integer(1), 1000),
    "settle_samples": Key(integer(0), 50),
    "settle_threshold": Key(number(0.0), 1e-3),
    "settle_max_steps": Key(integer(1), 500),
    "checkpoint_every": Key(integer(1), 5000),
    TEST_MODEL: TEST_MODEL_KEY,
}


def check_settings(table: dict[str, Any], n_classes: int) -> None:
    """The checks that involve several keys or the data set's ``n_classes``."""
    if table["tasks"] == "permuted" and table["dataset"] == "patterns":
        raise ValidationError(
            "experiment.tasks = 'permuted': the one-hot patterns have one active input each, so "
            "a permutation only renames them; use tasks = 'split' with dataset = 'patterns'"
        )
    if "permutations" in table and table["tasks"] != "permuted":
        raise ValidationError(
            f"experiment.permutations = {table['permutations']!r}: pixel orders are for "
            "experiment.tasks = 'permuted'"
        )
    if table["tasks"] == "split":
        order = table["class_order"]
        if isinstance(order, list):
            wrong = [label for label in order if label >= n_classes]
            if wrong or sorted(order) != list(range(n_classes)):
                raise ValidationError(
                    f"experiment.class_order = {order}: expected each of the {n_classes} classes "
                    f"0 to {n_classes - 1} exactly once"
                    + (f" ({wrong[0]} is not a class)" if wrong else "")
                )
        if n_classes % table["classes_per_task"]:
            raise ValidationError(
                f"experiment.classes_per_task = {table['classes_per_task']}: expected a divisor "
                f"of the {n_classes} classes, so that every task has as many"
            )
    if table["cycles"] == 0 and table["samples"] == 0:
        raise ValidationError(
            "experiment.cycles = 0 (a stream without end) needs experiment.samples > 0, the "
            "samples to run (or stop the run with Ctrl-C; it keeps what it learned)"
        )
    batch = table["batch_size"]
    for key in ("samples_per_task", "probe_every", "checkpoint_every", "samples"):
        if table[key] % batch:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: expected a multiple of experiment.batch_size "
                f"= {batch} (the stream is shown a batch at a time)"
            )
    if table["settle_samples"] > table["probe_samples"]:
        raise ValidationError(
            f"experiment.settle_samples = {table['settle_samples']}: expected at most "
            f"experiment.probe_samples = {table['probe_samples']} (settling is read on probes)"
        )
