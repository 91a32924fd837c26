"""End-to-end: aSTDP with fake targets learns to auto-encode four one-hot patterns."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.demo import N_PATTERNS, check_recall, train_patterns


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_astdp_learns_to_recall_and_complete_the_patterns(seed: int) -> None:
    result = check_recall(train_patterns(seed), seed=seed)
    assert result.recalled.all(), f"patterns not kept after release: {result.recalled}"
    wrong_units = ~np.eye(N_PATTERNS, dtype=bool)
    assert result.completed[wrong_units].all(), f"not completed: {result.completed}"


def test_an_untrained_network_fails_the_same_checks() -> None:
    """The checks can fail: without learning the free network forgets and cannot complete."""
    result = check_recall(train_patterns(0, epochs=0), seed=0)
    assert result.recalled.sum() <= 1
    assert not result.all_correct
