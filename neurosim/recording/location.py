"""Where a run store lives: a local path, or a URL of any fsspec file system.

A local path (and a ``file://`` URL, which names one) is a ``pathlib.Path``, and the store gets
everything the local disk offers: the operating system's writer lock and zarr's atomic file
writes. Any other URL (``memory://``, ``s3://``, ``gs://``, ``abfs://`` ...) is a ``UPath``
(universal_pathlib: pathlib's interface over fsspec), so the code that lists, creates and
removes a store's folders is the same for both. On such file systems there is no rename of
folders: every commit of a store (its creation, each batch of steps, each checkpoint, the final
status) is a single write of one small metadata file, written last, which object stores make
atomic.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TypeAlias

import zarr.storage
from upath import UPath
from zarr.abc.store import Store

from neurosim.errors import ValidationError

StorePath: TypeAlias = Path | UPath
"""A run store's location: a local ``Path`` or a remote ``UPath``."""

LOCAL_PROTOCOLS = ("file", "local")


def store_path(target: str | os.PathLike[str]) -> StorePath:
    """The location ``target`` names: a ``Path`` for a local path or a ``file://`` URL, a
    ``UPath`` for a URL of another fsspec file system. ``ValidationError`` naming the URL
    when fsspec knows no such protocol or the package that implements it is missing."""
    if isinstance(target, UPath) and not is_remote(target):
        return Path(target.path)
    if isinstance(target, (Path, UPath)):
        return target
    text = os.fspath(target)
    if "://" not in text:
        return Path(text)
    protocol = text.split("://", 1)[0]
    if protocol in LOCAL_PROTOCOLS:
        return Path(UPath(text).path)
    try:
        remote = UPath(text)
        remote.fs  # noqa: B018 (made on first use: a missing package shows here, not mid-run)
        return remote
    except ValueError as error:  # fsspec knows no such protocol
        raise ValidationError(
            f"{text}: {error}; give a local path or a URL of an fsspec file system "
            "(file://, memory://, s3://, ...)"
        ) from None
    except ImportError as error:  # the protocol's package is not installed
        raise ValidationError(
            f"{text}: the file system {protocol}:// needs a package that is not installed ({error})"
        ) from None


def is_remote(path: StorePath) -> bool:
    """Whether ``path`` is on an fsspec file system other than the local disk."""
    return isinstance(path, UPath) and path.protocol not in ("", *LOCAL_PROTOCOLS)


def zarr_store(path: StorePath, read_only: bool = False) -> Store:
    """The zarr store over the folder ``path``."""
    if is_remote(path):
        return zarr.storage.FsspecStore.from_url(str(path), read_only=read_only)
    return zarr.storage.LocalStore(path, read_only=read_only)


def local_name(path: StorePath) -> Path:
    """``path`` itself when it is local, else its name in the working folder: where the files
    made from a store (figures, exports) go by default."""
    return Path(path.name) if is_remote(path) else Path(path)


def zarr_url(path: StorePath) -> str | Path:
    """What xarray and zarr open ``path`` by: the URL of a remote store, a local path as is."""
    return str(path) if is_remote(path) else Path(path)


def folder_bytes(path: StorePath) -> int:
    """The size of the files in the folder ``path``, in bytes."""
    if is_remote(path):
        return int(path.fs.du(path.path, total=True))
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())


def remove_tree(path: StorePath) -> None:
    """Remove the folder ``path`` and everything in it (missing: nothing to do)."""
    if is_remote(path):
        if path.exists():
            path.fs.rm(path.path, recursive=True)
        return
    shutil.rmtree(path, ignore_errors=True)


def remove_file(path: StorePath) -> None:
    """Remove the file ``path`` (missing: nothing to do)."""
    if is_remote(path):
        if path.exists():
            path.fs.rm(path.path)
        return
    Path(path).unlink(missing_ok=True)
