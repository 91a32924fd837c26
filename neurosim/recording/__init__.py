"""Recording: the run store every run writes (a zarr v3 directory), and reading it back.

``layout`` describes the store (groups, attributes, ``ArraySpec``) and creates an empty one;
``writer`` records a run into it (``RunStore``), with ``validation`` checking what it is
given and ``metrics``, ``events`` and ``checkpoint`` owning those groups; ``reader`` reads it
back (``open_run``, ``RunReader``); ``signals`` turns SIGTERM and Ctrl-C into a request to stop
between writes; ``lock`` keeps one writer per store. See ``docs/run-store.md`` for the layout
and its guarantees.
"""

from __future__ import annotations

from neurosim.recording.layout import GROUPS, STATUSES, ArraySpec, as_unicode
from neurosim.recording.lock import StoreInUseError
from neurosim.recording.reader import CheckpointWarning, RunReader, open_run
from neurosim.recording.signals import RunInterrupted, StopRequest, stop_on_signals
from neurosim.recording.writer import RunStore

__all__ = [
    "GROUPS",
    "STATUSES",
    "ArraySpec",
    "CheckpointWarning",
    "RunInterrupted",
    "RunReader",
    "RunStore",
    "StopRequest",
    "StoreInUseError",
    "as_unicode",
    "open_run",
    "stop_on_signals",
]
