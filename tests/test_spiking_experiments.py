"""Tiny runs of the spiking experiments (``superspike``, ``bcm``, ``spiking``) checked against
independent computations: the initial networks against the draws the module docstrings
describe, every stored series, event and snapshot against a simulator run step by step here,
the metrics recomputed from the stored series, the stores' neuron tables and edges, the
refusals of bad settings, resuming a stopped run, and what each figure draws (read from the
matplotlib Figure)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.image import imread

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import SpikingSyncSimulator
from neurosim.errors import ValidationError
from neurosim.experiments import bcm, spiking, superspike
from neurosim.model.spiking import (
    LifParameters,
    Plasticity,
    PoissonInput,
    SpikingNetwork,
)
from neurosim.recording import RunInterrupted, RunReader, open_run
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario, check_scenario


def scenario(name: str, experiment: dict[str, Any], **sections: Any) -> Scenario:
    """The checked scenario of an ``[experiment]`` table (seed 3, the sync backend)."""
    return check_scenario({"scenario": {"name": name, "seed": 3}, "experiment": experiment,
                           **sections})  # fmt: skip


def texts(figure: Figure) -> list[str]:
    """Every text the figure shows: titles, axis labels, legend entries, annotations."""
    found = [figure.get_suptitle()]
    for axes in figure.axes:
        found += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        found += [text.get_text() for text in axes.texts]
        legend = axes.get_legend()
        if legend is not None:
            found += [text.get_text() for text in legend.get_texts()]
    return found


def png_size(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG in pixels."""
    return imread(path).shape[:2]


def metric_descriptions(out: Path) -> dict[str, str]:
    with xr.open_zarr(out, group="metrics") as metrics:
        return {name: metrics[name].attrs["description"] for name in metrics.data_vars}


def stored_metrics(run: RunReader) -> dict[str, float]:
    return {name: float(run.array("metrics", name)) for name in run.names("metrics")}


def same_store(actual: RunReader, expected: RunReader, groups: tuple[str, ...]) -> None:
    """Every array of ``groups`` equal in the two stores (NaN equal to NaN)."""
    for group in groups:
        assert actual.names(group) == expected.names(group), group
        for name in expected.names(group):
            np.testing.assert_array_equal(
                actual.array(group, name), expected.array(group, name), err_msg=f"{group}/{name}"
            )


# --- SuperSpike ------------------------------------------------------------------------------

SUPERSPIKE = {
    "kind": "superspike",
    "trials": 5,
    "trial": 20.0,
    "dt": 0.5,
    "inputs": 8,
    "rate": 200.0,
    "input_seed": 4,
    "hidden": 2,
    "outputs": 2,
    "target_times": [[4.0, 12.0], [8.0, 15.5, 18.0]],
    "weight_scale": 120.0,
    "delay": 0.5,
    "hidden_delay": 1.0,
    "feedback": ["random", "symmetric"],
    "feedback_scale": 2.0,
    "feedback_delay": 1.5,
    "last_trials": 2,
    "write_every": 2,
    "plasticity": {"update_every": 5.0, "eta": 5.0, "tau_rms": 100.0, "tau_rise": 4.0,
                   "tau_decay": 9.0, "w_min": -60.0, "w_max": 70.0},
}  # fmt: skip


def superspike_scenario(record: dict[str, Any] | None = None, **changes: Any) -> Scenario:
    return scenario("tiny_superspike", {**SUPERSPIKE, **changes}, record=record or {})


@pytest.fixture(scope="module")
def superspike_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path, RunSummary]:
    """Two hidden and two output neurons, random and symmetric feedback, 5 trials written
    2, 2 and 1 at a time."""
    out = tmp_path_factory.mktemp("superspike") / "run.zarr"
    checked = superspike_scenario()
    return checked, out, superspike.run(checked, out, False, False)


def simulated_trials(checked: Scenario) -> dict[str, list[tuple[float, np.ndarray, np.ndarray]]]:
    """Each feedback kind's network run here trial by trial: (start, spike times, neurons)."""
    table = checked.settings["experiment"]
    trials = {}
    for kind in superspike.conditions(table):
        simulator = SpikingSyncSimulator(superspike.build_network(table, 3, kind), 3)
        trials[kind] = []
        for _ in range(table["trials"]):
            start = simulator.step * table["dt"]
            piece = simulator.run(table["trial"])
            trials[kind].append((start, piece.spike_time, piece.spike_neuron))
        trials[kind].append((math.nan, simulator.state.w.copy(), np.empty(0)))  # final weights
    return trials


def test_superspike_network_has_the_documented_initial_weights_feedback_and_targets():
    """Weights normal with sd weight_scale / sqrt(fan-in) from the run seed (inputs -> hidden,
    hidden -> outputs, then the random feedback weights), clipped to [w_min, w_max]; the
    feedback edges join every output to every hidden neuron, each naming its forward
    synapse; targets per output; the same initial weights for every kind."""
    table = superspike_scenario().settings["experiment"]
    rng = np.random.default_rng(3)
    into_hidden = rng.normal(0.0, 120.0 / math.sqrt(8), 16)
    into_outputs = rng.normal(0.0, 120.0 / math.sqrt(2), 4)
    feedback_weights = rng.normal(0.0, 2.0, 4)
    expected = np.clip(np.concatenate([into_hidden, into_outputs]), -60.0, 70.0)
    assert np.sum(expected == -60.0) and np.sum(expected == 70.0)  # both bounds clip
    network = superspike.build_network(table, 3, "random")
    np.testing.assert_array_equal(network.weight, expected)
    assert network.n_neurons == 4 and network.dt == 0.5
    # inputs (0-7) onto the hidden neurons 0, 1 (store sources 8, 9), those onto outputs 2, 3
    np.testing.assert_array_equal(network.synapse_source, [*np.repeat(np.arange(8), 2), 8, 8, 9, 9])
    np.testing.assert_array_equal(network.synapse_post, [0, 1] * 8 + [2, 3, 2, 3])
    np.testing.assert_array_equal(network.delay, [0.5] * 16 + [1.0] * 4)
    feedback = network.feedback
    assert feedback.kind == "random" and feedback.delay == 1.5
    assert sorted(zip(feedback.source.tolist(), feedback.post.tolist(), strict=True)) == [
        (2, 0), (2, 1), (3, 0), (3, 1)
    ]  # fmt: skip
    np.testing.assert_array_equal(feedback.weight, feedback_weights)
    targets = network.targets
    np.testing.assert_array_equal(targets.neurons, [2, 2, 3, 3, 3])
    np.testing.assert_array_equal(targets.times, [4.0, 12.0, 8.0, 15.5, 18.0])
    assert targets.period == 20.0
    rule = network.plasticity
    assert (rule.rule, rule.eta, rule.update_every, rule.tau_rms) == ("superspike", 5.0, 5.0, 100.0)
    assert (rule.tau_rise, rule.tau_decay, rule.w_min, rule.w_max) == (4.0, 9.0, -60.0, 70.0)
    assert network.neuron == LifParameters(**superspike.REFERENCE_NEURON)
    symmetric = superspike.build_network(table, 3, "symmetric")
    edges = symmetric.feedback
    assert edges.kind == "symmetric" and edges.delay == 1.5
    np.testing.assert_array_equal(edges.source, feedback.source)
    np.testing.assert_array_equal(edges.post, feedback.post)
    # each edge reads the weight of the synapse from its receiver to its sender
    np.testing.assert_array_equal(symmetric.synapse_source[edges.forward], 8 + edges.post)
    np.testing.assert_array_equal(symmetric.synapse_post[edges.forward], edges.source)
    np.testing.assert_array_equal(symmetric.weight, network.weight)
    other_seed = superspike.build_network(table, 4, "random")
    assert not np.array_equal(other_seed.weight, network.weight)


def test_superspike_without_a_hidden_layer_drives_the_outputs_directly():
    """hidden = 0: inputs onto the outputs (neurons 0, 1) with sd weight_scale / sqrt(inputs),
    no feedback, one target list shared by every output, the plasticity defaults filled in
    when the table is absent, and the one condition "none"."""
    changes = {"hidden": 0, "target_times": [3.0, 9.0], "weight_scale": 10.0}
    table = superspike_scenario(**changes).settings["experiment"]
    network = superspike.build_network(table, 3)
    drawn = np.random.default_rng(3).normal(0.0, 10.0 / math.sqrt(8), 16)
    np.testing.assert_array_equal(network.weight, np.clip(drawn, -60.0, 70.0))
    np.testing.assert_array_equal(network.synapse_post, [0, 1] * 8)
    assert network.n_neurons == 2 and network.feedback is None
    np.testing.assert_array_equal(network.targets.neurons, [0, 0, 1, 1])
    np.testing.assert_array_equal(network.targets.times, [3.0, 9.0, 3.0, 9.0])
    assert superspike.conditions(table) == ["none"]
    assert superspike.conditions(superspike_scenario().settings["experiment"]) == [
        "random", "symmetric"
    ]  # fmt: skip
    bare = {key: value for key, value in SUPERSPIKE.items() if key != "plasticity"} | {"hidden": 0}
    defaults = superspike.build_network(scenario("bare", bare).settings["experiment"], 3).plasticity
    for key, spec in superspike.PLASTICITY_KEYS.items():
        assert getattr(defaults, key) == spec.default, key


def test_frozen_poisson_is_one_draw_per_step_and_source_repeated_every_trial():
    """A spike where a uniform draw of the seed's generator, (steps, sources), falls below
    rate * dt (rate in Hz, dt in ms); times on the grid, the trial as the period."""
    train = superspike.frozen_poisson(7, 150.0, 30.0, 0.5, 9)
    fired = np.random.default_rng(9).random((60, 7)) < 150.0 * 0.5e-3
    step, source = np.nonzero(fired)
    assert 20 < step.size < 100  # about 7 * 60 * 0.075 = 31
    np.testing.assert_array_equal(train.times, step * 0.5)
    np.testing.assert_array_equal(train.indices, source)
    assert train.size == 7 and train.period == 30.0
    again = superspike.frozen_poisson(7, 150.0, 30.0, 0.5, 9)
    np.testing.assert_array_equal(again.times, train.times)
    assert superspike.frozen_poisson(7, 0.0, 30.0, 0.5, 9).times.size == 0


def test_superspike_store_names_each_kinds_neurons_and_edges(superspike_run):
    """Inputs first, then each kind's hidden and output neurons (names prefixed with the
    kind); the edges renumbered into the store; attributes say the kinds and the grid."""
    checked, out, _ = superspike_run
    run = open_run(out)
    names = [f"input{k}" for k in range(8)]
    for kind in ("random", "symmetric"):
        names += [f"{kind}/hidden0", f"{kind}/hidden1", f"{kind}/output0", f"{kind}/output1"]
    assert run.array("neurons", "name").tolist() == names
    assert run.array("neurons", "role").tolist() == ["input"] * 8 + (
        ["hidden"] * 2 + ["output"] * 2) * 2  # fmt: skip
    assert run.array("neurons", "layer").tolist() == [0] * 8 + [1, 1, 2, 2] * 2
    network = superspike.build_network(checked.settings["experiment"], 3, "random")
    sources, posts = [], []
    for offset in (8, 12):
        from_input = network.synapse_source < 8
        sources += np.where(from_input, network.synapse_source,
                            network.synapse_source - 8 + offset).tolist()  # fmt: skip
        posts += (network.synapse_post + offset).tolist()
    assert run.array("weights", "edge_src").tolist() == sources
    assert run.array("weights", "edge_dst").tolist() == posts
    attributes = run.attributes
    assert attributes["feedback"] == ["random", "symmetric"]
    assert (attributes["dt_ms"], attributes["seed"], attributes["backend"]) == (0.5, 3, "sync")
    assert attributes["time_unit"] == "0.5 ms"
    assert attributes["scenario"]["experiment"]["hidden"] == 2
    assert run.status == "complete" and attributes["steps_simulated"] == 200
    assert run.checkpoint() is None  # no checkpoint_every: none unless the run is stopped
    assert run.array("trajectory", "neuron").size == 0  # no potentials recorded


def test_superspike_trials_are_the_distances_of_each_trials_spikes(superspike_run):
    """The stored spikes are the networks' own, run here trial by trial; each trial's
    distance is the van Rossum distance (the rule's tau_rise, tau_decay) of each output's
    spikes in the trial to its targets, and output_spikes counts them."""
    checked, out, summary = superspike_run
    run = open_run(out)
    simulated = simulated_trials(checked)
    targets = [[4.0, 12.0], [8.0, 15.5, 18.0]]
    distance = np.empty((5, 2, 2))
    counts = np.empty((5, 2, 2), dtype=np.int64)
    events = []
    for k, kind in enumerate(("random", "symmetric")):
        for trial, (start, times, neurons) in enumerate(simulated[kind][:5]):
            for output in range(2):
                mine = times[neurons == 2 + output] - start
                distance[trial, k, output] = van_rossum(targets[output], mine, 4.0, 9.0)
                counts[trial, k, output] = mine.size
            events += [(time, neuron + 8 + 4 * k) for time, neuron in zip(times, neurons,
                                                                          strict=True)]  # fmt: skip
    series = run.series("trials")
    np.testing.assert_allclose(series["distance"], distance, rtol=1e-12)
    np.testing.assert_array_equal(series["output_spikes"], counts)
    assert counts[0].sum() == 0 < counts[1:].sum()  # learning makes the outputs fire
    assert len(set(np.round(distance[1:].ravel(), 9))) > 8  # the kinds and trials differ
    stored = sorted(zip(run.array("events", "t").tolist(), run.array("events", "neuron").tolist(),
                        strict=True))  # fmt: skip
    assert stored == sorted(events)
    assert set(run.array("events", "kind").tolist()) == {0}
    assert set(run.array("events", "value").tolist()) == {1.0}
    # a snapshot after every write (2, 4 and 5 trials of 40 steps): both networks' weights
    assert run.array("weights", "snapshot_time").tolist() == [80, 160, 200]
    final = np.concatenate([simulated[kind][-1][1] for kind in ("random", "symmetric")])
    np.testing.assert_array_equal(run.array("weights", "W")[-1], final)
    assert not np.array_equal(run.array("weights", "W")[0], final)
    np.testing.assert_array_equal(run.array("weights", "b"), np.zeros((3, 16)))
    assert summary.steps == 200 and summary.status == "complete"


def test_superspike_metrics_are_recomputed_from_the_distances(superspike_run):
    """distance_first: the first trial's mean over outputs; distance_last: the mean of the
    last last_trials trials; the reduction 1 - last / first; per kind, described."""
    _, out, summary = superspike_run
    run = open_run(out)
    curve = run.series("trials")["distance"].mean(axis=2)
    expected = {}
    for k, kind in enumerate(("random", "symmetric")):
        first, last = curve[0, k], curve[-2:, k].mean()
        expected[f"distance_first_{kind}"] = first
        expected[f"distance_last_{kind}"] = last
        expected[f"distance_reduction_{kind}"] = 1.0 - last / first
    assert stored_metrics(run) == pytest.approx(expected, rel=1e-12)
    assert summary.metrics == pytest.approx(expected, rel=1e-12)
    assert curve[-2:, 0].mean() != curve[-1, 0]  # the mean of two trials, not the last alone
    descriptions = metric_descriptions(out)
    assert descriptions["distance_first_symmetric"] == (
        "distance in the first trial, symmetric feedback"
    )
    assert descriptions["distance_last_random"] == (
        "mean distance over the last trials, random feedback"
    )
    assert descriptions["distance_reduction_random"] == "1 - last / first, random feedback"


def test_superspike_figure_draws_each_kinds_curve_and_the_first_and_last_trials(superspike_run):
    """Left: per kind the distance of each trial (mean over outputs, faint) and its running
    mean over min(25, trials) trials, on a symlog axis; right: the targets (green) and the
    first kind's output spikes (black) of the first and the last trial, one row per output."""
    checked, out, _ = superspike_run
    run = open_run(out)
    figure = superspike.superspike_figure(run)
    assert tuple(figure.get_size_inches()) == (10.0, 3.8)
    left, right = figure.axes
    curve = run.series("trials")["distance"].mean(axis=2)
    lines = left.get_lines()
    assert len(lines) == 4
    for k, kind in enumerate(("random", "symmetric")):
        faint, smooth = lines[2 * k], lines[2 * k + 1]
        np.testing.assert_array_equal(faint.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_array_equal(faint.get_ydata(), curve[:, k])
        assert (faint.get_alpha(), faint.get_linewidth(), faint.get_color()) == (0.35, 0.8, f"C{k}")
        np.testing.assert_array_equal(smooth.get_xdata(), [5])
        assert smooth.get_ydata() == pytest.approx([curve[:, k].mean()], rel=1e-12)
        assert smooth.get_color() == f"C{k}"
        assert smooth.get_label() == f"{kind} feedback, 5-trial mean (faint: each trial)"
    assert left.get_yscale() == "symlog" and left.yaxis.get_transform().linthresh == 0.1
    assert [text.get_text() for text in left.get_legend().get_texts()] == [
        "random feedback, 5-trial mean (faint: each trial)",
        "symmetric feedback, 5-trial mean (faint: each trial)",
    ]
    assert (left.get_xlabel(), left.get_ylabel(), left.get_title()) == (
        "trial", "van Rossum distance (mean over outputs)", "distance to the targets"
    )  # fmt: skip
    simulated = simulated_trials(checked)["random"]
    targets = [[4.0, 12.0], [8.0, 15.5, 18.0]]
    markers = right.get_lines()
    assert len(markers) == 8
    for row, trial in enumerate((0, 4)):
        start, times, neurons = simulated[trial]
        for output in range(2):
            wanted, got = markers[4 * row + 2 * output], markers[4 * row + 2 * output + 1]
            y = row * 3 + output
            np.testing.assert_array_equal(wanted.get_xdata(), targets[output])
            np.testing.assert_array_equal(wanted.get_ydata(), [y + 0.3] * len(targets[output]))
            spikes = times[neurons == 2 + output] - start
            np.testing.assert_allclose(got.get_xdata(), spikes, atol=1e-9)
            np.testing.assert_array_equal(got.get_ydata(), [y] * spikes.size)
            assert (wanted.get_color(), got.get_color()) == ("tab:green", "black")
            assert wanted.get_marker() == got.get_marker() == "|"
            assert wanted.get_markersize() == got.get_markersize() == 8
    assert sum(line.get_xdata().size for line in markers[1::2][2:]) > 0  # the last trial fires
    labels = [(text.get_position(), text.get_text()) for text in right.texts]
    assert labels == [((20.0, 0), " first trial"), ((20.0, 3), " last trial")]
    assert right.get_xlim() == (0.0, 20.0) and list(right.get_yticks()) == []
    assert right.get_xlabel() == "time in the trial (ms)"
    assert right.get_title() == "outputs (black), targets (green), random feedback"
    assert figure.get_suptitle() == "tiny_superspike (sync)"


def test_superspike_figure_draws_a_spike_on_the_last_step_in_its_own_trial(tmp_path):
    """A trial's spikes are those its distance counted, the grid steps after its start up
    to its end: a spike on the last step of the last trial is drawn at its end, and the
    first trial's spikes in the first row."""
    out = tmp_path / "edge.zarr"
    changes = {"hidden": 0, "outputs": 1, "inputs": 20, "target_times": [2.0], "trial": 5.0,
               "trials": 6, "rate": 400.0, "input_seed": 10, "weight_scale": 150.0,
               "write_every": 6, "last_trials": 1}  # fmt: skip
    superspike.run(superspike_scenario(**changes), out, False, False)
    run = open_run(out)
    steps = np.rint(run.array("events", "t") / 0.5)
    first_trial, last_trial = steps[steps <= 10], steps[(steps > 50) & (steps <= 60)]
    assert first_trial.size and 60 in last_trial  # a spike in the first trial, one at the end
    lines = superspike.superspike_figure(run).axes[1].get_lines()
    np.testing.assert_allclose(lines[1].get_xdata(), first_trial * 0.5, atol=1e-9)
    np.testing.assert_allclose(lines[3].get_xdata(), (last_trial - 50) * 0.5, atol=1e-9)
    counts = run.series("trials")["output_spikes"][:, 0, 0]
    assert counts[0] == first_trial.size and counts[-1] == last_trial.size


def test_superspike_figure_smooths_over_25_trials_at_most(tmp_path):
    """26 trials: the running mean over the last 25, at trials 25 and 26."""
    out = tmp_path / "long.zarr"
    changes = {"hidden": 0, "outputs": 1, "trial": 0.5, "trials": 26, "rate": 0.0,
               "target_times": [[0.0]], "write_every": 26}  # fmt: skip
    superspike.run(superspike_scenario(**changes), out, False, False)
    run = open_run(out)
    curve = run.series("trials")["distance"][:, 0, 0]
    faint, smooth = superspike.superspike_figure(run).axes[0].get_lines()
    np.testing.assert_array_equal(faint.get_xdata(), np.arange(1, 27))
    np.testing.assert_array_equal(smooth.get_xdata(), [25, 26])
    np.testing.assert_allclose(smooth.get_ydata(), [curve[:25].mean(), curve[1:].mean()])
    assert smooth.get_label() == "25-trial mean (faint: each trial)"


def test_superspike_plot_writes_the_figure_as_a_png(superspike_run, tmp_path):
    _, out, _ = superspike_run
    path = superspike.plot(open_run(out), tmp_path / "figure.png")
    assert path == tmp_path / "figure.png" and png_size(path) == (380, 1000)


def test_superspike_without_feedback_kinds_stores_and_draws_the_one_network(tmp_path):
    """hidden = 0 and no input spikes (rate 0): no output spikes, so no events; every
    trial's distance is that of the targets to nothing; names, metrics, descriptions and the
    figure carry no kind."""
    out = tmp_path / "none.zarr"
    changes = {"hidden": 0, "target_times": [3.0, 9.0], "rate": 0.0, "trials": 2,
               "write_every": 1}  # fmt: skip
    summary = superspike.run(superspike_scenario(**changes), out, False, False)
    run = open_run(out)
    assert "events" not in run.groups()
    assert run.array("neurons", "name").tolist()[8:] == ["output0", "output1"]
    assert run.array("neurons", "layer").tolist() == [0] * 8 + [1, 1]
    assert run.attributes["feedback"] == ["none"]
    alone = van_rossum([3.0, 9.0], [], 4.0, 9.0)
    np.testing.assert_allclose(run.series("trials")["distance"], np.full((2, 1, 2), alone))
    assert summary.metrics == pytest.approx(
        {"distance_first": alone, "distance_last": alone, "distance_reduction": 0.0}
    )
    assert metric_descriptions(out)["distance_first"] == "distance in the first trial"
    assert run.array("weights", "snapshot_time").tolist() == [40, 80]
    figure = superspike.superspike_figure(run)
    left, right = figure.axes
    assert [line.get_label() for line in left.get_lines()][1] == "2-trial mean (faint: each trial)"
    assert right.get_title() == "outputs (black), targets (green)"
    lines = right.get_lines()
    assert len(lines) == 8
    for wanted in lines[0::2]:
        np.testing.assert_array_equal(wanted.get_xdata(), [3.0, 9.0])  # the one shared list
    assert all(line.get_xdata().size == 0 for line in lines[1::2])


def test_superspike_reduction_is_nan_when_the_first_trial_is_already_perfect(tmp_path):
    """An output without targets that never fires: distance 0 from the first trial on, and
    no reduction to report (NaN, not a division by zero); any distance above 0 has one."""
    out = tmp_path / "perfect.zarr"
    changes = {"hidden": 0, "outputs": 1, "target_times": [[]], "rate": 0.0, "trials": 1,
               "last_trials": 1}  # fmt: skip
    summary = superspike.run(superspike_scenario(**changes), out, False, False)
    assert summary.metrics["distance_first"] == 0.0 == summary.metrics["distance_last"]
    assert math.isnan(summary.metrics["distance_reduction"])
    # one target never met: a distance of exactly 1 (one missed spike), reduced by nothing
    changes["target_times"] = [[4.0]]
    summary = superspike.run(superspike_scenario(**changes), tmp_path / "missed.zarr", False, False)
    assert summary.metrics["distance_first"] == 1.0 == summary.metrics["distance_last"]
    assert summary.metrics["distance_reduction"] == 0.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dt": 0.0}, "experiment.dt = 0"),
        ({"trial": 0.25}, "experiment.trial = 0.25"),
        ({"target_times": [[4.0], [8.0], [9.0]]}, "3 lists for 2 outputs"),
    ],
)
def test_superspike_settings_refused_when_the_network_is_built_write_nothing(
    tmp_path, changes, message
):
    out = tmp_path / "bad.zarr"
    with pytest.raises(ValidationError, match=message):
        superspike.run(superspike_scenario(**changes), out, False, False)
    assert not out.exists()


def test_superspike_accepts_a_trial_of_one_step():
    """trial = dt is the shortest trial allowed."""
    table = superspike_scenario(trial=0.5, target_times=[0.0]).settings["experiment"]
    assert superspike.build_network(table, 3, "random").targets.period == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_times": 5.0}, r"experiment.target_times = 5(\.0)?: expected a list of times"),
        ({"target_times": []}, r"experiment.target_times = \[\]: expected a list of times"),
        ({"target_times": [[1.0], [2.0, "x"]]}, r"experiment.target_times\[1\]"),
        ({"feedback": ["random", "random"]}, "expected one or more different kinds"),
        ({"feedback": []}, "expected one or more different kinds"),
        ({"feedback": "mirror"}, r"experiment.feedback\[0\]"),
    ],
)
def test_superspike_bad_lists_are_refused_naming_the_key(changes, message):
    with pytest.raises(ValidationError, match=message):
        superspike_scenario(**changes)


def test_superspike_accepts_one_feedback_kind_not_in_a_list():
    assert superspike_scenario(feedback="symmetric").settings["experiment"]["feedback"] == [
        "symmetric"
    ]


def test_a_stopped_superspike_run_resumes_to_the_uninterrupted_run(
    superspike_run, tmp_path, monkeypatch, recorded_progress
):
    """Stopped (as by SIGTERM) in its fourth trial with a checkpoint after every write of 2
    trials, then resumed from the second trial on: the same series, spikes, snapshots and
    metrics as the run that never stopped, and a last checkpoint after the third write; the
    progress counts trials, from those done, showing each trial's mean distance."""
    _, whole, _ = superspike_run
    out = tmp_path / "stopped.zarr"
    calls = []

    def stopping(*arguments: Any) -> float:
        calls.append(arguments)
        if len(calls) == 3 * 4 + 1:  # 3 trials of 2 kinds x 2 outputs done
            raise RunInterrupted("terminated by SIGTERM")
        return van_rossum(*arguments)

    monkeypatch.setattr(superspike, "van_rossum", stopping)
    with pytest.raises(RunInterrupted):
        superspike.run(superspike_scenario({"checkpoint_every": 1}), out, False, False)
    stopped = open_run(out)
    assert stopped.status == "interrupted"
    assert stopped.checkpoint()[1]["units_done"] == 1  # one write of 2 trials
    assert len(stopped.series("trials")["distance"]) == 3
    monkeypatch.setattr(superspike, "van_rossum", van_rossum)
    summary = superspike.resume(out, True)
    resumed = open_run(out)
    assert resumed.status == "complete" and summary.steps == 200
    same_store(resumed, open_run(whole), ("trials", "events", "weights", "metrics"))
    assert resumed.checkpoint()[1]["units_done"] == 3  # after trials 2, 4 and the last, 5
    stopped_bar, resumed_bar = recorded_progress
    assert stopped_bar.arguments == {"total": 5, "initial": 0, "unit": "trial", "delay": 2.0,
                                     "disable": True}  # fmt: skip
    assert stopped_bar.updates == [1, 1, 1]
    assert resumed_bar.arguments["initial"] == 2 and not resumed_bar.arguments["disable"]
    assert resumed_bar.updates == [1, 1, 1]
    distance = resumed.series("trials")["distance"]
    assert resumed_bar.postfix == [{"distance": f"{distance[t].mean():.3g}"} for t in (2, 3, 4)]


def test_superspike_figure_refuses_a_store_without_trials(tmp_path, monkeypatch):
    out = tmp_path / "empty.zarr"

    def stopping(*arguments: Any) -> float:
        raise RunInterrupted("terminated by SIGTERM")

    monkeypatch.setattr(superspike, "van_rossum", stopping)
    with pytest.raises(RunInterrupted):
        superspike.run(superspike_scenario(), out, False, False)
    with pytest.raises(ValidationError, match="no trials recorded yet"):
        superspike.superspike_figure(open_run(out))


class RecordedProgress:
    """Stands in for a module's progress bar: keeps its arguments and its advances."""

    made: ClassVar[list[RecordedProgress]] = []

    def __init__(self, **arguments: Any) -> None:
        self.arguments, self.updates, self.postfix = arguments, [], []
        RecordedProgress.made.append(self)

    def __enter__(self) -> RecordedProgress:
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def update(self, n: float = 1) -> None:
        self.updates.append(n)

    def set_postfix(self, **values: str) -> None:
        self.postfix.append(values)


@pytest.fixture
def recorded_progress(monkeypatch: pytest.MonkeyPatch) -> list[RecordedProgress]:
    RecordedProgress.made = []
    for module in (superspike, bcm, spiking):
        monkeypatch.setattr(module, "RunProgress", RecordedProgress)
    return RecordedProgress.made


# --- BCM -------------------------------------------------------------------------------------

BCM = {
    "kind": "bcm",
    "model": "spiking",
    "duration": 250.0,
    "dt": 0.5,
    "inputs": 6,
    "rate": 200.0,
    "weight_low": 4.0,
    "weight_high": 9.0,
    "delay": 1.0,
    "tau_theta": [400.0, 20.0],
    "record_every": 50.0,
    "runaway_rate": 130.0,
    "neuron": {"v_rest": -65.0, "v_reset": -65.0, "v_threshold": -55.0, "refractory": 2.0},
}
BCM_RATE = {
    "kind": "bcm",
    "model": "rate",
    "duration": 200.0,
    "dt": 2.0,
    "inputs": 5,
    "rate": 20.0,
    "weight_low": 0.2,
    "weight_high": 0.6,
    "tau_theta": [300.0, 15.0],
    "offset": 4.0,
    "pattern_every": 30.0,
    "record_every": 50.0,
    "plasticity": {"eta": 1e-5, "kappa": 12.0, "w_min": 0.1, "w_max": 0.9},
}


def bcm_scenario(base: dict[str, Any] = BCM, **changes: Any) -> Scenario:
    return scenario("tiny_bcm", {**base, **changes})


@pytest.fixture(scope="module")
def bcm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path, RunSummary]:
    """One LIF neuron per threshold time constant (400 and 20 ms), 250 ms sampled every 50
    ms, the BCM keys' defaults (no plasticity table)."""
    out = tmp_path_factory.mktemp("bcm") / "run.zarr"
    checked = bcm_scenario()
    return checked, out, bcm.run(checked, out, False, False)


def bcm_simulated(
    every_ms: list[float], neuron: dict[str, float] = BCM["neuron"]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each condition's neuron built here from the docstring and the BCM keys' defaults and
    run in the pieces ``every_ms``: rates (spikes over each piece), weight norms,
    thresholds, and the final weights."""
    initial = np.random.default_rng(3).uniform(4.0, 9.0, 6)
    defaults = {key: spec.default for key, spec in bcm.PLASTICITY_KEYS.items()}
    rates, norms, thetas, finals = [], [], [], []
    for tau in (400.0, 20.0):
        network = SpikingNetwork(
            dt=0.5, neuron=LifParameters(**neuron),
            n_neurons=1, inputs=(PoissonInput(6, 200.0),), synapse_source=np.arange(6),
            synapse_post=np.zeros(6, dtype=np.int64), weight=initial.copy(), delay=1.0,
            plasticity=Plasticity("bcm", tau_theta=tau, **defaults),
        )  # fmt: skip
        simulator = SpikingSyncSimulator(network, 3)
        row_rates, row_norms, row_thetas = [], [], []
        for piece_ms in every_ms:
            spikes = simulator.run(piece_ms).spike_time.size
            row_rates.append(spikes / (piece_ms * 1e-3))
            row_norms.append(np.linalg.norm(simulator.state.w))
            row_thetas.append(simulator.state.neuron_state[0, 1])
        rates.append(row_rates)
        norms.append(row_norms)
        thetas.append(row_thetas)
        finals.append(simulator.state.w.copy())
    return (np.transpose(rates), np.transpose(norms), np.transpose(thetas),
            np.concatenate(finals))  # fmt: skip


def test_bcm_spiking_samples_are_the_neurons_rates_norms_and_thresholds(bcm_run):
    """Every record_every ms (the last piece shorter): the time, and per condition the
    spikes over the piece as a rate, the weights' norm and the threshold, as a LIF neuron
    built here with the documented defaults of the BCM keys gives them; the final weights
    in the one snapshot."""
    _, out, summary = bcm_run
    run = open_run(out)
    samples = run.series("samples")
    np.testing.assert_array_equal(samples["time"], [50.0, 100.0, 150.0, 200.0, 250.0])
    rates, norms, thetas, final = bcm_simulated([50.0] * 5)
    np.testing.assert_array_equal(samples["rate"], rates)
    np.testing.assert_allclose(samples["weight_norm"], norms, rtol=1e-12)
    np.testing.assert_allclose(samples["theta"], thetas, rtol=1e-12)
    assert len(set(rates.ravel())) > 3 and not np.allclose(thetas[:, 0], thetas[:, 1])
    assert run.array("weights", "snapshot_time").tolist() == [500]
    np.testing.assert_allclose(run.array("weights", "W"), [final], rtol=1e-12)
    np.testing.assert_array_equal(run.array("weights", "b"), np.zeros((1, 8)))
    assert not np.allclose(final[:6], np.random.default_rng(3).uniform(4.0, 9.0, 6))  # learned
    assert run.attributes["steps_simulated"] == 500 and summary.steps == 500


def test_bcm_a_last_piece_shorter_than_record_every_is_a_rate_over_its_own_length(tmp_path):
    """duration 120 ms sampled every 50 ms: pieces of 50, 50 and 20 ms."""
    out = tmp_path / "short.zarr"
    bcm.run(bcm_scenario(duration=120.0), out, False, False)
    samples = open_run(out).series("samples")
    np.testing.assert_array_equal(samples["time"], [50.0, 100.0, 120.0])
    rates, norms, _, _ = bcm_simulated([50.0, 50.0, 20.0])
    np.testing.assert_array_equal(samples["rate"], rates)
    np.testing.assert_allclose(samples["weight_norm"], norms, rtol=1e-12)


def test_bcm_rates_are_the_one_neurons_of_each_condition(tmp_path):
    """A neuron that fires on its own (rest above threshold): each condition's rate is that
    of its one neuron."""
    out = tmp_path / "intrinsic.zarr"
    neuron = {"v_rest": -50.0, "v_reset": -65.0, "v_threshold": -55.0, "refractory": 2.0}
    bcm.run(bcm_scenario(neuron=neuron, duration=100.0), out, False, False)
    rates, _, _, _ = bcm_simulated([50.0, 50.0], neuron)
    np.testing.assert_array_equal(open_run(out).series("samples")["rate"], rates)


def test_bcm_store_names_one_output_per_condition(bcm_run):
    _, out, _ = bcm_run
    run = open_run(out)
    assert run.array("neurons", "name").tolist() == [f"input{k}" for k in range(6)] + [
        "tau400", "tau20"
    ]  # fmt: skip
    assert run.array("neurons", "role").tolist() == ["input"] * 6 + ["output"] * 2
    assert run.array("neurons", "layer").tolist() == [0] * 6 + [1] * 2
    assert run.array("weights", "edge_src").tolist() == list(range(6)) * 2
    assert run.array("weights", "edge_dst").tolist() == [6] * 6 + [7] * 6
    attributes = run.attributes
    assert attributes["conditions"] == ["tau400", "tau20"]
    assert (attributes["dt_ms"], attributes["seed"], attributes["backend"]) == (0.5, 3, "sync")
    assert attributes["time_unit"] == "0.5 ms" and run.status == "complete"
    assert run.array("trajectory", "neuron").size == 0  # no potentials recorded


def test_bcm_metrics_are_recomputed_from_the_samples(bcm_run):
    """final_*: the mean over the last tenth of the samples (at least one); max_rate; the
    runaway time: the first sample whose rate is above runaway_rate (NaN: none)."""
    _, out, summary = bcm_run
    run = open_run(out)
    samples = run.series("samples")
    expected = {}
    for k, tau in enumerate(("400", "20")):
        rate = samples["rate"][:, k]
        above = np.flatnonzero(rate > 130.0)
        expected[f"final_rate_tau{tau}"] = rate[-1]
        expected[f"final_weight_norm_tau{tau}"] = samples["weight_norm"][-1, k]
        expected[f"max_rate_tau{tau}"] = rate.max()
        expected[f"runaway_time_tau{tau}"] = samples["time"][above[0]] if above.size else math.nan
    assert stored_metrics(run) == pytest.approx(expected, rel=1e-12, nan_ok=True)
    assert summary.metrics == pytest.approx(expected, rel=1e-12, nan_ok=True)
    # the first of several samples above the rate (not the last), and not at time 0
    assert np.sum(samples["rate"][:, 0] > 130.0) > 1 and expected["runaway_time_tau400"] > 0
    descriptions = metric_descriptions(out)
    assert descriptions["final_rate_tau20"] == (
        "output rate over the last tenth (Hz), tau_theta = 20 ms"
    )
    assert descriptions["runaway_time_tau400"] == (
        "when the rate first passed runaway_rate (ms; NaN: never), tau_theta = 400 ms"
    )


def test_bcm_runaway_is_a_rate_strictly_above_runaway_rate(bcm_run, tmp_path):
    """runaway_rate set to a condition's highest rate: that condition never passed it."""
    _, out, _ = bcm_run
    highest = open_run(out).series("samples")["rate"].max(axis=0)
    summary = bcm.run(bcm_scenario(runaway_rate=float(highest[0])), tmp_path / "r.zarr",
                      False, False)  # fmt: skip
    assert math.isnan(summary.metrics["runaway_time_tau400"])


def test_bcm_final_values_average_the_last_tenth_of_the_samples(tmp_path):
    """54 samples, each of one step with a new input pattern (pattern_every below dt: one
    step): the last 5 averaged (54 // 10)."""
    out = tmp_path / "long.zarr"
    changes = {"dt": 1.0, "record_every": 1.0, "duration": 54.0, "pattern_every": 0.4}
    summary = bcm.run(bcm_scenario(BCM_RATE, **changes), out, False, False)
    samples = open_run(out).series("samples")
    assert samples["time"].size == 54
    rule = {"eta": 1e-5, "kappa": 12.0, "w_min": 0.1, "w_max": 0.9}
    for k, tau in enumerate((300.0, 15.0)):
        rates, _, thetas, _ = rate_model_reference(tau, 1, 54, rule, 4.0, 1, dt=1.0)
        np.testing.assert_allclose(samples["rate"][:, k], rates, rtol=1e-10)
        np.testing.assert_allclose(samples["theta"][:, k], thetas, rtol=1e-10)
    rate, norm = samples["rate"][:, 0], samples["weight_norm"][:, 1]
    assert summary.metrics["final_rate_tau300"] == pytest.approx(rate[-5:].mean(), rel=1e-12)
    assert summary.metrics["final_weight_norm_tau15"] == pytest.approx(norm[-5:].mean(),
                                                                        rel=1e-12)  # fmt: skip
    for other in (4, 6):  # the mean over fewer or more samples differs
        assert rate[-other:].mean() != pytest.approx(rate[-5:].mean(), rel=1e-9)
        assert norm[-other:].mean() != pytest.approx(norm[-5:].mean(), rel=1e-9)


def rate_model_reference(
    tau_theta: float,
    record_every: int,
    total: int,
    rule: dict[str, float],
    offset: float,
    pattern_steps: int = 15,
    dt: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The linear-threshold rate neuron of the module docstring, step by step: inputs'
    rates redrawn uniformly in [0, 2 rate] every ``pattern_steps`` steps (the run seed's
    second stream),
    y = max(0, w . x - offset), the threshold relaxing exactly towards y^2 / kappa, each
    weight by one Euler step (``dt`` ms) of eta x y (y - theta), clipped; every
    ``record_every`` steps the mean rate, the norm and the threshold."""
    rng = np.random.default_rng([3, 1])
    patterns = rng.uniform(0.0, 40.0, (math.ceil(total / pattern_steps), 5))
    w = np.random.default_rng(3).uniform(0.2, 0.6, 5)
    theta, summed = 0.0, 0.0
    rates, norms, thetas = [], [], []
    for step in range(total):
        x = patterns[step // pattern_steps]
        y = max(0.0, float(w @ x) - offset)
        target = y * y / rule["kappa"]
        theta = target + (theta - target) * math.exp(-dt / tau_theta)
        w = np.clip(w + rule["eta"] * dt * x * y * (y - theta), rule["w_min"], rule["w_max"])
        summed += y
        if (step + 1) % record_every == 0:
            rates.append(summed / record_every)
            norms.append(math.sqrt(float(w @ w)))
            thetas.append(theta)
            summed = 0.0
    return np.array(rates), np.array(norms), np.array(thetas), w


def test_bcm_rate_model_follows_the_rate_neuron_equations(tmp_path):
    """The rate model's samples and final weights against the equations written out here
    (100 steps of 2 ms, a pattern every 30 ms, samples every 50 ms)."""
    out = tmp_path / "rate.zarr"
    summary = bcm.run(bcm_scenario(BCM_RATE), out, False, False)
    run = open_run(out)
    samples = run.series("samples")
    np.testing.assert_array_equal(samples["time"], [50.0, 100.0, 150.0, 200.0])
    rule = {"eta": 1e-5, "kappa": 12.0, "w_min": 0.1, "w_max": 0.9}
    finals = []
    for k, tau in enumerate((300.0, 15.0)):
        rates, norms, thetas, final = rate_model_reference(tau, 25, 100, rule, 4.0)
        np.testing.assert_allclose(samples["rate"][:, k], rates, rtol=1e-10)
        np.testing.assert_allclose(samples["weight_norm"][:, k], norms, rtol=1e-10)
        np.testing.assert_allclose(samples["theta"][:, k], thetas, rtol=1e-10)
        finals.append(final)
    np.testing.assert_allclose(run.array("weights", "W")[0], np.concatenate(finals), rtol=1e-10)
    assert run.array("weights", "snapshot_time").tolist() == [100]
    assert not np.allclose(finals[0], finals[1])  # the threshold's time constant matters
    assert summary.metrics["max_rate_tau300"] == samples["rate"][:, 0].max()


def test_bcm_rate_model_without_a_plasticity_table_uses_the_documented_defaults(tmp_path):
    """A rate run whose samples stop short of the end (115 steps, 25 per sample) with the
    BCM keys' defaults."""
    out = tmp_path / "defaults.zarr"
    table = {key: value for key, value in BCM_RATE.items() if key != "plasticity"}
    bcm.run(bcm_scenario(table, duration=230.0), out, False, False)
    samples = open_run(out).series("samples")
    defaults = {key: spec.default for key, spec in bcm.PLASTICITY_KEYS.items()}
    rates, norms, thetas, _ = rate_model_reference(15.0, 25, 115, defaults, 4.0)
    np.testing.assert_allclose(samples["rate"][:, 1], rates, rtol=1e-10)
    np.testing.assert_allclose(samples["weight_norm"][:, 1], norms, rtol=1e-10)
    np.testing.assert_allclose(samples["theta"][:, 1], thetas, rtol=1e-10)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_low": 5.0, "weight_high": 2.0},
         "experiment.weight_low = 5 is above experiment.weight_high = 2"),
        ({"dt": 0.0}, "experiment.dt = 0"),
        ({"record_every": 0.25}, "experiment.record_every = 0.25"),
        ({"duration": 0.25}, "experiment.duration = 0.25"),
        ({"pattern_every": -1.0}, r"experiment.pattern_every = -1.0: allowed range is \[0, inf\]"),
    ],
)  # fmt: skip
def test_bcm_settings_refused_before_the_run_write_nothing(tmp_path, changes, message):
    out = tmp_path / "bad.zarr"
    with pytest.raises(ValidationError, match=message):
        bcm.run(bcm_scenario(**changes), out, False, False)
    assert not out.exists()


def test_bcm_takes_the_shortest_settings_allowed(tmp_path):
    """weight_low = weight_high (every weight the same), record_every = duration = dt: one
    sample of one step."""
    out = tmp_path / "one.zarr"
    changes = {"weight_low": 3.0, "weight_high": 3.0, "duration": 0.5, "record_every": 0.5}
    bcm.run(bcm_scenario(**changes), out, False, False)
    run = open_run(out)
    np.testing.assert_array_equal(run.series("samples")["time"], [0.5])
    np.testing.assert_allclose(run.array("weights", "W")[0], 3.0, rtol=1e-9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"experiment.tau_theta = \[\]: expected one or more times"),
        ([5.0, 5.0], "a value repeats; give each once"),
        (0.0, r"experiment.tau_theta\[0\] = 0"),
    ],
)
def test_bcm_bad_threshold_time_constants_are_refused(value, message):
    with pytest.raises(ValidationError, match=message):
        bcm_scenario(tau_theta=value)


def test_bcm_one_threshold_time_constant_may_be_a_number():
    assert bcm_scenario(tau_theta=250.0).settings["experiment"]["tau_theta"] == [250.0]
    # any time above 0 ms, a fraction of a millisecond too
    assert bcm_scenario(tau_theta=[0.5, 2.0]).settings["experiment"]["tau_theta"] == [0.5, 2.0]


def test_bcm_figure_draws_the_rates_with_kappa_and_the_norms(bcm_run, tmp_path):
    """Left: the rate of each condition over time (s) and kappa (the default: no plasticity
    table); right: the weights' norms; labels in seconds of tau_theta."""
    _, out, _ = bcm_run
    run = open_run(out)
    samples = run.series("samples")
    figure = bcm.bcm_figure(run)
    assert tuple(figure.get_size_inches()) == (10.0, 3.8)
    left, right = figure.axes
    labels = ["tau_theta = 0.4 s", "tau_theta = 0.02 s"]
    for axes, name in ((left, "rate"), (right, "weight_norm")):
        lines = axes.get_lines()
        for k in range(2):
            np.testing.assert_allclose(lines[k].get_xdata(), samples["time"] * 1e-3, rtol=1e-12)
            np.testing.assert_array_equal(lines[k].get_ydata(), samples[name][:, k])
            assert lines[k].get_label() == labels[k]
    kappa = left.get_lines()[2]
    assert list(kappa.get_ydata()) == [10.0, 10.0] and kappa.get_linestyle() == ":"
    assert kappa.get_color() == "grey"
    assert [text.get_text() for text in left.get_legend().get_texts()] == [
        *labels, "kappa = 10 Hz"
    ]  # fmt: skip
    assert len(left.get_lines()) == 3 and len(right.get_lines()) == 2
    assert right.get_legend() is None
    assert (left.get_xlabel(), left.get_ylabel(), left.get_title()) == (
        "time (s)", "output rate (Hz)", "postsynaptic rate"
    )  # fmt: skip
    assert (right.get_xlabel(), right.get_ylabel(), right.get_title()) == (
        "time (s)", "|w|", "norm of the weights"
    )  # fmt: skip
    assert figure.get_suptitle() == "tiny_bcm: BCM, spiking neuron (sync)"
    path = bcm.plot(run, tmp_path / "bcm.png")
    assert path == tmp_path / "bcm.png" and png_size(path) == (380, 1000)


def test_bcm_figure_of_the_rate_model_draws_its_kappa(tmp_path):
    out = tmp_path / "rate.zarr"
    bcm.run(bcm_scenario(BCM_RATE), out, False, False)
    figure = bcm.bcm_figure(open_run(out))
    assert list(figure.axes[0].get_lines()[2].get_ydata()) == [12.0, 12.0]
    assert "kappa = 12 Hz" in texts(figure)
    assert figure.get_suptitle() == "tiny_bcm: BCM, rate neuron (sync)"


def test_bcm_figure_refuses_a_store_without_samples(tmp_path, monkeypatch):
    class Stopping:
        def __init__(self, *arguments: Any) -> None:
            pass

        def run(self, duration: float) -> None:
            raise RunInterrupted("terminated by SIGTERM")

    monkeypatch.setattr(bcm, "spiking_simulator", lambda backend: Stopping)
    out = tmp_path / "empty.zarr"
    with pytest.raises(RunInterrupted):
        bcm.run(bcm_scenario(), out, False, False)
    with pytest.raises(ValidationError, match="no samples recorded yet"):
        bcm.bcm_figure(open_run(out))


def test_bcm_progress_counts_the_steps(recorded_progress, tmp_path):
    bcm.run(bcm_scenario(duration=120.0), tmp_path / "a.zarr", False, True)
    bcm.run(bcm_scenario(BCM_RATE), tmp_path / "b.zarr", False, False)
    spiking_bar, rate_bar = recorded_progress
    assert spiking_bar.arguments == {"total": 240, "unit": "step", "unit_scale": True,
                                     "delay": 2.0, "disable": False}  # fmt: skip
    assert spiking_bar.updates == [100, 100, 40]
    assert rate_bar.arguments["disable"] and rate_bar.updates == [100]


# --- spiking networks from a scenario ----------------------------------------------------------

SPIKING = {
    "kind": "spiking",
    "duration": 120.0,
    "dt": 0.5,
    "neurons": 3,
    "neuron": {"v_rest": -65.0, "v_reset": -65.0, "v_threshold": -55.0, "refractory": 1.0},
    "inputs": [
        {"name": "drive", "kind": "poisson", "size": 6, "rate": 150.0, "weight_low": 1.0,
         "weight_high": 6.0, "delay": 0.5},
        {"kind": "times", "size": 2, "times": [3.0, 10.0, 40.5], "indices": [0, 1, 0],
         "weight": 4.0, "delay": 1.5},
    ],
    "recurrent": {"probability": 0.6, "weight": 2.0, "delay": 2.0},
    "plasticity": {"rule": "additive_stdp", "a_plus": 0.3, "a_minus": -0.35, "w_min": 0.0,
                   "w_max": 7.0},
    "potential_neurons": [0, 2],
    "potential_every": 4,
    "weights_every": 30.0,
    "write_every": 50.0,
    "histogram_bins": 5,
    "end_fraction": 0.2,
}  # fmt: skip


def spiking_scenario(record: dict[str, Any] | None = None, **changes: Any) -> Scenario:
    return scenario("tiny_spiking", {**SPIKING, **changes}, record=record or {})


@pytest.fixture(scope="module")
def spiking_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path, RunSummary]:
    """3 neurons driven by Poisson and given-time inputs, recurrent synapses, additive STDP,
    120 ms written every 50 ms."""
    out = tmp_path_factory.mktemp("spiking") / "run.zarr"
    checked = spiking_scenario()
    return checked, out, spiking.run(checked, out, False, False)


def spiking_simulated(checked: Scenario) -> tuple[SpikingSyncSimulator, list[Any]]:
    """The scenario's network run here in the pieces of write_every ms the run writes."""
    table = checked.settings["experiment"]
    simulator = SpikingSyncSimulator(
        spiking.build_network(table, 3), 3, record_neurons=table["potential_neurons"],
        record_every=table["potential_every"],
        weights_every=round(table["weights_every"] / table["dt"]),
    )  # fmt: skip
    return simulator, [simulator.run(piece) for piece in (50.0, 50.0, 20.0)]


def test_spiking_network_is_built_from_each_population_and_the_recurrent_draw():
    """Each population onto every neuron (source-major), its weights one value or uniform
    draws of the run seed in population order; then the recurrent synapses where a uniform
    draw over (pre, post) falls below the probability, self-synapses left out."""
    table = spiking_scenario().settings["experiment"]
    network = spiking.build_network(table, 3)
    rng = np.random.default_rng(3)
    drive = rng.uniform(1.0, 6.0, 18)
    drawn = rng.random((3, 3)) < 0.6
    assert drawn.diagonal().any() and not drawn.all()  # a self-pair drawn, some pairs not
    pre, post = np.nonzero(drawn & ~np.eye(3, dtype=bool))
    assert network.n_inputs == 8 and network.n_neurons == 3 and network.dt == 0.5
    np.testing.assert_array_equal(network.synapse_source,
                                  [*np.repeat(np.arange(8), 3), *(pre + 8)])  # fmt: skip
    np.testing.assert_array_equal(network.synapse_post, [*np.tile(np.arange(3), 8), *post])
    np.testing.assert_array_equal(network.weight, [*drive, *[4.0] * 6, *[2.0] * pre.size])
    np.testing.assert_array_equal(network.delay, [*[0.5] * 18, *[1.5] * 6, *[2.0] * pre.size])
    poisson, times = network.inputs
    assert isinstance(poisson, PoissonInput) and poisson.size == 6 and poisson.seed is None
    np.testing.assert_array_equal(poisson.rate, np.full(6, 150.0))
    np.testing.assert_array_equal(times.times, [3.0, 10.0, 40.5])
    np.testing.assert_array_equal(times.indices, [0, 1, 0])
    assert network.plasticity == Plasticity("additive_stdp", a_plus=0.3, a_minus=-0.35,
                                            w_min=0.0, w_max=7.0)  # fmt: skip
    assert network.neuron == LifParameters(v_rest=-65.0, v_reset=-65.0, v_threshold=-55.0,
                                           refractory=1.0)  # fmt: skip
    alone = {key: value for key, value in SPIKING.items() if key != "recurrent"}
    without = spiking.build_network(scenario("alone", alone).settings["experiment"], 3)
    assert without.weight.size == 24 and np.all(without.synapse_source < 8)


@pytest.mark.parametrize(
    ("population", "kind", "details"),
    [
        ({"kind": "binomial", "size": 2, "rate": [10.0, 30.0]}, "BinomialInput", {}),
        ({"kind": "frozen_poisson", "size": 2, "rate": 10.0, "seed": 7}, "PoissonInput",
         {"seed": 7}),
        ({"kind": "poisson", "size": 2, "rate": 10.0}, "PoissonInput", {"seed": None}),
    ],
)  # fmt: skip
def test_spiking_input_kinds_become_their_populations(population, kind, details):
    inputs = [{**population, "weight": 1.0, "delay": 0.5}]
    table = spiking_scenario(inputs=inputs).settings["experiment"]
    built = spiking.build_network(table, 3).inputs[0]
    assert type(built).__name__ == kind and built.size == 2
    np.testing.assert_array_equal(built.rate, np.broadcast_to(population["rate"], 2))
    for key, value in details.items():
        assert getattr(built, key) == value
    assert table["inputs"][0]["name"] == "input0"


def test_spiking_store_holds_the_networks_spikes_potentials_and_snapshots(spiking_run):
    """The events, the recorded potentials (on the step axis) and the weight snapshots are
    those of the network run here in the same pieces; inputs are the store's first
    neurons."""
    checked, out, summary = spiking_run
    run = open_run(out)
    simulator, pieces = spiking_simulated(checked)
    spike_time = np.concatenate([piece.spike_time for piece in pieces])
    spike_neuron = np.concatenate([piece.spike_neuron for piece in pieces])
    assert spike_time.size > 10 and set(spike_neuron.tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(run.array("events", "t"), spike_time)
    np.testing.assert_array_equal(run.array("events", "neuron"), spike_neuron + 8)
    assert set(run.array("events", "kind").tolist()) == {0}
    np.testing.assert_array_equal(run.array("events", "value"), np.ones(spike_time.size))
    potential_time = np.concatenate([piece.potential_time for piece in pieces])
    np.testing.assert_array_equal(run.array("trajectory", "time"), np.rint(potential_time / 0.5))
    np.testing.assert_array_equal(
        run.array("trajectory", "potential"),
        np.concatenate([piece.potential for piece in pieces]),
    )
    assert run.array("trajectory", "time")[:3].tolist() == [4, 8, 12]
    weight_time = np.concatenate([piece.weight_time for piece in pieces])
    np.testing.assert_array_equal(run.array("weights", "snapshot_time"),
                                  np.rint(weight_time / 0.5))  # fmt: skip
    assert run.array("weights", "snapshot_time")[:3].tolist() == [0, 60, 100]
    np.testing.assert_array_equal(run.array("weights", "W"),
                                  np.concatenate([piece.weights for piece in pieces]))  # fmt: skip
    np.testing.assert_array_equal(run.array("weights", "W")[-1], simulator.state.w)
    assert not np.array_equal(run.array("weights", "W")[0], simulator.state.w)  # STDP acted
    np.testing.assert_array_equal(run.array("weights", "b"),
                                  np.zeros((weight_time.size, 11)))  # fmt: skip
    assert run.attributes["steps_simulated"] == 240 == summary.steps
    assert summary.store == out and summary.status == "complete"


def test_spiking_store_names_inputs_and_neurons_and_keeps_the_edges(spiking_run):
    checked, out, _ = spiking_run
    run = open_run(out)
    network = spiking.build_network(checked.settings["experiment"], 3)
    assert run.array("neurons", "name").tolist() == [f"input{k}" for k in range(8)] + [
        "neuron0", "neuron1", "neuron2"
    ]  # fmt: skip
    assert run.array("neurons", "role").tolist() == ["input"] * 8 + ["output"] * 3
    assert run.array("neurons", "layer").tolist() == [0] * 8 + [1] * 3
    np.testing.assert_array_equal(run.array("weights", "edge_src"), network.synapse_source)
    np.testing.assert_array_equal(run.array("weights", "edge_dst"), network.synapse_post + 8)
    np.testing.assert_array_equal(run.array("trajectory", "neuron"), [8, 10])
    attributes = run.attributes
    assert (attributes["dt_ms"], attributes["seed"], attributes["backend"]) == (0.5, 3, "sync")
    assert attributes["time_unit"] == "0.5 ms" and run.status == "complete"
    assert run.checkpoint() is None  # no checkpoint_every: none unless the run is stopped


def test_spiking_metrics_are_recomputed_from_the_final_weights_and_the_spikes(spiking_run):
    """The output rate (spikes per neuron per second), the histogram of the final weights
    over [w_min, w_max] with its bin centres, the shares within end_fraction of the range of
    each bound, and the mean weight."""
    _, out, summary = spiking_run
    run = open_run(out)
    final = run.array("weights", "W")[-1]
    counts, edges = np.histogram(final, bins=5, range=(0.0, 7.0))
    near_low, near_high = np.mean(final <= 1.4), np.mean(final >= 5.6)
    assert 0 < near_low < 1 and 0 < near_high < 1 and np.mean(final == 7.0) < near_high
    expected = {
        "output_rate_hz": run.array("events", "t").size / 3 / 0.12,
        "fraction_near_w_min": near_low,
        "fraction_near_w_max": near_high,
        "fraction_at_ends": np.mean((final <= 1.4) | (final >= 5.6)),
        "mean_weight": final.mean(),
    }
    got = {name: float(run.array("metrics", name)) for name in expected}
    assert got == pytest.approx(expected, rel=1e-12)
    assert set(run.names("metrics")) == {*expected, "weight_histogram", "weight_bin"}
    assert summary.metrics == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(run.array("metrics", "weight_histogram"), counts)
    np.testing.assert_allclose(run.array("metrics", "weight_bin"), (edges[1:] + edges[:-1]) / 2)
    assert run.dims("metrics", "weight_histogram") == ("weight_bin",)
    descriptions = metric_descriptions(out)
    assert descriptions["output_rate_hz"] == "mean output rate over the run (Hz)"
    assert descriptions["weight_histogram"] == "final weights per bin over [w_min, w_max]"


def test_spiking_without_bounds_takes_the_range_of_the_final_weights(tmp_path):
    """Rule none without w_min and w_max: the weights stay as drawn, the histogram spans
    their range, and with end_fraction 0 the shares near the ends are those of the weights
    at the lowest and the highest value; inputs that never fire: no events, and no rate
    curve in the figure."""
    out = tmp_path / "none.zarr"
    inputs = [
        {
            "kind": "binomial",
            "size": 6,
            "rate": 0.0,
            "weight_low": 1.0,
            "weight_high": 6.0,
            "delay": 0.5,
        }
    ]
    changes = {"plasticity": {}, "inputs": inputs, "end_fraction": 0.0}
    summary = spiking.run(spiking_scenario(**changes), out, False, False)
    run = open_run(out)
    final = run.array("weights", "W")[-1]
    np.testing.assert_array_equal(final[:18], np.random.default_rng(3).uniform(1.0, 6.0, 18))
    low, high = final.min(), final.max()
    counts, edges = np.histogram(final, bins=5, range=(low, high))
    np.testing.assert_array_equal(run.array("metrics", "weight_histogram"), counts)
    np.testing.assert_allclose(run.array("metrics", "weight_bin"), (edges[1:] + edges[:-1]) / 2)
    assert summary.metrics["fraction_near_w_min"] == np.mean(final == low) > 0
    assert summary.metrics["fraction_near_w_max"] == np.mean(final == high) > 0
    assert summary.metrics["fraction_at_ends"] == np.mean((final == low) | (final == high))
    assert summary.metrics["output_rate_hz"] == 0.0
    assert "events" not in run.groups()
    figure = spiking.spiking_figure(run)
    assert figure.axes[3].get_lines() == []
    near = figure.axes[2].get_lines()
    weights = run.array("weights", "W")
    np.testing.assert_array_equal(near[0].get_ydata(), np.mean(weights == low, axis=1))
    np.testing.assert_array_equal(near[1].get_ydata(), np.mean(weights == high, axis=1))


def test_spiking_shares_near_the_ends_are_within_end_fraction_of_the_range_not_of_zero(tmp_path):
    """Weights spread over [2, 6], away from 0: near an end means within end_fraction of the
    width of the range (max - min), whatever the range's place on the axis."""
    inputs = [
        {"kind": "binomial", "size": 40, "rate": 0.0, "weight_low": 2.0, "weight_high": 6.0,
         "delay": 0.5},
    ]  # fmt: skip
    changes = {"plasticity": {}, "inputs": inputs, "end_fraction": 0.25}
    out = tmp_path / "spread.zarr"
    summary = spiking.run(spiking_scenario(**changes), out, False, False)
    final = open_run(out).array("weights", "W")[-1]
    low, high = final.min(), final.max()
    reach = 0.25 * (high - low)
    near_low, near_high = np.mean(final <= low + reach), np.mean(final >= high - reach)
    assert 0 < near_low < 0.5 and 0 < near_high < 0.5
    assert summary.metrics["fraction_near_w_min"] == near_low
    assert summary.metrics["fraction_near_w_max"] == near_high
    near = spiking.spiking_figure(open_run(out)).axes[2].get_lines()  # at every snapshot
    assert [line.get_ydata()[-1] for line in near] == [near_low, near_high]


def test_spiking_equal_weights_without_bounds_are_all_at_both_ends_yet_counted_once(tmp_path):
    """Every weight the same and no bounds: the range is one point, so each weight is near
    w_min and near w_max, and the share at the ends is 1, not the sum of the two."""
    inputs = [
        {
            "kind": "binomial",
            "size": 4,
            "rate": 0.0,
            "weight_low": 2.0,
            "weight_high": 2.0,
            "delay": 0.5,
        }
    ]
    changes = {"plasticity": {}, "inputs": inputs}
    summary = spiking.run(spiking_scenario(**changes), tmp_path / "equal.zarr", False, False)
    assert summary.metrics["fraction_near_w_min"] == summary.metrics["fraction_near_w_max"] == 1
    assert summary.metrics["fraction_at_ends"] == 1.0
    assert summary.metrics["mean_weight"] == 2.0


def test_spiking_figure_draws_the_final_weights_the_bounds_and_the_rate(spiking_run, tmp_path):
    """The histogram as bars, the final weight of each synapse, the shares near each bound
    at every snapshot (time in s) and the output rate per neuron in bins of the run."""
    _, out, _ = spiking_run
    run = open_run(out)
    figure = spiking.spiking_figure(run)
    assert tuple(figure.get_size_inches()) == (10.0, 6.4) and len(figure.axes) == 4
    histogram, by_synapse, bounds, rate = figure.axes
    centres = run.array("metrics", "weight_bin")
    bars = histogram.patches
    assert [bar.get_height() for bar in bars] == run.array("metrics", "weight_histogram").tolist()
    np.testing.assert_allclose([bar.get_x() + bar.get_width() / 2 for bar in bars], centres)
    np.testing.assert_allclose([bar.get_width() for bar in bars], 0.9 * 1.4)
    weights = run.array("weights", "W")
    (final,) = by_synapse.get_lines()
    np.testing.assert_array_equal(final.get_ydata(), weights[-1])
    assert final.get_marker() == "." and final.get_markersize() == 2
    low, high = bounds.get_lines()
    times = run.array("weights", "snapshot_time") * 0.5e-3
    for line in (low, high):
        np.testing.assert_allclose(line.get_xdata(), times)
    np.testing.assert_array_equal(low.get_ydata(), np.mean(weights <= 1.4, axis=1))
    np.testing.assert_array_equal(high.get_ydata(), np.mean(weights >= 5.6, axis=1))
    assert [text.get_text() for text in bounds.get_legend().get_texts()] == [
        "near w_min", "near w_max"
    ]  # fmt: skip
    (curve,) = rate.get_lines()
    spikes = run.array("events", "t") * 1e-3
    edges = np.linspace(0.0, 0.12, 3)  # at least 2 bins, one per second up to 100
    np.testing.assert_allclose(curve.get_xdata(), [0.03, 0.09])
    expected = np.histogram(spikes, edges)[0] / 0.06 / 3
    np.testing.assert_allclose(curve.get_ydata(), expected)
    assert expected.sum() > 0
    assert texts(figure) == [
        "tiny_spiking (sync)",
        "final weights", "final weight", "synapses",
        "final weight by synapse", "synapse", "final weight",
        "weights at the bounds", "time (s)", "fraction of synapses", "near w_min", "near w_max",
        "output rate", "time (s)", "rate (Hz)",
    ]  # fmt: skip
    path = spiking.plot(run, tmp_path / "spiking.png")
    assert path == tmp_path / "spiking.png" and png_size(path) == (640, 1000)


def test_spiking_figure_draws_the_rate_of_a_long_run_in_100_bins(tmp_path):
    """101 s (steps of 10 ms, one neuron driven by one binomial train): the rate curve has
    100 bins over the run, not one per second."""
    out = tmp_path / "long.zarr"
    table = {key: value for key, value in SPIKING.items() if key != "recurrent"}
    changes = {"dt": 10.0, "duration": 101_000.0, "neurons": 1, "neuron": {}, "plasticity": {},
               "inputs": [{"kind": "binomial", "size": 1, "rate": 50.0, "weight": 300.0,
                           "delay": 10.0}],
               "potential_neurons": [0], "potential_every": 10_000,
               "weights_every": 101_000.0, "write_every": 101_000.0}  # fmt: skip
    spiking.run(scenario("long", {**table, **changes}), out, False, False)
    run = open_run(out)
    (curve,) = spiking.spiking_figure(run).axes[3].get_lines()
    edges = np.linspace(0.0, 101.0, 101)
    np.testing.assert_allclose(curve.get_xdata(), (edges[1:] + edges[:-1]) / 2)
    counts = np.histogram(run.array("events", "t") * 1e-3, edges)[0]
    np.testing.assert_allclose(curve.get_ydata(), counts / 1.01)
    assert counts.sum() > 1000


@pytest.mark.parametrize(("bins", "width"), [(1, 0.9), (2, 0.9 * 3.5)])
def test_spiking_figure_bars_are_0_9_of_a_bin_or_0_9_wide_alone(tmp_path, bins, width):
    """The bars span 0.9 of a bin of [w_min, w_max] = [0, 7]; a single bin is 0.9 wide."""
    out = tmp_path / "bins.zarr"
    spiking.run(spiking_scenario(histogram_bins=bins, duration=10.0), out, False, False)
    bars = spiking.spiking_figure(open_run(out)).axes[0].patches
    assert [bar.get_width() for bar in bars] == pytest.approx([width] * bins)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dt": 0.0}, "experiment.dt = 0"),
        ({"potential_neurons": [0, 3]},
         r"experiment.potential_neurons = \[0, 3\]: neurons are numbered 0 to 2"),
        ({"options": {"bogus": 1}},
         "experiment.options.bogus: unknown key; allowed keys are max_window, input_chunk"),
        ({"options": {"max_window": 0}}, "experiment.options.max_window = 0"),
        ({"options": {"input_chunk": 0}}, "experiment.options.input_chunk = 0"),
        ({"weights_every": 0.25}, "experiment.weights_every = 0.25"),
        ({"write_every": 0.25}, "experiment.write_every = 0.25"),
        ({"duration": 0.25}, "experiment.duration = 0.25"),
    ],
)  # fmt: skip
def test_spiking_settings_refused_before_the_run_write_nothing(tmp_path, changes, message):
    out = tmp_path / "bad.zarr"
    with pytest.raises(ValidationError, match=message):
        spiking.run(spiking_scenario(**changes), out, False, False)
    assert not out.exists()


def test_spiking_takes_the_shortest_intervals_and_the_last_neuron(tmp_path):
    """Intervals of one step, the options at 1 (input_chunk: the event backend's, left
    out on sync), the last neuron recorded."""
    out = tmp_path / "short.zarr"
    changes = {
        "duration": 1.5,
        "weights_every": 0.5,
        "write_every": 0.5,
        "potential_every": 1,
        "potential_neurons": [2],
        "options": {"max_window": 1, "input_chunk": 1},
    }
    spiking.run(spiking_scenario(**changes), out, False, False)
    run = open_run(out)
    assert run.array("weights", "snapshot_time").tolist() == [0, 1, 2, 3]
    assert run.array("trajectory", "time").tolist() == [1, 2, 3]
    assert run.array("trajectory", "neuron").tolist() == [10]


@pytest.mark.parametrize(
    ("population", "message"),
    [
        ({"weight": 1.0, "weight_low": 0.0, "weight_high": 2.0}, "give either weight"),
        ({"weight": 1.0, "weight_low": 0.0}, "give either weight"),
        ({}, "give either weight"),
        ({"weight_low": 0.0}, "give either weight"),
        ({"weight_high": 2.0}, "give either weight"),
        ({"weight_low": 5.0, "weight_high": 1.0},
         r"experiment.inputs\[0\].weight_low = 5 is above weight_high = 1"),
        ({"weight": 1.0, "rate": [5.0, "x"]}, r"experiment.inputs\[0\].rate\[1\]"),
    ],
)  # fmt: skip
def test_spiking_bad_weights_of_a_population_are_refused(population, message):
    inputs = [{"kind": "poisson", "size": 2, "rate": 5.0, **population}]
    with pytest.raises(ValidationError, match=message):
        spiking_scenario(inputs=inputs)


@pytest.mark.parametrize(
    ("population", "message"),
    [
        ({"kind": "poisson"}, r"experiment.inputs\[0\].rate is missing; a poisson input needs"),
        ({"kind": "binomial"}, r"experiment.inputs\[0\].rate is missing"),
        ({"kind": "frozen_poisson", "rate": 5.0}, r"experiment.inputs\[0\].seed is missing"),
        ({"kind": "times", "times": [1.0]}, r"experiment.inputs\[0\].indices is missing"),
        ({"kind": "times", "indices": [0]}, r"experiment.inputs\[0\].times is missing"),
        ({"kind": "times"}, r"experiment.inputs\[0\].times is missing"),  # the first it needs
    ],
)
def test_spiking_populations_missing_what_their_kind_needs_are_refused(population, message):
    inputs = [{"size": 2, "weight": 1.0, **population}]
    with pytest.raises(ValidationError, match=message):
        spiking_scenario(inputs=inputs)


@pytest.mark.parametrize("inputs", [[], {"kind": "poisson"}])
def test_spiking_inputs_must_be_a_list_of_tables(inputs):
    with pytest.raises(ValidationError, match=r"expected one or more \[\[experiment.inputs\]\]"):
        spiking_scenario(inputs=inputs)


def test_spiking_accepts_equal_uniform_bounds():
    inputs = [
        {
            "kind": "poisson",
            "size": 2,
            "rate": 5.0,
            "weight_low": 2.0,
            "weight_high": 2.0,
            "delay": 0.5,
        }
    ]
    table = spiking_scenario(inputs=inputs).settings["experiment"]
    assert spiking.build_network(table, 3).weight[:6].tolist() == [2.0] * 6


def test_a_stopped_spiking_run_resumes_to_the_uninterrupted_run(
    spiking_run, tmp_path, monkeypatch, recorded_progress
):
    """Stopped (as by SIGTERM) while writing its third piece, a checkpoint after each piece:
    resumed, it ends with the spikes, potentials, snapshots and metrics (the output rate
    counts the spikes before the stop) of the run that never stopped."""
    _, whole, _ = spiking_run
    out = tmp_path / "stopped.zarr"
    write = spiking._write
    calls = []

    def stopping(*arguments: Any) -> None:
        calls.append(arguments)
        if len(calls) == 3:
            raise RunInterrupted("terminated by SIGTERM")
        write(*arguments)

    monkeypatch.setattr(spiking, "_write", stopping)
    with pytest.raises(RunInterrupted):
        spiking.run(spiking_scenario({"checkpoint_every": 1}), out, False, False)
    stopped = open_run(out)
    assert stopped.checkpoint()[1]["units_done"] == 2
    with pytest.raises(ValidationError, match="no metrics yet"):
        spiking.spiking_figure(stopped)
    monkeypatch.setattr(spiking, "_write", write)
    summary = spiking.resume(out, True)
    assert summary.steps == 240 and open_run(out).status == "complete"
    same_store(open_run(out), open_run(whole), ("events", "trajectory", "weights", "metrics"))
    assert open_run(out).checkpoint()[1]["units_done"] == 3  # after 100, 200 and 240 steps
    first, again = recorded_progress
    assert first.arguments == {"total": 240, "initial": 0, "unit": "step", "unit_scale": True,
                               "delay": 2.0, "disable": True}  # fmt: skip
    assert first.updates == [100, 100]
    assert again.arguments["initial"] == 200 and not again.arguments["disable"]
    assert again.updates == [40]
