"""Counter-based random numbers: a draw is a pure function of (seed, stream, step, index).

A neuron can compute its own draws from its own counters, with no shared generator state,
so a run is reproducible for a given seed whatever order neurons are updated in, and the
two backends draw the same numbers for the same neuron at the same step. The mixing function
is the SplitMix64 finaliser applied to a combined 64-bit key.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

STREAM_FAKE_TARGET = 1
STREAM_NOISE = 2

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_MIX1 = uint64(0xBF58476D1CE4E5B9)
_MIX2 = uint64(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> uint64(30))) * _MIX1
    z = (z ^ (z >> uint64(27))) * _MIX2
    return z ^ (z >> uint64(31))


@njit(cache=True)
def draw_key(seed: int, stream: int, step: int) -> np.uint64:
    """The key of all draws of one (seed, stream, step); hoisted out of loops over neurons."""
    key = _mix(uint64(seed) * _GOLDEN + uint64(stream))
    return _mix(key ^ (uint64(step) * _GOLDEN))


@njit(cache=True)
def uniform_at(key: np.uint64, index: int) -> float:
    """The uniform draw in [0, 1) of ``index`` under a key from ``draw_key``."""
    bits = _mix(key ^ (uint64(index) * _MIX1 + _GOLDEN))
    return float(bits >> uint64(11)) * _TWO_POW_MINUS_53


@njit(cache=True)
def uniform(seed: int, stream: int, step: int, index: int) -> float:
    """A uniform draw in [0, 1) for (seed, stream, step, index)."""
    return uniform_at(draw_key(seed, stream, step), index)


@njit(cache=True)
def normal(seed: int, stream: int, step: int, index: int) -> float:
    """A standard normal draw for (seed, stream, step, index) (Box-Muller on two uniforms)."""
    u1 = uniform(seed, stream, step, 2 * index)
    u2 = uniform(seed, stream, step, 2 * index + 1)
    radius = math.sqrt(-2.0 * math.log(1.0 - u1))
    return radius * math.cos(2.0 * math.pi * u2)
