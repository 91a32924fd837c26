"""The ``checkpoint/`` group: the newest complete states of a run, for ``neurosim run --resume``.

A checkpoint is a subgroup ``stateK`` (K counting up) holding flat named arrays (each over
dims ``NAME_0, NAME_1, ...``) and, in its attributes, the caller's attributes and a manifest:
a SHA-256 checksum, shape and dtype per array, and the store's committed positions when it
was written (steps, snapshots, events, each series' rows, steps simulated, the metric names).
The manifest is written last, in one atomic file write: a checkpoint without one was cut
short. The newest ``keep`` checkpoints are kept, so a corrupt or partial newest one leaves the
one before it to resume from.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import zarr

from neurosim.recording.layout import _write_whole, as_unicode
from neurosim.recording.location import StorePath, remove_tree
from neurosim.recording.validation import _to_json

CHECKPOINT: Final = "checkpoint"
"""The group that holds the newest complete states for ``--resume``."""

MANIFEST: Final = "manifest"
"""Attribute of a checkpoint subgroup written last: checksums and the store's positions."""

_PREFIX: Final = "state"


@dataclass(frozen=True)
class SavedCheckpoint:
    """The newest valid checkpoint of a store: its subgroup's ``name``, ``arrays`` and
    ``attributes``, and the store's committed ``positions`` when it was written (empty for
    a checkpoint from before manifests)."""

    name: str
    arrays: dict[str, np.ndarray]
    attributes: dict[str, Any]
    positions: dict[str, Any]


def _digest(values: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (strings as NumPy unicode)."""
    if values.dtype.kind in "OTU":
        values = as_unicode(values)
    values = np.ascontiguousarray(values)
    digest = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def _numbers(path: StorePath) -> list[int]:
    """The numbers K of the subgroups ``stateK`` on disk, in increasing order."""
    folder = path / CHECKPOINT
    if not folder.is_dir():
        return []
    names = (entry.name for entry in folder.iterdir() if entry.is_dir())
    return sorted(int(name[len(_PREFIX) :]) for name in names if _is_state(name))


def _is_state(name: str) -> bool:
    return name.startswith(_PREFIX) and name[len(_PREFIX) :].isdigit()


def _write_checkpoint(
    root: zarr.Group,
    path: StorePath,
    arrays: Mapping[str, npt.ArrayLike],
    attributes: Mapping[str, Any],
    positions: Mapping[str, Any],
    keep: int,
) -> None:
    """Write ``arrays`` and ``attributes`` as a new checkpoint of the store at ``path``
    (root group ``root``), its manifest last, then remove all but the newest ``keep``; the
    caller refreshes the consolidated metadata."""
    checked = {
        key: _to_json(value, f"checkpoint attribute {key!r}") for key, value in attributes.items()
    }
    group = root.require_group(CHECKPOINT)
    numbers = _numbers(path)
    name = f"{_PREFIX}{numbers[-1] + 1 if numbers else 0}"
    target = group.create_group(name, overwrite=True)
    checksums = {}
    for key, value in arrays.items():
        values = np.asarray(value)
        dims = tuple(f"{key}_{axis}" for axis in range(values.ndim))
        _write_whole(target, key, values, dims, {})
        checksums[key] = {
            "sha256": _digest(values),
            "shape": list(values.shape),
            "dtype": values.dtype.str,
        }
    manifest = {"positions": _to_json(dict(positions), "positions"), "arrays": checksums}
    target.update_attributes({"attributes": checked, MANIFEST: manifest})  # the commit point
    for number in _numbers(path)[:-keep]:
        remove_tree(path / CHECKPOINT / f"{_PREFIX}{number}")


def _read_state(root: zarr.Group, name: str) -> SavedCheckpoint:
    """The checkpoint ``name``, checked against its manifest; ``ValueError`` saying what is
    wrong where it is partial or corrupt."""
    try:
        state = zarr.open_group(
            root.store, path=f"{CHECKPOINT}/{name}", mode="r", use_consolidated=False
        )
        stored = dict(state.attrs)
    except Exception as error:  # a missing or unreadable zarr.json, whatever zarr raises
        raise ValueError(f"its metadata cannot be read ({type(error).__name__}: {error})") from None
    manifest = stored.get(MANIFEST)
    if not isinstance(manifest, dict):
        raise ValueError("it has no manifest (its write was cut short)")
    present = {key for key, _ in state.arrays()}
    arrays = {}
    for key, expected in manifest["arrays"].items():
        if key not in present:
            raise ValueError(f"its array {key!r} is missing")
        try:
            values = np.asarray(state[key][...])
        except Exception as error:  # a corrupt chunk fails to decompress, whatever zarr raises
            raise ValueError(
                f"its array {key!r} cannot be read ({type(error).__name__}: {error})"
            ) from None
        if _digest(values) != expected["sha256"]:
            raise ValueError(f"its array {key!r} does not match its checksum (corrupt)")
        arrays[key] = values
    return SavedCheckpoint(name, arrays, dict(stored["attributes"]), dict(manifest["positions"]))


def _newest_checkpoint(
    root: zarr.Group, path: StorePath
) -> tuple[SavedCheckpoint | None, list[tuple[str, str]]]:
    """The newest valid checkpoint (None: there is none), and the newer ones that are not,
    each with what is wrong with it."""
    skipped: list[tuple[str, str]] = []
    for number in reversed(_numbers(path)):
        name = f"{_PREFIX}{number}"
        try:
            with warnings.catch_warnings():
                # a killed write's temporary file: a leftover that resume removes
                warnings.filterwarnings("ignore", message=".* is not recognized as a component")
                return _read_state(root, name), skipped
        except ValueError as error:
            skipped.append((name, str(error)))
    return _legacy_checkpoint(root), skipped


def _legacy_checkpoint(root: zarr.Group) -> SavedCheckpoint | None:
    """A checkpoint written before manifests (store format 1): the subgroup the group's
    attribute ``latest`` names, its attributes the caller's, unchecked."""
    if CHECKPOINT not in {name for name, _ in root.groups()}:
        return None
    latest = root[CHECKPOINT].attrs.get("latest")
    if latest is None:
        return None
    state = root[f"{CHECKPOINT}/{latest}"]
    if MANIFEST in state.attrs:  # a new checkpoint, found invalid above
        return None
    arrays = {name: np.asarray(node[...]) for name, node in state.arrays()}
    return SavedCheckpoint(str(latest), arrays, dict(state.attrs), {})


def _remove_newer(path: StorePath, name: str) -> list[str]:
    """Remove the checkpoints newer than ``name`` (partial or corrupt, since ``name`` is the
    newest valid one); return their names."""
    number = int(name[len(_PREFIX) :]) if _is_state(name) else -1
    removed = []
    for newer in _numbers(path):
        if newer > number:
            remove_tree(path / CHECKPOINT / f"{_PREFIX}{newer}")
            removed.append(f"{_PREFIX}{newer}")
    return removed
