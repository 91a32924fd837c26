"""The figure of a ``stdp_curve`` run (``curve_figure``, written by ``plot``): Figure 1 (middle,
right), Figure 2 (right) and Figure 3 of the paper, from the run store's metrics and
trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neurosim.errors import ValidationError
from neurosim.experiments.stdp_curve.simulation import POST, PRE
from neurosim.recording import RunReader


def plot(run_reader: RunReader, path: Path) -> Path:
    """Write ``curve_figure(run_reader)`` to ``path``."""
    figure = curve_figure(run_reader)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def curve_figure(run_reader: RunReader) -> Figure:
    """Figure 1 (middle, right), Figure 2 (right) and Figure 3 of the paper, in four panels."""
    if "correlation_samples" not in run_reader.names("metrics"):
        raise ValidationError(f"{run_reader.path}: no stdp_curve metrics (the run did not end)")

    def metric(name: str) -> np.ndarray:
        return run_reader.array("metrics", name)

    table = run_reader.attributes["scenario"]["experiment"]
    delta = metric("delta")
    figure = Figure(figsize=(11, 7.5))
    grid = figure.add_gridspec(2, 2)
    timing, nearest = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    binned = figure.add_subplot(grid[1, 0])
    # Figure 3 in two rows: activities and spikes above, the weights under both rules below
    example_grid = grid[1, 1].subgridspec(2, 1, height_ratios=(3, 2), hspace=0.08)
    example = figure.add_subplot(example_grid[0])
    weights = figure.add_subplot(example_grid[1], sharex=example)
    for axis in (timing, nearest, binned):
        axis.axhline(0.0, color="black", lw=0.6)
        axis.axvline(0.0, color="grey", lw=0.5, ls=":")
    timing.errorbar(
        delta,
        metric("eq1_mean_by_delta"),
        yerr=metric("eq1_sem_by_delta"),
        fmt=".",
        color="tab:blue",
        ms=4,
        lw=0.8,
        capsize=1.5,
    )
    timing.set_title("Eq. 1 update by spike timing (Fig. 1 middle)", fontsize=9)
    timing.set_ylabel("mean alpha * ds_i/dt at pre spikes", fontsize=8)
    nearest.plot(delta, metric("nn_mean_by_delta"), ".", color="tab:red", ms=4)
    nearest.set_title(
        f"nearest-neighbour STDP (Fig. 1 right): tau+ {table['tau_plus']:g}, "
        f"tau- {table['tau_minus']:g} steps",
        fontsize=9,
    )
    nearest.set_ylabel("mean nearest-neighbour update", fontsize=8)
    for axis in (timing, nearest):
        axis.set_xlabel("delta = t_post - t_pre (steps)", fontsize=8)
    binned.errorbar(
        metric("eq1_bin_mean"),
        metric("nn_mean_by_eq1_bin"),
        yerr=metric("nn_sem_by_eq1_bin"),
        fmt="o",
        color="tab:purple",
        ms=3,
        lw=0.8,
        capsize=1.5,
    )
    binned.set_title(
        f"NN update against Eq. 1 update, {table['eq1_bins']} {table['eq1_binning']} bins "
        f"(Fig. 2 right)\nr = {float(metric('correlation_samples')):.3f} over spikes, "
        f"{float(metric('correlation_binned')):.3f} over bins",
        fontsize=9,
    )
    binned.set_xlabel("Eq. 1 update (bin mean)", fontsize=8)
    binned.set_ylabel("mean nearest-neighbour update", fontsize=8)
    time = run_reader.array("trajectory", "time")
    activity = run_reader.array("trajectory", "activity")
    spikes = run_reader.array("trajectory", "spikes")
    example.plot(time, activity[:, PRE], color="tab:green", lw=1.0, label="s_j (pre)")
    example.plot(time, activity[:, POST], color="tab:orange", lw=1.0, label="s_i (post)")
    low = float(np.min(activity)) - 0.1
    for neuron, colour, offset in ((PRE, "tab:green", 0.15), (POST, "tab:orange", 0.35)):
        at = time[spikes[:, neuron]]
        example.plot(at, np.full(at.size, low - offset), "|", color=colour, ms=5)
    example.set_ylabel("s; spikes below", fontsize=8)
    example.tick_params(labelbottom=False)
    example.legend(fontsize=7, loc="upper right", ncol=2)
    example_of = run_reader.attributes.get("example", {})
    example.set_title(
        f"example (Fig. 3): sequence {example_of.get('sequence')}, sample "
        f"{example_of.get('sample')}",
        fontsize=9,
    )
    # the rules' scales differ (Eq. 2: alpha * ds, NN: the window's amplitudes): two axes
    weights.plot(time, run_reader.array("trajectory", "weight_eq2"), color="tab:blue", lw=1.2)
    weights.set_ylabel("W by Eq. 2", fontsize=8, color="tab:blue")
    weights.set_xlabel("step", fontsize=8)
    nearest_weight = weights.twinx()
    nearest_weight.plot(
        time,
        run_reader.array("trajectory", "weight_nearest_neighbour"),
        color="tab:red",
        lw=1.0,
        ls="--",
    )
    nearest_weight.set_ylabel("W by NN STDP", fontsize=8, color="tab:red")
    for axis in (timing, nearest, binned, example, weights, nearest_weight):
        axis.tick_params(labelsize=7)
    figure.suptitle(
        f"STDP-objective spike simulations: {table['sequences']} sequences x {table['steps']} "
        f"steps x {table['samples']} samples, window {table['window']}\nrho "
        f"{table['activation']}, max rate {table['max_rate_per_step']:g} per step; Bi & Poo "
        f"signs {int(metric('bi_poo_signs'))}, decay {int(metric('bi_poo_decay'))}",
        fontsize=10,
    )
    figure.tight_layout()
    return figure
