"""The ``metrics/`` group: arrays that analyses write whole, each over the dims it names.

A dim has one size, and coordinate labels (the array ``metrics/DIM`` over ``(DIM,)``) have one
value, across the whole group, so that ``xarray.open_zarr(path, group="metrics")`` gives one
consistent Dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr
from zarr.abc.store import Store

from neurosim.errors import ValidationError
from neurosim.recording.layout import _NAME, _NUMERIC_KINDS, _dims_of, _write_whole, as_unicode
from neurosim.recording.validation import _is_strings, _to_json


def _write_metric(
    zarr_store: Store,
    name: str,
    values: npt.ArrayLike,
    dims: tuple[str, ...],
    attributes: Mapping[str, Any] | None,
    coords: Mapping[str, npt.ArrayLike] | None,
) -> None:
    """Check the metric against itself and the arrays already in the metrics group of
    ``zarr_store``, then write it and its new coordinates (see ``RunStore.write_metric``)."""
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

    group = zarr.open_group(zarr_store, path="metrics", mode="r+", use_consolidated=False)
    existing = dict(group.arrays())
    coordinate_names = {key for key, node in existing.items() if _dims_of(node) == (key,)}
    if name in coordinate_names or any(name in _dims_of(node) for node in existing.values()):
        raise ValidationError(
            f"write_metric: {name!r} is already a dim of the metrics group; choose another name"
        )
    if name in dims:
        raise ValidationError(f"write_metric: {name!r} cannot be one of its own dims {dims}")
    sizes = dict(zip(dims, array.shape, strict=True))
    # a metric being replaced answers to the others, not to its old self (listing order is
    # the store's, so no member may end the scan early)
    others = {key: node for key, node in existing.items() if key != name}
    for key, node in others.items():
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


def _metric_values(name: str, values: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(values)
    if _is_strings(array):
        return as_unicode(array)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ValidationError(
            f"write_metric {name!r}: values of dtype {array.dtype} are not allowed; allowed: "
            "bool, integers, floats, strings"
        )
    return array
