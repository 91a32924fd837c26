"""Tests of what a run store accepts and what reading it back gives: ``ArraySpec`` and
``write_metric`` argument checks, the metrics group's dims and coordinates, chunk shapes of
tiny and empty dims, and ``open_run`` on stores that a fault or another tool left behind."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from neurosim.errors import ValidationError
from neurosim.recording import GROUPS, ArraySpec, RunStore, as_unicode, open_run


def make_store(path: Path, **overrides: Any) -> RunStore:
    """A store for a three-neuron network with two synapses; ``overrides`` replace arguments."""
    arguments: dict[str, Any] = {
        "attributes": {"scenario": {"name": "read"}, "backend": "sync", "seed": 1},
        "neurons": {
            "role": ["input", "hidden", "output"],
            "layer": [0, 1, 2],
            "name": ["i", "h", "o"],
        },
        "arrays": {"v": ArraySpec(("neuron",), (3,), "float64")},
        "recorded_neurons": None,
        "edge_src": [0, 1],
        "edge_dst": [1, 2],
        "time_chunk": 4,
    }
    arguments.update(overrides)
    return RunStore.create(path, **arguments)


@contextmanager
def metadata_not_refreshed(path: Path, groups: tuple[str, ...] = GROUPS) -> Iterator[None]:
    """Leave the store as a writer killed inside the block's commit leaves it: the new data
    and array shapes on disk, but the consolidated metadata of ``groups`` and of the root, and
    the root attributes (``steps_done``, ``snapshots_done``), as they were before."""
    group_files = [path / "zarr.json", *(path / group / "zarr.json" for group in groups)]
    saved = {file: file.read_bytes() for file in group_files}
    yield
    for file, content in saved.items():
        file.write_bytes(content)


def chunk_shapes(path: Path) -> dict[str, list[int]]:
    """The chunk shape stored for every array under ``path``, by its path in the store."""
    shapes = {}
    for metadata_file in sorted(path.rglob("zarr.json")):
        node = json.loads(metadata_file.read_text())
        if node["node_type"] == "array":
            where = metadata_file.parent.relative_to(path).as_posix()
            shapes[where] = node["chunk_grid"]["configuration"]["chunk_shape"]
    return shapes


# --------------------------------------------------------------------------------------------
# ArraySpec


def test_array_spec_refuses_bad_dims_shapes_and_dtypes_naming_them() -> None:
    """Every malformed declaration raises ValidationError (never a bare TypeError) naming
    what was wrong, and sizes of 0 are allowed while negative ones are not."""
    for dims in (None, 5, {"neuron"}, (d for d in ["neuron"])):
        with pytest.raises(ValidationError, match="dims must be a tuple of names"):
            ArraySpec(dims, (3,), "float32")  # type: ignore[arg-type]
    for dim in ("1st", "a-b", "two words", "", 5):
        with pytest.raises(ValidationError, match=re.escape(f"dim {dim!r} is not allowed")):
            ArraySpec(("copy", dim), (2, 3), "float32")  # type: ignore[arg-type]
    for shape in (None, ("three",), (2.5j,), object()):
        with pytest.raises(ValidationError, match="shape must be a tuple of ints"):
            ArraySpec(("neuron",), shape, "float32")  # type: ignore[arg-type]
    for shape in ((-1,), (3, -2), (-2,)):
        with pytest.raises(ValidationError, match=r"give one size >= 0 per dim"):
            ArraySpec(("neuron", "copy")[: len(shape)], shape, "float32")
    for dtype in ("no_such_dtype", "float33"):
        with pytest.raises(ValidationError, match=f"dtype {dtype!r} is not a numpy dtype"):
            ArraySpec(("neuron",), (3,), dtype)

    empty = ArraySpec(("neuron", "copy"), (0, 2), "int16")
    assert (empty.shape, empty.step_nbytes) == ((0, 2), 0)
    single = ArraySpec(("neuron",), 1, "float64")
    assert (single.dims, single.shape, single.step_nbytes) == (("neuron",), (1,), 8)


def test_array_spec_is_an_immutable_value() -> None:
    """A spec cannot be changed after the checks ran, compares and hashes by value (so it
    can key a dict), and knows the bytes one step of it takes."""
    spec = ArraySpec(("copy", "neuron"), (2, 3), "float32")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.shape = (-1, 3)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.dims = ("time",)  # type: ignore[misc]
    assert spec.shape == (2, 3) and spec.dims == ("copy", "neuron")
    same = ArraySpec(["copy", "neuron"], [2, 3], np.float32)  # type: ignore[arg-type]
    assert spec == same and hash(spec) == hash(same)
    assert {spec: "state"}[same] == "state"
    assert spec.step_nbytes == 2 * 3 * 4
    assert ArraySpec(("neuron",), (5,), bool).step_nbytes == 5
    assert ArraySpec((), (), "int64").step_nbytes == 8


def test_as_unicode_keeps_single_values_and_empty_shapes() -> None:
    """One string comes back as itself (not an empty string), and an empty array keeps its
    shape whatever the position of its zero-length dim."""
    for single in (
        np.array(["hidden"], dtype=object),
        np.array(["hidden"], dtype=np.dtypes.StringDType()),
        np.array([["hidden"]]),
    ):
        converted = as_unicode(single)
        assert converted.dtype.kind == "U" and converted.shape == single.shape
        assert converted.ravel().tolist() == ["hidden"]
    scalar = as_unicode(np.array("layer", dtype=object))
    assert scalar.shape == () and scalar.item() == "layer"
    for shape in ((0, 3), (0, 2, 4), (3, 0)):
        empty = as_unicode(np.empty(shape, dtype=object))
        assert empty.dtype.kind == "U" and empty.shape == shape


# --------------------------------------------------------------------------------------------
# chunk shapes of size-1 and empty dims


def test_whole_arrays_are_one_chunk_of_their_own_shape_even_for_tiny_and_empty_dims(
    tmp_path: Path,
) -> None:
    """Chunk shapes follow the layout (``(time_chunk, *per-step shape)``, ``(1, n_edges)``,
    whole arrays one chunk) for dims of size 1 too, and a dim of size 0 gets a chunk of 1, as
    zarr v3 requires a positive chunk size; such stores round-trip through ``open_run`` and
    xarray."""
    path = tmp_path / "tiny.zarr"
    with make_store(
        path,
        neurons={"role": ["hidden"], "layer": [1], "name": ["h"]},
        arrays={
            "v": ArraySpec(("neuron",), (1,), "float64"),
            "none": ArraySpec(("neuron", "copy"), (1, 0), "float32"),
        },
        edge_src=[],
        edge_dst=[],
    ) as store:
        store.append(np.array([3, 4]), {"v": [[0.5], [1.5]], "none": np.zeros((2, 1, 0))})
        store.snapshot_weights(4, np.zeros(0), np.array([0.25]))
        store.write_metric("one", [7.0], ("trial",))
        store.write_metric("nothing", np.zeros(0), ("sample",))

    chunks = chunk_shapes(path)
    assert {key: chunks[key] for key in chunks if not key.startswith("trajectory/time")} == {
        "metrics/nothing": [1],
        "metrics/one": [1],
        "neurons/layer": [1],
        "neurons/name": [1],
        "neurons/neuron": [1],
        "neurons/role": [1],
        "trajectory/neuron": [1],
        "trajectory/none": [4, 1, 1],
        "trajectory/v": [4, 1],
        "weights/W": [1, 1],
        "weights/b": [1, 1],
        "weights/edge_dst": [1],
        "weights/edge_src": [1],
        "weights/neuron": [1],
        "weights/snapshot_time": [256],
    }

    reader = open_run(path)
    np.testing.assert_array_equal(reader.array("trajectory", "v"), [[0.5], [1.5]])
    assert reader.array("trajectory", "none").shape == (2, 1, 0)
    assert reader.array("weights", "W").shape == (1, 0)
    np.testing.assert_array_equal(reader.array("weights", "b"), [[0.25]])
    assert reader.array("weights", "edge_src").shape == (0,)
    np.testing.assert_array_equal(reader.array("metrics", "one"), [7.0])
    assert reader.array("metrics", "nothing").shape == (0,)
    assert reader.array("neurons", "name").tolist() == ["h"]
    trajectory = xr.open_zarr(path, group="trajectory")
    assert dict(trajectory.sizes) == {"time": 2, "neuron": 1, "copy": 0}
    np.testing.assert_array_equal(trajectory["v"].values, [[0.5], [1.5]])


# --------------------------------------------------------------------------------------------
# write_metric


def test_write_metric_refuses_bad_names_and_dims_naming_them(tmp_path: Path) -> None:
    """A metric name or dim that is not an identifier, or dims that are not a tuple or list,
    raise ValidationError naming them, and nothing is written."""
    store = make_store(tmp_path / "run.zarr")
    for name in ("1st", "bad-name", "two words", ""):
        with pytest.raises(ValidationError, match=re.escape(f"name {name!r} is not allowed")):
            store.write_metric(name, [1.0], ("trial",))
    for dims in (None, 3, {"trial"}, (d for d in ["trial"])):
        with pytest.raises(ValidationError, match="dims must be a tuple, got"):
            store.write_metric("loss", [1.0], dims)  # type: ignore[arg-type]
    for dim in ("1st", "a-b", "", 7):
        with pytest.raises(ValidationError, match=re.escape(f"dim {dim!r} is not a valid name")):
            store.write_metric("loss", [[1.0]], ("trial", dim))  # type: ignore[arg-type]
    store.write_metric("loss", [[1.0]], ["trial", "seed"])  # type: ignore[arg-type]
    store.close()
    reader = open_run(store.path)
    assert reader.names("metrics") == ["loss"]
    assert reader.dims("metrics", "loss") == ("trial", "seed")


def test_a_dim_of_the_metrics_group_cannot_also_be_a_metric(tmp_path: Path) -> None:
    """A name used as a dim (with or without coordinate labels) is refused as a metric's
    name, so that xarray reads the group as one Dataset."""
    store = make_store(tmp_path / "run.zarr")
    store.write_metric("error", [0.1, 0.2, 0.3], ("trial",))
    store.write_metric("rate", [1.0, 2.0], ("seed",), coords={"seed": [4, 5]})
    for name in ("trial", "seed"):
        with pytest.raises(ValidationError, match=f"{name!r} is already a dim of the metrics"):
            store.write_metric(name, 1.0, ())
    store.close()
    assert open_run(store.path).names("metrics") == ["error", "rate", "seed"]
    metrics = xr.open_zarr(store.path, group="metrics")
    assert dict(metrics.sizes) == {"trial": 3, "seed": 2}


def test_a_replaced_metric_must_still_fit_every_other_metric(tmp_path: Path) -> None:
    """Replacing a metric checks its dims against all the other metrics, whichever order the
    group lists them in; a replacement that fits them is written."""
    store = make_store(tmp_path / "run.zarr")
    names_and_dims = {"alpha": "x", "beta": "y", "gamma": "z"}
    for name, dim in names_and_dims.items():
        store.write_metric(name, np.zeros(2), (dim,))
    for name, own in names_and_dims.items():
        shape = tuple(2 if dim == own else 3 for dim in ("x", "y", "z"))
        with pytest.raises(ValidationError, match=f"write_metric {name!r}: dim '.' has size 3"):
            store.write_metric(name, np.zeros(shape), ("x", "y", "z"))
    store.write_metric("beta", np.ones((2, 2, 2)), ("x", "y", "z"))
    store.close()
    reader = open_run(store.path)
    np.testing.assert_array_equal(reader.array("metrics", "beta"), np.ones((2, 2, 2)))
    np.testing.assert_array_equal(reader.array("metrics", "alpha"), np.zeros(2))


def test_metrics_share_coordinates_that_agree_and_add_the_new_ones(tmp_path: Path) -> None:
    """A second metric may repeat a dim's stored labels; labels it gives for new dims are
    written alongside, even after a dim it shares; differing labels are refused."""
    store = make_store(tmp_path / "run.zarr")
    store.write_metric("error", [0.1, 0.2], ("seed",), coords={"seed": [3, 4]})
    store.write_metric("loss", [1.0, 2.0], ("seed",), coords={"seed": [3, 4]})
    store.write_metric(
        "recall",
        [[0.5, 0.6, 0.7], [0.8, 0.9, 1.0]],
        ("seed", "order"),
        coords={"seed": np.array([3, 4]), "order": ["first", "second", "third"]},
    )
    with pytest.raises(ValidationError, match="coordinate 'seed' differs"):
        store.write_metric("gain", [1.0, 2.0], ("seed",), coords={"seed": [4, 3]})
    store.close()
    reader = open_run(store.path)
    assert reader.names("metrics") == ["error", "loss", "order", "recall", "seed"]
    assert reader.array("metrics", "order").tolist() == ["first", "second", "third"]
    metrics = xr.open_zarr(store.path, group="metrics")
    assert metrics["recall"].sel(seed=4, order="second").values.item() == pytest.approx(0.9)
    np.testing.assert_array_equal(metrics["loss"].sel(seed=[3, 4]).values, [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# reading what a fault left


def test_a_metric_cut_short_on_disk_still_constrains_the_next_one(tmp_path: Path) -> None:
    """A metric whose write was cut short after its data (before any metadata was refreshed)
    is checked against by the next ``write_metric``, in a resumed writer as in the same one."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    with metadata_not_refreshed(path):
        store.write_metric("error", [0.1, 0.2, 0.3], ("trial",))
    with pytest.raises(ValidationError, match="dim 'trial' has size 4 here but 3 in metrics/error"):
        store.write_metric("loss", np.zeros(4), ("trial",))
    store.close("interrupted")

    resumed = RunStore.reopen(path)
    with pytest.raises(ValidationError, match="dim 'trial' has size 4 here but 3 in metrics/error"):
        resumed.write_metric("loss", np.zeros(4), ("trial",))
    resumed.write_metric("loss", np.ones(3), ("trial",))
    resumed.close()
    reader = open_run(path)
    assert reader.names("metrics") == ["error", "loss"]
    np.testing.assert_array_equal(reader.array("metrics", "error"), [0.1, 0.2, 0.3])


def test_a_metric_is_read_once_its_group_is_committed(tmp_path: Path) -> None:
    """``open_run`` reads a metric whose group metadata was refreshed even when the root's
    refresh was cut short: the root's copy of the metadata is not what it goes by."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    with metadata_not_refreshed(path, groups=()):
        store.write_metric("error", [0.1, 0.2, 0.3], ("trial",))
    reader = open_run(path)
    assert reader.names("metrics") == ["error"]
    np.testing.assert_array_equal(reader.array("metrics", "error"), [0.1, 0.2, 0.3])
    assert reader.dims("metrics", "error") == ("trial",)


def test_a_snapshot_not_yet_counted_is_cut_from_the_weights(tmp_path: Path) -> None:
    """``open_run`` cuts W, b and snapshot_time to ``snapshots_done`` when a snapshot's data
    is on disk but was never counted, and cuts nothing else along a dim named snapshot unless
    it comes first."""
    path = tmp_path / "run.zarr"
    store = make_store(path)
    store.snapshot_weights(0, [0.5, -0.5], [0.0, 0.1, 0.2])
    store.write_metric("norm", np.arange(6.0).reshape(3, 2), ("layer", "snapshot"))
    with metadata_not_refreshed(path):
        store.snapshot_weights(5, [1.5, -1.5], [1.0, 1.1, 1.2])

    reader = open_run(path)
    assert reader.snapshots_done == 1
    np.testing.assert_array_equal(reader.array("weights", "W"), [[0.5, -0.5]])
    np.testing.assert_array_equal(reader.array("weights", "b"), [[0.0, 0.1, 0.2]])
    np.testing.assert_array_equal(reader.array("weights", "snapshot_time"), [0])
    np.testing.assert_array_equal(reader.array("metrics", "norm"), np.arange(6.0).reshape(3, 2))


def test_a_store_without_progress_counters_reads_as_nothing_committed(tmp_path: Path) -> None:
    """A run store whose root lacks ``steps_done`` and ``snapshots_done`` (only the required
    ``neurosim_version`` and ``status``) opens with both at 0 and empty time and snapshot
    arrays, whatever the arrays hold on disk."""
    path = tmp_path / "bare.zarr"
    root = zarr.open_group(
        path, mode="w", zarr_format=3, attributes={"neurosim_version": "0", "status": "running"}
    )
    trajectory = root.create_group("trajectory")
    trajectory.create_array("time", shape=(3,), dtype="int64", dimension_names=("time",))[...] = [
        0,
        1,
        2,
    ]
    weights = root.create_group("weights")
    weights.create_array("W", shape=(2, 2), dtype="float64", dimension_names=("snapshot", "edge"))[
        ...
    ] = 1.0

    reader = open_run(path)
    assert (reader.steps_done, reader.snapshots_done) == (0, 0)
    assert reader.array("trajectory", "time").shape == (0,)
    assert reader.array("weights", "W").shape == (0, 2)
    assert "steps_done=0" in repr(reader)


# --------------------------------------------------------------------------------------------
# open_run on what is not a run store


def test_open_run_turns_unreadable_metadata_into_an_error_naming_the_path(
    tmp_path: Path,
) -> None:
    """Metadata that cannot be read (a symlink loop), is not JSON, is JSON of the wrong shape,
    or describes an array instead of a group: each raises ValidationError naming the path."""

    def write_an_array(folder: Path) -> None:
        zarr.create_array(folder, shape=(2,), dtype="float64", overwrite=True)

    broken: dict[str, Callable[[Path], object]] = {
        "loop.zarr": lambda folder: (folder / "zarr.json").symlink_to("zarr.json"),
        "garbled.zarr": lambda folder: (folder / "zarr.json").write_text("{not json"),
        "listed.zarr": lambda folder: (folder / "zarr.json").write_text("[3, 1]"),
        "extra.zarr": lambda folder: (folder / "zarr.json").write_text(
            json.dumps({"zarr_format": 3, "node_type": "group", "shape_of_things": 1})
        ),
        "array.zarr": write_an_array,
    }
    for name, make in broken.items():
        folder = tmp_path / name
        folder.mkdir()
        make(folder)
        with pytest.raises(
            ValidationError,
            match=re.escape(f"{folder} is not a neurosim run store: it is not a zarr group"),
        ):
            open_run(folder)


def test_open_run_names_the_missing_root_attributes(tmp_path: Path) -> None:
    """A zarr v3 group that lacks neurosim's root attributes is refused with the missing
    names, so the user sees what makes it not a run store."""
    plain = tmp_path / "plain.zarr"
    zarr.open_group(plain, mode="w", zarr_format=3, attributes={"a": 1})
    with pytest.raises(
        ValidationError,
        match=re.escape("without the root attributes ['neurosim_version', 'status']"),
    ):
        open_run(plain)
    half = tmp_path / "half.zarr"
    zarr.open_group(half, mode="w", zarr_format=3, attributes={"neurosim_version": "1"})
    with pytest.raises(ValidationError, match=re.escape("without the root attributes ['status']")):
        open_run(half)
    old = tmp_path / "old.zarr"
    zarr.open_group(
        old, mode="w", zarr_format=2, attributes={"neurosim_version": "1", "status": "complete"}
    )
    with pytest.raises(
        ValidationError,
        match=re.escape("a zarr v2 group without the root attributes ['(zarr v3)']"),
    ):
        open_run(old)
