"""The run store's layout: its groups, attributes and arrays, and the empty store a run starts from.

Layout (the contract; ``docs/run-store.md`` has the full description)::

    RUN.zarr/                      root attributes: neurosim_version, store_format, scenario,
                                   backend, seed, time_unit ("step"), status, status_message,
                                   steps_done, snapshots_done, and any the caller adds
      neurons/     neuron (coordinate), role, layer, name        over (neuron,)
      trajectory/  time (coordinate), neuron (coordinate: the recorded neurons),
                   one array per declared ArraySpec               over (time, *spec.dims)
      weights/     edge_src, edge_dst, edge_delay (NaN: none given) over (edge,); neuron
                   (coordinate);
                   W over (snapshot, edge); b over (snapshot, neuron); snapshot_time (snapshot,)
      metrics/     arrays written whole by analyses, with the dims the caller names
      events/      only when a run logs events (event-driven backend): one row per event,
                   columns over (event,) as ``append_events`` was given them, and the group
                   attribute ``kinds`` naming the codes of a ``kind`` column
      SERIES/      one group per appendable series (``RunStore.create(series=...)``): arrays
                   over (SERIES_DIM, ...) that grow row by row, e.g. ``samples`` over ``sample``
      checkpoint/  only when a run checkpoints: the newest complete states for ``--resume``

Every array carries zarr v3 ``dimension_names``, and each group carries consolidated metadata
that is rewritten at every commit, so ``xarray.open_zarr(path, group="trajectory")`` gives
labelled arrays without extra arguments or warnings.

Names with a leading underscore here and in the package's other modules are shared between
those modules only; ``neurosim.recording`` exports the public ones.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import zarr
from zarr.abc.store import Store

from neurosim.errors import ValidationError
from neurosim.recording.location import StorePath, zarr_store

STATUSES: Final = ("running", "complete", "failed", "interrupted")
"""Values of the root attribute ``status``; ``running`` until the store is closed."""

GROUPS: Final = ("neurons", "trajectory", "weights", "metrics")
"""The groups every run store has."""

CREATING: Final = "neurosim_creating"
"""The root's only attribute while a store is being created: a folder whose root has it (and
no ``status``) is a creation that was cut short, which ``--overwrite`` may replace."""

STORE_FORMAT: Final = 2
"""Version of this layout, stored as the root attribute ``store_format``: 2 since checkpoints
carry manifests and several are kept (format 1 kept one, without a manifest)."""

TIME_UNIT: Final = "step"

REQUIRED_ATTRIBUTES: Final = ("scenario", "backend", "seed")
"""Root attributes the caller of ``RunStore.create`` must give."""

MANAGED_ATTRIBUTES: Final = (
    "neurosim_version",
    "store_format",
    "time_unit",
    "status",
    "status_message",
    "steps_done",
    "snapshots_done",
    "steps_simulated",
    "series_done",
    "series_dims",
    "every_chunk_stored",
)
"""Root attributes the store sets itself; a caller cannot set them."""

NEURON_FIELDS: Final = ("role", "layer", "name")

WRITE_EVERY_CHUNK: Final = {"write_empty_chunks": True}
"""zarr array configuration of every array the store writes: a chunk is stored even when it
holds only the fill value, so that a chunk missing from the disk is always lost data
(``RunReader.missing_chunks``)."""

EVERY_CHUNK_STORED: Final = MANAGED_ATTRIBUTES[-1]
"""Root attribute (true) of stores that store every chunk (``WRITE_EVERY_CHUNK``); older
stores left out chunks that held only zeros."""


def _fill_value(dtype: np.dtype[Any]) -> Any:
    """NaN for floats, so that a missing chunk reads as missing, not as 0; zarr's default
    (0, False) for the others."""
    return np.nan if dtype.kind == "f" else None


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""What the names of arrays, dims and metrics must look like."""

_NUMERIC_KINDS = "biuf"
"""NumPy dtype kinds a stored number array may have: bool, integers, floats."""


@dataclass(frozen=True)
class ArraySpec:
    """One trajectory array, declared before the run: its dims and shape per step, and dtype.

    ``dims`` and ``shape`` leave out ``time`` (the store adds it in front): ``state`` of two
    copies over 20 recorded neurons is ``ArraySpec(("copy", "neuron"), (2, 20), "float32")``.
    Each ``append`` then gives it as an array of shape ``(n_steps, 2, 20)``. A dim named
    ``neuron`` must have the number of recorded neurons. Allowed dtypes: bool, integers,
    floats.
    """

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def __init__(self, dims: tuple[str, ...], shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        if isinstance(dims, str) or not isinstance(dims, tuple | list):
            raise ValidationError(
                f"ArraySpec dims must be a tuple of names, got {dims!r} (for one dim write "
                f'("{dims}",))'
            )
        dims = tuple(dims)
        for dim in dims:
            if not isinstance(dim, str) or not _NAME.match(dim):
                raise ValidationError(
                    f"ArraySpec dim {dim!r} is not allowed: use a name of letters, digits and "
                    "underscores that does not start with a digit"
                )
        if "time" in dims:
            raise ValidationError(
                f"ArraySpec dims {dims} include 'time': leave it out, the store adds it in front"
            )
        if len(set(dims)) != len(dims):
            raise ValidationError(f"ArraySpec dims {dims} repeat a name")
        if isinstance(shape, int | np.integer):
            shape = (int(shape),)
        try:
            shape = tuple(int(size) for size in shape)
        except (TypeError, ValueError) as error:
            raise ValidationError(
                f"ArraySpec shape must be a tuple of ints, got {shape!r}"
            ) from error
        if len(shape) != len(dims) or any(size < 0 for size in shape):
            raise ValidationError(
                f"ArraySpec shape {shape} does not fit dims {dims}: give one size >= 0 per dim"
            )
        try:
            dtype = np.dtype(dtype)
        except TypeError as error:
            raise ValidationError(f"ArraySpec dtype {dtype!r} is not a numpy dtype") from error
        if dtype.kind not in _NUMERIC_KINDS:
            raise ValidationError(
                f"ArraySpec dtype {dtype} is not allowed; allowed: bool, integers, floats"
            )
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)

    @property
    def step_nbytes(self) -> int:
        """Bytes one step of this array takes."""
        return math.prod(self.shape) * self.dtype.itemsize


def as_unicode(array: np.ndarray) -> np.ndarray:
    """Strings of any NumPy kind (unicode, StringDType, objects) as a NumPy unicode array."""
    if array.size == 0:
        return np.empty(array.shape, dtype="<U1")
    return np.array(array.tolist(), dtype=np.str_)


def _dims_of(node: zarr.Array) -> tuple[str, ...]:
    """The dimension names stored with ``node``."""
    names = node.metadata.dimension_names or ()  # type: ignore[union-attr]
    return tuple(str(name) for name in names)


def _write_whole(
    group: zarr.Group,
    name: str,
    values: np.ndarray,
    dims: tuple[str, ...],
    attributes: dict[str, Any],
) -> None:
    """Create (or replace) ``group/name`` holding ``values`` in one chunk."""
    is_string = values.dtype.kind in "UOT"
    target = group.create_array(
        name,
        shape=values.shape,
        chunks=tuple(max(size, 1) for size in values.shape),
        dtype=str if is_string else values.dtype,
        fill_value=None if is_string else _fill_value(values.dtype),
        dimension_names=dims,
        attributes=attributes,
        overwrite=True,
        config=WRITE_EVERY_CHUNK,
    )
    if values.size:
        target[...] = values


def _consolidate(store: Store, groups: tuple[str, ...]) -> zarr.Group:
    """Rewrite the consolidated metadata of ``groups``, then of the root; return the root.

    Consolidated metadata is what ``xarray.open_zarr`` reads first; without it xarray falls
    back to reading each array's metadata and warns. zarr warns that consolidated metadata is
    not (yet) part of the v3 specification; that warning is expected here and silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Consolidated metadata is currently not part", category=UserWarning
        )
        for group in groups:
            zarr.consolidate_metadata(store, path=group)
        return zarr.consolidate_metadata(store)


ARRAY_UNITS: dict[str, str] = {
    "state": "dimensionless",
    "rate": "dimensionless",
    "target": "dimensionless",
    "dz": "dimensionless",
    "potential": "mV",
}
"""The unit of a recorded array of this name, stored as its ``units`` attribute (xarray shows
it): the rate model's states, rates and targets have none (MODEL.md); a spiking network's
membrane potential is in mV. ``time`` and ``snapshot_time`` carry the store's ``time_unit``."""


def _units(name: str) -> dict[str, str]:
    return {"units": ARRAY_UNITS[name]} if name in ARRAY_UNITS else {}


def _build(
    building: StorePath,
    *,
    root_attributes: dict[str, Any],
    neuron_arrays: dict[str, np.ndarray],
    specs: dict[str, ArraySpec],
    recorded: np.ndarray,
    sources: np.ndarray,
    destinations: np.ndarray,
    delays: np.ndarray | None,
    time_chunk: int,
    weight_dtype: np.dtype[Any],
    series: dict[str, dict[str, ArraySpec]],
    series_chunk: int,
) -> None:
    """Write a new, empty run store into the directory ``building``. The root's attributes
    (``neurosim_version``, ``status``...) are written last, in one write of one file: without
    them the folder is not a run store, so a creation cut short is never read as one, on any
    file system (no rename needed); until then the root has only ``CREATING``."""
    store = zarr_store(building)
    root = zarr.create_group(store, zarr_format=3, attributes={CREATING: True})
    n_neurons = len(neuron_arrays["role"])
    neuron_index = np.arange(n_neurons, dtype=np.int64)

    neurons = root.create_group("neurons")
    _write_whole(neurons, "neuron", neuron_index, ("neuron",), {})
    for field in NEURON_FIELDS:
        _write_whole(neurons, field, neuron_arrays[field], ("neuron",), {})

    trajectory = root.create_group("trajectory")
    time_units = {"units": root_attributes["time_unit"]}
    trajectory.create_array(
        "time",
        shape=(0,),
        chunks=(time_chunk,),
        dtype=np.int64,
        dimension_names=("time",),
        attributes=time_units,
    )
    _write_whole(trajectory, "neuron", recorded, ("neuron",), {})
    for name, spec in specs.items():
        trajectory.create_array(
            name,
            shape=(0, *spec.shape),
            chunks=(time_chunk, *(max(size, 1) for size in spec.shape)),
            dtype=spec.dtype,
            fill_value=_fill_value(spec.dtype),
            dimension_names=("time", *spec.dims),
            attributes=_units(name),
        )

    weights = root.create_group("weights")
    _write_whole(weights, "edge_src", sources, ("edge",), {})
    _write_whole(weights, "edge_dst", destinations, ("edge",), {})
    if delays is not None:
        _write_whole(weights, "edge_delay", delays, ("edge",), {})
    _write_whole(weights, "neuron", neuron_index, ("neuron",), {})
    weights.create_array(
        "W",
        shape=(0, len(sources)),
        chunks=(1, max(len(sources), 1)),
        dtype=weight_dtype,
        fill_value=np.nan,
        dimension_names=("snapshot", "edge"),
    )
    weights.create_array(
        "b",
        shape=(0, n_neurons),
        chunks=(1, max(n_neurons, 1)),
        dtype=weight_dtype,
        fill_value=np.nan,
        dimension_names=("snapshot", "neuron"),
    )
    weights.create_array(
        "snapshot_time",
        shape=(0,),
        chunks=(256,),
        dtype=np.int64,
        dimension_names=("snapshot",),
        attributes=time_units,
    )

    root.create_group("metrics")
    for name, specs in series.items():
        group = root.create_group(name)
        for array, spec in specs.items():
            group.create_array(
                array,
                shape=(0, *spec.shape[1:]),
                chunks=(series_chunk, *(max(size, 1) for size in spec.shape[1:])),
                dtype=spec.dtype,
                fill_value=_fill_value(spec.dtype),
                dimension_names=spec.dims,
                attributes=_units(array),
            )
    root = _consolidate(store, (*GROUPS, *series))
    root.attrs.put({**root_attributes, EVERY_CHUNK_STORED: True})  # the commit point
