"""Rate STDP (MODEL.md, "Learning rules"): one state, and every step

    dW[j, i] = alpha * (s_i(t+1) - s_i(t)) * rho(s_j(t)),   db_i = alpha * (s_i(t+1) - s_i(t)):

the postsynaptic neuron's change of state times the presynaptic rate before the step.
"""

from __future__ import annotations

from numba import njit

from neurosim.kernels.rules.spec import RuleSpec, register

SPEC = RuleSpec(
    name="rate_stdp",
    copies=1,
    needs_previous_state=True,
    gated_by_clamp_phase=False,
    provides_dz=False,
)
CODE = register(SPEC)


@njit(cache=True)
def rate_stdp_post(state_new: float, state_previous: float, alpha: float) -> float:
    """Rate STDP: post factor ``alpha * (s_i(t+1) - s_i(t))``.

    Presynaptic factor: ``rho(s_j(t))``, the rate before this step's integration.
    """
    return alpha * (state_new - state_previous)


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
    """``(dz, presynaptic factor, postsynaptic factor)`` of one neuron (see ``rule_factors``);
    ``dz`` is the change of rate, as MSTDP's."""
    return (
        rate_small - rate_previous,
        rate_previous,
        rate_stdp_post(state_new, state_previous, alpha),
    )
