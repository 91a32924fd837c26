"""Figures of recorded runs, read from a run store.

Every axis names its unit: time in the store's ``time_unit`` (integration steps of the rate
model), states, targets and ``dz`` as dimensionless rates. A figure says which recorded
neurons it left out, when a long run is drawn decimated (a min/max envelope per bin of
steps, so fast alternations stay visible as a band's width instead of a solid smear) and when
the run did not complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurosim.analysis.rivalry import (
    MIXED,
    NONE,
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
TARGET_COLOUR = "black"
DZ_COLOUR = "tab:orange"
PLOT_KINDS = ("trajectory", "rivalry", "adaptation")
RATE_LABEL = "rate (dimensionless)"
# a trace with more recorded steps than this is drawn as a min/max envelope over
# ENVELOPE_BINS bins: a few pixels per bin on a figure a few thousand pixels wide
MAX_POINTS = 2_000
ENVELOPE_BINS = 800
# the trajectory figure's panels, one per neuron; beyond this many a heatmap
MAX_PANELS = 8
RIVALRY_PANELS = 4  # visible and hidden neurons per row of the rivalry figure


def time_label(run: RunReader, what: str = "time") -> str:
    """An axis label for the store's time axis, e.g. ``time (steps)`` or, for a store whose
    step is a span of simulated time, ``time (steps of 0.1 ms)``."""
    unit = run.attributes.get("time_unit", "step")
    return f"{what} (steps)" if unit == "step" else f"{what} (steps of {unit})"


def status_note(run: RunReader) -> str:
    """Empty for a complete run; otherwise how far it got, e.g.
    ``(interrupted at step 1200)``, for a figure's title."""
    if run.status == "complete":
        return ""
    step = run.attributes.get("steps_simulated") or run.steps_done
    how = "running or killed" if run.status == "running" else run.status
    return f"({how} at step {step})"


def figure_kinds(run: RunReader) -> tuple[str, ...]:
    """The figures ``run_figure`` can draw of this store: ``trajectory`` where states were
    recorded, and the kind of the scenario's ``[analysis]`` where it has a figure here."""
    kinds = []
    if "trajectory" in run.groups() and "state" in run.names("trajectory"):
        kinds.append("trajectory")
        analysis = run.attributes.get("scenario", {}).get("analysis")
        if analysis is not None and analysis.get("kind") in PLOT_KINDS:
            kinds.append(analysis["kind"])
    return tuple(kinds)


def plot_run(
    run: RunReader,
    path: str | Path,
    kind: str = "trajectory",
    window: int = 600,
    neurons: Sequence[str] | None = None,
) -> Path:
    """Write ``run_figure(run, kind, window, neurons)`` to ``path``."""
    path = Path(path)
    run_figure(run, kind, window, neurons).savefig(path, dpi=110)
    return path


def run_figure(
    run: RunReader,
    kind: str = "trajectory",
    window: int = 600,
    neurons: Sequence[str] | None = None,
) -> Figure:
    """A figure of the run.

    ``trajectory``: the chosen recorded neurons' states (both copies), ``dz`` and targets
    over time, one panel per neuron, or a heatmap per copy for more than ``MAX_PANELS``.
    ``rivalry`` (the aSTDP paper's Figure 3): visible and hidden neurons over the first
    ``window`` recorded steps, the analysed pair with its pattern state shaded, the dominance
    and pattern state over the whole phase, and the histogram of dominance durations.
    ``adaptation`` (Figure 4): the analysed neuron's step response with its settled levels.

    ``neurons``: names (the store's ``neurons/name``) of recorded neurons to draw; default
    the first ones recorded. The figure says how many recorded neurons it leaves out.
    """
    if kind not in PLOT_KINDS:
        raise ValidationError(f"--kind {kind!r}: allowed kinds are {', '.join(PLOT_KINDS)}")
    trace = _Trace(run)
    if kind == "trajectory":
        figure, notes = _trajectory_figure(trace, neurons)
    elif kind == "adaptation":
        if neurons:
            raise ValidationError("--neurons: the adaptation figure draws the analysed unit only")
        figure, notes = _adaptation_figure(trace)
    else:
        figure, notes = _rivalry_figure(trace, window, neurons)
    name = run.attributes["scenario"]["scenario"]["name"]
    heading = name if name == kind else f"{name}: {kind}"
    status = status_note(run)
    seed = f"(seed {run.attributes.get('seed')})"
    title = " ".join(part for part in (heading, seed, status) if part)
    figure.suptitle("\n".join([title, *notes]), fontsize=10, color="tab:red" if status else "black")
    return figure


class _Trace:
    """The recorded trajectory of a run: time, arrays, which neurons, their roles and names."""

    def __init__(self, run: RunReader) -> None:
        if "trajectory" not in run.groups() or "state" not in run.names("trajectory"):
            raise ValidationError(f"{run.path}: no recorded states to plot (record.arrays)")
        self.run = run
        self.time = run.array("trajectory", "time")
        if self.time.size == 0:
            raise ValidationError(f"{run.path}: the run recorded no steps yet")
        self.arrays = {
            name: run.array("trajectory", name)
            for name in run.names("trajectory")
            if name not in ("time", "neuron")
        }
        self.recorded = [int(index) for index in run.array("trajectory", "neuron")]
        self.roles = [str(role) for role in run.array("neurons", "role")]
        self.names = [str(name) for name in run.array("neurons", "name")]

    def label(self, column: int) -> str:
        neuron = self.recorded[column]
        return f"{self.roles[neuron]} {self.names[neuron]}"

    def column_of(self, name: Any, flag: str) -> int:
        """The trajectory column of the neuron named ``name``; ValidationError naming
        ``flag`` unless it is a recorded neuron."""
        matches = np.flatnonzero(np.array(self.names) == str(name))
        if matches.size == 0:
            shown = ", ".join(self.names[:12]) + (", ..." if len(self.names) > 12 else "")
            raise ValidationError(f"{flag}: no neuron named {name!r}; neurons are {shown}")
        if int(matches[0]) not in self.recorded:
            raise ValidationError(
                f"{flag}: neuron {name!r} was not recorded (record.neurons); recorded are "
                f"{len(self.recorded)} neurons from {self.label(0)}"
            )
        return self.recorded.index(int(matches[0]))

    def chosen(
        self, neurons: Sequence[str] | None, default: list[int]
    ) -> tuple[list[int], list[str]]:
        """The columns to draw (``neurons`` by name, else ``default``) and a note on how
        many recorded neurons are left out."""
        columns = default if not neurons else [self.column_of(n, "--neurons") for n in neurons]
        columns = list(dict.fromkeys(columns))
        left_out = len(self.recorded) - len(columns)
        if left_out <= 0:
            return columns, []
        how = "" if neurons else "; --neurons picks them"
        return columns, [
            f"{len(columns)} of {len(self.recorded)} recorded neurons shown, "
            f"{left_out} left out{how}"
        ]


def decimation(size: int, bins: int = ENVELOPE_BINS, limit: int = MAX_POINTS) -> int:
    """Steps per bin for a trace of ``size`` steps: 1 (drawn whole) up to ``limit``."""
    return 1 if size <= limit else int(np.ceil(size / bins))


def envelope(
    time: np.ndarray, values: np.ndarray, per_bin: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first time, the minimum and the maximum of ``values`` in each bin of
    ``per_bin`` consecutive steps (the last bin may be shorter)."""
    starts = np.arange(0, time.size, per_bin)
    return time[starts], np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)


def _draw(
    axes: Axes, time: np.ndarray, values: np.ndarray, colour: str, label: str, per_bin: int
) -> None:
    """One trace: a line, or its min/max envelope where ``per_bin`` > 1."""
    if per_bin == 1:
        axes.plot(time, values, color=colour, lw=0.8, label=label)
        return
    start, low, high = envelope(time, values, per_bin)
    axes.fill_between(start, low, high, step="post", color=colour, alpha=0.45, lw=0, label=label)


def _decimation_note(size: int, per_bin: int, what: str = "traces") -> list[str]:
    if per_bin == 1:
        return []
    return [
        f"{what} decimated: {size:,} recorded steps drawn as the min-max envelope of each "
        f"bin of {per_bin} steps"
    ]


def _panel(
    axes: Axes,
    trace: _Trace,
    time: np.ndarray,
    part: slice,
    column: int,
    per_bin: int,
) -> None:
    """One neuron: both copies' states, dz and the target over the steps ``part``."""
    state = trace.arrays["state"][part]
    for copy in range(state.shape[1]):
        colour, label = COPY_STYLES[copy]
        _draw(axes, time, state[:, copy, column], colour, label, per_bin)
    if "dz" in trace.arrays:
        _draw(axes, time, trace.arrays["dz"][part, column], DZ_COLOUR, "dz", per_bin)
    if "target" in trace.arrays:
        target = trace.arrays["target"][part, column]
        every = max(10, per_bin)
        axes.plot(time[::every], target[::every], ".", color=TARGET_COLOUR, ms=2, label="target")
    axes.set_title(trace.label(column), fontsize=9)
    axes.set_ylabel(RATE_LABEL, fontsize=8)
    axes.tick_params(labelsize=7)


def _trajectory_figure(trace: _Trace, neurons: Sequence[str] | None) -> tuple[Figure, list[str]]:
    columns, notes = trace.chosen(neurons, list(range(min(MAX_PANELS, len(trace.recorded)))))
    time = trace.time
    if len(columns) > MAX_PANELS:
        return _trajectory_heatmap(trace, columns), notes + _heatmap_note(trace, time.size)
    per_bin = decimation(time.size)
    figure = Figure(figsize=(9, 1.2 + 1.5 * len(columns)), layout="constrained")
    axes = figure.subplots(len(columns), 1, sharex=True, squeeze=False)[:, 0]
    for row, column in enumerate(columns):
        _panel(axes[row], trace, time, slice(None), column, per_bin)
    axes[0].legend(fontsize=7, loc="upper right", ncol=4)
    axes[-1].set_xlabel(time_label(trace.run))
    return figure, notes + _decimation_note(time.size, per_bin)


def _heatmap_bins(size: int) -> int:
    return max(1, int(np.ceil(size / ENVELOPE_BINS)))


def _heatmap_note(trace: _Trace, size: int) -> list[str]:
    per_bin = _heatmap_bins(size)
    if per_bin == 1:
        return []
    return [f"heatmap decimated: mean of each bin of {per_bin} of the {size:,} recorded steps"]


def _trajectory_heatmap(trace: _Trace, columns: list[int]) -> Figure:
    """Many neurons: each copy's states as an image, neurons down, time across (the mean
    of each bin of steps where the run is long)."""
    state = trace.arrays["state"][:, :, columns]
    per_bin = _heatmap_bins(trace.time.size)
    starts = np.arange(0, trace.time.size, per_bin)
    counts = np.diff(np.append(starts, trace.time.size))
    binned = np.add.reduceat(state, starts, axis=0) / counts[:, None, None]
    figure = Figure(figsize=(10, 1.5 + 2.5 * state.shape[1]), layout="constrained")
    axes = figure.subplots(state.shape[1], 1, sharex=True, squeeze=False)[:, 0]
    extent = (trace.time[0], trace.time[-1] + 1, len(columns) - 0.5, -0.5)
    for copy, axis in enumerate(axes):
        image = axis.imshow(
            binned[:, copy].T, aspect="auto", extent=extent, cmap="viridis", interpolation="none"
        )
        axis.set_title(COPY_STYLES[copy][1], fontsize=9)
        axis.set_ylabel("recorded neuron (row)", fontsize=8)
        figure.colorbar(image, ax=axis, label=f"state, {RATE_LABEL}")
    axes[-1].set_xlabel(time_label(trace.run))
    return figure


def _analysis(trace: _Trace, kind: str) -> dict[str, Any]:
    analysis = trace.run.attributes["scenario"].get("analysis")
    if analysis is None or analysis["kind"] != kind:
        raise ValidationError(f"{trace.run.path}: the scenario has no {kind} analysis")
    return analysis


def _adaptation_figure(trace: _Trace) -> tuple[Figure, list[str]]:
    analysis = _analysis(trace, "adaptation")
    column = trace.column_of(analysis["unit"], "analysis.unit")
    run = trace.run
    start = run.attributes["phase_steps"][analysis["phase"]][0]
    time = trace.time - start
    per_bin = decimation(time.size)
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.subplots()
    _panel(axes, trace, time, slice(None), column, per_bin)
    levels = {
        key: float(run.array("metrics", key))
        for key in ("rest_level", "settled_on", "overshoot", "undershoot")
    }
    axes.axhline(levels["settled_on"], color="gray", ls="--", lw=0.7, label="settled on")
    axes.axhline(levels["rest_level"], color="gray", ls=":", lw=0.7, label="rest level")
    axes.set_xlabel(time_label(run, "time into the step phase"))
    axes.legend(fontsize=7, loc="upper right", ncol=3)
    axes.set_title(
        f"{trace.label(column)}: overshoot {levels['overshoot']:.3f}, "
        f"undershoot {levels['undershoot']:.3f} (rate)",
        fontsize=9,
    )
    others = len(trace.recorded) - 1
    notes = (
        [f"the analysed neuron only; {others} other recorded neurons left out"] if others else []
    )
    return figure, notes + _decimation_note(time.size, per_bin)


def _rivalry_figure(
    trace: _Trace, window: int, neurons: Sequence[str] | None
) -> tuple[Figure, list[str]]:
    analysis = _analysis(trace, "rivalry")
    recorded = trace.recorded
    if neurons:
        columns, notes = trace.chosen(neurons, [])
        rows = [columns[:RIVALRY_PANELS], columns[RIVALRY_PANELS : 2 * RIVALRY_PANELS]]
        if len(columns) > 2 * RIVALRY_PANELS:
            raise ValidationError(
                f"--neurons: the rivalry figure draws at most {2 * RIVALRY_PANELS} neurons, "
                f"got {len(columns)}"
            )
    else:
        visible = [c for c, n in enumerate(recorded) if trace.roles[n] != "hidden"]
        hidden = [c for c, n in enumerate(recorded) if trace.roles[n] == "hidden"]
        rows = [visible[:RIVALRY_PANELS], hidden[:RIVALRY_PANELS]]
        columns, notes = trace.chosen(None, rows[0] + rows[1])
    shown = min(window, trace.time.size)
    part = slice(0, shown)
    time = trace.time - trace.time[0] + 1  # steps into the recorded phase
    figure = Figure(figsize=(13, 12), layout="constrained")
    grid = figure.add_gridspec(4, RIVALRY_PANELS, height_ratios=[3, 3, 3.2, 2.4])
    for row, row_columns in enumerate(rows):
        for position, column in enumerate(row_columns):
            axes = figure.add_subplot(grid[row, position])
            _panel(axes, trace, time[part], part, column, 1)
            axes.set_xlabel(time_label(trace.run, "time into the phase"), fontsize=8)
            if row == 0 and position == 0:
                axes.legend(fontsize=6, loc="upper right")
    if shown < time.size:
        notes.append(
            f"top rows and the pair's traces: the first {shown:,} of {time.size:,} recorded "
            "steps; the bottom row covers them all"
        )
    units = [trace.column_of(unit, "analysis.units") for unit in analysis["units"]]
    state = trace.arrays["state"][:, analysis["copy"]]
    _rivalry_panels(
        figure, grid, trace, time, state[:, units[0]], state[:, units[1]], analysis, part
    )
    return figure, notes


def _rivalry_panels(
    figure: Figure,
    grid: Any,
    trace: _Trace,
    time: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    analysis: dict[str, Any],
    part: slice,
) -> None:
    """The analysed pair: their traces over the recorded steps ``part`` with the pattern
    state shaded and the levels, titled with the whole phase's shares and switch counts;
    beside it, the histogram of dominance durations; below, the dominant unit and the
    pattern state over the whole phase as coloured spans."""
    on_level = analysis.get("on_level", ON_LEVEL)  # stores written before the levels existed
    off_level = analysis.get("off_level", OFF_LEVEL)
    shown = pattern_states(first, second, on_level, off_level)
    metrics = rivalry_metrics(time, first, second, analysis["hysteresis"], on_level, off_level)
    pair = figure.add_subplot(grid[2, :-1])
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
        f"mixed {metrics.mixed_share:.0%} (on >= {on_level:g}, off <= {off_level:g});\n"
        f"pattern switches {metrics.pattern_switches}, dominance switches {metrics.switches}, "
        f"suppressed unit's mean {metrics.suppressed_mean:.2f}",
        fontsize=8,
    )
    pair.set_xlabel(time_label(trace.run, "time into the phase"), fontsize=8)
    pair.set_ylabel(f"state, {RATE_LABEL}", fontsize=8)
    pair.tick_params(labelsize=7)
    _duration_histogram(figure.add_subplot(grid[2, -1]), trace, metrics.durations)
    timeline = figure.add_subplot(grid[3, :])
    dominant = dominance(first, second, analysis["hysteresis"])
    per_bin = decimation(time.size)
    colours = {0: "tab:red", 1: "tab:purple", MIXED: "0.6"}
    _spans(timeline, time, dominant, per_bin, 1.0, {0: "tab:red", 1: "tab:purple"})
    _spans(timeline, time, shown, per_bin, 0.0, colours)
    timeline.set_yticks([0.4, 1.4], ["pattern state", "dominant unit"], fontsize=8)
    timeline.set_ylim(-0.1, 1.9)
    timeline.set_xlim(time[0], time[-1] + 1)
    timeline.set_xlabel(time_label(trace.run, "time into the phase"), fontsize=8)
    binned = "" if per_bin == 1 else f"; decimated: the most frequent value of each {per_bin} steps"
    timeline.set_title(
        f"whole phase ({time.size:,} steps): {metrics.switches} dominance switches "
        f"(hysteresis {analysis['hysteresis']:g}), {metrics.pattern_switches} pattern switches; "
        f"red {labels[0]}, purple {labels[1]}, grey mixed{binned}",
        fontsize=9,
    )
    timeline.tick_params(labelsize=7)


def _duration_histogram(axes: Axes, trace: _Trace, durations: np.ndarray) -> None:
    """The complete dominance durations of the whole phase."""
    if durations.size:
        axes.hist(durations, bins=min(30, max(5, durations.size // 3)), color="0.4")
        axes.set_title(
            f"dominance durations: {durations.size}, mean {durations.mean():.0f}", fontsize=9
        )
    else:
        axes.text(0.5, 0.5, "no complete dominance period", ha="center", transform=axes.transAxes)
        axes.set_title("dominance durations: none", fontsize=9)
    axes.set_xlabel(time_label(trace.run, "duration"), fontsize=8)
    axes.set_ylabel("periods (count)", fontsize=8)
    axes.tick_params(labelsize=7)


def _spans(
    axes: Axes,
    time: np.ndarray,
    codes: np.ndarray,
    per_bin: int,
    bottom: float,
    colours: dict[int, str],
) -> None:
    """``codes`` per step as one horizontal bar of coloured spans (a span per run of equal
    codes), each bin of ``per_bin`` steps reduced to its most frequent code; codes without a
    colour (undecided) are left blank."""
    starts = np.arange(0, codes.size, per_bin)
    values = np.array(sorted(colours))
    counts = np.stack([np.add.reduceat((codes == value).astype(int), starts) for value in values])
    # a bin with none of the coloured codes (dominance before the first decision) stays blank
    binned = np.where(counts.max(axis=0) > 0, values[np.argmax(counts, axis=0)], NONE)
    edges = np.append(time[starts], time[-1] + 1)
    change = np.flatnonzero(np.diff(binned)) + 1
    run_starts = np.concatenate([[0], change])
    run_ends = np.append(change, binned.size)
    for value, colour in colours.items():
        here = binned[run_starts] == value
        spans = [
            (edges[start], edges[end] - edges[start])
            for start, end in zip(run_starts[here], run_ends[here], strict=True)
        ]
        axes.broken_barh(spans, (bottom, 0.8), facecolors=colour, lw=0)


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
