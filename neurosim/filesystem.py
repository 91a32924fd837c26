"""Paths the user names for output, and file-system errors said in one line.

Every output neurosim writes (a run store, an export, a figure, a data folder) is checked here
before any work starts, so that a path it cannot write gives a ``ValidationError`` naming the
path and what to do, and nothing is written. What the operating system refuses later (a full
disk, a permission changed during the run) is an ``OSError``; ``describe_os_error`` turns it
into the same kind of line.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from neurosim.errors import ValidationError

if TYPE_CHECKING:
    from neurosim.recording.location import StorePath

PATH_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENOENT,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)
"""Errors that mean the path given cannot be used: bad input (exit 2), not a failed run."""

_REASONS = {
    errno.EACCES: ("permission denied", "choose another path or change its permissions"),
    errno.EPERM: ("operation not permitted", "choose another path or change its permissions"),
    errno.EROFS: ("the file system is read-only", "choose a path on a writable file system"),
    errno.EISDIR: ("is a folder", "give the path of a file"),
    errno.ENOENT: ("no such file or folder", "check the path, or create the folder it goes in"),
    errno.EEXIST: ("already exists", "remove it or choose another path"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.ELOOP: ("too many symbolic links", "check the links on the path"),
    errno.ENOSPC: ("no space left on the device", "free some space or write somewhere else"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or write somewhere else"),
    errno.EIO: ("input/output error", "check the disk, then try again"),
}


def describe_os_error(error: OSError, where: str | os.PathLike[str] | None = None) -> str:
    """One line for ``error``: the path (the error's own, else ``where``), what went wrong
    and what to do, e.g. ``out/run.zarr: no space left on the device; free some space or
    write somewhere else``."""
    path = error.filename if error.filename is not None else where
    reason, hint = _REASONS.get(
        error.errno or 0, (error.strerror or type(error).__name__, "check the path and try again")
    )
    if error.errno in (errno.ENOTDIR, errno.EEXIST) and path is not None:
        file = _file_on_the_way(Path(path))
        if file is not None:  # the usual cause: a folder of the path is a file
            reason, hint = f"{file} is a file, not a folder", "choose another path"
    if path is None:
        return f"{reason}; {hint}"
    return f"{path}: {reason}; {hint}"


def _file_on_the_way(path: Path) -> Path | None:
    """The first of ``path``'s folders (or ``path`` itself) that exists and is not a folder."""
    for candidate in reversed([path, *path.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def check_output_folder(path: str | os.PathLike[str], option: str) -> StorePath:
    """Check that ``path`` (a run store or data folder, created with its missing parents)
    can be created: the nearest existing folder above it is a folder neurosim may write in.

    ``option`` comes before the path in messages: where it was given (``--out``) or what
    it is for; ValidationError otherwise. A URL of a remote file system is checked when it is
    first written: its protocol is known and its package installed (``store_path``).
    """
    from neurosim.recording.location import is_remote, store_path

    location = store_path(path)
    if is_remote(location):
        return location
    path = Path(location)
    existing = next(parent for parent in path.parents if parent.exists())
    _check_writable_folder(path, existing, option)
    return path


def check_output_file(
    path: str | os.PathLike[str], option: str, suffixes: Collection[str] | None = None
) -> Path:
    """Check that the file ``path`` can be written: its folder exists and neurosim may write
    in it, ``path`` is not a folder, and (with ``suffixes``) its extension is one of them.

    ``option`` comes before the path in messages (``-o``); ValidationError otherwise.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lstrip(".").lower() not in suffixes:
        extension = f"the extension {path.suffix} is unknown" if path.suffix else "no extension"
        raise ValidationError(
            f"{option} {path}: {extension}; give a file name ending in one of "
            f"{', '.join('.' + suffix for suffix in sorted(suffixes))}"
        )
    if path.is_dir():
        raise ValidationError(f"{option} {path}: is a folder; give the path of a file")
    if not path.parent.exists():
        file = _file_on_the_way(path.parent)
        if file is None:
            raise ValidationError(
                f"{option} {path}: the folder {path.parent} does not exist; create it or "
                "choose another path"
            )
    _check_writable_folder(path, path.parent, option)
    return path


def _check_writable_folder(path: Path, folder: Path, option: str) -> None:
    file = _file_on_the_way(path.parent)
    if file is not None:
        raise ValidationError(
            f"{option} {path}: {file} is a file, not a folder; choose another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        folder = folder.absolute()  # "the folder ." says little
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        why = "is on a read-only file system" if read_only else "is not writable"
        raise ValidationError(
            f"{option} {path}: the folder {folder} {why}; choose another path"
            + ("" if read_only else " or change the folder's permissions")
        )


@contextmanager
def staged_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden temporary name beside ``path`` (same extension) to write to; renamed onto
    ``path`` when the block succeeds, removed when it fails, so ``path`` is never half
    written."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    try:
        yield temporary
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
