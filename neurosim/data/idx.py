"""IDX files, the format of MNIST and Fashion-MNIST, gzip-compressed or raw.

An IDX file is a big-endian header (a magic number, then one 32-bit size per dimension)
followed by the values, row-major. neurosim reads the two kinds these data sets use:

- images: magic 2051 (0x00000803: unsigned bytes, 3 dimensions), count, rows, cols;
- labels: magic 2049 (0x00000801: unsigned bytes, 1 dimension), count.

Whether a file is gzip-compressed is decided by its first two bytes, never by its name, so a
decompressed copy that kept its ``.gz`` name (or the reverse) still reads.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from neurosim.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GZIP_MAGIC = b"\x1f\x8b"

_KINDS = {IMAGES_MAGIC: ("images", 3), LABELS_MAGIC: ("labels", 1)}


def is_gzip(path: Path | str) -> bool:
    """True if the file starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def read_idx_images(path: Path | str, image_shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """The images of an IDX file as uint8 of shape (count, rows * cols); the file's rows and
    cols must equal ``image_shape``. Else DataError naming the file."""
    path = Path(path)
    expected_rows, expected_cols = image_shape
    images = _read_idx(path, IMAGES_MAGIC, (expected_rows, expected_cols))
    return images.reshape(len(images), expected_rows * expected_cols)


def read_idx_labels(path: Path | str, n_classes: int = 10) -> np.ndarray:
    """The labels of an IDX file as uint8 of shape (count,), each in [0, n_classes). Else
    DataError naming the file."""
    path = Path(path)
    labels = _read_idx(path, LABELS_MAGIC, ())
    check_labels(labels, str(path), n_classes)
    return labels


def check_labels(labels: np.ndarray, source: str, n_classes: int = 10) -> None:
    """DataError naming ``source`` and the first label outside [0, n_classes)."""
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise DataError(
            f"{source}: label {labels[bad[0]]} at index {bad[0]} ({bad.size} labels out of "
            f"range); labels must be integers 0-{n_classes - 1}"
        )


def _read_idx(path: Path, magic: int, expected_shape: tuple[int, ...]) -> np.ndarray:
    """The values of an IDX file with this magic number, shaped (count, *expected_shape)."""
    kind, n_dims = _KINDS[magic]
    try:
        with _open(path) as handle:
            header_size = 4 * (1 + n_dims)
            header = handle.read(header_size)
            # the magic number first: a file of the other kind is told as such, whatever its size
            found_magic = int.from_bytes(header[:4], "big")
            if len(header) >= 4 and found_magic != magic:
                raise DataError(
                    f"{path}: {_describe_magic(found_magic)}; expected {magic} "
                    f"(0x{magic:08x}, IDX {kind})"
                )
            if len(header) < header_size:
                raise DataError(
                    f"{path}: {len(header)} bytes, too short for an IDX {kind} header "
                    f"({header_size} bytes)"
                )
            count, *shape = struct.unpack(f">{n_dims}I", header[4:])
            if tuple(shape) != expected_shape:
                raise DataError(
                    f"{path}: {kind} of size {' x '.join(map(str, shape))}; expected "
                    f"{' x '.join(map(str, expected_shape))}"
                )
            try:
                values = np.empty((count, *expected_shape), dtype=np.uint8)
            except MemoryError as error:
                raise DataError(
                    f"{path}: the header promises {count} {kind}, more than fits in memory "
                    "(a corrupt header?)"
                ) from error
            found = _read_into(handle, values)
            if found < values.nbytes:
                raise DataError(
                    f"{path}: truncated: the header promises {count} {kind}, so expected "
                    f"{values.nbytes} bytes after the header, found {found}"
                )
            # reading past the end also makes gzip check the member's CRC and length
            if handle.read(1):
                raise DataError(
                    f"{path}: more data than the header promises ({count} {kind}, "
                    f"{values.nbytes} bytes after the header)"
                )
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read: {error}") from error
    return values


def _open(path: Path) -> io.BufferedIOBase:
    if is_gzip(path):
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")


def _read_into(handle: io.BufferedIOBase, values: np.ndarray) -> int:
    """Fill ``values`` from ``handle`` without an intermediate copy; the bytes read."""
    buffer = memoryview(values).cast("B")
    filled = 0
    while filled < len(buffer):
        chunk = handle.readinto(buffer[filled:])
        if not chunk:
            break
        filled += chunk
    return filled


def _describe_magic(magic: int) -> str:
    if magic in _KINDS:
        return f"magic number {magic} (0x{magic:08x}) is that of IDX {_KINDS[magic][0]}"
    return f"magic number {magic} (0x{magic:08x}) is not that of IDX unsigned bytes"
