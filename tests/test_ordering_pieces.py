"""Fast checks of the data-ordering experiment on a tiny run (3 items, strides 1 and 2, 4
epochs of 8 steps per item, 2 seeds): the order each network was trained on and tested in,
the simulators' seeds, models and clamps, the accuracies recomputed from the output states the
test simulators reached, their mean and sd, the checkpoints, a stop and resume, the settings'
checks, the paper's tables and the figure's content."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from neurosim.errors import ValidationError
from neurosim.experiments import ordering
from neurosim.experiments.ordering import (
    PAPER_SOURCE,
    PAPER_TABLES,
    ordering_figure,
    paper_accuracy,
    plot,
)
from neurosim.model import topology
from neurosim.model.network import compile_graph
from neurosim.recording import RunInterrupted, StopRequest, open_run
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario, load_scenario
from tests.scenario_files import recording_progress

TINY = """
[scenario]
name = "ordering_tiny"

[model]
preset = "astdp"
activation = "sigmoid4_centred"
alpha = 1.0
init = "uniform"
init_scale = 0.5
dtype = "float64"

[model.fake_target]
k = 10.0
magnitude = 0.25
mu = 0.9

[experiment]
kind = "ordering"
n_items = 3
n_hidden = 4
strides = [1, 2]
epochs = 4
steps_per_item = 8
free_steps = 4
test_steps = [6, 2]
test_items = 5
seeds = [5, 2]

[experiment.test_model.fake_target]
mu = 0.95

[record]
checkpoint_every = 3
"""
N_ITEMS, N_HIDDEN, STRIDES, SEEDS, TEST_STEPS, TEST_ITEMS = 3, 4, [1, 2], [5, 2], [6, 2], 5
EPOCHS, STEPS_PER_ITEM, FREE_STEPS = 4, 8, 4
# each unit (a seed's network) trains, then is tested on both orders at both lengths
UNIT_STEPS = N_ITEMS * EPOCHS * STEPS_PER_ITEM + len(STRIDES) * (TEST_ITEMS + 1) * sum(TEST_STEPS)


class RecordingSimulator:
    """A simulator that records what it is given (``set_input``, ``run``) and the state after
    each run, and otherwise is the real one."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.shown: list[tuple[np.ndarray, np.ndarray, int]] = []
        self.states: list[np.ndarray] = []
        self._input: tuple[np.ndarray, np.ndarray] | None = None

    def set_input(self, target: np.ndarray, clamp: np.ndarray) -> None:
        self._input = (np.array(target), np.array(clamp))
        self.sim.set_input(target, clamp)

    def run(self, steps: int) -> None:
        assert self._input is not None
        self.shown.append((*self._input, steps))
        self.sim.run(steps)
        self.states.append(np.array(self.sim.state))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)


@dataclass
class Made:
    """One simulator the experiment made: its arguments and what it was shown."""

    settings: Any
    network: Any
    weights: np.ndarray  # the network's weights when the simulator was made
    params: Any
    seed: int
    steps: int
    backend: str | None
    sim: RecordingSimulator


@dataclass
class Recorded:
    out: Path
    scenario: Scenario
    summary: RunSummary | None = None
    made: list[Made] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)  # each bar's arguments and updates

    @property
    def trained(self) -> list[Made]:
        return [made for made in self.made if made.params.alpha > 0]

    @property
    def tested(self) -> list[Made]:
        return [made for made in self.made if made.params.alpha == 0]


def _spied(scenario: Scenario, out: Path, patch: pytest.MonkeyPatch) -> Recorded:
    """A spy on the simulators the experiment makes, set with ``patch``."""
    record = Recorded(out, scenario)
    make_simulator = ordering.make_simulator

    def spy(settings, network, params, seed, steps, backend=None):
        sim = RecordingSimulator(
            make_simulator(settings, network, params, seed, steps, backend=backend)
        )
        weights = np.array(network.edge_weights())
        record.made.append(Made(settings, network, weights, params, seed, steps, backend, sim))
        return sim

    patch.setattr(ordering, "make_simulator", spy)
    patch.setattr(ordering, "RunProgress", recording_progress(record.bars))
    return record


def _scenario(folder: Path, text: str = TINY) -> Scenario:
    path = folder / "ordering_tiny.toml"
    path.write_text(text)
    return load_scenario(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("ordering_tiny")
    scenario = _scenario(folder)
    with pytest.MonkeyPatch.context() as patch:
        record = _spied(scenario, folder / "o.zarr", patch)
        record.summary = ordering.run(scenario, record.out, overwrite=False, progress=False)
    return record


def _roles(network: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    roles = np.array(topology.ROLES)[network.role]
    return tuple(np.flatnonzero(roles == role) for role in ("input", "output", "hidden"))


def _cyclic(stride: int, length: int) -> list[int]:
    return [(stride * k) % N_ITEMS for k in range(length)]


# ---------------------------------------------------------------------------------------------
# training


def test_each_network_is_trained_on_its_order_with_the_free_part_then_the_outputs_clamped(
    tiny,
) -> None:
    """One training simulator per (seed, stride), in that order: the network drawn from the
    seed, the items in the order i -> i + stride for 2 epochs, each shown free_steps with
    only the input clamped, then the rest with input and output clamped."""
    trained = tiny.trained
    assert [(made.seed, made.params.alpha) for made in trained] == [
        (5, 1.0),
        (5, 1.0),
        (2, 1.0),
        (2, 1.0),
    ]
    params = tiny.scenario.phase_parameters[0]
    for made, stride in zip(trained, STRIDES * 2, strict=True):
        assert made.params == params
        assert made.steps == N_ITEMS * EPOCHS * STEPS_PER_ITEM
        assert made.settings is tiny.scenario.settings and made.backend is None
        graph = topology.recurrent(N_ITEMS, N_ITEMS, N_HIDDEN)
        fresh = compile_graph(graph, params, seed=made.seed)
        np.testing.assert_array_equal(made.weights, fresh.edge_weights())
        inputs, outputs, hidden = _roles(made.network)
        assert (len(inputs), len(outputs), len(hidden)) == (3, 3, N_HIDDEN)
        shown = made.sim.shown
        assert len(shown) == 2 * N_ITEMS * EPOCHS
        items = []
        for (free_target, free_clamp, free), (target, clamp, rest) in zip(
            shown[::2], shown[1::2], strict=True
        ):
            item = int(np.argmax(target[inputs]))
            items.append(item)
            one_hot = np.eye(N_ITEMS)[item]
            np.testing.assert_array_equal(target[inputs], one_hot)
            np.testing.assert_array_equal(target[outputs], one_hot)
            np.testing.assert_array_equal(target[hidden], 0)
            np.testing.assert_array_equal(free_target, target)
            np.testing.assert_array_equal(free_clamp, np.isin(np.arange(10), inputs))
            np.testing.assert_array_equal(clamp, ~made.network.hidden)
            assert (free, rest) == (FREE_STEPS, STEPS_PER_ITEM - FREE_STEPS)
        assert items == _cyclic(stride, N_ITEMS * EPOCHS)


class _Counting(StopRequest):
    """A stop request that counts its checks, calls ``on_check`` at each and fires at the
    ``fire_at``-th (0: never)."""

    def __init__(self, on_check: Any = None, fire_at: int = 0) -> None:
        super().__init__()
        self.checks, self.fire_at, self.on_check = 0, fire_at, on_check

    def check(self) -> None:
        self.checks += 1
        if self.on_check is not None:
            self.on_check()
        if self.checks == self.fire_at:
            self.reason = "stopped by the test"
        super().check()


def test_training_without_a_free_part_clamps_the_outputs_throughout(tmp_path, monkeypatch) -> None:
    """free_steps = 0: each item shown once, for all its steps, input and output clamped; the
    progress bar counts every epoch's steps and the stop request is checked once an epoch."""
    scenario = _scenario(tmp_path)
    params = scenario.phase_parameters[0]
    record = _spied(scenario, tmp_path / "unused.zarr", monkeypatch)
    # the items shown so far at each progress update and each stop check: an epoch's end
    updated_after, checked_after = [], []
    stop = _Counting(lambda: checked_after.append(len(record.made[0].sim.shown)))
    counted = []

    def update(steps: int) -> None:
        counted.append(steps)
        updated_after.append(len(record.made[0].sim.shown))

    bar = SimpleNamespace(update=update)
    network = ordering.train(
        N_ITEMS,
        2,
        2,
        params,
        4,
        epochs=3,
        steps_per_item=5,
        free_steps=0,
        stop=stop,
        bar=bar,  # type: ignore[arg-type]
    )
    (made,) = record.made
    assert made.network is network and made.settings is None and made.steps == 3 * 3 * 5
    assert [steps for _, _, steps in made.sim.shown] == [5] * 9
    inputs, _, _ = _roles(network)
    assert [int(np.argmax(target[inputs])) for target, _, _ in made.sim.shown] == _cyclic(2, 9)
    assert all(np.array_equal(clamp, ~network.hidden) for _, clamp, _ in made.sim.shown)
    assert counted == [3 * 5] * 3
    assert updated_after == checked_after == [3, 6, 9]


# ---------------------------------------------------------------------------------------------
# testing and the metrics


def test_every_network_is_tested_on_every_order_at_every_length_on_a_copy(tiny) -> None:
    """After each network's training: one test simulator per (order, length), on a copy of
    the trained network, with the test-time model and learning off, seeded seed + 1000, run
    for test_items + 1 items of the order (inputs only clamped)."""
    tested, trained = tiny.tested, tiny.trained
    assert len(tested) == 4 * 2 * 2
    test_params = tiny.scenario.test_parameters
    assert test_params.fake_target.mu == 0.95
    for u, unit in enumerate(trained):
        for k, made in enumerate(tested[4 * u : 4 * u + 4]):
            stride, length = STRIDES[k // 2], TEST_STEPS[k % 2]
            assert made.network is not unit.network
            np.testing.assert_array_equal(made.weights, unit.network.edge_weights())
            assert made.params == test_params.replace(alpha=0.0)
            assert made.seed == unit.seed + 1000
            assert made.steps == (TEST_ITEMS + 1) * length
            assert made.settings is tiny.scenario.settings and made.backend is None
            inputs, _, _ = _roles(made.network)
            shown = made.sim.shown
            assert [steps for _, _, steps in shown] == [length] * (TEST_ITEMS + 1)
            items = [int(np.argmax(target[inputs])) for target, _, _ in shown]
            assert items == _cyclic(stride, TEST_ITEMS + 1)
            for target, clamp, _ in shown:
                np.testing.assert_array_equal(
                    target, np.isin(np.arange(10), inputs[target[inputs] > 0])
                )
                np.testing.assert_array_equal(clamp, np.isin(np.arange(10), inputs))


def _recomputed_accuracy(tiny: Recorded) -> np.ndarray:
    """Accuracy over (seed, network, order, test_steps): the share of the items after the
    warm-up whose output argmax (copy 0) at the end of their steps is the item."""
    accuracy = np.zeros((2, 2, 2, 2))
    for index, made in enumerate(tiny.tested):
        s, n, o, t = np.unravel_index(index, accuracy.shape)
        _, outputs, _ = _roles(made.network)
        answers = [int(np.argmax(state[0, 0, outputs])) for state in made.sim.states]
        items = _cyclic(STRIDES[o], TEST_ITEMS + 1)
        accuracy[s, n, o, t] = np.mean(np.equal(answers, items)[1:])
    return accuracy


def test_the_stored_accuracies_their_mean_and_sd_are_recomputed(tiny) -> None:
    run = open_run(tiny.out)
    accuracy = _recomputed_accuracy(tiny)
    np.testing.assert_array_equal(run.array("metrics", "accuracy"), accuracy)
    assert run.dims("metrics", "accuracy") == ("seed", "network", "order", "test_steps")
    np.testing.assert_allclose(run.array("metrics", "accuracy_mean"), accuracy.mean(axis=0))
    sd = np.sqrt(((accuracy - accuracy.mean(axis=0)) ** 2).mean(axis=0))
    np.testing.assert_allclose(run.array("metrics", "accuracy_sd"), sd, atol=1e-12)
    assert sd.max() > 0  # the seeds differ somewhere: the sd is not trivially zero
    for name in ("accuracy_mean", "accuracy_sd", "paper_accuracy"):
        assert run.dims("metrics", name) == ("network", "order", "test_steps")
    assert list(run.array("metrics", "seed")) == SEEDS
    assert list(run.array("metrics", "network")) == ["Network31", "Network32"]
    assert list(run.array("metrics", "order")) == ["order31", "order32"]
    assert list(run.array("metrics", "test_steps")) == TEST_STEPS
    # the paper has no values for 3 items
    assert np.isnan(run.array("metrics", "paper_accuracy")).all()
    assert run.attributes["seeds_done"] == 2
    assert run.attributes["train_backend"] == "sync"
    assert run.attributes["paper_source"] == PAPER_SOURCE
    assert run.attributes["paper_tables"] == PAPER_TABLES
    # the summary: every mean, no paper value, and the steps of every unit
    summary = tiny.summary
    mean = accuracy.mean(axis=0)
    assert summary.metrics == {
        f"accuracy_Network3{STRIDES[n]}_order3{STRIDES[o]}_{length}": pytest.approx(mean[n, o, t])
        for t, length in enumerate(TEST_STEPS)
        for n in range(2)
        for o in range(2)
    }
    assert summary.steps == 4 * UNIT_STEPS
    assert summary.status == "complete"
    # the progress bar (off here) counts every step: each epoch's, then each test's
    (bar,) = tiny.bars
    assert (bar["total"], bar["initial"], bar["unit"], bar["disable"]) == (
        4 * UNIT_STEPS,
        0,
        "step",
        True,
    )
    tests = [(TEST_ITEMS + 1) * length for length in TEST_STEPS] * len(STRIDES)
    assert bar["updates"] == ([N_ITEMS * STEPS_PER_ITEM] * EPOCHS + tests) * 4


def test_the_paper_s_tables_by_network_order_and_length() -> None:
    """Tables 3 (160 steps) and 4 (80 steps) of the paper, NaN for other lengths, networks and
    orders."""
    table = paper_accuracy(
        ["Network81", "Network83", "Network85"], ["order81", "order83"], [160, 80, 40]
    )
    assert table.shape == (3, 2, 3)
    np.testing.assert_array_equal(table[:2, :, 0], [[1.00, 0.98], [0.99, 1.00]])
    np.testing.assert_array_equal(table[:2, :, 1], [[1.00, 0.91], [0.87, 1.00]])
    assert np.isnan(table[:, :, 2]).all() and np.isnan(table[2]).all()
    assert PAPER_TABLES["80"]["Network83"]["order81"] == 0.87


def test_a_network_that_answers_every_item_scores_one_without_its_warm_up(tmp_path) -> None:
    """A hand-wired network (input i to hidden i to output i) answers each item shown: the
    accuracy is 1 on either order, the warm-up item not counted among the scored ones."""
    params = _scenario(tmp_path).test_parameters
    network = compile_graph(topology.recurrent(3, 3, 3), params, seed=0)
    weights = np.zeros(network.n_edges)
    for item in range(3):
        weights[(network.edge_pre == item) & (network.edge_post == 6 + item)] = 3.0
        weights[(network.edge_pre == 6 + item) & (network.edge_post == 3 + item)] = 3.0
    network.set_edge_weights(weights)
    network.bias[:] = 0.0
    for stride in (1, 2):
        assert ordering.accuracy_on_order(network, params, stride, 10, 4, 0) == 1.0
    np.testing.assert_array_equal(network.edge_weights(), weights)  # tested on a copy


# ---------------------------------------------------------------------------------------------
# checkpoints, stop and resume


def test_a_checkpoint_every_three_units_holds_the_accuracies_of_the_units_done(tiny) -> None:
    saved = open_run(tiny.out).checkpoint()
    assert saved is not None
    arrays, attributes = saved
    assert attributes["units_done"] == 3
    accuracy = _recomputed_accuracy(tiny)
    np.testing.assert_array_equal(arrays["accuracy"][:1], accuracy[:1])
    np.testing.assert_array_equal(arrays["accuracy"][1, 0], accuracy[1, 0])
    assert np.isnan(arrays["accuracy"][1, 1]).all()


def test_a_run_stopped_in_a_unit_keeps_the_seeds_done_and_resumes_to_the_whole_run(
    tiny, tmp_path, monkeypatch
) -> None:
    """Stopped in the third unit's training (seed 2's first network): the store holds seed 5's
    metrics, seed 2's NaN, and a checkpoint of 2 units; resumed, the metrics are the whole
    run's and the summary counts every unit's steps."""

    @contextmanager
    def stop_in_third_unit() -> Iterator[StopRequest]:
        # per unit: one check per epoch in training, one after the unit
        yield _Counting(fire_at=2 * (EPOCHS + 1) + 1)

    out = tmp_path / "stopped.zarr"
    scenario = _scenario(tmp_path, TINY.replace("[record]\ncheckpoint_every = 3\n", ""))
    with monkeypatch.context() as patch:
        record = _spied(scenario, out, patch)
        patch.setattr(ordering, "stop_on_signals", stop_in_third_unit)
        with pytest.raises(RunInterrupted):
            ordering.run(scenario, out, overwrite=False, progress=False)
    assert len(record.trained) == 3 and len(record.tested) == 8
    stopped = open_run(out)
    assert stopped.status == "interrupted"
    assert stopped.attributes["seeds_done"] == 1
    accuracy = _recomputed_accuracy(tiny)
    np.testing.assert_array_equal(stopped.array("metrics", "accuracy")[0], accuracy[0])
    assert np.isnan(stopped.array("metrics", "accuracy")[1]).all()
    np.testing.assert_array_equal(stopped.array("metrics", "accuracy_mean"), accuracy[0])
    np.testing.assert_array_equal(stopped.array("metrics", "accuracy_sd"), np.zeros((2, 2, 2)))
    assert stopped.checkpoint()[1]["units_done"] == 2
    with monkeypatch.context() as patch:
        record = _spied(scenario, out, patch)
        summary = ordering.resume(out, progress=False)
    # only the units left are trained, from their own seeds
    assert [made.seed for made in record.trained] == [2, 2]
    resumed = open_run(out)
    assert resumed.status == "complete"
    whole = open_run(tiny.out)
    for name in ("accuracy", "accuracy_mean", "accuracy_sd"):
        np.testing.assert_array_equal(
            resumed.array("metrics", name), whole.array("metrics", name), err_msg=name
        )
    assert summary.steps == 4 * UNIT_STEPS
    assert summary.metrics == tiny.summary.metrics
    # without [record] checkpoint_every, checkpoints are written only at a stop
    assert resumed.checkpoint()[1]["units_done"] == 2
    (bar,) = record.bars
    assert (bar["total"], bar["initial"]) == (4 * UNIT_STEPS, 2 * UNIT_STEPS)
    assert sum(bar["updates"]) == 2 * UNIT_STEPS


# ---------------------------------------------------------------------------------------------
# the checks of several keys


def _table(**keys: object) -> dict[str, Any]:
    table = {"n_items": 8, "strides": [1, 3], "free_steps": 80, "steps_per_item": 160}
    return table | keys


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"n_items": 4, "strides": [1, 7]},
            "experiment.strides[1] = 7: expected 1 .. n_items - 1 = 3 (stride 7 is the order of "
            "stride 3)",
        ),
        (
            {"n_items": 4, "strides": [4]},
            "experiment.strides[0] = 4: expected 1 .. n_items - 1 = 3",
        ),
        (
            {"n_items": 6, "strides": [1, 4]},
            "experiment.strides[1] = 4 shares the factor 2 with experiment.n_items = 6: the order "
            "i -> i + 4 mod 6 visits only 3 of the 6 items; choose a stride coprime to 6",
        ),
        (
            {"free_steps": 160},
            "experiment.free_steps = 160: must be below experiment.steps_per_item = 160",
        ),
    ],
)
def test_checks_of_several_keys_name_the_key_and_value(keys, message) -> None:
    with pytest.raises(ValidationError) as refused:
        ordering._check_settings(_table(**keys))
    assert message in str(refused.value)


def test_settings_at_the_bounds_are_accepted() -> None:
    ordering._check_settings(_table(strides=[1, 7], free_steps=159))
    ordering._check_settings(_table(n_items=9, strides=[2, 4, 8], free_steps=0))


# ---------------------------------------------------------------------------------------------
# the figure


def test_the_figure_plots_the_stored_means_and_sds_per_network(tiny) -> None:
    run = open_run(tiny.out)
    mean = 100 * run.array("metrics", "accuracy_mean")
    sd = 100 * run.array("metrics", "accuracy_sd")
    figure = ordering_figure(run)
    axes = figure.axes
    assert [axis.get_title() for axis in axes] == ["Network31", "Network32"]
    assert tuple(figure.get_size_inches()) == pytest.approx((0.6 + 3.4 * 2, 3.4))
    assert figure.get_suptitle() == (
        "data ordering: accuracy against test length, mean ± sd over 2 seeds"
    )
    by_length = [1, 0]  # lengths 2 then 6
    for n, axis in enumerate(axes):
        assert len(axis.containers) == 2
        for o, container in enumerate(axis.containers):
            line, _, (bars,) = container.lines
            np.testing.assert_array_equal(line.get_xdata(), [2, 6])
            np.testing.assert_allclose(line.get_ydata(), mean[n, o, by_length])
            assert to_rgba(line.get_color()) == to_rgba(f"C{o}")
            segments = np.array(bars.get_segments())
            np.testing.assert_allclose(segments[:, 0, 1], (mean - sd)[n, o, by_length])
            np.testing.assert_allclose(segments[:, 1, 1], (mean + sd)[n, o, by_length])
        # the paper gives nothing for 3 items: its markers have no points
        paper_lines = [line for line in axis.get_lines() if line.get_marker() == "D"]
        assert [len(line.get_xdata()) for line in paper_lines] == [0, 0]
        assert axis.get_xscale() == "log"
        assert axis.xaxis.get_transform().base == 2
        np.testing.assert_array_equal(axis.get_xticks(), [2, 6])
        assert [label.get_text() for label in axis.get_xticklabels()] == ["2", "6"]
        assert axis.get_ylim() == (0, 105)
        assert axis.get_xlabel() == "test steps per item"
    assert axes[0].get_ylabel() == "accuracy (%)"
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])
    assert axes[0].get_legend() is None
    # the text sizes fall from the figure's title to the panels' titles, labels and legend
    (suptitle,) = [text for text in figure.texts if text.get_text() == figure.get_suptitle()]
    sizes = [
        suptitle.get_fontsize(),
        axes[0].title.get_fontsize(),
        axes[0].xaxis.label.get_fontsize(),
        axes[-1].get_legend().get_texts()[0].get_fontsize(),
    ]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert axes[0].yaxis.label.get_fontsize() == axes[0].xaxis.label.get_fontsize()
    legend = [text.get_text() for text in axes[-1].get_legend().get_texts()]
    assert sorted(legend) == [
        "order31 (ours)",
        "order31 (paper)",
        "order32 (ours)",
        "order32 (paper)",
    ]


STUB_NETWORKS = ["Network81", "Network83", "Network85"]
STUB_ORDERS = ["order81", "order83"]


def _stub_run(with_paper: bool, seeds_done: int | None) -> SimpleNamespace:
    """A stored run of three networks (the paper has values for two) at 160, 40 and 80 steps,
    as the figure reads it (the paper's values stored, or not)."""
    lengths = [160, 40, 80]
    rng = np.random.default_rng(0)
    arrays = {
        "accuracy_mean": rng.random((3, 2, 3)),
        "accuracy_sd": 0.1 * rng.random((3, 2, 3)),
        "network": np.array(STUB_NETWORKS),
        "order": np.array(STUB_ORDERS),
        "test_steps": np.array(lengths),
    }
    if with_paper:
        arrays["paper_accuracy"] = paper_accuracy(STUB_NETWORKS, STUB_ORDERS, lengths)
    attributes = {} if seeds_done is None else {"seeds_done": seeds_done}
    return SimpleNamespace(
        path=Path("stub.zarr"),
        names=lambda group: list(arrays),
        array=lambda group, name: arrays[name],
        attributes=attributes,
    )


@pytest.mark.parametrize("with_paper", [True, False])
def test_the_paper_s_values_are_open_markers_at_the_lengths_it_gives(with_paper) -> None:
    """The paper's values (stored, or from its tables where the store has none) as open
    diamonds at the lengths it gives; the means sorted by length; the legend on the last
    panel only."""
    run = _stub_run(with_paper, 3 if with_paper else None)
    figure = ordering_figure(run)  # type: ignore[arg-type]
    assert [axis.get_title() for axis in figure.axes] == STUB_NETWORKS
    want = 100 * paper_accuracy(STUB_NETWORKS, STUB_ORDERS, [160, 80])
    for n, axis in enumerate(figure.axes):
        paper_lines = [line for line in axis.get_lines() if line.get_marker() == "D"]
        assert [line.get_label() for line in paper_lines] == ["order81 (paper)", "order83 (paper)"]
        for o, line in enumerate(paper_lines):
            known = n < 2  # the paper has no Network85
            np.testing.assert_array_equal(line.get_xdata(), [160, 80] if known else [])
            np.testing.assert_allclose(line.get_ydata(), want[n, o] if known else [])
            assert line.get_linestyle() == "None" and line.get_markerfacecolor() == "none"
            assert to_rgba(line.get_color()) == to_rgba(f"C{o}")
        # the means sorted by length: 40, 80, 160
        line = axis.containers[0].lines[0]
        np.testing.assert_array_equal(line.get_xdata(), [40, 80, 160])
        np.testing.assert_allclose(
            line.get_ydata(), 100 * run.array("", "accuracy_mean")[n, 0, [1, 2, 0]]
        )
        assert [label.get_text() for label in axis.get_xticklabels()] == ["40", "80", "160"]
    assert [axis.get_legend() is None for axis in figure.axes] == [True, True, False]
    seeds = "3" if with_paper else "?"
    assert figure.get_suptitle().endswith(f"mean ± sd over {seeds} seeds")


def test_plot_saves_the_figure_and_refuses_a_run_without_means(tmp_path) -> None:
    image = plot(_stub_run(True, 1), str(tmp_path / "ordering.png"))  # type: ignore[arg-type]
    assert image == tmp_path / "ordering.png" and isinstance(image, Path)
    header = image.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    # the figure's size (0.6 + 3.4 inches per panel by 3.4) at 120 dots per inch
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (round((0.6 + 3.4 * 3) * 120), round(3.4 * 120))
    empty = SimpleNamespace(path=Path("none.zarr"), names=lambda group: ["accuracy"])
    with pytest.raises(ValidationError, match=r"none\.zarr: no accuracy metrics yet"):
        ordering_figure(empty)  # type: ignore[arg-type]
