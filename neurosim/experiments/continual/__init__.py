"""Continual learning: one network learns a long (or endless) stream of tasks, answering every
sample before it learns it, with no split into training and testing.

The tasks (``tasks``): split MNIST or Fashion-MNIST (disjoint class subsets), permuted MNIST
(pixel permutations), or the toy experiments' one-hot patterns, with no download. The schedule
(``neurosim.streams.tasks``): blocks of ``samples_per_task`` samples, the task order passed
``cycles`` times (recurring tasks; 0: without end, up to ``samples``), each block drifting into
the next with ``schedule = "drift"``. The run (``runner``): every sample predicted, then
learned; probes of every task read every ``probe_every`` samples; settling after each change
of task; checkpoints every ``checkpoint_every`` samples and on SIGTERM or Ctrl-C. The metrics
(``neurosim.analysis.continual``) and the store's layout are in docs/continual-learning.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim import registry
from neurosim.analysis.continual import TRANSFER_METRICS
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.continual.figure import plot
from neurosim.experiments.continual.protocol import KEYS
from neurosim.experiments.continual.runner import carry_out, network_of
from neurosim.experiments.continual.tasks import TaskSet, build_tasks
from neurosim.recording import ArraySpec, RunStore, open_run
from neurosim.scenario.runner import RunSummary, create_experiment_store
from neurosim.scenario.schema import Scenario, check_scenario

# rows per chunk of a series, also the most rows of one kept in memory before a write
SERIES_CHUNK = 1024


def series_layout(tasks: TaskSet) -> dict[str, dict[str, ArraySpec]]:
    """The store's appendable series: one row per sample, per probe row, per change of task."""
    n_probes = len(tasks.probe_labels)
    metric = ArraySpec(("probe",), (0,), np.float32)
    return {
        "samples": {
            "task": ArraySpec(("sample",), (0,), np.int16),
            "label": ArraySpec(("sample",), (0,), np.int16),
            "prediction": ArraySpec(("sample",), (0,), np.int16),
            "correct": ArraySpec(("sample",), (0,), np.bool_),
            "prequential_accuracy": ArraySpec(("sample",), (0,), np.float32),
        },
        "probes": {
            "sample": ArraySpec(("probe",), (0,), np.int64),
            "block_end": ArraySpec(("probe",), (0,), np.bool_),
            "accuracy": ArraySpec(("probe", "task"), (0, tasks.n_tasks), np.float32),
            "prediction": ArraySpec(("probe", "probe_item"), (0, n_probes), np.int16),
            **dict.fromkeys(TRANSFER_METRICS, metric),
        },
        "changes": {
            "sample": ArraySpec(("change",), (0,), np.int64),
            "task": ArraySpec(("change",), (0,), np.int16),
            "steps_to_settle": ArraySpec(("change",), (0,), np.float32),
            "unsettled": ArraySpec(("change",), (0,), np.float32),
        },
    }


def _check_backend(scenario: Scenario) -> None:
    name = scenario.settings["scenario"]["backend"]
    if not registry.backend(name).batched:
        batched = [other for other in registry.backend_names() if registry.backend(other).batched]
        raise ValidationError(
            f"scenario.backend = {name!r}: a continual-learning stream shows samples in "
            f"batches and reads its probes in batches; run it on {', '.join(batched)} "
            f"(scenario.backend = {batched[0]!r} or --backend {batched[0]})"
        )


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    """Run the stream of ``scenario`` into a new store at ``out``, after every check that
    needs the data (nothing is written where one fails)."""
    _check_backend(scenario)
    tasks = build_tasks(scenario.settings["experiment"])
    network, layout = network_of(scenario, tasks)
    store = create_experiment_store(
        out,
        network,
        scenario,
        kind="continual",
        seeds=[scenario.settings["scenario"]["seed"]],
        overwrite=overwrite,
        series=series_layout(tasks),
        series_chunk=SERIES_CHUNK,
        n_tasks=tasks.n_tasks,
        task_classes=[group.tolist() for group in tasks.classes],
    )
    store.write_metric("probe_label", tasks.probe_labels, ("probe_item",))
    store.write_metric("probe_task", tasks.probe_tasks, ("probe_item",))
    return carry_out(scenario, tasks, store, progress, None, (network, layout))


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped stream in ``out`` from its newest valid checkpoint, cut back to
    it; the result is the one the run would have given without the stop."""
    scenario = check_scenario(open_run(out).attributes["scenario"], None)
    tasks = build_tasks(scenario.settings["experiment"])
    store, arrays, attributes = RunStore.resume(out)
    return carry_out(scenario, tasks, store, progress, (arrays, attributes))


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
