"""Checkpoints and resume: where a run is (``Position``), what a checkpoint holds, and the
clock that writes them while a stage trains.

After every ``checkpoint_digits`` training digits (0: none within an epoch), after every
epoch and after every seed, the run store's ``checkpoint/`` group receives the simulator, the
shuffle generator, the epoch's digit order and the metrics so far; ``neurosim run --resume
STORE`` continues from it and ends as the run would have without stopping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neurosim.backends.sync import SyncSimulator
from neurosim.experiments.mnist.results import Results
from neurosim.recording import RunStore


@dataclass
class Position:
    """Where a run is: seed ``s``, stage ``stage`` (pretraining epochs, then training
    epochs), ``done`` digits into that stage's ``order`` (None before the stage draws it),
    ``steps`` simulation steps of training done over all seeds."""

    s: int = 0
    stage: int = 0
    done: int = 0
    order: np.ndarray | None = None
    steps: int = 0

    @classmethod
    def saved_in(cls, arrays: dict[str, np.ndarray], attributes: dict[str, Any]) -> Position:
        """The position a checkpoint written by ``write_checkpoint`` holds."""
        return cls(
            attributes["seed_index"],
            attributes["stage"],
            attributes["done"],
            arrays.get("order"),
            attributes["steps"],
        )


class StageClock:
    """One stage's training time, added to the seed's ``train_wall_time`` as it goes, and
    its checkpoints: after a batch, each time the digits done pass a multiple of
    ``checkpoint_digits``."""

    def __init__(
        self,
        store: RunStore,
        results: Results,
        sim: SyncSimulator,
        shuffle: np.random.Generator,
        at: Position,
        table: dict[str, Any],
        per_digit: int,
    ) -> None:
        self.store, self.results, self.sim, self.shuffle, self.at = store, results, sim, shuffle, at
        self.every = table["checkpoint_digits"]
        self.curve_every = table["curve_every"]
        self.per_digit = per_digit
        self.curve_from = 0
        self.curve_point: Callable[[int], None] | None = None
        self.started = time.perf_counter()

    def follow_curve(self, digits_before: int, curve_point: Callable[[int], None]) -> None:
        """Call ``curve_point(k)`` when the training digits, ``digits_before`` this stage's
        plus its own, reach ``(k + 1) * curve_every``; its time is not training time."""
        self.curve_from, self.curve_point = digits_before, curve_point

    def stop(self) -> None:
        """Add the time since the clock (re)started to the seed's training time."""
        now = time.perf_counter()
        self.results.train_wall_time[self.at.s] += now - self.started
        self.started = now

    def after_batch(self, done_now: int) -> None:
        """``done_now`` digits done since the stage (re)started."""
        done = self.at.done + done_now
        if self.curve_point is not None:
            trained = self.curve_from + done
            if trained % self.curve_every == 0:
                self.stop()
                self.curve_point(trained // self.curve_every - 1)
                self.started = time.perf_counter()
        if not self.every or done // self.every == (done - self.sim.batch_size) // self.every:
            return
        self.stop()
        steps = self.at.steps + done_now * self.per_digit
        where = replace(self.at, done=done, steps=steps)
        write_checkpoint(self.store, self.results, self.sim, self.shuffle, where)


def write_checkpoint(
    store: RunStore,
    results: Results,
    sim: SyncSimulator | None,
    shuffle: np.random.Generator | None,
    at: Position,
) -> None:
    """Write where the run is: the metrics so far and, within a seed (``sim`` given), the
    simulator, the shuffle generator and the stage's order."""
    arrays = results.saved()
    attributes: dict[str, Any] = {
        "seed_index": at.s,
        "stage": at.stage,
        "done": at.done,
        "steps": at.steps,
    }
    if sim is not None and shuffle is not None:
        arrays |= sim.checkpoint()
        attributes["shuffle"] = json.dumps(shuffle.bit_generator.state)
        if at.order is not None:
            arrays["order"] = at.order
    store.write_checkpoint(arrays, attributes)
