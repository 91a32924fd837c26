"""The rate neuron: one step of iterative inference (MODEL.md, "Dynamics").

Time unit: one integration step. A backend computes each neuron's synaptic drive
``sum_j W[j, i] * rho(s_j)`` its own way (BLAS, a fused row pass, a neuron's own dot product
over the rates it heard) and the step hands it to ``integrate``, which holds the rest of the
equation once for every backend:

- pressure ``R_i = rho'(s_i) * (drive_i + b_i)`` (``rho'`` taken at the noisy state
  ``s_i + eta_i`` when Langevin noise is on; the drive then uses the noisy rates too),
- force ``F_i = (R_i - s_i) + beta_i * (t_i - s_i)``,
- momentum ``v_i <- m * F_i + (1 - m) * v_i`` (``m = 1``: ``v_i = F_i``, the leaky update),
- ``s_i <- s_i + eps * v_i``.

That places the clamp inside the momentum. The aSTDP paper's Eqs. 19-20 place it outside:
``v_i <- m * (R_i - s_i) + (1 - m) * v_i``, then ``s_i <- s_i + eps * (v_i + beta_i * (t_i -
s_i))`` (``momentum_includes_clamp = False``); with ``m = 1`` the two agree.
"""

from __future__ import annotations

from numba import njit

NAME = "rate"


@njit(cache=True)
def pressure(rate_derivative: float, drive: float, bias: float) -> float:
    """R_i = rho'(s_i) * (drive_i + b_i)."""
    return rate_derivative * (drive + bias)


@njit(cache=True)
def force(state: float, pressure_value: float, beta: float, target: float) -> float:
    """F_i = (R_i - s_i) + beta_i * (t_i - s_i)."""
    return (pressure_value - state) + beta * (target - state)


@njit(cache=True)
def momentum_step(
    state: float, velocity: float, force_value: float, eps: float, momentum: float
) -> tuple[float, float]:
    """v <- m F + (1 - m) v, then s <- s + eps v; returns (state, velocity)."""
    velocity = momentum * force_value + (1.0 - momentum) * velocity
    return state + eps * velocity, velocity


@njit(cache=True)
def integrate(
    state: float,
    velocity: float,
    drive: float,
    bias: float,
    target: float,
    beta: float,
    eps: float,
    momentum: float,
    rate_derivative: float,
    momentum_includes_clamp: bool,
) -> tuple[float, float, float]:
    """One inference step of one neuron; returns (new state, new velocity, force).

    ``rate_derivative`` is rho' at the state the drive was computed from: ``rho'(s_i)``, or
    ``rho'(s_i + eta_i)`` with this step's Langevin noise eta. ``momentum_includes_clamp``
    picks where the clamp acts (the module's docstring); the force returned is the whole
    ``F_i`` either way.
    """
    pressure_value = pressure(rate_derivative, drive, bias)
    force_value = force(state, pressure_value, beta, target)
    if momentum_includes_clamp:
        new_state, new_velocity = momentum_step(state, velocity, force_value, eps, momentum)
        return new_state, new_velocity, force_value
    # Eqs. 19-20: the velocity carries the network's pull only; the clamp acts at once
    new_velocity = momentum * (pressure_value - state) + (1.0 - momentum) * velocity
    new_state = state + eps * (new_velocity + beta * (target - state))
    return new_state, new_velocity, force_value
