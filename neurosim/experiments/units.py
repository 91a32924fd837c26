"""Checkpoints of experiments made of independent units (a seed's network, a point of a
curve): the results after a whole number of units, written every ``[record]
checkpoint_every`` units and when SIGTERM or Ctrl-C stops the run; a resumed run starts at
the next unit, each unit being built afresh from its own seed, so it ends with the results
of a run that never stopped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from neurosim.recording import RunStore


class UnitCheckpoints:
    """Writes the results after whole units into ``store``: every ``every`` units (0: only
    when a stop signal ends the run)."""

    def __init__(self, store: RunStore, every: int, keep: int) -> None:
        self.store, self.every = store, every
        store.checkpoint_keep = keep
        self._last: tuple[int, dict[str, np.ndarray], dict[str, Any]] | None = None
        self._written: int | None = None

    def done(
        self, units: int, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]
    ) -> None:
        """``units`` units are done, with these results (copied: the run goes on changing
        its arrays); a checkpoint is written when one is due."""
        copies = {key: np.array(value) for key, value in arrays.items()}
        self._last = (units, copies, {**attributes})
        if self.every and units % self.every == 0:
            self._write()

    @contextmanager
    def on_stop(self) -> Iterator[None]:
        """Around the units: when a stop signal ends the run, write the results of the units
        done (unless they are written already)."""
        try:
            yield
        except KeyboardInterrupt:
            last = self._last
            if last is not None and self._written != last[0] and self.store.write_error is None:
                self._write()
            raise

    def _write(self) -> None:
        assert self._last is not None
        units, arrays, attributes = self._last
        self.store.write_checkpoint(arrays, {**attributes, "units_done": units})
        self._written = units
