"""Tests of neurosim.export and ``neurosim export``: NetCDF, CSV and .npz files of a run store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurosim import export
from neurosim.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.export import FORMATS, export_run
from neurosim.recording import ArraySpec, RunStore, open_run

GROUPS = ["neurons", "trajectory", "weights", "metrics"]
ROLES = ["input", "input", "output", "hidden", "hidden", "hidden"]
NAMES = ["in0", "in1", "out0", "h0", "h1", "h2"]
LAYERS = [0, 0, 2, 1, 1, 1]
RECORDED = np.array([1, 3, 4])
EDGE_SRC = np.array([0, 1, 3, 4, 5, 3])
EDGE_DST = np.array([3, 4, 2, 2, 2, 5])
SCENARIO = {"scenario": {"name": "export-test", "duration": 40}, "model": {"alpha": 0.001}}
SPECS = {
    "state": ArraySpec(("copy", "neuron"), (2, 3), "float32"),
    "dz": ArraySpec(("neuron",), (3,), "float64"),
    "fake_target": ArraySpec(("neuron",), (3,), bool),
}
TRAJECTORY_COLUMNS = ["group", "variable", "time", "copy", "neuron", "value"]


def make_store(path: Path, **overrides: Any) -> RunStore:
    arguments: dict[str, Any] = {
        "attributes": {"scenario": SCENARIO, "backend": "sync", "seed": 7},
        "neurons": {"role": ROLES, "layer": LAYERS, "name": NAMES},
        "arrays": SPECS,
        "recorded_neurons": RECORDED,
        "edge_src": EDGE_SRC,
        "edge_dst": EDGE_DST,
        "time_chunk": 16,
    }
    arguments.update(overrides)
    return RunStore.create(path, **arguments)


def steps(start: int, count: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    time = np.arange(start, start + count, dtype=np.int64)
    return time, values_at(time)


def values_at(time: np.ndarray) -> dict[str, np.ndarray]:
    """Every spec's values at the steps ``time``, each a function of the step number."""
    state = time[:, None, None] / 7 + np.arange(6).reshape(2, 3) / 3  # not exact in float32
    dz = np.sin(time)[:, None] * np.array([1.0, -2.0, 3.0])
    fake_target = (time[:, None] + np.arange(3)) % 3 == 0
    return {"state": state, "dz": dz, "fake_target": fake_target}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store: 40 steps, two weight snapshots, three metrics, an extra attribute."""
    path = tmp_path_factory.mktemp("runs") / "run.zarr"
    with make_store(path) as writer:
        writer.append(*steps(0, 40))
        writer.snapshot_weights(0, np.arange(6) / 10, np.zeros(6))
        writer.snapshot_weights(40, np.arange(6) / 7, np.full(6, 0.5))
        writer.write_metric("accuracy", 0.93, (), {"description": "test accuracy"})
        writer.write_metric("final_error", [0.1, 0.2, 0.15], ("seed",), coords={"seed": [1, 2, 3]})
        writer.write_metric(
            "recall",
            np.arange(6).reshape(2, 3) / 6,
            ("network", "order"),
            coords={"network": ["a", "b"]},
        )
        writer.set_attribute("note", "written by the tests")
    return path


# A late start and uneven gaps (1, 6, 11, 5, 10, ...) over three chunks of 16: an export that
# wrote positions 0..n-1, or shifted, dropped or repeated steps, differs from them.
LATE_STEPS = 1000 + np.concatenate(([0], np.cumsum(1 + np.arange(43) * 5 % 11)))
LATE_SNAPSHOTS = [int(LATE_STEPS[0]), int(LATE_STEPS[-1])]


@pytest.fixture(scope="module")
def late_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete store of the steps ``LATE_STEPS``, written in two runs (stopped, reopened)."""
    path = tmp_path_factory.mktemp("late") / "late.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(path) as writer:
        writer.append(LATE_STEPS[:21], values_at(LATE_STEPS[:21]))
        writer.snapshot_weights(LATE_SNAPSHOTS[0], np.arange(6) / 10, np.zeros(6))
        raise KeyboardInterrupt
    with RunStore.reopen(path) as writer:
        writer.append(LATE_STEPS[21:], values_at(LATE_STEPS[21:]))
        writer.snapshot_weights(LATE_SNAPSHOTS[1], np.arange(6) / 7, np.full(6, 0.5))
    return path


def late_expected() -> dict[str, np.ndarray]:
    """The trajectory of ``late_store``, in the declared dtypes."""
    values = values_at(LATE_STEPS)
    values["state"] = values["state"].astype(np.float32)
    return values


def zarr_group(path: Path, group: str) -> xr.Dataset:
    return xr.open_zarr(path, group=group).load()


def listing(directory: Path) -> list[str]:
    return sorted(str(item.relative_to(directory)) for item in directory.rglob("*"))


# --------------------------------------------------------------------------------------------
# netcdf


def test_netcdf_holds_every_group_with_exact_values_and_attributes(
    store: Path, tmp_path: Path
) -> None:
    files = export_run(store, "netcdf", tmp_path / "out.nc")
    assert files == [tmp_path / f"out.{group}.nc" for group in GROUPS]
    assert listing(tmp_path) == sorted(f"out.{group}.nc" for group in GROUPS)
    expected_attributes = open_run(store).attributes

    for group, file in zip(GROUPS, files, strict=True):
        original = zarr_group(store, group)
        with xr.open_dataset(file, engine="scipy") as exported:
            exported = exported.load()
        assert set(exported.variables) == set(original.variables), group
        for name, variable in original.variables.items():
            written = exported[name]
            assert written.dims == variable.dims, f"{group}/{name}"
            values = written.values
            if "neurosim_dtype" in written.attrs:  # int64 as int32: NetCDF-3 has no int64
                assert (written.dtype, written.attrs["neurosim_dtype"]) == ("int32", "int64")
                values = values.astype(written.attrs["neurosim_dtype"])
            if variable.dtype.kind == "T":
                assert values.tolist() == variable.values.tolist(), f"{group}/{name}"
            else:
                assert values.dtype == variable.dtype, f"{group}/{name}"
                np.testing.assert_array_equal(values, variable.values, err_msg=f"{group}/{name}")

        attrs = exported.attrs
        assert attrs["neurosim_group"] == group
        assert attrs["status"] == "complete" and attrs["steps_done"] == 40
        assert json.loads(attrs["scenario"]) == SCENARIO  # the nested dict as JSON text
        encoded = json.loads(attrs["json_attributes"])
        assert set(encoded) == {"scenario", "status_message", "every_chunk_stored"}
        decoded = {
            key: json.loads(value) if key in encoded else value
            for key, value in attrs.items()
            if key not in ("json_attributes", "neurosim_group")
        }
        assert decoded == expected_attributes

    with xr.open_dataset(files[1], engine="scipy") as trajectory:
        assert trajectory["state"].dims == ("time", "copy", "neuron")
        assert trajectory["state"].dtype == np.float32
        assert trajectory["fake_target"].dtype == bool
        assert trajectory["dz"].sel(time=30, neuron=4).item() == np.sin(30) * 3.0
    with xr.open_dataset(files[3], engine="scipy") as metrics:
        assert metrics["accuracy"].attrs["description"] == "test accuracy"
        assert metrics["network"].values.tolist() == ["a", "b"]


def test_netcdf_default_names_and_integers_that_netcdf3_lacks(tmp_path: Path) -> None:
    path = tmp_path / "ints.zarr"
    with make_store(path) as writer:
        writer.append(*steps(0, 3))
        writer.write_metric("count", np.array([3, 200], dtype=np.uint8), ("pair",))
        writer.write_metric("big", np.array([2**40, -1]), ("pair",))
    files = export_run(path, "netcdf")
    assert files == [tmp_path / f"ints.{group}.nc" for group in GROUPS]
    with xr.open_dataset(files[3], engine="scipy") as metrics:
        assert metrics["count"].dtype == np.int32 and metrics["count"].values.tolist() == [3, 200]
        assert metrics["count"].attrs["neurosim_dtype"] == "uint8"
        assert metrics["big"].dtype == np.float64  # beyond int32, exact in float64
        assert metrics["big"].values.astype(np.int64).tolist() == [2**40, -1]
        assert metrics["big"].attrs["neurosim_dtype"] == "int64"

    beyond = tmp_path / "beyond.zarr"
    with make_store(beyond) as writer:
        writer.write_metric("huge", np.array([2**60]), ("pair",))
    with pytest.raises(ValidationError, match=r"metrics/huge .* use --format npz or csv"):
        export_run(beyond, "netcdf")
    del writer  # its writer gone, the store's lock file beside it is too
    left = [item.name for item in tmp_path.iterdir() if "beyond" in item.name]
    assert left == ["beyond.zarr"]  # the first groups' files are removed again


# --------------------------------------------------------------------------------------------
# csv


def csv_array(table: pd.DataFrame, name: str, dims: list[str]) -> xr.DataArray:
    """The array ``name`` of a tidy CSV table, back over ``dims`` (labels as written)."""
    rows = table[table["variable"] == name]
    assert rows[[dim for dim in table.columns[2:-1] if dim not in dims]].isna().all().all()
    if not dims:
        assert len(rows) == 1
        return xr.DataArray(rows["value"].iloc[0])
    return rows.set_index(dims)["value"].to_xarray()


def test_csv_is_tidy_long_format_per_group_with_exact_values(store: Path, tmp_path: Path) -> None:
    files = export_run(store, "csv")  # default: beside the store
    folder = store.with_suffix(".csv")
    try:
        assert folder.is_dir()
        assert sorted(file.name for file in files) == sorted(
            [
                "neurons.csv",
                "trajectory.csv",
                "weights.csv",
                "metrics.csv",
                "attributes.json",
                "variables.json",
            ]
        )
        assert all(file.parent == folder for file in files)
        assert sorted(item.name for item in folder.iterdir()) == sorted(f.name for f in files)

        trajectory = pd.read_csv(folder / "trajectory.csv")
        assert list(trajectory.columns) == TRAJECTORY_COLUMNS
        assert set(trajectory["group"]) == {"trajectory"}
        # one row per value: state over (time, copy, neuron), dz and fake_target over
        # (time, neuron), never repeated along copy
        counts = trajectory["variable"].value_counts().to_dict()
        assert counts == {"state": 40 * 2 * 3, "dz": 40 * 3, "fake_target": 40 * 3}
        original = zarr_group(store, "trajectory")
        for name in ("state", "dz", "fake_target"):
            dims = list(original[name].dims)
            values = csv_array(trajectory, name, dims).transpose(*dims)
            np.testing.assert_array_equal(values["time"].values, original["time"].values)
            if name == "fake_target":  # written True / False
                assert set(trajectory.loc[trajectory["variable"] == name, "value"]) == {
                    "True",
                    "False",
                }
                np.testing.assert_array_equal(values.values == "True", original[name].values)
            else:
                np.testing.assert_array_equal(
                    values.values.astype(original[name].dtype), original[name].values, name
                )
        state = csv_array(trajectory, "state", ["time", "copy", "neuron"])
        np.testing.assert_array_equal(state["neuron"].values, RECORDED)

        weights = pd.read_csv(folder / "weights.csv")
        assert list(weights.columns) == [
            "group",
            "variable",
            "snapshot",
            "neuron",
            "edge",
            "value",
        ]
        counts = weights["variable"].value_counts().to_dict()
        # edges are never crossed with neurons, nor snapshot times repeated per edge
        assert counts == {"W": 2 * 6, "b": 2 * 6, "edge_dst": 6, "edge_src": 6, "snapshot_time": 2}
        stored_weights = zarr_group(store, "weights")
        for name in ("W", "b", "edge_src", "edge_dst", "snapshot_time"):
            dims = list(stored_weights[name].dims)
            np.testing.assert_array_equal(
                csv_array(weights, name, dims).transpose(*dims).values,
                stored_weights[name].values,
                name,
            )

        neurons = pd.read_csv(folder / "neurons.csv")
        roles = neurons[neurons["variable"] == "role"]
        assert roles["value"].tolist() == ROLES and roles["neuron"].tolist() == list(range(6))

        metrics = pd.read_csv(folder / "metrics.csv")
        assert list(metrics.columns) == ["group", "variable", "network", "order", "seed", "value"]
        # the scalar is one row, with no dim
        assert csv_array(metrics, "accuracy", []).item() == 0.93
        recall = csv_array(metrics, "recall", ["network", "order"])
        assert recall["network"].values.tolist() == ["a", "b"]
        np.testing.assert_array_equal(recall.values, np.arange(6).reshape(2, 3) / 6)
        final_error = csv_array(metrics, "final_error", ["seed"])
        assert final_error["seed"].values.tolist() == [1, 2, 3]
        np.testing.assert_array_equal(final_error.values, [0.1, 0.2, 0.15])

        attributes = json.loads((folder / "attributes.json").read_text())
        assert attributes == open_run(store).attributes
        assert attributes["scenario"] == SCENARIO and attributes["status"] == "complete"
        variables = json.loads((folder / "variables.json").read_text())
        assert variables["trajectory/state"]["dims"] == ["time", "copy", "neuron"]
        assert variables["trajectory/state"]["dtype"] == "float32"
        assert variables["trajectory/state"]["attrs"] == {"units": "dimensionless"}
        assert variables["trajectory/state"]["files"] == ["trajectory.csv"]
        assert variables["metrics/accuracy"]["attrs"] == {"description": "test accuracy"}
        assert variables["neurons/role"]["dtype"] == "str"
    finally:
        for file in files:
            file.unlink()
        folder.rmdir()


# --------------------------------------------------------------------------------------------
# npz


def test_npz_holds_every_array_with_native_dtypes(store: Path, tmp_path: Path) -> None:
    output = tmp_path / "run.npz"
    assert export_run(store, "npz", output) == [output]
    assert listing(tmp_path) == ["run.npz"]
    reader = open_run(store)
    with np.load(output) as data:  # no pickle needed
        expected = {f"{group}/{name}" for group in reader.groups() for name in reader.names(group)}
        assert set(data.files) == expected | {"attributes", "variables"}
        for group in reader.groups():
            for name in reader.names(group):
                stored = reader.array(group, name)
                assert data[f"{group}/{name}"].dtype == stored.dtype, f"{group}/{name}"
                np.testing.assert_array_equal(data[f"{group}/{name}"], stored)
        trajectory = zarr_group(store, "trajectory")
        np.testing.assert_array_equal(data["trajectory/state"], trajectory["state"].values)
        np.testing.assert_array_equal(data["trajectory/time"], trajectory["time"].values)
        assert json.loads(str(data["attributes"])) == reader.attributes
        variables = json.loads(str(data["variables"]))
        assert variables["trajectory/state"]["dims"] == ["time", "copy", "neuron"]
        assert variables["weights/W"]["dims"] == ["snapshot", "edge"]


# --------------------------------------------------------------------------------------------
# stores that did not complete


def test_interrupted_and_running_stores_export_what_they_have(tmp_path: Path) -> None:
    interrupted = tmp_path / "interrupted.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(interrupted) as writer:
        writer.append(*steps(0, 10))
        raise KeyboardInterrupt
    running = make_store(tmp_path / "running.zarr")  # left open: 16 steps written, 4 buffered
    running.append(*steps(0, 20))
    assert running.steps_done == 16

    for path, status, count in ((interrupted, "interrupted", 10), (running.path, "running", 16)):
        out = tmp_path / f"{status}-out"
        out.mkdir()
        netcdf = export_run(path, "netcdf", out / "x.nc")
        with xr.open_dataset(netcdf[1], engine="scipy") as trajectory:
            assert trajectory.attrs["status"] == status
            assert trajectory.sizes["time"] == count == trajectory.attrs["steps_done"]
            np.testing.assert_array_equal(
                trajectory["dz"].values, steps(0, count)[1]["dz"], err_msg=status
            )
        csv = export_run(path, "csv", out / "x.csv")
        assert json.loads((out / "x.csv" / "attributes.json").read_text())["status"] == status
        exported = pd.read_csv(out / "x.csv" / "trajectory.csv")
        assert exported["variable"].value_counts().to_dict() == {
            "state": count * 2 * 3,
            "dz": count * 3,
            "fake_target": count * 3,
        }
        assert (out / "x.csv" / "trajectory.csv") in csv
        npz = export_run(path, "npz", out / "x.npz")
        with np.load(npz[0]) as data:
            assert json.loads(str(data["attributes"]))["status"] == status
            assert data["trajectory/time"].tolist() == list(range(count))
            assert data["weights/W"].shape == (0, 6)
    running.close()


def test_exports_stop_at_steps_done_even_when_the_metadata_is_ahead(tmp_path: Path) -> None:
    path = tmp_path / "killed.zarr"
    writer = make_store(path)
    writer.append(*steps(0, 20))
    writer.flush()
    # A writer killed after a commit's data and metadata but before its steps_done: the root
    # attributes on disk still count the 12 steps of an earlier commit.
    metadata = json.loads((path / "zarr.json").read_text())
    metadata["attributes"]["steps_done"] = 12
    (path / "zarr.json").write_text(json.dumps(metadata))
    assert xr.open_zarr(path, group="trajectory").sizes["time"] == 20
    assert open_run(path).steps_done == 12

    netcdf = export_run(path, "netcdf")
    with xr.open_dataset(netcdf[1], engine="scipy") as trajectory:
        assert trajectory["time"].values.tolist() == list(range(12))
        assert trajectory.attrs["steps_done"] == 12 and trajectory.attrs["status"] == "running"
    export_run(path, "csv")
    assert pd.read_csv(tmp_path / "killed.csv" / "trajectory.csv")["time"].max() == 11
    with np.load(export_run(path, "npz")[0]) as data:
        assert data["trajectory/state"].shape == (12, 2, 3)
        np.testing.assert_array_equal(
            data["trajectory/state"], open_run(path).array("trajectory", "state")
        )


def test_an_empty_dim_netcdf3_cannot_hold_is_refused_and_the_others_work(tmp_path: Path) -> None:
    path = tmp_path / "no-edges.zarr"
    make_store(path, edge_src=np.array([], int), edge_dst=np.array([], int)).close()
    with pytest.raises(ValidationError, match=r"weights .*\['snapshot', 'edge'\].*npz or csv"):
        export_run(path, "netcdf")
    assert [item.name for item in tmp_path.iterdir()] == ["no-edges.zarr"]
    export_run(path, "npz")
    export_run(path, "csv")
    with np.load(tmp_path / "no-edges.npz") as data:
        assert data["weights/W"].shape == (0, 0)
    assert (
        (tmp_path / "no-edges.csv" / "weights.csv")
        .read_text()
        .startswith("group,variable,snapshot,neuron,edge,value")
    )


# --------------------------------------------------------------------------------------------
# the command and bad input


def test_cli_export_prints_the_files(store: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "cli.npz"
    assert main(["export", str(store), "--format", "npz", "-o", str(output)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [f"wrote {output}"]
    assert main(["export", str(store), "--format", "netcdf", "-o", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {tmp_path / f'c.{group}.nc'}" for group in GROUPS]


@pytest.mark.parametrize("format", FORMATS)
def test_bad_input_exits_2_names_it_and_writes_nothing(
    store: Path, tmp_path: Path, capsys, format: str
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a run store")
    taken = tmp_path / "taken.out"
    taken.write_text("keep me")
    (tmp_path / "x.trajectory.nc").write_text("keep me too")
    before = listing(tmp_path)
    cases = [
        ([str(tmp_path / "missing.zarr"), "--format", format], ["missing.zarr", "does not exist"]),
        ([str(plain), "--format", format, "-o", str(tmp_path / "o")], ["plain", "not a neurosim"]),
        ([str(store), "--format", "xlsx"], ["'xlsx'", "allowed: netcdf, csv, npz"]),
        ([str(store), "--format", format, "-o", str(tmp_path / "no" / "out")], ["does not exist"]),
        ([str(store), "--format", format, "-o", str(store / "inside")], ["inside the run store"]),
    ]
    if format == "netcdf":
        cases.append(([str(store), "--format", format, "-o", str(tmp_path / "x")], ["x.traj"]))
    else:
        cases.append(([str(store), "--format", format, "-o", str(taken)], ["taken.out", "exist"]))
    for arguments, fragments in cases:
        assert main(["export", *arguments]) == EXIT_BAD_INPUT, arguments
        error = capsys.readouterr().err
        for fragment in fragments:
            assert fragment in error, (arguments, error)
        assert listing(tmp_path) == before, arguments
    assert taken.read_text() == "keep me"
    assert open_run(store).status == "complete"
    assert not [name for name in listing(store) if "inside" in name]


@pytest.mark.parametrize("format", FORMATS)
def test_a_failure_midway_removes_what_was_written(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    calls = {"count": 0}

    def fail_on_the_second_call(original):
        def wrapper(*arguments, **keywords):
            calls["count"] += 1
            if calls["count"] == 2:
                raise OSError("disk full")
            return original(*arguments, **keywords)

        return wrapper

    if format == "netcdf":
        monkeypatch.setattr(xr.Dataset, "to_netcdf", fail_on_the_second_call(xr.Dataset.to_netcdf))
    elif format == "csv":
        monkeypatch.setattr(
            export, "_write_csv_table", fail_on_the_second_call(export._write_csv_table)
        )
    else:

        def write_half_then_fail(stream, **arrays):
            calls["count"] += 2
            stream.write(b"PK\x03\x04 half an archive")
            raise OSError("disk full")

        monkeypatch.setattr(np, "savez", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_run(store, format, tmp_path / "out")
    assert calls["count"] == 2
    assert listing(tmp_path) == []


def test_an_interrupted_export_exits_130_and_leaves_nothing(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    original = xr.Dataset.to_netcdf
    written: list[str] = []

    def interrupt_the_third(self, target, *arguments, **keywords):
        written.append(str(target))
        if len(written) == 3:
            raise KeyboardInterrupt
        return original(self, target, *arguments, **keywords)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", interrupt_the_third)
    output = tmp_path / "stopped"
    assert main(["export", str(store), "--format", "netcdf", "-o", str(output)]) == EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
    assert len(written) == 3 and listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# the step numbers of a run that starts late, with gaps


def test_netcdf_keeps_the_step_numbers_of_a_late_irregular_run(
    late_store: Path, tmp_path: Path
) -> None:
    files = export_run(late_store, "netcdf", tmp_path / "late.nc")
    with xr.open_dataset(files[1], engine="scipy") as trajectory:
        assert trajectory.attrs["steps_done"] == len(LATE_STEPS)
        assert trajectory["time"].attrs["neurosim_dtype"] == "int64"
        assert trajectory["time"].values.tolist() == LATE_STEPS.tolist()
        for name, values in late_expected().items():
            np.testing.assert_array_equal(trajectory[name].values, values, err_msg=name)
        step = int(LATE_STEPS[16])  # the first step of the second chunk
        assert trajectory["dz"].sel(time=step, neuron=4).item() == np.sin(step) * 3.0
    with xr.open_dataset(files[2], engine="scipy") as weights:
        assert weights["snapshot_time"].values.tolist() == LATE_SNAPSHOTS


def test_csv_keeps_the_step_numbers_of_a_late_irregular_run(
    late_store: Path, tmp_path: Path
) -> None:
    export_run(late_store, "csv", tmp_path / "late.csv")
    trajectory = pd.read_csv(tmp_path / "late.csv" / "trajectory.csv")
    assert list(trajectory.columns) == TRAJECTORY_COLUMNS
    # state's rows run over (time, copy, neuron): each step's 2 x 3 rows, in step order
    state = trajectory[trajectory["variable"] == "state"]
    assert state["time"].tolist() == np.repeat(LATE_STEPS, 2 * 3).tolist()
    expected = late_expected()
    np.testing.assert_array_equal(
        state["value"].to_numpy(np.float32).reshape(-1, 2, 3), expected["state"]
    )
    for name in ("dz", "fake_target"):  # over (time, neuron): one row per value
        rows = trajectory[trajectory["variable"] == name]
        assert rows["time"].tolist() == np.repeat(LATE_STEPS, 3).tolist()
        assert rows["copy"].isna().all()
        values = rows["value"].to_numpy()
        if name == "fake_target":
            values = values == "True"
        np.testing.assert_array_equal(
            values.astype(expected[name].dtype).reshape(-1, 3), expected[name], err_msg=name
        )
    weights = pd.read_csv(tmp_path / "late.csv" / "weights.csv")
    snapshot_time = weights[weights["variable"] == "snapshot_time"]
    assert snapshot_time["value"].tolist() == LATE_SNAPSHOTS


def test_npz_keeps_the_step_numbers_of_a_late_irregular_run(
    late_store: Path, tmp_path: Path
) -> None:
    output = tmp_path / "late.npz"
    export_run(late_store, "npz", output)
    with np.load(output) as data:
        assert data["trajectory/time"].dtype == np.int64
        np.testing.assert_array_equal(data["trajectory/time"], LATE_STEPS)
        for name, values in late_expected().items():
            np.testing.assert_array_equal(data[f"trajectory/{name}"], values, err_msg=name)
        assert data["weights/snapshot_time"].tolist() == LATE_SNAPSHOTS
        assert json.loads(str(data["attributes"]))["steps_done"] == len(LATE_STEPS)


def test_inspect_counts_the_steps_of_a_late_irregular_run(late_store: Path, capsys) -> None:
    assert main(["inspect", str(late_store)]) == EXIT_OK
    printed = capsys.readouterr().out
    # the number of steps recorded, not the last step number, and the first and last step
    assert f"status: complete; steps done: {len(LATE_STEPS)}\n" in printed
    assert f"recorded steps: {LATE_STEPS[0]} to {LATE_STEPS[-1]}\n" in printed
    assert f"  trajectory/time: (time) ({len(LATE_STEPS)},)\n" in printed
    assert f"  trajectory/state: (time, copy, neuron) ({len(LATE_STEPS)}, 2, 3)\n" in printed
    assert "  weights/snapshot_time: (snapshot) (2,)\n" in printed
