"""Checks of what a writer is given (store creation, steps, weight snapshots, attributes):
each returns the values in the form the store keeps, or raises ``ValidationError`` naming the
argument, the value and what is allowed, before anything is written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from neurosim import __version__
from neurosim.errors import ValidationError
from neurosim.recording.layout import (
    _NAME,
    MANAGED_ATTRIBUTES,
    NEURON_FIELDS,
    REQUIRED_ATTRIBUTES,
    STORE_FORMAT,
    TIME_UNIT,
    ArraySpec,
    as_unicode,
)


def _validate_root_attributes(
    attributes: Mapping[str, Any], time_unit: str = TIME_UNIT
) -> dict[str, Any]:
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
        "time_unit": time_unit,
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
        arrays[field] = as_unicode(array)
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
    clashes = _named_like_a_dim(specs)
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


def _validate_delays(edge_delay: npt.ArrayLike, n_edges: int) -> np.ndarray:
    delays = np.asarray(edge_delay, dtype=np.float64)
    if delays.shape != (n_edges,):
        raise ValidationError(
            f"edge_delay must have one value per synapse, shape ({n_edges},); got {delays.shape}"
        )
    if np.any(delays < 0):  # NaN (no delay given) compares False
        raise ValidationError("edge_delay must be >= 0 (NaN where none is given)")
    return delays


def _validate_weight_dtype(weight_dtype: npt.DTypeLike) -> np.dtype[Any]:
    try:
        dtype = np.dtype(weight_dtype)
    except TypeError as error:
        raise ValidationError(f"weight_dtype {weight_dtype!r} is not a dtype") from error
    if dtype.kind != "f":
        raise ValidationError(f"weight_dtype must be a float dtype, got {dtype}")
    return dtype


def _validate_steps(
    specs: Mapping[str, ArraySpec],
    last_time: int | None,
    time: npt.ArrayLike,
    values: Mapping[str, npt.ArrayLike],
    path: Path,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``append``'s step numbers and arrays (by name), checked against the declared ``specs``
    and the last step appended to the store at ``path`` (None: none yet)."""
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
    # the steps already appended end at last_time: the new ones must go on from there
    sequence = times.astype(np.int64)
    if last_time is not None:
        sequence = np.concatenate(([last_time], sequence))
    backwards = np.flatnonzero(np.diff(sequence) <= 0)
    if backwards.size:
        earlier, later = int(sequence[backwards[0]]), int(sequence[backwards[0] + 1])
        after = "" if last_time is None else f" after step {last_time}"
        raise ValidationError(
            f"append: time must increase strictly, got {_preview(times)}{after} in "
            f"{path}: step {later} "
            + ("is repeated" if later == earlier else f"comes after step {earlier}")
        )
    given = {}
    for name, value in values.items():
        if name not in specs:
            raise ValidationError(
                f"append: unknown array {name!r}; declared arrays: {sorted(specs)}"
            )
        spec = specs[name]
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
    missing = sorted(set(specs) - set(given))
    if missing:
        raise ValidationError(
            f"append: arrays {missing} are missing; every append gives all declared "
            f"arrays: {sorted(specs)}"
        )
    return times, given


def _validate_snapshot(
    time: int,
    weights: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    last_snapshot_time: int | None,
    n_edges: int,
    n_neurons: int,
    weight_dtype: np.dtype[Any],
) -> tuple[int, np.ndarray, np.ndarray]:
    """``snapshot_weights``' step, weights and biases, checked against the last snapshot's
    step (None: none yet) and the store's sizes and weight dtype."""
    if isinstance(time, bool) or not isinstance(time, int | np.integer):
        raise ValidationError(f"snapshot_weights: time must be an int step, got {time!r}")
    time = int(time)
    if last_snapshot_time is not None and time <= last_snapshot_time:
        raise ValidationError(
            f"snapshot_weights: time {time} is not after the last snapshot's, {last_snapshot_time}"
        )
    checked = []
    for name, value, size in (("weights", weights, n_edges), ("bias", bias, n_neurons)):
        array = np.asarray(value)
        if array.shape != (size,):
            raise ValidationError(
                f"snapshot_weights: {name} has shape {array.shape}, expected ({size},)"
            )
        if not np.can_cast(array.dtype, weight_dtype, casting="same_kind"):
            raise ValidationError(
                f"snapshot_weights: {name} has dtype {array.dtype}, which does not cast to "
                f"{weight_dtype}"
            )
        checked.append(array)
    return time, checked[0], checked[1]


def _is_strings(array: np.ndarray) -> bool:
    if array.dtype.kind in "UT":
        return True
    if array.dtype.kind == "O":
        return all(isinstance(item, str) for item in array.ravel())
    return False


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


def _named_like_a_dim(specs: Mapping[str, ArraySpec]) -> list[str]:
    """The names of ``specs`` that are also a dim of one of them (xarray cannot tell them
    apart from the dim's coordinate)."""
    dims = {dim for spec in specs.values() for dim in spec.dims}
    return sorted(set(specs) & dims)
