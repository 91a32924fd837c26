"""The event-driven backend against the plain-NumPy reference (tests/reference.py).

Every rule and option the synchronous backend is checked on, on a dense recurrent network and
on a sparse one read from GraphML, with every neuron updating once per time unit:

- lock-step (every delay 1, no send threshold): the synchronous model;
- each synapse with its own delay (1, 1.5, 2, 2.25 or 3): each drive hears each presynaptic
  neuron as it was that many updates ago, and each weight change pairs the postsynaptic
  factor with the presynaptic factor the synapse hears;
- a send threshold: a neuron sends only when a value of its message moved by more than it,
  and the messages in the event log are exactly those the reference sends.

States, velocities, dz, dz_mean, fake targets, W and b agree after every step to 1e-12 of
each array's scale.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.backends.event import EVENT_KINDS, EventSimulator
from neurosim.model.network import compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.model.topology import read_graphml, recurrent, sparse_random, write_graphml

try:
    from tests import reference
except ImportError:  # pytest put tests/ itself on sys.path
    import reference

CONFIGS = reference.RULE_CONFIGS
ALPHA = 0.05
SEED = 7
N_STEPS = 80
DELAYS = (1.0, 1.5, 2.0, 2.25, 3.0)


def make_graph(network: str, tmp_path, delays: bool):
    """The recurrent 4-0-8 network or a sparse 50-neuron one read back from GraphML; with
    ``delays`` every synapse gets one of DELAYS (some through the file's ``delay``, the rest
    through the default delay of 2)."""
    if network == "recurrent":
        graph = recurrent(4, 0, 8)
    else:
        graph = sparse_random(10, 5, 35, in_degree=4, visible_density=0.5, seed=2)
    if delays:
        rng = np.random.default_rng(4)
        for k, (_, _, edge) in enumerate(graph.edges(data=True)):
            if k % 5 != 0:  # every fifth synapse keeps the default
                edge["delay"] = float(rng.choice(DELAYS))
    if network == "sparse":
        path = tmp_path / "sparse.graphml"
        write_graphml(graph, path)
        graph = read_graphml(path)
    return graph


def delay_matrix(graph, network, default: float) -> np.ndarray:
    """delay[pre, post] from the graph's edges (``default`` where an edge gives none)."""
    index = {node: k for k, node in enumerate(network.node_ids)}
    delay = np.ones((network.n_neurons, network.n_neurons))
    for pre, post, edge in graph.edges(data=True):
        delay[index[pre], index[post]] = edge.get("delay", default)
    return delay


def data(network, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random targets in [-1, 1] with clamp 1 on the visible neurons, 0 on hidden ones."""
    rng = np.random.default_rng(seed)
    visible = ~network.hidden
    target = np.where(visible, rng.uniform(-1.0, 1.0, size=network.n_neurons), 0.0)
    return target, visible.astype(np.float64)


def run_against_reference(
    config: str, network: str, tmp_path, delays: bool, threshold: float = 0.0
) -> tuple[EventSimulator, reference.Reference]:
    params = ModelParameters(**(dict(alpha=ALPHA, dtype="float64") | CONFIGS[config]))
    graph = make_graph(network, tmp_path, delays)
    compiled = compile_graph(graph, params, seed=3)
    default_delay = 2.0 if delays else 1.0
    sim = EventSimulator(
        compiled,
        params,
        seed=SEED,
        default_delay=default_delay,
        send_threshold=threshold,
        events=("message",),
    )
    ref = reference.Reference.from_simulator(
        sim,
        params,
        SEED,
        reference.roles(graph, compiled),
        delay=delay_matrix(graph, compiled, default_delay),
        send_threshold=threshold,
    )
    w0 = ref.W.copy()
    fake_seen = False
    for t in range(N_STEPS):
        if t % 40 == 0:
            target, clamp = data(compiled, t)
            sim.set_input(target, clamp)
        sim.run(1)
        record = reference.step(ref, params, SEED, target, clamp)
        where = f"after step {t}"
        reference.assert_matches(sim, ref, where)
        fake_seen |= bool(ref.fake_active.any())
        # the log's messages at time t are the reference's
        log = sim.take_events()
        assert np.all(log["kind"] == EVENT_KINDS.index("message"))
        assert np.all(log["time"] == t)
        np.testing.assert_array_equal(
            np.sort(log["neuron"]), np.flatnonzero(record.sent[0]), err_msg=where
        )
    # the comparison means something: weights moved, states stayed finite
    assert np.max(np.abs(ref.W - w0)) > 1e-3
    assert np.all(np.isfinite(ref.s))
    assert fake_seen == ("fake_target" in CONFIGS[config])
    return sim, ref


@pytest.mark.parametrize("network", ["recurrent", "sparse"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_lock_step_matches_reference(config, network, tmp_path):
    sim, _ = run_against_reference(config, network, tmp_path, delays=False)
    assert sim.messages_sent == N_STEPS * sim.network.n_neurons


@pytest.mark.parametrize("network", ["recurrent", "sparse"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_per_synapse_delays_match_reference(config, network, tmp_path):
    """Each synapse waits its own delay: a backend that gave every synapse the same delay,
    or rounded 1.5 down, differs from the reference within a few steps."""
    _, ref = run_against_reference(config, network, tmp_path, delays=True)
    lags = ref.lag[ref.M == 1.0]
    assert set(np.unique(lags)) == {1, 2, 3}


@pytest.mark.parametrize("delays", [False, True], ids=["lock-step", "delays"])
@pytest.mark.parametrize(
    ("config", "threshold"),
    [
        ("astdp_fake_momentum", 2e-3),
        ("mstdp_oscillator", 2e-3),
        ("rate_stdp", 2e-3),
        ("astdp_role_beta", 2e-3),
        # Langevin noise moves every rate each step: only a coarse threshold holds messages
        ("astdp_noise_smoothing", 4e-2),
    ],
)
def test_send_threshold_matches_reference(config, threshold, delays, tmp_path):
    """With a send threshold, some updates send nothing; the synapses keep hearing the last
    message sent, and the event log holds exactly the messages the reference sends."""
    sim, ref = run_against_reference(config, "sparse", tmp_path, delays, threshold)
    sent = np.array(ref.sent)
    assert sim.messages_suppressed > 0
    assert sim.messages_sent == sent.sum() < sent.size
