"""The event-driven backend: every neuron an asynchronous SimPy agent with local state.

Each neuron is one SimPy process (a generator function, the environment passed explicitly)
that holds only its own state: its state copies, velocities, ``dz`` and its moving average,
its fake-target draw, its incoming weights and bias, and the last message it heard from each
presynaptic neuron. It updates on its own clock (``period`` and ``jitter``, per neuron); after
an update it sends its new rates to its postsynaptic neurons, and a message arrives after
the edge's delay (GraphML ``delay``, or ``default_delay``). There is no global phase signal:
the oscillator, the noise and the fake-target draws all follow the neuron's own update counter,
and the data stream's changes arrive on their own schedule (``feed``).

One update (``event_update``): receive, apply the pending weight change, drive, the
neuron's step (``kernels.step``), send; the messages and the arrays it reads are described
there.

Lock-step mode (period 1, jitter 0, every delay 1, threshold 0) reproduces ``SyncSimulator``
at B = 1: update ``k`` of every neuron happens at time ``k``, its message arrives at
``k + 1``. Within one instant the end of SimPy's loop comes first (SimPy puts it before every
timeout), then the stream's input changes, then the neurons' updates (in the order they were
scheduled).
A neuron at time ``k + 1`` has heard every message sent at time ``k``, as the synchronous
step order (integrate from the previous step's rates, learn, next drive from the new rates
and the new W) requires.

Time unit: one integration step (a neuron with ``period`` 1 updates once per time unit).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from neurosim.backends.base import Backend, Recorder, Simulator, check_saved
from neurosim.backends.event_process import EventLog, _DivergedError, _neuron_process
from neurosim.backends.event_scenario import (
    EVENT_KEYS,
    EVENT_KINDS,
    EXCLUSIVE_KEYS,
    check_channel_memory,
    check_delays,
    check_network_size,
    check_run_size,
    event_options,
    ring_capacity,
)
from neurosim.backends.event_update import (
    F_BIAS,
    F_CLAMP,
    F_DZ,
    F_DZ_MEAN,
    F_POST_RULE,
    F_POST_SMOOTHING,
    F_RATE,
    F_STATE,
    F_TARGET,
    F_VELOCITY,
    I_FAKE_ACTIVE,
    I_IN_START,
    I_IN_STOP,
    I_PENDING,
    I_PHASE_OFFSET,
    I_SENT,
    I_SUPPRESSED,
    I_UPDATES,
    L_DELAY,
    L_SENDER,
    M_PRE_RULE,
    M_PRE_SMOOTHING,
    M_RATE,
    MESSAGE_WIDTH,
    N_COUNTS,
    N_VALUES,
    S_HEARD,
    S_WEIGHT,
    T_HEAD,
    T_JITTER,
    T_MAX_DELAY,
    T_PERIOD,
    T_SENT,
    parameter_arrays,
    receive_all,
    refresh_rates,
)
from neurosim.checks import check_integer, check_number, check_seed, describe
from neurosim.errors import DivergenceError, ValidationError
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters
from neurosim.streams.base import Change, Stream, checked_changes


def _per_neuron(name: str, value: object, n: int, low: float, low_open: bool) -> np.ndarray:
    """A scalar or (N,) array of finite numbers >= low (> low when ``low_open``)."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        return np.full(n, check_number(name, value, low, low_open=low_open))
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (n,):
        raise ValidationError(f"{name} has shape {array.shape}; allowed: a scalar or ({n},)")
    for index, item in enumerate(array):
        check_number(f"{name}[{index}]", float(item), low, None, low_open=low_open)
    return array.copy()


class EventSimulator(Simulator):
    """Runs a compiled network with the event-driven SimPy backend (one state, B = 1).

    ``period`` and ``jitter`` (scalars or one value per compiled neuron) set each neuron's
    clock: the first update at time 0, then every ``period + jitter * (2 u - 1)`` with ``u``
    a counter-based uniform draw, so ``0 <= jitter <= period``. ``default_delay`` is the delay
    of a synapse whose graph gives none. A neuron sends after an update only when one of the
    values it sends changed by more than ``send_threshold`` since its last message (0:
    always).
    ``events`` names what to log in ``take_events()`` ("update", "message"; nothing by
    default, since a log holds one row per event). ``oscillator_offset`` (an integer >= 0, or
    one per neuron) shifts each neuron's clamp oscillator (``model.oscillator``) by that many
    of its own updates, so that input neurons need not start their clamped phases together.

    Like ``SyncSimulator`` it learns: the network's synaptic weights and ``network.bias``
    are written back at the end of every ``run``. ``state`` is (copy, 1, neuron);
    ``initial_state_scale`` draws it as the synchronous backend does, so both start from the
    same state for a seed.
    """

    batch_size = 1
    event_kinds = EVENT_KINDS

    def __init__(
        self,
        network: CompiledNetwork,
        params: ModelParameters,
        *,
        seed: int = 0,
        period: float | np.ndarray = 1.0,
        jitter: float | np.ndarray = 0.0,
        default_delay: float = 1.0,
        send_threshold: float = 0.0,
        initial_state_scale: float = 0.5,
        events: Sequence[str] = (),
        oscillator_offset: int | np.ndarray = 0,
    ) -> None:
        if not isinstance(network, CompiledNetwork):
            raise ValidationError("network: expected a CompiledNetwork (see compile_graph)")
        if not isinstance(params, ModelParameters):
            raise ValidationError("params: expected ModelParameters")
        check_seed("seed", seed)
        if network.dtype != np.dtype(params.dtype):
            raise ValidationError(
                f"network dtype {network.dtype} differs from model.dtype = {params.dtype!r}; "
                "compile the graph with the same parameters"
            )
        n = network.n_neurons
        period = _per_neuron("period", period, n, 0.0, low_open=True)
        jitter = _per_neuron("jitter", jitter, n, 0.0, low_open=False)
        too_large = np.flatnonzero(jitter > period)
        if too_large.size:
            i = int(too_large[0])
            raise ValidationError(
                f"jitter = {jitter[i]:g} is larger than period = {period[i]:g} "
                f"(neuron {network.node_ids[i]!r}): allowed range is [0, period]"
            )
        self.default_delay = check_number("default_delay", default_delay, 0.0)
        self.send_threshold = check_number("send_threshold", send_threshold, 0.0)
        initial_state_scale = check_number("initial_state_scale", initial_state_scale, 0.0)
        delays = np.where(np.isnan(network.edge_delay), self.default_delay, network.edge_delay)
        bad_delay = np.flatnonzero(~np.isfinite(delays) | (delays < 0))
        if bad_delay.size:
            e = int(bad_delay[0])
            pre, post = (
                network.node_ids[network.edge_pre[e]],
                network.node_ids[network.edge_post[e]],
            )
            raise ValidationError(
                f"delay = {describe(float(delays[e]))} on edge {pre!r} -> {post!r}: "
                "expected a finite number >= 0"
            )
        self._event_log = EventLog(events) if events else None
        self._logged_kinds = tuple(events)
        offsets = _per_neuron("oscillator_offset", oscillator_offset, n, 0.0, low_open=False)
        fractional = np.flatnonzero(offsets != np.round(offsets))
        if fractional.size:
            i = int(fractional[0])
            raise ValidationError(
                f"oscillator_offset = {offsets[i]:g} (neuron {network.node_ids[i]!r}): "
                "expected a whole number of updates >= 0"
            )

        self.network = network
        self.params = params
        self.seed = seed
        dtype = network.dtype
        copies = params.spec.copies
        rng = np.random.default_rng(seed)
        initial = rng.uniform(-initial_state_scale, initial_state_scale, size=n)

        neuron_values = np.zeros((n, N_VALUES), dtype=dtype)
        neuron_values[:, F_STATE : F_STATE + copies] = initial[:, None]
        neuron_values[:, F_BIAS] = network.bias
        # incoming synapses by postsynaptic neuron; row[e] is canonical edge e's position
        by_post = np.lexsort((network.edge_pre, network.edge_post))
        row = np.empty_like(by_post)
        row[by_post] = np.arange(by_post.size)
        self._row_of_edge = row
        in_post = network.edge_post[by_post]
        in_indptr = np.concatenate([[0], np.cumsum(np.bincount(in_post, minlength=n))])
        neuron_counts = np.zeros((n, N_COUNTS), dtype=np.int64)
        neuron_counts[:, I_IN_START] = in_indptr[:-1]
        neuron_counts[:, I_IN_STOP] = in_indptr[1:]
        neuron_counts[:, I_PHASE_OFFSET] = offsets
        max_delay = np.zeros(n)
        np.maximum.at(max_delay, network.edge_pre, delays)
        # a ring long enough for the messages of the slowest synapse at the fastest clock
        fastest = float(np.min(period - jitter))
        longest = float(np.max(max_delay, initial=0.0))
        capacity = min(ring_capacity(longest, fastest), 64)  # grown when a neuron needs more
        clocks = np.full((n, T_SENT + capacity), -np.inf)
        clocks[:, T_PERIOD] = period
        clocks[:, T_JITTER] = jitter
        clocks[:, T_MAX_DELAY] = max_delay
        clocks[:, T_HEAD] = 1  # the initial message, see below
        synapses = np.zeros((by_post.size, S_HEARD + MESSAGE_WIDTH), dtype=dtype)
        synapses[:, S_WEIGHT] = network.edge_weights()[by_post]
        links = np.empty((by_post.size, 2))
        links[:, L_SENDER] = network.edge_pre[by_post]
        links[:, L_DELAY] = delays[by_post]
        channels = np.zeros((n, capacity, MESSAGE_WIDTH), dtype=dtype)
        self._neuron_values = neuron_values
        self._neuron_counts = neuron_counts
        self._codes, self._values = parameter_arrays(params, seed, self.send_threshold, network)
        self._arrays = (
            self._codes,
            self._values,
            neuron_values,
            neuron_counts,
            clocks,
            synapses,
            links,
            channels,
        )
        self.invalidate()
        # the initial message, sent at -inf: the rates each neuron starts from, no factors
        channels[:, 0, M_RATE : M_RATE + copies] = neuron_values[:, F_RATE : F_RATE + copies]
        receive_all(0.0, neuron_counts, clocks, synapses, links, channels)

        self._failure: DivergenceError | None = None
        # the fed stream: its changes, its time origin, the next change to apply
        self._changes: Iterator[Change] = iter(())
        self._stream_origin = 0.0
        self._upcoming: Change | None = None
        self._start_processes(0.0, np.zeros(n), np.arange(n))

    # ----------------------------------------------------------------------------------------
    # the user's view, as SyncSimulator's at B = 1

    def _columns(self, first: int, count: int) -> np.ndarray:
        """A (count, 1, neuron) view of neuron_values' columns first..first + count."""
        return self._neuron_values[:, first : first + count].T[:, None, :]

    def _column(self, field: int) -> np.ndarray:
        """A (1, neuron) view of one of neuron_values' columns."""
        return self._neuron_values[None, :, field]

    @property
    def state(self) -> np.ndarray:
        """States, (copy, 1, neuron): copy 0 is the weakly clamped one (a writable view; call
        ``invalidate`` after changing it)."""
        return self._columns(F_STATE, self.params.spec.copies)

    @property
    def velocity(self) -> np.ndarray:
        return self._columns(F_VELOCITY, self.params.spec.copies)

    @property
    def dz(self) -> np.ndarray:
        return self._column(F_DZ)

    @property
    def dz_mean(self) -> np.ndarray:
        return self._column(F_DZ_MEAN)

    @property
    def fake_target(self) -> np.ndarray:
        """Which neurons had a fake target at their last update, (1, neuron)."""
        return self._neuron_counts[None, :, I_FAKE_ACTIVE].astype(np.bool_)

    @property
    def target(self) -> np.ndarray:
        return self._column(F_TARGET)

    @property
    def clamp(self) -> np.ndarray:
        return self._column(F_CLAMP)

    @property
    def bias(self) -> np.ndarray:
        return self._neuron_values[:, F_BIAS]

    @property
    def update_count(self) -> np.ndarray:
        """How many updates each neuron has done."""
        return self._neuron_counts[:, I_UPDATES]

    @property
    def messages_sent(self) -> int:
        """Messages sent by all neurons (the initial rates not counted)."""
        return int(self._neuron_counts[:, I_SENT].sum())

    @property
    def messages_suppressed(self) -> int:
        """Updates after which a neuron sent nothing: no value changed by more than the
        threshold."""
        return int(self._neuron_counts[:, I_SUPPRESSED].sum())

    @property
    def channel_capacity(self) -> int:
        """Messages each neuron's outgoing channel keeps."""
        return self._arrays[-1].shape[1]

    @property
    def time(self) -> float:
        """The simulation time, in time units."""
        return float(self.env.now)

    @property
    def step_count(self) -> int:
        """Whole time units elapsed (in lock-step: the number of steps done)."""
        return math.floor(self.env.now + 1e-9)

    def feed(self, changes: Iterable[Change], start: float | None = None) -> None:
        """Let a stream's changes (``Stream.changes()``, possibly unbounded) arrive on their
        own schedule: change step ``s`` is applied at time ``start + s`` (default: now), before
        the updates due at that instant, while the network computes (``run`` stops SimPy's
        loop there). A later ``feed`` replaces this one."""
        origin = self.env.now if start is None else check_number("start", start, self.env.now)
        self._changes = iter(changes)
        self._stream_origin = origin
        self._upcoming = next(self._changes, None)
        self._apply_due_changes()

    def follow(self, stream: Stream) -> None:
        self.feed(checked_changes(stream))

    def _apply_due_changes(self) -> None:
        """``set_input`` of every fed change whose time has come."""
        while (
            self._upcoming is not None and self._stream_origin + self._upcoming.step <= self.env.now
        ):
            self.set_input(self._upcoming.target, self._upcoming.clamp)
            self._upcoming = next(self._changes, None)

    def select_events(self, kinds: Sequence[str]) -> None:
        """Log only these kinds from now on (none: pause); a simulator made without
        ``events`` logs nothing."""
        if self._event_log is None:
            raise ValidationError("select_events: this simulator was made without events")
        self._event_log.select(kinds)

    def log_events(self, enabled: bool) -> None:
        if self._event_log is not None:
            self._event_log.select(self._logged_kinds if enabled else ())

    def run_attributes(self) -> dict[str, Any]:
        """The counters of the run, as the run store's root attribute ``event_counters``."""
        return {
            "event_counters": {
                "updates": int(self.update_count.sum()),
                "messages_sent": self.messages_sent,
                "messages_suppressed": self.messages_suppressed,
                "channel_capacity": self.channel_capacity,
            }
        }

    def take_events(self) -> dict[str, np.ndarray]:
        """The events logged since the last call (see ``EventLog``); empty arrays when the
        simulator logs none."""
        return super().take_events() if self._event_log is None else self._event_log.take()

    def invalidate(self) -> None:
        """Call after changing ``state`` from outside: each neuron recomputes the rates it
        will send next from its own state. Its neighbours learn of it only by messages."""
        refresh_rates(self._codes, self._values, self._neuron_values, self._neuron_counts)

    def _state_changed(self) -> None:
        """After ``set_state``: every neuron's next rates, from its new state, are what every
        synapse delivers from now on, as if each neuron had just sent them."""
        self.invalidate()
        self._broadcast_rates()

    def _broadcast_rates(self) -> None:
        """Write each neuron's next rates into every message of its channel and into what its
        synapses heard (the presynaptic factors on the way stay)."""
        copies = self.params.spec.copies
        *_, synapses, links, channels = self._arrays
        rates = self._neuron_values[:, F_RATE : F_RATE + copies]
        channels[:, :, M_RATE : M_RATE + copies] = rates[:, None, :]
        senders = links[:, L_SENDER].astype(np.int64)
        synapses[:, S_HEARD + M_RATE : S_HEARD + M_RATE + copies] = rates[senders]

    def _use_parameters(self, params: ModelParameters) -> None:
        """Each neuron recomputes the rates it sends next (the noise follows the new
        parameters). When the noise changes, the rates on the way and heard are refreshed
        too: a parameter change reaches every neuron at once, as the synchronous backend's
        next drive does."""
        noise_changed = params.noise_sigma != self.params.noise_sigma
        self.params = params
        self._codes, self._values = parameter_arrays(
            params, self.seed, self.send_threshold, self.network
        )
        self._arrays = (self._codes, self._values, *self._arrays[2:])
        self.invalidate()
        if noise_changed:
            self._broadcast_rates()

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Copies of everything a later ``restore`` needs to continue exactly as this
        simulator would: the neurons' arrays (states, velocities, dz and its mean, biases,
        targets, held weight changes, counters), the synapses' weights, the channels with
        their messages and send times, the time, and each neuron's next update (time and
        order among simultaneous ones). The fed stream and the event log are not included."""
        if self._failure is not None:
            raise ValidationError("checkpoint: the run diverged; there is nothing to continue")
        saved = {name: array.copy() for name, array in self._checkpointed().items()}
        saved["time"] = np.array(self.env.now, dtype=np.float64)
        saved["next_update"] = np.array(self._next_update, dtype=np.float64)
        saved["wait_order"] = np.argsort(self._wait_order).astype(np.int64)
        return saved

    def restore(self, saved: Mapping[str, np.ndarray]) -> None:
        """Continue from ``checkpoint()``'s arrays, taken from a simulator of the same network
        and options (checked: a mismatch names the array). The fed stream stops."""
        n = self.network.n_neurons
        shapes: dict[str, tuple[int, ...] | None] = {
            name: array.shape for name, array in self._checkpointed().items()
        }
        # the channels may have grown
        shapes["clocks"] = shapes["channels"] = None
        check_saved(
            saved,
            shapes | {"time": (), "next_update": (n,), "wait_order": (n,)},
            "same network and options",
        )
        capacity = np.shape(saved["channels"])[1]
        if np.shape(saved["channels"]) != (n, capacity, MESSAGE_WIDTH) or np.shape(
            saved["clocks"]
        ) != (n, T_SENT + capacity):
            raise ValidationError(
                f"checkpoint: channels {np.shape(saved['channels'])} and clocks "
                f"{np.shape(saved['clocks'])} do not fit {n} neurons (same network and options)"
            )
        codes, values, neuron_values, neuron_counts, _, synapses, links, _ = self._arrays
        neuron_values[...] = saved["neuron_values"]
        neuron_counts[...] = saved["neuron_counts"]
        synapses[...] = saved["synapses"]
        clocks = np.array(saved["clocks"], dtype=np.float64)
        channels = np.array(saved["channels"], dtype=self.network.dtype)
        self._arrays = (
            codes,
            values,
            neuron_values,
            neuron_counts,
            clocks,
            synapses,
            links,
            channels,
        )
        self._failure = None
        self._changes, self._upcoming = iter(()), None
        self._start_processes(float(saved["time"]), saved["next_update"], saved["wait_order"])
        self._write_back()

    def _checkpointed(self) -> dict[str, np.ndarray]:
        """The arrays a checkpoint holds, by name (links and parameters follow from the
        network and the options)."""
        _, _, neuron_values, neuron_counts, clocks, synapses, _, channels = self._arrays
        return {
            "neuron_values": neuron_values,
            "neuron_counts": neuron_counts,
            "clocks": clocks,
            "synapses": synapses,
            "channels": channels,
        }

    def _start_processes(self, now: float, next_update: np.ndarray, order: np.ndarray) -> None:
        """A new SimPy environment at time ``now`` with every neuron's process, neuron
        ``order[k]`` started k-th, each waiting for its update at ``next_update``."""
        n = self.network.n_neurons
        self.env = simpy.Environment(initial_time=now)
        self._next_update = [0.0] * n
        self._wait_order = [0] * n
        self._wait_count = itertools.count()
        for i in order:
            i = int(i)
            self.env.process(_neuron_process(self.env, self, i, float(next_update[i])))

    def run(
        self,
        duration: float,
        *,
        record_every: int = 0,
        record: Sequence[str] = ("state", "dz", "fake_target"),
        record_neurons: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance the simulation by ``duration`` time units (updates due at the end are not
        done); returns the recorded arrays (empty if ``record_every`` is 0), in
        ``SyncSimulator.run``'s format at B = 1.

        At every time that is a multiple of ``record_every`` time units (in the global time,
        so that a run split into calls records the same times) the arrays named in
        ``record`` are copied: ``state``/``rate``/``velocity`` as (time, copy, 1, neuron),
        the others as (time, 1, neuron), plus ``time`` (the whole time units elapsed, in
        lock-step the step count). ``record_neurons`` selects compiled neuron indices.

        Raises DivergenceError when a neuron's state or a weight it changes leaves
        ``model.divergence_bound`` (or stops being finite); the run ends at that instant and
        the simulator cannot continue.
        """
        duration = check_number("duration", duration, 0.0)
        check_integer("record_every", record_every, 0)
        recorder = Recorder(self, record, record_neurons)
        if self._failure is not None:
            raise self._failure
        end = self.env.now + duration
        if record_every == 0:
            self._run_until(end)
            return {}
        while True:
            # records fall on multiples of record_every in the global time
            multiple = math.floor(self.env.now / record_every + 1e-9) + 1
            next_record = multiple * record_every
            if next_record > end + 1e-9:
                self._run_until(end)
                break
            self._run_until(next_record)
            recorder.take(self.step_count)
        return recorder.result()

    def _run_until(self, end: float) -> None:
        """Advance to time ``end`` (>= now), applying the fed changes due on the way; see
        ``run``."""
        try:
            while self._upcoming is not None:
                change_time = self._stream_origin + self._upcoming.step
                if change_time > end:
                    break
                self._advance_to(change_time)
                self._apply_due_changes()
            self._advance_to(end)
        finally:
            self._write_back()
        if self._failure is not None:
            raise self._failure

    def _advance_to(self, time: float) -> None:
        """SimPy's loop up to ``time``: its stop comes before the updates due then."""
        if time <= self.env.now:
            return
        try:
            self.env.run(until=time)
        except _DivergedError as diverged:
            self._failure = self._divergence(int(diverged.args[0]))

    def _write_back(self) -> None:
        """The network's weights and biases become the simulator's."""
        self.network.set_edge_weights(self.edge_weights())
        self.network.bias[:] = self.bias

    def edge_weights(self) -> np.ndarray:
        """Synaptic weights in canonical edge order, with each neuron's change not yet applied
        (its held postsynaptic factor times the presynaptic factor it would hear now)."""
        _, _, neuron_values, neuron_counts, clocks, synapses, links, channels = self._arrays
        receive_all(self.env.now, neuron_counts, clocks, synapses, links, channels)
        weights = synapses[:, S_WEIGHT].copy()
        post = np.repeat(
            np.arange(neuron_counts.shape[0]),
            neuron_counts[:, I_IN_STOP] - neuron_counts[:, I_IN_START],
        )
        pending = neuron_counts[post, I_PENDING] != 0
        heard = synapses[:, S_HEARD:]
        rule = neuron_values[post, F_POST_RULE]
        smoothing = neuron_values[post, F_POST_SMOOTHING]
        weights += np.where(pending, heard[:, M_PRE_RULE] * rule, 0.0)
        weights += np.where(
            pending & (smoothing != 0.0), heard[:, M_PRE_SMOOTHING] * smoothing, 0.0
        )
        return weights[self._row_of_edge]

    def dense_matrix(self) -> np.ndarray:
        """The full (N, N) weight matrix ``W[pre, post]`` (see ``edge_weights``)."""
        n = self.network.n_neurons
        matrix = np.zeros((n, n), dtype=self.network.dtype)
        matrix[self.network.edge_pre, self.network.edge_post] = self.edge_weights()
        return matrix

    # ----------------------------------------------------------------------------------------
    # what the processes call

    def _grow_channels(self) -> None:
        """Double every channel's ring, keeping each neuron's messages in order."""
        *head_arrays, clocks, synapses, links, channels = self._arrays
        n, capacity, width = channels.shape
        grown = np.zeros((n, 2 * capacity, width), dtype=channels.dtype)
        grown_clocks = np.full((n, T_SENT + 2 * capacity), -np.inf)
        grown_clocks[:, :T_SENT] = clocks[:, :T_SENT]
        head = clocks[:, T_HEAD].astype(np.int64)
        rows = np.arange(n)
        for back in range(1, capacity + 1):
            message = head - back
            kept = message >= 0
            old, new = message[kept] % capacity, message[kept] % (2 * capacity)
            grown[rows[kept], new] = channels[rows[kept], old]
            grown_clocks[rows[kept], T_SENT + new] = clocks[rows[kept], T_SENT + old]
        self._arrays = (*head_arrays, grown_clocks, synapses, links, grown)

    def _divergence(self, i: int) -> DivergenceError:
        """The error of neuron ``i``: its state, else the first of its incoming weights,
        beyond the bound."""
        bound = self.params.divergence_bound
        step = int(self.update_count[i])
        ids = self.network.node_ids
        values = self.state[:, 0, i]
        beyond = ~(np.abs(values) <= bound)
        if beyond.any():
            return DivergenceError(step, ids[i], float(values[beyond][0]), bound=bound)
        _, _, _, neuron_counts, _, synapses, links, _ = self._arrays
        rows = np.arange(neuron_counts[i, I_IN_START], neuron_counts[i, I_IN_STOP])
        weights = synapses[rows, S_WEIGHT]
        row = int(rows[np.flatnonzero(~(np.abs(weights) <= bound))[0]])
        synapse = (ids[int(links[row, L_SENDER])], ids[i])
        # the change applied at this update is the previous update's, as the synchronous
        # backend's step that made it
        return DivergenceError(
            step - 1,
            ids[i],
            float(synapses[row, S_WEIGHT]),
            what="weight",
            synapse=synapse,
            bound=bound,
        )


def _make(
    settings: Mapping[str, Any] | None,
    network: CompiledNetwork,
    params: ModelParameters,
    seed: int,
    steps: int,
    initial_state_scale: float,
) -> EventSimulator:
    """The event-driven simulator of a scenario run of ``steps`` steps, with the ``[event]``
    clocks, delays and threshold, after checking that the run fits the backend: its size,
    its delays against its duration and the memory its channels would need."""
    check_delays(settings, network, steps)
    options = event_options(settings, network)
    check_run_size(network, options["period"], steps)
    delays = np.where(np.isnan(network.edge_delay), options["default_delay"], network.edge_delay)
    fastest = np.broadcast_to(options["period"] - options["jitter"], network.n_neurons)
    check_channel_memory(
        network.n_neurons,
        float(np.max(delays, initial=0.0)),
        float(np.min(fastest)),
        MESSAGE_WIDTH * network.dtype.itemsize + 8,  # a message and its send time
    )
    return EventSimulator(
        network, params, seed=seed, initial_state_scale=initial_state_scale, **options
    )


BACKEND = Backend(
    name="event",
    description="every neuron a SimPy agent with its own clock, messages along delayed synapses",
    simulator=EventSimulator,
    make=_make,
    batched=False,
    keys=EVENT_KEYS,
    exclusive_keys=EXCLUSIVE_KEYS,
    check_size=check_network_size,
)
