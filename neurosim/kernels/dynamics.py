"""The rate network's energy and cost (MODEL.md, "Dynamics"), in plain NumPy for analyses
and tests (dense weights). The step itself is ``kernels.step`` with the neuron model of
``kernels.neurons.rate``.
"""

from __future__ import annotations

import numpy as np

from neurosim.kernels.activations import rate


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
