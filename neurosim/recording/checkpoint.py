"""The ``checkpoint/`` group: the latest complete state of a run, for ``neurosim run --resume``.

A checkpoint is a subgroup ``stateK`` holding flat named arrays (each over dims
``NAME_0, NAME_1, ...``) and JSON-able attributes. The group's attribute ``latest`` names the
one in force; it is set only once the new subgroup is complete, and the previous subgroup is
removed after that, so a write cut short (an error, Ctrl-C, SIGKILL) leaves the previous
checkpoint in force.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import zarr

from neurosim.recording.layout import _write_whole
from neurosim.recording.validation import _to_json

CHECKPOINT: Final = "checkpoint"
"""The group that holds the latest complete state for ``--resume``."""


def _write_checkpoint(
    root: zarr.Group,
    path: Path,
    arrays: Mapping[str, npt.ArrayLike],
    attributes: Mapping[str, Any],
) -> None:
    """Make ``arrays`` and ``attributes`` the checkpoint in force of the store at ``path``,
    whose root group is ``root``; the caller refreshes the consolidated metadata."""
    checked = {
        key: _to_json(value, f"checkpoint attribute {key!r}") for key, value in attributes.items()
    }
    group = root.require_group(CHECKPOINT)
    previous = group.attrs.get("latest")
    name = f"state{int(previous[len('state') :]) + 1 if previous else 0}"
    target = group.create_group(name, attributes=checked, overwrite=True)
    for key, value in arrays.items():
        values = np.asarray(value)
        dims = tuple(f"{key}_{axis}" for axis in range(values.ndim))
        _write_whole(target, key, values, dims, {})
    group.attrs["latest"] = name  # the commit point
    if previous:
        shutil.rmtree(path / CHECKPOINT / previous, ignore_errors=True)


def _read_checkpoint(root: zarr.Group) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and attributes of the checkpoint in force, or None where there is none."""
    if CHECKPOINT not in {name for name, _ in root.groups()}:
        return None
    group = root[CHECKPOINT]
    latest = group.attrs.get("latest")
    if latest is None:
        return None
    state = group[latest]
    arrays = {name: np.asarray(node[...]) for name, node in state.arrays()}
    return arrays, dict(state.attrs)
