"""MNIST and Fashion-MNIST with aSTDP (aSTDP paper, section 3.1; MODEL.md's experiments table).

The network is ``layered([784, *hidden, 10])``. Training follows the paper's algorithm 2 for
every digit: the image is clamped on the input neurons with the outputs free for
``free_steps`` steps, then the label (one-hot) is clamped on the outputs as well for
``clamped_steps`` steps. The state is never reset between digits. The rule learns in every
step of both parts, as algorithm 2 does (``learn_free = false`` learns in the clamped part
only). ``alpha_decay`` lowers the learning rate as training goes on: after n training digits
(all epochs counted) each batch learns with ``alpha / (1 + alpha_decay * n / 1000)``; 0, the
default, keeps the paper's constant alpha. With ``batch_size`` B > 1 the simulator runs B
digits side by side and each weight change is the batch mean (the paper's batches of 128);
B = 1 is the faithful, online form.

Data: the training set is split once (``split_seed``) into ``validation_digits`` validation
digits and the rest; ``train_digits`` of the rest (0: all) are shown each epoch in an order
shuffled by the seed. Everything is chosen on the validation split: the test set is read only
after training, for the final evaluation.

Evaluation (validation after each epoch, test at the end) runs on a copy of the network with
learning off (alpha 0, the training fake targets), ``eval_batch_size`` digits at once. Only
the image is clamped; after ``test_steps`` steps the prediction is the argmax of the output
states (copy 0, the weakly clamped one). The state carries over from one digit to the next,
as in training. Steps to settle: on ``settle_digits`` validation digits, each first shown
after another digit, the number of steps until the largest change of a state (copy 0) in one
step falls below ``settle_threshold`` (the paper's 0.001), capped at ``settle_max_steps``.

``mode`` selects what is clamped when: only "supervised" so far; each mode is one entry of
``MODES`` (the paper's unsupervised, self-supervised and generation variants change only the
targets and clamps of the two parts). ``scenario.seed`` is not used: the experiment runs
every seed in ``seeds`` (initial weights, training order and simulator).

Metrics, over ``seed`` where per seed: ``test_accuracy``, ``confusion`` (seed, label,
predicted; counts of test digits), ``validation_accuracy`` (seed, epoch),
``train_wall_time`` (seconds), ``steps_to_settle`` (mean over the settle digits) and
``unsettled`` (share of them that had not settled at the cap). The final weights of each
seed are stored as weight snapshots, for the receptive fields in the figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from neurosim.backends.sync import SyncSimulator
from neurosim.data import Dataset, batches, load_dataset, one_hot
from neurosim.data.datasets import DATASETS, IMAGE_SHAPE, N_CLASSES
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.ordering import _integer_list
from neurosim.model import topology
from neurosim.model.network import CompiledNetwork, compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.recording.store import RunReader, RunStore, StopRequest, stop_on_signals
from neurosim.scenario.runner import RunSummary, create_experiment_store
from neurosim.scenario.schema import Key, Scenario, _boolean, _choice, _integer, _number, _text

PAPER_ACCURACY = {"supervised": 0.92}
PAPER_SOURCE = "aSTDP paper, section 3.1 (784-512-10, batch 128)"
N_RECEPTIVE_FIELDS = 64


@dataclass(frozen=True)
class Layout:
    """Where the visible neurons of ``layered([n_input, *hidden, n_output])`` are (the
    compiled order is by layer: inputs first, outputs last)."""

    n_neurons: int
    inputs: slice
    outputs: slice


@dataclass(frozen=True)
class Presentation:
    """What one batch of digits clamps: targets (B, N), the clamps of the free part and of
    the clamped part."""

    target: np.ndarray
    free_clamp: np.ndarray
    clamped_clamp: np.ndarray


def _supervised(layout: Layout, images: np.ndarray, labels: np.ndarray) -> Presentation:
    """Algorithm 2: the image alone, then the image and the one-hot label."""
    target = np.zeros((len(images), layout.n_neurons), dtype=images.dtype)
    target[:, layout.inputs] = images
    target[:, layout.outputs] = one_hot(labels, dtype=images.dtype)
    free = np.zeros(layout.n_neurons, dtype=images.dtype)
    free[layout.inputs] = 1.0
    clamped = free.copy()
    clamped[layout.outputs] = 1.0
    return Presentation(target, free, clamped)


# mode -> how a batch is presented in training
MODES: dict[str, Callable[[Layout, np.ndarray, np.ndarray], Presentation]] = {
    "supervised": _supervised,
}


def _hidden_sizes(name: str, value: Any) -> list[int]:
    return _integer_list(1, unique=False)(name, value)


KEYS = {
    "dataset": Key(_choice(tuple(DATASETS)), "mnist"),
    "data_dir": Key(_text),
    "mode": Key(_choice(tuple(MODES)), "supervised"),
    "hidden": Key(_hidden_sizes, [512]),
    "batch_size": Key(_integer(1, 4096), 128),
    "train_digits": Key(_integer(0), 0),
    "validation_digits": Key(_integer(1), 5000),
    "test_digits": Key(_integer(0), 0),
    "split_seed": Key(_integer(0), 0),
    "epochs": Key(_integer(1), 1),
    "free_steps": Key(_integer(0), 20),
    "clamped_steps": Key(_integer(1), 20),
    "learn_free": Key(_boolean, True),
    "alpha_decay": Key(_number(0.0), 0.0),
    "test_steps": Key(_integer(1), 40),
    "eval_batch_size": Key(_integer(1), 1000),
    "settle_digits": Key(_integer(0), 300),
    "settle_threshold": Key(_number(0.0), 1e-3),
    "settle_max_steps": Key(_integer(1), 500),
    "seeds": Key(_integer_list(0), [0]),
}


def _check_settings(table: dict[str, Any], dataset: Dataset) -> None:
    """The checks that need the data set's sizes."""
    n_train = len(dataset.train_labels)
    if table["validation_digits"] >= n_train:
        raise ValidationError(
            f"experiment.validation_digits = {table['validation_digits']}: expected fewer than "
            f"the {n_train} training digits of {dataset.name}, leaving some to train on"
        )
    left = n_train - table["validation_digits"]
    if table["train_digits"] > left:
        raise ValidationError(
            f"experiment.train_digits = {table['train_digits']}: only {left} training digits "
            f"are left after experiment.validation_digits = {table['validation_digits']}"
        )
    if table["settle_digits"] > table["validation_digits"]:
        raise ValidationError(
            f"experiment.settle_digits = {table['settle_digits']}: expected at most "
            f"experiment.validation_digits = {table['validation_digits']}"
        )


def build_network(
    hidden: list[int], params: ModelParameters, seed: int
) -> tuple[CompiledNetwork, Layout]:
    """``layered([784, *hidden, 10])`` with initial weights drawn from ``seed``."""
    n_input = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    network = compile_graph(topology.layered([n_input, *hidden, N_CLASSES]), params, seed=seed)
    n = network.n_neurons
    return network, Layout(n, slice(0, n_input), slice(n - N_CLASSES, n))


def _split(table: dict[str, Any], dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices) into the training set."""
    train, validation = dataset.split(table["validation_digits"], table["split_seed"])
    if table["train_digits"]:
        chosen = np.random.default_rng(table["split_seed"]).permutation(len(train))
        train = np.sort(train[chosen[: table["train_digits"]]])
    return train, validation


def decayed_alpha(alpha: float, alpha_decay: float, digits_seen: int) -> float:
    """The learning rate after ``digits_seen`` training digits (counted over all epochs):
    ``alpha / (1 + alpha_decay * digits_seen / 1000)``; ``alpha_decay`` 0 keeps ``alpha``."""
    return alpha / (1.0 + alpha_decay * digits_seen / 1000.0)


def _use(sim: SyncSimulator, params: ModelParameters) -> None:
    """Continue ``sim`` with ``params`` (no call where they are already the ones it runs)."""
    if sim.params != params:
        sim.set_parameters(params)


def train_epoch(
    sim: SyncSimulator,
    layout: Layout,
    images: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    *,
    mode: str,
    free_steps: int,
    clamped_steps: int,
    learn_free: bool,
    params: ModelParameters | None = None,
    alpha_decay: float = 0.0,
    digits_seen: int = 0,
    stop: StopRequest | None = None,
    bar: tqdm | None = None,
) -> None:
    """One pass over ``order`` (indices into ``images``), ``sim.batch_size`` digits at a
    time; a last, smaller batch is left out (the simulator's batch size is fixed). Each batch
    learns with ``params`` (None: those ``sim`` runs with now), their alpha decayed by
    ``decayed_alpha`` after ``digits_seen`` plus the digits of the batches before it."""
    if params is None:
        params = sim.params
    batch_size = sim.batch_size
    usable = order[: len(order) - len(order) % batch_size]
    dtype = sim.network.dtype.type
    for batch_images, batch_labels in batches(images, labels, usable, batch_size, dtype):
        learning = params.replace(alpha=decayed_alpha(params.alpha, alpha_decay, digits_seen))
        shown = MODES[mode](layout, batch_images, batch_labels)
        if free_steps:
            _use(sim, learning if learn_free else learning.replace(alpha=0.0, alpha_smoothing=0.0))
            sim.set_input(shown.target, shown.free_clamp)
            sim.run(free_steps)
        _use(sim, learning)
        sim.set_input(shown.target, shown.clamped_clamp)
        sim.run(clamped_steps)
        digits_seen += batch_size
        if bar is not None:
            bar.update(batch_size * (free_steps + clamped_steps))
        if stop is not None:
            stop.check()


def _evaluation_simulator(
    network: CompiledNetwork, params: ModelParameters, batch_size: int, seed: int
) -> SyncSimulator:
    """A simulator on a copy of ``network`` with learning off."""
    return SyncSimulator(
        network.copy(),
        params.replace(alpha=0.0, alpha_smoothing=0.0),
        batch_size=batch_size,
        seed=seed,
    )


def _image_inputs(
    layout: Layout, batch_images: np.ndarray, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and clamps that show ``batch_images`` on the inputs (padded to the batch)."""
    target = np.zeros((batch_size, layout.n_neurons), dtype=batch_images.dtype)
    target[: len(batch_images), layout.inputs] = batch_images
    clamp = np.zeros(layout.n_neurons, dtype=batch_images.dtype)
    clamp[layout.inputs] = 1.0
    return target, clamp


def predict(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    images: np.ndarray,
    indices: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    seed: int,
) -> np.ndarray:
    """Predicted class of each digit in ``indices``: argmax of the output states after
    ``steps`` steps with only the image clamped (learning off, on a copy)."""
    batch_size = min(batch_size, len(indices))
    sim = _evaluation_simulator(network, params, batch_size, seed)
    dtype = network.dtype.type
    predictions = []
    dummy_labels = np.zeros(len(images), dtype=np.uint8)
    for batch_images, _ in batches(images, dummy_labels, indices, batch_size, dtype):
        sim.set_input(*_image_inputs(layout, batch_images, batch_size))
        sim.run(steps)
        outputs = sim.state[0, : len(batch_images), layout.outputs]
        predictions.append(np.argmax(outputs, axis=1))
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def steps_to_settle(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    images: np.ndarray,
    indices: np.ndarray,
    *,
    warmup_steps: int,
    threshold: float,
    max_steps: int,
    seed: int,
) -> np.ndarray:
    """For each digit in ``indices``: the steps after it replaces the previous digit (the one
    before it in ``indices``, shown for ``warmup_steps``) until max_i |ds_i| < ``threshold``
    (copy 0); ``max_steps`` where it has not settled by then."""
    sim = _evaluation_simulator(network, params, len(indices), seed)
    dtype = network.dtype.type
    dummy_labels = np.zeros(len(images), dtype=np.uint8)
    previous = np.roll(indices, 1)
    for shown, steps in ((previous, warmup_steps), (indices, 0)):
        batch_images, _ = next(batches(images, dummy_labels, shown, len(shown), dtype))
        sim.set_input(*_image_inputs(layout, batch_images, len(shown)))
        sim.run(steps)
    settled = np.full(len(indices), max_steps)
    before = sim.state[0].copy()
    for step in range(1, max_steps + 1):
        sim.run(1)
        after = sim.state[0]
        calm = (np.abs(after - before).max(axis=1) < threshold) & (settled == max_steps)
        settled[calm] = step
        if np.all(settled < max_steps):
            break
        before = after.copy()
    return settled


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Counts (label, predicted), 10 x 10."""
    matrix = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    table = scenario.settings["experiment"]
    if scenario.settings["scenario"]["backend"] != "sync":
        raise ValidationError(
            "scenario.backend = 'event': the MNIST experiments (1,306 neurons and more, tens of "
            "millions of steps) are too large for the event-driven backend; run them on the "
            "synchronous backend (scenario.backend = 'sync' or --backend sync)"
        )
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    _check_settings(table, dataset)
    params = scenario.phase_parameters[0]
    seeds, epochs = table["seeds"], table["epochs"]
    train_indices, validation_indices = _split(table, dataset)
    # a network built before the store: its neurons and synapses describe the store
    layout_network, layout = build_network(table["hidden"], params, seeds[0])
    store = create_experiment_store(
        out,
        layout_network,
        scenario,
        kind="mnist",
        seeds=seeds,
        overwrite=overwrite,
        dataset_source=str(dataset.source),
        train_digits_used=len(train_indices),
        paper_accuracy=PAPER_ACCURACY.get(table["mode"]),
        paper_source=PAPER_SOURCE,
    )
    per_digit = table["free_steps"] + table["clamped_steps"]
    usable = len(train_indices) - len(train_indices) % table["batch_size"]
    train_steps = epochs * usable * per_digit
    results = _Results(len(seeds), epochs)
    bar = tqdm(
        total=len(seeds) * train_steps,
        unit="digit-step",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    steps = 0
    with store, stop_on_signals() as stop, bar:
        for s, seed in enumerate(seeds):
            network, _ = build_network(table["hidden"], params, seed)
            sim = SyncSimulator(network, params, batch_size=table["batch_size"], seed=seed)
            shuffle = np.random.default_rng(seed)
            for epoch in range(epochs):
                started = time.perf_counter()
                train_epoch(
                    sim,
                    layout,
                    dataset.train_images,
                    dataset.train_labels,
                    shuffle.permutation(train_indices),
                    params=params,
                    mode=table["mode"],
                    free_steps=table["free_steps"],
                    clamped_steps=table["clamped_steps"],
                    learn_free=table["learn_free"],
                    alpha_decay=table["alpha_decay"],
                    digits_seen=epoch * usable,
                    stop=stop,
                    bar=bar,
                )
                results.train_wall_time[s] += time.perf_counter() - started
                steps += usable * per_digit
                predicted = _predict(network, params, layout, dataset, validation_indices, table)
                correct = predicted == dataset.train_labels[validation_indices]
                results.validation_accuracy[s, epoch] = correct.mean()
                bar.set_postfix(validation=f"{correct.mean():.3f}")
            _settle(results, s, network, params, layout, dataset, validation_indices, table)
            # the test set is read here, after this seed's training, and never before
            test_indices = np.arange(table["test_digits"] or len(dataset.test_labels))
            labels = dataset.test_labels[test_indices]
            predicted = _predict(network, params, layout, dataset, test_indices, table, test=True)
            results.confusion[s] = confusion_matrix(labels, predicted)
            results.test_accuracy[s] = np.mean(predicted == labels)
            store.snapshot_weights(s, network.edge_weights(), network.bias)
            results.write(store, seeds)
            store.set_attribute("seeds_done", s + 1)
    return RunSummary(out, steps, store.status, results.summary())


def _predict(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    dataset: Dataset,
    indices: np.ndarray,
    table: dict[str, Any],
    test: bool = False,
) -> np.ndarray:
    images = dataset.test_images if test else dataset.train_images
    return predict(
        network,
        params,
        layout,
        images,
        indices,
        steps=table["test_steps"],
        batch_size=table["eval_batch_size"],
        seed=table["seeds"][0],
    )


def _settle(
    results: _Results,
    s: int,
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    dataset: Dataset,
    validation_indices: np.ndarray,
    table: dict[str, Any],
) -> None:
    if not table["settle_digits"]:
        return
    settled = steps_to_settle(
        network,
        params,
        layout,
        dataset.train_images,
        validation_indices[: table["settle_digits"]],
        warmup_steps=table["test_steps"],
        threshold=table["settle_threshold"],
        max_steps=table["settle_max_steps"],
        seed=table["seeds"][s],
    )
    results.steps_to_settle[s] = settled.mean()
    results.unsettled[s] = np.mean(settled >= table["settle_max_steps"])


class _Results:
    """The metrics of every seed, NaN until a seed is done."""

    def __init__(self, n_seeds: int, epochs: int) -> None:
        self.test_accuracy = np.full(n_seeds, np.nan)
        self.confusion = np.zeros((n_seeds, N_CLASSES, N_CLASSES), dtype=np.int64)
        self.validation_accuracy = np.full((n_seeds, epochs), np.nan)
        self.train_wall_time = np.zeros(n_seeds)
        self.steps_to_settle = np.full(n_seeds, np.nan)
        self.unsettled = np.full(n_seeds, np.nan)

    def write(self, store: RunStore, seeds: list[int]) -> None:
        seed = {"seed": np.array(seeds)}
        classes = np.arange(N_CLASSES)
        store.write_metric(
            "test_accuracy",
            self.test_accuracy,
            ("seed",),
            {
                "description": "share of test digits whose output argmax is the label "
                "(image clamped only, learning off)",
                "paper_value": PAPER_ACCURACY,
                "paper_source": PAPER_SOURCE,
            },
            coords=seed,
        )
        store.write_metric(
            "confusion",
            self.confusion,
            ("seed", "label", "predicted"),
            {"description": "test digits by label (rows) and predicted class (columns)"},
            coords={**seed, "label": classes, "predicted": classes},
        )
        store.write_metric(
            "validation_accuracy",
            self.validation_accuracy,
            ("seed", "epoch"),
            {"description": "accuracy on the validation split after each epoch"},
            coords={**seed, "epoch": np.arange(1, self.validation_accuracy.shape[1] + 1)},
        )
        store.write_metric(
            "train_wall_time",
            self.train_wall_time,
            ("seed",),
            {"description": "seconds spent training (evaluations excluded)", "unit": "s"},
            coords=seed,
        )
        store.write_metric(
            "steps_to_settle",
            self.steps_to_settle,
            ("seed",),
            {
                "description": "mean steps until max |ds| < threshold after a digit changes "
                "(validation digits; unsettled digits count as the cap)"
            },
            coords=seed,
        )
        store.write_metric(
            "unsettled",
            self.unsettled,
            ("seed",),
            {"description": "share of the settle digits not settled at the cap"},
            coords=seed,
        )

    def summary(self) -> dict[str, float]:
        done = ~np.isnan(self.test_accuracy)
        if not done.any():
            return {}
        return {
            "test_accuracy": float(self.test_accuracy[done].mean()),
            "validation_accuracy_last": float(self.validation_accuracy[done, -1].mean()),
            "train_wall_time_s": float(self.train_wall_time[done].mean()),
            "steps_to_settle": float(np.nanmean(self.steps_to_settle[done]))
            if not np.isnan(self.steps_to_settle[done]).all()
            else float("nan"),
        }


def plot(run: RunReader, path: Path) -> Path:
    """Learning curve (validation accuracy per epoch, one line per seed), the confusion
    matrix summed over seeds, and the input weights of the first hidden units (first seed)."""
    if "test_accuracy" not in run.names("metrics"):
        raise ValidationError(f"{run.path}: no accuracy metrics yet (no seed finished)")
    validation = run.array("metrics", "validation_accuracy")
    confusion = run.array("metrics", "confusion").sum(axis=0)
    test = run.array("metrics", "test_accuracy")
    seeds = run.array("metrics", "seed")
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    curve, matrix, fields = axes
    epochs = np.arange(1, validation.shape[1] + 1)
    for s, seed in enumerate(seeds):
        if not np.isnan(test[s]):
            curve.plot(epochs, 100 * validation[s], marker="o", label=f"seed {seed}")
    paper = run.attributes.get("paper_accuracy")
    if paper is not None:
        curve.axhline(100 * paper, color="grey", linestyle="--", label="paper (test)")
    curve.set_ylim(0, 100)
    curve.set_xticks(epochs)
    curve.set_xlabel("epoch")
    curve.set_ylabel("validation accuracy (%)")
    curve.set_title(f"test accuracy {100 * np.nanmean(test):.1f} %")
    curve.legend(fontsize=8)
    image = matrix.imshow(confusion, cmap="Blues")
    for (label, predicted), count in np.ndenumerate(confusion):
        matrix.text(predicted, label, str(count), ha="center", va="center", fontsize=6)
    matrix.set_xticks(range(N_CLASSES))
    matrix.set_yticks(range(N_CLASSES))
    matrix.set_xlabel("predicted")
    matrix.set_ylabel("label")
    matrix.set_title("confusion (test digits, all seeds)")
    figure.colorbar(image, ax=matrix, shrink=0.8)
    fields.imshow(_receptive_fields(run), cmap="RdBu_r")
    fields.set_axis_off()
    fields.set_title(f"input weights of the first {N_RECEPTIVE_FIELDS} hidden units")
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _receptive_fields(run: RunReader) -> np.ndarray:
    """The input-to-hidden weights of the first hidden units as a mosaic of 28 x 28 tiles,
    each scaled to [-1, 1] (first seed's final weights)."""
    role = run.array("neurons", "role")
    pre = run.array("weights", "edge_src")
    post = run.array("weights", "edge_dst")
    weights = run.array("weights", "W")[0]
    inputs = np.flatnonzero(role == "input")
    hidden = np.flatnonzero(role == "hidden")[:N_RECEPTIVE_FIELDS]
    dense = np.zeros((len(role), len(role)))
    dense[pre, post] = weights
    tiles = dense[np.ix_(inputs, hidden)].T.reshape(-1, *IMAGE_SHAPE)
    tiles /= np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    side = int(np.ceil(np.sqrt(len(tiles))))
    height, width = IMAGE_SHAPE
    mosaic = np.full((side * (height + 1), side * (width + 1)), np.nan)
    for k, tile in enumerate(tiles):
        row, column = divmod(k, side)
        mosaic[row * (height + 1) : row * (height + 1) + height, column * (width + 1) :][
            :, :width
        ] = tile
    return mosaic


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot)
