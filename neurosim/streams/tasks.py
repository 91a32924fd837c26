"""Continual-learning task sequences: which task, and which item of it, each sample of a long
(or unbounded) stream shows.

A stream of samples is cut into *blocks* of ``samples_per_task`` samples. Block ``b`` trains
the task ``task_order[b % n_tasks]``; the order is passed ``cycles`` times (``cycles`` > 1:
recurring tasks, A B A B ...; None: forever). With the schedule "drift" each block blends
into the next: sample ``j`` of block ``b`` comes from the next block's task with probability
``j / samples_per_task`` (a drifting mixture); the last block of a bounded stream is pure.
Within a block, each task's items are its pool (indices into the data) in a random order,
a new permutation for each pass through the pool.

Every draw is seeded by ``(seed, block, ...)``, never by what was drawn before, so a stream
starts at any sample without replaying the ones before it, and memory holds one block (two
integer arrays of ``samples_per_task``) whatever the stream's length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurosim.errors import ValidationError

SCHEDULES = ("blocks", "drift")

# the salts that keep the draws of one block apart (the mixture, then each task's items)
_DRIFT_SALT = 1
_ITEMS_SALT = 2


class TaskSchedule:
    """The task and item of every sample (module docstring).

    ``pools``: per task, the item indices it draws from (at least one each). ``task_order``:
    the tasks in the order the blocks train them (each task index in range). ``cycles``: how
    many times the order is passed; None: without end."""

    def __init__(
        self,
        pools: Sequence[np.ndarray],
        task_order: Sequence[int],
        *,
        schedule: str,
        samples_per_task: int,
        cycles: int | None,
        seed: int,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValidationError(
                f"schedule = {schedule!r}: expected one of {', '.join(SCHEDULES)}"
            )
        if samples_per_task < 1:
            raise ValidationError(f"samples_per_task = {samples_per_task}: expected >= 1")
        if cycles is not None and cycles < 1:
            raise ValidationError(f"cycles = {cycles}: expected >= 1, or None for no end")
        self.pools = [np.asarray(pool, dtype=np.int64) for pool in pools]
        for task, pool in enumerate(self.pools):
            if pool.ndim != 1 or len(pool) == 0:
                raise ValidationError(f"task {task} has no items to draw from")
        self.task_order = [int(task) for task in task_order]
        for task in self.task_order:
            if not 0 <= task < len(self.pools):
                raise ValidationError(
                    f"task order names task {task}; tasks are 0 to {len(self.pools) - 1}"
                )
        self.schedule = schedule
        self.samples_per_task = samples_per_task
        self.cycles = cycles
        self.seed = seed
        self._block: int | None = None
        self._tasks = np.zeros(0, dtype=np.int64)
        self._items = np.zeros(0, dtype=np.int64)

    @property
    def n_tasks(self) -> int:
        return len(self.pools)

    @property
    def n_blocks(self) -> int | None:
        """Blocks in the stream (None: without end)."""
        return None if self.cycles is None else self.cycles * len(self.task_order)

    @property
    def n_samples(self) -> int | None:
        """Samples in the stream (None: without end)."""
        blocks = self.n_blocks
        return None if blocks is None else blocks * self.samples_per_task

    def block_task(self, block: int) -> int:
        """The task block ``block`` trains (its nominal task, under drift)."""
        return self.task_order[block % len(self.task_order)]

    def draw(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(task, item) of samples ``start`` to ``start + count - 1``, as int64 arrays."""
        stop = start + count
        if start < 0 or count < 0 or (self.n_samples is not None and stop > self.n_samples):
            raise ValidationError(
                f"samples {start} to {stop - 1}: the stream has samples 0 to "
                f"{(self.n_samples or 0) - 1}"
            )
        tasks, items = [], []
        position = start
        while position < stop:
            block, offset = divmod(position, self.samples_per_task)
            taken = min(stop - position, self.samples_per_task - offset)
            block_tasks, block_items = self._block_arrays(block)
            tasks.append(block_tasks[offset : offset + taken])
            items.append(block_items[offset : offset + taken])
            position += taken
        if not tasks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(tasks), np.concatenate(items)

    def _block_arrays(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Every sample's task and item in ``block`` (the last block's are kept)."""
        if block != self._block:
            self._tasks = self._block_tasks(block)
            self._items = np.empty_like(self._tasks)
            for task in np.unique(self._tasks):
                where = self._tasks == task
                self._items[where] = self._task_items(block, int(task), int(where.sum()))
            self._block = block
        return self._tasks, self._items

    def _block_tasks(self, block: int) -> np.ndarray:
        tasks = np.full(self.samples_per_task, self.block_task(block), dtype=np.int64)
        last = self.n_blocks is not None and block == self.n_blocks - 1
        if self.schedule == "drift" and not last:
            rng = np.random.default_rng((self.seed, block, _DRIFT_SALT))
            share_of_next = np.arange(self.samples_per_task) / self.samples_per_task
            tasks[rng.random(self.samples_per_task) < share_of_next] = self.block_task(block + 1)
        return tasks

    def _task_items(self, block: int, task: int, count: int) -> np.ndarray:
        """``count`` items of ``task``: its pool permuted anew for every pass."""
        pool = self.pools[task]
        passes = -(-count // len(pool))
        orders = [
            np.random.default_rng((self.seed, block, _ITEMS_SALT, task, k)).permutation(pool)
            for k in range(passes)
        ]
        return np.concatenate(orders)[:count]
