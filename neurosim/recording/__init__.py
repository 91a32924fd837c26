"""Recording: the run store every run writes (a zarr v3 directory), and reading it back.

See ``docs/run-store.md`` for the layout and its guarantees.
"""

from __future__ import annotations

from neurosim.recording.store import (
    GROUPS,
    STATUSES,
    ArraySpec,
    RunInterrupted,
    RunReader,
    RunStore,
    StopRequest,
    open_run,
    stop_on_signals,
)

__all__ = [
    "GROUPS",
    "STATUSES",
    "ArraySpec",
    "RunInterrupted",
    "RunReader",
    "RunStore",
    "StopRequest",
    "open_run",
    "stop_on_signals",
]
