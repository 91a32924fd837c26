"""Neural adaptation: how far a neuron's state overshoots its settled level after its input
switches on, and undershoots it after the input switches off, averaged over cycles.

The input is a square wave: it switches on at ``on`` and off at ``off`` (phase steps), and,
with ``cycles`` > 1, again every ``period`` steps. The trace is cut into its cycles, each
starting at a switch-on (``trace[on + k * period : on + (k + 1) * period]``; with one cycle
the cycle runs to the end of the trace) and averaged, which averages out the fluctuations
that fake targets and noise add. On the averaged cycle ``c``, with ``L = off - on`` steps on:

- ``rest``: the mean of the ``settle`` steps before the first switch-on (the raw trace);
- ``settled_on`` / ``settled_off``: the means of the last ``settle`` steps on
  (``c[L - settle : L]``) and off (``c[-settle:]``); ``step_amplitude`` their difference;
- the uncorrected ``overshoot_uncorrected = max(c[:window]) - settled_on`` and
  ``undershoot_uncorrected = settled_off - min(c[L : L + window])``;
- ``overshoot`` and ``undershoot``: the same, less the same statistic over the settled
  window (``max(c[L - settle : L]) - settled_on``, ``settled_off - min(c[-settle:])``). A
  maximum over a fluctuating trace exceeds its mean even when nothing overshoots; what is
  left is the excursion beyond the fluctuations, and may be slightly negative.
- ``overshoot_fraction`` / ``undershoot_fraction``: those over ``|step_amplitude|``.

Time unit: integration steps. docs/paper-reproduction.md gives the measured values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.checks import check_integer
from neurosim.errors import ValidationError


@dataclass(frozen=True)
class AdaptationMetrics:
    """Levels and excursions of a cycle-averaged step response (state units)."""

    rest: float
    settled_on: float
    settled_off: float
    overshoot: float
    undershoot: float
    overshoot_uncorrected: float
    undershoot_uncorrected: float

    @property
    def step_amplitude(self) -> float:
        return self.settled_on - self.settled_off

    def as_dict(self) -> dict[str, float]:
        amplitude = abs(self.step_amplitude)
        return {
            "rest_level": self.rest,
            "settled_on": self.settled_on,
            "settled_off": self.settled_off,
            "step_amplitude": self.step_amplitude,
            "overshoot": self.overshoot,
            "undershoot": self.undershoot,
            "overshoot_fraction": self.overshoot / amplitude if amplitude else float("nan"),
            "undershoot_fraction": self.undershoot / amplitude if amplitude else float("nan"),
            "overshoot_uncorrected": self.overshoot_uncorrected,
            "undershoot_uncorrected": self.undershoot_uncorrected,
        }


def cycle_average(trace: np.ndarray, on: int, period: int, cycles: int) -> np.ndarray:
    """The mean over ``cycles`` cycles of ``period`` steps starting at ``on``."""
    stop = on + cycles * period
    if trace.ndim != 1 or stop > trace.size:
        raise ValidationError(
            f"adaptation: {cycles} cycle(s) of {period} steps from step {on} need "
            f"{stop} steps of trace, got {trace.size}"
        )
    return trace[on:stop].reshape(cycles, period).mean(axis=0)


def check_layout(on: int, off: int, period: int, settle: int, window: int | None) -> int:
    """Check that a cycle of ``period`` steps, on from ``on`` to ``off``, leaves room for the
    levels and the excursions; returns the window (``settle`` when None)."""
    check_integer("settle", settle, 1)
    window = settle if window is None else check_integer("window", window, 1)
    check_integer("period", period, 1)
    on_steps, off_steps = off - on, period - (off - on)
    if off_steps <= 0:
        raise ValidationError(
            f"adaptation: a cycle of period = {period} steps is not longer than its {on_steps} "
            "steps on (off - on)"
        )
    if not settle <= on or min(on_steps, off_steps) < max(settle, window):
        raise ValidationError(
            f"adaptation needs settle <= on and at least max(settle, window) steps on and off, "
            f"got settle {settle}, window {window}, on {on}, {on_steps} steps on, "
            f"{off_steps} steps off"
        )
    return window


def adaptation_metrics(
    trace: np.ndarray,
    on: int,
    off: int,
    settle: int,
    *,
    period: int | None = None,
    cycles: int = 1,
    window: int | None = None,
) -> AdaptationMetrics:
    """Metrics of ``trace`` (one value per phase step) for an input switched on at ``on`` and
    off at ``off``, ``cycles`` times every ``period`` steps (one cycle: to the trace's end).
    ``settle`` steps give each level and its fluctuations; excursions are looked for in the
    first ``window`` steps after each switch (default ``settle``)."""
    trace = np.asarray(trace, dtype=float)
    check_integer("cycles", cycles, 1)
    if period is None:
        if cycles != 1:
            raise ValidationError(f"adaptation: cycles = {cycles} needs a period")
        period = trace.size - on
    window = check_layout(on, off, period, settle, window)
    on_steps = off - on
    cycle = cycle_average(trace, on, period, cycles)
    on_settled, off_settled = cycle[on_steps - settle : on_steps], cycle[-settle:]
    settled_on, settled_off = float(on_settled.mean()), float(off_settled.mean())
    overshoot = float(cycle[:window].max()) - settled_on
    undershoot = settled_off - float(cycle[on_steps : on_steps + window].min())
    on_noise = float(on_settled.max()) - settled_on
    off_noise = settled_off - float(off_settled.min())
    return AdaptationMetrics(
        rest=float(trace[on - settle : on].mean()),
        settled_on=settled_on,
        settled_off=settled_off,
        overshoot=overshoot - on_noise,
        undershoot=undershoot - off_noise,
        overshoot_uncorrected=overshoot,
        undershoot_uncorrected=undershoot,
    )
