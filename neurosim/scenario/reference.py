"""The reference of every scenario key, generated from the tables that check them.

Each section of a scenario file (and each experiment kind's ``[experiment]`` table, with its
nested tables) is listed with its keys: what each allows (from its check), its default and
what it means (``Key.doc``). ``[model]`` comes from the fields of ``ModelParameters`` (their
``metadata``). Where the keys a section takes depend on a kind (a phase's ``stream``, a
topology's ``builder``, the analysis ``kind``), the section says which apply, from the same
tables the checks use. ``neurosim keys [SECTION]`` prints it; ``docs/scenario-keys.md`` is
``neurosim keys --markdown``, and a test keeps it current.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL
from neurosim.keys import Key
from neurosim.model.parameters import ModelParameters
from neurosim.model.presets import available_presets
from neurosim.model.topology import BUILDERS, builder_parameters
from neurosim.registry import backend, experiment, experiment_kinds
from neurosim.scenario.sections import (
    ANALYSIS_KEYS,
    CHECKPOINT_KEYS,
    PHASE_KEYS,
    PHASE_NEEDS,
    RECORD_KEYS,
    SCENARIO_KEYS,
    TOPOLOGY_KEYS,
    backend_sections,
)

REGENERATE = "python -m neurosim keys --markdown > docs/scenario-keys.md"


@dataclass(frozen=True)
class Row:
    """One key of a section as the reference shows it."""

    key: str
    allowed: str
    default: str
    doc: str


@dataclass(frozen=True)
class Section:
    """One table of a scenario file: its name for ``neurosim keys`` (``experiment.mnist``),
    its header as written in the file, what decides which keys apply, and its keys."""

    name: str
    header: str
    about: str
    rows: tuple[Row, ...]


def toml_value(value: Any) -> str:
    """``value`` written as in a scenario file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def _default(key: Key) -> str:
    if key.required:
        return "required"
    return "" if key.default is None else toml_value(key.default)


def key_rows(keys: Mapping[str, Key]) -> tuple[Row, ...]:
    """The rows of a table of keys, in the table's order."""
    return tuple(Row(name, key.allowed, _default(key), key.doc) for name, key in keys.items())


def _model_rows(parameters: type = ModelParameters, prefix: str = "") -> Iterator[Row]:
    """One row per field of ``parameters``; a field that holds parameters of its own (the fake
    targets, the clamp oscillator) gives one row per field of those, ``fake_target.k``."""
    for field in dataclasses.fields(parameters):
        default = (
            field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        nested = field.metadata.get("parameters")
        if nested is not None:
            yield from _model_rows(nested, f"{prefix}{field.name}.")
            continue
        yield Row(
            prefix + field.name,
            field.metadata.get("allowed", ""),
            "" if default is None else toml_value(default),
            field.metadata.get("doc", ""),
        )


def model_section() -> Section:
    preset = Row(
        "preset",
        f"one of {', '.join(available_presets())}, or a path to a preset file",
        "",
        "The parameter preset (models/*.toml) the other [model] keys override; absent: the "
        "defaults below.",
    )
    return Section(
        "model",
        "[model]",
        "Defaults are the model's own; a preset sets many of them. A phase's [phase.model] and "
        f"an experiment's [experiment.{TEST_MODEL}] take the same keys (nested tables merged "
        "key by key), except rule, dtype and activation. Nested keys are written as a table: "
        "[model.fake_target] k = 50, or model.fake_target.k with --set. The clamp oscillator "
        "(MSTDP) runs only where [model.oscillator] is given.",
        (preset, *_model_rows()),
    )


def _topology_section() -> Section:
    builders = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{parameter}{'' if required else ' (optional)'}"
            for parameter, required in builder_parameters(name).items()
        )
        for name in BUILDERS
    )
    return Section(
        "topology",
        "[topology]",
        "Give exactly one of builder, path (a GraphML file) or from_store (a run store's "
        "trained network). Each builder takes its own arguments (seed defaults to the "
        f"scenario's): {builders}. A GraphML topology takes only path, layout and seed; a "
        "stored one from_store, snapshot, layout and seed. docs/topologies.md has the details.",
        key_rows(TOPOLOGY_KEYS),
    )


def _phase_section() -> Section:
    needs = "; ".join(f"{stream}: {', '.join(keys)}" for stream, keys in PHASE_NEEDS.items())
    return Section(
        "phase",
        "[[phase]]",
        "One table per phase, run in order. Each stream kind needs its own keys: "
        f"{needs}; a patterns phase also needs epochs or duration. The docs below say which "
        "stream each other key belongs to.",
        key_rows(PHASE_KEYS),
    )


def _experiment_sections() -> Iterator[Section]:
    for kind in experiment_kinds():
        keys = experiment(kind).keys
        yield Section(
            f"experiment.{kind}",
            "[experiment]",
            f'kind = "{kind}". An experiment builds its own network, streams and records: no '
            "[topology], [[phase]] or [analysis]; its [record] takes only "
            f"{', '.join(CHECKPOINT_KEYS)}."
            + (f" [experiment.{TEST_MODEL}] takes any [model] key." if TEST_MODEL in keys else ""),
            key_rows(keys),
        )
        yield from _nested_sections(f"experiment.{kind}", "experiment", keys)


def _nested_sections(name: str, header: str, keys: Mapping[str, Key]) -> Iterator[Section]:
    """A section for each key of ``keys`` that holds a nested table (or a list of them)."""
    for key_name, key in keys.items():
        if key.keys is not None:
            table = f"{header}.{key_name}"
            yield Section(
                f"{name}.{key_name}",
                f"[[{table}]]" if key.repeated else f"[{table}]",
                f"One of the tables of {table}, as many as needed."
                if key.repeated
                else f"The table of {table}.",
                key_rows(key.keys),
            )
            yield from _nested_sections(f"{name}.{key_name}", f"{header}.{key_name}", key.keys)


def sections() -> tuple[Section, ...]:
    """Every section of a scenario file, in the order of a file."""
    return (
        Section("scenario", "[scenario]", "Every scenario has one.", key_rows(SCENARIO_KEYS)),
        model_section(),
        _topology_section(),
        *(
            Section(
                name,
                f"[{name}]",
                f"Read when the scenario runs on the {name} backend.",
                key_rows(backend(name).keys),
            )
            for name in backend_sections()
        ),
        _phase_section(),
        Section(
            "record",
            "[record]",
            "What the run store keeps of a scenario with phases (an experiment's [record] "
            f"takes only {', '.join(CHECKPOINT_KEYS)}).",
            key_rows(RECORD_KEYS),
        ),
        *(
            Section(
                f"analysis.{kind}",
                "[analysis]",
                f'kind = "{kind}". One analysis per scenario; it reads the recorded states of '
                "one phase.",
                key_rows(keys),
            )
            for kind, keys in ANALYSIS_KEYS.items()
        ),
        *_experiment_sections(),
    )


def select(name: str | None) -> tuple[Section, ...]:
    """The sections named ``name`` (and those nested in it); all of them for None. An
    unknown name is refused, listing the known ones."""
    every = sections()
    if name is None:
        return every
    chosen = tuple(
        section for section in every if section.name == name or section.name.startswith(f"{name}.")
    )
    if not chosen:
        raise ValidationError(
            f"neurosim keys {name}: unknown section; sections are "
            f"{', '.join(section.name for section in every)}"
        )
    return chosen


def as_text(chosen: tuple[Section, ...]) -> str:
    """A compact listing: per section its header and, per key, allowed values, default and
    doc."""
    lines = []
    for section in chosen:
        lines += [f"{section.name}  {section.header}", f"  {section.about}"]
        for row in section.rows:
            default = f" (default {row.default})" if row.default not in ("", "required") else ""
            required = " (required)" if row.default == "required" else ""
            lines += [
                f"  {row.key}: {row.allowed}{default}{required}",
                f"      {row.doc}",
            ]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(chosen: tuple[Section, ...]) -> str:
    """The reference as a Markdown page: one table per section."""
    lines = [
        "# Scenario keys",
        "",
        "Every key a scenario file takes, section by section: what it allows, its default and "
        "what it means. Generated from the checks themselves by "
        f"`{REGENERATE}` (also `neurosim keys SECTION` on the command line); do not edit it "
        "by hand. Any key can be overridden from the command line with "
        "`--set section.key=value` (`phase.1.duration` for the second phase).",
        "",
        "Sections: "
        + ", ".join(f"[{section.name}](#{_anchor(section.name)})" for section in chosen),
        "",
    ]
    for section in chosen:
        lines += [
            f"## {section.name}",
            "",
            f"`{section.header}` {section.about}",
            "",
            "| key | allowed | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for row in section.rows:
            default = f"`{row.default}`" if row.default not in ("", "required") else row.default
            lines.append(
                f"| `{row.key}` | {_cell(row.allowed)} | {_cell(default)} | {_cell(row.doc)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _anchor(name: str) -> str:
    """The anchor GitHub gives the heading ``## name``."""
    return "".join(
        character for character in name.lower() if character.isalnum() or character in "-_"
    )


def reference(section: str | None = None, markdown: bool = False) -> str:
    """The reference of ``section`` (every section for None), as text or Markdown."""
    chosen = select(section)
    return as_markdown(chosen) if markdown else as_text(chosen)
