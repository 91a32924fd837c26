"""The pure model functions against MODEL.md, computed independently with plain NumPy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from neurosim.backends.event_update import STREAM_CLOCK
from neurosim.errors import ValidationError
from neurosim.kernels.activations import (
    ACTIVATION_CODES,
    activation_code,
    rate,
    rate_derivative,
    rate_derivative_from_rate,
    rate_derivative_scalar,
)
from neurosim.kernels.dynamics import cost, energy
from neurosim.kernels.neurons.rate import force, momentum_step, pressure
from neurosim.kernels.neurons.rate import integrate as neuron_step
from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, normal, uniform
from neurosim.kernels.rules import rule_factors
from neurosim.kernels.rules.astdp import CODE as RULE_ASTDP
from neurosim.kernels.rules.astdp import astdp_post
from neurosim.kernels.rules.fake_target import fake_target_draw
from neurosim.kernels.rules.mstdp import CODE as RULE_MSTDP
from neurosim.kernels.rules.mstdp import mstdp_post
from neurosim.kernels.rules.rate_stdp import CODE as RULE_RATE_STDP
from neurosim.kernels.rules.rate_stdp import rate_stdp_post
from neurosim.kernels.rules.smoothing import smoothing_post
from neurosim.kernels.step import weight_change_bound, within_bound
from neurosim.model.parameters import ModelParameters

THRESHOLD = -0.3


def reference_rate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "sigmoid4":
        return 1.0 / (1.0 + np.exp(-4.0 * x))
    if name == "sigmoid4_centred":
        return 1.0 / (1.0 + np.exp(-(4.0 * x - 2.0)))
    return np.clip(x - THRESHOLD, 0.0, 1.0)


@pytest.mark.parametrize("name", list(ACTIVATION_CODES))
def test_rate_matches_definition(name: str) -> None:
    x = np.linspace(-3, 3, 601)
    np.testing.assert_allclose(rate(x, name, THRESHOLD), reference_rate(x, name), rtol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid4", "sigmoid4_centred"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rate_saturates_without_warnings_far_from_zero(name: str, dtype: type) -> None:
    """States far below zero overflow the exponential; the rate is then exactly 0, and no
    overflow warning reaches the user (a diverging network is caught by the backends' own
    check on the states)."""
    x = np.array([-1e4, -60.0, 0.0, 60.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rates = rate(x, name, THRESHOLD)
    expected = reference_rate(x.astype(np.float64).clip(-50, 50), name)
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)
    assert rates[0] == 0.0 and rates[-1] == 1.0


@pytest.mark.parametrize("name", list(ACTIVATION_CODES))
def test_derivative_matches_finite_differences(name: str) -> None:
    x = np.linspace(-2.5, 2.5, 1001)
    if name == "hard_sigmoid":  # stay away from the two kinks
        kinks = np.array([THRESHOLD, THRESHOLD + 1.0])
        x = x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-3]
    h = 1e-6
    numeric = (reference_rate(x + h, name) - reference_rate(x - h, name)) / (2 * h)
    np.testing.assert_allclose(rate_derivative(x, name, THRESHOLD), numeric, atol=1e-7)
    # the shortcut a backend takes when it already holds the rate
    code = activation_code(name)
    from_rate = np.array([rate_derivative_from_rate(r, code) for r in rate(x, name, THRESHOLD)])
    np.testing.assert_allclose(from_rate, numeric, atol=1e-7)


def test_float32_activation_keeps_dtype() -> None:
    x = np.linspace(-1, 1, 11, dtype=np.float32)
    assert rate(x).dtype == np.float32
    assert rate_derivative(x).dtype == np.float32


def test_unknown_activation_lists_the_choices() -> None:
    with pytest.raises(ValidationError, match="sigmoid4, sigmoid4_centred, hard_sigmoid"):
        activation_code("relu")


def test_neuron_step_is_the_model_equation() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        s, v, drive, b, t, beta, eps, m = rng.uniform(-1, 1, 8)
        beta, eps, m = abs(beta), abs(eps), abs(m) + 1e-3
        derivative = 4 * reference_rate(s, "sigmoid4") * (1 - reference_rate(s, "sigmoid4"))
        expected_force = derivative * (drive + b) - s + beta * (t - s)
        expected_velocity = m * expected_force + (1 - m) * v
        new_s, new_v, f = neuron_step(s, v, drive, b, t, beta, eps, m, derivative, True)
        assert f == pytest.approx(expected_force, abs=1e-14)
        assert new_v == pytest.approx(expected_velocity, abs=1e-14)
        assert new_s == pytest.approx(s + eps * expected_velocity, abs=1e-14)
        # the aSTDP paper's Eqs. 19-20: the velocity carries R - s only, the clamp acts at once
        paper_velocity = m * (derivative * (drive + b) - s) + (1 - m) * v
        paper_s, paper_v, paper_f = neuron_step(s, v, drive, b, t, beta, eps, m, derivative, False)
        assert paper_f == pytest.approx(expected_force, abs=1e-14)
        assert paper_v == pytest.approx(paper_velocity, abs=1e-14)
        assert paper_s == pytest.approx(s + eps * (paper_velocity + beta * (t - s)), abs=1e-14)
        # without momentum the two placements move the state alike (the velocities differ
        # by the clamp's pull, which only one of them carries)
        plain_s, _, plain_f = neuron_step(s, v, drive, b, t, beta, eps, 1.0, derivative, True)
        paper_s, _, paper_f = neuron_step(s, v, drive, b, t, beta, eps, 1.0, derivative, False)
        assert (paper_s, paper_f) == pytest.approx((plain_s, plain_f), abs=1e-15)
        assert pressure(derivative, drive, b) == pytest.approx(derivative * (drive + b))
        assert force(s, 0.3, beta, t) == pytest.approx(0.3 - s + beta * (t - s))
        assert momentum_step(s, v, f, eps, 1.0) == pytest.approx((s + eps * f, f))


def test_energy_and_cost_by_hand() -> None:
    s = np.array([0.2, -0.4, 0.7])
    w = np.array([[0.0, 0.5, -0.3], [0.5, 0.0, 0.1], [-0.3, 0.1, 0.0]])
    b = np.array([0.1, -0.2, 0.05])
    r = reference_rate(s, "sigmoid4")
    by_hand = (
        0.5 * np.sum(s**2)
        - 0.5 * sum(w[i, j] * r[i] * r[j] for i in range(3) for j in range(3) if i != j)
        - np.sum(b * r)
    )
    assert energy(s, w, b) == pytest.approx(by_hand, abs=1e-12)
    t = np.array([1.0, 0.0, 0.0])
    beta = np.array([0.5, 0.5, 0.0])
    assert cost(s, t, beta) == pytest.approx(0.5 * (0.5 * 0.8**2 + 0.5 * 0.4**2))


def test_force_is_minus_the_gradient_of_energy_plus_cost() -> None:
    rng = np.random.default_rng(0)
    n = 5
    w = rng.uniform(-0.5, 0.5, (n, n))
    w = np.triu(w, 1) + np.triu(w, 1).T
    b = rng.uniform(-0.2, 0.2, n)
    s = rng.uniform(-1, 1, n)
    t = rng.uniform(0, 1, n)
    beta = np.array([0.3, 0.0, 0.5, 0.0, 0.1])
    r = rate(s)
    derivative = rate_derivative(s)
    forces = np.array(
        [force(s[i], pressure(derivative[i], r @ w[:, i], b[i]), beta[i], t[i]) for i in range(n)]
    )
    h = 1e-6
    gradient = np.array(
        [
            (
                energy(s + h * e, w, b)
                + cost(s + h * e, t, beta)
                - energy(s - h * e, w, b)
                - cost(s - h * e, t, beta)
            )
            / (2 * h)
            for e in np.eye(n)
        ]
    )
    np.testing.assert_allclose(forces, -gradient, atol=1e-7)


def test_rule_factors_are_the_model_formulas() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b, c, d, alpha = rng.uniform(-1, 1, 5)
        assert astdp_post(a, b, alpha) == pytest.approx(alpha * (b - a))
        assert mstdp_post(a, b, alpha) == pytest.approx(alpha * (a - b))
        assert rate_stdp_post(c, d, alpha) == pytest.approx(alpha * (c - d))
        assert smoothing_post(c, d, alpha) == pytest.approx(-alpha * c * d)


@pytest.mark.parametrize("rule", ["astdp", "mstdp", "rate_stdp"])
def test_rule_factors_gives_each_rules_dz_pre_and_post(rule: str) -> None:
    """``rule_factors`` against MODEL.md's table, with five different inputs so that a
    swapped argument or a factor from another rule fails:

    - aSTDP: dz = rho(s^L) - rho(s^S), pre = rho(s^S) (new), post = alpha dz;
    - MSTDP: dz = rho(s(t+1)) - rho(s(t)), pre = rho(s(t+1)), post = alpha dz;
    - rate STDP: dz as MSTDP's, pre = rho(s(t)), post = alpha (s(t+1) - s(t)).
    """
    code = {"astdp": RULE_ASTDP, "mstdp": RULE_MSTDP, "rate_stdp": RULE_RATE_STDP}[rule]
    rng = np.random.default_rng(5)
    for _ in range(50):
        rate_small, rate_large, rate_previous = rng.uniform(0.0, 1.0, 3)
        state_new, state_previous = rng.uniform(-1.0, 1.0, 2)
        alpha = rng.uniform(1e-3, 1.0)
        if rule == "astdp":
            expected = (
                rate_large - rate_small,
                rate_small,
                alpha * (rate_large - rate_small),
            )
        elif rule == "mstdp":
            expected = (
                rate_small - rate_previous,
                rate_small,
                alpha * (rate_small - rate_previous),
            )
        else:
            expected = (
                rate_small - rate_previous,
                rate_previous,
                alpha * (state_new - state_previous),
            )
        got = rule_factors(
            code, rate_small, rate_large, rate_previous, state_new, state_previous, alpha, 0.7
        )
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


FAKE_TARGET_POINTS = [
    # dz, dz_mean, k, mu, magnitude: both signs, dz_mean above and below |dz|, the
    # probability below one and saturated at one
    (-0.02, 0.01, 4.0, 0.8, 0.25),
    (0.03, 0.05, 2.0, 0.9, 1.0),
    (0.004, 0.002, 50.0, 0.5, 0.5),
    (-0.2, 0.01, 1.5, 0.95, 0.3),
    (0.05, 0.0, 3.0, 0.0, 0.7),
]


@pytest.mark.parametrize(("dz", "dz_mean", "k", "mu", "magnitude"), FAKE_TARGET_POINTS)
def test_fake_target_probability_and_sign(dz, dz_mean, k, mu, magnitude) -> None:
    """The moving average, the probability min(1, |dz| / (k dz_mean)) and the target
    sign(dz) * magnitude (aSTDP paper, section 2.2.2), at several operating points."""
    new_mean = mu * dz_mean + (1 - mu) * abs(dz)
    probability = min(1.0, abs(dz) / (k * new_mean))
    draws = np.array([uniform(7, 1, step, 0) for step in range(20000)])
    results = [fake_target_draw(dz, dz_mean, u, k, magnitude, mu) for u in draws]
    assert all(r[0] == pytest.approx(new_mean, rel=1e-15) for r in results)
    assert all(r[2] == (magnitude if dz > 0 else -magnitude) for r in results)
    active = np.mean([r[1] for r in results])
    # within 5 standard errors of the binomial
    spread = np.sqrt(probability * (1 - probability) / draws.size)
    assert abs(active - probability) <= 5 * spread + 1e-12


def test_fake_target_decision_is_a_strict_comparison_of_the_draw() -> None:
    """Active exactly when u * k * dz_mean < |dz|: at the boundary draw it is not, one ulp
    below it is; no dz gives no fake target whatever the draw."""
    dz, dz_mean, k, mu, magnitude = 0.01, 0.02, 2.0, 0.5, 0.25
    new_mean = mu * dz_mean + (1 - mu) * abs(dz)
    boundary = abs(dz) / (k * new_mean)
    while boundary * k * new_mean < abs(dz):  # the smallest draw that is not below
        boundary = np.nextafter(boundary, 1.0)
    assert not fake_target_draw(dz, dz_mean, boundary, k, magnitude, mu)[1]
    assert fake_target_draw(dz, dz_mean, np.nextafter(boundary, 0.0), k, magnitude, mu)[1]
    assert not fake_target_draw(0.0, 0.0, 0.0, k, magnitude, mu)[1]
    assert not fake_target_draw(0.0, 0.3, 0.0, k, magnitude, mu)[1]


def test_random_draws_are_pure_and_well_distributed() -> None:
    first = [uniform(3, 1, step, 5) for step in range(5)]
    assert first == [uniform(3, 1, step, 5) for step in range(5)]
    assert uniform(3, 1, 0, 5) != uniform(4, 1, 0, 5)
    assert uniform(3, 1, 0, 5) != uniform(3, 2, 0, 5)
    draws = np.array([uniform(11, 1, 0, index) for index in range(50000)])
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < 0.01
    counts, _ = np.histogram(draws, bins=10, range=(0, 1))
    assert counts.min() > 4500
    normals = np.array([normal(11, 2, 3, index) for index in range(50000)])
    assert abs(normals.mean()) < 0.02
    assert abs(normals.std() - 1.0) < 0.02


def _splitmix64_finaliser(z: int) -> int:
    """SplitMix64's output function on a 64-bit integer (Steele, Lea and Flood 2014)."""
    mask = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_random_draws_are_the_documented_splitmix64_stream() -> None:
    """The draws are part of what a seed means: the same seed must give the same store in
    every version. Each is recomputed here with Python's integers from the documented
    construction (SplitMix64's finaliser over a key combined from seed, stream, step and
    index with the golden-ratio increment; the top 53 bits as the uniform; Box-Muller on two
    uniforms for the normal)."""
    mask = (1 << 64) - 1
    golden = 0x9E3779B97F4A7C15
    mix1 = 0xBF58476D1CE4E5B9

    def expected_uniform(seed: int, stream: int, step: int, index: int) -> float:
        key = _splitmix64_finaliser((seed * golden + stream) & mask)
        key = _splitmix64_finaliser(key ^ ((step * golden) & mask))
        bits = _splitmix64_finaliser(key ^ ((index * mix1 + golden) & mask))
        return (bits >> 11) / 2.0**53

    cases = [(0, 1, 0, 0), (7, 1, 3, 5), (123456, 2, 99, 4321), (2**31, 3, 2**40, 2**20 + 7)]
    for seed, stream, step, index in cases:
        assert uniform(seed, stream, step, index) == expected_uniform(seed, stream, step, index)
        u1 = expected_uniform(seed, stream, step, 2 * index)
        u2 = expected_uniform(seed, stream, step, 2 * index + 1)
        expected_normal = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        assert normal(seed, stream, step, index) == pytest.approx(expected_normal, rel=1e-15)


def test_activation_code_refuses_a_name_that_is_not_a_string() -> None:
    with pytest.raises(ValidationError, match=r"activation \['relu'\] is unknown"):
        activation_code(["relu"])


def test_hard_sigmoid_derivative_is_zero_at_both_kinks() -> None:
    """rho' of the hard sigmoid is 1 strictly inside its linear part: at the kinks
    (threshold and threshold + 1) the rate stops changing on one side, and 0 there keeps the
    pressure from pushing a state that sits exactly on a kink."""
    code = activation_code("hard_sigmoid")
    for x, expected in ((THRESHOLD, 0.0), (THRESHOLD + 1.0, 0.0), (THRESHOLD + 0.5, 1.0)):
        assert rate_derivative_scalar(x, code, THRESHOLD) == expected
    np.testing.assert_array_equal(
        rate_derivative(np.array([THRESHOLD, THRESHOLD + 1.0]), "hard_sigmoid", THRESHOLD), 0.0
    )


def test_default_hard_sigmoid_threshold_is_the_models() -> None:
    """The array functions' default threshold is the model's default, so an analysis that
    leaves it out reads the rates the simulation used."""
    default = ModelParameters().hard_sigmoid_threshold
    x = np.linspace(-1.5, 1.0, 26)
    np.testing.assert_array_equal(rate(x, "hard_sigmoid"), rate(x, "hard_sigmoid", default))
    np.testing.assert_array_equal(
        rate_derivative(x, "hard_sigmoid"), rate_derivative(x, "hard_sigmoid", default)
    )
    weights = np.array([[0.0, 0.4], [-0.3, 0.0]])
    bias = np.array([0.1, -0.2])
    state = np.array([[-0.7, 0.2], [0.1, 0.45]])
    np.testing.assert_array_equal(
        energy(state, weights, bias, "hard_sigmoid"),
        energy(state, weights, bias, "hard_sigmoid", default),
    )


def test_random_streams_are_distinct_and_fixed() -> None:
    """Fake targets, Langevin noise and the event backend's clock jitter draw from their own
    streams (one shared stream would correlate them), with the numbers a seed has always used
    (a renumbered stream changes every stored run of that seed)."""
    assert (STREAM_FAKE_TARGET, STREAM_NOISE, STREAM_CLOCK) == (1, 2, 3)
    draws = {stream: uniform(7, stream, 11, 13) for stream in (1, 2, 3)}
    assert len(set(draws.values())) == 3
    assert uniform(7, STREAM_FAKE_TARGET, 11, 13) == draws[1]
    assert uniform(7, STREAM_NOISE, 11, 13) == draws[2]


def test_the_bcm_rate_neuron_is_the_two_equations_stepped_from_threshold_zero() -> None:
    """kernels/bcm.py's rate neuron against the module's equations written out in NumPy:
    y = max(0, w . x - offset); the threshold relaxes exactly towards y^2 / kappa from 0;
    forward-Euler weights eta dt x y (y - theta), clipped; rows of means every ``every``."""
    from neurosim.kernels.bcm import rate_neuron_run

    rng = np.random.default_rng(4)
    patterns = rng.uniform(0.0, 30.0, size=(3, 5))
    w_start = rng.uniform(0.0, 0.4, size=5)
    offset, eta, kappa, dt, tau_theta = 1.5, 2e-5, 8.0, 0.5, 20.0
    w_min, w_max, total, every, pattern_steps = 0.0, 0.45, 60, 7, 11
    decay = math.exp(-dt / tau_theta)

    w = w_start.copy()
    theta, rates, norms, thetas, interval = 0.0, [], [], [], []
    for step in range(total):
        x = patterns[step // pattern_steps % 3]
        y = max(0.0, float(w @ x) - offset)
        theta = y * y / kappa + (theta - y * y / kappa) * decay
        w = np.clip(w + eta * dt * x * y * (y - theta), w_min, w_max)
        interval.append(y)
        if len(interval) == every:
            rates.append(np.mean(interval))
            norms.append(np.linalg.norm(w))
            thetas.append(theta)
            interval = []

    got_w = w_start.copy()
    tiled = np.tile(patterns, (math.ceil(total / pattern_steps / 3), 1))
    got = rate_neuron_run(
        tiled, pattern_steps, got_w, offset, eta, kappa, decay, dt, w_min, w_max, total, every
    )
    assert len(rates) == total // every
    expected = (rates, norms, thetas)
    for name, mine, theirs in zip(("rates", "norms", "thresholds"), expected, got, strict=True):
        np.testing.assert_allclose(theirs, mine, rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_allclose(got_w, w, rtol=1e-12, atol=1e-15)
    assert np.any(got_w != w_start)  # the weights did move


def test_the_weight_change_bound_is_the_sum_of_each_terms_largest_factors() -> None:
    """sum over terms and samples of max |pre| * max |post|: no weight moves by more in a
    step (checked on factors below 1 in size, of both signs)."""
    rng = np.random.default_rng(4)
    pre, post = rng.uniform(-0.9, 0.9, (2, 2, 3, 5))
    expected = (np.abs(pre).max(axis=2) * np.abs(post).max(axis=2)).sum()
    assert weight_change_bound(pre, post) == pytest.approx(expected, rel=1e-15)
    changes = pre[:, :, :, None] * post[:, :, None, :]  # dW[j, i] of each term and sample
    assert np.abs(changes.sum(axis=(0, 1))).max() <= weight_change_bound(pre, post)
    assert weight_change_bound(np.zeros((1, 1, 4)), post[:1, :1, :4]) == 0.0


def test_the_divergence_bound_is_inclusive_and_refuses_nan() -> None:
    """|value| <= bound: a value exactly at the bound is within it; NaN and inf are not."""
    assert within_bound(2.5, 2.5) and within_bound(-2.5, 2.5)
    assert not within_bound(np.nextafter(2.5, 3.0), 2.5)
    assert not within_bound(math.nan, 2.5) and not within_bound(-math.inf, 2.5)
