"""The spike simulations of ``stdp_curve``: the compiled activity sequences and spike-train
samples, the records each sequence leaves, ``simulate`` (every sequence of a run) and
``example_trace`` (Figure 3's one sample). The protocol and the draws are described in the
package docstring (``neurosim.experiments.stdp_curve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.random import draw_key, uniform_at
from neurosim.kernels.spike_timing import (
    COINCIDENT,
    OUTCOME_NAMES,
    PAIRED,
    bernoulli_train,
    presynaptic_updates,
    spike_probability,
)
from neurosim.recording import StopRequest

# Counter-based streams of this experiment (1 and 2: neurosim.kernels.random, 3: the event
# backend's clock); any run draws from no other stream, so these only need to differ from
# each other, and differ from those to keep the draws unrelated to a network's.
STREAM_ACTIVITY = 4
STREAM_SPIKES = 5
PRE, POST = 0, 1


@njit(cache=True)
def activity_sequence(
    seed: int,
    sequence: int,
    neuron: int,
    steps: int,
    drive_low: float,
    drive_high: float,
    segment_min: int,
    segment_max: int,
    leak_min: float,
    leak_max: float,
) -> np.ndarray:
    """``s(0 .. steps)`` of one neuron in one sequence: the leaky integration
    ``s(t + 1) = s(t) + leak * (u(t) - s(t))`` of a piecewise-constant drive ``u`` (levels
    uniform in [drive_low, drive_high], held for segment_min .. segment_max steps; leak uniform
    in [leak_min, leak_max] per sequence and neuron; s(0) uniform in the drive's range). The
    draws: stream ``STREAM_ACTIVITY``, key step ``2 * sequence + neuron``, indices in order."""
    key = draw_key(seed, STREAM_ACTIVITY, 2 * sequence + neuron)
    span = drive_high - drive_low
    leak = leak_min + (leak_max - leak_min) * uniform_at(key, 0)
    activity = np.empty(steps + 1, dtype=np.float64)
    activity[0] = drive_low + span * uniform_at(key, 1)
    index = 2
    remaining = 0
    level = 0.0
    for t in range(steps):
        if remaining == 0:
            level = drive_low + span * uniform_at(key, index)
            lengths = segment_max - segment_min + 1
            remaining = segment_min + int(uniform_at(key, index + 1) * lengths)
            index += 2
        activity[t + 1] = activity[t] + leak * (level - activity[t])
        remaining -= 1
    return activity


@njit(cache=True)
def sequence_records(
    seed: int,
    sequence: int,
    samples: int,
    pre_activity: np.ndarray,
    post_activity: np.ndarray,
    max_rate_per_step: float,
    activation: int,
    threshold: float,
    window: int,
    first: int,
    last: int,
    alpha: float,
    a_plus: float,
    a_minus: float,
    tau_plus: float,
    tau_minus: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All spike-train samples of one sequence: ``(outcome_counts, delta, eq1, nn)``.

    ``outcome_counts`` (4): presynaptic spikes at steps ``first .. last - 1`` by outcome;
    ``delta``, ``eq1``, ``nn``: their timing difference and both updates, for the spikes with
    a nearest postsynaptic spike (``PAIRED`` and ``COINCIDENT``), sample after sample."""
    steps = pre_activity.size - 1
    pre_probability = spike_probability(
        pre_activity[:steps], max_rate_per_step, activation, threshold
    )
    post_probability = spike_probability(
        post_activity[:steps], max_rate_per_step, activation, threshold
    )
    capacity = samples * max(last - first, 0)
    deltas = np.empty(capacity, dtype=np.int64)
    eq1 = np.empty(capacity, dtype=np.float64)
    nn = np.empty(capacity, dtype=np.float64)
    counts = np.zeros(4, dtype=np.int64)
    kept = 0
    for sample in range(samples):
        key = draw_key(seed, STREAM_SPIKES, sequence * samples + sample)
        pre = bernoulli_train(pre_probability, key, PRE, 2)
        post = bernoulli_train(post_probability, key, POST, 2)
        step, delta, outcome, rate_update, window_update = presynaptic_updates(
            pre, post, post_activity, window, alpha, a_plus, a_minus, tau_plus, tau_minus
        )
        for k in range(step.size):
            if step[k] < first or step[k] >= last:
                continue
            counts[outcome[k]] += 1
            if outcome[k] == PAIRED or outcome[k] == COINCIDENT:
                deltas[kept] = delta[k]
                eq1[kept] = rate_update[k]
                nn[kept] = window_update[k]
                kept += 1
    return counts, deltas[:kept], eq1[:kept], nn[:kept]


class Records(NamedTuple):
    """What the spike-train samples of a run leave for the analyses: presynaptic spikes by
    outcome, and the timing difference and both updates of each one with a nearest
    postsynaptic spike (``delta`` 0: coincident)."""

    outcome_counts: np.ndarray
    delta: np.ndarray
    eq1: np.ndarray
    nn: np.ndarray


def counted_steps(table: dict[str, Any]) -> tuple[int, int]:
    """``(first, last)``: presynaptic spikes at steps ``first .. last - 1`` are counted."""
    if table["full_windows_only"]:
        return table["window"], table["steps"] - table["window"]
    return 0, table["steps"]


def activities(table: dict[str, Any], seed: int, sequence: int) -> tuple[np.ndarray, np.ndarray]:
    """``(s_j, s_i)``: the pre- and postsynaptic activity of one sequence, ``steps + 1`` values
    each (``activity_sequence``)."""
    generator = (
        table["steps"],
        table["drive_low"],
        table["drive_high"],
        table["segment_min"],
        table["segment_max"],
        table["leak_min"],
        table["leak_max"],
    )
    return (
        activity_sequence(seed, sequence, PRE, *generator),
        activity_sequence(seed, sequence, POST, *generator),
    )


def _rule_arguments(table: dict[str, Any]) -> tuple[int, float, float, float, float, float]:
    return (
        table["window"],
        table["alpha"],
        table["a_plus"],
        table["a_minus"],
        table["tau_plus"],
        table["tau_minus"],
    )


def _spike_arguments(table: dict[str, Any]) -> tuple[float, int, float]:
    return (
        table["max_rate_per_step"],
        ACTIVATION_CODES[table["activation"]],
        table["hard_sigmoid_threshold"],
    )


def delta_dtype(window: int) -> type[np.integer]:
    """The dtype of the records' timing differences, ``|delta| <= window``: int16 while it
    holds them (it keeps a full run's records near 40 MB), else int64."""
    return np.int16 if window <= np.iinfo(np.int16).max else np.int64


def simulate(
    table: dict[str, Any],
    seed: int,
    after_sequence: Callable[[], object] | None = None,
    stop: StopRequest | None = None,
) -> Records:
    """Every sequence's spike-train samples (``sequence_records``), gathered. ``after_sequence``
    (if given) is called after each sequence, ``stop.check()`` too (to end on a signal)."""
    first, last = counted_steps(table)
    window, alpha, a_plus, a_minus, tau_plus, tau_minus = _rule_arguments(table)
    counts = np.zeros(len(OUTCOME_NAMES), dtype=np.int64)
    deltas, eq1, nn = [], [], []
    for sequence in range(table["sequences"]):
        pre_activity, post_activity = activities(table, seed, sequence)
        sequence_counts, delta, rate_update, window_update = sequence_records(
            seed,
            sequence,
            table["samples"],
            pre_activity,
            post_activity,
            *_spike_arguments(table),
            window,
            first,
            last,
            alpha,
            a_plus,
            a_minus,
            tau_plus,
            tau_minus,
        )
        counts += sequence_counts
        deltas.append(delta.astype(delta_dtype(window)))
        eq1.append(rate_update)
        nn.append(window_update)
        if after_sequence is not None:
            after_sequence()
        if stop is not None:
            stop.check()
    return Records(counts, np.concatenate(deltas), np.concatenate(eq1), np.concatenate(nn))


def example_trace(table: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Figure 3's content for sample ``example_sample`` of sequence ``example_sequence``, the
    same draws as in the run: per step ``time``, ``activity`` (s_j, s_i), ``spikes`` (pre,
    post), and the weights ``weight_eq2`` and ``weight_nearest_neighbour`` accumulated over
    every presynaptic spike up to and including the step."""
    sequence, sample = table["example_sequence"], table["example_sample"]
    steps = table["steps"]
    pre_activity, post_activity = activities(table, seed, sequence)
    # np.uint64: a key from Python as the unsigned integer the kernels take
    key = np.uint64(draw_key(seed, STREAM_SPIKES, sequence * table["samples"] + sample))
    pre = bernoulli_train(
        spike_probability(pre_activity[:steps], *_spike_arguments(table)), key, PRE, 2
    )
    post = bernoulli_train(
        spike_probability(post_activity[:steps], *_spike_arguments(table)), key, POST, 2
    )
    step, _, _, rate_update, window_update = presynaptic_updates(
        pre, post, post_activity, *_rule_arguments(table)
    )
    eq2 = np.zeros(steps)
    nearest = np.zeros(steps)
    eq2[step] = rate_update
    nearest[step] = window_update
    return {
        "time": np.arange(steps, dtype=np.int64),
        "activity": np.stack([pre_activity[:steps], post_activity[:steps]], axis=1),
        "spikes": np.stack([pre, post], axis=1),
        "weight_eq2": np.cumsum(eq2),
        "weight_nearest_neighbour": np.cumsum(nearest),
    }
