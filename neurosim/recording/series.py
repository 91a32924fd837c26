"""Appendable series: groups of arrays that grow along one first axis of their own (a
``sample``, a ``probe``), written row by row as a run goes, like the trajectory along ``time``.

``RowBuffer`` is the buffer both use: rows are copied in until the next chunk boundary of the
arrays they go to and then written as one chunk, so memory stays at one chunk of rows however
long the run, and no write rewrites what is already on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from neurosim.errors import ValidationError
from neurosim.recording.layout import _NAME, GROUPS, ArraySpec
from neurosim.recording.validation import _named_like_a_dim

RESERVED_GROUPS: Final = (*GROUPS, "events", "checkpoint")
"""Group names a series cannot take."""

RESERVED_DIMS: Final = ("time", "snapshot", "event")
"""Dims the store grows itself; a series cannot use them."""

SERIES_DONE: Final = "series_done"
"""Root attribute: the committed rows of each series, by name."""

SERIES_DIMS: Final = "series_dims"
"""Root attribute: each series' growing dim, by name."""


class RowBuffer:
    """Rows of named arrays held in memory until the next chunk boundary along their first
    axis; ``columns`` gives each array's row shape and dtype, ``chunk`` the rows per chunk."""

    def __init__(
        self, columns: Mapping[str, tuple[tuple[int, ...], np.dtype[Any]]], chunk: int
    ) -> None:
        self.chunk = chunk
        self.arrays = {
            name: np.empty((chunk, *shape), dtype=dtype) for name, (shape, dtype) in columns.items()
        }
        self.count = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated buffer."""
        return sum(array.nbytes for array in self.arrays.values())

    def fill(
        self,
        rows: Mapping[str, np.ndarray],
        n_rows: int,
        committed: Callable[[], int],
        write: Callable[[Mapping[str, np.ndarray]], None],
    ) -> None:
        """Take ``n_rows`` rows of every array; ``write`` writes a block of rows after the
        ``committed()`` ones (and commits them) whenever the buffer reaches a chunk boundary.
        A whole chunk given while nothing is buffered is written without a copy."""
        position = 0
        while position < n_rows:
            capacity = self.chunk - committed() % self.chunk
            if self.count == 0 and n_rows - position >= capacity:
                piece = slice(position, position + capacity)
                write({name: array[piece] for name, array in rows.items()})
                position += capacity
                continue
            count = min(capacity - self.count, n_rows - position)
            piece = slice(position, position + count)
            target = slice(self.count, self.count + count)
            for name, array in rows.items():
                self.arrays[name][target] = array[piece]
            self.count += count
            position += count
            if self.count == capacity:
                self.drain(write)

    def drain(self, write: Callable[[Mapping[str, np.ndarray]], None]) -> None:
        """Write the buffered rows now (nothing when none are); they stay buffered if
        ``write`` fails."""
        if self.count == 0:
            return
        write({name: array[: self.count] for name, array in self.arrays.items()})
        self.count = 0


def _validate_series(
    series: Mapping[str, Mapping[str, ArraySpec]] | None,
) -> dict[str, dict[str, ArraySpec]]:
    """The series of ``RunStore.create``: each a group name with arrays that share their
    first dim (the growing one, ``spec.dims[0]``; ``spec.shape[0]`` is not used)."""
    if series is None:
        return {}
    if not isinstance(series, Mapping):
        raise ValidationError(
            f"series must be a dict of {{name: {{array: ArraySpec}}}}, got {type(series).__name__}"
        )
    checked: dict[str, dict[str, ArraySpec]] = {}
    for name, specs in series.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED_GROUPS:
            raise ValidationError(
                f"series name {name!r} is not allowed: use letters, digits and underscores, "
                f"not starting with a digit, and none of {', '.join(RESERVED_GROUPS)}"
            )
        if not isinstance(specs, Mapping) or not specs:
            raise ValidationError(f"series[{name!r}] must be a non-empty dict of ArraySpec")
        growing: str | None = None
        sizes: dict[str, int] = {}
        for array, spec in specs.items():
            where = f"series[{name!r}][{array!r}]"
            if not isinstance(spec, ArraySpec):
                raise ValidationError(f"{where} must be an ArraySpec, got {type(spec).__name__}")
            if not spec.dims:
                raise ValidationError(
                    f"{where} has no dims: its first dim is the one the series grows along"
                )
            growing = growing or spec.dims[0]
            if spec.dims[0] != growing:
                raise ValidationError(
                    f"{where} grows along {spec.dims[0]!r}, the series' other arrays along "
                    f"{growing!r}; a series grows along one dim"
                )
            if not isinstance(array, str) or not _NAME.match(array):
                raise ValidationError(
                    f"{where}: the name is not allowed: use letters, digits and underscores, "
                    "not starting with a digit"
                )
            used = [dim for dim in spec.dims if dim in RESERVED_DIMS]
            if used:
                raise ValidationError(
                    f"{where} uses the dim{'s' if len(used) > 1 else ''} "
                    f"{', '.join(map(repr, used))}, which the store grows itself; name the "
                    "series' dims otherwise"
                )
            for dim, size in zip(spec.dims[1:], spec.shape[1:], strict=True):
                if sizes.setdefault(dim, size) != size:
                    raise ValidationError(
                        f"{where} has dim {dim!r} of size {size}, another array of the "
                        f"series {sizes[dim]}; a dim has one size in a series"
                    )
        clashes = _named_like_a_dim(specs)
        if clashes:
            raise ValidationError(
                f"series[{name!r}]: arrays {clashes} are named like a dim; rename them"
            )
        checked[name] = dict(specs)
    return checked


def _validate_rows(
    name: str, specs: Mapping[str, ArraySpec], rows: Mapping[str, npt.ArrayLike]
) -> tuple[int, dict[str, np.ndarray]]:
    """``append_series``' rows: every array of the series, of one number of rows, each row
    of the declared shape, of a dtype that casts within its kind."""
    if not isinstance(rows, Mapping) or set(rows) != set(specs):
        given = sorted(rows) if isinstance(rows, Mapping) else type(rows).__name__
        raise ValidationError(
            f"append_series {name!r}: give every array of the series, {sorted(specs)}; got {given}"
        )
    arrays = {key: np.asarray(value) for key, value in rows.items()}
    for key, array in arrays.items():
        if array.ndim == 0:  # no rows axis: a lone value would be appended as no row at all
            raise ValidationError(
                f"append_series {name!r}: array {key!r} is a single value, {array!r}; give "
                "rows, e.g. [value] for one row"
            )
    counts = {key: array.shape[0] for key, array in arrays.items()}
    if len(set(counts.values())) != 1:
        raise ValidationError(
            f"append_series {name!r}: every array needs the same number of rows, got {counts}"
        )
    n_rows = next(iter(counts.values()))
    for key, array in arrays.items():
        spec = specs[key]
        if array.shape[1:] != spec.shape[1:]:
            raise ValidationError(
                f"append_series {name!r}: array {key!r} has shape {array.shape}, expected "
                f"(rows, *{spec.shape[1:]}) over dims {spec.dims}"
            )
        if not np.can_cast(array.dtype, spec.dtype, casting="same_kind"):
            raise ValidationError(
                f"append_series {name!r}: array {key!r} has dtype {array.dtype}, which does "
                f"not cast to its declared dtype {spec.dtype}"
            )
    return n_rows, arrays
