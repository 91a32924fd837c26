"""Tests of ``RunStore``, the writer of the run store: how it is created, what each write and
each way of closing leaves on disk, and what it refuses, as ``open_run`` and xarray read it."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

import neurosim.recording.writer as writer_module
from neurosim.errors import StoreWriteError, ValidationError
from neurosim.recording import ArraySpec, RunInterrupted, RunStore, open_run

ROLES = np.array(["input", "input", "hidden", "output"])
NAMES = np.array(["in0", "in1", "h0", "out0"])
LAYERS = np.array([0, 0, 1, 2])
EDGE_SRC = np.array([0, 1, 2])
EDGE_DST = np.array([2, 2, 3])
SPECS = {
    "rate": ArraySpec(("neuron",), (4,), "float32"),
    "spike": ArraySpec(("neuron",), (4,), bool),
}


def create_arguments(**overrides: Any) -> dict[str, Any]:
    """``RunStore.create``'s keyword arguments for a four-neuron network, with ``overrides``."""
    arguments: dict[str, Any] = {
        "attributes": {"scenario": {"name": "writer"}, "backend": "sync", "seed": 3},
        "neurons": {"role": ROLES, "layer": LAYERS, "name": NAMES},
        "arrays": SPECS,
        "recorded_neurons": None,
        "edge_src": EDGE_SRC,
        "edge_dst": EDGE_DST,
        "time_chunk": 4,
    }
    arguments.update(overrides)
    return arguments


def make_store(path: Path, **overrides: Any) -> RunStore:
    """A new store at ``path``; ``overrides`` replace ``create``'s arguments."""
    return RunStore.create(path, **create_arguments(**overrides))


def steps(start: int, count: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps ``start..start+count-1`` with values that depend on the step number."""
    time_values = np.arange(start, start + count, dtype=np.int64)
    rate = time_values[:, None] + np.arange(4) / 10
    spike = (time_values[:, None] + np.arange(4)) % 2 == 0
    return time_values, {"rate": rate, "spike": spike}


def assert_holds_steps(path: Path, count: int) -> None:
    """The store at ``path`` holds exactly the steps ``0..count-1``, each with its values."""
    reader = open_run(path)
    assert reader.steps_done == count
    time_values, values = steps(0, count)
    np.testing.assert_array_equal(reader.array("trajectory", "time"), time_values)
    np.testing.assert_array_equal(
        reader.array("trajectory", "rate"), values["rate"].astype(np.float32)
    )
    np.testing.assert_array_equal(reader.array("trajectory", "spike"), values["spike"])


def break_chunk_directory(path: Path) -> None:
    """Make every trajectory chunk write of the store at ``path`` fail (as a full or broken
    disk would): a plain file stands where the chunks' directory goes."""
    for name in ("time", *SPECS):
        chunks = path / "trajectory" / name / "c"
        if chunks.is_dir():
            shutil.rmtree(chunks)
        chunks.write_text("not a directory")


# --------------------------------------------------------------------------------------------
# creating a store


def test_create_makes_missing_parent_directories_and_uses_a_256_step_default_chunk(
    tmp_path: Path,
) -> None:
    """A store may be created several directories deep; without ``time_chunk`` it chunks (and
    buffers) 256 steps along ``time``."""
    path = tmp_path / "results" / "2024" / "run.zarr"
    arguments = create_arguments()
    del arguments["time_chunk"]
    with RunStore.create(path=path, **arguments) as store:
        assert store.time_chunk == 256
        store.append(*steps(0, 300))
        assert (store.steps_done, store.buffered_steps) == (256, 44)
    assert_holds_steps(path, 300)
    stored = zarr.open_group(path, mode="r")["trajectory"]["rate"]
    assert stored.chunks == (256, 4)


def test_a_one_step_chunk_writes_every_step_at_once(tmp_path: Path) -> None:
    """``time_chunk=1`` is allowed: every appended step is on disk when ``append`` returns."""
    path = tmp_path / "run.zarr"
    with make_store(path, time_chunk=1) as store:
        store.append(*steps(0, 3))
        assert (store.steps_done, store.buffered_steps) == (3, 0)
        assert open_run(path).steps_done == 3
    assert_holds_steps(path, 3)


def test_create_takes_everything_but_the_path_by_keyword(tmp_path: Path) -> None:
    """``create`` and the constructor refuse their options given by position, so that no
    argument lands in the wrong place."""
    arguments = create_arguments()
    with pytest.raises(TypeError):
        RunStore.create(tmp_path / "a.zarr", *arguments.values())  # type: ignore[misc]
    assert list(tmp_path.iterdir()) == []

    path = tmp_path / "run.zarr"
    make_store(path).close()
    with pytest.raises(TypeError):
        RunStore(path, SPECS, 4, 3, np.arange(4), 4, np.dtype(np.float64))  # type: ignore[misc]


def test_overwrite_replaces_an_empty_directory_but_never_a_file(tmp_path: Path) -> None:
    """``overwrite=True`` creates the store in an existing empty directory; an existing file
    or a directory that is not a run store is refused with a message naming it, and kept."""
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    with make_store(empty, overwrite=True) as store:
        store.append(*steps(0, 2))
    assert_holds_steps(empty, 2)

    foreign_group = {"zarr_format": 3, "node_type": "group", "attributes": {"project": "mine"}}
    for target in (tmp_path / "notes.txt", tmp_path / "other", tmp_path / "group.zarr"):
        if target.suffix == ".txt":
            target.write_text("keep me")
        elif target.suffix:  # another zarr group: a root like a new store's, nothing else
            target.mkdir()
            (target / "zarr.json").write_text(json.dumps(foreign_group))
        else:
            target.mkdir()
            (target / "data.csv").write_text("keep me")
        expected = f"{target} exists and is not a neurosim run store; refusing to overwrite it"
        with pytest.raises(ValidationError, match=re.escape(expected)):
            make_store(target, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "other" / "data.csv").read_text() == "keep me"
    assert json.loads((tmp_path / "group.zarr" / "zarr.json").read_text()) == foreign_group
    del store  # its writer gone, the store's lock file beside it is too
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "empty.zarr", "group.zarr", "notes.txt", "other"
    ]  # fmt: skip


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_while_building_leaves_nothing_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """Whatever stops the building of a new store (an error, Ctrl-C), its partial files are
    removed and that error is the one raised."""
    build = writer_module._build

    def failing_build(building: Path, **arguments: Any) -> None:
        build(building, **arguments)
        raise error

    monkeypatch.setattr(writer_module, "_build", failing_build)
    with pytest.raises(type(error)) as raised:
        make_store(tmp_path / "run.zarr")
    assert raised.value is error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("root", [None, "{ half written", "{}", "[]"])
def test_overwrite_never_takes_a_folder_of_first_entries_for_a_store_cut_short(
    tmp_path: Path, root: str | None
) -> None:
    """A folder holding only what a new store's creation writes first (a ``trajectory``
    folder, a root ``zarr.json``) is replaced by --overwrite only when that root marks a
    creation cut short; a root that is missing, unreadable or of another shape is not that,
    so the folder is refused as not neurosim's and kept."""
    target = tmp_path / "results.zarr"
    (target / "trajectory").mkdir(parents=True)
    if root is not None:
        (target / "zarr.json").write_text(root)
    with pytest.raises(ValidationError, match="is not a neurosim run store; refusing"):
        make_store(target, overwrite=True)
    assert (target / "trajectory").is_dir()
    assert root is None or (target / "zarr.json").read_text() == root


def test_a_failed_build_over_an_existing_store_leaves_its_directory_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--overwrite of an existing store whose new build fails: the directory was there before,
    so it stays (its owner, mode and any mount are the user's), emptied."""
    path = tmp_path / "run.zarr"
    make_store(path).close()

    def failing_build(building: Path, **arguments: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "_build", failing_build)
    with pytest.raises(OSError, match="disk full"):
        make_store(path, overwrite=True)
    assert path.is_dir() and list(path.iterdir()) == []


def test_the_build_error_is_reported_even_when_its_files_are_already_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the partial store cannot be found to remove, the error that stopped the build is
    still the one raised."""

    def vanishing_build(building: Path, **arguments: Any) -> None:
        shutil.rmtree(building)
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(writer_module, "_build", vanishing_build)
    with pytest.raises(RuntimeError, match="the disk went away"):
        make_store(tmp_path / "run.zarr")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# appending steps


def test_every_split_of_the_steps_stores_the_same_trajectory(tmp_path: Path) -> None:
    """Appending nothing changes nothing; one step followed by more than a chunk, a single
    buffered step on close, and pieces landing exactly on chunk boundaries all store each
    step once, in order, with its values."""
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        store.append(*steps(0, 0))
        assert (store.steps_appended, store.steps_done) == (0, 0)
        store.append(*steps(0, 1))  # one buffered step
        store.append(*steps(1, 9))  # fills the chunk, then a whole chunk, then one more
        assert (store.steps_done, store.buffered_steps) == (8, 2)
        store.append(*steps(10, 0))
        assert store.steps_appended == 10
        store.append(*steps(10, 2))  # exactly up to the next boundary
        assert (store.steps_done, store.buffered_steps) == (12, 0)
        store.append(*steps(12, 4))  # exactly one chunk
        store.append(*steps(16, 1))  # one step left in the buffer at close
        assert (store.steps_done, store.buffered_steps) == (16, 1)
    assert_holds_steps(path, 17)

    flushed = tmp_path / "flushed.zarr"
    with make_store(flushed) as store:
        store.append(*steps(0, 1))
        store.flush()
        assert (store.steps_done, open_run(flushed).steps_done) == (1, 1)
        store.append(*steps(1, 1))
        store.flush()
        store.flush()  # nothing buffered: no change
        assert open_run(flushed).steps_done == 2
    assert_holds_steps(flushed, 2)


# --------------------------------------------------------------------------------------------
# reopening a stopped run


def test_a_store_without_weight_snapshots_has_no_rows_of_them(tmp_path: Path) -> None:
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        store.append(*steps(0, 3))
    on_disk = zarr.open_group(path, mode="r", use_consolidated=False)
    for name in ("W", "b", "snapshot_time"):
        assert on_disk["weights"][name].shape[0] == 0, name
    assert open_run(path).snapshots_done == 0


def test_reopening_cuts_what_a_killed_writer_left_for_every_reader(tmp_path: Path) -> None:
    """Steps and snapshots written but never committed by a killed writer are gone once the
    run is reopened: xarray (which reads the arrays whole) sees only the committed ones, even
    when the resumed run adds nothing."""
    path = tmp_path / "killed.zarr"
    store = make_store(path)
    store.append(*steps(0, 4))
    store.snapshot_weights(0, np.array([0.1, 0.2, 0.3]), np.zeros(4))
    # what a writer killed between writing its data and committing it leaves behind
    for name in ("time", *SPECS):
        array = zarr.open_array(path / "trajectory" / name, mode="r+")
        array.resize((7, *array.shape[1:]))
    for name in ("W", "b", "snapshot_time"):
        array = zarr.open_array(path / "weights" / name, mode="r+")
        array.resize((2, *array.shape[1:]))

    with RunStore.reopen(path) as reopened:
        assert (reopened.steps_done, reopened.snapshots_done) == (4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trajectory = xr.open_zarr(path, group="trajectory")
        weights = xr.open_zarr(path, group="weights")
    assert trajectory.sizes["time"] == 4
    np.testing.assert_array_equal(trajectory["time"].values, np.arange(4))
    assert weights.sizes["snapshot"] == 1
    np.testing.assert_array_equal(weights["W"].values, [[0.1, 0.2, 0.3]])
    on_disk = zarr.open_group(path, mode="r", use_consolidated=False)
    assert on_disk["trajectory"]["rate"].shape == (4, 4)
    assert on_disk["weights"]["b"].shape == (1, 4)


# --------------------------------------------------------------------------------------------
# closing: status and message


@pytest.mark.parametrize(
    ("interruption", "message"),
    [
        (KeyboardInterrupt(), "KeyboardInterrupt (Ctrl-C)"),
        (KeyboardInterrupt("stopped at epoch 3"), "stopped at epoch 3"),
        (RunInterrupted(), "terminated by SIGTERM"),
        (RunInterrupted("asked to stop by the scheduler"), "asked to stop by the scheduler"),
    ],
)
def test_an_interruption_is_recorded_with_its_own_message_or_a_default(
    tmp_path: Path, interruption: KeyboardInterrupt, message: str
) -> None:
    """Leaving the block on Ctrl-C or a stop request marks the store ``interrupted`` with the
    exception's message, or, when it has none, with what interrupted the run."""
    path = tmp_path / "run.zarr"
    with pytest.raises(type(interruption)), make_store(path) as store:
        store.append(*steps(0, 2))
        raise interruption
    reader = open_run(path)
    assert (reader.status, reader.status_message) == ("interrupted", message)
    assert_holds_steps(path, 2)


def test_close_names_the_statuses_it_allows(tmp_path: Path) -> None:
    """A status that ``close`` does not take is refused with the list of those it does."""
    store = make_store(tmp_path / "run.zarr")
    for status in ("running", "done"):
        allowed = "complete, failed, interrupted"
        expected = f"close: status {status!r} is not allowed; allowed: {allowed}"
        with pytest.raises(ValidationError, match=f"^{re.escape(expected)}$"):
            store.close(status)
    assert not store.closed and open_run(store.path).status == "running"


@pytest.mark.parametrize(
    ("message", "prefix"),
    [(None, ""), ("", ""), ("stopped by the user", "stopped by the user; ")],
)
def test_a_failed_final_write_marks_the_store_failed_and_says_why(
    tmp_path: Path, message: str | None, prefix: str
) -> None:
    """When the buffered steps cannot be written at ``close``, a ``StoreWriteError`` naming
    the store and the file system's error propagates and the store is ``failed``, its message
    that error after the caller's message; the steps written before stay readable."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    store.append(*steps(0, 6))  # 4 written, 2 buffered
    break_chunk_directory(path)
    with pytest.raises(StoreWriteError) as raised:
        store.close("interrupted", message)
    error = raised.value
    assert isinstance(error.__cause__, OSError)
    assert str(error).startswith(f"writing steps 4 to 5 to the run store {path} failed: ")
    # the chunks' directory is a file: cutting the arrays back fails as well
    assert str(error).endswith(
        "4 committed steps and 0 weight snapshots (cutting back the arrays failed too)"
    )
    assert store.closed and store.status == "failed"
    reader = open_run(path)
    assert reader.status == "failed"
    assert reader.status_message == f"{prefix}{error}"
    assert reader.steps_done == 4
    assert len(reader.array("trajectory", "rate")) == 4


def test_a_failed_write_whose_arrays_are_cut_back_says_only_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails on a disk that still takes the cut (the arrays shrunk back to the
    committed steps) names the failure and what the store keeps, and nothing more."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    store.append(*steps(0, 6))  # 4 written, 2 buffered

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zarr.Array, "__setitem__", full_disk)
    with pytest.raises(StoreWriteError) as raised:
        store.close("interrupted")
    monkeypatch.undo()
    assert str(raised.value).endswith(
        "No space left on device; the store keeps 4 committed steps and 0 weight snapshots"
    )
    reader = open_run(path)
    assert reader.steps_done == 4
    np.testing.assert_array_equal(reader.array("trajectory", "time"), np.arange(4))


def test_a_failed_final_write_never_hides_the_runs_own_error(tmp_path: Path) -> None:
    """An error inside the block propagates even when closing the store then fails too; the
    closing failure is attached to it as a note, and the store says both."""
    path = tmp_path / "run.zarr"
    with pytest.raises(FloatingPointError, match="state became NaN") as raised:  # noqa: SIM117
        with make_store(path) as store:
            store.append(*steps(0, 2))
            break_chunk_directory(path)
            raise FloatingPointError("state became NaN")
    notes = getattr(raised.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith(f"closing the run store {path} also failed: ")
    reader = open_run(path)
    assert reader.status == "failed"
    assert reader.status_message.startswith(
        f"FloatingPointError: state became NaN; writing steps 0 to 1 to the run store {path} "
        "failed: "
    )
    assert reader.steps_done == 0


def test_a_failed_write_inside_the_block_propagates_once_without_a_closing_note(
    tmp_path: Path,
) -> None:
    """A write that fails inside the block (a full disk) raises its ``StoreWriteError``;
    closing raises that same error again, which is not reported as a second failure: the
    error carries no note and the store's message names it once."""
    path = tmp_path / "run.zarr"
    with pytest.raises(StoreWriteError) as raised:  # noqa: SIM117
        with make_store(path) as store:
            store.append(*steps(0, 4))  # one whole chunk: written
            break_chunk_directory(path)
            store.append(*steps(4, 4))  # the next chunk fails
    error = raised.value
    assert getattr(error, "__notes__", []) == []
    assert store.write_error is error
    reader = open_run(path)
    assert reader.status == "failed"
    assert reader.status_message.count(str(error)) == 1
    assert reader.steps_done == 4
    assert len(reader.array("trajectory", "rate")) == 4


# --------------------------------------------------------------------------------------------
# attributes, events and checkpoints


def test_set_attribute_needs_a_non_empty_string_key(tmp_path: Path) -> None:
    """An empty or non-string key is refused, naming it, and nothing is stored."""
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        for key in ("", 5, None):
            expected = f"set_attribute: key must be a non-empty string, got {key!r}"
            with pytest.raises(ValidationError, match=re.escape(expected)):
                store.set_attribute(key, "value")  # type: ignore[arg-type]
        store.set_attribute("note", "kept")
    attributes = open_run(path).attributes
    assert attributes["note"] == "kept"
    assert not {"", "5", "null"} & set(attributes)


def test_the_count_of_simulated_steps_is_a_whole_number_from_zero(tmp_path: Path) -> None:
    """``steps_simulated`` takes 0 and up, refuses a negative count naming it, and is on
    disk after the commit."""
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        store.steps_simulated = 0
        with pytest.raises(ValidationError, match="steps_simulated = -1"):
            store.steps_simulated = -1
        assert store.steps_simulated == 0
        store.steps_simulated = 12
    assert open_run(path).attributes["steps_simulated"] == 12


def test_events_need_one_dimensional_columns_of_one_length(tmp_path: Path) -> None:
    """Columns of different lengths, or any column that is not 1-D, are refused with their
    shapes, and leave the events stored so far as they were."""
    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        store.append_events({"t": np.array([0.5, 1.5]), "neuron": np.array([0, 2])})
        bad_columns = [
            {"t": np.array([2.5, 3.5, 4.5]), "neuron": np.array([1, 3])},
            {"t": np.array([[2.5, 3.5]]), "neuron": np.array([[1, 3]])},
            {"t": np.array(2.5), "neuron": np.array(1)},
        ]
        for columns in bad_columns:
            with pytest.raises(ValidationError, match=r"columns must be 1-D of one length: \{"):
                store.append_events(columns)
        store.append_events({"t": np.array([2.5]), "neuron": np.array([1])})
    reader = open_run(path)
    assert reader.attributes["events_done"] == 3
    np.testing.assert_array_equal(reader.array("events", "t"), [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(reader.array("events", "neuron"), [0, 2, 1])


def test_a_checkpoint_after_one_cut_short_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint written after one that was cut short replaces the leftovers and is in
    force; and a new checkpoint is written even when the one it supersedes is already gone
    from disk."""
    import neurosim.recording.checkpoint as checkpoint_module

    path = tmp_path / "run.zarr"
    write_whole = checkpoint_module._write_whole

    def dying_write(group: zarr.Group, name: str, *arguments: Any) -> None:
        if name == "order":
            raise KeyboardInterrupt
        write_whole(group, name, *arguments)

    with make_store(path) as store:
        store.write_checkpoint({"state": np.zeros(3)}, {"stage": 1})
        monkeypatch.setattr(checkpoint_module, "_write_whole", dying_write)
        with pytest.raises(KeyboardInterrupt):
            store.write_checkpoint({"state": np.ones(3), "order": np.arange(2)}, {"stage": 2})
        monkeypatch.setattr(checkpoint_module, "_write_whole", write_whole)
        store.write_checkpoint({"state": np.full(3, 3.0)}, {"stage": 3})
        arrays, attributes = open_run(path).checkpoint()
        assert attributes == {"stage": 3} and set(arrays) == {"state"}
        np.testing.assert_array_equal(arrays["state"], np.full(3, 3.0))

        for state in (path / "checkpoint").iterdir():
            if state.is_dir():
                shutil.rmtree(state)  # the checkpoint in force, lost
        store.write_checkpoint({"state": np.full(3, 4.0)}, {"stage": 4})
    arrays, attributes = open_run(path).checkpoint()
    assert attributes == {"stage": 4}
    np.testing.assert_array_equal(arrays["state"], np.full(3, 4.0))


def test_metrics_written_together_are_committed_once_at_the_end(tmp_path) -> None:
    """Inside ``metrics_together`` each metric is written but the consolidated metadata
    (what xarray reads) is rewritten only when the block ends; an error inside the block
    still commits what was written before it."""
    store = make_store(tmp_path / "run.zarr")
    commits = []
    consolidate = writer_module._consolidate

    def counted(zarr_store, groups):
        commits.append(groups)
        return consolidate(zarr_store, groups)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer_module, "_consolidate", counted)
        with store.metrics_together():
            store.write_metric("first", 1.0, ())
            store.write_metric("second", np.arange(3.0), ("k",))
            assert commits == []
            assert "first" not in xr.open_zarr(store.path, group="metrics").data_vars
        assert commits == [("metrics",)]
        with pytest.raises(RuntimeError), store.metrics_together():
            store.write_metric("third", 3.0, ())
            raise RuntimeError("an analysis failed")
        assert len(commits) == 2
    metrics = xr.open_zarr(store.path, group="metrics")
    assert sorted(metrics.data_vars) == ["first", "second", "third"]
    assert float(metrics["third"]) == 3.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer_module, "_consolidate", counted)
        with store.metrics_together():
            with store.metrics_together():  # a nested block: the outer one commits
                store.write_metric("fourth", 4.0, ())
            assert len(commits) == 2
        assert commits[2:] == [("metrics",)]


def test_a_failed_metric_write_after_close_marks_the_store_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A metric an analysis adds to a closed store, on a disk that then fails: the store is
    no longer complete, and says why; an error without an errno is named by its text."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    store.append(*steps(0, 4))
    store.close()

    def failing_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError("the quota of the project is used up")

    monkeypatch.setattr(zarr.Array, "__setitem__", failing_disk)
    with pytest.raises(StoreWriteError) as raised:
        store.write_metric("late", 1.0, ())
    monkeypatch.undo()
    assert str(raised.value).startswith(
        f"writing the metric 'late' to the run store {path} failed: the quota of the project "
        "is used up; the store keeps 4 committed steps"
    )
    reader = open_run(path)
    assert reader.status == "failed" and reader.status_message == str(raised.value)


def test_a_failed_series_write_names_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = {"samples": {"label": ArraySpec(("sample",), (0,), "int64")}}
    store = make_store(tmp_path / "run.zarr", series=series, series_chunk=4)
    store.append_series("samples", {"label": np.arange(4)})  # one chunk: written
    monkeypatch.setattr(zarr.Array, "__setitem__", lambda *a, **k: (_ for _ in ()).throw(
        OSError(28, "No space left on device")))  # fmt: skip
    with pytest.raises(StoreWriteError, match=r"^writing rows 4 to 7 of the series 'samples' "):
        store.append_series("samples", {"label": np.arange(4, 8)})
    monkeypatch.undo()
    assert open_run(store.path).series("samples")["label"].tolist() == [0, 1, 2, 3]
    on_disk = zarr.open_group(store.path, mode="r", use_consolidated=False)
    assert on_disk["samples/label"].shape == (4,)  # cut back to the committed rows
    with pytest.raises(StoreWriteError):  # closing says again that writing failed
        store.close("interrupted")
