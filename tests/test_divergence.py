"""Divergence beyond NaN: a state or a weight that leaves ``model.divergence_bound`` stops the
run on both backends, naming the step and the neuron or synapse, and the store is marked."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurosim.backends.event import EventSimulator
from neurosim.backends.sync import SyncSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from neurosim.errors import DivergenceError, ValidationError
from neurosim.model.network import compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.model.topology import recurrent
from neurosim.recording import open_run

try:
    from tests import scenario_files
except ImportError:  # pytest put tests/ itself on sys.path
    import scenario_files

BOUND = 1e4
TARGET = np.array([1.0, 0.0, 1.0, 0.0] + [0.0] * 8)
CLAMP = np.array([1.0] * 4 + [0.0] * 8)


def make_simulator(backend: str, params: ModelParameters, batch_size: int = 1):
    network = compile_graph(recurrent(4, 0, 8), params, seed=1)
    if backend == "sync":
        sim = SyncSimulator(network, params, seed=1, batch_size=batch_size)
    else:
        sim = EventSimulator(network, params, seed=1)
    sim.set_input(TARGET, CLAMP)
    return sim


def largest_weight(sim) -> float:
    weights = sim.edge_weights() if isinstance(sim, EventSimulator) else sim.network.edge_weights()
    return float(np.abs(weights).max())


@pytest.mark.parametrize(("backend", "batch_size"), [("sync", 1), ("sync", 3), ("event", 1)])
def test_weight_beyond_the_bound_names_step_and_synapse(backend: str, batch_size: int) -> None:
    # a learning rate this large takes the weights far beyond the bound, while they stay finite
    params = ModelParameters(alpha=1e4, dtype="float64", divergence_bound=BOUND)
    sim = make_simulator(backend, params, batch_size)
    with pytest.raises(DivergenceError, match=r"at step \d+: weight of synapse") as caught:
        sim.run(5000)
    error = caught.value
    assert np.isfinite(error.value) and abs(error.value) > BOUND
    assert f"{error.value:g}" in str(error) and "model.divergence_bound = 10000" in str(error)
    pre, post = error.synapse
    assert error.neuron == post  # the neuron that owns the synapse, its postsynaptic one
    network = sim.network
    edge = np.flatnonzero(
        (network.edge_pre == network.index_of(pre)) & (network.edge_post == network.index_of(post))
    )
    assert edge.size == 1
    # the named step is the first whose weight change leaves the bound: a fresh simulator is
    # within it after the steps before, beyond it one step later (the synchronous backend
    # stops at the end of that step, the event backend at the next update, which applies it)
    fresh = make_simulator(backend, params, batch_size)
    fresh.run(error.step)
    assert largest_weight(fresh) <= BOUND
    try:
        fresh.run(1)
    except DivergenceError as again:
        assert (again.step, again.synapse) == (error.step, error.synapse)
    assert largest_weight(fresh) > BOUND
    if backend == "sync":  # of the synapses beyond the bound after that step, the first is named
        beyond = np.flatnonzero(np.abs(fresh.network.edge_weights()) > BOUND)
        assert beyond.size >= 2 and beyond[0] == edge[0]
    else:  # the neuron that applied the change names the first of its synapses beyond it
        into = network.edge_post == network.index_of(post)
        beyond = np.flatnonzero(into & (np.abs(fresh.edge_weights()) > BOUND))
        assert beyond.size >= 2
        assert network.edge_pre[edge[0]] == network.edge_pre[beyond].min()


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_state_beyond_the_bound_names_step_and_neuron(backend: str) -> None:
    # no learning; weights of 100 drive the states to thousands, finite but beyond a bound of 10
    params = ModelParameters(alpha=0.0, dtype="float64", divergence_bound=10.0)
    network = compile_graph(recurrent(4, 0, 8), params, seed=1)
    network.set_edge_weights(np.full(network.n_edges, 100.0))
    if backend == "sync":
        sim = SyncSimulator(network, params, seed=1)
    else:
        sim = EventSimulator(network, params, seed=1)
    sim.set_input(TARGET, CLAMP)
    with pytest.raises(DivergenceError, match=r"at step \d+: state of neuron \d+ is ") as caught:
        sim.run(200)
    error = caught.value
    assert error.synapse is None
    assert np.isfinite(error.value) and abs(error.value) > 10.0
    assert error.value in sim.state[:, 0, network.index_of(error.neuron)]


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_of_two_copies_beyond_the_bound_the_first_is_named(backend: str) -> None:
    params = ModelParameters(alpha=0.0, dtype="float64", divergence_bound=10.0)
    sim = make_simulator(backend, params)
    state = np.array(sim.state)
    state[:, 0, 6] = (500.0, -700.0)
    sim.set_state(state=state)
    with pytest.raises(DivergenceError, match=r"at step 0: state of neuron") as caught:
        sim.run(5)
    copies = sim.state[:, 0, 6]
    assert np.all(np.abs(copies) > 10.0) and copies[0] != copies[1]
    assert caught.value.neuron == sim.network.node_ids[6]
    assert caught.value.value == copies[0]


def test_a_state_beyond_the_bound_in_one_sample_names_that_sample_and_the_step() -> None:
    """Of a batch, only sample 2 is put beyond the bound: the error names that sample, its
    neuron and the step the single-sample run of the same state names."""
    params = ModelParameters(alpha=0.0, dtype="float64", divergence_bound=10.0)
    errors = []
    for batch_size, sample in ((3, 2), (2, 1), (1, 0)):
        sim = make_simulator("sync", params, batch_size)
        sim.run(4)
        state = np.array(sim.state)
        state[:, sample, 6] = 1e3
        sim.set_state(state=state)
        with pytest.raises(DivergenceError, match=r"at step 4: state of neuron") as caught:
            sim.run(10)
        errors.append(caught.value)
        assert sim.step_count == 4
    batched, pair, single = errors
    assert batched.sample == 2 and pair.sample == 1 and single.sample is None
    assert pair.neuron == single.neuron and pair.value == single.value
    assert batched.neuron == single.neuron == sim.network.node_ids[6]
    assert batched.value == single.value and abs(batched.value) > 10.0


def test_the_first_sample_and_first_neuron_beyond_the_bound_are_named() -> None:
    """The first entry of the batch (sample 0, neuron 0, flat index 0) beyond the bound, and
    one of sample 1 too: the error names sample 0 and neuron 0 at the step."""
    params = ModelParameters(alpha=0.0, dtype="float64", divergence_bound=10.0)
    sim = make_simulator("sync", params, batch_size=3)
    sim.run(2)
    state = np.array(sim.state)
    state[:, 0, 0] = 1e3
    state[:, 1, 5] = -1e3
    sim.set_state(state=state)
    with pytest.raises(DivergenceError, match=r"at step 2: state of neuron") as caught:
        sim.run(10)
    assert caught.value.sample == 0 and caught.value.neuron == sim.network.node_ids[0]
    assert abs(caught.value.value) > 10.0 and sim.step_count == 2


def test_the_weights_are_measured_only_when_their_running_bound_passes_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B = 1 learns 300 steps in calls of 100 steps (the held-back list fills and is
    written into W every 16 steps) and in recorded chunks, far from the bound: W is measured
    once (its bound is unknown at the start), not after every write or chunk."""
    params = ModelParameters(alpha=0.05, dtype="float64", divergence_bound=1e6)
    sim = make_simulator("sync", params)
    measured = []
    original = SyncSimulator._check_weights

    def counting(self, steps_done):
        measured.append(steps_done)
        return original(self, steps_done)

    monkeypatch.setattr(SyncSimulator, "_check_weights", counting)
    before = sim.network.edge_weights().copy()
    for _ in range(2):
        sim.run(100)
    for _ in range(10):
        sim.run(10, record_every=3)
    assert len(measured) == 1
    assert not np.array_equal(sim.network.edge_weights(), before)  # it did learn


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_a_diverged_scenario_fails_with_the_store_marked_and_readable(tmp_path, capsys, backend):
    scenario = scenario_files.write_scenario(tmp_path, epochs=2, duration=100)
    out = tmp_path / "run.zarr"
    arguments = ["run", str(scenario), "--out", str(out), "--quiet", "--backend", backend]
    code = main([*arguments, "--set", "model.alpha=1e30", "--set", 'record.phases="all"'])
    assert code == EXIT_FAILED
    message = capsys.readouterr().err
    assert "weight of synapse" in message and "lower" in message
    run = open_run(out)
    assert run.status == "failed"
    assert "DivergenceError" in run.status_message
    trajectory = xr.open_zarr(out, group="trajectory")
    assert trajectory.sizes["time"] == trajectory.state.shape[0]


@pytest.mark.parametrize("value", ["0", "-1", "inf", '"large"'])
def test_the_bound_is_a_checked_key(tmp_path, capsys, value: str) -> None:
    scenario = scenario_files.write_scenario(tmp_path, epochs=1, duration=10)
    out = tmp_path / "run.zarr"
    code = main(
        ["run", str(scenario), "--out", str(out), "--set", f"model.divergence_bound={value}"]
    )
    assert code == EXIT_BAD_INPUT
    message = capsys.readouterr().err
    assert str(scenario) in message and "model.divergence_bound" in message
    assert not out.exists()
    with pytest.raises(ValidationError, match=r"model\.divergence_bound"):
        ModelParameters(divergence_bound=0.0)
