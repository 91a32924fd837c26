"""Figures of recorded runs, read from a run store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurosim.analysis.rivalry import (
    MIXED,
    OFF_LEVEL,
    ON_LEVEL,
    dominance,
    pattern_states,
    rivalry_metrics,
)
from neurosim.errors import ValidationError
from neurosim.recording import RunReader

# shading of the pair's pattern state: the first unit's pattern, the second's, mixed
PATTERN_STYLES = ((0, "tab:red"), (1, "tab:purple"), (MIXED, "0.6"))
COPY_STYLES = (("tab:green", "copy 0 (small beta)"), ("tab:blue", "copy 1 (large beta)"))
PLOT_KINDS = ("trajectory", "rivalry", "adaptation")


def _trajectory(run: RunReader) -> tuple[np.ndarray, dict[str, np.ndarray], list[int], list[str]]:
    if "trajectory" not in run.groups() or "state" not in run.names("trajectory"):
        raise ValidationError(f"{run.path}: no recorded states to plot (record.arrays)")
    time = run.array("trajectory", "time")
    arrays = {name: run.array("trajectory", name) for name in run.names("trajectory")}
    recorded = [int(index) for index in arrays["neuron"]]
    roles = [str(role) for role in run.array("neurons", "role")]
    return time, arrays, recorded, roles


def _panel(
    axes: Axes, time: np.ndarray, arrays: dict[str, np.ndarray], column: int, title: str
) -> None:
    state = arrays["state"]
    for copy in range(state.shape[1]):
        colour, label = COPY_STYLES[copy]
        axes.plot(time, state[:, copy, column], color=colour, lw=0.8, label=label)
    if "dz" in arrays:
        axes.plot(time, arrays["dz"][:, column], color="tab:orange", lw=0.8, label="dz")
    if "target" in arrays:
        axes.plot(
            time[::10], arrays["target"][::10, column], ".", color="tab:blue", ms=2, label="target"
        )
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=7)


def plot_run(run: RunReader, path: str | Path, kind: str = "trajectory", window: int = 600) -> Path:
    """Write ``run_figure(run, kind, window)`` to ``path``."""
    path = Path(path)
    run_figure(run, kind, window).savefig(path, dpi=120)
    return path


def run_figure(run: RunReader, kind: str = "trajectory", window: int = 600) -> Figure:
    """A figure of the run: ``trajectory`` (the first recorded neurons' states and dz
    over time), ``rivalry`` (the aSTDP paper's Figure 3: the visible neurons and some hidden
    ones over the first ``window`` recorded steps, the analysed pair with its pattern state
    shaded, and which unit dominates) or
    ``adaptation`` (Figure 4: the analysed neuron's step response with its settled levels)."""
    if kind not in PLOT_KINDS:
        raise ValidationError(f"--kind {kind!r}: allowed kinds are {', '.join(PLOT_KINDS)}")
    time, arrays, recorded, roles = _trajectory(run)
    if time.size == 0:
        raise ValidationError(f"{run.path}: the run recorded no steps yet")
    names = [str(name) for name in run.array("neurons", "name")]
    if kind == "trajectory":
        shown = list(range(min(8, len(recorded))))
        figure = Figure(figsize=(9, 1.4 * len(shown)))
        axes = figure.subplots(len(shown), 1, sharex=True, squeeze=False)
        for row, column in enumerate(shown):
            neuron = recorded[column]
            _panel(axes[row, 0], time, arrays, column, f"{roles[neuron]} {names[neuron]}")
        axes[0, 0].legend(fontsize=7, loc="upper right")
    elif kind == "adaptation":
        analysis = run.attributes["scenario"].get("analysis")
        if analysis is None or analysis["kind"] != "adaptation":
            raise ValidationError(f"{run.path}: the scenario has no adaptation analysis")
        unit = int(np.flatnonzero(np.array(names) == str(analysis["unit"]))[0])
        column = recorded.index(unit)
        figure = Figure(figsize=(9, 3.5))
        axes = figure.subplots(1, 1, squeeze=False)
        start = run.attributes["phase_steps"][analysis["phase"]][0]
        _panel(axes[0, 0], time - start, arrays, column, f"{roles[unit]} {names[unit]}")
        levels = {
            key: float(run.array("metrics", key))
            for key in ("rest_level", "settled_on", "overshoot", "undershoot")
        }
        axes[0, 0].axhline(levels["settled_on"], color="gray", ls="--", lw=0.7)
        axes[0, 0].axhline(levels["rest_level"], color="gray", ls=":", lw=0.7)
        axes[0, 0].set_xlabel("steps into the step phase", fontsize=8)
        axes[0, 0].legend(fontsize=7, loc="upper right")
        axes[0, 0].set_title(
            f"{roles[unit]} {names[unit]}: overshoot "
            f"{levels['overshoot']:.3f}, undershoot {levels['undershoot']:.3f}",
            fontsize=9,
        )
    else:
        analysis = run.attributes["scenario"].get("analysis")
        if analysis is None or analysis["kind"] != "rivalry":
            raise ValidationError(f"{run.path}: the scenario has no rivalry analysis")
        visible = [c for c, n in enumerate(recorded) if roles[n] != "hidden"][:4]
        hidden = [c for c, n in enumerate(recorded) if roles[n] == "hidden"][:4]
        part = slice(0, min(window, time.size))
        time = time - time[0] + 1  # steps into the recorded phase
        figure = Figure(figsize=(12, 10))
        grid = figure.add_gridspec(4, 4, height_ratios=[3, 3, 3, 1.4])
        axes = grid.subplots(squeeze=False)
        for row, columns in enumerate((visible, hidden)):
            for position in range(4):
                if position >= len(columns):
                    axes[row, position].set_axis_off()
                    continue
                neuron = recorded[columns[position]]
                sliced = {name: values[part] for name, values in arrays.items() if name != "neuron"}
                _panel(
                    axes[row, position],
                    time[part],
                    sliced,
                    columns[position],
                    f"{roles[neuron]} {names[neuron]}",
                )
        axes[0, 0].legend(fontsize=7, loc="upper right")
        units = [
            recorded.index(int(np.flatnonzero(np.array(names) == str(unit))[0]))
            for unit in analysis["units"]
        ]
        state = arrays["state"][:, analysis["copy"]]
        _rivalry_panels(
            figure, grid, axes, time, state[:, units[0]], state[:, units[1]], analysis, part
        )
    name = run.attributes["scenario"]["scenario"]["name"]
    figure.suptitle(f"{name}: {kind} (seed {run.attributes.get('seed')})", fontsize=11)
    figure.tight_layout()
    return figure


def _rivalry_panels(
    figure: Figure,
    grid: Any,
    axes: np.ndarray,
    time: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    analysis: dict[str, Any],
    part: slice,
) -> None:
    """The analysed pair: their traces over the recorded steps ``part`` with the pattern
    state shaded and the levels, titled with the whole phase's shares and switch
    counts; below, the pattern state and the dominant unit over the whole phase."""
    on_level = analysis.get("on_level", ON_LEVEL)  # stores written before the levels existed
    off_level = analysis.get("off_level", OFF_LEVEL)
    shown = pattern_states(first, second, on_level, off_level)
    metrics = rivalry_metrics(time, first, second, analysis["hysteresis"], on_level, off_level)
    for axis in (*axes[2], *axes[3]):
        axis.set_axis_off()
    pair = figure.add_subplot(grid[2, :])
    labels = [f"unit {unit}" for unit in analysis["units"]]
    _shade_patterns(pair, time[part], shown[part], labels)
    pair.plot(time[part], first[part], color="tab:red", lw=0.8, label=labels[0])
    pair.plot(time[part], second[part], color="tab:purple", lw=0.8, label=labels[1])
    for level in (on_level, off_level):
        pair.axhline(level, color="black", ls="--", lw=0.6)
    pair.legend(fontsize=7, loc="upper right", ncol=5)
    pair.set_title(
        f"copy {analysis['copy']}; over the whole phase: pattern of {labels[0]} "
        f"{metrics.pattern_share[0]:.0%}, of {labels[1]} {metrics.pattern_share[1]:.0%}, "
        f"mixed {metrics.mixed_share:.0%} (on >= {on_level:g}, off <= {off_level:g}); "
        f"pattern switches {metrics.pattern_switches}, dominance switches {metrics.switches}, "
        f"suppressed unit's mean {metrics.suppressed_mean:.2f}",
        fontsize=8,
    )
    pair.tick_params(labelsize=7)
    strip = figure.add_subplot(grid[3, :])
    _shade_patterns(strip, time, shown, labels)
    dominant = dominance(first, second, analysis["hysteresis"])
    strip.plot(time, dominant, drawstyle="steps-post", color="black", lw=0.6)
    strip.set_yticks([0, 1], labels)
    strip.set_ylim(-0.5, 1.5)
    strip.set_xlabel("steps into the recorded phase", fontsize=8)
    strip.set_title(
        f"whole phase: dominant unit (line, hysteresis {analysis['hysteresis']:g}) "
        "and pattern state (shading)",
        fontsize=9,
    )
    strip.tick_params(labelsize=7)


def _shade_patterns(axes: Axes, time: np.ndarray, shown: np.ndarray, labels: list[str]) -> None:
    """Shade the full height of ``axes`` where the pair shows each pattern or a mixed state."""
    names = (f"pattern of {labels[0]}", f"pattern of {labels[1]}", "mixed")
    for (code, colour), name in zip(PATTERN_STYLES, names, strict=True):
        axes.fill_between(
            time,
            0,
            1,
            where=shown == code,
            step="post",
            color=colour,
            alpha=0.25,
            lw=0,
            transform=axes.get_xaxis_transform(),
            label=name,
        )
