"""Adaptive fake targets on hidden neurons (aSTDP paper, section 2.2.2), drawn from the ``dz``
of a rule that provides one (``RuleSpec.provides_dz``)."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def fake_target_draw(
    dz: float, dz_mean: float, uniform_draw: float, k: float, magnitude: float, mu: float
) -> tuple[float, bool, float]:
    """Adaptive fake target of one hidden neuron; returns (new dz_mean, active, target).

    ``dz_mean <- mu * dz_mean + (1 - mu) * |dz|``; the neuron is clamped toward
    ``sign(dz) * magnitude`` with probability ``min(1, |dz| / (k * dz_mean))``, decided by
    ``uniform_draw`` in [0, 1). ``dz`` is the previous step's.
    """
    magnitude_dz = abs(dz)
    dz_mean = mu * dz_mean + (1.0 - mu) * magnitude_dz
    active = uniform_draw * k * dz_mean < magnitude_dz
    return dz_mean, active, fake_target_value(dz, magnitude)


@njit(cache=True)
def fake_target_value(dz: float, magnitude: float) -> float:
    """The fake target ``sign(dz) * magnitude`` (``-magnitude`` at ``dz = 0``, where no fake
    target is ever active)."""
    return magnitude if dz > 0.0 else -magnitude
