"""SuperSpike in spiking networks: ``[experiment] kind = "superspike"``.

``inputs`` frozen Poisson trains (``rate`` Hz, drawn once from ``input_seed``; the same
``trial`` ms pattern every trial) drive ``outputs`` LIF neurons, directly or through a layer
of ``hidden`` LIF neurons (``[experiment.neuron]``: the reference's constants by default). Every
synapse learns by SuperSpike (``[experiment.plasticity]``, ``kernels/superspike.py``); the
outputs must fire at ``target_times`` (ms within the trial, every trial; one list for every
output or one list per output). With a hidden layer, each output's error reaches each hidden
neuron through a feedback edge (``feedback_delay`` ms): ``random`` feedback through fixed
normal weights (sd ``feedback_scale``), ``symmetric`` feedback through the current weight of
the forward synapse. ``feedback`` lists the kinds to compare: one network per kind, each from
the same initial weights, run side by side trial by trial. Initial weights are normal with sd
``weight_scale / sqrt(fan-in)``, clipped to ``[w_min, w_max]``, as in the reference. The
networks run ``trials`` trials back to back on the scenario's backend (``sync`` or ``event``,
the same results).

After each trial the van Rossum distance of each output to its targets
(``analysis/spike_distance.py``) is appended to the series ``trials`` (dims trial, feedback,
output); every ``write_every`` trials the spikes go to ``events/`` and the weights are
snapshotted (the store holds the networks side by side: inputs, then each kind's hidden and
output neurons). Metrics per kind (suffix ``_random``, ``_symmetric``; none without a hidden
layer): the distance of the first trial, the mean over the last ``last_trials`` trials, and
the reduction between them. The figure draws the learning curves and the output spikes of the
first and last trials against the targets. ``[record] checkpoint_every = N`` writes a
checkpoint every N writes, from which ``neurosim run --resume`` continues bitwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import SpikingSimulator, spiking_simulator
from neurosim.checks import check_choice, check_number, describe
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.spiking import NEURON_KEYS
from neurosim.experiments.units import UnitCheckpoints
from neurosim.keys import Key, allows, check_table, integer, number
from neurosim.model.spiking import (
    FEEDBACK_KINDS,
    Feedback,
    LifParameters,
    Plasticity,
    SpikeTargets,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
from neurosim.progress import RunProgress
from neurosim.recording import ArraySpec, RunReader, RunStore, stop_on_signals
from neurosim.recording.location import StorePath
from neurosim.scenario.runner import RunSummary, stored_scenario
from neurosim.scenario.schema import Scenario

# the reference implementation's neuron (Zenke and Ganguli 2018; docs/superspike.md)
REFERENCE_NEURON = {
    "tau_membrane": 10.0,
    "tau_synapse": 5.0,
    "v_rest": -60.0,
    "v_reset": -60.0,
    "v_threshold": -50.0,
    "refractory": 5.0,
}
PLASTICITY_KEYS = {
    "beta": Key(number(), 1.0, doc="Slope of the surrogate gradient (1/mV)."),
    "tau_rise": Key(number(), 5.0, doc="Rise time constant of the double-exponential filter (ms)."),
    "tau_decay": Key(
        number(), 10.0, doc="Decay time constant of the double-exponential filter (ms)."
    ),
    "eta": Key(number(), 0.5, doc="Learning rate: the largest weight change per update (mV)."),
    "tau_rms": Key(
        number(), 30_000.0, doc="Time constant of the running normalisation of the updates (ms)."
    ),
    "epsilon": Key(
        number(), 1e-12, doc="Small number added in the normalisation so it never divides by 0."
    ),
    "update_every": Key(number(), 500.0, doc="Time between weight changes (ms)."),
    "w_min": Key(number(), -100.0, doc="Lowest weight (mV)."),
    "w_max": Key(number(), 100.0, doc="Highest weight (mV)."),
}


@allows("a table of LIF neuron keys (the reference's by default)", NEURON_KEYS)
def _neuron(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, {**REFERENCE_NEURON, **value}, NEURON_KEYS)
    LifParameters(**checked, where=name)
    return checked


@allows("a table of SuperSpike keys", PLASTICITY_KEYS)
def _plasticity(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, PLASTICITY_KEYS)
    Plasticity(rule="superspike", **checked, where=name)  # every bound, naming the key
    return checked


def _target_times(name: str, value: Any) -> list[list[float]]:
    """A list of times for every output, or one list per output"""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{name} = {describe(value)}: expected a list of times (ms)")
    lists = value if all(isinstance(item, list) for item in value) else [value]
    return [[check_number(f"{name}[{k}]", time) for k, time in enumerate(times)] for times in lists]


def _feedback_kinds(name: str, value: Any) -> list[str]:
    """One or a list of different kinds: random, symmetric"""
    kinds = value if isinstance(value, list) else [value]
    if not kinds or len(set(map(str, kinds))) != len(kinds):
        raise ValidationError(f"{name} = {describe(value)}: expected one or more different kinds")
    return [check_choice(f"{name}[{k}]", kind, FEEDBACK_KINDS) for k, kind in enumerate(kinds)]


KEYS = {
    "trials": Key(integer(1), required=True, doc="Trials run back to back."),
    "trial": Key(
        number(), 500.0, doc="Length of a trial (ms); the input pattern repeats every trial."
    ),
    "dt": Key(number(), 0.1, doc="Time step (ms)."),
    "inputs": Key(integer(1), 100, doc="Number of frozen Poisson inputs."),
    "rate": Key(number(), 5.0, doc="Rate of the input trains (Hz)."),
    "input_seed": Key(integer(0), 1, doc="Seed the input pattern is drawn from, once."),
    "hidden": Key(
        integer(0), 0, doc="Hidden LIF neurons (0: the inputs drive the outputs directly)."
    ),
    "outputs": Key(integer(1), 1, doc="Output LIF neurons."),
    "target_times": Key(
        _target_times, required=True, doc="Times in each trial each output must fire at (ms)."
    ),
    "weight_scale": Key(
        number(), 50.0, doc="Initial weights are normal with sd weight_scale / sqrt(fan-in) (mV)."
    ),
    "delay": Key(number(), 0.1, doc="Delay of the synapses from the inputs (ms)."),
    "hidden_delay": Key(number(), 0.8, doc="Delay of the hidden-to-output synapses (ms)."),
    "feedback": Key(
        _feedback_kinds,
        ["random"],
        doc="The feedback kinds compared, one network each: fixed random weights, or the forward "
        "weights.",
    ),
    "feedback_scale": Key(number(), 1.0, doc="Standard deviation of the random feedback weights."),
    "feedback_delay": Key(number(), 0.8, doc="Delay of the feedback edges (ms)."),
    "neuron": Key(_neuron, REFERENCE_NEURON, doc="The LIF neurons' parameters."),
    "plasticity": Key(_plasticity, {}, doc="The SuperSpike rule's parameters."),
    "last_trials": Key(integer(1), 10, doc="Trials at the end averaged for the final distance."),
    "write_every": Key(
        integer(1), 20, doc="Trials between writes to the store (and weight snapshots)."
    ),
}


def frozen_poisson(
    size: int, rate_hz: float, duration: float, dt: float, seed: int
) -> SpikeTimesInput:
    """One ``duration`` ms pattern of Poisson spikes on the grid (at most one per step and
    source), the same for a seed: the trial's input, repeated every trial."""
    steps = round(duration / dt)
    rng = np.random.default_rng(seed)
    fired = rng.random((steps, size)) < rate_hz * dt * 1e-3
    step, source = np.nonzero(fired)
    return SpikeTimesInput(size, step * dt, source, where="experiment.inputs", period=duration)


def conditions(settings: dict[str, Any]) -> list[str]:
    """The feedback kinds compared, or ``["none"]`` without a hidden layer."""
    return list(settings["feedback"]) if settings["hidden"] else ["none"]


def build_network(settings: dict[str, Any], seed: int, kind: str = "none") -> SpikingNetwork:
    """The network of a checked ``[experiment]`` table with ``kind`` feedback (``"none"``
    without a hidden layer); initial weights drawn from ``seed``, the same for every kind.
    Neurons: the hidden ones first, then the outputs."""
    dt = check_number("experiment.dt", settings["dt"], 0.0, low_open=True)
    trial = check_number("experiment.trial", settings["trial"], dt)
    n_in, n_hidden, n_out = settings["inputs"], settings["hidden"], settings["outputs"]
    lists = settings["target_times"]
    if len(lists) not in (1, n_out):
        raise ValidationError(
            f"experiment.target_times: {len(lists)} lists for {n_out} outputs; give one list "
            "for all outputs or one per output"
        )
    lists = lists * n_out if len(lists) == 1 else lists
    neurons = np.concatenate([np.full(len(times), n_hidden + k) for k, times in enumerate(lists)])
    times = np.concatenate([np.asarray(t, float) for t in lists])
    targets = SpikeTargets(neurons.astype(np.int64), times, trial, where="experiment.target_times")
    rule = settings["plasticity"]
    rng = np.random.default_rng(seed)
    first = n_hidden or n_out  # the layer the inputs drive
    in_source, in_post = all_to_all(n_in, first)
    sources, posts = [in_source], [in_post]
    weights = [rng.normal(0.0, settings["weight_scale"] / np.sqrt(n_in), in_source.size)]
    delays = [np.full(in_source.size, settings["delay"])]
    feedback = None
    if n_hidden:
        hidden_source, hidden_post = all_to_all(n_hidden, n_out, source_offset=n_in)
        sources.append(hidden_source)
        posts.append(hidden_post + n_hidden)
        scale = settings["weight_scale"] / np.sqrt(n_hidden)
        weights.append(rng.normal(0.0, scale, hidden_source.size))
        delays.append(np.full(hidden_source.size, settings["hidden_delay"]))
        senders = np.repeat(np.arange(n_out) + n_hidden, n_hidden)
        receivers = np.tile(np.arange(n_hidden), n_out)
        # the forward synapse hidden r -> output s, for symmetric feedback
        forward = in_source.size + receivers * n_out + (senders - n_hidden)
        random_weights = rng.normal(0.0, settings["feedback_scale"], senders.size)
        feedback = Feedback(
            kind, senders, receivers, settings["feedback_delay"], weight=random_weights,
            forward=forward, where="experiment.feedback",
        )  # fmt: skip
    weight = np.clip(np.concatenate(weights), rule["w_min"], rule["w_max"])
    return SpikingNetwork(
        dt=dt,
        neuron=LifParameters(**settings["neuron"], where="experiment.neuron"),
        n_neurons=n_hidden + n_out,
        inputs=(frozen_poisson(n_in, settings["rate"], trial, dt, settings["input_seed"]),),
        synapse_source=np.concatenate(sources),
        synapse_post=np.concatenate(posts),
        weight=weight,
        delay=np.concatenate(delays),
        plasticity=Plasticity(rule="superspike", **rule, where="experiment.plasticity"),
        targets=targets,
        feedback=feedback,
        where="experiment",
    )


def _prepare(scenario: Scenario) -> dict[str, tuple[SpikingNetwork, SpikingSimulator]]:
    """One network and simulator per feedback kind."""
    settings = scenario.settings
    seed, table_ = settings["scenario"]["seed"], settings["experiment"]
    prepared = {}
    for kind in conditions(table_):
        network = build_network(table_, seed, kind)
        simulator = spiking_simulator(settings["scenario"]["backend"])(network, seed)
        prepared[kind] = (network, simulator)
    return prepared


def run(scenario: Scenario, out: StorePath, overwrite: bool, progress: bool) -> RunSummary:
    settings = scenario.settings
    prepared = _prepare(scenario)
    table_ = settings["experiment"]
    n_in, n_hidden, n_out = table_["inputs"], table_["hidden"], table_["outputs"]
    roles, layers = ["input"] * n_in, [0] * n_in
    names = [f"input{k}" for k in range(n_in)]
    sources, posts = [], []
    for index, (kind, (network, _)) in enumerate(prepared.items()):
        offset = n_in + index * network.n_neurons  # this kind's neurons in the store
        roles += ["hidden"] * n_hidden + ["output"] * n_out
        layers += [1] * n_hidden + [2 if n_hidden else 1] * n_out
        prefix = "" if kind == "none" else f"{kind}/"
        names += [f"{prefix}hidden{k}" for k in range(n_hidden)]
        names += [f"{prefix}output{k}" for k in range(n_out)]
        from_input = network.synapse_source < n_in
        sources.append(np.where(from_input, network.synapse_source,
                                network.synapse_source - n_in + offset))  # fmt: skip
        posts.append(network.synapse_post + offset)
    store = RunStore.create(
        out,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": settings["scenario"]["seed"],
            "dt_ms": network.dt,
            "feedback": list(prepared),
        },
        neurons={"role": np.array(roles), "layer": np.array(layers), "name": np.array(names)},
        arrays={},
        recorded_neurons=np.empty(0, np.int64),
        edge_src=np.concatenate(sources),
        edge_dst=np.concatenate(posts),
        overwrite=overwrite,
        series={
            "trials": {
                "distance": ArraySpec(
                    ("trial", "feedback", "output"), (0, len(prepared), n_out), "float64"
                ),
                "output_spikes": ArraySpec(
                    ("trial", "feedback", "output"), (0, len(prepared), n_out), "int64"
                ),
            }
        },
        time_unit=f"{network.dt:g} ms",
    )
    return _carry_out(scenario, store, prepared, progress)


def resume(out: StorePath, progress: bool) -> RunSummary:
    """Continue the stopped run in ``out`` from its newest checkpoint (taken after a whole
    write of trials): it ends bitwise as the run that never stopped."""
    scenario = stored_scenario(out)
    prepared = _prepare(scenario)
    store, arrays, _ = RunStore.resume(out)
    for kind, (_, simulator) in prepared.items():
        prefix = f"{kind}."
        mine = {name[len(prefix) :]: v for name, v in arrays.items() if name.startswith(prefix)}
        simulator.restore(mine)
    return _carry_out(scenario, store, prepared, progress)


def _carry_out(
    scenario: Scenario,
    store: RunStore,
    prepared: dict[str, tuple[SpikingNetwork, SpikingSimulator]],
    progress: bool,
) -> RunSummary:
    settings, record = scenario.settings["experiment"], scenario.settings["record"]
    network, first = next(iter(prepared.values()))
    trial_steps = round(settings["trial"] / network.dt)
    n_hidden, n_out = settings["hidden"], settings["outputs"]
    targets = network.targets
    wanted = [targets.times[targets.neurons == n_hidden + k] for k in range(n_out)]
    tau_rise, tau_decay = network.plasticity.tau_rise, network.plasticity.tau_decay
    units = UnitCheckpoints(store, record.get("checkpoint_every", 0), record["checkpoint_keep"])
    done = first.step // trial_steps
    total, write_every = settings["trials"], settings["write_every"]
    bar = RunProgress(total=total, initial=done, unit="trial", delay=2.0, disable=not progress)
    n_store = settings["inputs"] + len(prepared) * network.n_neurons
    with store, stop_on_signals() as stop, bar, units.on_stop():
        while done < total:
            stop.check()
            spikes: list[tuple[np.ndarray, np.ndarray]] = []
            for _ in range(min(write_every, total - done)):
                distance = np.empty((len(prepared), n_out))
                counts = np.empty((len(prepared), n_out), dtype=np.int64)
                for index, (network, simulator) in enumerate(prepared.values()):
                    start = simulator.step * network.dt
                    piece = simulator.run(settings["trial"])
                    for output in range(n_out):
                        mine = piece.spike_time[piece.spike_neuron == n_hidden + output] - start
                        distance[index, output] = van_rossum(wanted[output], mine, tau_rise,
                                                             tau_decay)  # fmt: skip
                        counts[index, output] = mine.size
                    offset = settings["inputs"] + index * network.n_neurons
                    spikes.append((piece.spike_time, piece.spike_neuron + offset))
                store.append_series(
                    "trials", {"distance": distance[None], "output_spikes": counts[None]}
                )
                done += 1
                bar.update(1)
                bar.set_postfix(distance=f"{distance.mean():.3g}")
            times = np.concatenate([time for time, _ in spikes])
            if times.size:
                store.append_events(
                    {
                        "t": times,
                        "neuron": np.concatenate([neuron for _, neuron in spikes]),
                        "kind": np.zeros(times.size, dtype=np.int8),
                        "value": np.ones(times.size),
                    },
                    kinds=("spike",),
                )
            weights = np.concatenate([simulator.state.w for _, simulator in prepared.values()])
            store.snapshot_weights(first.step, weights, np.zeros(n_store))
            store.steps_simulated = first.step
            saved = {  # "kind.name": a "/" would nest groups the checkpoint does not read
                f"{kind}.{name}": values
                for kind, (_, simulator) in prepared.items()
                for name, values in simulator.checkpoint().items()
            }
            units.done(-(-done // write_every), saved, {})
        store.flush()
        metrics = _metrics(store, list(prepared), settings["last_trials"])
    return RunSummary(store.path, first.step, "complete", metrics)


def _metrics(store: RunStore, kinds: list[str], last_trials: int) -> dict[str, float]:
    from neurosim.recording import open_run

    distance = open_run(store.path).series("trials")["distance"].mean(axis=2)
    scalars, descriptions = {}, {}
    for index, kind in enumerate(kinds):
        suffix = "" if kind == "none" else f"_{kind}"
        first, last = float(distance[0, index]), float(distance[-last_trials:, index].mean())
        which = "" if kind == "none" else f", {kind} feedback"
        scalars[f"distance_first{suffix}"] = first
        descriptions[f"distance_first{suffix}"] = f"distance in the first trial{which}"
        scalars[f"distance_last{suffix}"] = last
        descriptions[f"distance_last{suffix}"] = f"mean distance over the last trials{which}"
        scalars[f"distance_reduction{suffix}"] = 1.0 - last / first if first > 0 else float("nan")
        descriptions[f"distance_reduction{suffix}"] = f"1 - last / first{which}"
    with store.metrics_together():
        for name, value in scalars.items():
            store.write_metric(name, value, (), {"description": descriptions[name]})
    return scalars


def superspike_figure(run: RunReader) -> Figure:
    """The van Rossum distance over trials (per feedback kind, mean over outputs), and the
    output spikes of the first and last trials against the targets (the first kind's)."""
    if "trials" not in run.series_names() or not len(run.series("trials")["distance"]):
        raise ValidationError(f"{run.path}: no trials recorded yet")
    settings = run.attributes["scenario"]["experiment"]
    kinds = run.attributes.get("feedback", ["none"])
    distance = run.series("trials")["distance"]
    trial, n_in = settings["trial"], settings["inputs"]
    n_hidden, n_out = settings["hidden"], settings["outputs"]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    trials = np.arange(1, distance.shape[0] + 1)
    window = min(25, trials.size)
    for index, kind in enumerate(kinds):
        curve = distance[:, index].mean(axis=1)
        which = "" if kind == "none" else f"{kind} feedback, "
        left.plot(trials, curve, alpha=0.35, color=f"C{index}", linewidth=0.8)
        smooth = np.convolve(curve, np.ones(window) / window, mode="valid")
        left.plot(trials[window - 1 :], smooth, color=f"C{index}",
                  label=f"{which}{window}-trial mean (faint: each trial)")  # fmt: skip
    left.set_yscale("symlog", linthresh=0.1)
    left.set(xlabel="trial", ylabel="van Rossum distance (mean over outputs)",
             title="distance to the targets")  # fmt: skip
    left.legend(fontsize="small")
    times = run.array("events", "t") if "events" in run.groups() else np.empty(0)
    neurons = run.array("events", "neuron") - n_in - n_hidden if times.size else np.empty(0)
    dt = float(run.attributes["dt_ms"])
    steps, trial_steps = np.rint(times / dt), round(trial / dt)
    lists = settings["target_times"]
    last = distance.shape[0] - 1
    for row, (label, index) in enumerate((("first trial", 0), ("last trial", last))):
        # the trial's spikes as its distance counted them: steps in (start, end]
        in_trial = (steps > index * trial_steps) & (steps <= (index + 1) * trial_steps)
        for output in range(n_out):
            y = row * (n_out + 1) + output
            wanted = lists[output] if len(lists) > 1 else lists[0]
            right.plot(wanted, [y + 0.3] * len(wanted), "|", color="tab:green", markersize=8)
            mine = times[in_trial & (neurons == output)] - index * trial
            right.plot(mine, [y] * mine.size, "|", color="black", markersize=8)
        right.text(trial, row * (n_out + 1), f" {label}", va="center")
    which = "" if kinds[0] == "none" else f", {kinds[0]} feedback"
    right.set(xlim=(0, trial), xlabel="time in the trial (ms)", yticks=[],
              title=f"outputs (black), targets (green){which}")  # fmt: skip
    name = run.attributes["scenario"]["scenario"]["name"]
    figure.suptitle(f"{name} ({run.attributes['backend']})")
    return figure


def plot(run: RunReader, path: Path) -> Path:
    """Write ``superspike_figure(run)`` to ``path`` as a PNG."""
    superspike_figure(run).savefig(path, dpi=100)
    return Path(path)


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
