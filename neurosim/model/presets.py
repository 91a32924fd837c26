"""Model presets: the papers' parameters as TOML files in ``models/`` (installed with the
package, see neurosim.builtin), read into ModelParameters with every key checked.

A preset is a flat table of ModelParameters fields plus the sub-tables ``[fake_target]`` and
``[oscillator]``. An unknown key, a wrong type or an out-of-range value gives one
ValidationError naming the dotted key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from neurosim.builtin import preset_directory, preset_names
from neurosim.checks import read_toml
from neurosim.errors import ValidationError
from neurosim.model.parameters import (
    ClampOscillator,
    FakeTargetParameters,
    ModelParameters,
    table_named,
)

_SUB_TABLES = {"fake_target": FakeTargetParameters, "oscillator": ClampOscillator}


def _build(cls: type, mapping: Mapping[str, Any], prefix: str) -> Any:
    allowed = [f.name for f in fields(cls)]
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        raise ValidationError(
            f"{prefix}.{unknown[0]} = {mapping[unknown[0]]!r}: unknown key; allowed keys in "
            f"[{prefix}] are {', '.join(allowed)}"
        )
    values = dict(mapping)
    for key, sub_class in _SUB_TABLES.items():
        if cls is ModelParameters and key in values:
            if not isinstance(values[key], Mapping):
                raise ValidationError(
                    f"{prefix}.{key} = {values[key]!r}: expected a table ([{prefix}.{key}])"
                )
            values[key] = _build(sub_class, values[key], f"{prefix}.{key}")
    try:
        with table_named(prefix):
            built = cls(**values)
    except TypeError as error:  # a field of the wrong kind that the dataclass rejects
        raise ValidationError(f"[{prefix}]: {error}") from None
    if cls is not ModelParameters:
        built.validate(prefix)
    return built


def parameters_from_mapping(mapping: Mapping[str, Any], prefix: str = "model") -> ModelParameters:
    """ModelParameters from a (parsed TOML) mapping; keys not given keep their defaults."""
    parameters = _build(ModelParameters, mapping, prefix)
    parameters.validate(prefix)
    return parameters


def available_presets() -> list[str]:
    """Names of the presets shipped in ``models/``."""
    return preset_names()


def load_preset(name: str | Path) -> ModelParameters:
    """A preset by name (``"astdp"``) or by the path of a TOML file."""
    path = Path(name)
    if path.suffix != ".toml":
        path = preset_directory() / f"{name}.toml"
        if not path.exists():
            raise ValidationError(
                f"model preset {str(name)!r} is unknown; available: "
                f"{', '.join(available_presets())}"
            )
    mapping = read_toml(path, "model preset file")
    try:
        return parameters_from_mapping(mapping)
    except ValidationError as error:
        raise ValidationError(f"{path}: {error}") from None
