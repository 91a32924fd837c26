"""Spiking networks from a scenario: ``[experiment] kind = "spiking"``.

LIF neurons (``[experiment.neuron]``), input populations (``[[experiment.inputs]]``, each
connected to every neuron), optional synapses between the neurons
(``[experiment.recurrent]``) and one plasticity rule (``[experiment.plasticity]``), run for
``duration`` ms on the scenario's backend (``scenario.backend``: ``sync`` or ``event``, the
same results). The store's time axis counts grid steps of ``dt`` (its ``time_unit`` says
e.g. ``"0.1 ms"``); spikes go to ``events/`` (``t`` in ms), membrane potentials of
``potential_neurons`` to ``trajectory/potential``, weight snapshots every ``weights_every``
ms to ``weights/`` (inputs are the store's first neurons, role ``input``). The store is
written every ``write_every`` ms of biological time, so an interrupted run keeps what it did;
``[record] checkpoint_every = N`` adds a checkpoint every N such pieces (and SIGTERM or
Ctrl-C one where the run stops), from which ``neurosim run --resume`` continues bitwise.

Metrics: the output rate over the first and the last tenth of the run, the histogram of the
final weights over ``[w_min, w_max]`` and the fractions within ``end_fraction`` of each end
(the Song-Miller-Abbott benchmark's bimodality).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurosim.backends.spiking import SpikingRecord, SpikingSimulator, spiking_simulator
from neurosim.checks import check_choice, check_integer, check_number, describe
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.units import UnitCheckpoints
from neurosim.keys import Key, allows, check_table, integer, integer_list, number, table, text
from neurosim.model.spiking import (
    SYNAPSE_FORMS,
    BinomialInput,
    LifParameters,
    Plasticity,
    PoissonInput,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
from neurosim.progress import RunProgress
from neurosim.recording import ArraySpec, RunReader, RunStore, stop_on_signals
from neurosim.scenario.runner import RunSummary, stored_scenario
from neurosim.scenario.schema import Scenario

INPUT_KINDS = ("poisson", "frozen_poisson", "binomial", "times")
_NEURON_DEFAULTS = LifParameters()
_PLASTICITY_DEFAULTS = Plasticity()


def _number_or_list(name: str, value: Any) -> float | list[float]:
    """A number, or a list of numbers (one per neuron of the population)"""
    if isinstance(value, list):
        return [check_number(f"{name}[{k}]", item) for k, item in enumerate(value)]
    return check_number(name, value)


INPUT_KEYS = {
    "name": Key(text, doc="The population's name (default inputK)."),
    "kind": Key(
        allows(f"one of {', '.join(INPUT_KINDS)}")(
            lambda name, value: check_choice(name, value, INPUT_KINDS)
        ),
        required=True,
        doc="Poisson trains, the same Poisson trains every run (frozen_poisson), one binomial "
        "draw per step, or given spike times.",
    ),
    "size": Key(integer(1), required=True, doc="Number of input neurons in the population."),
    "rate": Key(
        _number_or_list,
        doc="Firing rate (Hz) of poisson, frozen_poisson and binomial inputs, one or one per "
        "neuron.",
    ),
    "seed": Key(integer(0), doc="frozen_poisson input: the seed its trains are drawn from."),
    "times": Key(
        allows("a list of numbers")(lambda name, value: _number_or_list(name, list(value))),
        doc="times input: the spike times (ms), with indices.",
    ),
    "indices": Key(
        integer_list(0, unique=False), doc="times input: the neuron of each spike time."
    ),
    "weight": Key(
        number(),
        doc="Initial weight of every synapse from the population (or give weight_low and "
        "weight_high).",
    ),
    "weight_low": Key(
        number(), doc="Initial weights drawn uniformly from [weight_low, weight_high]."
    ),
    "weight_high": Key(number(), doc="Upper end of the uniform initial weights."),
    "delay": Key(number(), 0.1, doc="Transmission delay from the population (ms), at least dt."),
}
NEURON_KEYS = {
    name: Key(check, getattr(_NEURON_DEFAULTS, name), doc=doc)
    for name, check, doc in (
        ("tau_membrane", number(), "Membrane time constant (ms), > 0."),
        ("tau_synapse", number(), "Decay time constant of the synaptic input (ms), > 0."),
        ("v_rest", number(), "Resting potential (mV)."),
        ("v_reset", number(), "Potential after a spike (mV), below v_threshold."),
        ("v_threshold", number(), "A spike when the potential reaches this (mV)."),
        ("refractory", number(), "Time after a spike the potential is held at v_reset (ms)."),
        (
            "synapse",
            text,
            f"Synaptic input form, one of {', '.join(SYNAPSE_FORMS)}: weights in mV, or "
            "dimensionless and scaled by e_synapse - v_reset.",
        ),
        ("e_synapse", number(), "Reversal potential of conductance_like synapses (mV)."),
    )
}
PLASTICITY_KEYS = {
    "rule": Key(
        text,
        "none",
        doc="The synapses' rule: none, additive_stdp, rate_spike or nearest_stdp.",
    ),
    "a_plus": Key(number(), 0.0, doc="Potentiation amplitude of the STDP window (weight units)."),
    "a_minus": Key(number(), 0.0, doc="Depression amplitude of the STDP window (weight units)."),
    "tau_plus": Key(number(), 20.0, doc="Time constant of the potentiation side (ms)."),
    "tau_minus": Key(number(), 20.0, doc="Time constant of the depression side (ms)."),
    "alpha": Key(number(), 0.0, doc="rate_spike: learning rate (weight units per mV/ms)."),
    "w_min": Key(number(), doc="Lowest weight; weights are kept in [w_min, w_max]."),
    "w_max": Key(number(), doc="Highest weight."),
    "window": Key(
        integer(1), 20, doc="nearest_stdp: steps looked at on each side of a presynaptic spike."
    ),
    "pending_per_synapse": Key(
        integer(1),
        8,
        doc="nearest_stdp: presynaptic spikes of one synapse at most waiting for their decision.",
    ),
}
RECURRENT_KEYS = {
    "probability": Key(
        number(0.0, 1.0),
        required=True,
        doc="Probability of each synapse between two distinct neurons.",
    ),
    "weight": Key(number(), required=True, doc="Weight of each recurrent synapse."),
    "delay": Key(number(), 1.0, doc="Delay of each recurrent synapse (ms)."),
}


@allows("a table of LIF neuron keys", NEURON_KEYS)
def _neuron(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, NEURON_KEYS)
    LifParameters(**checked, where=name)  # every bound and the threshold above reset
    return checked


@allows("a table of plasticity keys", PLASTICITY_KEYS)
def _plasticity(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, PLASTICITY_KEYS)
    Plasticity(**checked, where=name)
    return checked


@allows("a table of recurrent-synapse keys", RECURRENT_KEYS)
def _recurrent(name: str, value: Any) -> dict[str, Any]:
    return check_table(name, value, RECURRENT_KEYS)


@allows("one or more [[experiment.inputs]] tables", INPUT_KEYS, repeated=True)
def _inputs(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{name} = {describe(value)}: expected one or more [[{name}]] tables")
    populations = []
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        checked = check_table(where, entry, INPUT_KEYS)
        checked.setdefault("name", f"input{index}")
        _population(checked, where)  # the population's own checks, before any work
        has_uniform = "weight_low" in checked or "weight_high" in checked
        if ("weight" in checked) == has_uniform or (
            has_uniform and not {"weight_low", "weight_high"} <= set(checked)
        ):
            raise ValidationError(
                f"{where}: give either weight (one value) or both weight_low and weight_high "
                "(uniform initial weights)"
            )
        if has_uniform and checked["weight_low"] > checked["weight_high"]:
            raise ValidationError(
                f"{where}.weight_low = {checked['weight_low']:g} is above weight_high = "
                f"{checked['weight_high']:g}"
            )
        populations.append(checked)
    return populations


def _population(
    entry: dict[str, Any], where: str
) -> PoissonInput | BinomialInput | SpikeTimesInput:
    kind, size = entry["kind"], entry["size"]
    needs = {"times": ("times", "indices"), "frozen_poisson": ("rate", "seed")}.get(kind, ("rate",))
    missing = [key for key in needs if key not in entry]
    if missing:
        raise ValidationError(f"{where}.{missing[0]} is missing; a {kind} input needs {needs}")
    if kind == "times":
        return SpikeTimesInput(size, entry["times"], entry["indices"], where=where)
    if kind == "binomial":
        return BinomialInput(size, entry["rate"], where=where)
    return PoissonInput(size, entry["rate"], entry.get("seed"), where=where)


KEYS = {
    "duration": Key(number(), required=True, doc="Biological time simulated (ms)."),
    "dt": Key(number(), 0.1, doc="Time step (ms)."),
    "neurons": Key(integer(1), 1, doc="Number of LIF neurons."),
    "neuron": Key(_neuron, {}, doc="The LIF neurons' parameters."),
    "inputs": Key(
        _inputs, required=True, doc="The input populations, each connected to every neuron."
    ),
    "recurrent": Key(_recurrent, doc="Synapses between the neurons; absent: none."),
    "plasticity": Key(_plasticity, {}, doc="The synapses' learning rule and its parameters."),
    "potential_neurons": Key(
        integer_list(0), [0], doc="Neurons whose membrane potential is recorded."
    ),
    "potential_every": Key(integer(1), 10, doc="Steps between recorded potentials."),
    "weights_every": Key(number(), 1000.0, doc="Biological time between weight snapshots (ms)."),
    "write_every": Key(number(), 10000.0, doc="Biological time between writes to the store (ms)."),
    "histogram_bins": Key(integer(1), 20, doc="Bins of the final weight histogram."),
    "end_fraction": Key(
        number(0.0, 0.5),
        0.1,
        doc="Share of [w_min, w_max] at each end counted for the bimodality metrics.",
    ),
    "options": Key(table, {}, doc="The backend's options: max_window, input_chunk (steps)."),
}


def build_network(settings: dict[str, Any], seed: int) -> SpikingNetwork:
    """The network of an ``[experiment]`` table (checked), initial weights drawn from
    ``seed``."""
    where = "experiment"
    dt = check_number(f"{where}.dt", settings["dt"], 0.0, low_open=True)
    n = settings["neurons"]
    rng = np.random.default_rng(seed)
    populations, sources, posts, weights, delays = [], [], [], [], []
    offset = 0
    for index, entry in enumerate(settings["inputs"]):
        population = _population(entry, f"{where}.inputs[{index}]")
        populations.append(population)
        source, post = all_to_all(population.size, n, offset)
        if "weight" in entry:
            weight = np.full(source.size, entry["weight"])
        else:
            weight = rng.uniform(entry["weight_low"], entry["weight_high"], source.size)
        sources.append(source)
        posts.append(post)
        weights.append(weight)
        delays.append(np.full(source.size, entry["delay"]))
        offset += population.size
    recurrent = settings.get("recurrent")
    if recurrent is not None:
        pre, post = np.nonzero(rng.random((n, n)) < recurrent["probability"])
        keep = pre != post
        sources.append(pre[keep] + offset)
        posts.append(post[keep])
        weights.append(np.full(int(keep.sum()), recurrent["weight"]))
        delays.append(np.full(int(keep.sum()), recurrent["delay"]))
    return SpikingNetwork(
        dt=dt,
        neuron=LifParameters(**settings["neuron"], where=f"{where}.neuron"),
        n_neurons=n,
        inputs=tuple(populations),
        synapse_source=np.concatenate(sources),
        synapse_post=np.concatenate(posts),
        weight=np.concatenate(weights),
        delay=np.concatenate(delays),
        plasticity=Plasticity(**settings["plasticity"], where=f"{where}.plasticity"),
        where=where,
    )


def _checked_run(settings: dict[str, Any], network: SpikingNetwork) -> tuple[int, int, int]:
    """(total steps, weight snapshot interval, write interval) in steps, each checked."""
    dt = network.dt

    def steps(key: str) -> int:
        value = check_number(f"experiment.{key}", settings[key], dt, low_open=False)
        return round(value / dt)  # at least one step: value >= dt

    recorded = settings["potential_neurons"]
    if recorded and max(recorded) >= network.n_neurons:
        raise ValidationError(
            f"experiment.potential_neurons = {recorded}: neurons are numbered 0 to "
            f"{network.n_neurons - 1}"
        )
    for key in settings["options"]:
        if key not in ("max_window", "input_chunk"):
            raise ValidationError(
                f"experiment.options.{key}: unknown key; allowed keys are max_window, input_chunk"
            )
        check_integer(f"experiment.options.{key}", settings["options"][key], 1)
    return steps("duration"), steps("weights_every"), steps("write_every")


def _prepare(scenario: Scenario) -> tuple[SpikingNetwork, SpikingSimulator, tuple[int, int, int]]:
    """The network and the simulator of a checked scenario, and its intervals in steps."""
    settings = scenario.settings
    table_ = settings["experiment"]
    seed = settings["scenario"]["seed"]
    network = build_network(table_, seed)
    intervals = _checked_run(table_, network)
    backend = settings["scenario"]["backend"]
    options = dict(table_["options"])
    if backend != "event":
        options.pop("input_chunk", None)  # how the event backend chunks its input trains
    simulator = spiking_simulator(backend)(
        network,
        seed,
        record_neurons=table_["potential_neurons"],
        record_every=table_["potential_every"],
        weights_every=intervals[1],
        **options,
    )
    return network, simulator, intervals


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    settings = scenario.settings
    table_ = settings["experiment"]
    network, simulator, intervals = _prepare(scenario)
    n_inputs = network.n_inputs
    store = RunStore.create(
        out,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": settings["scenario"]["seed"],
            "dt_ms": network.dt,
        },
        neurons={
            "role": np.array(["input"] * n_inputs + ["output"] * network.n_neurons),
            "layer": np.array([0] * n_inputs + [1] * network.n_neurons),
            "name": np.array(
                [f"input{k}" for k in range(n_inputs)]
                + [f"neuron{k}" for k in range(network.n_neurons)]
            ),
        },
        arrays={
            "potential": ArraySpec(("neuron",), (len(table_["potential_neurons"]),), "float64")
        },
        recorded_neurons=np.asarray(table_["potential_neurons"], dtype=np.int64) + n_inputs,
        edge_src=network.synapse_source,
        edge_dst=network.synapse_post + n_inputs,
        time_chunk=4096,
        overwrite=overwrite,
        time_unit=f"{network.dt:g} ms",
    )
    return _carry_out(scenario, store, network, simulator, intervals, progress, None)


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped run in the store ``out`` from its newest checkpoint (taken after
    a whole piece of ``write_every`` ms): it ends bitwise as the run that never stopped."""
    scenario = stored_scenario(out)
    network, simulator, intervals = _prepare(scenario)
    store, arrays, attributes = RunStore.resume(out)
    simulator.restore(arrays)
    return _carry_out(
        scenario, store, network, simulator, intervals, progress, attributes["spikes"]
    )


def _carry_out(
    scenario: Scenario,
    store: RunStore,
    network: SpikingNetwork,
    simulator: SpikingSimulator,
    intervals: tuple[int, int, int],
    progress: bool,
    spikes_before: int | None,
) -> RunSummary:
    """Run from the simulator's step to the end in pieces of ``write_every``, each written
    out, then a checkpoint every ``[record] checkpoint_every`` pieces (and when a stop signal
    ends the run), then the metrics."""
    total, _, write_every = intervals
    table_, record = scenario.settings["experiment"], scenario.settings["record"]
    units = UnitCheckpoints(store, record.get("checkpoint_every", 0), record["checkpoint_keep"])
    spikes = spikes_before or 0
    done = simulator.step
    bar = RunProgress(
        total=total, initial=done, unit="step", unit_scale=True, delay=2.0, disable=not progress
    )
    with store, stop_on_signals() as stop, bar, units.on_stop():
        while done < total:
            stop.check()
            chunk = min(write_every, total - done)
            piece = simulator.run(chunk * network.dt)
            _write(store, piece, network, network.n_inputs)
            spikes += piece.spike_time.size
            done += chunk
            store.steps_simulated = done
            bar.update(chunk)
            units.done(-(-done // write_every), simulator.checkpoint(), {"spikes": spikes})
        metrics = _metrics(store, network, table_, simulator.state.w, spikes, total)
    return RunSummary(store=Path(store.path), steps=total, status="complete", metrics=metrics)


def _write(store: RunStore, record: SpikingRecord, network: SpikingNetwork, n_inputs: int) -> None:
    """One piece of the run into the store: spikes, potentials, weight snapshots."""
    if record.spike_time.size:
        store.append_events(
            {
                "t": record.spike_time,
                "neuron": record.spike_neuron + n_inputs,
                "kind": np.zeros(record.spike_time.size, dtype=np.int8),
                "value": np.ones(record.spike_time.size),
            },
            kinds=("spike",),
        )
    if record.potential_time.size:
        steps = np.rint(record.potential_time / network.dt).astype(np.int64)
        store.append(steps, {"potential": record.potential})
    bias = np.zeros(n_inputs + network.n_neurons)
    for time, weights in zip(record.weight_time, record.weights, strict=True):
        store.snapshot_weights(round(time / network.dt), weights, bias)


def _metrics(
    store: RunStore,
    network: SpikingNetwork,
    settings: dict[str, Any],
    final: np.ndarray,
    spikes: int,
    total: int,
) -> dict[str, float]:
    rule = network.plasticity
    low = rule.w_min if np.isfinite(rule.w_min) else float(final.min())
    high = rule.w_max if np.isfinite(rule.w_max) else float(final.max())
    counts, edges = np.histogram(final, bins=settings["histogram_bins"], range=(low, high))
    reach = settings["end_fraction"] * (high - low)
    at_low = final <= low + reach
    at_high = final >= high - reach
    near_low = float(np.mean(at_low))
    near_high = float(np.mean(at_high))
    duration_s = total * network.dt * 1e-3
    scalars = {
        "output_rate_hz": spikes / network.n_neurons / duration_s,
        "fraction_near_w_min": near_low,
        "fraction_near_w_max": near_high,
        # each weight counted once: with every weight equal and no bounds both ends are one
        "fraction_at_ends": float(np.mean(at_low | at_high)),
        "mean_weight": float(final.mean()),
    }
    descriptions = {
        "output_rate_hz": "mean output rate over the run (Hz)",
        "fraction_near_w_min": "final weights within end_fraction of the range of w_min",
        "fraction_near_w_max": "final weights within end_fraction of the range of w_max",
        "fraction_at_ends": "final weights near either end: the bimodality of the final weights",
        "mean_weight": "mean final weight",
    }
    with store.metrics_together():
        for name, value in scalars.items():
            store.write_metric(name, value, (), {"description": descriptions[name]})
    store.write_metric(
        "weight_histogram",
        counts,
        ("weight_bin",),
        {"description": "final weights per bin over [w_min, w_max]"},
        coords={"weight_bin": 0.5 * (edges[:-1] + edges[1:])},
    )
    return scalars


def spiking_figure(run: RunReader) -> Figure:
    """Final weight histogram, final weights by input, the fraction of weights near each
    bound over time, and the output rate over time."""
    if "weight_histogram" not in run.names("metrics"):
        raise ValidationError(f"{run.path}: no metrics yet (the run did not finish)")
    dt = float(run.attributes["dt_ms"])
    counts = run.array("metrics", "weight_histogram")
    centres = run.array("metrics", "weight_bin")
    weights = run.array("weights", "W")
    times = run.array("weights", "snapshot_time") * dt * 1e-3
    settings = run.attributes["scenario"]["experiment"]
    plasticity = settings["plasticity"]
    low = plasticity.get("w_min", float(np.nanmin(weights)))
    high = plasticity.get("w_max", float(np.nanmax(weights)))
    reach = settings["end_fraction"] * (high - low)
    figure = Figure(figsize=(10, 6.4), layout="constrained")
    axes = figure.subplots(2, 2)
    width = centres[1] - centres[0] if centres.size > 1 else 1.0
    axes[0, 0].bar(centres, counts, width=0.9 * width)
    axes[0, 0].set(xlabel="final weight", ylabel="synapses", title="final weights")
    axes[0, 1].plot(weights[-1], ".", markersize=2)
    axes[0, 1].set(xlabel="synapse", ylabel="final weight", title="final weight by synapse")
    axes[1, 0].plot(times, np.mean(weights <= low + reach, axis=1), label="near w_min")
    axes[1, 0].plot(times, np.mean(weights >= high - reach, axis=1), label="near w_max")
    axes[1, 0].set(xlabel="time (s)", ylabel="fraction of synapses", title="weights at the bounds")
    axes[1, 0].legend()
    if "events" in run.groups():
        spike_times = run.array("events", "t") * 1e-3
        duration = settings["duration"] * 1e-3
        bins = np.linspace(0.0, duration, min(100, max(2, int(duration))) + 1)
        rate = np.histogram(spike_times, bins)[0] / np.diff(bins) / settings["neurons"]
        axes[1, 1].plot(0.5 * (bins[:-1] + bins[1:]), rate)
    axes[1, 1].set(xlabel="time (s)", ylabel="rate (Hz)", title="output rate")
    figure.suptitle(
        f"{run.attributes['scenario']['scenario']['name']} ({run.attributes['backend']})"
    )
    return figure


def plot(run: RunReader, path: Path) -> Path:
    """Write ``spiking_figure(run)`` to ``path`` as a PNG."""
    spiking_figure(run).savefig(path, dpi=100)
    return Path(path)


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
