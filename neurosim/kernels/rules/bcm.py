"""BCM with a sliding threshold (the SuperSpike slides, part 1; ``kernels/bcm.py`` has the
equations, shared with the spiking model): one state, and every step

    theta_i <- y_i^2 / kappa + (theta_i - y_i^2 / kappa) * exp(-1 / tau_theta),
    dW[j, i] = alpha * y_j * y_i * (y_i - theta_i),   db_i = alpha * y_i * (y_i - theta_i),

with ``y = rho(s(t+1))`` the new rates: the threshold first follows the square of the rate
(time constant ``tau_theta`` steps), then the weights move by the rule with it.
"""

from __future__ import annotations

from numba import njit

from neurosim.kernels.bcm import weight_change
from neurosim.kernels.rules.spec import RuleSpec, register

SPEC = RuleSpec(
    name="bcm",
    copies=1,
    needs_previous_state=False,
    gated_by_clamp_phase=False,
    provides_dz=False,
    sliding_threshold=True,
)
CODE = register(SPEC)


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
    """``(dz, presynaptic factor, postsynaptic factor)`` of one neuron (see ``rule_factors``):
    no ``dz`` (0), the new rate, and ``alpha * y * (y - theta)``."""
    return 0.0, rate_small, weight_change(1.0, rate_small, threshold, alpha, 1.0)
