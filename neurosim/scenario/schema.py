"""Scenario files: TOML read with the standard library, every key checked before any work.

A scenario has the sections ``[scenario]``, ``[model]`` (a preset from ``models/`` plus
overrides), ``[topology]`` (a builder and its arguments, ``path`` to a GraphML file, or
``from_store``: the trained network of a run store), ``[[phase]]`` (what the data stream
does, one phase after another, each optionally changing model parameters from its start)
and ``[record]``. An unknown key, a wrong type, an
out-of-range value or a missing file gives one ValidationError naming the dotted key, the value
and what is allowed. ``--set key.path=value`` overrides are applied to the parsed file and
checked the same way (``phase.1.duration`` addresses the second phase). An override that
gives the topology's source (``builder``, ``path`` or ``from_store``) replaces the file's
source with its arguments, and a relative path given on the command line is taken from the
working directory, while one written in the file is taken from the file's folder.

An experiment that trains then tests may declare the key ``test_model``
(``neurosim.experiments.TEST_MODEL_KEY``): ``[experiment.test_model]`` holds any ``[model]``
keys, merged over the training model like a phase's ``[phase.model]`` and checked by the same
code under its own dotted names; ``Scenario.test_parameters`` is the result.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from neurosim.analysis.adaptation import check_layout as check_adaptation_layout
from neurosim.analysis.rivalry import OFF_LEVEL, ON_LEVEL, check_levels
from neurosim.backends.base import RECORDABLE
from neurosim.builtin import scenario_path
from neurosim.checks import check_choice, check_integer, check_number, describe, read_toml
from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL
from neurosim.keys import (
    Key,
    allows,
    boolean,
    check_table,
    choice,
    integer,
    number,
    number_list,
    seed,
    table,
    text,
)
from neurosim.model.network import LAYOUTS
from neurosim.model.parameters import ModelParameters
from neurosim.model.presets import available_presets, load_preset, parameters_from_mapping
from neurosim.model.topology import BUILDERS, builder_parameters
from neurosim.recording.network import stored_graph
from neurosim.registry import DEFAULT_BACKEND, backend, backend_names, experiment, experiment_kinds

ORDERS = ("shuffled", "cyclic")
NEURON_SETS = ("visible", "input", "output", "hidden", "all")


def _patterns(name: str, value: Any) -> str | list[list[float]]:
    """ "one_hot" or a list of patterns (lists of numbers, all of one length)"""
    if value == "one_hot":
        return value
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f'{name} = {describe(value)}: expected "one_hot" or a list of patterns (lists)'
        )
    rows = [number_list()(f"{name}[{k}]", row) for k, row in enumerate(value)]
    if len({len(row) for row in rows}) > 1:
        raise ValidationError(f"{name}: the patterns have different lengths")
    return rows


@allows(f"one of {', '.join(NEURON_SETS)}, or a list of neuron ids")
def _neurons(name: str, value: Any) -> str | list[Any]:
    if isinstance(value, str):
        return check_choice(name, value, NEURON_SETS)
    if isinstance(value, list) and value:
        return [_neuron_name(f"{name}[{k}]", item) for k, item in enumerate(value)]
    raise ValidationError(
        f"{name} = {describe(value)}: expected one of {', '.join(NEURON_SETS)} or a list of "
        "neuron ids"
    )


def _windows(name: str, value: Any) -> list[list[float]]:
    """A list of [neuron id, start step, length in steps, target value]"""
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{name} = {describe(value)}: expected a list of [neuron, start, length, value]"
        )
    windows = []
    for k, window in enumerate(value):
        if not isinstance(window, list) or len(window) != 4:
            raise ValidationError(
                f"{name}[{k}] = {describe(window)}: expected [neuron, start, length, value]"
            )
        windows.append(
            [
                _neuron_name(f"{name}[{k}][0]", window[0]),
                check_integer(f"{name}[{k}][1]", window[1], 0),
                check_integer(f"{name}[{k}][2]", window[2], 1),
                check_number(f"{name}[{k}][3]", window[3]),
            ]
        )
    return windows


def _neuron_name(name: str, value: Any) -> int | str:
    """A neuron's name: its GraphML node id, or a builder's number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{name} = {describe(value)}: expected a neuron's id (name)")
    return value


@allows(f"list of {', '.join(RECORDABLE)}")
def _record_arrays(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValidationError(f"{name} = {describe(value)}: expected a list of array names")
    return [check_choice(f"{name}[{k}]", item, RECORDABLE) for k, item in enumerate(value)]


def _snapshot_interval(name: str, value: Any) -> bool | int:
    """true, false, or an interval in steps >= 1"""
    if isinstance(value, bool):
        return value
    if not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{name} = {describe(value)}: expected true, false or an interval in steps >= 1"
        )
    return value


def _phase_names(name: str, value: Any) -> list[str] | str:
    """ "all" or a list of phase names"""
    if value == "all":
        return value
    if not isinstance(value, list):
        raise ValidationError(f'{name} = {describe(value)}: expected "all" or a list of names')
    return [text(f"{name}[{k}]", item) for k, item in enumerate(value)]


def _sizes(name: str, value: Any) -> list[int]:
    """A list of at least 2 layer sizes, each an integer >= 1"""
    if not isinstance(value, list) or len(value) < 2:
        raise ValidationError(f"{name} = {describe(value)}: expected a list of at least 2 sizes")
    return [check_integer(f"{name}[{k}]", size, 1) for k, size in enumerate(value)]


def _number_or_list(name: str, value: Any) -> float | list[float]:
    """A number, or a list of numbers (one per neuron of the phase)"""
    return number_list()(name, value) if isinstance(value, list) else check_number(name, value)


SCENARIO_KEYS = {
    "name": Key(text, required=True, doc="The run's name, stored with it and shown in summaries."),
    "description": Key(text, "", doc="What the scenario is for, in a sentence or two."),
    "backend": Key(
        choice(backend_names()),
        DEFAULT_BACKEND,
        doc="The simulator that runs the scenario: sync (lock-step, batched) or event (each "
        "neuron on its own clock); --backend overrides it.",
    ),
    "seed": Key(
        seed,
        0,
        doc="The master seed every random draw derives from (initial weights and states, "
        "shuffled orders, noise, random topologies); --seed overrides it.",
    ),
}
TOPOLOGY_KEYS = {
    "builder": Key(
        choice(tuple(BUILDERS)),
        doc="The builder that makes the network (the section's note lists each builder's "
        "arguments); give one of builder, path, from_store.",
    ),
    "path": Key(
        text,
        doc="A GraphML topology file, relative to the scenario file's folder (given on the "
        "command line: to the working directory); give one of builder, path, from_store.",
    ),
    "from_store": Key(
        text,
        doc="A run store whose network starts this run: its neurons, synapses, delays and the "
        "weights and biases of one weight snapshot (docs/topologies.md); give one of builder, "
        "path, from_store.",
    ),
    "snapshot": Key(
        integer(0),
        doc="The weight snapshot from_store starts from, 0 the first; absent: the last.",
    ),
    "n_input": Key(integer(1), doc="Number of input neurons (recurrent builders)."),
    "n_output": Key(
        integer(0),
        doc="Number of output neurons (recurrent builders; 0: every visible neuron is an input).",
    ),
    "n_hidden": Key(integer(1), doc="Number of hidden neurons (recurrent builders)."),
    "sizes": Key(
        _sizes,
        doc="Layer sizes from the input layer to the output layer (layered builder), e.g. "
        "[784, 512, 10].",
    ),
    "lateral": Key(
        boolean,
        doc="Whether the neurons inside each hidden layer are connected all-to-all (layered "
        "builder; default false).",
    ),
    "in_degree": Key(
        integer(0),
        doc="Presynaptic hidden neurons drawn for each hidden neuron (sparse_random; give this "
        "or probability).",
    ),
    "probability": Key(
        number(0.0, 1.0),
        doc="Probability of each hidden-to-hidden synapse (sparse_random; give this or in_degree).",
    ),
    "visible_density": Key(
        number(0.0, 1.0),
        doc="Share of the visible<->hidden synapses kept, each direction drawn independently "
        "(sparse_random; default 1).",
    ),
    "k": Key(
        integer(2),
        doc="Nearest neighbours each hidden neuron joins on the ring, an even number "
        "(small_world).",
    ),
    "rewire_probability": Key(
        number(0.0, 1.0),
        doc="Probability that each ring edge is rewired to a random neuron (small_world).",
    ),
    "seed": Key(
        seed,
        doc="Seed of a builder that draws at random (sparse_random, small_world); absent: the "
        "scenario's seed.",
    ),
    "layout": Key(
        choice(LAYOUTS),
        "auto",
        doc="How the weights are stored: dense blocks, sparse (CSR) rows, or chosen per layer "
        "pair by its density (auto); results are the same.",
    ),
}
TOPOLOGY_SOURCES = ("builder", "path", "from_store")
"""The ``[topology]`` keys that say where the network comes from; a scenario gives one."""
COMMAND_LINE_PATHS = (("topology", "path"), ("topology", "from_store"))
"""Path-valued keys that a ``--set`` (or ``--topology``) gives relative to the working
directory; written in a scenario file, they are relative to the file's folder."""

# each stream kind and the phase keys it needs
PHASE_NEEDS = {
    "patterns": ("patterns", "steps_per_item"),
    "constant": ("values", "duration"),
    "step": ("on_step", "duration"),
    "windows": ("windows", "duration"),
}
STREAM_KINDS = tuple(PHASE_NEEDS)
PHASE_KEYS = {
    "name": Key(
        text, doc="The phase's name, used by record.phases and analysis.phase (default phaseK)."
    ),
    "stream": Key(
        choice(STREAM_KINDS),
        required=True,
        doc="What the data do in this phase: patterns shown in turn, a constant input, a step "
        "input switched on and off, or timed windows.",
    ),
    "neurons": Key(
        _neurons,
        "visible",
        doc="The neurons the stream clamps: a role set or a list of neuron ids (not used by "
        "windows, whose entries name their neuron).",
    ),
    "clamp": Key(
        number(0.0, 1.0),
        1.0,
        doc="How strongly the data are clamped: a factor on the model's beta (1: full, 0: free).",
    ),
    "duration": Key(
        integer(1),
        doc="Length of the phase in integration steps; a patterns phase without epochs "
        "repeats its patterns without end until then.",
    ),
    # patterns
    "patterns": Key(
        _patterns,
        doc="patterns stream: the targets shown, one value per selected neuron each, or "
        "one_hot (one pattern per neuron).",
    ),
    "order": Key(
        choice(ORDERS),
        "shuffled",
        doc="patterns stream: each epoch in a new random order, or cyclically with stride.",
    ),
    "stride": Key(
        integer(),
        1,
        doc="patterns stream, cyclic order: item i is followed by item i + stride (modulo the "
        "number of patterns; negative runs backwards).",
    ),
    "epochs": Key(
        integer(1),
        doc="patterns stream: passes over all patterns; absent: they repeat until duration.",
    ),
    "steps_per_item": Key(
        integer(1), doc="patterns stream: integration steps each pattern is held."
    ),
    # constant
    "values": Key(
        number_list(), doc="constant stream: the target of each selected neuron, held throughout."
    ),
    # step
    "low": Key(
        _number_or_list,
        0.0,
        doc="step stream: the target before on_step and after off_step (one value or one per "
        "neuron).",
    ),
    "high": Key(
        _number_or_list,
        1.0,
        doc="step stream: the target from on_step to off_step (one value or one per neuron).",
    ),
    "on_step": Key(
        integer(0), doc="step stream: the step (from the phase's start) the input switches high."
    ),
    "off_step": Key(
        integer(0),
        doc="step stream: the step it switches back to low; absent: it stays high.",
    ),
    "cycles": Key(
        integer(1), doc="step stream: how many times the on/off step repeats (default 1)."
    ),
    "period": Key(
        integer(1), doc="step stream: steps between the starts of two cycles (with cycles > 1)."
    ),
    # windows
    "windows": Key(
        _windows,
        doc="windows stream: each entry clamps one neuron to a value for length steps from start.",
    ),
    "model": Key(
        allows("a table of [model] keys")(table),
        doc="Model parameters changed from this phase on (rates, clamping, noise, fake "
        "targets; not rule, dtype or activation).",
    ),  # checked against the model below
}
CHECKPOINT_KEYS = {
    # a checkpoint every N steps (experiments: N of their own units); absent: only on SIGTERM
    # or Ctrl-C
    "checkpoint_every": Key(
        integer(1),
        doc="A checkpoint for --resume every this many steps (an experiment: of its own unit); "
        "absent: only when the run is stopped.",
    ),
    "checkpoint_keep": Key(
        integer(2), 2, doc="How many of the latest checkpoints the store keeps."
    ),
}
"""The ``[record]`` keys every scenario kind takes, experiments too."""

RECORD_KEYS = {
    "arrays": Key(
        _record_arrays,
        ["state", "dz", "fake_target"],
        doc="The per-neuron arrays written to the store's trajectory group.",
    ),
    "every": Key(integer(1), 1, doc="Record one time point every this many integration steps."),
    "neurons": Key(_neurons, "all", doc="The neurons recorded: a role set or a list of ids."),
    "phases": Key(_phase_names, "all", doc="The phases recorded (by name)."),
    "time_chunk": Key(
        integer(1),
        1024,
        doc="Recorded time points per chunk of the store's arrays (a storage setting; "
        "results are the same).",
    ),
    "weight_snapshots": Key(
        _snapshot_interval,
        True,
        doc="Weight snapshots: true at the start, at each phase's end and when the run stops; "
        "an interval adds one every that many steps; false none.",
    ),
    **CHECKPOINT_KEYS,
}


def _neuron_pair(name: str, value: Any) -> list[Any]:
    """A list of the ids of two neurons"""
    if not isinstance(value, list) or len(value) != 2:
        raise ValidationError(f"{name} = {describe(value)}: expected the ids of two neurons")
    return [_neuron_name(f"{name}[{k}]", item) for k, item in enumerate(value)]


_ANALYSIS_KIND = "The analysis: rivalry or adaptation."
_ANALYSIS_PHASE = (
    "The name of the phase analysed; it must be recorded, with state among the arrays."
)
_ANALYSIS_COPY = "The state copy analysed (0: the small-beta copy of a two-copy rule)."
ANALYSIS_KEYS = {
    "rivalry": {
        "kind": Key(text, required=True, doc=_ANALYSIS_KIND),
        "phase": Key(text, required=True, doc=_ANALYSIS_PHASE),
        "units": Key(
            _neuron_pair, required=True, doc="The two competing neurons, a and b, by their ids."
        ),
        "hysteresis": Key(
            number(0.0),
            0.2,
            doc="A unit dominates from the step its state leads the other's by more than this "
            "(state units).",
        ),
        "on_level": Key(
            number(),
            ON_LEVEL,
            doc="A pattern shows where its unit's state is at least this and the other's at "
            "most off_level.",
        ),
        "off_level": Key(
            number(),
            OFF_LEVEL,
            doc="The suppressed unit's level at most for a clean pattern; below on_level.",
        ),
        "copy": Key(integer(0, 1), 0, doc=_ANALYSIS_COPY),
    },
    "adaptation": {
        "kind": Key(text, required=True, doc=_ANALYSIS_KIND),
        "phase": Key(
            text,
            required=True,
            doc=_ANALYSIS_PHASE + " It must be a step phase recorded every step.",
        ),
        "unit": Key(_neuron_name, required=True, doc="The neuron whose response is measured."),
        "settle": Key(
            integer(1),
            100,
            doc="Steps averaged for the settled levels (before switch-on, at the end of on and "
            "of off).",
        ),
        "window": Key(
            integer(1),
            doc="Steps after each switch searched for the overshoot or undershoot; absent: settle.",
        ),
        "copy": Key(integer(0, 1), 0, doc=_ANALYSIS_COPY),
    },
}


def backend_sections() -> tuple[str, ...]:
    """The backends that have a section of their own, named after them."""
    return tuple(name for name in backend_names() if backend(name).keys is not None)


def _sections() -> tuple[str, ...]:
    return (
        "scenario",
        "model",
        "topology",
        *backend_sections(),
        "phase",
        "record",
        "analysis",
        "experiment",
    )


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: the resolved settings (JSON-able) and the model parameters of each
    phase. ``source`` is the file it came from (for relative paths and messages).
    ``test_parameters``: the model the test stage of an experiment that declares
    ``test_model`` runs with (the training model where ``[experiment.test_model]`` is not
    given); None for other scenarios."""

    settings: dict[str, Any]
    phase_parameters: tuple[ModelParameters, ...]
    source: Path | None
    test_parameters: ModelParameters | None = None

    @property
    def name(self) -> str:
        return self.settings["scenario"]["name"]


def _model_mapping(prefix: str, table: Any, base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (a parameters mapping) updated by ``table``, nested tables merged."""
    if not isinstance(table, Mapping):
        raise ValidationError(f"{prefix} = {describe(table)}: expected a table")
    merged = copy.deepcopy(dict(base))
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _parameters_mapping(parameters: ModelParameters) -> dict[str, Any]:
    """The parameters as a plain mapping (an absent oscillator left out)."""
    return {key: value for key, value in asdict(parameters).items() if value is not None}


def _changed_model(
    prefix: str, table: Any, current: Mapping[str, Any], trained: ModelParameters
) -> ModelParameters:
    """The parameters ``current`` with the ``[model]`` keys of ``table`` merged over them, for a
    stage of a run (a phase, an experiment's test): rates, clamping, noise and fake targets may
    change, the equations the network was built for may not."""
    changed = parameters_from_mapping(_model_mapping(prefix, table, current), prefix)
    for name in ("rule", "dtype", "activation"):
        if getattr(changed, name) != getattr(trained, name):
            raise ValidationError(
                f"{prefix}.{name} = {getattr(changed, name)!r}: a phase or test stage may "
                "change rates, clamping, noise and fake targets, not model.rule, model.dtype "
                f"or model.activation (here {getattr(trained, name)!r})"
            )
    return changed


def check_scenario(raw: Mapping[str, Any], source: Path | None = None) -> Scenario:
    """Check a parsed scenario and resolve its model parameters (one set per phase)."""
    sections = _sections()
    for section in raw:
        if section not in sections:
            raise ValidationError(
                f"{section} = {describe(raw[section])}: unknown section; allowed sections are "
                f"{', '.join(sections)}"
            )
    settings: dict[str, Any] = {
        "scenario": check_table("scenario", raw.get("scenario", {}), SCENARIO_KEYS)
    }
    model_table = raw.get("model", {})
    if not isinstance(model_table, Mapping):
        raise ValidationError(f"model = {describe(model_table)}: expected a table")
    model_table = dict(model_table)
    preset = model_table.pop("preset", None)
    base = (
        _parameters_mapping(load_preset(text("model.preset", preset)))
        if preset is not None
        else _parameters_mapping(ModelParameters())
    )
    model = _model_mapping("model", model_table, base)
    parameters = parameters_from_mapping(model, "model")
    settings["model"] = _parameters_mapping(parameters) | (
        {"preset": preset} if preset is not None else {}
    )
    for name in backend_sections():
        own = backend(name)
        settings[name] = check_table(name, raw.get(name, {}), own.keys)
        for key, reason in own.exclusive_keys.items():
            if key in settings[name] and settings["scenario"]["backend"] != name:
                raise ValidationError(
                    f"{name}.{key} {reason}; set scenario.backend = '{name}' (or run with "
                    f"--backend {name})"
                )
    if "experiment" in raw:
        return _check_experiment(raw, settings, parameters, source)
    settings["topology"] = _check_topology(raw.get("topology"), source)
    phases = raw.get("phase")
    if not isinstance(phases, list) or not phases:
        raise ValidationError(f"phase = {describe(phases)}: expected at least one [[phase]] table")
    settings["phase"] = []
    phase_parameters = []
    current = _parameters_mapping(parameters)
    for k, phase in enumerate(phases):
        prefix = f"phase.{k}"
        checked = check_table(prefix, phase, PHASE_KEYS)
        checked.setdefault("name", f"phase{k}")
        for needed in PHASE_NEEDS[checked["stream"]]:
            if needed not in checked:
                raise ValidationError(
                    f"{prefix}.{needed} is missing; a {checked['stream']!r} phase needs "
                    f"{', '.join(PHASE_NEEDS[checked['stream']])}"
                )
        if (
            checked["stream"] == "patterns"
            and "epochs" not in checked
            and "duration" not in checked
        ):
            raise ValidationError(
                f"{prefix}: a 'patterns' phase needs epochs, or duration (the patterns then "
                "repeat without end and the phase stops after duration steps)"
            )
        if "model" in checked:
            changed = _changed_model(f"{prefix}.model", checked["model"], current, parameters)
            current = _parameters_mapping(changed)
        phase_parameters.append(parameters_from_mapping(current, f"{prefix}.model"))
        settings["phase"].append(checked)
    names = [phase["name"] for phase in settings["phase"]]
    if len(set(names)) != len(names):
        raise ValidationError(f"phase names repeat: {names}; give each phase its own name")
    settings["record"] = check_table("record", raw.get("record", {}), RECORD_KEYS)
    if settings["record"]["phases"] != "all":
        for name in settings["record"]["phases"]:
            if name not in names:
                raise ValidationError(
                    f"record.phases: {name!r} is not a phase; phases are {', '.join(names)}"
                )
    if "analysis" in raw:
        table = raw["analysis"]
        kind = check_choice(
            "analysis.kind",
            table.get("kind") if isinstance(table, Mapping) else None,
            tuple(ANALYSIS_KEYS),
        )
        analysis = check_table("analysis", table, ANALYSIS_KEYS[kind])
        if analysis["phase"] not in names:
            raise ValidationError(
                f"analysis.phase = {analysis['phase']!r}: not a phase; phases are "
                f"{', '.join(names)}"
            )
        if settings["record"]["phases"] != "all" and (
            analysis["phase"] not in settings["record"]["phases"]
        ):
            raise ValidationError(
                f"analysis.phase = {analysis['phase']!r} is not recorded; add it to record.phases"
            )
        if "state" not in settings["record"]["arrays"]:
            raise ValidationError(
                f'analysis: the {kind} analysis reads the states; add "state" to record.arrays'
            )
        if kind == "rivalry":
            check_levels(analysis["on_level"], analysis["off_level"], "analysis.")
        if kind == "adaptation":
            phase = settings["phase"][names.index(analysis["phase"])]
            if phase["stream"] != "step" or settings["record"]["every"] != 1:
                raise ValidationError(
                    f"analysis.phase = {analysis['phase']!r}: the adaptation analysis needs a "
                    "'step' phase recorded every step (record.every = 1)"
                )
            # one cycle runs to the phase's end; without a period the stream refuses cycles
            one_cycle = phase.get("cycles", 1) == 1
            cycle = phase["duration"] - phase["on_step"] if one_cycle else phase.get("period")
            off = phase.get("off_step", phase["duration"])
            try:  # before anything runs, not after the simulation
                if cycle is not None:
                    check_adaptation_layout(
                        phase["on_step"], off, cycle, analysis["settle"], analysis.get("window")
                    )
            except ValidationError as error:
                raise ValidationError(f"analysis: {error}") from None
        if analysis["copy"] >= parameters.spec.copies:
            raise ValidationError(
                f"analysis.copy = {analysis['copy']}: the model has {parameters.spec.copies} "
                "state copy"
            )
        settings["analysis"] = analysis
    return Scenario(settings, tuple(phase_parameters), source)


def _check_experiment(
    raw: Mapping[str, Any],
    settings: dict[str, Any],
    parameters: ModelParameters,
    source: Path | None,
) -> Scenario:
    """A scenario whose ``[experiment]`` table runs a protocol of its own."""
    table = raw["experiment"]
    if not isinstance(table, Mapping):
        raise ValidationError(f"experiment = {describe(table)}: expected a table")
    kind = check_choice("experiment.kind", table.get("kind"), experiment_kinds())
    keys = {"kind": Key(text, required=True), **experiment(kind).keys}
    settings["experiment"] = check_table("experiment", table, keys)
    for section in ("topology", "phase", "analysis"):
        if section in raw:
            flags = " (--topology does not apply to it)" if section == "topology" else ""
            raise ValidationError(
                f"{section}: the {kind} experiment builds its own network, streams and "
                f"records; set them in [experiment]{flags}"
            )
    record = raw.get("record", {})
    if isinstance(record, Mapping) and set(record) - set(CHECKPOINT_KEYS):
        other = sorted(set(record) - set(CHECKPOINT_KEYS))[0]
        raise ValidationError(
            f"record.{other}: the {kind} experiment records what it needs itself; its [record] "
            f"takes only {', '.join(CHECKPOINT_KEYS)}"
        )
    settings["record"] = check_table("record", record, CHECKPOINT_KEYS)
    _share_checkpoint_interval(settings, table, experiment(kind).checkpoint_key)
    test_parameters = None
    if TEST_MODEL in keys:
        test_parameters = _changed_model(
            f"experiment.{TEST_MODEL}",
            settings["experiment"].get(TEST_MODEL, {}),
            _parameters_mapping(parameters),
            parameters,
        )
        # stored resolved, as [model] is: the store says what the test ran with
        settings["experiment"][TEST_MODEL] = _parameters_mapping(test_parameters)
    return Scenario(settings, (parameters,), source, test_parameters)


def _share_checkpoint_interval(
    settings: dict[str, Any], table: Mapping[str, Any], own_key: str
) -> None:
    """``[record] checkpoint_every`` sets the experiment's own interval key (MNIST's
    ``checkpoint_digits``, counting the same unit) where the kind has one; giving both with
    different values is refused rather than one silently winning."""
    every = settings["record"].get("checkpoint_every")
    if every is None or own_key not in settings["experiment"]:
        return
    if own_key in table and table[own_key] != every:
        raise ValidationError(
            f"record.checkpoint_every = {every} and experiment.{own_key} = {table[own_key]} "
            "both set the checkpoint interval; give one of them"
        )
    settings["experiment"][own_key] = every


def _check_topology(table: Any, source: Path | None) -> dict[str, Any]:
    checked = check_table("topology", table if table is not None else {}, TOPOLOGY_KEYS)
    given = [key for key in TOPOLOGY_SOURCES if key in checked]
    if len(given) != 1:
        raise ValidationError(
            f"topology: give exactly one of topology.builder ({', '.join(BUILDERS)}), "
            "topology.path (a GraphML file) or topology.from_store (a run store)"
            + (f"; given: {', '.join(given)}" if given else "")
        )
    kind = given[0]
    own = (*TOPOLOGY_SOURCES, "layout", "seed")
    # the scenario's seed feeds a builder that draws; n_output defaults to 0 (no output role)
    parameters = builder_parameters(checked["builder"]) if kind == "builder" else {}
    allowed = [name for name in parameters if name != "seed"]
    if kind == "from_store":
        allowed = ["snapshot"]
    for key in checked:
        if key not in own and key not in allowed:
            what = {
                "builder": f"the {checked.get('builder')} builder takes {', '.join(allowed)}",
                "path": "a GraphML topology takes only path, layout and seed",
                "from_store": "a stored network takes only from_store, snapshot, layout and seed",
            }[kind]
            raise ValidationError(f"topology.{key} = {describe(checked[key])}: {what}")
    if "n_output" in parameters:
        checked.setdefault("n_output", 0)
    required = [name for name in allowed if parameters.get(name)]
    for key in required:
        if key not in checked:
            raise ValidationError(
                f"topology.{key} is missing; the {checked['builder']} builder needs "
                f"{', '.join(required)}"
            )
    if kind == "builder":
        return checked
    path = Path(checked[kind])
    if not path.is_absolute() and source is not None:
        path = source.parent / path
    if not path.exists():
        what = "file" if kind == "path" else "run store"
        raise ValidationError(f"topology.{kind} = {checked[kind]!r}: no such {what} ({path})")
    checked[kind] = str(path)
    if kind == "from_store":
        try:  # the store, its snapshots and its graph, before any work
            stored_graph(path, checked.get("snapshot"), "topology.snapshot")
        except ValidationError as error:
            raise ValidationError(f"topology.from_store = {checked[kind]!r}: {error}") from None
    return checked


def parse_override(override: str) -> tuple[list[str], Any]:
    """``key.path=value`` as (path parts, value): the value in TOML syntax (``1e-3``,
    ``true``, ``[1, 0]``, ``"text"``), or a bare word taken as a string."""
    if "=" not in override:
        raise ValidationError(f"--set {override!r}: expected KEY.PATH=VALUE, e.g. model.alpha=1e-3")
    key, value_text = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ValidationError(f"--set {override!r}: {key!r} is not a dotted key path")
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key.path=value`` override set (tables made as needed).

    An override of the topology's source (``topology.builder``, ``topology.path`` or
    ``topology.from_store``) replaces the one in ``raw``: a path or store drops the builder
    and its arguments (``layout`` is kept), a builder drops the path or store. A relative
    path an override gives (``COMMAND_LINE_PATHS``) is made absolute from the working
    directory."""
    result = copy.deepcopy(raw)
    for override in overrides:
        parts, value = parse_override(override)
        value = _from_working_directory(parts, value)
        node: Any = result
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                index = int(part) if part.isdigit() else -1
                if not 0 <= index < len(node):
                    raise ValidationError(
                        f"--set {override!r}: {where} is not a phase (there are {len(node)})"
                    )
                node = node[index]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ValidationError(f"--set {override!r}: {where} is a value, not a table")
        if isinstance(node, list):
            raise ValidationError(
                f"--set {override!r}: name a phase by its number, e.g. phase.0.key"
            )
        if len(parts) == 2 and parts[0] == "topology" and parts[1] in TOPOLOGY_SOURCES:
            _drop_topology_source(node, parts[1])
        node[parts[-1]] = value
    return result


def _from_working_directory(parts: list[str], value: Any) -> Any:
    """``value`` with the relative paths of ``COMMAND_LINE_PATHS`` it sets made absolute from
    the working directory (``--set topology.path=x`` or ``--set 'topology={path="x"}'``)."""
    for key in COMMAND_LINE_PATHS:
        if parts == list(key) and isinstance(value, str):
            return os.path.abspath(value)
        if parts == list(key[:-1]) and isinstance(value, dict):
            inner = value.get(key[-1])
            if isinstance(inner, str):
                value = {**value, key[-1]: os.path.abspath(inner)}
    return value


def absolute_override(override: str) -> str:
    """``override`` with the relative path it gives a ``COMMAND_LINE_PATHS`` key made absolute
    from the working directory, so that what is kept of a command line (a sweep's manifest)
    names the same file from any folder; other overrides are returned as they are."""
    parts, value = parse_override(override)
    if tuple(parts) in COMMAND_LINE_PATHS and isinstance(value, str):
        return f"{'.'.join(parts)}={json.dumps(os.path.abspath(value))}"
    return override


def _drop_topology_source(table: dict[str, Any], source: str) -> None:
    """Make room in a ``[topology]`` table for a new ``source``: a builder replaces a path or
    store (and a store's snapshot); a path or store replaces everything but ``layout``."""
    if source == "builder":
        for key in ("path", "from_store", "snapshot"):
            table.pop(key, None)
        return
    for key in list(table):
        if key != "layout":
            del table[key]


def topology_override(file: str) -> str:
    """The ``--set`` override of ``--topology FILE``: ``topology.path`` as an absolute path
    from the working directory; a missing file is refused naming ``--topology``."""
    path = Path(file).absolute()
    if not path.is_file():
        raise ValidationError(
            f"--topology {file!r}: no such file ({path}); give a GraphML topology file"
        )
    return f"topology.path={json.dumps(str(path))}"


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and check a scenario file, given by its path or as the name of a
    built-in scenario (``"rivalry"``, see ``neurosim scenarios``)."""
    path = scenario_path(path)
    raw = read_toml(path, "scenario file")
    try:
        return check_scenario(apply_overrides(raw, overrides), path)
    except ValidationError as error:
        raise ValidationError(f"{path}: {error}") from None


__all__ = [
    "Scenario",
    "absolute_override",
    "apply_overrides",
    "available_presets",
    "check_scenario",
    "load_scenario",
    "parse_override",
    "topology_override",
]
