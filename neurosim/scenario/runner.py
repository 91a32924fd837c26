"""Running a checked scenario: network, streams, simulator, run store.

The phases' streams run one after another on one simulator, the state never reset; a phase's
model changes apply from its first step. The store receives the recorded arrays as the run
goes (in pieces of at most one time chunk, so memory stays bounded), a weight snapshot at the
end of every phase, and its final status: complete, failed (an exception, the store says
which) or interrupted (Ctrl-C or SIGTERM), always with everything recorded so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from neurosim import registry
from neurosim.backends.base import Simulator
from neurosim.errors import ValidationError
from neurosim.model import topology
from neurosim.model.network import CompiledNetwork, compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.progress import RunProgress
from neurosim.recording import (
    ArraySpec,
    RunStore,
    StopRequest,
    open_run,
    stop_on_signals,
)
from neurosim.recording.network import stored_graph
from neurosim.scenario.analyses import analysis_columns, analyze
from neurosim.scenario.schema import Scenario, check_scenario
from neurosim.streams import (
    Constant,
    Limit,
    PatternSequence,
    StartingAt,
    StepInput,
    Stream,
    Windows,
    cyclic_order,
    shuffled_epochs,
)

ROLE_SETS = {
    "visible": ("input", "output"),
    "input": ("input",),
    "output": ("output",),
    "hidden": ("hidden",),
    "all": ("input", "output", "hidden"),
}


@dataclass(frozen=True)
class RunSummary:
    """What a finished run reports: where the store is, how far it got, its metrics."""

    store: Path
    steps: int
    status: str
    metrics: dict[str, float]


def create_store(
    out: str | Path,
    network: CompiledNetwork,
    *,
    attributes: dict[str, Any],
    arrays: dict[str, ArraySpec],
    recorded_neurons: np.ndarray | None,
    time_chunk: int,
    overwrite: bool,
    series: dict[str, dict[str, ArraySpec]] | None = None,
    series_chunk: int | None = None,
) -> RunStore:
    """A new run store for ``network``: its neurons, synapses and weight dtype filled in
    (``series``: appendable series, see ``RunStore.create``)."""
    return RunStore.create(
        out,
        attributes=attributes,
        neurons={
            "role": np.array(topology.ROLES)[network.role],
            "layer": network.layer,
            "name": np.array([str(node) for node in network.node_ids]),
        },
        arrays=arrays,
        recorded_neurons=recorded_neurons,
        edge_src=network.edge_pre,
        edge_dst=network.edge_post,
        edge_delay=network.edge_delay,
        time_chunk=time_chunk,
        overwrite=overwrite,
        weight_dtype=network.dtype,
        series=series,
        series_chunk=series_chunk,
    )


def create_experiment_store(
    out: str | Path,
    network: CompiledNetwork,
    scenario: Scenario,
    *,
    kind: str,
    seeds: list[int],
    overwrite: bool,
    series: dict[str, dict[str, ArraySpec]] | None = None,
    series_chunk: int = 256,
    **attributes: Any,
) -> RunStore:
    """The run store of an experiment that writes metrics (and ``series``, rows of
    ``series_chunk`` per chunk; see ``RunStore.create``), no trajectory: root attributes
    ``scenario``, ``backend``, ``seed`` (the list), ``experiment``, ``seeds_done`` (0, raised
    as seeds finish) and ``attributes``."""
    return create_store(
        out,
        network,
        attributes={
            "scenario": scenario.settings,
            "backend": scenario.settings["scenario"]["backend"],
            "seed": seeds,
            "experiment": kind,
            "seeds_done": 0,
            **attributes,
        },
        arrays={},
        recorded_neurons=np.arange(0),
        time_chunk=1,
        overwrite=overwrite,
        series=series,
        series_chunk=series_chunk,
    )


def _builder_arguments(settings: dict[str, Any]) -> dict[str, Any]:
    """The arguments of the ``[topology]`` builder (the scenario's seed where it draws)."""
    table = settings["topology"]
    arguments = {
        key: value for key, value in table.items() if key not in ("builder", "layout", "seed")
    }
    if "seed" in topology.builder_parameters(table["builder"]):
        arguments["seed"] = table.get("seed", settings["scenario"]["seed"])
    return arguments


def check_network_size(settings: dict[str, Any]) -> None:
    """Refuse, before building it, a built network too large for the scenario's backend."""
    check_size = registry.backend(settings["scenario"]["backend"]).check_size
    table = settings["topology"]
    if check_size is None or "builder" not in table:
        return
    size = topology.BUILDER_SIZES[table["builder"]](**_builder_arguments(settings))
    try:
        check_size(*size)
    except ValidationError as error:
        raise ValidationError(f"topology (builder {table['builder']!r}): {error}") from None


def build_network(settings: dict[str, Any], scenario: Scenario) -> CompiledNetwork:
    """The compiled network of the ``[topology]`` section."""
    table = settings["topology"]
    seed = table.get("seed", settings["scenario"]["seed"])
    if "path" in table:
        graph = topology.read_graphml(table["path"])
    elif "from_store" in table:  # the stored weights and biases are kept by compile_graph
        graph = stored_graph(table["from_store"], table.get("snapshot"), "topology.snapshot")
    else:
        graph = topology.BUILDERS[table["builder"]](**_builder_arguments(settings))
    return compile_graph(graph, scenario.phase_parameters[0], seed=seed, layout=table["layout"])


def select_neurons(network: CompiledNetwork, spec: str | list[Any], key: str) -> np.ndarray:
    """Compiled indices of a neuron set ("visible", "hidden", ...) or of listed neuron names
    (``CompiledNetwork.neuron_index``)."""
    roles = np.array(topology.ROLES)[network.role]
    if isinstance(spec, str):
        chosen = np.flatnonzero(np.isin(roles, ROLE_SETS[spec]))
        if chosen.size == 0:
            raise ValidationError(f"{key} = {spec!r}: the network has no {spec} neurons")
        return chosen
    indices = [network.neuron_index(node, f"{key}[{k}]") for k, node in enumerate(spec)]
    return np.array(indices, dtype=np.int64)


def make_simulator(
    settings: dict[str, Any] | None,
    network: CompiledNetwork,
    params: ModelParameters,
    seed: int,
    steps: int,
    *,
    backend: str | None = None,
    initial_state_scale: float = 0.5,
) -> Simulator:
    """The simulator of the scenario's backend (or ``backend``; settings None: the default
    backend with its defaults) for a run of ``steps`` steps, built from the backend's
    section of the settings; a run too large for the backend is refused."""
    name = backend or (
        registry.DEFAULT_BACKEND if settings is None else settings["scenario"]["backend"]
    )
    return registry.backend(name).make(settings, network, params, seed, steps, initial_state_scale)


def phase_duration(phase: dict[str, Any], stream: Stream, key: str) -> int:
    """A phase's steps: its ``duration`` key, else its stream's (finite) duration."""
    if "duration" not in phase:
        assert stream.duration is not None  # the schema asks unbounded streams for a duration
        return stream.duration
    if stream.duration is not None and phase["duration"] > stream.duration:
        raise ValidationError(
            f"{key}.duration = {phase['duration']}: longer than its stream "
            f"({stream.duration} steps); allowed is [1, {stream.duration}], or leave out "
            "epochs for patterns that repeat without end"
        )
    return phase["duration"]


def build_stream(phase: dict[str, Any], network: CompiledNetwork, seed: int, key: str) -> Stream:
    """The stream of one ``[[phase]]`` table, on the network's neurons."""
    n = network.n_neurons
    neurons = select_neurons(network, phase["neurons"], f"{key}.neurons")
    kind = phase["stream"]
    if kind == "patterns":
        patterns = (
            np.eye(neurons.size)
            if phase["patterns"] == "one_hot"
            else np.array(phase["patterns"], dtype=float)
        )
        if patterns.shape[1] != neurons.size:
            raise ValidationError(
                f"{key}.patterns have {patterns.shape[1]} values; {key}.neurons selects "
                f"{neurons.size} neurons"
            )
        n_items = patterns.shape[0]
        epochs = phase.get("epochs")  # None: the patterns repeat without end
        if phase["order"] == "shuffled":
            order = shuffled_epochs(n_items, epochs, seed)
        else:
            length = None if epochs is None else n_items * epochs
            order = cyclic_order(n_items, phase["stride"], length=length)
        return PatternSequence(
            n, neurons, patterns, order, phase["steps_per_item"], clamp=phase["clamp"]
        )
    if kind == "constant":
        if len(phase["values"]) != neurons.size:
            raise ValidationError(
                f"{key}.values has {len(phase['values'])} values; {key}.neurons selects "
                f"{neurons.size} neurons"
            )
        return Constant(n, neurons, phase["values"], phase["duration"], clamp=phase["clamp"])
    if kind == "step":
        try:
            return StepInput(
                n,
                neurons,
                phase["low"],
                phase["high"],
                phase["on_step"],
                phase.get("off_step"),
                phase["duration"],
                clamp=phase["clamp"],
                cycles=phase.get("cycles", 1),
                period=phase.get("period"),
            )
        except ValidationError as error:  # the stream names its own keys: say whose they are
            raise ValidationError(f"{key}.{error}") from None
    windows = []
    for k, (neuron, start, length, value) in enumerate(phase["windows"]):
        index = network.neuron_index(neuron, f"{key}.windows[{k}][0]")
        windows.append((index, start, length, value))
    return Windows(n, windows, phase["duration"])


@dataclass(frozen=True)
class PhaseRun:
    """A scenario's phases, built and checked before its store is touched: the network, each
    phase's stream and steps, what is recorded, and the simulator at step 0."""

    scenario: Scenario
    network: CompiledNetwork
    streams: list[Stream]
    durations: list[int]
    phase_steps: dict[str, list[int]]
    specs: dict[str, ArraySpec]
    recorded: np.ndarray
    columns: list[int]
    simulator: Simulator


def prepare_phases(scenario: Scenario) -> PhaseRun:
    """Build and check everything a phases run needs, writing nothing (a ValidationError
    names the scenario file)."""
    settings = scenario.settings
    seed = settings["scenario"]["seed"]
    with _naming_source(scenario):
        check_network_size(settings)
        network = build_network(settings, scenario)
        streams = [
            build_stream(phase, network, seed, f"phase.{k}")
            for k, phase in enumerate(settings["phase"])
        ]
        record = settings["record"]
        recorded = select_neurons(network, record["neurons"], "record.neurons")
        columns = []
        if "analysis" in settings:
            columns = analysis_columns(settings["analysis"], network, recorded)
        copies = scenario.phase_parameters[0].spec.copies
        dtype = np.dtype(scenario.phase_parameters[0].dtype)
        specs = {name: _array_spec(name, copies, recorded.size, dtype) for name in record["arrays"]}
        durations = [
            phase_duration(phase, stream, f"phase.{k}")
            for k, (phase, stream) in enumerate(zip(settings["phase"], streams, strict=True))
        ]
        phase_steps = {}
        start = 0
        for phase, duration in zip(settings["phase"], durations, strict=True):
            phase_steps[phase["name"]] = [start, start + duration]
            start += duration
        simulator = make_simulator(settings, network, scenario.phase_parameters[0], seed, start)
    return PhaseRun(
        scenario, network, streams, durations, phase_steps, specs, recorded, columns, simulator
    )


def run_scenario(
    scenario: Scenario, out: str | Path, *, overwrite: bool = False, progress: bool = True
) -> RunSummary:
    """Run every phase of ``scenario`` and record it in a new run store at ``out``.

    Everything is built and checked before the store is created, so bad input writes nothing
    (the message names the scenario file).
    """
    run = prepare_phases(scenario)
    settings = scenario.settings
    store = create_store(
        out,
        run.network,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": settings["scenario"]["seed"],
            "phase_steps": run.phase_steps,
        },
        arrays=run.specs,
        recorded_neurons=run.recorded,
        time_chunk=settings["record"]["time_chunk"],
        overwrite=overwrite,
    )
    return _run_phases(run, store, progress, None)


def resume_scenario(out: str | Path, progress: bool = True) -> RunSummary:
    """Continue the stopped phases run in the store ``out`` from its newest valid checkpoint,
    with the settings it was started with: it ends with the trajectory, weights and metrics
    of the run that never stopped. The scenario is rebuilt and checked before the store is
    touched."""
    run = prepare_phases(stored_scenario(out))
    store, arrays, attributes = RunStore.resume(out)
    return _run_phases(run, store, progress, (arrays, attributes))


def stored_scenario(out: str | Path) -> Scenario:
    """The scenario the run in the store ``out`` was started with, checked again."""
    return check_scenario(open_run(out).attributes["scenario"], None)


def _run_phases(
    run: PhaseRun,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
) -> RunSummary:
    """Run the phases into ``store``, from step 0 or from the checkpoint ``saved``, writing a
    checkpoint every ``record.checkpoint_every`` steps and when SIGTERM or Ctrl-C stops it."""
    settings = run.scenario.settings
    record = settings["record"]
    simulator, network = run.simulator, run.network
    store.checkpoint_keep = record["checkpoint_keep"]
    snapshots = record["weight_snapshots"]  # true, false or an interval in steps
    clock = CheckpointClock(
        store,
        simulator,
        record.get("checkpoint_every", 0),
        0 if isinstance(snapshots, bool) else snapshots,
    )
    first_phase, offset = 0, 0
    if saved is not None:
        first_phase, offset = saved[1]["phase"], saved[1]["phase_step"]
    bar = RunProgress(
        total=sum(run.durations),
        initial=sum(run.durations[:first_phase]) + offset,
        unit="step",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    with store, stop_on_signals() as stop, bar:
        try:
            if snapshots and saved is None:
                _snapshot(store, simulator, network)
            phases = zip(
                settings["phase"],
                run.scenario.phase_parameters,
                run.streams,
                run.durations,
                strict=True,
            )
            for k, (phase, parameters, stream, duration) in enumerate(phases):
                if k < first_phase:
                    continue
                simulator.set_parameters(parameters)
                start = 0
                if saved is not None:  # after the phase's parameters, the saved state
                    simulator.restore(saved[0])
                    start, saved = offset, None
                clock.enter_phase(k, start)
                every = (
                    record["every"]
                    if record["phases"] == "all" or phase["name"] in record["phases"]
                    else 0
                )
                simulator.log_events(bool(every))  # events are logged in recorded phases
                recording = Recording(run.specs, run.recorded, every, network, clock)
                if start < duration:
                    rest = stream if start == 0 else StartingAt(stream, start)
                    simulator.follow(rest)
                    # one call per stretch of constant input: where calls end fixes when the
                    # synchronous backend writes its held-back weight changes, so its rounding
                    for change, until in Limit(rest, duration - start).segments():
                        _advance(simulator, until - change.step, store, recording, bar, stop)
                if snapshots:
                    _snapshot(store, simulator, network)
        except BaseException as error:
            try:
                if isinstance(error, KeyboardInterrupt):
                    clock.write_on_stop()
                _finish(store, simulator, network, bool(snapshots))
            except Exception as also:  # never hide what stopped the run
                error.add_note(f"saving the run's final state also failed: {also}")
            raise
        _finish(store, simulator, network, bool(snapshots))
        metrics = {}
        if "analysis" in settings:
            # before the store closes "complete": a run stopped while its metrics are written
            # is not complete
            store.flush()
            metrics = analyze(store, settings, run.phase_steps, run.columns)
    return RunSummary(store.path, simulator.step_count, store.status, metrics)


class CheckpointClock:
    """The checkpoints of a phases run: every ``every`` steps (0: none), and one when a stop
    signal ends the run between two pieces of steps; and the weight snapshots every
    ``snapshot_every`` steps (0: none), where a piece must end too. A checkpoint holds the
    simulator's arrays and where the run is: the phase, the step within it, the step count."""

    def __init__(
        self, store: RunStore, simulator: Simulator, every: int, snapshot_every: int
    ) -> None:
        self.store, self.simulator = store, simulator
        self.every, self.snapshot_every = every, snapshot_every
        self.phase = 0
        self.phase_start = 0
        self.written_at: int | None = None
        # the step count after the last whole piece: a state a checkpoint can hold
        self.settled_at: int | None = None

    def enter_phase(self, phase: int, start: int) -> None:
        """Phase ``phase`` goes on from its step ``start`` (0: it begins)."""
        self.phase = phase
        self.phase_start = self.simulator.step_count - start
        self.settled_at = self.simulator.step_count

    def steps_to_next(self) -> int | None:
        """Steps to the next periodic checkpoint or snapshot (None: neither comes)."""
        step = self.simulator.step_count
        ends = [every - step % every for every in (self.every, self.snapshot_every) if every]
        return min(ends) if ends else None

    def after_piece(self) -> None:
        """A piece of steps is done and recorded: write a checkpoint when one is due."""
        self.settled_at = self.simulator.step_count
        if self.every and self.settled_at % self.every == 0:
            self.write()

    def write_on_stop(self) -> None:
        """The checkpoint of a run that a stop signal ended between pieces (none where it
        ended elsewhere, or where this step has one already)."""
        step = self.simulator.step_count
        if self.settled_at == step and self.written_at != step and self.store.write_error is None:
            self.write()

    def write(self) -> None:
        step = self.simulator.step_count
        self.store.steps_simulated = step
        self.store.write_checkpoint(
            self.simulator.checkpoint(),
            {"phase": self.phase, "phase_step": step - self.phase_start, "step": step},
        )
        self.written_at = step


@contextmanager
def _naming_source(scenario: Scenario) -> Iterator[None]:
    """Prefix a ValidationError raised inside with the scenario's file, as the schema's."""
    try:
        yield
    except ValidationError as error:
        if scenario.source is None:
            raise
        raise ValidationError(f"{scenario.source}: {error}") from None


# Steps between two checks for a stop signal when nothing is recorded.
UNRECORDED_PIECE = 1000


def _array_spec(name: str, copies: int, n_recorded: int, dtype: np.dtype) -> ArraySpec:
    if name in ("state", "rate", "velocity"):
        return ArraySpec(("copy", "neuron"), (copies, n_recorded), dtype)
    if name == "fake_target":
        return ArraySpec(("neuron",), (n_recorded,), np.bool_)
    return ArraySpec(("neuron",), (n_recorded,), dtype)


@dataclass(frozen=True)
class Recording:
    """What ``_advance`` records: the arrays (``specs``) of the ``recorded`` neurons every
    ``every`` steps (0: none), the weights of ``network`` every ``clock.snapshot_every``
    steps (0: none), and the checkpoints of ``clock``."""

    specs: dict[str, ArraySpec]
    recorded: np.ndarray
    every: int
    network: CompiledNetwork
    clock: CheckpointClock


def _advance(
    simulator: Simulator,
    steps: int,
    store: RunStore,
    recording: Recording,
    bar: tqdm,
    stop: StopRequest,
) -> None:
    """``steps`` steps, recorded as ``recording`` says, in pieces of bounded memory; a stop
    signal is honoured between pieces, never inside a write."""
    specs, every = recording.specs, recording.every
    piece = every * store.time_chunk if every else UNRECORDED_PIECE
    while steps > 0:
        count = min(piece, steps)
        due = recording.clock.steps_to_next()
        if due is not None:  # end the piece at the next snapshot or checkpoint
            count = min(count, due)
        values = simulator.run(
            count, record_every=every, record=tuple(specs), record_neurons=recording.recorded
        )
        store.steps_simulated = simulator.step_count
        if values and values["time"].size:
            # batch size 1: drop the batch axis the simulator keeps
            store.append(
                values["time"],
                {
                    name: (
                        values[name][:, :, 0]
                        if specs[name].dims[0] == "copy"
                        else values[name][:, 0]
                    )
                    for name in specs
                },
            )
        events = simulator.take_events()
        if events["time"].size:
            store.append_events(events, simulator.event_kinds)
        snapshot_every = recording.clock.snapshot_every
        if snapshot_every and simulator.step_count % snapshot_every == 0:
            _snapshot(store, simulator, recording.network)
        recording.clock.after_piece()
        steps -= count
        bar.update(count)
        stop.check()


def _snapshot(store: RunStore, simulator: Simulator, network: CompiledNetwork) -> None:
    """Write the current weights, unless a snapshot of this step is already written."""
    if store.last_snapshot_time != simulator.step_count:
        store.snapshot_weights(simulator.step_count, network.edge_weights(), network.bias)


def _finish(
    store: RunStore, simulator: Simulator, network: CompiledNetwork, snapshots: bool
) -> None:
    """What a run writes however it ends (an exception, SIGTERM, Ctrl-C, a divergence): the
    steps simulated, the weights learned so far as the last snapshot, the simulator's
    attributes; after a failed write (a full disk) only what ``close`` writes."""
    store.steps_simulated = simulator.step_count
    if store.write_error is not None:
        return
    if snapshots:
        _snapshot(store, simulator, network)
    for key, value in simulator.run_attributes().items():
        store.set_attribute(key, value)
