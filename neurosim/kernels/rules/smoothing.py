"""Smoothing (MODEL.md, "Learning rules"): gradient descent on ``1/2 ||F||^2`` with respect to
W and b, added to any rule when ``alpha_smoothing > 0``."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def smoothing_post(force_value: float, rate_derivative: float, alpha_smoothing: float) -> float:
    """Smoothing: gradient descent on ``1/2 ||F||^2``: post factor ``-alpha_s * F_i * rho'(s_i)``.

    ``F`` and ``rho'`` are those of this step's integration (the state before the step), and
    the presynaptic factor is ``rho(s_j)`` of that same state, so the product is the exact
    gradient of ``1/2 ||F||^2`` at the point the step started from.
    """
    return -alpha_smoothing * force_value * rate_derivative
