"""neurosim's spiking networks against Brian2, a simulator written elsewhere (its numpy
target: no compiler needed, and never standalone mode in tests).

Brian2 labels a spike with the start of the grid step in which the threshold was crossed and
delivers a spike after the neurons' update of the step it arrives in; neurosim stamps the
grid time where ``v >= v_threshold`` is seen and delivers before the update. The two shifts
cancel: with the same delays both give the same spike times and the same weights. They do
not cancel for the refractory period, which Brian2 counts from its label: its neuron is held
at reset one step less than neurosim's (and NEST's ``iaf_psc_exp``, which also counts from
the end of the step). ``test_refractory_periods_differ_by_one_step`` pins that down.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.backends.spiking_event import SpikingEventSimulator
from neurosim.kernels.spike_rules import additive_on_spike, advance_traces
from neurosim.model.spiking import (
    LifParameters,
    Plasticity,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)

b2 = pytest.importorskip(
    "brian2",
    reason="Brian2 is not installed (pip install -e '.[brian2]'; Brian2 2.9 needs NumPy < 2.4)",
)

# the numpy target needs no compiler and no cache of compiled code between runs
b2.prefs.codegen.target = "numpy"
# Brian2's own parser warns about pyparsing names it still uses
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DT = 0.1
N_INPUTS = 200
GMAX = 0.01


def given_inputs(duration: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Input spike times on the grid (ms) and sources, at most one per source and step."""
    rng = np.random.default_rng(seed)
    times = np.round(np.sort(rng.uniform(0, duration - 1, int(15 * duration))) / DT) * DT
    indices = rng.integers(0, N_INPUTS, times.size)
    keep = np.sort(np.unique(np.rint(times / DT).astype(int) * N_INPUTS + indices,
                             return_index=True)[1])  # fmt: skip
    return times[keep], indices[keep]


def brian2_run(times, indices, weights, duration, *, refractory, delay, plastic, synapse):
    """The benchmark's neuron in Brian2 (exact integration), fed the given spikes."""
    b2.start_scope()
    b2.defaultclock.dt = DT * b2.ms
    ms, mV = b2.ms, b2.mV
    if synapse == "conductance_like":
        equations = """dv/dt = (ge * (Ee - vr) + El - v) / taum : volt (unless refractory)
                       dge/dt = -ge / taue : 1"""
    else:
        equations = """dv/dt = (ge * mV + El - v) / taum : volt (unless refractory)
                       dge/dt = -ge / taue : 1"""
    namespace = {
        "taum": 10 * ms, "taue": 5 * ms, "Ee": 0 * mV, "vt": -54 * mV, "vr": -60 * mV,
        "El": -74 * mV, "taupre": 20 * ms, "taupost": 20 * ms, "gmax": GMAX,
        "dApre": 0.5 * GMAX, "dApost": -0.525 * GMAX, "mV": mV,
    }  # fmt: skip
    source = b2.SpikeGeneratorGroup(N_INPUTS, indices, times * ms)
    neuron = b2.NeuronGroup(
        1, equations, threshold="v >= vt", reset="v = vr", method="exact",
        refractory=refractory * ms, namespace=namespace,
    )  # fmt: skip
    neuron.v = -74 * mV
    model = "w : 1"
    on_pre, on_post = "ge += w", None
    if plastic:
        model += """
            dApre/dt = -Apre / taupre : 1 (event-driven)
            dApost/dt = -Apost / taupost : 1 (event-driven)"""
        on_pre += "\nApre += dApre\nw = clip(w + Apost, 0, gmax)"
        on_post = "Apost += dApost\nw = clip(w + Apre, 0, gmax)"
    synapses = b2.Synapses(
        source, neuron, model, on_pre=on_pre, on_post=on_post, namespace=namespace
    )
    synapses.connect()
    synapses.w = weights
    synapses.delay = delay * ms
    monitor = b2.SpikeMonitor(neuron)
    network = b2.Network(source, neuron, synapses, monitor)
    network.run(duration * ms, namespace=namespace)
    return np.asarray(monitor.t / ms), np.asarray(synapses.w)


def neurosim_network(times, indices, weights, *, refractory, delay, plastic, synapse):
    source, post = all_to_all(N_INPUTS, 1)
    return SpikingNetwork(
        dt=DT,
        neuron=LifParameters(
            tau_membrane=10.0,
            tau_synapse=5.0,
            v_rest=-74.0,
            v_reset=-60.0,
            v_threshold=-54.0,
            refractory=refractory,
            synapse=synapse,
            e_synapse=0.0,
        ),
        n_neurons=1,
        inputs=(SpikeTimesInput(N_INPUTS, times, indices),),
        synapse_source=source,
        synapse_post=post,
        weight=weights,
        delay=delay,
        plasticity=Plasticity(
            "additive_stdp", a_plus=0.5 * GMAX, a_minus=-0.525 * GMAX, w_min=0.0, w_max=GMAX
        )
        if plastic
        else Plasticity(),
    )


CASES = {
    # synapse form, neurosim refractory (ms), delay (ms), plastic
    "conductance_like": ("conductance_like", 0.0, 0.1, False),
    "conductance_like_delay_2ms": ("conductance_like", 0.0, 2.0, False),
    "current_refractory": ("current", 3.0, 0.1, False),
    "stdp": ("conductance_like", 0.0, 0.1, True),
    "stdp_refractory_delay": ("conductance_like", 2.0, 0.5, True),
}


DURATION = 600.0


@functools.cache
def brian2_case(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The given inputs, initial weights and Brian2's spike times and final weights (one
    Brian2 run per case, shared by both backends' tests)."""
    synapse, refractory, delay, plastic = CASES[case]
    times, indices = given_inputs(DURATION)
    rng = np.random.default_rng(1)
    weights = rng.uniform(0, GMAX if synapse == "conductance_like" else 0.6, N_INPUTS)
    # Brian2 counts the refractory period from the start of the spike's step (module doc)
    brian2_refractory = refractory + DT if refractory > 0 else 0.0
    expected_times, expected_w = brian2_run(
        times, indices, weights, DURATION, refractory=brian2_refractory, delay=delay,
        plastic=plastic, synapse=synapse,
    )  # fmt: skip
    return times, indices, weights, expected_times, expected_w


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
@pytest.mark.parametrize("case", list(CASES))
def test_same_inputs_give_brian2s_spike_times_and_weights(case, backend):
    synapse, refractory, delay, plastic = CASES[case]
    times, indices, weights, expected_times, expected_w = brian2_case(case)
    network = neurosim_network(
        times, indices, weights, refractory=refractory, delay=delay, plastic=plastic,
        synapse=synapse,
    )  # fmt: skip
    simulator = backend(network)
    record = simulator.run(DURATION)
    assert expected_times.size > 20
    np.testing.assert_allclose(record.spike_time, expected_times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(simulator.state.w, expected_w, rtol=1e-6, atol=1e-12)
    if plastic:
        assert np.mean(np.abs(expected_w - weights)) > 1e-4  # STDP moved the weights


def test_refractory_periods_differ_by_one_step():
    """With the same refractory period, neurosim's neuron stays at reset one step longer
    than Brian2's: every interval between its spikes is longer by exactly dt."""
    duration = 400.0
    times, indices = given_inputs(duration, seed=8)
    weights = np.full(N_INPUTS, 0.6)
    settings = dict(refractory=3.0, delay=0.1, plastic=False, synapse="current")
    brian2_times, _ = brian2_run(times, indices, weights, duration, **settings)
    record = SpikingSyncSimulator(neurosim_network(times, indices, weights, **settings)).run(
        duration
    )
    assert record.spike_time[0] == pytest.approx(brian2_times[0])
    assert record.spike_time.size < brian2_times.size
    first_gap = np.diff(record.spike_time)[0] - np.diff(brian2_times)[0]
    assert first_gap == pytest.approx(DT)


def test_stdp_on_given_pre_and_post_trains_matches_brian2():
    """Pre and post spike trains imposed on both: Brian2's synapse between two spike
    generators against neurosim's rule kernels applied in its order of events."""
    rng = np.random.default_rng(3)
    n_pre, duration = 20, 500.0
    pre_steps = [np.sort(rng.choice(5000, 40, replace=False)) for _ in range(n_pre)]
    post_steps = np.sort(rng.choice(5000, 60, replace=False))
    a_plus, a_minus, tau_plus, tau_minus = 0.01, -0.0105, 20.0, 30.0
    initial = rng.uniform(0.2, 0.8, n_pre)

    b2.start_scope()
    b2.defaultclock.dt = DT * b2.ms
    ms = b2.ms
    pre_indices = np.concatenate([np.full(s.size, k) for k, s in enumerate(pre_steps)])
    pre_times = np.concatenate(pre_steps) * DT
    pre = b2.SpikeGeneratorGroup(n_pre, pre_indices, pre_times * ms)
    post = b2.SpikeGeneratorGroup(1, np.zeros(post_steps.size, int), post_steps * DT * ms)
    namespace = {"taupre": tau_plus * ms, "taupost": tau_minus * ms, "dApre": a_plus,
                 "dApost": a_minus}  # fmt: skip
    synapses = b2.Synapses(
        pre, post,
        """w : 1
           dApre/dt = -Apre / taupre : 1 (event-driven)
           dApost/dt = -Apost / taupost : 1 (event-driven)""",
        on_pre="Apre += dApre\nw = clip(w + Apost, 0, 1)",
        on_post="Apost += dApost\nw = clip(w + Apre, 0, 1)",
        namespace=namespace,
    )  # fmt: skip
    synapses.connect()
    synapses.w = initial
    b2.Network(pre, post, synapses).run(duration * ms, namespace=namespace)
    expected = np.asarray(synapses.w)

    got = initial.copy()
    for k in range(n_pre):
        w, pre_trace, post_trace, last = got[k], 0.0, 0.0, 0
        events = sorted([(s, 0) for s in pre_steps[k]] + [(s, 1) for s in post_steps])
        for step, is_post in events:  # at one step the presynaptic spike comes first
            pre_trace, post_trace = advance_traces(
                pre_trace, post_trace, (step - last) * DT, tau_plus, tau_minus
            )
            last = step
            if is_post:
                w, post_trace = additive_on_spike(w, post_trace, pre_trace, a_minus, 0.0, 1.0)
            else:
                w, pre_trace = additive_on_spike(w, pre_trace, post_trace, a_plus, 0.0, 1.0)
        got[k] = w
    assert np.max(np.abs(expected - initial)) > 1e-3
    np.testing.assert_allclose(got, expected, rtol=1e-6)
