"""The event-driven SimPy backend (neurosim.backends.event).

- lock-step mode (period 1, jitter 0, every delay 1, threshold 0) reproduces SyncSimulator's
  trajectory (every copy's state, velocity, dz, dz_mean, fake targets, W, b) to 1e-12 of
  each array's scale over 500 steps, for every rule and option of the reference
  (tests/reference.py), on the rivalry network and on a sparse 50-neuron network read from
  GraphML (test_event_reference.py checks both against the reference itself, with delays);
- locality: a perturbation reaches a neuron only through messages, one hop per delay;
- asynchronous clocks, heterogeneous delays and a send threshold run and stay finite;
- bad clocks and delays are rejected, naming the value;
- ``run``'s recording and ``set_parameters`` match SyncSimulator's, and ``neurosim run
  --backend event`` writes the store the synchronous backend writes.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from neurosim import registry
from neurosim.backends.event import EVENT_KINDS, EventSimulator
from neurosim.backends.event_process import _delays_until
from neurosim.backends.event_scenario import (
    EVENT_KEYS,
    EVENT_MAX_CHANNEL_BYTES,
    EVENT_MAX_UPDATES,
    EVENT_UPDATES_PER_SECOND,
    check_channel_memory,
    check_delays,
    check_network_size,
    check_run_size,
    event_options,
)
from neurosim.backends.event_update import STREAM_CLOCK
from neurosim.backends.sync import SyncSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.random import uniform
from neurosim.keys import check_table
from neurosim.model.network import compile_graph
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.topology import read_graphml, recurrent, sparse_random, write_graphml
from neurosim.recording import open_run
from neurosim.streams import Constant, StepInput

try:
    from tests import reference, scenario_files
except ImportError:  # pytest put tests/ itself on sys.path
    import reference
    import scenario_files

CONFIGS = reference.RULE_CONFIGS
RIVALRY = Path(__file__).parents[1] / "scenarios" / "rivalry.toml"

ALPHA = 0.05
SEED = 7
N_STEPS = 500


def make_params(config: str) -> ModelParameters:
    return ModelParameters(**(dict(alpha=ALPHA, dtype="float64") | CONFIGS[config]))


def sparse_graph(tmp_path):
    """A sparse random 50-neuron network, written to GraphML and read back; half the edges
    carry an explicit ``delay = 1`` (the others take the default delay)."""
    graph = sparse_random(10, 5, 35, in_degree=4, visible_density=0.5, seed=2)
    for k, (_, _, data) in enumerate(graph.edges(data=True)):
        if k % 2 == 0:
            data["delay"] = 1.0
    path = tmp_path / "sparse.graphml"
    write_graphml(graph, path)
    return read_graphml(path)


def make_graph(name: str, tmp_path):
    return recurrent(4, 0, 8) if name == "recurrent" else sparse_graph(tmp_path)


def data(network, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random targets in [-1, 1] with clamp 1 on the visible neurons, 0 on hidden ones."""
    rng = np.random.default_rng(seed)
    visible = ~network.hidden
    target = np.where(visible, rng.uniform(-1.0, 1.0, size=network.n_neurons), 0.0)
    return target, visible.astype(np.float64)


# --------------------------------------------------------------------------------------------
# lock-step equivalence with the synchronous backend


@pytest.mark.parametrize("network", ["recurrent", "sparse"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_lock_step_reproduces_sync(config, network, tmp_path):
    params = make_params(config)
    compiled = compile_graph(make_graph(network, tmp_path), params, seed=3)
    if network == "sparse":
        assert compiled.n_neurons == 50
        assert np.sum(~np.isnan(compiled.edge_delay)) > 0  # delays came through the file
    sync = SyncSimulator(compiled.copy(), params, seed=SEED)
    event = EventSimulator(compiled.copy(), params, seed=SEED)
    np.testing.assert_array_equal(event.state, sync.state)
    w0 = compiled.dense_matrix()
    fake_seen = False
    # rho' of the hard sigmoid jumps at its two kinks, so the last bit of a sum can put a
    # state on either side and the runs part for good (seen after 180 steps on the sparse
    # network, 1e-6 by step 500): exact agreement holds for its first 100 steps
    n_steps = 100 if params.activation == "hard_sigmoid" else N_STEPS
    for t in range(n_steps):
        if t % 50 == 0:
            target, clamp = data(compiled, t)
            sync.set_input(target, clamp)
            event.set_input(target, clamp)
        sync.run(1)
        event.run(1)
        assert event.step_count == sync.step_count == t + 1
        checks = {
            "state": (event.state, sync.state),
            "velocity": (event.velocity, sync.velocity),
            "dz": (event.dz, sync.dz),
            "dz_mean": (event.dz_mean, sync.dz_mean),
            "W": (event.network.dense_matrix(), sync.network.dense_matrix()),
            "b": (event.network.bias, sync.network.bias),
        }
        for name, (got, expected) in checks.items():
            reference.assert_close(got, expected, name, f"after step {t}")
        np.testing.assert_array_equal(event.fake_target, sync.fake_target)
        fake_seen |= bool(event.fake_target.any())
    np.testing.assert_array_equal(event.update_count, n_steps)
    # the comparison means something: weights moved, states stayed finite
    assert np.max(np.abs(sync.network.dense_matrix() - w0)) > 1e-2
    assert np.all(np.isfinite(sync.state))
    assert fake_seen == ("fake_target" in CONFIGS[config])


def test_lock_step_sends_one_message_per_neuron_update():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sim = EventSimulator(compiled, params, seed=SEED)
    sim.set_input(*data(compiled, 0))
    sim.run(10)
    np.testing.assert_array_equal(sim.update_count, 10)
    assert sim.messages_sent == 10 * compiled.n_neurons
    assert sim.messages_suppressed == 0
    # every synapse delivers within one period: two messages per channel suffice
    assert sim.channel_capacity == 4


# --------------------------------------------------------------------------------------------
# locality


def distances_from(compiled, source: int) -> np.ndarray:
    """Hops from ``source`` along synapses (breadth first); -1 where unreachable."""
    n = compiled.n_neurons
    distance = np.full(n, -1)
    distance[source] = 0
    queue = deque([source])
    while queue:
        j = queue.popleft()
        for i in compiled.edge_post[compiled.edge_pre == j]:
            if distance[i] < 0:
                distance[i] = distance[j] + 1
                queue.append(int(i))
    return distance


@pytest.mark.parametrize("delay", [1.0, 3.0])
def test_perturbation_travels_only_by_messages(delay, tmp_path):
    params = make_params("astdp")
    compiled = compile_graph(sparse_random(4, 2, 20, in_degree=2, seed=5), params, seed=3)
    source = int(np.flatnonzero(compiled.hidden)[0])
    distance = distances_from(compiled, source)
    far = np.flatnonzero(distance >= 2)
    assert far.size > 0
    x = int(far[0])
    hops = int(distance[x])
    assert not np.any((compiled.edge_pre == source) & (compiled.edge_post == x))

    def make() -> EventSimulator:
        sim = EventSimulator(compiled.copy(), params, seed=SEED, default_delay=delay)
        sim.set_input(*data(compiled, 0))
        return sim

    plain, perturbed = make(), make()
    perturbed.state[:, 0, source] += 0.5
    perturbed.invalidate()
    # the first message from the source leaves at time 0 and needs `delay` per hop; neuron x
    # first hears of it at time hops * delay, so its updates before then are unchanged
    first_affected = round(hops * delay)
    for t in range(first_affected + 1):
        np.testing.assert_array_equal(
            perturbed.state[:, 0, x], plain.state[:, 0, x], err_msg=f"x changed by time {t}"
        )
        # a neuron not yet reached by any message is untouched too
        unreached = (distance < 0) | (distance * delay > t)
        np.testing.assert_array_equal(
            perturbed.state[:, 0, unreached], plain.state[:, 0, unreached]
        )
        plain.run(1)
        perturbed.run(1)
    assert np.all(np.abs(perturbed.state[:, 0, x] - plain.state[:, 0, x]) > 0)


# --------------------------------------------------------------------------------------------
# asynchronous clocks


def test_asynchronous_clocks_and_delays_run():
    params = make_params("astdp_fake_momentum")
    graph = recurrent(4, 0, 8)
    rng = np.random.default_rng(0)
    for _, _, edge in graph.edges(data=True):
        edge["delay"] = float(rng.uniform(0.2, 2.5))
    compiled = compile_graph(graph, params, seed=3)
    period = rng.uniform(0.7, 1.3, size=compiled.n_neurons)
    sim = EventSimulator(compiled, params, seed=SEED, period=period, jitter=0.5 * period)
    sim.set_input(*data(compiled, 0))
    w0 = compiled.dense_matrix().copy()
    sim.run(200)
    assert sim.time == 200.0
    assert np.all(np.isfinite(sim.state))
    expected = 200.0 / period
    assert np.all(np.abs(sim.update_count - expected) < 0.1 * expected + 5)
    assert len(set(sim.update_count.tolist())) > 1  # the clocks really differ
    assert np.max(np.abs(compiled.dense_matrix() - w0)) > 1e-3
    # the same seed gives the same run
    again = EventSimulator(
        compile_graph(graph, params, seed=3), params, seed=SEED, period=period, jitter=0.5 * period
    )
    again.set_input(*data(compiled, 0))
    again.run(200)
    np.testing.assert_array_equal(again.state, sim.state)


def test_at_threshold_0_every_update_sends_even_a_message_that_changes_nothing():
    """No weights, no biases, no input, states at 0: after its first update no neuron's
    message changes at all. At threshold 0 each update still sends one (the lock-step
    contract); at the smallest positive threshold all but the first are suppressed."""
    params = ModelParameters(rule="astdp", alpha=0.0, dtype="float64")
    counts = {}
    for threshold in (0.0, 1e-300):
        compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
        compiled.set_edge_weights(np.zeros(compiled.n_edges))
        compiled.bias[:] = 0.0
        sim = EventSimulator(compiled, params, seed=SEED, send_threshold=threshold)
        sim.set_state(state=0.0, velocity=0.0)
        sim.run(6)
        np.testing.assert_array_equal(sim.update_count, 6)
        counts[threshold] = (sim.messages_sent, sim.messages_suppressed)
    n = 12
    assert counts[0.0] == (6 * n, 0)
    assert counts[1e-300][1] >= 5 * n


def test_threshold_suppresses_small_messages():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    quiet = EventSimulator(compiled, params, seed=SEED, send_threshold=1e-3)
    quiet.set_input(*data(compiled, 0))
    quiet.run(300)
    assert 0 < quiet.messages_sent < 300 * compiled.n_neurons
    assert np.all(np.isfinite(quiet.state))


def update_times(log: dict[str, np.ndarray], n: int) -> list[np.ndarray]:
    """Each neuron's update times, from an event log."""
    updates = log["kind"] == EVENT_KINDS.index("update")
    return [log["time"][updates & (log["neuron"] == i)] for i in range(n)]


def test_jitter_spreads_each_interval_uniformly_around_its_period():
    """Read from the event log: every neuron starts at 0; each interval lies in
    [period - jitter, period + jitter] of that neuron, the offsets fill that range as a uniform
    draw does, and a neuron without jitter keeps its period exactly."""
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    n = compiled.n_neurons
    period = np.linspace(0.8, 1.25, n)
    jitter = 0.4 * period
    jitter[0] = 0.0
    jitter[-1] = 1.0  # exactly one unit of time (period 1.25)
    sim = EventSimulator(
        compiled, params, seed=SEED, period=period, jitter=jitter, events=("update",)
    )
    sim.set_input(*data(compiled, 0))
    sim.run(600)
    offsets = []
    for i, times in enumerate(update_times(sim.take_events(), n)):
        assert times[0] == 0.0
        intervals = np.diff(times)
        assert intervals.size == sim.update_count[i] - 1
        if i == 0:
            np.testing.assert_allclose(intervals, period[0], rtol=0, atol=1e-9)
            continue
        offset = (intervals - period[i]) / jitter[i]  # uniform on [-1, 1]
        # the interval after the neuron's k-th update is its own clock stream's draw k
        draws = [uniform(SEED, STREAM_CLOCK, k, i) for k in range(1, intervals.size + 1)]
        np.testing.assert_allclose(offset, 2.0 * np.array(draws) - 1.0, rtol=0, atol=1e-9)
        assert np.all(np.abs(offset) <= 1.0 + 1e-9), i
        assert offset.min() < -0.8 and offset.max() > 0.8, i
        offsets.append(offset)
    pooled = np.concatenate(offsets)
    # mean 0 and variance 1/3 of a uniform on [-1, 1], within 5 standard errors
    assert abs(pooled.mean()) < 5 * np.sqrt(1 / 3 / pooled.size)
    assert abs(pooled.var() - 1 / 3) < 5 * np.sqrt(4 / 45 / pooled.size)
    assert scipy.stats.kstest(pooled, scipy.stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_each_synapse_delivers_after_its_own_delay():
    """A perturbation of one neuron, read from the event log: neuron x first updates to a
    different state at the shortest path's time from the source, each synapse counting the
    whole updates its own delay spans (a message sent at t over delay d is heard at the
    first update at or after t + d)."""
    params = make_params("astdp")
    graph = sparse_random(4, 2, 20, in_degree=2, seed=5)
    rng = np.random.default_rng(8)
    for _, _, edge in graph.edges(data=True):
        edge["delay"] = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 4.25]))
    compiled = compile_graph(graph, params, seed=3)
    source = int(np.flatnonzero(compiled.hidden)[0])
    lags = {
        (compiled.index_of(pre), compiled.index_of(post)): math.ceil(edge["delay"])
        for pre, post, edge in graph.edges(data=True)
    }
    # Dijkstra over the lags, the source at 0
    arrival = dict.fromkeys(range(compiled.n_neurons), math.inf)
    arrival[source] = 0
    frontier = [(0, source)]
    while frontier:
        time, j = heapq.heappop(frontier)
        if time > arrival[j]:
            continue
        for (pre, post), lag in lags.items():
            if pre == j and time + lag < arrival[post]:
                arrival[post] = time + lag
                heapq.heappush(frontier, (time + lag, post))
    # the delays matter: arrival by hops alone (every delay 1) or by delays rounded down
    # would give other times
    hops = distances_from(compiled, source)
    reached = [i for i in arrival if 0 < arrival[i] < math.inf]
    assert len(reached) >= 10
    assert sum(arrival[i] != hops[i] for i in reached) >= 3

    def logged_states(perturb: bool) -> list[np.ndarray]:
        sim = EventSimulator(compiled.copy(), params, seed=SEED, events=("update",))
        sim.set_input(*data(compiled, 0))
        if perturb:
            sim.state[:, 0, source] += 0.5
            sim.invalidate()
        sim.run(30)
        log = sim.take_events()
        updates = log["kind"] == EVENT_KINDS.index("update")
        return [log["value"][updates & (log["neuron"] == i)] for i in range(compiled.n_neurons)]

    for i, (plain, perturbed) in enumerate(
        zip(logged_states(False), logged_states(True), strict=True)
    ):
        differs = np.flatnonzero(plain != perturbed)
        first = differs[0] if differs.size else math.inf  # updates happen at 0, 1, 2, ...
        assert first == arrival[i], f"neuron {i}: first changed at {first}, expected {arrival[i]}"


def test_send_threshold_suppresses_exactly_the_changes_at_or_below_it():
    """Rate STDP without noise or smoothing sends (rate, previous rate, previous rate), so a
    message's change is max(|r_k - r_m|, |r_{k-1} - r_{m-1}|) against the last one sent, all
    read from the log. With the threshold set to the smallest change of the first 40 updates,
    that update is suppressed and every earlier one is sent; one ulp below, it is sent."""
    params = make_params("rate_stdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    n = compiled.n_neurons

    def messages(threshold: float) -> dict[str, np.ndarray]:
        sim = EventSimulator(
            compiled.copy(), params, seed=SEED, send_threshold=threshold, events=("message",)
        )
        sim.set_input(*data(compiled, 0))
        sim.run(40)
        return sim.take_events()

    everything = messages(0.0)
    assert everything["time"].size == 40 * n
    rates = everything["value"].reshape(40, n)  # one message per neuron per update, in order
    assert np.all(everything["time"].reshape(40, n) == np.arange(40)[:, None])
    order = everything["neuron"].reshape(40, n)
    rates = np.take_along_axis(rates, np.argsort(order, axis=1), axis=1)
    change = np.maximum(np.abs(np.diff(rates[1:], axis=0)), np.abs(np.diff(rates[:-1], axis=0)))
    step, neuron = np.unravel_index(np.argmin(change), change.shape)
    smallest = change[step, neuron]
    assert np.sum(change == smallest) == 1 and smallest > 0.0
    suppressed_at = step + 2  # change[k] compares update k + 2 with update k + 1

    def sent_by(log) -> set[tuple[int, int]]:
        return set(zip(log["time"].astype(int).tolist(), log["neuron"].tolist(), strict=True))

    expected = {(t, i) for t in range(suppressed_at + 1) for i in range(n)}
    at_threshold = sent_by(messages(float(smallest)))
    assert {m for m in at_threshold if m[0] <= suppressed_at} == expected - {
        (suppressed_at, int(neuron))
    }
    below = sent_by(messages(float(np.nextafter(smallest, 0.0))))
    assert {m for m in below if m[0] <= suppressed_at} == expected


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (dict(period=-1.0), "period = -1"),
        (dict(period=0.0), "period = 0"),
        (dict(jitter=-0.5), "jitter = -0.5"),
        (dict(period=1.0, jitter=2.0), "jitter = 2"),
        (dict(default_delay=-0.5), "default_delay = -0.5"),
        (dict(send_threshold=-1.0), "threshold = -1"),
        # one value per neuron: the first bad one is named by its index
        (dict(period=np.r_[np.ones(5), 0.0, -1.0, np.ones(5)]), r"period\[5\] = 0"),
        (dict(jitter=np.r_[np.zeros(9), -0.5, 0.0, 0.0]), r"jitter\[9\] = -0.5"),
        (dict(period=np.ones(3)), r"period has shape \(3,\); allowed: a scalar or \(12,\)"),
        (dict(initial_state_scale=-0.5), "initial_state_scale = -0.5"),
        # of two offsets that are not whole numbers, the first is named
        (dict(oscillator_offset=np.r_[0, 0, 1.5, 0, 2.5, np.zeros(7)]), "oscillator_offset = 1.5"),
        (dict(oscillator_offset=-1), "oscillator_offset = -1"),
    ],
)
def test_bad_clock_or_delay_is_rejected(options, named):
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    with pytest.raises(ValidationError, match=named):
        EventSimulator(compiled, params, **options)


@pytest.mark.parametrize("default_delay", [0.0, 0.5])
def test_a_default_delay_below_one_update_is_taken(default_delay):
    """A synapse without a delay of its own gets ``default_delay``, 0 included: with every
    delay 0 the neurons hear each other within the same instant, unlike with the delay 1."""
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    assert np.all(np.isnan(compiled.edge_delay))
    runs = {}
    for delay in (default_delay, 1.0):
        sim = EventSimulator(compiled, params, seed=SEED, default_delay=delay)
        assert sim.default_delay == delay
        sim.set_input(*data(compiled, 0))
        runs[delay] = sim.run(6, record_every=1, record=("state",))["state"]
    assert not np.array_equal(runs[default_delay], runs[1.0])


def test_a_run_may_last_any_time_from_zero():
    """Durations are in time units, not whole updates: 0 changes nothing, 0.5 advances the
    clock by half a period and does the updates due before it (those at time 0)."""
    params = make_params("astdp")
    simulator = EventSimulator(compile_graph(recurrent(4, 0, 8), params, seed=3), params)
    simulator.set_input(*data(simulator.network, 0))
    before = np.array(simulator.state)
    simulator.run(0.0)
    assert simulator.time == 0.0
    np.testing.assert_array_equal(simulator.state, before)
    simulator.run(0.5)
    assert simulator.time == 0.5 and simulator.step_count == 0  # whole time units
    assert np.all(simulator.update_count == 1)
    assert not np.array_equal(simulator.state, before)


def test_the_seed_is_zero_unless_given():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    default = EventSimulator(compiled, params).state
    np.testing.assert_array_equal(default, EventSimulator(compiled, params, seed=0).state)
    assert not np.array_equal(default, EventSimulator(compiled, params, seed=1).state)


def test_negative_edge_delay_is_rejected():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    # compiled arrays edited after the graph's own checks
    compiled.edge_delay[3] = -0.5
    compiled.edge_delay[6] = -3.0  # the first bad synapse is the one named
    with pytest.raises(ValidationError, match=r"delay = -0\.5 on edge"):
        EventSimulator(compiled, params)


def test_jitter_per_neuron_larger_than_period_is_rejected():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    jitter = np.zeros(compiled.n_neurons)
    jitter[5] = 1.5
    jitter[7] = 1.25  # the first neuron over its period is the one named
    named = rf"jitter = 1\.5 is larger than period = 1 \(neuron {compiled.node_ids[5]!r}\)"
    with pytest.raises(ValidationError, match=named):
        EventSimulator(compiled, params, jitter=jitter)


def test_clock_and_delay_tables_set_each_role_and_projection():
    from neurosim.model.topology import ROLES

    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    table = {
        "period": {"hidden": 2.0},
        "jitter": {"input": 0.25, compiled.node_ids[6]: 0.5},
        "delay": {"default": 3.0, "input->hidden": 1.5},
    }
    options = event_options({"event": check_table("event", table, EVENT_KEYS)}, compiled)
    roles = np.array(ROLES)[compiled.role]
    np.testing.assert_array_equal(options["period"], np.where(roles == "hidden", 2.0, 1.0))
    expected_jitter = np.where(roles == "input", 0.25, 0.0)
    expected_jitter[6] = 0.5  # a neuron named by id overrides its role
    np.testing.assert_array_equal(options["jitter"], expected_jitter)
    assert options["default_delay"] == 3.0
    pre, post = roles[compiled.edge_pre], roles[compiled.edge_post]
    projected = (pre == "input") & (post == "hidden")
    assert projected.any() and (~projected).any()
    np.testing.assert_array_equal(compiled.edge_delay[projected], 1.5)
    assert np.isnan(compiled.edge_delay[~projected]).all()  # these take the default, 3
    # a delay table without "default" leaves the other synapses at one step
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    table = {"delay": {"hidden->input": 2.0}}
    options = event_options({"event": check_table("event", table, EVENT_KEYS)}, compiled)
    assert options["default_delay"] == 1.0


def test_the_limits_of_the_event_backend_state_their_figures():

    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    steps = 10**9
    with pytest.raises(ValidationError, match="too large") as caught:
        check_run_size(compiled, 1.0, steps)
    hours = compiled.n_neurons * steps / EVENT_UPDATES_PER_SECOND / 3600
    assert f"about {hours:.1f} h at {EVENT_UPDATES_PER_SECOND:,.0f} updates/s" in str(caught.value)
    with pytest.raises(ValidationError, match="shorten the delays") as caught:
        check_channel_memory(10**6, 1e4, 1e-3, 64)
    assert f"(at most {EVENT_MAX_CHANNEL_BYTES / 1e9:g} GB)" in str(caught.value)


def test_a_scenario_whose_channels_would_not_fit_is_refused_with_their_size():
    """A delay of 1e5 with clocks that may fire 0.001 apart: each ring keeps 2**27 messages
    (a power of two above 2 + 1e5 / 0.001), each message four values of the model's dtype and
    an 8-byte send time; the refusal states that size for the network's neurons."""
    from neurosim.backends.event import BACKEND

    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    table = {"delay": {"default": 1e5}, "period": 1.0, "jitter": 0.999}
    settings = {"event": check_table("event", table, EVENT_KEYS)}
    message_bytes = 4 * compiled.dtype.itemsize + 8
    total = compiled.n_neurons * 2**27 * message_bytes
    with pytest.raises(ValidationError, match="shorten the delays") as caught:
        BACKEND.make(settings, compiled, params, 0, 10**6, 1.0)
    assert f"keeps {2**27:,} messages per neuron, {total / 1e9:.3g} GB for 12 neurons" in str(
        caught.value
    )


def test_a_run_of_exactly_the_largest_number_of_updates_is_taken_and_one_more_is_not():
    """The limit counts each neuron's updates, steps / period: 10**8 steps with eight clocks
    of 1 and four of 2 are 10**9 updates, the most allowed; half an update more is refused."""

    compiled = compile_graph(recurrent(4, 0, 8), make_params("astdp"), seed=3)
    periods = np.r_[np.ones(8), np.full(4, 2.0)]
    assert EVENT_MAX_UPDATES == 1e9
    check_run_size(compiled, periods, 10**8)
    periods[-1] = 1e8 / (5e7 + 0.5)
    with pytest.raises(ValidationError, match="too large"):
        check_run_size(compiled, periods, 10**8)


def test_a_network_of_exactly_the_most_synapses_is_taken_and_one_more_is_not():

    check_network_size(1000, 50_000_000)
    with pytest.raises(ValidationError, match=r"50,000,001 synapses are too many .* 50,000,000"):
        check_network_size(1000, 50_000_001)


def _event_table(table: dict) -> dict:

    return check_table("event", table, EVENT_KEYS)


@pytest.mark.parametrize(
    "table",
    [
        {"delay": 0.0},
        {"delay": 0.5},
        {"delay": {"default": 0.0, "input->hidden": 0.5}},
        {"sweep": {"jitter": [0.0, 0.5], "delay": [0.0, 0.5]}},
        {"oscillator_offset": 0, "threshold": 0.0},
    ],
)
def test_event_settings_at_their_lower_bounds_are_taken(table):
    """Delays, sweep values and offsets of 0 (and fractions of an update) are allowed, and
    kept as given."""
    checked = _event_table(table)
    assert {key: checked[key] for key in table} == table


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"delay": -0.5}, "event.delay = -0.5"),
        ({"delay": {"input->hidden": -0.5}}, "event.delay.input->hidden = -0.5"),
        ({"sweep": {"delay": [0.0, -0.5]}}, r"event.sweep.delay\[1\] = -0.5"),
        ({"sweep": {}}, r"event.sweep = \{\}: expected a table of lists"),
        ({"period": 0.0}, "event.period = 0"),
        ({"jitter": -0.5}, "event.jitter = -0.5"),
    ],
)
def test_event_settings_below_their_bounds_are_refused_by_name(table, named):
    with pytest.raises(ValidationError, match=named):
        _event_table(table)


def test_the_event_defaults_are_one_clock_for_all_without_offsets():
    compiled = compile_graph(recurrent(4, 0, 8), make_params("astdp"), seed=3)
    options = event_options(None, compiled)
    np.testing.assert_array_equal(options["period"], np.ones(compiled.n_neurons))
    np.testing.assert_array_equal(options["jitter"], np.zeros(compiled.n_neurons))
    np.testing.assert_array_equal(options["oscillator_offset"], np.zeros(compiled.n_neurons))
    assert options["default_delay"] == 1.0 and options["send_threshold"] == 0.0
    assert options["events"] == ()
    # a table by role leaves the other neurons at the defaults
    table = {"period": {"hidden": 2.0}, "oscillator_offset": {"hidden": 3}}
    options = event_options({"event": _event_table(table)}, compiled)
    hidden = compiled.hidden
    assert hidden.any() and (~hidden).any()
    np.testing.assert_array_equal(options["period"], np.where(hidden, 2.0, 1.0))
    np.testing.assert_array_equal(options["oscillator_offset"], np.where(hidden, 3.0, 0.0))


def test_a_graph_delay_as_long_as_the_run_is_taken_and_a_longer_one_named():

    compiled = compile_graph(recurrent(4, 0, 8), make_params("astdp"), seed=3)
    compiled.edge_delay[:] = np.nan
    compiled.edge_delay[2] = 40.0
    check_delays(None, compiled, 40)
    compiled.edge_delay[[5, 9]] = (40.5, 60.0)  # the first of the two is named
    pre, post = (compiled.node_ids[compiled.edge_pre[5]], compiled.node_ids[compiled.edge_post[5]])
    named = rf"delay = 40.5 on edge {pre!r} -> {post!r} is longer than the run \(40 steps\)"
    with pytest.raises(ValidationError, match=named):
        check_delays(None, compiled, 40)


def test_channels_of_exactly_the_memory_allowed_are_taken_and_more_are_not():
    """Rings of two messages (delays 0) of 1,000 bytes for a million neurons are 2 GB, the
    most allowed; one neuron more is refused, with its figure in GB."""

    check_channel_memory(10**6, 0.0, 1.0, 1000)
    with pytest.raises(ValidationError, match=r"2 GB for 1000001 neurons \(at most 2 GB\)"):
        check_channel_memory(10**6 + 1, 0.0, 1.0, 1000)
    with pytest.raises(ValidationError, match=r"keeps 16,777,216 messages .* 1.07e\+06 GB"):
        check_channel_memory(10**6, 1e4, 1e-3, 64)


def test_a_scenario_whose_fastest_clock_would_need_too_many_messages_is_refused():
    """The channels' memory is sized by the fastest clock, period - jitter: a jitter that
    lets a neuron fire almost at once makes delays of 100 need rings of 2**27 messages."""

    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)

    def make(jitter: float):
        table = {"period": 1.0, "jitter": jitter, "delay": {"default": 100.0}}
        settings = {"event": check_table("event", table, EVENT_KEYS)}
        return registry.backend("event").make(settings, compiled.copy(), params, 0, 1000, 0.5)

    assert isinstance(make(0.5), EventSimulator)
    with pytest.raises(ValidationError, match="updating every 1e-06 keeps 134,217,728 messages"):
        make(1.0 - 1e-6)


def test_divergence_names_the_neuron():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    compiled.set_edge_weights(np.full(compiled.n_edges, 1e308))
    sim = EventSimulator(compiled, params, seed=SEED)
    with pytest.raises(DivergenceError, match="run diverged at step") as caught:
        sim.run(5)
    assert caught.value.neuron in compiled.node_ids


# --------------------------------------------------------------------------------------------
# recording, parameter changes and scenarios


@pytest.mark.parametrize("config", ["astdp_fake_momentum", "mstdp_oscillator", "astdp_noise"])
def test_run_records_as_sync_does(config):
    params = make_params(config)
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sync = SyncSimulator(compiled.copy(), params, seed=SEED)
    event = EventSimulator(compiled.copy(), params, seed=SEED)
    names = ("state", "rate", "velocity", "dz", "fake_target", "target", "clamp")
    neurons = np.array([0, 1, 5, 9])
    changes: dict = dict(alpha=0.02, noise_sigma=0.02)
    if params.rule == "astdp":
        changes["fake_target"] = FakeTargetParameters(enabled=True, k=2.0)
    changed = ModelParameters(**(dict(dtype="float64") | CONFIGS[config] | changes))
    # calls that do not end on a record time; a parameter change halfway
    for k, steps in enumerate((7, 13, 1, 29, 30)):
        if k == 3:
            sync.set_parameters(changed)
            event.set_parameters(changed)
        target, clamp = data(compiled, k)
        sync.set_input(target, clamp)
        event.set_input(target, clamp)
        options = dict(record_every=3, record=names, record_neurons=neurons)
        expected = sync.run(steps, **options)
        got = event.run(steps, **options)
        assert set(got) == set(expected) == {*names, "time"}
        np.testing.assert_array_equal(got["time"], expected["time"])
        for name in names:
            assert got[name].shape == expected[name].shape, name
            assert got[name].dtype == expected[name].dtype, name
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-12, err_msg=name)
    assert event.step_count == sync.step_count == 80
    np.testing.assert_allclose(
        event.network.dense_matrix(), sync.network.dense_matrix(), rtol=0, atol=1e-12
    )
    assert event.run(2, record_every=0) == {}
    empty = event.run(1, record_every=100, record=("state", "dz"))
    copies = params.spec.copies
    assert empty["time"].shape == (0,)
    assert empty["state"].shape == (0, copies, 1, compiled.n_neurons)


@pytest.mark.parametrize("config", ["astdp_smoothing", "rate_stdp_smoothing_noise"])
def test_smoothing_switched_off_mid_run_stops_on_both_backends_alike(config):
    """The event backend's neurons keep room for the smoothing factor whether or not it is on:
    once it is switched off, what they held from before must stop acting (the sync backend
    drops the term), so both go on alike, and the weights keep moving by the rule alone."""
    params = make_params(config)
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sync = SyncSimulator(compiled.copy(), params, seed=SEED)
    event = EventSimulator(compiled.copy(), params, seed=SEED)
    without = params.replace(alpha_smoothing=0.0)
    for k, steps in enumerate((11, 17, 9)):
        if k == 1:
            sync.set_parameters(without)
            event.set_parameters(without)
        target, clamp = data(compiled, k)
        for simulator in (sync, event):
            simulator.set_input(target, clamp)
            simulator.run(steps)
        np.testing.assert_allclose(event.state, sync.state, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            event.network.dense_matrix(), sync.network.dense_matrix(), rtol=0, atol=1e-12
        )
        np.testing.assert_allclose(event.network.bias, sync.network.bias, rtol=0, atol=1e-12)


def test_set_parameters_keeps_rule_activation_and_dtype():
    params = make_params("astdp")
    sim = EventSimulator(compile_graph(recurrent(4, 0, 8), params, seed=3), params)
    with pytest.raises(ValidationError, match=r"model\.rule cannot change"):
        sim.set_parameters(make_params("rate_stdp"))
    with pytest.raises(ValidationError, match=r"record = \['speed'\]"):
        sim.run(1, record_every=1, record=("speed",))


def test_scenario_on_the_event_backend_matches_sync(tmp_path):
    scenario = scenario_files.write_scenario(tmp_path, epochs=3, duration=300)
    stores = {}
    for backend in ("sync", "event"):
        stores[backend] = tmp_path / f"{backend}.zarr"
        arguments = ["run", str(scenario), "--out", str(stores[backend]), "--quiet"]
        assert main([*arguments, "--backend", backend]) == EXIT_OK
    sync_run, event_run = open_run(stores["sync"]), open_run(stores["event"])
    assert event_run.attributes["backend"] == "event"
    assert sync_run.attributes["backend"] == "sync"
    assert event_run.status == "complete"
    assert event_run.attributes["steps_simulated"] == 4 * 3 * 80 + 300
    sync_trajectory = xr.open_zarr(stores["sync"], group="trajectory")
    event_trajectory = xr.open_zarr(stores["event"], group="trajectory")
    assert event_trajectory.sizes["time"] == 300
    np.testing.assert_array_equal(event_trajectory.time.values, sync_trajectory.time.values)
    for name in ("state", "dz"):
        np.testing.assert_allclose(
            event_trajectory[name].values, sync_trajectory[name].values, rtol=0, atol=1e-12
        )
    np.testing.assert_array_equal(
        event_trajectory.fake_target.values, sync_trajectory.fake_target.values
    )
    assert event_trajectory.fake_target.values.any()
    sync_metrics = xr.open_zarr(stores["sync"], group="metrics")
    event_metrics = xr.open_zarr(stores["event"], group="metrics")
    assert set(event_metrics.data_vars) == set(sync_metrics.data_vars)
    for name in sync_metrics.data_vars:
        # the states agree to 1e-12, so do means of them (counts and shares exactly)
        np.testing.assert_allclose(
            event_metrics[name].values, sync_metrics[name].values, rtol=0, atol=1e-12, err_msg=name
        )
    sync_weights = xr.open_zarr(stores["sync"], group="weights")
    event_weights = xr.open_zarr(stores["event"], group="weights")
    for name in event_weights.data_vars:
        np.testing.assert_allclose(
            event_weights[name].values, sync_weights[name].values, rtol=0, atol=1e-12
        )


# --------------------------------------------------------------------------------------------
# channels, the stream as a process, the event log


def test_growing_channels_keeps_every_message():
    """Clocks as fast as period - jitter = 0 start with two-message channels; delays of 2.5
    make them grow during the run. The run equals one whose channels were grown first."""
    params = make_params("astdp_fake_momentum")
    graph = recurrent(4, 0, 8)
    for _, _, edge in graph.edges(data=True):
        edge["delay"] = 2.5

    def make() -> EventSimulator:
        sim = EventSimulator(compile_graph(graph, params, seed=3), params, jitter=1.0, seed=SEED)
        sim.set_input(*data(sim.network, 0))
        return sim

    grown_by_run, grown_first = make(), make()
    assert grown_by_run.channel_capacity == 2
    for _ in range(4):
        grown_first._grow_channels()
    grown_by_run.run(150)
    grown_first.run(150)
    assert 2 < grown_by_run.channel_capacity <= grown_first.channel_capacity == 32
    np.testing.assert_array_equal(grown_by_run.state, grown_first.state)
    np.testing.assert_array_equal(grown_by_run.edge_weights(), grown_first.edge_weights())


def test_feed_applies_each_change_at_its_time_while_neurons_run():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sim = EventSimulator(compiled, params, seed=SEED, jitter=0.3)
    stream = StepInput(compiled.n_neurons, [0], 0.0, 1.0, on_step=7, off_step=12, duration=20)
    sim.feed(stream.changes())
    targets = []
    for _ in range(20):
        sim.run(1)  # the change due at t is applied before the updates at t
        targets.append(float(sim.target[0, 0]))
    assert targets == [0.0] * 6 + [1.0] * 5 + [0.0] * 9
    sim.feed(Constant(compiled.n_neurons, [1], [0.5], duration=5).changes(), start=25.0)
    sim.run(4)
    assert sim.target[0, 1] == 0.0
    sim.run(2)
    assert sim.target[0, 1] == 0.5


def test_event_log_has_one_row_per_update_and_message():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sim = EventSimulator(
        compiled, params, seed=SEED, jitter=0.2, send_threshold=1e-3, events=("update", "message")
    )
    sim.set_input(*data(compiled, 0))
    sim.run(50)
    log = sim.take_events()
    updates = log["kind"] == EVENT_KINDS.index("update")
    messages = log["kind"] == EVENT_KINDS.index("message")
    assert updates.sum() == sim.update_count.sum()
    assert messages.sum() == sim.messages_sent < updates.sum()
    assert sim.messages_sent + sim.messages_suppressed == sim.update_count.sum()
    assert np.all(np.diff(log["time"]) >= 0)
    np.testing.assert_array_equal(np.bincount(log["neuron"][updates]), sim.update_count)
    # the last update of each neuron logged its current state
    for i in range(compiled.n_neurons):
        last = np.flatnonzero(updates & (log["neuron"] == i))[-1]
        assert log["value"][last] == sim.state[0, 0, i]
    sim.select_events(())
    sim.run(10)
    assert sim.take_events()["time"].size == 0


# --------------------------------------------------------------------------------------------
# scenarios on the event backend: [event] keys, asynchrony, unbounded streams, bad input


# The test phase's fake targets of docs/event-backend.md's asynchrony measurements (k 5, t_c 1,
# mu 0.99): stronger than the scenario's default, whose alternation is too rare in a shortened
# run (0 switches here) to show whether asynchrony keeps it.
STRONG_TEST_FAKE_TARGETS = "[phase.model.fake_target]\nk = 5.0\nmagnitude = 1.0\nmu = 0.99\n"


def rivalry_scenario(tmp_path, event: str, epochs: int = 600, duration: int = 5000):
    text = (RIVALRY.read_text() + "\n" + event).replace("epochs = 1000", f"epochs = {epochs}")
    text = text.replace("duration = 20000", f"duration = {duration}")
    test_fake_targets = text[text.index("[phase.model.fake_target]") : text.index("[record]")]
    text = text.replace(test_fake_targets, STRONG_TEST_FAKE_TARGETS + "\n")
    path = tmp_path / "rivalry.toml"
    path.write_text(text)
    return path


def test_rivalry_alternates_with_jitter_and_delays(tmp_path):
    """Scenario rivalry, shortened (600 training epochs, 5,000 ambiguous steps), every clock
    1 +- 0.2 and every delay 1.5: the dominant unit still changes (129 switches measured)."""
    scenario = rivalry_scenario(tmp_path, "[event]\njitter = 0.2\ndelay = 1.5\n")
    out = tmp_path / "r.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--backend", "event"]) == 0
    metrics = xr.open_zarr(out, group="metrics")
    assert int(metrics.switches) >= 10
    counters = open_run(out).attributes["event_counters"]
    assert counters["updates"] == pytest.approx(12 * (600 * 4 * 80 + 5000), rel=0.02)
    assert counters["messages_sent"] == counters["updates"]


def test_ordering_advantage_holds_with_jitter_and_delays(tmp_path):
    """Ordering, shortened as in test_ordering (300 epochs, trained on the synchronous
    backend), tested on the event backend with clocks 1 +- 0.2 and delays 1.5: at 80 steps
    each network is still better on its own order (measured: 100/33 and 71/100 %)."""
    scenario = tmp_path / "ordering.toml"
    scenario.write_text(scenario_files.ORDERING_SMALL + "\n[event]\njitter = 0.2\ndelay = 1.5\n")
    out = tmp_path / "o.zarr"
    shorter = ["experiment.seeds=[0]", "experiment.test_steps=[80]"]
    arguments = ["run", str(scenario), "--out", str(out), "--quiet", "--backend", "event"]
    for setting in ['experiment.train_backend="sync"', *shorter]:
        arguments += ["--set", setting]
    assert main(arguments) == EXIT_OK
    run = open_run(out)
    assert (run.attributes["backend"], run.attributes["train_backend"]) == ("event", "sync")
    mean = xr.open_zarr(out, group="metrics")["accuracy_mean"].sel(test_steps=80)
    for own, other in (("81", "83"), ("83", "81")):
        row = mean.sel(network=f"Network{own}")
        assert float(row.sel(order=f"order{own}")) >= 0.9
        assert float(row.sel(order=f"order{own}")) - float(row.sel(order=f"order{other}")) >= 0.15


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_unbounded_stream_stops_at_the_phase_duration(tmp_path, backend):
    scenario = scenario_files.write_scenario(tmp_path, epochs=1, duration=50)
    text = scenario.read_text().replace("epochs = 1\n", "duration = 1000\n")
    scenario.write_text(text)
    out = tmp_path / "u.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--backend", backend]) == 0
    run = open_run(out)
    assert run.status == "complete"
    assert run.attributes["steps_simulated"] == 1050
    assert run.attributes["phase_steps"]["train"] == [0, 1000]


def test_event_group_and_counters_in_the_store(tmp_path, capsys):
    scenario = scenario_files.write_scenario(
        tmp_path,
        epochs=1,
        duration=100,
        extra="\n[event]\njitter = { hidden = 0.3 }\nthreshold = 1e-4\n"
        'events = ["update", "message"]\n',
    )
    out = tmp_path / "e.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--backend", "event"]) == 0
    events = xr.open_zarr(out, group="events")
    assert events.attrs["kinds"] == list(EVENT_KINDS)
    counters = open_run(out).attributes["event_counters"]
    kinds = events.kind.values
    # only the recorded phase (the ambiguous one, from time 320) is logged
    assert events.time.values.min() >= 320
    assert (kinds == 0).sum() == pytest.approx(12 * 100, abs=12)
    assert (kinds == 1).sum() <= (kinds == 0).sum()
    assert counters["messages_sent"] + counters["messages_suppressed"] == counters["updates"]
    assert counters["messages_suppressed"] > 0
    assert main(["inspect", str(out)]) == EXIT_OK
    shown = capsys.readouterr().out
    assert f"events: {counters['updates']:,} neuron updates" in shown
    assert "events/kind: (event)" in shown


def test_jitter_and_delay_sweep_writes_a_store_per_point_and_a_table(tmp_path, capsys):
    scenario = scenario_files.write_scenario(
        tmp_path,
        epochs=3,
        duration=300,
        extra="\n[event.sweep]\njitter = [0.0, 0.3]\ndelay = [1.0, 2.0]\n",
    )
    base = tmp_path / "s"
    code = main(["run", str(scenario), "--out", str(base), "--quiet", "--backend", "event"])
    assert code == EXIT_OK
    for jitter in ("0", "0.3"):
        for delay in ("1", "2"):
            run = open_run(tmp_path / f"s-jitter{jitter}-delay{delay}.zarr")
            assert run.status == "complete"
            assert run.attributes["scenario"]["event"]["jitter"] == float(jitter)
    # the points ran differently: every pair of stores holds other trajectories, and a point
    # equals a run of the scenario without a sweep, given that point's settings
    states = {}
    metrics = {}
    for jitter in ("0", "0.3"):
        for delay in ("1", "2"):
            store = tmp_path / f"s-jitter{jitter}-delay{delay}.zarr"
            states[jitter, delay] = xr.open_zarr(store, group="trajectory")["state"].values
            metrics[jitter, delay] = xr.open_zarr(store, group="metrics")
    for first, second in itertools.combinations(states, 2):
        assert not np.array_equal(states[first], states[second]), (first, second)
    (tmp_path / "plain").mkdir()
    plain_scenario = scenario_files.write_scenario(tmp_path / "plain", epochs=3, duration=300)
    for jitter, delay in (("0", "1"), ("0.3", "2")):
        plain = tmp_path / f"plain-{jitter}-{delay}.zarr"
        arguments = ["run", str(plain_scenario), "--out", str(plain), "--quiet"]
        settings = ["--set", f"event.jitter={jitter}", "--set", f"event.delay={delay}"]
        assert main([*arguments, "--backend", "event", *settings]) == EXIT_OK
        np.testing.assert_array_equal(
            xr.open_zarr(plain, group="trajectory")["state"].values, states[jitter, delay]
        )
    # the table has one row per point, with that point's own metrics
    table = (tmp_path / "s-sweep.md").read_text()
    header = table.splitlines()[2].strip("|").split("|")
    assert [cell.strip() for cell in header[:3]] == ["jitter", "delay", "switches"]
    rows = [line for line in table.splitlines() if line.startswith("| 0")]
    assert len(rows) == 4
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        point = metrics[cells[0], cells[1]]
        for name, cell in zip(header[2:], cells[2:], strict=True):
            value = float(point[name.strip()])
            assert cell == ("-" if np.isnan(value) else f"{value:.4g}"), (row, name)
    assert "sweep (1 seed(s) per point" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("event.period=-1", "event.period = -1"),
        ("event.jitter={hidden = -0.5}", "event.jitter.hidden = -0.5"),
        ('event.delay={"input->hidden" = -2}', "event.delay.input->hidden = -2"),
        ('event.delay={"input->brain" = 2}', "event.delay.input->brain"),
        ("event.period={h99 = 2}", "event.period.h99: no neuron"),
        ("event.jitter=1.5", "jitter = 1.5 is larger than period = 1"),
        ('event.events=["spike"]', "event.events[0] = 'spike'"),
        ("event.sweep={period = [1]}", "event.sweep.period: unknown key"),
        ("event.sweep={jitter = 0.3}", "event.sweep.jitter = 0.3: expected a list of numbers"),
        ("event.sweep={jitter = []}", "event.sweep.jitter = []: expected a list of numbers"),
        ("phase.1.duration=400000000", "too large for the event-driven backend"),
    ],
)
def test_bad_event_settings_exit_2_and_write_nothing(tmp_path, capsys, setting, message):
    scenario = scenario_files.write_scenario(tmp_path)
    out = tmp_path / "bad.zarr"
    arguments = ["run", str(scenario), "--out", str(out), "--quiet", "--backend", "event"]
    assert main([*arguments, "--set", setting]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert message in error
    if "too large" in message:
        assert "--backend sync" in error
    assert not out.exists()


def test_a_sweep_needs_the_event_backend(tmp_path, capsys):
    scenario = scenario_files.write_scenario(
        tmp_path, extra="\n[event.sweep]\njitter = [0.0, 0.3]\n"
    )
    assert main(["run", str(scenario), "--out", str(tmp_path / "x.zarr")]) == EXIT_BAD_INPUT
    assert "event.sweep" in capsys.readouterr().err


def test_stdp_window_on_the_event_backend_equals_sync(tmp_path):
    """The STDP-window experiment (fewer offsets) gives the same curves in lock-step."""
    scenario = Path(__file__).parents[1] / "scenarios" / "stdp_window.toml"
    curves = {}
    for backend in ("sync", "event"):
        out = tmp_path / f"{backend}.zarr"
        arguments = ["run", str(scenario), "--out", str(out), "--quiet", "--backend", backend]
        for setting in ("experiment.offset_step=6", "experiment.window_sizes=[10]"):
            arguments += ["--set", setting]
        assert main(arguments) == EXIT_OK
        assert open_run(out).attributes["backend"] == backend
        curves[backend] = xr.open_zarr(out, group="metrics")["weight_change"].values
    assert np.abs(curves["sync"]).max() > 0.1
    np.testing.assert_allclose(curves["event"], curves["sync"], rtol=0, atol=1e-12)


def test_oscillator_offset_shifts_each_neurons_own_oscillator():
    """Every neuron's oscillator shifted by k updates is the model's oscillator offset by k;
    shifting the input neurons only changes the run."""
    params = make_params("mstdp_oscillator")
    oscillator = params.oscillator
    period = oscillator.clamped_steps + oscillator.free_steps
    shift = 3
    graph = recurrent(4, 0, 8)

    def run(parameters, offsets) -> np.ndarray:
        compiled = compile_graph(graph, parameters, seed=3)
        sim = EventSimulator(compiled, parameters, seed=SEED, oscillator_offset=offsets)
        sim.set_input(*data(compiled, 0))
        sim.run(60)
        return sim.state.copy()

    shifted_model = params.replace(
        oscillator=dataclasses.replace(oscillator, offset=(oscillator.offset + shift) % period)
    )
    np.testing.assert_array_equal(run(params, shift), run(shifted_model, 0))
    inputs_only = np.where(np.arange(12) < 4, shift, 0)
    assert not np.array_equal(run(params, inputs_only), run(params, 0))
    with pytest.raises(ValidationError, match=r"oscillator_offset = 1\.5"):
        run(params, 1.5)


def test_checkpoint_with_jitter_and_delays_continues_bit_for_bit():
    """Asynchronous clocks, delays of 2.5 (the channels grow) and a send threshold: a fresh
    simulator restored from a checkpoint taken at a time that is not a whole number
    continues exactly as the first one, event for event."""
    params = make_params("astdp_fake_momentum")
    graph = recurrent(4, 0, 8)
    for _, _, edge in graph.edges(data=True):
        edge["delay"] = 2.5
    options = dict(seed=SEED, jitter=0.4, send_threshold=1e-4, events=("update", "message"))

    def make() -> EventSimulator:
        return EventSimulator(compile_graph(graph, params, seed=3), params, **options)

    first = make()
    first.set_input(*data(first.network, 0))
    first.run(37.3)
    first.take_events()
    saved = first.checkpoint()
    assert first.channel_capacity > 2
    expected = first.run(40, record_every=1, record=("state", "velocity", "dz"))
    second = make()
    second.restore(saved)
    assert second.time == 37.3 and second.channel_capacity == first.channel_capacity
    got = second.run(40, record_every=1, record=("state", "velocity", "dz"))
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    first_log, second_log = first.take_events(), second.take_events()
    assert first_log["time"].size > 400
    for name in first_log:
        np.testing.assert_array_equal(second_log[name], first_log[name], err_msg=name)
    np.testing.assert_array_equal(second.update_count, first.update_count)
    np.testing.assert_array_equal(second.edge_weights(), first.edge_weights())


@pytest.mark.parametrize("config", ["astdp_fake_momentum", "rate_stdp_smoothing_noise", "bcm"])
def test_set_state_mid_run_continues_in_lock_step_with_sync(config):
    """A state set after 30 steps reaches every synapse as the rates of its neuron, while the
    presynaptic factors already on the way stay: the event backend goes on as the
    synchronous one does (one-copy and two-copy rules alike)."""
    params = make_params(config)
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    sync = SyncSimulator(compiled.copy(), params, seed=SEED)
    event = EventSimulator(compiled.copy(), params, seed=SEED)
    for simulator in (sync, event):
        simulator.set_input(*data(compiled, 0))
        simulator.run(30)
    state = np.array(sync.state)
    state[:, :, ::3] = np.linspace(-0.8, 0.8, state[:, :, ::3].size).reshape(state[:, :, ::3].shape)
    for simulator in (sync, event):
        simulator.set_state(state=state)
        simulator.run(40)
    np.testing.assert_allclose(event.state, sync.state, rtol=0, atol=1e-13)
    np.testing.assert_allclose(
        event.network.dense_matrix(), sync.network.dense_matrix(), rtol=0, atol=1e-13
    )


def test_restore_refuses_channels_or_clocks_that_do_not_fit():
    params = make_params("astdp")
    simulator = EventSimulator(compile_graph(recurrent(4, 0, 8), params, seed=3), params)
    saved = simulator.checkpoint()
    for name in ("channels", "clocks"):
        broken = dict(saved)
        broken[name] = np.asarray(saved[name])[:-1]  # one neuron short
        with pytest.raises(ValidationError, match=r"checkpoint: channels .* do not fit 12"):
            simulator.restore(broken)


def test_a_checkpoint_taken_early_in_the_first_period_continues_event_for_event():
    """Restored at 0.7 with periods of 3.3 +- 1.5, several neurons wait for times that no
    single float delay reaches from 0.7; the restored run still logs the same events at the
    same times as the first one."""
    params = make_params("astdp_fake_momentum")
    options = dict(seed=0, period=3.3, jitter=1.485, events=("update", "message"))

    def make() -> EventSimulator:
        return EventSimulator(compile_graph(recurrent(4, 0, 8), params, seed=3), params, **options)

    first = make()
    first.set_input(*data(first.network, 0))
    first.run(0.7)
    saved = first.checkpoint()
    first.take_events()
    expected = first.run(80, record_every=1, record=("state",))
    second = make()
    second.restore(saved)
    got = second.run(80, record_every=1, record=("state",))
    np.testing.assert_array_equal(got["state"], expected["state"])
    first_log, second_log = first.take_events(), second.take_events()
    assert first_log["time"].size > 200
    for name in first_log:
        np.testing.assert_array_equal(second_log[name], first_log[name], err_msg=name)


def test_a_wake_up_time_is_reached_exactly_where_the_plain_difference_misses_it() -> None:
    """SimPy schedules at ``now + delay``. For a wake-up time more than twice ``now`` the
    plain difference ``time - now`` often rounds past it, above or below, and for some no
    float delay lands on it at all: the waits handed to SimPy reach it exactly, in two steps
    where one cannot."""
    rng = np.random.default_rng(1)
    now = rng.uniform(0.0, 1.0, 3000)
    time = now * rng.uniform(1.0, 40.0, 3000)
    plain = now + (time - now)
    assert np.any(plain > time) and np.any(plain < time)
    steps = []
    for start, wake in zip(now.tolist(), time.tolist(), strict=True):
        reached = start
        waits = _delays_until(start, wake)
        for wait in waits:
            assert wait >= 0.0
            reached += wait
        assert reached == wake
        steps.append(len(waits))
    assert set(steps) == {1, 2}
    # two only where one cannot: no delay next to the plain difference lands on the time
    for start, wake, count in zip(now.tolist(), time.tolist(), steps, strict=True):
        if count == 2:
            near = np.nextafter(wake - start, [-np.inf, np.inf])
            assert wake not in {start + d for d in (wake - start, *near.tolist())}


def test_the_clock_jitter_draws_from_a_random_stream_of_its_own():
    """The counter-based draws of one run are told apart by their stream: the clock's jitter
    must not reuse the fake targets' or the noise's numbers."""
    from neurosim.backends.event_update import STREAM_CLOCK
    from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE

    assert len({STREAM_FAKE_TARGET, STREAM_NOISE, STREAM_CLOCK}) == 3
