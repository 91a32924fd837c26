"""Reading a run store back: ``open_run`` checks that a path holds one and returns a
``RunReader``, which reads exactly what the writer committed, even after a crash."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import zarr

from neurosim.errors import CheckpointWarning, ValidationError
from neurosim.recording.checkpoint import SavedCheckpoint, _newest_checkpoint
from neurosim.recording.layout import CREATING, EVERY_CHUNK_STORED, STATUSES, _dims_of, as_unicode
from neurosim.recording.location import StorePath, store_path, zarr_store
from neurosim.recording.series import SERIES_DIMS, SERIES_DONE


def committed_lengths(attributes: dict[str, Any], group: str | None = None) -> dict[str, int]:
    """The committed length of each dim that grows during a run, from the root attributes:
    ``time`` (``steps_done``), ``snapshot`` (``snapshots_done``), ``event``
    (``events_done``, where events are logged) and, in the group of an appendable series,
    the series' dim (``series_done``). Readers cut arrays to these."""
    lengths = {
        "time": int(attributes.get("steps_done", 0)),
        "snapshot": int(attributes.get("snapshots_done", 0)),
    }
    if "events_done" in attributes:
        lengths["event"] = int(attributes["events_done"])
    series_done = attributes.get(SERIES_DONE) or {}
    if group in series_done:
        lengths[attributes[SERIES_DIMS][group]] = int(series_done[group])
    return lengths


_STATUS_DESCRIPTIONS = {
    "running": (
        "running or killed (the writer has not closed the store: it is still running, or it "
        "stopped without closing it, e.g. killed)"
    ),
    "complete": "complete",
    "failed": "failed",
    "interrupted": "interrupted",
}


class RunReader:
    """A run store opened read-only (see ``open_run``).

    Reads what is on disk without consolidated metadata, and cuts arrays along ``time`` to
    ``steps_done`` and along ``snapshot`` to ``snapshots_done``, so that a store whose writer
    was killed reads exactly what was committed.
    """

    def __init__(self, path: StorePath, root: zarr.Group) -> None:
        """Wrap an opened root group; use ``open_run``."""
        self._path = path
        self._root = root
        self._attributes = dict(root.attrs)

    @property
    def path(self) -> StorePath:
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
        """The newest valid checkpoint's arrays and attributes (``RunStore.write_checkpoint``),
        or None where there is none. A newer one that is partial or corrupt (its manifest
        missing, an array that does not match its checksum) is skipped with a warning naming
        it and what is wrong."""
        saved = self._newest_checkpoint()
        return None if saved is None else (saved.arrays, saved.attributes)

    def _newest_checkpoint(self) -> SavedCheckpoint | None:
        """The newest valid checkpoint, warning of each newer one that is not."""
        saved, skipped = _newest_checkpoint(self._root, self._path)
        for name, reason in skipped:
            fallback = f"using {saved.name}" if saved is not None else "no valid one is left"
            warnings.warn(
                f"{self._path}: checkpoint {name} is skipped: {reason}; {fallback}",
                CheckpointWarning,
                stacklevel=3,
            )
        return saved

    def series_names(self) -> list[str]:
        """Names of the store's appendable series (``RunStore.create(series=...)``)."""
        return sorted(self._attributes.get(SERIES_DONE) or {})

    def series(self, name: str) -> dict[str, np.ndarray]:
        """The committed rows of the series ``name``: every array of it, by name."""
        if name not in self.series_names():
            raise ValidationError(
                f"run store {self._path} has no series {name!r}; series: {self.series_names()}"
            )
        return {array: self.array(name, array) for array in self.names(name)}

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
        shape = self._committed_shape(node, group)
        values = np.asarray(node[tuple(slice(0, size) for size in shape)])
        if values.dtype.kind in "OT":
            values = as_unicode(values)
        return values

    def missing_chunks(self) -> list[str]:
        """The chunks of committed data that are not on disk, as ``group/array/chunk-key``
        (e.g. ``trajectory/state/c/3/0/0``), in every group; empty when nothing is missing.

        Such a chunk reads as NaN in a float array (its fill value), as 0 or False in others.
        In a store written before every chunk was stored (no root attribute
        ``every_chunk_stored``), a chunk that held only zeros is listed too."""
        missing = []
        for group in self.groups():
            for name in self.names(group):
                node = self._node(group, name)
                shape = self._committed_shape(node, group)
                grid = node.metadata.chunk_grid  # type: ignore[union-attr]
                for coordinates in grid.all_chunk_coords(shape):
                    key = node.metadata.encode_chunk_key(coordinates)  # type: ignore[union-attr]
                    if not (self._path / group / name / key).is_file():
                        missing.append(f"{group}/{name}/{key}")
        return missing

    @property
    def stores_every_chunk(self) -> bool:
        """Whether the writer stored every chunk (chunks of zeros too); see
        ``missing_chunks``."""
        return bool(self._attributes.get(EVERY_CHUNK_STORED, False))

    def __repr__(self) -> str:
        return (
            f"RunReader({str(self._path)!r}, status={self.status!r}, steps_done={self.steps_done})"
        )

    def _committed_shape(self, node: zarr.Array, group: str) -> tuple[int, ...]:
        """The shape of ``node`` (in ``group``) that is committed: a growing first dim cut to
        its length."""
        dims, shape = _dims_of(node), list(node.shape)
        if dims:
            lengths = committed_lengths(self._attributes, group)
            shape[0] = min(lengths.get(dims[0], shape[0]), shape[0])
        return tuple(shape)

    def _group(self, group: str) -> zarr.Group:
        available = self.groups()
        if group not in available:
            raise ValidationError(
                f"run store {self._path} has no group {group!r}; groups: {available}"
            )
        # each group's own metadata, not the consolidated copy in its parent's
        return zarr.open_group(self._root.store, path=group, mode="r", use_consolidated=False)

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
    path = store_path(path)
    if not path.exists():
        raise ValidationError(f"no run store at {path}: the path does not exist")
    try:
        root = zarr.open_group(zarr_store(path, read_only=True), mode="r", use_consolidated=False)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ValidationError(
            f"{path} is not a neurosim run store: it is not a zarr group ({error})"
        ) from error
    attributes = dict(root.attrs)
    if attributes == {CREATING: True}:
        raise ValidationError(
            f"{path} is not a complete neurosim run store: it is being created, or its creation "
            "was cut short (the process was killed or failed while creating it); if no run is "
            "creating it, run again with --overwrite"
        )
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
