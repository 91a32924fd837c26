"""One update of an event-driven neuron, compiled, and the arrays it reads.

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

Speed. A neuron's update is one compiled call (``update_neuron``) taking a few packed arrays (Numba
spends about 0.1 us per argument on dispatch, ten times more on a NamedTuple of arrays):
``neuron_values`` (per neuron, columns ``F_*``), ``neuron_counts`` (``I_*``), ``clocks``
(``T_*``: the clock, then the channel's message count and send times side by side),
``synapses`` (per incoming synapse: the weight, and the message it delivers when
``edge_weights`` asks), ``links`` (per incoming synapse: presynaptic neuron and delay),
``channels`` and the parameters (``codes``, ``values``: ``backends.constants.pack``'s). The
step reads the neuron's own columns through views (``_own_arrays``). An update reads
each synapse's message in place in the sender's channel, one cache line for its count and
send times and one for its values.

Time unit: one integration step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurosim.backends.constants import model_constants, pack, unpack
from neurosim.kernels.random import uniform
from neurosim.kernels.step import (
    NeuronArrays,
    noisy_rates,
    step_sample,
    update_bias,
    within_bound,
)
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters

# The random stream of the neurons' clock jitter (kernels.random uses 1 and 2).
STREAM_CLOCK = 3

# What update_neuron returns instead of the time to the next update.
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
F_THRESHOLD = 19  # BCM's sliding threshold
N_VALUES = 20
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
def _cell(table, i, column):
    """Neuron ``i``'s value in ``column`` of ``table`` as a (1, 1) view: (sample, neuron)."""
    return table[i : i + 1, column : column + 1]


@njit(cache=True, inline="always")
def _own_arrays(i, copies, neuron_values, neuron_counts):
    """Neuron ``i``'s own values as the step's NeuronArrays (B = 1, one neuron)."""
    f = neuron_values
    return NeuronArrays(
        f[i : i + 1, F_BIAS],
        _cell(f, i, F_TARGET),
        _cell(f, i, F_CLAMP),
        _columns(f, i, F_STATE, copies),
        _columns(f, i, F_VELOCITY, copies),
        _columns(f, i, F_DRIVE, copies),
        _columns(f, i, F_RATE, copies),
        _cell(f, i, F_DZ),
        _cell(f, i, F_DZ_MEAN),
        _cell(neuron_counts, i, I_FAKE_ACTIVE),
        _columns(f, i, F_PRE_RULE, FACTOR_TERMS),
        _columns(f, i, F_POST_RULE, FACTOR_TERMS),
        _cell(f, i, F_PREVIOUS_STATE),
        _cell(f, i, F_PREVIOUS_RATE),
        _cell(f, i, F_THRESHOLD),
    )


@njit(cache=True)
def refresh_rates(codes, values, neuron_values, neuron_counts):
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
def receive_all(now, neuron_counts, clocks, synapses, links, channels):
    """Step 0 for every synapse: the newest message that has arrived by ``now`` becomes what
    it heard (what each neuron would hear if it updated now)."""
    mask = channels.shape[1] - 1
    for e in range(synapses.shape[0]):
        sender = int(links[e, L_SENDER])
        slot = _arrived(sender, links[e, L_DELAY], now, neuron_counts, clocks, mask)
        for v in range(MESSAGE_WIDTH):
            synapses[e, S_HEARD + v] = channels[sender, slot, v]


# Compiled without Numba's reference counting (``_nrt``, an option Numba's own tests use): the
# update allocates nothing, and counting the references to the views of the neuron's own values
# (_own_arrays) cost more than its arithmetic: with it the sparse benchmark drops from 0.47 to
# 0.22 of the raw SimPy rate. Safe to rely on: code that would allocate does not compile, and a
# Numba without the option refuses it on the first call.
@njit(cache=True, _nrt=False)
def update_neuron(
    i, now, codes, values, neuron_values, neuron_counts, clocks, synapses, links, channels
):
    """One update of neuron ``i`` (steps 0-5 of the module docstring).

    Returns the time to its next update, from its own clock; DIVERGED when a weight it
    changed (then before its step) or a state left ``divergence_bound``; CHANNEL_FULL,
    before changing anything, when its message would overwrite one that a synapse may still
    deliver (the caller grows the channels and calls again). The random draws use the
    neuron's own update counter as the step, so in lock-step they equal the synchronous
    backend's.
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
    bound = constants.divergence_bound
    weight_beyond = False
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
            if not within_bound(w, bound):
                weight_beyond = True
        drive_small += channels[sender, slot, M_RATE] * w
        if n_copies == 2:
            drive_large += channels[sender, slot, M_RATE + 1] * w
    neuron_counts[i, I_PENDING] = 0
    f[i, F_DRIVE] = drive_small
    if n_copies == 2:
        f[i, F_DRIVE + 1] = drive_large
    if weight_beyond:
        return DIVERGED
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


def parameter_arrays(
    params: ModelParameters, seed: int, threshold: float, network: CompiledNetwork
) -> tuple[np.ndarray, np.ndarray]:
    """The parameters as the two arrays ``update_neuron`` reads: ``codes`` and ``values``
    (``constants.pack``'s, the send threshold appended to the values)."""
    codes, values = pack(model_constants(params, seed, network))
    return codes, np.append(values, threshold)
