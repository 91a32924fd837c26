"""A slow, obvious, plain-NumPy (float64) reference of one step of the model (MODEL.md).

Written from MODEL.md and the backends' documented conventions, independently of
``neurosim.kernels``: the only things taken from the package are the counter-based random
draws (so that fake targets and Langevin noise see the same numbers) and the parameter
dataclasses. Everything works on a dense weight matrix ``W[j, i]`` (pre j -> post i) with a
0/1 synapse mask ``M``; states are ``(C, B, N)`` with copy 0 the smaller beta and copy 1 the
larger one.

One step at global step number ``t`` (the simulator's step counter before the step):

1. fake targets (hidden neurons, if enabled) from the previous step's ``dz``;
2. every copy integrates: ``s~ = s + eta``, ``R = rho'(s~) * (rho(s~) @ W + b)``,
   ``F = R - s + beta_c * clamp * (t - s)``, ``v <- m F + (1 - m) v``, ``s <- s + eps_c v``;
3. ``dz`` from the new states;
4. W and b change by the rule (batch mean), only on existing synapses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, normal, uniform
from neurosim.model.parameters import ClampOscillator, FakeTargetParameters, ModelParameters
from neurosim.model.topology import ROLES

# --------------------------------------------------------------------------------------------
# activations


# The rule set-ups every backend is compared on (ModelParameters keyword arguments).
RULE_CONFIGS: dict[str, dict] = {
    "astdp_fake_momentum": dict(
        rule="astdp",
        momentum=0.6,
        fake_target=FakeTargetParameters(enabled=True, k=3.0, magnitude=0.25, mu=0.9),
    ),
    "astdp": dict(rule="astdp"),
    "mstdp_oscillator": dict(
        rule="mstdp",
        momentum=0.4,
        oscillator=ClampOscillator(clamped_steps=5, free_steps=3, offset=2),
    ),
    "rate_stdp": dict(rule="rate_stdp"),
    "astdp_smoothing": dict(rule="astdp", alpha_smoothing=0.02),
    "astdp_noise": dict(rule="astdp", noise_sigma=0.05),
    # inputs held with one strength in both copies; smoothing reads copy 0's strength
    "astdp_role_beta": dict(
        rule="astdp",
        role_beta={"input": 0.6},
        alpha_smoothing=0.02,
        fake_target=FakeTargetParameters(enabled=True, k=3.0),
    ),
}


def rho(x: np.ndarray, params: ModelParameters) -> np.ndarray:
    """The firing rate, element-wise, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if params.activation == "sigmoid4":
        return 1.0 / (1.0 + np.exp(-4.0 * x))
    if params.activation == "sigmoid4_centred":
        return 1.0 / (1.0 + np.exp(-(4.0 * x - 2.0)))
    if params.activation == "hard_sigmoid":
        return np.clip(x - params.hard_sigmoid_threshold, 0.0, 1.0)
    raise ValueError(f"unknown activation {params.activation!r}")


def rho_prime(x: np.ndarray, params: ModelParameters) -> np.ndarray:
    """The derivative of the firing rate, element-wise, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if params.activation in ("sigmoid4", "sigmoid4_centred"):
        r = rho(x, params)
        return 4.0 * r * (1.0 - r)
    if params.activation == "hard_sigmoid":
        shifted = x - params.hard_sigmoid_threshold
        return ((shifted > 0.0) & (shifted < 1.0)).astype(np.float64)
    raise ValueError(f"unknown activation {params.activation!r}")


# --------------------------------------------------------------------------------------------
# oscillator


def phase_info(params: ModelParameters, t: int) -> tuple[bool, float, bool]:
    """(clamped, momentum, learns) at global step ``t``.

    Without an oscillator: always clamped, ``m = params.momentum``, always learning. With
    one: a free phase multiplies the data's clamp by 0 and uses ``m = 1``; the rule
    ``mstdp`` learns only in clamped phases unless ``learn_when_free``.
    """
    oscillator = params.oscillator
    if oscillator is None:
        return True, params.momentum, True
    period = oscillator.clamped_steps + oscillator.free_steps
    clamped = (t + oscillator.offset) % period < oscillator.clamped_steps
    momentum = params.momentum if clamped else 1.0
    learns = True
    if params.rule == "mstdp" and not clamped and not oscillator.learn_when_free:
        learns = False
    return clamped, momentum, learns


# --------------------------------------------------------------------------------------------
# state


@dataclass
class Reference:
    """Everything the model carries from one step to the next, in float64."""

    W: np.ndarray  # (N, N), W[pre, post]
    M: np.ndarray  # (N, N), 1 where a synapse exists
    b: np.ndarray  # (N,)
    s: np.ndarray  # (C, B, N)
    v: np.ndarray  # (C, B, N)
    dz: np.ndarray  # (B, N)
    dz_mean: np.ndarray  # (B, N)
    fake_active: np.ndarray  # (B, N) bool, last step's fake-target decisions
    hidden: np.ndarray  # (N,) bool
    role: np.ndarray  # (N,) role names
    step: int = 0

    @classmethod
    def from_simulator(cls, sim) -> Reference:
        """Copy the simulator's current state, weights and biases into float64 arrays."""
        net = sim.network
        n = net.n_neurons
        mask = np.zeros((n, n), dtype=np.float64)
        mask[net.edge_pre, net.edge_post] = 1.0
        return cls(
            W=np.array(net.dense_matrix(), dtype=np.float64),
            M=mask,
            b=np.array(net.bias, dtype=np.float64),
            s=np.array(sim.state, dtype=np.float64),
            v=np.array(sim.velocity, dtype=np.float64),
            dz=np.array(sim.dz, dtype=np.float64),
            dz_mean=np.array(sim.dz_mean, dtype=np.float64),
            fake_active=np.array(sim.fake_target, dtype=bool),
            hidden=np.array(net.hidden, dtype=bool),
            role=np.array([ROLES[code] for code in net.role]),
            step=int(sim.step_count),
        )


@dataclass
class StepRecord:
    """What one reference step saw and did (for tests that need intermediate values)."""

    step: int
    s_old: np.ndarray
    s_tilde: np.ndarray
    force: np.ndarray
    target: np.ndarray
    clamp: np.ndarray
    dw: np.ndarray  # the rule's masked weight change (applied only if ``learned``)
    db: np.ndarray
    learned: bool


def step(
    ref: Reference, params: ModelParameters, seed: int, target: np.ndarray, clamp: np.ndarray
) -> StepRecord:
    """Advance ``ref`` by one step in place; returns what the step computed.

    ``target`` and ``clamp`` are the data's (B, N) arrays.
    """
    C, B, N = ref.s.shape
    t = ref.step
    betas = params.copy_betas
    eps = params.copy_eps
    assert len(betas) == C
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (B, N))
    clamp = np.broadcast_to(np.asarray(clamp, dtype=np.float64), (B, N))

    clamped, m, learns = phase_info(params, t)
    t_eff = target.copy()
    clamp_eff = clamp * (1.0 if clamped else 0.0)

    # (1) fake targets from the previous step's dz
    fake = np.zeros((B, N), dtype=bool)
    ft = params.fake_target
    if ft.enabled:
        for bb in range(B):
            for i in range(N):
                if not ref.hidden[i]:
                    continue
                dz_prev = ref.dz[bb, i]
                ref.dz_mean[bb, i] = ft.mu * ref.dz_mean[bb, i] + (1.0 - ft.mu) * abs(dz_prev)
                u = uniform(seed, STREAM_FAKE_TARGET, t, bb * N + i)
                if u * ft.k * ref.dz_mean[bb, i] < abs(dz_prev):
                    fake[bb, i] = True
                    t_eff[bb, i] = ft.magnitude if dz_prev > 0.0 else -ft.magnitude
                    clamp_eff[bb, i] = 1.0
    ref.fake_active = fake

    # (2) integrate every copy from the current W and b
    s_old = ref.s.copy()
    eta = np.zeros_like(s_old)
    if params.noise_sigma > 0.0:
        for c in range(C):
            for bb in range(B):
                for i in range(N):
                    eta[c, bb, i] = params.noise_sigma * normal(
                        seed, STREAM_NOISE, t, (c * B + bb) * N + i
                    )
    s_tilde = s_old + eta
    force = np.zeros_like(s_old)
    for c in range(C):
        rates = rho(s_tilde[c], params)  # (B, N)
        drive = rates @ ref.W  # drive[b, i] = sum_j rho_j W[j, i]
        R = rho_prime(s_tilde[c], params) * (drive + ref.b)
        # a role in role_beta is clamped with that strength in every copy
        beta = np.array([params.role_beta.get(role, betas[c]) for role in ref.role])
        F = R - s_old[c] + beta * clamp_eff * (t_eff - s_old[c])
        force[c] = F
        ref.v[c] = m * F + (1.0 - m) * ref.v[c]
        ref.s[c] = s_old[c] + eps[c] * ref.v[c]

    # (3) dz from the new states
    s_new = ref.s
    if params.rule == "astdp":
        rate_small = rho(s_new[0], params)
        ref.dz = rho(s_new[1], params) - rate_small
    else:
        ref.dz = rho(s_new[0], params) - rho(s_old[0], params)

    # (4) the rule's weight change, batch mean
    alpha = params.alpha
    if params.rule == "astdp":
        pre = rho(s_new[0], params)
        post = ref.dz
    elif params.rule == "mstdp":
        pre = rho(s_new[0], params)
        post = rho(s_new[0], params) - rho(s_old[0], params)
    elif params.rule == "rate_stdp":
        pre = rho(s_old[0], params)
        post = s_new[0] - s_old[0]
    else:
        raise ValueError(f"unknown rule {params.rule!r}")
    dW = np.zeros((N, N))
    for bb in range(B):
        dW += alpha * np.outer(pre[bb], post[bb])
    dW /= B
    db = alpha * post.mean(axis=0)
    if params.alpha_smoothing > 0.0:
        derivative = rho_prime(s_tilde[0], params)
        smooth_post = -params.alpha_smoothing * force[0] * derivative
        smooth_pre = rho(s_tilde[0], params)
        for bb in range(B):
            dW += np.outer(smooth_pre[bb], smooth_post[bb]) / B
        db = db + smooth_post.mean(axis=0)
    dW = dW * ref.M
    if learns:
        ref.W = ref.W + dW
        ref.b = ref.b + db
    ref.step = t + 1
    return StepRecord(
        step=t,
        s_old=s_old,
        s_tilde=s_tilde,
        force=force,
        target=t_eff,
        clamp=clamp_eff,
        dw=dW,
        db=db,
        learned=learns,
    )
