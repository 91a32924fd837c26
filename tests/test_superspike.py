"""SuperSpike: the rule against a plain-NumPy computation of its equations (on both backends),
the van Rossum distance against a numerical integral, the single-neuron task learning on both
backends alike, and bad input.

The reference below integrates the neuron and the PSP trace with the matrix exponential of
the linear system (SciPy), keeps its own arrival queue, and writes the rule's equations out
from docs/superspike.md step by step; it shares no code with the package beyond the network
description."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.backends.spiking_event import SpikingEventSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model.spiking import (
    LifParameters,
    Plasticity,
    SpikeTargets,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
from neurosim.recording import open_run

DT = 0.1
SCENARIO = "scenarios/superspike_single.toml"


def reference_superspike(network: SpikingNetwork, arrivals: dict, steps: int):
    """Plain Python, one step at a time: deliver (g += w, pre += 1) -> integrate and threshold
    -> error filter -> per synapse: PSP, eligibility, gradient -> every update_every steps the
    normalised change. Returns spikes, weights, per-synapse eligibility and the errors."""
    neuron, rule = network.neuron, network.plasticity
    system = np.array([[-1.0 / neuron.tau_membrane, neuron.input_scale / neuron.tau_membrane],
                       [0.0, -1.0 / neuron.tau_synapse]])  # fmt: skip
    step_matrix = expm(system * DT)
    n, n_synapses = network.n_neurons, network.weight.size
    v, g = np.full(n, neuron.v_rest), np.zeros(n)
    hold = np.zeros(n, dtype=int)
    w = network.weight.copy()
    pre, psp = np.zeros(n_synapses), np.zeros(n_synapses)
    summed, eligibility = np.zeros(n_synapses), np.zeros(n_synapses)
    gradient, rms = np.zeros(n_synapses), np.zeros(n_synapses)
    error_rise, error = np.zeros(n), np.zeros(n)
    period = round(network.targets.period / DT)
    target_steps = [
        set(np.rint(network.targets.times[network.targets.neurons == i] / DT).astype(int))
        for i in range(n)
    ]
    update_every = round(rule.update_every / DT)
    rms_decay = math.exp(-update_every * DT / rule.tau_rms)
    spikes = []
    for t in range(steps):
        for e in sorted(arrivals.get(t, [])):
            g[network.synapse_post[e]] += w[e]
            pre[e] += 1.0
        for i in range(n):
            fired = False
            if hold[i] > 0:
                hold[i] -= 1
                g[i] *= step_matrix[1, 1]
            else:
                shifted, g[i] = step_matrix @ np.array([v[i] - neuron.v_rest, g[i]])
                v[i] = neuron.v_rest + shifted
                if v[i] >= neuron.v_threshold:
                    v[i], hold[i], fired = neuron.v_reset, round(neuron.refractory / DT), True
                    spikes.append((t + 1, i))
            wrong = (1.0 if (t + 1) % period in target_steps[i] else 0.0) - (1.0 if fired else 0.0)
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


def small_network() -> tuple[SpikingNetwork, dict]:
    """3 neurons (targets for neurons 0 and 2, none for 1), 12 given-time inputs onto each."""
    rng = np.random.default_rng(5)
    steps = np.unique(rng.integers(0, 3000, 400) * 12 + rng.integers(0, 12, 400))
    times, indices = (steps // 12) * DT, steps % 12
    source, post = all_to_all(12, 3)
    network = SpikingNetwork(
        dt=DT,
        neuron=LifParameters(
            tau_membrane=10.0,
            tau_synapse=5.0,
            v_rest=-60.0,
            v_reset=-60.0,
            v_threshold=-50.0,
            refractory=5.0,
        ),
        n_neurons=3,
        inputs=(SpikeTimesInput(12, times, indices),),
        synapse_source=source,
        synapse_post=post,
        weight=rng.normal(2.0, 3.0, source.size),
        delay=0.1,
        plasticity=Plasticity(
            "superspike",
            beta=0.7,
            tau_rise=4.0,
            tau_decay=9.0,
            eta=0.3,
            tau_rms=200.0,
            epsilon=1e-9,
            update_every=25.0,
            w_min=-4.0,
            w_max=8.0,
        ),
        targets=SpikeTargets([0, 0, 2, 2, 2], [12.0, 61.5, 5.0, 40.0, 88.8], period=100.0),
    )
    arrivals: dict[int, list[int]] = {}
    for step, index in zip(np.rint(times / DT).astype(int), indices, strict=True):
        for e in np.flatnonzero(network.synapse_source == index):
            arrivals.setdefault(step + 1, []).append(e)
    return network, arrivals


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_the_superspike_rule_matches_a_plain_numpy_computation(backend):
    network, arrivals = small_network()
    steps = 3000
    spikes, weights, eligibility, error = reference_superspike(network, arrivals, steps)
    simulator = backend(network)
    record = simulator.run(steps * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert len(spikes) > 10 and got == sorted(spikes)
    np.testing.assert_allclose(simulator.state.w, weights, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(simulator.state.synapse_state[:, 3], eligibility, rtol=1e-11,
                               atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(simulator.state.neuron_state[:, 1], error, rtol=1e-12, atol=1e-15)
    changed = np.abs(weights - network.weight) > 1e-6
    assert changed.mean() > 0.5  # 12 updates changed most weights
    assert np.any(weights == 8.0) or np.any(weights == -4.0) or changed.all()


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
