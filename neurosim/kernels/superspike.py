"""SuperSpike (Zenke and Ganguli 2018): supervised learning of spike times by a three-factor
rule, one postsynaptic neuron at a time. Time unit: ms; potentials in mV; weights in mV
(they add to the synaptic input ``g`` of ``kernels/neurons/lif.py``).

For a synapse ``j -> i`` the rule is ``dw/dt = eta * e_i(t) * lambda_ij(t)``, where

- the surrogate derivative of the spike with respect to the potential is
  ``sigma'(U) = beta / (1 + |beta (U - theta)|)^2`` (``beta`` in 1/mV, ``theta`` the threshold);
- the eligibility trace ``lambda_ij = alpha * (sigma'(U_i) * (eps * S_j))``: the presynaptic
  spikes filtered by the neuron's own PSP kernel ``eps`` (``psp``: the potential one spike of
  unit weight adds), times the postsynaptic surrogate, filtered by the double exponential
  ``alpha`` (rise ``tau_rise``, decay ``tau_decay``);
- the error ``e_i = alpha * (S_target_i - S_i)``: target spikes minus the neuron's own spikes,
  filtered by the same ``alpha``.

As in the paper's reference implementation (Auryn's ``SuperSpikeConnection``), at the end of
every grid step, after the neuron's potential and spike are known:

1. error: ``r += dt/tau_rise * (err - r)``, ``e += dt/tau_decay * (r - e)`` with ``err`` the
   target spikes at this step minus the neuron's own (a unit-area double exponential, forward
   Euler);
2. for each incoming synapse: ``summed += psp * sigma'(U)`` (a plain sum per step),
   ``eligibility += dt/tau_decay * (summed - eligibility)``, ``summed *= exp(-dt/tau_rise)``
   (the double exponential of the eligibility, as the reference cascades it), then
   ``gradient += eligibility * e``;
3. every ``update_every`` steps, per synapse ("RMaxProp"): ``mean = gradient / update_every``,
   ``rms = max(mean^2, rms_decay * rms)`` with ``rms_decay = exp(-update_every * dt /
   tau_rms)``, ``w = clip(w + eta * mean / (sqrt(rms) + epsilon))``, ``gradient = 0``. Each
   change is at most ``eta``.

The presynaptic trace ``pre`` jumps by one when a spike arrives and decays with the synapse's
time constant; ``psp`` follows the membrane equation driven by ``pre``. The reference
integrates both with forward Euler; here they use the LIF neuron's exact propagators, so
``psp`` is exactly the derivative of the simulated potential with respect to the weight
(the reset aside). The reference reads the PSP trace, the surrogate and the spikes 0.8 ms
late (its shortest spike delay); all of them equally, so leaving the delay out shifts the whole
learning signal by 0.8 ms and changes nothing else.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the per-synapse state, columns of one (n_synapses, SYNAPSE_FIELDS) float64 array
PRE, PSP, SUMMED, ELIGIBILITY, GRADIENT, RMS = range(6)
SYNAPSE_FIELDS = 6
# the per-neuron state: the error's two filter stages, and the error fed back to the neuron
# that arrived at this step (hidden neurons)
ERROR_RISE, ERROR, FEEDBACK = range(3)
NEURON_FIELDS = 3


@njit(cache=True)
def surrogate(v: float, threshold: float, beta: float) -> float:
    """``beta / (1 + |beta (v - threshold)|)^2``: the fast sigmoid's derivative."""
    scaled = 1.0 + abs(beta * (v - threshold))
    return beta / (scaled * scaled)


@njit(cache=True)
def on_arrival(synapse_state: np.ndarray, e: int) -> None:
    """A presynaptic spike reaches synapse ``e``: its trace jumps by one."""
    synapse_state[e, PRE] += 1.0


@njit(cache=True)
def end_of_step(
    i: int,
    step: int,
    v: float,
    error_spikes: float,
    w: np.ndarray,
    synapse_state: np.ndarray,
    neuron_state: np.ndarray,
    incoming_ptr: np.ndarray,
    incoming_synapse: np.ndarray,
    threshold: float,
    beta: float,
    rise_rate: float,
    decay_rate: float,
    rise_decay: float,
    membrane_decay: float,
    synapse_decay: float,
    psp_coupling: float,
    eta: float,
    epsilon: float,
    rms_decay: float,
    update_every: int,
    w_min: float,
    w_max: float,
) -> None:
    """Neuron ``i`` at the end of grid step ``step`` (potential ``v``; ``error_spikes``: its
    target spikes at this step minus its own): steps 1-3 of the module docstring for it and
    its incoming synapses. ``rise_rate = dt / tau_rise``, ``decay_rate = dt / tau_decay``,
    ``rise_decay = exp(-dt / tau_rise)``; ``membrane_decay``, ``synapse_decay`` and
    ``psp_coupling`` (per unit of ``pre``) the LIF propagators."""
    rise = neuron_state[i, ERROR_RISE] + rise_rate * (error_spikes - neuron_state[i, ERROR_RISE])
    error = neuron_state[i, ERROR] + decay_rate * (rise - neuron_state[i, ERROR])
    neuron_state[i, ERROR_RISE] = rise
    neuron_state[i, ERROR] = error
    sigma = surrogate(v, threshold, beta)
    apply = step % update_every == 0
    for position in range(incoming_ptr[i], incoming_ptr[i + 1]):
        e = incoming_synapse[position]
        state = synapse_state[e]
        # the PSP trace over the step just done, then the presynaptic trace's decay
        state[PSP] = state[PSP] * membrane_decay + psp_coupling * state[PRE]
        state[PRE] *= synapse_decay
        state[SUMMED] += state[PSP] * sigma
        state[ELIGIBILITY] += decay_rate * (state[SUMMED] - state[ELIGIBILITY])
        state[SUMMED] *= rise_decay
        state[GRADIENT] += state[ELIGIBILITY] * error
        if apply:
            mean = state[GRADIENT] / update_every
            state[RMS] = max(mean * mean, rms_decay * state[RMS])
            change = eta * mean / (math.sqrt(state[RMS]) + epsilon)
            w[e] = min(max(w[e] + change, w_min), w_max)
            state[GRADIENT] = 0.0
