"""Evaluation: reading the network's answers with learning off, how long it takes to settle,
the images it generates, and the experiment's measurements of each seed with them.

Evaluation (validation after each epoch, test at the end) runs on a copy of the network with
learning off (alpha 0), with the test-time model (``[experiment.test_model]`` merged over the
training model; the training model where it is not given), ``eval_batch_size`` digits at once. Only
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

With ``generate_samples`` n > 0, after training n images per label are generated
(``generate``: the label clamped with the betas times ``generate_beta_scale``, images free,
``generate_steps`` steps from a random state) and judged by an independent classifier
(``neurosim.analysis.recognition``, trained on up to 10,000 training digits, checked on the
validation split).

Learning curve: with ``curve_every`` n > 0 (a multiple of ``batch_size``), after every n
digits of the training epochs (pretraining not counted) the network so far is evaluated as
validation is, on the first ``curve_digits`` validation digits; the time it takes is not
counted as training time. It is the curve of a long single-epoch run (MSTDP), which the
per-epoch validation cannot give, and it is on disk as soon as each point is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from neurosim.analysis.recognition import (
    DEFAULT_TRAIN_DIGITS,
    ReferenceClassifier,
    fit_reference_classifier,
)
from neurosim.backends.sync import SyncSimulator
from neurosim.data import Dataset, batches, one_hot
from neurosim.data.datasets import N_CLASSES
from neurosim.experiments.mnist.network import Layout
from neurosim.experiments.mnist.results import Results
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters
from neurosim.recording import RunStore


def evaluation_settings(table: dict[str, Any]) -> dict[str, int]:
    """The keyword arguments of ``relaxed_states`` and ``predict`` with which the experiment
    ``table`` evaluates every network it trains (validation, test, and the tools that read
    a network as the run did)."""
    return {
        "steps": table["test_steps"],
        "batch_size": table["eval_batch_size"],
        "seed": table["seeds"][0],
    }


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
    (the previous batch stays on for the steps up to the cycle's end). No indices, no
    batches."""
    if not len(indices):  # a simulator needs a batch of at least one
        return
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
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each digit in ``indices``, after it replaces the previous digit (the one in
    ``previous`` at its place, by default the one before it in ``indices``, shown for
    ``warmup_steps``), with ``params``' dynamics (learning off): the steps until
    max_i |ds_i| < ``threshold`` (copy 0; ``max_steps`` where not reached) and the steps until
    the output argmax changed for the last time within ``max_steps``."""
    sim = _evaluation_simulator(network, params, len(indices), seed)
    dtype = network.dtype.type
    dummy_labels = np.zeros(len(images), dtype=np.uint8)
    if previous is None:
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


# the measurements of one seed of the experiment, by its [experiment] table


def predict_digits(
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    dataset: Dataset,
    indices: np.ndarray,
    table: dict[str, Any],
    test: bool = False,
) -> np.ndarray:
    """``predict`` on the digits ``indices`` of the training set (of the test set with
    ``test``), with the settings of ``evaluation_settings``."""
    images = dataset.test_images if test else dataset.train_images
    return predict(network, params, layout, images, indices, **evaluation_settings(table))


def measure_settling(
    results: Results,
    s: int,
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    dataset: Dataset,
    validation_indices: np.ndarray,
    table: dict[str, Any],
) -> None:
    """Seed ``s``'s settling, into ``results``, both measures (module docstring): the
    state's without fake targets, the prediction's with the fake targets the network was
    trained and is evaluated with."""
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


def fit_judge(
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


def measure_generation(
    results: Results,
    s: int,
    network: CompiledNetwork,
    params: ModelParameters,
    layout: Layout,
    judge: ReferenceClassifier,
    table: dict[str, Any],
) -> None:
    """Seed ``s``'s generated images (``generate_samples`` per label) and the share of them
    ``judge`` assigns to their label, into ``results``."""
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


def measure_curve_point(
    point: int,
    *,
    results: Results,
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
    predicted = predict_digits(network, params, layout, dataset, indices, table)
    results.learning_curve[s, point] = np.mean(predicted == dataset.train_labels[indices])
    results.write(store, table["seeds"])
