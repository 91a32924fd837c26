"""MNIST and Fashion-MNIST with aSTDP (aSTDP paper, section 3.1; MODEL.md's experiments table).

The network is ``layered([784, *hidden, 10])``. Training follows the paper's algorithm 2 for
every digit: the image is clamped on the input neurons with the outputs free for
``free_steps`` steps, then the label (one-hot) is clamped on the outputs as well for
``clamped_steps`` steps. The state is never reset between digits. The rule learns in every
step of both parts, as algorithm 2 does (``learn_free = false`` learns in the clamped part
only). ``alpha_decay`` lowers the learning rate as training goes on: after n training digits
(all epochs of a stage counted, see ``pretrain_epochs``) each batch learns with
``alpha / (1 + alpha_decay * n / 1000)``; 0, the default, keeps the paper's constant alpha.
``weight_decay`` lambda shrinks every weight (not the biases) in step with learning: after
each batch, ``W <- (1 - lambda * alpha_batch * learning_steps) W``, to first order the decay
``dW = -alpha * lambda * W`` in every learning step (each synapse sees only its own weight).
It bounds the label-independent Hebbian growth of the input -> hidden weights that otherwise
degrades learning after a few epochs (docs/mnist-findings.md); 0, the default, is the paper's
rule alone.
With ``batch_size`` B > 1 the simulator runs B digits side by side and each weight change
is the batch mean (the paper's batches of 128); B = 1 is the faithful, online form.

Data: the training set is split once (``split_seed``) into ``validation_digits`` validation
digits and the rest; ``train_digits`` of the rest (0: all) are shown each epoch in an order
shuffled by the seed. Everything is chosen on the validation split: the test set is read only
after training, for the final evaluation.

Evaluation (validation after each epoch, test at the end) runs on a copy of the network with
learning off (alpha 0, the training fake targets), ``eval_batch_size`` digits at once. Only
the image is clamped; after ``test_steps`` steps the prediction is the argmax of the output
states (copy 0, the weakly clamped one). The state carries over from one digit to the next,
as in training. Settling, on ``settle_digits`` validation digits, each first shown after
another digit: ``steps_to_settle`` counts the steps until the largest change of a state
(copy 0) in one step falls below ``settle_threshold`` (the paper's 0.001), capped at
``settle_max_steps``, with the fake targets off. With them on (as in training) no network
ever settles: at alpha 0 the copies still differ, so hidden neurons keep being pulled to
+-``magnitude`` at random steps, and the states move by ~0.25 per step for good. So the
training's effect is measured on the network's own dynamics, and ``steps_to_decide``
(steps until the output argmax changed for the last time, with the fake targets on, as in
evaluation) says when the prediction is final.

``mode`` selects what is clamped when; each mode is one entry of ``MODES``:
"supervised" (algorithm 2 above); "unsupervised" (algorithm 1: the image and the label as
one pattern, all visible neurons clamped throughout; evaluation in-paints the label from the
image); "generate" (algorithm 2 with input and output swapped, the paper's conditional
generation: the label alone, then the label and the image); "selfsupervised" (section
2.3.3: a random 10 x 10 patch of the image free in the free part, clamped in the clamped
part, the label never shown). ``pretrain_epochs`` epochs of "selfsupervised" come before the
``epochs`` of ``mode`` (the paper's self-supervised pretraining, then training with labels),
each stage with its own ``alpha_decay`` schedule; validation follows the ``mode`` epochs only.
``topology`` "recurrent" builds the MSTDP paper's layout instead (``recurrent(784, 10,
hidden)``: visible <-> hidden, hidden all-to-all). With ``generate_samples`` n > 0,
after training n images per label are generated (``generate``: the label clamped with the
betas times ``generate_beta_scale``, images free, ``generate_steps`` steps from a random
state) and judged by an independent classifier (``neurosim.analysis.recognition``, trained
on up to 10,000 training digits, checked on the validation split). ``scenario.seed`` is not
used: the experiment runs every seed in ``seeds`` (initial weights, training order and
simulator).

Checkpoints: after every ``checkpoint_digits`` training digits (0: none within an epoch),
after every epoch and after every seed, the run store's ``checkpoint/`` group receives the
simulator, the shuffle generator, the epoch's digit order and the metrics so far; ``neurosim
run --resume STORE`` (``resume``) continues from it and ends as the run would have without
stopping.

Learning curve: with ``curve_every`` n > 0 (a multiple of ``batch_size``), after every n
digits of the training epochs (pretraining not counted) the network so far is evaluated as
validation is, on the first ``curve_digits`` validation digits; the time it takes is not
counted as training time. It is the curve of a long single-epoch run (MSTDP), which the
per-epoch validation cannot give, and it is on disk as soon as each point is.

Metrics, over ``seed`` where per seed: ``test_accuracy``, ``confusion`` (seed, label,
predicted; counts of test digits), ``validation_accuracy`` (seed, epoch), ``learning_curve``
(seed, digits; with ``curve_every``), ``train_wall_time`` (seconds), ``steps_to_settle``
and ``steps_to_decide`` (means over the settle digits), ``unsettled`` (share of them that
had not settled at the cap); with generation ``generated_images`` (seed, label, sample,
pixel), ``generated_recognised`` (seed) and ``judge_accuracy`` (the judge's validation
accuracy). The final weights of each seed are stored as weight snapshots, for the
receptive fields in the figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from neurosim.analysis.recognition import (
    DEFAULT_TRAIN_DIGITS,
    ReferenceClassifier,
    fit_reference_classifier,
)
from neurosim.backends.sync import SyncSimulator
from neurosim.data import Dataset, batches, load_dataset, one_hot
from neurosim.data.datasets import DATASETS, IMAGE_SHAPE, N_CLASSES
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.keys import Key, boolean, choice, integer, integer_list, number, text
from neurosim.model import topology
from neurosim.model.network import ROLE_CODES, CompiledNetwork, compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.recording import (
    RunReader,
    RunStore,
    StopRequest,
    open_run,
    stop_on_signals,
)
from neurosim.scenario.runner import RunSummary, create_experiment_store
from neurosim.scenario.schema import Scenario, check_scenario

PAPER_ACCURACY = {"supervised": 0.92, "unsupervised": 0.91}
PAPER_SOURCE = "aSTDP paper, section 3.1 (784-512-10, batch 128)"
N_RECEPTIVE_FIELDS = 64
N_GENERATED_SHOWN = 10  # generated digits per label in the figure
PATCH = 10  # side of the square the self-supervised mode covers


@dataclass(frozen=True)
class Layout:
    """Where the inputs and the outputs are in the compiled order (by layer, then role, so
    each is one contiguous range)."""

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


def _supervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 2: the image alone, then the image and the one-hot label."""
    target = np.zeros((len(images), layout.n_neurons), dtype=images.dtype)
    target[:, layout.inputs] = images
    target[:, layout.outputs] = one_hot(labels, dtype=images.dtype)
    free = np.zeros(layout.n_neurons, dtype=images.dtype)
    free[layout.inputs] = 1.0
    clamped = free.copy()
    clamped[layout.outputs] = 1.0
    return Presentation(target, free, clamped)


def _unsupervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 1: the image and the one-hot label as one pattern, clamped throughout."""
    shown = _supervised(layout, images, labels, rng)
    return Presentation(shown.target, shown.clamped_clamp, shown.clamped_clamp)


def _generate(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 2 with input and output swapped (the paper's conditional generation): the
    label alone, then the label and the image."""
    shown = _supervised(layout, images, labels, rng)
    free = np.zeros_like(shown.free_clamp)
    free[layout.outputs] = 1.0
    return Presentation(shown.target, free, shown.clamped_clamp)


def _selfsupervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """The aSTDP paper's self-supervised learning (section 2.3.3): a ``PATCH`` x ``PATCH``
    square of each image, at a random place, is left free in the free part (the network
    predicts it from the rest) and clamped in the clamped part; the label is never shown."""
    target = np.zeros((len(images), layout.n_neurons), dtype=images.dtype)
    target[:, layout.inputs] = images
    clamped = np.zeros_like(target)
    clamped[:, layout.inputs] = 1.0
    free = clamped.copy()
    height, width = IMAGE_SHAPE
    corners = rng.integers(0, [height - PATCH + 1, width - PATCH + 1], size=(len(images), 2))
    for row, (top, left) in enumerate(corners):
        covered = np.zeros(IMAGE_SHAPE, dtype=bool)
        covered[top : top + PATCH, left : left + PATCH] = True
        free[row, layout.inputs][covered.ravel()] = 0.0
    return Presentation(target, free, clamped)


# mode -> how a batch is presented in training; ``rng`` draws what a mode draws (the
# self-supervised patches)
MODES: dict[str, Callable[[Layout, np.ndarray, np.ndarray, np.random.Generator], Presentation]] = {
    "supervised": _supervised,
    "unsupervised": _unsupervised,
    "generate": _generate,
    "selfsupervised": _selfsupervised,
}


def _hidden_sizes(name: str, value: Any) -> list[int]:
    return integer_list(1, unique=False)(name, value)


KEYS = {
    "dataset": Key(choice(tuple(DATASETS)), "mnist"),
    "data_dir": Key(text),
    "mode": Key(choice(tuple(MODES)), "supervised"),
    "hidden": Key(_hidden_sizes, [512]),
    "topology": Key(choice(("layered", "recurrent")), "layered"),
    "batch_size": Key(integer(1, 4096), 128),
    "train_digits": Key(integer(0), 0),
    "validation_digits": Key(integer(1), 5000),
    "test_digits": Key(integer(0), 0),
    "split_seed": Key(integer(0), 0),
    "epochs": Key(integer(1), 1),
    "free_steps": Key(integer(0), 20),
    "clamped_steps": Key(integer(1), 20),
    "learn_free": Key(boolean, True),
    "alpha_decay": Key(number(0.0), 0.0),
    "weight_decay": Key(number(0.0), 0.0),
    "pretrain_epochs": Key(integer(0), 0),
    "test_steps": Key(integer(1), 40),
    "eval_batch_size": Key(integer(1), 1000),
    "settle_digits": Key(integer(0), 300),
    "settle_threshold": Key(number(0.0), 1e-3),
    "settle_max_steps": Key(integer(1), 500),
    "generate_samples": Key(integer(0), 0),
    "generate_steps": Key(integer(1), 100),
    "generate_beta_scale": Key(number(0.01, 10.0), 1.0),
    "seeds": Key(integer_list(0), [0]),
    "checkpoint_digits": Key(integer(0), 5000),
    "curve_every": Key(integer(0), 0),
    "curve_digits": Key(integer(1), 500),
}


def _check_settings(table: dict[str, Any], dataset: Dataset, alpha: float) -> None:
    """The checks that need the data set's sizes, the model's alpha, or several keys."""
    if table["topology"] == "recurrent" and len(table["hidden"]) != 1:
        raise ValidationError(
            f"experiment.hidden = {table['hidden']}: experiment.topology = 'recurrent' has one "
            "hidden population; give one size"
        )
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
    steps = (table["free_steps"], table["clamped_steps"], table["learn_free"])
    if weight_decay_factor(table["weight_decay"], alpha, *steps) <= 0.0:
        largest = 1.0 / (1.0 - weight_decay_factor(1.0, alpha, *steps))  # 1 / (alpha steps)
        raise ValidationError(
            f"experiment.weight_decay = {table['weight_decay']}: with model.alpha = {alpha} a "
            "batch would scale the weights by "
            f"{weight_decay_factor(table['weight_decay'], alpha, *steps):.3g} <= 0; expected "
            f"weight_decay < {largest:.4g}"
        )
    # the curve's digits count only where there is a curve
    taken = ("settle_digits", "curve_digits") if table["curve_every"] else ("settle_digits",)
    for key in taken:
        if table[key] > table["validation_digits"]:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: expected at most "
                f"experiment.validation_digits = {table['validation_digits']}"
            )
    if table["curve_every"] % table["batch_size"]:
        raise ValidationError(
            f"experiment.curve_every = {table['curve_every']}: expected a multiple of "
            f"experiment.batch_size = {table['batch_size']} (the curve is read between batches)"
        )


def build_network(
    hidden: list[int], params: ModelParameters, seed: int, kind: str = "layered"
) -> tuple[CompiledNetwork, Layout]:
    """``layered([784, *hidden, 10])`` or, with ``kind`` "recurrent", ``recurrent(784, 10,
    hidden[0])`` (the MSTDP paper's layout), with initial weights drawn from ``seed``."""
    n_input = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    if kind == "recurrent":
        graph = topology.recurrent(n_input, N_CLASSES, hidden[0])
    else:
        graph = topology.layered([n_input, *hidden, N_CLASSES])
    network = compile_graph(graph, params, seed=seed)
    return network, Layout(network.n_neurons, _span(network, "input"), _span(network, "output"))


def _span(network: CompiledNetwork, role: str) -> slice:
    """The compiled indices of the neurons of ``role`` (contiguous: compiled by layer, then
    role)."""
    where = np.flatnonzero(network.role == ROLE_CODES[role])
    return slice(int(where[0]), int(where[-1]) + 1)


def split_indices(table: dict[str, Any], dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
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


def weight_decay_factor(
    weight_decay: float, alpha: float, free_steps: int, clamped_steps: int, learn_free: bool
) -> float:
    """What a batch that learned with ``alpha`` multiplies the weights by: ``1 - weight_decay
    * alpha * learning_steps`` (module docstring)."""
    learning_steps = clamped_steps + (free_steps if learn_free else 0)
    return 1.0 - weight_decay * alpha * learning_steps


def _use(sim: SyncSimulator, params: ModelParameters) -> None:
    """Continue ``sim`` with ``params`` (no call where they are already the ones it runs)."""
    if sim.params != params:
        sim.set_parameters(params)


def whole_batches(digits: int, batch_size: int) -> int:
    """How many of ``digits`` an epoch trains on: those that fill whole batches (a last,
    smaller batch is left out, as the simulator's batch size is fixed)."""
    return digits - digits % batch_size


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
    weight_decay: float = 0.0,
    digits_seen: int = 0,
    rng: np.random.Generator | None = None,
    stop: StopRequest | None = None,
    bar: tqdm | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> None:
    """One pass over ``order`` (indices into ``images``), ``sim.batch_size`` digits at a
    time; a last, smaller batch is left out (the simulator's batch size is fixed). Each batch
    learns with ``params`` (None: those ``sim`` runs with now), their alpha decayed by
    ``decayed_alpha`` after ``digits_seen`` plus the digits of the batches before it, and then
    shrinks the weights by ``weight_decay`` (module docstring).
    ``rng`` draws what the mode draws (None: seeded by ``digits_seen``). ``after_batch`` is
    called after each batch with the number of digits of ``order`` done."""
    if params is None:
        params = sim.params
    if rng is None:
        rng = np.random.default_rng(digits_seen)
    batch_size = sim.batch_size
    first_seen = digits_seen
    usable = order[: whole_batches(len(order), batch_size)]
    dtype = sim.network.dtype.type
    for batch_images, batch_labels in batches(images, labels, usable, batch_size, dtype):
        learning = params.replace(alpha=decayed_alpha(params.alpha, alpha_decay, digits_seen))
        shown = MODES[mode](layout, batch_images, batch_labels, rng)
        if free_steps:
            _use(sim, learning if learn_free else learning.replace(alpha=0.0, alpha_smoothing=0.0))
            sim.set_input(shown.target, shown.free_clamp)
            sim.run(free_steps)
        _use(sim, learning)
        sim.set_input(shown.target, shown.clamped_clamp)
        sim.run(clamped_steps)
        if weight_decay:
            sim.scale_weights(
                weight_decay_factor(
                    weight_decay, learning.alpha, free_steps, clamped_steps, learn_free
                )
            )
        digits_seen += batch_size
        if bar is not None:
            bar.update(batch_size * (free_steps + clamped_steps))
        if after_batch is not None:
            after_batch(digits_seen - first_seen)
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


def relaxed_states(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    images: np.ndarray,
    indices: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    seed: int,
) -> Iterator[np.ndarray]:
    """For each batch of ``indices``, the states of copy 0 (digits, neurons) after ``steps``
    steps with only the image clamped (learning off, on a copy). With a clamp oscillator,
    every batch is shown from the start of a cycle, so every digit is read at the same phase
    (the previous batch stays on for the steps up to the cycle's end)."""
    batch_size = min(batch_size, len(indices))
    sim = _evaluation_simulator(network, params, batch_size, seed)
    period = len(params.phase_schedules()[0])
    dtype = network.dtype.type
    dummy_labels = np.zeros(len(images), dtype=np.uint8)
    for batch_images, _ in batches(images, dummy_labels, indices, batch_size, dtype):
        sim.run(-sim.step_count % period)
        sim.set_input(*_image_inputs(layout, batch_images, batch_size))
        sim.run(steps)
        yield sim.state[0, : len(batch_images)].copy()


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
    ``steps`` steps with only the image clamped (``relaxed_states``)."""
    predictions = [
        np.argmax(states[:, layout.outputs], axis=1)
        for states in relaxed_states(
            network,
            params,
            layout,
            images,
            indices,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
        )
    ]
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def settling(
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
) -> tuple[np.ndarray, np.ndarray]:
    """For each digit in ``indices``, after it replaces the previous digit (the one before it
    in ``indices``, shown for ``warmup_steps``), with ``params``' dynamics (learning off):
    the steps until max_i |ds_i| < ``threshold`` (copy 0; ``max_steps`` where not reached)
    and the steps until the output argmax changed for the last time within ``max_steps``."""
    sim = _evaluation_simulator(network, params, len(indices), seed)
    dtype = network.dtype.type
    dummy_labels = np.zeros(len(images), dtype=np.uint8)
    previous = np.roll(indices, 1)
    for shown, steps in ((previous, warmup_steps), (indices, 0)):
        batch_images, _ = next(batches(images, dummy_labels, shown, len(shown), dtype))
        sim.set_input(*_image_inputs(layout, batch_images, len(shown)))
        sim.run(steps)
    settled = np.full(len(indices), max_steps)
    decided = np.zeros(len(indices), dtype=np.int64)
    before = sim.state[0].copy()
    choice = np.argmax(before[:, layout.outputs], axis=1)
    for step in range(1, max_steps + 1):
        sim.run(1)
        after = sim.state[0]
        calm = (np.abs(after - before).max(axis=1) < threshold) & (settled == max_steps)
        settled[calm] = step
        now = np.argmax(after[:, layout.outputs], axis=1)
        decided[now != choice] = step
        choice = now
        # a state that moves by less than the threshold keeps its argmax: stop early
        if np.all(settled < max_steps):
            break
        before = after.copy()
    return settled, decided


def generate(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    labels: np.ndarray,
    *,
    steps: int,
    beta_scale: float,
    seed: int,
) -> np.ndarray:
    """One image per label in ``labels``, (len(labels), pixels) in [0, 1]: the one-hot label
    alone is clamped, with both betas times ``beta_scale``, on the outputs of a copy of
    ``network`` (learning off) started from the simulator's random initial state; after
    ``steps`` steps the image is the input states (copy 0) clipped to [0, 1]. States, not
    rates: the data clamps states to the pixel values (with ``sigmoid4_centred`` a blank
    pixel's rate is 0.12, not 0)."""
    clamping = params.replace(
        beta_small=params.beta_small * beta_scale, beta_large=params.beta_large * beta_scale
    )
    sim = _evaluation_simulator(network, clamping, len(labels), seed)
    dtype = network.dtype.type
    target = np.zeros((len(labels), layout.n_neurons), dtype=dtype)
    target[:, layout.outputs] = one_hot(labels, dtype=dtype)
    clamp = np.zeros(layout.n_neurons, dtype=dtype)
    clamp[layout.outputs] = 1.0
    sim.set_input(target, clamp)
    sim.run(steps)
    return np.clip(sim.state[0, :, layout.inputs], 0.0, 1.0)


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
    params = scenario.phase_parameters[0]
    _check_settings(table, dataset, params.alpha)
    train_indices, _ = split_indices(table, dataset)
    # a network built before the store: its neurons and synapses describe the store
    layout_network, _ = build_network(table["hidden"], params, table["seeds"][0], table["topology"])
    store = create_experiment_store(
        out,
        layout_network,
        scenario,
        kind="mnist",
        seeds=table["seeds"],
        overwrite=overwrite,
        dataset_source=str(dataset.source),
        train_digits_used=len(train_indices),
        paper_accuracy=PAPER_ACCURACY.get(table["mode"]),
        paper_source=PAPER_SOURCE,
    )
    return _carry_out(scenario, dataset, store, progress, None)


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped run in the store ``out`` from its checkpoint, with the settings
    it was started with; the result is the one the run would have given without the stop."""
    reader = open_run(out)
    if reader.status == "complete":
        raise ValidationError(f"{out}: the run is complete; there is nothing to resume")
    saved = reader.checkpoint()
    if saved is None:
        raise ValidationError(
            f"{out}: the run stopped before its first checkpoint (none is stored); run the "
            "scenario again"
        )
    scenario = check_scenario(reader.attributes["scenario"], None)
    table = scenario.settings["experiment"]
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    _check_settings(table, dataset, scenario.phase_parameters[0].alpha)
    store = RunStore.reopen(out)
    return _carry_out(scenario, dataset, store, progress, saved)


def trained_network(
    run: RunReader, seed_index: int = 0
) -> tuple[CompiledNetwork, Layout, ModelParameters, dict[str, Any]]:
    """The network a finished seed of the MNIST run ``run`` trained (its final weights and
    biases), with its layout, model parameters and experiment settings, for analysis."""
    if run.attributes.get("experiment") != "mnist":
        raise ValidationError(f"{run.path}: not an MNIST experiment's run store")
    done = int(run.attributes.get("seeds_done", 0))
    if not 0 <= seed_index < done:
        raise ValidationError(
            f"seed_index = {seed_index}: the run stored the weights of {done} seed(s)"
        )
    scenario = check_scenario(run.attributes["scenario"], None)
    table = scenario.settings["experiment"]
    params = scenario.phase_parameters[0]
    network, layout = build_network(
        table["hidden"], params, table["seeds"][seed_index], table["topology"]
    )
    network.set_edge_weights(run.array("weights", "W")[seed_index])
    network.bias[:] = run.array("weights", "b")[seed_index]
    return network, layout, params, table


@dataclass
class _Position:
    """Where a run is: seed ``s``, stage ``stage`` (pretraining epochs, then training
    epochs), ``done`` digits into that stage's ``order`` (None before the stage draws it),
    ``steps`` simulation steps of training done over all seeds."""

    s: int = 0
    stage: int = 0
    done: int = 0
    order: np.ndarray | None = None
    steps: int = 0


def _carry_out(
    scenario: Scenario,
    dataset: Dataset,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
) -> RunSummary:
    """Train, validate and test every seed into ``store``, from the start or from the
    checkpoint ``saved``. A checkpoint is written after every ``checkpoint_digits`` training
    digits, after every epoch and after every seed."""
    table = scenario.settings["experiment"]
    params = scenario.phase_parameters[0]
    seeds, epochs = table["seeds"], table["epochs"]
    train_indices, validation_indices = split_indices(table, dataset)
    per_digit = table["free_steps"] + table["clamped_steps"]
    usable = whole_batches(len(train_indices), table["batch_size"])
    pretrain_epochs = table["pretrain_epochs"]
    train_steps = (pretrain_epochs + epochs) * usable * per_digit
    every = table["curve_every"]
    curve_at = np.arange(every, epochs * usable + 1, every) if every else np.zeros(0, np.int64)
    results = _Results(len(seeds), epochs, table["generate_samples"], curve_at)
    at = _Position()
    if saved is not None:
        arrays, attributes = saved
        results.load(arrays)
        at = _Position(
            attributes["seed_index"],
            attributes["stage"],
            attributes["done"],
            arrays.get("order"),
            attributes["steps"],
        )
    restoring = saved is not None and "step_count" in saved[0]
    judge: ReferenceClassifier | None = None
    bar = tqdm(
        total=len(seeds) * train_steps,
        initial=at.steps,
        unit="digit-step",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    with store, stop_on_signals() as stop, bar:
        for s in range(at.s, len(seeds)):
            seed = seeds[s]
            network, layout = build_network(table["hidden"], params, seed, table["topology"])
            sim = SyncSimulator(network, params, batch_size=table["batch_size"], seed=seed)
            curve_point = partial(
                _curve_point,
                results=results,
                s=s,
                network=network,
                params=params,
                layout=layout,
                dataset=dataset,
                indices=validation_indices[: table["curve_digits"]],
                table=table,
                store=store,
            )
            shuffle = np.random.default_rng(seed)
            if restoring and saved is not None:  # within this seed: continue where it was
                sim.restore(saved[0])
                shuffle.bit_generator.state = json.loads(saved[1]["shuffle"])
                restoring = False
            else:
                at = _Position(s, 0, 0, None, at.steps)
            # pretraining, then training: each stage with its own alpha schedule
            stages = [("selfsupervised", k) for k in range(pretrain_epochs)]
            stages += [(table["mode"], k) for k in range(epochs)]
            for stage in range(at.stage, len(stages)):
                mode, epoch = stages[stage]
                order = shuffle.permutation(train_indices) if at.order is None else at.order
                at = replace(at, stage=stage, order=order)
                clock = _StageClock(store, results, sim, shuffle, at, table, per_digit)
                if stage >= pretrain_epochs and every:
                    clock.follow_curve(epoch * usable, curve_point)
                train_epoch(
                    sim,
                    layout,
                    dataset.train_images,
                    dataset.train_labels,
                    order[at.done :],
                    params=params,
                    mode=mode,
                    free_steps=table["free_steps"],
                    clamped_steps=table["clamped_steps"],
                    learn_free=table["learn_free"],
                    alpha_decay=table["alpha_decay"],
                    weight_decay=table["weight_decay"],
                    digits_seen=epoch * usable + at.done,
                    rng=shuffle,
                    stop=stop,
                    bar=bar,
                    after_batch=clock.after_batch,
                )
                clock.stop()
                at = _Position(s, stage + 1, 0, None, at.steps + (usable - at.done) * per_digit)
                if stage >= pretrain_epochs:  # validation measures the training stage only
                    predicted = _predict(
                        network, params, layout, dataset, validation_indices, table
                    )
                    correct = predicted == dataset.train_labels[validation_indices]
                    results.validation_accuracy[s, epoch] = correct.mean()
                    bar.set_postfix(validation=f"{correct.mean():.3f}")
                    # on disk after every epoch: a stopped run keeps its learning curve
                    results.write(store, seeds)
                _checkpoint(store, results, sim, shuffle, at)
            _settle(results, s, network, params, layout, dataset, validation_indices, table)
            if table["generate_samples"]:
                if judge is None:
                    judge = _fit_judge(dataset, train_indices, validation_indices)
                _generation(results, s, network, params, layout, judge, table)
            # the test set is read here, after this seed's training, and never before
            test_indices = np.arange(table["test_digits"] or len(dataset.test_labels))
            labels = dataset.test_labels[test_indices]
            predicted = _predict(network, params, layout, dataset, test_indices, table, test=True)
            results.confusion[s] = confusion_matrix(labels, predicted)
            results.test_accuracy[s] = np.mean(predicted == labels)
            store.snapshot_weights(s, network.edge_weights(), network.bias)
            results.write(store, seeds)
            store.set_attribute("seeds_done", s + 1)
            at = _Position(s + 1, 0, 0, None, at.steps)
            _checkpoint(store, results, None, None, at)
    return RunSummary(store.path, at.steps, store.status, results.summary())


class _StageClock:
    """One stage's training time, added to the seed's ``train_wall_time`` as it goes, and
    its checkpoints: after a batch, each time the digits done pass a multiple of
    ``checkpoint_digits``."""

    def __init__(
        self,
        store: RunStore,
        results: _Results,
        sim: SyncSimulator,
        shuffle: np.random.Generator,
        at: _Position,
        table: dict[str, Any],
        per_digit: int,
    ) -> None:
        self.store, self.results, self.sim, self.shuffle, self.at = store, results, sim, shuffle, at
        self.every = table["checkpoint_digits"]
        self.curve_every = table["curve_every"]
        self.per_digit = per_digit
        self.curve_from = 0
        self.curve_point: Callable[[int], None] | None = None
        self.started = time.perf_counter()

    def follow_curve(self, digits_before: int, curve_point: Callable[[int], None]) -> None:
        """Call ``curve_point(k)`` when the training digits, ``digits_before`` this stage's
        plus its own, reach ``(k + 1) * curve_every``; its time is not training time."""
        self.curve_from, self.curve_point = digits_before, curve_point

    def stop(self) -> None:
        now = time.perf_counter()
        self.results.train_wall_time[self.at.s] += now - self.started
        self.started = now

    def after_batch(self, done_now: int) -> None:
        """``done_now`` digits done since the stage (re)started."""
        done = self.at.done + done_now
        if self.curve_point is not None:
            trained = self.curve_from + done
            if trained % self.curve_every == 0:
                self.stop()
                self.curve_point(trained // self.curve_every - 1)
                self.started = time.perf_counter()
        if not self.every or done // self.every == (done - self.sim.batch_size) // self.every:
            return
        self.stop()
        steps = self.at.steps + done_now * self.per_digit
        where = replace(self.at, done=done, steps=steps)
        _checkpoint(self.store, self.results, self.sim, self.shuffle, where)


def _curve_point(
    point: int,
    *,
    results: _Results,
    s: int,
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    dataset: Dataset,
    indices: np.ndarray,
    table: dict[str, Any],
    store: RunStore,
) -> None:
    """The learning curve's point ``point`` of seed ``s``: accuracy on the validation digits
    ``indices`` of the network as trained so far, written to the store at once."""
    predicted = _predict(network, params, layout, dataset, indices, table)
    results.learning_curve[s, point] = np.mean(predicted == dataset.train_labels[indices])
    results.write(store, table["seeds"])


def _checkpoint(
    store: RunStore,
    results: _Results,
    sim: SyncSimulator | None,
    shuffle: np.random.Generator | None,
    at: _Position,
) -> None:
    """Write where the run is: the metrics so far and, within a seed (``sim`` given), the
    simulator, the shuffle generator and the stage's order."""
    arrays = results.saved()
    attributes: dict[str, Any] = {
        "seed_index": at.s,
        "stage": at.stage,
        "done": at.done,
        "steps": at.steps,
    }
    if sim is not None and shuffle is not None:
        arrays |= sim.checkpoint()
        attributes["shuffle"] = json.dumps(shuffle.bit_generator.state)
        if at.order is not None:
            arrays["order"] = at.order
    store.write_checkpoint(arrays, attributes)


def evaluation_settings(table: dict[str, Any]) -> dict[str, int]:
    """The keyword arguments of ``relaxed_states`` and ``predict`` with which the experiment
    ``table`` evaluates every network it trains (validation, test, and the tools that read
    a network as the run did)."""
    return {
        "steps": table["test_steps"],
        "batch_size": table["eval_batch_size"],
        "seed": table["seeds"][0],
    }


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
    return predict(network, params, layout, images, indices, **evaluation_settings(table))


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
    """Both settling measures (module docstring): the state's without fake targets, the
    prediction's with the fake targets the network was trained and is evaluated with."""
    if not table["settle_digits"]:
        return
    measure = {
        "images": dataset.train_images,
        "indices": validation_indices[: table["settle_digits"]],
        "warmup_steps": table["test_steps"],
        "threshold": table["settle_threshold"],
        "max_steps": table["settle_max_steps"],
        "seed": table["seeds"][s],
    }
    without_fake = params.replace(fake_target=replace(params.fake_target, enabled=False))
    settled, _ = settling(network, without_fake, layout, **measure)
    _, decided = settling(network, params, layout, **measure)
    results.steps_to_settle[s] = settled.mean()
    results.unsettled[s] = np.mean(settled >= table["settle_max_steps"])
    results.steps_to_decide[s] = decided.mean()


def _fit_judge(
    dataset: Dataset, train_indices: np.ndarray, validation_indices: np.ndarray
) -> ReferenceClassifier:
    """The independent classifier of generated digits: trained on training digits, checked
    on the validation split (never the test set)."""
    fitted = train_indices[:DEFAULT_TRAIN_DIGITS]
    return fit_reference_classifier(
        dataset.train_images[fitted],
        dataset.train_labels[fitted],
        dataset.train_images[validation_indices],
        dataset.train_labels[validation_indices],
    )


def _generation(
    results: _Results,
    s: int,
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    judge: ReferenceClassifier,
    table: dict[str, Any],
) -> None:
    n = table["generate_samples"]
    labels = np.repeat(np.arange(N_CLASSES), n)
    images = generate(
        network,
        params,
        layout,
        labels,
        steps=table["generate_steps"],
        beta_scale=table["generate_beta_scale"],
        seed=table["seeds"][s],
    )
    results.generated_images[s] = images.reshape(N_CLASSES, n, -1)
    results.generated_recognised[s] = judge.recognised(images, labels)
    results.judge_accuracy = judge.held_out_accuracy


class _Results:
    """The metrics of every seed, NaN until a seed is done."""

    def __init__(
        self, n_seeds: int, epochs: int, generate_samples: int, curve_at: np.ndarray
    ) -> None:
        self.test_accuracy = np.full(n_seeds, np.nan)
        self.confusion = np.zeros((n_seeds, N_CLASSES, N_CLASSES), dtype=np.int64)
        self.validation_accuracy = np.full((n_seeds, epochs), np.nan)
        self.curve_at = curve_at
        self.learning_curve = np.full((n_seeds, len(curve_at)), np.nan)
        self.train_wall_time = np.zeros(n_seeds)
        self.steps_to_settle = np.full(n_seeds, np.nan)
        self.unsettled = np.full(n_seeds, np.nan)
        self.steps_to_decide = np.full(n_seeds, np.nan)
        n_pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        self.generated_images = np.full(
            (n_seeds, N_CLASSES, generate_samples, n_pixels), np.nan, dtype=np.float32
        )
        self.generated_recognised = np.full(n_seeds, np.nan)
        self.judge_accuracy = np.nan

    def saved(self) -> dict[str, np.ndarray]:
        """Every metric array, by attribute name (for a checkpoint)."""
        return {f"results_{name}": np.asarray(value) for name, value in vars(self).items()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """The metrics of ``saved()`` (from a checkpoint)."""
        for name, value in vars(self).items():
            saved = arrays[f"results_{name}"]
            setattr(self, name, saved if np.ndim(value) else float(saved))

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
        if len(self.curve_at):
            store.write_metric(
                "learning_curve",
                self.learning_curve,
                ("seed", "digits"),
                {
                    "description": "accuracy on the first curve_digits validation digits "
                    "after this many training digits (pretraining not counted)"
                },
                coords={**seed, "digits": self.curve_at},
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
                "description": "mean steps until max |ds| < threshold after a digit changes, "
                "fake targets off (validation digits; unsettled digits count as the cap)",
                "paper_value": "76 / 95 / 121 for 1 / 2 / 3 hidden layers (500 without fake "
                "targets)",
            },
            coords=seed,
        )
        store.write_metric(
            "steps_to_decide",
            self.steps_to_decide,
            ("seed",),
            {
                "description": "mean steps after a digit changes until the output argmax "
                "changed for the last time within settle_max_steps (training's fake targets)"
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
        if self.generated_images.shape[2]:
            self._write_generation(store, seed)

    def _write_generation(self, store: RunStore, seed: dict[str, np.ndarray]) -> None:
        store.write_metric(
            "generated_images",
            self.generated_images,
            ("seed", "label", "sample", "pixel"),
            {
                "description": "input states (clipped to [0, 1]) after generate_steps steps "
                "with only the label clamped, from a random state (learning off)"
            },
            coords={**seed, "label": np.arange(N_CLASSES)},
        )
        store.write_metric(
            "generated_recognised",
            self.generated_recognised,
            ("seed",),
            {
                "description": "share of generated images the independent classifier "
                "(logistic regression on real digits) assigns to the clamped label",
                "paper_value": "recognisable digits",
            },
            coords=seed,
        )
        store.write_metric(
            "judge_accuracy",
            self.judge_accuracy,
            (),
            {"description": "the independent classifier's accuracy on the validation split"},
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
            **(
                {"generated_recognised": float(self.generated_recognised[done].mean())}
                if self.generated_images.shape[2]
                else {}
            ),
        }


def plot(run: RunReader, path: Path) -> Path:
    """Learning curve (validation accuracy per epoch, one line per seed), the confusion
    matrix summed over seeds, the input weights of the first hidden units (first seed) and,
    where digits were generated, a grid of them (one row per label, first seed)."""
    if "test_accuracy" not in run.names("metrics"):
        raise ValidationError(f"{run.path}: no accuracy metrics yet (no seed finished)")
    validation = run.array("metrics", "validation_accuracy")
    confusion = run.array("metrics", "confusion").sum(axis=0)
    test = run.array("metrics", "test_accuracy")
    seeds = run.array("metrics", "seed")
    generated = "generated_images" in run.names("metrics")
    n_panels = 4 if generated else 3
    figure, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 4.6), constrained_layout=True)
    curve, matrix, fields = axes[:3]
    _plot_learning_curve(run, curve, validation, seeds, test)
    paper = run.attributes.get("paper_accuracy")
    if paper is not None:
        curve.axhline(100 * paper, color="grey", linestyle="--", label="paper (test)")
    curve.set_ylim(0, 100)
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
    if generated:
        recognised = run.array("metrics", "generated_recognised")
        shown = run.array("metrics", "generated_images")[0, :, :N_GENERATED_SHOWN]
        axes[3].imshow(_mosaic(shown), cmap="gray_r", vmin=0.0, vmax=1.0)
        axes[3].set_axis_off()
        axes[3].set_title(
            f"generated (rows: labels 0-9); recognised {100 * np.nanmean(recognised):.0f} %"
        )
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plot_learning_curve(
    run: RunReader, axis: Any, validation: np.ndarray, seeds: np.ndarray, test: np.ndarray
) -> None:
    """Validation accuracy per epoch, one line per finished seed; with a learning curve
    (``curve_every``), against the training digits, the curve as a line and each epoch's
    validation as a marker at the digits it was read after, for every seed with a point."""
    epochs = np.arange(1, validation.shape[1] + 1)
    if "learning_curve" not in run.names("metrics"):
        for s, seed in enumerate(seeds):
            if not np.isnan(test[s]):
                axis.plot(epochs, 100 * validation[s], marker="o", label=f"seed {seed}")
        axis.set_xticks(epochs)
        axis.set_xlabel("epoch")
        return
    points = run.array("metrics", "learning_curve")
    digits = run.array("metrics", "digits")
    batch_size = check_scenario(run.attributes["scenario"], None).settings["experiment"][
        "batch_size"
    ]
    per_epoch = whole_batches(int(run.attributes["train_digits_used"]), batch_size)
    for s, seed in enumerate(seeds):
        if np.isnan(points[s]).all():
            continue
        (line,) = axis.plot(digits, 100 * points[s], label=f"seed {seed}")
        axis.plot(
            epochs * per_epoch,
            100 * validation[s],
            marker="o",
            linestyle="none",
            color=line.get_color(),
        )
    axis.set_xlabel("training digits (line: curve digits; markers: each epoch's validation)")


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
    grid = np.full((side * side, tiles.shape[1] * tiles.shape[2]), np.nan)
    grid[: len(tiles)] = tiles.reshape(len(tiles), -1)
    return _mosaic(grid.reshape(side, side, -1))


def _mosaic(grid: np.ndarray) -> np.ndarray:
    """Images (rows, columns, pixels) as one picture of 28 x 28 tiles, NaN between them."""
    height, width = IMAGE_SHAPE
    rows, columns = grid.shape[:2]
    mosaic = np.full((rows * (height + 1), columns * (width + 1)), np.nan)
    for row, column in np.ndindex(rows, columns):
        mosaic[row * (height + 1) : row * (height + 1) + height, column * (width + 1) :][
            :, :width
        ] = grid[row, column].reshape(IMAGE_SHAPE)
    return mosaic


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
