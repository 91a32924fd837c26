"""Firing-rate functions rho and their derivatives rho'.

Each activation has an integer code so that compiled loops can select it without Python
objects. The scalar functions are Numba-compiled and work element-wise inside any compiled
loop; ``rate`` and ``rate_derivative`` apply them to whole arrays from Python.

- ``sigmoid4(x) = 1 / (1 + exp(-4 x))`` (MSTDP and aSTDP papers), ``rho' = 4 rho (1 - rho)``.
- ``sigmoid4_centred(x) = sigmoid(4 x - 2)``, the variant used by equilibrium-propagation code.
- ``hard_sigmoid(x) = clip(x - threshold, 0, 1)`` with ``-1 < threshold < 0`` (the
  STDP-objective paper's ``beta1``), ``rho' = 1`` strictly inside the linear part, else 0.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

from neurosim.errors import ValidationError

ACTIVATION_CODES: dict[str, int] = {}


def _register(name: str) -> int:
    """Give an activation its code (0, 1, ... in the order they register); ``model.activation``
    accepts the registered names."""
    ACTIVATION_CODES[name] = len(ACTIVATION_CODES)
    return ACTIVATION_CODES[name]


SIGMOID4 = _register("sigmoid4")
SIGMOID4_CENTRED = _register("sigmoid4_centred")
HARD_SIGMOID = _register("hard_sigmoid")

# float32 constants keep float32 arithmetic in float32 (a float64 literal would promote it).
# With the JIT off (NUMBA_DISABLE_JIT=1, as for debugging or mutation testing) NumPy's rules
# would instead round float64 arithmetic through them to float32; Python floats, which NumPy
# treats as weak, give there what Numba gives here.
# Likewise math.exp: compiled, it gives inf past the float range (rho -> 0 for a diverging
# state, which the divergence check then names); in Python it raises OverflowError.
if numba.config.DISABLE_JIT:
    ONE, TWO, MINUS_FOUR = 1.0, 2.0, -4.0

    def exp(x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

else:
    ONE = np.float32(1.0)
    TWO = np.float32(2.0)
    MINUS_FOUR = np.float32(-4.0)
    exp = math.exp


def activation_code(name: str) -> int:
    """The integer code of an activation name, or a ValidationError listing the valid names."""
    try:
        return ACTIVATION_CODES[name]
    except (KeyError, TypeError):
        raise ValidationError(
            f"activation {name!r} is unknown; allowed: {', '.join(ACTIVATION_CODES)}"
        ) from None


@njit(cache=True)
def rate_scalar(x: float, activation: int, threshold: float) -> float:
    """rho(x) for one value, in x's precision (the constants are float32, exact in both)."""
    if activation == SIGMOID4:
        return ONE / (ONE + exp(MINUS_FOUR * x))
    if activation == SIGMOID4_CENTRED:
        return ONE / (ONE + exp(TWO + MINUS_FOUR * x))
    return min(max(x - threshold, 0.0), 1.0)


@njit(cache=True)
def rate_derivative_scalar(x: float, activation: int, threshold: float) -> float:
    """rho'(x) for one value."""
    if activation == HARD_SIGMOID:
        shifted = x - threshold
        return 1.0 if 0.0 < shifted < 1.0 else 0.0
    r = rate_scalar(x, activation, threshold)
    return 4.0 * r * (1.0 - r)


@njit(cache=True)
def rate_derivative_from_rate(rate_value: float, activation: int) -> float:
    """rho'(x) from rho(x): ``4 r (1 - r)`` for the sigmoids, 1 inside (0, 1) for the hard one.

    Lets a backend that already holds a neuron's rate skip a second exponential.
    """
    if activation == HARD_SIGMOID:
        return 1.0 if 0.0 < rate_value < 1.0 else 0.0
    return 4.0 * rate_value * (1.0 - rate_value)


@njit(cache=True)
def _rate_derivative_array(
    x: np.ndarray, activation: int, threshold: float, out: np.ndarray
) -> None:
    flat_x = x.ravel()
    flat_out = out.ravel()
    for k in range(flat_x.size):
        flat_out[k] = rate_derivative_scalar(flat_x[k], activation, threshold)


def rate_into(x: np.ndarray, out: np.ndarray, activation: int, threshold: float) -> None:
    """rho(x) for a whole array, written into ``out`` (may be ``x``), by NumPy's vectorised
    ufuncs: the array form of ``rate_scalar`` for code that holds whole arrays."""
    if activation == HARD_SIGMOID:
        np.subtract(x, threshold, out=out)
        np.clip(out, 0.0, 1.0, out=out)
        return
    np.multiply(x, MINUS_FOUR, out=out)
    if activation == SIGMOID4_CENTRED:
        out += TWO
    # a very negative state overflows exp to inf, and 1 / (1 + inf) = 0 is the right rate
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += ONE
    np.reciprocal(out, out=out)


def rate(x: np.ndarray, activation: str = "sigmoid4", threshold: float = -0.5) -> np.ndarray:
    """rho(x) element-wise; returns a new array of x's dtype."""
    x = np.asarray(x)
    out = np.empty_like(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    rate_into(x, out, activation_code(activation), threshold)
    return out


def rate_derivative(
    x: np.ndarray, activation: str = "sigmoid4", threshold: float = -0.5
) -> np.ndarray:
    """rho'(x) element-wise; returns a new array of x's dtype."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _rate_derivative_array(x, activation_code(activation), threshold, out)
    return out
