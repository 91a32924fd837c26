"""Tests of neurosim.recording.store: the zarr v3 run store, as written and as xarray reads it."""

from __future__ import annotations

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
import pytest
import zarr

from neurosim.errors import ValidationError
from neurosim.recording import (
    ArraySpec,
    RunInterrupted,
    RunStore,
    open_run,
    stop_on_signals,
)

xr = pytest.importorskip("xarray")

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


def steps(start: int, count: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps ``start..start+count-1`` with values that depend on the step, for every spec."""
    time_values = np.arange(start, start + count, dtype=np.int64)
    offsets = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 2, 3)
    state = time_values[:, None, None, None] + offsets / 100
    dz = np.sin(time_values)[:, None] * np.array([1.0, -2.0, 3.0])
    fake_target = (time_values[:, None] + np.arange(3)) % 3 == 0
    return time_values, {"state": state, "dz": dz, "fake_target": fake_target}


def read_trajectory(path: Path) -> dict[str, np.ndarray]:
    reader = open_run(path)
    return {name: reader.array("trajectory", name) for name in ["time", *SPECS]}


def expected_trajectory(count: int) -> dict[str, np.ndarray]:
    time_values, values = steps(0, count)
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
    assert metrics["final_error"].sel(seed=2).item() == pytest.approx(0.2)
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
    if step > 100 and not ready.exists():
        ready.write_text(str(store.steps_done))
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


def test_the_latest_checkpoint_replaces_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.zarr"
    with make_store(path) as store:
        assert open_run(path).checkpoint() is None
        store.write_checkpoint({"state": np.ones((2, 3)), "order": np.arange(5)}, {"stage": 1})
        store.write_checkpoint({"state": np.full((2, 3), 2.0)}, {"stage": 2, "note": "x"})
    arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"stage": 2, "note": "x"}
    assert set(arrays) == {"state"}
    np.testing.assert_array_equal(arrays["state"], np.full((2, 3), 2.0))
    # only the latest is kept on disk
    assert len([p for p in (path / "checkpoint").iterdir() if p.is_dir()]) == 1


def test_a_checkpoint_cut_short_leaves_the_previous_one_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import neurosim.recording.store as store_module

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
    arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"stage": 1}
    np.testing.assert_array_equal(arrays["state"], np.zeros(4))
