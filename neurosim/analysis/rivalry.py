"""Binocular rivalry: which of two competing units dominates, and how perception alternates.

With an ambiguous input (two patterns at once), the network's state may settle on one
interpretation or alternate between them. Dominance is read from the difference
``d = s_a - s_b`` of the two units' states with hysteresis ``h``: unit a dominates from the
step ``d > h``, unit b from the step ``d < -h``; in between the previous dominant unit stays
(before the first decision: none). A switch is a change of dominant unit; a dominance
duration is the time between two switches (the first and the last stretch, cut by the
recording, are left out). Time unit: integration steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.checks import check_number
from neurosim.errors import ValidationError

NONE = -1


@dataclass(frozen=True)
class RivalryMetrics:
    """Switch count, complete dominance durations (steps), their mean and coefficient of
    variation (NaN with fewer than two durations), and the share of time each unit dominated."""

    switches: int
    durations: np.ndarray
    mean_duration: float
    cv_duration: float
    dominance_share: tuple[float, float]

    def as_dict(self) -> dict[str, float | int]:
        return {
            "switches": self.switches,
            "mean_duration": self.mean_duration,
            "cv_duration": self.cv_duration,
            "dominance_share_first": self.dominance_share[0],
            "dominance_share_second": self.dominance_share[1],
        }


def dominance(first: np.ndarray, second: np.ndarray, hysteresis: float) -> np.ndarray:
    """Per step: 0 where the first unit dominates, 1 for the second, -1 before any decision."""
    first = np.asarray(first, dtype=float)
    second = np.asarray(second, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValidationError(
            f"dominance needs two 1-D traces of one length, got {first.shape} and {second.shape}"
        )
    check_number("hysteresis", hysteresis, 0.0)
    difference = first - second
    decided = np.where(difference > hysteresis, 0, np.where(difference < -hysteresis, 1, NONE))
    # carry the last decision forward through the undecided band
    positions = np.where(decided != NONE, np.arange(decided.size), -1)
    last = np.maximum.accumulate(positions)
    return np.where(last >= 0, decided[np.maximum(last, 0)], NONE)


def rivalry_metrics(
    time: np.ndarray, first: np.ndarray, second: np.ndarray, hysteresis: float = 0.2
) -> RivalryMetrics:
    """Metrics of the alternation between two units' states recorded at ``time``."""
    time = np.asarray(time)
    dominant = dominance(first, second, hysteresis)
    if time.shape != dominant.shape:
        raise ValidationError(f"time has shape {time.shape}; the traces have {dominant.shape}")
    decided = dominant != NONE
    changes = np.flatnonzero(decided[1:] & decided[:-1] & (dominant[1:] != dominant[:-1])) + 1
    durations = np.diff(time[changes]).astype(float)
    mean = float(durations.mean()) if durations.size else float("nan")
    cv = float(durations.std() / mean) if durations.size >= 2 and mean > 0 else float("nan")
    share = (float(np.mean(dominant == 0)), float(np.mean(dominant == 1)))
    return RivalryMetrics(int(changes.size), durations, mean, cv, share)
