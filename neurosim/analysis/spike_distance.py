"""The van Rossum distance between two spike trains, with SuperSpike's kernel.

Both trains are filtered by the unit-area double exponential
``k(t) = (exp(-t / tau_decay) - exp(-t / tau_rise)) / (tau_decay - tau_rise)`` (t >= 0), the
kernel of SuperSpike's error and eligibility (``kernels/superspike.py``), and the distance is
the integral over all time of the squared difference, scaled so that one spike with nothing
to match it counts 1:

    D = 2 (tau_rise + tau_decay) * integral (k * (S_target - S_output))(t)^2 dt.

Identical trains give 0, a train against an empty one its number of spikes, two spikes far
apart 1 each, and a spike moved by a small ``delta`` about ``delta^2`` times a constant. The
integral is taken in closed form: with ``a = tau_decay`` and ``b = tau_rise`` the overlap of
two kernels ``delta`` apart is ``C(delta) = ((a/2 - ab/(a+b)) exp(-delta/a) + (b/2 - ab/(a+b))
exp(-delta/b)) / (a - b)^2``, and ``D = 2 (a + b) sum_x sum_y s_x s_y C(|t_x - t_y|)`` over
all spikes, ``s = +1`` for a target spike and ``-1`` for an output spike.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def kernel_overlap(delta: np.ndarray, tau_rise: float, tau_decay: float) -> np.ndarray:
    """``C(|delta|)``: the integral of ``k(t) k(t + delta)`` over t (module docstring)."""
    a, b = tau_decay, tau_rise
    delta = np.abs(np.asarray(delta, dtype=np.float64))
    cross = a * b / (a + b)
    return ((a / 2 - cross) * np.exp(-delta / a) + (b / 2 - cross) * np.exp(-delta / b)) / (
        a - b
    ) ** 2


def van_rossum(
    target: npt.ArrayLike,
    output: npt.ArrayLike,
    tau_rise: float = 5.0,
    tau_decay: float = 10.0,
) -> float:
    """The distance ``D`` (module docstring) between spike times ``target`` and ``output``
    (ms). ``tau_rise`` must differ from ``tau_decay``."""
    if tau_rise == tau_decay:
        raise ValueError("van_rossum: tau_rise must differ from tau_decay")
    times = np.concatenate([np.asarray(target, float).ravel(), np.asarray(output, float).ravel()])
    signs = np.concatenate([np.ones(np.size(target)), -np.ones(np.size(output))])
    if times.size == 0:
        return 0.0
    overlap = kernel_overlap(times[:, None] - times[None, :], tau_rise, tau_decay)
    total = float(signs @ overlap @ signs) * 2 * (tau_rise + tau_decay)
    return max(total, 0.0)  # rounding can leave -1e-17 for identical trains
