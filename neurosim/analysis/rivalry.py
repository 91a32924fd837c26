"""Binocular rivalry: which of two competing units dominates, and whether perception
alternates between the two *patterns* or between mixed states.

Two readings of the two units' states ``s_a`` and ``s_b`` (time unit: integration steps).

**Dominance** (which unit is ahead) from the difference ``d = s_a - s_b`` with hysteresis
``h``: unit a dominates from the step ``d > h``, unit b from the step ``d < -h``; in between
the previous dominant unit stays (before the first decision: none). A switch is a change of
dominant unit; a dominance duration is the time between two switches (the first and the last
stretch, cut by the recording, are left out). Dominance says nothing about how clean a state
is: two units at 0.55 and 0.3 or at 0.9 and 0.05 both count.

**Pattern state** (which pattern the pair shows) from two levels, ``on_level > off_level``:
per step the pair shows

- pattern a where ``s_a >= on_level`` and ``s_b <= off_level``,
- pattern b where ``s_b >= on_level`` and ``s_a <= off_level``,
- a mixed state otherwise (both up, both down, or either unit between the levels).

From it: the share of steps in pattern a, in pattern b and mixed; the number of *pattern
switches*, a change from one pattern to the other through any mixed stretch (a -> mixed -> b
counts one, a -> mixed -> a none); and the suppressed unit's mean level, the mean over steps of
``min(s_a, s_b)``, which stays near the suppressed level of a committed pattern when the pair
alternates between clean patterns and rises toward the dominant level in mixed states. The default
levels are set from the recalled patterns: see ``ON_LEVEL`` and ``OFF_LEVEL``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.checks import check_number
from neurosim.errors import ValidationError

NONE = -1
# pattern_states' code for a step that shows neither pattern
MIXED = -1
# The levels of a committed pattern under the ambiguous input. Shown [1, 1, 0, 0] with the
# training's fake targets (or none), the trained network settles on one pattern: over 10 seeds
# copy 0's dominant unit sits at 0.70-0.76 and the suppressed one at 0.25-0.41, not at a
# recalled pattern's off level (about 0.05), because the clamp pulls both units toward 1. A
# pattern needs one unit a margin below the lowest dominant level and the other a margin above
# the highest suppressed one; a pair between these levels is mixed.
ON_LEVEL = 0.6
OFF_LEVEL = 0.45


@dataclass(frozen=True)
class RivalryMetrics:
    """Switch count, complete dominance durations (steps), their mean and coefficient of
    variation (NaN with fewer than two durations), the share of time each unit dominated;
    the share of time in each pattern and in mixed states, the switches between patterns and
    the suppressed unit's mean level."""

    switches: int
    durations: np.ndarray
    mean_duration: float
    cv_duration: float
    dominance_share: tuple[float, float]
    pattern_share: tuple[float, float]
    mixed_share: float
    pattern_switches: int
    suppressed_mean: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "switches": self.switches,
            "mean_duration": self.mean_duration,
            "cv_duration": self.cv_duration,
            "dominance_share_first": self.dominance_share[0],
            "dominance_share_second": self.dominance_share[1],
            "pattern_switches": self.pattern_switches,
            "pattern_share_first": self.pattern_share[0],
            "pattern_share_second": self.pattern_share[1],
            "mixed_share": self.mixed_share,
            "suppressed_mean": self.suppressed_mean,
        }


def _traces(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first = np.asarray(first, dtype=float)
    second = np.asarray(second, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValidationError(
            f"rivalry needs two 1-D traces of one length, got {first.shape} and {second.shape}"
        )
    return first, second


def dominance(first: np.ndarray, second: np.ndarray, hysteresis: float) -> np.ndarray:
    """Per step: 0 where the first unit dominates, 1 for the second, -1 before any decision."""
    first, second = _traces(first, second)
    check_number("hysteresis", hysteresis, 0.0)
    difference = first - second
    decided = np.where(difference > hysteresis, 0, np.where(difference < -hysteresis, 1, NONE))
    # carry the last decision forward through the undecided band
    positions = np.where(decided != NONE, np.arange(decided.size), -1)
    last = np.maximum.accumulate(positions)
    return np.where(last >= 0, decided[np.maximum(last, 0)], NONE)


def check_levels(on_level: float, off_level: float, prefix: str = "") -> tuple[float, float]:
    """The pattern levels as floats; ValidationError naming the key (after ``prefix``, e.g.
    ``"analysis."``) unless both are numbers and ``on_level > off_level``."""
    on_level = check_number(f"{prefix}on_level", on_level)
    off_level = check_number(f"{prefix}off_level", off_level)
    if on_level <= off_level:
        raise ValidationError(
            f"{prefix}on_level = {on_level:g}: must be above {prefix}off_level = {off_level:g}"
        )
    return on_level, off_level


def pattern_states(
    first: np.ndarray,
    second: np.ndarray,
    on_level: float = ON_LEVEL,
    off_level: float = OFF_LEVEL,
) -> np.ndarray:
    """Per step: 0 where the pair shows the first unit's pattern, 1 the second's, -1 mixed."""
    first, second = _traces(first, second)
    on_level, off_level = check_levels(on_level, off_level)
    shows_first = (first >= on_level) & (second <= off_level)
    shows_second = (second >= on_level) & (first <= off_level)
    return np.where(shows_first, 0, np.where(shows_second, 1, MIXED))


def rivalry_metrics(
    time: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    hysteresis: float = 0.2,
    on_level: float = ON_LEVEL,
    off_level: float = OFF_LEVEL,
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
    pattern = pattern_states(first, second, on_level, off_level)
    shown = pattern[pattern != MIXED]  # mixed stretches dropped: a -> mixed -> b is one switch
    return RivalryMetrics(
        switches=int(changes.size),
        durations=durations,
        mean_duration=mean,
        cv_duration=cv,
        dominance_share=share,
        pattern_share=(float(np.mean(pattern == 0)), float(np.mean(pattern == 1))),
        mixed_share=float(np.mean(pattern == MIXED)),
        pattern_switches=int(np.count_nonzero(shown[1:] != shown[:-1])),
        suppressed_mean=float(np.minimum(first, second).mean()),
    )
