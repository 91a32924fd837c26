"""Experiments that need more than one simulator or one run: a scenario with an
``[experiment]`` table instead of ``[[phase]]`` tables.

Each kind lives in its own module, which defines ``EXPERIMENT``: the keys of its
``[experiment]`` table (checked like every scenario key), a ``run`` function that carries the
protocol out and writes one run store (metrics, attributes, and whatever trajectories help),
and a ``plot`` function that draws the paper's figure from that store. ``neurosim.registry``
names the kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neurosim.keys import Key
    from neurosim.recording import RunReader
    from neurosim.scenario.runner import RunSummary
    from neurosim.scenario.schema import Scenario


@dataclass(frozen=True)
class Experiment:
    """One experiment kind.

    ``run(scenario, out, overwrite, progress)`` carries out the protocol with
    ``scenario.phase_parameters[0]`` as the model and ``scenario.settings["experiment"]`` as its
    checked settings, writes the run store at ``out`` (refusing an existing one unless
    ``overwrite``) and returns the summary with the metrics to print. ``plot(run, path)``
    writes the figure. ``resume(out, progress)``, for kinds that write checkpoints, continues
    the stopped run in the store ``out``.
    """

    keys: Mapping[str, Key]
    run: Callable[[Scenario, Path, bool, bool], RunSummary]
    plot: Callable[[RunReader, Path], Path]
    resume: Callable[[Path, bool], RunSummary] | None = None


__all__ = ["Experiment"]
