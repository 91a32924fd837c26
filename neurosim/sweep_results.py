"""A sweep's results: one xarray Dataset of every run's final metrics, its CSV, its plots.

The Dataset has one dimension per swept key (named as ``GridKey.name``, the dotted key in the
attribute ``keys``) plus ``seed``; each scalar metric of the runs is a variable (NaN where a
run has none: failed, diverged before writing it), and ``status`` and ``error`` say how each
run ended. It is written as ``DIR/sweep.zarr`` and ``DIR/sweep.csv``; ``DIR/plots/METRIC.png``
draws each metric against each swept key (mean ± sd over the seeds, one line per setting of
the other keys).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from neurosim.errors import NeurosimError
from neurosim.recording.location import StorePath, is_remote, zarr_url
from neurosim.sweep import Sweep


def scalar_metrics(out: StorePath) -> dict[str, float]:
    """A run store's scalar metrics (empty when it has none or cannot be read)."""
    from neurosim.recording import open_run

    try:
        run = open_run(out)
        if "metrics" not in run.groups():
            return {}
        values = {}
        for name in run.names("metrics"):
            if run.dims("metrics", name) == ():
                value = run.array("metrics", name)
                if np.issubdtype(np.asarray(value).dtype, np.number):
                    values[name] = float(value)
        return values
    except (NeurosimError, OSError):
        return {}


def gather(sweep: Sweep, outcomes: dict[str, dict[str, Any]]) -> xr.Dataset:
    """The Dataset of the sweep (module docstring)."""
    dims = [key.name for key in sweep.grid] + ["seed"]
    shape = [len(key.values) for key in sweep.grid] + [len(sweep.seeds)]
    metrics = {point.label: scalar_metrics(point.out) for point in sweep.points}
    names = sorted({name for values in metrics.values() for name in values})
    arrays = {name: np.full(shape, np.nan) for name in names}
    status = np.full(shape, "not run", dtype=object)
    error = np.full(shape, "", dtype=object)
    for point in sweep.points:
        position = [key.values.index(point.values[key.key]) for key in sweep.grid]
        index = (*position, sweep.seeds.index(point.seed))
        for name, value in metrics[point.label].items():
            arrays[name][index] = value
        outcome = outcomes.get(point.label, {})
        status[index] = outcome.get("status", "not run")
        error[index] = outcome.get("error") or ""
    coords = {key.name: _coordinate(key.values) for key in sweep.grid}
    coords["seed"] = np.array(sweep.seeds)
    variables = {name: (dims, values) for name, values in arrays.items()}
    # variable-length text: zarr v3 has a specification for it, not for fixed-width strings
    text = np.dtypes.StringDType()
    variables["status"] = (dims, status.astype(text))
    variables["error"] = (dims, error.astype(text))
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "keys": json.dumps({key.name: key.key for key in sweep.grid}),
            "scenario": sweep.manifest["scenario"],
            "overrides": json.dumps(sweep.manifest["overrides"]),
        },
    )


def _coordinate(values: tuple[Any, ...]) -> np.ndarray:
    """Values as a coordinate: numbers and booleans as they are, anything else as text."""
    if all(isinstance(value, bool) for value in values):
        return np.array(values, dtype=bool)
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return np.array(values)
    return np.array(
        [json.dumps(value) if not isinstance(value, str) else value for value in values]
    )


def write(dataset: xr.Dataset, directory: StorePath) -> list[StorePath]:
    """``sweep.zarr``, ``sweep.csv`` and one plot per metric; returns the paths."""
    written = [directory / "sweep.zarr", directory / "sweep.csv"]
    dataset.to_zarr(zarr_url(written[0]), mode="w", consolidated=False)
    with written[1].open("w") as file:
        dataset.to_dataframe().reset_index().to_csv(file, index=False)
    plots = directory / "plots"
    plots.mkdir(exist_ok=True)
    for name in dataset.data_vars:
        if name in ("status", "error") or dataset[name].isnull().all():
            continue
        written.append(_plot(dataset, str(name), plots / f"{name}.png"))
    return written


def _plot(dataset: xr.Dataset, metric: str, path: StorePath) -> StorePath:
    keys = [dim for dim in dataset[metric].dims if dim != "seed"]
    dotted = json.loads(dataset.attrs["keys"])
    figure = Figure(figsize=(4.2 * len(keys), 3.4), layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False)[0]
    values = dataset[metric]
    mean, spread = values.mean("seed", skipna=True), values.std("seed", skipna=True)
    for ax, key in zip(axes, keys, strict=True):
        others = [dim for dim in keys if dim != key]
        positions = np.arange(dataset.sizes[key])
        settings = [{}] if not others else [
            dict(zip(others, combination, strict=True))
            for combination in np.ndindex(*(dataset.sizes[dim] for dim in others))
        ]  # fmt: skip
        for setting in settings:
            line_mean = mean.isel(setting).transpose(key).values
            line_spread = spread.isel(setting).transpose(key).values
            label = ", ".join(f"{dim}={dataset[dim].values[i]}" for dim, i in setting.items())
            ax.errorbar(positions, line_mean, yerr=line_spread, marker="o", capsize=3,
                        label=label or None)  # fmt: skip
        ax.set_xticks(positions, [str(value) for value in dataset[key].values])
        ax.set(xlabel=dotted[key], ylabel=metric)
        if others:
            ax.legend(fontsize="small")
    figure.suptitle(f"{metric}: mean ± sd over {dataset.sizes['seed']} seed(s)")
    if is_remote(path):
        with path.open("wb") as file:
            figure.savefig(file, dpi=90, format="png")
    else:
        figure.savefig(path, dpi=90)
    return path
