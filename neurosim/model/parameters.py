"""Model parameters: frozen, validated dataclasses that describe a model without running it.

The names follow MODEL.md. Time is counted in integration steps throughout: a parameter "per
step" means per step of iterative inference.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from neurosim.checks import check_choice, check_number
from neurosim.errors import ValidationError
from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.rules import RULE_SPECS, RuleSpec
from neurosim.model.topology import ROLES

# the names compiled code knows: what the activations and the rules register
ACTIVATIONS = tuple(ACTIVATION_CODES)
RULES = tuple(RULE_SPECS)
DTYPES = ("float32", "float64")
# A run stops as diverged when a state or a weight leaves [-bound, bound]: far above what a
# learning network reaches (states and weights of order 1 to 10), far below float32's range.
DIVERGENCE_BOUND = 1e4

# the dotted name of the table being made into ModelParameters, for the messages of the checks
# that run as they are made
_TABLE_NAME: ContextVar[str] = ContextVar("model_table_name", default="model")


def documented(default: Any, *, allowed: str, doc: str) -> Any:
    """A dataclass field with what it allows and what it means (``doc``: one sentence with
    its unit), which the key reference (``neurosim keys model``) prints."""
    return field(default=default, metadata={"allowed": allowed, "doc": doc})


@contextmanager
def table_named(prefix: str) -> Iterator[None]:
    """ModelParameters made inside name their keys ``prefix.<key>`` in a ValidationError
    (``phase.1.model``, ``experiment.test_model``) instead of ``model.<key>``."""
    token = _TABLE_NAME.set(prefix)
    try:
        yield
    finally:
        _TABLE_NAME.reset(token)


@dataclass(frozen=True)
class FakeTargetParameters:
    """Adaptive fake targets on hidden neurons (aSTDP paper, section 2.2.2).

    Each hidden neuron keeps ``dz_mean <- mu * dz_mean + (1 - mu) * |dz|`` and, each step, with
    probability ``min(1, |dz| / (k * dz_mean))`` is clamped toward ``sign(dz) * magnitude``
    with the copies' betas.
    """

    enabled: bool = documented(
        False,
        allowed="true or false",
        doc="Whether hidden neurons draw fake targets from their dz (aSTDP only).",
    )
    k: float = documented(
        50.0,
        allowed="number > 0",
        doc="A fake target is drawn with probability min(1, |dz| / (k * mean |dz|)) each step.",
    )
    magnitude: float = documented(
        0.25,
        allowed="number >= 0",
        doc="Size of a fake target: it is sign(dz) * magnitude (state units).",
    )
    mu: float = documented(
        0.9,
        allowed="number in [0, 1)",
        doc="Decay per step of each hidden neuron's moving average of |dz|.",
    )

    def validate(self, prefix: str = "model.fake_target") -> None:
        if not isinstance(self.enabled, bool):
            raise ValidationError(f"{prefix}.enabled = {self.enabled!r}: expected true or false")
        check_number(f"{prefix}.k", self.k, 0.0, None, low_open=True)
        check_number(f"{prefix}.magnitude", self.magnitude, 0.0, None)
        check_number(f"{prefix}.mu", self.mu, 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class ClampOscillator:
    """MSTDP's clamped/free alternation, run by the input neurons' own clock.

    ``clamped_steps`` steps with the data's clamping (beta > 0, momentum on) then
    ``free_steps`` steps free (beta = 0, momentum off), starting ``offset`` steps into the cycle.
    The cycle is not aligned with the data stream.
    """

    clamped_steps: int = documented(
        32, allowed="integer >= 1", doc="Steps of each clamped phase (data clamped, momentum on)."
    )
    free_steps: int = documented(
        32, allowed="integer >= 0", doc="Steps of each free phase (beta 0, momentum off)."
    )
    offset: int = documented(
        0, allowed="integer >= 0", doc="Steps into the cycle the oscillator starts at."
    )
    learn_when_free: bool = documented(
        False,
        allowed="true or false",
        doc="Whether the rule also learns in free phases (MSTDP learns only when clamped).",
    )

    def validate(self, prefix: str = "model.oscillator") -> None:
        for name in ("clamped_steps", "free_steps", "offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{prefix}.{name} = {value!r}: expected an integer >= 0")
        if self.clamped_steps == 0:
            raise ValidationError(f"{prefix}.clamped_steps = 0: expected an integer >= 1")
        if not isinstance(self.learn_when_free, bool):
            raise ValidationError(
                f"{prefix}.learn_when_free = {self.learn_when_free!r}: expected true or false"
            )

    def is_clamped(self, step: int) -> bool:
        """Whether global step ``step`` (0-based) falls in a clamped phase."""
        period = self.clamped_steps + self.free_steps
        return (step + self.offset) % period < self.clamped_steps


@dataclass(frozen=True)
class ModelParameters:
    """Everything that defines the model's equations (MODEL.md), independent of any backend.

    Two-copy rules (aSTDP) use ``beta_small``/``beta_large`` and ``eps_small``/``eps_large``;
    one-copy rules use ``beta`` and ``eps``. ``momentum`` is MODEL.md's ``m`` in
    ``v <- m * F + (1 - m) * v``: 1 is the plain leaky update. With
    ``momentum_includes_clamp = False`` the velocity carries only the network's pull, as the
    aSTDP paper's Eqs. 19-20 write it (``v <- m * (R - s) + (1 - m) * v``, then
    ``s <- s + eps * (v + beta * (t - s))``; the same as the default at ``m = 1``).
    ``role_beta`` maps a role ("input", "output", "hidden") to one clamping strength that every
    copy uses for the neurons of that role, instead of the copies' own betas: data clamped that
    way are held, not nudged, so they add nothing to ``dz`` (empty by default: every neuron
    uses its copy's beta, as in the papers).
    ``divergence_bound``: a run stops with ``DivergenceError`` when a state or a weight leaves
    [-divergence_bound, divergence_bound] (or stops being finite).
    """

    rule: str = documented(
        "astdp",
        allowed=f"one of {', '.join(RULES)}",
        doc="The learning rule (MODEL.md): two-copy aSTDP, MSTDP, rate STDP or BCM.",
    )
    activation: str = documented(
        "sigmoid4",
        allowed=f"one of {', '.join(ACTIVATIONS)}",
        doc="The rate function rho(s) of a neuron's state s.",
    )
    hard_sigmoid_threshold: float = documented(
        -0.5,
        allowed="number in (-1, 0)",
        doc="hard_sigmoid's shift: rho(s) = clip(s - threshold, 0, 1).",
    )
    alpha: float = documented(
        1e-3, allowed="number >= 0", doc="Learning rate of weights and biases, per step."
    )
    alpha_smoothing: float = documented(
        0.0,
        allowed="number >= 0",
        doc="Rate, per step, of gradient descent on 1/2 |F|^2 that flattens the path between "
        "states (0: off).",
    )
    eps: float = documented(
        0.2, allowed="number in (0, 1]", doc="Integration step size of one-copy rules."
    )
    beta: float = documented(
        0.8, allowed="number >= 0", doc="Clamping strength toward the targets, one-copy rules."
    )
    eps_small: float = documented(
        0.5, allowed="number in (0, 1]", doc="Step size of the small-beta copy (aSTDP)."
    )
    eps_large: float = documented(
        0.4, allowed="number in (0, 1]", doc="Step size of the large-beta copy (aSTDP)."
    )
    beta_small: float = documented(
        0.25,
        allowed="number >= 0, at most beta_large",
        doc="Clamping strength of the small-beta copy (aSTDP).",
    )
    beta_large: float = documented(
        0.4,
        allowed="number >= 0, at least beta_small",
        doc="Clamping strength of the large-beta copy (aSTDP).",
    )
    momentum: float = documented(
        1.0,
        allowed="number in (0, 1]",
        doc="m in v <- m * F + (1 - m) * v; 1 is the plain leaky update.",
    )
    momentum_includes_clamp: bool = documented(
        True,
        allowed="true or false",
        doc="Whether the velocity also carries the clamping pull (false: only the network's, "
        "as the aSTDP paper's Eqs. 19-20).",
    )
    role_beta: dict[str, float] = field(
        default_factory=dict,
        metadata={
            "allowed": f"table of role ({', '.join(ROLES)}) = number >= 0",
            "doc": "One clamping strength per role that every copy uses instead of its own "
            "beta (held, not nudged; empty: the copies' betas).",
        },
    )
    noise_sigma: float = documented(
        0.0,
        allowed="number >= 0",
        doc="Standard deviation of Gaussian noise added to each state every step (state units).",
    )
    fake_target: FakeTargetParameters = field(
        default_factory=FakeTargetParameters, metadata={"parameters": FakeTargetParameters}
    )
    oscillator: ClampOscillator | None = field(
        default=None, metadata={"parameters": ClampOscillator}
    )
    init: str = documented(
        "xavier",
        allowed="one of uniform, xavier",
        doc="Initial weights and biases: U(-init_scale, init_scale), or U(-x, x) with "
        "x = sqrt(6 / fan-in).",
    )
    init_scale: float = documented(
        0.1, allowed="number > 0", doc="Half-width of the uniform initial weights."
    )
    dtype: str = documented(
        "float32",
        allowed=f"one of {', '.join(DTYPES)}",
        doc="Floating-point precision of states and weights.",
    )
    divergence_bound: float = documented(
        DIVERGENCE_BOUND,
        allowed="number > 0",
        doc="A run stops as diverged when a state or a weight leaves [-bound, bound].",
    )
    tau_theta: float = documented(
        100.0,
        allowed="number > 0",
        doc="Time constant of BCM's sliding threshold, in steps.",
    )
    kappa: float = documented(
        0.5,
        allowed="number > 0",
        doc="BCM's threshold target: theta relaxes to rate^2 / kappa.",
    )

    def __post_init__(self) -> None:
        self.validate(_TABLE_NAME.get())

    @property
    def spec(self) -> RuleSpec:
        return RULE_SPECS[self.rule]

    def validate(self, prefix: str = "model") -> None:
        check_choice(f"{prefix}.rule", self.rule, RULES)
        check_choice(f"{prefix}.activation", self.activation, ACTIVATIONS)
        check_choice(f"{prefix}.init", self.init, ("uniform", "xavier"))
        check_choice(f"{prefix}.dtype", self.dtype, DTYPES)
        check_number(
            f"{prefix}.hard_sigmoid_threshold",
            self.hard_sigmoid_threshold,
            -1.0,
            0.0,
            low_open=True,
            high_open=True,
        )
        check_number(f"{prefix}.alpha", self.alpha, 0.0, None)
        check_number(f"{prefix}.alpha_smoothing", self.alpha_smoothing, 0.0, None)
        for name in ("eps", "eps_small", "eps_large"):
            check_number(f"{prefix}.{name}", getattr(self, name), 0.0, 1.0, low_open=True)
        for name in ("beta", "beta_small", "beta_large"):
            check_number(f"{prefix}.{name}", getattr(self, name), 0.0, None)
        if self.beta_small > self.beta_large:
            raise ValidationError(
                f"{prefix}.beta_small = {self.beta_small!r} is larger than "
                f"{prefix}.beta_large = {self.beta_large!r}: the copies are defined by the "
                "smaller and the larger beta, so beta_small <= beta_large"
            )
        check_number(f"{prefix}.momentum", self.momentum, 0.0, 1.0, low_open=True)
        if not isinstance(self.momentum_includes_clamp, bool):
            raise ValidationError(
                f"{prefix}.momentum_includes_clamp = {self.momentum_includes_clamp!r}: "
                "expected true or false"
            )
        if not isinstance(self.role_beta, dict):
            raise ValidationError(
                f"{prefix}.role_beta = {self.role_beta!r}: expected a table of role = beta"
            )
        for role, beta in self.role_beta.items():
            check_choice(f"{prefix}.role_beta key", role, ROLES)
            check_number(f"{prefix}.role_beta.{role}", beta, 0.0, None)
        check_number(f"{prefix}.noise_sigma", self.noise_sigma, 0.0, None)
        check_number(f"{prefix}.init_scale", self.init_scale, 0.0, None, low_open=True)
        check_number(f"{prefix}.divergence_bound", self.divergence_bound, 0.0, None, low_open=True)
        check_number(f"{prefix}.tau_theta", self.tau_theta, 0.0, None, low_open=True)
        check_number(f"{prefix}.kappa", self.kappa, 0.0, None, low_open=True)
        if not isinstance(self.fake_target, FakeTargetParameters):
            raise ValidationError(f"{prefix}.fake_target: expected FakeTargetParameters")
        self.fake_target.validate(f"{prefix}.fake_target")
        if self.fake_target.enabled and not self.spec.provides_dz:
            raise ValidationError(
                f"{prefix}.fake_target.enabled = true with {prefix}.rule = {self.rule!r}: fake "
                "targets are drawn from dz, which only the two-copy rule 'astdp' provides"
            )
        if self.oscillator is not None:
            if not isinstance(self.oscillator, ClampOscillator):
                raise ValidationError(f"{prefix}.oscillator: expected ClampOscillator or None")
            self.oscillator.validate(f"{prefix}.oscillator")

    @property
    def copy_betas(self) -> tuple[float, ...]:
        """Clamping strength of each state copy (small then large for two copies)."""
        if self.spec.copies == 2:
            return (self.beta_small, self.beta_large)
        return (self.beta,)

    @property
    def copy_eps(self) -> tuple[float, ...]:
        """Step size of each state copy."""
        if self.spec.copies == 2:
            return (self.eps_small, self.eps_large)
        return (self.eps,)

    def phase_schedules(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per phase of the clamp oscillator (one phase without one): the data's clamping
        factor, whether the rule learns, and the momentum ``m`` (free phases run without
        momentum, ``m = 1``). A backend indexes them with ``step % len``."""
        oscillator = self.oscillator
        if oscillator is None:
            clamped = np.ones(1, dtype=bool)
        else:
            period = oscillator.clamped_steps + oscillator.free_steps
            clamped = np.array([oscillator.is_clamped(t) for t in range(period)])
        learn = clamped.copy() if self.spec.gated_by_clamp_phase else np.ones_like(clamped)
        if oscillator is not None and oscillator.learn_when_free:
            learn[:] = True
        momentum = np.where(clamped, self.momentum, 1.0)
        return clamped.astype(np.float64), learn.astype(np.float64), momentum

    def replace(self, **changes: Any) -> ModelParameters:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(values)
        if unknown:
            raise ValidationError(
                f"unknown model parameter(s) {', '.join(sorted(unknown))}; allowed: "
                f"{', '.join(values)}"
            )
        values.update(changes)
        return ModelParameters(**values)
