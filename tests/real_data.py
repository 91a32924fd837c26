"""What a test that needs the real MNIST does when the data set is not found: it skips, or,
where ``NEUROSIM_REQUIRE_DATA=1`` says the data is expected (CI sets it whenever it sets
``NEUROSIM_DATA``), it fails, so that a wrong path cannot turn the real-data tests into
silent skips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from neurosim.data import Dataset, DatasetNotFoundError, load_dataset

REQUIRE_DATA = "NEUROSIM_REQUIRE_DATA"


def data_required() -> bool:
    """Whether the environment says the real data sets are there (``NEUROSIM_REQUIRE_DATA=1``)."""
    return os.environ.get(REQUIRE_DATA, "").strip() == "1"


def data_missing(reason: str, details: str = "") -> NoReturn:
    """Fail with ``reason`` and ``details`` (where it looked) where the data is required,
    skip with ``reason`` otherwise."""
    if data_required():
        pytest.fail(
            f"{reason}, but {REQUIRE_DATA}=1 says the data set is expected: point "
            f"NEUROSIM_DATA at the folder that holds it, or unset {REQUIRE_DATA} to skip "
            f"instead\n{details}".rstrip(),
            pytrace=False,
        )
    pytest.skip(f"{reason} (set NEUROSIM_DATA)")


def real_mnist(data_dir: Path | None = None) -> Dataset:
    """The real MNIST, found as ``load_dataset("mnist", data_dir)`` finds it; where it is not
    found, ``data_missing`` (fail or skip) with the places searched."""
    try:
        return load_dataset("mnist", data_dir)
    except DatasetNotFoundError as error:
        searched = str(error)
    # outside the except block: the report shows the places searched, not a chained traceback
    data_missing("MNIST not found", searched)
