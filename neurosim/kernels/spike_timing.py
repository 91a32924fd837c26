"""Spike-timing plasticity of one synapse j -> i from spike trains (MODEL.md, "Rate STDP" and
"Nearest-neighbour spike STDP"; the STDP-objective paper, Eqs. 1-2 and section 5.1).

Time is in steps. A spike train is a boolean array over steps; ``post_activity`` is the
postsynaptic integrated activity ``s_i`` with one value more than the trains (``s_i(t + 1)``
of the last step). Every function here is a pure, Numba-compiled function of its arrays.

Two updates are computed for each presynaptic spike at step ``t``:

- the spike form of the rate rule (Eq. 2, whose average is Eq. 1):
  ``dW = alpha * (s_i(t + 1) - s_i(t)) * xi_j(t)``, ``xi_j(t) = 1`` at a presynaptic spike;
- nearest-neighbour STDP. The left side of the pre spike is the steps ``t - window .. t - 1``,
  the right side ``t + 1 .. t + window``; the pre spike's own step ``t`` belongs to neither.
  Postsynaptic spikes on both sides: no change (outcome ``BOTH_SIDES``); no postsynaptic
  spike in ``t - window .. t + window``: no change (``NO_POST``). Otherwise the nearest
  postsynaptic spike sets ``delta = t_post - t_pre``: a post spike at ``t`` itself is the
  nearest (distance 0) and gives no change (``COINCIDENT``, delta 0); else the classical
  exponential window gives the change (``PAIRED``):
  ``a_plus * exp(-delta / tau_plus)`` for ``delta > 0`` (pre before post: potentiation),
  ``-a_minus * exp(delta / tau_minus)`` for ``delta < 0`` (post before pre: depression).
  This is the paper's order: "both sides" is tested first, so a coincident post spike with
  spikes on both sides counts as ``BOTH_SIDES``; either way it changes nothing. Steps outside
  the trains hold no spikes (the window is clipped at the ends of the trains).

Spike trains are drawn per step from a Bernoulli distribution with the counter-based draws of
``neurosim.kernels.random``, so they are a pure function of (seed, stream, key step, index).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, uint64

from neurosim.kernels.activations import rate_scalar
from neurosim.kernels.random import uniform_at

# Outcomes of the nearest-neighbour rule for one presynaptic spike.
PAIRED = 0  # post spikes on one side only: the nearest one's delta gives the change
COINCIDENT = 1  # the nearest post spike falls on the pre spike's step: no change
BOTH_SIDES = 2  # post spikes on both sides: no change
NO_POST = 3  # no post spike within the window: no change
OUTCOME_NAMES = ("paired", "coincident", "both_sides", "no_post")
# The delta of a presynaptic spike that has no nearest postsynaptic spike (both sides, none).
NO_DELTA = -(2**62)


@njit(cache=True)
def exponential_window(
    delta: int, a_plus: float, a_minus: float, tau_plus: float, tau_minus: float
) -> float:
    """The classical STDP window at ``delta = t_post - t_pre`` (steps):
    ``a_plus * exp(-delta / tau_plus)`` for delta > 0, ``-a_minus * exp(delta / tau_minus)``
    for delta < 0, and 0 at delta = 0 (coincident spikes change nothing)."""
    if delta > 0:
        return a_plus * math.exp(-delta / tau_plus)
    if delta < 0:
        return -a_minus * math.exp(delta / tau_minus)
    return 0.0


@njit(cache=True)
def nearest_post_spike(post: np.ndarray, pre_step: int, window: int) -> tuple[int, int]:
    """``(delta, outcome)`` of the presynaptic spike at ``pre_step`` under the nearest-neighbour
    rule (module docstring): ``delta = t_post - t_pre`` of the nearest postsynaptic spike in
    ``post`` within ``window`` steps, or ``NO_DELTA`` when the rule pairs no spike."""
    n_steps = post.size
    left = 0  # distance to the nearest post spike before the pre spike; 0: none
    for distance in range(1, window + 1):
        if pre_step - distance < 0:
            break
        if post[pre_step - distance]:
            left = distance
            break
    right = 0
    for distance in range(1, window + 1):
        if pre_step + distance >= n_steps:
            break
        if post[pre_step + distance]:
            right = distance
            break
    if left > 0 and right > 0:
        return NO_DELTA, BOTH_SIDES
    if post[pre_step]:
        return 0, COINCIDENT
    if right > 0:
        return right, PAIRED
    if left > 0:
        return -left, PAIRED
    return NO_DELTA, NO_POST


@njit(cache=True)
def rate_rule_update(post_activity: np.ndarray, pre_step: int, alpha: float) -> float:
    """Eq. 2 at a presynaptic spike at step ``t``: ``alpha * (s_i(t + 1) - s_i(t))``, the
    postsynaptic activity's change over the step (per step)."""
    return alpha * (post_activity[pre_step + 1] - post_activity[pre_step])


@njit(cache=True)
def presynaptic_updates(
    pre: np.ndarray,
    post: np.ndarray,
    post_activity: np.ndarray,
    window: int,
    alpha: float,
    a_plus: float,
    a_minus: float,
    tau_plus: float,
    tau_minus: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both rules at every presynaptic spike of ``pre``, in step order:
    ``(step, delta, outcome, rate_update, nearest_neighbour_update)``.

    ``step`` (int64): the pre spike's step; ``delta`` (int64): ``t_post - t_pre`` of the
    nearest post spike, ``NO_DELTA`` when there is none (outcomes ``BOTH_SIDES``,
    ``NO_POST``); ``outcome`` (int8): ``PAIRED``, ``COINCIDENT``, ``BOTH_SIDES`` or
    ``NO_POST``; ``rate_update``: Eq. 2, ``alpha * (s_i(t + 1) - s_i(t))``;
    ``nearest_neighbour_update``: the exponential window at ``delta`` for ``PAIRED``, else 0.
    ``post_activity`` has one value more than the trains.
    """
    if post.size != pre.size:
        raise ValueError("pre and post spike trains must have the same number of steps")
    if post_activity.size != pre.size + 1:
        raise ValueError("post_activity needs one value more than the spike trains")
    if window < 1:
        raise ValueError("window must be at least 1 step")
    count = 0
    for t in range(pre.size):
        if pre[t]:
            count += 1
    steps = np.empty(count, dtype=np.int64)
    deltas = np.empty(count, dtype=np.int64)
    outcomes = np.empty(count, dtype=np.int8)
    rate_updates = np.empty(count, dtype=np.float64)
    window_updates = np.empty(count, dtype=np.float64)
    k = 0
    for t in range(pre.size):
        if not pre[t]:
            continue
        delta, outcome = nearest_post_spike(post, t, window)
        steps[k] = t
        deltas[k] = delta
        outcomes[k] = outcome
        rate_updates[k] = rate_rule_update(post_activity, t, alpha)
        window_updates[k] = (
            exponential_window(delta, a_plus, a_minus, tau_plus, tau_minus)
            if outcome == PAIRED
            else 0.0
        )
        k += 1
    return steps, deltas, outcomes, rate_updates, window_updates


class SpikeUpdates(NamedTuple):
    """The records of ``spike_updates``: one entry per presynaptic spike."""

    step: np.ndarray
    delta: np.ndarray
    outcome: np.ndarray
    rate_update: np.ndarray
    nearest_neighbour_update: np.ndarray


def spike_updates(
    pre: np.ndarray,
    post: np.ndarray,
    post_activity: np.ndarray,
    window: int,
    alpha: float,
    a_plus: float,
    a_minus: float,
    tau_plus: float,
    tau_minus: float,
) -> SpikeUpdates:
    """``presynaptic_updates`` from Python, its records named (window and taus in steps).
    Every rule parameter is given: the experiment's defaults live with its keys."""
    return SpikeUpdates(
        *presynaptic_updates(
            np.ascontiguousarray(pre, dtype=np.bool_),
            np.ascontiguousarray(post, dtype=np.bool_),
            np.ascontiguousarray(post_activity, dtype=np.float64),
            int(window),
            float(alpha),
            float(a_plus),
            float(a_minus),
            float(tau_plus),
            float(tau_minus),
        )
    )


@njit(cache=True)
def spike_probability(
    activity: np.ndarray, max_rate_per_step: float, activation: int, threshold: float
) -> np.ndarray:
    """The probability of a spike at each step: ``max_rate_per_step * rho(s(t))``, with
    ``rho`` the activation of code ``activation`` (``neurosim.kernels.activations``;
    ``threshold``: the hard sigmoid's beta1)."""
    probability = np.empty(activity.size, dtype=np.float64)
    for t in range(activity.size):
        probability[t] = max_rate_per_step * rate_scalar(activity[t], activation, threshold)
    return probability


@njit(cache=True)
def bernoulli_train(
    probability: np.ndarray, key: np.uint64, channel: int, channels: int
) -> np.ndarray:
    """A spike train: a spike at step ``t`` where the uniform draw of index
    ``t * channels + channel`` under ``key`` (``random.draw_key``) falls below
    ``probability[t]``. ``channels`` trains drawn under one key use disjoint draws."""
    # From Python pass the key as np.uint64: a plain int is typed int64 below 2**63 (and a
    # later one above it then fails to convert); mixed with the uint64 constants an int64 key
    # would give skewed draws, so it is made unsigned here whatever it came as.
    unsigned = uint64(key)
    spikes = np.empty(probability.size, dtype=np.bool_)
    for t in range(probability.size):
        spikes[t] = uniform_at(unsigned, t * channels + channel) < probability[t]
    return spikes


__all__ = [
    "BOTH_SIDES",
    "COINCIDENT",
    "NO_DELTA",
    "NO_POST",
    "OUTCOME_NAMES",
    "PAIRED",
    "SpikeUpdates",
    "bernoulli_train",
    "exponential_window",
    "nearest_post_spike",
    "presynaptic_updates",
    "rate_rule_update",
    "spike_probability",
    "spike_updates",
]
