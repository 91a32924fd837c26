"""The synchronous backend: all neurons in lock-step, B independent states at once, on Numba.

One step, in the order of MODEL.md (the same for every rule):

1. fake targets: each hidden neuron draws from the previous step's ``dz``;
2. every state copy integrates from the current W and b (``kernels.dynamics.neuron_step``);
3. ``dz`` (or the change of rate) from the new states;
4. W and b change by the rule (``kernels.rules``), using the new states;
5. the synaptic drive of the next step is computed from the new rates and the new W.

Steps 4 and 5 are one pass over the weights: with B = 1 a compiled loop visits each
presynaptic neuron's row once per step, adds the rule's outer product and accumulates the
row into every copy's drive; with B > 1 BLAS multiplies the dense blocks (outside any
Numba-parallel region) and a compiled loop does the sparse part. A weight change is the
mean of the batch's outer products.

Time unit: one integration step. Random draws (fake targets, Langevin noise) come from
``kernels.random``, a pure function of (seed, step, neuron), so runs are deterministic for a
seed and independent of how steps are split into calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.activations import (
    activation_code,
    rate,
    rate_derivative_from_rate,
    rate_scalar,
)
from neurosim.kernels.dynamics import force, neuron_step, pressure
from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, normal, uniform
from neurosim.kernels.rules import (
    astdp_post,
    fake_target_draw,
    mstdp_post,
    rate_stdp_post,
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

RULE_ASTDP = 0
RULE_MSTDP = 1
RULE_RATE_STDP = 2
RULE_CODES = {"astdp": RULE_ASTDP, "mstdp": RULE_MSTDP, "rate_stdp": RULE_RATE_STDP}

RECORDABLE = ("state", "rate", "velocity", "dz", "fake_target", "target", "clamp")


@njit(cache=True)
def _pointwise_sample(
    b,
    step,
    seed,
    rule,
    activation,
    threshold,
    copy_eps,
    copy_beta,
    momentum,
    noise_sigma,
    alpha,
    alpha_smoothing,
    fake_enabled,
    fake_k,
    fake_magnitude,
    fake_mu,
    clamp_factor,
    learn_factor,
    hidden,
    bias,
    target,
    clamp,
    state,
    velocity,
    drive,
    drive_rates,
    dz,
    dz_mean,
    fake_active,
    pre_factor,
    post_factor,
):
    """Steps 1-3 and the rule's factors for every neuron of sample ``b``; returns the first
    neuron whose state is not finite, or -1.

    ``drive_rates`` holds rho(s + eta) of the current states on entry (the rates the drive
    was computed from) and those of the new states, with the next step's noise, on exit.
    Each loop runs over one sample's neurons with no branch that depends on the neuron, so
    that the compiler vectorises it.
    """
    n_copies, batch, n = state.shape
    scale = learn_factor / batch
    neuron_target = target[b].astype(np.float64)
    neuron_beta = clamp[b] * clamp_factor
    if fake_enabled:
        for i in range(n):
            new_mean, active, fake_value = fake_target_draw(
                dz[b, i],
                dz_mean[b, i],
                uniform(seed, STREAM_FAKE_TARGET, step, b * n + i),
                fake_k,
                fake_magnitude,
                fake_mu,
            )
            active = active and hidden[i]
            dz_mean[b, i] = new_mean if hidden[i] else dz_mean[b, i]
            fake_active[b, i] = active
            neuron_target[i] = fake_value if active else neuron_target[i]
            neuron_beta[i] = 1.0 if active else neuron_beta[i]
    state_before = state[0, b].astype(np.float64)
    rate_before = drive_rates[0, b].astype(np.float64)
    if noise_sigma > 0.0:
        for i in range(n):
            rate_before[i] = rate_scalar(state_before[i], activation, threshold)
    if alpha_smoothing > 0.0:
        # the smoothing gradient is taken where this step starts: copy 0, old W
        for i in range(n):
            derivative = rate_derivative_from_rate(drive_rates[0, b, i], activation)
            force_value = force(
                state_before[i],
                pressure(derivative, drive[0, b, i], bias[i]),
                copy_beta[0] * neuron_beta[i],
                neuron_target[i],
            )
            pre_factor[1, b, i] = drive_rates[0, b, i]
            post_factor[1, b, i] = scale * smoothing_post(force_value, derivative, alpha_smoothing)
    for c in range(n_copies):
        copy_state = state[c, b]
        copy_velocity = velocity[c, b]
        copy_drive = drive[c, b]
        copy_rates = drive_rates[c, b]
        for i in range(n):
            new_state, new_velocity, _ = neuron_step(
                copy_state[i],
                copy_velocity[i],
                copy_drive[i],
                bias[i],
                neuron_target[i],
                copy_beta[c] * neuron_beta[i],
                copy_eps[c],
                momentum,
                rate_derivative_from_rate(copy_rates[i], activation),
            )
            copy_state[i] = new_state
            copy_velocity[i] = new_velocity
        for i in range(n):
            if not np.isfinite(copy_state[i]):
                return i
        for i in range(n):
            copy_rates[i] = rate_scalar(copy_state[i], activation, threshold)
    rate_small = drive_rates[0, b]
    rate_large = drive_rates[n_copies - 1, b]
    if rule == RULE_ASTDP:
        for i in range(n):
            dz[b, i] = rate_large[i] - rate_small[i]
            pre_factor[0, b, i] = rate_small[i]
            post_factor[0, b, i] = scale * astdp_post(rate_small[i], rate_large[i], alpha)
    elif rule == RULE_MSTDP:
        for i in range(n):
            dz[b, i] = rate_small[i] - rate_before[i]
            pre_factor[0, b, i] = rate_small[i]
            post_factor[0, b, i] = scale * mstdp_post(rate_small[i], rate_before[i], alpha)
    else:
        for i in range(n):
            dz[b, i] = rate_small[i] - rate_before[i]
            pre_factor[0, b, i] = rate_before[i]
            post_factor[0, b, i] = scale * rate_stdp_post(state[0, b, i], state_before[i], alpha)
    if noise_sigma > 0.0:
        for c in range(n_copies):
            for i in range(n):
                noise = noise_sigma * normal(seed, STREAM_NOISE, step + 1, (c * batch + b) * n + i)
                drive_rates[c, b, i] = rate_scalar(state[c, b, i] + noise, activation, threshold)
    return -1


@njit(cache=True)
def _pointwise_batch(
    step,
    seed,
    rule,
    activation,
    threshold,
    copy_eps,
    copy_beta,
    momentum,
    noise_sigma,
    alpha,
    alpha_smoothing,
    fake_enabled,
    fake_k,
    fake_magnitude,
    fake_mu,
    clamp_factor,
    learn_factor,
    hidden,
    bias,
    target,
    clamp,
    state,
    velocity,
    drive,
    drive_rates,
    dz,
    dz_mean,
    fake_active,
    pre_factor,
    post_factor,
):
    """``_pointwise_sample`` for every sample; returns the first bad flat index
    (sample * N + neuron) or -1. Single-threaded: a second thread here would compete with
    the BLAS threads that spin between products."""
    batch, n = target.shape
    bad = np.full(batch, -1, dtype=np.int64)
    for b in range(batch):
        bad[b] = _pointwise_sample(
            b,
            step,
            seed,
            rule,
            activation,
            threshold,
            copy_eps,
            copy_beta,
            momentum,
            noise_sigma,
            alpha,
            alpha_smoothing,
            fake_enabled,
            fake_k,
            fake_magnitude,
            fake_mu,
            clamp_factor,
            learn_factor,
            hidden,
            bias,
            target,
            clamp,
            state,
            velocity,
            drive,
            drive_rates,
            dz,
            dz_mean,
            fake_active,
            pre_factor,
            post_factor,
        )
    for b in range(batch):
        if bad[b] >= 0:
            return b * n + bad[b]
    return -1


@njit(cache=True)
def _noisy_rates(step, seed, activation, threshold, noise_sigma, state, drive_rates):
    """Rates the drive of ``step`` is computed from: rho(s + eta(step))."""
    n_copies, batch, n = state.shape
    for c in range(n_copies):
        for b in range(batch):
            for i in range(n):
                noise = 0.0
                if noise_sigma > 0.0:
                    noise = noise_sigma * normal(seed, STREAM_NOISE, step, (c * batch + b) * n + i)
                drive_rates[c, b, i] = rate_scalar(state[c, b, i] + noise, activation, threshold)


@njit(cache=True)
def _bias_update(post_factor, bias):
    """b_i += sum over rank-1 terms and samples of post_i (the 1/B is in the factor)."""
    n_terms, batch, n = post_factor.shape
    for q in range(n_terms):
        for b in range(batch):
            for i in range(n):
                bias[i] += post_factor[q, b, i]


@njit(cache=True)
def _csr_pass(indptr, post_index, weight, pre_factor, post_factor, drive_rates, drive, update):
    """Sparse synapses: W += sum_b pre (x) post, then drive += rates @ W, one edge at a time."""
    n_terms, batch, n = pre_factor.shape
    n_copies = drive.shape[0]
    for j in range(n):
        for e in range(indptr[j], indptr[j + 1]):
            i = post_index[e]
            w = weight[e]
            if update:
                for q in range(n_terms):
                    for b in range(batch):
                        w += pre_factor[q, b, j] * post_factor[q, b, i]
                weight[e] = w
            for c in range(n_copies):
                for b in range(batch):
                    drive[c, b, i] += drive_rates[c, b, j] * w


@njit(cache=True)
def _dense_pass_single(
    block_table, dense_weights, dense_mask, pre_factor, post_factor, drive_rates, drive, update
):
    """B = 1 dense blocks: one visit of each presynaptic row does the update and the drive.

    Loops run over 1-D row slices so that they vectorise.
    """
    n_terms = pre_factor.shape[0]
    n_copies = drive.shape[0]
    for k in range(block_table.shape[0]):
        pre_start = block_table[k, 0]
        pre_stop = block_table[k, 1]
        post_start = block_table[k, 2]
        post_stop = block_table[k, 3]
        offset = block_table[k, 4]
        kind = block_table[k, 5]
        width = post_stop - post_start
        for j in range(pre_start, pre_stop):
            row_start = offset + (j - pre_start) * width
            row = dense_weights[row_start : row_start + width]
            if update:
                for q in range(n_terms):
                    p = pre_factor[q, 0, j]
                    post = post_factor[q, 0, post_start:post_stop]
                    for x in range(width):
                        row[x] += p * post[x]
                if kind == BLOCK_MASKED:
                    mask = dense_mask[row_start : row_start + width]
                    for x in range(width):
                        row[x] *= mask[x]
                elif kind == BLOCK_NO_DIAGONAL:
                    row[j - post_start] = 0.0
            for c in range(n_copies):
                r = drive_rates[c, 0, j]
                target_drive = drive[c, 0, post_start:post_stop]
                for x in range(width):
                    target_drive[x] += r * row[x]


@njit(cache=True)
def _run_single(
    n_steps,
    step,
    seed,
    rule,
    activation,
    threshold,
    copy_eps,
    copy_beta,
    momentum,
    noise_sigma,
    alpha,
    alpha_smoothing,
    fake_enabled,
    fake_k,
    fake_magnitude,
    fake_mu,
    clamp_schedule,
    learn_schedule,
    hidden,
    bias,
    target,
    clamp,
    state,
    velocity,
    drive,
    drive_rates,
    dz,
    dz_mean,
    fake_active,
    pre_factor,
    post_factor,
    block_table,
    dense_weights,
    dense_mask,
    csr_indptr,
    csr_post,
    csr_weight,
    update,
):
    """B = 1: ``n_steps`` whole steps in compiled code. Returns (steps done, bad neuron)."""
    period = clamp_schedule.size
    for t in range(n_steps):
        phase = (step + t) % period
        bad = _pointwise_sample(
            0,
            step + t,
            seed,
            rule,
            activation,
            threshold,
            copy_eps,
            copy_beta,
            momentum[phase],
            noise_sigma,
            alpha,
            alpha_smoothing,
            fake_enabled,
            fake_k,
            fake_magnitude,
            fake_mu,
            clamp_schedule[phase],
            learn_schedule[phase],
            hidden,
            bias,
            target,
            clamp,
            state,
            velocity,
            drive,
            drive_rates,
            dz,
            dz_mean,
            fake_active,
            pre_factor,
            post_factor,
        )
        if bad >= 0:
            return t, bad
        learn = update and learn_schedule[phase] != 0.0
        if learn:
            _bias_update(post_factor, bias)
        drive[:] = 0.0
        _dense_pass_single(
            block_table,
            dense_weights,
            dense_mask,
            pre_factor,
            post_factor,
            drive_rates,
            drive,
            learn,
        )
        _csr_pass(
            csr_indptr, csr_post, csr_weight, pre_factor, post_factor, drive_rates, drive, learn
        )
    return n_steps, -1


def _as_batch_array(
    name: str, values: np.ndarray | float, batch: int, n: int, dtype: np.dtype
) -> np.ndarray:
    """Broadcast a scalar, (N,) or (B, N) input to a (B, N) array, or say what is wrong."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape == (n,) or array.shape == (batch, n):
        if not np.all(np.isfinite(array)):
            bad = np.argwhere(~np.isfinite(np.broadcast_to(array, (batch, n))))[0]
            raise ValidationError(
                f"{name} has a non-finite value at sample {bad[0]}, neuron {bad[1]}"
            )
        return np.ascontiguousarray(np.broadcast_to(array, (batch, n)), dtype=dtype)
    raise ValidationError(
        f"{name} has shape {array.shape}; allowed: a scalar, ({n},) or ({batch}, {n})"
    )


class SyncSimulator:
    """Runs a compiled network with the synchronous Numba backend.

    The simulator learns in place: ``network``'s weight and bias arrays are the ones it
    changes (pass ``network.copy()`` to keep the original). ``batch_size`` independent states
    share the weights; a weight change is the batch mean. ``threads`` caps the threads of the
    batched path: BLAS products and the per-neuron step, which never run at the same time
    (1 is the robust default on a shared machine; None uses every core).
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(f"batch_size = {batch_size!r}: expected an integer >= 1")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValidationError(f"seed = {seed!r}: expected an integer >= 0")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValidationError(f"threads = {threads!r}: expected None (all cores) or >= 1")
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
        self.threads = min(
            threads or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS
        )
        self.step_count = 0
        dtype = network.dtype
        n = network.n_neurons
        copies = params.spec.copies
        shape = (copies, batch_size, n)
        rng = np.random.default_rng(seed)
        initial = rng.uniform(-initial_state_scale, initial_state_scale, size=(batch_size, n))
        self.state = np.empty(shape, dtype=dtype)
        self.state[:] = initial
        self.velocity = np.zeros(shape, dtype=dtype)
        self.dz = np.zeros((batch_size, n), dtype=dtype)
        self.dz_mean = np.zeros((batch_size, n), dtype=dtype)
        self.fake_target = np.zeros((batch_size, n), dtype=np.bool_)
        self.target = np.zeros((batch_size, n), dtype=dtype)
        self.clamp = np.zeros((batch_size, n), dtype=dtype)
        n_terms = 2 if params.alpha_smoothing > 0 else 1
        self._pre_factor = np.zeros((n_terms, batch_size, n), dtype=dtype)
        self._post_factor = np.zeros((n_terms, batch_size, n), dtype=dtype)
        self._drive = np.zeros(shape, dtype=dtype)
        self._drive_rates = np.zeros(shape, dtype=dtype)
        self._drive_valid = False
        self._hidden = network.hidden.copy()
        self._activation = activation_code(params.activation)
        self._rule = RULE_CODES[params.rule]
        self._copy_eps = np.array(params.copy_eps, dtype=np.float64)
        self._copy_beta = np.array(params.copy_betas, dtype=np.float64)
        self._clamp_schedule, self._learn_schedule, self._momentum_schedule = self._schedules()
        self._blocks = [network.block(k) for k in range(network.block_table.shape[0])]
        self._masks = [network.block_mask(k) for k in range(network.block_table.shape[0])]

    def _schedules(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per phase of the clamp oscillator: clamping factor, learning factor, momentum."""
        params = self.params
        oscillator = params.oscillator
        if oscillator is None:
            return np.ones(1), np.ones(1), np.full(1, params.momentum)
        period = oscillator.clamped_steps + oscillator.free_steps
        clamped = np.array([oscillator.is_clamped(t) for t in range(period)])
        learn = (
            clamped | oscillator.learn_when_free
            if params.spec.gated_by_clamp_phase
            else (np.ones(period, dtype=bool))
        )
        momentum = np.where(clamped, params.momentum, 1.0)
        return clamped.astype(np.float64), learn.astype(np.float64), momentum

    def set_input(self, target: np.ndarray | float, clamp: np.ndarray | float) -> None:
        """Set what the data clamps: ``target`` values and ``clamp`` factors in [0, 1].

        Each is a scalar, an (N,) array for every sample, or a (B, N) array. A neuron's
        clamping strength in copy c is ``clamp * beta_c``; 0 means no target.
        """
        n = self.network.n_neurons
        target_array = _as_batch_array("target", target, self.batch_size, n, self.network.dtype)
        clamp_array = _as_batch_array("clamp", clamp, self.batch_size, n, self.network.dtype)
        if np.any((clamp_array < 0) | (clamp_array > 1)):
            b, i = np.argwhere((clamp_array < 0) | (clamp_array > 1))[0]
            raise ValidationError(
                f"clamp = {clamp_array[b, i]} at sample {b}, neuron {i}: allowed range is [0, 1]"
            )
        self.target[:] = target_array
        self.clamp[:] = clamp_array

    def invalidate(self) -> None:
        """Call after changing ``state`` or the network's weights from outside."""
        self._drive_valid = False

    def _ensure_drive(self) -> None:
        if self._drive_valid:
            return
        _noisy_rates(
            self.step_count,
            self.seed,
            self._activation,
            self.params.hard_sigmoid_threshold,
            self.params.noise_sigma,
            self.state,
            self._drive_rates,
        )
        self._weight_pass(update=False)
        self._drive_valid = True

    def _weight_pass(self, update: bool) -> None:
        """Steps 4 and 5 for B > 1 (and the drive-only pass of any B)."""
        net = self.network
        drive = self._drive
        drive[:] = 0.0
        if self.batch_size == 1:
            _dense_pass_single(
                net.block_table,
                net.dense_weights,
                net.dense_mask,
                self._pre_factor,
                self._post_factor,
                self._drive_rates,
                drive,
                update,
            )
        else:
            copies, batch, n = drive.shape
            rates = self._drive_rates.reshape(copies * batch, n)
            drive_flat = drive.reshape(copies * batch, n)
            terms = self._pre_factor.shape[0]
            pre = self._pre_factor.reshape(terms * batch, n)
            post = self._post_factor.reshape(terms * batch, n)
            for k, row in enumerate(net.block_table):
                block = self._blocks[k]
                pre_range = slice(row[PRE_START], row[PRE_STOP])
                post_range = slice(row[POST_START], row[POST_STOP])
                if update:
                    block += pre[:, pre_range].T @ post[:, post_range]
                    if row[KIND] == BLOCK_MASKED:
                        block *= self._masks[k]
                    elif row[KIND] == BLOCK_NO_DIAGONAL:
                        np.fill_diagonal(block, 0.0)
                drive_flat[:, post_range] += rates[:, pre_range] @ block
        _csr_pass(
            net.csr_indptr,
            net.csr_post,
            net.csr_weight,
            self._pre_factor,
            self._post_factor,
            self._drive_rates,
            drive,
            update,
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

    def run(
        self,
        n_steps: int,
        *,
        record_every: int = 0,
        record: Sequence[str] = ("state", "dz", "fake_target"),
        record_neurons: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``n_steps`` steps; returns the recorded arrays (empty if record_every=0).

        Every ``record_every`` steps the arrays named in ``record`` are copied after the step:
        ``state``/``rate``/``velocity`` as (time, copy, batch, neuron), the others as
        (time, batch, neuron), plus ``time`` (the step count after each recorded step).
        ``record_neurons`` selects compiled neuron indices.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
            raise ValidationError(f"n_steps = {n_steps!r}: expected an integer >= 0")
        if record_every < 0:
            raise ValidationError(f"record_every = {record_every!r}: expected an integer >= 0")
        unknown = [name for name in record if name not in RECORDABLE]
        if unknown:
            raise ValidationError(
                f"record = {unknown!r}: allowed names are {', '.join(RECORDABLE)}"
            )
        neurons = slice(None) if record_neurons is None else np.asarray(record_neurons)
        recorded: dict[str, list[np.ndarray]] = {name: [] for name in record} | {"time": []}
        chunk = record_every if record_every > 0 else n_steps
        numba_threads = numba.get_num_threads()
        numba.set_num_threads(self.threads)
        try:
            with threadpool_limits(limits=self.threads, user_api="blas"):
                self._record_run(n_steps, chunk, record_every, record, neurons, recorded)
        finally:
            numba.set_num_threads(numba_threads)
        if record_every == 0:
            return {}
        return {
            name: np.stack(values) if values else np.empty((0,))
            for name, values in recorded.items()
        }

    def _record_run(
        self,
        n_steps: int,
        chunk: int,
        record_every: int,
        record: Sequence[str],
        neurons: slice | np.ndarray,
        recorded: dict[str, list[np.ndarray]],
    ) -> None:
        """Advance in chunks of ``chunk`` steps, copying the recorded arrays after each."""
        self._ensure_drive()
        remaining = n_steps
        while remaining > 0:
            steps = min(chunk, remaining)
            self._advance(steps)
            remaining -= steps
            if record_every > 0 and steps == chunk:
                recorded["time"].append(np.array(self.step_count))
                for name in record:
                    recorded[name].append(self._snapshot(name)[..., neurons].copy())

    def _snapshot(self, name: str) -> np.ndarray:
        if name == "rate":
            return rate(self.state, self.params.activation, self.params.hard_sigmoid_threshold)
        return {
            "state": self.state,
            "velocity": self.velocity,
            "dz": self.dz,
            "fake_target": self.fake_target,
            "target": self.target,
            "clamp": self.clamp,
        }[name]

    def _advance(self, n_steps: int) -> None:
        params = self.params
        fake = params.fake_target
        update = params.alpha > 0 or params.alpha_smoothing > 0
        net = self.network
        common = (
            self.seed,
            self._rule,
            self._activation,
            params.hard_sigmoid_threshold,
            self._copy_eps,
            self._copy_beta,
        )
        if self.batch_size == 1:
            done, bad = _run_single(
                n_steps,
                self.step_count,
                *common,
                self._momentum_schedule,
                params.noise_sigma,
                params.alpha,
                params.alpha_smoothing,
                fake.enabled,
                fake.k,
                fake.magnitude,
                fake.mu,
                self._clamp_schedule,
                self._learn_schedule,
                self._hidden,
                net.bias,
                self.target,
                self.clamp,
                self.state,
                self.velocity,
                self._drive,
                self._drive_rates,
                self.dz,
                self.dz_mean,
                self.fake_target,
                self._pre_factor,
                self._post_factor,
                net.block_table,
                net.dense_weights,
                net.dense_mask,
                net.csr_indptr,
                net.csr_post,
                net.csr_weight,
                update,
            )
            if bad >= 0:
                self._fail(done, bad)
            self.step_count += done
            return
        period = self._clamp_schedule.size
        for _ in range(n_steps):
            phase = self.step_count % period
            bad = _pointwise_batch(
                self.step_count,
                *common,
                self._momentum_schedule[phase],
                params.noise_sigma,
                params.alpha,
                params.alpha_smoothing,
                fake.enabled,
                fake.k,
                fake.magnitude,
                fake.mu,
                self._clamp_schedule[phase],
                self._learn_schedule[phase],
                self._hidden,
                net.bias,
                self.target,
                self.clamp,
                self.state,
                self.velocity,
                self._drive,
                self._drive_rates,
                self.dz,
                self.dz_mean,
                self.fake_target,
                self._pre_factor,
                self._post_factor,
            )
            if bad >= 0:
                self._fail(0, bad)
            learn = update and self._learn_schedule[phase] != 0.0
            if learn:
                _bias_update(self._post_factor, net.bias)
            self._weight_pass(update=learn)
            self.step_count += 1
