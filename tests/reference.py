"""A slow, obvious, plain-NumPy (float64) reference of one step of the model (MODEL.md).

Written from MODEL.md and the backends' documented conventions, independently of the
package: every parameter is read from the raw fields of ``ModelParameters`` (which copy has
which beta and eps, which rule learns in which phase, the oscillator's phases), never from
the package's derived properties, codes or tables. The only thing taken from the package is
the counter-based random draws (``neurosim.kernels.random``): a fake target or a Langevin
noise term is a draw, and a reference with draws of its own could only be compared in
distribution, not step by step. The draws are checked on their own in test_kernels.py.

Everything works on a dense weight matrix ``W[j, i]`` (pre j -> post i) with a 0/1 synapse
mask ``M``; states are ``(C, B, N)`` with copy 0 the smaller beta and copy 1 the larger one.

Neurons talk by messages (the event-driven backend's view, which the synchronous backend is
the lock-step case of). After its update at time ``t`` a neuron sends the rates of its copies
for its next drive, ``rho(s(t+1) + eta(t+1))``, and the presynaptic factors of this update
(the rule's, and smoothing's ``rho(s~(t))``); the initial message, sent before time 0, holds
``rho(s(0) + eta(0))`` and zero factors. A message over a synapse of delay ``d`` (> 0) is
heard from the update at ``t + ceil(d)`` on; each synapse hears the newest message that has
arrived. With a send threshold a neuron sends only when a value of its message moved by more
than the threshold since the last message it sent. Every delay 1 and no threshold is the
synchronous model: each drive reads the rates of the previous step.

One step at global step number ``t`` (the simulator's step counter before the step):

1. fake targets (hidden neurons, if enabled) from the previous step's ``dz``;
2. every copy integrates: ``s~ = s + eta``,
   ``R = rho'(s~) * (sum_j W[j, i] * heard rate_j + b)``,
   ``F = R - s + beta_c * clamp * (t - s)``, ``v <- m F + (1 - m) v``, ``s <- s + eps_c v``;
3. ``dz`` from the new states; the messages are sent;
4. W and b change by the rule (batch mean), only on existing synapses: ``b`` by this step's
   postsynaptic factor, ``W[j, i]`` by it times the presynaptic factor of the message the
   synapse hears at the next update (with delay 1: this step's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, normal, uniform
from neurosim.model.parameters import ClampOscillator, FakeTargetParameters, ModelParameters

# The set-ups every backend is compared on (ModelParameters keyword arguments): each rule,
# each activation, each option alone and the combinations whose order within a step matters.
RULE_CONFIGS: dict[str, dict] = {
    "astdp_fake_momentum": dict(
        rule="astdp",
        momentum=0.6,
        fake_target=FakeTargetParameters(enabled=True, k=3.0, magnitude=0.25, mu=0.9),
    ),
    # the same with the paper's momentum (Eqs. 19-20): clamp and fake targets outside it
    "astdp_fake_momentum_outside": dict(
        rule="astdp",
        momentum=0.6,
        momentum_includes_clamp=False,
        fake_target=FakeTargetParameters(enabled=True, k=3.0, magnitude=0.25, mu=0.9),
    ),
    "astdp": dict(rule="astdp"),
    "mstdp_oscillator": dict(
        rule="mstdp",
        momentum=0.4,
        oscillator=ClampOscillator(clamped_steps=5, free_steps=3, offset=2),
    ),
    "mstdp_learn_when_free": dict(
        rule="mstdp",
        oscillator=ClampOscillator(clamped_steps=3, free_steps=2, learn_when_free=True),
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
    # smoothing sees the noisy state
    "astdp_noise_smoothing": dict(rule="astdp", noise_sigma=0.05, alpha_smoothing=0.02),
    # fake targets clamp in the oscillator's free phases too
    "astdp_fake_oscillator": dict(
        rule="astdp",
        fake_target=FakeTargetParameters(enabled=True, k=3.0),
        oscillator=ClampOscillator(clamped_steps=4, free_steps=4, offset=1),
    ),
    "astdp_hard_sigmoid": dict(rule="astdp", activation="hard_sigmoid"),
    "mstdp_centred": dict(rule="mstdp", activation="sigmoid4_centred"),
    "rate_stdp_smoothing_noise": dict(
        rule="rate_stdp", activation="sigmoid4_centred", alpha_smoothing=0.03, noise_sigma=0.03
    ),
    # a threshold fast enough to cross the rates within the run, with smoothing and noise
    "bcm": dict(rule="bcm", tau_theta=4.0, kappa=0.4, alpha=0.05),
    "bcm_smoothing_noise": dict(
        rule="bcm", tau_theta=7.0, kappa=0.3, alpha=0.05, alpha_smoothing=0.02, noise_sigma=0.03
    ),
}

# --------------------------------------------------------------------------------------------
# parameters and roles, from the raw fields


def roles(graph, network) -> list[str]:
    """Each compiled neuron's role, read from the graph's node attributes."""
    return [graph.nodes[node]["role"] for node in network.node_ids]


def copy_betas(params: ModelParameters) -> tuple[float, ...]:
    """aSTDP keeps two copies, clamped with beta_small and beta_large; the others one."""
    if params.rule == "astdp":
        return (params.beta_small, params.beta_large)
    return (params.beta,)


def copy_eps(params: ModelParameters) -> tuple[float, ...]:
    if params.rule == "astdp":
        return (params.eps_small, params.eps_large)
    return (params.eps,)


# --------------------------------------------------------------------------------------------
# activations


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

# The fields of a message after the copies' rates: the rule's and smoothing's presynaptic
# factors.
PRE_RULE = -2
PRE_SMOOTHING = -1


@dataclass
class Reference:
    """Everything the model carries from one step to the next, in float64.

    ``lag[j, i]`` is the number of updates a message from j needs to reach i (``ceil`` of
    the synapse's delay; 1 everywhere in the synchronous model). ``messages[u + 1]`` holds,
    per sample and neuron, the newest message sent at or before time ``u`` (``messages[0]``
    the initial one), as (B, N, copies + 2); ``sent[u]`` which neurons sent at time ``u``.
    """

    W: np.ndarray  # (N, N), W[pre, post]
    M: np.ndarray  # (N, N), 1 where a synapse exists
    b: np.ndarray  # (N,)
    s: np.ndarray  # (C, B, N)
    v: np.ndarray  # (C, B, N)
    dz: np.ndarray  # (B, N)
    dz_mean: np.ndarray  # (B, N)
    fake_active: np.ndarray  # (B, N) bool, last step's fake-target decisions
    hidden: np.ndarray  # (N,) bool
    role: list[str]  # (N,) role names
    lag: np.ndarray  # (N, N) int, lag[pre, post]
    send_threshold: float = 0.0
    step: int = 0
    theta: np.ndarray | None = None  # (B, N): BCM's sliding threshold, from 0
    messages: list[np.ndarray] = field(default_factory=list)
    sent: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def from_simulator(
        cls,
        sim,
        params: ModelParameters,
        seed: int,
        role: list[str],
        delay: np.ndarray | None = None,
        send_threshold: float = 0.0,
    ) -> Reference:
        """Copy the simulator's current state, weights and biases into float64 arrays.

        ``role`` names each compiled neuron's role; ``delay`` is the (N, N) matrix of synapse
        delays ``delay[pre, post]`` (every delay 1 when omitted). The initial message is
        built from the state, as every neuron sends its starting rates before time 0.
        """
        net = sim.network
        n = net.n_neurons
        mask = np.zeros((n, n), dtype=np.float64)
        mask[net.edge_pre, net.edge_post] = 1.0
        if delay is None:
            lag = np.ones((n, n), dtype=np.int64)
        else:
            delay = np.asarray(delay, dtype=np.float64)
            on_synapses = delay[mask == 1.0]
            assert np.all(on_synapses > 0.0), "the reference needs delays > 0"
            lag = np.where(mask == 1.0, np.ceil(delay), 1).astype(np.int64)
        ref = cls(
            W=np.array(net.dense_matrix(), dtype=np.float64),
            M=mask,
            b=np.array(net.bias, dtype=np.float64),
            s=np.array(sim.state, dtype=np.float64),
            v=np.array(sim.velocity, dtype=np.float64),
            dz=np.array(sim.dz, dtype=np.float64),
            dz_mean=np.array(sim.dz_mean, dtype=np.float64),
            fake_active=np.array(sim.fake_target, dtype=bool),
            hidden=np.array([name == "hidden" for name in role]),
            role=list(role),
            lag=lag,
            send_threshold=float(send_threshold),
            step=int(sim.step_count),
        )
        C, B, N = ref.s.shape
        initial = np.zeros((B, N, C + 2))
        initial[:, :, :C] = rho(ref.s + noise(params, seed, ref.step, C, B, N), params).transpose(
            1, 2, 0
        )
        ref.messages = [initial]
        return ref

    def heard(self, t: int) -> np.ndarray:
        """What each synapse hears at the update at time ``t``: (B, N pre, N post, fields)."""
        sent_at = np.maximum(t - self.lag, -1)  # (N, N): the newest message time it hears
        oldest = int(sent_at.min()) + 1  # messages before it no synapse hears any more
        history = np.stack(self.messages[oldest:])  # (times, B, N, fields)
        pre = np.arange(self.W.shape[0])[:, None]
        return history[sent_at + 1 - oldest, :, pre, :].transpose(2, 0, 1, 3)


def noise(params: ModelParameters, seed: int, t: int, C: int, B: int, N: int) -> np.ndarray:
    """Langevin noise eta of step ``t``, (C, B, N): sigma times the counter-based normal draw
    of (copy, sample, neuron) at index ``(c * B + b) * N + i``."""
    eta = np.zeros((C, B, N))
    if params.noise_sigma > 0.0:
        for c in range(C):
            for bb in range(B):
                for i in range(N):
                    eta[c, bb, i] = params.noise_sigma * normal(
                        seed, STREAM_NOISE, t, (c * B + bb) * N + i
                    )
    return eta


@dataclass
class StepRecord:
    """What one reference step did that its state does not keep."""

    step: int
    sent: np.ndarray  # (B, N) bool: which neurons sent a message after this step


def step(
    ref: Reference, params: ModelParameters, seed: int, target: np.ndarray, clamp: np.ndarray
) -> StepRecord:
    """Advance ``ref`` by one step in place; returns what the step computed.

    ``target`` and ``clamp`` are the data's (B, N) arrays.
    """
    C, B, N = ref.s.shape
    t = ref.step
    betas = copy_betas(params)
    eps = copy_eps(params)
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

    # (2) integrate every copy from the current W and b and the rates each synapse heard
    s_old = ref.s.copy()
    s_tilde = s_old + noise(params, seed, t, C, B, N)
    heard = ref.heard(t)  # (B, N, N, fields)
    force = np.zeros_like(s_old)
    for c in range(C):
        drive = np.einsum("bji,ji->bi", heard[..., c], ref.W)
        R = rho_prime(s_tilde[c], params) * (drive + ref.b)
        # a role in role_beta is clamped with that strength in every copy
        beta = np.array([params.role_beta.get(role, betas[c]) for role in ref.role])
        network_pull = R - s_old[c]
        clamp_pull = beta * clamp_eff * (t_eff - s_old[c])
        F = network_pull + clamp_pull
        force[c] = F
        if params.momentum_includes_clamp:
            ref.v[c] = m * F + (1.0 - m) * ref.v[c]
            ref.s[c] = s_old[c] + eps[c] * ref.v[c]
        else:  # the aSTDP paper's Eqs. 19-20: the clamp acts outside the velocity
            ref.v[c] = m * network_pull + (1.0 - m) * ref.v[c]
            ref.s[c] = s_old[c] + eps[c] * (ref.v[c] + clamp_pull)

    # (3) dz and the rule's factors from the new states
    s_new = ref.s
    alpha = params.alpha
    if params.rule == "astdp":
        pre = rho(s_new[0], params)
        ref.dz = rho(s_new[1], params) - rho(s_new[0], params)
        post = alpha * ref.dz
    elif params.rule == "mstdp":
        pre = rho(s_new[0], params)
        ref.dz = rho(s_new[0], params) - rho(s_old[0], params)
        post = alpha * ref.dz
    elif params.rule == "rate_stdp":
        pre = rho(s_old[0], params)
        ref.dz = rho(s_new[0], params) - rho(s_old[0], params)
        post = alpha * (s_new[0] - s_old[0])
    elif params.rule == "bcm":
        # the threshold relaxes towards y^2 / kappa over one step, then the rule uses it
        y = rho(s_new[0], params)
        if ref.theta is None:
            ref.theta = np.zeros_like(y)
        target = y**2 / params.kappa
        ref.theta = target + (ref.theta - target) * np.exp(-1.0 / params.tau_theta)
        pre = y
        ref.dz = np.zeros_like(y)
        post = alpha * y * (y - ref.theta)
    else:
        raise ValueError(f"unknown rule {params.rule!r}")
    smooth_pre = rho(s_tilde[0], params)
    smooth_post = np.zeros((B, N))
    if params.alpha_smoothing > 0.0:
        smooth_post = -params.alpha_smoothing * force[0] * rho_prime(s_tilde[0], params)

    # the messages: rates for the next drive (with the next step's noise), then the factors
    message = np.zeros((B, N, C + 2))
    next_rates = rho(s_new + noise(params, seed, t + 1, C, B, N), params)  # (C, B, N)
    message[:, :, :C] = next_rates.transpose(1, 2, 0)
    message[:, :, PRE_RULE] = pre
    message[:, :, PRE_SMOOTHING] = smooth_pre
    last = ref.messages[-1]
    change = np.max(np.abs(message - last), axis=-1)
    sends = change > ref.send_threshold if ref.send_threshold > 0.0 else np.ones((B, N), bool)
    ref.messages.append(np.where(sends[:, :, None], message, last))
    ref.sent.append(sends)

    # (4) the weight change, batch mean: each synapse's presynaptic factor is the one it
    # hears at the next update
    heard_next = ref.heard(t + 1)
    dW = np.einsum("bji,bi->ji", heard_next[..., PRE_RULE], post) / B
    dW += np.einsum("bji,bi->ji", heard_next[..., PRE_SMOOTHING], smooth_post) / B
    db = post.mean(axis=0) + smooth_post.mean(axis=0)
    dW = dW * ref.M
    if learns:
        ref.W = ref.W + dW
        ref.b = ref.b + db
    ref.step = t + 1
    return StepRecord(step=t, sent=sends)


# --------------------------------------------------------------------------------------------
# comparison

# float64 agreement with the reference, relative to each array's scale (at least 1): the
# arithmetic gives a few 1e-15; a parameter rounded to float32 on the way errs by ~3e-8
RTOL = 1e-12


def assert_close(got, expected, name: str, where: str, tolerance: float = RTOL) -> None:
    """``got`` equals ``expected`` within ``tolerance`` times the array's scale (>= 1)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(
        np.asarray(got, dtype=np.float64),
        expected,
        rtol=0,
        atol=tolerance * scale,
        err_msg=f"{name} differs from the reference {where}",
    )


def assert_matches(sim, ref: Reference, where: str, tolerance: float = RTOL) -> None:
    """A simulator's states, velocities, dz, dz_mean, W, b and fake targets equal the
    reference's (fake targets exactly)."""
    checks = {
        "state": (sim.state, ref.s),
        "velocity": (sim.velocity, ref.v),
        "dz": (sim.dz, ref.dz),
        "dz_mean": (sim.dz_mean, ref.dz_mean),
        "W": (sim.network.dense_matrix(), ref.W),
        "b": (sim.network.bias, ref.b),
    }
    for name, (got, expected) in checks.items():
        assert_close(got, expected, name, where, tolerance)
    np.testing.assert_array_equal(
        sim.fake_target, ref.fake_active, err_msg=f"fake targets differ {where}"
    )
