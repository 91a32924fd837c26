"""SuperSpike on a layer of LIF neurons: ``[experiment] kind = "superspike"``.

``inputs`` frozen Poisson trains (``rate`` Hz, drawn once from ``input_seed``; the same
``trial`` ms pattern every trial) drive ``outputs`` LIF neurons (``[experiment.neuron]``,
the reference's constants by default) through synapses that learn by SuperSpike
(``[experiment.plasticity]``, ``kernels/superspike.py``) to fire at ``target_times`` (ms
within the trial, every trial; one list for every output or one list per output). Initial
weights are normal with sd ``weight_scale / sqrt(inputs)``, clipped to ``[w_min, w_max]``, as
in the reference. The network runs ``trials`` trials back to back on the scenario's backend
(``sync`` or ``event``, the same results).

After each trial the van Rossum distance of each output to its targets
(``analysis/spike_distance.py``) is appended to the series ``trials`` (and the weights are
snapshotted every ``write_every`` trials, when the trials' spikes are written); every output
spike goes to ``events/``. Metrics: the distance of the first
trial, the mean over the last ``last_trials`` trials, and the reduction between them; the
figure draws the distance over trials and the output spikes of the first and last trials
against the targets. ``[record] checkpoint_every = N`` writes a checkpoint every N writes (of
``write_every`` trials each), from which ``neurosim run --resume`` continues bitwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import SpikingSimulator, spiking_simulator
from neurosim.checks import check_number, describe
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.spiking import NEURON_KEYS
from neurosim.experiments.units import UnitCheckpoints
from neurosim.keys import Key, check_table, integer, number
from neurosim.model.spiking import (
    LifParameters,
    Plasticity,
    SpikeTargets,
    SpikeTimesInput,
    SpikingNetwork,
    all_to_all,
)
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
    "beta": Key(number(), 1.0),  # 1/mV
    "tau_rise": Key(number(), 5.0),  # ms
    "tau_decay": Key(number(), 10.0),  # ms
    "eta": Key(number(), 0.5),  # mV per update, at most (the reference's 5e-4 V)
    "tau_rms": Key(number(), 30_000.0),  # ms
    "epsilon": Key(number(), 1e-12),
    "update_every": Key(number(), 500.0),  # ms
    "w_min": Key(number(), -100.0),  # mV (the reference's -0.1 V)
    "w_max": Key(number(), 100.0),
}


def _neuron(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, {**REFERENCE_NEURON, **value}, NEURON_KEYS)
    LifParameters(**checked, where=name)
    return checked


def _plasticity(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, PLASTICITY_KEYS)
    Plasticity(rule="superspike", **checked, where=name)  # every bound, naming the key
    return checked


def _target_times(name: str, value: Any) -> list[list[float]]:
    """One list of times for every output, or one list per output."""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{name} = {describe(value)}: expected a list of times (ms)")
    lists = value if all(isinstance(item, list) for item in value) else [value]
    return [[check_number(f"{name}[{k}]", time) for k, time in enumerate(times)] for times in lists]


KEYS = {
    "trials": Key(integer(1), required=True),
    "trial": Key(number(), 500.0),  # ms
    "dt": Key(number(), 0.1),  # ms
    "inputs": Key(integer(1), 100),
    "rate": Key(number(), 5.0),  # Hz
    "input_seed": Key(integer(0), 1),
    "outputs": Key(integer(1), 1),
    "target_times": Key(_target_times, required=True),  # ms within the trial
    "weight_scale": Key(number(), 50.0),  # mV: initial sd is weight_scale / sqrt(inputs)
    "delay": Key(number(), 0.1),  # ms
    "neuron": Key(_neuron, REFERENCE_NEURON),
    "plasticity": Key(_plasticity, {}),
    "last_trials": Key(integer(1), 10),
    "write_every": Key(integer(1), 20),  # trials between writes (and weight snapshots)
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


def build_network(settings: dict[str, Any], seed: int) -> SpikingNetwork:
    """The network of a checked ``[experiment]`` table, initial weights drawn from ``seed``."""
    dt = check_number("experiment.dt", settings["dt"], 0.0, low_open=True)
    trial = check_number("experiment.trial", settings["trial"], dt)
    n_in, n_out = settings["inputs"], settings["outputs"]
    lists = settings["target_times"]
    if len(lists) not in (1, n_out):
        raise ValidationError(
            f"experiment.target_times: {len(lists)} lists for {n_out} outputs; give one list "
            "for all outputs or one per output"
        )
    lists = lists * n_out if len(lists) == 1 else lists
    neurons = np.concatenate([np.full(len(times), k) for k, times in enumerate(lists)])
    times = np.concatenate([np.asarray(t, float) for t in lists])
    targets = SpikeTargets(neurons.astype(np.int64), times, trial, where="experiment.target_times")
    source, post = all_to_all(n_in, n_out)
    rule = settings["plasticity"]
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, settings["weight_scale"] / np.sqrt(n_in), source.size)
    return SpikingNetwork(
        dt=dt,
        neuron=LifParameters(**settings["neuron"], where="experiment.neuron"),
        n_neurons=n_out,
        inputs=(frozen_poisson(n_in, settings["rate"], trial, dt, settings["input_seed"]),),
        synapse_source=source,
        synapse_post=post,
        weight=np.clip(weight, rule["w_min"], rule["w_max"]),
        delay=settings["delay"],
        plasticity=Plasticity(rule="superspike", **rule, where="experiment.plasticity"),
        targets=targets,
        where="experiment",
    )


def _prepare(scenario: Scenario) -> tuple[SpikingNetwork, SpikingSimulator]:
    settings = scenario.settings
    seed = settings["scenario"]["seed"]
    network = build_network(settings["experiment"], seed)
    simulator = spiking_simulator(settings["scenario"]["backend"])(
        network, seed, weights_every=None
    )
    return network, simulator


def run(scenario: Scenario, out: StorePath, overwrite: bool, progress: bool) -> RunSummary:
    settings = scenario.settings
    network, simulator = _prepare(scenario)
    n_in, n_out = network.n_inputs, network.n_neurons
    store = RunStore.create(
        out,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": settings["scenario"]["seed"],
            "dt_ms": network.dt,
        },
        neurons={
            "role": np.array(["input"] * n_in + ["output"] * n_out),
            "layer": np.array([0] * n_in + [1] * n_out),
            "name": np.array(
                [f"input{k}" for k in range(n_in)] + [f"output{k}" for k in range(n_out)]
            ),
        },
        arrays={},
        recorded_neurons=np.empty(0, np.int64),
        edge_src=network.synapse_source,
        edge_dst=network.synapse_post + n_in,
        overwrite=overwrite,
        series={
            "trials": {
                "distance": ArraySpec(("trial", "output"), (0, n_out), "float64"),
                "output_spikes": ArraySpec(("trial", "output"), (0, n_out), "int64"),
            }
        },
        time_unit=f"{network.dt:g} ms",
    )
    return _carry_out(scenario, store, network, simulator, progress)


def resume(out: StorePath, progress: bool) -> RunSummary:
    """Continue the stopped run in ``out`` from its newest checkpoint (taken after a whole
    trial): it ends bitwise as the run that never stopped."""
    scenario = stored_scenario(out)
    network, simulator = _prepare(scenario)
    store, arrays, _ = RunStore.resume(out)
    simulator.restore(arrays)
    return _carry_out(scenario, store, network, simulator, progress)


def _carry_out(
    scenario: Scenario,
    store: RunStore,
    network: SpikingNetwork,
    simulator: SpikingSimulator,
    progress: bool,
) -> RunSummary:
    settings, record = scenario.settings["experiment"], scenario.settings["record"]
    trial_steps = round(settings["trial"] / network.dt)
    targets = network.targets
    tau_rise, tau_decay = network.plasticity.tau_rise, network.plasticity.tau_decay
    units = UnitCheckpoints(store, record.get("checkpoint_every", 0), record["checkpoint_keep"])
    done = simulator.step // trial_steps
    total, write_every = settings["trials"], settings["write_every"]
    bar = tqdm(total=total, initial=done, unit="trial", delay=2.0, disable=not progress)
    bias = np.zeros(network.n_inputs + network.n_neurons)
    with store, stop_on_signals() as stop, bar, units.on_stop():
        while done < total:
            stop.check()
            spikes: list[tuple[np.ndarray, np.ndarray]] = []
            for _ in range(min(write_every, total - done)):
                start = simulator.step * network.dt
                piece = simulator.run(settings["trial"])
                distance = np.empty(network.n_neurons)
                counts = np.empty(network.n_neurons, dtype=np.int64)
                for neuron in range(network.n_neurons):
                    mine = piece.spike_time[piece.spike_neuron == neuron] - start
                    wanted = targets.times[targets.neurons == neuron]
                    distance[neuron] = van_rossum(wanted, mine, tau_rise, tau_decay)
                    counts[neuron] = mine.size
                spikes.append((piece.spike_time, piece.spike_neuron))
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
                        "neuron": np.concatenate([neuron for _, neuron in spikes])
                        + network.n_inputs,
                        "kind": np.zeros(times.size, dtype=np.int8),
                        "value": np.ones(times.size),
                    },
                    kinds=("spike",),
                )
            store.snapshot_weights(simulator.step, simulator.state.w, bias)
            store.steps_simulated = simulator.step
            units.done(-(-done // write_every), simulator.checkpoint(), {})
        store.flush()
        metrics = _metrics(store, settings["last_trials"])
    return RunSummary(store.path, simulator.step, "complete", metrics)


def _metrics(store: RunStore, last_trials: int) -> dict[str, float]:
    from neurosim.recording import open_run

    distance = open_run(store.path).series("trials")["distance"].mean(axis=1)
    first, last = float(distance[0]), float(distance[-last_trials:].mean())
    scalars = {
        "distance_first": first,
        "distance_last": last,
        "distance_reduction": 1.0 - last / first if first > 0 else float("nan"),
    }
    descriptions = {
        "distance_first": "distance to the targets in the first trial (mean over outputs)",
        "distance_last": "mean van Rossum distance over the last last_trials trials",
        "distance_reduction": "1 - distance_last / distance_first",
    }
    for name, value in scalars.items():
        store.write_metric(name, value, (), {"description": descriptions[name]})
    return scalars


def plot(run: RunReader, path: Path) -> Path:
    """The van Rossum distance over trials, and the output spikes of the first and last
    trials against the targets."""
    if "trials" not in run.series_names() or not len(run.series("trials")["distance"]):
        raise ValidationError(f"{run.path}: no trials recorded yet")
    settings = run.attributes["scenario"]["experiment"]
    distance = run.series("trials")["distance"]
    trial = settings["trial"]
    n_inputs = settings["inputs"]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    trials = np.arange(1, distance.shape[0] + 1)
    for output in range(distance.shape[1]):
        left.plot(
            trials, distance[:, output], label=f"output {output}" if distance.shape[1] > 1 else None
        )
    left.set_yscale("symlog", linthresh=0.1)
    left.set(xlabel="trial", ylabel="van Rossum distance", title="distance to the targets")
    if distance.shape[1] > 1:
        left.legend(fontsize="small")
    times = run.array("events", "t") if "events" in run.groups() else np.empty(0)
    neurons = run.array("events", "neuron") - n_inputs if times.size else np.empty(0)
    lists = settings["target_times"]
    last = distance.shape[0] - 1
    for row, (label, index) in enumerate((("first trial", 0), ("last trial", last))):
        in_trial = (times >= index * trial) & (times < (index + 1) * trial)
        for output in range(distance.shape[1]):
            y = row * (distance.shape[1] + 1) + output
            wanted = lists[output] if len(lists) > 1 else lists[0]
            right.plot(wanted, [y + 0.3] * len(wanted), "|", color="tab:green", markersize=10)
            mine = times[in_trial & (neurons == output)] - index * trial
            right.plot(mine, [y] * mine.size, "|", color="black", markersize=10)
        right.text(trial, row * (distance.shape[1] + 1), f" {label}", va="center")
    right.set(xlim=(0, trial), xlabel="time in the trial (ms)", yticks=[],
              title="output spikes (black) and targets (green)")  # fmt: skip
    figure.suptitle(
        f"{run.attributes['scenario']['scenario']['name']} ({run.attributes['backend']})"
    )
    figure.savefig(path, dpi=100)
    return Path(path)


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
