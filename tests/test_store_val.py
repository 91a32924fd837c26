"""What ``RunStore`` accepts and refuses when a store is created and written: the neurons,
recorded neurons, edges, trajectory array names, weight dtype, step numbers and snapshot
steps, with error messages that name the argument and the offending values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

from neurosim.errors import ValidationError
from neurosim.recording import ArraySpec, RunStore, open_run

ROLES = np.array(["input", "input", "output", "hidden", "hidden", "hidden"])
NAMES = np.array(["in0", "in1", "out0", "h0", "h1", "h2"])
LAYERS = np.array([0, 0, 2, 1, 1, 1])
EDGE_SRC = np.array([0, 1, 3, 4, 5, 3])
EDGE_DST = np.array([3, 4, 2, 2, 2, 5])
SPECS = {"v": ArraySpec(("neuron",), (2,), "float64")}


def create(path: Path, **overrides: Any) -> RunStore:
    """A store for a six-neuron network recording neurons 1 and 3; ``overrides`` replace
    ``RunStore.create``'s arguments."""
    arguments: dict[str, Any] = {
        "attributes": {"scenario": {"name": "validation"}, "backend": "sync", "seed": 1},
        "neurons": {"role": ROLES, "layer": LAYERS, "name": NAMES},
        "arrays": SPECS,
        "recorded_neurons": np.array([1, 3]),
        "edge_src": EDGE_SRC,
        "edge_dst": EDGE_DST,
        "time_chunk": 4,
    }
    arguments.update(overrides)
    return RunStore.create(path, **arguments)


def assert_refused(tmp_path: Path, message: str, **overrides: Any) -> None:
    """``create`` with ``overrides`` raises ValidationError containing ``message`` exactly, and
    leaves nothing on disk."""
    with pytest.raises(ValidationError, match=re.escape(message)):
        create(tmp_path / "run.zarr", **overrides)
    assert list(tmp_path.iterdir()) == []


def values_for(time_values: npt.ArrayLike) -> dict[str, np.ndarray]:
    """Trajectory values for the steps ``time_values``."""
    count = len(np.asarray(time_values))
    return {"v": np.arange(2 * count, dtype=np.float64).reshape(count, 2)}


def test_a_new_store_counts_no_steps_and_no_snapshots(tmp_path: Path) -> None:
    """Right after creation, before any write, the store on disk counts nothing written."""
    path = tmp_path / "run.zarr"
    store = create(path)
    reader = open_run(path)
    assert reader.status == "running"
    assert (reader.steps_done, reader.snapshots_done) == (0, 0)
    assert reader.attributes["snapshots_done"] == 0
    assert reader.array("weights", "snapshot_time").tolist() == []
    assert store.snapshots_done == 0
    store.close()


@pytest.mark.parametrize(
    ("neurons", "message"),
    [
        (
            {"role": ROLES, "layer": LAYERS},
            "neurons must have exactly the keys ('role', 'layer', 'name'), got ['layer', 'role']",
        ),
        (
            {"role": ROLES, "layer": LAYERS, "name": NAMES, "kind": ROLES},
            "got ['kind', 'layer', 'name', 'role']",
        ),
        (None, "got NoneType"),
    ],
)
def test_neurons_need_exactly_role_layer_and_name(
    tmp_path: Path, neurons: Any, message: str
) -> None:
    """``neurons`` must be a dict with exactly the keys role, layer and name; the error lists
    the keys given (or the type given, when it is not a dict)."""
    assert_refused(tmp_path, message, neurons=neurons)


def test_neurons_given_as_a_list_are_named_by_type(tmp_path: Path) -> None:
    """A list of the right field names is still not a dict: the error names its type."""
    with pytest.raises(ValidationError, match=r"got list$"):
        create(tmp_path / "run.zarr", neurons=["role", "layer", "name"])


@pytest.mark.parametrize(
    ("neurons", "field"),
    [
        ({"role": ROLES, "layer": LAYERS[:5], "name": NAMES}, "layer"),
        ({"role": ROLES, "layer": LAYERS, "name": NAMES[:4]}, "name"),
        ({"role": ROLES, "layer": LAYERS[:, None], "name": NAMES}, "layer"),
        ({"role": ROLES, "layer": LAYERS, "name": np.array("in0")}, "name"),
        ({"role": ROLES[:, None], "layer": LAYERS, "name": NAMES}, "role"),
        ({"role": ROLES[:0], "layer": LAYERS[:0], "name": NAMES[:0]}, "role"),
    ],
)
def test_neuron_fields_must_be_1d_of_one_common_nonzero_length(
    tmp_path: Path, neurons: dict[str, Any], field: str
) -> None:
    """Each neuron field is 1-D, all three have the same length, and there is at least one
    neuron; the error names the first field that breaks this and every field's shape."""
    assert_refused(tmp_path, f"neurons[{field!r}] must be 1-D", neurons=neurons)


def test_a_single_neuron_network_and_object_string_names_are_stored(tmp_path: Path) -> None:
    """One neuron is enough; role and name may be object arrays of Python strings, and come
    back as the same strings."""
    path = tmp_path / "one.zarr"
    with create(
        path,
        neurons={
            "role": np.array(["output"], dtype=object),
            "layer": np.array([0]),
            "name": np.array(["only"], dtype=object),
        },
        arrays={"v": ArraySpec(("neuron",), (1,), "float64")},
        recorded_neurons=None,
        edge_src=np.array([0]),
        edge_dst=np.array([0]),
    ) as store:
        store.append([0, 1], {"v": np.array([[0.5], [1.5]])})
    reader = open_run(path)
    assert reader.array("neurons", "role").tolist() == ["output"]
    assert reader.array("neurons", "name").tolist() == ["only"]
    np.testing.assert_array_equal(reader.array("trajectory", "v"), [[0.5], [1.5]])
    with xr.open_zarr(path, group="neurons") as neurons:
        assert neurons["name"].values.tolist() == ["only"]


def test_object_names_that_are_not_all_strings_are_refused(tmp_path: Path) -> None:
    """An object array holding anything but strings is refused as names."""
    names = np.array(["in0", "in1", "out0", "h0", "h1", 5], dtype=object)
    assert_refused(
        tmp_path,
        "neurons['name'] must hold strings, got dtype object",
        neurons={"role": ROLES, "layer": LAYERS, "name": names},
    )


@pytest.mark.parametrize(
    ("argument", "name"),
    [
        ("recorded_neurons", "recorded_neurons"),
        ("edge_src", "edge_src"),
        ("edge_dst", "edge_dst"),
    ],
)
def test_neuron_indices_are_checked_against_the_network(
    tmp_path: Path, argument: str, name: str
) -> None:
    """Recorded neurons and edge ends are 1-D integer indices in 0..n_neurons-1; the error
    names the argument, the allowed range and the values given."""
    length = 2 if argument == "recorded_neurons" else 6
    base = np.arange(length)
    refused: list[tuple[npt.ArrayLike, str]] = [
        (base.astype(float), f"{name} must be a 1-D array of neuron indices, got shape"),
        (base.reshape(1, length), f"{name} must be a 1-D array of neuron indices"),
        (np.array([-1, *base[1:]]), f"{name} must be in 0..5, got values from -1 to"),
        (np.array([*base[:-1], 6]), f"{name} must be in 0..5, got values from 0 to 6"),
        (np.array([*base[:-1], 9]), f"{name} must be in 0..5, got values from 0 to 9"),
    ]
    for value, message in refused:
        assert_refused(tmp_path, message, **{argument: value})


def test_the_highest_neuron_index_is_accepted(tmp_path: Path) -> None:
    """Index n_neurons-1 is a valid recorded neuron and edge end, and is stored as given."""
    path = tmp_path / "run.zarr"
    create(path, recorded_neurons=np.array([0, 5]), edge_dst=np.array([5, 4, 2, 2, 2, 5])).close()
    reader = open_run(path)
    assert reader.array("trajectory", "neuron").tolist() == [0, 5]
    assert reader.array("weights", "edge_dst").tolist() == [5, 4, 2, 2, 2, 5]


def test_edges_of_different_lengths_name_both_lengths(tmp_path: Path) -> None:
    """edge_src and edge_dst must be as long as each other; the error gives both lengths."""
    assert_refused(
        tmp_path, "edge_src and edge_dst differ in length: 6 and 2", edge_dst=np.array([1, 2])
    )
    assert_refused(
        tmp_path, "edge_src and edge_dst differ in length: 1 and 6", edge_src=np.array([1])
    )


@pytest.mark.parametrize("name", ["2v", "has space", "v-1", "neuron", "time"])
def test_trajectory_array_names_must_be_identifiers(tmp_path: Path, name: str) -> None:
    """A trajectory array is named by letters, digits and underscores, not starting with a
    digit, and not 'time' or 'neuron'."""
    assert_refused(
        tmp_path,
        f"trajectory array name {name!r} is not allowed",
        arrays={name: ArraySpec(("neuron",), (2,), "float64")},
    )


def test_weight_dtype_must_be_a_float_dtype(tmp_path: Path) -> None:
    """weight_dtype must name a NumPy float dtype; anything else is refused by name."""
    assert_refused(
        tmp_path, "weight_dtype 'no such dtype' is not a dtype", weight_dtype="no such dtype"
    )
    assert_refused(tmp_path, "weight_dtype must be a float dtype, got int32", weight_dtype="int32")


@pytest.mark.parametrize("time_unit", ["", 5, None])
def test_the_time_unit_must_be_a_non_empty_string(tmp_path: Path, time_unit: Any) -> None:
    assert_refused(
        tmp_path, f"time_unit = {time_unit!r}: expected a non-empty string", time_unit=time_unit
    )


def test_steps_out_of_order_are_reported_at_the_first_place(tmp_path: Path) -> None:
    """When step numbers go backwards in several places, the error names the first."""
    path = tmp_path / "run.zarr"
    store = create(path)
    with pytest.raises(
        ValidationError,
        match=re.escape(f"got [5, 3, 8, 2] in {path}: step 3 comes after step 5"),
    ):
        store.append([5, 3, 8, 2], values_for(range(4)))
    assert store.steps_appended == 0
    store.close()


@pytest.mark.parametrize(
    ("time_values", "preview"),
    [
        ([1, 2, 3, 4, 5, 5], "[1, 2, 3, 4, 5, 5]"),
        ([1, 2, 3, 4, 5, 6, 6], "[1, 2, 3, 4, 5, 6, ...]"),
        ([1, 2, 2], "[1, 2, 2]"),
    ],
)
def test_refused_steps_are_shown_up_to_six(
    tmp_path: Path, time_values: list[int], preview: str
) -> None:
    """The error about steps out of order shows the first six step numbers given, with
    '...' only when there are more."""
    path = tmp_path / "run.zarr"
    store = create(path)
    with pytest.raises(
        ValidationError, match=re.escape(f"time must increase strictly, got {preview} in {path}")
    ):
        store.append(time_values, values_for(time_values))
    store.close()


@pytest.mark.parametrize("time", [1.0, 2.5, True, "3", None])
def test_a_snapshot_step_must_be_an_int(tmp_path: Path, time: Any) -> None:
    """snapshot_weights takes an int step (NumPy ints too), never a float, bool or string;
    nothing is written when it is refused."""
    path = tmp_path / "run.zarr"
    store = create(path)
    with pytest.raises(ValidationError, match=re.escape(f"time must be an int step, got {time!r}")):
        store.snapshot_weights(time, np.zeros(6), np.zeros(6))
    store.snapshot_weights(np.int64(4), np.ones(6), np.zeros(6))
    store.close()
    reader = open_run(path)
    assert reader.snapshots_done == 1
    assert reader.array("weights", "snapshot_time").tolist() == [4]


def test_edge_delays_between_zero_and_one_are_kept_and_negative_ones_refused(
    tmp_path: Path,
) -> None:
    # a delay below one step is a delay (the event backend hears it at the next update)
    delays = np.array([0.0, 0.5, np.nan, 1.0, 2.5, 0.25])
    kept, refused = tmp_path / "kept", tmp_path / "refused"
    kept.mkdir()
    refused.mkdir()
    create(kept / "run.zarr", edge_delay=delays).close()
    stored = open_run(kept / "run.zarr").array("weights", "edge_delay")
    np.testing.assert_array_equal(stored, delays)
    negative = np.where(delays == 0.5, -0.5, delays)
    assert_refused(refused, "edge_delay must be >= 0", edge_delay=negative)
    short = "edge_delay must have one value per synapse, shape (6,)"
    assert_refused(refused, short, edge_delay=delays[:5])
