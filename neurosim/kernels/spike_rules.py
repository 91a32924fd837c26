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

Both clip to ``[w_min, w_max]``. Within one grid time, arriving presynaptic spikes are handled
before the postsynaptic spikes of that time (Brian2's order of its ``pre`` and ``post``
pathways): a coincident pair counts as post-after-pre.
"""

from __future__ import annotations

import math

from numba import njit

RULE_NONE = 0
RULE_ADDITIVE_STDP = 1
RULE_RATE_SPIKE = 2
RULE_CODES = {"none": RULE_NONE, "additive_stdp": RULE_ADDITIVE_STDP, "rate_spike": RULE_RATE_SPIKE}


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
