"""Analyses against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.analysis.rivalry import dominance, rivalry_metrics
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


def test_adaptation_metrics_of_a_damped_step_response() -> None:
    from neurosim.analysis.adaptation import adaptation_metrics

    steps = np.arange(300)
    trace = np.zeros(300)
    # on at 100: rises to 1.3, settles at 1.0; off at 200: falls to -0.2, settles at 0.1
    trace[100:200] = 1.0 + 0.3 * np.exp(-(steps[100:200] - 100) / 5.0) * (steps[100:200] > 100)
    trace[200:] = 0.1 - 0.3 * np.exp(-(steps[200:] - 200) / 5.0) * (steps[200:] > 200)
    metrics = adaptation_metrics(trace, on=100, off=200, settle=20)
    assert metrics.rest == 0.0
    assert metrics.settled_on == pytest.approx(1.0, abs=1e-3)
    assert metrics.settled_off == pytest.approx(0.1, abs=1e-3)
    assert metrics.overshoot == pytest.approx(0.3 * np.exp(-1 / 5.0), abs=1e-3)
    assert metrics.undershoot == pytest.approx(0.3 * np.exp(-1 / 5.0), abs=1e-3)
    monotone = np.concatenate([np.zeros(100), 1 - np.exp(-np.arange(100) / 5.0), np.zeros(100)])
    assert adaptation_metrics(monotone, 100, 200, 20).overshoot == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValidationError, match="settle <= on < off"):
        adaptation_metrics(trace, on=10, off=200, settle=20)
