"""The command line's changes to a scenario: ``--set key.path=value`` overrides and
``--topology FILE``. An override that gives the topology's source (``builder``, ``path`` or
``from_store``) replaces the file's source with its arguments; a relative path given on the
command line is taken from the working directory."""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurosim.errors import ValidationError
from neurosim.scenario.sections import COMMAND_LINE_PATHS, TOPOLOGY_SOURCES


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
    absolute = _from_working_directory(parts, value)
    if isinstance(absolute, str) and absolute != value:
        return f"{'.'.join(parts)}={json.dumps(absolute)}"
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


__all__ = ["absolute_override", "apply_overrides", "parse_override", "topology_override"]
