"""Writing a run store: ``RunStore`` creates it, records a run into it as the run goes, and
closes it with the run's status.

Writing is incremental. ``RunStore.append`` copies steps into a buffer of at most
``time_chunk`` steps (up to the next chunk boundary along ``time``) and writes it out when it
fills; ``flush`` writes it out at once. Each write is a *commit*: the data first, then the
group's consolidated metadata, then the root attributes ``steps_done`` / ``snapshots_done``.
``steps_done`` never counts a step whose data is not on disk, so after a crash (even SIGKILL)
the store is readable and everything counted by ``steps_done`` is there. zarr's local store
writes each file atomically (temporary file, then rename). A write that fails (a full disk)
cuts every array back to the committed position before anything else is written, so the
store never holds arrays of different lengths.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import zarr

from neurosim.checks import check_integer
from neurosim.errors import StoreWriteError, ValidationError
from neurosim.recording.checkpoint import (
    CHECKPOINT,
    _newest_checkpoint,
    _remove_newer,
    _write_checkpoint,
)
from neurosim.recording.events import _append_events, _event_columns
from neurosim.recording.layout import (
    MANAGED_ATTRIBUTES,
    STATUSES,
    TIME_UNIT,
    WRITE_EVERY_CHUNK,
    ArraySpec,
    _build,
    _consolidate,
    _dims_of,
)
from neurosim.recording.location import (
    StorePath,
    is_remote,
    remove_tree,
    store_path,
    zarr_store,
)
from neurosim.recording.lock import (
    WriterLock,
    claim_new_store,
    clear_store,
)
from neurosim.recording.metrics import _write_metric
from neurosim.recording.reader import RunReader
from neurosim.recording.resume import (
    _committed_positions,
    _lock_stopped_run,
    _remove_metrics_except,
    _remove_partial_files,
)
from neurosim.recording.series import (
    SERIES_DIMS,
    SERIES_DONE,
    RowBuffer,
    _validate_rows,
    _validate_series,
)
from neurosim.recording.signals import RunInterrupted
from neurosim.recording.validation import (
    _to_json,
    _validate_delays,
    _validate_edges,
    _validate_neurons,
    _validate_recorded_neurons,
    _validate_root_attributes,
    _validate_snapshot,
    _validate_specs,
    _validate_steps,
    _validate_weight_dtype,
)


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
        path: StorePath,
        lock: WriterLock,
        *,
        arrays: Mapping[str, ArraySpec],
        n_neurons: int,
        n_edges: int,
        recorded_neurons: np.ndarray,
        time_chunk: int,
        weight_dtype: np.dtype[Any],
        series: Mapping[str, Mapping[str, ArraySpec]] | None = None,
        series_chunk: int | None = None,
    ) -> None:
        """Open the handles of a store that ``create`` has just written; use ``create``."""
        self._path = path
        self._lock = lock  # held as long as this writer exists: no other process writes here
        self._specs = dict(arrays)
        self._n_neurons = n_neurons
        self._n_edges = n_edges
        self._recorded_neurons = recorded_neurons
        self._time_chunk = time_chunk
        self._weight_dtype = weight_dtype
        self._zarr_store = zarr_store(path)
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
        columns = {"time": ((), np.dtype(np.int64))}
        columns |= {name: (spec.shape, spec.dtype) for name, spec in arrays.items()}
        self._steps = RowBuffer(columns, time_chunk)
        self._series_specs = {name: dict(specs) for name, specs in (series or {}).items()}
        self._series = {
            name: {array: self._open_array(f"{name}/{array}") for array in specs}
            for name, specs in self._series_specs.items()
        }
        self._series_buffers = {
            name: RowBuffer(
                {array: (spec.shape[1:], spec.dtype) for array, spec in specs.items()},
                series_chunk or time_chunk,
            )
            for name, specs in self._series_specs.items()
        }
        self._series_done = dict.fromkeys(self._series_specs, 0)
        self._checkpoint_keep = 2
        self._status = "running"
        self._closed = False
        self._steps_simulated: int | None = None
        self._write_error: StoreWriteError | None = None
        self._events_done = 0
        self._metrics_held = False  # inside metrics_together: commit the metrics at its end
        # the root as last consolidated: its attributes can be rewritten without consolidating
        self._consolidated_root = zarr.open_group(self._zarr_store, mode="r+")

    def _open_array(self, path: str) -> zarr.Array:
        node: zarr.Array = self._root[path]  # type: ignore[assignment]
        return node.with_config(WRITE_EVERY_CHUNK)

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
        edge_delay: npt.ArrayLike | None = None,
        time_chunk: int = 256,
        overwrite: bool = False,
        weight_dtype: npt.DTypeLike = np.float64,
        series: Mapping[str, Mapping[str, ArraySpec]] | None = None,
        series_chunk: int | None = None,
        time_unit: str = TIME_UNIT,
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
        ``edge_delay``: each synapse's delay in time units, NaN where the topology gives none
        (None: not stored).
        ``time_chunk``: steps per chunk along ``time``, also the most steps kept in memory;
        choose it so that ``time_chunk`` steps of all arrays fit comfortably in memory.
        ``weight_dtype``: float dtype of the stored weight snapshots. ``series``: appendable
        series by group name, each a dict of arrays (``ArraySpec``) that share their first dim,
        the one the series grows along (``ArraySpec(("sample", "neuron"), (0, 10), "float32")``:
        rows of 10 values over ``sample``; ``shape[0]`` is not used); rows go in with
        ``append_series``. ``series_chunk``: rows per chunk of the series, also the most rows
        of a series kept in memory (default: ``time_chunk``). ``time_unit``: what one unit
        of the ``time`` axis is (a spiking run's grid step, e.g. ``"0.1 ms"``).

        Everything is checked before anything is written; a bad argument raises
        ``ValidationError`` and leaves no files. The directory is created atomically (of two
        processes creating one path, one does) and its writer lock (``neurosim.lock``) is
        taken first and held as long as the returned writer exists. An existing ``path`` is
        refused unless ``overwrite`` is true, and even then only if it is neurosim's: a run
        store, a store whose creation was cut short (it holds the lock file), or an empty
        directory; a store another process writes is refused (``StoreInUseError``, naming
        it). A failure while creating the store removes what this call wrote.
        """
        path = store_path(path)
        if not isinstance(time_unit, str) or not time_unit:
            raise ValidationError(f"time_unit = {time_unit!r}: expected a non-empty string")
        root_attributes = _validate_root_attributes(attributes, time_unit)
        neuron_arrays = _validate_neurons(neurons)
        n_neurons = len(neuron_arrays["role"])
        recorded = _validate_recorded_neurons(recorded_neurons, n_neurons)
        specs = _validate_specs(arrays, len(recorded))
        sources, destinations = _validate_edges(edge_src, edge_dst, n_neurons)
        delays = None if edge_delay is None else _validate_delays(edge_delay, len(sources))
        time_chunk = check_integer("time_chunk", time_chunk, 1)
        weight_dtype = _validate_weight_dtype(weight_dtype)
        checked_series = _validate_series(series)
        series_chunk = check_integer("series_chunk", series_chunk or time_chunk, 1)
        if checked_series:
            root_attributes[SERIES_DIMS] = {
                name: next(iter(specs.values())).dims[0] for name, specs in checked_series.items()
            }
            root_attributes[SERIES_DONE] = dict.fromkeys(checked_series, 0)
        lock, made = claim_new_store(path, overwrite)
        try:
            _build(
                path,
                root_attributes=root_attributes,
                neuron_arrays=neuron_arrays,
                specs=specs,
                recorded=recorded,
                sources=sources,
                destinations=destinations,
                delays=delays,
                time_chunk=time_chunk,
                weight_dtype=weight_dtype,
                series=checked_series,
                series_chunk=series_chunk,
            )
        except BaseException:
            # leave nothing behind: no directory where there was none, else an empty one
            _remove_partial_store(path, made)
            del lock  # let go now (the traceback keeps no reference to it)
            raise
        return cls(
            path,
            lock,
            arrays=specs,
            n_neurons=n_neurons,
            n_edges=len(sources),
            recorded_neurons=recorded,
            time_chunk=time_chunk,
            weight_dtype=weight_dtype,
            series=checked_series,
            series_chunk=series_chunk,
        )

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> RunStore:
        """Open an interrupted, failed or killed run's store to continue it: status
        ``running`` again, appends and snapshots go on after the committed ones (anything a
        killed writer left beyond them is cut off). A complete run is refused, and so is a
        store another process writes (``StoreInUseError``); the writer lock is taken first
        and held as long as the returned writer exists."""
        lock, reader = _lock_stopped_run(path)
        return cls._reopened(reader, lock, _committed_positions(reader.attributes))

    @classmethod
    def resume(
        cls, path: str | os.PathLike[str]
    ) -> tuple[RunStore, dict[str, np.ndarray], dict[str, Any]]:
        """Reopen a stopped run's store at its newest valid checkpoint (``neurosim run
        --resume``): returns the writer (status ``running``) and the checkpoint's arrays and
        attributes.

        Takes the writer lock, picks the newest valid checkpoint (a newer partial or corrupt
        one is skipped with a ``CheckpointWarning`` naming it and what is wrong), then cuts
        the trajectory, weight snapshots, events and series back to the positions the
        checkpoint recorded, removes the metrics written after it, the newer checkpoints and
        any partial file a killed write left, so that the run goes on from there with
        neither gaps nor repeated steps. Refused with ``ValidationError`` naming the path,
        before anything is changed: a path that is not a run store, one of another store
        format, a complete run, a store without a valid checkpoint, a store another process
        writes (``StoreInUseError``)."""
        lock, reader = _lock_stopped_run(path)
        saved = reader._newest_checkpoint()
        if saved is None:
            invalid = _newest_checkpoint(reader._root, reader.path)[1]
            why = "; ".join(f"{name}: {reason}" for name, reason in invalid)
            raise ValidationError(
                f"{reader.path}: no valid checkpoint to resume from "
                f"({why or 'the run stopped before its first checkpoint'}); a store can be resumed "
                "from a checkpoint only: run the scenario again with --overwrite"
            )
        positions = saved.positions or _committed_positions(reader.attributes)
        _remove_newer(reader.path, saved.name)
        _remove_partial_files(reader.path)
        store = cls._reopened(reader, lock, positions)
        return store, saved.arrays, saved.attributes

    @classmethod
    def _reopened(
        cls, reader: RunReader, lock: WriterLock, positions: Mapping[str, Any]
    ) -> RunStore:
        """The writer of the stopped run ``reader`` reads, cut back to ``positions``
        (``steps_done``, ``snapshots_done``, ``events_done``, ``series_done``,
        ``steps_simulated`` and, where given, the ``metrics`` to keep), status ``running``."""
        root = reader._root
        trajectory = root["trajectory"]
        names = sorted(name for name, _ in trajectory.arrays() if name not in ("time", "neuron"))
        specs = {}
        for name in names:
            node = trajectory[name]
            specs[name] = ArraySpec(_dims_of(node)[1:], node.shape[1:], node.dtype)
        series = {}
        for group in reader.series_names():
            nodes = dict(root[group].arrays())
            series[group] = {
                array: ArraySpec(_dims_of(node), (0, *node.shape[1:]), node.dtype)
                for array, node in nodes.items()
            }
        first = next((nodes for nodes in series.values()), None)
        store = cls(
            reader.path,
            lock,
            arrays=specs,
            n_neurons=int(root["neurons/role"].shape[0]),
            n_edges=int(root["weights/edge_src"].shape[0]),
            recorded_neurons=np.asarray(trajectory["neuron"][...]),
            time_chunk=int(trajectory["time"].chunks[0]),
            weight_dtype=root["weights/W"].dtype,
            series=series,
            series_chunk=(
                int(root[f"{next(iter(series))}/{next(iter(first))}"].chunks[0]) if first else None
            ),
        )
        steps, snapshots = int(positions["steps_done"]), int(positions["snapshots_done"])
        store._steps_done, store._snapshots_done = steps, snapshots
        store._events_done = int(positions.get("events_done", 0))
        store._series_done.update(
            {name: int(rows) for name, rows in (positions.get(SERIES_DONE) or {}).items()}
        )
        if positions.get("steps_simulated") is not None:
            store._steps_simulated = int(positions["steps_simulated"])
        groups = ["trajectory", "weights", *series]
        attributes: dict[str, Any] = {"status": "running", "status_message": None}
        if "events" in store._root:
            groups.append("events")
            attributes["events_done"] = store._events_done
        if "metrics" in positions:
            _remove_metrics_except(store._path, positions["metrics"])
            groups.append("metrics")
        store._cut_to_committed()
        if steps:
            store._last_time = int(store._time[steps - 1])
        if snapshots:
            store._last_snapshot_time = int(store._snapshot_time[snapshots - 1])
        store._commit(*groups, attributes=attributes)
        return store

    @property
    def checkpoint_keep(self) -> int:
        """How many of the newest checkpoints are kept (at least 2, default 2)."""
        return self._checkpoint_keep

    @checkpoint_keep.setter
    def checkpoint_keep(self, keep: int) -> None:
        self._checkpoint_keep = check_integer("checkpoint_keep", keep, 2)

    def write_checkpoint(
        self, arrays: Mapping[str, npt.ArrayLike], attributes: Mapping[str, Any]
    ) -> None:
        """Write a checkpoint: ``arrays`` (flat names) and JSON-able ``attributes``, the state
        to continue the run from at this point.

        Writes the buffered steps and rows first, then the arrays into a new subgroup
        ``checkpoint/stateK``, then, last, its manifest: a checksum per array and the store's
        committed positions (steps, snapshots, events, each series' rows, steps simulated,
        the metric names), to which ``resume`` cuts the store back. Then all but the newest
        ``checkpoint_keep`` checkpoints are removed. A write cut short leaves a checkpoint
        without a manifest, which readers skip (with a warning) for the one before it."""
        self._check_open("write_checkpoint")
        self._write_buffers()
        with self._writing("a checkpoint"):
            _write_checkpoint(
                self._root,
                self._path,
                arrays,
                attributes,
                self._positions(),
                self._checkpoint_keep,
            )
            self._commit(CHECKPOINT)

    def _positions(self) -> dict[str, Any]:
        """The committed positions a checkpoint's manifest records."""
        positions = {
            key: value
            for key, value in self._committed_attributes({}).items()
            if key in ("steps_done", "snapshots_done", "steps_simulated", SERIES_DONE)
        }
        if "events" in self._root:
            positions["events_done"] = self._events_done
        metrics = zarr.open_group(self._zarr_store, path="metrics", use_consolidated=False)
        positions["metrics"] = sorted(name for name, _ in metrics.arrays())
        return positions

    # ----------------------------------------------------------------------------------------
    # properties

    @property
    def path(self) -> StorePath:
        """The store's directory (a ``UPath`` on a remote file system)."""
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
        return self._steps_done + self._steps.count

    @property
    def buffered_steps(self) -> int:
        """Steps held in memory, not yet written; never more than ``time_chunk``."""
        return self._steps.count

    @property
    def buffer_nbytes(self) -> int:
        """Bytes of the (preallocated) step buffer: ``time_chunk`` steps of every array."""
        return self._steps.nbytes

    @property
    def series(self) -> dict[str, dict[str, ArraySpec]]:
        """The appendable series, by name: their arrays' specs."""
        return {name: dict(specs) for name, specs in self._series_specs.items()}

    def series_rows(self, name: str) -> int:
        """Rows of the series ``name`` given to ``append_series`` so far (on disk or
        buffered)."""
        self._check_series(name)
        return self._series_done[name] + self._series_buffers[name].count

    @property
    def snapshots_done(self) -> int:
        """Weight snapshots written."""
        return self._snapshots_done

    @property
    def last_snapshot_time(self) -> int | None:
        """Step of the last weight snapshot written, or None."""
        return self._last_snapshot_time

    @property
    def steps_simulated(self) -> int | None:
        """Steps the simulator has done (recorded or not), as last set; None until set."""
        return self._steps_simulated

    @steps_simulated.setter
    def steps_simulated(self, steps: int) -> None:
        """Count of simulated steps, written with every commit (and at close), so that it is
        on disk however the run ends, even after SIGKILL (as of the last commit)."""
        self._steps_simulated = check_integer("steps_simulated", steps, 0)

    @property
    def write_error(self) -> StoreWriteError | None:
        """The error of a write that failed (a full disk), after which nothing more is
        written but the closing status; None while every write has succeeded."""
        return self._write_error

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
            f"steps_done={self._steps_done}, buffered_steps={self._steps.count})"
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
        times, given = _validate_steps(self._specs, self._last_time, time, values, self._path)
        n_steps = len(times)
        if n_steps == 0:
            return
        self._last_time = int(times[-1])
        self._steps.fill({"time": times, **given}, n_steps, lambda: self._steps_done, self._write)

    def append_series(self, name: str, rows: Mapping[str, npt.ArrayLike]) -> None:
        """Append rows to the series ``name``: every array of the series, each of shape
        ``(n_rows, *spec.shape[1:])`` with one ``n_rows``, of a dtype that casts within its
        kind. Checked before anything is kept (``ValidationError`` naming the series and the
        array). Rows are buffered up to the next chunk boundary (``series_chunk`` rows) and
        written chunk by chunk; each write commits the series' row count (root attribute
        ``series_done``), so a reader sees exactly the committed rows."""
        self._check_open("append_series")
        self._check_series(name)
        n_rows, arrays = _validate_rows(name, self._series_specs[name], rows)
        if n_rows == 0:
            return
        self._series_buffers[name].fill(
            arrays,
            n_rows,
            lambda: self._series_done[name],
            lambda block: self._write_series(name, block),
        )

    def flush(self) -> None:
        """Write the buffered steps and series rows now and commit them (``steps_done``,
        ``series_done``); a no-op when none are buffered.

        Call it where a reader should see the steps so far, e.g. before a checkpoint.
        """
        self._check_open("flush")
        self._write_buffers()

    def snapshot_weights(self, time: int, weights: npt.ArrayLike, bias: npt.ArrayLike) -> None:
        """Write the weights (one per edge, in ``edge_src``/``edge_dst`` order) and biases.

        ``time`` is the step number, increasing from snapshot to snapshot. Written at once
        (no buffering), then counted in ``snapshots_done``.
        """
        self._check_open("snapshot_weights")
        time, checked_weights, checked_bias = _validate_snapshot(
            time,
            weights,
            bias,
            last_snapshot_time=self._last_snapshot_time,
            n_edges=self._n_edges,
            n_neurons=self._n_neurons,
            weight_dtype=self._weight_dtype,
        )
        index = self._snapshots_done
        with self._writing("a weight snapshot"):
            for target, array in zip(
                (self._weights, self._bias), (checked_weights, checked_bias), strict=True
            ):
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
        self._check_writable("write_metric")
        with self._writing(f"the metric {name!r}"):
            _write_metric(self._zarr_store, name, values, dims, attributes, coords)
            if not self._metrics_held:
                self._commit("metrics")

    @contextlib.contextmanager
    def metrics_together(self) -> Iterator[None]:
        """Write several metrics with one commit: ``write_metric`` inside the block writes
        each array, and the block's end commits them all at once (the consolidated metadata
        that xarray reads, rewritten once instead of once per metric). A reader sees them
        when the block ends; the block's end commits what was written also when an error
        leaves it, unless writing failed."""
        outer = self._metrics_held
        self._metrics_held = True
        try:
            yield
        finally:
            self._metrics_held = outer
            if not outer and self._write_error is None:
                with self._writing("the metrics"):
                    self._commit("metrics")

    def append_events(
        self, columns: Mapping[str, npt.ArrayLike], kinds: tuple[str, ...] = ()
    ) -> None:
        """Append rows to the ``events/`` group (created by the first call): every column a
        1-D array of the same length, the same names and dtypes at every call. ``kinds``
        names the codes of a ``kind`` column (stored as the group attribute ``kinds``)."""
        self._check_open("append_events")
        with self._writing("events"):
            self._events_done = _append_events(self._root, columns, kinds)
            self._commit("events", attributes={"events_done": self._events_done})

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one root attribute (JSON-able) now; the managed ones (status...) are refused."""
        if key in MANAGED_ATTRIBUTES:
            raise ValidationError(
                f"set_attribute: {key!r} is set by the store itself (managed: "
                f"{', '.join(MANAGED_ATTRIBUTES)}); close() sets the status"
            )
        if not isinstance(key, str) or not key:
            raise ValidationError(f"set_attribute: key must be a non-empty string, got {key!r}")
        self._check_writable("set_attribute")
        value = _to_json(value, f"attribute {key!r}")
        with self._writing(f"the attribute {key!r}"):
            self._commit(attributes={key: value})

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
            if self._write_error is None:
                self._write_buffers()
        except StoreWriteError:
            pass  # kept in _write_error: the store is marked failed below
        except BaseException as error:
            self._status = "failed"
            reason = f"writing the last buffered steps failed: {type(error).__name__}: {error}"
            with contextlib.suppress(Exception):  # the write error is the one to report
                self._commit(
                    attributes={"status": "failed", "status_message": _join(message, reason)}
                )
            raise
        if self._write_error is None:
            self._status = status
            self._commit(attributes={"status": status, "status_message": message})
            return
        self._mark_failed(_join(message, str(self._write_error)))
        raise self._write_error

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
            if error is not exc:  # a failed write raises its error again at close
                exc.add_note(f"closing the run store {self._path} also failed: {error!r}")

    # ----------------------------------------------------------------------------------------
    # internals

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise ValidationError(
                f"{what}: the run store {self._path} is closed (status {self._status!r})"
            )
        self._check_writable(what)

    def _check_writable(self, what: str) -> None:
        if self._write_error is not None:
            raise StoreWriteError(f"{what}: {self._write_error}")

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Around every write: an ``OSError`` (a full disk, a file system error) cuts the
        store back to its committed position, is kept in ``write_error`` and raised as a
        ``StoreWriteError`` naming the store; any other exception still cuts back. Nothing
        but the closing status is written after a failed write."""
        try:
            yield
        except BaseException as error:
            cut = self._cut_to_committed()
            if not isinstance(error, OSError):
                raise
            reason = error.strerror or str(error)
            where = f" ({error.filename})" if error.filename else ""
            self._write_error = StoreWriteError(
                f"writing {what} to the run store {self._path} failed: {reason}{where}; the "
                f"store keeps {self._steps_done} committed steps and {self._snapshots_done} "
                f"weight snapshots{'' if cut else ' (cutting back the arrays failed too)'}"
            )
            if self._closed:  # a metric written after close: the store no longer is complete
                self._mark_failed(str(self._write_error))
            raise self._write_error from error

    def _mark_failed(self, reason: str) -> None:
        """Set the status ``failed`` with ``reason``, in the root's metadata as last
        consolidated (no other file), if the disk takes that write."""
        self._status = "failed"
        with contextlib.suppress(OSError):  # the disk may still be full: nothing more to do
            # one write: zarr's attrs.update writes the file once per key
            self._consolidated_root.update_attributes(
                self._committed_attributes({"status": "failed", "status_message": reason})
            )

    def _cut_to_committed(self) -> bool:
        """Resize every array along ``time`` and ``snapshot`` to what is committed and
        consolidate that, so that no reader sees a partial write; False if that failed
        too (the consolidated metadata then still describes the last commit)."""
        committed: list[tuple[zarr.Array, int]] = [
            (self._time, self._steps_done),
            (self._snapshot_time, self._snapshots_done),
            (self._weights, self._snapshots_done),
            (self._bias, self._snapshots_done),
        ]
        committed += [(target, self._steps_done) for target in self._trajectory.values()]
        groups: tuple[str, ...] = ("trajectory", "weights", *self._series)
        for name, targets in self._series.items():
            committed += [(target, self._series_done[name]) for target in targets.values()]
        if "events" in self._root:
            committed += [
                (column, self._events_done) for column in _event_columns(self._root).values()
            ]
            groups += ("events",)
        try:
            cut = False
            for target, length in committed:
                if target.shape[0] != length:
                    target.resize((length, *target.shape[1:]))
                    cut = True
            if cut:  # otherwise the consolidated metadata already describes the last commit
                self._consolidated_root = _consolidate(self._zarr_store, groups)
        except OSError:
            return False
        return True

    def _write_buffers(self) -> None:
        """Write every buffered step and series row."""
        self._steps.drain(self._write)
        for name, buffer in self._series_buffers.items():
            buffer.drain(lambda block, name=name: self._write_series(name, block))

    def _write(self, blocks: Mapping[str, np.ndarray]) -> None:
        """Write steps (``time`` and every array) to disk, then commit them (``steps_done``
        last)."""
        times = blocks["time"]
        start = self._steps_done
        stop = start + len(times)
        with self._writing(f"steps {int(times[0])} to {int(times[-1])}"):
            for name, target in self._trajectory.items():
                target.resize((stop, *target.shape[1:]))
                target[start:stop] = np.asarray(blocks[name], dtype=self._specs[name].dtype)
            self._time.resize((stop,))
            self._time[start:stop] = times
            self._steps_done = stop
            self._commit("trajectory")

    def _write_series(self, name: str, blocks: Mapping[str, np.ndarray]) -> None:
        """Write rows of the series ``name`` to disk, then commit them (``series_done``)."""
        start = self._series_done[name]
        stop = start + len(next(iter(blocks.values())))
        with self._writing(f"rows {start} to {stop - 1} of the series {name!r}"):
            for array, target in self._series[name].items():
                target.resize((stop, *target.shape[1:]))
                target[start:stop] = np.asarray(
                    blocks[array], dtype=self._series_specs[name][array].dtype
                )
            self._series_done[name] = stop
            self._commit(name)

    def _check_series(self, name: str) -> None:
        if name not in self._series_specs:
            raise ValidationError(
                f"no series {name!r} in the run store {self._path}; its series: "
                f"{sorted(self._series_specs) or 'none (declare them in RunStore.create)'}"
            )

    def _commit(self, *groups: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Commit what is on disk: the root attributes (``steps_done``...) into the root's
        metadata as last consolidated, then the consolidated metadata of ``groups`` and of
        the root. Each is one atomic file write; in between, xarray (which reads the
        consolidated metadata) sees the previous commit, never more than ``steps_done``."""
        # update_attributes writes the file once; attrs.update would write it once per key,
        # and a kill in between would leave steps_done ahead of steps_simulated
        self._consolidated_root.update_attributes(self._committed_attributes(attributes or {}))
        self._consolidated_root = _consolidate(self._zarr_store, groups)

    def _committed_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        committed = {
            **attributes,
            "steps_done": self._steps_done,
            "snapshots_done": self._snapshots_done,
        }
        if self._steps_simulated is not None:
            committed["steps_simulated"] = self._steps_simulated
        if self._series_done:
            committed[SERIES_DONE] = dict(self._series_done)
        return committed


def _remove_partial_store(path: StorePath, made: bool) -> None:
    """Empty ``path`` after a failed creation, and remove it if this call made it. zarr writes
    a group's arrays concurrently, and when one write fails the others still land after the
    error: so empty it until it stays empty (for at most a second)."""
    for _ in range(20):
        with contextlib.suppress(OSError):
            clear_store(path)
            if made:
                remove_tree(path) if is_remote(path) else path.rmdir()
            elif not any(path.iterdir()):
                return
        if not path.exists():
            return
        time.sleep(0.05)


def _join(message: str | None, reason: str) -> str:
    """The closing message, then the reason the store failed (once)."""
    return reason if not message or reason in message else f"{message}; {reason}"
