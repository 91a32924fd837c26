"""The data-ordering experiment (aSTDP paper, section 3.2.4) through the neurosim command."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
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


def test_the_default_scenario_is_the_findings_protocol() -> None:
    with SCENARIO.open("rb") as handle:
        raw = tomllib.load(handle)
    assert raw["experiment"]["kind"] == "ordering"
    settings = load_scenario(SCENARIO).settings["experiment"]
    assert settings["strides"] == [1, 3]
    assert (settings["steps_per_item"], settings["free_steps"]) == (160, 120)
    assert settings["test_steps"] == [160, 80]
    assert len(settings["seeds"]) >= 2
