"""Experiments that need more than one simulator or one run: a scenario with an
``[experiment]`` table instead of ``[[phase]]`` tables.

Each kind lives in its own module, which defines ``EXPERIMENT``: the keys of its
``[experiment]`` table (checked like every scenario key), a ``run`` function that carries the
protocol out and writes one run store (metrics, attributes, and whatever trajectories help),
and a ``plot`` function that draws the paper's figure from that store. ``neurosim.registry``
names the kinds.

A kind that trains a network and then tests it puts ``TEST_MODEL: TEST_MODEL_KEY`` among its
keys and runs its test stage with ``scenario.test_parameters``: the training model with the
scenario's ``[experiment.test_model]`` (any ``[model]`` keys, nested tables merged key by key)
merged over it, checked like ``[model]`` (errors name ``experiment.test_model.<key>``), so
that the test-time model can be set from the scenario or with
``--set experiment.test_model.fake_target.mu=0.995``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neurosim.keys import Key, allows, table

if TYPE_CHECKING:
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
    the stopped run in the store ``out``. ``checkpoint_key``: the kind's own key of its
    checkpoint interval, which ``[record] checkpoint_every`` sets where given (a kind without
    such a key reads the record key itself).
    """

    keys: Mapping[str, Key]
    run: Callable[[Scenario, Path, bool, bool], RunSummary]
    plot: Callable[[RunReader, Path], Path]
    resume: Callable[[Path, bool], RunSummary] | None = None
    checkpoint_key: str = "checkpoint_every"


# the key of an experiment's test-time model; neurosim.scenario.schema resolves it
TEST_MODEL = "test_model"
TEST_MODEL_KEY = Key(
    allows("a table of [model] keys")(table),
    doc="The model the test stage runs with: [model] keys merged over the training model "
    "(not rule, dtype or activation).",
)

__all__ = ["TEST_MODEL", "TEST_MODEL_KEY", "Experiment"]
