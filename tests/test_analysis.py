"""Analyses against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.analysis.rivalry import (
    MIXED,
    dominance,
    pattern_states,
    rivalry_metrics,
)
from neurosim.errors import ValidationError


def test_dominance_uses_hysteresis_and_carries_the_decision() -> None:
    first = np.array([0.0, 0.5, 0.1, -0.1, -0.5, -0.1, 0.5])
    second = np.zeros(7)
    np.testing.assert_array_equal(dominance(first, second, 0.2), [-1, 0, 0, 0, 1, 1, 0])


def test_metrics_of_a_regular_alternation() -> None:
    time = np.arange(1, 401)
    # unit 0 on for 50 steps, then unit 1 for 50 steps, ...
    on_first = (np.arange(400) // 50) % 2 == 0
    first = np.where(on_first, 1.0, 0.0)
    metrics = rivalry_metrics(time, first, 1.0 - first, 0.2)
    assert metrics.switches == 7
    np.testing.assert_array_equal(metrics.durations, [50.0] * 6)
    assert metrics.mean_duration == 50.0
    assert metrics.cv_duration == 0.0
    assert metrics.dominance_share == (0.5, 0.5)


def test_no_alternation_gives_no_switches() -> None:
    metrics = rivalry_metrics(np.arange(100), np.full(100, 0.8), np.full(100, 0.3))
    assert metrics.switches == 0
    assert np.isnan(metrics.mean_duration) and np.isnan(metrics.cv_duration)
    assert metrics.dominance_share == (1.0, 0.0)


def test_bad_traces_are_rejected() -> None:
    with pytest.raises(ValidationError, match="two 1-D traces"):
        dominance(np.zeros(3), np.zeros(4), 0.1)
    with pytest.raises(ValidationError, match="hysteresis = -1"):
        dominance(np.zeros(3), np.zeros(3), -1)


# (first, second, steps, what the pair shows): built by construction, with levels 0.6 / 0.45
SEGMENTS = [
    (0.9, 0.1, 30, 0),  # pattern of the first unit
    (0.55, 0.5, 20, MIXED),  # both half up
    (0.05, 0.8, 40, 1),
    (0.2, 0.2, 10, MIXED),  # both down
    (0.1, 0.7, 10, 1),  # back to the same pattern: no pattern switch
    (0.6, 0.45, 15, 0),  # exactly at the levels: a pattern
    (0.7, 0.5, 25, MIXED),  # the lower unit above the off level
    (0.8, 0.3, 50, 0),  # the same pattern again
]


def _segment_traces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    first = np.concatenate([np.full(n, a) for a, _, n, _ in SEGMENTS])
    second = np.concatenate([np.full(n, b) for _, b, n, _ in SEGMENTS])
    shown = np.concatenate([np.full(n, code) for _, _, n, code in SEGMENTS])
    return first, second, shown


def test_pattern_states_mark_each_stretch() -> None:
    first, second, shown = _segment_traces()
    np.testing.assert_array_equal(pattern_states(first, second, 0.6, 0.45), shown)


def test_pattern_metrics_of_a_built_sequence() -> None:
    first, second, _ = _segment_traces()
    total = sum(n for *_, n, _ in SEGMENTS)  # 200 steps
    metrics = rivalry_metrics(np.arange(1, total + 1), first, second, 0.2, 0.6, 0.45)
    # first: 30 + 15 + 50 steps; second: 40 + 10; mixed: 20 + 10 + 25
    assert metrics.pattern_share == (95 / 200, 50 / 200)
    assert metrics.mixed_share == 55 / 200
    # first -> (mixed) -> second, second -> (mixed) -> second, second -> first
    assert metrics.pattern_switches == 2
    lower = 0.1 * 30 + 0.5 * 20 + 0.05 * 40 + 0.2 * 10 + 0.1 * 10 + 0.45 * 15 + 0.5 * 25 + 0.3 * 50
    assert metrics.suppressed_mean == pytest.approx(lower / 200)


def test_alternation_between_mixed_states_is_no_pattern_switch() -> None:
    # the lead changes every 25 steps by 0.25 > hysteresis, but the lower unit stays at 0.55
    lead = (np.arange(400) // 25) % 2 == 0
    first = np.where(lead, 0.8, 0.55)
    second = np.where(lead, 0.55, 0.8)
    metrics = rivalry_metrics(np.arange(400), first, second)
    assert metrics.switches == 15
    assert metrics.pattern_switches == 0
    assert metrics.mixed_share == 1.0
    assert metrics.suppressed_mean == pytest.approx(0.55)
    clean = rivalry_metrics(np.arange(400), np.where(lead, 0.8, 0.1), np.where(lead, 0.1, 0.8))
    assert clean.switches == clean.pattern_switches == 15
    assert clean.mixed_share == 0.0


@pytest.mark.parametrize(
    ("on_level", "off_level", "message"),
    [
        (0.4, 0.45, "on_level = 0.4: must be above off_level = 0.45"),
        (0.5, 0.5, "on_level = 0.5: must be above off_level = 0.5"),
        ("high", 0.45, "on_level = 'high': expected a number"),
        (0.6, float("nan"), "off_level = nan: expected a finite number"),
    ],
)
def test_bad_pattern_levels_are_refused_by_name(on_level, off_level, message) -> None:
    with pytest.raises(ValidationError, match=message):
        pattern_states(np.zeros(3), np.zeros(3), on_level, off_level)


def _cycled_response(cycle_noise: list[float]) -> np.ndarray:
    """100 rest steps at 0.1, then one cycle per entry of ``cycle_noise``: 100 steps on that
    jump to 1.3 and settle at 1.0, 100 off that drop to -0.2 and settle at 0.1, each plus an
    alternating +-noise of that cycle's size."""
    t = np.arange(100)
    decay = 0.3 * np.exp(-t / 5.0) * (t > 0)
    alternating = (-1.0) ** t
    cycles = [
        np.concatenate([1.0 + decay + noise * alternating, 0.1 - decay + noise * alternating])
        for noise in cycle_noise
    ]
    return np.concatenate([np.full(100, 0.1), *cycles])


def test_adaptation_metrics_of_a_cycled_damped_response() -> None:
    from neurosim.analysis.adaptation import adaptation_metrics

    jump = 0.3 * np.exp(-1 / 5.0)  # the largest excursion, one step after each switch
    # three cycles whose fluctuations cancel in the average: nothing to correct
    trace = _cycled_response([0.02, 0.0, -0.02])
    metrics = adaptation_metrics(trace, 100, 200, 20, period=200, cycles=3, window=20)
    assert metrics.rest == pytest.approx(0.1, abs=1e-12)
    assert metrics.settled_on == pytest.approx(1.0, abs=1e-6)
    assert metrics.settled_off == pytest.approx(0.1, abs=1e-6)
    assert metrics.overshoot == pytest.approx(jump, abs=1e-6)
    assert metrics.undershoot == pytest.approx(jump, abs=1e-6)
    assert metrics.overshoot_uncorrected == pytest.approx(jump, abs=1e-6)
    values = metrics.as_dict()
    assert values["step_amplitude"] == pytest.approx(0.9, abs=1e-6)
    assert values["overshoot_fraction"] == pytest.approx(jump / 0.9, abs=1e-6)

    # fluctuations of 0.01 in every cycle: the maximum after the switch-on (at step 1, where
    # the fluctuation is -0.01) exceeds the settled mean by jump - 0.01, and the settled
    # window's own maximum by 0.01, which the correction takes off
    metrics = adaptation_metrics(
        _cycled_response([0.01, 0.01]), 100, 200, 20, period=200, cycles=2, window=20
    )
    assert metrics.overshoot_uncorrected == pytest.approx(jump - 0.01, abs=1e-6)
    assert metrics.overshoot == pytest.approx(jump - 0.02, abs=1e-6)
    assert metrics.undershoot_uncorrected == pytest.approx(jump + 0.01, abs=1e-6)
    assert metrics.undershoot == pytest.approx(jump, abs=1e-6)

    # one cycle to the end of the trace, no period needed
    single = adaptation_metrics(_cycled_response([0.0]), 100, 200, 20)
    assert single.overshoot == pytest.approx(jump, abs=1e-6)
    monotone = np.concatenate([np.zeros(100), 1 - np.exp(-np.arange(100) / 5.0), np.zeros(100)])
    # a response that approaches its level from below never passes it: still e^-3.8 short of
    # it at the end of the 20-step window (negative, not clipped)
    approach = adaptation_metrics(monotone, 100, 200, 20).overshoot
    assert approach == pytest.approx(-np.exp(-19 / 5.0), abs=1e-6)


def test_adaptation_metrics_refuse_what_the_trace_cannot_give() -> None:
    from neurosim.analysis.adaptation import adaptation_metrics

    trace = _cycled_response([0.0, 0.0])
    with pytest.raises(ValidationError, match="settle <= on"):
        adaptation_metrics(trace, on=10, off=200, settle=20)
    with pytest.raises(ValidationError, match="need 700 steps of trace, got 500"):
        adaptation_metrics(trace, 100, 200, 20, period=200, cycles=3)
    with pytest.raises(ValidationError, match="cycles = 2 needs a period"):
        adaptation_metrics(trace, 100, 200, 20, cycles=2)
    with pytest.raises(ValidationError, match="window 150"):
        adaptation_metrics(trace, 100, 200, 20, period=200, cycles=2, window=150)
