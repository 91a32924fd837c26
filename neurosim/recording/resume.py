"""Resuming a stopped run store: whether a writer may continue it, taking it under the
writer lock, the positions of its last commit, and clearing what was written after the
checkpoint it resumes from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any, Final

from neurosim.errors import ValidationError
from neurosim.recording.layout import STORE_FORMAT
from neurosim.recording.location import StorePath, is_remote, remove_tree
from neurosim.recording.lock import WriterLock, take_writer_lock
from neurosim.recording.reader import RunReader, open_run
from neurosim.recording.series import SERIES_DONE


def _lock_stopped_run(path: str | os.PathLike[str]) -> tuple[WriterLock, RunReader]:
    """Take the writer lock of the run store at ``path`` and read it under the lock; refuse
    (``ValidationError`` naming the path, nothing changed) a path that is not a run store,
    one of another store format, and a complete run."""
    check_resumable(path)  # before the lock: a bad path gets no lock file
    lock = take_writer_lock(open_run(path).path)  # no other writer from here on
    reader = open_run(path)  # read again under the lock: as the last writer left it
    _check_resumable(reader)
    return lock, reader


def check_resumable(path: str | os.PathLike[str]) -> RunReader:
    """The run store at ``path``, read, if a writer may continue it; else ``ValidationError``
    naming the path and what is allowed: not a run store, another store format, a complete
    run."""
    reader = open_run(path)
    _check_resumable(reader)
    return reader


def _check_resumable(reader: RunReader) -> None:
    stored = reader.attributes.get("store_format")
    if stored not in READABLE_FORMATS:
        raise ValidationError(
            f"{reader.path}: written in store format {stored!r} (neurosim "
            f"{reader.attributes.get('neurosim_version')}); this neurosim continues stores of "
            f"format {', '.join(map(str, READABLE_FORMATS))}: run the scenario again"
        )
    if reader.status == "complete":
        raise ValidationError(
            f"{reader.path}: the run is complete; there is nothing to resume (only a "
            "running, interrupted or failed run can be)"
        )


READABLE_FORMATS: Final = (1, STORE_FORMAT)
"""Store formats a writer reopens: format 1 differs only in its checkpoints (one, without
a manifest)."""


def _committed_positions(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The positions of the last commit, from the root attributes."""
    keys = ("steps_done", "snapshots_done", "events_done", "steps_simulated", SERIES_DONE)
    return {key: attributes[key] for key in keys if key in attributes}


def _remove_metrics_except(path: StorePath, kept: list[str]) -> None:
    """Remove the metrics (and coordinates) not in ``kept``: written after a checkpoint."""
    folder = path / "metrics"
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name not in kept:
            remove_tree(entry)


def _remove_partial_files(path: StorePath) -> None:
    """Remove the temporary files a write killed part way left (zarr writes every local
    file through a ``*.partial`` one, then renames it; a remote file is written whole)."""
    if is_remote(path):
        return
    for leftover in path.rglob("*.partial"):
        with contextlib.suppress(OSError):
            leftover.unlink()
