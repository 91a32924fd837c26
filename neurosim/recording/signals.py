"""Stopping a run from outside: SIGTERM and Ctrl-C become a request the run checks between
pieces of work, so that it never stops in the middle of a write to its store."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class RunInterrupted(KeyboardInterrupt):
    """The run was asked to stop from outside (SIGTERM or Ctrl-C; see ``stop_on_signals``).

    A ``KeyboardInterrupt``, so that it is handled like Ctrl-C: ``except Exception`` does not
    swallow it, ``RunStore`` marks the store ``interrupted``, and the command exits with 130.
    """


class StopRequest:
    """Whether a stop signal arrived; ``check()`` raises ``RunInterrupted`` if so.

    A runner calls ``check()`` between pieces of work, so that a run never stops in the
    middle of a write to its store.
    """

    def __init__(self) -> None:
        self.reason: str | None = None

    def check(self) -> None:
        if self.reason is not None:
            raise RunInterrupted(self.reason)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While inside, SIGTERM and SIGINT (Ctrl-C) only set the yielded ``StopRequest``.

    Use around a run so that ``kill PID`` or Ctrl-C stops it at the next ``check()``: the
    ``RunStore`` context then writes what is buffered and marks the store ``interrupted``.
    The previous handlers are restored on exit. Off the main thread (a run inside a Dask
    worker) no handler can be set (a rule of Python's ``signal``): the request then never
    fires, and whoever runs the thread stops it.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        request.reason = f"terminated by {signal.Signals(signum).name}"

    previous = {
        number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield request
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
