"""One step of one neuron, in the model's order (MODEL.md, "Order within one step"), for both
backends.

The step is three compiled phases over the neurons of one sample, called in this order:

1. ``integrate``: fake targets (each hidden neuron draws from the previous step's ``dz``),
   the state and rate before the step (kept only when the rule needs them), the smoothing
   factors, then every state copy integrates from the current W and b with the neuron model
   (``kernels.neurons``);
2. the new rates ``rho(s)`` of every copy: ``new_rates``, or any element-wise equivalent
   (the synchronous backend's batch uses NumPy's vectorised exponential);
3. ``learn``: ``dz`` (or the change of rate) and the rule's factors from the new states
   (``kernels.rules``), then the rates the next drive uses (with the next step's noise).

``step_sample`` runs the three in order; ``update_bias`` applies the factors to the biases
once the step of every sample is done. The weights change by the same factors, as each
backend arranges its synapses (see ``kernels.rules``).

The phases read ``NeuronArrays`` laid out as (copy, sample, neuron) and (sample, neuron). The
synchronous backend hands its arrays for B samples of all neurons; the event backend hands
views of one neuron's own values (B = 1, one neuron), with ``first`` the neuron's index in the
network: per-neuron constants and the random draws are indexed from it, so a neuron updating
alone draws what it would draw in the whole network. Each loop runs over one sample's neurons
with no neuron-dependent control flow beyond a select, so that the compiler vectorises it.
The phases are inlined into their callers, where the compiler can drop most of the reference
counting on the arrays they read (the event backend calls them once per neuron update).

Time unit: one integration step. Random draws (fake targets, Langevin noise) come from
``kernels.random``, a pure function of (seed, step, neuron).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from neurosim.kernels.activations import rate_derivative_from_rate, rate_scalar
from neurosim.kernels.bcm import threshold_step
from neurosim.kernels.neurons import rate as neuron
from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, draw_key, normal, uniform_at
from neurosim.kernels.rules import rule_factors
from neurosim.kernels.rules.fake_target import fake_target_draw, fake_target_value
from neurosim.kernels.rules.smoothing import smoothing_post


class NeuronArrays(NamedTuple):
    """Per-neuron arrays a step reads and writes; (copy, sample, neuron) or (sample, neuron).

    ``drive`` is each copy's synaptic drive for the next step and ``drive_rates`` the rates
    it was computed from (with that step's noise); ``pre_factor``/``post_factor`` hold this
    step's rank-1 weight changes, one row per term (the rule, then smoothing when on);
    ``threshold`` is each neuron's sliding threshold (BCM's, ``kernels/bcm.py``).
    """

    bias: np.ndarray
    target: np.ndarray
    clamp: np.ndarray
    state: np.ndarray
    velocity: np.ndarray
    drive: np.ndarray
    drive_rates: np.ndarray
    dz: np.ndarray
    dz_mean: np.ndarray
    fake_active: np.ndarray
    pre_factor: np.ndarray
    post_factor: np.ndarray
    previous_state: np.ndarray
    previous_rate: np.ndarray
    threshold: np.ndarray


@njit(cache=True, inline="always")
def within_bound(value, bound):
    """|value| <= bound, false for NaN: the divergence test of every state and weight."""
    return abs(value) <= bound


@njit(cache=True, inline="always")
def _clamping(target, clamp, clamp_factor, fake_active, dz, fake_magnitude):
    """A neuron's target and clamping strength in this step: its fake target with strength 1
    when it drew one, else the data's."""
    if fake_active:
        return fake_target_value(dz, fake_magnitude), 1.0
    return np.float64(target), clamp * clamp_factor


@njit(cache=True, inline="always")
def integrate(b, step, phase, constants, arrays, first, width):
    """Phase 1 for every neuron of sample ``b``: fake targets, the state and rate before the
    step (``previous_state``/``previous_rate``), the smoothing factors and the integration of
    every copy. Returns the first neuron whose state left ``divergence_bound`` (or is not
    finite), or -1.

    ``first`` is the network index of the arrays' neuron 0 and ``width`` the number of
    neurons the random draws are counted over (a sample's). On entry ``drive_rates`` holds
    rho(s + eta) of the current states, the rates the drive was computed from.
    """
    k = constants
    # each array read once from its tuple: every read of a field costs a reference count
    state, velocity, drive, rates = arrays.state, arrays.velocity, arrays.drive, arrays.drive_rates
    bias, target, clamp = arrays.bias, arrays.target[b], arrays.clamp[b]
    dz, dz_mean, fake_active = arrays.dz[b], arrays.dz_mean[b], arrays.fake_active[b]
    copy_beta, activation = k.copy_beta, k.activation
    n_copies, batch, n = state.shape
    scale = k.learn_schedule[phase] / batch
    momentum = k.momentum_schedule[phase]
    momentum_includes_clamp = k.momentum_includes_clamp
    clamp_factor = k.clamp_schedule[phase]
    fake_enabled, fake_magnitude = k.fake_enabled, k.fake_magnitude
    if fake_enabled:
        key = draw_key(k.seed, STREAM_FAKE_TARGET, step)
        hidden = k.hidden
        for i in range(n):
            if hidden[first + i] == 0:
                continue
            new_mean, active, _ = fake_target_draw(
                dz[i],
                dz_mean[i],
                uniform_at(key, b * width + first + i),
                k.fake_k,
                fake_magnitude,
                k.fake_mu,
            )
            dz_mean[i] = new_mean
            fake_active[i] = active
    if k.needs_previous_state:
        previous_state, previous_rate = arrays.previous_state[b], arrays.previous_rate[b]
        if k.noise_sigma > 0.0:
            for i in range(n):
                previous_state[i] = state[0, b, i]
                previous_rate[i] = rate_scalar(state[0, b, i], activation, k.hard_sigmoid_threshold)
        else:
            for i in range(n):
                previous_state[i] = state[0, b, i]
                previous_rate[i] = rates[0, b, i]
    pre_factor, post_factor = arrays.pre_factor, arrays.post_factor
    if k.alpha_smoothing > 0.0:
        # the gradient of 1/2 |F|^2 where this step starts: copy 0, the drive of the old W
        for i in range(n):
            neuron_target, beta = _clamping(
                target[i], clamp[i], clamp_factor, fake_enabled and fake_active[i], dz[i],
                fake_magnitude,
            )  # fmt: skip
            derivative = rate_derivative_from_rate(rates[0, b, i], activation)
            force_value = neuron.force(
                state[0, b, i],
                neuron.pressure(derivative, drive[0, b, i], bias[i]),
                copy_beta[0, first + i] * beta,
                neuron_target,
            )
            pre_factor[1, b, i] = rates[0, b, i]
            post_factor[1, b, i] = scale * smoothing_post(
                force_value, derivative, k.alpha_smoothing
            )
    elif post_factor.shape[0] > 1:  # room for smoothing, which is off: no change
        for i in range(n):
            pre_factor[1, b, i] = 0.0
            post_factor[1, b, i] = 0.0
    for c in range(n_copies):
        copy_state = state[c, b]
        copy_velocity = velocity[c, b]
        copy_drive = drive[c, b]
        copy_rates = rates[c, b]
        copy_eps = k.copy_eps[c]
        for i in range(n):
            neuron_target, beta = _clamping(
                target[i], clamp[i], clamp_factor, fake_enabled and fake_active[i], dz[i],
                fake_magnitude,
            )  # fmt: skip
            new_state, new_velocity, _ = neuron.integrate(
                copy_state[i],
                copy_velocity[i],
                copy_drive[i],
                bias[i],
                neuron_target,
                copy_beta[c, first + i] * beta,
                copy_eps,
                momentum,
                rate_derivative_from_rate(copy_rates[i], activation),
                momentum_includes_clamp,
            )
            copy_state[i] = new_state
            copy_velocity[i] = new_velocity
        bound = k.divergence_bound
        for i in range(n):
            if not within_bound(copy_state[i], bound):
                return i
    return -1


@njit(cache=True, inline="always")
def new_rates(b, constants, arrays):
    """Phase 2 for sample ``b``: ``drive_rates`` <- rho(s) of every copy's new state."""
    state, rates = arrays.state, arrays.drive_rates
    activation, threshold = constants.activation, constants.hard_sigmoid_threshold
    for c in range(state.shape[0]):
        for i in range(state.shape[2]):
            rates[c, b, i] = rate_scalar(state[c, b, i], activation, threshold)


@njit(cache=True, inline="always")
def learn(b, step, phase, constants, arrays, first, width):
    """Phase 3 for sample ``b``: ``dz`` and the rule's factors from the new rates that
    ``drive_rates`` holds on entry; on exit it holds the rates for the next drive (with the
    next step's noise)."""
    k = constants
    state, rates = arrays.state, arrays.drive_rates
    dz, pre_factor, post_factor = arrays.dz[b], arrays.pre_factor, arrays.post_factor
    n_copies, batch, n = state.shape
    scale = k.learn_schedule[phase] / batch
    rule, alpha = k.rule, k.alpha
    rate_small = rates[0, b]
    rate_large = rates[n_copies - 1, b]
    rate_before = arrays.previous_rate[b]
    state_before = arrays.previous_state[b]
    threshold = arrays.threshold[b]
    if k.sliding_threshold:
        for i in range(n):
            threshold[i] = threshold_step(threshold[i], rate_small[i], k.kappa, k.threshold_decay)
    for i in range(n):
        dz_value, pre, post = rule_factors(
            rule,
            rate_small[i],
            rate_large[i],
            rate_before[i],
            state[0, b, i],
            state_before[i],
            alpha,
            threshold[i],
        )
        dz[i] = dz_value
        pre_factor[0, b, i] = pre
        post_factor[0, b, i] = scale * post
    if k.noise_sigma > 0.0:
        for c in range(n_copies):
            for i in range(n):
                noise = k.noise_sigma * normal(
                    k.seed, STREAM_NOISE, step + 1, (c * batch + b) * width + first + i
                )
                rates[c, b, i] = rate_scalar(
                    state[c, b, i] + noise, k.activation, k.hard_sigmoid_threshold
                )


@njit(cache=True, inline="always")
def step_sample(b, step_index, phase, constants, arrays, first, width):
    """Phases 1-3 for sample ``b``; returns the first neuron whose state left the bound (the
    step then stops after phase 1) or -1."""
    bad = integrate(b, step_index, phase, constants, arrays, first, width)
    if bad >= 0:
        return bad
    new_rates(b, constants, arrays)
    learn(b, step_index, phase, constants, arrays, first, width)
    return -1


@njit(cache=True)
def update_bias(post_factor, bias):
    """b_i += sum over rank-1 terms and samples of post_i (the 1/B is in the factor)."""
    n_terms, batch, n = post_factor.shape
    for q in range(n_terms):
        for b in range(batch):
            for i in range(n):
                bias[i] += post_factor[q, b, i]


@njit(cache=True)
def weight_change_bound(pre_factor, post_factor):
    """An upper bound of the largest |dW| of a step: W changes by sum over terms and samples
    of pre (x) post, so no weight moves by more than sum max|pre| * max|post|. O(N) per
    term and sample: a backend adds it up to know when max |W| may have left the bound
    without reading W."""
    n_terms, batch, n = pre_factor.shape
    total = 0.0
    for q in range(n_terms):
        for b in range(batch):
            largest_pre = 0.0
            largest_post = 0.0
            for i in range(n):
                largest_pre = max(largest_pre, abs(pre_factor[q, b, i]))
                largest_post = max(largest_post, abs(post_factor[q, b, i]))
            total += largest_pre * largest_post
    return total


@njit(cache=True)
def noisy_rates(step_index, constants, state, drive_rates, first, width):
    """The rates the drive of ``step_index`` is computed from, rho(s + eta(step_index)), for
    every copy and sample (outside a step: the first drive, after a change from outside)."""
    k = constants
    n_copies, batch, n = state.shape
    for c in range(n_copies):
        for b in range(batch):
            for i in range(n):
                noise = 0.0
                if k.noise_sigma > 0.0:
                    noise = k.noise_sigma * normal(
                        k.seed, STREAM_NOISE, step_index, (c * batch + b) * width + first + i
                    )
                drive_rates[c, b, i] = rate_scalar(
                    state[c, b, i] + noise, k.activation, k.hard_sigmoid_threshold
                )
