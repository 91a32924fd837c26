"""Laws and contracts of the synchronous backend (the reference comparison is elsewhere)."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.backends.sync import SyncSimulator
from neurosim.errors import DivergenceError, ValidationError
from neurosim.kernels.activations import rate, rate_derivative
from neurosim.kernels.dynamics import cost, energy
from neurosim.model.network import compile_graph
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.topology import read_graphml, recurrent, sparse_random


def symmetric_network(
    params: ModelParameters, n_input: int, n_hidden: int, seed: int, scale: float = 0.5
):
    """A recurrent network whose weights are made symmetric, W[j, i] = W[i, j]."""
    network = compile_graph(recurrent(n_input, 0, n_hidden), params, seed=seed)
    rng = np.random.default_rng(seed)
    n = network.n_neurons
    upper = rng.uniform(-scale, scale, size=(n, n))
    symmetric = np.triu(upper, 1) + np.triu(upper, 1).T
    network.set_edge_weights(symmetric[network.edge_pre, network.edge_post])
    return network


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_input=st.integers(1, 3),
    n_hidden=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    activation=st.sampled_from(["sigmoid4", "sigmoid4_centred"]),
)
def test_energy_plus_cost_never_increases(n_input, n_hidden, seed, activation) -> None:
    """Symmetric W, no momentum, small eps, no learning: each copy descends E + C."""
    params = ModelParameters(
        rule="astdp",
        alpha=0.0,
        eps_small=0.05,
        eps_large=0.05,
        activation=activation,
        dtype="float64",
    )
    network = symmetric_network(params, n_input, n_hidden, seed)
    sim = SyncSimulator(network, params, seed=seed, initial_state_scale=1.0)
    n = network.n_neurons
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 1, n)
    clamp = np.r_[np.ones(n_input), np.zeros(n_hidden)]
    sim.set_input(target, clamp)
    weights = network.dense_matrix()
    history = sim.run(150, record_every=1, record=("state",))["state"][:, :, 0, :]
    for copy, beta in enumerate(params.copy_betas):
        states = history[:, copy, :]
        total = energy(states, weights, network.bias, activation) + cost(
            states, target, beta * clamp
        )
        assert np.all(np.diff(total) <= 1e-12), f"copy {copy}: E + C rose"
        assert total[-1] < total[0]


def test_settled_free_state_is_a_fixed_point() -> None:
    params = ModelParameters(rule="astdp", alpha=0.0, init="uniform", dtype="float64")
    network = compile_graph(recurrent(3, 2, 10), params, seed=4)
    sim = SyncSimulator(network, params, seed=4)
    sim.set_input(0.0, 0.0)
    sim.run(600)
    state = sim.state[0, 0]
    weights = network.dense_matrix()
    pressure = rate_derivative(state) * (rate(state) @ weights + network.bias)
    np.testing.assert_allclose(state, pressure, atol=1e-9)


def _run_trajectory(seed: int, layout: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    params = ModelParameters(
        rule="astdp",
        alpha=0.02,
        dtype="float64",
        fake_target=FakeTargetParameters(enabled=True, k=2.0),
    )
    network = compile_graph(recurrent(4, 0, 8), params, seed=seed, layout=layout)
    sim = SyncSimulator(network, params, seed=seed)
    sim.set_input(np.r_[1, 0, 0, 0, np.zeros(8)], np.r_[np.ones(4), np.zeros(8)])
    states = sim.run(200, record_every=1, record=("state", "fake_target"))
    return states["state"], network.edge_weights()


def test_same_seed_same_run_and_other_seed_differs() -> None:
    first, first_weights = _run_trajectory(3)
    again, again_weights = _run_trajectory(3)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_weights, again_weights)
    other, _ = _run_trajectory(4)
    assert not np.allclose(first, other)


def test_dense_and_csr_layouts_give_the_same_run() -> None:
    dense, dense_weights = _run_trajectory(5, layout="dense")
    sparse, sparse_weights = _run_trajectory(5, layout="csr")
    np.testing.assert_allclose(dense, sparse, atol=1e-12)
    np.testing.assert_allclose(dense_weights, sparse_weights, atol=1e-12)


def test_batched_samples_are_independent_states() -> None:
    """With no learning, sample b of a batch runs exactly like a B = 1 run of that input."""
    params = ModelParameters(rule="astdp", alpha=0.0, dtype="float64")
    network = compile_graph(recurrent(3, 1, 6), params, seed=1)
    targets = np.random.default_rng(2).uniform(0, 1, (3, network.n_neurons))
    clamp = np.r_[np.ones(4), np.zeros(6)]
    batch = SyncSimulator(network, params, batch_size=3, seed=1, threads=2)
    batch.state[:] = 0.1
    batch.invalidate()
    batch.set_input(targets, clamp)
    batch.run(50)
    for b in range(3):
        single = SyncSimulator(network, params, seed=1)
        single.state[:] = 0.1
        single.invalidate()
        single.set_input(targets[b], clamp)
        single.run(50)
        np.testing.assert_allclose(batch.state[:, b], single.state[:, 0], atol=1e-12)


def test_float32_is_the_default_and_float64_on_request() -> None:
    for dtype in ("float32", "float64"):
        params = ModelParameters(rule="mstdp", dtype=dtype)
        network = compile_graph(recurrent(2, 1, 3), params, seed=0)
        sim = SyncSimulator(network, params)
        sim.set_input(1.0, np.r_[1, 1, 1, 0, 0, 0])
        sim.run(10)
        assert sim.state.dtype == np.dtype(dtype)
        assert network.dense_weights.dtype == np.dtype(dtype)
    assert ModelParameters().dtype == "float32"


def test_trained_weights_go_back_to_the_graph_and_graphml(tmp_path) -> None:
    params = ModelParameters(rule="astdp", alpha=0.05, dtype="float64")
    graph = sparse_random(2, 1, 6, in_degree=3, seed=2)
    network = compile_graph(graph, params, seed=2)
    before = network.edge_weights().copy()
    sim = SyncSimulator(network, params, seed=2)
    sim.set_input(np.r_[1.0, 0.0, 1.0, np.zeros(6)], np.r_[1.0, 1.0, 1.0, np.zeros(6)])
    sim.run(100)
    assert not np.allclose(before, network.edge_weights())
    path = tmp_path / "trained.graphml"
    network.write_graphml(path, graph)
    read_back = read_graphml(path)
    assert set(read_back.edges) == set(graph.edges)
    for e in range(network.n_edges):
        pre = network.node_ids[network.edge_pre[e]]
        post = network.node_ids[network.edge_post[e]]
        assert read_back.edges[pre, post]["weight"] == network.edge_weights()[e]
    for k, node in enumerate(network.node_ids):
        assert read_back.nodes[node]["bias"] == network.bias[k]
        assert read_back.nodes[node]["role"] == graph.nodes[node]["role"]
    # the file compiles back into the same network
    again = compile_graph(read_back, params, seed=99)
    np.testing.assert_array_equal(again.edge_weights(), network.edge_weights())
    np.testing.assert_array_equal(again.bias, network.bias)


@pytest.mark.parametrize(
    ("bound", "named"),
    [(1e4, r"\S+, beyond model.divergence_bound = 10000;"), (1e308, r"inf;")],
)
def test_divergence_names_step_and_neuron(bound: float, named: str) -> None:
    params = ModelParameters(
        rule="astdp",
        alpha=0.0,
        activation="hard_sigmoid",
        dtype="float64",
        divergence_bound=bound,
    )
    network = compile_graph(recurrent(2, 0, 3), params, seed=0)
    sim = SyncSimulator(network, params, seed=0, initial_state_scale=0.1)
    sim.set_input(0.0, 0.0)
    sim.run(10)
    # weights this large overflow the hidden neurons' drive to infinity on the next step
    network.set_edge_weights(np.full(network.n_edges, 1e308))
    sim.invalidate()
    pattern = r"at step \d+: state of neuron \d+ is " + named
    with pytest.raises(DivergenceError, match=pattern) as caught:
        for _ in range(50):
            steps_before = sim.step_count
            sim.run(1)
    # the step named is the one that failed, counted like the simulator's steps
    assert caught.value.step == steps_before >= 10
    state = sim.state[:, 0, network.index_of(caught.value.neuron)]
    assert (np.abs(state) > bound).any()
    assert caught.value.value in state


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda sim: sim.set_input(np.zeros(3), 0.0), r"target has shape \(3,\)"),
        (lambda sim: sim.set_input(0.0, np.full(6, 2.0)), r"clamp = 2.0 .* \[0, 1\]"),
        (lambda sim: sim.set_input(np.full(6, np.nan), 0.0), "target has a non-finite value"),
        (lambda sim: sim.run(-1), "n_steps = -1"),
        (lambda sim: sim.run(5, record=("voltage",)), "allowed names are state"),
    ],
)
def test_bad_simulator_input_is_named(call, message) -> None:
    params = ModelParameters(dtype="float64")
    sim = SyncSimulator(compile_graph(recurrent(2, 1, 3), params), params)
    with pytest.raises(ValidationError, match=message):
        call(sim)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rule": "backprop"}, "model.rule = 'backprop': allowed values are astdp, bcm, mstdp"),
        ({"activation": "relu"}, "model.activation = 'relu'"),
        ({"beta_small": -0.1}, r"model.beta_small = -0.1: allowed range is \[0, inf\]"),
        ({"eps": 0.0}, r"model.eps = 0.0: allowed range is \(0, 1\]"),
        ({"alpha": float("nan")}, "model.alpha = nan: expected a finite number"),
        ({"alpha": "fast"}, "model.alpha = 'fast': expected a number"),
        ({"beta_small": 0.5, "beta_large": 0.4}, "beta_small <= beta_large"),
        ({"momentum": 0.0}, "model.momentum"),
        ({"dtype": "float16"}, "allowed values are float32, float64"),
        (
            {"rule": "mstdp", "fake_target": FakeTargetParameters(enabled=True)},
            "only the two-copy rule 'astdp'",
        ),
        ({"fake_target": FakeTargetParameters(mu=1.0)}, "model.fake_target.mu"),
    ],
)
def test_bad_parameters_are_named(changes, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelParameters(**changes)


def test_bad_simulator_arguments() -> None:
    params = ModelParameters()
    network = compile_graph(recurrent(2, 1, 3), params)
    with pytest.raises(ValidationError, match="batch_size = 0"):
        SyncSimulator(network, params, batch_size=0)
    with pytest.raises(ValidationError, match=r"differs from model\.dtype"):
        SyncSimulator(network, params.replace(dtype="float64"))
    with pytest.raises(ValidationError, match="layout = 'blocks'"):
        compile_graph(recurrent(2, 1, 3), params, layout="blocks")
    with pytest.raises(ValidationError, match="unknown model parameter"):
        params.replace(beta2=0.3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"threads": 0}, "threads = 0"),
        ({"threads": -2}, "threads = -2"),
        ({"initial_state_scale": -0.5}, r"initial_state_scale = -0.5: expected a finite number"),
        ({"initial_state_scale": float("inf")}, "initial_state_scale = inf: expected a finite"),
        ({"initial_state_scale": float("nan")}, "initial_state_scale = nan: expected a finite"),
    ],
)
def test_bad_threads_and_initial_scales_are_refused_by_name(arguments, message) -> None:
    params = ModelParameters(dtype="float64")
    network = compile_graph(recurrent(2, 1, 3), params)
    with pytest.raises(ValidationError, match=message):
        SyncSimulator(network, params, **arguments)


def test_the_simulator_defaults_and_the_edges_of_its_arguments() -> None:
    """Seed 0 and one BLAS thread by default; every core (threads=None) and an initial scale
    of 0 (every state 0) are allowed; a run of no steps does nothing."""
    params = ModelParameters(dtype="float64")
    network = compile_graph(recurrent(2, 1, 3), params)
    default = SyncSimulator(network, params)
    np.testing.assert_array_equal(default.state, SyncSimulator(network, params, seed=0).state)
    assert not np.array_equal(default.state, SyncSimulator(network, params, seed=1).state)
    assert default.threads == 1
    every_core = SyncSimulator(network, params, batch_size=2, threads=None)
    assert every_core.threads is None
    every_core.run(3)
    assert every_core.step_count == 3
    still = SyncSimulator(network, params, initial_state_scale=0.0)
    assert not still.state.any()
    recorded = still.run(0, record_every=1)
    assert recorded["time"].shape == (0,) and recorded["state"].shape == (0, 2, 1, 6)
    assert still.run(0) == {} and still.step_count == 0 and not still.state.any()


@pytest.mark.parametrize(
    ("batch_size", "threads", "blas_threads"), [(1, 4, 1), (1, None, 1), (3, 2, 2), (3, None, None)]
)
def test_blas_runs_in_one_thread_at_b1_and_in_the_threads_asked_for_otherwise(
    monkeypatch, batch_size, threads, blas_threads
) -> None:
    """B = 1 spends its time in compiled loops, where a second BLAS thread only spins; a
    batch uses the threads asked for (None: no limit)."""
    from neurosim.backends import sync

    limits = []
    controller = sync._thread_limiter()
    real_limit = controller.limit

    def limit(**arguments):
        limits.append(arguments)
        return real_limit(**arguments)

    monkeypatch.setattr(controller, "limit", limit)
    params = ModelParameters(dtype="float64")
    network = compile_graph(recurrent(2, 1, 3), params)
    SyncSimulator(network, params, batch_size=batch_size, threads=threads).run(2)
    assert limits == [{"limits": blas_threads, "user_api": "blas"}]


def test_a_weight_change_has_one_outer_product_term_per_rule_and_one_for_smoothing() -> None:
    """Smoothing off adds no term: each term is a pass over W (or a slot of the B = 1
    held-back list), so a zero term would cost a pass for nothing."""
    from neurosim.backends.sync import _factor_terms

    assert _factor_terms(ModelParameters()) == 1
    assert _factor_terms(ModelParameters(alpha_smoothing=1e-3)) == 2


def test_graph_without_input_is_rejected_before_compiling() -> None:
    graph = nx.DiGraph()
    graph.add_node(0, role="hidden", layer=1)
    graph.add_node(1, role="output", layer=2)
    graph.add_edge(0, 1)
    with pytest.raises(ValidationError, match="input"):
        compile_graph(graph, ModelParameters())


def test_a_second_process_loads_the_compiled_code_from_the_cache(tmp_path) -> None:
    """cache=True: a new process reuses the machine code instead of compiling again."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from neurosim.backends import sync\n"
        "from neurosim.model.network import compile_graph\n"
        "from neurosim.model.parameters import ModelParameters\n"
        "from neurosim.model.topology import recurrent\n"
        "params = ModelParameters()\n"
        "sim = sync.SyncSimulator(compile_graph(recurrent(2, 1, 3), params), params)\n"
        "sim.set_input(1.0, np.r_[1.0, 1.0, 1.0, 0.0, 0.0, 0.0])\n"
        "sim.run(5)\n"
        "stats = sync._run_single.stats\n"
        "print(len(stats.cache_hits), len(stats.cache_misses))\n"
    )
    for _ in range(2):  # the first run may have to fill the cache
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
        )
    hits, misses = (int(value) for value in result.stdout.split())
    assert hits == 1
    assert misses == 0


@pytest.mark.parametrize("batch", [1, 3])
def test_a_restored_checkpoint_continues_exactly(batch) -> None:
    """Run 70 steps; or run 30, checkpoint, restore into a fresh simulator, run 40: the same
    states and weights, with noise, smoothing and fake targets that carry state over."""
    params = ModelParameters(
        rule="astdp",
        alpha=0.05,
        alpha_smoothing=0.01,
        noise_sigma=0.05,
        fake_target=FakeTargetParameters(enabled=True, k=3.0),
        dtype="float64",
    )
    graph = sparse_random(3, 2, 8, in_degree=3, visible_density=0.7, seed=1)
    rng = np.random.default_rng(0)
    target, clamp = rng.uniform(0, 1, (batch, 13)), (rng.uniform(0, 1, (batch, 13)) < 0.4)

    def fresh() -> SyncSimulator:
        sim = SyncSimulator(compile_graph(graph, params, seed=2), params, batch_size=batch, seed=5)
        sim.set_input(target, clamp.astype(float))
        return sim

    whole = fresh()
    whole.run(70)
    first = fresh()
    first.run(30)
    saved = first.checkpoint()
    first.run(5)  # the checkpoint is a copy: what the simulator does next does not change it
    second = fresh()
    second.run(3)  # a different state, overwritten by the restore
    second.restore(saved)
    second.run(40)
    assert second.step_count == 70
    np.testing.assert_array_equal(second.state, whole.state)
    np.testing.assert_array_equal(second.network.edge_weights(), whole.network.edge_weights())
    np.testing.assert_array_equal(second.network.bias, whole.network.bias)


def test_a_checkpoint_of_another_shape_is_refused() -> None:
    params = ModelParameters(rule="astdp", dtype="float64")
    network = compile_graph(recurrent(3, 2, 6), params, seed=2)
    saved = SyncSimulator(network, params, batch_size=2).checkpoint()
    other = SyncSimulator(network.copy(), params, batch_size=3)
    with pytest.raises(ValidationError, match=r"checkpoint: target has shape \(2, 11\)"):
        other.restore(saved)
    del saved["dz"]
    with pytest.raises(ValidationError, match="the array 'dz' is missing"):
        SyncSimulator(network.copy(), params, batch_size=2).restore(saved)


@pytest.mark.parametrize("batch", [1, 3])
def test_scaled_weights_continue_as_if_the_drive_were_recomputed(batch) -> None:
    """scale_weights scales the cached drive instead of recomputing it: the run that follows
    equals one whose weights were scaled by hand and whose drive was recomputed."""
    params = ModelParameters(rule="astdp", alpha=0.05, noise_sigma=0.05, dtype="float64")
    graph = sparse_random(3, 2, 8, in_degree=3, visible_density=0.7, seed=1)
    rng = np.random.default_rng(0)
    target, clamp = rng.uniform(0, 1, (batch, 13)), rng.uniform(0, 1, (batch, 13))

    def trained() -> SyncSimulator:
        sim = SyncSimulator(compile_graph(graph, params, seed=2), params, batch_size=batch, seed=5)
        sim.set_input(target, clamp)
        sim.run(20)
        return sim

    scaled, by_hand = trained(), trained()
    before = scaled.network.edge_weights().copy()
    scaled.scale_weights(0.7)
    np.testing.assert_allclose(scaled.network.edge_weights(), 0.7 * before)
    by_hand.network.dense_weights *= 0.7
    by_hand.network.csr_weight *= 0.7
    by_hand.invalidate()
    for sim in (scaled, by_hand):
        sim.run(15)
    np.testing.assert_allclose(scaled.state, by_hand.state, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        scaled.network.edge_weights(), by_hand.network.edge_weights(), rtol=1e-12, atol=1e-12
    )


def _learning_run(params: ModelParameters, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights before and after 40 steps on a small network with clamped inputs."""
    from neurosim.backends.event import EventSimulator

    network = compile_graph(recurrent(3, 2, 5), params, seed=2)
    before = network.edge_weights().copy()
    simulator = (SyncSimulator if backend == "sync" else EventSimulator)(network, params)
    rng = np.random.default_rng(0)
    target = rng.uniform(0.2, 0.8, (1, network.n_neurons))
    simulator.set_input(target, (np.arange(network.n_neurons) < 5)[None, :].astype(float))
    simulator.run(40)
    return before, simulator.network.edge_weights()


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_smoothing_alone_learns_and_no_rate_leaves_the_weights(backend) -> None:
    # the rule's rate at zero: the smoothing rate still moves the weights; with both zero the
    # network is left as it was
    smoothing_only = ModelParameters(rule="astdp", alpha=0.0, alpha_smoothing=0.05, dtype="float64")
    before, after = _learning_run(smoothing_only, backend)
    assert np.abs(after - before).max() > 1e-6
    frozen = ModelParameters(rule="astdp", alpha=0.0, alpha_smoothing=0.0, dtype="float64")
    before, after = _learning_run(frozen, backend)
    np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({}, {"alpha_smoothing": 0.05}),
        ({"alpha_smoothing": 0.05}, {}),
        ({}, {"noise_sigma": 0.02}),
    ],
    ids=["smoothing-on", "smoothing-off", "noise-on"],
)
def test_parameters_switched_mid_run_equal_a_simulator_built_with_them(first, then) -> None:
    """Smoothing switched on or off (its factors gain or lose their second term) or noise
    switched on (the drive of the next step is drawn again) after 20 steps: the next 20
    steps are those of a simulator built with the new parameters and restored there."""
    base = ModelParameters(rule="astdp", alpha=0.02, dtype="float64")
    without = dataclasses.replace(base, **first)
    with_smoothing = dataclasses.replace(base, **then)
    graph = recurrent(3, 2, 5)
    rng = np.random.default_rng(1)
    target, clamp = rng.uniform(0.2, 0.8, (1, 10)), (np.arange(10) < 5)[None, :].astype(float)
    switched = SyncSimulator(compile_graph(graph, without, seed=2), without)
    switched.set_input(target, clamp)
    switched.run(20)
    saved = switched.checkpoint()
    saved_weights = switched.network.edge_weights().copy()
    switched.set_parameters(with_smoothing)
    switched.run(20)
    built = SyncSimulator(compile_graph(graph, with_smoothing, seed=2), with_smoothing)
    built.set_input(target, clamp)
    built.restore(saved)
    built.invalidate()  # the checkpoint's drive was drawn with the old noise: draw it again
    built.run(20)
    # the same arithmetic in another order (the cached drive): rounding apart
    np.testing.assert_allclose(switched.state, built.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        switched.network.edge_weights(), built.network.edge_weights(), rtol=0, atol=1e-12
    )
    assert np.abs(switched.network.edge_weights() - saved_weights).max() > 1e-6
