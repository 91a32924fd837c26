"""The synchronous backend: all neurons in lock-step, B independent states at once, on Numba.

One step, in the order of MODEL.md (the same for every rule):

1. fake targets: each hidden neuron draws from the previous step's ``dz``;
2. every state copy integrates from the current W and b (``kernels.dynamics.neuron_step``);
3. ``dz`` (or the change of rate) from the new states;
4. W and b change by the rule (``kernels.rules``), using the new states;
5. the synaptic drive of the next step is computed from the new rates and the new W.

Every rule changes W by outer products, ``dW = sum_terms mean_b pre (x) post``, so steps 4
and 5 are one weight pass:

- B = 1: the rank-1 changes of up to ``PENDING_CAPACITY`` steps are kept as factor pairs and
  added to W in one pass when the list is full or the call returns; meanwhile the drive is
  ``rates @ W_stored + sum_k (rates . pre_k) post_k``, exactly the drive of the updated W. The
  weights are then read once per step and written once per ``PENDING_CAPACITY`` steps. Masked
  dense blocks and sparse (CSR) synapses are updated eagerly in the same pass.
- B > 1: BLAS multiplies the dense blocks (outside any Numba-parallel region, so the BLAS
  threads have the cores to themselves) and a compiled loop does the sparse part. A weight
  change is the mean of the batch's outer products.

Time unit: one integration step. Random draws (fake targets, Langevin noise) come from
``kernels.random``, a pure function of (seed, step, neuron), so runs are deterministic for a
seed and independent of how steps are split into calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from numba import njit
from scipy.linalg.blas import get_blas_funcs
from threadpoolctl import ThreadpoolController

from neurosim.backends.base import Backend, Recorder, Simulator, check_saved
from neurosim.checks import check_integer
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.activations import (
    activation_code,
    rate_derivative_from_rate,
    rate_into,
    rate_scalar,
)
from neurosim.kernels.dynamics import force, neuron_step, pressure
from neurosim.kernels.random import (
    STREAM_FAKE_TARGET,
    STREAM_NOISE,
    draw_key,
    normal,
    uniform_at,
)
from neurosim.kernels.rules import (
    RULE_ASTDP,
    RULE_MSTDP,
    RULE_RATE_STDP,
    fake_target_draw,
    rule_factors,
    smoothing_post,
)
from neurosim.model.network import (
    BLOCK_MASKED,
    BLOCK_NO_DIAGONAL,
    KIND,
    POST_START,
    POST_STOP,
    PRE_START,
    PRE_STOP,
    CompiledNetwork,
)
from neurosim.model.parameters import ModelParameters
from neurosim.streams.base import Change, Stream, checked_changes

RULE_CODES = {"astdp": RULE_ASTDP, "mstdp": RULE_MSTDP, "rate_stdp": RULE_RATE_STDP}

# Rank-1 weight changes held back at B = 1 before they are written into W. The drive
# correction costs O(count * N) per step, the write one pass over W per flush.
PENDING_CAPACITY = 16


class Constants(NamedTuple):
    """Everything a step reads but never changes."""

    seed: int
    rule: int
    activation: int
    threshold: float
    copy_eps: np.ndarray
    copy_beta: np.ndarray
    noise_sigma: float
    alpha: float
    alpha_smoothing: float
    learn: bool
    fake_enabled: bool
    fake_k: float
    fake_magnitude: float
    fake_mu: float
    hidden_index: np.ndarray
    clamp_schedule: np.ndarray
    learn_schedule: np.ndarray
    momentum_schedule: np.ndarray


def model_constants(params: ModelParameters, seed: int, network: CompiledNetwork) -> dict[str, Any]:
    """The parameters as the plain values compiled code reads, shared by both backends:
    rule and activation codes, per-copy step sizes, each neuron's clamping strength per copy
    (copies, N), the oscillator's per-phase schedules."""
    fake = params.fake_target
    clamp_schedule, learn_schedule, momentum_schedule = params.phase_schedules()
    return {
        "seed": seed,
        "rule": RULE_CODES[params.rule],
        "activation": activation_code(params.activation),
        "threshold": params.hard_sigmoid_threshold,
        "copy_eps": np.array(params.copy_eps, dtype=np.float64),
        "copy_beta": network.copy_betas(params),
        "noise_sigma": params.noise_sigma,
        "alpha": params.alpha,
        "alpha_smoothing": params.alpha_smoothing,
        "learn": params.alpha > 0 or params.alpha_smoothing > 0,
        "fake_enabled": fake.enabled,
        "fake_k": fake.k,
        "fake_magnitude": fake.magnitude,
        "fake_mu": fake.mu,
        "clamp_schedule": clamp_schedule,
        "learn_schedule": learn_schedule,
        "momentum_schedule": momentum_schedule,
    }


class NeuronArrays(NamedTuple):
    """Per-neuron arrays a step reads and writes; (copy, sample, neuron) or (sample, neuron).

    ``drive`` is each copy's synaptic drive for the next step and ``drive_rates`` the rates
    it was computed from (with that step's noise); ``pre_factor``/``post_factor`` hold this
    step's rank-1 weight changes, one row per term (the rule, then smoothing).
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


class Weights(NamedTuple):
    """The network's synapses (see CompiledNetwork) and the B = 1 pending changes."""

    block_table: np.ndarray
    dense_weights: np.ndarray
    dense_mask: np.ndarray
    csr_indptr: np.ndarray
    csr_post: np.ndarray
    csr_weight: np.ndarray
    pending_pre: np.ndarray
    pending_post: np.ndarray


@njit(cache=True)
def _integrate_sample(b, step, phase, constants, arrays):
    """Steps 1-2 for every neuron of sample ``b``: fake targets, the smoothing factors and
    the integration of every copy. Keeps the state and rate before the step in
    ``previous_state``/``previous_rate``; returns the first neuron whose state is not
    finite, or -1.

    On entry ``drive_rates`` holds rho(s + eta) of the current states, the rates the drive was
    computed from. Each loop runs over one sample's neurons without neuron-dependent control
    flow, so that the compiler vectorises it.
    """
    k = constants
    a = arrays
    n_copies, batch, n = a.state.shape
    scale = k.learn_schedule[phase] / batch
    momentum = k.momentum_schedule[phase]
    neuron_target = a.target[b].astype(np.float64)
    neuron_beta = a.clamp[b] * k.clamp_schedule[phase]
    if k.fake_enabled:
        key = draw_key(k.seed, STREAM_FAKE_TARGET, step)
        for i in k.hidden_index:
            new_mean, active, fake_value = fake_target_draw(
                a.dz[b, i],
                a.dz_mean[b, i],
                uniform_at(key, b * n + i),
                k.fake_k,
                k.fake_magnitude,
                k.fake_mu,
            )
            a.dz_mean[b, i] = new_mean
            a.fake_active[b, i] = active
            if active:
                neuron_target[i] = fake_value
                neuron_beta[i] = 1.0
    a.previous_state[b] = a.state[0, b]
    if k.noise_sigma > 0.0:
        for i in range(n):
            a.previous_rate[b, i] = rate_scalar(a.state[0, b, i], k.activation, k.threshold)
    else:
        a.previous_rate[b] = a.drive_rates[0, b]
    if k.alpha_smoothing > 0.0:
        # the gradient of 1/2 |F|^2 where this step starts: copy 0, the drive of the old W
        for i in range(n):
            derivative = rate_derivative_from_rate(a.drive_rates[0, b, i], k.activation)
            force_value = force(
                a.state[0, b, i],
                pressure(derivative, a.drive[0, b, i], a.bias[i]),
                k.copy_beta[0, i] * neuron_beta[i],
                neuron_target[i],
            )
            a.pre_factor[1, b, i] = a.drive_rates[0, b, i]
            a.post_factor[1, b, i] = scale * smoothing_post(
                force_value, derivative, k.alpha_smoothing
            )
    for c in range(n_copies):
        copy_state = a.state[c, b]
        copy_velocity = a.velocity[c, b]
        copy_drive = a.drive[c, b]
        copy_rates = a.drive_rates[c, b]
        for i in range(n):
            new_state, new_velocity, _ = neuron_step(
                copy_state[i],
                copy_velocity[i],
                copy_drive[i],
                a.bias[i],
                neuron_target[i],
                k.copy_beta[c, i] * neuron_beta[i],
                k.copy_eps[c],
                momentum,
                rate_derivative_from_rate(copy_rates[i], k.activation),
            )
            copy_state[i] = new_state
            copy_velocity[i] = new_velocity
        for i in range(n):
            if not np.isfinite(copy_state[i]):
                return i
    return -1


@njit(cache=True)
def _learn_sample(b, step, phase, constants, arrays):
    """Step 3 and the rule's factors for sample ``b``, from the new rates that ``drive_rates``
    holds on entry; on exit it holds the rates for the next drive (with the next step's
    noise)."""
    k = constants
    a = arrays
    n_copies, batch, n = a.state.shape
    scale = k.learn_schedule[phase] / batch
    rate_small = a.drive_rates[0, b]
    rate_large = a.drive_rates[n_copies - 1, b]
    rate_before = a.previous_rate[b]
    for i in range(n):
        dz, pre, post = rule_factors(
            k.rule,
            rate_small[i],
            rate_large[i],
            rate_before[i],
            a.state[0, b, i],
            a.previous_state[b, i],
            k.alpha,
        )
        a.dz[b, i] = dz
        a.pre_factor[0, b, i] = pre
        a.post_factor[0, b, i] = scale * post
    if k.noise_sigma > 0.0:
        for c in range(n_copies):
            for i in range(n):
                noise = k.noise_sigma * normal(
                    k.seed, STREAM_NOISE, step + 1, (c * batch + b) * n + i
                )
                a.drive_rates[c, b, i] = rate_scalar(
                    a.state[c, b, i] + noise, k.activation, k.threshold
                )


@njit(cache=True)
def _pointwise_single(step, phase, constants, arrays):
    """Steps 1-3 and the rule's factors at B = 1, all in compiled code; returns the first
    bad neuron or -1."""
    bad = _integrate_sample(0, step, phase, constants, arrays)
    if bad >= 0:
        return bad
    for c in range(arrays.state.shape[0]):
        for i in range(arrays.state.shape[2]):
            arrays.drive_rates[c, 0, i] = rate_scalar(
                arrays.state[c, 0, i], constants.activation, constants.threshold
            )
    _learn_sample(0, step, phase, constants, arrays)
    return -1


@njit(cache=True)
def _integrate_batch(step, phase, constants, arrays):
    """``_integrate_sample`` for every sample; returns the first bad flat index
    (sample * N + neuron) or -1. Single-threaded: a second thread here would compete with
    the BLAS threads, which keep spinning between products."""
    batch, n = arrays.target.shape
    for b in range(batch):
        bad = _integrate_sample(b, step, phase, constants, arrays)
        if bad >= 0:
            return b * n + bad
    return -1


@njit(cache=True)
def _learn_batch(step, phase, constants, arrays):
    """``_learn_sample`` for every sample."""
    for b in range(arrays.target.shape[0]):
        _learn_sample(b, step, phase, constants, arrays)


@njit(cache=True)
def _noisy_rates(step, constants, state, drive_rates):
    """Rates the drive of ``step`` is computed from: rho(s + eta(step))."""
    k = constants
    n_copies, batch, n = state.shape
    for c in range(n_copies):
        for b in range(batch):
            for i in range(n):
                noise = 0.0
                if k.noise_sigma > 0.0:
                    noise = k.noise_sigma * normal(
                        k.seed, STREAM_NOISE, step, (c * batch + b) * n + i
                    )
                drive_rates[c, b, i] = rate_scalar(
                    state[c, b, i] + noise, k.activation, k.threshold
                )


@njit(cache=True)
def _bias_update(post_factor, bias):
    """b_i += sum over rank-1 terms and samples of post_i (the 1/B is in the factor)."""
    n_terms, batch, n = post_factor.shape
    for q in range(n_terms):
        for b in range(batch):
            for i in range(n):
                bias[i] += post_factor[q, b, i]


@njit(cache=True)
def _csr_pass(weights, pre_factor, post_factor, drive_rates, drive, update):
    """Sparse synapses: W += sum_b pre (x) post, then drive += rates @ W, one edge at a time."""
    n_terms, batch, n = pre_factor.shape
    n_copies = drive.shape[0]
    indptr = weights.csr_indptr
    for j in range(n):
        for e in range(indptr[j], indptr[j + 1]):
            i = weights.csr_post[e]
            w = weights.csr_weight[e]
            if update:
                for q in range(n_terms):
                    for b in range(batch):
                        w += pre_factor[q, b, j] * post_factor[q, b, i]
                weights.csr_weight[e] = w
            for c in range(n_copies):
                for b in range(batch):
                    drive[c, b, i] += drive_rates[c, b, j] * w


@njit(cache=True, fastmath=True)
def _dot(first, second):
    """Dot product; fastmath lets the compiler reorder the sum so that it vectorises."""
    total = 0.0
    for x in range(first.size):
        total += first[x] * second[x]
    return total


@njit(cache=True)
def _accumulate_rows(rows, drive_rates, drive, pre_start, post_start, post_stop, width):
    """drive[c, post] += rates[c, pre] @ rows for one block (B = 1, one or two copies).

    Four rows at a time, so that each drive element is loaded and stored once per four
    rows instead of once per row: the loop is then limited by reading W, not by stores.
    """
    n_copies = drive.shape[0]
    n_rows = rows.shape[0]
    small = drive[0, 0, post_start:post_stop]
    large = drive[n_copies - 1, 0, post_start:post_stop]
    rates_small = drive_rates[0, 0]
    rates_large = drive_rates[n_copies - 1, 0]
    j = 0
    while j + 4 <= n_rows:
        row0, row1, row2, row3 = rows[j], rows[j + 1], rows[j + 2], rows[j + 3]
        pre = pre_start + j
        s0, s1, s2, s3 = rates_small[pre : pre + 4]
        l0, l1, l2, l3 = rates_large[pre : pre + 4]
        if n_copies == 2:
            for x in range(width):
                w0, w1, w2, w3 = row0[x], row1[x], row2[x], row3[x]
                small[x] += s0 * w0 + s1 * w1 + s2 * w2 + s3 * w3
                large[x] += l0 * w0 + l1 * w1 + l2 * w2 + l3 * w3
        else:
            for x in range(width):
                small[x] += s0 * row0[x] + s1 * row1[x] + s2 * row2[x] + s3 * row3[x]
        j += 4
    while j < n_rows:
        row = rows[j]
        for c in range(n_copies):
            r = drive_rates[c, 0, pre_start + j]
            copy_drive = drive[c, 0, post_start:post_stop]
            for x in range(width):
                copy_drive[x] += r * row[x]
        j += 1


@njit(cache=True)
def _dense_pass_single(weights, pre_factor, post_factor, drive_rates, drive, count, update):
    """B = 1 dense blocks: the drive of every copy from W plus its ``count`` pending changes;
    masked blocks take this step's change eagerly. Loops run over 1-D row slices so that they
    vectorise."""
    n_terms = pre_factor.shape[0]
    n_copies = drive.shape[0]
    table = weights.block_table
    for k in range(table.shape[0]):
        pre_start, pre_stop, post_start, post_stop, offset, kind = table[k]
        width = post_stop - post_start
        block = weights.dense_weights[offset : offset + (pre_stop - pre_start) * width]
        rows = block.reshape((pre_stop - pre_start, width))
        if kind == BLOCK_MASKED:
            if update:
                mask = weights.dense_mask[offset : offset + (pre_stop - pre_start) * width]
                mask_rows = mask.reshape((pre_stop - pre_start, width))
                for j in range(pre_start, pre_stop):
                    row = rows[j - pre_start]
                    row_mask = mask_rows[j - pre_start]
                    for q in range(n_terms):
                        p = pre_factor[q, 0, j]
                        post = post_factor[q, 0, post_start:post_stop]
                        for x in range(width):
                            row[x] += p * post[x] * row_mask[x]
            _accumulate_rows(rows, drive_rates, drive, pre_start, post_start, post_stop, width)
            continue
        _accumulate_rows(rows, drive_rates, drive, pre_start, post_start, post_stop, width)
        # the pending changes: rates . pre_q over the block's inputs, times post_q
        for c in range(n_copies):
            rates = drive_rates[c, 0, pre_start:pre_stop]
            copy_drive = drive[c, 0, post_start:post_stop]
            for q in range(count):
                pre = weights.pending_pre[q, pre_start:pre_stop]
                post = weights.pending_post[q, post_start:post_stop]
                overlap = _dot(rates, pre)
                for x in range(width):
                    copy_drive[x] += overlap * post[x]
                if kind == BLOCK_NO_DIAGONAL:  # no self-synapse to change
                    for x in range(width):
                        copy_drive[x] -= rates[x] * pre[x] * post[x]


@njit(cache=True)
def _run_single(n_steps, step, constants, arrays, weights, update, count):
    """B = 1: up to ``n_steps`` whole steps in compiled code, stopping early when the pending
    list could not take another step's changes. Returns (steps done, first bad neuron or -1,
    pending count); the caller writes the pending changes into W."""
    period = constants.clamp_schedule.size
    n_terms = arrays.pre_factor.shape[0]
    capacity = weights.pending_pre.shape[0]
    for t in range(n_steps):
        if update and count + n_terms > capacity:
            return t, -1, count
        phase = (step + t) % period
        bad = _pointwise_single(step + t, phase, constants, arrays)
        if bad >= 0:
            return t, bad, count
        learn = update and constants.learn_schedule[phase] != 0.0
        if learn:
            _bias_update(arrays.post_factor, arrays.bias)
            for q in range(n_terms):
                weights.pending_pre[count] = arrays.pre_factor[q, 0]
                weights.pending_post[count] = arrays.post_factor[q, 0]
                count += 1
        arrays.drive[:] = 0.0
        _dense_pass_single(
            weights,
            arrays.pre_factor,
            arrays.post_factor,
            arrays.drive_rates,
            arrays.drive,
            count,
            learn,
        )
        _csr_pass(
            weights,
            arrays.pre_factor,
            arrays.post_factor,
            arrays.drive_rates,
            arrays.drive,
            learn,
        )
    return n_steps, -1, count


@cache
def _thread_limiter() -> ThreadpoolController:
    """One controller for the process: finding the BLAS libraries costs a fraction of a ms."""
    return ThreadpoolController()


class SyncSimulator(Simulator):
    """Runs a compiled network with the synchronous Numba backend.

    The simulator learns in place: ``network``'s weight and bias arrays are the ones it
    changes (pass ``network.copy()`` to keep the original). ``batch_size`` independent states
    share the weights; a weight change is the batch mean. ``threads`` caps the BLAS threads
    of the batched path (1 is the robust default on a shared machine: two BLAS threads lose
    most of their speed whenever another process holds a core; None uses every core); B = 1
    always runs on one thread.
    ``initial_state_scale`` sets the initial states, drawn U(-a, a) from ``seed`` and equal
    in every copy.
    """

    def __init__(
        self,
        network: CompiledNetwork,
        params: ModelParameters,
        *,
        batch_size: int = 1,
        seed: int = 0,
        threads: int | None = 1,
        initial_state_scale: float = 0.5,
    ) -> None:
        if not isinstance(network, CompiledNetwork):
            raise ValidationError("network: expected a CompiledNetwork (see compile_graph)")
        if not isinstance(params, ModelParameters):
            raise ValidationError("params: expected ModelParameters")
        check_integer("batch_size", batch_size, 1)
        check_integer("seed", seed, 0)
        if threads is not None:
            check_integer("threads", threads, 1)
        if not np.isfinite(initial_state_scale) or initial_state_scale < 0:
            raise ValidationError(
                f"initial_state_scale = {initial_state_scale!r}: expected a finite number >= 0"
            )
        if network.dtype != np.dtype(params.dtype):
            raise ValidationError(
                f"network dtype {network.dtype} differs from model.dtype = {params.dtype!r}; "
                "compile the graph with the same parameters"
            )
        self.network = network
        self.params = params
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads
        self.step_count = 0
        # the followed stream: its changes, where it started, the next change to apply
        self._changes: Iterator[Change] = iter(())
        self._stream_origin = 0
        self._upcoming: Change | None = None
        dtype = network.dtype
        n = network.n_neurons
        shape = (params.spec.copies, batch_size, n)
        rng = np.random.default_rng(seed)
        initial = rng.uniform(-initial_state_scale, initial_state_scale, size=(batch_size, n))
        n_terms = 2 if params.alpha_smoothing > 0 else 1
        self._arrays = NeuronArrays(
            bias=network.bias,
            target=np.zeros((batch_size, n), dtype=dtype),
            clamp=np.zeros((batch_size, n), dtype=dtype),
            state=np.empty(shape, dtype=dtype),
            velocity=np.zeros(shape, dtype=dtype),
            drive=np.zeros(shape, dtype=dtype),
            drive_rates=np.zeros(shape, dtype=dtype),
            dz=np.zeros((batch_size, n), dtype=dtype),
            dz_mean=np.zeros((batch_size, n), dtype=dtype),
            fake_active=np.zeros((batch_size, n), dtype=np.bool_),
            pre_factor=np.zeros((n_terms, batch_size, n), dtype=dtype),
            post_factor=np.zeros((n_terms, batch_size, n), dtype=dtype),
            previous_state=np.zeros((batch_size, n), dtype=dtype),
            previous_rate=np.zeros((batch_size, n), dtype=dtype),
        )
        self._arrays.state[:] = initial
        pending = (PENDING_CAPACITY if batch_size == 1 else 0, n)
        self._weights = Weights(
            block_table=network.block_table,
            dense_weights=network.dense_weights,
            dense_mask=network.dense_mask,
            csr_indptr=network.csr_indptr,
            csr_post=network.csr_post,
            csr_weight=network.csr_weight,
            pending_pre=np.zeros(pending, dtype=dtype),
            pending_post=np.zeros(pending, dtype=dtype),
        )
        self._constants = self._make_constants()
        self._drive_valid = False
        self._blocks = [network.block(k) for k in range(network.block_table.shape[0])]
        self._masks = [network.block_mask(k) for k in range(network.block_table.shape[0])]
        self._panels = network.panels()
        self._panel_products = [
            np.empty((params.spec.copies * batch_size, panel.shape[1]), dtype=dtype)
            for *_, panel in self._panels
        ]
        self._gemm = get_blas_funcs("gemm", dtype=dtype)

    # The arrays a user reads or sets; writing into state or the weights needs invalidate().
    @property
    def state(self) -> np.ndarray:
        """States, (copy, sample, neuron): copy 0 is the weakly clamped one."""
        return self._arrays.state

    @property
    def velocity(self) -> np.ndarray:
        return self._arrays.velocity

    @property
    def dz(self) -> np.ndarray:
        """aSTDP's ``rho(s^L) - rho(s^S)``, or the step's change of rate for one-copy rules."""
        return self._arrays.dz

    @property
    def dz_mean(self) -> np.ndarray:
        return self._arrays.dz_mean

    @property
    def fake_target(self) -> np.ndarray:
        """Which neurons had a fake target in the last step, (sample, neuron)."""
        return self._arrays.fake_active

    @property
    def target(self) -> np.ndarray:
        return self._arrays.target

    @property
    def clamp(self) -> np.ndarray:
        return self._arrays.clamp

    def _make_constants(self) -> Constants:
        return Constants(
            **model_constants(self.params, self.seed, self.network),
            hidden_index=np.flatnonzero(self.network.hidden),
        )

    def _use_parameters(self, params: ModelParameters) -> None:
        n_terms = 2 if params.alpha_smoothing > 0 else 1
        if n_terms != self._arrays.pre_factor.shape[0]:
            shape = (n_terms, *self._arrays.pre_factor.shape[1:])
            dtype = self._arrays.pre_factor.dtype
            self._arrays = self._arrays._replace(
                pre_factor=np.zeros(shape, dtype=dtype), post_factor=np.zeros(shape, dtype=dtype)
            )
        self.params = params
        self._constants = self._make_constants()
        self._drive_valid = False  # noise and the first drive follow the new parameters

    def invalidate(self) -> None:
        """Call after changing ``state`` or the network's weights from outside."""
        self._drive_valid = False

    _state_changed = invalidate

    def log_events(self, enabled: bool) -> None:
        """The synchronous backend logs no events."""

    def follow(self, stream: Stream) -> None:
        """Take the inputs from ``stream``: its change at step ``s`` is applied when the step
        count reaches ``s`` steps after this call, a ``run`` call ending there."""
        self._changes = checked_changes(stream)
        self._stream_origin = self.step_count
        self._upcoming = next(self._changes, None)
        self._apply_due_changes()

    def _apply_due_changes(self) -> None:
        """``set_input`` of every followed change whose step has come."""
        while (
            self._upcoming is not None
            and self._stream_origin + self._upcoming.step <= self.step_count
        ):
            self.set_input(self._upcoming.target, self._upcoming.clamp)
            self._upcoming = next(self._changes, None)

    def _steps_to_change(self) -> int | None:
        """Steps until the next followed change (None: no change coming)."""
        if self._upcoming is None:
            return None
        return self._stream_origin + self._upcoming.step - self.step_count

    def scale_weights(self, factor: float) -> None:
        """Multiply every weight (not the biases) by ``factor``, e.g. a weight decay between
        presentations. The drive is linear in W, so it is scaled too instead of recomputed."""
        self.network.dense_weights *= factor
        self.network.csr_weight *= factor
        if self._drive_valid:
            self._arrays.drive[...] *= factor

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Copies of everything a later ``restore`` needs to continue exactly as this
        simulator would: the per-neuron arrays, the weights and biases, the step count.
        (Between ``run`` calls no weight change is pending.)"""
        saved = {name: np.array(value) for name, value in self._checkpointed().items()}
        saved["step_count"] = np.array(self.step_count, dtype=np.int64)
        saved["drive_valid"] = np.array(self._drive_valid)
        return saved

    def restore(self, saved: Mapping[str, np.ndarray]) -> None:
        """Continue from ``checkpoint()``'s arrays, taken from a simulator of the same network
        layout, batch size and rule (checked: a mismatch names the array)."""
        targets = self._checkpointed()
        shapes = {name: target.shape for name, target in targets.items()}
        needs = "same network, batch size and rule"
        check_saved(saved, shapes | {"step_count": (), "drive_valid": ()}, needs)
        for name, target in targets.items():
            target[...] = saved[name]
        self.step_count = int(saved["step_count"])
        self._drive_valid = bool(saved["drive_valid"])

    def _checkpointed(self) -> dict[str, np.ndarray]:
        """The arrays a checkpoint holds, by name (the rule's factors are per-step scratch;
        the bias is the network's)."""
        arrays = {
            name: value
            for name, value in self._arrays._asdict().items()
            if name not in ("pre_factor", "post_factor")
        }
        arrays["dense_weights"] = self.network.dense_weights
        arrays["csr_weight"] = self.network.csr_weight
        return arrays

    def run(
        self,
        n_steps: int,
        *,
        record_every: int = 0,
        record: Sequence[str] = ("state", "dz", "fake_target"),
        record_neurons: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``n_steps`` steps; returns the recorded arrays (empty if record_every=0).

        After every step whose count is a multiple of ``record_every`` the arrays named in
        ``record`` are copied:
        ``state``/``rate``/``velocity`` as (time, copy, batch, neuron), the others as
        (time, batch, neuron), plus ``time`` (the step count after each recorded step).
        ``record_neurons`` selects compiled neuron indices.
        """
        check_integer("n_steps", n_steps, 0)
        check_integer("record_every", record_every, 0)
        recorder = Recorder(self, record, record_neurons)
        # B = 1 spends its time in one compiled thread; a second BLAS thread would only
        # spin beside it after each write of the held-back changes
        blas_threads = 1 if self.batch_size == 1 else self.threads
        with _thread_limiter().limit(limits=blas_threads, user_api="blas"):
            if not self._drive_valid:
                _noisy_rates(self.step_count, self._constants, self.state, self._arrays.drive_rates)
                self._weight_pass(update=False)
                self._drive_valid = True
            remaining = n_steps
            while remaining > 0:
                self._apply_due_changes()
                # records fall on multiples of record_every in the global step count, so that
                # a run split into calls records the same steps as one call
                steps = remaining
                if record_every > 0:
                    steps = min(remaining, record_every - self.step_count % record_every)
                to_change = self._steps_to_change()
                if to_change is not None:
                    steps = min(steps, to_change)
                self._advance(steps)
                remaining -= steps
                if record_every > 0 and self.step_count % record_every == 0:
                    recorder.take(self.step_count)
            self._apply_due_changes()
        return recorder.result() if record_every > 0 else {}

    def _advance(self, n_steps: int) -> None:
        update = self._constants.learn
        if self.batch_size == 1:
            done = 0
            while done < n_steps:
                steps, bad, count = _run_single(
                    n_steps - done,
                    self.step_count + done,
                    self._constants,
                    self._arrays,
                    self._weights,
                    update,
                    0,
                )
                done += steps
                # the pending rank-1 changes of those steps, as one product per block
                pending = self._weights
                self._dense_update(
                    pending.pending_pre[:count], pending.pending_post[:count], masked=False
                )
                if bad >= 0:
                    self._fail(done, bad)
            self.step_count += done
            return
        period = self._constants.clamp_schedule.size
        for _ in range(n_steps):
            phase = self.step_count % period
            bad = _integrate_batch(self.step_count, phase, self._constants, self._arrays)
            if bad >= 0:
                self._fail(0, bad)
            # the new rates of all samples at once, by NumPy's vectorised exponential
            rate_into(
                self.state,
                self._arrays.drive_rates,
                self._constants.activation,
                self._constants.threshold,
            )
            _learn_batch(self.step_count, phase, self._constants, self._arrays)
            learn = update and self._constants.learn_schedule[phase] != 0.0
            if learn:
                _bias_update(self._arrays.post_factor, self._arrays.bias)
            self._weight_pass(update=learn)
            self.step_count += 1

    def _dense_update(self, pre: np.ndarray, post: np.ndarray, masked: bool) -> None:
        """W += pre^T @ post on the dense blocks; ``masked`` includes the masked blocks.

        BLAS's gemm accumulates into the block in place (``beta = 1``, on the transposed,
        Fortran-ordered view of the row-major block), which NumPy's matmul cannot do.
        """
        if pre.shape[0] == 0:
            return
        for k, row in enumerate(self.network.block_table):
            if row[KIND] == BLOCK_MASKED and not masked:
                continue
            block = self._blocks[k]
            # block^T += post_block^T @ pre_block
            result = self._gemm(
                1.0,
                post[:, row[POST_START] : row[POST_STOP]],
                pre[:, row[PRE_START] : row[PRE_STOP]],
                beta=1.0,
                c=block.T,
                trans_a=1,
                overwrite_c=1,
            )
            if result.ctypes.data != block.ctypes.data:  # gemm copied instead of accumulating
                block[:] = result.T
            if row[KIND] == BLOCK_MASKED:
                block *= self._masks[k]
            elif row[KIND] == BLOCK_NO_DIAGONAL:
                np.fill_diagonal(block, 0.0)

    def _weight_pass(self, update: bool) -> None:
        """Steps 4 and 5 for B > 1, and the drive-only pass of any B."""
        arrays = self._arrays
        drive = arrays.drive
        drive[:] = 0.0
        if self.batch_size == 1:
            _dense_pass_single(
                self._weights,
                arrays.pre_factor,
                arrays.post_factor,
                arrays.drive_rates,
                drive,
                0,
                update,
            )
        else:
            copies, batch, n = drive.shape
            terms = arrays.pre_factor.shape[0]
            if update:
                self._dense_update(
                    arrays.pre_factor.reshape(terms * batch, n),
                    arrays.post_factor.reshape(terms * batch, n),
                    masked=True,
                )
            rates = arrays.drive_rates.reshape(copies * batch, n)
            drive_flat = drive.reshape(copies * batch, n)
            for (pre_start, pre_stop, post_start, post_stop, panel), product in zip(
                self._panels, self._panel_products, strict=True
            ):
                # product^T = panel^T @ rates^T, written in place on the Fortran-ordered view;
                # the same BLAS as the update, so that one thread pool serves both
                self._gemm(
                    1.0,
                    panel.T,
                    rates[:, pre_start:pre_stop].T,
                    beta=0.0,
                    c=product.T,
                    overwrite_c=1,
                )
                drive_flat[:, post_start:post_stop] += product
        _csr_pass(
            self._weights, arrays.pre_factor, arrays.post_factor, arrays.drive_rates, drive, update
        )

    def _fail(self, steps_done: int, flat_index: int) -> None:
        """Raise DivergenceError for the first bad (sample, neuron) of the failed step.

        The steps before it count as done; the failed step's arrays are left as they were
        when the bad value appeared, for inspection.
        """
        self._drive_valid = False
        self.step_count += steps_done
        sample, neuron = divmod(flat_index, self.network.n_neurons)
        values = self.state[:, sample, neuron]
        value = float(values[~np.isfinite(values)][0])
        raise DivergenceError(
            self.step_count,
            self.network.node_ids[neuron],
            value,
            sample if self.batch_size > 1 else None,
        )


def _make(
    settings: Mapping[str, Any] | None,
    network: CompiledNetwork,
    params: ModelParameters,
    seed: int,
    steps: int,
    initial_state_scale: float,
) -> SyncSimulator:
    """The synchronous simulator of a scenario run (it has no settings of its own)."""
    return SyncSimulator(network, params, seed=seed, initial_state_scale=initial_state_scale)


BACKEND = Backend(
    name="sync",
    description="all neurons in lock-step, B states at once, on Numba and BLAS",
    simulator=SyncSimulator,
    make=_make,
    batched=True,
)
