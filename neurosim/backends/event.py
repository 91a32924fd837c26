"""The event-driven backend: every neuron an asynchronous SimPy agent with local state.

Each neuron is one SimPy process (a generator function, the environment passed explicitly)
that holds only its own state: its state copies, velocities, ``dz`` and its moving average,
its fake-target draw, its incoming weights and bias, and the last message it heard from each
presynaptic neuron. It updates on its own clock (``period`` and ``jitter``, per neuron); after
an update it sends its new rates to its postsynaptic neurons, and a message arrives after
the edge's delay (GraphML ``delay``, or ``default_delay``). There is no global phase signal:
the oscillator, the noise and the fake-target draws all follow the neuron's own update counter,
and the data stream's changes arrive on their own schedule (``feed``).

One update of neuron ``i`` (its ``k``-th), in the order of MODEL.md:

0. receive: for every incoming synapse, the newest message of its presynaptic neuron that has
   arrived (sent at ``t`` over a synapse of delay ``d``: arrived at ``t + d``) becomes what the
   neuron heard on that synapse;
1. plasticity of update ``k - 1``: ``W[j, i] += pre_j * post_i`` for every incoming synapse,
   with ``post_i`` the factor the neuron kept from that update and ``pre_j`` the factor the
   last message from ``j`` carried (the bias changed already at update ``k - 1``);
2. the drive of each copy, ``sum_j W[j, i] * heard rate_j``;
3-4. the neuron's step (``kernels.step``, the same compiled phases as the synchronous
   backend's): fake target, integration of every copy, the rule's factors from the new
   states; then the bias change;
5. send, unless nothing changed by more than the threshold: one message with the rates the
   next drive of its postsynaptic neurons uses (with the next update's Langevin noise) and
   the presynaptic factors of this update's rule.

The presynaptic factor of update ``k`` is only known to the postsynaptic neuron once the
message arrives, so a weight change is applied at the postsynaptic neuron's next update,
just before the drive that first needs it: that is where the synchronous backend needs it
too. ``edge_weights()`` (and the network's weights and biases, written back after every
``run``) include the change each neuron holds but has not applied yet.

Messages. A neuron sends by writing its message once, with the time, into its outgoing
channel (a short ring of its latest messages, the axon): fan-out costs one write, never an
event per synapse, and not even one SimPy event per message. A postsynaptic neuron reads a
message only once it has arrived, at its next update (step 0): exactly what a delivery event
at ``t + d`` would have written before that update, since a message changes nothing until a
neuron uses it. The ring keeps every message some synapse may still need (it grows when a
neuron sends faster than its slowest synapse delivers). The only SimPy events are the neurons'
clocks (timeouts) and the ends of SimPy's loop (``env.run(until=time)``), where the stream's
changes are applied.

Lock-step mode (period 1, jitter 0, every delay 1, threshold 0) reproduces ``SyncSimulator``
at B = 1: update ``k`` of every neuron happens at time ``k``, its message arrives at
``k + 1``. Within one instant the end of SimPy's loop comes first (SimPy puts it before every
timeout), then the stream's input changes, then the neurons' updates (in the order they were
scheduled).
A neuron at time ``k + 1`` has heard every message sent at time ``k``, as the synchronous
step order (integrate from the previous step's rates, learn, next drive from the new rates
and the new W) requires.

Speed. A neuron's update is one compiled call (``_update``) taking a few packed arrays (Numba
spends about 0.1 us per argument on dispatch, ten times more on a NamedTuple of arrays):
``neuron_values`` (per neuron, columns ``F_*``), ``neuron_counts`` (``I_*``), ``clocks``
(``T_*``: the clock, then the channel's message count and send times side by side),
``synapses`` (per incoming synapse: the weight, and the message it delivers when
``edge_weights`` asks), ``links`` (per incoming synapse: presynaptic neuron and delay),
``channels`` and the parameters (``codes``, ``values``: ``backends.constants.pack``'s). The
step reads the neuron's own columns through views (``_own_arrays``). An update reads
each synapse's message in place in the sender's channel, one cache line for its count and
send times and one for its values.

Time unit: one integration step (a neuron with ``period`` 1 updates once per time unit).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import simpy
from numba import njit
from simpy.events import Timeout

from neurosim.backends.base import Backend, Recorder, Simulator, check_saved, event_columns
from neurosim.backends.constants import model_constants, pack, unpack
from neurosim.backends.event_scenario import (
    EVENT_KEYS,
    EVENT_KINDS,
    EXCLUSIVE_KEYS,
    check_run_size,
    event_options,
)
from neurosim.checks import check_integer, check_number, describe
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.random import uniform
from neurosim.kernels.step import NeuronArrays, noisy_rates, step_sample, update_bias
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters
from neurosim.streams.base import Change, Stream, checked_changes

# The random stream of the neurons' clock jitter (kernels.random uses 1 and 2).
STREAM_CLOCK = 3

# What _update returns instead of the time to the next update.
DIVERGED = -1.0
CHANNEL_FULL = -2.0

# A message: the rate of each copy (one or two), then the rule's and smoothing's
# presynaptic factors.
M_RATE = 0
M_PRE_RULE = 2
M_PRE_SMOOTHING = 3
MESSAGE_WIDTH = 4

# neuron_values columns (the model's dtype); the step reads them through NeuronArrays views
F_STATE = 0  # one per copy
F_VELOCITY = 2  # one per copy
F_RATE = 4  # the rate it sends next, one per copy
F_DRIVE = 6  # one per copy
F_DZ = 8
F_DZ_MEAN = 9
F_POST_RULE = 10  # the postsynaptic factors it holds until the next update
F_POST_SMOOTHING = 11
F_BIAS = 12
F_TARGET = 13
F_CLAMP = 14
F_PRE_RULE = 15  # this update's presynaptic factors
F_PRE_SMOOTHING = 16
F_PREVIOUS_STATE = 17
F_PREVIOUS_RATE = 18
N_VALUES = 19
FACTOR_TERMS = 2  # the rule's, then smoothing's (zero when off)

# neuron_counts columns (int64)
I_UPDATES = 0
I_IN_START = 1  # its incoming synapses: rows I_IN_START:I_IN_STOP of synapses and links
I_IN_STOP = 2
I_PENDING = 3  # it holds a weight change
I_FAKE_ACTIVE = 4
I_SENT = 5
I_SUPPRESSED = 6
I_PHASE_OFFSET = 7  # where its clamp oscillator starts, in updates
N_COUNTS = 8

# clocks columns (float64)
T_PERIOD = 0
T_JITTER = 1
T_MAX_DELAY = 2  # its slowest outgoing synapse
# the messages written into its channel (a float, exact below 2**53), then the send time of
# each slot: side by side, so that a synapse finds its message in one cache line
T_HEAD = 3
T_SENT = 4

# synapses columns (the model's dtype): the weight, then the last message heard
S_WEIGHT = 0
S_HEARD = 1
# links columns (float64)
L_SENDER = 0
L_DELAY = 1

# The parameters: ``codes`` and ``values`` are ``constants.pack``'s two arrays, with the send
# threshold appended as the last value.


@njit(cache=True, inline="always")
def _columns(table, i, column, count):
    """Neuron ``i``'s ``count`` columns of ``table`` from ``column`` on, as a (count, 1, 1)
    view: what the step reads as (copy, sample, neuron)."""
    return table[i : i + 1, column : column + count].T[:, np.newaxis, :]


@njit(cache=True, inline="always")
def _own_arrays(i, copies, neuron_values, neuron_counts):
    """Neuron ``i``'s own values as the step's NeuronArrays (B = 1, one neuron)."""
    f = neuron_values
    return NeuronArrays(
        f[i : i + 1, F_BIAS],
        f[i : i + 1, F_TARGET : F_TARGET + 1],
        f[i : i + 1, F_CLAMP : F_CLAMP + 1],
        _columns(f, i, F_STATE, copies),
        _columns(f, i, F_VELOCITY, copies),
        _columns(f, i, F_DRIVE, copies),
        _columns(f, i, F_RATE, copies),
        f[i : i + 1, F_DZ : F_DZ + 1],
        f[i : i + 1, F_DZ_MEAN : F_DZ_MEAN + 1],
        neuron_counts[i : i + 1, I_FAKE_ACTIVE : I_FAKE_ACTIVE + 1],
        _columns(f, i, F_PRE_RULE, FACTOR_TERMS),
        _columns(f, i, F_POST_RULE, FACTOR_TERMS),
        f[i : i + 1, F_PREVIOUS_STATE : F_PREVIOUS_STATE + 1],
        f[i : i + 1, F_PREVIOUS_RATE : F_PREVIOUS_RATE + 1],
    )


@njit(cache=True)
def _refresh_rates(codes, values, neuron_values, neuron_counts):
    """Every neuron's next rates from its own state (after a change from outside)."""
    constants = unpack(codes, values)
    n = neuron_values.shape[0]
    copies = constants.copy_eps.size
    for i in range(n):
        noisy_rates(
            neuron_counts[i, I_UPDATES],
            constants,
            _columns(neuron_values, i, F_STATE, copies),
            _columns(neuron_values, i, F_RATE, copies),
            i,
            n,
        )


@njit(cache=True)
def _arrived(sender, delay, now, neuron_counts, clocks, mask):
    """The channel slot of the newest message of ``sender`` that a synapse of ``delay`` has
    delivered by ``now`` (channels hold a power of two of messages: the slot is the message
    count's low bits; the ring never drops a message a synapse may still deliver)."""
    head = int(clocks[sender, T_HEAD])
    message = head - 1
    while message > max(head - mask - 1, 0):
        if clocks[sender, T_SENT + (message & mask)] + delay <= now:
            break
        message -= 1
    return message & mask


@njit(cache=True)
def _receive_all(now, neuron_counts, clocks, synapses, links, channels):
    """Step 0 for every synapse: the newest message that has arrived by ``now`` becomes what
    it heard (what each neuron would hear if it updated now)."""
    mask = channels.shape[1] - 1
    for e in range(synapses.shape[0]):
        sender = int(links[e, L_SENDER])
        slot = _arrived(sender, links[e, L_DELAY], now, neuron_counts, clocks, mask)
        for v in range(MESSAGE_WIDTH):
            synapses[e, S_HEARD + v] = channels[sender, slot, v]


# Compiled without Numba's reference counting: the update allocates nothing, and counting the
# references to the views of the neuron's own values (_own_arrays) cost more than its arithmetic.
@njit(cache=True, _nrt=False)
def _update(i, now, codes, values, neuron_values, neuron_counts, clocks, synapses, links, channels):
    """One update of neuron ``i`` (steps 0-5 of the module docstring).

    Returns the time to its next update, from its own clock; DIVERGED when a state stopped
    being finite; CHANNEL_FULL, before changing anything, when its message would overwrite one
    that a synapse may still deliver (the caller grows the channels and calls again). The
    random draws use the neuron's own update counter as the step, so in lock-step they equal
    the synchronous backend's.
    """
    f = neuron_values
    capacity = channels.shape[1]
    mask = capacity - 1
    head = int(clocks[i, T_HEAD])
    # the slot to overwrite holds message head - capacity; the next one must have reached
    # every synapse, else that message is still some synapse's newest arrival
    next_kept = T_SENT + ((head - capacity + 1) & mask)
    if head >= capacity and clocks[i, next_kept] + clocks[i, T_MAX_DELAY] > now:
        return CHANNEL_FULL
    constants = unpack(codes, values)
    n_copies = constants.copy_eps.size
    step = neuron_counts[i, I_UPDATES]
    phase = (step + neuron_counts[i, I_PHASE_OFFSET]) % constants.clamp_schedule.size
    start = neuron_counts[i, I_IN_START]
    stop = neuron_counts[i, I_IN_STOP]
    # 0-2 in one pass over the incoming synapses: hear, apply the previous update's weight
    # change with the presynaptic factors heard since, add to the drive of each copy
    pending = neuron_counts[i, I_PENDING] != 0
    post_rule = f[i, F_POST_RULE]
    post_smoothing = f[i, F_POST_SMOOTHING]
    drive_small = 0.0
    drive_large = 0.0
    for e in range(start, stop):
        # what the synapse delivers now, read in place: copying it into ``synapses`` (as
        # edge_weights does) would only cost time here
        sender = int(links[e, L_SENDER])
        slot = _arrived(sender, links[e, L_DELAY], now, neuron_counts, clocks, mask)
        w = synapses[e, S_WEIGHT]
        if pending:
            w += channels[sender, slot, M_PRE_RULE] * post_rule
            # by the factor, not alpha_smoothing: set_parameters may have turned smoothing
            # off since the update that holds it
            if post_smoothing != 0.0:
                w += channels[sender, slot, M_PRE_SMOOTHING] * post_smoothing
            synapses[e, S_WEIGHT] = w
        drive_small += channels[sender, slot, M_RATE] * w
        if n_copies == 2:
            drive_large += channels[sender, slot, M_RATE + 1] * w
    neuron_counts[i, I_PENDING] = 0
    f[i, F_DRIVE] = drive_small
    if n_copies == 2:
        f[i, F_DRIVE + 1] = drive_large
    # 3-4: the neuron's step (kernels.step), then its bias change; the weight change waits
    # for the presynaptic factors to arrive
    sent_small = f[i, F_RATE]
    own = _own_arrays(i, n_copies, f, neuron_counts)
    if step_sample(0, step, phase, constants, own, i, f.shape[0]) >= 0:
        return DIVERGED
    if constants.learn and constants.learn_schedule[phase] != 0.0:
        update_bias(own.post_factor, own.bias)
        neuron_counts[i, I_PENDING] = 1
    # 5. the message: rates for the next drive, then this update's presynaptic factors
    step += 1
    neuron_counts[i, I_UPDATES] = step
    pre_rule = f[i, F_PRE_RULE]
    send_threshold = values[values.size - 1]
    last = (head - 1) & mask
    change = max(
        abs(pre_rule - channels[i, last, M_PRE_RULE]),
        abs(sent_small - channels[i, last, M_PRE_SMOOTHING]),
    )
    for c in range(n_copies):
        change = max(change, abs(f[i, F_RATE + c] - channels[i, last, M_RATE + c]))
    if change > send_threshold or send_threshold == 0.0:
        slot = head & mask
        for c in range(n_copies):
            channels[i, slot, M_RATE + c] = f[i, F_RATE + c]
        channels[i, slot, M_PRE_RULE] = pre_rule
        channels[i, slot, M_PRE_SMOOTHING] = sent_small
        clocks[i, T_SENT + slot] = now
        clocks[i, T_HEAD] = head + 1
        neuron_counts[i, I_SENT] += 1
    else:
        neuron_counts[i, I_SUPPRESSED] += 1
    if clocks[i, T_JITTER] == 0.0:
        return clocks[i, T_PERIOD]
    u = uniform(constants.seed, STREAM_CLOCK, step, i)
    return clocks[i, T_PERIOD] + clocks[i, T_JITTER] * (2.0 * u - 1.0)


EVENT_UPDATE = EVENT_KINDS.index("update")
EVENT_MESSAGE = EVENT_KINDS.index("message")


class EventLog:
    """Logged events, in the order they happened: time, neuron (compiled index), kind (an
    index into EVENT_KINDS) and value (an update's new state of copy 0, a message's rate of
    copy 0). ``take()`` returns them as arrays and empties the log."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.select(kinds)
        self._rows: list[tuple[float, int, int, float]] = []

    def select(self, kinds: Sequence[str]) -> None:
        """Log these kinds from now on (none: pause the log)."""
        unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
        if unknown:
            raise ValidationError(
                f"events = {list(kinds)!r}: allowed kinds are {', '.join(EVENT_KINDS)}"
            )
        self.updates = "update" in kinds
        self.messages = "message" in kinds

    def add(self, time: float, neuron: int, kind: int, value: float) -> None:
        self._rows.append((time, neuron, kind, float(value)))

    def take(self) -> dict[str, np.ndarray]:
        """The events logged since the last call: ``time``, ``neuron``, ``kind``, ``value``."""
        rows = self._rows
        self._rows = []
        return event_columns(rows)


class _DivergedError(Exception):
    """Raised by the process of a neuron whose state stopped being finite (args: its index),
    to end ``env.run`` at that instant."""


def _neuron_process(env: simpy.Environment, simulator: EventSimulator, i: int, first: float):
    """Neuron ``i``: wait for its clock (the first update at time ``first``), update (and
    send); until its state stops being finite. ``simulator._arrays`` is read at every update:
    growing the channels replaces it. Each wait is a SimPy timeout, whose time and order
    ``next_update`` and ``wait_order`` keep for a checkpoint. With an event log, each update
    (state of copy 0) and each message sent (its rate of copy 0) is logged."""
    log = simulator._event_log
    counts = simulator._neuron_counts
    values = simulator._neuron_values
    next_update = simulator._next_update
    wait_order = simulator._wait_order
    order = simulator._wait_count
    sent = 0
    next_update[i] = first
    wait_order[i] = next(order)
    yield Timeout(env, _delay_until(env.now, first))
    while True:
        if log is not None:
            sent = counts[i, I_SENT]
        wait = _update(i, env.now, *simulator._arrays)
        if wait < 0.0:
            if wait == CHANNEL_FULL:
                simulator._grow_channels()
                continue
            raise _DivergedError(i)
        if log is not None:
            if log.updates:
                log.add(env.now, i, EVENT_UPDATE, values[i, F_STATE])
            if log.messages and counts[i, I_SENT] != sent:
                log.add(env.now, i, EVENT_MESSAGE, values[i, F_RATE])
        next_update[i] = env.now + wait
        wait_order[i] = next(order)
        yield Timeout(env, wait)


def _delay_until(now: float, time: float) -> float:
    """The delay that SimPy, adding it to ``now``, turns into exactly ``time`` (>= now)."""
    delay = time - now
    while now + delay < time:
        delay = np.nextafter(delay, math.inf)
    while now + delay > time:
        delay = np.nextafter(delay, -math.inf)
    return float(delay)


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


def _parameter_arrays(
    params: ModelParameters, seed: int, threshold: float, network: CompiledNetwork
) -> tuple[np.ndarray, np.ndarray]:
    """The parameters as the two arrays ``_update`` reads: ``codes`` and ``values``
    (``constants.pack``'s, the send threshold appended to the values)."""
    codes, values = pack(model_constants(params, seed, network))
    return codes, np.append(values, threshold)


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
        check_integer("seed", seed, 0)
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
        needed = 2 if fastest <= 0 else min(2 + math.ceil(longest / fastest), 64)
        capacity = 1 << (needed - 1).bit_length()  # a power of two
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
        self._codes, self._values = _parameter_arrays(params, seed, self.send_threshold, network)
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
        _receive_all(0.0, neuron_counts, clocks, synapses, links, channels)

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
        return self._columns(F_DZ, 1)[0]

    @property
    def dz_mean(self) -> np.ndarray:
        return self._columns(F_DZ_MEAN, 1)[0]

    @property
    def fake_target(self) -> np.ndarray:
        """Which neurons had a fake target at their last update, (1, neuron)."""
        return self._neuron_counts[None, :, I_FAKE_ACTIVE].astype(np.bool_)

    @property
    def target(self) -> np.ndarray:
        return self._columns(F_TARGET, 1)[0]

    @property
    def clamp(self) -> np.ndarray:
        return self._columns(F_CLAMP, 1)[0]

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

    @property
    def logs_events(self) -> bool:
        """Whether the simulator logs events (its ``events`` option)."""
        return self._event_log is not None

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
        _refresh_rates(self._codes, self._values, self._neuron_values, self._neuron_counts)

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
        self._codes, self._values = _parameter_arrays(
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

        Raises DivergenceError when a neuron's state stops being finite; the run ends at that
        instant and the simulator cannot continue.
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
        _receive_all(self.env.now, neuron_counts, clocks, synapses, links, channels)
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
        """The error of neuron ``i``, whose state is not finite."""
        values = self.state[:, 0, i]
        value = float(values[~np.isfinite(values)][0])
        return DivergenceError(int(self.update_count[i]), self.network.node_ids[i], value, None)


def _make(
    settings: Mapping[str, Any] | None,
    network: CompiledNetwork,
    params: ModelParameters,
    seed: int,
    steps: int,
    initial_state_scale: float,
) -> EventSimulator:
    """The event-driven simulator of a scenario run of ``steps`` steps, with the ``[event]``
    clocks, delays and threshold, after checking that the run fits the backend."""
    options = event_options(settings, network)
    check_run_size(network, options["period"], steps)
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
)
