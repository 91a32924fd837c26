"""The synchronous Numba backend against the plain-NumPy reference stepper (tests/reference.py).

- every rule / option, both layouts, B = 1 and B = 4: states, velocities, dz, fake targets,
  W and b match the float64 reference after every step to 1e-12 of each array's scale (the
  arithmetic gives a few 1e-15; a parameter rounded to float32 on the way errs by ~3e-8);
- splitting a run into calls does not change it;
- the float32 default tracks the float64 reference within a few float32 ulps per step;
- over 200 steps, each rule's total weight change equals its MODEL.md formula evaluated on the
  simulator's own recorded states.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.backends import sync as sync_backend
from neurosim.backends.sync import SyncSimulator
from neurosim.model.network import (
    BLOCK_COMPLETE,
    BLOCK_MASKED,
    BLOCK_NO_DIAGONAL,
    KIND,
    compile_graph,
)
from neurosim.model.parameters import ClampOscillator, FakeTargetParameters, ModelParameters
from neurosim.model.topology import recurrent, sparse_random

try:
    from tests import reference
except ImportError:  # pytest put tests/ itself on sys.path
    import reference

# --------------------------------------------------------------------------------------------
# set-up

CONFIGS = reference.RULE_CONFIGS
NETWORKS = ("recurrent", "sparse")
ALPHA = 0.05
SEED = 7
N_STEPS = 60
RTOL = reference.RTOL
# float32: the float32 rounding of one step (2**-24 relative) grows through the dynamics;
# after 50 steps at most 12.4 ulps at scale 1 were measured
FLOAT32_TOLERANCE = 32 * float(np.finfo(np.float32).eps)


def make_graph(name: str):
    if name == "recurrent":
        return recurrent(3, 2, 6)
    # hidden core with in-degree 3 and 70% of the visible <-> hidden synapses: masked blocks
    return sparse_random(3, 2, 8, in_degree=3, visible_density=0.7, seed=1)


def make_params(config: str, dtype: str = "float64", **changes) -> ModelParameters:
    values = dict(alpha=ALPHA, dtype=dtype) | CONFIGS[config] | changes
    return ModelParameters(**values)


def make_sim(
    config: str, network: str, layout: str, batch: int, dtype: str = "float64", **changes
) -> SyncSimulator:
    params = make_params(config, dtype, **changes)
    graph = make_graph(network)
    net = compile_graph(graph, params, seed=3, layout=layout)
    sim = SyncSimulator(net, params, batch_size=batch, seed=SEED)
    sim.roles = reference.roles(graph, net)
    return sim


def start_reference(sim: SyncSimulator) -> reference.Reference:
    return reference.Reference.from_simulator(sim, sim.params, sim.seed, sim.roles)


def data(sim: SyncSimulator, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random targets in [-1, 1] on the visible neurons, clamp 1 there and 0 on hidden ones."""
    rng = np.random.default_rng(seed)
    n = sim.network.n_neurons
    visible = ~sim.network.hidden
    target = np.where(visible, rng.uniform(-1.0, 1.0, size=(sim.batch_size, n)), 0.0)
    clamp = np.broadcast_to(visible.astype(np.float64), (sim.batch_size, n)).copy()
    return target, clamp


def run_side_by_side(
    sim: SyncSimulator, n_steps: int, tolerance: float = RTOL
) -> reference.Reference:
    """Step the simulator and the reference together, comparing after every step."""
    ref = start_reference(sim)
    first = data(sim, 11)
    second = data(sim, 12)
    for t in range(n_steps):
        target, clamp = first if t < n_steps // 2 else second
        sim.set_input(target, clamp)
        sim.run(1)
        reference.step(ref, sim.params, sim.seed, target, clamp)
        where = f"after step {t} (step_count {sim.step_count})"
        assert sim.step_count == ref.step
        reference.assert_matches(sim, ref, where, tolerance)
    return ref


# --------------------------------------------------------------------------------------------
# the reference itself


def test_reference_activations():
    x = np.linspace(-2.0, 2.0, 41)
    p = make_params("astdp")
    np.testing.assert_allclose(reference.rho(x, p), 1.0 / (1.0 + np.exp(-4.0 * x)))
    p = make_params("astdp", activation="sigmoid4_centred")
    np.testing.assert_allclose(reference.rho(0.5, p), 0.5)
    p = make_params("astdp", activation="hard_sigmoid", hard_sigmoid_threshold=-0.25)
    np.testing.assert_allclose(
        reference.rho(np.array([-1.0, 0.0, 0.5, 1.0]), p), [0.0, 0.25, 0.75, 1.0]
    )
    np.testing.assert_array_equal(
        reference.rho_prime(np.array([-0.25, -0.2, 0.7, 0.75, 0.8]), p), [0, 1, 1, 0, 0]
    )


def test_reference_oscillator_phases():
    p = make_params("mstdp_oscillator")
    clamped = [reference.phase_info(p, t)[0] for t in range(8)]
    # offset 2 into a cycle of 5 clamped + 3 free: phases 2,3,4 clamped, 5,6,7 free, 0,1 clamped
    assert clamped == [True, True, True, False, False, False, True, True]
    assert [reference.phase_info(p, t)[1] for t in range(8)] == [0.4] * 3 + [1.0] * 3 + [0.4] * 2
    assert [reference.phase_info(p, t)[2] for t in range(8)] == clamped


# --------------------------------------------------------------------------------------------
# the simulator's own state arrays


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("config", ["astdp", "mstdp_oscillator", "rate_stdp"])
def test_state_arrays_are_writable_and_run(config, batch, dtype):
    """The simulator's state is its own writable array (one-copy rules included) and runs."""
    sim = make_sim(config, "recurrent", "dense", batch, dtype=dtype)
    for name in ("state", "velocity", "dz", "dz_mean"):
        array = getattr(sim, name)
        assert array.flags.writeable, f"sim.{name} is read-only"
        assert array.flags.c_contiguous
    sim.set_input(*data(sim, 11))
    sim.run(2)
    assert sim.step_count == 2


# --------------------------------------------------------------------------------------------
# step by step against the reference


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_matches_reference_every_step(config, network, layout, batch):
    sim = make_sim(config, network, layout, batch)
    w0 = sim.network.dense_matrix().copy()
    b0 = sim.network.bias.copy()
    ref = run_side_by_side(sim, N_STEPS)
    # the comparison means something: the weights really moved, the dynamics stayed finite
    assert np.max(np.abs(ref.W - w0)) > 1e-3
    assert np.max(np.abs(ref.b - b0)) > 1e-3
    assert np.all(np.isfinite(ref.s))
    assert np.all(np.diag(sim.network.dense_matrix()) == 0.0)
    assert np.all(sim.network.dense_matrix()[ref.M == 0] == 0.0)


@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("config", ["astdp", "astdp_smoothing"])
def test_a_batch_of_two_matches_the_reference_every_step(config, layout):
    """B = 2, the smallest batch: it takes the batched path (BLAS) as B = 4 does."""
    sim = make_sim(config, "recurrent", layout, 2)
    w0 = sim.network.dense_matrix().copy()
    ref = run_side_by_side(sim, 20)
    assert np.max(np.abs(ref.W - w0)) > 1e-4


@pytest.mark.parametrize("config", ["astdp_fake_momentum", "astdp_fake_oscillator"])
def test_fake_targets_fire_in_the_comparison(config):
    """The fake-target cases of the step-by-step test really exercise fake targets (with the
    oscillator: also in its free phases, where only the fake targets clamp)."""
    sim = make_sim(config, "recurrent", "dense", 4)
    ref = start_reference(sim)
    target, clamp = data(sim, 11)
    fired = fired_free = 0
    for _ in range(N_STEPS):
        sim.set_input(target, clamp)
        sim.run(1)
        record = reference.step(ref, sim.params, sim.seed, target, clamp)
        reference.assert_matches(sim, ref, f"after step {record.step}")
        fired += int(ref.fake_active.sum())
        if not reference.phase_info(sim.params, record.step)[0]:
            fired_free += int(ref.fake_active.sum())
    assert fired > 0
    assert not np.any(ref.fake_active[:, ~ref.hidden])
    if sim.params.oscillator is not None:
        assert fired_free > 0


# --------------------------------------------------------------------------------------------
# chunking


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize(
    "config", ["astdp_fake_momentum", "mstdp_oscillator", "astdp_noise", "astdp_smoothing"]
)
def test_chunked_run_equals_single_steps(config, network, batch):
    """One long call equals single steps. At B = 1 a long call holds weight changes back
    (16 rank-1 terms) and writes them later: the recurrent network's complete blocks take
    that path, the sparse network's masked blocks the eager one."""
    sims = [make_sim(config, network, "dense", batch) for _ in range(2)]
    for sim in sims:
        sim.set_input(*data(sim, 11))
    sims[0].run(60)
    for _ in range(60):
        sims[1].run(1)
    whole, steps = sims
    assert whole.step_count == steps.step_count == 60
    for name in ("state", "velocity", "dz", "dz_mean"):
        np.testing.assert_allclose(
            getattr(whole, name), getattr(steps, name), rtol=0, atol=1e-12, err_msg=name
        )
    np.testing.assert_array_equal(whole.fake_target, steps.fake_target)
    np.testing.assert_allclose(
        whole.network.dense_matrix(), steps.network.dense_matrix(), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(whole.network.bias, steps.network.bias, rtol=0, atol=1e-12)


@pytest.mark.parametrize("graph_name", ["recurrent", "masked_first"])
@pytest.mark.parametrize("config", ["astdp", "astdp_smoothing"])
def test_a_long_call_on_a_network_wider_than_the_held_back_list_matches_the_reference(
    config, graph_name
):
    """B = 1, 25 neurons, more than the 16 rank-1 changes held back: one call of 40 steps
    fills the list, writes it into W and goes on, and ends where the reference does. In the
    second network the two masked blocks (visible <-> hidden, updated at once) come before the
    complete hidden core in the block table, which takes the held-back changes."""
    params = make_params(config)
    if graph_name == "recurrent":
        graph = recurrent(3, 2, 20)
    else:
        graph = sparse_random(3, 2, 20, probability=1.0, visible_density=0.7, seed=1)
    network = compile_graph(graph, params, seed=3)
    assert network.n_neurons > sync_backend.PENDING_CAPACITY
    kinds = network.block_table[:, KIND].tolist()
    assert kinds == ([BLOCK_COMPLETE] * 2 + [BLOCK_NO_DIAGONAL] if graph_name == "recurrent"
                     else [BLOCK_MASKED] * 2 + [BLOCK_NO_DIAGONAL])  # fmt: skip
    sim = SyncSimulator(network, params, seed=SEED)
    sim.roles = reference.roles(graph, network)
    ref = start_reference(sim)
    target, clamp = data(sim, 11)
    sim.set_input(target, clamp)
    sim.run(40)
    for _ in range(40):
        reference.step(ref, params, SEED, target, clamp)
    reference.assert_matches(sim, ref, "after 40 steps in one call", RTOL)


# --------------------------------------------------------------------------------------------
# float32


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("config", ["astdp", "mstdp_oscillator", "rate_stdp", "astdp_noise"])
def test_float32_tracks_float64_reference(config, batch):
    sim = make_sim(config, "recurrent", "auto", batch, dtype="float32")
    assert sim.state.dtype == np.float32
    run_side_by_side(sim, 50, tolerance=FLOAT32_TOLERANCE)


# --------------------------------------------------------------------------------------------
# each rule equals its formula over 200 steps

FORMULA_CONFIGS = {
    "astdp": dict(
        rule="astdp", momentum=0.6, fake_target=FakeTargetParameters(enabled=True, k=3.0)
    ),
    "mstdp": dict(
        rule="mstdp",
        momentum=0.4,
        oscillator=ClampOscillator(clamped_steps=5, free_steps=3, offset=2),
    ),
    "mstdp_learn_when_free": dict(
        rule="mstdp",
        oscillator=ClampOscillator(clamped_steps=5, free_steps=3, learn_when_free=True),
    ),
    "rate_stdp": dict(rule="rate_stdp"),
}


def sigmoid4(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-4.0 * x))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("rule", list(FORMULA_CONFIGS))
def test_rule_equals_formula_over_200_steps(rule, batch):
    params = ModelParameters(alpha=0.01, dtype="float64", **FORMULA_CONFIGS[rule])
    net = compile_graph(
        sparse_random(3, 2, 8, in_degree=3, visible_density=0.7, seed=2),
        params,
        seed=4,
        layout="auto",
    )
    sim = SyncSimulator(net, params, batch_size=batch, seed=SEED)
    n = net.n_neurons
    mask = np.zeros((n, n))
    mask[net.edge_pre, net.edge_post] = 1.0
    w0 = net.dense_matrix().copy()
    b0 = net.bias.copy()
    states = [sim.state.copy()]
    for part in range(2):  # change the data halfway
        sim.set_input(*data(sim, 20 + part))
        states.extend(sim.run(100, record_every=1, record=("state",))["state"])
    assert len(states) == 201

    dw = np.zeros((n, n))
    db = np.zeros(n)
    for t in range(200):
        old, new = states[t], states[t + 1]
        if rule == "astdp":
            pre = sigmoid4(new[0])
            post = sigmoid4(new[1]) - sigmoid4(new[0])
        elif rule.startswith("mstdp"):
            oscillator = params.oscillator
            if not (oscillator.is_clamped(t) or oscillator.learn_when_free):
                continue
            pre = sigmoid4(new[0])
            post = sigmoid4(new[0]) - sigmoid4(old[0])
        else:
            pre = sigmoid4(old[0])
            post = new[0] - old[0]
        dw += params.alpha * np.einsum("bj,bi->ji", pre, post) / batch
        db += params.alpha * post.mean(axis=0)

    w1 = sim.network.dense_matrix()
    assert np.max(np.abs(w1 - w0)) > 1e-3
    np.testing.assert_allclose(w1 - w0, dw * mask, rtol=0, atol=RTOL)
    np.testing.assert_allclose(sim.network.bias - b0, db, rtol=0, atol=RTOL)
