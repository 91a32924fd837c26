"""The analyses of ``stdp_curve`` (``curve_metrics``): the updates of both rules by spike
timing, the nearest-neighbour update binned by the Eq. 1 update, their correlations and the
Bi & Poo shape; ``METRICS`` names and describes what a run stores, ``HEADLINE`` what it
prints."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurosim.experiments.stdp_curve.simulation import Records

BINNINGS = ("quantile", "equal_width")


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
    """The analyses of the records (the package docstring), as metric arrays and scalars."""
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
