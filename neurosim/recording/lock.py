"""One writer per run store: an exclusive lock on the file ``RUN.zarr.lock`` beside the store,
taken before a store is created or reopened and held until its writer is gone.

The lock is the operating system's (``fcntl.flock``), so it ends with the process that holds
it, however that process ends: a lock left by a killed writer is free at once, and of two
processes only one can take it. The file records who holds it (process id, host, when it was
taken) for the message another writer gets; it is removed when the lock is let go, so one
that stays names a writer that was killed. Within one process the lock is shared: every
writer object of a store uses the same one, and it is let go when the last of them is gone
(after the analyses that write metrics into a closed store) or when the process ends.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import threading
import weakref
from pathlib import Path

from neurosim.errors import ValidationError
from neurosim.recording.layout import GROUPS
from neurosim.recording.reader import open_run

LOCK_SUFFIX = ".lock"
"""The lock file of ``RUN.zarr`` is ``RUN.zarr.lock``, beside it (zarr would warn about a
file inside the store that is not part of it)."""

_ATTEMPTS = 10  # tries when the lock file is removed by the process letting it go meanwhile
_CONTENTION = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


class StoreInUseError(ValidationError):
    """Another process writes the run store (or is creating it)."""


class WriterLock:
    """The held lock of one store (see ``take_writer_lock``); let go, and its file removed,
    when it is garbage-collected or when the process ends."""

    def __init__(self, store: Path, descriptor: int, abandoned_by: str | None) -> None:
        self.abandoned_by = abandoned_by
        """Who held the lock before and ended without letting it go (killed), in words."""
        weakref.finalize(self, _let_go, lock_path(store), descriptor)


def _let_go(lock_file: Path, descriptor: int) -> None:
    """Remove the lock file while holding it (a process that opened it meanwhile finds it
    unlinked once it gets the lock, and starts over), then let the lock go."""
    with contextlib.suppress(OSError):
        if os.stat(lock_file).st_ino == os.fstat(descriptor).st_ino:
            lock_file.unlink()
    os.close(descriptor)


_held: weakref.WeakValueDictionary[tuple[int, int], WriterLock] = weakref.WeakValueDictionary()
_held_guard = threading.Lock()


def lock_path(store: Path) -> Path:
    """The lock file of the store ``store``: beside it, named like it plus ``.lock``."""
    return store.with_name(f"{store.name}{LOCK_SUFFIX}")


def take_writer_lock(store: Path) -> WriterLock:
    """Take the writer lock of the store ``store`` without waiting, and record this process in
    it; the same lock if this process holds it already. Raises ``StoreInUseError`` naming the
    holder when another process has it (``store`` itself need not exist)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        lock = _try_lock(store)
        if lock is not None:
            return lock
    raise StoreInUseError(f"{store}: its lock keeps being taken and let go by others; try again")


def _try_lock(store: Path) -> WriterLock | None:
    """One try; None when the lock file was removed while it was being taken."""
    lock_file = lock_path(store)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(lock_file, flags, 0o644)
    with _held_guard:
        status = os.fstat(descriptor)
        key = (status.st_dev, status.st_ino)
        held = _held.get(key)
        if held is not None:
            os.close(descriptor)  # closing another descriptor keeps this process's flock
            return held
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in _CONTENTION:
                raise StoreInUseError(
                    f"{store} is in use: {describe_holder(store)} writes it; wait for that run "
                    "to end, or choose another path"
                ) from None
            raise ValidationError(
                f"cannot lock {lock_file}: {error.strerror}; the file system does not support "
                "file locks, so one writer per store cannot be ensured there: write the store "
                "to a local disk"
            ) from None
        try:
            if not _still_at(lock_file, descriptor):  # let go and removed by its last holder
                os.close(descriptor)
                return None
            # a holder recorded in a free lock: its process ended without letting go (killed)
            abandoned_by = describe_holder(store) if os.fstat(descriptor).st_size else None
            _record_holder(descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        lock = WriterLock(store, descriptor, abandoned_by)
        _held[key] = lock
        return lock


def _still_at(lock_file: Path, descriptor: int) -> bool:
    try:
        return os.stat(lock_file).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def describe_holder(store: Path) -> str:
    """Who holds the lock of ``store``, as its lock file records it, in words."""
    try:
        holder = json.loads(lock_path(store).read_text())
        return f"process {int(holder['pid'])} on host {holder['host']} (since {holder['started']})"
    except (OSError, ValueError, KeyError, TypeError):  # being written, or from elsewhere
        return "another process (not recorded yet)"


def _record_holder(descriptor: int) -> None:
    """Write this process into the lock file (held): pid, host, when."""
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
    data = text.encode()
    os.pwrite(descriptor, data, 0)
    os.ftruncate(descriptor, len(data))


def claim_new_store(path: Path, overwrite: bool) -> tuple[WriterLock, bool]:
    """Take the writer lock of ``path``, then, under it, create the directory or, with
    ``overwrite``, empty an existing one that is neurosim's; return the lock and whether the
    directory was made here. Refused with nothing changed: a path that exists without
    ``overwrite``, a file, a folder that is not neurosim's (never deleted), a store another
    process writes (``StoreInUseError``, naming it)."""
    lock = take_writer_lock(path)
    if not os.path.lexists(path):
        path.mkdir()
        return lock, True
    refusal = _refusal(path, overwrite, lock.abandoned_by)
    if refusal is not None:
        del lock  # let go now (the traceback keeps no reference to it)
        raise refusal
    clear_store(path)
    return lock, False


def clear_store(path: Path) -> None:
    """Delete everything in the directory ``path`` (whose lock is held)."""
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _refusal(path: Path, overwrite: bool, abandoned_by: str | None) -> ValidationError | None:
    """Why the existing ``path`` may not be replaced, or None: it may be with ``overwrite``
    where it is neurosim's: empty, a run store, or what a creation killed part way leaves (its
    lock file beside it, and nothing in it but a new store's first entries)."""
    if not overwrite:
        return ValidationError(
            f"{path} already exists; choose another path or pass overwrite=True to replace it"
        )
    if not path.is_dir() or path.is_symlink():
        return _foreign(path, "it is not a directory")
    entries = [entry.name for entry in path.iterdir()]
    if not entries:
        return None
    if abandoned_by is not None and all(_is_first_entry(name) for name in entries):
        return None
    try:
        open_run(path)
    except ValidationError as error:
        return _foreign(path, str(error))
    return None


def _is_first_entry(name: str) -> bool:
    """Whether a new store's creation writes ``name`` (zarr writes a file through a temporary
    ``*.partial`` one)."""
    return name in ("zarr.json", *GROUPS) or name.endswith(".partial")


def _foreign(path: Path, why: str) -> ValidationError:
    return ValidationError(
        f"{path} exists and is not a neurosim run store; refusing to overwrite it ({why})"
    )
