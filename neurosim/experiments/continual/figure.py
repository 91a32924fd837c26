"""The stream's figure: the accuracy matrix over time (each task's probe accuracy against the
samples seen, the blocks shaded by task), the forgetting curve with average accuracy and
backward transfer, and the prequential accuracy. Works on a stopped run too (what it
recorded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neurosim.errors import ValidationError
from neurosim.recording import RunReader


def plot(run: RunReader, path: Path) -> Path:
    """The stream's figure (``stream_figure``) saved as ``path``."""
    stream_figure(run).savefig(path, dpi=110)
    return path


def stream_figure(run: RunReader) -> Figure:
    """Three panels, one above the other, over the samples seen (module docstring)."""
    if "probes" not in run.series_names() or not len(run.series("probes")["sample"]):
        raise ValidationError(f"{run.path}: no probe row recorded yet")
    probes = run.series("probes")
    samples = run.series("samples")
    table = run.attributes["scenario"]["experiment"]
    per_task = table["samples_per_task"]
    n_tasks = probes["accuracy"].shape[1]
    figure = Figure(figsize=(10, 10), layout="constrained")
    matrix_axis, forgetting_axis, online_axis = figure.subplots(3, 1, sharex=True)
    colors = [f"C{task % 10}" for task in range(n_tasks)]
    seen = probes["sample"]
    # the blocks, shaded by the task they train
    tasks_by_sample = samples["task"]
    for start in range(0, len(tasks_by_sample), per_task):
        task = int(np.bincount(tasks_by_sample[start : start + per_task]).argmax())
        for axis in (matrix_axis, forgetting_axis, online_axis):
            axis.axvspan(start, start + per_task, color=colors[task], alpha=0.08, lw=0)
    for task in range(n_tasks):
        matrix_axis.plot(
            seen, probes["accuracy"][:, task], color=colors[task], label=f"task {task}"
        )
    matrix_axis.set_ylabel("probe accuracy R[t, task]")
    matrix_axis.set_ylim(-0.02, 1.02)
    matrix_axis.legend(ncol=min(n_tasks, 5), fontsize="small", loc="upper right")
    matrix_axis.set_title(
        f"{run.attributes['scenario']['scenario'].get('name', '')}: accuracy matrix over the stream"
    )
    for name, style in (
        ("average_accuracy", "-"),
        ("forgetting", "--"),
        ("backward_transfer", ":"),
    ):
        forgetting_axis.plot(seen, probes[name], style, color="k", label=name.replace("_", " "))
    forgetting_axis.axhline(0.0, color="0.6", lw=0.8)
    forgetting_axis.set_ylabel("over the tasks seen")
    forgetting_axis.legend(fontsize="small", loc="upper right")
    online_axis.plot(
        np.arange(1, len(samples["correct"]) + 1),
        samples["prequential_accuracy"],
        color="k",
        lw=0.8,
    )
    online_axis.set_ylabel(f"prequential accuracy\n(last {table['prequential_window']} samples)")
    online_axis.set_ylim(-0.02, 1.02)
    online_axis.set_xlabel("samples seen (shading: the block's task)")
    return figure
