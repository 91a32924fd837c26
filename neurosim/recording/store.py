"""The run store: one zarr v3 directory per run, written as the run goes, read by xarray as is.

Layout (the contract; ``docs/run-store.md`` has the full description)::

    RUN.zarr/                      root attributes: neurosim_version, store_format, scenario,
                                   backend, seed, time_unit ("step"), status, status_message,
                                   steps_done, snapshots_done, and any the caller adds
      neurons/     neuron (coordinate), role, layer, name        over (neuron,)
      trajectory/  time (coordinate), neuron (coordinate: the recorded neurons),
                   one array per declared ArraySpec               over (time, *spec.dims)
      weights/     edge_src, edge_dst over (edge,); neuron (coordinate);
                   W over (snapshot, edge); b over (snapshot, neuron); snapshot_time (snapshot,)
      metrics/     arrays written whole by analyses, with the dims the caller names
      events/      only when a run logs events (event-driven backend): one row per event,
                   columns over (event,) as ``append_events`` was given them, and the group
                   attribute ``kinds`` naming the codes of a ``kind`` column

Every array carries zarr v3 ``dimension_names``, and each group carries consolidated metadata
that is rewritten at every commit, so ``xarray.open_zarr(path, group="trajectory")`` gives
labelled arrays without extra arguments or warnings.

Writing is incremental. ``RunStore.append`` copies steps into a buffer of at most
``time_chunk`` steps (up to the next chunk boundary along ``time``) and writes it out when it
fills; ``flush`` writes it out at once. Each write is a *commit*: the data first, then the
group's consolidated metadata, then the root attributes ``steps_done`` / ``snapshots_done``.
``steps_done`` never counts a step whose data is not on disk, so after a crash (even SIGKILL)
the store is readable and everything counted by ``steps_done`` is there. zarr's local store
writes each file atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import zarr
import zarr.storage

from neurosim import __version__
from neurosim.checks import check_integer
from neurosim.errors import ValidationError

STATUSES: Final = ("running", "complete", "failed", "interrupted")
"""Values of the root attribute ``status``; ``running`` until the store is closed."""

GROUPS: Final = ("neurons", "trajectory", "weights", "metrics")
"""The groups every run store has."""

EVENT_CHUNK: Final = 65536
"""Rows per chunk of the ``events/`` group's columns."""

STORE_FORMAT: Final = 1
"""Version of this layout, stored as the root attribute ``store_format``."""

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
)
"""Root attributes the store sets itself; a caller cannot set them."""

NEURON_FIELDS: Final = ("role", "layer", "name")

CHECKPOINT: Final = "checkpoint"
"""The group that holds the latest complete state for ``--resume`` (see ``write_checkpoint``)."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMERIC_KINDS = "biuf"
_STATUS_DESCRIPTIONS = {
    "running": (
        "running or killed (the writer has not closed the store: it is still running, or it "
        "stopped without closing it, e.g. killed)"
    ),
    "complete": "complete",
    "failed": "failed",
    "interrupted": "interrupted",
}


class RunInterrupted(KeyboardInterrupt):
    """The run was asked to stop from outside (SIGTERM or Ctrl-C; see ``stop_on_signals``).

    A ``KeyboardInterrupt``, so that it is handled like Ctrl-C: ``except Exception`` does not
    swallow it, ``RunStore`` marks the store ``interrupted``, and the command exits with 130.
    """


class StopRequest:
    """Whether a stop signal arrived; ``check()`` raises ``RunInterrupted`` if so.

    A runner calls ``check()`` between pieces of work, so that a run never stops in the
    middle of a write to its store.
    """

    def __init__(self) -> None:
        self.reason: str | None = None

    def check(self) -> None:
        if self.reason is not None:
            raise RunInterrupted(self.reason)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While inside, SIGTERM and SIGINT (Ctrl-C) only set the yielded ``StopRequest``.

    Use around a run so that ``kill PID`` or Ctrl-C stops it at the next ``check()``: the
    ``RunStore`` context then writes what is buffered and marks the store ``interrupted``.
    The previous handlers are restored on exit. Only callable from the main thread (a rule
    of Python's ``signal``).
    """
    request = StopRequest()

    def handler(signum: int, frame: FrameType | None) -> None:
        request.reason = f"terminated by {signal.Signals(signum).name}"

    previous = {
        number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield request
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


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


class RunStore:
    """Writes one run's store. Make one with ``RunStore.create``; use it as a context manager.

    Inside ``with RunStore.create(...) as store:`` the run calls ``append`` every recorded
    step (or every few), ``snapshot_weights`` now and then, and ``write_metric`` at the end.
    Leaving the block closes the store: ``complete`` on a normal exit, ``interrupted`` on
    ``KeyboardInterrupt`` (including ``RunInterrupted``), ``failed`` with the error's message
    on any other exception; buffered steps are written first in every case, and the exception
    always propagates. After closing, ``write_metric`` and ``set_attribute`` still work (for
    analyses); appending does not.
    """

    def __init__(
        self,
        path: Path,
        *,
        arrays: Mapping[str, ArraySpec],
        n_neurons: int,
        n_edges: int,
        recorded_neurons: np.ndarray,
        time_chunk: int,
        weight_dtype: np.dtype[Any],
    ) -> None:
        """Open the handles of a store that ``create`` has just written; use ``create``."""
        self._path = path
        self._specs = dict(arrays)
        self._n_neurons = n_neurons
        self._n_edges = n_edges
        self._recorded_neurons = recorded_neurons
        self._time_chunk = time_chunk
        self._weight_dtype = weight_dtype
        self._zarr_store = zarr.storage.LocalStore(path)
        self._root = zarr.open_group(self._zarr_store, mode="r+", use_consolidated=False)
        self._time = self._open_array("trajectory/time")
        self._trajectory = {name: self._open_array(f"trajectory/{name}") for name in arrays}
        self._weights = self._open_array("weights/W")
        self._bias = self._open_array("weights/b")
        self._snapshot_time = self._open_array("weights/snapshot_time")
        self._steps_done = 0
        self._snapshots_done = 0
        self._last_time: int | None = None
        self._last_snapshot_time: int | None = None
        self._buffer_time = np.empty(time_chunk, dtype=np.int64)
        self._buffer = {
            name: np.empty((time_chunk, *spec.shape), dtype=spec.dtype)
            for name, spec in arrays.items()
        }
        self._buffered = 0
        self._status = "running"
        self._closed = False

    def _open_array(self, path: str) -> zarr.Array:
        return self._root[path]  # type: ignore[return-value]

    # ----------------------------------------------------------------------------------------
    # creation

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        attributes: Mapping[str, Any],
        neurons: Mapping[str, npt.ArrayLike],
        arrays: Mapping[str, ArraySpec],
        recorded_neurons: npt.ArrayLike | None,
        edge_src: npt.ArrayLike,
        edge_dst: npt.ArrayLike,
        time_chunk: int = 256,
        overwrite: bool = False,
        weight_dtype: npt.DTypeLike = np.float64,
    ) -> RunStore:
        """Create the store at ``path`` for a run that starts now, with status ``running``.

        ``attributes``: root attributes, JSON-able; must include ``scenario`` (the fully
        resolved scenario, a dict), ``backend`` and ``seed``; the store adds
        ``neurosim_version``, ``store_format``, ``time_unit``, ``status``, ``status_message``,
        ``steps_done`` and ``snapshots_done``. ``neurons``: ``role`` and ``name`` (strings) and
        ``layer`` (integers, -1 for none), one entry per neuron. ``arrays``: the trajectory
        arrays, by name. ``recorded_neurons``: indices of the neurons the trajectory arrays'
        ``neuron`` dim holds (None: all, in order). ``edge_src``/``edge_dst``: the synapses'
        pre- and postsynaptic neuron indices, the order of every weight snapshot.
        ``time_chunk``: steps per chunk along ``time``, also the most steps kept in memory;
        choose it so that ``time_chunk`` steps of all arrays fit comfortably in memory.
        ``weight_dtype``: float dtype of the stored weight snapshots.

        Everything is checked before anything is written; a bad argument raises
        ``ValidationError`` and leaves no files. An existing ``path`` is refused unless
        ``overwrite`` is true, and even then only if it is a run store or an empty directory.
        The store is built in a temporary sibling directory and renamed into place, so a
        failure while creating it leaves nothing behind either.
        """
        path = Path(path)
        root_attributes = _validate_root_attributes(attributes)
        neuron_arrays = _validate_neurons(neurons)
        n_neurons = len(neuron_arrays["role"])
        recorded = _validate_recorded_neurons(recorded_neurons, n_neurons)
        specs = _validate_specs(arrays, len(recorded))
        sources, destinations = _validate_edges(edge_src, edge_dst, n_neurons)
        time_chunk = check_integer("time_chunk", time_chunk, 1)
        try:
            weight_dtype = np.dtype(weight_dtype)
        except TypeError as error:
            raise ValidationError(f"weight_dtype {weight_dtype!r} is not a dtype") from error
        if weight_dtype.kind != "f":
            raise ValidationError(f"weight_dtype must be a float dtype, got {weight_dtype}")
        _check_destination(path, overwrite)

        path.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            _build(
                building,
                root_attributes=root_attributes,
                neuron_arrays=neuron_arrays,
                specs=specs,
                recorded=recorded,
                sources=sources,
                destinations=destinations,
                time_chunk=time_chunk,
                weight_dtype=weight_dtype,
            )
            if path.exists():  # overwrite, checked above
                shutil.rmtree(path)
            building.rename(path)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(
            path,
            arrays=specs,
            n_neurons=n_neurons,
            n_edges=len(sources),
            recorded_neurons=recorded,
            time_chunk=time_chunk,
            weight_dtype=weight_dtype,
        )

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> RunStore:
        """Open an interrupted, failed or killed run's store to continue it (``neurosim run
        --resume``): status ``running`` again, appends and snapshots go on after the committed
        ones (anything a killed writer left beyond them is cut off). A complete run is
        refused."""
        reader = open_run(path)
        if reader.status == "complete":
            raise ValidationError(f"{reader.path}: the run is complete; there is nothing to resume")
        path = reader.path
        root = reader._root
        trajectory = root["trajectory"]
        names = sorted(name for name, _ in trajectory.arrays() if name not in ("time", "neuron"))
        specs = {}
        for name in names:
            node = trajectory[name]
            specs[name] = ArraySpec(_dims_of(node)[1:], node.shape[1:], node.dtype)
        store = cls(
            path,
            arrays=specs,
            n_neurons=int(root["neurons/role"].shape[0]),
            n_edges=int(root["weights/edge_src"].shape[0]),
            recorded_neurons=np.asarray(trajectory["neuron"][...]),
            time_chunk=int(trajectory["time"].chunks[0]),
            weight_dtype=root["weights/W"].dtype,
        )
        steps, snapshots = reader.steps_done, reader.snapshots_done
        for name in ("time", *names):
            store._root[f"trajectory/{name}"].resize((steps, *trajectory[name].shape[1:]))
        for name in ("W", "b", "snapshot_time"):
            node = store._root[f"weights/{name}"]
            node.resize((snapshots, *node.shape[1:]))
        store._steps_done, store._snapshots_done = steps, snapshots
        if steps:
            store._last_time = int(store._time[steps - 1])
        if snapshots:
            store._last_snapshot_time = int(store._snapshot_time[snapshots - 1])
        store._commit(
            "trajectory", "weights", attributes={"status": "running", "status_message": None}
        )
        return store

    def write_checkpoint(
        self, arrays: Mapping[str, npt.ArrayLike], attributes: Mapping[str, Any]
    ) -> None:
        """Replace the store's checkpoint (``checkpoint/``) with ``arrays`` (flat names) and
        JSON-able ``attributes``. They are written into a new subgroup, which the group's
        attribute ``latest`` names only once it is complete; then the previous one is removed.
        A write cut short therefore leaves the previous checkpoint in force."""
        self._check_open("write_checkpoint")
        checked = {
            key: _to_json(value, f"checkpoint attribute {key!r}")
            for key, value in attributes.items()
        }
        group = self._root.require_group(CHECKPOINT)
        previous = group.attrs.get("latest")
        name = f"state{int(previous[len('state') :]) + 1 if previous else 0}"
        target = group.create_group(name, attributes=checked, overwrite=True)
        for key, value in arrays.items():
            values = np.asarray(value)
            dims = tuple(f"{key}_{axis}" for axis in range(values.ndim))
            _write_whole(target, key, values, dims, {})
        group.attrs["latest"] = name  # the commit point
        if previous:
            shutil.rmtree(self._path / CHECKPOINT / previous, ignore_errors=True)
        self._commit(CHECKPOINT)

    # ----------------------------------------------------------------------------------------
    # properties

    @property
    def path(self) -> Path:
        """The store's directory."""
        return self._path

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        """The declared trajectory arrays, by name."""
        return dict(self._specs)

    @property
    def time_chunk(self) -> int:
        """Steps per chunk along ``time``; also the most steps ever buffered in memory."""
        return self._time_chunk

    @property
    def recorded_neurons(self) -> np.ndarray:
        """Indices of the neurons in the trajectory's ``neuron`` dim."""
        return self._recorded_neurons.copy()

    @property
    def steps_done(self) -> int:
        """Steps written to disk (the root attribute ``steps_done``)."""
        return self._steps_done

    @property
    def steps_appended(self) -> int:
        """Steps given to ``append`` so far: those on disk plus those buffered."""
        return self._steps_done + self._buffered

    @property
    def buffered_steps(self) -> int:
        """Steps held in memory, not yet written; never more than ``time_chunk``."""
        return self._buffered

    @property
    def buffer_nbytes(self) -> int:
        """Bytes of the (preallocated) step buffer: ``time_chunk`` steps of every array."""
        return self._buffer_time.nbytes + sum(buffer.nbytes for buffer in self._buffer.values())

    @property
    def snapshots_done(self) -> int:
        """Weight snapshots written."""
        return self._snapshots_done

    @property
    def status(self) -> str:
        """``running`` until closed, then the status it was closed with."""
        return self._status

    @property
    def closed(self) -> bool:
        """Whether ``close`` has run."""
        return self._closed

    def __repr__(self) -> str:
        return (
            f"RunStore({str(self._path)!r}, status={self._status!r}, "
            f"steps_done={self._steps_done}, buffered_steps={self._buffered})"
        )

    # ----------------------------------------------------------------------------------------
    # writing

    def append(self, time: npt.ArrayLike, values: Mapping[str, npt.ArrayLike]) -> None:
        """Record steps: ``time`` (step numbers, increasing) and every declared array.

        ``values[name]`` has shape ``(len(time), *spec.shape)`` and a dtype that casts to the
        spec's within its kind (float64 into float32 is fine, float into bool is not). Every
        argument is checked before anything is kept: on ``ValidationError`` (naming the array
        and the shapes) nothing of this call is buffered or written. Steps are buffered up to
        the next ``time_chunk`` boundary and written when the buffer fills.
        """
        self._check_open("append")
        if not isinstance(values, Mapping):
            raise ValidationError(
                f"append: values must be a dict of arrays by name, got {type(values).__name__}"
            )
        times = np.asarray(time)
        if times.ndim != 1 or times.dtype.kind not in "iu":
            raise ValidationError(
                f"append: time must be a 1-D integer array of step numbers, got shape "
                f"{times.shape} and dtype {times.dtype}"
            )
        n_steps = len(times)
        # the steps already appended end at _last_time: the new ones must go on from there
        sequence = times.astype(np.int64)
        if self._last_time is not None:
            sequence = np.concatenate(([self._last_time], sequence))
        backwards = np.flatnonzero(np.diff(sequence) <= 0)
        if backwards.size:
            earlier, later = int(sequence[backwards[0]]), int(sequence[backwards[0] + 1])
            after = "" if self._last_time is None else f" after step {self._last_time}"
            raise ValidationError(
                f"append: time must increase strictly, got {_preview(times)}{after} in "
                f"{self._path}: step {later} "
                + ("is repeated" if later == earlier else f"comes after step {earlier}")
            )
        given = {}
        for name, value in values.items():
            if name not in self._specs:
                raise ValidationError(
                    f"append: unknown array {name!r}; declared arrays: {sorted(self._specs)}"
                )
            spec = self._specs[name]
            array = np.asarray(value)
            if array.shape != (n_steps, *spec.shape):
                raise ValidationError(
                    f"append: array {name!r} has shape {array.shape}, expected "
                    f"{(n_steps, *spec.shape)} = (len(time), *{spec.shape}) over dims "
                    f"{('time', *spec.dims)}"
                )
            if not np.can_cast(array.dtype, spec.dtype, casting="same_kind"):
                raise ValidationError(
                    f"append: array {name!r} has dtype {array.dtype}, which does not cast to "
                    f"its declared dtype {spec.dtype}"
                )
            given[name] = array
        missing = sorted(set(self._specs) - set(given))
        if missing:
            raise ValidationError(
                f"append: arrays {missing} are missing; every append gives all declared "
                f"arrays: {sorted(self._specs)}"
            )
        if n_steps == 0:
            return
        self._last_time = int(times[-1])

        position = 0
        while position < n_steps:
            capacity = self._capacity()
            if self._buffered == 0 and n_steps - position >= capacity:
                piece = slice(position, position + capacity)  # a whole chunk: no copy
                self._write(times[piece], {name: array[piece] for name, array in given.items()})
                position += capacity
                continue
            count = min(capacity - self._buffered, n_steps - position)
            piece = slice(position, position + count)
            target = slice(self._buffered, self._buffered + count)
            self._buffer_time[target] = times[piece]
            for name, array in given.items():
                self._buffer[name][target] = array[piece]
            self._buffered += count
            position += count
            if self._buffered == capacity:
                self._write_buffer()

    def flush(self) -> None:
        """Write the buffered steps now and update ``steps_done``; a no-op when none are.

        Call it where a reader should see the steps so far, e.g. before a checkpoint.
        """
        self._check_open("flush")
        self._write_buffer()

    def snapshot_weights(self, time: int, weights: npt.ArrayLike, bias: npt.ArrayLike) -> None:
        """Write the weights (one per edge, in ``edge_src``/``edge_dst`` order) and biases.

        ``time`` is the step number, increasing from snapshot to snapshot. Written at once
        (no buffering), then counted in ``snapshots_done``.
        """
        self._check_open("snapshot_weights")
        if isinstance(time, bool) or not isinstance(time, int | np.integer):
            raise ValidationError(f"snapshot_weights: time must be an int step, got {time!r}")
        time = int(time)
        if self._last_snapshot_time is not None and time <= self._last_snapshot_time:
            raise ValidationError(
                f"snapshot_weights: time {time} is not after the last snapshot's, "
                f"{self._last_snapshot_time}"
            )
        checked = []
        for name, value, size in (
            ("weights", weights, self._n_edges),
            ("bias", bias, self._n_neurons),
        ):
            array = np.asarray(value)
            if array.shape != (size,):
                raise ValidationError(
                    f"snapshot_weights: {name} has shape {array.shape}, expected ({size},)"
                )
            if not np.can_cast(array.dtype, self._weight_dtype, casting="same_kind"):
                raise ValidationError(
                    f"snapshot_weights: {name} has dtype {array.dtype}, which does not cast to "
                    f"{self._weight_dtype}"
                )
            checked.append(array)
        index = self._snapshots_done
        for target, array in zip((self._weights, self._bias), checked, strict=True):
            target.resize((index + 1, target.shape[1]))
            target[index] = array
        self._snapshot_time.resize((index + 1,))
        self._snapshot_time[index] = time
        self._snapshots_done = index + 1
        self._last_snapshot_time = time
        self._commit("weights")

    def write_metric(
        self,
        name: str,
        values: npt.ArrayLike,
        dims: tuple[str, ...],
        attributes: Mapping[str, Any] | None = None,
        coords: Mapping[str, npt.ArrayLike] | None = None,
    ) -> None:
        """Write (or replace) the array ``metrics/NAME`` whole, over ``dims``.

        ``dims`` is ``()`` for a scalar. ``attributes`` (JSON-able, e.g. ``description``,
        ``paper_value``) are stored on the array. ``coords`` labels dims: each becomes the
        array ``metrics/DIM`` over ``(DIM,)``; a dim used by several metrics must have the same
        size, and the same labels, in all of them. Works after ``close`` too.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError(
                f"write_metric: name {name!r} is not allowed: use letters, digits and "
                "underscores, not starting with a digit"
            )
        if isinstance(dims, str) or not isinstance(dims, tuple | list):
            raise ValidationError(f"write_metric {name!r}: dims must be a tuple, got {dims!r}")
        dims = tuple(dims)
        for dim in dims:
            if not isinstance(dim, str) or not _NAME.match(dim):
                raise ValidationError(f"write_metric {name!r}: dim {dim!r} is not a valid name")
        if len(set(dims)) != len(dims):
            raise ValidationError(f"write_metric {name!r}: dims {dims} repeat a name")
        array = _metric_values(name, values)
        if array.ndim != len(dims):
            raise ValidationError(
                f"write_metric {name!r}: values have shape {array.shape}, which does not fit "
                f"dims {dims}"
            )
        metric_attributes = _to_json(dict(attributes or {}), f"write_metric {name!r} attributes")

        group = zarr.open_group(self._zarr_store, path="metrics", mode="r+", use_consolidated=False)
        existing = dict(group.arrays())
        coordinate_names = {key for key, node in existing.items() if _dims_of(node) == (key,)}
        if name in coordinate_names or any(name in _dims_of(node) for node in existing.values()):
            raise ValidationError(
                f"write_metric: {name!r} is already a dim of the metrics group; choose another name"
            )
        if name in dims:
            raise ValidationError(f"write_metric: {name!r} cannot be one of its own dims {dims}")
        sizes = dict(zip(dims, array.shape, strict=True))
        for key, node in existing.items():
            if key == name:
                continue
            for dim, size in zip(_dims_of(node), node.shape, strict=True):
                if dim in sizes and sizes[dim] != size:
                    raise ValidationError(
                        f"write_metric {name!r}: dim {dim!r} has size {sizes[dim]} here but "
                        f"{size} in metrics/{key}; a dim has one size in the metrics group"
                    )
            if key in sizes and key not in coordinate_names:
                raise ValidationError(f"write_metric {name!r}: dim {key!r} is a metric's name")
        coordinate_arrays = {}
        for dim, labels in (coords or {}).items():
            if dim not in sizes:
                raise ValidationError(
                    f"write_metric {name!r}: coordinate {dim!r} is not one of its dims {dims}"
                )
            labels_array = _metric_values(f"{name}.coords[{dim!r}]", labels)
            if labels_array.shape != (sizes[dim],):
                raise ValidationError(
                    f"write_metric {name!r}: coordinate {dim!r} has shape {labels_array.shape}, "
                    f"expected ({sizes[dim]},)"
                )
            if dim in existing:
                stored = existing[dim][...]
                if stored.shape != labels_array.shape or not np.array_equal(
                    np.asarray(stored).astype(labels_array.dtype), labels_array
                ):
                    raise ValidationError(
                        f"write_metric {name!r}: coordinate {dim!r} differs from the one "
                        "already in the metrics group"
                    )
                continue
            coordinate_arrays[dim] = labels_array

        for dim, labels_array in coordinate_arrays.items():
            _write_whole(group, dim, labels_array, (dim,), {})
        _write_whole(group, name, array, dims, metric_attributes)
        self._commit("metrics")

    def append_events(
        self, columns: Mapping[str, npt.ArrayLike], kinds: tuple[str, ...] = ()
    ) -> None:
        """Append rows to the ``events/`` group (created by the first call): every column a
        1-D array of the same length, the same names and dtypes at every call. ``kinds``
        names the codes of a ``kind`` column (stored as the group attribute ``kinds``)."""
        self._check_open("append_events")
        arrays = {name: np.asarray(values) for name, values in columns.items()}
        lengths = {name: array.shape for name, array in arrays.items()}
        if any(len(shape) != 1 for shape in lengths.values()) or len(set(lengths.values())) > 1:
            raise ValidationError(f"append_events: columns must be 1-D of one length: {lengths}")
        if "events" not in self._root:
            group = self._root.create_group("events", attributes={"kinds": list(kinds)})
            for name, array in arrays.items():
                group.create_array(
                    name,
                    shape=(0,),
                    chunks=(EVENT_CHUNK,),
                    dtype=array.dtype,
                    dimension_names=("event",),
                )
        group = self._root["events"]
        stored = dict(group.arrays())
        if set(stored) != set(arrays):
            raise ValidationError(
                f"append_events: columns {sorted(arrays)}; the events group has {sorted(stored)}"
            )
        start = next(iter(stored.values())).shape[0]
        stop = start + next(iter(lengths.values()))[0]
        for name, array in arrays.items():
            stored[name].resize((stop,))
            stored[name][start:stop] = array.astype(stored[name].dtype, copy=False)
        self._commit("events", attributes={"events_done": stop})

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one root attribute (JSON-able) now; the managed ones (status...) are refused."""
        if key in MANAGED_ATTRIBUTES:
            raise ValidationError(
                f"set_attribute: {key!r} is set by the store itself (managed: "
                f"{', '.join(MANAGED_ATTRIBUTES)}); close() sets the status"
            )
        if not isinstance(key, str) or not key:
            raise ValidationError(f"set_attribute: key must be a non-empty string, got {key!r}")
        self._commit(attributes={key: _to_json(value, f"attribute {key!r}")})

    def close(self, status: str = "complete", message: str | None = None) -> None:
        """Write what is buffered, then set ``status``, ``status_message`` and ``steps_done``.

        ``status`` is ``complete``, ``failed`` or ``interrupted``; ``message`` says why it
        stopped. Closing twice does nothing the second time. If writing the buffer fails, the
        store is marked ``failed`` with that error and the error propagates.
        """
        if self._closed:
            return
        if status not in STATUSES[1:]:
            raise ValidationError(
                f"close: status {status!r} is not allowed; allowed: {', '.join(STATUSES[1:])}"
            )
        if message is not None and not isinstance(message, str):
            raise ValidationError(f"close: message must be a string or None, got {message!r}")
        self._closed = True
        try:
            self._write_buffer()
        except BaseException as error:
            self._status = "failed"
            reason = f"writing the last buffered steps failed: {type(error).__name__}: {error}"
            if message:
                reason = f"{message}; {reason}"
            with contextlib.suppress(Exception):  # the write error is the one to report
                self._commit(attributes={"status": "failed", "status_message": reason})
            raise
        self._status = status
        self._commit(attributes={"status": status, "status_message": message})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if exc is None:
            self.close("complete")
            return
        if isinstance(exc, KeyboardInterrupt):
            status = "interrupted"
            default = (
                "terminated by SIGTERM"
                if isinstance(exc, RunInterrupted)
                else "KeyboardInterrupt (Ctrl-C)"
            )
            message = str(exc) or default
        else:
            status = "failed"
            message = f"{type(exc).__name__}: {exc}"
        try:
            self.close(status, message)
        except Exception as error:  # never hide the run's own exception
            exc.add_note(f"closing the run store {self._path} also failed: {error!r}")

    # ----------------------------------------------------------------------------------------
    # internals

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise ValidationError(
                f"{what}: the run store {self._path} is closed (status {self._status!r})"
            )

    def _capacity(self) -> int:
        """Steps that fill the buffer: up to the next chunk boundary along ``time``."""
        return self._time_chunk - self._steps_done % self._time_chunk

    def _write_buffer(self) -> None:
        if self._buffered == 0:
            return
        count = self._buffered
        self._write(
            self._buffer_time[:count],
            {name: buffer[:count] for name, buffer in self._buffer.items()},
        )
        self._buffered = 0

    def _write(self, times: np.ndarray, blocks: Mapping[str, np.ndarray]) -> None:
        """Write steps to disk, then commit them (``steps_done`` last)."""
        start = self._steps_done
        stop = start + len(times)
        for name, target in self._trajectory.items():
            target.resize((stop, *target.shape[1:]))
            target[start:stop] = np.asarray(blocks[name], dtype=self._specs[name].dtype)
        self._time.resize((stop,))
        self._time[start:stop] = times
        self._steps_done = stop
        self._commit("trajectory")

    def _commit(self, *groups: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Refresh consolidated metadata of ``groups`` and the root, then the root attributes."""
        root = _consolidate(self._zarr_store, groups)
        root.attrs.update(
            {
                **(attributes or {}),
                "steps_done": self._steps_done,
                "snapshots_done": self._snapshots_done,
            }
        )


class RunReader:
    """A run store opened read-only (see ``open_run``).

    Reads what is on disk without consolidated metadata, and cuts arrays along ``time`` to
    ``steps_done`` and along ``snapshot`` to ``snapshots_done``, so that a store whose writer
    was killed reads exactly what was committed.
    """

    def __init__(self, path: Path, root: zarr.Group) -> None:
        """Wrap an opened root group; use ``open_run``."""
        self._path = path
        self._root = root
        self._attributes = dict(root.attrs)

    @property
    def path(self) -> Path:
        """The store's directory."""
        return self._path

    @property
    def attributes(self) -> dict[str, Any]:
        """The root attributes (a copy): scenario, backend, seed, status, steps_done, ..."""
        return dict(self._attributes)

    @property
    def status(self) -> str:
        """The stored status: running, complete, failed or interrupted."""
        return str(self._attributes["status"])

    @property
    def status_message(self) -> str | None:
        """Why the run stopped (failed or interrupted), or None."""
        return self._attributes.get("status_message")

    @property
    def status_description(self) -> str:
        """The status in words; ``running`` reads "running or killed", since a store whose
        writer was killed cannot tell it apart from one still being written."""
        text = _STATUS_DESCRIPTIONS.get(self.status, self.status)
        if self.status_message:
            text = f"{text}: {self.status_message}"
        return text

    @property
    def steps_done(self) -> int:
        """Steps committed to ``trajectory``."""
        return int(self._attributes.get("steps_done", 0))

    @property
    def snapshots_done(self) -> int:
        """Weight snapshots committed."""
        return int(self._attributes.get("snapshots_done", 0))

    def checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The latest checkpoint's arrays and attributes (``RunStore.write_checkpoint``), or
        None where the run wrote none."""
        if CHECKPOINT not in self.groups():
            return None
        group = self._root[CHECKPOINT]
        latest = group.attrs.get("latest")
        if latest is None:
            return None
        state = group[latest]
        arrays = {name: np.asarray(node[...]) for name, node in state.arrays()}
        return arrays, dict(state.attrs)

    def groups(self) -> list[str]:
        """Names of the store's groups."""
        return sorted(name for name, _ in self._root.groups())

    def names(self, group: str) -> list[str]:
        """Names of the arrays in ``group``."""
        return sorted(name for name, _ in self._group(group).arrays())

    def dims(self, group: str, name: str) -> tuple[str, ...]:
        """Dimension names of ``group/name``."""
        return _dims_of(self._node(group, name))

    def array(self, group: str, name: str) -> np.ndarray:
        """The array ``group/name`` as NumPy, cut to the committed steps and snapshots.

        Strings come back as NumPy unicode arrays.
        """
        node = self._node(group, name)
        dims = _dims_of(node)
        if dims and dims[0] == "time":
            values = node[: self.steps_done]
        elif dims and dims[0] == "snapshot":
            values = node[: self.snapshots_done]
        else:
            values = node[...]
        values = np.asarray(values)
        if values.dtype.kind in "OT":
            values = _as_unicode(values)
        return values

    def __repr__(self) -> str:
        return (
            f"RunReader({str(self._path)!r}, status={self.status!r}, steps_done={self.steps_done})"
        )

    def _group(self, group: str) -> zarr.Group:
        available = self.groups()
        if group not in available:
            raise ValidationError(
                f"run store {self._path} has no group {group!r}; groups: {available}"
            )
        return self._root[group]  # type: ignore[return-value]

    def _node(self, group: str, name: str) -> zarr.Array:
        node_group = self._group(group)
        names = sorted(key for key, _ in node_group.arrays())
        if name not in names:
            raise ValidationError(
                f"run store {self._path} has no array {group}/{name}; arrays in {group}: {names}"
            )
        return node_group[name]  # type: ignore[return-value]


def open_run(path: str | os.PathLike[str]) -> RunReader:
    """Open the run store at ``path`` read-only.

    Raises ``ValidationError`` naming the path when it does not exist or is not a neurosim run
    store (no zarr v3 group, or no ``neurosim_version``/``status`` attributes).
    """
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"no run store at {path}: the path does not exist")
    try:
        root = zarr.open_group(
            zarr.storage.LocalStore(path, read_only=True), mode="r", use_consolidated=False
        )
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ValidationError(
            f"{path} is not a neurosim run store: it is not a zarr group ({error})"
        ) from error
    attributes = dict(root.attrs)
    missing = [key for key in ("neurosim_version", "status") if key not in attributes]
    if root.metadata.zarr_format != 3 or missing:
        raise ValidationError(
            f"{path} is not a neurosim run store: a zarr v{root.metadata.zarr_format} group "
            f"without the root attributes {missing or ['(zarr v3)']}"
        )
    if attributes["status"] not in STATUSES:
        raise ValidationError(
            f"{path}: status {attributes['status']!r} is not one of {', '.join(STATUSES)}"
        )
    return RunReader(path, root)


# --------------------------------------------------------------------------------------------
# helpers


def _consolidate(zarr_store: zarr.storage.LocalStore, groups: tuple[str, ...]) -> zarr.Group:
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
            zarr.consolidate_metadata(zarr_store, path=group)
        return zarr.consolidate_metadata(zarr_store)


def _build(
    building: Path,
    *,
    root_attributes: dict[str, Any],
    neuron_arrays: dict[str, np.ndarray],
    specs: dict[str, ArraySpec],
    recorded: np.ndarray,
    sources: np.ndarray,
    destinations: np.ndarray,
    time_chunk: int,
    weight_dtype: np.dtype[Any],
) -> None:
    """Write a new, empty run store into the directory ``building``."""
    zarr_store = zarr.storage.LocalStore(building)
    root = zarr.open_group(zarr_store, mode="w", zarr_format=3, attributes=root_attributes)
    n_neurons = len(neuron_arrays["role"])
    neuron_index = np.arange(n_neurons, dtype=np.int64)

    neurons = root.create_group("neurons")
    _write_whole(neurons, "neuron", neuron_index, ("neuron",), {})
    for field in NEURON_FIELDS:
        _write_whole(neurons, field, neuron_arrays[field], ("neuron",), {})

    trajectory = root.create_group("trajectory")
    trajectory.create_array(
        "time", shape=(0,), chunks=(time_chunk,), dtype=np.int64, dimension_names=("time",)
    )
    _write_whole(trajectory, "neuron", recorded, ("neuron",), {})
    for name, spec in specs.items():
        trajectory.create_array(
            name,
            shape=(0, *spec.shape),
            chunks=(time_chunk, *(max(size, 1) for size in spec.shape)),
            dtype=spec.dtype,
            dimension_names=("time", *spec.dims),
        )

    weights = root.create_group("weights")
    _write_whole(weights, "edge_src", sources, ("edge",), {})
    _write_whole(weights, "edge_dst", destinations, ("edge",), {})
    _write_whole(weights, "neuron", neuron_index, ("neuron",), {})
    weights.create_array(
        "W",
        shape=(0, len(sources)),
        chunks=(1, max(len(sources), 1)),
        dtype=weight_dtype,
        dimension_names=("snapshot", "edge"),
    )
    weights.create_array(
        "b",
        shape=(0, n_neurons),
        chunks=(1, max(n_neurons, 1)),
        dtype=weight_dtype,
        dimension_names=("snapshot", "neuron"),
    )
    weights.create_array(
        "snapshot_time", shape=(0,), chunks=(256,), dtype=np.int64, dimension_names=("snapshot",)
    )

    root.create_group("metrics")
    _consolidate(zarr_store, GROUPS)


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
        dimension_names=dims,
        attributes=attributes,
        overwrite=True,
    )
    if values.size:
        target[...] = values


def _dims_of(node: zarr.Array) -> tuple[str, ...]:
    names = node.metadata.dimension_names or ()  # type: ignore[union-attr]
    return tuple(str(name) for name in names)


def _validate_root_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(attributes, Mapping):
        raise ValidationError(f"attributes must be a dict, got {type(attributes).__name__}")
    managed = sorted(set(attributes) & set(MANAGED_ATTRIBUTES))
    if managed:
        raise ValidationError(
            f"attributes {managed} are set by the store itself; leave them out (managed: "
            f"{', '.join(MANAGED_ATTRIBUTES)})"
        )
    missing = [key for key in REQUIRED_ATTRIBUTES if key not in attributes]
    if missing:
        raise ValidationError(
            f"attributes {missing} are missing; a run store needs {', '.join(REQUIRED_ATTRIBUTES)}"
        )
    if not isinstance(attributes["scenario"], Mapping):
        raise ValidationError(
            f"attribute 'scenario' must be a dict (the resolved scenario), got "
            f"{type(attributes['scenario']).__name__}"
        )
    converted = _to_json(dict(attributes), "attributes")
    return {
        "neurosim_version": __version__,
        "store_format": STORE_FORMAT,
        **converted,
        "time_unit": TIME_UNIT,
        "status": "running",
        "status_message": None,
        "steps_done": 0,
        "snapshots_done": 0,
    }


def _validate_neurons(neurons: Mapping[str, npt.ArrayLike]) -> dict[str, np.ndarray]:
    if not isinstance(neurons, Mapping) or set(neurons) != set(NEURON_FIELDS):
        given = sorted(neurons) if isinstance(neurons, Mapping) else type(neurons).__name__
        raise ValidationError(f"neurons must have exactly the keys {NEURON_FIELDS}, got {given}")
    arrays = {field: np.asarray(neurons[field]) for field in NEURON_FIELDS}
    n_neurons = arrays["role"].shape[0] if arrays["role"].ndim == 1 else -1
    for field, array in arrays.items():
        if array.ndim != 1 or array.shape[0] != n_neurons or n_neurons < 1:
            shapes = {key: value.shape for key, value in arrays.items()}
            raise ValidationError(
                f"neurons[{field!r}] must be 1-D with one entry per neuron (at least one), and "
                f"all three the same length; got shapes {shapes}"
            )
    for field in ("role", "name"):
        array = arrays[field]
        if not _is_strings(array):
            raise ValidationError(
                f"neurons[{field!r}] must hold strings, got dtype {array.dtype} (convert with "
                ".astype(str))"
            )
        arrays[field] = _as_unicode(array)
    if arrays["layer"].dtype.kind not in "iu":
        raise ValidationError(
            f"neurons['layer'] must hold integers (-1 for none), got dtype {arrays['layer'].dtype}"
        )
    arrays["layer"] = arrays["layer"].astype(np.int64)
    return arrays


def _validate_recorded_neurons(recorded: npt.ArrayLike | None, n_neurons: int) -> np.ndarray:
    if recorded is None:
        return np.arange(n_neurons, dtype=np.int64)
    array = np.asarray(recorded)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValidationError(
            f"recorded_neurons must be a 1-D array of neuron indices, got shape {array.shape} "
            f"and dtype {array.dtype}"
        )
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= n_neurons):
        raise ValidationError(
            f"recorded_neurons must be in 0..{n_neurons - 1}, got values from {array.min()} to "
            f"{array.max()}"
        )
    if len(np.unique(array)) != len(array):
        raise ValidationError("recorded_neurons repeats a neuron")
    return array


def _validate_specs(arrays: Mapping[str, ArraySpec], n_recorded: int) -> dict[str, ArraySpec]:
    if not isinstance(arrays, Mapping):
        raise ValidationError(f"arrays must be a dict of ArraySpec, got {type(arrays).__name__}")
    specs = dict(arrays)
    sizes: dict[str, tuple[int, str]] = {"neuron": (n_recorded, "recorded_neurons")}
    for name, spec in specs.items():
        if not isinstance(spec, ArraySpec):
            raise ValidationError(
                f"arrays[{name!r}] must be an ArraySpec, got {type(spec).__name__}"
            )
        if not isinstance(name, str) or not _NAME.match(name) or name in ("time", "neuron"):
            raise ValidationError(
                f"trajectory array name {name!r} is not allowed: use letters, digits and "
                "underscores, not starting with a digit, and not 'time' or 'neuron'"
            )
        for dim, size in zip(spec.dims, spec.shape, strict=True):
            known, where = sizes.setdefault(dim, (size, f"arrays[{name!r}]"))
            if known != size:
                raise ValidationError(
                    f"arrays[{name!r}] has dim {dim!r} of size {size}, but {where} gives it "
                    f"size {known}"
                )
    dims = {dim for spec in specs.values() for dim in spec.dims}
    clashes = sorted(set(specs) & dims)
    if clashes:
        raise ValidationError(f"trajectory arrays {clashes} are named like a dim; rename them")
    return specs


def _validate_edges(
    edge_src: npt.ArrayLike, edge_dst: npt.ArrayLike, n_neurons: int
) -> tuple[np.ndarray, np.ndarray]:
    checked = []
    for name, value in (("edge_src", edge_src), ("edge_dst", edge_dst)):
        array = np.asarray(value)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise ValidationError(
                f"{name} must be a 1-D array of neuron indices, got shape {array.shape} and "
                f"dtype {array.dtype}"
            )
        array = array.astype(np.int64)
        if array.size and (array.min() < 0 or array.max() >= n_neurons):
            raise ValidationError(
                f"{name} must be in 0..{n_neurons - 1}, got values from {array.min()} to "
                f"{array.max()}"
            )
        checked.append(array)
    if checked[0].shape != checked[1].shape:
        raise ValidationError(
            f"edge_src and edge_dst differ in length: {len(checked[0])} and {len(checked[1])}"
        )
    return checked[0], checked[1]


def _check_destination(path: Path, overwrite: bool) -> None:
    if not path.exists():
        return
    if not overwrite:
        raise ValidationError(
            f"{path} already exists; choose another path or pass overwrite=True to replace it"
        )
    if path.is_dir() and not any(path.iterdir()):
        return
    try:
        open_run(path)
    except ValidationError as error:
        raise ValidationError(
            f"{path} exists and is not a neurosim run store; refusing to overwrite it ({error})"
        ) from error


def _is_strings(array: np.ndarray) -> bool:
    if array.dtype.kind in "UT":
        return True
    if array.dtype.kind == "O":
        return all(isinstance(item, str) for item in array.ravel())
    return False


def _as_unicode(array: np.ndarray) -> np.ndarray:
    """Strings of any NumPy kind (unicode, StringDType, objects) as a NumPy unicode array."""
    if array.size == 0:
        return np.empty(array.shape, dtype="<U1")
    return np.array(array.tolist(), dtype=np.str_)


def _metric_values(name: str, values: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(values)
    if _is_strings(array):
        return _as_unicode(array)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ValidationError(
            f"write_metric {name!r}: values of dtype {array.dtype} are not allowed; allowed: "
            "bool, integers, floats, strings"
        )
    return array


def _to_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (NumPy scalars and arrays converted), or ValidationError."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(
                f"{where} is {number}, which JSON cannot hold; use None or a string"
            )
        return number
    if isinstance(value, np.ndarray):
        return _to_json(value.tolist(), where)
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where} has key {key!r}; JSON keys must be strings")
            converted[key] = _to_json(item, f"{where}[{key!r}]")
        return converted
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ValidationError(
        f"{where} is {value!r} of type {type(value).__name__}, which JSON cannot hold; allowed: "
        "None, bool, int, float, str, and lists and dicts of them"
    )


def _preview(array: np.ndarray, count: int = 6) -> str:
    items = array[:count].tolist()
    return str(items)[:-1] + (", ...]" if len(array) > count else "]")
