"""Runs of a scenario: one per seed and sweep point, each in its own store; resuming a stopped
one. The ``neurosim`` command parses its arguments and prints; this module decides what runs.

A scenario with ``[[phase]]`` tables runs through ``neurosim.scenario.runner``; one with an
``[experiment]`` table runs the protocol of its kind, found in ``neurosim.registry``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ValidationError
from neurosim.recording import CheckpointWarning
from neurosim.recording.location import StorePath, store_path
from neurosim.recording.lock import take_writer_lock
from neurosim.recording.resume import check_resumable
from neurosim.registry import experiment, experiment_kinds
from neurosim.scenario.runner import RunSummary, resume_scenario, run_scenario
from neurosim.scenario.schema import Scenario, load_scenario
from neurosim.sweep import GridKey, SweepPoint, plan_points


def default_store(name: str) -> Path:
    """runs/NAME.zarr, or runs/NAME-2.zarr, ... if that exists."""
    candidate = Path("runs") / f"{name}.zarr"
    number = 2
    while candidate.exists():
        candidate = Path("runs") / f"{name}-{number}.zarr"
        number += 1
    return candidate


@dataclass(frozen=True)
class Plan:
    """The runs of one ``neurosim run``, seed-minor within each ``event.sweep`` point: the
    sweep machinery's points (``neurosim.sweep``), run in this process."""

    runs: tuple[SweepPoint, ...]
    n_seeds: int
    base: StorePath  # stores of several runs are named BASE-LABEL.zarr

    @property
    def points(self) -> list[dict[str, Any]]:
        return [run.named for run in self.runs[:: self.n_seeds]]


def plan_runs(
    source: str | Path,
    overrides: Sequence[str] = (),
    seeds: Sequence[int] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Plan:
    """Every run of a scenario: one per seed (None: its own seed) and per ``event.sweep``
    point, planned like a sweep's (``neurosim.sweep.plan_points``), so every scenario is
    checked before any runs and bad input writes nothing. One run goes to ``out`` (default
    runs/NAME.zarr, numbered if taken); several to OUT-LABEL.zarr (``.zarr`` of ``out``
    dropped) with the sweep point and seed in the label."""
    first = load_scenario(source, overrides)
    chosen = list(seeds) if seeds else [first.settings["scenario"]["seed"]]
    sweep = first.settings.get("event", {}).get("sweep") or {}
    grid = [GridKey(f"event.{key}", key, tuple(values)) for key, values in sweep.items()]
    base = store_path(out) if out else Path("runs") / first.name
    if base.name.endswith(".zarr"):
        base = base.with_name(base.name.removesuffix(".zarr"))

    def place(point: dict[str, Any], seed: int, _: str) -> StorePath:
        if len(chosen) == 1 and not point:
            return store_path(out) if out else default_store(first.name)
        label = "".join(f"-{key}{value:g}" for key, value in point.items())
        label += "" if len(chosen) == 1 else f"-seed{seed}"
        return base.with_name(f"{base.name}{label}.zarr")

    runs = plan_points(source, overrides, grid, chosen, place, option="event.sweep")
    return Plan(runs, len(chosen), base)


def with_data_dir(
    source: str | Path, overrides: Sequence[str], data_dir: str | os.PathLike[str] | None
) -> list[str]:
    """``overrides`` and, for ``--data-dir DIR``, the override that makes the scenario's
    experiment look for its data set in DIR first (``experiment.data_dir``, as an absolute
    path: it is stored with the scenario, so sweep workers and ``--resume`` look there too).
    ValidationError where DIR is not a folder or the scenario reads no data set."""
    if data_dir is None:
        return list(overrides)
    folder = Path(data_dir).expanduser().resolve()
    if not folder.is_dir():
        raise ValidationError(f"--data-dir {data_dir}: no such folder")
    scenario = load_scenario(source, overrides)
    kind = scenario.settings.get("experiment", {}).get("kind")
    if kind is None or "data_dir" not in experiment(kind).keys:
        readers = [name for name in experiment_kinds() if "data_dir" in experiment(name).keys]
        raise ValidationError(
            f"--data-dir {data_dir}: the scenario {scenario.name!r} reads no data set (only "
            f"experiments of kind {', '.join(readers)} do)"
        )
    return [*overrides, f"experiment.data_dir={json.dumps(str(folder))}"]


def spread_report(plan: Plan, summaries: Sequence[RunSummary]) -> str:
    """What to print after the runs: each metric's spread over the seeds, or with a sweep a
    Markdown table by sweep point, which is also written to BASE-sweep.md. Empty when the
    runs have no metrics or there is one run."""
    if not summaries or not summaries[0].metrics:
        return ""
    n = plan.n_seeds
    by_point = [
        {
            metric: [summary.metrics[metric] for summary in summaries[k * n : (k + 1) * n]]
            for metric in summaries[0].metrics
        }
        for k in range(len(summaries) // n)
    ]
    points = plan.points[: len(by_point)]
    if not points[0]:
        if n == 1:
            return ""
        lines = [f"over {n} seeds (mean ± sd):"]
        lines += [f"  {metric}: {spread(values)}" for metric, values in by_point[0].items()]
        return "\n".join(lines) + "\n"
    table = sweep_table(points, by_point)
    report = plan.base.with_name(f"{plan.base.name}-sweep.md")
    report.parent.mkdir(parents=True, exist_ok=True)
    title = f"{plan.runs[0].scenario.name}: event.sweep ({n} seed(s) per point, mean ± sd)"
    report.write_text(f"# {title}\n\n{table}")
    return f"sweep ({n} seed(s) per point, mean ± sd):\n{table}wrote {report}\n"


def execute(
    scenario: Scenario, out: str | Path, *, overwrite: bool = False, progress: bool = True
) -> RunSummary:
    """Run a checked scenario into a new run store at ``out``: its phases, or the protocol of
    its experiment kind."""
    if "experiment" in scenario.settings:
        kind = scenario.settings["experiment"]["kind"]
        return experiment(kind).run(scenario, store_path(out), overwrite, progress)
    return run_scenario(scenario, out, overwrite=overwrite, progress=progress)


def resume(out: str | Path, progress: bool = True) -> RunSummary:
    """Continue the stopped run in the store ``out`` from its newest valid checkpoint, with
    the settings it started with: a phases run, or an experiment of a kind that resumes."""
    out = store_path(out)
    # refused before any data is looked for: a store this version cannot continue (which may
    # hold a scenario it cannot read), a complete run
    reader = check_resumable(out)
    # then a store another process writes, before anything else is said about it; the
    # resumed run's writer takes the lock again (held from then on)
    take_writer_lock(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)  # RunStore.resume says which
        if reader.checkpoint() is None:
            raise ValidationError(
                f"{out}: the run stopped before its first checkpoint (none is stored, or none "
                "is valid); run the scenario again with --overwrite"
            )
    kind = reader.attributes.get("scenario", {}).get("experiment", {}).get("kind")
    if kind is None:
        return resume_scenario(out, progress)
    resume_kind = experiment(kind).resume if kind in experiment_kinds() else None
    if resume_kind is None:
        resumable = [name for name in experiment_kinds() if experiment(name).resume is not None]
        raise ValidationError(
            f"{out}: experiments of kind {kind!r} write no checkpoints, so they cannot be "
            f"resumed (phases runs and experiments of kind {', '.join(resumable)} can); run "
            "the scenario again with --overwrite"
        )
    return resume_kind(out, progress)


def spread(values: Sequence[float]) -> str:
    """mean ± sd (min, max; n) of the finite values."""
    array = np.array(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return "undefined in every run"
    return (
        f"{array.mean():.4g} ± {array.std():.4g}  (min {array.min():.4g}, max "
        f"{array.max():.4g}; {array.size} runs)"
    )


def sweep_table(points: list[dict[str, float]], metrics: list[dict[str, list[float]]]) -> str:
    """A Markdown table: one row per sweep point, each metric's mean ± sd over the seeds (its
    value, with one seed)."""
    names = list(metrics[0])
    keys = list(points[0])
    lines = [
        "| " + " | ".join(keys + names) + " |",
        "|" + "---|" * (len(keys) + len(names)),
    ]
    for point, values in zip(points, metrics, strict=True):
        cells = [f"{point[key]:g}" for key in keys]
        for name in names:
            array = np.array(values[name], dtype=float)
            array = array[np.isfinite(array)]
            if array.size > 1:
                cells.append(f"{array.mean():.4g} ± {array.std():.3g}")
            else:
                cells.append(f"{array[0]:.4g}" if array.size else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
