"""One step of iterative inference, per neuron (MODEL.md, "Dynamics").

Time unit: one integration step. A backend computes each neuron's synaptic drive
``sum_j W[j, i] * rho(s_j)`` its own way (BLAS, a fused row pass, a neuron's own dot product
over the rates it heard) and hands it to ``neuron_step``, which holds the rest of the
equation once for every backend:

- pressure ``R_i = rho'(s_i) * (drive_i + b_i)`` (``rho'`` taken at the noisy state
  ``s_i + eta_i`` when Langevin noise is on; the drive then uses the noisy rates too),
- force ``F_i = (R_i - s_i) + beta_i * (t_i - s_i)``,
- momentum ``v_i <- m * F_i + (1 - m) * v_i`` (``m = 1``: ``v_i = F_i``, the leaky update),
- ``s_i <- s_i + eps * v_i``.

``energy`` and ``cost`` are plain NumPy for analyses and tests (dense weights).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurosim.kernels.activations import rate


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
def neuron_step(
    state: float,
    velocity: float,
    drive: float,
    bias: float,
    target: float,
    beta: float,
    eps: float,
    momentum: float,
    rate_derivative: float,
) -> tuple[float, float, float]:
    """One inference step of one neuron; returns (new state, new velocity, force).

    ``rate_derivative`` is rho' at the state the drive was computed from: ``rho'(s_i)``, or
    ``rho'(s_i + eta_i)`` with this step's Langevin noise eta.
    """
    force_value = force(state, pressure(rate_derivative, drive, bias), beta, target)
    new_state, new_velocity = momentum_step(state, velocity, force_value, eps, momentum)
    return new_state, new_velocity, force_value


def energy(
    state: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    activation: str = "sigmoid4",
    threshold: float = -0.5,
) -> np.ndarray:
    """E(s) = 1/2 sum s^2 - 1/2 sum_{i != j} W_ij rho_i rho_j - sum b_i rho_i.

    ``weights`` is the dense (N, N) matrix with ``weights[j, i]`` from j to i (zero diagonal);
    ``state`` is (..., N). The formula is the energy of the symmetric part of W; with
    asymmetric W the dynamics need not descend it.
    """
    rates = rate(np.asarray(state), activation, threshold)
    symmetric = 0.5 * (weights + weights.T)
    interaction = np.einsum("...j,ji,...i->...", rates, symmetric, rates)
    return 0.5 * np.sum(state**2, axis=-1) - 0.5 * interaction - rates @ bias


def cost(state: np.ndarray, target: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """C = 1/2 sum_i beta_i (t_i - s_i)^2 over the last axis."""
    return 0.5 * np.sum(beta * (target - state) ** 2, axis=-1)
