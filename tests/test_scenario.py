"""Scenario files and `neurosim run`: validation, run stores, interruption, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.plotting.runs import run_figure
from neurosim.recording import open_run
from neurosim.scenario.schema import load_scenario

try:
    from tests.scenario_files import write_scenario
except ImportError:  # pytest put tests/ itself on sys.path
    from scenario_files import write_scenario


def switches(state: np.ndarray, hysteresis: float = 0.2) -> int:
    """Changes of which of visible units 0 and 1 dominates (copy 0)."""
    difference = state[:, 0, 0] - state[:, 0, 1]
    dominant, count = None, 0
    for value in difference:
        new = 0 if value > hysteresis else 1 if value < -hysteresis else dominant
        count += dominant is not None and new != dominant
        dominant = new
    return count


def pattern_switches(state: np.ndarray, on_level: float = 0.6, off_level: float = 0.45) -> int:
    """Changes between the patterns of visible units 0 and 1 (copy 0), mixed steps skipped."""
    shown, count = None, 0
    for first, second in state[:, 0, :2]:
        if first >= on_level and second <= off_level:
            new = 0
        elif second >= on_level and first <= off_level:
            new = 1
        else:
            continue
        count += shown is not None and new != shown
        shown = new
    return count


def test_a_run_writes_a_store_that_xarray_opens(tmp_path, capsys) -> None:
    scenario = write_scenario(tmp_path)
    store = tmp_path / "run.zarr"
    assert main(["run", str(scenario), "--out", str(store), "--quiet"]) == EXIT_OK
    assert "run store" in capsys.readouterr().out
    trajectory = xr.open_zarr(store, group="trajectory")
    assert trajectory.state.dims == ("time", "copy", "neuron")
    assert trajectory.dz.dims == ("time", "neuron")
    assert trajectory.sizes["time"] == 600
    # only the ambiguous phase is recorded: steps 4 x 20 x 80 + 1 ... + 600
    assert int(trajectory.time[0]) == 4 * 20 * 80 + 1
    assert int(trajectory.time[-1]) == 4 * 20 * 80 + 600
    neurons = xr.open_zarr(store, group="neurons")
    assert list(neurons.role.values) == ["input"] * 4 + ["hidden"] * 8
    run = open_run(store)
    assert run.status == "complete"
    assert run.attributes["scenario"]["phase"][1]["name"] == "ambiguous"
    weights = xr.open_zarr(store, group="weights")
    assert weights.sizes["snapshot"] == 3  # start and the end of each phase
    assert main(["inspect", str(store)]) == EXIT_OK
    assert "trajectory/state" in capsys.readouterr().out


def test_same_seed_same_store(tmp_path) -> None:
    scenario = write_scenario(tmp_path)
    for name in ("a", "b"):
        assert main(["run", str(scenario), "--out", str(tmp_path / name), "--quiet"]) == EXIT_OK
    first = xr.open_zarr(tmp_path / "a", group="trajectory")
    second = xr.open_zarr(tmp_path / "b", group="trajectory")
    np.testing.assert_array_equal(first.state.values, second.state.values)
    np.testing.assert_array_equal(first.fake_target.values, second.fake_target.values)
    assert (
        main(["run", str(scenario), "--out", str(tmp_path / "c"), "--quiet", "--seed", "4"])
        == EXIT_OK
    )
    other = xr.open_zarr(tmp_path / "c", group="trajectory")
    assert not np.allclose(first.state.values, other.state.values)


def test_the_ambiguous_mixture_alternates_with_fake_targets_only(tmp_path, capsys) -> None:
    scenario = write_scenario(tmp_path, epochs=1000, duration=4000)
    with_fake, without = tmp_path / "on.zarr", tmp_path / "off.zarr"
    assert main(["run", str(scenario), "--out", str(with_fake), "--quiet"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert all(f"{name}:" in printed for name in ("switches", "pattern_switches", "mixed_share"))
    no_fake = ["--set", "phase.1.model.fake_target.enabled=false"]
    assert main(["run", str(scenario), "--out", str(without), "--quiet", *no_fake]) == EXIT_OK
    on = switches(xr.open_zarr(with_fake, group="trajectory").state.values)
    off = switches(xr.open_zarr(without, group="trajectory").state.values)
    assert on >= 20
    assert off <= 2
    # the analysis stored in the run agrees with the independent count above
    metrics = xr.open_zarr(with_fake, group="metrics")
    assert int(metrics.switches) == on
    assert int(xr.open_zarr(without, group="metrics").switches) == off
    assert int(metrics.pattern_switches) == pattern_switches(
        xr.open_zarr(with_fake, group="trajectory").state.values
    )
    shares = [float(metrics[name]) for name in ("pattern_share_first", "pattern_share_second")]
    assert sum(shares) + float(metrics.mixed_share) == pytest.approx(1.0)
    assert metrics.dominance_durations.dims == ("switch",)
    figure = tmp_path / "rivalry.png"
    assert main(["plot", str(with_fake), "-o", str(figure)]) == EXIT_OK
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _check_the_pattern_panel(run_figure(open_run(with_fake), "rivalry", window=200), metrics)


def _check_the_pattern_panel(figure, metrics) -> None:
    """The rivalry figure's pair panel: shading legend, the pair's traces over the window, the
    two levels, and a title with the shares and switch counts the analysis stored."""
    (pair,) = [axes for axes in figure.axes if axes.get_title().startswith("copy 0;")]
    title = pair.get_title()
    first, second = (
        float(metrics[name]) for name in ("pattern_share_first", "pattern_share_second")
    )
    assert f"pattern of unit 0 {first:.0%}, of unit 1 {second:.0%}" in title
    assert f"mixed {float(metrics.mixed_share):.0%}" in title
    assert f"pattern switches {int(metrics.pattern_switches)}," in title
    assert f"dominance switches {int(metrics.switches)}," in title
    legend = [text.get_text() for text in pair.get_legend().get_texts()]
    assert legend[:3] == ["pattern of unit 0", "pattern of unit 1", "mixed"]
    assert [line.get_xydata().shape[0] for line in pair.get_lines()[:2]] == [200, 200]
    assert sorted(line.get_ydata()[0] for line in pair.get_lines()[2:]) == [0.45, 0.6]


def test_several_seeds_report_mean_and_spread(tmp_path, capsys) -> None:
    scenario = write_scenario(tmp_path, epochs=5, duration=300)
    base = tmp_path / "many"
    arguments = ["run", str(scenario), "--out", str(base), "--quiet", "--seeds", "1", "2"]
    assert main(arguments) == EXIT_OK
    assert "over 2 seeds (mean ± sd)" in capsys.readouterr().out
    assert (tmp_path / "many-seed1.zarr").exists() and (tmp_path / "many-seed2.zarr").exists()
    assert open_run(tmp_path / "many-seed2.zarr").attributes["seed"] == 2


@pytest.mark.parametrize(
    ("extra_arguments", "edit", "message"),
    [
        ([], ("n_hidden = 8", "n_hiden = 8"), "topology.n_hiden = 8: unknown key"),
        ([], ("alpha = 0.005", 'alpha = "fast"'), "model.alpha = 'fast': expected a number"),
        ([], ("epochs = 20", "epochs = 0"), "phase.0.epochs = 0: expected an integer >= 1"),
        (
            [],
            ('builder = "recurrent"\nn_input = 4\nn_hidden = 8', 'path = "missing.graphml"'),
            "topology.path = 'missing.graphml': no such file",
        ),
        ([], ("[record]", "[records]"), "records = "),
        (["--set", "model.beta_large=-1"], None, "model.beta_large = -1"),
        (["--set", "phase.5.duration=3"], None, "phase.5 is not a phase"),
        (["--set", 'record.arrays=["voltage"]'], None, "record.arrays[0] = 'voltage'"),
        (["--set", "nonsense"], None, "expected KEY.PATH=VALUE"),
        (
            ["--set", "analysis.on_level=0.3"],
            None,
            "analysis.on_level = 0.3: must be above analysis.off_level = 0.45",
        ),
        (["--set", 'analysis.off_level="low"'], None, "analysis.off_level = 'low'"),
        (
            ["--set", "record.weight_snapshots=0"],
            None,
            "record.weight_snapshots = 0: expected true, false or an interval in steps >= 1",
        ),
        (["--set", 'record.weight_snapshots="often"'], None, "record.weight_snapshots = 'often'"),
    ],
)
def test_bad_input_exits_2_names_the_key_and_writes_nothing(
    tmp_path, capsys, extra_arguments, edit, message
) -> None:
    scenario = write_scenario(tmp_path)
    if edit is not None:
        scenario.write_text(scenario.read_text().replace(*edit))
    store = tmp_path / "run.zarr"
    code = main(["run", str(scenario), "--out", str(store), "--quiet", *extra_arguments])
    assert code == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not store.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["small.toml"]


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_sigterm_leaves_a_readable_store_marked_interrupted(tmp_path, backend) -> None:
    scenario = write_scenario(tmp_path, epochs=1, duration=2_000_000)
    store = tmp_path / "run.zarr"
    command = ["run", str(scenario), "--out", str(store), "--quiet", "--backend", backend]
    process = subprocess.Popen(
        [sys.executable, "-m", "neurosim", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some steps are on disk
        try:
            if open_run(store).steps_done > 0:
                break
        except ValidationError:  # not there yet, or still being created
            pass
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error
    run = open_run(store)
    assert run.status == "interrupted"
    assert 0 < run.steps_done < 2_000_000
    assert run.steps_done <= run.attributes["steps_simulated"] - 4 * 80 < 2_000_000
    trajectory = xr.open_zarr(store, group="trajectory")
    assert trajectory.sizes["time"] == run.steps_done
    assert np.all(np.isfinite(trajectory.state.values))


def test_adaptation_overshoot_grows_with_momentum(tmp_path, capsys) -> None:
    """The adaptation scenario's analysis: strong momentum overshoots the settled level
    after the step (the measured effect; docs/toy-experiments-findings.md)."""
    scenario = Path(__file__).parents[1] / "scenarios" / "adaptation.toml"
    strong, none = tmp_path / "strong.zarr", tmp_path / "none.zarr"
    assert main(["run", str(scenario), "--out", str(strong), "--quiet"]) == EXIT_OK
    assert "overshoot:" in capsys.readouterr().out
    plain = ["--set", "phase.1.model.momentum=1.0"]
    assert main(["run", str(scenario), "--out", str(none), "--quiet", *plain]) == EXIT_OK
    with_momentum = xr.open_zarr(strong, group="metrics")
    without = xr.open_zarr(none, group="metrics")
    assert float(with_momentum.overshoot) > 2 * float(without.overshoot)
    assert float(with_momentum.undershoot) > 2 * float(without.undershoot)
    assert float(with_momentum.settled_on) > float(with_momentum.rest_level) + 0.5
    figure = tmp_path / "adaptation.png"
    assert main(["plot", str(strong), "-o", str(figure)]) == EXIT_OK
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("analysis.window=250", "analysis: adaptation needs settle <= on and at least"),
        ("analysis.settle=400", "got settle 400, window 100, on 300"),
        ("phase.1.cycles=20", "phase.1.duration = 4300: 20 cycles of 400 steps"),
        ("phase.1.period=150", "period = 150 steps is not longer than its 200 steps on"),
        ("model.momentum_includes_clamp=1", "model.momentum_includes_clamp = 1: expected true"),
    ],
)
def test_the_adaptation_scenario_refuses_a_layout_before_it_runs(
    tmp_path, capsys, setting, message
) -> None:
    scenario = Path(__file__).parents[1] / "scenarios" / "adaptation.toml"
    store = tmp_path / "run.zarr"
    arguments = ["run", str(scenario), "--out", str(store), "--quiet", "--set", setting]
    assert main(arguments) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not store.exists()


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        (
            'builder = "small_world"\nn_input = 2\nn_hidden = 6',
            "topology.k is missing; the small_world builder needs n_input, n_output, n_hidden, "
            "k, rewire_probability",
        ),
        ('builder = "layered"', "topology.sizes is missing; the layered builder needs sizes"),
        (
            'builder = "layered"\nsizes = [2, 3]\nn_hidden = 4',
            "topology.n_hidden = 4: the layered builder takes sizes, lateral",
        ),
    ],
)
def test_each_builder_takes_and_needs_the_keys_of_its_parameters(
    tmp_path, topology, message
) -> None:
    path = tmp_path / "net.toml"
    path.write_text(
        '[scenario]\nname = "n"\n[model]\npreset = "astdp"\n'
        f"[topology]\n{topology}\n"
        '[[phase]]\nstream = "constant"\nvalues = [1.0, 0.0]\nduration = 5\n'
    )
    with pytest.raises(ValidationError) as error:
        load_scenario(path)
    assert message in str(error.value)


# an experiment that trains then tests (the ordering kind declares experiment.test_model)
TRAIN_THEN_TEST = """
[scenario]
name = "train_then_test"
[model]
preset = "astdp"
alpha = 0.003
[model.fake_target]
k = 10.0
mu = 0.9
[experiment]
kind = "ordering"
"""


def test_the_test_model_is_merged_over_the_training_model_key_by_key(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TRAIN_THEN_TEST)
    plain = load_scenario(path)
    assert plain.test_parameters == plain.phase_parameters[0]
    scenario = load_scenario(
        path,
        [
            "experiment.test_model.fake_target.mu=0.995",
            "experiment.test_model.noise_sigma=0.01",
        ],
    )
    trained, tested = scenario.phase_parameters[0], scenario.test_parameters
    assert (trained.fake_target.mu, tested.fake_target.mu) == (0.9, 0.995)
    # the keys the test table leaves out keep the training model's values, nested ones too
    assert (tested.fake_target.k, tested.fake_target.enabled) == (10.0, True)
    assert (trained.noise_sigma, tested.noise_sigma) == (0.0, 0.01)
    assert tested.alpha == 0.003
    assert tested.beta_large == trained.beta_large == 0.4
    # stored resolved, so that the run store says what the test ran with
    stored = scenario.settings["experiment"]["test_model"]
    assert stored["fake_target"] == {"enabled": True, "k": 10.0, "magnitude": 0.25, "mu": 0.995}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("experiment.test_model.fake_target.mu=1.5", "experiment.test_model.fake_target.mu = 1.5"),
        ("experiment.test_model.speed=2", "experiment.test_model.speed = 2: unknown key"),
        ("experiment.test_model.fake_target.q=1", "experiment.test_model.fake_target.q = 1"),
        ("experiment.test_model.eps_small=0", "experiment.test_model.eps_small = 0"),
        ("experiment.test_model=3", "experiment.test_model = 3: expected a table"),
        (
            'experiment.test_model.activation="sigmoid4_centred"',
            "experiment.test_model.activation = 'sigmoid4_centred': a phase or test stage",
        ),
    ],
)
def test_a_bad_test_model_is_refused_by_its_dotted_key(tmp_path, setting, message) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TRAIN_THEN_TEST)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_scenario(path, [setting])


def test_an_experiment_without_a_test_stage_refuses_a_test_model(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TRAIN_THEN_TEST.replace('"ordering"', '"stdp_window"'))
    assert load_scenario(path).test_parameters is None
    with pytest.raises(ValidationError, match=r"experiment\.test_model = .*unknown key"):
        load_scenario(path, ["experiment.test_model.alpha=0"])


def test_set_reaches_a_phase_model_table(tmp_path) -> None:
    scenario = write_scenario(tmp_path)
    plain = load_scenario(scenario)
    changed = load_scenario(scenario, ["phase.1.model.fake_target.mu=0.95"])
    # the file's second phase sets mu 0.99, k 5 and magnitude 1 in [phase.model.fake_target]
    assert [p.fake_target.mu for p in plain.phase_parameters] == [0.9, 0.99]
    assert [p.fake_target.mu for p in changed.phase_parameters] == [0.9, 0.95]
    # the rest of the phase's own table is kept
    assert (changed.phase_parameters[1].fake_target.k, changed.phase_parameters[1].alpha) == (
        5.0,
        0.0,
    )
    assert changed.phase_parameters[1].fake_target.magnitude == 1.0
    with pytest.raises(ValidationError, match=r"phase\.1\.model\.fake_target\.mu = -1"):
        load_scenario(scenario, ["phase.1.model.fake_target.mu=-1"])
    # a check that runs as the parameters are made names the phase's table too
    with pytest.raises(ValidationError, match=r"phase\.1\.model\.eps_small = 0"):
        load_scenario(scenario, ["phase.1.model.eps_small=0"])
