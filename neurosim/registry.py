"""The one place that names the backends and the experiment kinds.

A backend is a module that defines ``BACKEND`` (a ``neurosim.backends.base.Backend``); an
experiment kind is a module that defines ``EXPERIMENT`` (a ``neurosim.experiments.Experiment``).
The built-in ones are listed here by module name and imported on first use, so reading this
table costs nothing and the scenario checker can ask it without importing a simulator or an
experiment's training code. A package of its own can add more without editing neurosim, through
the entry-point groups ``neurosim.backends`` and ``neurosim.experiments`` (name = module).
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurosim.backends.base import Backend
    from neurosim.experiments import Experiment

# the backend a scenario runs on unless it says otherwise
DEFAULT_BACKEND = "sync"
BUILTIN_BACKENDS = {"sync": "neurosim.backends.sync", "event": "neurosim.backends.event"}
BUILTIN_EXPERIMENTS = {
    "stdp_window": "neurosim.experiments.stdp_window",
    "ordering": "neurosim.experiments.ordering",
    "mnist": "neurosim.experiments.mnist",
    "continual": "neurosim.experiments.continual",
    "stdp_curve": "neurosim.experiments.stdp_curve",
    "spiking": "neurosim.experiments.spiking",
    "bcm": "neurosim.experiments.bcm",
    "superspike": "neurosim.experiments.superspike",
}


@cache
def _table(group: str, builtin: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Name -> module: the built-in ones, then those installed packages declare (a built-in
    name cannot be taken over)."""
    table = dict(builtin)
    for point in entry_points(group=group):
        table.setdefault(point.name, point.value)
    return table


def _backends() -> dict[str, str]:
    return _table("neurosim.backends", tuple(BUILTIN_BACKENDS.items()))


def _experiments() -> dict[str, str]:
    return _table("neurosim.experiments", tuple(BUILTIN_EXPERIMENTS.items()))


def _load(table: dict[str, str], name: str, attribute: str, what: str) -> Any:
    if name not in table:
        raise KeyError(f"no {what} named {name!r}; known are {', '.join(table)}")
    return getattr(importlib.import_module(table[name]), attribute)


def backend_names() -> tuple[str, ...]:
    """The names a scenario's ``scenario.backend`` and ``--backend`` accept."""
    return tuple(_backends())


def backend(name: str) -> Backend:
    """The backend of a name (its module is imported on first use)."""
    return _load(_backends(), name, "BACKEND", "backend")


def experiment_kinds() -> tuple[str, ...]:
    """The names an ``[experiment]`` table's ``kind`` accepts."""
    return tuple(_experiments())


def experiment(kind: str) -> Experiment:
    """The experiment of a kind (its module is imported on first use)."""
    return _load(_experiments(), kind, "EXPERIMENT", "experiment kind")
