"""The main job of ``neurosim demo``: aSTDP learns four one-hot patterns, then recalls them.

A recurrent network of 4 visible and 8 hidden neurons sees the patterns [1, 0, 0, 0], ...,
[0, 0, 0, 1] in a shuffled order, each clamped for ``steps_per_pattern`` steps, and learns
with aSTDP and fake targets all the while (no phases, no resets). Two checks follow, with
learning off:

- recall: clamp a pattern, then release every clamp: the free network must stay at the
  pattern (each pattern has become a stable state of the learned dynamics);
- completion: start from a corrupted pattern (a wrong unit switched on) and clamp only the
  pattern's active unit: the network must settle to the whole pattern, switching the wrong
  unit off.

A pattern counts as reached when the visible states' largest entry is the pattern's active
unit and every visible state is within 0.5 of the pattern. The centred sigmoid
``sigmoid(4x - 2)`` makes 0 and 1 reachable states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.backends.sync import SyncSimulator
from neurosim.model.network import CompiledNetwork, compile_graph
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.topology import recurrent

N_PATTERNS = 4
N_HIDDEN = 8

DEMO_PARAMETERS = ModelParameters(
    rule="astdp",
    activation="sigmoid4_centred",
    alpha=0.005,
    beta_small=0.25,
    beta_large=0.4,
    eps_small=0.5,
    eps_large=0.4,
    fake_target=FakeTargetParameters(enabled=True, k=10.0, magnitude=0.25, mu=0.9),
    init="uniform",
    init_scale=0.1,
    dtype="float64",
)


@dataclass(frozen=True)
class RecallResult:
    """Which patterns were recalled and completed: ``completed[k, u]`` for wrong unit u."""

    recalled: np.ndarray
    completed: np.ndarray

    @property
    def all_correct(self) -> bool:
        off_diagonal = ~np.eye(N_PATTERNS, dtype=bool)
        return bool(self.recalled.all() and self.completed[off_diagonal].all())


def _pattern(k: int, n_neurons: int) -> np.ndarray:
    target = np.zeros(n_neurons)
    target[k] = 1.0
    return target


def train_patterns(
    seed: int,
    *,
    epochs: int = 1000,
    steps_per_pattern: int = 80,
    params: ModelParameters = DEMO_PARAMETERS,
) -> CompiledNetwork:
    """A network trained on the four one-hot patterns, in an order shuffled by ``seed``."""
    network = compile_graph(recurrent(N_PATTERNS, 0, N_HIDDEN), params, seed=seed)
    sim = SyncSimulator(network, params, seed=seed)
    visible = (~network.hidden).astype(float)
    order = np.random.default_rng(seed)
    for _ in range(epochs):
        for k in order.permutation(N_PATTERNS):
            sim.set_input(_pattern(k, network.n_neurons), visible)
            sim.run(steps_per_pattern)
    return network


def _reached(sim: SyncSimulator, k: int) -> bool:
    visible = sim.state[0, 0, :N_PATTERNS]
    pattern = _pattern(k, N_PATTERNS)
    return bool(np.argmax(visible) == k and np.all(np.abs(visible - pattern) < 0.5))


def check_recall(
    network: CompiledNetwork,
    *,
    seed: int = 0,
    settle_steps: int = 300,
    clamp_steps: int = 80,
    params: ModelParameters = DEMO_PARAMETERS,
) -> RecallResult:
    """Recall and completion of every pattern, with learning off (the network is unchanged)."""
    sim = SyncSimulator(network.copy(), params.replace(alpha=0.0), seed=seed)
    n = network.n_neurons
    visible = (~network.hidden).astype(float)
    recalled = np.zeros(N_PATTERNS, dtype=bool)
    completed = np.zeros((N_PATTERNS, N_PATTERNS), dtype=bool)
    for k in range(N_PATTERNS):
        pattern = _pattern(k, n)
        sim.set_input(pattern, visible)
        sim.run(clamp_steps)
        sim.set_input(0.0, 0.0)
        sim.run(settle_steps)
        recalled[k] = _reached(sim, k)
        for wrong in range(N_PATTERNS):
            if wrong == k:
                continue
            sim.state[:, 0, :N_PATTERNS] = pattern[:N_PATTERNS]
            sim.state[:, 0, wrong] = 1.0
            sim.invalidate()
            only_active = np.zeros(n)
            only_active[k] = 1.0
            sim.set_input(pattern, only_active)
            sim.run(settle_steps)
            completed[k, wrong] = _reached(sim, k)
    return RecallResult(recalled, completed)


def run_demo(seeds: list[int], epochs: int = 1000) -> bool:
    """Train and check one network per seed, printing a line each; True if all succeed."""
    print(
        f"aSTDP, 4 one-hot patterns, {N_PATTERNS} visible + {N_HIDDEN} hidden neurons, "
        f"fake targets on, {epochs} epochs of 80 steps per pattern"
    )
    success = True
    for seed in seeds:
        result = check_recall(train_patterns(seed, epochs=epochs), seed=seed)
        off_diagonal = ~np.eye(N_PATTERNS, dtype=bool)
        print(
            f"seed {seed}: recalled {int(result.recalled.sum())}/{N_PATTERNS} patterns, "
            f"completed {int(result.completed[off_diagonal].sum())}/"
            f"{int(off_diagonal.sum())} corrupted patterns"
        )
        success &= result.all_correct
    return success
