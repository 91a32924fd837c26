"""BCM with a sliding threshold: the spiking model's rule against a plain-NumPy computation of
its equations on both backends, the rate neuron's fixed point, the stability scenario (a fast
threshold settles, a slow one runs away) and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.backends.spiking_event import SpikingEventSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.model.spiking import (
    LifParameters,
    Plasticity,
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
SCENARIO = "scenarios/bcm_stability.toml"


def reference_bcm(network: SpikingNetwork, arrivals: dict, steps: int):
    """Plain Python: deliver (g += w, the synapse's rate += 1000 / tau_rate) -> integrate and
    threshold -> the neuron's rate (decay, + 1000 / tau_rate per spike), its threshold (exact
    relaxation to rate^2 / kappa), each incoming synapse's rate (decay) and weight (Euler)."""
    rule = network.plasticity
    neurons = LifReference(network)
    n, g = network.n_neurons, neurons.g
    w = network.weight.copy()
    pre_rate, rate, theta = np.zeros(w.size), np.zeros(n), np.zeros(n)
    jump, decay = 1000.0 / rule.tau_rate, math.exp(-DT / rule.tau_rate)
    spikes = []
    for t in range(steps):
        for e in sorted(arrivals.get(t, [])):
            g[network.synapse_post[e]] += w[e]
            pre_rate[e] += jump
        for i in range(n):
            fired = neurons.step(i)
            if fired:
                spikes.append((t + 1, i))
            rate[i] = rate[i] * decay + (jump if fired else 0.0)
            target = rate[i] ** 2 / rule.kappa
            theta[i] = target + (theta[i] - target) * math.exp(-DT / rule.tau_theta)
            for e in np.flatnonzero(network.synapse_post == i):
                pre_rate[e] *= decay
                change = rule.eta * DT * pre_rate[e] * rate[i] * (rate[i] - theta[i])
                w[e] = min(max(w[e] + change, rule.w_min), rule.w_max)
    return spikes, w, rate, theta


def small_network() -> tuple[SpikingNetwork, dict]:
    rng = np.random.default_rng(8)
    steps = np.unique(rng.integers(0, 4000, 900) * 10 + rng.integers(0, 10, 900))
    times, indices = (steps // 10) * DT, steps % 10
    source, post = all_to_all(10, 2)
    network = SpikingNetwork(
        dt=DT,
        neuron=LifParameters(v_rest=-65.0, v_reset=-65.0, v_threshold=-55.0, refractory=2.0),
        n_neurons=2,
        inputs=(SpikeTimesInput(10, times, indices),),
        synapse_source=source,
        synapse_post=post,
        weight=rng.uniform(3.0, 6.0, source.size),
        delay=0.1,
        plasticity=Plasticity(
            "bcm", eta=3e-10, tau_rate=20.0, tau_theta=30.0, kappa=250.0, w_min=0.0, w_max=7.0
        ),
    )
    return network, given_arrivals(network, times, indices)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_the_spiking_bcm_rule_matches_a_plain_numpy_computation(backend):
    network, arrivals = small_network()
    steps = 4000
    spikes, weights, rate, theta = reference_bcm(network, arrivals, steps)
    simulator = backend(network)
    record = simulator.run(steps * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert len(spikes) > 20 and got == sorted(spikes)
    np.testing.assert_allclose(simulator.state.w, weights, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(simulator.state.neuron_state[:, 0], rate, rtol=1e-12)
    np.testing.assert_allclose(simulator.state.neuron_state[:, 1], theta, rtol=1e-12)
    assert np.abs(weights - network.weight).min() > 0.1  # every synapse learned


def test_a_fast_threshold_settles_and_a_slow_one_runs_away_alike_on_both_backends(tmp_path):
    series = {}
    for backend in ("sync", "event"):
        out = tmp_path / f"{backend}.zarr"
        arguments = ["run", SCENARIO, "--backend", backend, "--out", str(out), "--quiet",
                     "--set", "experiment.duration=15000.0"]  # fmt: skip
        assert main(arguments) == EXIT_OK
        series[backend] = open_run(out).series("samples")
    for name in ("rate", "weight_norm", "theta"):
        np.testing.assert_array_equal(series["sync"][name], series["event"][name], err_msg=name)
    rate, norm = series["sync"]["rate"], series["sync"]["weight_norm"]
    slow, fast = 0, 1  # tau_theta = [100 s, 0.5 s]
    assert rate[:, slow].max() > 100.0 and norm[:, slow].max() == pytest.approx(50.0)  # w_max
    assert rate[:, fast].max() < 100.0
    assert 3.0 < rate[-10:, fast].mean() < 20.0  # held near kappa = 10 Hz


def test_the_rate_neuron_settles_at_kappa_with_a_fast_threshold(tmp_path):
    out = tmp_path / "rate.zarr"
    settings = ['experiment.model="rate"', "experiment.dt=1.0", "experiment.weight_low=0.005",
                "experiment.weight_high=0.015", "experiment.plasticity.eta=1e-8",
                "experiment.plasticity.w_max=1.0", "experiment.duration=20000.0"]  # fmt: skip
    arguments = ["run", SCENARIO, "--out", str(out), "--quiet"]
    arguments += [item for setting in settings for item in ("--set", setting)]
    assert main(arguments) == EXIT_OK
    metrics = {name: float(open_run(out).array("metrics", name)) for name in
               ("final_rate_tau500", "max_rate_tau100000", "runaway_time_tau500")}  # fmt: skip
    assert metrics["final_rate_tau500"] == pytest.approx(10.0, rel=0.02)
    assert metrics["max_rate_tau100000"] > 100.0 and math.isnan(metrics["runaway_time_tau500"])


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("experiment.tau_theta=[0.0, 500.0]", "experiment.tau_theta[0]"),
        ("experiment.tau_theta=-5.0", "experiment.tau_theta[0]"),
        ("experiment.plasticity.kappa=0.0", "experiment.plasticity.kappa"),
        ("experiment.plasticity.kappa=-2.0", "experiment.plasticity.kappa"),
        ("experiment.plasticity.tau_rate=0.0", "experiment.plasticity.tau_rate"),
        ('experiment.model="ising"', "experiment.model"),
    ],
)
def test_bad_input_exits_2_naming_the_parameter_and_writes_nothing(tmp_path, capsys, setting,
                                                                   named):  # fmt: skip
    out = tmp_path / "bad.zarr"
    code = main(["run", SCENARIO, "--set", setting, "--out", str(out), "--quiet"])
    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and named in error and error.count("\n") == 1
    assert not out.exists()
