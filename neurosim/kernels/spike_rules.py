"""Plasticity of spiking synapses, one synapse at a time (time unit: ms; steps of ``dt``).

Each synapse ``e`` keeps its weight ``w[e]`` and, for the trace rule, two traces and the step
they were last brought up to date (``trace_step[e]``): traces only decay between events, so
they are advanced lazily, by the exact factor ``exp(-elapsed / tau)``, when an event touches
the synapse (as Brian2's ``(event-driven)`` variables are).

- ``additive_stdp`` (all-to-all traces, Song, Miller and Abbott 2000), with ``a_plus > 0`` the
  presynaptic trace's increment and ``a_minus < 0`` the postsynaptic one's:
  presynaptic spike arrives: ``pre_trace += a_plus``, ``w = clip(w + post_trace)``;
  postsynaptic spike: ``post_trace += a_minus``, ``w = clip(w + pre_trace)``.
  Brian2's example names them ``dApre``, ``dApost``, ``taupre``, ``taupost``.
- ``rate_spike``, the spike form of the STDP-objective paper's rule (its Eq. 2):
  ``dw = alpha * dv_post/dt * xi_pre``: each arriving presynaptic spike changes the weight by
  ``alpha`` times the postsynaptic neuron's rate of change of membrane potential (mV/ms) at
  that moment, then clipped.

- ``nearest_stdp``, the STDP-objective paper's nearest-neighbour rule (section 5.1;
  ``kernels/spike_timing.py`` has it on recorded trains): for each presynaptic spike arriving
  at step t, the postsynaptic spikes within ``window`` steps before and after it decide. Spikes
  on both sides, none, or one at t itself: no change; otherwise the nearest one, at
  ``delta = t_post - t``, changes the weight by ``a_plus exp(-delta dt / tau_plus)`` (delta > 0)
  or ``a_minus exp(delta dt / tau_minus)`` (delta < 0, ``a_minus < 0``). The change is made
  when it is decided: at the first postsynaptic spike after t, or once the window after t has
  passed without one. Until then the arrival waits in its synapse's small queue
  (``pending_per_synapse`` places).

All clip to ``[w_min, w_max]``. Within one grid time, arriving presynaptic spikes are handled
before the postsynaptic spikes of that time (Brian2's order of its ``pre`` and ``post``
pathways): a coincident pair counts as post-after-pre.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurosim.kernels.spike_timing import exponential_window

RULE_NONE = 0
RULE_ADDITIVE_STDP = 1
RULE_RATE_SPIKE = 2
RULE_NEAREST_STDP = 3
RULE_SUPERSPIKE = 4  # kernels/superspike.py
RULE_BCM = 5  # kernels/bcm.py, on filtered rates
RULE_CODES = {
    "none": RULE_NONE,
    "additive_stdp": RULE_ADDITIVE_STDP,
    "rate_spike": RULE_RATE_SPIKE,
    "nearest_stdp": RULE_NEAREST_STDP,
    "superspike": RULE_SUPERSPIKE,
    "bcm": RULE_BCM,
}


@njit(cache=True)
def clip(value: float, low: float, high: float) -> float:
    """``value`` limited to [low, high]."""
    return min(max(value, low), high)


@njit(cache=True)
def advance_traces(
    pre_trace: float,
    post_trace: float,
    elapsed_ms: float,
    tau_plus: float,
    tau_minus: float,
) -> tuple[float, float]:
    """Both traces after ``elapsed_ms`` of exponential decay."""
    if elapsed_ms == 0.0:
        return pre_trace, post_trace
    return (
        pre_trace * math.exp(-elapsed_ms / tau_plus),
        post_trace * math.exp(-elapsed_ms / tau_minus),
    )


@njit(cache=True)
def additive_on_spike(
    weight: float,
    own_trace: float,
    partner_trace: float,
    increment: float,
    w_min: float,
    w_max: float,
) -> tuple[float, float]:
    """One side of the synapse spikes (traces already advanced): the weight takes the other
    side's trace and this side's trace grows by its increment. Presynaptic spike:
    ``(pre_trace, post_trace, a_plus)``; postsynaptic: ``(post_trace, pre_trace, a_minus)``.
    Returns ``(weight, own_trace)``."""
    return clip(weight + partner_trace, w_min, w_max), own_trace + increment


@njit(cache=True)
def rate_spike_on_pre(
    weight: float, membrane_slope: float, alpha: float, w_min: float, w_max: float
) -> float:
    """``w + alpha * dv_post/dt``, clipped: the paper's Eq. 2 at one presynaptic spike."""
    return clip(weight + alpha * membrane_slope, w_min, w_max)


@njit(cache=True)
def nearest_settle(
    e: int,
    now: int,
    post_spiked_now: bool,
    w: np.ndarray,
    pending_step: np.ndarray,
    pending_left: np.ndarray,
    pending_head: np.ndarray,
    pending_count: np.ndarray,
    window: int,
    a_plus: float,
    a_minus: float,
    tau_plus_steps: float,
    tau_minus_steps: float,
    w_min: float,
    w_max: float,
) -> None:
    """Decide what synapse ``e``'s waiting presynaptic spikes can have decided at step
    ``now``, oldest first: a spike whose window after it closed before ``now`` had no
    postsynaptic spike after it (any would have decided it), so the nearest one before it
    decides (``pending_left``: its distance, 0 for none); when the postsynaptic neuron
    spiked at ``now``, that spike is the nearest after every earlier waiting one, which it
    decides unless one came before as well."""
    capacity = pending_step.shape[1]
    while pending_count[e] > 0:
        slot = pending_head[e]
        arrival = pending_step[e, slot]
        left = pending_left[e, slot]
        if arrival + window < now:
            delta = -left
        elif post_spiked_now and arrival < now:
            delta = 0 if left > 0 else now - arrival
        else:
            return
        if delta != 0:
            change = exponential_window(delta, a_plus, -a_minus, tau_plus_steps, tau_minus_steps)
            w[e] = clip(w[e] + change, w_min, w_max)
        pending_head[e] = (slot + 1) % capacity
        pending_count[e] -= 1


@njit(cache=True)
def nearest_wait(
    e: int,
    arrival: int,
    last_post_spike: int,
    pending_step: np.ndarray,
    pending_left: np.ndarray,
    pending_head: np.ndarray,
    pending_count: np.ndarray,
    window: int,
) -> bool:
    """Queue the presynaptic spike arriving at ``arrival`` on synapse ``e``, with the distance
    to the postsynaptic neuron's last spike before it (0: none within the window). A spike
    that coincides with a postsynaptic one never changes the weight and is not queued.
    Returns False when the queue is full."""
    if last_post_spike == arrival:
        return True
    capacity = pending_step.shape[1]
    if pending_count[e] == capacity:
        return False
    left = arrival - last_post_spike
    slot = (pending_head[e] + pending_count[e]) % capacity
    pending_step[e, slot] = arrival
    pending_left[e, slot] = left if left <= window else 0
    pending_count[e] += 1
    return True
