"""Neural adaptation: how far a neuron's state overshoots its settled level after a step of
its input switches on, and undershoots it after the step switches off.

For a trace ``s`` with the input switched on at step ``on`` and off at ``off`` (phase steps),
the settled levels are the means over the last ``settle`` steps before the switch-off (on) and
before the end of the trace (off); the overshoot is ``max(s[on:off]) - settled_on`` and the
undershoot ``settled_off - min(s[off:])``. Both are 0 for a response that approaches its
level without passing it. Time unit: integration steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.checks import check_integer
from neurosim.errors import ValidationError


@dataclass(frozen=True)
class AdaptationMetrics:
    """Levels and excursions of a step response (state units)."""

    rest: float
    settled_on: float
    settled_off: float
    overshoot: float
    undershoot: float

    def as_dict(self) -> dict[str, float]:
        return {
            "rest_level": self.rest,
            "settled_on": self.settled_on,
            "settled_off": self.settled_off,
            "overshoot": self.overshoot,
            "undershoot": self.undershoot,
        }


def adaptation_metrics(trace: np.ndarray, on: int, off: int, settle: int) -> AdaptationMetrics:
    """Metrics of ``trace`` (one value per phase step) for a step switched on at ``on`` and off
    at ``off``; ``settle`` steps before each switch and before the end give the levels."""
    trace = np.asarray(trace, dtype=float)
    check_integer("settle", settle, 1)
    if trace.ndim != 1 or not settle <= on < off <= trace.size - settle:
        raise ValidationError(
            f"adaptation needs settle <= on < off <= len(trace) - settle, got settle {settle}, "
            f"on {on}, off {off}, len(trace) {trace.size}"
        )
    rest = float(trace[on - settle : on].mean())
    settled_on = float(trace[off - settle : off].mean())
    settled_off = float(trace[-settle:].mean())
    overshoot = max(0.0, float(trace[on:off].max()) - settled_on)
    undershoot = max(0.0, settled_off - float(trace[off:].min()))
    return AdaptationMetrics(rest, settled_on, settled_off, overshoot, undershoot)
