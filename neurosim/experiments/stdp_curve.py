"""The STDP-objective paper's spike simulations (section 5, Figures 1-3):
``[experiment] kind = "stdp_curve"``.

One synapse j -> i. For each of ``sequences`` random pairs of activity sequences
(``s_j``: presynaptic, ``s_i``: postsynaptic; ``steps`` steps each), ``samples`` pairs of
spike trains are drawn: a spike at step t with probability ``max_rate_per_step * rho(s(t))``,
independently per step and neuron (the paper's binomial draw per discrete step). At every
presynaptic spike two updates are computed (``neurosim.kernels.spike_timing``): Eq. 2,
``alpha * (s_i(t + 1) - s_i(t))``, and nearest-neighbour STDP within ``window`` steps. Time is
in steps throughout. The paper's protocol: 500 sequences of 160 steps, 1,000 spike-train
samples each, window 20.

What the paper leaves open, and the project's reading (each a key):

- **rho**: ``activation``, by default ``hard_sigmoid``, the paper's own rho (Eq. 18):
  ``clip(s - beta1, 0, 1)`` with ``beta1 = hard_sigmoid_threshold`` (-0.5); ``sigmoid4``
  (``1 / (1 + exp(-4 s))``) and ``sigmoid4_centred`` are the logistic alternatives. The paper
  says only "proportional to rho(s)": ``max_rate_per_step`` (default 0.3) scales rho to a
  probability per step.
- **Activity sequences**: each neuron's ``s`` is the leaky integration of a piecewise-constant
  random external drive, ``s(t + 1) = s(t) + leak * (u(t) - s(t))``. The drive ``u`` holds a
  level drawn uniformly from ``[drive_low, drive_high]`` for a segment whose length is drawn
  uniformly from ``segment_min .. segment_max`` steps, then jumps to a new level; ``leak`` is
  drawn once per sequence and neuron from ``[leak_min, leak_max]``; ``s(0)`` is drawn from the
  drive's range. So ``s`` rises and falls with varied slopes and levels, before and after any
  step, and pre and post vary independently. A sequence has ``steps + 1`` values (Eq. 2 at
  the last step needs ``s_i(steps)``); spikes fall on steps ``0 .. steps - 1``.
- **Ends of a sequence**: with ``full_windows_only`` (default) only presynaptic spikes whose
  whole window lies inside the sequence (steps ``window .. steps - window - 1``) are counted,
  so that "no postsynaptic spike" never stands for "outside the sequence".
- **Window**: ``a_plus``, ``a_minus``, ``tau_plus``, ``tau_minus`` (steps); coincident spikes
  and "both sides" as in ``neurosim.kernels.spike_timing``.

Draws are counter-based (``neurosim.kernels.random``) under the scenario's seed, streams
``STREAM_ACTIVITY`` (key step ``2 * sequence + neuron``, neuron 0 pre, 1 post) and
``STREAM_SPIKES`` (key step ``sequence * samples + sample``, index ``2 * t + neuron``): the
results are a pure function of the seed and the keys.

Metrics (over dims ``delta``, ``eq1_bin``, ``outcome``): per spike-timing difference ``delta``
in ``-window .. window`` (pre spikes the nearest-neighbour rule pairs with one post spike, and
coincident ones at delta 0) the mean Eq. 1 update, its standard error and the count, and the
mean nearest-neighbour update; the nearest-neighbour update binned by the Eq. 1 update
(``eq1_bins`` quantile or equal-width bins over the ``PAIRED`` spikes: bin centre, mean Eq. 1,
mean NN, count); Pearson correlations of the two updates over all ``PAIRED`` spikes and over
the bins' means; the Bi & Poo shape (mean Eq. 1 over ``delta`` in ``1 .. near_max`` positive,
over ``-near_max .. -1`` negative, and larger in magnitude than over ``far_min .. window`` on
each side). The trajectory holds one example (sequence ``example_sequence``, sample
``example_sample``): both activities, both spike trains and the cumulative weights under
both rules, Figure 3's content.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from numba import njit
from tqdm import tqdm

from neurosim.checks import check_number
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
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
from neurosim.keys import Key, boolean, choice, integer, number
from neurosim.model.parameters import ModelParameters
from neurosim.recording import ArraySpec, RunReader, RunStore, StopRequest, stop_on_signals
from neurosim.registry import DEFAULT_BACKEND
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario

# Counter-based streams of this experiment (1 and 2: neurosim.kernels.random, 3: the event
# backend's clock); any run draws from no other stream, so these only need to differ from
# each other, and differ from those to keep the draws unrelated to a network's.
STREAM_ACTIVITY = 4
STREAM_SPIKES = 5
PRE, POST = 0, 1
BINNINGS = ("quantile", "equal_width")


def _positive(name: str, value: Any) -> float:
    """A number > 0."""
    return check_number(name, value, 0.0, low_open=True)


def _probability(name: str, value: Any) -> float:
    """A probability per step in (0, 1]."""
    return check_number(name, value, 0.0, 1.0, low_open=True)


def _leak(name: str, value: Any) -> float:
    """A leak rate per step in (0, 1]."""
    return check_number(name, value, 0.0, 1.0, low_open=True)


KEYS = {
    # the paper's protocol (section 5.1)
    "sequences": Key(integer(1), 500),
    "steps": Key(integer(1), 160),
    "samples": Key(integer(1), 1000),
    "window": Key(integer(1), 20),
    # spikes: probability per step max_rate_per_step * rho(s)
    "activation": Key(choice(tuple(ACTIVATION_CODES)), "hard_sigmoid"),
    "hard_sigmoid_threshold": Key(
        lambda name, value: check_number(name, value, -1.0, 0.0, low_open=True, high_open=True),
        -0.5,
    ),
    "max_rate_per_step": Key(_probability, 0.3),
    # activity sequences: leaky integration of a piecewise-constant random drive
    "drive_low": Key(number(), -1.0),
    "drive_high": Key(number(), 1.0),
    "segment_min": Key(integer(1), 10),
    "segment_max": Key(integer(1), 40),
    "leak_min": Key(_leak, 0.05),
    "leak_max": Key(_leak, 0.3),
    # the two rules
    "alpha": Key(_positive, 1.0),
    "a_plus": Key(number(0.0), 1.0),
    "a_minus": Key(number(0.0), 1.0),
    "tau_plus": Key(_positive, 8.0),
    "tau_minus": Key(_positive, 8.0),
    "full_windows_only": Key(boolean, True),
    # analyses
    "eq1_bins": Key(integer(2), 30),
    "eq1_binning": Key(choice(BINNINGS), "quantile"),
    "near_max": Key(integer(1), 5),
    "far_min": Key(integer(1), 15),
    "example_sequence": Key(integer(0), 0),
    "example_sample": Key(integer(0), 0),
}


def _check_settings(scenario: Scenario) -> dict[str, Any]:
    """The [experiment] table after checking its keys against each other; a [model] that
    differs from the defaults is refused, since this experiment reads none of it."""
    table = scenario.settings["experiment"]
    model = scenario.phase_parameters[0]
    default = ModelParameters()
    if "preset" in scenario.settings["model"]:
        raise ValidationError(
            f"model.preset = {scenario.settings['model']['preset']!r}: the stdp_curve "
            "experiment reads no [model]; set its rate function and rules in [experiment]"
        )
    for field in fields(ModelParameters):
        if getattr(model, field.name) != getattr(default, field.name):
            raise ValidationError(
                f"model.{field.name} = {getattr(model, field.name)!r}: the stdp_curve "
                "experiment reads no [model]; set its rate function and rules in [experiment] "
                "(activation, hard_sigmoid_threshold, alpha, ...)"
            )
    backend = scenario.settings["scenario"]["backend"]
    if backend != DEFAULT_BACKEND:
        raise ValidationError(
            f"scenario.backend = {backend!r}: the stdp_curve experiment runs no simulator "
            "backend (compiled kernels draw its spike trains); leave scenario.backend out"
        )
    window, steps = table["window"], table["steps"]
    if table["full_windows_only"] and steps <= 2 * window:
        raise ValidationError(
            f"experiment.steps = {steps}: with full_windows_only, a presynaptic spike counts "
            f"only with its whole window (experiment.window = {window}) inside the sequence; "
            f"steps must exceed 2 * window = {2 * window}"
        )
    if table["drive_low"] >= table["drive_high"]:
        raise ValidationError(
            f"experiment.drive_low = {table['drive_low']:g} must be below experiment.drive_high "
            f"= {table['drive_high']:g}"
        )
    if table["segment_min"] > table["segment_max"]:
        raise ValidationError(
            f"experiment.segment_min = {table['segment_min']} is larger than "
            f"experiment.segment_max = {table['segment_max']}"
        )
    if table["leak_min"] > table["leak_max"]:
        raise ValidationError(
            f"experiment.leak_min = {table['leak_min']:g} is larger than experiment.leak_max "
            f"= {table['leak_max']:g}"
        )
    if table["far_min"] > window:
        raise ValidationError(
            f"experiment.far_min = {table['far_min']}: the far range far_min .. window must "
            f"lie within experiment.window = {window}"
        )
    if table["near_max"] >= table["far_min"]:
        raise ValidationError(
            f"experiment.near_max = {table['near_max']} must be below experiment.far_min = "
            f"{table['far_min']} (the near range 1 .. near_max, the far range far_min .. window)"
        )
    for key, limit in (("example_sequence", "sequences"), ("example_sample", "samples")):
        if table[key] >= table[limit]:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: must be below experiment.{limit} = "
                f"{table[limit]}"
            )
    return table


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
        # |delta| <= window: a small integer; it keeps a full run's records near 40 MB
        deltas.append(delta.astype(np.int16 if window < 2**15 else np.int64))
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


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN for fewer than 2 points or a constant variable."""
    if x.size < 2:
        return math.nan
    x = x - x.mean()
    y = y - y.mean()
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y)) / denominator if denominator > 0 else math.nan


def _grouped(index: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """``(count, mean, standard error)`` of ``values`` by group ``index`` in ``0 .. size - 1``
    (mean NaN for an empty group, standard error NaN below 2 values)."""
    count = np.bincount(index, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(index, values, minlength=size) / count
        squares = np.bincount(index, (values - mean[index]) ** 2, minlength=size)
        sem = np.sqrt(squares / (count - 1) / count)
    sem[count < 2] = np.nan
    return count, mean, sem


def _pooled_mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else math.nan


def curve_metrics(
    records: Records,
    *,
    window: int,
    bins: int,
    binning: str,
    near_max: int,
    far_min: int,
) -> dict[str, Any]:
    """The analyses of the records (module docstring), as metric arrays and scalars."""
    delta = records.delta.astype(np.int64)
    deltas = np.arange(-window, window + 1)
    pair_count, eq1_mean, eq1_sem = _grouped(delta + window, records.eq1, deltas.size)
    _, nn_mean, _ = _grouped(delta + window, records.nn, deltas.size)
    # the nearest-neighbour rule changes the weight at PAIRED spikes only (delta != 0)
    paired = delta != 0
    x, y = records.eq1[paired], records.nn[paired]
    if x.size == 0:
        edges = np.full(bins + 1, np.nan)
    elif binning == "quantile":
        edges = np.quantile(x, np.linspace(0.0, 1.0, bins + 1))
    else:
        edges = np.linspace(x.min(), x.max(), bins + 1)
    index = np.searchsorted(edges[1:-1], x, side="right")
    bin_count, bin_eq1, _ = _grouped(index, x, bins)
    _, bin_nn, bin_nn_sem = _grouped(index, y, bins)
    filled = bin_count > 0
    near_plus = (delta >= 1) & (delta <= near_max)
    near_minus = (delta <= -1) & (delta >= -near_max)
    far_plus = (delta >= far_min) & (delta <= window)
    far_minus = (delta <= -far_min) & (delta >= -window)
    means = {
        "eq1_mean_near_pre_leads": _pooled_mean(records.eq1, near_plus),
        "eq1_mean_near_post_leads": _pooled_mean(records.eq1, near_minus),
        "eq1_mean_far_pre_leads": _pooled_mean(records.eq1, far_plus),
        "eq1_mean_far_post_leads": _pooled_mean(records.eq1, far_minus),
    }
    near_each = eq1_mean[window + 1 : window + near_max + 1]
    near_each_minus = eq1_mean[window - near_max : window]
    signs = bool(np.all(near_each > 0) and np.all(near_each_minus < 0))
    decay = bool(
        abs(means["eq1_mean_near_pre_leads"]) > abs(means["eq1_mean_far_pre_leads"])
        and abs(means["eq1_mean_near_post_leads"]) > abs(means["eq1_mean_far_post_leads"])
    )
    presynaptic = int(records.outcome_counts.sum())
    return {
        "delta": deltas,
        "eq1_mean_by_delta": eq1_mean,
        "eq1_sem_by_delta": eq1_sem,
        "pair_count_by_delta": pair_count,
        "nn_mean_by_delta": nn_mean,
        "eq1_bin_centre": (edges[:-1] + edges[1:]) / 2.0,
        "eq1_bin_mean": bin_eq1,
        "nn_mean_by_eq1_bin": bin_nn,
        "nn_sem_by_eq1_bin": bin_nn_sem,
        "eq1_bin_count": bin_count,
        "outcome_count": records.outcome_counts,
        "correlation_samples": _pearson(x, y),
        "correlation_binned": _pearson(bin_eq1[filled], bin_nn[filled]),
        **means,
        "bi_poo_signs": float(signs),
        "bi_poo_decay": float(decay),
        "presynaptic_spikes": float(presynaptic),
        "paired_share": float(x.size / presynaptic) if presynaptic else math.nan,
    }


METRICS = {
    # name: (dims, description)
    "eq1_mean_by_delta": (
        ("delta",),
        "mean Eq. 1 update alpha * (s_i(t+1) - s_i(t)) at presynaptic spikes whose nearest "
        "postsynaptic spike is delta = t_post - t_pre steps away (0: coincident)",
    ),
    "eq1_sem_by_delta": (("delta",), "standard error of eq1_mean_by_delta"),
    "pair_count_by_delta": (("delta",), "presynaptic spikes at each delta"),
    "nn_mean_by_delta": (("delta",), "mean nearest-neighbour STDP update at each delta"),
    "eq1_bin_centre": (("eq1_bin",), "centre of each bin of the Eq. 1 update"),
    "eq1_bin_mean": (("eq1_bin",), "mean Eq. 1 update in each bin"),
    "nn_mean_by_eq1_bin": (("eq1_bin",), "mean nearest-neighbour update in each Eq. 1 bin"),
    "nn_sem_by_eq1_bin": (("eq1_bin",), "standard error of nn_mean_by_eq1_bin"),
    "eq1_bin_count": (("eq1_bin",), "paired presynaptic spikes in each Eq. 1 bin"),
    "outcome_count": (("outcome",), "presynaptic spikes by nearest-neighbour outcome"),
    "correlation_samples": (
        (),
        "Pearson r of the Eq. 1 and nearest-neighbour updates over the presynaptic spikes the "
        "nearest-neighbour rule changes the weight at (outcome paired)",
    ),
    "correlation_binned": ((), "Pearson r of the bins' mean Eq. 1 and mean NN updates"),
    "eq1_mean_near_pre_leads": ((), "mean Eq. 1 update over delta in 1 .. near_max"),
    "eq1_mean_near_post_leads": ((), "mean Eq. 1 update over delta in -near_max .. -1"),
    "eq1_mean_far_pre_leads": ((), "mean Eq. 1 update over delta in far_min .. window"),
    "eq1_mean_far_post_leads": ((), "mean Eq. 1 update over delta in -window .. -far_min"),
    "bi_poo_signs": (
        (),
        "1 if the mean Eq. 1 update is > 0 at every delta in 1 .. near_max and < 0 at every "
        "delta in -near_max .. -1, else 0",
    ),
    "bi_poo_decay": (
        (),
        "1 if |mean Eq. 1| over the near deltas exceeds that over the far deltas on both "
        "sides, else 0",
    ),
    "presynaptic_spikes": ((), "presynaptic spikes counted (all outcomes)"),
    "paired_share": ((), "share of the presynaptic spikes with a nearest-neighbour change"),
}
HEADLINE = (
    "correlation_samples",
    "correlation_binned",
    "eq1_mean_near_pre_leads",
    "eq1_mean_near_post_leads",
    "eq1_mean_far_pre_leads",
    "eq1_mean_far_post_leads",
    "bi_poo_signs",
    "bi_poo_decay",
    "paired_share",
)


def _example_arrays() -> dict[str, ArraySpec]:
    return {
        "activity": ArraySpec(("neuron",), (2,), np.float64),
        "spikes": ArraySpec(("neuron",), (2,), np.bool_),
        "weight_eq2": ArraySpec((), (), np.float64),
        "weight_nearest_neighbour": ArraySpec((), (), np.float64),
    }


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    """The protocol, its analyses and one example, written to one run store at ``out``."""
    table = _check_settings(scenario)
    seed = scenario.settings["scenario"]["seed"]
    store = RunStore.create(
        out,
        attributes={
            "scenario": scenario.settings,
            # no simulator backend runs: the spike trains come from compiled kernels
            "backend": "none",
            "seed": seed,
            "experiment": "stdp_curve",
            "example": {
                "sequence": table["example_sequence"],
                "sample": table["example_sample"],
            },
        },
        # the synapse j -> i: neuron 0 the presynaptic one, neuron 1 the postsynaptic one
        neurons={
            "role": np.array(["input", "output"]),
            "layer": np.array([0, 1]),
            "name": np.array(["pre", "post"]),
        },
        arrays=_example_arrays(),
        recorded_neurons=None,
        edge_src=np.array([PRE]),
        edge_dst=np.array([POST]),
        time_chunk=table["steps"],
        overwrite=overwrite,
        weight_dtype=np.float64,
    )
    bar = tqdm(
        total=table["sequences"], unit="sequence", delay=2.0, disable=not progress, mininterval=0.5
    )
    with store, stop_on_signals() as stop, bar:
        example = example_trace(table, seed)
        store.append(example.pop("time"), example)
        records = simulate(table, seed, lambda: bar.update(1), stop)
        metrics = curve_metrics(
            records,
            window=table["window"],
            bins=table["eq1_bins"],
            binning=table["eq1_binning"],
            near_max=table["near_max"],
            far_min=table["far_min"],
        )
        coords = {
            "delta": metrics["delta"],
            "eq1_bin": np.arange(table["eq1_bins"]),
            "outcome": np.array(OUTCOME_NAMES),
        }
        for name, (dims, description) in METRICS.items():
            store.write_metric(
                name,
                metrics[name],
                dims,
                {"description": description},
                coords={dim: coords[dim] for dim in dims},
            )
    steps = table["sequences"] * table["samples"] * table["steps"]
    return RunSummary(store.path, steps, store.status, {name: metrics[name] for name in HEADLINE})


def plot(run_reader: RunReader, path: Path) -> Path:
    """Figure 1 (middle, right), Figure 2 (right) and Figure 3 of the paper, in four panels."""
    if "correlation_samples" not in run_reader.names("metrics"):
        raise ValidationError(f"{run_reader.path}: no stdp_curve metrics (the run did not end)")

    def metric(name: str) -> np.ndarray:
        return run_reader.array("metrics", name)

    table = run_reader.attributes["scenario"]["experiment"]
    delta = metric("delta")
    figure = Figure(figsize=(11, 7.5))
    grid = figure.add_gridspec(2, 2)
    timing, nearest = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    binned = figure.add_subplot(grid[1, 0])
    # Figure 3 in two rows: activities and spikes above, the weights under both rules below
    example_grid = grid[1, 1].subgridspec(2, 1, height_ratios=(3, 2), hspace=0.08)
    example = figure.add_subplot(example_grid[0])
    weights = figure.add_subplot(example_grid[1], sharex=example)
    for axis in (timing, nearest, binned):
        axis.axhline(0.0, color="black", lw=0.6)
        axis.axvline(0.0, color="grey", lw=0.5, ls=":")
    timing.errorbar(
        delta,
        metric("eq1_mean_by_delta"),
        yerr=metric("eq1_sem_by_delta"),
        fmt=".",
        color="tab:blue",
        ms=4,
        lw=0.8,
        capsize=1.5,
    )
    timing.set_title("Eq. 1 update by spike timing (Fig. 1 middle)", fontsize=9)
    timing.set_ylabel("mean alpha * ds_i/dt at pre spikes", fontsize=8)
    nearest.plot(delta, metric("nn_mean_by_delta"), ".", color="tab:red", ms=4)
    nearest.set_title(
        f"nearest-neighbour STDP (Fig. 1 right): tau+ {table['tau_plus']:g}, "
        f"tau- {table['tau_minus']:g} steps",
        fontsize=9,
    )
    nearest.set_ylabel("mean nearest-neighbour update", fontsize=8)
    for axis in (timing, nearest):
        axis.set_xlabel("delta = t_post - t_pre (steps)", fontsize=8)
    binned.errorbar(
        metric("eq1_bin_mean"),
        metric("nn_mean_by_eq1_bin"),
        yerr=metric("nn_sem_by_eq1_bin"),
        fmt="o",
        color="tab:purple",
        ms=3,
        lw=0.8,
        capsize=1.5,
    )
    binned.set_title(
        f"NN update against Eq. 1 update, {table['eq1_bins']} {table['eq1_binning']} bins "
        f"(Fig. 2 right)\nr = {float(metric('correlation_samples')):.3f} over spikes, "
        f"{float(metric('correlation_binned')):.3f} over bins",
        fontsize=9,
    )
    binned.set_xlabel("Eq. 1 update (bin mean)", fontsize=8)
    binned.set_ylabel("mean nearest-neighbour update", fontsize=8)
    time = run_reader.array("trajectory", "time")
    activity = run_reader.array("trajectory", "activity")
    spikes = run_reader.array("trajectory", "spikes")
    example.plot(time, activity[:, PRE], color="tab:green", lw=1.0, label="s_j (pre)")
    example.plot(time, activity[:, POST], color="tab:orange", lw=1.0, label="s_i (post)")
    low = float(np.min(activity)) - 0.1
    for neuron, colour, offset in ((PRE, "tab:green", 0.15), (POST, "tab:orange", 0.35)):
        at = time[spikes[:, neuron]]
        example.plot(at, np.full(at.size, low - offset), "|", color=colour, ms=5)
    example.set_ylabel("s; spikes below", fontsize=8)
    example.tick_params(labelbottom=False)
    example.legend(fontsize=7, loc="upper right", ncol=2)
    example_of = run_reader.attributes.get("example", {})
    example.set_title(
        f"example (Fig. 3): sequence {example_of.get('sequence')}, sample "
        f"{example_of.get('sample')}",
        fontsize=9,
    )
    # the rules' scales differ (Eq. 2: alpha * ds, NN: the window's amplitudes): two axes
    weights.plot(time, run_reader.array("trajectory", "weight_eq2"), color="tab:blue", lw=1.2)
    weights.set_ylabel("W by Eq. 2", fontsize=8, color="tab:blue")
    weights.set_xlabel("step", fontsize=8)
    nearest_weight = weights.twinx()
    nearest_weight.plot(
        time,
        run_reader.array("trajectory", "weight_nearest_neighbour"),
        color="tab:red",
        lw=1.0,
        ls="--",
    )
    nearest_weight.set_ylabel("W by NN STDP", fontsize=8, color="tab:red")
    for axis in (timing, nearest, binned, example, weights, nearest_weight):
        axis.tick_params(labelsize=7)
    figure.suptitle(
        f"STDP-objective spike simulations: {table['sequences']} sequences x {table['steps']} "
        f"steps x {table['samples']} samples, window {table['window']}\nrho "
        f"{table['activation']}, max rate {table['max_rate_per_step']:g} per step; Bi & Poo "
        f"signs {int(metric('bi_poo_signs'))}, decay {int(metric('bi_poo_decay'))}",
        fontsize=10,
    )
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot)

__all__ = [
    "EXPERIMENT",
    "KEYS",
    "STREAM_ACTIVITY",
    "STREAM_SPIKES",
    "Records",
    "activities",
    "activity_sequence",
    "curve_metrics",
    "example_trace",
    "sequence_records",
    "simulate",
]
