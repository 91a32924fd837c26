"""Tests of neurosim.recording: the zarr v3 run store, as written and as xarray reads it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr
import zarr

from neurosim.errors import ValidationError
from neurosim.recording import (
    ArraySpec,
    CheckpointWarning,
    RunInterrupted,
    RunStore,
    as_unicode,
    open_run,
    stop_on_signals,
)

REPOSITORY = Path(__file__).resolve().parents[1]

N_NEURONS = 6
RECORDED = np.array([1, 3, 4])
ROLES = np.array(["input", "input", "output", "hidden", "hidden", "hidden"])
NAMES = np.array(["in0", "in1", "out0", "h0", "h1", "h2"])
LAYERS = np.array([0, 0, 2, 1, 1, 1])
EDGE_SRC = np.array([0, 1, 3, 4, 5, 3])
EDGE_DST = np.array([3, 4, 2, 2, 2, 5])
SCENARIO = {"scenario": {"name": "test", "duration": 100}, "model": {"alpha": 0.001}}

SPECS = {
    "state": ArraySpec(("batch", "copy", "neuron"), (2, 2, 3), "float32"),
    "dz": ArraySpec(("neuron",), (3,), "float64"),
    "fake_target": ArraySpec(("neuron",), (3,), bool),
}


def make_store(path: Path, **overrides: Any) -> RunStore:
    """A store for the small test network; ``overrides`` replace ``create``'s arguments."""
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


def values_at(time_values: np.ndarray) -> dict[str, np.ndarray]:
    """Every spec's values at the steps ``time_values``, each a function of the step number."""
    offsets = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 2, 3)
    state = time_values[:, None, None, None] + offsets / 100
    dz = np.sin(time_values)[:, None] * np.array([1.0, -2.0, 3.0])
    fake_target = (time_values[:, None] + np.arange(3)) % 3 == 0
    return {"state": state, "dz": dz, "fake_target": fake_target}


def steps(start: int, count: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps ``start..start+count-1`` with values that depend on the step, for every spec."""
    time_values = np.arange(start, start + count, dtype=np.int64)
    return time_values, values_at(time_values)


def steps_of(time_values: npt.ArrayLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The steps ``time_values`` (any step numbers) with their values, as ``append`` takes them."""
    time_values = np.asarray(time_values, dtype=np.int64)
    return time_values, values_at(time_values)


def read_trajectory(path: Path) -> dict[str, np.ndarray]:
    reader = open_run(path)
    return {name: reader.array("trajectory", name) for name in ["time", *SPECS]}


def expected_trajectory(count: int) -> dict[str, np.ndarray]:
    return expected_at(np.arange(count, dtype=np.int64))


def expected_at(time_values: np.ndarray) -> dict[str, np.ndarray]:
    """What the store holds for the steps ``time_values``, in the declared dtypes."""
    values = values_at(time_values)
    values["state"] = values["state"].astype(np.float32)
    return {"time": time_values, **values}


def assert_trajectory_equal(actual: dict[str, np.ndarray], count: int) -> None:
    expected = expected_trajectory(count)
    for name, values in expected.items():
        assert actual[name].dtype == values.dtype, name
        np.testing.assert_array_equal(actual[name], values, err_msg=name)


# --------------------------------------------------------------------------------------------
# round trip and xarray


@pytest.fixture(scope="module")
def complete_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store with 40 steps, two weight snapshots and three metrics."""
    path = tmp_path_factory.mktemp("runs") / "run.zarr"
    with make_store(path) as store:
        store.append(*steps(0, 25))
        store.append(*steps(25, 15))
        store.snapshot_weights(0, np.arange(6) / 10, np.zeros(N_NEURONS))
        store.snapshot_weights(40, np.arange(6) / 5, np.full(N_NEURONS, 0.5))
        store.write_metric(
            "accuracy", 0.93, (), {"description": "test accuracy", "paper_value": 0.97}
        )
        store.write_metric(
            "final_error", [0.1, 0.2, 0.15], ("seed",), coords={"seed": np.array([1, 2, 3])}
        )
        store.write_metric(
            "recall",
            np.arange(6).reshape(2, 3) / 6,
            ("network", "order"),
            coords={"network": ["hopfield", "layered"]},
        )
        store.set_attribute("note", "written by the tests")
    return path


def test_round_trip_of_every_group(complete_store: Path) -> None:
    reader = open_run(complete_store)
    attributes = reader.attributes
    assert attributes["scenario"] == SCENARIO
    assert (attributes["backend"], attributes["seed"]) == ("sync", 7)
    assert attributes["time_unit"] == "step"
    assert attributes["status"] == "complete" and attributes["status_message"] is None
    assert attributes["steps_done"] == 40 and attributes["snapshots_done"] == 2
    assert attributes["note"] == "written by the tests"
    assert isinstance(attributes["neurosim_version"], str)
    assert reader.status_description == "complete"
    assert reader.groups() == ["metrics", "neurons", "trajectory", "weights"]

    assert reader.array("neurons", "role").tolist() == ROLES.tolist()
    assert reader.array("neurons", "name").tolist() == NAMES.tolist()
    np.testing.assert_array_equal(reader.array("neurons", "layer"), LAYERS)

    assert_trajectory_equal(read_trajectory(complete_store), 40)
    np.testing.assert_array_equal(reader.array("trajectory", "neuron"), RECORDED)
    assert reader.dims("trajectory", "state") == ("time", "batch", "copy", "neuron")

    np.testing.assert_array_equal(reader.array("weights", "edge_src"), EDGE_SRC)
    np.testing.assert_array_equal(reader.array("weights", "edge_dst"), EDGE_DST)
    np.testing.assert_array_equal(reader.array("weights", "snapshot_time"), [0, 40])
    np.testing.assert_array_equal(
        reader.array("weights", "W"), np.stack([np.arange(6) / 10, np.arange(6) / 5])
    )
    np.testing.assert_array_equal(reader.array("weights", "b")[1], np.full(N_NEURONS, 0.5))

    assert reader.array("metrics", "accuracy") == pytest.approx(0.93)
    np.testing.assert_array_equal(reader.array("metrics", "seed"), [1, 2, 3])
    assert reader.dims("metrics", "recall") == ("network", "order")


def test_xarray_opens_every_group_with_dims_and_coordinates(complete_store: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default call must not even warn
        trajectory = xr.open_zarr(complete_store, group="trajectory")
        neurons = xr.open_zarr(complete_store, group="neurons")
        weights = xr.open_zarr(complete_store, group="weights")
        metrics = xr.open_zarr(complete_store, group="metrics")
        root = xr.open_zarr(complete_store)

    assert trajectory["state"].dims == ("time", "batch", "copy", "neuron")
    assert trajectory["dz"].dims == ("time", "neuron")
    assert trajectory["fake_target"].dtype == bool
    assert "time" in trajectory.indexes and "neuron" in trajectory.indexes
    np.testing.assert_array_equal(trajectory["time"].values, np.arange(40))
    np.testing.assert_array_equal(trajectory["neuron"].values, RECORDED)
    np.testing.assert_array_equal(trajectory["dz"].sel(time=30, neuron=4).values, np.sin(30) * 3.0)
    expected = expected_trajectory(40)
    np.testing.assert_array_equal(trajectory["state"].values, expected["state"])

    for field in ("role", "name"):
        assert neurons[field].dims == ("neuron",)
        assert neurons[field].dtype.kind in "UT"  # strings, not bytes or objects
        assert all(isinstance(value, str) for value in neurons[field].values.tolist())
    assert neurons["role"].values.tolist() == ROLES.tolist()
    assert neurons["role"].sel(neuron=trajectory["neuron"]).values.tolist() == [
        "input",
        "hidden",
        "hidden",
    ]

    assert weights["W"].dims == ("snapshot", "edge")
    assert weights["b"].dims == ("snapshot", "neuron")
    assert weights["edge_src"].dims == ("edge",)
    assert weights["snapshot_time"].values.tolist() == [0, 40]

    assert metrics["accuracy"].dims == ()
    assert metrics["accuracy"].attrs == {"description": "test accuracy", "paper_value": 0.97}
    assert metrics["final_error"].dims == ("seed",)
    assert metrics["final_error"].sel(seed=2).values.item() == pytest.approx(0.2)
    assert metrics["recall"].dims == ("network", "order")
    assert metrics["network"].values.tolist() == ["hopfield", "layered"]

    assert root.attrs["status"] == "complete" and root.attrs["steps_done"] == 40


def test_every_group_carries_fresh_consolidated_metadata(complete_store: Path) -> None:
    # What xarray reads first: the root's (newer xarray) or the group's (older xarray).
    on_disk = zarr.open_group(complete_store, mode="r", use_consolidated=False)
    root = zarr.open_group(complete_store, mode="r", use_consolidated=True)
    for group in ("neurons", "trajectory", "weights", "metrics"):
        own = zarr.open_group(complete_store, path=group, mode="r", use_consolidated=True)
        for name, array in on_disk[group].arrays():
            assert own[name].shape == array.shape, f"{group}/{name}"
            assert root[group][name].shape == array.shape, f"{group}/{name}"
            assert own[name].metadata.dimension_names == array.metadata.dimension_names


def test_uneven_pieces_equal_one_write(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    total = 203
    with make_store(tmp_path / "whole.zarr") as store:
        store.append(*steps(0, total))
    with make_store(tmp_path / "pieces.zarr") as store:
        position = 0
        while position < total:
            count = min(int(rng.integers(0, 40)), total - position)
            store.append(*steps(position, count))
            position += count
            if rng.random() < 0.2:
                store.flush()  # partial chunks on disk, later completed
    whole = read_trajectory(tmp_path / "whole.zarr")
    pieces = read_trajectory(tmp_path / "pieces.zarr")
    assert_trajectory_equal(whole, total)
    for name in whole:
        np.testing.assert_array_equal(pieces[name], whole[name], err_msg=name)


def test_memory_is_bounded_by_the_time_chunk(tmp_path: Path) -> None:
    chunk = 500
    total = 50_000
    spec = {"rate": ArraySpec(("neuron",), (3,), "float32")}
    store = make_store(tmp_path / "long.zarr", arrays=spec, time_chunk=chunk)
    buffer_bytes = store.buffer_nbytes
    assert buffer_bytes == chunk * (3 * 4 + 8)
    rng = np.random.default_rng(0)
    position = 0
    appends = 0
    while position < total:
        count = min(int(rng.integers(1, 1_300)), total - position)
        time_values = np.arange(position, position + count)
        rate = np.repeat(time_values[:, None], 3, axis=1) * np.array([1, 2, 3])
        store.append(time_values, {"rate": rate})
        position += count
        appends += 1
        assert store.buffered_steps <= chunk
        assert store.buffer_nbytes == buffer_bytes
        assert store.steps_done + store.buffered_steps == position
        assert store.steps_done % chunk == 0  # only whole chunks are written without flush
        if appends % 25 == 0:  # steps_done on disk is what has been written
            assert open_run(store.path).steps_done == store.steps_done
            consolidated = zarr.open_group(store.path, mode="r", use_consolidated=True)
            assert consolidated["trajectory"]["rate"].shape == (store.steps_done, 3)
    store.close()
    reader = open_run(store.path)
    assert reader.steps_done == total
    np.testing.assert_array_equal(reader.array("trajectory", "time"), np.arange(total))
    rate = reader.array("trajectory", "rate")
    np.testing.assert_array_equal(rate[:, 2], np.arange(total, dtype=np.float32) * 3)
    stored = zarr.open_group(store.path, mode="r")["trajectory"]["rate"]
    assert stored.chunks == (chunk, 3) and stored.shape == (total, 3)


# --------------------------------------------------------------------------------------------
# status on exit


def test_exception_inside_with_marks_the_store_failed_and_keeps_the_steps(tmp_path: Path) -> None:
    path = tmp_path / "failed.zarr"
    with pytest.raises(FloatingPointError, match="state became NaN"), make_store(path) as store:
        store.append(*steps(0, 37))  # 32 written, 5 buffered
        assert store.buffered_steps == 5
        raise FloatingPointError("state became NaN")
    reader = open_run(path)
    assert reader.status == "failed"
    assert reader.status_message == "FloatingPointError: state became NaN"
    assert reader.status_description.startswith("failed: FloatingPointError")
    assert reader.steps_done == 37
    assert_trajectory_equal(read_trajectory(path), 37)


def test_keyboard_interrupt_marks_the_store_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "interrupted.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(path) as store:
        store.append(*steps(0, 10))
        raise KeyboardInterrupt
    reader = open_run(path)
    assert reader.status == "interrupted" and reader.steps_done == 10
    assert_trajectory_equal(read_trajectory(path), 10)


def test_sigterm_raises_run_interrupted_and_marks_the_store(tmp_path: Path) -> None:
    path = tmp_path / "terminated.zarr"
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted), stop_on_signals() as stop, make_store(path) as store:
        store.append(*steps(0, 3))
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(50):  # the signal only sets the request; the run stops at its check
            time.sleep(0.1)
            stop.check()
        pytest.fail("SIGTERM did not request a stop")
    assert signal.getsignal(signal.SIGTERM) is previous
    reader = open_run(path)
    assert (reader.status, reader.status_message) == ("interrupted", "terminated by SIGTERM")
    assert reader.steps_done == 3


def test_close_is_final_and_metrics_can_follow(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.zarr")
    store.append(*steps(0, 4))
    store.close("interrupted", "stopped by the test")
    store.close()  # a second close changes nothing
    with pytest.raises(ValidationError, match="closed"):
        store.append(*steps(4, 1))
    store.write_metric("energy", [1.0, 0.5], ("epoch",))
    reader = open_run(store.path)
    assert (reader.status, reader.status_message) == ("interrupted", "stopped by the test")
    np.testing.assert_array_equal(reader.array("metrics", "energy"), [1.0, 0.5])
    with pytest.raises(ValidationError, match="running"):
        make_store(tmp_path / "other.zarr").close("running")


# --------------------------------------------------------------------------------------------
# refusing bad input


def test_existing_path_is_refused_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        store.append(*steps(0, 20))
    with pytest.raises(ValidationError, match=re.escape(str(path))):
        make_store(path)
    assert open_run(path).steps_done == 20  # untouched
    make_store(path, overwrite=True).close()
    assert open_run(path).steps_done == 0

    other = tmp_path / "results"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="not a neurosim run store"):
        make_store(other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    del store  # its writer gone, the store's lock file beside it is too
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results", "run.zarr"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"arrays": {"state": ArraySpec(("neuron",), (4,), "float32")}}, "size 4"),
        ({"arrays": {"time": ArraySpec(("neuron",), (3,), "float32")}}, "'time'"),
        ({"recorded_neurons": np.array([0, 9])}, "recorded_neurons"),
        ({"edge_dst": np.array([1, 2])}, "differ in length"),
        ({"attributes": {"scenario": {}, "backend": "sync"}}, "seed"),
        ({"attributes": {"scenario": {}, "backend": "sync", "seed": 1, "status": "x"}}, "status"),
        ({"neurons": {"role": ROLES, "layer": LAYERS, "name": np.arange(6)}}, "strings"),
        ({"time_chunk": 0}, "time_chunk"),
    ],
)
def test_invalid_create_writes_nothing(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_store(tmp_path / "run.zarr", **overrides)
    assert list(tmp_path.iterdir()) == []


def test_array_spec_is_validated() -> None:
    with pytest.raises(ValidationError, match="tuple"):
        ArraySpec("neuron", (3,), "float32")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'time'"):
        ArraySpec(("time", "neuron"), (1, 3), "float32")
    with pytest.raises(ValidationError, match="does not fit"):
        ArraySpec(("copy", "neuron"), (3,), "float32")
    with pytest.raises(ValidationError, match="not allowed"):
        ArraySpec(("neuron",), (3,), object)
    spec = ArraySpec(["neuron"], [3], "f4")  # type: ignore[arg-type]
    assert (spec.dims, spec.shape, spec.dtype) == (("neuron",), (3,), np.dtype("float32"))


def test_bad_appends_are_rejected_and_nothing_is_half_written(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.zarr")
    store.append(*steps(0, 20))  # 16 written, 4 buffered
    time_values, values = steps(20, 3)

    wrong_shape = {**values, "dz": np.zeros((3, 4))}
    with pytest.raises(ValidationError, match=r"'dz' has shape \(3, 4\), expected \(3, 3\)"):
        store.append(time_values, wrong_shape)
    with pytest.raises(ValidationError, match="unknown array 'rate'"):
        store.append(time_values, {**values, "rate": np.zeros((3, 3))})
    with pytest.raises(ValidationError, match=r"\['fake_target'\] are missing"):
        store.append(time_values, {k: v for k, v in values.items() if k != "fake_target"})
    with pytest.raises(ValidationError, match="'fake_target' has dtype float64"):
        store.append(time_values, {**values, "fake_target": np.ones((3, 3))})
    with pytest.raises(ValidationError, match="increase strictly"):
        store.append(np.array([20, 22, 21]), values)
    with pytest.raises(ValidationError, match="increase strictly"):
        store.append(*steps(19, 3))  # overlaps the last step appended
    with pytest.raises(ValidationError, match="1-D integer"):
        store.append(time_values.astype(float), values)
    with pytest.raises(ValidationError, match=r"weights has shape \(5,\), expected \(6,\)"):
        store.snapshot_weights(0, np.zeros(5), np.zeros(N_NEURONS))
    assert store.steps_appended == 20 and store.buffered_steps == 4

    store.append(time_values, values)
    store.close()
    assert_trajectory_equal(read_trajectory(store.path), 23)
    assert open_run(store.path).snapshots_done == 0


def test_metrics_are_validated(tmp_path: Path) -> None:
    store = make_store(tmp_path / "run.zarr")
    store.write_metric("error", [0.1, 0.2], ("seed",), coords={"seed": [3, 4]})
    with pytest.raises(ValidationError, match="dim 'seed' has size 3"):
        store.write_metric("loss", [1.0, 2.0, 3.0], ("seed",))
    with pytest.raises(ValidationError, match="coordinate 'seed' differs"):
        store.write_metric("loss", [1.0, 2.0], ("seed",), coords={"seed": [3, 5]})
    with pytest.raises(ValidationError, match="does not fit"):
        store.write_metric("loss", [1.0, 2.0], ())
    with pytest.raises(ValidationError, match="JSON"):
        store.write_metric("loss", [1.0, 2.0], ("seed",), {"paper_value": float("nan")})
    store.write_metric("error", [0.3, 0.4], ("seed",))  # replaces
    store.write_metric("label", np.array(["a", "b"]), ("seed",))
    store.close()
    reader = open_run(store.path)
    np.testing.assert_array_equal(reader.array("metrics", "error"), [0.3, 0.4])
    assert reader.array("metrics", "label").tolist() == ["a", "b"]
    assert reader.names("metrics") == ["error", "label", "seed"]


def test_open_run_names_the_path_of_what_is_not_a_run_store(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        open_run(tmp_path / "missing.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ValidationError, match=re.escape(f"{tmp_path / 'empty'} is not a neurosim run")
    ):
        open_run(tmp_path / "empty")
    zarr.open_group(tmp_path / "plain.zarr", mode="w", zarr_format=3, attributes={"a": 1})
    with pytest.raises(ValidationError, match=r"plain\.zarr is not a neurosim run store"):
        open_run(tmp_path / "plain.zarr")
    with make_store(tmp_path / "run.zarr") as store:
        store.append(*steps(0, 2))
    with pytest.raises(ValidationError, match="no array trajectory/rate"):
        open_run(store.path).array("trajectory", "rate")


# --------------------------------------------------------------------------------------------
# a killed writer


WRITER = """
import sys
from pathlib import Path

import numpy as np
from neurosim.recording import ArraySpec, RunStore

ready = Path(sys.argv[2])
store = RunStore.create(
    sys.argv[1],
    attributes={"scenario": {}, "backend": "sync", "seed": 0},
    neurons={"role": ["hidden"] * 4, "layer": [1] * 4, "name": list("abcd")},
    arrays={"state": ArraySpec(("neuron",), (4,), "float64")},
    recorded_neurons=None, edge_src=[0], edge_dst=[1], time_chunk=8,
)
step = 0
while True:  # forever, flushing often, until killed
    count = 1 + step % 7
    time = np.arange(step, step + count)
    store.append(time, {"state": time[:, None] * np.arange(1.0, 5.0)})
    store.flush()
    step += count
    if step > 100 and not ready.exists():  # written whole, then renamed: never read half
        ready.with_suffix(".partial").write_text(str(store.steps_done))
        ready.with_suffix(".partial").rename(ready)
"""


def test_a_killed_writer_leaves_a_readable_store(tmp_path: Path) -> None:
    path = tmp_path / "killed.zarr"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), *sys.path])}
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, str(script), str(path), str(ready)], env=environment
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None, "the writer stopped by itself"
            assert time.monotonic() < deadline, "the writer never got ready"
            time.sleep(0.02)
        flushed = int(ready.read_text())
        time.sleep(0.3)  # let it run on, to be killed in the middle of some write
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    reader = open_run(path)
    assert reader.status == "running"
    assert reader.status_description.startswith("running or killed")
    done = reader.steps_done
    assert done >= flushed > 100
    time_values = reader.array("trajectory", "time")
    np.testing.assert_array_equal(time_values, np.arange(done))
    np.testing.assert_array_equal(
        reader.array("trajectory", "state"), time_values[:, None] * np.arange(1.0, 5.0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trajectory = xr.open_zarr(path, group="trajectory")
    count = trajectory.sizes["time"]
    assert count >= flushed
    np.testing.assert_array_equal(trajectory["time"].values, np.arange(count))
    np.testing.assert_array_equal(
        trajectory["state"].values, np.arange(count)[:, None] * np.arange(1.0, 5.0)
    )


# --------------------------------------------------------------------------------------------
# reopening and checkpoints


def test_a_reopened_store_continues_after_the_committed_steps(tmp_path: Path) -> None:
    path = tmp_path / "stopped.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(path) as store:
        store.append(*steps(0, 20))
        store.snapshot_weights(5, np.arange(6.0), np.zeros(N_NEURONS))
        raise KeyboardInterrupt
    with RunStore.reopen(path) as store:
        assert open_run(path).status == "running"
        assert (store.steps_done, store.snapshots_done) == (20, 1)
        with pytest.raises(ValidationError, match="got \\[19\\] after step 19"):
            store.append(*steps(19, 1))  # step 19 is already recorded
        with pytest.raises(ValidationError, match="not after the last snapshot"):
            store.snapshot_weights(5, np.arange(6.0), np.zeros(N_NEURONS))
        store.append(*steps(20, 30))
        store.snapshot_weights(9, np.arange(6.0) + 1, np.ones(N_NEURONS))
    reader = open_run(path)
    assert reader.status == "complete" and reader.steps_done == 50
    assert_trajectory_equal(read_trajectory(path), 50)
    np.testing.assert_array_equal(reader.array("weights", "snapshot_time"), [5, 9])


def test_a_killed_writers_uncommitted_steps_are_cut_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "killed.zarr"
    store = make_store(path)
    store.append(*steps(0, 16))  # one whole chunk: written and committed
    store.flush()
    # what a writer killed between writing the arrays and committing them leaves behind
    zarr.open_array(path / "trajectory" / "dz", mode="r+").resize((24, 3))
    zarr.open_array(path / "trajectory" / "time", mode="r+").resize((24,))
    with RunStore.reopen(path) as reopened:
        reopened.append(*steps(16, 8))
    assert_trajectory_equal(read_trajectory(path), 24)


def test_a_complete_run_is_not_reopened(complete_store: Path) -> None:
    with pytest.raises(ValidationError, match="the run is complete; there is nothing to resume"):
        RunStore.reopen(complete_store)


def test_the_newest_checkpoints_are_kept_and_the_newest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.zarr"
    with make_store(path) as store:
        assert open_run(path).checkpoint() is None
        store.write_checkpoint({"state": np.ones((2, 3)), "order": np.arange(5)}, {"stage": 1})
        store.write_checkpoint({"state": np.full((2, 3), 2.0)}, {"stage": 2, "note": "x"})
        store.write_checkpoint({"state": np.full((2, 3), 3.0)}, {"stage": 3, "note": "y"})
    arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"stage": 3, "note": "y"}
    assert set(arrays) == {"state"}
    np.testing.assert_array_equal(arrays["state"], np.full((2, 3), 3.0))
    # the newest two (checkpoint_keep's default) are kept on disk
    kept = sorted(p.name for p in (path / "checkpoint").iterdir() if p.is_dir())
    assert kept == ["state1", "state2"]


def test_a_checkpoint_cut_short_leaves_the_previous_one_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import neurosim.recording.checkpoint as store_module

    path = tmp_path / "cut.zarr"
    write_whole = store_module._write_whole

    def dying_write(group, name, *args) -> None:
        if name == "order":
            raise KeyboardInterrupt  # stopped while writing the second array
        write_whole(group, name, *args)

    with pytest.raises(KeyboardInterrupt), make_store(path) as store:
        store.write_checkpoint({"state": np.zeros(4)}, {"stage": 1})
        monkeypatch.setattr(store_module, "_write_whole", dying_write)
        store.write_checkpoint({"state": np.ones(4), "order": np.arange(3)}, {"stage": 2})
    with pytest.warns(CheckpointWarning, match="checkpoint state1 is skipped: it has no manifest"):
        arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"stage": 1}
    np.testing.assert_array_equal(arrays["state"], np.zeros(4))


# --------------------------------------------------------------------------------------------
# the time axis holds the step numbers given, whatever they are

# A late start and uneven gaps (1, 6, 11, 5, 10, ...): a store that wrote positions 0..n-1, or
# shifted, dropped or repeated a chunk, holds other step numbers or other values at them.
LATE_STEPS = 1000 + np.concatenate(([0], np.cumsum(1 + np.arange(59) * 5 % 11)))


def assert_holds_exactly(path: Path, time_values: np.ndarray) -> None:
    """The store holds the steps ``time_values``, each with its values, and no other step,
    as ``open_run`` and as xarray read it."""
    expected = expected_at(np.asarray(time_values, dtype=np.int64))
    reader = open_run(path)
    assert reader.steps_done == len(time_values)
    for name, values in expected.items():
        stored = reader.array("trajectory", name)
        assert stored.dtype == values.dtype, name
        np.testing.assert_array_equal(stored, values, err_msg=name)
    trajectory = xr.open_zarr(path, group="trajectory")
    assert trajectory.indexes["time"].tolist() == expected["time"].tolist()
    for name in SPECS:
        np.testing.assert_array_equal(trajectory[name].values, expected[name], err_msg=name)
    # a zarr reader that ignores consolidated metadata reads each array's own shape
    own = zarr.open_group(path, path="trajectory", mode="r", use_consolidated=False)
    np.testing.assert_array_equal(own["time"][...], expected["time"])


def test_late_irregular_steps_are_stored_as_step_numbers_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "late.zarr"
    with make_store(path) as store:  # time_chunk 16
        store.append(*steps_of(LATE_STEPS[:18]))  # fills chunk 0 through the buffer, 2 left
        store.flush()  # a partial chunk on disk
        assert_holds_exactly(path, LATE_STEPS[:18])
        store.append(*steps_of(LATE_STEPS[18:48]))  # written straight: the partial, then whole
        assert store.buffered_steps == 0
        assert_holds_exactly(path, LATE_STEPS[:48])
        store.append(*steps_of(LATE_STEPS[48:53]))
        store.append(*steps_of(LATE_STEPS[53:]))  # buffered until close
    assert_holds_exactly(path, LATE_STEPS)

    trajectory = xr.open_zarr(path, group="trajectory")
    for position in (0, 15, 16, 17, 47, 48, 59):  # either side of every chunk boundary
        step = int(LATE_STEPS[position])
        np.testing.assert_array_equal(
            trajectory["dz"].sel(time=step).values, np.sin(step) * np.array([1.0, -2.0, 3.0])
        )
        assert trajectory["state"].sel(time=step, batch=1, copy=0, neuron=4).values.item() == (
            np.float32(step + 0.08)
        )
    with pytest.raises(KeyError):
        trajectory["dz"].sel(time=1002)  # between two recorded steps: not a label


def test_a_reopened_store_goes_on_with_the_given_step_numbers(tmp_path: Path) -> None:
    path = tmp_path / "reopened.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(path) as store:
        store.append(*steps_of(LATE_STEPS[:21]))  # 16 written, 5 written when interrupted
        raise KeyboardInterrupt
    assert_holds_exactly(path, LATE_STEPS[:21])
    with pytest.raises(KeyboardInterrupt), RunStore.reopen(path) as store:
        assert store.steps_done == 21
        store.append(*steps_of(LATE_STEPS[21:40]))  # completes chunk 1, 8 steps into chunk 2
        raise KeyboardInterrupt
    assert_holds_exactly(path, LATE_STEPS[:40])
    # what a writer killed before its commit leaves past steps_done: steps beyond any given
    for name in ("time", *SPECS):
        stale = zarr.open_array(path / "trajectory" / name, mode="r+")
        stale.resize((64, *stale.shape[1:]))
        if name == "time":
            stale[40:] = 9000 + np.arange(24)
    with RunStore.reopen(path) as store:
        store.append(*steps_of(LATE_STEPS[40:]))
    assert open_run(path).status == "complete"
    assert_holds_exactly(path, LATE_STEPS)


def test_repeated_and_decreasing_steps_within_one_append_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "one-call.zarr"
    store = make_store(path)
    store.append(*steps_of([990, 995, 998]))  # buffered
    bad_calls = [
        ([1000, 1003, 1003, 1010], "step 1003 is repeated"),
        ([1000, 1010, 1005], "step 1005 comes after step 1010"),
        # long enough to fill the buffer's chunk, so a partial write would show on disk
        ([*LATE_STEPS[:18], LATE_STEPS[17]], f"step {LATE_STEPS[17]} is repeated"),
        ([*LATE_STEPS[:18], 1001], f"step 1001 comes after step {LATE_STEPS[17]}"),
    ]
    for time_values, message in bad_calls:
        with pytest.raises(ValidationError, match=re.escape(message)):
            store.append(*steps_of(time_values))
        assert (store.steps_appended, store.steps_done) == (3, 0), time_values
        assert open_run(path).steps_done == 0, time_values
    store.append(*steps_of(LATE_STEPS[:18]))
    store.close()
    assert_holds_exactly(path, np.concatenate(([990, 995, 998], LATE_STEPS[:18])))


@pytest.mark.parametrize("last_step_is", ["buffered", "written", "reopened"])
def test_steps_that_repeat_or_precede_earlier_appends_are_refused(
    tmp_path: Path, last_step_is: str
) -> None:
    path = tmp_path / "across-calls.zarr"
    earlier = LATE_STEPS[:16] if last_step_is == "written" else LATE_STEPS[:21]
    store = make_store(path)
    store.append(*steps_of(earlier[:7]))
    store.append(*steps_of(earlier[7:]))
    if last_step_is == "written":  # a whole chunk: on disk, nothing buffered
        assert (store.steps_done, store.buffered_steps) == (16, 0)
    if last_step_is == "reopened":
        store.close("interrupted", "stopped to be reopened")
        store = RunStore.reopen(path)
    last = int(earlier[-1])
    bad_calls = [
        ([last, last + 4], f"after step {last} in {path}: step {last} is repeated"),
        ([last - 1], f"step {last - 1} comes after step {last}"),
        ([int(earlier[3]), last + 10], f"step {earlier[3]} comes after step {last}"),
    ]
    for time_values, message in bad_calls:
        with pytest.raises(ValidationError, match=re.escape(message)):
            store.append(*steps_of(time_values))
        assert store.steps_appended == len(earlier), time_values
    store.append(*steps_of([last + 1, last + 40]))  # the steps after the last are still free
    store.close()
    assert_holds_exactly(path, np.concatenate((earlier, [last + 1, last + 40])))


def test_a_repeated_or_earlier_snapshot_time_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.zarr"
    weights = [np.arange(6.0) + index for index in range(3)]
    bias = [np.full(N_NEURONS, float(index)) for index in range(3)]
    store = make_store(path)
    store.snapshot_weights(1000, weights[0], bias[0])
    store.snapshot_weights(1250, weights[1], bias[1])

    def assert_snapshots(times: list[int]) -> None:
        reader = open_run(path)
        assert reader.snapshots_done == len(times)
        np.testing.assert_array_equal(reader.array("weights", "snapshot_time"), times)
        np.testing.assert_array_equal(reader.array("weights", "W"), weights[: len(times)])
        np.testing.assert_array_equal(reader.array("weights", "b"), bias[: len(times)])
        assert xr.open_zarr(path, group="weights")["snapshot_time"].values.tolist() == times
        own = zarr.open_group(path, path="weights", mode="r", use_consolidated=False)
        assert own["snapshot_time"][...].tolist() == times

    for refused in (1250, 1100, 1000):
        with pytest.raises(
            ValidationError, match=f"time {refused} is not after the last snapshot's, 1250"
        ):
            store.snapshot_weights(refused, weights[2] + 100, bias[2] + 100)
        assert store.snapshots_done == 2
    assert_snapshots([1000, 1250])
    store.close("interrupted", "stopped to be reopened")
    store = RunStore.reopen(path)
    with pytest.raises(ValidationError, match="time 1250 is not after the last snapshot's, 1250"):
        store.snapshot_weights(1250, weights[2] + 100, bias[2] + 100)
    assert_snapshots([1000, 1250])
    store.snapshot_weights(1251, weights[2], bias[2])
    store.close()
    assert_snapshots([1000, 1250, 1251])


# --------------------------------------------------------------------------------------------
# the on-disk format, pinned: every node's metadata as the store format 2 writes it


def stored_layout(path: Path) -> dict[str, Any]:
    """Every node under ``path``: a group's attributes (without the version), or an array's
    dtype, shape, chunk shape, dimension names and attribute names."""
    layout: dict[str, Any] = {}
    for metadata_file in sorted(path.rglob("zarr.json")):
        node = json.loads(metadata_file.read_text())
        where = metadata_file.parent.relative_to(path).as_posix()
        if node["node_type"] == "group":
            layout[where] = {
                key: value for key, value in node["attributes"].items() if key != "neurosim_version"
            }
            continue
        layout[where] = (
            node["data_type"],
            node["shape"],
            node["chunk_grid"]["configuration"]["chunk_shape"],
            node.get("dimension_names"),
            sorted(node["attributes"]),
        )
    return layout


def sha256_of(values: np.ndarray) -> str:
    """A checkpoint array's checksum as format 2 defines it: SHA-256 of the dtype's string,
    the shape and the bytes."""
    digest = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


POSITIONS = {"steps_done": 6, "snapshots_done": 1, "events_done": 2, "metrics": []}
MANIFEST_0 = {
    "positions": POSITIONS,
    "arrays": {"rng": {"sha256": sha256_of(np.arange(2)), "shape": [2], "dtype": "<i8"}},
}
MANIFEST_1 = {
    "positions": POSITIONS,
    "arrays": {
        "rng": {"sha256": sha256_of(np.arange(3)), "shape": [3], "dtype": "<i8"},
        "w": {"sha256": sha256_of(np.ones((2, 2))), "shape": [2, 2], "dtype": "<f8"},
    },
}
STORE_FORMAT_2 = {
    ".": {
        "backend": "event",
        "events_done": 2,
        "every_chunk_stored": True,
        "scenario": {"scenario": {"name": "pinned"}},
        "seed": 3,
        "snapshots_done": 1,
        "status": "complete",
        "status_message": None,
        "steps_done": 6,
        "store_format": 2,
        "time_unit": "step",
    },
    "checkpoint": {},
    "checkpoint/state0": {"attributes": {"epoch": 1}, "manifest": MANIFEST_0},
    "checkpoint/state0/rng": ("int64", [2], [2], ["rng_0"], []),
    "checkpoint/state1": {"attributes": {"epoch": 2}, "manifest": MANIFEST_1},
    "checkpoint/state1/rng": ("int64", [3], [3], ["rng_0"], []),
    "checkpoint/state1/w": ("float64", [2, 2], [2, 2], ["w_0", "w_1"], []),
    "events": {"kinds": ["send", "receive"]},
    "events/kind": ("int8", [2], [65536], ["event"], []),
    "events/neuron": ("int32", [2], [65536], ["event"], []),
    "events/t": ("float64", [2], [65536], ["event"], []),
    "metrics": {},
    "metrics/error": ("float64", [2], [2], ["seed"], ["units"]),
    "metrics/label": ("string", [], [], None, []),
    "metrics/seed": ("int64", [2], [2], ["seed"], []),
    "neurons": {},
    "neurons/layer": ("int64", [3], [3], ["neuron"], []),
    "neurons/name": ("string", [3], [3], ["neuron"], []),
    "neurons/neuron": ("int64", [3], [3], ["neuron"], []),
    "neurons/role": ("string", [3], [3], ["neuron"], []),
    "trajectory": {},
    "trajectory/dz": ("float64", [6, 2], [4, 2], ["time", "neuron"], ["units"]),
    "trajectory/neuron": ("int64", [2], [2], ["neuron"], []),
    "trajectory/state": ("float32", [6, 2, 2], [4, 2, 2], ["time", "copy", "neuron"], ["units"]),
    "trajectory/time": ("int64", [6], [4], ["time"], ["units"]),
    "weights": {},
    "weights/W": ("float32", [1, 2], [1, 2], ["snapshot", "edge"], []),
    "weights/b": ("float32", [1, 3], [1, 3], ["snapshot", "neuron"], []),
    "weights/edge_dst": ("int64", [2], [2], ["edge"], []),
    "weights/edge_src": ("int64", [2], [2], ["edge"], []),
    "weights/neuron": ("int64", [3], [3], ["neuron"], []),
    "weights/snapshot_time": ("int64", [1], [256], ["snapshot"], ["units"]),
}


def test_every_group_is_written_in_store_format_2(tmp_path: Path) -> None:
    # Readers of older stores (and --resume) rely on this: a change here is a new format.
    # (The units attributes were added within format 2: no reader needs them.)
    path = tmp_path / "pinned.zarr"
    with RunStore.create(
        path,
        attributes={"scenario": {"scenario": {"name": "pinned"}}, "backend": "event", "seed": 3},
        neurons={"role": ROLES[[0, 2, 3]], "layer": LAYERS[[0, 2, 3]], "name": NAMES[[0, 2, 3]]},
        arrays={
            "state": ArraySpec(("copy", "neuron"), (2, 2), "float32"),
            "dz": ArraySpec(("neuron",), (2,), "float64"),
        },
        recorded_neurons=np.array([1, 2]),
        edge_src=np.array([0, 1]),
        edge_dst=np.array([2, 2]),
        time_chunk=4,
        weight_dtype="float32",
    ) as store:
        store.append(np.arange(5, 11), {"state": np.ones((6, 2, 2)), "dz": np.zeros((6, 2))})
        store.snapshot_weights(10, np.array([0.5, -0.5]), np.zeros(3))
        store.append_events(
            {
                "t": np.array([0.5, 1.5]),
                "neuron": np.array([0, 2], dtype=np.int32),
                "kind": np.array([1, 0], dtype=np.int8),
            },
            ("send", "receive"),
        )
        store.write_checkpoint({"rng": np.arange(2)}, {"epoch": 1})
        store.write_checkpoint({"rng": np.arange(3), "w": np.ones((2, 2))}, {"epoch": 2})
        store.write_metric("error", [0.1, 0.2], ("seed",), {"units": "fraction"}, {"seed": [1, 2]})
        store.write_metric("label", "x", ())
    assert stored_layout(path) == STORE_FORMAT_2


def test_as_unicode_gives_numpy_unicode_for_every_kind_of_strings() -> None:
    for strings in (
        np.array(["in0", "hidden"]),
        np.array(["in0", "hidden"], dtype=object),
        np.array(["in0", "hidden"], dtype=np.dtypes.StringDType()),
    ):
        converted = as_unicode(strings)
        assert converted.dtype.kind == "U" and converted.tolist() == ["in0", "hidden"]
    grid = as_unicode(np.array([["a", "bc"], ["d", "e"]], dtype=object))
    assert grid.dtype == np.dtype("<U2") and grid.shape == (2, 2)
    for shape in ((0,), (2, 0)):
        empty = as_unicode(np.empty(shape, dtype=object))
        assert empty.dtype.kind == "U" and empty.shape == shape
