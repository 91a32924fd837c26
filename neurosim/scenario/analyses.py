"""A phases run's analyses: which recorded columns they read, and their metrics written to the
run store (the rivalry and adaptation analyses of ``[analysis]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.analysis.adaptation import adaptation_metrics
from neurosim.analysis.rivalry import rivalry_metrics
from neurosim.errors import ValidationError
from neurosim.model.network import CompiledNetwork
from neurosim.recording import RunStore, open_run

RIVALRY_DESCRIPTIONS = {
    "switches": "changes of the dominant unit",
    "mean_duration": "mean dominance duration (steps)",
    "cv_duration": "coefficient of variation of the dominance durations",
    "dominance_share_first": "share of the phase the first unit dominated",
    "dominance_share_second": "share of the phase the second unit dominated",
    "pattern_switches": "changes from one unit's pattern to the other's, through any mixed stretch",
    "pattern_share_first": "share of the phase in the first unit's pattern (it >= on_level, "
    "the other <= off_level)",
    "pattern_share_second": "share of the phase in the second unit's pattern",
    "mixed_share": "share of the phase in neither pattern (a mixed state)",
    "suppressed_mean": "mean over the phase of the lower of the two units' states",
}
ADAPTATION_DESCRIPTIONS = {
    "rest_level": "state before the input first switched on",
    "settled_on": "settled state while the input is on (cycle average)",
    "settled_off": "settled state after the input switched off (cycle average)",
    "step_amplitude": "settled_on - settled_off",
    "overshoot": "excursion above the settled level after switch-on, beyond the settled "
    "fluctuations (cycle average)",
    "undershoot": "excursion below the settled level after switch-off, beyond the settled "
    "fluctuations (cycle average)",
    "overshoot_fraction": "overshoot / |step_amplitude|",
    "undershoot_fraction": "undershoot / |step_amplitude|",
    "overshoot_uncorrected": "max after switch-on - settled_on (cycle average)",
    "undershoot_uncorrected": "settled_off - min after switch-off (cycle average)",
}


def analysis_columns(
    analysis: dict[str, Any], network: CompiledNetwork, recorded: np.ndarray
) -> list[int]:
    """The recorded columns of the analysis's units (rivalry: ``units``, adaptation:
    ``unit``), each a neuron's name (``CompiledNetwork.neuron_index``: a GraphML node id as
    the file writes it, a builder's number) that
    ``record.neurons`` records; checked before the run, which would otherwise end without
    its metrics."""
    if analysis["kind"] == "rivalry":
        units = [(f"analysis.units[{k}]", unit) for k, unit in enumerate(analysis["units"])]
    else:
        units = [("analysis.unit", analysis["unit"])]
    recorded_indices = recorded.tolist()
    columns = []
    for key, unit in units:
        index = network.neuron_index(unit, key)
        if index not in recorded_indices:
            raise ValidationError(f"{key} = {unit!r} is not recorded (record.neurons)")
        columns.append(recorded_indices.index(index))
    return columns


def analyze(
    store: RunStore,
    settings: dict[str, Any],
    phase_steps: dict[str, list[int]],
    columns: list[int],
) -> dict[str, float]:
    """The ``[analysis]`` of a finished run on the recorded ``columns`` of its units
    (``analysis_columns``), written to the store's metrics and returned."""
    analysis = settings["analysis"]
    run = open_run(store.path)
    time = run.array("trajectory", "time")
    start, stop = phase_steps[analysis["phase"]]
    # a step's record is labelled with the count of steps done after it
    inside = (time > start) & (time <= stop)
    state = run.array("trajectory", "state")[inside][:, analysis["copy"]]
    if analysis["kind"] == "rivalry":
        first, second = columns
        metrics = rivalry_metrics(
            time[inside],
            state[:, first],
            state[:, second],
            analysis["hysteresis"],
            analysis["on_level"],
            analysis["off_level"],
        )
        values, descriptions = metrics.as_dict(), RIVALRY_DESCRIPTIONS
        store.write_metric(
            "dominance_durations",
            metrics.durations,
            ("switch",),
            {"description": "complete dominance durations (steps)"},
        )
    else:
        phase = next(p for p in settings["phase"] if p["name"] == analysis["phase"])
        off = phase.get("off_step", phase["duration"])
        trace = state[:, columns[0]]
        values = adaptation_metrics(
            trace,
            phase["on_step"],
            off,
            analysis["settle"],
            period=phase.get("period"),
            cycles=phase.get("cycles", 1),
            window=analysis.get("window"),
        ).as_dict()
        descriptions = ADAPTATION_DESCRIPTIONS
    with store.metrics_together():
        for name, value in values.items():
            store.write_metric(name, value, (), {"description": descriptions[name]})
    return values
