"""The key reference: every key documented, every built-in scenario's keys in it, the
generated page current, and ``neurosim keys`` on the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from neurosim.builtin import scenario_directory
from neurosim.cli import main
from neurosim.keys import Key, integer, number
from neurosim.scenario.reference import REGENERATE, reference, sections

ROOT = Path(__file__).resolve().parents[1]


def test_every_key_of_every_section_says_what_it_allows_and_means() -> None:
    missing = [
        f"{section.name}.{row.key}: {'doc' if not row.doc.strip() else 'allowed'}"
        for section in sections()
        for row in section.rows
        if not row.doc.strip() or not row.allowed.strip()
    ]
    assert missing == []


def test_the_check_factories_describe_their_bounds_and_keep_their_messages() -> None:
    assert Key(integer(1)).allowed == "integer >= 1"
    assert Key(number(0.0, 1.0)).allowed == "number in [0, 1]"
    with pytest.raises(ValueError, match=r"x = 0: expected an integer >= 1"):
        integer(1)("x", 0)


def _dotted_keys(table: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for key, value in table.items():
        yield f"{prefix}.{key}"
        if isinstance(value, Mapping):
            yield from _dotted_keys(value, f"{prefix}.{key}")
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for entry in value:
                yield from _dotted_keys(entry, f"{prefix}.{key}")


def _documented_keys() -> set[str]:
    """Every dotted key the reference lists, written as in a file (experiment.mnist.hidden is
    experiment.hidden; analysis.rivalry.units is analysis.units)."""
    names = set()
    for section in sections():
        parts = section.name.split(".")
        base = parts[:1] + parts[2:] if parts[0] in ("experiment", "analysis") else parts
        for row in section.rows:
            names.add(".".join([*base, row.key]))
    return names


@pytest.mark.parametrize(
    "path", sorted(scenario_directory().glob("*.toml")), ids=lambda path: path.stem
)
def test_every_key_of_a_builtin_scenario_is_in_the_reference(path: Path) -> None:
    raw = tomllib.loads(path.read_text())
    documented = _documented_keys() | {"experiment.kind"}
    used = set()
    for section, table in raw.items():
        tables = table if isinstance(table, list) else [table]
        for entry in tables:
            for name in _dotted_keys(entry, section):
                # values of tables that take any key of [model], or free-form tables
                if name.split(".")[:2] in (["phase", "model"], ["experiment", "test_model"]):
                    name = "model." + ".".join(name.split(".")[2:]) if name.count(".") > 1 else name
                used.add(name)
    free_form = (
        "experiment.options.",
        "event.sweep.",
        "event.delay.",
        "event.period.",
        "event.jitter.",
        "model.role_beta.",
    )
    undocumented = sorted(
        name
        for name in used
        if name not in documented
        and not name.startswith(free_form)
        and name not in ("model.fake_target", "model.oscillator", "model")
    )
    assert undocumented == []


def test_the_generated_page_is_current() -> None:
    page = (ROOT / "docs" / "scenario-keys.md").read_text()
    assert page == reference(markdown=True), f"docs/scenario-keys.md is stale; run: {REGENERATE}"


def test_keys_prints_one_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "phase"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("phase  [[phase]]")
    assert "  steps_per_item: integer >= 1" in out
    assert "record  [record]" not in out


def test_a_list_of_tables_is_headed_as_a_file_writes_it(capsys: pytest.CaptureFixture[str]) -> None:
    # a file writes each input population as [[experiment.inputs]], a neuron as [experiment.neuron]
    assert main(["keys", "experiment.spiking.inputs"]) == 0
    assert capsys.readouterr().out.startswith("experiment.spiking.inputs  [[experiment.inputs]]")
    assert main(["keys", "experiment.spiking.neuron"]) == 0
    assert capsys.readouterr().out.startswith("experiment.spiking.neuron  [experiment.neuron]")


def test_keys_refuses_an_unknown_section_listing_the_known_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neurosim", "keys", "nonesuch"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert result.returncode == 2
    assert "unknown section" in result.stderr and "experiment.mnist" in result.stderr
    assert result.stdout == ""


def _model_fields() -> Iterator[tuple[str, Any, Any]]:
    """(key, field, a function that builds and checks the table with one key set)."""
    from dataclasses import fields

    from neurosim.model.parameters import ClampOscillator, FakeTargetParameters, ModelParameters

    tables = {
        "model": lambda **value: ModelParameters(**value),
        "model.fake_target": lambda **value: FakeTargetParameters(**value).validate(),
        "model.oscillator": lambda **value: ClampOscillator(**value).validate(),
    }
    classes = {
        "model": ModelParameters,
        "model.fake_target": FakeTargetParameters,
        "model.oscillator": ClampOscillator,
    }
    for table, build in tables.items():
        for field in fields(classes[table]):
            if "allowed" in field.metadata:
                yield f"{table}.{field.name}", field, build


def _probes(allowed: str) -> tuple[list[Any], list[Any]] | None:
    """Values the text ``allowed`` admits and values just outside it, or None where the text
    is not a bound, a choice or a flag."""
    nudge = 1e-9
    if allowed == "true or false":
        return [True, False], [1, "yes"]
    if allowed.startswith("one of "):
        return allowed.removeprefix("one of ").split(", "), ["nonesuch"]
    bound = re.fullmatch(r"(integer|number) (>=|>) (-?[\d.]+)", allowed)
    if bound:
        kind, operator, text = bound.groups()
        low = int(text) if kind == "integer" else float(text)
        step = 1 if kind == "integer" else nudge
        inside = [low + step, low + 10 * step] + ([low] if operator == ">=" else [])
        return inside, [low - step] + ([low] if operator == ">" else [])
    interval = re.fullmatch(r"number in ([\[(])(-?[\d.]+), (-?[\d.]+)([\])])", allowed)
    if interval:
        opening, low_text, high_text, closing = interval.groups()
        low, high = float(low_text), float(high_text)
        inside = [low + nudge, high - nudge, (low + high) / 2]
        outside = [low - nudge, high + nudge]
        (inside if opening == "[" else outside).append(low)
        (inside if closing == "]" else outside).append(high)
        return inside, outside
    return None


def test_each_model_key_admits_what_its_reference_says_and_refuses_just_outside() -> None:
    # the model's allowed texts are written beside its checks: probe the checks with them
    from neurosim.errors import ValidationError

    unprobed = []
    for key, field, build in _model_fields():
        bound, _, relation = field.metadata["allowed"].partition(", at ")
        probes = _probes(bound)
        if probes is None:
            unprobed.append(key)
            continue
        # "at most beta_large" / "at least beta_small": the other key at the far end of its
        # range (both >= 0) while this one is probed, then the order itself
        side, _, other = relation.partition(" ")
        apart = {"most": 1e9, "least": 0.0}
        extreme = {other: apart[side]} if relation else {}
        inside, outside = probes
        for value in inside:
            build(**{field.name: value, **extreme})  # raises if the check refuses it
        for value in outside:
            with pytest.raises(ValidationError, match=rf"{re.escape(field.name)} ="):
                build(**{field.name: value, **extreme})
        if relation:
            with pytest.raises(ValidationError, match="beta_small <= beta_large"):
                build(**{field.name: 0.5, other: 0.5 + (1.0 if side == "least" else -1.0) * 0.25})
    assert unprobed == ["model.role_beta"]  # a table of numbers, checked in test_scenario
