"""The event-driven SimPy backend (neurosim.backends.event).

- lock-step mode (period 1, jitter 0, every delay 1, threshold 0) reproduces SyncSimulator's
  trajectory (every copy's state, velocity, dz, dz_mean, fake targets, W, b) to 1e-6 over
  500 steps, for every rule, on the rivalry network and on a sparse 50-neuron network read
  from GraphML;
- locality: a perturbation reaches a neuron only through messages, one hop per delay;
- asynchronous clocks, heterogeneous delays and a send threshold run and stay finite;
- bad clocks and delays are rejected, naming the value;
- ``run``'s recording and ``set_parameters`` match SyncSimulator's, and ``neurosim run
  --backend event`` writes the store the synchronous backend writes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import xarray as xr

from neurosim.backends.event import EventSimulator
from neurosim.backends.sync import SyncSimulator
from neurosim.cli import EXIT_OK, main
from neurosim.errors import DivergenceError, ValidationError
from neurosim.model.network import compile_graph
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.topology import read_graphml, recurrent, sparse_random, write_graphml
from neurosim.recording.store import open_run

try:
    from tests import reference, scenario_files
except ImportError:  # pytest put tests/ itself on sys.path
    import reference
    import scenario_files

CONFIGS = reference.RULE_CONFIGS
ALPHA = 0.05
SEED = 7
N_STEPS = 500
ATOL = 1e-6


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
    for t in range(N_STEPS):
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
            np.testing.assert_allclose(
                got, expected, rtol=0, atol=ATOL, err_msg=f"{name} differs after step {t}"
            )
        np.testing.assert_array_equal(event.fake_target, sync.fake_target)
        fake_seen |= bool(event.fake_target.any())
    np.testing.assert_array_equal(event.update_count, N_STEPS)
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


def test_threshold_suppresses_small_messages():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    quiet = EventSimulator(compiled, params, seed=SEED, threshold=1e-3)
    quiet.set_input(*data(compiled, 0))
    quiet.run(300)
    assert 0 < quiet.messages_sent < 300 * compiled.n_neurons
    assert np.all(np.isfinite(quiet.state))


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
        (dict(threshold=-1.0), "threshold = -1"),
    ],
)
def test_bad_clock_or_delay_is_rejected(options, named):
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    with pytest.raises(ValidationError, match=named):
        EventSimulator(compiled, params, **options)


def test_negative_edge_delay_is_rejected():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    compiled.edge_delay[3] = -2.0
    with pytest.raises(ValidationError, match=r"delay = -2\.0"):
        EventSimulator(compiled, params)


def test_jitter_per_neuron_larger_than_period_is_rejected():
    params = make_params("astdp")
    compiled = compile_graph(recurrent(4, 0, 8), params, seed=3)
    jitter = np.zeros(compiled.n_neurons)
    jitter[5] = 1.5
    with pytest.raises(ValidationError, match=r"jitter = 1\.5 is larger than period = 1"):
        EventSimulator(compiled, params, jitter=jitter)


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
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-9, err_msg=name)
    assert event.step_count == sync.step_count == 80
    np.testing.assert_allclose(
        event.network.dense_matrix(), sync.network.dense_matrix(), rtol=0, atol=1e-9
    )
    assert event.run(2, record_every=0) == {}
    empty = event.run(1, record_every=100, record=("state", "dz"))
    copies = params.spec.copies
    assert empty["time"].shape == (0,)
    assert empty["state"].shape == (0, copies, 1, compiled.n_neurons)


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
            event_trajectory[name].values, sync_trajectory[name].values, rtol=0, atol=1e-9
        )
    np.testing.assert_array_equal(
        event_trajectory.fake_target.values, sync_trajectory.fake_target.values
    )
    assert event_trajectory.fake_target.values.any()
    sync_metrics = xr.open_zarr(stores["sync"], group="metrics")
    event_metrics = xr.open_zarr(stores["event"], group="metrics")
    assert set(event_metrics.data_vars) == set(sync_metrics.data_vars)
    for name in sync_metrics.data_vars:
        np.testing.assert_array_equal(
            event_metrics[name].values, sync_metrics[name].values, err_msg=name
        )
    sync_weights = xr.open_zarr(stores["sync"], group="weights")
    event_weights = xr.open_zarr(stores["event"], group="weights")
    for name in event_weights.data_vars:
        np.testing.assert_allclose(
            event_weights[name].values, sync_weights[name].values, rtol=0, atol=1e-9
        )
