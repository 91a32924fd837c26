"""Local learning rules (MODEL.md, "Learning rules"), one pure function each.

Every rule of the rate model changes a synapse by a product of something the presynaptic
neuron sends and something the postsynaptic neuron knows about itself:

    dW[j, i] = pre_j * post_i,      db_i = post_i.

Each function below returns the postsynaptic factor ``post_i`` (learning rate included) and
documents which presynaptic factor goes with it; a backend forms the outer product over the
synapses it has (a batch averages it over samples). Because the factors are per neuron, the
same functions serve a neuron that updates alone (event backend) and a whole batch at once.
The functions are written element-wise, so they accept scalars or arrays.

Time unit: one integration step; "new" means the state after this step's integration and
"previous" the state before it.
"""

from __future__ import annotations

from numba import njit

# Rule codes, as compiled code selects a rule.
RULE_ASTDP = 0
RULE_MSTDP = 1
RULE_RATE_STDP = 2


@njit(cache=True)
def astdp_post(rate_small: float, rate_large: float, alpha: float) -> float:
    """aSTDP: post factor ``alpha * dz_i`` with ``dz_i = rho(s^L_i) - rho(s^S_i)``.

    Presynaptic factor: ``rho(s^S_j)``, the weakly clamped copy's new rate.
    """
    return alpha * (rate_large - rate_small)


@njit(cache=True)
def mstdp_post(rate_new: float, rate_previous: float, alpha: float) -> float:
    """MSTDP: post factor ``alpha * (rho(s_i(t)) - rho(s_i(t-1)))``.

    Presynaptic factor: ``rho(s_j(t))``, the new rate. Applied while the input neurons'
    oscillator is clamped (and in free phases only when the model says so).
    """
    return alpha * (rate_new - rate_previous)


@njit(cache=True)
def rate_stdp_post(state_new: float, state_previous: float, alpha: float) -> float:
    """Rate STDP: post factor ``alpha * (s_i(t+1) - s_i(t))``.

    Presynaptic factor: ``rho(s_j(t))``, the rate before this step's integration.
    """
    return alpha * (state_new - state_previous)


@njit(cache=True)
def rule_factors(
    rule: int,
    rate_small: float,
    rate_large: float,
    rate_previous: float,
    state_new: float,
    state_previous: float,
    alpha: float,
) -> tuple[float, float, float]:
    """One neuron's ``(dz, presynaptic factor, postsynaptic factor)`` under ``rule`` (a
    RULE_* code): ``dz`` is aSTDP's copy difference or the other rules' change of rate; the
    factors are those documented by ``astdp_post``, ``mstdp_post`` and ``rate_stdp_post``.
    ``rate_small``/``rate_large`` are the new rates of the two copies (equal with one copy),
    ``rate_previous`` the rate before this step's integration."""
    if rule == RULE_ASTDP:
        return rate_large - rate_small, rate_small, astdp_post(rate_small, rate_large, alpha)
    if rule == RULE_MSTDP:
        return (
            rate_small - rate_previous,
            rate_small,
            mstdp_post(rate_small, rate_previous, alpha),
        )
    return (
        rate_small - rate_previous,
        rate_previous,
        rate_stdp_post(state_new, state_previous, alpha),
    )


@njit(cache=True)
def smoothing_post(force_value: float, rate_derivative: float, alpha_smoothing: float) -> float:
    """Smoothing: gradient descent on ``1/2 ||F||^2``: post factor ``-alpha_s * F_i * rho'(s_i)``.

    ``F`` and ``rho'`` are those of this step's integration (the state before the step), and
    the presynaptic factor is ``rho(s_j)`` of that same state, so the product is the exact
    gradient of ``1/2 ||F||^2`` at the point the step started from.
    """
    return -alpha_smoothing * force_value * rate_derivative


@njit(cache=True)
def fake_target_draw(
    dz: float, dz_mean: float, uniform_draw: float, k: float, magnitude: float, mu: float
) -> tuple[float, bool, float]:
    """Adaptive fake target of one hidden neuron; returns (new dz_mean, active, target).

    ``dz_mean <- mu * dz_mean + (1 - mu) * |dz|``; the neuron is clamped toward
    ``sign(dz) * magnitude`` with probability ``min(1, |dz| / (k * dz_mean))``, decided by
    ``uniform_draw`` in [0, 1). ``dz`` is the previous step's.
    """
    magnitude_dz = abs(dz)
    dz_mean = mu * dz_mean + (1.0 - mu) * magnitude_dz
    active = uniform_draw * k * dz_mean < magnitude_dz
    target = magnitude if dz > 0.0 else -magnitude
    return dz_mean, active, target
