"""The spike-input kernels on their own (fast): Bernoulli trains as geometric gaps between
spikes, and Poisson trains as exponential intervals, each from its own counter-based draw."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

from neurosim.kernels.random import uniform
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


def binomial_train_by_formula(probability: float, source: int, stop: int) -> list[int]:
    """One source's Bernoulli train written out: the k-th gap is ``1 + floor(ln(1 - u_k) /
    ln(1 - p))`` with ``u_k`` the source's k-th counter-based draw, the first counted from
    step -1 (only the draw itself is the package's)."""
    steps, step, count = [], -1, 0
    while True:
        u = uniform(7, STREAM_BINOMIAL, source, count)
        # p = 1: ln(1 - p) = -inf, so every gap is 1
        step += (
            1 if probability == 1 else 1 + math.floor(math.log(1 - u) / math.log(1 - probability))
        )
        if step >= stop:
            return steps
        steps.append(step)
        count += 1


def poisson_train_by_formula(rate_per_ms: float, source: int, dt: float, stop: int) -> list[int]:
    """One source's Poisson train written out: the k-th interval is ``-ln(1 - u_k) / r`` and a
    spike at time t falls on grid step ``floor(t / dt)``."""
    steps, time, count = [], 0.0, 0
    while True:
        time += -math.log(1.0 - uniform(3, STREAM_POISSON, source, count)) / rate_per_ms
        if math.floor(time / dt) >= stop:
            return steps
        steps.append(math.floor(time / dt))
        count += 1


def chunked(kind: str, parameters: np.ndarray, stops: list[int], capacity: int, dt: float = 0.1):
    """The trains generated chunk by chunk (each chunk up to its stop step, in calls with room
    for ``capacity`` spikes), every chunk's spikes checked to lie before its stop."""
    if kind == "binomial":
        upcoming = first_binomial_steps(parameters, 7, STREAM_BINOMIAL)
    else:
        upcoming = first_poisson_times(parameters, 3, STREAM_POISSON)
    counts = np.zeros(parameters.size, np.int64)
    trains: list[list[int]] = [[] for _ in parameters]
    start = 0
    for stop in stops:
        complete = False
        while not complete:
            out_step, out_source = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
            if kind == "binomial":
                written, complete = binomial_chunk(
                    upcoming, counts, parameters, stop, 7, STREAM_BINOMIAL, out_step, out_source
                )
            else:
                written, complete = poisson_chunk(
                    upcoming, counts, parameters, dt, stop, 3, STREAM_POISSON, out_step, out_source
                )
            assert written <= capacity and (complete or written == capacity)
            assert np.all((out_step[:written] >= start) & (out_step[:written] < stop))
            for step, source in zip(out_step[:written], out_source[:written], strict=True):
                trains[source].append(int(step))
        start = stop
    np.testing.assert_array_equal(counts, [len(train) for train in trains])
    return trains


def test_bernoulli_trains_are_the_geometric_gaps_of_their_own_draws_however_chunked() -> None:
    """Every spike step equals the formula's, with the k-th gap from the source's k-th draw;
    chunks of any length and outputs of any size give the same trains, each chunk holding
    exactly the spikes before its stop step."""
    probabilities = np.array([0.3, 0.05, 1.0, 0.6])
    expected = [binomial_train_by_formula(p, k, 200) for k, p in enumerate(probabilities)]
    assert expected[2] == list(range(200)) and min(len(train) for train in expected) > 3
    for stops, capacity in [([200], 1000), ([1, 2, 57, 58, 200], 3), ([100, 200], 1)]:
        assert chunked("binomial", probabilities, stops, capacity) == expected


def test_poisson_trains_are_the_exponential_intervals_of_their_own_draws_however_chunked() -> None:
    rates_per_ms = np.array([0.05, 0.4, 0.03])
    expected = [poisson_train_by_formula(r, k, 0.1, 3000) for k, r in enumerate(rates_per_ms)]
    assert min(len(train) for train in expected) > 3
    for stops, capacity in [([3000], 10_000), ([7, 8, 1500, 3000], 2), ([3000], 1)]:
        assert chunked("poisson", rates_per_ms, stops, capacity) == expected


def test_a_silent_source_divides_by_nothing() -> None:
    """Rate or probability 0 is caught before any division (compiled code would raise on a
    division by zero)."""
    with np.errstate(divide="raise", invalid="raise"):
        assert np.isinf(first_poisson_times(np.array([0.0, 0.0]), 3, STREAM_POISSON)).all()
        np.testing.assert_array_equal(
            first_binomial_steps(np.array([0.0]), 7, STREAM_BINOMIAL), NEVER
        )
