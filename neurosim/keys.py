"""Checked tables: the allowed keys of a TOML table, each with its check and default.

Scenario sections, an experiment's ``[experiment]`` table and a backend's own section are all
checked the same way: ``check_table(prefix, table, keys)`` refuses an unknown key (listing the
allowed ones), a missing required key, or a value its ``Key`` check refuses, naming the dotted
key, the value and what is allowed. The factories below build the common checks; a check is
any callable ``(dotted_name, value) -> value as used`` that raises ValidationError.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from neurosim.checks import (
    MAX_SEED,
    check_choice,
    check_integer,
    check_number,
    check_seed,
    describe,
)
from neurosim.errors import ValidationError

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Key:
    """One allowed key: its check (which returns the value as used) and default."""

    check: Check
    default: Any = None
    required: bool = False


def integer(low: int | None = None, high: int | None = None) -> Callable[[str, Any], int]:
    """An integer in [low, high] (either bound may be left open)."""
    return lambda name, value: check_integer(name, value, low, high)


def number(low: float | None = None, high: float | None = None) -> Callable[[str, Any], float]:
    """A finite number in [low, high] (either bound may be left open)."""
    return lambda name, value: check_number(name, value, low, high)


def choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    """One of ``choices``."""
    return lambda name, value: check_choice(name, value, choices)


def text(name: str, value: Any) -> str:
    """A string."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} = {describe(value)}: expected a string")
    return value


def boolean(name: str, value: Any) -> bool:
    """true or false (not 0 or 1)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{name} = {describe(value)}: expected true or false")
    return value


def table(name: str, value: Any) -> dict[str, Any]:
    """A table (its keys are checked by whoever uses it)."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name} = {describe(value)}: expected a table")
    return dict(value)


def integer_list(
    low: int, unique: bool = True, high: int | None = None
) -> Callable[[str, Any], list[int]]:
    """A non-empty list of integers in [low, high] (each once, if ``unique``)."""

    def check(name: str, value: Any) -> list[int]:
        if not isinstance(value, list) or not value:
            raise ValidationError(
                f"{name} = {describe(value)}: expected a non-empty list of integers >= {low}"
            )
        items = [check_integer(f"{name}[{k}]", item, low, high) for k, item in enumerate(value)]
        if unique and len(set(items)) != len(items):
            raise ValidationError(f"{name} = {items}: a value repeats; give each once")
        return items

    return check


def seed(name: str, value: Any) -> int:
    """A seed: an integer in [0, MAX_SEED]."""
    return check_seed(name, value)


def seed_list(name: str, value: Any) -> list[int]:
    """A non-empty list of distinct seeds."""
    return integer_list(0, high=MAX_SEED)(name, value)


def number_list(
    low: float | None = None, high: float | None = None
) -> Callable[[str, Any], list[float]]:
    """A non-empty list of finite numbers, each in [low, high]."""

    def check(name: str, value: Any) -> list[float]:
        if not isinstance(value, list) or not value:
            raise ValidationError(
                f"{name} = {describe(value)}: expected a non-empty list of numbers"
            )
        return [check_number(f"{name}[{k}]", item, low, high) for k, item in enumerate(value)]

    return check


def check_table(prefix: str, table: Any, keys: Mapping[str, Key]) -> dict[str, Any]:
    """The table with every key checked and defaults filled in."""
    if not isinstance(table, Mapping):
        raise ValidationError(f"{prefix} = {describe(table)}: expected a table")
    for key in table:
        if key not in keys:
            raise ValidationError(
                f"{prefix}.{key} = {describe(table[key])}: unknown key; allowed keys in "
                f"[{prefix}] are {', '.join(keys)}"
            )
    checked = {}
    for key, spec in keys.items():
        if key in table:
            checked[key] = spec.check(f"{prefix}.{key}", table[key])
        elif spec.required:
            raise ValidationError(f"{prefix}.{key} is missing; it is required")
        elif spec.default is not None:
            checked[key] = copy.deepcopy(spec.default)
    return checked
