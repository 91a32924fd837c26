"""Learning rules and activations register themselves: the names the model accepts, the codes
compiled code selects by and the dispatch all come from the registry."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from neurosim.backends.constants import model_constants, pack, unpack
from neurosim.backends.sync import SyncSimulator
from neurosim.errors import ValidationError
from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.rules import RULE_CODES, RULE_SPECS, rule_factors
from neurosim.kernels.rules.spec import RuleSpec, register
from neurosim.model.network import compile_graph
from neurosim.model.parameters import (
    ACTIVATIONS,
    RULES,
    ClampOscillator,
    FakeTargetParameters,
    ModelParameters,
)
from neurosim.model.topology import recurrent


def test_the_model_accepts_exactly_the_registered_rules() -> None:
    assert RULES == tuple(RULE_SPECS) == tuple(RULE_CODES)
    assert {"astdp", "mstdp", "rate_stdp", "bcm"} <= set(RULES)
    for name in RULES:
        assert ModelParameters(rule=name).spec is RULE_SPECS[name]
    with pytest.raises(ValidationError) as error:
        ModelParameters(rule="oja")
    message = str(error.value)
    assert "model.rule = 'oja'" in message
    assert all(name in message for name in RULES)


def test_the_model_accepts_exactly_the_registered_activations() -> None:
    assert tuple(ACTIVATION_CODES) == ACTIVATIONS
    assert sorted(ACTIVATION_CODES.values()) == list(range(len(ACTIVATION_CODES)))
    with pytest.raises(ValidationError) as error:
        ModelParameters(activation="relu")
    assert all(name in str(error.value) for name in ACTIVATIONS)


def test_rule_codes_follow_registration_and_each_reaches_its_own_rule() -> None:
    """Codes are 0, 1, ... and ``rule_factors`` sends each code to the factors of the rule's
    own module: a rule registered without its line in the dispatch fails here."""
    assert list(RULE_CODES.values()) == list(range(len(RULE_CODES)))
    rng = np.random.default_rng(3)
    for name, code in RULE_CODES.items():
        module = importlib.import_module(f"neurosim.kernels.rules.{name}")
        assert code == module.CODE and module.SPEC is RULE_SPECS[name]
        for _ in range(20):
            inputs = (*rng.uniform(0.0, 1.0, 3), *rng.uniform(-1.0, 1.0, 2), *rng.uniform(size=2))
            assert rule_factors(code, *inputs) == module.factors(*inputs)


def test_a_rule_name_registers_once() -> None:
    spec = RULE_SPECS["astdp"]
    with pytest.raises(ValueError, match="'astdp' is registered already"):
        register(RuleSpec("astdp", 2, False, False, True))
    assert RULE_SPECS["astdp"] is spec


@pytest.mark.parametrize("rule", ["astdp", "mstdp"])
def test_the_step_keeps_the_previous_state_only_for_a_rule_that_needs_it(rule: str) -> None:
    """``RuleSpec.needs_previous_state`` decides whether the step keeps the state before it."""
    params = ModelParameters(rule=rule, alpha=0.01, dtype="float64")
    network = compile_graph(recurrent(4, 0, 6), params, seed=1)
    sim = SyncSimulator(network, params, seed=2)
    sim.set_input(0.5, (~network.hidden).astype(float))
    sim.run(3)
    before = sim.state[0].copy()
    sim.run(1)
    kept = sim.checkpoint()["previous_state"]
    if RULE_SPECS[rule].needs_previous_state:
        np.testing.assert_array_equal(kept, before)
    else:
        np.testing.assert_array_equal(kept, 0.0)


def test_packed_constants_unpack_to_the_same_values() -> None:
    """The event backend's packed parameters are the synchronous backend's, value for value."""
    params = ModelParameters(
        rule="astdp",
        role_beta={"input": 0.6},
        noise_sigma=0.05,
        alpha_smoothing=0.02,
        fake_target=FakeTargetParameters(enabled=True, k=3.0),
        dtype="float64",
    )
    network = compile_graph(recurrent(4, 0, 6), params, seed=1)
    constants = model_constants(params, 9, network)
    unpacked = unpack(*pack(constants))
    for name, value in constants._asdict().items():
        np.testing.assert_array_equal(getattr(unpacked, name), value, err_msg=name)


def test_every_registered_rule_has_a_preset_and_a_reference_entry() -> None:
    """What docs/extending.md asks of a new rule besides its module: a preset in models/ and
    a configuration of the plain-NumPy reference, which the reference tests then run."""
    try:
        from tests.reference import RULE_CONFIGS
    except ImportError:  # pytest put tests/ itself on sys.path
        from reference import RULE_CONFIGS
    from neurosim.model.presets import available_presets, load_preset

    preset_rules = {load_preset(name).rule for name in available_presets()}
    reference_rules = {config.get("rule") for config in RULE_CONFIGS.values()}
    for name in RULE_SPECS:
        assert name in preset_rules, f"no preset in models/ uses the rule {name!r}"
        assert name in reference_rules, f"no reference configuration runs the rule {name!r}"


@pytest.mark.parametrize("rule", ["mstdp", "rate_stdp", "bcm"])
def test_fake_targets_are_refused_for_a_rule_without_dz(rule: str) -> None:
    """Fake targets are drawn from dz, which only aSTDP's two copies provide."""
    with pytest.raises(ValidationError, match=f"model.rule = '{rule}': fake targets are drawn"):
        ModelParameters(rule=rule, fake_target=FakeTargetParameters(enabled=True))
    assert ModelParameters(rule="astdp", fake_target=FakeTargetParameters(enabled=True))


@pytest.mark.parametrize("rule", sorted(RULE_SPECS))
def test_only_mstdp_learns_in_the_clamped_phases_alone(rule: str) -> None:
    """With the clamp oscillator (3 steps clamped, 2 free), MSTDP's learning schedule is the
    clamped phases; every other rule learns in each phase, as MSTDP does with learn_when_free."""
    oscillator = ClampOscillator(clamped_steps=3, free_steps=2)
    clamped, learn, _ = ModelParameters(rule=rule, oscillator=oscillator).phase_schedules()
    np.testing.assert_array_equal(clamped, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(learn, clamped if rule == "mstdp" else np.ones(5))
    free_too = ClampOscillator(clamped_steps=3, free_steps=2, learn_when_free=True)
    np.testing.assert_array_equal(
        ModelParameters(rule=rule, oscillator=free_too).phase_schedules()[1], np.ones(5)
    )


def test_a_registered_rule_spec_cannot_be_changed() -> None:
    """The backends read the registry's specs: they are frozen, so no caller changes a rule's
    needs behind the compiled code's back."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULE_SPECS["astdp"].copies = 1  # type: ignore[misc]
