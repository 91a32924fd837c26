"""Checked tables: the allowed keys of a TOML table, each with its check and default.

Scenario sections, an experiment's ``[experiment]`` table and a backend's own section are all
checked the same way: ``check_table(prefix, table, keys)`` refuses an unknown key (listing the
allowed ones), a missing required key, or a value its ``Key`` check refuses, naming the dotted
key, the value and what is allowed. The factories below build the common checks; a check is
any callable ``(dotted_name, value) -> value as used`` that raises ValidationError.

Every key also says what it means (``Key.doc``) and every check what it allows (the
``allowed`` of a ``DescribedCheck``, or a plain check function's docstring), so that the key
reference (``neurosim keys``, ``docs/scenario-keys.md``) is generated from the tables that do
the checking and cannot disagree with them.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from neurosim.checks import (
    MAX_SEED,
    allowed_range,
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
    """One allowed key: its check (which returns the value as used), its default, whether it
    is required, and ``doc``: what it means, in one sentence with its unit where it has one
    (every key has one; the key reference prints it)."""

    check: Check
    default: Any = None
    required: bool = False
    doc: str = ""

    @property
    def allowed(self) -> str:
        """What the check allows, in words ("integer >= 1", "one of shuffled, cyclic")."""
        return allowed_values(self.check)

    @property
    def keys(self) -> Mapping[str, Key] | None:
        """The keys of the nested table(s) this key holds, if it holds any."""
        return getattr(self.check, "keys", None)

    @property
    def repeated(self) -> bool:
        """Whether the key holds a list of nested tables (``[[name]]`` in a file)."""
        return getattr(self.check, "repeated", False)


@dataclass(frozen=True)
class DescribedCheck:
    """A check together with the values it allows in words, and (for a key that holds a
    nested table, or a list of them) that table's keys."""

    function: Check
    allowed: str
    keys: Mapping[str, Key] | None = None
    # the key holds a list of such tables, written [[name]] in a file
    repeated: bool = False

    def __call__(self, name: str, value: Any) -> Any:
        return self.function(name, value)


def allows(
    allowed: str, keys: Mapping[str, Key] | None = None, *, repeated: bool = False
) -> Callable[[Check], Check]:
    """Decorate a check function with the values it allows (and its nested table's keys,
    ``repeated`` where the key holds a list of such tables)."""
    return lambda function: DescribedCheck(function, allowed, keys, repeated)


def allowed_values(check: Check) -> str:
    """What ``check`` allows: its ``allowed`` description, else its docstring on one line."""
    described = getattr(check, "allowed", None)
    if described:
        return described
    doc = " ".join((inspect.getdoc(check) or "").split()).rstrip(".")
    return doc[:1].lower() + doc[1:]


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An integer in [low, high] (either bound may be left open)."""
    return DescribedCheck(
        lambda name, value: check_integer(name, value, low, high),
        allowed_range("integer", low, high),
    )


def number(low: float | None = None, high: float | None = None) -> Check:
    """A finite number in [low, high] (either bound may be left open)."""
    return DescribedCheck(
        lambda name, value: check_number(name, value, low, high), allowed_range("number", low, high)
    )


def choice(choices: tuple[str, ...]) -> Check:
    """One of ``choices``."""
    return DescribedCheck(
        lambda name, value: check_choice(name, value, choices), f"one of {', '.join(choices)}"
    )


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
    """A table."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name} = {describe(value)}: expected a table")
    return dict(value)


def integer_list(low: int, unique: bool = True, high: int | None = None) -> Check:
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

    each = "distinct integers" if unique else "integers"
    return DescribedCheck(check, f"non-empty list of {allowed_range(each, low, high)}")


def seed(name: str, value: Any) -> int:
    """A seed: an integer in [0, 2^63 - 1]."""
    return check_seed(name, value)


def seed_list(name: str, value: Any) -> list[int]:
    """A non-empty list of distinct seeds (integers in [0, 2^63 - 1])."""
    return integer_list(0, high=MAX_SEED)(name, value)


def number_list(low: float | None = None, high: float | None = None) -> Check:
    """A non-empty list of finite numbers, each in [low, high]."""

    def check(name: str, value: Any) -> list[float]:
        if not isinstance(value, list) or not value:
            raise ValidationError(
                f"{name} = {describe(value)}: expected a non-empty list of numbers"
            )
        return [check_number(f"{name}[{k}]", item, low, high) for k, item in enumerate(value)]

    return DescribedCheck(check, f"non-empty list of {allowed_range('numbers', low, high)}")


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
            # through the check, so that a table's default (often {}) gets its own defaults
            checked[key] = spec.check(f"{prefix}.{key}", copy.deepcopy(spec.default))
    return checked
