"""Argument checks shared by the whole package: each names the argument (or dotted key), the
value given and what is allowed, and raises ValidationError.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ValidationError
from neurosim.filesystem import describe_os_error


def is_integer(value: object) -> bool:
    """True for Python and NumPy integers, False for booleans (which are not counts)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def describe(value: Any) -> str:
    """A short repr for messages: arrays are summarised by shape and dtype."""
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return f"array({value.tolist()!r})"
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_integer(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (either bound may be None); else ValidationError."""
    if not is_integer(value):
        raise ValidationError(f"{name} = {describe(value)}: {_allowed_integers(low, high)}")
    number = int(value)  # type: ignore[call-overload]
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValidationError(f"{name} = {number!r}: {_allowed_integers(low, high)}")
    return number


# The largest seed: the compiled random draws and the event backend's packed constants hold
# a seed as a signed 64-bit integer.
MAX_SEED = 2**63 - 1


def check_seed(name: str, value: object) -> int:
    """A seed: an integer in [0, MAX_SEED]."""
    return check_integer(name, value, 0, MAX_SEED)


def _allowed_integers(low: int | None, high: int | None) -> str:
    return f"expected an {allowed_range('integer', low, high)}"


def allowed_range(what: str, low: float | None, high: float | None) -> str:
    """``what`` with its bounds in words: "integer >= 1", "number in [0, 1]"."""
    low_text, high_text = (
        f"{bound:g}" if isinstance(bound, float) else bound for bound in (low, high)
    )
    if low is not None and high is not None:
        return f"{what} in [{low_text}, {high_text}]"
    if low is not None:
        return f"{what} >= {low_text}"
    if high is not None:
        return f"{what} <= {high_text}"
    return what


def check_duration(name: str, value: object, *, allow_none: bool) -> int | None:
    """A duration in steps: an integer >= 1, or None (unbounded) where allowed."""
    if value is None:
        if allow_none:
            return None
        raise ValidationError(f"{name} = None: expected an integer >= 1 (a number of steps)")
    if not is_integer(value) or int(value) < 1:  # type: ignore[call-overload]
        what = "an integer >= 1 (a number of steps)"
        if allow_none:
            what += " or None (unbounded)"
        raise ValidationError(f"{name} = {describe(value)}: expected {what}")
    return int(value)  # type: ignore[call-overload]


def check_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float between ``low`` and ``high`` (each bound included unless
    ``low_open``/``high_open``); else ValidationError."""
    number_types = (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, number_types):
        raise ValidationError(f"{name} = {describe(value)}: expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{name} = {describe(value)}: expected a finite number")
    below = low is not None and (number < low or (low_open and number == low))
    above = high is not None and (number > high or (high_open and number == high))
    if below or above:
        allowed = _interval(low, high, low_open, high_open)
        raise ValidationError(f"{name} = {describe(value)}: allowed range is {allowed}")
    return number


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; else ValidationError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(
            f"{name} = {describe(value)}: allowed values are {', '.join(choices)}"
        )
    return value


def _interval(
    low: float | None, high: float | None, low_open: bool = False, high_open: bool = False
) -> str:
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lower = "-inf" if low is None else f"{low:g}"
    upper = "inf" if high is None else f"{high:g}"
    return f"{left}{lower}, {upper}{right}"


def check_label(name: str, value: object) -> int | None:
    """A label: an integer or None."""
    if value is None:
        return None
    if not is_integer(value):
        raise ValidationError(f"{name} = {describe(value)}: expected an integer or None")
    return int(value)  # type: ignore[call-overload]


def freeze(array: np.ndarray) -> np.ndarray:
    """Make ``array`` read-only in place and return it."""
    array.flags.writeable = False
    return array


def check_real_array(name: str, value: object) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (bool, integer or float dtype), finite."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        message = f"{name} = {describe(value)}: expected an array of numbers"
        raise ValidationError(message) from error
    if array.dtype.kind not in "biuf":
        raise ValidationError(
            f"{name} = {describe(value)}: expected an array of real numbers, "
            f"got dtype {array.dtype}"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        index = ", ".join(str(i) for i in where)
        raise ValidationError(
            f"{name}[{index}] = {float(array[where])!r}: expected finite values "
            "(no NaN or infinity)"
        )
    return array


def check_neurons(name: str, value: object, n_neurons: int) -> np.ndarray:
    """Compiled neuron indices, (K,) int64, unique, in [0, n_neurons), K >= 1.

    A boolean mask of shape (n_neurons,) is accepted too and means its True positions.
    """
    array = check_real_array(name, value)
    if array.dtype.kind == "b":
        if array.shape != (n_neurons,):
            raise ValidationError(
                f"{name} = {describe(value)}: a boolean mask must have shape ({n_neurons},) "
                "(one entry per neuron)"
            )
        array = np.flatnonzero(array)
    elif array.dtype.kind not in "iu" or array.ndim != 1:
        raise ValidationError(
            f"{name} = {describe(value)}: expected a 1-D array of integer neuron indices in "
            f"[0, {n_neurons}) or a boolean mask of shape ({n_neurons},)"
        )
    if array.size == 0:
        raise ValidationError(f"{name} = {describe(value)}: expected at least one neuron")
    outside = (array < 0) | (array >= n_neurons)
    if np.any(outside):
        position = int(np.flatnonzero(outside)[0])
        raise ValidationError(
            f"{name}[{position}] = {int(array[position])}: allowed neuron indices are "
            f"[0, {n_neurons}) (n_neurons = {n_neurons})"
        )
    unique, counts = np.unique(array, return_counts=True)
    if np.any(counts > 1):
        repeated = int(unique[np.argmax(counts > 1)])
        raise ValidationError(
            f"{name} = {describe(value)}: neuron {repeated} appears more than once; "
            "each neuron may be listed once"
        )
    return freeze(array.astype(np.int64, copy=True))


def check_per_neuron(
    name: str, value: object, k: int, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """A scalar or a (k,) array of finite numbers in [low, high], as a read-only (k,) float64."""
    array = check_real_array(name, value)
    if array.ndim == 0:
        array = np.full(k, float(array))
    elif array.shape != (k,):
        raise ValidationError(
            f"{name} = {describe(value)}: expected a number or an array of shape ({k},) "
            "(one value per listed neuron)"
        )
    array = np.array(array, dtype=np.float64)
    outside = np.zeros(k, dtype=bool)
    if low is not None:
        outside |= array < low
    if high is not None:
        outside |= array > high
    if np.any(outside):
        position = int(np.flatnonzero(outside)[0])
        prefix = name if np.ndim(value) == 0 else f"{name}[{position}]"
        raise ValidationError(
            f"{prefix} = {float(array[position])!r}: allowed range is {_interval(low, high)}"
        )
    return freeze(array)


def check_reiterable(name: str, value: object) -> None:
    """Reject one-shot iterators (generators): a stream must give the same items every time."""
    try:
        iterator = iter(value)  # type: ignore[call-overload]
    except TypeError as error:
        raise ValidationError(
            f"{name} = {describe(value)}: expected an iterable of integers"
        ) from error
    if iterator is value:
        raise ValidationError(
            f"{name} = {describe(value)}: a one-shot iterator (e.g. a generator) cannot be "
            "re-iterated; pass a list, a range, a NumPy array or an order helper such as "
            "cyclic_order(...), shuffled_epochs(...) or repeated(...)"
        )


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's contents; a missing or malformed file is a ValidationError naming it
    (``what`` says what the file is, e.g. "scenario file")."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ValidationError(f"{what} {path} does not exist") from None
    except OSError as error:  # a folder, a path through a file, no permission to read
        raise ValidationError(f"{what} {describe_os_error(error, path)}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValidationError(f"{path}: not valid TOML: {error}") from None


def _batch_array(name: str, values: Any, batch: int, n: int, dtype: np.dtype) -> np.ndarray:
    """A scalar, (N,) or (B, N) input broadcast to (B, N), finite; else ValidationError."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape == (n,) or array.shape == (batch, n):
        full = np.broadcast_to(array, (batch, n))
        if not np.all(np.isfinite(full)):
            bad = np.argwhere(~np.isfinite(full))[0]
            raise ValidationError(
                f"{name} has a non-finite value at sample {bad[0]}, neuron {bad[1]}"
            )
        return full.astype(dtype)
    raise ValidationError(
        f"{name} has shape {array.shape}; allowed: a scalar, ({n},) or ({batch}, {n})"
    )


def check_inputs(
    target: Any, clamp: Any, batch: int, n: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """A simulator's input: ``target`` and ``clamp`` (factors in [0, 1]), each a scalar, an
    (N,) array for every sample or a (B, N) array, as two (B, N) arrays of ``dtype``."""
    target_array = _batch_array("target", target, batch, n, dtype)
    clamp_array = _batch_array("clamp", clamp, batch, n, dtype)
    outside = (clamp_array < 0) | (clamp_array > 1)
    if np.any(outside):
        b, i = np.argwhere(outside)[0]
        raise ValidationError(
            f"clamp = {clamp_array[b, i]} at sample {b}, neuron {i}: allowed range is [0, 1]"
        )
    return target_array, clamp_array
