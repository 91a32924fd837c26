"""Spiking networks, described (time unit: ms, potentials in mV, rates in Hz).

A network is LIF neurons (``LifParameters``, the same for all), input populations that emit
spikes whatever the network does (``PoissonInput``, ``BinomialInput``, ``SpikeTimesInput``),
and synapses from a source (an input or a neuron) to a neuron, each with its weight and
delay, which change by one rule (``Plasticity``). ``SpikingNetwork`` checks all of it and
compiles the arrays the backends read. Every check names the parameter and what is allowed;
the ``where`` argument of each builder is the prefix the names carry (a scenario passes its
dotted key path).

Sources are numbered inputs first, in the order given, then the neurons: source ``n_inputs +
i`` is neuron ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neurosim.checks import check_choice, check_integer, check_number, describe
from neurosim.errors import ValidationError
from neurosim.kernels.neurons.lif import Propagators, propagators
from neurosim.kernels.spike_rules import RULE_CODES

SYNAPSE_FORMS = ("current", "conductance_like")


def _positive(name: str, value: object) -> float:
    return check_number(name, value, 0.0, low_open=True)


@dataclass(frozen=True)
class LifParameters:
    """Leaky integrate-and-fire neurons with exponential synaptic input
    (``kernels/neurons/lif.py`` has the equations). ``synapse = "current"``: ``g`` in mV;
    ``"conductance_like"``: ``g`` dimensionless, scaled by ``e_synapse - v_reset``."""

    tau_membrane: float = 10.0
    tau_synapse: float = 5.0
    v_rest: float = -70.0
    v_reset: float = -65.0
    v_threshold: float = -50.0
    refractory: float = 0.0
    synapse: str = "current"
    e_synapse: float = 0.0
    where: str = field(default="neuron", compare=False, repr=False)

    def __post_init__(self) -> None:
        w = self.where
        checked = {
            "tau_membrane": _positive(f"{w}.tau_membrane", self.tau_membrane),
            "tau_synapse": _positive(f"{w}.tau_synapse", self.tau_synapse),
            "refractory": check_number(f"{w}.refractory", self.refractory, 0.0),
        }
        for name in ("v_rest", "v_reset", "v_threshold", "e_synapse"):
            checked[name] = check_number(f"{w}.{name}", getattr(self, name))
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        check_choice(f"{w}.synapse", self.synapse, SYNAPSE_FORMS)
        if self.v_threshold <= self.v_reset:
            raise ValidationError(
                f"{w}.v_threshold = {self.v_threshold:g}: must be above {w}.v_reset = "
                f"{self.v_reset:g} (a neuron reset at or above threshold would fire forever)"
            )

    @property
    def input_scale(self) -> float:
        """What multiplies ``g`` in the membrane equation."""
        return 1.0 if self.synapse == "current" else self.e_synapse - self.v_reset

    def propagators(self, dt: float) -> Propagators:
        """The exact one-step propagators for a grid of ``dt`` ms."""
        return propagators(dt, self.tau_membrane, self.tau_synapse, self.input_scale)


@dataclass(frozen=True)
class Plasticity:
    """The synapses' rule (``kernels/spike_rules.py``): ``"none"``, ``"additive_stdp"``
    (``a_plus``, ``a_minus``, ``tau_plus``, ``tau_minus``), ``"rate_spike"`` (``alpha``, in
    weight units per mV/ms) or ``"nearest_stdp"`` (the window function's ``a_plus``,
    ``a_minus``, ``tau_plus``, ``tau_minus``; ``window`` steps each side; at most
    ``pending_per_synapse`` presynaptic spikes of one synapse waiting for their decision) or
    ``"superspike"`` (``kernels/superspike.py``: surrogate slope ``beta`` in 1/mV, the double
    exponential's ``tau_rise`` and ``tau_decay``, learning rate ``eta`` in mV, the
    normalisation's ``tau_rms`` and ``epsilon``, a weight change every ``update_every`` ms) or
    ``"bcm"`` (``kernels/bcm.py`` on rates filtered with ``tau_rate`` ms: learning rate ``eta``
    in weight units per (Hz^3 ms), the threshold's ``tau_theta`` ms and ``kappa`` Hz);
    weights are kept in ``[w_min, w_max]``."""

    rule: str = "none"
    a_plus: float = 0.0
    a_minus: float = 0.0
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    alpha: float = 0.0
    w_min: float = -np.inf
    w_max: float = np.inf
    window: int = 20
    pending_per_synapse: int = 8
    beta: float = 1.0
    tau_rise: float = 5.0
    tau_decay: float = 10.0
    eta: float = 5e-4
    tau_rms: float = 30_000.0
    epsilon: float = 1e-12
    update_every: float = 500.0
    tau_rate: float = 50.0
    tau_theta: float = 1000.0
    kappa: float = 10.0
    where: str = field(default="plasticity", compare=False, repr=False)

    def __post_init__(self) -> None:
        w = self.where
        check_choice(f"{w}.rule", self.rule, tuple(RULE_CODES))
        checked = {
            "tau_plus": _positive(f"{w}.tau_plus", self.tau_plus),
            "tau_minus": _positive(f"{w}.tau_minus", self.tau_minus),
        }
        for name in ("a_plus", "a_minus", "alpha"):
            checked[name] = check_number(f"{w}.{name}", getattr(self, name))
        positive = ("beta", "tau_rise", "tau_decay", "tau_rms", "epsilon", "update_every")
        for name in (*positive, "tau_rate", "tau_theta", "kappa"):
            checked[name] = _positive(f"{w}.{name}", getattr(self, name))
        checked["eta"] = check_number(f"{w}.eta", self.eta, 0.0)
        for name in ("w_min", "w_max"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or np.isnan(value):
                raise ValidationError(f"{w}.{name} = {describe(value)}: expected a number")
            checked[name] = float(value)
        checked["window"] = check_integer(f"{w}.window", self.window, 1)
        checked["pending_per_synapse"] = check_integer(
            f"{w}.pending_per_synapse", self.pending_per_synapse, 1
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.w_min > self.w_max:
            raise ValidationError(
                f"{w}.w_min = {self.w_min:g} is above {w}.w_max = {self.w_max:g}: "
                "the bounds must satisfy w_min <= w_max"
            )

    @property
    def code(self) -> int:
        return RULE_CODES[self.rule]


def _rates(name: str, rate: object, size: int) -> np.ndarray:
    """A rate per source (Hz) from a number or a list of ``size`` numbers, each >= 0."""
    values = np.atleast_1d(np.asarray(rate, dtype=object))
    if values.size == 1:
        values = np.repeat(values, size)
    if values.shape != (size,):
        raise ValidationError(
            f"{name}: expected one rate or {size} rates (one per source), got {values.size}"
        )
    return np.array([check_number(f"{name}", value, 0.0) for value in values], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PoissonInput:
    """``size`` independent Poisson trains at ``rate`` Hz (one number, or one per source).
    ``seed`` given: a frozen train, the same in every run whatever the run's seed."""

    size: int
    rate: float | Sequence[float]
    seed: int | None = None
    where: str = "input"

    def __post_init__(self) -> None:
        check_integer(f"{self.where}.size", self.size, 1)
        object.__setattr__(self, "rate", _rates(f"{self.where}.rate", self.rate, self.size))
        if self.seed is not None:
            check_integer(f"{self.where}.seed", self.seed, 0)


@dataclass(frozen=True, eq=False)
class BinomialInput:
    """``size`` trains with one spike per grid step with probability ``rate * dt``."""

    size: int
    rate: float | Sequence[float]
    where: str = "input"

    def __post_init__(self) -> None:
        check_integer(f"{self.where}.size", self.size, 1)
        object.__setattr__(self, "rate", _rates(f"{self.where}.rate", self.rate, self.size))

    def probabilities(self, dt: float) -> np.ndarray:
        """``rate * dt`` per step (rate in Hz, dt in ms), checked to be at most 1."""
        probability = np.asarray(self.rate) * dt * 1e-3
        worst = int(np.argmax(probability))
        if probability[worst] > 1.0:
            raise ValidationError(
                f"{self.where}.rate = {self.rate[worst]:g} Hz (source {worst}) with dt = {dt:g} ms "
                f"gives a spike probability per step of {probability[worst]:g}: binomial spikes "
                f"need rate * dt <= 1, i.e. rate <= {1e3 / dt:g} Hz"
            )
        return probability


@dataclass(frozen=True, eq=False)
class SpikeTimesInput:
    """Given spikes: ``times`` (ms, >= 0) of the sources ``indices``, sorted by time; with
    ``period`` (ms) they repeat every ``period`` (each time then in ``[0, period)``)."""

    size: int
    times: Sequence[float]
    indices: Sequence[int]
    where: str = "input"
    period: float | None = None

    def __post_init__(self) -> None:
        w = self.where
        check_integer(f"{w}.size", self.size, 1)
        times = np.asarray(self.times, dtype=np.float64).ravel()
        indices = np.asarray(self.indices).ravel()
        if times.shape != indices.shape:
            raise ValidationError(
                f"{w}.times and {w}.indices: expected as many times as indices, got "
                f"{times.size} and {indices.size}"
            )
        if not np.all(np.isfinite(times)) or (times.size and times.min() < 0):
            bad = int(np.flatnonzero(~np.isfinite(times) | (times < 0))[0])
            raise ValidationError(
                f"{w}.times[{bad}] = {times[bad]:g}: spike times must be finite and >= 0 ms"
            )
        if np.any(np.diff(times) < 0):
            bad = int(np.flatnonzero(np.diff(times) < 0)[0]) + 1
            raise ValidationError(
                f"{w}.times[{bad}] = {times[bad]:g} comes before {w}.times[{bad - 1}] = "
                f"{times[bad - 1]:g}: spike times must be sorted (ascending)"
            )
        if indices.size and (
            not np.issubdtype(indices.dtype, np.integer)
            or indices.min() < 0
            or indices.max() >= self.size
        ):
            raise ValidationError(
                f"{w}.indices: expected integers in [0, {self.size - 1}], got "
                f"{describe(indices.tolist()[:5])}"
            )
        if self.period is not None:
            period = _positive(f"{w}.period", self.period)
            if times.size and times.max() >= period:
                raise ValidationError(
                    f"{w}.times: {times.max():g} ms is not within the period of {period:g} ms"
                )
            object.__setattr__(self, "period", period)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "indices", indices.astype(np.int64))

    def steps(self, dt: float) -> np.ndarray:
        """Each spike's grid step (its time rounded to the grid); two spikes of one source
        in one step are refused, since they could not be told apart on the grid."""
        steps = np.rint(self.times / dt).astype(np.int64)
        key = steps * self.size + self.indices
        if np.unique(key).size != key.size:
            order = np.argsort(key, kind="stable")
            first = int(order[np.flatnonzero(np.diff(key[order]) == 0)[0] + 1])
            raise ValidationError(
                f"{self.where}: source {self.indices[first]} has two spikes in the grid step of "
                f"t = {self.times[first]:g} ms (dt = {dt:g} ms)"
            )
        return steps


InputPopulation = PoissonInput | BinomialInput | SpikeTimesInput


@dataclass(frozen=True, eq=False)
class SpikeTargets:
    """Target spikes of the SuperSpike rule: neuron ``neurons[k]`` should spike at
    ``times[k]`` ms of every ``period`` ms (each time in ``[0, period)``); they repeat for as
    long as the run goes."""

    neurons: Sequence[int]
    times: Sequence[float]
    period: float
    where: str = "targets"

    def __post_init__(self) -> None:
        w = self.where
        period = _positive(f"{w}.period", self.period)
        times = np.asarray(self.times, dtype=np.float64).ravel()
        neurons = np.asarray(self.neurons).ravel()
        if times.shape != neurons.shape:
            raise ValidationError(
                f"{w}.times and {w}.neurons: expected as many times as neurons, got "
                f"{times.size} and {neurons.size}"
            )
        outside = np.flatnonzero(~np.isfinite(times) | (times < 0) | (times >= period))
        if outside.size:
            raise ValidationError(
                f"{w}.times[{int(outside[0])}] = {times[outside[0]]:g} ms is outside the trial: "
                f"target spike times must lie in [0, {period:g}) ms"
            )
        if neurons.size and not np.issubdtype(neurons.dtype, np.integer):
            raise ValidationError(f"{w}.neurons: expected neuron numbers (integers)")
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "neurons", neurons.astype(np.int64))

    def period_steps(self, dt: float) -> int:
        """The period in grid steps: at least one (a period under a step repeats every step)."""
        return max(round(self.period / dt), 1)

    def counts(self, n_neurons: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """``(row, counts)``: neuron ``i``'s target spikes at step ``s`` are
        ``counts[row[i], s % period_steps(dt)]`` (``row[i] = -1``: no targets)."""
        bad = np.flatnonzero((self.neurons < 0) | (self.neurons >= n_neurons))
        if bad.size:
            raise ValidationError(
                f"{self.where}.neurons[{int(bad[0])}] = {self.neurons[bad[0]]}: neurons are "
                f"numbered 0 to {n_neurons - 1}"
            )
        period_steps = self.period_steps(dt)
        targeted = np.unique(self.neurons)
        row = np.full(n_neurons, -1, dtype=np.int64)
        row[targeted] = np.arange(targeted.size)
        counts = np.zeros((targeted.size, period_steps))
        steps = np.rint(self.times / dt).astype(np.int64) % period_steps
        np.add.at(counts, (row[self.neurons], steps), 1.0)
        return row, counts


FEEDBACK_KINDS = ("random", "symmetric")


@dataclass(frozen=True, eq=False)
class Feedback:
    """SuperSpike's feedback edges: neuron ``source[k]`` (one with targets) sends its error,
    times the edge's weight, to neuron ``post[k]`` after ``delay`` ms. ``kind = "random"``:
    fixed ``weight`` per edge; ``"symmetric"``: the current weight of the forward synapse
    ``forward[k]`` (from ``post[k]`` to ``source[k]``), read when the error is sent."""

    kind: str
    source: Sequence[int]
    post: Sequence[int]
    delay: float
    weight: Sequence[float] | None = None
    forward: Sequence[int] | None = None
    where: str = "feedback"

    def __post_init__(self) -> None:
        w = self.where
        check_choice(f"{w}.kind", self.kind, FEEDBACK_KINDS)
        source = np.asarray(self.source, dtype=np.int64).ravel()
        post = np.asarray(self.post, dtype=np.int64).ravel()
        if source.shape != post.shape:
            raise ValidationError(f"{w}: {source.size} sources but {post.size} receivers")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "post", post)
        object.__setattr__(self, "delay", _positive(f"{w}.delay", self.delay))
        given = self.weight if self.kind == "random" else self.forward
        if given is None:
            needed = "weight" if self.kind == "random" else "forward"
            raise ValidationError(f"{w}.{needed}: {self.kind} feedback needs it, one per edge")
        if self.kind == "random":
            weight = np.asarray(self.weight, dtype=np.float64).ravel()
            if weight.shape != source.shape or not np.all(np.isfinite(weight)):
                raise ValidationError(f"{w}.weight: expected one finite weight per edge")
            object.__setattr__(self, "weight", weight)
            object.__setattr__(self, "forward", np.full(source.size, -1, dtype=np.int64))
        else:
            forward = np.asarray(self.forward, dtype=np.int64).ravel()
            if forward.shape != source.shape:
                raise ValidationError(f"{w}.forward: expected one synapse per edge")
            object.__setattr__(self, "forward", forward)
            object.__setattr__(self, "weight", np.zeros(source.size))


@dataclass(frozen=True, eq=False)
class SpikingNetwork:
    """The whole network: ``n_neurons`` LIF neurons, the input populations, synapses
    ``source -> post`` (sources numbered as in the module docstring) with weights and delays
    in ms (each at least ``dt``: a spike cannot act within the step it is emitted in; delays
    are rounded to the grid), the rule, and the grid ``dt``."""

    dt: float
    neuron: LifParameters
    n_neurons: int
    inputs: tuple[InputPopulation, ...]
    synapse_source: np.ndarray
    synapse_post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    plasticity: Plasticity = field(default_factory=Plasticity)
    targets: SpikeTargets | None = None
    feedback: Feedback | None = None
    divergence_bound: float = 1e6
    where: str = field(default="network", compare=False, repr=False)

    def __post_init__(self) -> None:
        w = self.where
        object.__setattr__(self, "dt", _positive(f"{w}.dt", self.dt))
        check_integer(f"{w}.n_neurons", self.n_neurons, 1)
        _positive(f"{w}.divergence_bound", self.divergence_bound)
        source = np.asarray(self.synapse_source, dtype=np.int64).ravel()
        post = np.asarray(self.synapse_post, dtype=np.int64).ravel()
        n = source.size
        weight = np.broadcast_to(np.asarray(self.weight, dtype=np.float64), (n,)).copy()
        delay = np.broadcast_to(np.asarray(self.delay, dtype=np.float64), (n,)).copy()
        if post.size != n:
            raise ValidationError(f"{w}: {n} synapse sources but {post.size} targets")
        if n and (source.min() < 0 or source.max() >= self.n_sources):
            raise ValidationError(
                f"{w}.synapse_source: expected sources in [0, {self.n_sources - 1}]"
            )
        if n and (post.min() < 0 or post.max() >= self.n_neurons):
            raise ValidationError(
                f"{w}.synapse_post: expected neurons in [0, {self.n_neurons - 1}]"
            )
        if not np.all(np.isfinite(weight)):
            raise ValidationError(f"{w}.weight: every weight must be finite")
        short = np.flatnonzero(~(delay >= self.dt * (1 - 1e-9)))
        if short.size:
            raise ValidationError(
                f"{w}.delay = {delay[short[0]]:g} ms (synapse {int(short[0])}): every delay must "
                f"be at least dt = {self.dt:g} ms"
            )
        for name, value in (("synapse_source", source), ("synapse_post", post)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "delay", delay)
        if isinstance(self.inputs, list):
            object.__setattr__(self, "inputs", tuple(self.inputs))
        if self.targets is not None:
            self.targets.counts(self.n_neurons, self.dt)  # neurons in range
        if self.feedback is not None:
            self._check_feedback(self.feedback)
        if self.plasticity.rule == "superspike":
            every = self.plasticity.update_every / self.dt
            if abs(every - round(every)) > 1e-9 * every:
                raise ValidationError(
                    f"plasticity.update_every = {self.plasticity.update_every:g} ms: expected a "
                    f"whole number of grid steps (dt = {self.dt:g} ms)"
                )
        for population in self.inputs:
            if isinstance(population, BinomialInput):
                population.probabilities(self.dt)
            if isinstance(population, SpikeTimesInput):
                population.steps(self.dt)

    def _check_feedback(self, feedback: Feedback) -> None:
        w = feedback.where
        for name, neurons in (("source", feedback.source), ("post", feedback.post)):
            if neurons.size and (neurons.min() < 0 or neurons.max() >= self.n_neurons):
                raise ValidationError(f"{w}.{name}: expected neurons in [0, {self.n_neurons - 1}]")
        if feedback.delay < self.dt * (1 - 1e-9):
            raise ValidationError(
                f"{w}.delay = {feedback.delay:g} ms: must be at least dt = {self.dt:g} ms"
            )
        if feedback.kind == "symmetric":
            forward = feedback.forward
            if forward.size and (forward.min() < 0 or forward.max() >= self.synapse_post.size):
                raise ValidationError(
                    f"{w}.forward: expected synapses in [0, {self.synapse_post.size - 1}]"
                )
            wrong = (self.synapse_source[forward] != feedback.post + self.n_inputs) | (
                self.synapse_post[forward] != feedback.source
            )
            if wrong.any():
                k = int(np.flatnonzero(wrong)[0])
                raise ValidationError(
                    f"{w}.forward[{k}] = {forward[k]}: that synapse does not go from neuron "
                    f"{feedback.post[k]} to neuron {feedback.source[k]}, the edge's reverse"
                )

    @property
    def n_inputs(self) -> int:
        """Input sources, all populations together."""
        return sum(population.size for population in self.inputs)

    @property
    def n_sources(self) -> int:
        return self.n_inputs + self.n_neurons

    @property
    def input_offsets(self) -> np.ndarray:
        """The first source number of each input population."""
        return np.cumsum([0, *(p.size for p in self.inputs)])[:-1].astype(np.int64)

    @property
    def delay_steps(self) -> np.ndarray:
        return np.rint(self.delay / self.dt).astype(np.int64)

    def csr(self, by: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ptr, synapse ids)`` grouping the synapses by ``"post"`` neuron or by
        ``"source"``, each group in synapse order."""
        if by == "post":
            keys, size = self.synapse_post, self.n_neurons
        else:
            keys, size = self.synapse_source, self.n_sources
        order = np.argsort(keys, kind="stable").astype(np.int64)
        ptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=size), out=ptr[1:])
        return ptr, order


def all_to_all(
    n_sources: int, n_targets: int, source_offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synapses from each of ``n_sources`` sources (numbered from ``source_offset``) to each
    of ``n_targets`` neurons, source-major."""
    sources = np.repeat(np.arange(n_sources, dtype=np.int64) + source_offset, n_targets)
    targets = np.tile(np.arange(n_targets, dtype=np.int64), n_sources)
    return sources, targets
