"""The order of one grid step of spiking neurons, written once for both backends.

Time unit: grid steps of ``dt`` ms; a neuron's state ``v, g`` is its value at grid time ``t``.
One step from ``t`` to ``t + 1``:

1. deliver: every spike whose arrival step is ``t`` adds its synapse's weight to the
   postsynaptic ``g``, then the synapse's rule sees the presynaptic spike;
2. postsynaptic plasticity: a neuron that spiked at grid time ``t`` updates its incoming
   synapses (after step 1, so that a coincident pair counts as post-after-pre);
3. integrate: ``v, g`` advance exactly to ``t + 1`` (``kernels/neurons/lif.py``) and the
   threshold is checked there; a spike is stamped ``t + 1``;
4. record the membrane potential every ``record_every`` steps.

``advance`` runs this over the steps ``[start, stop)`` for a set of neurons, given every
arrival in that range: the sync backend passes all neurons and the arrivals of a window no
longer than the shortest delay between neurons, the event backend one neuron and its own
inbox. The same compiled loop on the same numbers gives both backends identical results.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurosim.kernels import bcm, superspike
from neurosim.kernels.neurons.lif import lif_step, membrane_derivative
from neurosim.kernels.spike_rules import (
    RULE_ADDITIVE_STDP,
    RULE_BCM,
    RULE_NEAREST_STDP,
    RULE_RATE_SPIKE,
    RULE_SUPERSPIKE,
    additive_on_spike,
    advance_traces,
    nearest_settle,
    nearest_wait,
    rate_spike_on_pre,
)

# parameter vector layout (one float64 array, so the kernel's signature stays short)
(
    V_REST,
    V_RESET,
    V_THRESHOLD,
    MEMBRANE_DECAY,
    SYNAPSE_DECAY,
    SYNAPSE_TO_MEMBRANE,
    INPUT_SCALE,
    TAU_MEMBRANE,
    DT,
    A_PLUS,
    A_MINUS,
    TAU_PLUS,
    TAU_MINUS,
    ALPHA,
    W_MIN,
    W_MAX,
    DIVERGENCE_BOUND,
    BETA,
    RISE_RATE,
    DECAY_RATE,
    RISE_DECAY,
    ETA,
    EPSILON,
    RMS_DECAY,
    UPDATE_EVERY,
    TARGET_PERIOD,
    RATE_DECAY,
    RATE_JUMP,
    KAPPA,
    THETA_DECAY,
) = range(30)
N_PARAMETERS = 30


@njit(cache=True)
def advance(
    start: int,
    stop: int,
    neuron_ids: np.ndarray,
    arrival_step: np.ndarray,
    arrival_synapse: np.ndarray,
    v: np.ndarray,
    g: np.ndarray,
    refractory_left: np.ndarray,
    spiked: np.ndarray,
    slope: np.ndarray,
    synapse_post: np.ndarray,
    w: np.ndarray,
    pre_trace: np.ndarray,
    post_trace: np.ndarray,
    trace_step: np.ndarray,
    pending_step: np.ndarray,
    pending_left: np.ndarray,
    pending_head: np.ndarray,
    pending_count: np.ndarray,
    last_post_spike: np.ndarray,
    incoming_ptr: np.ndarray,
    incoming_synapse: np.ndarray,
    synapse_state: np.ndarray,
    neuron_state: np.ndarray,
    target_row: np.ndarray,
    target_counts: np.ndarray,
    feedback_step: np.ndarray,
    feedback_post: np.ndarray,
    feedback_value: np.ndarray,
    feedback_ptr: np.ndarray,
    feedback_edge_delay: np.ndarray,
    feedback_edge_weight: np.ndarray,
    feedback_edge_forward: np.ndarray,
    parameters: np.ndarray,
    refractory_steps: int,
    window: int,
    rule: int,
    record_slot: np.ndarray,
    record_every: int,
    record_row0: int,
    out_v: np.ndarray,
    out_spike_step: np.ndarray,
    out_spike_neuron: np.ndarray,
    out_feedback_step: np.ndarray,
    out_feedback_edge: np.ndarray,
    out_feedback_value: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Steps ``[start, stop)`` of the neurons ``neuron_ids``; ``arrival_*`` sorted by step
    (then synapse), all in the range. Writes spikes (step stamped, neuron) to ``out_spike_*``
    and recorded potentials to ``out_v[(t + 1) // record_every - record_row0, slot]``.
    ``pending_*``, ``last_post_spike`` and ``window``: the nearest-neighbour rule's queues
    (``kernels/spike_rules.py``); ``synapse_state``, ``neuron_state`` and the targets (neuron
    ``i``'s target spikes at step ``s`` are ``target_counts[target_row[i], s % period]``, no
    targets where ``target_row[i] < 0``): SuperSpike's (``kernels/superspike.py``).
    ``feedback_step/post/value``: SuperSpike's error messages arriving in the range (sorted by
    step); ``feedback_ptr`` groups the feedback edges by sending neuron (edges numbered in that
    order). A neuron with targets whose own error at a step is not zero sends ``error *
    weight`` along each of its feedback edges, ``weight`` the edge's own or, where
    ``feedback_edge_forward >= 0``, the current weight of that forward synapse (symmetric
    feedback), written to ``out_feedback_*`` (arrival step, edge, value).

    Returns ``(spikes written, bad step, bad neuron, full synapse, feedback messages
    written)``: bad step and neuron are
    -1 unless a potential stopped being finite or left ``parameters[DIVERGENCE_BOUND]``, full
    synapse -1 unless a synapse's queue of the nearest-neighbour rule overflowed; the loop
    stops at either.
    """
    p = parameters
    dt = p[DT]
    tau_plus_steps, tau_minus_steps = p[TAU_PLUS] / dt, p[TAU_MINUS] / dt
    update_every, target_period = int(p[UPDATE_EVERY]), int(p[TARGET_PERIOD])
    cursor = 0
    n_arrivals = arrival_step.shape[0]
    written = 0
    feedback_cursor = 0
    feedback_written = 0
    for t in range(start, stop):
        while feedback_cursor < feedback_step.shape[0] and feedback_step[feedback_cursor] == t:
            receiver = feedback_post[feedback_cursor]
            neuron_state[receiver, superspike.FEEDBACK] += feedback_value[feedback_cursor]
            feedback_cursor += 1
        while cursor < n_arrivals and arrival_step[cursor] == t:
            e = arrival_synapse[cursor]
            i = synapse_post[e]
            if rule == RULE_NEAREST_STDP:
                nearest_settle(
                    e, t, False, w, pending_step, pending_left, pending_head, pending_count,
                    window, p[A_PLUS], p[A_MINUS], tau_plus_steps, tau_minus_steps,
                    p[W_MIN], p[W_MAX],
                )  # fmt: skip
            g[i] += w[e]
            if rule == RULE_ADDITIVE_STDP:
                pre_trace[e], post_trace[e] = advance_traces(
                    pre_trace[e], post_trace[e], (t - trace_step[e]) * dt, p[TAU_PLUS], p[TAU_MINUS]
                )
                trace_step[e] = t
                w[e], pre_trace[e] = additive_on_spike(
                    w[e], pre_trace[e], post_trace[e], p[A_PLUS], p[W_MIN], p[W_MAX]
                )
            elif rule == RULE_RATE_SPIKE:
                w[e] = rate_spike_on_pre(w[e], slope[i], p[ALPHA], p[W_MIN], p[W_MAX])
            elif rule == RULE_SUPERSPIKE:
                superspike.on_arrival(synapse_state, e)
            elif rule == RULE_BCM:
                synapse_state[e, bcm.PRE_RATE] += p[RATE_JUMP]
            elif rule == RULE_NEAREST_STDP:
                queued = nearest_wait(
                    e, t, last_post_spike[i], pending_step, pending_left, pending_head,
                    pending_count, window,
                )  # fmt: skip
                if not queued:
                    return written, -1, -1, e, feedback_written
            cursor += 1
        for k in range(neuron_ids.shape[0]):
            i = neuron_ids[k]
            if spiked[i]:
                spiked[i] = False
                if rule == RULE_ADDITIVE_STDP:
                    for position in range(incoming_ptr[i], incoming_ptr[i + 1]):
                        e = incoming_synapse[position]
                        pre_trace[e], post_trace[e] = advance_traces(
                            pre_trace[e],
                            post_trace[e],
                            (t - trace_step[e]) * dt,
                            p[TAU_PLUS],
                            p[TAU_MINUS],
                        )
                        trace_step[e] = t
                        w[e], post_trace[e] = additive_on_spike(
                            w[e], post_trace[e], pre_trace[e], p[A_MINUS], p[W_MIN], p[W_MAX]
                        )
                elif rule == RULE_NEAREST_STDP:
                    for position in range(incoming_ptr[i], incoming_ptr[i + 1]):
                        nearest_settle(
                            incoming_synapse[position], t, True, w, pending_step, pending_left,
                            pending_head, pending_count, window, p[A_PLUS], p[A_MINUS],
                            tau_plus_steps, tau_minus_steps, p[W_MIN], p[W_MAX],
                        )  # fmt: skip
            v[i], g[i], refractory_left[i], fired = lif_step(
                v[i],
                g[i],
                refractory_left[i],
                p[V_REST],
                p[V_RESET],
                p[V_THRESHOLD],
                p[MEMBRANE_DECAY],
                p[SYNAPSE_DECAY],
                p[SYNAPSE_TO_MEMBRANE],
                refractory_steps,
            )
            if not math.isfinite(v[i]) or abs(v[i]) > p[DIVERGENCE_BOUND]:
                return written, t + 1, i, -1, feedback_written
            slope[i] = membrane_derivative(v[i], g[i], p[V_REST], p[INPUT_SCALE], p[TAU_MEMBRANE])
            if rule == RULE_SUPERSPIKE:
                # a neuron with targets: its targets minus its own spikes, sent on as feedback;
                # one without: the error fed back to it
                error_spikes = neuron_state[i, superspike.FEEDBACK]
                neuron_state[i, superspike.FEEDBACK] = 0.0
                if target_row[i] >= 0:
                    own = target_counts[target_row[i], (t + 1) % target_period]
                    own -= 1.0 if fired else 0.0
                    error_spikes += own
                    if own != 0.0:
                        for f in range(feedback_ptr[i], feedback_ptr[i + 1]):
                            forward = feedback_edge_forward[f]
                            weight = w[forward] if forward >= 0 else feedback_edge_weight[f]
                            out_feedback_step[feedback_written] = t + 1 + feedback_edge_delay[f]
                            out_feedback_edge[feedback_written] = f
                            out_feedback_value[feedback_written] = own * weight
                            feedback_written += 1
                superspike.end_of_step(
                    i, t + 1, v[i], error_spikes, w, synapse_state, neuron_state, incoming_ptr,
                    incoming_synapse, p[V_THRESHOLD], p[BETA], p[RISE_RATE], p[DECAY_RATE],
                    p[RISE_DECAY], p[MEMBRANE_DECAY], p[SYNAPSE_DECAY], p[SYNAPSE_TO_MEMBRANE],
                    p[ETA], p[EPSILON], p[RMS_DECAY], update_every, p[W_MIN], p[W_MAX],
                )  # fmt: skip
            elif rule == RULE_BCM:
                bcm.end_of_step(
                    i, fired, w, synapse_state, neuron_state, incoming_ptr, incoming_synapse,
                    p[RATE_DECAY], p[RATE_JUMP], p[KAPPA], p[THETA_DECAY], p[ETA], dt,
                    p[W_MIN], p[W_MAX],
                )  # fmt: skip
            if fired:
                spiked[i] = True
                last_post_spike[i] = t + 1
                out_spike_step[written] = t + 1
                out_spike_neuron[written] = i
                written += 1
            if record_slot[i] >= 0 and (t + 1) % record_every == 0:
                out_v[(t + 1) // record_every - record_row0, record_slot[i]] = v[i]
    return written, -1, -1, -1, feedback_written


@njit(cache=True)
def settle_decided(
    synapses: np.ndarray,
    now: int,
    w: np.ndarray,
    pending_step: np.ndarray,
    pending_left: np.ndarray,
    pending_head: np.ndarray,
    pending_count: np.ndarray,
    parameters: np.ndarray,
    window: int,
) -> None:
    """Apply the nearest-neighbour changes of ``synapses`` that are decided by step ``now``
    (their window closed with no postsynaptic spike after them), so that a weight snapshot
    at ``now`` holds every change decided by then."""
    p = parameters
    for k in range(synapses.shape[0]):
        nearest_settle(
            synapses[k], now, False, w, pending_step, pending_left, pending_head, pending_count,
            window, p[A_PLUS], p[A_MINUS], p[TAU_PLUS] / p[DT], p[TAU_MINUS] / p[DT],
            p[W_MIN], p[W_MAX],
        )  # fmt: skip


@njit(cache=True)
def fan_out(
    spike_step: np.ndarray,
    spike_source: np.ndarray,
    outgoing_ptr: np.ndarray,
    outgoing_synapse: np.ndarray,
    delay_steps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each spike written once by its source becomes one arrival per outgoing synapse:
    ``(arrival step, synapse)``, with the synapse's own delay."""
    total = 0
    for k in range(spike_source.shape[0]):
        source = spike_source[k]
        total += outgoing_ptr[source + 1] - outgoing_ptr[source]
    arrival_step = np.empty(total, dtype=np.int64)
    arrival_synapse = np.empty(total, dtype=np.int64)
    position = 0
    for k in range(spike_source.shape[0]):
        source = spike_source[k]
        for slot in range(outgoing_ptr[source], outgoing_ptr[source + 1]):
            e = outgoing_synapse[slot]
            arrival_step[position] = spike_step[k] + delay_steps[e]
            arrival_synapse[position] = e
            position += 1
    return arrival_step, arrival_synapse
