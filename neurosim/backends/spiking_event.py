"""Spiking networks on the event-driven backend: one SimPy process per neuron and per input
population, spikes as messages along synapses (time unit of the SimPy clock: grid steps).

- A source writes each spike once into its channel (``SpikeChannel.send``); the channel turns
  it into one arrival per outgoing synapse, at the spike's step plus that synapse's delay, in
  the inbox of the synapse's postsynaptic neuron. Nothing is overwritten: a neuron handles
  every spike that arrived since its last update, and its work grows with those arrivals,
  not with how many synapses it has.
- An input population is one process that generates its spikes in bulk, ``input_chunk``
  steps ahead (counter-based draws, ``streams/spikes.py``): its spikes depend on nothing in
  the network.
- A neuron is a process with its own clock. It wakes at the end of each of its windows,
  takes the arrivals of the window from its inbox and advances over it with the compiled
  step (the same one the sync backend runs, ``kernels/spiking_step.py``), then sends the
  spikes it emitted. Its window is at most the shortest delay of its outgoing synapses to
  other neurons, so a spike it emits in a window arrives after the end of the window in which
  it was sent, when the receiver has not advanced past it yet (conservative lookahead; no
  global barrier: neurons with different delays keep different clocks). A neuron that sends
  to no neuron uses ``max_window``.

Given the same seed, the spikes, potentials and weights equal the sync backend's.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from neurosim.backends.spiking import (
    DEFAULT_MAX_WINDOW,
    EMPTY_FEEDBACK,
    SpikingRecord,
    SpikingSimulator,
    SpikingState,
)
from neurosim.errors import NeurosimError
from neurosim.kernels.spiking_step import fan_out
from neurosim.model.spiking import SpikingNetwork


class Inbox:
    """The arrivals of one neuron not handled yet: ``(arrival step, synapse)`` batches, and
    SuperSpike's error messages ``(arrival step, feedback edge, value)``."""

    def __init__(self) -> None:
        self.steps: list[np.ndarray] = []
        self.synapses: list[np.ndarray] = []
        self.feedback: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def put_feedback(self, steps: np.ndarray, edges: np.ndarray, values: np.ndarray) -> None:
        self.feedback.append((steps, edges, values))

    def take_feedback(self, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The error messages before step ``stop``, sorted by step then edge."""
        if not self.feedback:
            return EMPTY_FEEDBACK
        steps, edges, values = (np.concatenate(part) for part in zip(*self.feedback, strict=True))
        due = steps < stop
        self.feedback = [(steps[~due], edges[~due], values[~due])]
        order = np.lexsort((edges[due], steps[due]))
        return steps[due][order], edges[due][order], values[due][order]

    def put(self, steps: np.ndarray, synapses: np.ndarray) -> None:
        self.steps.append(steps)
        self.synapses.append(synapses)

    def take(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The arrivals before step ``stop``, sorted by step then synapse; keeps the rest."""
        if not self.steps:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        steps = np.concatenate(self.steps)
        synapses = np.concatenate(self.synapses)
        due = steps < stop
        self.steps, self.synapses = [steps[~due]], [synapses[~due]]
        steps, synapses = steps[due], synapses[due]
        order = np.lexsort((synapses, steps))
        return steps[order], synapses[order]


class SpikeChannel:
    """Where a group of sources writes its spikes: each is fanned out, once, along its
    outgoing synapses into the postsynaptic neurons' inboxes."""

    def __init__(self, state: SpikingState, inboxes: list[Inbox]) -> None:
        self.state = state
        self.inboxes = inboxes

    def send(self, steps: np.ndarray, sources: np.ndarray) -> None:
        if steps.size == 0:
            return
        state = self.state
        arrival_step, synapse = fan_out(
            steps, sources, state.outgoing_ptr, state.outgoing_synapse, state.delay_steps
        )
        if synapse.size == 0:
            return
        post = state.network.synapse_post[synapse]
        order = np.argsort(post, kind="stable")
        post, arrival_step, synapse = post[order], arrival_step[order], synapse[order]
        bounds = np.flatnonzero(np.diff(post)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [post.size]))
        for start, end in zip(starts, ends, strict=True):
            self.inboxes[post[start]].put(arrival_step[start:end], synapse[start:end])

    def send_feedback(self, steps: np.ndarray, edges: np.ndarray, values: np.ndarray) -> None:
        """Error messages (arrival step, feedback edge, value) into their receivers' inboxes."""
        receivers = self.state.feedback_post[edges]
        for receiver in np.unique(receivers):
            mine = receivers == receiver
            self.inboxes[receiver].put_feedback(steps[mine], edges[mine], values[mine])


class SpikingEventSimulator(SpikingSimulator):
    """Neurons and input populations as SimPy processes (see the module docstring)."""

    def __init__(
        self,
        network: SpikingNetwork,
        seed: int = 0,
        *,
        max_window: int = DEFAULT_MAX_WINDOW,
        input_chunk: int = DEFAULT_MAX_WINDOW,
        **recording: Any,
    ) -> None:
        super().__init__(network, seed, **recording)
        self.inboxes = [Inbox() for _ in range(network.n_neurons)]
        self.channel = SpikeChannel(self.state, self.inboxes)
        self.windows = self._windows(max_window)
        self.input_chunk = input_chunk
        self.events = 0  # SimPy events processed, for benchmarks

    def _arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        steps = [np.empty(0, np.int64)]
        synapses = [np.empty(0, np.int64)]
        for inbox in self.inboxes:
            steps.extend(inbox.steps)
            synapses.extend(inbox.synapses)
        return np.concatenate(steps), np.concatenate(synapses)

    def _set_arrivals(self, steps: np.ndarray, synapses: np.ndarray) -> None:
        self.inboxes[:] = [Inbox() for _ in range(self.network.n_neurons)]
        post = self.network.synapse_post[np.asarray(synapses, dtype=np.int64)]
        for neuron in np.unique(post):
            mine = post == neuron
            self.inboxes[neuron].put(
                np.asarray(steps, dtype=np.int64)[mine], np.asarray(synapses, np.int64)[mine]
            )

    def _windows(self, max_window: int) -> np.ndarray:
        """Each neuron's window: the shortest delay of its synapses onto neurons and of its
        feedback edges."""
        network = self.network
        windows = np.full(network.n_neurons, max_window, dtype=np.int64)
        from_neurons = network.synapse_source >= network.n_inputs
        senders = network.synapse_source[from_neurons] - network.n_inputs
        np.minimum.at(windows, senders, network.delay_steps[from_neurons])
        if network.feedback is not None:
            np.minimum.at(
                windows, network.feedback.source, round(network.feedback.delay / network.dt)
            )
        return windows

    def _feedback_pending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [part for inbox in self.inboxes for part in inbox.feedback]
        if not parts:
            return tuple(array.copy() for array in EMPTY_FEEDBACK)
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))

    def _set_feedback_pending(
        self, steps: np.ndarray, edges: np.ndarray, values: np.ndarray
    ) -> None:
        for inbox in self.inboxes:
            inbox.feedback = []
        if np.size(steps):
            self.channel.send_feedback(
                np.asarray(steps, np.int64), np.asarray(edges, np.int64),
                np.asarray(values, np.float64),
            )  # fmt: skip

    def run(self, duration_ms: float) -> SpikingRecord:
        """Advance ``duration_ms`` (rounded to whole steps); returns what this call recorded
        (the weights at its end included)."""
        start = self.step
        stop = start + round(duration_ms / self.network.dt)
        env = simpy.Environment(initial_time=start)
        for offset, population in zip(self.inputs.offsets, self.inputs.populations, strict=True):
            env.process(self._input(env, population, int(offset), stop))
        for neuron in range(self.network.n_neurons):
            env.process(self._neuron(env, neuron, start, stop))
        self._failure: NeurosimError | None = None
        env.run()
        if self._failure is not None:
            # raised here, not inside SimPy, which would copy the error without its fields
            raise self._failure
        self.step = stop
        return self.state.record()

    def _input(
        self, env: simpy.Environment, population: object, offset: int, stop: int
    ) -> Generator[simpy.Event, None, None]:
        while env.now < stop and self._failure is None:
            until = min(int(env.now) + self.input_chunk, stop)
            steps, sources = population.until(until)
            self.channel.send(steps, sources + offset)
            self.events += 1
            yield env.timeout(until - env.now)

    def _neuron(
        self, env: simpy.Environment, neuron: int, start: int, stop: int
    ) -> Generator[simpy.Event, None, None]:
        state = self.state
        ids = np.array([neuron], dtype=np.int64)
        incoming = state.incoming_synapse[
            state.incoming_ptr[neuron] : state.incoming_ptr[neuron + 1]
        ]
        every = state.weights_every
        now = start
        while now < stop and self._failure is None:
            until = min(now + int(self.windows[neuron]), stop)
            if every:
                until = min(until, (now // every + 1) * every)
            yield env.timeout(until - now)
            self.events += 1
            arrival_step, arrival_synapse = self.inboxes[neuron].take(until)
            feedback = self.inboxes[neuron].take_feedback(until)
            try:
                steps, neurons, sent = state.advance(
                    now, until, ids, arrival_step, arrival_synapse, feedback
                )
            except NeurosimError as error:  # every process stops at its next wake
                self._failure = error
                return
            self.channel.send(steps, neurons + self.network.n_inputs)
            if sent[0].size:
                self.channel.send_feedback(*sent)
            now = until
            if now == stop or (every and now % every == 0):
                state.snapshot_weights(now, incoming)
