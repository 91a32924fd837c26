"""MSTDP (MODEL.md, "Learning rules"): one state, and every step of a clamped phase

    dW[j, i] = alpha * (rho(s_i(t)) - rho(s_i(t-1))) * rho(s_j(t)),   db_i = alpha * (...),

with ``t`` the state after this step's integration. Clamped and free phases alternate on the
input neurons' own oscillator; free phases learn only when the model says so.
"""

from __future__ import annotations

from numba import njit

from neurosim.kernels.rules.spec import RuleSpec, register

SPEC = RuleSpec(
    name="mstdp",
    copies=1,
    needs_previous_state=True,
    gated_by_clamp_phase=True,
    provides_dz=False,
)
CODE = register(SPEC)


@njit(cache=True)
def mstdp_post(rate_new: float, rate_previous: float, alpha: float) -> float:
    """MSTDP: post factor ``alpha * (rho(s_i(t)) - rho(s_i(t-1)))``.

    Presynaptic factor: ``rho(s_j(t))``, the new rate. Applied while the input neurons'
    oscillator is clamped (and in free phases only when the model says so).
    """
    return alpha * (rate_new - rate_previous)


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
    return rate_small - rate_previous, rate_small, mstdp_post(rate_small, rate_previous, alpha)
