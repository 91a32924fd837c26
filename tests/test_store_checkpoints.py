"""Checkpoints with manifests: the newest valid one is read, a corrupt or partial newest one
falls back to the previous with a warning naming it, and ``RunStore.resume`` cuts the store
back to the checkpoint's positions, or refuses with the store untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from neurosim.errors import ValidationError
from neurosim.recording import CheckpointWarning, RunStore, open_run
from tests.test_store import make_store, steps


def directory_digest(path: Path) -> str:
    """A hash of every file's name and bytes under ``path``."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            digest.update(str(file.relative_to(path)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def stopped_store(path: Path) -> None:
    """A store with two checkpoints (after steps 0..15 and 0..31), then steps up to 47, a
    snapshot and a metric written after the second, and stopped (interrupted)."""
    store = make_store(path)
    store.append(*steps(0, 16))
    store.snapshot_weights(15, np.full(6, 1.0), np.zeros(6))
    store.write_checkpoint({"weights": np.full(4, 1.0), "step": np.array(16)}, {"at": 16})
    store.append(*steps(16, 16))
    store.write_metric("early", 1.0, ())
    store.write_checkpoint({"weights": np.full(4, 2.0), "step": np.array(32)}, {"at": 32})
    store.append(*steps(32, 16))
    store.snapshot_weights(40, np.full(6, 3.0), np.zeros(6))
    store.write_metric("late", 2.0, ())
    store.close("interrupted", "stopped by the test")


def test_resume_cuts_the_store_back_to_the_newest_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.zarr"
    stopped_store(path)
    store, arrays, attributes = RunStore.resume(path)
    assert attributes == {"at": 32} and int(arrays["step"]) == 32
    run = open_run(path)
    assert run.status == "running"
    assert run.array("trajectory", "time").tolist() == list(range(32))
    assert run.array("weights", "snapshot_time").tolist() == [15]
    assert run.names("metrics") == ["early"]  # written after the checkpoint: removed
    store.append(*steps(32, 8))
    store.close()
    dataset = xr.open_zarr(path, group="trajectory")
    assert dataset["time"].values.tolist() == list(range(40))
    np.testing.assert_array_equal(dataset["dz"].values, steps(0, 40)[1]["dz"])


def events(start: int, count: int) -> dict[str, np.ndarray]:
    """Event rows whose values say which rows they are."""
    rows = np.arange(start, start + count)
    return {"t": rows * 0.5, "neuron": rows % 4, "kind": np.zeros(count, np.int8)}


def test_resume_cuts_events_a_killed_append_left_beyond_the_consolidated_metadata(
    tmp_path: Path,
) -> None:
    """A writer killed while committing an append of events, after it wrote the rows and the
    count (``events_done``) but before it consolidated the group's metadata: the consolidated
    copy still says 5 rows, the columns hold 8. Resumed from the checkpoint after row 5, the
    store holds rows 0-4, then the ones appended after the resume, with none of the killed
    append's in between."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    store.append(*steps(0, 4))
    store.append_events(events(0, 5), kinds=("spike",))
    store.write_checkpoint({"step": np.array(4)}, {"at": 4})
    # the killed append: rows 5-7 written, the count committed, the group not consolidated
    for name, values in events(5, 3).items():
        column = zarr.open_array(path / "events" / name, mode="r+")
        column.resize((8,))
        column[5:8] = values
    root = zarr.open_group(path, mode="r+", use_consolidated=False)
    root.update_attributes({"events_done": 8})
    assert zarr.open_group(path, mode="r")["events"]["t"].shape == (5,)  # the stale copy

    store, _, attributes = RunStore.resume(path)
    assert attributes == {"at": 4}
    store.append_events(events(100, 2))
    store.close()
    run = open_run(path)
    expected = {name: np.concatenate([events(0, 5)[name], events(100, 2)[name]])
                for name in ("t", "neuron", "kind")}  # fmt: skip
    for name, values in expected.items():
        np.testing.assert_array_equal(run.array("events", name), values, err_msg=name)
    on_disk = zarr.open_array(path / "events" / "t", mode="r")
    assert on_disk.shape == (7,)


@pytest.mark.filterwarnings("ignore:Object at state_old is not recognized")  # zarr, consolidating
def test_a_folder_among_the_checkpoints_that_is_not_one_is_left_alone(tmp_path: Path) -> None:
    """Only ``stateK`` folders (K a number) are checkpoints: a user's ``state_old`` copy is
    neither read, nor numbered, nor removed."""
    path = tmp_path / "run.zarr"
    stopped_store(path)
    kept = path / "checkpoint" / "state_old"
    kept.mkdir()
    (kept / "notes.txt").write_text("a copy")
    store, arrays, attributes = RunStore.resume(path)
    assert attributes == {"at": 32} and int(arrays["step"]) == 32
    store.append(*steps(32, 8))
    store.write_checkpoint({"weights": np.full(4, 3.0), "step": np.array(40)}, {"at": 40})
    store.close()
    assert sorted(entry.name for entry in (path / "checkpoint").iterdir() if entry.is_dir()) == [
        "state1", "state2", "state_old"
    ]  # fmt: skip
    assert (kept / "notes.txt").read_text() == "a copy"
    assert open_run(path).checkpoint()[1] == {"at": 40}


def test_resume_removes_the_temporary_files_of_a_write_killed_part_way(tmp_path: Path) -> None:
    """zarr writes a local file through ``NAME.partial`` and renames it: a writer killed in
    between leaves the ``.partial`` file, which resuming removes (and nothing else)."""
    path = tmp_path / "run.zarr"
    stopped_store(path)
    leftovers = [path / "neurons" / "layer" / "zarr.json.partial", path / "zarr.json.partial"]
    for leftover in leftovers:
        leftover.write_bytes(b"cut short")
    store, _, _ = RunStore.resume(path)
    store.close()
    assert [leftover.exists() for leftover in leftovers] == [False, False]
    assert open_run(path).array("trajectory", "time").tolist() == list(range(32))


@pytest.mark.parametrize(
    "damage", ["flip a chunk's bytes", "delete the manifest", "garble its metadata"]
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "run.zarr"
    stopped_store(path)
    newest = path / "checkpoint" / "state1"
    if damage == "flip a chunk's bytes":
        chunk = next((newest / "weights" / "c").rglob("*"))
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
        reason = "its array 'weights' (does not match its checksum|cannot be read)"
    elif damage == "garble its metadata":
        (newest / "zarr.json").write_text("{ half written")
        reason = r"its metadata cannot be read \("
    else:
        metadata = json.loads((newest / "zarr.json").read_text())
        del metadata["attributes"]["manifest"]
        (newest / "zarr.json").write_text(json.dumps(metadata))
        reason = "it has no manifest"
    with pytest.warns(CheckpointWarning, match=f"checkpoint state1 is skipped: {reason}") as warned:
        arrays, attributes = open_run(path).checkpoint()
    assert warned[0].filename == __file__  # the warning points at the caller's line
    assert attributes == {"at": 16}
    np.testing.assert_array_equal(arrays["weights"], np.full(4, 1.0))
    (newest / "leftover.abc123.partial").write_bytes(b"half a file")
    with pytest.warns(CheckpointWarning, match="using state0"):
        store, arrays, attributes = RunStore.resume(path)
    assert attributes == {"at": 16}
    assert not newest.exists()  # the damaged checkpoint is cleaned away
    assert (path / "checkpoint" / "state0").is_dir()  # the one resumed from is kept
    assert open_run(path).array("trajectory", "time").tolist() == list(range(16))
    assert open_run(path).names("metrics") == []
    store.close("interrupted")


@pytest.mark.filterwarnings("ignore:Consolidated metadata")  # the test writes it as format 1 did
def test_a_checkpoint_of_store_format_1_is_read_as_it_was_written(tmp_path: Path) -> None:
    """Format 1 kept one checkpoint without a manifest: the subgroup that the checkpoint
    group's attribute ``latest`` names, its attributes the caller's. A store without that
    attribute has no checkpoint to resume from; one of format 1 is resumed."""
    path = tmp_path / "run.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(path) as store:
        store.append(*steps(0, 8))
        raise KeyboardInterrupt
    checkpoint = zarr.open_group(path, path="checkpoint", mode="a", use_consolidated=False)
    state = checkpoint.create_group("kept", attributes={"epoch": 3})
    state.create_array("weights", data=np.arange(4.0))
    zarr.consolidate_metadata(path)
    with pytest.raises(ValidationError, match="no valid checkpoint to resume from"):
        RunStore.resume(path)
    checkpoint.attrs["latest"] = "kept"
    root = zarr.open_group(path, mode="a", use_consolidated=False)
    root.attrs["store_format"] = 1
    zarr.consolidate_metadata(path)
    assert open_run(path).attributes["store_format"] == 1
    arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"epoch": 3}
    np.testing.assert_array_equal(arrays["weights"], np.arange(4.0))
    # a numbered checkpoint cut short beside it is newer than format 1's: resume removes it
    checkpoint.create_group("state0")
    zarr.consolidate_metadata(path)
    with pytest.warns(CheckpointWarning, match="checkpoint state0 is skipped"):
        store, arrays, attributes = RunStore.resume(path)
    store.close("interrupted")
    assert attributes == {"epoch": 3}
    assert not (path / "checkpoint" / "state0").exists()
    assert (path / "checkpoint" / "kept").is_dir()


def test_refused_resumes_leave_the_store_untouched(tmp_path: Path) -> None:
    complete = tmp_path / "complete.zarr"
    stopped_store(complete)
    store, _, _ = RunStore.resume(complete)
    store.close()
    del store
    without = tmp_path / "without.zarr"
    with pytest.raises(KeyboardInterrupt), make_store(without) as store:
        store.append(*steps(0, 4))
        raise KeyboardInterrupt
    other_format = tmp_path / "format.zarr"
    stopped_store(other_format)
    metadata = json.loads((other_format / "zarr.json").read_text())
    metadata["attributes"]["store_format"] = 99
    (other_format / "zarr.json").write_text(json.dumps(metadata))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a store")
    cases = [
        (complete, "the run is complete; there is nothing to resume"),
        (without, r"no valid checkpoint to resume from \(the run stopped before its first "),
        (other_format, "written in store format 99"),
        (foreign, "is not a neurosim run store"),
    ]
    for path, message in cases:
        before = directory_digest(path)
        with pytest.raises(ValidationError, match=message):
            RunStore.resume(path)
        assert directory_digest(path) == before, path


def test_checkpoint_keep_is_at_least_two(tmp_path: Path) -> None:
    with make_store(tmp_path / "keep.zarr") as store:
        with pytest.raises(ValidationError, match="checkpoint_keep"):
            store.checkpoint_keep = 1
        store.checkpoint_keep = 3
        for number in range(5):
            store.write_checkpoint({"n": np.array(number)}, {})
    folder = tmp_path / "keep.zarr" / "checkpoint"
    kept = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    assert kept == ["state2", "state3", "state4"]
