"""The synchronous backend: all neurons in lock-step, B independent states at once, on Numba.

One step, in the order of MODEL.md (the same for every rule): each neuron's step
(``kernels.step``: fake targets, integration of every copy, ``dz`` and the rule's factors from
the new states), then W and b change by the rule's factors, then the synaptic drive of the
next step is computed from the new rates and the new W.

Every rule changes W by outer products, ``dW = sum_terms mean_b pre (x) post``, so the weight
change and the next drive are one weight pass:

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
from neurosim.backends.constants import ModelConstants, model_constants
from neurosim.checks import check_integer, check_seed
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.activations import rate_into
from neurosim.kernels.step import (
    NeuronArrays,
    integrate,
    learn,
    noisy_rates,
    step_sample,
    update_bias,
    weight_change_bound,
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

# Rank-1 weight changes held back at B = 1 before they are written into W. The drive
# correction costs O(count * N) per step, the write one pass over W per flush.
PENDING_CAPACITY = 16
# What _run_single returns as its bad neuron when a weight may have left the bound.
CHECK_WEIGHTS = -2


class Weights(NamedTuple):
    """The network's synapses (see CompiledNetwork), the B = 1 pending changes and
    ``magnitude_bound``, (1,): an upper bound of max |W| (its value when last measured plus
    every change's ``weight_change_bound`` since; inf: not measured). Weights are measured
    only when it passes ``divergence_bound``, so the divergence test costs no pass over W."""

    block_table: np.ndarray
    dense_weights: np.ndarray
    dense_mask: np.ndarray
    csr_indptr: np.ndarray
    csr_post: np.ndarray
    csr_weight: np.ndarray
    pending_pre: np.ndarray
    pending_post: np.ndarray
    magnitude_bound: np.ndarray


@njit(cache=True)
def _integrate_batch(step, phase, constants, arrays):
    """Phase 1 of the step (``kernels.step.integrate``) for every sample; returns the first
    bad flat index (sample * N + neuron) or -1. Single-threaded: a second thread here would
    compete with the BLAS threads, which keep spinning between products."""
    batch, n = arrays.target.shape
    for b in range(batch):
        bad = integrate(b, step, phase, constants, arrays, 0, n)
        if bad >= 0:
            return b * n + bad
    return -1


@njit(cache=True)
def _learn_batch(step, phase, constants, arrays):
    """Phase 3 of the step (``kernels.step.learn``) for every sample."""
    batch, n = arrays.target.shape
    for b in range(batch):
        learn(b, step, phase, constants, arrays, 0, n)


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
    list could not take another step's changes, or after a step whose changes may have taken
    a weight beyond the bound. Returns (steps done, first bad neuron, CHECK_WEIGHTS or -1,
    pending count); the caller writes the pending changes into W."""
    period = constants.clamp_schedule.size
    n_terms = arrays.pre_factor.shape[0]
    capacity = weights.pending_pre.shape[0]
    for t in range(n_steps):
        if update and count + n_terms > capacity:
            return t, -1, count
        phase = (step + t) % period
        bad = step_sample(0, step + t, phase, constants, arrays, 0, arrays.target.shape[1])
        if bad >= 0:
            return t, bad, count
        learn = update and constants.learn_schedule[phase] != 0.0
        if learn:
            update_bias(arrays.post_factor, arrays.bias)
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
        if learn:
            weights.magnitude_bound[0] += weight_change_bound(arrays.pre_factor, arrays.post_factor)
            if not weights.magnitude_bound[0] <= constants.divergence_bound:
                return t + 1, CHECK_WEIGHTS, count
    return n_steps, -1, count


def _factor_terms(params: ModelParameters) -> int:
    """The outer-product terms of a weight change: the rule's, and smoothing's when it is on."""
    return 2 if params.alpha_smoothing > 0 else 1


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
        check_seed("seed", seed)
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
        n_terms = _factor_terms(params)
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
            threshold=np.zeros((batch_size, n), dtype=dtype),
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
            magnitude_bound=np.full(1, np.inf),
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

    def _make_constants(self) -> ModelConstants:
        return model_constants(self.params, self.seed, self.network)

    def _use_parameters(self, params: ModelParameters) -> None:
        n_terms = _factor_terms(params)
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
        self._weights.magnitude_bound[0] = np.inf  # measured after the next weight change

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
        self._weights.magnitude_bound[0] *= abs(factor)
        if self._drive_valid:
            self._arrays.drive[...] *= factor

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Copies of everything a later ``restore`` needs to continue exactly as this
        simulator would: the per-neuron arrays, the weights and biases, the step count.
        (Between ``run`` calls no weight change is pending.)"""
        saved = {name: np.array(value) for name, value in self._checkpointed().items()}
        saved["step_count"] = np.array(self.step_count, dtype=np.int64)
        saved["drive_valid"] = np.array(self._drive_valid)
        # the running bound on |W| decides when B = 1 writes its held-back changes into W,
        # and so how they are rounded: a restored run must hold the same bound
        saved["magnitude_bound"] = self._weights.magnitude_bound.copy()
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
        # a checkpoint without the bound (an older one) gets the weights measured at once
        self._weights.magnitude_bound[:] = saved.get("magnitude_bound", np.inf)

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
                noisy_rates(
                    self.step_count,
                    self._constants,
                    self.state,
                    self._arrays.drive_rates,
                    0,
                    self.network.n_neurons,
                )
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
                if bad == CHECK_WEIGHTS:
                    self._check_weights(done)
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
                self._constants.hard_sigmoid_threshold,
            )
            _learn_batch(self.step_count, phase, self._constants, self._arrays)
            learn = update and self._constants.learn_schedule[phase] != 0.0
            if learn:
                update_bias(self._arrays.post_factor, self._arrays.bias)
            self._weight_pass(update=learn)
            if learn:
                magnitude = self._weights.magnitude_bound
                magnitude[0] += weight_change_bound(
                    self._arrays.pre_factor, self._arrays.post_factor
                )
                if not magnitude[0] <= self._constants.divergence_bound:
                    self._check_weights(1)
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
        """The weight change and the next drive for B > 1, and the drive-only pass of any B."""
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
        bound = self._constants.divergence_bound
        value = float(values[~(np.abs(values) <= bound)][0])
        raise DivergenceError(
            self.step_count,
            self.network.node_ids[neuron],
            value,
            sample if self.batch_size > 1 else None,
            bound=bound,
        )

    def _check_weights(self, steps_done: int) -> None:
        """Measure the weights after a step whose changes may have taken one beyond the
        bound: raise DivergenceError for the first synapse beyond it (the step named is the
        one that changed it, the steps up to it count as done), else restart the running
        bound from the largest |W|."""
        bound = self._constants.divergence_bound
        weights = self.network.edge_weights()
        beyond = np.flatnonzero(~(np.abs(weights) <= bound))
        if beyond.size == 0:
            self._weights.magnitude_bound[0] = float(np.abs(weights).max(initial=0.0))
            return
        self._drive_valid = False
        self.step_count += steps_done
        edge = int(beyond[0])
        ids = self.network.node_ids
        synapse = (ids[self.network.edge_pre[edge]], ids[self.network.edge_post[edge]])
        raise DivergenceError(
            self.step_count - 1,
            synapse[1],
            float(weights[edge]),
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
