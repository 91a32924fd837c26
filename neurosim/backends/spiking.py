"""Spiking networks on the synchronous backend, and the state both spiking backends share.

``SpikingState`` holds a network's neurons and synapses as arrays and advances any set of its
neurons over a range of grid steps with the one compiled step (``kernels/spiking_step.py``),
recording spikes, potentials and weight snapshots. ``SpikingSyncSimulator`` advances all
neurons together, window by window: a window is never longer than the shortest delay
between neurons, so every spike emitted inside it arrives after it, and the arrivals of a
window are all known before it starts (inputs and earlier windows' spikes). Without
neuron-to-neuron synapses a window is ``max_window`` steps. The event backend
(``backends/spiking_event.py``) runs the same state one neuron at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim.errors import DivergenceError, NeurosimError, ValidationError
from neurosim.kernels.spike_rules import RULE_NEAREST_STDP
from neurosim.kernels.spiking_step import (
    A_MINUS,
    A_PLUS,
    ALPHA,
    BETA,
    DECAY_RATE,
    DIVERGENCE_BOUND,
    DT,
    EPSILON,
    ETA,
    INPUT_SCALE,
    KAPPA,
    MEMBRANE_DECAY,
    N_PARAMETERS,
    RATE_DECAY,
    RATE_JUMP,
    RISE_DECAY,
    RISE_RATE,
    RMS_DECAY,
    SYNAPSE_DECAY,
    SYNAPSE_TO_MEMBRANE,
    TARGET_PERIOD,
    TAU_MEMBRANE,
    TAU_MINUS,
    TAU_PLUS,
    THETA_DECAY,
    UPDATE_EVERY,
    V_RESET,
    V_REST,
    V_THRESHOLD,
    W_MAX,
    W_MIN,
    advance,
    fan_out,
    settle_decided,
)
from neurosim.kernels.superspike import NEURON_FIELDS, SYNAPSE_FIELDS
from neurosim.model.spiking import SpikingNetwork
from neurosim.streams.spikes import InputSpikes

DEFAULT_MAX_WINDOW = 1000  # steps advanced per call when no delay limits the window
EMPTY_FEEDBACK = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))


def kernel_parameters(network: SpikingNetwork) -> np.ndarray:
    """The float parameters the compiled step reads, in its layout."""
    neuron, rule = network.neuron, network.plasticity
    propagators = neuron.propagators(network.dt)
    values = np.empty(N_PARAMETERS)
    values[V_REST], values[V_RESET], values[V_THRESHOLD] = (
        neuron.v_rest, neuron.v_reset, neuron.v_threshold,
    )  # fmt: skip
    values[MEMBRANE_DECAY] = propagators.membrane_decay
    values[SYNAPSE_DECAY] = propagators.synapse_decay
    values[SYNAPSE_TO_MEMBRANE] = propagators.synapse_to_membrane
    values[INPUT_SCALE], values[TAU_MEMBRANE] = neuron.input_scale, neuron.tau_membrane
    values[DT] = network.dt
    values[A_PLUS], values[A_MINUS] = rule.a_plus, rule.a_minus
    values[TAU_PLUS], values[TAU_MINUS] = rule.tau_plus, rule.tau_minus
    values[ALPHA], values[W_MIN], values[W_MAX] = rule.alpha, rule.w_min, rule.w_max
    values[DIVERGENCE_BOUND] = network.divergence_bound
    dt = network.dt
    values[BETA], values[ETA], values[EPSILON] = rule.beta, rule.eta, rule.epsilon
    values[RISE_RATE], values[DECAY_RATE] = dt / rule.tau_rise, dt / rule.tau_decay
    values[RISE_DECAY] = np.exp(-dt / rule.tau_rise)
    # whole steps: the model checks it for SuperSpike, the one rule that reads it
    values[UPDATE_EVERY] = round(rule.update_every / dt)
    values[RMS_DECAY] = np.exp(-values[UPDATE_EVERY] * dt / rule.tau_rms)
    targets = network.targets
    values[TARGET_PERIOD] = targets.period_steps(dt) if targets is not None else 1
    values[RATE_DECAY], values[RATE_JUMP] = np.exp(-dt / rule.tau_rate), 1000.0 / rule.tau_rate
    values[KAPPA], values[THETA_DECAY] = rule.kappa, np.exp(-dt / rule.tau_theta)
    return values


@dataclass
class SpikingRecord:
    """What a run recorded. Times in ms: ``spike_time``/``spike_neuron`` (sorted by time,
    then neuron), ``potential`` over (``potential_time``, recorded neuron), weight snapshots
    ``weights`` over (``weight_time``, synapse)."""

    spike_time: np.ndarray
    spike_neuron: np.ndarray
    potential_time: np.ndarray
    potential: np.ndarray
    recorded_neurons: np.ndarray
    weight_time: np.ndarray
    weights: np.ndarray


class SpikingState:
    """A network's state and the recordings made while it advances."""

    def __init__(
        self,
        network: SpikingNetwork,
        *,
        record_neurons: np.ndarray | list[int],
        record_every: int,
        weights_every: int | None,
    ) -> None:
        self.network = network
        n = network.n_neurons
        neuron = network.neuron
        self.v = np.full(n, neuron.v_rest)
        self.g = np.zeros(n)
        self.refractory_left = np.zeros(n, dtype=np.int64)
        self.spiked = np.zeros(n, dtype=np.bool_)
        self.slope = np.zeros(n)
        self.w = network.weight.copy()
        self.pre_trace = np.zeros_like(self.w)
        self.post_trace = np.zeros_like(self.w)
        self.trace_step = np.zeros(self.w.shape, dtype=np.int64)
        # the nearest-neighbour rule's waiting presynaptic spikes, a ring per synapse
        rule = network.plasticity
        waiting = (self.w.size, rule.pending_per_synapse if rule.rule == "nearest_stdp" else 0)
        self.pending_step = np.zeros(waiting, dtype=np.int64)
        self.pending_left = np.zeros(waiting, dtype=np.int64)
        self.pending_head = np.zeros(self.w.size, dtype=np.int64)
        self.pending_count = np.zeros(self.w.size, dtype=np.int64)
        self.last_post_spike = np.full(n, -(2**40), dtype=np.int64)
        # SuperSpike's traces (kernels/superspike.py) or BCM's rates and thresholds
        # (kernels/bcm.py), allocated only for them
        traced = rule.rule in ("superspike", "bcm")
        self.synapse_state = np.zeros((self.w.size if traced else 0, SYNAPSE_FIELDS))
        self.neuron_state = np.zeros((n if traced else 0, NEURON_FIELDS))
        if network.targets is not None:
            self.target_row, self.target_counts = network.targets.counts(n, network.dt)
        else:
            self.target_row, self.target_counts = np.full(n, -1, np.int64), np.zeros((0, 1))
        # SuperSpike's feedback edges, numbered grouped by sending neuron
        feedback = network.feedback
        if feedback is None:
            sources = posts = forward = np.empty(0, np.int64)
            weights, delays = np.empty(0), np.empty(0, np.int64)
        else:
            order = np.argsort(feedback.source, kind="stable")
            sources, posts = feedback.source[order], feedback.post[order]
            weights, forward = feedback.weight[order], feedback.forward[order]
            delays = np.full(order.size, round(feedback.delay / network.dt), dtype=np.int64)
        self.feedback_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(sources, minlength=n), out=self.feedback_ptr[1:])
        self.feedback_post, self.feedback_weight = posts, weights
        self.feedback_forward, self.feedback_delay = forward, delays
        self.window = rule.window
        self.incoming_ptr, self.incoming_synapse = network.csr("post")
        self.outgoing_ptr, self.outgoing_synapse = network.csr("source")
        self.delay_steps = network.delay_steps
        self.parameters = kernel_parameters(network)
        self.refractory_steps = round(neuron.refractory / network.dt)
        self.rule = network.plasticity.code
        recorded = np.asarray(record_neurons, dtype=np.int64).ravel()
        if recorded.size and (recorded.min() < 0 or recorded.max() >= n):
            raise ValidationError(
                f"record.neurons = {recorded.tolist()}: neurons are numbered 0 to {n - 1}"
            )
        self.recorded = recorded
        self.record_slot = np.full(n, -1, dtype=np.int64)
        self.record_slot[recorded] = np.arange(recorded.size)
        if record_every < 1:
            raise ValidationError(f"record.every = {record_every}: expected an integer >= 1")
        self.record_every = record_every
        self.weights_every = weights_every
        self._potential_rows: list[np.ndarray] = []
        self._potential_steps: list[np.ndarray] = []
        self._spike_steps: list[np.ndarray] = []
        self._spike_neurons: list[np.ndarray] = []
        self._weights: dict[int, np.ndarray] = {0: self.w.copy()}

    # what a checkpoint holds of the state (the recordings are written out before one)
    SAVED = (
        "v", "g", "refractory_left", "spiked", "slope", "w", "pre_trace", "post_trace",
        "trace_step", "pending_step", "pending_left", "pending_head", "pending_count",
        "last_post_spike", "synapse_state", "neuron_state",
    )  # fmt: skip

    def advance(
        self,
        start: int,
        stop: int,
        neuron_ids: np.ndarray,
        arrival_step: np.ndarray,
        arrival_synapse: np.ndarray,
        feedback: tuple[np.ndarray, np.ndarray, np.ndarray] = EMPTY_FEEDBACK,
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Steps ``[start, stop)`` of ``neuron_ids`` with these arrivals (sorted by step,
        then synapse) and SuperSpike's error messages ``feedback`` (arrival step, feedback
        edge, value; sorted by step, then edge); returns the spikes emitted (grid steps,
        neurons) and the error messages sent (arrival step, edge, value)."""
        every = self.record_every
        first_row = start // every + 1
        rows = stop // every - start // every  # the multiples of every in (start, stop]
        potentials = np.full((rows, self.recorded.size), np.nan)
        capacity = neuron_ids.size * (stop - start)
        spike_step = np.empty(capacity, dtype=np.int64)
        spike_neuron = np.empty(capacity, dtype=np.int64)
        ptr = self.feedback_ptr
        sending = int(np.sum(ptr[neuron_ids + 1] - ptr[neuron_ids])) if ptr[-1] else 0
        sent_step = np.empty(sending * (stop - start), dtype=np.int64)
        sent_edge = np.empty_like(sent_step)
        sent_value = np.empty(sent_step.size)
        feedback_step, feedback_edge, feedback_value = feedback
        written, bad_step, bad_neuron, full_synapse, sent = advance(
            start, stop, neuron_ids, arrival_step, arrival_synapse,
            self.v, self.g, self.refractory_left, self.spiked, self.slope,
            self.network.synapse_post, self.w, self.pre_trace, self.post_trace,
            self.trace_step, self.pending_step, self.pending_left, self.pending_head,
            self.pending_count, self.last_post_spike, self.incoming_ptr, self.incoming_synapse,
            self.synapse_state, self.neuron_state, self.target_row, self.target_counts,
            feedback_step, self.feedback_post[feedback_edge], feedback_value, ptr,
            self.feedback_delay, self.feedback_weight, self.feedback_forward, self.parameters,
            self.refractory_steps, self.window, self.rule,
            self.record_slot, every, first_row, potentials, spike_step, spike_neuron,
            sent_step, sent_edge, sent_value,
        )  # fmt: skip
        if full_synapse >= 0:
            network = self.network
            # the run cannot go on without dropping a spike's change: it fails (exit 1)
            raise NeurosimError(
                f"plasticity.pending_per_synapse = {network.plasticity.pending_per_synapse}: "
                f"synapse {full_synapse} (source {network.synapse_source[full_synapse]} -> "
                f"neuron {network.synapse_post[full_synapse]}) received more presynaptic spikes "
                f"within {network.plasticity.window} steps than that, at step "
                f"{int(self.pending_step[full_synapse].max())}; raise it"
            )
        if bad_step >= 0:
            raise DivergenceError(
                bad_step, bad_neuron, float(self.v[bad_neuron]), what="membrane potential",
                bound=self.network.divergence_bound,
            )  # fmt: skip
        if rows and self.recorded.size:
            mine = np.isin(self.recorded, neuron_ids)
            if mine.any():
                self._potential_steps.append(np.arange(first_row, first_row + rows) * every)
                self._potential_rows.append(potentials)
        self._spike_steps.append(spike_step[:written])
        self._spike_neurons.append(spike_neuron[:written])
        messages = (sent_step[:sent], sent_edge[:sent], sent_value[:sent])
        return spike_step[:written], spike_neuron[:written], messages

    def snapshot_weights(self, step: int, synapses: np.ndarray | None = None) -> None:
        """Keep the weights (or those of ``synapses``) as they are at grid step ``step``."""
        if self.rule == RULE_NEAREST_STDP:
            every = np.arange(self.w.size) if synapses is None else synapses
            settle_decided(
                every, step, self.w, self.pending_step, self.pending_left, self.pending_head,
                self.pending_count, self.parameters, self.window,
            )  # fmt: skip
        row = self._weights.setdefault(step, np.full_like(self.w, np.nan))
        taken = slice(None) if synapses is None else synapses
        row[taken] = self.w[taken]

    def record(self) -> SpikingRecord:
        """What was recorded since the last call (the first call: since the start), times
        in ms; the buffers are emptied, so a long run can be written out piece by piece."""
        dt = self.network.dt
        steps = np.concatenate([np.empty(0, np.int64), *self._spike_steps])
        neurons = np.concatenate([np.empty(0, np.int64), *self._spike_neurons])
        order = np.lexsort((neurons, steps))
        potential_steps, potential = _merge_potentials(
            self._potential_steps, self._potential_rows, self.recorded.size
        )
        weight_steps = np.asarray(sorted(self._weights), dtype=np.int64)
        weights = [self._weights[step] for step in weight_steps]
        self._spike_steps, self._spike_neurons = [], []
        self._potential_steps, self._potential_rows = [], []
        self._weights = {}
        return SpikingRecord(
            spike_time=steps[order] * dt,
            spike_neuron=neurons[order],
            potential_time=potential_steps * dt,
            potential=potential,
            recorded_neurons=self.recorded.copy(),
            weight_time=weight_steps * dt,
            weights=np.stack(weights) if weights else np.empty((0, self.w.size)),
        )


def _merge_potentials(
    step_chunks: list[np.ndarray], row_chunks: list[np.ndarray], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row per recorded step: chunks written by separate calls (one neuron each on the
    event backend) fill their own columns."""
    if not step_chunks:
        return np.empty(0, np.int64), np.empty((0, width))
    steps = np.unique(np.concatenate(step_chunks))
    merged = np.full((steps.size, width), np.nan)
    for chunk_steps, rows in zip(step_chunks, row_chunks, strict=True):
        at = np.searchsorted(steps, chunk_steps)
        filled = ~np.isnan(rows)
        block = merged[at]
        block[filled] = rows[filled]
        merged[at] = block
    return steps, merged


def neuron_window(network: SpikingNetwork, max_window: int) -> int:
    """The longest window that keeps every spike between neurons inside a later window:
    the shortest delay (in steps) of a synapse from a neuron or of a feedback edge, or
    ``max_window``."""
    from_neurons = network.synapse_source >= network.n_inputs
    window = max_window
    if from_neurons.any():
        window = min(window, int(network.delay_steps[from_neurons].min()))
    if network.feedback is not None and network.feedback.source.size:
        window = min(window, round(network.feedback.delay / network.dt))
    return int(window)


class SpikingSimulator:
    """What both spiking backends hold: the network, its state and recordings
    (``SpikingState``), its input trains from ``seed``, and the steps done. ``run(duration_ms)``
    advances and returns what that call recorded; ``record_neurons`` have their potential
    recorded every ``record_every`` steps, the weights are kept every ``weights_every`` steps
    and at the end of each call."""

    def __init__(
        self,
        network: SpikingNetwork,
        seed: int,
        *,
        record_neurons: np.ndarray | list[int] = (),
        record_every: int = 10,
        weights_every: int | None = None,
    ) -> None:
        self.network = network
        self.state = SpikingState(
            network,
            record_neurons=record_neurons,
            record_every=record_every,
            weights_every=weights_every,
        )
        self.inputs = InputSpikes(network, seed)
        self.step = 0

    def run(self, duration_ms: float) -> SpikingRecord:
        raise NotImplementedError

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Everything the run goes on from (copies): the state, the steps done, the spikes
        on their way and where each input train stands. Take it between two ``run`` calls,
        after writing out what the last one returned."""
        saved = {f"state_{name}": getattr(self.state, name).copy() for name in SpikingState.SAVED}
        saved["step"] = np.array(self.step)
        saved["arrival_step"], saved["arrival_synapse"] = self._arrivals()
        saved["feedback_step"], saved["feedback_edge"], saved["feedback_value"] = (
            self._feedback_pending()
        )
        saved.update(self.inputs.checkpoint())
        return saved

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        """Go on from ``checkpoint()``'s arrays, of either backend."""
        for name in SpikingState.SAVED:
            getattr(self.state, name)[...] = saved[f"state_{name}"]
        self.state.record()  # what was recorded before the checkpoint is written already
        self.step = int(saved["step"])
        self.inputs.restore(saved)
        self._set_arrivals(saved["arrival_step"], saved["arrival_synapse"])
        if "feedback_step" in saved:  # checkpoints from before feedback have none
            self._set_feedback_pending(
                saved["feedback_step"], saved["feedback_edge"], saved["feedback_value"]
            )

    def _arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _feedback_pending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _set_feedback_pending(
        self, steps: np.ndarray, edges: np.ndarray, values: np.ndarray
    ) -> None:
        raise NotImplementedError

    def _set_arrivals(self, steps: np.ndarray, synapses: np.ndarray) -> None:
        raise NotImplementedError


class SpikingSyncSimulator(SpikingSimulator):
    """All neurons in lock-step on the compiled step (see the module docstring)."""

    def __init__(
        self,
        network: SpikingNetwork,
        seed: int = 0,
        *,
        max_window: int = DEFAULT_MAX_WINDOW,
        **recording: Any,
    ) -> None:
        super().__init__(network, seed, **recording)
        self.window = neuron_window(network, max_window)
        self._pending_step = np.empty(0, np.int64)
        self._pending_synapse = np.empty(0, np.int64)
        self._feedback = EMPTY_FEEDBACK
        self._neurons = np.arange(network.n_neurons, dtype=np.int64)

    def run(self, duration_ms: float) -> SpikingRecord:
        """Advance ``duration_ms`` (rounded to whole steps); returns what this call recorded
        (the weights at its end included)."""
        stop_all = self.step + round(duration_ms / self.network.dt)
        state = self.state
        while self.step < stop_all:
            stop = min(self.step + self.window, stop_all)
            if state.weights_every:
                stop = min(stop, (self.step // state.weights_every + 1) * state.weights_every)
            input_step, input_source = self.inputs.until(stop)
            self._deliver_later(input_step, input_source)
            arrival_step, arrival_synapse = self._take_arrivals(stop)
            spike_step, spike_neuron, sent = state.advance(
                self.step, stop, self._neurons, arrival_step, arrival_synapse,
                self._take_feedback(stop),
            )  # fmt: skip
            self._deliver_later(spike_step, spike_neuron + self.network.n_inputs)
            self._feedback = tuple(
                np.concatenate((pending, new))
                for pending, new in zip(self._feedback, sent, strict=True)
            )
            self.step = stop
            if state.weights_every and stop % state.weights_every == 0:
                state.snapshot_weights(stop)
        state.snapshot_weights(stop_all)  # the weights as the run leaves them
        return state.record()

    def _arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        return self._pending_step.copy(), self._pending_synapse.copy()

    def _set_arrivals(self, steps: np.ndarray, synapses: np.ndarray) -> None:
        self._pending_step = np.asarray(steps, dtype=np.int64).copy()
        self._pending_synapse = np.asarray(synapses, dtype=np.int64).copy()

    def _feedback_pending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(array.copy() for array in self._feedback)

    def _set_feedback_pending(
        self, steps: np.ndarray, edges: np.ndarray, values: np.ndarray
    ) -> None:
        self._feedback = (
            np.asarray(steps, np.int64).copy(), np.asarray(edges, np.int64).copy(),
            np.asarray(values, np.float64).copy(),
        )  # fmt: skip

    def _take_feedback(self, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The error messages arriving before ``stop``, sorted by step, then edge."""
        steps, edges, values = self._feedback
        due = steps < stop
        self._feedback = (steps[~due], edges[~due], values[~due])
        order = np.lexsort((edges[due], steps[due]))
        return steps[due][order], edges[due][order], values[due][order]

    def _deliver_later(self, step: np.ndarray, source: np.ndarray) -> None:
        arrival_step, arrival_synapse = fan_out(
            step, source, self.state.outgoing_ptr, self.state.outgoing_synapse,
            self.state.delay_steps,
        )  # fmt: skip
        self._pending_step = np.concatenate((self._pending_step, arrival_step))
        self._pending_synapse = np.concatenate((self._pending_synapse, arrival_synapse))

    def _take_arrivals(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        due = self._pending_step < stop
        step, synapse = self._pending_step[due], self._pending_synapse[due]
        self._pending_step = self._pending_step[~due]
        self._pending_synapse = self._pending_synapse[~due]
        order = np.lexsort((synapse, step))
        return step[order], synapse[order]


def spiking_simulator(backend: str) -> type[SpikingSimulator]:
    """The spiking simulator class of a backend's name (``sync`` or ``event``)."""
    if backend == "sync":
        return SpikingSyncSimulator
    if backend == "event":
        from neurosim.backends.spiking_event import SpikingEventSimulator

        return SpikingEventSimulator
    raise ValidationError(
        f"scenario.backend = {backend!r}: spiking networks run on the backends sync, event"
    )
