"""The plain-NumPy LIF neurons the spiking rules' tests run their references on: integrated
with the matrix exponential of the linear system (SciPy), sharing no code with the package
beyond the network description."""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from neurosim.model.spiking import SpikingNetwork


class LifReference:
    """The network's neurons: ``v``, ``g``, the refractory steps left, the synaptic input's
    and membrane's exact one-step propagator ``step_matrix`` over ``(v - v_rest, g)``."""

    def __init__(self, network: SpikingNetwork) -> None:
        neuron = network.neuron
        system = np.array([[-1.0 / neuron.tau_membrane, neuron.input_scale / neuron.tau_membrane],
                           [0.0, -1.0 / neuron.tau_synapse]])  # fmt: skip
        self.step_matrix = expm(system * network.dt)
        self.neuron = neuron
        self.v = np.full(network.n_neurons, neuron.v_rest)
        self.g = np.zeros(network.n_neurons)
        self.hold = np.zeros(network.n_neurons, dtype=int)
        self.refractory_steps = round(neuron.refractory / network.dt)

    def step(self, i: int) -> bool:
        """Neuron ``i`` over one step: held at reset while refractory, else integrated and
        checked against the threshold (reset and held when it fires). Whether it fired."""
        neuron = self.neuron
        if self.hold[i] > 0:
            self.hold[i] -= 1
            self.g[i] *= self.step_matrix[1, 1]
            return False
        shifted, self.g[i] = self.step_matrix @ np.array([self.v[i] - neuron.v_rest, self.g[i]])
        self.v[i] = neuron.v_rest + shifted
        if self.v[i] < neuron.v_threshold:
            return False
        self.v[i], self.hold[i] = neuron.v_reset, self.refractory_steps
        return True


def given_arrivals(network: SpikingNetwork, times: np.ndarray, indices: np.ndarray) -> dict:
    """The arrival steps of given input spikes along every synapse from them (one-step
    delays): ``{step: [synapse, ...]}``."""
    arrivals: dict[int, list[int]] = {}
    for step, index in zip(np.rint(times / network.dt).astype(int), indices, strict=True):
        for e in np.flatnonzero(network.synapse_source == index):
            arrivals.setdefault(step + 1, []).append(e)
    return arrivals
