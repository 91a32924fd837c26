"""The model's parameters as the plain values compiled code reads, converted once for both
backends.

``model_constants`` turns ``ModelParameters`` (and the network's roles) into a
``ModelConstants`` named tuple: rule and activation codes, per-copy step sizes, each
neuron's clamping strength per copy, the oscillator's per-phase schedules. The synchronous
backend passes it to its compiled step as it is. The event backend calls compiled code once
per neuron update, where each argument costs dispatch time (a named tuple of arrays ten
times more than an array), so it passes the same values packed into two flat arrays
(``pack``: integers and floats) and its compiled update rebuilds the named tuple from them
(``unpack``), in compiled code, where that costs almost nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from neurosim.kernels.activations import activation_code
from neurosim.kernels.rules import RULE_CODES
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters


class ModelConstants(NamedTuple):
    """Everything a step reads but never changes."""

    seed: int
    rule: int
    activation: int
    hard_sigmoid_threshold: float
    needs_previous_state: bool
    copy_eps: np.ndarray  # (copies,)
    copy_beta: np.ndarray  # (copies, N): each neuron's clamping strength per copy
    hidden: np.ndarray  # (N,): 1 for a hidden neuron (fake targets), else 0
    noise_sigma: float
    alpha: float
    alpha_smoothing: float
    learn: bool
    fake_enabled: bool
    fake_k: float
    fake_magnitude: float
    fake_mu: float
    clamp_schedule: np.ndarray  # per oscillator phase
    learn_schedule: np.ndarray
    momentum_schedule: np.ndarray
    momentum_includes_clamp: bool
    divergence_bound: float  # a state or weight beyond it (in magnitude) ends the run
    sliding_threshold: bool  # BCM: each neuron's threshold follows its rate squared
    threshold_decay: float  # exp(-1 / tau_theta)
    kappa: float


def model_constants(params: ModelParameters, seed: int, network: CompiledNetwork) -> ModelConstants:
    """The parameters of ``params`` (and ``network``'s roles) as the values compiled code
    reads."""
    fake = params.fake_target
    clamp_schedule, learn_schedule, momentum_schedule = params.phase_schedules()
    return ModelConstants(
        seed=seed,
        rule=RULE_CODES[params.rule],
        activation=activation_code(params.activation),
        hard_sigmoid_threshold=params.hard_sigmoid_threshold,
        needs_previous_state=params.spec.needs_previous_state,
        copy_eps=np.array(params.copy_eps, dtype=np.float64),
        copy_beta=network.copy_betas(params),
        hidden=network.hidden.astype(np.int64),
        noise_sigma=params.noise_sigma,
        alpha=params.alpha,
        alpha_smoothing=params.alpha_smoothing,
        learn=params.alpha > 0 or params.alpha_smoothing > 0,
        fake_enabled=fake.enabled,
        fake_k=fake.k,
        fake_magnitude=fake.magnitude,
        fake_mu=fake.mu,
        clamp_schedule=clamp_schedule,
        learn_schedule=learn_schedule,
        momentum_schedule=momentum_schedule,
        momentum_includes_clamp=params.momentum_includes_clamp,
        divergence_bound=params.divergence_bound,
        sliding_threshold=params.spec.sliding_threshold,
        threshold_decay=float(np.exp(-1.0 / params.tau_theta)),
        kappa=params.kappa,
    )


# The packed form: where each value sits in the integer and the float array.
_SEED, _RULE, _ACTIVATION, _NEEDS_PREVIOUS, _LEARN, _FAKE, _COPIES, _PHASES, _NEURONS = range(9)
_MOMENTUM_INCLUDES_CLAMP = 9
_SLIDING_THRESHOLD = 10
_HIDDEN = 11  # then one per neuron
_THRESHOLD, _NOISE, _ALPHA, _ALPHA_SMOOTHING, _FAKE_K, _FAKE_MAGNITUDE, _FAKE_MU = range(7)
_DIVERGENCE_BOUND = 7
_THRESHOLD_DECAY = 8
_KAPPA = 9
_ARRAYS = 10  # then copy_eps, the three schedules and copy_beta, back to back


def pack(constants: ModelConstants) -> tuple[np.ndarray, np.ndarray]:
    """``constants`` as an int64 and a float64 array, for ``unpack``."""
    k = constants
    copies, n = k.copy_beta.shape
    integers = [
        k.seed, k.rule, k.activation, k.needs_previous_state, k.learn, k.fake_enabled,
        copies, k.clamp_schedule.size, n, k.momentum_includes_clamp, k.sliding_threshold,
    ]  # fmt: skip
    floats = [
        k.hard_sigmoid_threshold, k.noise_sigma, k.alpha, k.alpha_smoothing, k.fake_k,
        k.fake_magnitude, k.fake_mu, k.divergence_bound, k.threshold_decay, k.kappa,
    ]  # fmt: skip
    arrays = (k.copy_eps, k.clamp_schedule, k.learn_schedule, k.momentum_schedule, k.copy_beta)
    return (
        np.concatenate([np.array(integers, dtype=np.int64), k.hidden]).astype(np.int64),
        np.concatenate([np.array(floats, dtype=np.float64), *(a.ravel() for a in arrays)]),
    )


@njit(cache=True, inline="always")
def unpack(integers: np.ndarray, floats: np.ndarray) -> ModelConstants:
    """The ``ModelConstants`` that ``pack`` packed (its arrays are views into ``floats``)."""
    copies = integers[_COPIES]
    phases = integers[_PHASES]
    n = integers[_NEURONS]
    eps_start = _ARRAYS
    schedules = eps_start + copies
    beta_start = schedules + 3 * phases
    return ModelConstants(
        integers[_SEED],
        integers[_RULE],
        integers[_ACTIVATION],
        floats[_THRESHOLD],
        integers[_NEEDS_PREVIOUS] != 0,
        floats[eps_start:schedules],
        floats[beta_start : beta_start + copies * n].reshape((copies, n)),
        integers[_HIDDEN : _HIDDEN + n],
        floats[_NOISE],
        floats[_ALPHA],
        floats[_ALPHA_SMOOTHING],
        integers[_LEARN] != 0,
        integers[_FAKE] != 0,
        floats[_FAKE_K],
        floats[_FAKE_MAGNITUDE],
        floats[_FAKE_MU],
        floats[schedules : schedules + phases],
        floats[schedules + phases : schedules + 2 * phases],
        floats[schedules + 2 * phases : beta_start],
        integers[_MOMENTUM_INCLUDES_CLAMP] != 0,
        floats[_DIVERGENCE_BOUND],
        integers[_SLIDING_THRESHOLD] != 0,
        floats[_THRESHOLD_DECAY],
        floats[_KAPPA],
    )
