"""What ``neurosim inspect`` says of a run store: one summary, printed as text or as JSON.

Metric values are given whole where they are small (a scalar, an array of up to
``SMALL_METRIC`` values) and as their shape with the minimum, mean and maximum otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.recording import RunReader

SMALL_METRIC = 16
"""the most values a metric may hold to be given whole"""


def store_summary(run: RunReader) -> dict[str, Any]:
    """A run store described in JSON types: its scenario, status and steps, its attributes
    (without the resolved scenario, which ``run.attributes["scenario"]`` holds), every array
    with its dims and shape, and the value of every metric (:func:`metric_value`)."""
    attributes = run.attributes
    unit = attributes.get("time_unit", "step")
    recorded = None
    if "trajectory" in run.groups() and run.steps_done:
        time = run.array("trajectory", "time")
        recorded = [plain(time[0]), plain(time[-1])]
    saved = run.checkpoint()
    checkpoint = None
    if saved is not None:
        checkpoint = {key: plain(value) for key, value in saved[1].items() if key != "shuffle"}
    series = run.series_names()
    groups = {
        group: {
            name: {
                "dims": list(run.dims(group, name)),
                "shape": list(run.array(group, name).shape),
                "dtype": str(run.array(group, name).dtype),
            }
            for name in run.names(group)
        }
        for group in run.groups()
    }
    metrics = {}
    if "metrics" in groups:
        metrics = {name: metric_value(run.array("metrics", name)) for name in groups["metrics"]}
    return {
        "path": str(run.path),
        "scenario": attributes.get("scenario", {}).get("scenario", {}).get("name"),
        "status": run.status,
        "status_description": run.status_description,
        "steps_done": run.steps_done,
        "steps_simulated": plain(attributes.get("steps_simulated")),
        "time_unit": unit,
        "recorded_steps": recorded,
        "series": {
            name: {"done": attributes["series_done"][name], "dim": attributes["series_dims"][name]}
            for name in series
        },
        "checkpoint": checkpoint,
        "attributes": {key: plain(value) for key, value in attributes.items() if key != "scenario"},
        "groups": groups,
        "metrics": metrics,
    }


def metric_value(values: np.ndarray) -> Any:
    """A metric in JSON types: a scalar as a number, an array of up to ``SMALL_METRIC`` values
    as nested lists, a larger one as ``{"shape", "min", "mean", "max"}`` of its finite
    values (NaN is None)."""
    values = np.asarray(values)
    if values.size <= SMALL_METRIC:
        return plain(values)
    numeric = np.issubdtype(values.dtype, np.number) or values.dtype == bool
    finite = values[np.isfinite(values)] if numeric else values[:0]
    described: dict[str, Any] = {"shape": list(values.shape)}
    for name, reduce in (("min", np.min), ("mean", np.mean), ("max", np.max)):
        described[name] = float(reduce(finite)) if finite.size else None
    return described


def plain(value: Any) -> Any:
    """``value`` (NumPy scalars and arrays, nested in lists and dicts) in JSON types; NaN and
    infinities as None, since JSON has no such numbers."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as ``neurosim inspect`` prints it: a few lines on the run, then one line per
    array, each metric with its value."""
    attributes = summary["attributes"]
    lines = [
        f"{summary['path']}: {summary['scenario'] or '?'} ({attributes.get('backend')} backend, "
        f"seed {attributes.get('seed')}), neurosim {attributes.get('neurosim_version')}"
    ]
    simulated = summary["steps_simulated"]
    done = summary["steps_done"]
    if simulated is not None:
        done = f"{simulated} simulated, {done} recorded"
    lines.append(f"status: {summary['status_description']}; steps done: {done}")
    if summary["recorded_steps"] is not None:
        first, last = summary["recorded_steps"]
        unit = summary["time_unit"]
        of = "" if unit == "step" else f" (one step: {unit})"
        lines.append(f"recorded steps: {first} to {last}{of}")
    counters = attributes.get("event_counters")
    if counters:
        lines.append(
            f"events: {counters['updates']:,} neuron updates, {counters['messages_sent']:,} "
            f"messages sent, {counters['messages_suppressed']:,} suppressed by the threshold"
        )
    if summary["series"]:
        listed = ", ".join(
            f"{name} ({series['done']} {series['dim']})"
            for name, series in summary["series"].items()
        )
        lines.append(f"series: {listed}")
    if summary["checkpoint"] is not None:
        where = ", ".join(f"{key} {value}" for key, value in summary["checkpoint"].items())
        hint = ""
        if summary["status"] != "complete":
            hint = f"; continue: neurosim run --resume {summary['path']}"
        lines.append(f"checkpoint: {where}{hint}")
    for group, arrays in summary["groups"].items():
        for name, array in arrays.items():
            line = f"  {group}/{name}: ({', '.join(array['dims'])}) {tuple(array['shape'])}"
            if group == "metrics":
                line += f" = {_value_text(summary['metrics'][name])}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def _value_text(value: Any) -> str:
    """A metric's value (from :func:`metric_value`) on one line."""
    if isinstance(value, dict):
        return (
            f"min {_number_text(value['min'])}, mean {_number_text(value['mean'])}, "
            f"max {_number_text(value['max'])}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    return _number_text(value)


def _number_text(value: Any) -> str:
    if value is None:
        return "nan"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
