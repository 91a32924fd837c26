"""Training: one epoch over the digits, the learning-rate decay and the weight decay.

Every digit is shown as its ``mode`` says (``modes``): for ``free_steps`` steps with the
free part's clamps, then for ``clamped_steps`` steps with the clamped part's. The state is
never reset between digits. The rule learns in every step of both parts, as the aSTDP
paper's algorithm 2 does (``learn_free = false`` learns in the clamped part only).
``alpha_decay`` lowers the learning rate as training goes on: after n training digits (all
epochs of a stage counted) each batch learns with ``alpha / (1 + alpha_decay * n / 1000)``;
0, the default, keeps the paper's constant alpha. ``weight_decay`` lambda shrinks every
weight (not the biases) in step with learning: after each batch,
``W <- (1 - lambda * alpha_batch * learning_steps) W``, to first order the decay
``dW = -alpha * lambda * W`` in every learning step (each synapse sees only its own weight).
It bounds the label-independent Hebbian growth of the input -> hidden weights that otherwise
degrades learning after a few epochs (docs/mnist-findings.md); 0, the default, is the
paper's rule alone. With ``batch_size`` B > 1 the simulator runs B digits side by side and
each weight change is the batch mean (the paper's batches of 128); B = 1 is the faithful,
online form.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from neurosim.backends.sync import SyncSimulator
from neurosim.data import batches
from neurosim.experiments.mnist.modes import MODES, Presentation
from neurosim.experiments.mnist.network import Layout
from neurosim.model.parameters import ModelParameters
from neurosim.recording import StopRequest


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


def whole_batches(digits: int, batch_size: int) -> int:
    """How many of ``digits`` an epoch trains on: those that fill whole batches (a last,
    smaller batch is left out, as the simulator's batch size is fixed)."""
    return digits - digits % batch_size


def _use(sim: SyncSimulator, params: ModelParameters) -> None:
    """Continue ``sim`` with ``params`` (no call where they are already the ones it runs)."""
    if sim.params != params:
        sim.set_parameters(params)


def show_batch(
    sim: SyncSimulator,
    shown: Presentation,
    learning: ModelParameters,
    free_steps: int,
    clamped_steps: int,
    learn_free: bool,
) -> np.ndarray | None:
    """Show one batch: ``free_steps`` steps with the free part's clamps (learning only if
    ``learn_free``), then ``clamped_steps`` with the clamped part's, learning with
    ``learning``. Returns the states of copy 0 (batch, neurons) at the end of the free part,
    what the network answers before the label is shown (None without a free part)."""
    answered = None
    if free_steps:
        _use(sim, learning if learn_free else learning.replace(alpha=0.0, alpha_smoothing=0.0))
        sim.set_input(shown.target, shown.free_clamp)
        sim.run(free_steps)
        answered = sim.state[0].copy()
    _use(sim, learning)
    sim.set_input(shown.target, shown.clamped_clamp)
    sim.run(clamped_steps)
    return answered


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
        show_batch(sim, shown, learning, free_steps, clamped_steps, learn_free)
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
