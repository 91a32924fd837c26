"""SuperSpike: the rule against a plain-NumPy computation of its equations (on both backends),
the van Rossum distance against a numerical integral, the single-neuron task learning on both
backends alike, and bad input.

The reference below integrates the neuron and the PSP trace with the matrix exponential of
the linear system (SciPy), keeps its own arrival queue, and writes the rule's equations out
from docs/superspike.md step by step; it shares no code with the package beyond the network
description."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.backends.spiking_event import SpikingEventSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model.spiking import (
    Feedback,
    LifParameters,
    Plasticity,
    SpikeTargets,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
from neurosim.recording import open_run

try:
    from tests.spiking_reference import LifReference, given_arrivals
except ImportError:  # pytest put tests/ itself on sys.path
    from spiking_reference import LifReference, given_arrivals

DT = 0.1
SCENARIO = "scenarios/superspike_single.toml"


def reference_superspike(network: SpikingNetwork, arrivals: dict, steps: int):
    """Plain Python, one step at a time: deliver (g += w, pre += 1; error messages into the
    receivers' feedback) -> per neuron: integrate and threshold, its error (targets minus
    spikes where it has targets, sent on along its feedback edges; else what was fed back),
    the error filter, per synapse the PSP, eligibility and gradient, every update_every steps
    the normalised change. Returns spikes, weights, eligibilities and errors."""
    neuron, rule = network.neuron, network.plasticity
    neurons = LifReference(network)
    step_matrix, v, g = neurons.step_matrix, neurons.v, neurons.g
    n, n_synapses = network.n_neurons, network.weight.size
    w = network.weight.copy()
    pre, psp = np.zeros(n_synapses), np.zeros(n_synapses)
    summed, eligibility = np.zeros(n_synapses), np.zeros(n_synapses)
    gradient, rms = np.zeros(n_synapses), np.zeros(n_synapses)
    error_rise, error = np.zeros(n), np.zeros(n)
    period = round(network.targets.period / DT)
    has_targets = np.isin(np.arange(n), network.targets.neurons)
    target_steps = [
        set(np.rint(network.targets.times[network.targets.neurons == i] / DT).astype(int))
        for i in range(n)
    ]
    feedback = network.feedback
    messages: dict[int, list[tuple[int, int, float]]] = {}  # step -> (edge, receiver, value)
    update_every = round(rule.update_every / DT)
    rms_decay = math.exp(-update_every * DT / rule.tau_rms)
    pending = {step: list(items) for step, items in arrivals.items()}
    spikes = []
    for t in range(steps):
        for e in sorted(pending.pop(t, [])):
            g[network.synapse_post[e]] += w[e]
            pre[e] += 1.0
        fed_back = np.zeros(n)
        for _, receiver, value in sorted(messages.pop(t, [])):
            fed_back[receiver] += value
        for i in range(n):
            fired = neurons.step(i)
            if fired:
                spikes.append((t + 1, i))
                for e in np.flatnonzero(network.synapse_source == network.n_inputs + i):
                    pending.setdefault(t + 1 + network.delay_steps[e], []).append(e)
            wrong = fed_back[i]
            if has_targets[i]:
                own = (1.0 if (t + 1) % period in target_steps[i] else 0.0) - fired
                wrong += own
                edges = [] if feedback is None else np.flatnonzero(feedback.source == i)
                for k in edges if own else []:
                    weight = w[feedback.forward[k]] if feedback.kind == "symmetric" else (
                        feedback.weight[k])  # fmt: skip
                    arrival = t + 1 + round(feedback.delay / DT)
                    messages.setdefault(arrival, []).append((k, feedback.post[k], own * weight))
            error_rise[i] += DT / rule.tau_rise * (wrong - error_rise[i])
            error[i] += DT / rule.tau_decay * (error_rise[i] - error[i])
            slope = rule.beta / (1.0 + abs(rule.beta * (v[i] - neuron.v_threshold))) ** 2
            for e in np.flatnonzero(network.synapse_post == i):
                psp[e], pre[e] = step_matrix @ np.array([psp[e], pre[e]])
                summed[e] += psp[e] * slope
                eligibility[e] += DT / rule.tau_decay * (summed[e] - eligibility[e])
                summed[e] *= math.exp(-DT / rule.tau_rise)
                gradient[e] += eligibility[e] * error[i]
                if (t + 1) % update_every == 0:
                    mean = gradient[e] / update_every
                    rms[e] = max(mean**2, rms_decay * rms[e])
                    change = rule.eta * mean / (math.sqrt(rms[e]) + rule.epsilon)
                    w[e] = min(max(w[e] + change, rule.w_min), rule.w_max)
                    gradient[e] = 0.0
    return spikes, w, eligibility, error


def small_network(feedback: str | None = None) -> tuple[SpikingNetwork, dict]:
    """Without ``feedback``: 3 neurons (targets for neurons 0 and 2, none for 1), 12
    given-time inputs onto each. With it: 12 inputs onto 4 hidden neurons (0-3) onto 2 outputs
    (4, 5) with targets, and feedback edges from each output to each hidden neuron."""
    rng = np.random.default_rng(5)
    steps = np.unique(rng.integers(0, 3000, 400) * 12 + rng.integers(0, 12, 400))
    times, indices = (steps // 12) * DT, steps % 12
    rule = Plasticity(
        "superspike", beta=0.7, tau_rise=4.0, tau_decay=9.0, eta=0.3, tau_rms=200.0,
        epsilon=1e-9, update_every=25.0, w_min=-4.0, w_max=8.0,
    )  # fmt: skip
    neuron = LifParameters(tau_membrane=10.0, tau_synapse=5.0, v_rest=-60.0, v_reset=-60.0,
                           v_threshold=-50.0, refractory=5.0)  # fmt: skip
    if feedback is None:
        n, (source, post) = 3, all_to_all(12, 3)
        weight, delay = rng.normal(2.0, 3.0, source.size), np.full(source.size, 0.1)
        targets = SpikeTargets([0, 0, 2, 2, 2], [12.0, 61.5, 5.0, 40.0, 88.8], period=100.0)
        edges = None
    else:
        n = 6
        in_source, in_post = all_to_all(12, 4)
        hidden_source, hidden_post = all_to_all(4, 2, source_offset=12)
        source = np.concatenate([in_source, hidden_source])
        post = np.concatenate([in_post, hidden_post + 4])
        weight = np.concatenate([rng.normal(3.0, 3.0, in_source.size),
                                 rng.normal(4.0, 2.0, hidden_source.size)])  # fmt: skip
        delay = np.concatenate([np.full(in_source.size, 0.1), np.full(hidden_source.size, 0.3)])
        targets = SpikeTargets([4, 4, 5, 5, 5], [12.0, 61.5, 5.0, 40.0, 88.8], period=100.0)
        senders, receivers = np.repeat([4, 5], 4), np.tile(np.arange(4), 2)
        forward = [int(np.flatnonzero((source == 12 + r) & (post == s))[0])
                   for s, r in zip(senders, receivers, strict=True)]  # fmt: skip
        edges = Feedback(feedback, senders, receivers, delay=0.2,
                         weight=rng.normal(0.0, 1.0, 8), forward=forward)  # fmt: skip
    network = SpikingNetwork(
        dt=DT, neuron=neuron, n_neurons=n, inputs=(SpikeTimesInput(12, times, indices),),
        synapse_source=source, synapse_post=post, weight=weight, delay=delay, plasticity=rule,
        targets=targets, feedback=edges,
    )  # fmt: skip
    return network, given_arrivals(network, times, indices)


def run_against_reference(backend, network: SpikingNetwork, arrivals: dict, steps: int):
    """Run ``network`` on ``backend`` for ``steps`` and check it against the plain reference:
    the same spikes (more than 10), weights, eligibilities and errors. Returns the simulator
    and the reference's weights and errors."""
    spikes, weights, eligibility, error = reference_superspike(network, arrivals, steps)
    simulator = backend(network)
    record = simulator.run(steps * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert len(spikes) > 10 and got == sorted(spikes)
    np.testing.assert_allclose(simulator.state.w, weights, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(simulator.state.synapse_state[:, 3], eligibility, rtol=1e-11,
                               atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(simulator.state.neuron_state[:, 1], error, rtol=1e-12, atol=1e-15)
    return simulator, weights, error


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
@pytest.mark.parametrize("feedback", [None, "random", "symmetric"])
def test_the_superspike_rule_matches_a_plain_numpy_computation(backend, feedback):
    network, arrivals = small_network(feedback)
    _, weights, _ = run_against_reference(backend, network, arrivals, 3000)
    taught = set(network.targets.neurons.tolist())
    if network.feedback is not None:
        taught |= set(network.feedback.post.tolist())  # the hidden neurons learn by feedback
    learning = np.isin(network.synapse_post, sorted(taught))
    assert (np.abs(weights - network.weight)[learning] > 1e-6).mean() > 0.9
    assert np.array_equal(weights[~learning], network.weight[~learning])  # no error: no change


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_a_weight_change_every_step_and_targets_every_step_match_the_reference(backend):
    """The shortest settings: ``update_every = dt`` (a change after every step) and a target
    period of one step (a target spike at every step); a period shorter than a step repeats
    every step as well."""
    network, arrivals = small_network()
    rule = dataclasses.replace(network.plasticity, update_every=DT)
    every_step = SpikeTargets([0, 2], [0.0, 0.0], period=DT)
    network = dataclasses.replace(network, plasticity=rule, targets=every_step)
    simulator, _, _ = run_against_reference(backend, network, arrivals, 600)
    shorter = dataclasses.replace(
        network, targets=SpikeTargets([0, 2], [0.0, 0.0], period=0.4 * DT)
    )
    again = backend(shorter)
    again.run(600 * DT)
    np.testing.assert_array_equal(again.state.w, simulator.state.w)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_feedback_sent_by_the_last_neuron_alone_matches_the_reference(backend):
    """Only the network's last neuron (output 5) sends error messages: the hidden neurons
    learn from its errors alone, as the plain reference computes."""
    network, arrivals = small_network("random")
    feedback = network.feedback
    last = feedback.source == network.n_neurons - 1
    alone = Feedback("random", feedback.source[last], feedback.post[last],
                     delay=feedback.delay, weight=feedback.weight[last] * 3.0,
                     forward=feedback.forward[last])  # fmt: skip
    network = dataclasses.replace(network, feedback=alone)
    _, _, error = run_against_reference(backend, network, arrivals, 1500)
    assert np.any(error[:4] != 0.0)  # the hidden neurons did receive errors


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_symmetric_feedback_reads_any_forward_synapse_synapse_zero_too(backend):
    """The hidden-to-output synapses listed first: feedback edges now read the weights of
    synapses 0, 1, ... as their own, and the run still matches the plain reference."""
    network, _ = small_network("symmetric")
    order = np.argsort(network.synapse_source < 12, kind="stable")  # the hidden ones first
    position = np.argsort(order)  # where each synapse went
    feedback = network.feedback
    moved = Feedback("symmetric", feedback.source, feedback.post, delay=feedback.delay,
                     forward=position[feedback.forward])  # fmt: skip
    assert 0 in moved.forward
    reordered = dataclasses.replace(
        network, synapse_source=network.synapse_source[order],
        synapse_post=network.synapse_post[order], weight=network.weight[order],
        delay=network.delay[order], feedback=moved,
    )  # fmt: skip
    given = reordered.inputs[0]
    arrivals = given_arrivals(reordered, np.asarray(given.times), np.asarray(given.indices))
    spikes, weights, _, _ = reference_superspike(reordered, arrivals, 3000)
    simulator = backend(reordered)
    record = simulator.run(3000 * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert got == sorted(spikes)
    np.testing.assert_allclose(simulator.state.w, weights, rtol=1e-12, atol=1e-12)
    hidden_inputs = reordered.synapse_post < 4
    assert (np.abs(weights - reordered.weight)[hidden_inputs] > 1e-6).mean() > 0.9


def test_the_van_rossum_distance_is_the_integral_it_defines():
    grid = np.arange(0.0, 600.0, 0.005)

    def filtered(times):
        trace = np.zeros_like(grid)
        for time in times:
            after = np.clip(grid - time, 0.0, None)
            trace += np.where(grid >= time, np.exp(-after / 10.0) - np.exp(-after / 5.0), 0) / 5.0
        return trace

    for target, output in (([50, 120, 300], [53, 200]), ([10.0], []), ([], [7.0, 9.0])):
        numeric = 2 * 15.0 * np.sum((filtered(target) - filtered(output)) ** 2) * 0.005
        assert van_rossum(target, output) == pytest.approx(numeric, rel=2e-3)
    assert van_rossum([10.0], []) == pytest.approx(1.0, rel=1e-12)
    assert van_rossum([10.0, 250.0], [10.0, 250.0]) == 0.0
    assert van_rossum([10.0], [400.0]) == pytest.approx(2.0, rel=1e-9)
    assert van_rossum([10.0], [10.5]) < van_rossum([10.0], [12.0]) < 1.0


def test_one_neuron_learns_its_target_spikes_alike_on_both_backends(tmp_path):
    tables = {}
    for backend in ("sync", "event"):
        out = tmp_path / f"{backend}.zarr"
        arguments = ["run", SCENARIO, "--backend", backend, "--out", str(out), "--quiet",
                     "--set", "experiment.trials=120"]  # fmt: skip
        assert main(arguments) == EXIT_OK
        tables[backend] = open_run(out).series("trials")["distance"][:, 0]
    np.testing.assert_array_equal(tables["sync"], tables["event"])
    distance = tables["sync"]
    assert distance.size == 120 and distance[0] > 4.0  # the untrained neuron misses the targets
    assert distance[-10:].mean() < 0.3 * distance[0]


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("experiment.plasticity.beta=0.0", "experiment.plasticity.beta"),
        ("experiment.plasticity.beta=-1.0", "experiment.plasticity.beta"),
        ("experiment.plasticity.tau_rms=0.0", "experiment.plasticity.tau_rms"),
        ("experiment.plasticity.update_every=-5.0", "experiment.plasticity.update_every"),
        ("experiment.target_times=[50.0, 500.0]", "outside the trial"),
        ("experiment.target_times=[-1.0]", "outside the trial"),
    ],
)
def test_bad_input_exits_2_naming_the_parameter_and_writes_nothing(tmp_path, capsys, setting,
                                                                   named):  # fmt: skip
    out = tmp_path / "bad.zarr"
    code = main(["run", SCENARIO, "--set", setting, "--out", str(out), "--quiet"])
    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and named in error and error.count("\n") == 1
    assert not out.exists()


def test_targets_out_of_the_network_are_refused():
    network, _ = small_network()
    with pytest.raises(ValidationError, match=r"targets.neurons\[0\] = 3"):
        SpikeTargets([3], [1.0], period=10.0).counts(network.n_neurons, DT)


@pytest.mark.parametrize("feedback", ["random", "symmetric"])
def test_a_checkpoint_restored_on_the_other_backend_goes_on_bitwise(feedback):
    """Error messages on their way are part of the checkpoint: a run stopped between two
    windows and restored on the other backend ends as the run that never stopped."""
    network, _ = small_network(feedback)
    whole = SpikingSyncSimulator(network)
    whole.run(150.0)
    first = SpikingSyncSimulator(network)
    first.run(40.1)  # a target at 40.0 ms: its error messages arrive at 40.2 ms
    saved = first.checkpoint()
    assert saved["feedback_step"].size > 0  # messages were on their way
    second = SpikingEventSimulator(network)
    second.restore(saved)
    second.run(150.0 - 40.1)
    np.testing.assert_array_equal(second.state.w, whole.state.w)
    np.testing.assert_array_equal(second.state.synapse_state, whole.state.synapse_state)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_a_checkpoint_restored_into_a_used_simulator_drops_what_that_one_had_on_its_way(
    backend,
):
    """The simulator restored into has run to the same point, so its own spikes and error
    messages on their way are the checkpoint's: kept besides the restored ones they would
    arrive twice."""
    network, _ = small_network("random")
    whole = SpikingSyncSimulator(network)
    whole.run(150.0)
    first = SpikingSyncSimulator(network)
    first.run(58.9)  # a target at 40.0 ms, hidden spikes on their way
    saved = first.checkpoint()
    assert saved["feedback_step"].size > 0 and saved["arrival_step"].size > 0
    used = backend(network)
    used.run(58.9)
    used.restore(saved)
    used.run(150.0 - 58.9)
    np.testing.assert_array_equal(used.state.w, whole.state.w)
    np.testing.assert_array_equal(used.state.synapse_state, whole.state.synapse_state)


def test_a_feedback_kind_that_is_not_random_or_symmetric_is_bad_input(tmp_path, capsys):
    out = tmp_path / "bad.zarr"
    setting = 'experiment.feedback=["random", "mirror"]'
    code = main(["run", "scenarios/superspike_hidden.toml", "--set", setting, "--out", str(out)])
    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "experiment.feedback[1]" in error and "mirror" in error
    assert not out.exists()
