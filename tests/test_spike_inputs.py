"""The spike-input kernels on their own (fast): Bernoulli trains as geometric gaps between
spikes, and Poisson trains as exponential intervals, each from its own counter-based draw."""

from __future__ import annotations

import numpy as np
import scipy.stats

from neurosim.kernels.spike_inputs import (
    NEVER,
    STREAM_BINOMIAL,
    STREAM_POISSON,
    binomial_chunk,
    first_binomial_steps,
    first_poisson_times,
    poisson_chunk,
)

SOURCES = 2000


def bernoulli_steps(probability: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike steps and sources of SOURCES trains with one ``probability`` over ``steps``."""
    probabilities = np.full(SOURCES, probability)
    next_step = first_binomial_steps(probabilities, 7, STREAM_BINOMIAL)
    counts = np.zeros(SOURCES, np.int64)
    out_step = np.empty(SOURCES * steps, np.int64)
    out_source = np.empty(SOURCES * steps, np.int64)
    written, complete = binomial_chunk(
        next_step, counts, probabilities, steps, 7, STREAM_BINOMIAL, out_step, out_source
    )
    assert complete
    return out_step[:written], out_source[:written]


def test_bernoulli_trains_fire_each_step_with_their_probability() -> None:
    # long trains: the gap cut off by the end of the run (never seen) biases what is left
    # towards short gaps by about one gap in the 200 of each train
    probability, steps = 0.2, 1000
    step, source = bernoulli_steps(probability, steps)
    # the first step (from step -1) can be step 0, as any other
    first = np.array([step[source == s].min() for s in range(SOURCES)])
    assert abs(np.mean(first == 0) - probability) < 4 * np.sqrt(probability / SOURCES)
    # gaps are at least one step and geometric: P(gap = 1) = p, mean 1 / p
    gaps = np.concatenate([np.diff(step[source == s]) for s in range(SOURCES)])
    assert gaps.min() >= 1
    spread = np.sqrt(probability * (1 - probability) / gaps.size)
    assert abs(np.mean(gaps == 1) - probability) < 5 * spread
    assert abs(gaps.mean() - 1 / probability) < 4 * np.sqrt(
        (1 - probability) / probability**2 / gaps.size
    )
    # every step's spike count has the mean of Binomial(SOURCES, p)
    per_step = np.bincount(step, minlength=steps)
    spread = np.sqrt(SOURCES * probability * (1 - probability) / steps)
    assert abs(per_step.mean() - SOURCES * probability) < 4 * spread


def test_certain_and_silent_sources() -> None:
    _, source = bernoulli_steps(1.0, 5)
    np.testing.assert_array_equal(np.bincount(source), np.full(SOURCES, 5))  # every step
    silent = first_binomial_steps(np.zeros(3), 7, STREAM_BINOMIAL)
    np.testing.assert_array_equal(silent, NEVER)
    assert np.isinf(first_poisson_times(np.zeros(3), 7, STREAM_POISSON)).all()


def test_poisson_intervals_are_exponential_and_each_a_draw_of_its_own() -> None:
    rate_per_ms, dt = 0.05, 0.1
    rates = np.full(SOURCES, rate_per_ms)
    first = first_poisson_times(rates, 3, STREAM_POISSON)
    assert scipy.stats.kstest(first * rate_per_ms, "expon").pvalue > 1e-3
    # up to the step after the latest first spike: each source's first spike is written and
    # next_time holds its second
    stop = int(np.floor(first.max() / dt)) + 1
    next_time, counts = first.copy(), np.zeros(SOURCES, np.int64)
    out_step, out_source = np.empty(SOURCES * 50, np.int64), np.empty(SOURCES * 50, np.int64)
    written, complete = poisson_chunk(
        next_time, counts, rates, dt, stop, 3, STREAM_POISSON, out_step, out_source
    )
    assert complete and written == counts.sum() and counts.min() >= 1
    once = counts == 1
    second_interval = next_time[once] - first[once]
    assert scipy.stats.kstest(second_interval * rate_per_ms, "expon").pvalue > 1e-3
    # the second interval is a draw of its own, not the first again
    assert np.mean(np.isclose(second_interval, first[once])) < 0.01
    # each written spike sits on the step its time falls in
    np.testing.assert_array_equal(
        np.sort(out_step[:written][np.isin(out_source[:written], np.flatnonzero(once))]),
        np.sort(np.floor(first[once] / dt).astype(np.int64)),
    )


def poisson_trains(rates_hz: list[float], stop_step: int, dt: float = 0.1) -> list[np.ndarray]:
    """Each Poisson source's spike steps before ``stop_step``."""
    rates_per_ms = np.asarray(rates_hz) * 1e-3
    next_time = first_poisson_times(rates_per_ms, 3, STREAM_POISSON)
    counts = np.zeros(len(rates_hz), np.int64)
    out_step = np.empty(10_000, np.int64)
    out_source = np.empty(10_000, np.int64)
    written, complete = poisson_chunk(
        next_time, counts, rates_per_ms, dt, stop_step, 3, STREAM_POISSON, out_step, out_source
    )
    assert complete
    return [out_step[:written][out_source[:written] == k] for k in range(len(rates_hz))]


def test_a_silent_poisson_source_never_fires_and_leaves_the_others_as_they_were() -> None:
    """Rate 0 (allowed) means no spike at all; every other source's train is its own draw,
    the same whatever the silent source's rate."""
    silent = poisson_trains([0.0, 40.0, 0.0], 20_000)
    firing = poisson_trains([25.0, 40.0, 10.0], 20_000)
    assert silent[0].size == silent[2].size == 0
    assert firing[0].size > 0 and firing[2].size > 0
    assert silent[1].size > 20  # about 80 spikes in 2 s at 40 Hz
    np.testing.assert_array_equal(silent[1], firing[1])
