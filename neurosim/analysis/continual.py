"""Continual-learning metrics from the accuracy matrix, kept up to date as a stream goes.

``R[r, j]`` is the accuracy on task ``j``'s held-out probes at probe row ``r``. Row 0 is the
network before any training; further rows come every ``probe_every`` samples and at the end
of every block. ``seen(r)``: the tasks with at least one training sample before row ``r``;
``current(r)``: the task of the block row ``r`` falls in (or ends). At every row:

- average accuracy ``ACC = mean_{j in seen} R[r, j]`` (Lopez-Paz and Ranzato 2017, GEM,
  averaged over the tasks seen so far);
- backward transfer ``BWT = mean_{j in seen, j != current} (R[r, j] - R[end(j), j])``, with
  ``end(j)`` the row at the end of the latest block of task ``j`` (GEM);
- forward transfer ``FWT = mean_j (R[before(j), j] - R[0, j])`` over the seen tasks first
  trained after another, ``before(j)`` the last row before ``j``'s first training sample
  (GEM, with the untrained network as the baseline ``b_j``);
- forgetting ``F = mean_{j in seen, j != current} (max_{0 < l < r} R[l, j] - R[r, j])``
  (Chaudhry et al. 2018).

A mean over no task is NaN. On the block-end rows of a stream that trains each task once,
these are the published formulas; docs/continual-learning.md gives them with the references.
"""

from __future__ import annotations

import numpy as np

TRANSFER_METRICS = ("average_accuracy", "backward_transfer", "forward_transfer", "forgetting")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


class TransferTracker:
    """The metrics of the module docstring, one probe row at a time, in O(tasks) memory."""

    def __init__(self, n_tasks: int) -> None:
        self.rows = 0
        self.seen = np.zeros(n_tasks, dtype=bool)
        self.baseline = np.full(n_tasks, np.nan)
        # R at the last row before the task's first training sample, and that row's index
        self.before_first = np.full(n_tasks, np.nan)
        self.before_first_row = np.full(n_tasks, -1, dtype=np.int64)
        self.at_block_end = np.full(n_tasks, np.nan)
        self.best = np.full(n_tasks, -np.inf)

    def row(
        self, accuracy: np.ndarray, seen: np.ndarray, current: int, block_end: bool
    ) -> dict[str, float]:
        """The metrics at a new row with accuracies ``accuracy`` (per task), ``seen`` the
        tasks trained before it, ``current`` its block's task; ``block_end``: the row ends a
        block of ``current``."""
        accuracy = np.asarray(accuracy, dtype=np.float64)
        seen = np.asarray(seen, dtype=bool)
        if self.rows == 0:
            self.baseline[:] = accuracy
        self.seen |= seen
        others = self.seen.copy()
        if 0 <= current < len(others):
            others[current] = False
        later = self.seen & (self.before_first_row > 0)
        metrics = {
            "average_accuracy": _mean(accuracy[self.seen]),
            "backward_transfer": _mean(
                (accuracy - self.at_block_end)[others & ~np.isnan(self.at_block_end)]
            ),
            "forward_transfer": _mean((self.before_first - self.baseline)[later]),
            "forgetting": _mean((self.best - accuracy)[others & np.isfinite(self.best)]),
        }
        unseen = ~self.seen
        self.before_first[unseen] = accuracy[unseen]
        self.before_first_row[unseen] = self.rows
        if block_end and 0 <= current < len(others):
            self.at_block_end[current] = accuracy[current]
        if self.rows > 0:
            self.best = np.maximum(self.best, accuracy)
        self.rows += 1
        return metrics

    def saved(self) -> dict[str, np.ndarray]:
        """The tracker's state as arrays (for a checkpoint)."""
        return {
            "tracker_rows": np.array(self.rows),
            "tracker_seen": self.seen,
            "tracker_baseline": self.baseline,
            "tracker_before_first": self.before_first,
            "tracker_before_first_row": self.before_first_row,
            "tracker_at_block_end": self.at_block_end,
            "tracker_best": self.best,
        }

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from a state ``saved`` wrote."""
        self.rows = int(arrays["tracker_rows"])
        self.seen = np.asarray(arrays["tracker_seen"], dtype=bool).copy()
        for name in ("baseline", "before_first", "at_block_end", "best"):
            setattr(self, name, np.asarray(arrays[f"tracker_{name}"], dtype=np.float64).copy())
        self.before_first_row = np.asarray(arrays["tracker_before_first_row"], np.int64).copy()


class RollingAccuracy:
    """Prequential accuracy: the share of correct predictions among the last ``window``
    samples (fewer at the stream's start), updated per sample in O(1)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.recent = np.zeros(window, dtype=np.uint8)
        self.count = 0
        self.correct = 0

    def update(self, correct: np.ndarray) -> np.ndarray:
        """The rolling accuracy after each of ``correct`` (booleans, in stream order)."""
        out = np.empty(len(correct), dtype=np.float64)
        for k, hit in enumerate(np.asarray(correct, dtype=np.uint8)):
            slot = self.count % self.window
            if self.count >= self.window:
                self.correct -= int(self.recent[slot])
            self.recent[slot] = hit
            self.correct += int(hit)
            self.count += 1
            out[k] = self.correct / min(self.count, self.window)
        return out

    def saved(self) -> dict[str, np.ndarray]:
        return {"rolling_recent": self.recent, "rolling_count": np.array(self.count)}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.recent = np.asarray(arrays["rolling_recent"], dtype=np.uint8).copy()
        self.count = int(arrays["rolling_count"])
        # slots not yet written are 0, so the sum is the count of correct ones in the window
        self.correct = int(self.recent.sum())
