"""What the command line says: flags a user types, units xarray shows, metric values in
``neurosim inspect`` (text and JSON), a progress bar that says it compiles before an ETA."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.progress import COMPILING, RunProgress
from neurosim.recording import ArraySpec, RunStore

SPECS = {
    "state": ArraySpec(("copy", "neuron"), (2, 3), "float32"),
    "potential": ArraySpec(("neuron",), (3,), "float64"),
}


def make_store(path: Path) -> Path:
    """A complete store: 5 steps, one snapshot, a scalar, a small and a large metric."""
    with RunStore.create(
        path,
        attributes={"scenario": {"scenario": {"name": "units"}}, "backend": "sync", "seed": 3},
        neurons={
            "role": ["input", "hidden", "output"],
            "layer": [0, 1, 2],
            "name": ["a", "b", "c"],
        },
        arrays=SPECS,
        recorded_neurons=np.arange(3),
        edge_src=np.array([0, 1]),
        edge_dst=np.array([1, 2]),
        time_chunk=4,
    ) as store:
        time = np.arange(5)
        store.append(time, {"state": np.ones((5, 2, 3)), "potential": -65.0 * np.ones((5, 3))})
        store.snapshot_weights(5, np.array([0.1, 0.2]), np.zeros(3))
        store.write_metric("accuracy", 0.875, ())
        store.write_metric("per_seed", [0.5, 0.25], ("seed",))
        store.write_metric("curve", np.arange(100) / 4, ("sample",))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("messages") / "run.zarr")


def test_xarray_shows_the_units_of_time_state_and_potential(store: Path) -> None:
    trajectory = xr.open_zarr(store, group="trajectory")
    assert trajectory["time"].attrs["units"] == "step"
    assert trajectory["state"].attrs["units"] == "dimensionless"
    assert trajectory["potential"].attrs["units"] == "mV"
    weights = xr.open_zarr(store, group="weights")
    assert weights["snapshot_time"].attrs["units"] == "step"


def test_inspect_prints_metric_values(store: Path, capsys) -> None:
    assert main(["inspect", str(store)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "  metrics/accuracy: () () = 0.875\n" in printed
    assert "  metrics/per_seed: (seed) (2,) = [0.5, 0.25]\n" in printed
    assert "  metrics/curve: (sample) (100,) = min 0, mean 12.38, max 24.75\n" in printed


def test_inspect_json_is_one_object_with_the_metric_values(store: Path, capsys) -> None:
    assert main(["inspect", "--json", "--verify", str(store)]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "complete" and summary["steps_done"] == 5
    assert summary["attributes"]["seed"] == 3 and "scenario" not in summary["attributes"]
    assert summary["groups"]["trajectory"]["state"] == {
        "dims": ["time", "copy", "neuron"],
        "shape": [5, 2, 3],
        "dtype": "float32",
    }
    metrics = summary["metrics"]
    assert metrics["accuracy"] == 0.875 and metrics["per_seed"] == [0.5, 0.25]
    assert metrics["curve"] == {"shape": [100], "min": 0.0, "mean": 12.375, "max": 24.75}
    assert summary["missing_chunks"] == []


def test_an_existing_store_names_the_flag(store: Path, capsys) -> None:
    with pytest.raises(Exception, match="--overwrite") as refused:
        make_store(store)
    assert "overwrite=True" in str(refused.value)  # and the Python name, for library callers


def test_data_dir_must_be_a_folder_and_a_scenario_that_reads_data(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    assert main(["run", "mnist_astdp_supervised_small", "--data-dir", str(missing)]) == (
        EXIT_BAD_INPUT
    )
    assert f"--data-dir {missing}: no such folder" in capsys.readouterr().err
    assert main(["run", "rivalry", "--data-dir", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "the scenario 'rivalry' reads no data set" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_data_dir_reaches_the_stored_scenario(tmp_path: Path) -> None:
    from neurosim.runs import plan_runs, with_data_dir

    overrides = with_data_dir("mnist_astdp_supervised_small", [], tmp_path)
    (run,) = plan_runs("mnist_astdp_supervised_small", overrides, None, tmp_path / "x.zarr").runs
    # stored with the scenario: sweep workers and --resume read it from there
    assert run.scenario.settings["experiment"]["data_dir"] == str(tmp_path.resolve())


def test_missing_data_advises_flags_that_exist(tmp_path: Path, monkeypatch) -> None:
    from neurosim.cli import build_parser
    from neurosim.data import DatasetNotFoundError, load_dataset

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as missing:
        load_dataset("mnist", tmp_path)
    message = str(missing.value)
    assert "neurosim data fetch mnist" in message and "--data-dir DIR" in message
    for command in (["run", "x"], ["sweep", "x", "--grid", "a=1"], ["data", "check"]):
        parsed = build_parser().parse_args([*command, "--data-dir", str(tmp_path)])
        assert parsed.data_dir == str(tmp_path)


def test_progress_says_it_compiles_then_shows_a_rate_measured_after_it() -> None:
    shown = io.StringIO()
    bar = RunProgress(total=1000, unit="step", file=shown, delay=0.0, mininterval=0)
    bar.refresh()
    assert shown.getvalue().rsplit("\r", 1)[-1].strip() == COMPILING
    bar.start_t -= 3600  # an hour of compiling
    bar.update(10)
    assert bar.initial == 10  # the rate counts from here, so the hour is not in it
    assert "<?" in shown.getvalue().rsplit("\r", 1)[-1]  # no estimate yet
    bar.start_t -= 1.0  # then 10 steps a second: 98 s left
    bar.last_print_t -= 1.0
    bar.update(10)
    last = shown.getvalue().rsplit("\r", 1)[-1]
    assert "20/1000" in last and "<01:38" in last and COMPILING not in last
    bar.close()
