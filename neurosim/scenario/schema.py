"""Scenario files: TOML read with the standard library, every key checked before any work.

A scenario has the sections ``[scenario]``, ``[model]`` (a preset from ``models/`` plus
overrides), ``[topology]`` (a builder and its arguments, ``path`` to a GraphML file, or
``from_store``: the trained network of a run store), ``[[phase]]`` (what the data stream
does, one phase after another, each optionally changing model parameters from its start)
and ``[record]``; what each section allows is in ``neurosim.scenario.sections``. An unknown
key, a wrong type, an out-of-range value or a missing file gives one ValidationError naming
the dotted key, the value and what is allowed. ``--set key.path=value`` overrides
(``neurosim.scenario.overrides``) are applied to the parsed file and checked the same way; a
path written in the file is taken from the file's folder.

An experiment that trains then tests may declare the key ``test_model``
(``neurosim.experiments.TEST_MODEL_KEY``): ``[experiment.test_model]`` holds any ``[model]``
keys, merged over the training model like a phase's ``[phase.model]`` and checked by the same
code under its own dotted names; ``Scenario.test_parameters`` is the result.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from neurosim.analysis.adaptation import check_layout as check_adaptation_layout
from neurosim.analysis.rivalry import check_levels
from neurosim.builtin import scenario_path
from neurosim.checks import check_choice, describe, read_toml
from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL
from neurosim.keys import Key, check_table, text
from neurosim.model.parameters import ModelParameters
from neurosim.model.presets import load_preset, parameters_from_mapping
from neurosim.model.topology import BUILDERS, builder_parameters
from neurosim.recording.network import stored_graph
from neurosim.registry import backend, experiment, experiment_kinds
from neurosim.scenario.overrides import apply_overrides
from neurosim.scenario.sections import (
    ANALYSIS_KEYS,
    CHECKPOINT_KEYS,
    PHASE_KEYS,
    PHASE_NEEDS,
    RECORD_KEYS,
    SCENARIO_KEYS,
    TOPOLOGY_KEYS,
    TOPOLOGY_SOURCES,
    backend_sections,
    scenario_sections,
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
    sections = scenario_sections()
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


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and check a scenario file, given by its path or as the name of a
    built-in scenario (``"rivalry"``, see ``neurosim scenarios``)."""
    path = scenario_path(path)
    raw = read_toml(path, "scenario file")
    try:
        return check_scenario(apply_overrides(raw, overrides), path)
    except ValidationError as error:
        raise ValidationError(f"{path}: {error}") from None


__all__ = ["Scenario", "check_scenario", "load_scenario"]
