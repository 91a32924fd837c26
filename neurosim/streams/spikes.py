"""Input spikes of a spiking network, produced chunk by chunk (``kernels/spike_inputs.py``).

``InputSpikes.until(stop_step)`` returns every input spike from where the last call ended up
to ``stop_step`` (exclusive), as grid steps and source numbers sorted by step, then source.
The trains depend only on the seed (a frozen Poisson population's own seed, or the run's),
never on how the run is cut into chunks or which backend asks.
"""

from __future__ import annotations

import numpy as np

from neurosim.kernels.random import draw_key
from neurosim.kernels.spike_inputs import (
    STREAM_BINOMIAL,
    STREAM_POISSON,
    binomial_chunk,
    first_binomial_steps,
    first_poisson_times,
    poisson_chunk,
)
from neurosim.model.spiking import BinomialInput, PoissonInput, SpikeTimesInput, SpikingNetwork

_CHUNK_CAPACITY = 1 << 16


def _population_seed(run_seed: int, population: int) -> int:
    """A seed of each population's own, derived from the run's seed."""
    return int(draw_key(run_seed, 1000 + population, 0) >> np.uint64(1))


class _Generated:
    """One Poisson or binomial population's trains."""

    def __init__(self, population: PoissonInput | BinomialInput, dt: float, seed: int) -> None:
        self.seed = seed
        if isinstance(population, PoissonInput):
            self.stream = STREAM_POISSON
            self.rates_per_ms = np.asarray(population.rate) * 1e-3
            self.next = first_poisson_times(self.rates_per_ms, seed, self.stream)
        else:
            self.stream = STREAM_BINOMIAL
            self.probabilities = population.probabilities(dt)
            self.next = first_binomial_steps(self.probabilities, seed, self.stream)
        self.dt = dt
        self.counts = np.zeros(population.size, dtype=np.int64)

    def checkpoint(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_next": self.next.copy(), f"{prefix}_counts": self.counts.copy()}

    def restore(self, saved: dict[str, np.ndarray], prefix: str) -> None:
        self.next[...] = saved[f"{prefix}_next"]
        self.counts[...] = saved[f"{prefix}_counts"]

    def until(self, stop_step: int) -> tuple[np.ndarray, np.ndarray]:
        steps, sources = [], []
        done = False
        while not done:
            out_step = np.empty(_CHUNK_CAPACITY, dtype=np.int64)
            out_source = np.empty(_CHUNK_CAPACITY, dtype=np.int64)
            if self.stream == STREAM_POISSON:
                written, done = poisson_chunk(
                    self.next, self.counts, self.rates_per_ms, self.dt, stop_step,
                    self.seed, self.stream, out_step, out_source,
                )  # fmt: skip
            else:
                written, done = binomial_chunk(
                    self.next, self.counts, self.probabilities, stop_step,
                    self.seed, self.stream, out_step, out_source,
                )  # fmt: skip
            steps.append(out_step[:written])
            sources.append(out_source[:written])
        return np.concatenate(steps), np.concatenate(sources)


class _Given:
    """A spike-generator population's given spikes, handed out in order; with a period, the
    ``cursor`` counts spikes of the endless repetition."""

    def __init__(self, population: SpikeTimesInput, dt: float) -> None:
        self.steps = population.steps(dt)
        self.sources = population.indices
        self.period = 0 if population.period is None else round(population.period / dt)
        self.cursor = 0

    def checkpoint(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_cursor": np.array(self.cursor)}

    def restore(self, saved: dict[str, np.ndarray], prefix: str) -> None:
        self.cursor = int(saved[f"{prefix}_cursor"])

    def until(self, stop_step: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.period:
            end = int(np.searchsorted(self.steps, stop_step, side="left"))
            taken = slice(self.cursor, end)
            self.cursor = end
            return self.steps[taken], self.sources[taken]
        repeats, within = divmod(stop_step, self.period)
        end = repeats * self.steps.size + int(np.searchsorted(self.steps, within, side="left"))
        taken = np.arange(self.cursor, end)
        self.cursor = max(end, self.cursor)
        repeat, position = np.divmod(taken, max(self.steps.size, 1))
        return self.steps[position] + repeat * self.period, self.sources[position]


class InputSpikes:
    """Every input population's spikes, as source numbers of the network."""

    def __init__(self, network: SpikingNetwork, seed: int) -> None:
        self.offsets = network.input_offsets
        self.populations = []
        for index, population in enumerate(network.inputs):
            if isinstance(population, SpikeTimesInput):
                self.populations.append(_Given(population, network.dt))
            else:
                own = getattr(population, "seed", None)
                population_seed = own if own is not None else _population_seed(seed, index)
                self.populations.append(_Generated(population, network.dt, population_seed))

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Where each population's trains stand (arrays named ``input{k}_...``)."""
        saved = {}
        for index, population in enumerate(self.populations):
            saved.update(population.checkpoint(f"input{index}"))
        return saved

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        for index, population in enumerate(self.populations):
            population.restore(saved, f"input{index}")

    def until(self, stop_step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, sources)`` of the spikes before ``stop_step`` not handed out yet."""
        steps, sources = [], []
        for offset, population in zip(self.offsets, self.populations, strict=True):
            step, source = population.until(stop_step)
            steps.append(step)
            sources.append(source + offset)
        if not steps:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        step = np.concatenate(steps)
        source = np.concatenate(sources)
        order = np.lexsort((source, step))
        return step[order], source[order]
