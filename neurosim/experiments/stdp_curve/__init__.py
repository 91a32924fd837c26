"""The STDP-objective paper's spike simulations (section 5, Figures 1-3):
``[experiment] kind = "stdp_curve"``.

One synapse j -> i. For each of ``sequences`` random pairs of activity sequences
(``s_j``: presynaptic, ``s_i``: postsynaptic; ``steps`` steps each), ``samples`` pairs of
spike trains are drawn: a spike at step t with probability ``max_rate_per_step * rho(s(t))``,
independently per step and neuron (the paper's binomial draw per discrete step). At every
presynaptic spike two updates are computed (``neurosim.kernels.spike_timing``): Eq. 2,
``alpha * (s_i(t + 1) - s_i(t))``, and nearest-neighbour STDP within ``window`` steps. Time is
in steps throughout. The paper's protocol: 500 sequences of 160 steps, 1,000 spike-train
samples each, window 20.

What the paper leaves open, and the project's reading (each a key):

- **rho**: ``activation``, by default ``hard_sigmoid``, the paper's own rho (Eq. 18):
  ``clip(s - beta1, 0, 1)`` with ``beta1 = hard_sigmoid_threshold`` (-0.5); ``sigmoid4``
  (``1 / (1 + exp(-4 s))``) and ``sigmoid4_centred`` are the logistic alternatives. The paper
  says only "proportional to rho(s)": ``max_rate_per_step`` (default 0.3) scales rho to a
  probability per step.
- **Activity sequences**: each neuron's ``s`` is the leaky integration of a piecewise-constant
  random external drive, ``s(t + 1) = s(t) + leak * (u(t) - s(t))``. The drive ``u`` holds a
  level drawn uniformly from ``[drive_low, drive_high]`` for a segment whose length is drawn
  uniformly from ``segment_min .. segment_max`` steps, then jumps to a new level; ``leak`` is
  drawn once per sequence and neuron from ``[leak_min, leak_max]``; ``s(0)`` is drawn from the
  drive's range. So ``s`` rises and falls with varied slopes and levels, before and after any
  step, and pre and post vary independently. A sequence has ``steps + 1`` values (Eq. 2 at
  the last step needs ``s_i(steps)``); spikes fall on steps ``0 .. steps - 1``.
- **Ends of a sequence**: with ``full_windows_only`` (default) only presynaptic spikes whose
  whole window lies inside the sequence (steps ``window .. steps - window - 1``) are counted,
  so that "no postsynaptic spike" never stands for "outside the sequence".
- **Window**: ``a_plus``, ``a_minus``, ``tau_plus``, ``tau_minus`` (steps); coincident spikes
  and "both sides" as in ``neurosim.kernels.spike_timing``.

Draws are counter-based (``neurosim.kernels.random``) under the scenario's seed, streams
``STREAM_ACTIVITY`` (key step ``2 * sequence + neuron``, neuron 0 pre, 1 post) and
``STREAM_SPIKES`` (key step ``sequence * samples + sample``, index ``2 * t + neuron``): the
results are a pure function of the seed and the keys.

Metrics (over dims ``delta``, ``eq1_bin``, ``outcome``): per spike-timing difference ``delta``
in ``-window .. window`` (pre spikes the nearest-neighbour rule pairs with one post spike, and
coincident ones at delta 0) the mean Eq. 1 update, its standard error and the count, and the
mean nearest-neighbour update; the nearest-neighbour update binned by the Eq. 1 update
(``eq1_bins`` quantile or equal-width bins over the ``PAIRED`` spikes: bin centre, mean Eq. 1,
mean NN, count); Pearson correlations of the two updates over all ``PAIRED`` spikes and over
the bins' means; the Bi & Poo shape (mean Eq. 1 over ``delta`` in ``1 .. near_max`` positive,
over ``-near_max .. -1`` negative, and larger in magnitude than over ``far_min .. window`` on
each side). The trajectory holds one example (sequence ``example_sequence``, sample
``example_sample``): both activities, both spike trains and the cumulative weights under
both rules, Figure 3's content.

The package, by job: ``simulation`` (the compiled activity sequences and spike-train samples,
the per-sequence records, ``simulate`` and ``example_trace``), ``analysis`` (``curve_metrics``
and the metrics it stores) and ``figure`` (``plot``); this module holds the ``[experiment]``
keys, their checks and ``run``.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.checks import check_number
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.stdp_curve.analysis import BINNINGS, HEADLINE, METRICS, curve_metrics
from neurosim.experiments.stdp_curve.figure import plot
from neurosim.experiments.stdp_curve.simulation import (
    POST,
    PRE,
    STREAM_ACTIVITY,
    STREAM_SPIKES,
    Records,
    activities,
    activity_sequence,
    example_trace,
    sequence_records,
    simulate,
)
from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.spike_timing import OUTCOME_NAMES
from neurosim.keys import Key, boolean, choice, integer, number
from neurosim.model.parameters import ModelParameters
from neurosim.progress import RunProgress
from neurosim.recording import ArraySpec, RunStore, stop_on_signals
from neurosim.registry import DEFAULT_BACKEND
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario


def _positive(name: str, value: Any) -> float:
    """A number > 0."""
    return check_number(name, value, 0.0, low_open=True)


def _probability(name: str, value: Any) -> float:
    """A probability per step in (0, 1]."""
    return check_number(name, value, 0.0, 1.0, low_open=True)


def _leak(name: str, value: Any) -> float:
    """A leak rate per step in (0, 1]."""
    return check_number(name, value, 0.0, 1.0, low_open=True)


def _threshold(name: str, value: Any) -> float:
    """A number in (-1, 0)."""
    return check_number(name, value, -1.0, 0.0, low_open=True, high_open=True)


KEYS = {
    # the paper's protocol (section 5.1)
    "sequences": Key(integer(1), 500, doc="Random pairs of activity sequences (pre and post)."),
    "steps": Key(integer(1), 160, doc="Steps of each activity sequence."),
    "samples": Key(integer(1), 1000, doc="Spike-train samples drawn per sequence pair."),
    "window": Key(
        integer(1),
        20,
        doc="Steps the nearest-neighbour rule looks before and after each presynaptic spike.",
    ),
    # spikes: probability per step max_rate_per_step * rho(s)
    "activation": Key(
        choice(tuple(ACTIVATION_CODES)),
        "hard_sigmoid",
        doc="The rate function rho that sets the spike probability.",
    ),
    "hard_sigmoid_threshold": Key(
        _threshold, -0.5, doc="hard_sigmoid's shift: rho(s) = clip(s - threshold, 0, 1)."
    ),
    "max_rate_per_step": Key(_probability, 0.3, doc="Spike probability per step at rho = 1."),
    # activity sequences: leaky integration of a piecewise-constant random drive
    "drive_low": Key(number(), -1.0, doc="Lowest level of the random drive of the activities."),
    "drive_high": Key(number(), 1.0, doc="Highest level of the random drive."),
    "segment_min": Key(integer(1), 10, doc="Shortest segment (steps) the drive holds a level."),
    "segment_max": Key(integer(1), 40, doc="Longest segment (steps)."),
    "leak_min": Key(
        _leak, 0.05, doc="Smallest leak rate per step of the activity's integration of the drive."
    ),
    "leak_max": Key(_leak, 0.3, doc="Largest leak rate per step."),
    # the two rules
    "alpha": Key(_positive, 1.0, doc="Learning rate of the Eq. 2 update."),
    "a_plus": Key(
        number(0.0), 1.0, doc="Amplitude of the STDP window's potentiation (post after pre)."
    ),
    "a_minus": Key(number(0.0), 1.0, doc="Amplitude of its depression (post before pre)."),
    "tau_plus": Key(_positive, 8.0, doc="Time constant of the potentiation side (steps)."),
    "tau_minus": Key(_positive, 8.0, doc="Time constant of the depression side (steps)."),
    "full_windows_only": Key(
        boolean,
        True,
        doc="Whether only presynaptic spikes whose whole window lies inside the sequence are "
        "counted.",
    ),
    # analyses
    "eq1_bins": Key(
        integer(2),
        30,
        doc="Bins of the Eq. 1 update in which the nearest-neighbour update is averaged.",
    ),
    "eq1_binning": Key(
        choice(BINNINGS), "quantile", doc="Bins with equal counts (quantile) or equal widths."
    ),
    "near_max": Key(
        integer(1),
        5,
        doc="Timing differences 1 .. near_max (steps) count as near for the Bi & Poo shape.",
    ),
    "far_min": Key(
        integer(1), 15, doc="Timing differences far_min .. window (steps) count as far."
    ),
    "example_sequence": Key(integer(0), 0, doc="The sequence whose example trace is stored."),
    "example_sample": Key(integer(0), 0, doc="The spike-train sample of that sequence stored."),
}


def _check_settings(scenario: Scenario) -> dict[str, Any]:
    """The [experiment] table after checking its keys against each other; a [model] that
    differs from the defaults is refused, since this experiment reads none of it."""
    table = scenario.settings["experiment"]
    model = scenario.phase_parameters[0]
    default = ModelParameters()
    if "preset" in scenario.settings["model"]:
        raise ValidationError(
            f"model.preset = {scenario.settings['model']['preset']!r}: the stdp_curve "
            "experiment reads no [model]; set its rate function and rules in [experiment]"
        )
    for field in fields(ModelParameters):
        if getattr(model, field.name) != getattr(default, field.name):
            raise ValidationError(
                f"model.{field.name} = {getattr(model, field.name)!r}: the stdp_curve "
                "experiment reads no [model]; set its rate function and rules in [experiment] "
                "(activation, hard_sigmoid_threshold, alpha, ...)"
            )
    backend = scenario.settings["scenario"]["backend"]
    if backend != DEFAULT_BACKEND:
        raise ValidationError(
            f"scenario.backend = {backend!r}: the stdp_curve experiment runs no simulator "
            "backend (compiled kernels draw its spike trains); leave scenario.backend out"
        )
    window, steps = table["window"], table["steps"]
    if table["full_windows_only"] and steps <= 2 * window:
        raise ValidationError(
            f"experiment.steps = {steps}: with full_windows_only, a presynaptic spike counts "
            f"only with its whole window (experiment.window = {window}) inside the sequence; "
            f"steps must exceed 2 * window = {2 * window}"
        )
    if table["drive_low"] >= table["drive_high"]:
        raise ValidationError(
            f"experiment.drive_low = {table['drive_low']:g} must be below experiment.drive_high "
            f"= {table['drive_high']:g}"
        )
    if table["segment_min"] > table["segment_max"]:
        raise ValidationError(
            f"experiment.segment_min = {table['segment_min']} is larger than "
            f"experiment.segment_max = {table['segment_max']}"
        )
    if table["leak_min"] > table["leak_max"]:
        raise ValidationError(
            f"experiment.leak_min = {table['leak_min']:g} is larger than experiment.leak_max "
            f"= {table['leak_max']:g}"
        )
    if table["far_min"] > window:
        raise ValidationError(
            f"experiment.far_min = {table['far_min']}: the far range far_min .. window must "
            f"lie within experiment.window = {window}"
        )
    if table["near_max"] >= table["far_min"]:
        raise ValidationError(
            f"experiment.near_max = {table['near_max']} must be below experiment.far_min = "
            f"{table['far_min']} (the near range 1 .. near_max, the far range far_min .. window)"
        )
    for key, limit in (("example_sequence", "sequences"), ("example_sample", "samples")):
        if table[key] >= table[limit]:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: must be below experiment.{limit} = "
                f"{table[limit]}"
            )
    return table


def _example_arrays() -> dict[str, ArraySpec]:
    return {
        "activity": ArraySpec(("neuron",), (2,), np.float64),
        "spikes": ArraySpec(("neuron",), (2,), np.bool_),
        "weight_eq2": ArraySpec((), (), np.float64),
        "weight_nearest_neighbour": ArraySpec((), (), np.float64),
    }


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    """The protocol, its analyses and one example, written to one run store at ``out``."""
    table = _check_settings(scenario)
    seed = scenario.settings["scenario"]["seed"]
    store = RunStore.create(
        out,
        attributes={
            "scenario": scenario.settings,
            # no simulator backend runs: the spike trains come from compiled kernels
            "backend": "none",
            "seed": seed,
            "experiment": "stdp_curve",
            "example": {
                "sequence": table["example_sequence"],
                "sample": table["example_sample"],
            },
        },
        # the synapse j -> i: neuron 0 the presynaptic one, neuron 1 the postsynaptic one
        neurons={
            "role": np.array(["input", "output"]),
            "layer": np.array([0, 1]),
            "name": np.array(["pre", "post"]),
        },
        arrays=_example_arrays(),
        recorded_neurons=None,
        edge_src=np.array([PRE]),
        edge_dst=np.array([POST]),
        time_chunk=table["steps"],
        overwrite=overwrite,
        weight_dtype=np.float64,
    )
    bar = RunProgress(
        total=table["sequences"], unit="sequence", delay=2.0, disable=not progress, mininterval=0.5
    )
    with store, stop_on_signals() as stop, bar:
        example = example_trace(table, seed)
        store.append(example.pop("time"), example)
        records = simulate(table, seed, lambda: bar.update(1), stop)
        metrics = curve_metrics(
            records,
            window=table["window"],
            bins=table["eq1_bins"],
            binning=table["eq1_binning"],
            near_max=table["near_max"],
            far_min=table["far_min"],
        )
        coords = {
            "delta": metrics["delta"],
            "eq1_bin": np.arange(table["eq1_bins"]),
            "outcome": np.array(OUTCOME_NAMES),
        }
        with store.metrics_together():
            for name, (dims, description) in METRICS.items():
                store.write_metric(
                    name,
                    metrics[name],
                    dims,
                    {"description": description},
                    coords={dim: coords[dim] for dim in dims},
                )
    steps = table["sequences"] * table["samples"] * table["steps"]
    return RunSummary(store.path, steps, store.status, {name: metrics[name] for name in HEADLINE})


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot)

__all__ = [
    "EXPERIMENT",
    "KEYS",
    "STREAM_ACTIVITY",
    "STREAM_SPIKES",
    "Records",
    "activities",
    "activity_sequence",
    "curve_metrics",
    "example_trace",
    "sequence_records",
    "simulate",
]
