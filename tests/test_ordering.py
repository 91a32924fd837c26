"""The data-ordering experiment (aSTDP paper, section 3.2.4) through the neurosim command."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.experiments import ordering
from neurosim.recording import open_run
from neurosim.scenario.schema import load_scenario

try:
    from tests import scenario_files
except ImportError:  # pytest put tests/ itself on sys.path
    import scenario_files

SCENARIO = Path(__file__).parent.parent / "scenarios" / "ordering.toml"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ordering")
    scenario = folder / "ordering_small.toml"
    scenario.write_text(scenario_files.ORDERING_SMALL)
    out = folder / "o.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    return scenario, out


def test_each_network_is_better_on_its_own_order(small_run) -> None:
    _, out = small_run
    mean = xr.open_zarr(out, group="metrics")["accuracy_mean"].sel(test_steps=80)
    networks = [str(label) for label in mean["network"].values]
    orders = [str(label) for label in mean["order"].values]
    table = mean.values
    for own, other in (("81", "83"), ("83", "81")):
        row = networks.index(f"Network{own}")
        on_own = table[row, orders.index(f"order{own}")]
        on_other = table[row, orders.index(f"order{other}")]
        assert on_own >= 0.9, (own, on_own)
        assert on_own - on_other >= 0.15, (own, on_own, on_other)


def test_metrics_have_the_documented_dims_and_paper_values(small_run) -> None:
    _, out = small_run
    metrics = xr.open_zarr(out, group="metrics")
    accuracy = metrics["accuracy"]
    assert accuracy.dims == ("seed", "network", "order", "test_steps")
    assert list(accuracy["seed"].values) == [0, 2]
    assert [str(label) for label in accuracy["network"].values] == ["Network81", "Network83"]
    assert [str(label) for label in accuracy["order"].values] == ["order81", "order83"]
    assert list(accuracy["test_steps"].values) == [160, 80]
    values = accuracy.values
    assert np.all((values >= 0) & (values <= 1))
    # accuracies are shares of 24 scored items
    assert np.allclose(values * 24, np.round(values * 24))
    for name in ("accuracy_mean", "accuracy_sd"):
        assert metrics[name].dims == ("network", "order", "test_steps")
    np.testing.assert_allclose(metrics["accuracy_mean"].values, values.mean(axis=0))
    np.testing.assert_allclose(metrics["accuracy_sd"].values, values.std(axis=0))
    paper = metrics["accuracy_mean"].attrs["paper_value"]
    assert paper["160"]["Network81"]["order83"] == 0.98
    assert paper["80"]["Network83"]["order81"] == 0.87
    # the paper's Tables 3 (160 steps) and 4 (80 steps), as printed in its section 3.2.4
    table = metrics["paper_accuracy"]
    assert table.dims == ("network", "order", "test_steps")
    assert "Table 3" in table.attrs["description"]
    np.testing.assert_array_equal(table.sel(test_steps=160).values, [[1.00, 0.98], [0.99, 1.00]])
    np.testing.assert_array_equal(table.sel(test_steps=80).values, [[1.00, 0.91], [0.87, 1.00]])


def test_plot_writes_a_png(small_run, tmp_path) -> None:
    _, out = small_run
    image = tmp_path / "ordering.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("experiment.strides=[1, 2]", "experiment.strides[1] = 2 shares the factor 2"),
        ("experiment.free_steps=160", "experiment.free_steps = 160"),
        ("experiment.seeds=[]", "experiment.seeds"),
        ("experiment.test_steps=[80, 0]", "experiment.test_steps[1]"),
        ("experiment.n_layers=2", "experiment.n_layers"),
    ],
)
def test_bad_setting_exits_2_names_the_key_and_writes_nothing(
    setting, named, tmp_path, capsys
) -> None:
    out = tmp_path / "bad.zarr"
    assert main(["run", str(SCENARIO), "--set", setting, "--out", str(out), "--quiet"]) == (
        EXIT_BAD_INPUT
    )
    assert named in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_test_stage_runs_with_the_test_time_model_set_on_the_command_line(
    tmp_path, monkeypatch, capsys
) -> None:
    """Training simulators get the training model, test simulators the test-time model of
    ``--set experiment.test_model...`` (learning off); the summary prints the paper's values
    beside ours only where the paper has them."""
    made = []
    make_simulator = ordering.make_simulator

    def spy(settings, network, params, seed, steps, backend=None):
        made.append(params)
        return make_simulator(settings, network, params, seed, steps, backend=backend)

    monkeypatch.setattr(ordering, "make_simulator", spy)
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        # short training: what is checked is which model each stage runs with
        scenario_files.ORDERING_SMALL.replace("epochs = 300", "epochs = 2\nsteps_per_item = 4")
        .replace("test_items = 24", "test_items = 2\ntest_steps = [20, 80]\nfree_steps = 2")
        .replace("seeds = [0, 2]", "seeds = [0]")
    )
    out = tmp_path / "tiny.zarr"
    setting = ["--set", "experiment.test_model.fake_target.mu=0.995"]
    setting += ["--set", "experiment.test_model.fake_target.k=7"]
    assert main(["run", str(scenario), "--out", str(out), "--quiet", *setting]) == EXIT_OK
    trained = [params for params in made if params.alpha > 0]
    tested = [params for params in made if params.alpha == 0]
    # two networks, each tested on two orders at two lengths
    assert (len(trained), len(tested)) == (2, 8)
    assert {(p.fake_target.mu, p.fake_target.k) for p in trained} == {(0.9, 10.0)}
    assert {(p.fake_target.mu, p.fake_target.k) for p in tested} == {(0.995, 7.0)}
    assert {p.alpha for p in trained} == {0.005}
    assert open_run(out).attributes["scenario"]["experiment"]["test_model"]["fake_target"] == {
        "enabled": True,
        "k": 7.0,
        "magnitude": 0.25,
        "mu": 0.995,
    }
    printed = capsys.readouterr().out
    assert "paper_accuracy_Network83_order81_80: 0.87" in printed
    assert "accuracy_Network83_order81_20:" in printed
    assert "paper_accuracy_Network83_order81_20" not in printed
    paper = xr.open_zarr(out, group="metrics")["paper_accuracy"]
    assert np.isnan(paper.sel(test_steps=20).values).all()
    image = tmp_path / "tiny.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK


def test_the_default_scenario_is_the_findings_protocol() -> None:
    with SCENARIO.open("rb") as handle:
        raw = tomllib.load(handle)
    assert raw["experiment"]["kind"] == "ordering"
    settings = load_scenario(SCENARIO).settings["experiment"]
    assert settings["strides"] == [1, 3]
    assert (settings["steps_per_item"], settings["free_steps"]) == (160, 120)
    # Table 4 at 80 steps, Table 3 at 160, and lengths either side for the trend
    assert {80, 160} <= set(settings["test_steps"])
    assert len(settings["test_steps"]) >= 4
    assert len(settings["seeds"]) >= 10
    # the test-time fake targets the scenario documents, over the training ones
    scenario = load_scenario(SCENARIO)
    trained, tested = scenario.phase_parameters[0], scenario.test_parameters
    assert raw["model"]["fake_target"]["mu"] == trained.fake_target.mu
    assert tested.fake_target.mu == raw["experiment"]["test_model"]["fake_target"]["mu"]
    assert tested.fake_target.mu > trained.fake_target.mu
    assert tested.fake_target.magnitude == trained.fake_target.magnitude
