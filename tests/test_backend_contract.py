"""The simulator contract (neurosim.backends.base), run on every registered backend.

Each test takes the ``backend`` fixture, so a backend added to the registry runs the suite
unchanged: recording format, reading and setting the state, parameter changes, following a
stream, checkpoint and restore into a fresh simulator (bit for bit), what the run store
keeps, and bad input.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from neurosim import registry
from neurosim.backends.base import PER_COPY, RECORDABLE, Backend, Simulator
from neurosim.errors import ValidationError
from neurosim.model.network import compile_graph
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.topology import recurrent
from neurosim.streams import StepInput, inputs_at

SEED = 5
PARAMS = ModelParameters(
    alpha=0.05, dtype="float64", fake_target=FakeTargetParameters(enabled=True, k=2.0)
)


@pytest.fixture(params=registry.backend_names())
def backend(request) -> Backend:
    return registry.backend(request.param)


def make(backend: Backend, params: ModelParameters = PARAMS, graph_seed: int = 3) -> Simulator:
    """A simulator of the backend on a small recurrent network, with its default options."""
    network = compile_graph(recurrent(4, 0, 8), params, seed=graph_seed)
    simulator = backend.make(None, network, params, SEED, 1000, 0.5)
    assert isinstance(simulator, backend.simulator)
    return simulator


def drive(simulator: Simulator) -> None:
    """Random targets on the visible neurons."""
    network = simulator.network
    rng = np.random.default_rng(1)
    visible = ~network.hidden
    simulator.set_input(np.where(visible, rng.uniform(-1, 1, network.n_neurons), 0.0), visible)


def test_the_backend_is_registered_under_its_name(backend):
    assert backend.name in registry.backend_names()
    assert issubclass(backend.simulator, Simulator)
    assert backend.description
    with pytest.raises(dataclasses.FrozenInstanceError):  # one entry, shared by every caller
        backend.name = "renamed"  # type: ignore[misc]


def test_recording_format(backend):
    simulator = make(backend)
    drive(simulator)
    neurons = np.array([0, 2, 9])
    copies = PARAMS.spec.copies
    batch = simulator.batch_size
    first = simulator.run(7, record_every=3, record=RECORDABLE, record_neurons=neurons)
    second = simulator.run(5, record_every=3, record=RECORDABLE, record_neurons=neurons)
    assert set(first) == {*RECORDABLE, "time"}
    # records fall on multiples of record_every of the global step count
    np.testing.assert_array_equal(first["time"], [3, 6])
    np.testing.assert_array_equal(second["time"], [9, 12])
    for name in RECORDABLE:
        shape = (copies, batch, 3) if name in PER_COPY else (batch, 3)
        assert first[name].shape == (2, *shape), name
    assert first["fake_target"].dtype == np.bool_
    assert first["state"].dtype == np.float64
    # the last record is the state after the last step
    np.testing.assert_array_equal(second["state"][-1], simulator.state[..., neurons])
    assert simulator.step_count == 12
    empty = simulator.run(2, record_every=100, record=("state", "dz"))
    assert empty["time"].shape == (0,)
    assert empty["state"].shape == (0, copies, batch, simulator.network.n_neurons)
    assert simulator.run(1) == {}


def test_set_state_is_read_back_and_reaches_the_neighbours(backend):
    plain, changed = make(backend), make(backend)
    drive(plain)
    drive(changed)
    n = changed.network.n_neurons
    state = np.array(changed.state)
    state[:, :, 0] = 0.9
    changed.set_state(state=state, velocity=0.0)
    np.testing.assert_array_equal(changed.state, state)
    assert not np.any(changed.velocity)
    # neuron 0's new rate is in its neighbours' drive at the next step, as a message sent
    # before the step would be
    neighbours = changed.network.edge_post[changed.network.edge_pre == 0]
    others = np.setdiff1d(np.arange(n), np.append(neighbours, 0))
    plain.set_state(state=np.where(np.arange(n) == 0, plain.state, state), velocity=0.0)
    plain.run(1)
    changed.run(1)
    assert np.all(changed.state[:, :, neighbours] != plain.state[:, :, neighbours])
    np.testing.assert_array_equal(changed.state[:, :, others], plain.state[:, :, others])


def test_set_parameters_takes_effect(backend):
    learning, frozen = make(backend), make(backend)
    frozen.set_parameters(PARAMS.replace(alpha=0.0))
    before = frozen.network.edge_weights().copy()
    for simulator in (learning, frozen):
        drive(simulator)
        simulator.run(20)
    np.testing.assert_array_equal(frozen.network.edge_weights(), before)
    assert np.max(np.abs(learning.network.edge_weights() - before)) > 1e-4
    assert frozen.params.alpha == 0.0
    with pytest.raises(ValidationError, match=r"model\.activation cannot change"):
        frozen.set_parameters(PARAMS.replace(activation="hard_sigmoid"))
    with pytest.raises(ValidationError, match="expected ModelParameters"):
        frozen.set_parameters({"alpha": 0.0})


def test_follow_applies_each_change_at_its_step(backend):
    simulator = make(backend)
    simulator.run(3)  # the stream starts when followed, not at step 0
    n = simulator.network.n_neurons
    stream = StepInput(n, [0, 1], -0.5, 0.75, on_step=4, off_step=9, duration=12)
    simulator.follow(stream)
    targets, clamps = inputs_at(stream, np.arange(12))
    for step in range(12):
        np.testing.assert_array_equal(simulator.target[0], targets[step], err_msg=str(step))
        np.testing.assert_array_equal(simulator.clamp[0], clamps[step], err_msg=str(step))
        simulator.run(1)
    # the last change holds after the stream's end
    simulator.run(5)
    np.testing.assert_array_equal(simulator.target[0], targets[-1])


def test_follow_applies_each_change_at_its_step_within_one_long_call(backend):
    """Followed after 3 steps, then one call of 15 steps: the changes at the stream's steps
    4 and 9 fall inside the call, which ends as the same steps taken one call at a time."""
    whole, stepped = make(backend), make(backend)
    n = whole.network.n_neurons
    for simulator in (whole, stepped):
        simulator.run(3)
        simulator.follow(StepInput(n, [0, 1], -0.5, 0.75, on_step=4, off_step=9, duration=12))
    whole.run(15)
    for _ in range(15):
        stepped.run(1)
    assert whole.step_count == stepped.step_count == 18
    np.testing.assert_array_equal(whole.target, stepped.target)
    np.testing.assert_allclose(whole.state, stepped.state, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        whole.network.edge_weights(), stepped.network.edge_weights(), rtol=1e-12, atol=1e-12
    )


def test_checkpoint_restores_into_a_fresh_simulator_bit_for_bit(backend):
    first = make(backend)
    drive(first)
    first.run(17)
    saved = first.checkpoint()
    target = first.target.copy()
    assert saved and all(isinstance(value, np.ndarray) for value in saved.values())
    # the checkpoint is a copy: running on does not change it
    copies = {name: value.copy() for name, value in saved.items()}
    expected = first.run(23, record_every=1, record=("state", "velocity", "dz", "fake_target"))
    for name, value in saved.items():
        np.testing.assert_array_equal(value, copies[name], err_msg=name)
    second = make(backend)
    second.restore(saved)
    assert second.step_count == 17
    np.testing.assert_array_equal(second.target, target)  # the inputs come with it
    got = second.run(23, record_every=1, record=("state", "velocity", "dz", "fake_target"))
    assert second.step_count == first.step_count == 40
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    np.testing.assert_array_equal(second.network.edge_weights(), first.network.edge_weights())
    np.testing.assert_array_equal(second.network.bias, first.network.bias)


def test_a_restored_simulator_runs_long_calls_bit_for_bit(backend):
    """Runs of many steps per call, nothing recorded: at B = 1 the sync backend writes its
    held-back weight changes when its running bound on |W| says so, and a restored simulator
    must hold the same bound, or it rounds the changes in other groups."""
    first = make(backend)
    drive(first)
    first.run(50)
    saved = first.checkpoint()
    first.run(60)
    second = make(backend)
    second.restore(saved)
    second.run(60)
    np.testing.assert_array_equal(second.network.edge_weights(), first.network.edge_weights())
    np.testing.assert_array_equal(second.state, first.state)


def test_restore_refuses_another_network(backend):
    saved = make(backend).checkpoint()
    bigger = compile_graph(recurrent(4, 0, 9), PARAMS, seed=3)
    other = backend.make(None, bigger, PARAMS, SEED, 1000, 0.5)
    with pytest.raises(ValidationError, match=r"checkpoint: .* has shape"):
        other.restore(saved)
    incomplete = dict(saved)
    name = next(iter(incomplete))
    del incomplete[name]
    with pytest.raises(ValidationError, match=f"the array '{name}' is missing"):
        make(backend).restore(incomplete)


def test_what_the_run_store_keeps(backend):
    simulator = make(backend)
    drive(simulator)
    simulator.log_events(True)
    simulator.run(5)
    json.dumps(simulator.run_attributes())  # root attributes are JSON
    events = simulator.take_events()
    assert set(events) == {"time", "neuron", "kind", "value"}
    assert len({column.shape for column in events.values()}) == 1
    assert np.all(events["kind"] < max(len(simulator.event_kinds), 1))
    assert simulator.take_events()["time"].size == 0  # taken once


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda s: s.set_input(0.0, 2.0), r"clamp = 2\.0"),
        (lambda s: s.set_input(np.zeros(3), 1.0), "target"),
        (lambda s: s.run(-1), "= -1"),
        (lambda s: s.run(2, record_every=-1), r"record_every = -1: expected an integer >= 0"),
        (lambda s: s.run(2, record_every=1, record=("speed",)), r"record = \['speed'\]"),
        (lambda s: s.set_state(bias=0.0, gain=1.0), "'bias' is not settable"),
        (lambda s: s.set_state(state=np.zeros(5)), "set_state: state has shape"),
        (lambda s: s.set_state(state=object()), r"set_state: state has shape \(\)"),
        (lambda s: s.set_state(velocity=np.nan), "velocity has values that are not finite"),
        # of two fixed parameters changed, the first is named with both its values
        (
            lambda s: s.set_parameters(
                dataclasses.replace(PARAMS, activation="hard_sigmoid", dtype="float32")
            ),
            r"model\.activation cannot change during a run \(from 'sigmoid4' to 'hard_sigmoid'\)",
        ),
    ],
)
def test_bad_input_is_refused_by_name(backend, call, named):
    simulator = make(backend)
    before = np.array(simulator.state)
    with pytest.raises(ValidationError, match=named):
        call(simulator)
    np.testing.assert_array_equal(simulator.state, before)
