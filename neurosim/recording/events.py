"""The ``events/`` group of runs that log events (event-driven backend): one row per event,
in columns over ``(event,)``, and the group attribute ``kinds`` naming the codes of a ``kind``
column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import zarr

from neurosim.errors import ValidationError
from neurosim.recording.layout import WRITE_EVERY_CHUNK, _fill_value

EVENT_CHUNK: Final = 65536
"""Rows per chunk of the ``events/`` group's columns."""


def _event_columns(root: zarr.Group) -> dict[str, zarr.Array]:
    """The events group's columns as their own metadata describes them. The group's
    consolidated copy is what the last commit saw: a writer killed after resizing the
    columns but before consolidating left it shorter than the columns are."""
    group = zarr.open_group(root.store, path="events", mode="r+", use_consolidated=False)
    return {name: column.with_config(WRITE_EVERY_CHUNK) for name, column in group.arrays()}


def _append_events(
    root: zarr.Group, columns: Mapping[str, npt.ArrayLike], kinds: tuple[str, ...]
) -> int:
    """Append rows to the events group under ``root`` (created with the columns of the first
    call); return the number of rows now stored. The caller commits them."""
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    lengths = {name: array.shape for name, array in arrays.items()}
    if any(len(shape) != 1 for shape in lengths.values()) or len(set(lengths.values())) > 1:
        raise ValidationError(f"append_events: columns must be 1-D of one length: {lengths}")
    if "events" not in root:
        group = root.create_group("events", attributes={"kinds": list(kinds)})
        for name, array in arrays.items():
            group.create_array(
                name,
                shape=(0,),
                chunks=(EVENT_CHUNK,),
                dtype=array.dtype,
                fill_value=_fill_value(array.dtype),
                dimension_names=("event",),
            )
    stored = _event_columns(root)
    if set(stored) != set(arrays):
        raise ValidationError(
            f"append_events: columns {sorted(arrays)}; the events group has {sorted(stored)}"
        )
    start = next(iter(stored.values())).shape[0]
    stop = start + next(iter(lengths.values()))[0]
    for name, array in arrays.items():
        stored[name].resize((stop,))
        stored[name][start:stop] = array.astype(stored[name].dtype, copy=False)
    return stop
