"""aSTDP (MODEL.md, "Learning rules"): two copies of the state share W and b, ``s^S`` clamped
with the smaller beta and ``s^L`` with the larger one; every step

    dz_i = rho(s^L_i) - rho(s^S_i),   dW[j, i] = alpha * rho(s^S_j) * dz_i,   db_i = alpha * dz_i,

from the copies' new states. Its ``dz`` is what fake targets are drawn from.
"""

from __future__ import annotations

from numba import njit

from neurosim.kernels.rules.spec import RuleSpec, register

SPEC = RuleSpec(
    name="astdp",
    copies=2,
    needs_previous_state=False,
    gated_by_clamp_phase=False,
    provides_dz=True,
)
CODE = register(SPEC)


@njit(cache=True)
def astdp_post(rate_small: float, rate_large: float, alpha: float) -> float:
    """aSTDP: post factor ``alpha * dz_i`` with ``dz_i = rho(s^L_i) - rho(s^S_i)``.

    Presynaptic factor: ``rho(s^S_j)``, the weakly clamped copy's new rate.
    """
    return alpha * (rate_large - rate_small)


@njit(cache=True)
def factors(
    rate_small: float,
    rate_large: float,
    rate_previous: float,
    state_new: float,
    state_previous: float,
    alpha: float,
    threshold: float,
) -> tuple[float, float, float]:
    """``(dz, presynaptic factor, postsynaptic factor)`` of one neuron (see ``rule_factors``)."""
    return rate_large - rate_small, rate_small, astdp_post(rate_small, rate_large, alpha)
