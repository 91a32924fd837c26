"""Spiking networks: the LIF neuron and the rules against plain-NumPy computations, the two
backends against each other, the input trains' statistics, and bad input.

The reference below integrates with the matrix exponential of the linear system (SciPy),
applies every rule event by event in Python and keeps its own queues of arrivals: it shares
no code with the package beyond the network description.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import expm

from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.backends.spiking_event import SpikingEventSimulator
from neurosim.errors import NeurosimError, ValidationError
from neurosim.kernels.neurons.lif import lif_step, propagators
from neurosim.model.spiking import (
    BinomialInput,
    LifParameters,
    Plasticity,
    PoissonInput,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
from neurosim.streams.spikes import InputSpikes

DT = 0.1


def exact_step_matrix(dt: float, tau_m: float, tau_s: float, scale: float) -> np.ndarray:
    """The propagator of (v - v_rest, g) over dt, from the matrix exponential."""
    system = np.array([[-1.0 / tau_m, scale / tau_m], [0.0, -1.0 / tau_s]])
    return expm(system * dt)


@pytest.mark.parametrize(
    ("tau_m", "tau_s", "scale"),
    [(10.0, 5.0, 60.0), (10.0, 10.0, 1.0), (10.0, 10.0 + 1e-10, 1.0), (20.0, 3.0, 1.0), (5, 40, 2)],
)
def test_propagators_are_the_exact_solution(tau_m, tau_s, scale):
    expected = exact_step_matrix(DT, tau_m, tau_s, scale)
    got = propagators(DT, tau_m, tau_s, scale)
    assert got.membrane_decay == pytest.approx(expected[0, 0], rel=1e-13)
    assert got.synapse_decay == pytest.approx(expected[1, 1], rel=1e-13)
    assert got.synapse_to_membrane == pytest.approx(expected[0, 1], rel=1e-9)


def reference_run(network: SpikingNetwork, arrivals_by_step: dict, steps: int):
    """Plain Python: deliver (weight, then the rule) -> postsynaptic rule -> integrate with
    the matrix exponential -> threshold; returns spikes (step, neuron), weights, potentials."""
    neuron, rule = network.neuron, network.plasticity
    matrix = exact_step_matrix(network.dt, neuron.tau_membrane, neuron.tau_synapse,
                               neuron.input_scale)  # fmt: skip
    n = network.n_neurons
    v = np.full(n, neuron.v_rest)
    g = np.zeros(n)
    hold = np.zeros(n, dtype=int)
    w = network.weight.copy()
    pre_trace = np.zeros_like(w)
    post_trace = np.zeros_like(w)
    last = np.zeros(w.size)  # ms
    fired_now = np.zeros(n, dtype=bool)
    refractory_steps = round(neuron.refractory / network.dt)
    pending = {step: list(items) for step, items in arrivals_by_step.items()}
    spikes, potentials = [], []

    def traces_to(e, now_ms):
        elapsed = now_ms - last[e]
        pre_trace[e] *= math.exp(-elapsed / rule.tau_plus)
        post_trace[e] *= math.exp(-elapsed / rule.tau_minus)
        last[e] = now_ms

    waiting = []  # (synapse, arrival step) of presynaptic spikes not decided yet
    post_spikes = [set() for _ in range(n)]

    def decide_nearest(waiting, t, fired_now):
        """The paper's definition, read off the full spike lists: decided at the first
        postsynaptic spike after the arrival, or when its window after has passed."""
        still = []
        window = rule.window
        for e, arrival in waiting:
            i = network.synapse_post[e]
            right_spike_now = fired_now[i] and arrival < t
            if not right_spike_now and arrival + window > t:
                still.append((e, arrival))
                continue
            posts = post_spikes[i]
            left = [s for s in posts if arrival - window <= s < arrival]
            right = [s for s in posts if arrival < s <= arrival + window]
            if (left and right) or arrival in posts or not (left or right):
                continue
            if right:
                delta = min(right) - arrival
                change = rule.a_plus * math.exp(-delta * network.dt / rule.tau_plus)
            else:
                delta = arrival - max(left)
                change = rule.a_minus * math.exp(-delta * network.dt / rule.tau_minus)
            w[e] = min(max(w[e] + change, rule.w_min), rule.w_max)
        return still

    slope = (neuron.v_rest - v + neuron.input_scale * g) / neuron.tau_membrane
    for t in range(steps):
        now = t * network.dt
        for e in sorted(pending.pop(t, [])):
            i = network.synapse_post[e]
            g[i] += w[e]
            if rule.rule == "additive_stdp":
                traces_to(e, now)
                pre_trace[e] += rule.a_plus
                w[e] = min(max(w[e] + post_trace[e], rule.w_min), rule.w_max)
            elif rule.rule == "rate_spike":
                w[e] = min(max(w[e] + rule.alpha * slope[i], rule.w_min), rule.w_max)
            elif rule.rule == "nearest_stdp":
                waiting.append((e, t))
        for i in range(n):
            if fired_now[i] and rule.rule == "additive_stdp":
                for e in np.flatnonzero(network.synapse_post == i):
                    traces_to(e, now)
                    post_trace[e] += rule.a_minus
                    w[e] = min(max(w[e] + pre_trace[e], rule.w_min), rule.w_max)
        if rule.rule == "nearest_stdp":
            waiting = decide_nearest(waiting, t, fired_now)
        fired_now[:] = False
        for i in range(n):
            if hold[i] > 0:
                hold[i] -= 1
                g[i] *= matrix[1, 1]
                continue
            shifted, g[i] = matrix @ np.array([v[i] - neuron.v_rest, g[i]])
            v[i] = neuron.v_rest + shifted
            if v[i] >= neuron.v_threshold:
                v[i] = neuron.v_reset
                hold[i] = refractory_steps
                fired_now[i] = True
                post_spikes[i].add(t + 1)
                spikes.append((t + 1, i))
                source = network.n_inputs + i
                for e in np.flatnonzero(network.synapse_source == source):
                    pending.setdefault(t + 1 + network.delay_steps[e], []).append(e)
        slope = (neuron.v_rest - v + neuron.input_scale * g) / neuron.tau_membrane
        potentials.append(v.copy())
    return spikes, w, np.array(potentials)


def small_network(rule: Plasticity, refractory: float = 2.0, synapse: str = "current"):
    """3 neurons, 6 given-time inputs onto all of them, recurrent synapses with their own
    delays (1, 3 and 7 steps), and the arrivals as the reference wants them."""
    rng = np.random.default_rng(11)
    times = np.round(np.sort(rng.uniform(0, 45, 150)) / DT) * DT
    indices = rng.integers(0, 6, times.size)
    keep = np.unique(np.rint(times / DT).astype(int) * 6 + indices, return_index=True)[1]
    times, indices = times[np.sort(keep)], indices[np.sort(keep)]
    source, post = all_to_all(6, 3)
    recurrent_source = np.array([6, 7, 8, 6]) + 0
    recurrent_post = np.array([1, 2, 0, 2])
    scale = 1.0 if synapse == "current" else 60.0
    network = SpikingNetwork(
        dt=DT,
        neuron=LifParameters(
            tau_membrane=10.0,
            tau_synapse=4.0,
            v_rest=-70.0,
            v_reset=-65.0,
            v_threshold=-55.0,
            refractory=refractory,
            synapse=synapse,
            e_synapse=-5.0,
        ),
        n_neurons=3,
        inputs=(SpikeTimesInput(6, times, indices),),
        synapse_source=np.concatenate([source, recurrent_source]),
        synapse_post=np.concatenate([post, recurrent_post]),
        weight=np.concatenate([rng.uniform(2, 9, source.size), [4.0, -3.0, 5.0, 2.5]]) / scale,
        delay=np.concatenate([np.full(source.size, 0.1), [0.1, 0.3, 0.7, 0.3]]),
        plasticity=rule,
    )
    arrivals = {}
    steps = np.rint(times / DT).astype(int)
    for step, index in zip(steps, indices, strict=True):
        for e in np.flatnonzero(network.synapse_source == index):
            arrivals.setdefault(step + network.delay_steps[e], []).append(e)
    return network, arrivals


RULES = {
    "none": Plasticity(),
    "additive_stdp": Plasticity(
        "additive_stdp",
        a_plus=0.4,
        a_minus=-0.45,
        tau_plus=15.0,
        tau_minus=25.0,
        w_min=-4.0,
        w_max=9.0,
    ),
    "rate_spike": Plasticity("rate_spike", alpha=0.3, w_min=-4.0, w_max=9.0),
    "nearest_stdp": Plasticity(
        "nearest_stdp",
        a_plus=1.5,
        a_minus=-1.2,
        tau_plus=1.0,
        tau_minus=1.5,
        w_min=-4.0,
        w_max=9.0,
        window=20,
    ),
}
# a window longer than the run's first postsynaptic spike is late: arrivals before it have no
# spike on their left, however far back the window reaches
RULES["nearest_stdp_wide"] = dataclasses.replace(
    RULES["nearest_stdp"], tau_plus=4.0, tau_minus=6.0, window=300, pending_per_synapse=64
)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("synapse", ["current", "conductance_like"])
def test_both_backends_match_the_plain_reference(backend, rule, synapse):
    network, arrivals = small_network(RULES[rule], synapse=synapse)
    steps = 500
    expected_spikes, expected_w, expected_v = reference_run(network, arrivals, steps)
    simulator = backend(network, record_neurons=[0, 1, 2], record_every=1)
    record = simulator.run(steps * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert len(expected_spikes) > 10  # the inputs drive every neuron past threshold
    assert got == sorted(expected_spikes)
    np.testing.assert_allclose(simulator.state.w, expected_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(record.potential, expected_v, rtol=1e-12, atol=1e-10)
    if rule != "none":
        assert not np.allclose(expected_w, network.weight)  # the rule did change weights


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_potentials_recorded_every_few_steps_are_the_references_at_those_steps(backend):
    """record_every = 7 steps: row k holds the potentials after step 7 (k + 1) - 1, at time
    7 (k + 1), of the recorded neurons only; the run's 500 steps give 71 rows."""
    network, arrivals = small_network(RULES["additive_stdp"])
    _, _, potentials = reference_run(network, arrivals, 500)
    simulator = backend(network, record_neurons=[2, 0], record_every=7)
    record = simulator.run(500 * DT)
    np.testing.assert_allclose(record.potential, potentials[6::7][:, [2, 0]], rtol=1e-12)
    np.testing.assert_allclose(record.potential_time, np.arange(1, 72) * 7 * DT, rtol=1e-12)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_rule_none_leaves_the_weights_whatever_the_other_rules_parameters(backend):
    """Rule none with every STDP and rate parameter set: the neurons spike as the reference's
    do, and no weight moves (no other rule's code runs)."""
    rule = dataclasses.replace(RULES["additive_stdp"], rule="none", alpha=0.3)
    network, arrivals = small_network(rule)
    expected_spikes, expected_w, _ = reference_run(network, arrivals, 500)
    record = backend(network).run(500 * DT)
    got = list(zip(np.rint(record.spike_time / DT).astype(int), record.spike_neuron, strict=True))
    assert len(got) > 10 and got == sorted(expected_spikes)
    np.testing.assert_array_equal(record.weights[-1], network.weight)
    np.testing.assert_array_equal(expected_w, network.weight)


def test_additive_stdp_is_the_sum_over_all_spike_pairs():
    """Without bounds the trace rule is the pair sum: each (pre arrival, post spike) pair
    adds a_plus exp(-d / tau_plus) when post is at or after the arrival, a_minus
    exp(-d / tau_minus) when before (d = |difference| in ms)."""
    rule = Plasticity("additive_stdp", a_plus=0.02, a_minus=-0.03, tau_plus=12.0, tau_minus=30.0)
    network, arrivals = small_network(rule)
    simulator = SpikingSyncSimulator(network)
    record = simulator.run(500 * DT)
    post_times = {i: record.spike_time[record.spike_neuron == i] for i in range(3)}
    change = np.zeros(network.weight.size)
    for step, synapses in arrivals.items():
        for e in synapses:
            if step >= 500:
                continue
            difference = post_times[network.synapse_post[e]] - step * DT
            after = difference[difference >= -1e-9]
            before = -difference[difference < -1e-9]
            change[e] += np.sum(rule.a_plus * np.exp(-after / rule.tau_plus))
            change[e] += np.sum(rule.a_minus * np.exp(-before / rule.tau_minus))
    inputs = network.synapse_source < network.n_inputs
    np.testing.assert_allclose(
        (simulator.state.w - network.weight)[inputs], change[inputs], rtol=1e-10, atol=1e-12
    )


def recurrent_poisson_network(rule: str) -> SpikingNetwork:
    rng = np.random.default_rng(3)
    n, n_poisson, n_binomial = 12, 40, 5
    source, post = all_to_all(n_poisson + n_binomial, n)
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b and rng.random() < 0.3]
    return SpikingNetwork(
        dt=DT,
        neuron=LifParameters(refractory=1.5),
        n_neurons=n,
        inputs=(PoissonInput(n_poisson, 20.0), BinomialInput(n_binomial, 50.0)),
        synapse_source=np.concatenate([source, [n_poisson + n_binomial + a for a, _ in pairs]]),
        synapse_post=np.concatenate([post, [b for _, b in pairs]]),
        weight=np.concatenate([rng.uniform(2, 10, source.size), rng.uniform(-2, 2, len(pairs))]),
        delay=np.concatenate([np.full(source.size, 0.1), rng.choice([1.0, 1.5, 3.0], len(pairs))]),
        plasticity=RULES[rule]
        if rule == "none"
        else RULES[rule].__class__(**{**RULES[rule].__dict__, "w_min": -2.0, "w_max": 12.0}),
    )


@pytest.mark.parametrize("rule", ["additive_stdp", "rate_spike", "nearest_stdp"])
def test_event_backend_equals_sync_backend_on_a_recurrent_network(rule):
    network = recurrent_poisson_network(rule)
    records = []
    for backend in (SpikingSyncSimulator, SpikingEventSimulator):
        simulator = backend(network, seed=4, record_neurons=[0, 7], weights_every=2000)
        first = simulator.run(300.0)
        second = simulator.run(200.0)  # a second call goes on where the first stopped
        records.append((first, second, simulator.state.w.copy()))
    (sync_first, sync_second, sync_w), (event_first, event_second, event_w) = records
    assert sync_first.spike_time.size > 100
    for sync, event in ((sync_first, event_first), (sync_second, event_second)):
        np.testing.assert_array_equal(sync.spike_time, event.spike_time)
        np.testing.assert_array_equal(sync.spike_neuron, event.spike_neuron)
        np.testing.assert_array_equal(sync.potential, event.potential)
        np.testing.assert_array_equal(sync.weights, event.weights)
        np.testing.assert_array_equal(sync.weight_time, event.weight_time)
    np.testing.assert_array_equal(sync_w, event_w)
    assert list(sync_first.weight_time) == [0.0, 200.0, 300.0]
    assert list(sync_second.weight_time) == [400.0, 500.0]


def test_event_neurons_keep_clocks_of_their_own():
    """A neuron that sends to no neuron advances in long windows; one that sends with a
    1 ms delay advances 10 steps at a time: no global barrier."""
    network = recurrent_poisson_network("none")
    simulator = SpikingEventSimulator(network, max_window=500)
    senders = set(network.synapse_source[network.synapse_source >= network.n_inputs] - 57)
    windows = simulator.windows
    assert all(windows[i] <= 30 for i in senders)
    delays = network.delay_steps[network.synapse_source >= network.n_inputs]
    assert windows.min() == delays.min()
    assert len(set(windows.tolist())) > 1


def test_the_event_count_is_one_wake_per_window_of_each_neuron_and_input_chunk():
    """``events`` (what tools/bench_superspike.py divides by) counts every SimPy wake: each
    neuron wakes once per window of its own, each input population once per input chunk."""
    network = recurrent_poisson_network("none")
    simulator = SpikingEventSimulator(network, max_window=500, input_chunk=300)
    steps = round(123.4 / DT)
    simulator.run(123.4)
    neuron_wakes = sum(math.ceil(steps / window) for window in simulator.windows)
    input_wakes = len(network.inputs) * math.ceil(steps / 300)
    assert simulator.events == neuron_wakes + input_wakes


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_superspike_without_targets_has_no_error_to_learn_from(backend):
    """SuperSpike learns from target spikes fed back as errors: a network given none runs,
    spikes, and keeps every weight."""
    network = dataclasses.replace(
        recurrent_poisson_network("none"), plasticity=Plasticity("superspike", w_max=12.0)
    )
    simulator = backend(network, seed=2)
    record = simulator.run(200.0)
    assert record.spike_time.size > 50
    np.testing.assert_array_equal(simulator.state.w, network.weight)


def test_poisson_trains_have_the_rate_and_the_irregularity_of_poisson():
    network = SpikingNetwork(
        dt=DT, neuron=LifParameters(), n_neurons=1, inputs=(PoissonInput(200, 40.0),),
        synapse_source=np.empty(0, int), synapse_post=np.empty(0, int), weight=0.0, delay=0.1,
    )  # fmt: skip
    steps, sources = InputSpikes(network, seed=2).until(200_000)  # 20 s
    rate = steps.size / 200 / 20.0
    assert rate == pytest.approx(40.0, rel=0.02)
    intervals = np.concatenate([np.diff(steps[sources == k]) for k in range(200)]) * DT
    assert np.std(intervals) / np.mean(intervals) == pytest.approx(1.0, abs=0.03)


def test_binomial_trains_fire_with_probability_rate_times_dt_per_step():
    population = BinomialInput(50, [100.0] * 25 + [900.0] * 25)
    network = SpikingNetwork(
        dt=1.0, neuron=LifParameters(), n_neurons=1, inputs=(population,),
        synapse_source=np.empty(0, int), synapse_post=np.empty(0, int), weight=0.0, delay=1.0,
    )  # fmt: skip
    steps, sources = InputSpikes(network, seed=5).until(40_000)
    counts = np.bincount(sources, minlength=50) / 40_000
    assert counts[:25].mean() == pytest.approx(0.1, abs=0.003)
    assert counts[25:].mean() == pytest.approx(0.9, abs=0.003)
    # at most one spike per step and source: the law of independent per-step draws
    assert np.unique(steps * 50 + sources).size == steps.size


def test_trains_do_not_depend_on_chunks_and_frozen_ones_not_on_the_run_seed():
    def network(seed=None):
        return SpikingNetwork(
            dt=DT, neuron=LifParameters(), n_neurons=1,
            inputs=(PoissonInput(30, 25.0, seed=seed), BinomialInput(30, 25.0)),
            synapse_source=np.empty(0, int), synapse_post=np.empty(0, int), weight=0.0,
            delay=0.1,
        )  # fmt: skip

    whole = InputSpikes(network(), seed=1).until(30_000)
    pieces = InputSpikes(network(), seed=1)
    parts = [pieces.until(stop) for stop in (7, 1000, 1001, 17_000, 30_000)]
    np.testing.assert_array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(whole[1], np.concatenate([p[1] for p in parts]))
    frozen_a = InputSpikes(network(seed=9), seed=1).until(30_000)
    frozen_b = InputSpikes(network(seed=9), seed=2).until(30_000)
    first_population = frozen_a[1] < 30
    np.testing.assert_array_equal(frozen_a[0][first_population], frozen_b[0][frozen_b[1] < 30])
    other = InputSpikes(network(), seed=2).until(30_000)
    assert not np.array_equal(whole[0], other[0])


BAD = [
    (lambda: LifParameters(tau_membrane=0.0), "neuron.tau_membrane"),
    (lambda: LifParameters(tau_synapse=-1.0), "neuron.tau_synapse"),
    (lambda: LifParameters(refractory=-0.5), "neuron.refractory"),
    (lambda: LifParameters(v_threshold=-65.0, v_reset=-65.0), "neuron.v_threshold"),
    (lambda: Plasticity("additive_stdp", w_min=1.0, w_max=0.5), "plasticity.w_min"),
    (lambda: Plasticity("additive_stdp", tau_plus=0.0), "plasticity.tau_plus"),
    (lambda: Plasticity("hebbian"), "plasticity.rule"),
    (lambda: PoissonInput(3, -1.0), "input.rate"),
    (lambda: SpikeTimesInput(2, [1.0, 0.5], [0, 1]), "input.times[1]"),
    (lambda: SpikeTimesInput(2, [-1.0, 0.5], [0, 1]), "input.times[0]"),
    (lambda: SpikeTimesInput(2, [0.0, 1.0], [0, 2]), "input.indices"),
]


@pytest.mark.parametrize(("make", "named"), BAD, ids=[named for _, named in BAD])
def test_bad_parameters_are_refused_by_name(make, named):
    with pytest.raises(ValidationError, match=named.replace("[", r"\[").replace("]", r"\]")):
        make()


def _network(**changes) -> SpikingNetwork:
    arguments = dict(
        dt=DT, neuron=LifParameters(), n_neurons=1, inputs=(BinomialInput(2, 100.0),),
        synapse_source=np.array([0, 1]), synapse_post=np.array([0, 0]), weight=1.0, delay=0.1,
    )  # fmt: skip
    return SpikingNetwork(**{**arguments, **changes})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"dt": 0.0}, "network.dt"),
        ({"dt": -0.1}, "network.dt"),
        ({"delay": np.array([0.1, 0.05])}, "network.delay = 0.05"),
        ({"inputs": (BinomialInput(2, 20_000.0),)}, "rate \\* dt <= 1"),
        ({"inputs": (SpikeTimesInput(2, [1.0, 1.02], [1, 1]),)}, "two spikes in the grid step"),
        ({"synapse_post": np.array([0, 1])}, "network.synapse_post"),
    ],
)
def test_bad_networks_are_refused_by_name(changes, named):
    with pytest.raises(ValidationError, match=named):
        _network(**changes)


def test_a_full_queue_of_the_nearest_rule_stops_the_run_naming_the_synapse():
    rule = Plasticity("nearest_stdp", a_plus=0.1, a_minus=-0.1, window=20, pending_per_synapse=2)
    network = _network(
        inputs=(SpikeTimesInput(1, [1.0, 1.1, 1.2], [0, 0, 0]),), synapse_source=np.array([0]),
        synapse_post=np.array([0]), plasticity=rule,
    )  # fmt: skip
    with pytest.raises(NeurosimError, match=r"pending_per_synapse = 2: synapse 0 .* raise it"):
        SpikingSyncSimulator(network).run(10.0)


def test_a_lone_neuron_with_constant_drive_fires_at_the_analytic_rate():
    """Current-based, tau_synapse long: g is nearly constant; the interval between spikes is
    tau_m ln((v_inf - v_reset) / (v_inf - v_threshold)) + refractory, on the grid."""
    neuron = LifParameters(tau_membrane=10.0, tau_synapse=1e9, v_rest=-70.0, v_reset=-65.0,
                           v_threshold=-50.0, refractory=2.0)  # fmt: skip
    network = _network(
        neuron=neuron, inputs=(SpikeTimesInput(1, [0.0], [0]),), synapse_source=np.array([0]),
        synapse_post=np.array([0]), weight=30.0,
    )  # fmt: skip
    record = SpikingSyncSimulator(network).run(300.0)
    intervals = np.diff(record.spike_time)
    expected = 10.0 * math.log((-40.0 + 65.0) / (-40.0 + 50.0)) + 2.0
    assert intervals.size > 20
    assert np.all(np.abs(intervals - expected) <= DT + 1e-9)


# the scenario through the neurosim command


def test_sma_scenario_runs_on_both_backends_with_the_same_results(tmp_path):
    from neurosim.cli import EXIT_OK, main
    from neurosim.recording import open_run

    scenario = Path(__file__).parents[1] / "scenarios" / "sma_stdp.toml"
    short = ["--set", "experiment.duration=2000.0", "--set", "experiment.weights_every=500.0"]
    stores = {}
    for backend in ("sync", "event"):
        out = tmp_path / f"{backend}.zarr"
        assert main(["run", str(scenario), *short, "--backend", backend, "--out", str(out),
                     "--quiet"]) == EXIT_OK  # fmt: skip
        stores[backend] = open_run(out)
    sync, event = stores["sync"], stores["event"]
    assert sync.attributes["time_unit"] == "0.1 ms"
    for group, name in (("events", "t"), ("weights", "W"), ("trajectory", "potential")):
        np.testing.assert_array_equal(sync.array(group, name), event.array(group, name))
    weights = sync.array("weights", "W")
    assert weights.shape == (5, 1000)
    assert np.all((weights >= 0.0) & (weights <= 0.01))
    assert sync.array("weights", "snapshot_time").tolist() == [0, 5000, 10000, 15000, 20000]
    rate = float(sync.array("metrics", "output_rate_hz"))
    assert 10.0 < rate < 200.0
    assert sync.array("metrics", "weight_histogram").sum() == 1000
    image = tmp_path / "sma.png"
    assert main(["plot", str(tmp_path / "sync.zarr"), "-o", str(image)]) == EXIT_OK
    assert image.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("experiment.dt=0.0", "experiment.dt"),
        ("experiment.neuron.tau_membrane=-1.0", "experiment.neuron.tau_membrane"),
        ("experiment.neuron.refractory=-1.0", "experiment.neuron.refractory"),
        ("experiment.neuron.v_threshold=-65.0", "experiment.neuron.v_threshold"),
        ("experiment.plasticity.w_min=0.02", "experiment.plasticity.w_min"),
        ("experiment.inputs=[{kind='binomial', size=2, rate=20000.0, weight=0.1}]", "rate"),
        ("experiment.inputs=[{kind='poisson', size=2, rate=-3.0, weight=0.1}]", "rate"),
        (
            "experiment.inputs=[{kind='times', size=2, times=[2.0, 1.0], indices=[0, 1], "
            "weight=0.1}]",
            "times\\[1\\]",
        ),
        (
            "experiment.inputs=[{kind='times', size=2, times=[-2.0, 1.0], indices=[0, 1], "
            "weight=0.1}]",
            "times\\[0\\]",
        ),
        (
            "experiment.inputs=[{kind='poisson', size=2, rate=5.0, weight=0.1, delay=0.05}]",
            "delay",
        ),
    ],
)
def test_bad_scenario_values_exit_2_naming_the_key_and_write_nothing(
    tmp_path, capsys, override, named
):
    from neurosim.cli import EXIT_BAD_INPUT, main

    scenario = Path(__file__).parents[1] / "scenarios" / "sma_stdp.toml"
    out = tmp_path / "run.zarr"
    code = main(["run", str(scenario), "--set", override, "--out", str(out), "--quiet"])
    assert code == EXIT_BAD_INPUT
    assert re.search(named, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("rule", ["additive_stdp", "nearest_stdp"])
def test_a_checkpoint_restored_on_either_backend_goes_on_bitwise(rule):
    network = recurrent_poisson_network(rule)
    whole = SpikingSyncSimulator(network, seed=6, record_neurons=[1])
    first, second = whole.run(230.0), whole.run(270.0)
    for backend in (SpikingSyncSimulator, SpikingEventSimulator):
        stopped = SpikingSyncSimulator(network, seed=6, record_neurons=[1])
        stopped.run(230.0)
        saved = stopped.checkpoint()
        resumed = backend(network, seed=6, record_neurons=[1])
        resumed.restore(saved)
        again = resumed.run(270.0)
        np.testing.assert_array_equal(again.spike_time, second.spike_time)
        np.testing.assert_array_equal(again.potential, second.potential)
        np.testing.assert_array_equal(resumed.state.w, whole.state.w)
    assert first.spike_time.size and second.spike_time.size


@pytest.mark.parametrize("rule", ["additive_stdp", "nearest_stdp"])
def test_both_backends_checkpoint_the_same_arrays_after_the_same_run(rule):
    """Array for array, dtype and shape included: the spikes on their way in the same order,
    and no error messages (these rules send none) as three empty arrays."""
    network = recurrent_poisson_network(rule)
    saved = {}
    for backend in (SpikingSyncSimulator, SpikingEventSimulator):
        simulator = backend(network, seed=6, record_neurons=[1])
        simulator.run(230.0)
        saved[backend] = simulator.checkpoint()
    sync, event = saved[SpikingSyncSimulator], saved[SpikingEventSimulator]
    assert sorted(sync) == sorted(event)
    assert sync["arrival_step"].size > 0  # spikes were on their way
    for name in ("feedback_step", "feedback_edge", "feedback_value"):
        assert event[name].shape == (0,)
    for name, array in sync.items():
        assert event[name].dtype == array.dtype and event[name].shape == array.shape, name
        np.testing.assert_array_equal(event[name], array, err_msg=name)


@pytest.mark.parametrize("rule", ["additive_stdp", "nearest_stdp", "rate_spike"])
def test_a_checkpoint_holds_no_state_of_another_rule(rule):
    """The waiting-spike rings belong to the nearest rule, the traces to SuperSpike and BCM:
    the other rules' checkpoints hold them empty, so a large network's checkpoint does not
    carry a row per synapse that nothing reads."""
    network = recurrent_poisson_network(rule)
    saved = SpikingSyncSimulator(network, seed=6).checkpoint()
    ring = network.plasticity.pending_per_synapse if rule == "nearest_stdp" else 0
    assert saved["state_pending_step"].shape == (network.weight.size, ring)
    assert saved["state_pending_left"].shape == (network.weight.size, ring)
    assert saved["state_synapse_state"].shape[0] == 0
    assert saved["state_neuron_state"].shape[0] == 0


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_a_record_interval_below_one_step_is_refused_by_name(backend):
    network, _ = small_network(RULES["none"])
    for every in (0, -3):
        with pytest.raises(ValidationError, match=rf"record\.every = {every}: expected an "):
            backend(network, record_every=every)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_a_record_with_nothing_recorded_has_empty_arrays_of_the_right_shape(backend):
    """No neuron recorded: no potential rows and no columns; the state's record taken
    again at once (the run took its own): no spike, no potential row, no weight row, and
    one column per recorded neuron and per synapse."""
    network = recurrent_poisson_network("additive_stdp")
    record = backend(network, seed=6).run(20.0)
    assert record.potential_time.shape == (0,) and record.potential.shape == (0, 0)
    assert record.spike_time.size > 0 and list(record.weight_time) == [0.0, 20.0]
    simulator = backend(network, seed=6, record_neurons=[1, 4])
    simulator.run(20.0)
    again = simulator.state.record()
    assert again.spike_time.shape == again.spike_neuron.shape == (0,)
    assert again.potential_time.shape == (0,) and again.potential.shape == (0, 2)
    assert again.weight_time.shape == (0,)
    assert again.weights.shape == (0, network.weight.size)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_the_defaults_are_seed_0_and_a_potential_every_10_steps(backend):
    network = recurrent_poisson_network("none")
    default = backend(network, record_neurons=[2]).run(30.0)
    given = backend(network, seed=0, record_neurons=[2], record_every=10).run(30.0)
    np.testing.assert_array_equal(default.spike_time, given.spike_time)
    np.testing.assert_array_equal(default.spike_neuron, given.spike_neuron)
    np.testing.assert_allclose(default.potential_time, np.arange(1, 31) * 10 * DT, rtol=1e-12)
    assert default.spike_time.size > 0
    np.testing.assert_array_equal(default.potential, given.potential)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_weight_snapshots_fall_on_multiples_of_their_interval_across_run_calls(backend):
    """No synapse between neurons, so nothing but the snapshots limits a window: a run
    split at 5 ms still snapshots at every 10 ms of the run's clock, with the weights the
    rule had reached there (the unsplit run's)."""
    network, _ = small_network(RULES["additive_stdp"])
    feed_forward = network.synapse_source < network.n_inputs
    network = dataclasses.replace(
        network, synapse_source=network.synapse_source[feed_forward],
        synapse_post=network.synapse_post[feed_forward], weight=network.weight[feed_forward],
        delay=network.delay[feed_forward],
    )  # fmt: skip
    whole = backend(network, weights_every=100).run(45.0)
    split = backend(network, weights_every=100)
    first, second = split.run(5.0), split.run(40.0)
    assert list(first.weight_time) == [0.0, 5.0]
    np.testing.assert_allclose(second.weight_time, [10.0, 20.0, 30.0, 40.0, 45.0], rtol=1e-12)
    np.testing.assert_allclose(whole.weight_time, [0.0, 10.0, 20.0, 30.0, 40.0, 45.0], rtol=1e-12)
    np.testing.assert_array_equal(second.weights, whole.weights[1:])
    assert not np.array_equal(whole.weights[1], whole.weights[2])  # the rule changed them


def test_a_killed_spiking_run_resumes_to_the_uninterrupted_run(tmp_path):
    from neurosim.cli import EXIT_OK, main
    from neurosim.recording import open_run

    try:
        from tests import test_resume
    except ImportError:  # pytest put tests/ itself on sys.path
        import test_resume

    scenario = Path(__file__).parents[1] / "scenarios" / "sma_stdp.toml"
    options = ["--set", "experiment.duration=8000.0", "--set", "experiment.write_every=500.0",
               "--set", "record.checkpoint_every=1", "--quiet"]  # fmt: skip
    whole, killed = tmp_path / "whole.zarr", tmp_path / "killed.zarr"
    assert main(["run", str(scenario), *options, "--out", str(whole)]) == EXIT_OK
    test_resume.kill_after_first_checkpoint(
        ["run", str(scenario), *options, "--out", str(killed)], killed, seed=3
    )
    assert main(["run", "--resume", str(killed), "--quiet"]) == EXIT_OK
    expected, actual = open_run(whole), open_run(killed)
    assert actual.status == "complete"
    for group in ("events", "weights", "trajectory", "metrics"):
        for name in expected.names(group):
            np.testing.assert_array_equal(
                actual.array(group, name), expected.array(group, name), err_msg=f"{group}/{name}"
            )


def test_a_potential_beyond_the_bound_stops_the_run_naming_step_and_neuron():
    from neurosim.errors import DivergenceError

    network = _network(weight=-1e7, divergence_bound=1e4)  # inhibition: v plunges
    with pytest.raises(DivergenceError, match=r"step \d+.*neuron 0") as caught:
        SpikingSyncSimulator(network, seed=1).run(100.0)
    assert caught.value.step > 0
    with pytest.raises(DivergenceError):
        SpikingEventSimulator(network, seed=1).run(100.0)


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
def test_a_potential_beyond_the_bound_stops_at_the_step_and_neuron_the_reference_finds(backend):
    """Rest at 0 mV, so |v| grows with the input: the reference's potentials (after each
    step t, at time t + 1) cross a bound set below their highest, and the run stops at that
    step, naming that neuron and its potential."""
    from neurosim.errors import DivergenceError

    network, arrivals = small_network(RULES["none"])
    neuron = dataclasses.replace(network.neuron, v_rest=0.0, v_reset=5.0, v_threshold=15.0)
    network = dataclasses.replace(network, neuron=neuron)
    _, _, potentials = reference_run(network, arrivals, 450)
    bound = 0.6 * np.abs(potentials).max()
    t, i = np.argwhere(np.abs(potentials) > bound)[0]
    assert t > 10
    bounded = dataclasses.replace(network, divergence_bound=bound)
    with pytest.raises(DivergenceError) as caught:
        backend(bounded, seed=1).run(45.0)
    assert (caught.value.step, caught.value.neuron) == (t + 1, i)
    assert caught.value.value == pytest.approx(potentials[t, i], rel=1e-12)
    # the bound is inclusive: a bound equal to the highest |v| this backend reaches is kept
    record = backend(network, record_neurons=[0, 1, 2], record_every=1).run(45.0)
    exact = dataclasses.replace(network, divergence_bound=float(np.abs(record.potential).max()))
    assert backend(exact, seed=1).run(45.0).spike_time.size > 0


def test_a_lif_step_is_the_exact_update_then_the_threshold_inclusive():
    """One step of ``lif_step``: v and g by the propagators; a neuron that lands exactly on
    the threshold fires (v >= threshold), is reset and held refractory; one below keeps 0
    refractory steps; a refractory one keeps v and counts down while g decays."""
    rest, reset, threshold = -70.0, -65.0, -55.0
    # membrane decay 0.5 and coupling 2: -70 + (-60 + 70) * 0.5 + 2 * 2.5 = -60, then -55
    assert lif_step(-60.0, 2.5, 0, rest, reset, threshold, 0.5, 0.25, 2.0, 3) == (
        -60.0, 0.625, 0, False
    )  # fmt: skip
    assert lif_step(-60.0, 5.0, 0, rest, reset, threshold, 0.5, 0.25, 2.0, 3) == (
        reset, 1.25, 3, True
    )  # fmt: skip
    assert lif_step(-66.0, 4.0, 2, rest, reset, threshold, 0.5, 0.25, 2.0, 3) == (
        -66.0, 1.0, 1, False
    )  # fmt: skip


@pytest.mark.parametrize("backend", [SpikingSyncSimulator, SpikingEventSimulator])
@pytest.mark.parametrize("neurons", [[0, 3], [-1]])
def test_recorded_neurons_outside_the_network_are_refused_by_name(backend, neurons):
    network, _ = small_network(RULES["additive_stdp"])
    last = network.n_neurons - 1
    named = rf"record\.neurons = \[{', '.join(map(str, neurons))}\]: neurons are numbered "
    with pytest.raises(ValidationError, match=rf"{named}0 to {last}$"):
        backend(network, record_neurons=neurons, record_every=1)
