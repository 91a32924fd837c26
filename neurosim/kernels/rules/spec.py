"""What a learning rule tells the rest of the package, and the registry of rules.

A rule's module describes the rule with a ``RuleSpec`` and registers it with ``register``,
which gives the rule its code: the integer compiled loops select it by. Names, codes and the
values ``model.rule`` accepts all come from this registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleSpec:
    """What a learning rule needs from a backend.

    A backend reads this instead of special-casing rule names: how many state copies to
    keep, whether the previous step's state and rate must be kept (the step skips keeping
    them otherwise), whether the rule learns only while the input neurons' own oscillator is
    in its clamped phase, and whether it provides the ``dz`` that fake targets are drawn
    from, and whether each neuron keeps a sliding threshold (BCM: ``threshold``, a running
    mean of its rate squared over ``kappa``, time constant ``tau_theta`` steps).
    """

    name: str
    copies: int
    needs_previous_state: bool
    gated_by_clamp_phase: bool
    provides_dz: bool
    sliding_threshold: bool = False


RULE_SPECS: dict[str, RuleSpec] = {}
RULE_CODES: dict[str, int] = {}


def register(spec: RuleSpec) -> int:
    """Add a rule to the registry; returns its code (the rules' codes are 0, 1, ... in the
    order they register)."""
    if spec.name in RULE_SPECS:
        raise ValueError(f"a learning rule named {spec.name!r} is registered already")
    RULE_SPECS[spec.name] = spec
    RULE_CODES[spec.name] = len(RULE_CODES)
    return RULE_CODES[spec.name]
