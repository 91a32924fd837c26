"""The event-driven backend: every neuron an asynchronous SimPy agent with local state.

Each neuron is one SimPy process (a generator function, the environment passed explicitly)
that holds only its own state: its state copies, velocities, ``dz`` and its moving average,
its fake-target draw, its incoming weights and bias, and the last message it heard from each
presynaptic neuron. It updates on its own clock (``period`` and ``jitter``, per neuron); after
an update it sends its new rates to its postsynaptic neurons, and a message arrives after
the edge's delay (GraphML ``delay``, or ``default_delay``). There is no global phase signal:
the oscillator, the noise and the fake-target draws all follow the neuron's own update counter.

One update of neuron ``i`` (its ``k``-th), in the order of MODEL.md:

0. plasticity of update ``k - 1``: ``W[j, i] += pre_j * post_i`` for every incoming synapse,
   with ``post_i`` the factor the neuron kept from that update and ``pre_j`` the factor the
   last message from ``j`` carried (the bias changed already at update ``k - 1``);
1. deliver: the drive of each copy, ``sum_j W[j, i] * heard rate_j``;
2. integrate (fake target first), ``kernels.dynamics.neuron_step``;
3. the rule's factors (``kernels.rules``) from the new states, the bias change;
4. send one message with the rates the next drive of its postsynaptic neurons uses (with
   the next update's Langevin noise) and the presynaptic factors of this update's rule.

The presynaptic factor of update ``k`` is only known to the postsynaptic neuron once the
message arrives, so a weight change is applied at the postsynaptic neuron's next update,
just before the drive that first needs it: that is where the synchronous backend needs it
too. ``edge_weights()`` (and the network's weights, written back after every ``run``) include
the change each neuron holds but has not applied yet.

Lock-step mode (period 1, jitter 0, every delay 1, threshold 0) reproduces ``SyncSimulator``
at B = 1: update ``k`` of every neuron happens at time ``k``, its message arrives at
``k + 1``. Within one instant, deliveries come before the stop of a ``run`` call, which comes
before updates: SimPy events are ordered by (time, priority, id), and this backend schedules
deliveries with priority 0, the end of ``run`` with 1 and neuron clocks with 2. A neuron at
time ``k + 1`` has therefore heard every message sent at time ``k``, as the synchronous step
order (integrate from the previous step's rates, learn, next drive from the new rates and
the new W) requires.

Fan-out is vectorised: one SimPy event per sending neuron and distinct delay of its outgoing
synapses (one per update in lock-step), whose callback writes the message into all the
receivers' ``heard`` rows at once through a precomputed index array. Incoming weights are
stored by postsynaptic neuron (CSR by post), so each neuron's weights are one slice.

Time unit: one integration step (a neuron with ``period`` 1 updates once per time unit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import numpy as np
import simpy
from numba import njit
from simpy.events import Event

from neurosim.backends.sync import RULE_CODES, Constants, Recorder, model_constants
from neurosim.checks import check_inputs, check_integer, check_number, describe
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.activations import (
    rate_derivative_from_rate,
    rate_scalar,
)
from neurosim.kernels.dynamics import force, neuron_step, pressure
from neurosim.kernels.random import (
    STREAM_FAKE_TARGET,
    STREAM_NOISE,
    draw_key,
    normal,
    uniform,
    uniform_at,
)
from neurosim.kernels.rules import (
    astdp_post,
    fake_target_draw,
    mstdp_post,
    rate_stdp_post,
    smoothing_post,
)
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters

RULE_ASTDP = RULE_CODES["astdp"]
RULE_MSTDP = RULE_CODES["mstdp"]

# The random stream of the neurons' clock jitter (kernels.random uses 1 and 2).
STREAM_CLOCK = 3

# SimPy orders simultaneous events by priority: deliveries, then the end of run(), then updates.
PRIORITY_DELIVERY = 0
PRIORITY_STOP = 1
PRIORITY_UPDATE = 2


class NeuronStore(NamedTuple):
    """Every neuron's own variables, one column (or row, or slice) per neuron.

    The arrays are shared for speed, but neuron ``i``'s update reads and writes only its own
    entries: ``state[:, 0, i]`` and the other per-neuron entries, its incoming synapses
    ``in_weight[in_indptr[i]:in_indptr[i + 1]]`` and the messages it heard on them (rows of
    ``heard``: the sender's rates per copy, then its rule and smoothing presynaptic factors).
    ``own_rate`` is the rate the neuron last sent (with that update's noise); ``drive`` its
    last drive; ``pending_post`` the postsynaptic factors (rule, smoothing) it has not yet
    applied to its weights, ``pending_learn`` whether it has some; ``message`` what it sends.
    """

    hidden: np.ndarray
    bias: np.ndarray
    target: np.ndarray
    clamp: np.ndarray
    state: np.ndarray
    velocity: np.ndarray
    dz: np.ndarray
    dz_mean: np.ndarray
    fake_active: np.ndarray
    own_rate: np.ndarray
    drive: np.ndarray
    pending_post: np.ndarray
    pending_learn: np.ndarray
    update_count: np.ndarray
    message: np.ndarray
    in_indptr: np.ndarray
    in_weight: np.ndarray
    heard: np.ndarray


@njit(cache=True)
def _sent_rates(i, step, constants, store):
    """The rates neuron ``i`` sends for the drive of its update ``step``: rho(s + eta(step))."""
    k = constants
    n_copies, _, n = store.state.shape
    for c in range(n_copies):
        noise = 0.0
        if k.noise_sigma > 0.0:
            noise = k.noise_sigma * normal(k.seed, STREAM_NOISE, step, c * n + i)
        store.own_rate[c, i] = rate_scalar(store.state[c, 0, i] + noise, k.activation, k.threshold)


@njit(cache=True)
def _update_neuron(i, constants, store):
    """One update of neuron ``i`` (steps 0-3 of the module docstring) and its message.

    Returns True when a state became non-finite. The random draws use the neuron's own update
    counter as the step, so in lock-step they equal the synchronous backend's.
    """
    k = constants
    a = store
    n_copies = a.state.shape[0]
    step = a.update_count[i]
    phase = step % k.clamp_schedule.size
    start = a.in_indptr[i]
    stop = a.in_indptr[i + 1]
    # 0. the previous update's weight change, with the presynaptic factors heard since
    if a.pending_learn[i]:
        post_rule = a.pending_post[i, 0]
        post_smoothing = a.pending_post[i, 1]
        for e in range(start, stop):
            w = a.in_weight[e] + a.heard[e, n_copies] * post_rule
            # by the factor, not alpha_smoothing: set_parameters may have turned smoothing
            # off since the update that holds it
            if post_smoothing != 0.0:
                w += a.heard[e, n_copies + 1] * post_smoothing
            a.in_weight[e] = w
        a.pending_learn[i] = False
    # 1. the drive of each copy from the rates heard
    for c in range(n_copies):
        total = 0.0
        for e in range(start, stop):
            total += a.heard[e, c] * a.in_weight[e]
        a.drive[c, i] = total
    # 2. fake target, then integration
    scale = k.learn_schedule[phase]
    momentum = k.momentum_schedule[phase]
    neuron_target = a.target[0, i]
    neuron_beta = a.clamp[0, i] * k.clamp_schedule[phase]
    if k.fake_enabled and a.hidden[i]:
        key = draw_key(k.seed, STREAM_FAKE_TARGET, step)
        new_mean, active, fake_value = fake_target_draw(
            a.dz[0, i], a.dz_mean[0, i], uniform_at(key, i), k.fake_k, k.fake_magnitude, k.fake_mu
        )
        a.dz_mean[0, i] = new_mean
        a.fake_active[0, i] = active
        if active:
            neuron_target = fake_value
            neuron_beta = 1.0
    previous_state = a.state[0, 0, i]
    sent_small = a.own_rate[0, i]
    if k.noise_sigma > 0.0:
        previous_rate = rate_scalar(previous_state, k.activation, k.threshold)
    else:
        previous_rate = sent_small
    post_smoothing = 0.0
    if k.alpha_smoothing > 0.0:
        derivative = rate_derivative_from_rate(sent_small, k.activation)
        force_value = force(
            previous_state,
            pressure(derivative, a.drive[0, i], a.bias[i]),
            k.copy_beta[0] * neuron_beta,
            neuron_target,
        )
        post_smoothing = scale * smoothing_post(force_value, derivative, k.alpha_smoothing)
    bad = False
    for c in range(n_copies):
        new_state, new_velocity, _ = neuron_step(
            a.state[c, 0, i],
            a.velocity[c, 0, i],
            a.drive[c, i],
            a.bias[i],
            neuron_target,
            k.copy_beta[c] * neuron_beta,
            k.copy_eps[c],
            momentum,
            rate_derivative_from_rate(a.own_rate[c, i], k.activation),
        )
        a.state[c, 0, i] = new_state
        a.velocity[c, 0, i] = new_velocity
        if not np.isfinite(new_state):
            bad = True
    # 3. dz and the rule's factors from the new states
    rate_small = rate_scalar(a.state[0, 0, i], k.activation, k.threshold)
    rate_large = rate_scalar(a.state[n_copies - 1, 0, i], k.activation, k.threshold)
    if k.rule == RULE_ASTDP:
        a.dz[0, i] = rate_large - rate_small
        pre_rule = rate_small
        post_rule = scale * astdp_post(rate_small, rate_large, k.alpha)
    elif k.rule == RULE_MSTDP:
        a.dz[0, i] = rate_small - previous_rate
        pre_rule = rate_small
        post_rule = scale * mstdp_post(rate_small, previous_rate, k.alpha)
    else:
        a.dz[0, i] = rate_small - previous_rate
        pre_rule = previous_rate
        post_rule = scale * rate_stdp_post(a.state[0, 0, i], previous_state, k.alpha)
    if k.learn and scale != 0.0:
        a.bias[i] += post_rule
        if k.alpha_smoothing > 0.0:
            a.bias[i] += post_smoothing
        a.pending_post[i, 0] = post_rule
        a.pending_post[i, 1] = post_smoothing
        a.pending_learn[i] = True
    # 4. the message: rates for the next drive, then this update's presynaptic factors
    a.update_count[i] = step + 1
    _sent_rates(i, step + 1, constants, store)
    for c in range(n_copies):
        a.message[i, c] = a.own_rate[c, i]
    a.message[i, n_copies] = pre_rule
    a.message[i, n_copies + 1] = sent_small
    return bad


class _Scheduled(Event):
    """An event that fires after ``delay`` with a given priority (SimPy's Timeout has a fixed
    one, and this is how Timeout is built); ``callback`` is called with the event when it is
    processed."""

    def __init__(self, env: simpy.Environment, delay: float, priority: int, callback=None):
        super().__init__(env)
        self._ok = True
        self._value = None
        if callback is not None:
            self.callbacks.append(callback)
        env.schedule(self, priority, delay)


def _finish(end: Event, _event: Event) -> None:
    """The end of a ``run`` call (unless a divergence ended it already)."""
    if not end.triggered:
        end.succeed()


def _deliver(heard: np.ndarray, rows: np.ndarray, message: np.ndarray, _event: Event) -> None:
    """Write one message into all its receivers' ``heard`` rows at once."""
    heard[rows] = message


def _neuron_process(env: simpy.Environment, simulator: EventSimulator, i: int):
    """Neuron ``i``: wait for its clock, update, send; until its state stops being finite."""
    yield _Scheduled(env, simulator._first_update[i], PRIORITY_UPDATE)
    while True:
        if _update_neuron(i, simulator._constants, simulator._store):
            simulator._diverged(i)
            return
        simulator._send(i)
        yield _Scheduled(env, simulator._interval(i), PRIORITY_UPDATE)


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


class EventSimulator:
    """Runs a compiled network with the event-driven SimPy backend (one state, B = 1).

    ``period`` and ``jitter`` (scalars or one value per compiled neuron) set each neuron's
    clock: the first update at time 0, then every ``period + jitter * (2 u - 1)`` with ``u``
    a counter-based uniform draw, so ``0 <= jitter <= period``. ``default_delay`` is the delay
    of a synapse whose graph gives none. A neuron sends after an update only when one of the
    values it sends changed by more than ``threshold`` since its last message (0: always).

    Like ``SyncSimulator`` it learns in place: ``network.bias`` is the bias the neurons change
    and the network's synaptic weights are written back at the end of every ``run``.
    ``state`` is (copy, 1, neuron); ``initial_state_scale`` draws it as the synchronous
    backend does, so both start from the same state for a seed.
    """

    def __init__(
        self,
        network: CompiledNetwork,
        params: ModelParameters,
        *,
        seed: int = 0,
        period: float | np.ndarray = 1.0,
        jitter: float | np.ndarray = 0.0,
        default_delay: float = 1.0,
        threshold: float = 0.0,
        initial_state_scale: float = 0.5,
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
        self.period = _per_neuron("period", period, n, 0.0, low_open=True)
        self.jitter = _per_neuron("jitter", jitter, n, 0.0, low_open=False)
        too_large = np.flatnonzero(self.jitter > self.period)
        if too_large.size:
            i = int(too_large[0])
            raise ValidationError(
                f"jitter = {self.jitter[i]:g} is larger than period = {self.period[i]:g} "
                f"(neuron {network.node_ids[i]!r}): allowed range is [0, period]"
            )
        self.default_delay = check_number("default_delay", default_delay, 0.0)
        self.threshold = check_number("threshold", threshold, 0.0)
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

        self.network = network
        self.params = params
        self.seed = seed
        self.env = simpy.Environment()
        dtype = network.dtype
        copies = params.spec.copies
        rng = np.random.default_rng(seed)
        initial = rng.uniform(-initial_state_scale, initial_state_scale, size=(1, n))

        # incoming synapses by postsynaptic neuron; row[e] is canonical edge e's position
        by_post = np.lexsort((network.edge_pre, network.edge_post))
        row = np.empty_like(by_post)
        row[by_post] = np.arange(by_post.size)
        self._row_of_edge = row
        self._by_post = by_post
        self._in_post = network.edge_post[by_post]
        in_indptr = np.concatenate([[0], np.cumsum(np.bincount(self._in_post, minlength=n))])
        width = copies + 2
        self._store = NeuronStore(
            hidden=network.hidden.copy(),
            bias=network.bias,
            target=np.zeros((1, n), dtype=dtype),
            clamp=np.zeros((1, n), dtype=dtype),
            state=np.repeat(initial[None].astype(dtype), copies, axis=0),
            velocity=np.zeros((copies, 1, n), dtype=dtype),
            dz=np.zeros((1, n), dtype=dtype),
            dz_mean=np.zeros((1, n), dtype=dtype),
            fake_active=np.zeros((1, n), dtype=np.bool_),
            own_rate=np.zeros((copies, n), dtype=dtype),
            drive=np.zeros((copies, n), dtype=dtype),
            pending_post=np.zeros((n, 2), dtype=dtype),
            pending_learn=np.zeros(n, dtype=np.bool_),
            update_count=np.zeros(n, dtype=np.int64),
            message=np.zeros((n, width), dtype=dtype),
            in_indptr=in_indptr.astype(np.int64),
            in_weight=network.edge_weights()[by_post],
            heard=np.zeros((by_post.size, width), dtype=dtype),
        )
        self._constants = self._make_constants()
        self.invalidate()
        # what each neuron knows at time 0: the rates its presynaptic neurons start from
        self._store.heard[:, :copies] = self._store.own_rate[:, network.edge_pre[by_post]].T
        self._last_sent = self._store.message.copy()
        self._last_sent[:, :copies] = self._store.own_rate.T

        # fan-out: per sending neuron, one (delay, receiver rows) group per distinct delay
        self._fan_out: list[list[tuple[float, np.ndarray]]] = []
        pre_start = np.searchsorted(network.edge_pre, np.arange(n + 1))
        for j in range(n):
            edges = np.arange(pre_start[j], pre_start[j + 1])
            groups = []
            for delay in np.unique(delays[edges]):
                chosen = edges[delays[edges] == delay]
                groups.append((float(delay), np.sort(row[chosen])))
            self._fan_out.append(groups)

        self._first_update = np.zeros(n)
        self._processes = [self.env.process(_neuron_process(self.env, self, i)) for i in range(n)]
        self.messages_sent = 0
        self._failure: DivergenceError | None = None
        self._end = self.env.event()

    # ----------------------------------------------------------------------------------------
    # the user's view, as SyncSimulator's at B = 1

    @property
    def state(self) -> np.ndarray:
        """States, (copy, 1, neuron): copy 0 is the weakly clamped one."""
        return self._store.state

    @property
    def velocity(self) -> np.ndarray:
        return self._store.velocity

    @property
    def dz(self) -> np.ndarray:
        return self._store.dz

    @property
    def dz_mean(self) -> np.ndarray:
        return self._store.dz_mean

    @property
    def fake_target(self) -> np.ndarray:
        """Which neurons had a fake target at their last update, (1, neuron)."""
        return self._store.fake_active

    @property
    def target(self) -> np.ndarray:
        return self._store.target

    @property
    def clamp(self) -> np.ndarray:
        return self._store.clamp

    @property
    def bias(self) -> np.ndarray:
        return self._store.bias

    @property
    def update_count(self) -> np.ndarray:
        """How many updates each neuron has done."""
        return self._store.update_count

    @property
    def time(self) -> float:
        """The simulation time, in time units."""
        return float(self.env.now)

    @property
    def step_count(self) -> int:
        """Whole time units elapsed (in lock-step: the number of steps done)."""
        return math.floor(self.env.now + 1e-9)

    def set_input(self, target: np.ndarray | float, clamp: np.ndarray | float) -> None:
        """Set what the data clamps (a scalar, an (N,) or a (1, N) array each); neurons read
        their own entry at their next update."""
        self.target[:], self.clamp[:] = check_inputs(
            target, clamp, 1, self.network.n_neurons, self.network.dtype
        )

    def invalidate(self) -> None:
        """Call after changing ``state`` from outside: each neuron recomputes the rates it
        will send next from its own state. Its neighbours learn of it only by messages."""
        for i in range(self.network.n_neurons):
            _sent_rates(i, int(self._store.update_count[i]), self._constants, self._store)

    def set_parameters(self, params: ModelParameters) -> None:
        """Continue with other parameters, as ``SyncSimulator.set_parameters``: the rule, the
        activation and the dtype stay those the run started with.

        Each neuron recomputes the rates it sends next (the noise follows the new
        parameters). When the noise changes, the rates its neighbours heard are refreshed too:
        a parameter change reaches every neuron at once, as the synchronous backend's next
        drive does.
        """
        if not isinstance(params, ModelParameters):
            raise ValidationError("params: expected ModelParameters")
        fixed = ("rule", "activation", "dtype")
        changed = [name for name in fixed if getattr(params, name) != getattr(self.params, name)]
        if changed:
            raise ValidationError(
                f"model.{changed[0]} cannot change during a run (from "
                f"{getattr(self.params, changed[0])!r} to {getattr(params, changed[0])!r})"
            )
        noise_changed = params.noise_sigma != self.params.noise_sigma
        self.params = params
        self._constants = self._make_constants()
        self.invalidate()
        if noise_changed:
            copies = params.spec.copies
            pre = self.network.edge_pre[self._by_post]
            self._store.heard[:, :copies] = self._store.own_rate[:, pre].T
            self._last_sent[:, :copies] = self._store.own_rate.T

    def run(
        self,
        duration: float,
        *,
        record_every: int = 0,
        record: Sequence[str] = ("state", "dz", "fake_target"),
        record_neurons: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance the simulation by ``duration`` time units (messages due at the end are
        delivered; updates due then are not done); returns the recorded arrays (empty if
        ``record_every`` is 0), in ``SyncSimulator.run``'s format at B = 1.

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
        """Advance to time ``end`` (>= now); see ``run``."""
        stop = self.env.event()
        self._end = stop
        _Scheduled(self.env, max(end - self.env.now, 0.0), PRIORITY_STOP, partial(_finish, stop))
        self.env.run(until=stop)
        self.network.set_edge_weights(self.edge_weights())
        if self._failure is not None:
            raise self._failure

    def edge_weights(self) -> np.ndarray:
        """Synaptic weights in canonical edge order, with each neuron's change not yet applied
        (its held postsynaptic factor times the presynaptic factor it last heard)."""
        store = self._store
        copies = self.params.spec.copies
        weights = store.in_weight.copy()
        post = self._in_post
        pending = store.pending_learn[post]
        weights += np.where(pending, store.heard[:, copies] * store.pending_post[post, 0], 0.0)
        smoothing = store.pending_post[post, 1]
        weights += np.where(
            pending & (smoothing != 0.0), store.heard[:, copies + 1] * smoothing, 0.0
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

    def _make_constants(self) -> Constants:
        return Constants(
            **model_constants(self.params, self.seed),
            hidden_index=np.flatnonzero(self.network.hidden),
        )

    def _interval(self, i: int) -> float:
        """Time to neuron ``i``'s next update, from its own clock."""
        if self.jitter[i] == 0.0:
            return float(self.period[i])
        u = uniform(self.seed, STREAM_CLOCK, int(self._store.update_count[i]), i)
        return float(self.period[i] + self.jitter[i] * (2.0 * u - 1.0))

    def _send(self, i: int) -> None:
        """One message from neuron ``i``: one event per distinct delay of its synapses."""
        message = self._store.message[i]
        unchanged = np.max(np.abs(message - self._last_sent[i])) <= self.threshold
        if self.threshold > 0.0 and unchanged:
            return
        message = message.copy()
        self._last_sent[i] = message
        self.messages_sent += 1
        heard = self._store.heard
        for delay, rows in self._fan_out[i]:
            _Scheduled(self.env, delay, PRIORITY_DELIVERY, partial(_deliver, heard, rows, message))

    def _diverged(self, i: int) -> None:
        """Neuron ``i``'s state is not finite: keep the error and end the run now."""
        values = self.state[:, 0, i]
        value = float(values[~np.isfinite(values)][0])
        self._failure = DivergenceError(
            int(self._store.update_count[i]) - 1, self.network.node_ids[i], value, None
        )
        if not self._end.triggered:
            self._end.succeed()
