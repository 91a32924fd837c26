"""One writer per run store: an exclusive lock on the file ``RUN.zarr.lock`` beside the store,
taken before a store is created or reopened and held until its writer is gone.

The lock is the operating system's (``fcntl.flock``), so it ends with the process that holds
it, however that process ends: a lock left by a killed writer is free at once, and of two
processes only one can take it. The file records who holds it (process id, host, when it was
taken) for the message another writer gets; it is removed when the lock is let go, so one
that stays names a writer that was killed. Within one process the lock is shared: every
writer object of a store uses the same one, and it is let go when the last of them is gone
(after the analyses that write metrics into a closed store) or when the process ends.

A store on a remote file system (``memory://``, object storage) has no operating-system lock.
Its lock is the lock file itself, created only where none exists (fsspec's exclusive create,
where the file system has one), holding the writer's pid, host and a token. The writer renews
it every ``LEASE_RENEW`` seconds; a lock not renewed for ``LEASE_EXPIRES`` seconds, or one
left on this host by a process that is gone, was left by a killed writer and is taken over.
This is as strong as the file system's conditional writes make it; docs/run-store.md says so.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
import weakref
from pathlib import Path

from neurosim.errors import ValidationError
from neurosim.recording.layout import CREATING, GROUPS
from neurosim.recording.location import StorePath, is_remote, remove_file, remove_tree
from neurosim.recording.reader import open_run

LOCK_SUFFIX = ".lock"
"""The lock file of ``RUN.zarr`` is ``RUN.zarr.lock``, beside it (zarr would warn about a
file inside the store that is not part of it)."""

LEASE_RENEW = 20.0
"""Seconds between the renewals of a remote store's lock by its writer."""
LEASE_EXPIRES = 120.0
"""Seconds without a renewal after which a remote store's lock counts as abandoned."""

_ATTEMPTS = 10  # tries when the lock file is removed by the process letting it go meanwhile
_CONTENTION = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


class StoreInUseError(ValidationError):
    """Another process writes the run store (or is creating it)."""


class WriterLock:
    """The held lock of one store (see ``take_writer_lock``); let go, and its file removed,
    when it is garbage-collected or when the process ends."""

    def __init__(self, abandoned_by: str | None) -> None:
        self.abandoned_by = abandoned_by
        """Who held the lock before and ended without letting it go (killed), in words."""


def _let_go(lock_file: Path, descriptor: int) -> None:
    """Remove the lock file while holding it (a process that opened it meanwhile finds it
    unlinked once it gets the lock, and starts over), then let the lock go."""
    with contextlib.suppress(OSError):
        if os.stat(lock_file).st_ino == os.fstat(descriptor).st_ino:
            lock_file.unlink()
    os.close(descriptor)


_held: weakref.WeakValueDictionary[object, WriterLock] = weakref.WeakValueDictionary()
_held_guard = threading.Lock()


def lock_path(store: StorePath) -> StorePath:
    """The lock file of the store ``store``: beside it, named like it plus ``.lock``."""
    return store.with_name(f"{store.name}{LOCK_SUFFIX}")


def take_writer_lock(store: StorePath) -> WriterLock:
    """Take the writer lock of the store ``store`` without waiting, and record this process in
    it; the same lock if this process holds it already. Raises ``StoreInUseError`` naming the
    holder when another process has it (``store`` itself need not exist)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        lock = _try_remote_lock(store) if is_remote(store) else _try_lock(store)
        if lock is not None:
            return lock
    raise StoreInUseError(f"{store}: its lock keeps being taken and let go by others; try again")


def _try_lock(store: Path) -> WriterLock | None:
    """One try; None when the lock file was removed while it was being taken."""
    lock_file = lock_path(store)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(lock_file, flags, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise ValidationError(
            f"{lock_file} is a symbolic link: the store's lock file is never followed to "
            "another file; remove the link, or choose another path"
        ) from None
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
        lock = WriterLock(abandoned_by)
        weakref.finalize(lock, _let_go, lock_path(store), descriptor)
        _held[key] = lock
        return lock


def _try_remote_lock(store: StorePath) -> WriterLock | None:
    """One try at a remote store's lock file; None when it changed hands meanwhile."""
    lock_file = lock_path(store)
    key = str(lock_file)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            return held
        token = uuid.uuid4().hex
        abandoned_by = None
        holder = _read_holder(lock_file)
        if holder is not None:
            if not _abandoned(holder):
                raise StoreInUseError(
                    f"{store} is in use: {_describe(holder)} writes it; wait for that run to "
                    f"end, or choose another path (a lock not renewed for {LEASE_EXPIRES:g} s "
                    "is taken over)"
                )
            abandoned_by = _describe(holder)
            remove_file(lock_file)
        try:
            with lock_file.fs.open(lock_file.path, "xb") as file:  # created only if absent
                file.write(_holder_record(token))
        except FileExistsError:  # another writer created it first
            return None
        except (ValueError, NotImplementedError):  # no exclusive create here: write, read back
            lock_file.write_bytes(_holder_record(token))
        if (_read_holder(lock_file) or {}).get("token") != token:
            return None
        lock = WriterLock(abandoned_by)
        stop = threading.Event()
        threading.Thread(
            target=_renew, args=(lock_file, token, stop), name=f"lease {key}", daemon=True
        ).start()
        weakref.finalize(lock, _let_go_remote, lock_file, token, stop)
        _held[key] = lock
        return lock


def _holder_record(token: str) -> bytes:
    """The lock file's text: this process, when it took the lock, when it last renewed it."""
    now = time.time()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    return json.dumps({**record, "token": token, "renewed": now}).encode()


def _read_holder(lock_file: StorePath) -> dict | None:
    try:
        holder = json.loads(lock_file.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # half written, or from elsewhere: a holder all the same
        return {}
    return holder if isinstance(holder, dict) else {}


def _abandoned(holder: dict) -> bool:
    """Whether the writer the lock file names is gone: not renewed for ``LEASE_EXPIRES``, or
    on this host with its process ended."""
    renewed = holder.get("renewed")
    if not isinstance(renewed, (int, float)):
        return False
    if time.time() - renewed > LEASE_EXPIRES:
        return True
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
    return False


def _describe(holder: dict) -> str:
    try:
        return f"process {int(holder['pid'])} on host {holder['host']} (since {holder['started']})"
    except (KeyError, TypeError, ValueError):
        return "another process (not recorded yet)"


def _renew(lock_file: StorePath, token: str, stop: threading.Event) -> None:
    """Rewrite the lock file every ``LEASE_RENEW`` seconds while it is this writer's."""
    while not stop.wait(LEASE_RENEW):
        try:
            if (_read_holder(lock_file) or {}).get("token") != token:
                return  # taken over: this writer's lease was lost
            holder = json.loads(lock_file.read_bytes())
            lock_file.write_bytes(json.dumps({**holder, "renewed": time.time()}).encode())
        except OSError:
            continue  # the file system hiccupped: try again at the next renewal


def _let_go_remote(lock_file: StorePath, token: str, stop: threading.Event) -> None:
    stop.set()
    with contextlib.suppress(OSError):
        if (_read_holder(lock_file) or {}).get("token") == token:
            remove_file(lock_file)


def _still_at(lock_file: Path, descriptor: int) -> bool:
    try:
        return os.stat(lock_file).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def describe_holder(store: StorePath) -> str:
    """Who holds the lock of ``store``, as its lock file records it, in words."""
    return _describe(_read_holder(lock_path(store)) or {})


def _record_holder(descriptor: int) -> None:
    """Write this process into the lock file (held): pid, host, when."""
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
    data = text.encode()
    os.pwrite(descriptor, data, 0)
    os.ftruncate(descriptor, len(data))


def claim_new_store(path: StorePath, overwrite: bool) -> tuple[WriterLock, bool]:
    """Take the writer lock of ``path``, then, under it, create the directory or, with
    ``overwrite``, empty an existing one that is neurosim's; return the lock and whether the
    directory was made here. Refused with nothing changed: a path that exists without
    ``overwrite``, a file, a folder that is not neurosim's (never deleted), a store another
    process writes (``StoreInUseError``, naming it)."""
    lock = take_writer_lock(path)
    if not (path.exists() if is_remote(path) else os.path.lexists(path)):
        path.mkdir()
        return lock, True
    refusal = _refusal(path, overwrite, lock.abandoned_by)
    if refusal is not None:
        del lock  # let go now (the traceback keeps no reference to it)
        raise refusal
    clear_store(path)
    return lock, False


def clear_store(path: StorePath) -> None:
    """Delete everything in the directory ``path`` (whose lock is held)."""
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            remove_file(entry)


def _refusal(path: StorePath, overwrite: bool, abandoned_by: str | None) -> ValidationError | None:
    """Why the existing ``path`` may not be replaced, or None: it may be with ``overwrite``
    where it is neurosim's: empty, a run store, or what a creation killed part way leaves
    (nothing in it but a new store's first entries, and its root marked ``CREATING`` or its
    lock file left beside it)."""
    if not overwrite:
        return ValidationError(
            f"{path} already exists; choose another path, or replace it with --overwrite "
            "(overwrite=True from Python)"
        )
    if not path.is_dir() or path.is_symlink():
        return _foreign(path, "it is not a directory")
    entries = [entry.name for entry in path.iterdir()]
    if not entries:
        return None
    if all(_is_first_entry(name) for name in entries) and (
        abandoned_by is not None or _cut_short(path)
    ):
        return None
    try:
        open_run(path)
    except ValidationError as error:
        return _foreign(path, str(error))
    return None


def _cut_short(path: StorePath) -> bool:
    """Whether the root of ``path`` is that of a store whose creation never finished."""
    try:
        root = json.loads((path / "zarr.json").read_bytes())
        return root["attributes"] == {CREATING: True}
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _is_first_entry(name: str) -> bool:
    """Whether a new store's creation writes ``name`` (zarr writes a file through a temporary
    ``*.partial`` one)."""
    return name in ("zarr.json", *GROUPS) or name.endswith(".partial")


def _foreign(path: StorePath, why: str) -> ValidationError:
    return ValidationError(
        f"{path} exists and is not a neurosim run store; refusing to overwrite it ({why})"
    )
