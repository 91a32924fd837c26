"""Input spike trains generated in bulk, with counter-based draws (time unit: ms).

Each source keeps one number between calls: the time (Poisson) or grid step (binomial) of its
next spike, and how many spikes it has emitted. The k-th interval of source i is a pure
function of (seed, stream, i, k), so a train is the same however the run is cut into chunks,
and generating it costs one draw per spike, not one per source and step:

- Poisson at rate r (Hz): exponential intervals in continuous time, ``-ln(1 - u) / r``; a
  spike at time t belongs to grid step ``floor(t / dt)``.
- Binomial: at each grid step a spike with probability ``p = r * dt`` (r in Hz, dt in ms,
  ``p <= 1``); the gap to the next spike is geometric, ``1 + floor(ln(1 - u) / ln(1 - p))``
  steps, which has exactly the law of independent per-step draws.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurosim.kernels.random import uniform

STREAM_POISSON = 101
STREAM_BINOMIAL = 102
# a source whose rate is 0 never fires: its next spike is put beyond any run
NEVER = np.iinfo(np.int64).max // 4


@njit(cache=True)
def _exponential(seed: int, stream: int, source: int, count: int) -> float:
    return -math.log(1.0 - uniform(seed, stream, source, count))


@njit(cache=True)
def first_poisson_times(rates_per_ms: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Each source's first spike time (ms from 0)."""
    first = np.empty(rates_per_ms.shape[0])
    for source in range(rates_per_ms.shape[0]):
        if rates_per_ms[source] <= 0.0:
            first[source] = np.inf
        else:
            first[source] = _exponential(seed, stream, source, 0) / rates_per_ms[source]
    return first


@njit(cache=True)
def poisson_chunk(
    next_time: np.ndarray,
    counts: np.ndarray,
    rates_per_ms: np.ndarray,
    dt: float,
    stop_step: int,
    seed: int,
    stream: int,
    out_step: np.ndarray,
    out_source: np.ndarray,
) -> tuple[int, bool]:
    """Spikes of every source before grid step ``stop_step`` into ``out_*``; advances
    ``next_time`` and ``counts``. Returns (how many written, whether all were): when the
    output is full the caller takes what was written and calls again."""
    written = 0
    capacity = out_step.shape[0]
    for source in range(rates_per_ms.shape[0]):
        if rates_per_ms[source] <= 0.0:  # never fires: its first time is inf
            continue
        while math.floor(next_time[source] / dt) < stop_step:
            if written == capacity:
                return written, False
            out_step[written] = math.floor(next_time[source] / dt)
            out_source[written] = source
            written += 1
            counts[source] += 1
            interval = _exponential(seed, stream, source, counts[source])
            next_time[source] += interval / rates_per_ms[source]
    return written, True


@njit(cache=True)
def _geometric_gap(probability: float, seed: int, stream: int, source: int, count: int) -> int:
    if probability >= 1.0:
        return 1
    draw = -_exponential(seed, stream, source, count)  # ln(1 - u)
    return 1 + math.floor(draw / math.log1p(-probability))


@njit(cache=True)
def first_binomial_steps(probabilities: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Each source's first spike step (the gap from step -1)."""
    first = np.empty(probabilities.shape[0], dtype=np.int64)
    for source in range(probabilities.shape[0]):
        if probabilities[source] <= 0.0:
            first[source] = NEVER
        else:
            first[source] = _geometric_gap(probabilities[source], seed, stream, source, 0) - 1
    return first


@njit(cache=True)
def binomial_chunk(
    next_step: np.ndarray,
    counts: np.ndarray,
    probabilities: np.ndarray,
    stop_step: int,
    seed: int,
    stream: int,
    out_step: np.ndarray,
    out_source: np.ndarray,
) -> tuple[int, bool]:
    """As ``poisson_chunk``, for per-step spike probabilities."""
    written = 0
    capacity = out_step.shape[0]
    for source in range(probabilities.shape[0]):
        while next_step[source] < stop_step:
            if written == capacity:
                return written, False
            out_step[written] = next_step[source]
            out_source[written] = source
            written += 1
            counts[source] += 1
            gap = _geometric_gap(probabilities[source], seed, stream, source, counts[source])
            next_step[source] += gap
    return written, True
