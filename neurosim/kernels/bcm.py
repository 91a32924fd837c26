"""BCM with a sliding threshold (Bienenstock, Cooper and Munro 1982; the SuperSpike slides'
part 1 on rapid compensatory processes):

    dw_ij/dt = eta * x_j * y_i * (y_i - theta_i),
    tau_theta * dtheta_i/dt = -theta_i + y_i^2 / kappa,

with ``x_j`` and ``y_i`` the pre- and postsynaptic rates (Hz). The threshold follows the
square of the postsynaptic rate: a fast threshold (``tau_theta`` short against the weights'
time scale) holds the rate at the fixed point ``y = kappa``, a slow one lets Hebbian growth
run away before it catches up.

These are the rule's pure functions; the spiking step (``kernels/spiking_step.py``) applies
them on filtered spike trains, and ``experiments/bcm.py`` on rate neurons. Time unit: ms.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# the spiking model's BCM state: per synapse the presynaptic rate (column of the synapse state
# array), per neuron its rate and threshold (columns of the neuron state array)
PRE_RATE = 0
RATE, THRESHOLD = range(2)


@njit(cache=True)
def threshold_step(theta: float, rate: float, kappa: float, decay: float) -> float:
    """The threshold after one step of ``dt`` with the rate held at ``rate``: exact,
    ``decay = exp(-dt / tau_theta)``."""
    target = rate * rate / kappa
    return target + (theta - target) * decay


@njit(cache=True)
def weight_change(pre_rate: float, rate: float, theta: float, eta: float, dt: float) -> float:
    """``eta * dt * x * y * (y - theta)``: one forward-Euler step of the weight."""
    return eta * dt * pre_rate * rate * (rate - theta)


@njit(cache=True)
def end_of_step(
    i: int,
    fired: bool,
    w: np.ndarray,
    synapse_state: np.ndarray,
    neuron_state: np.ndarray,
    incoming_ptr: np.ndarray,
    incoming_synapse: np.ndarray,
    rate_decay: float,
    rate_jump: float,
    kappa: float,
    theta_decay: float,
    eta: float,
    dt: float,
    w_min: float,
    w_max: float,
) -> None:
    """Neuron ``i`` of the spiking model at the end of a step: its rate estimate (an
    exponential filter of its spikes, ``rate_jump = 1000 / tau_rate`` Hz per spike, decaying
    by ``rate_decay``), its threshold, then each incoming synapse's presynaptic rate (its
    arrivals jumped it during the step) and weight."""
    rate = neuron_state[i, RATE] * rate_decay + (rate_jump if fired else 0.0)
    theta = threshold_step(neuron_state[i, THRESHOLD], rate, kappa, theta_decay)
    neuron_state[i, RATE] = rate
    neuron_state[i, THRESHOLD] = theta
    for position in range(incoming_ptr[i], incoming_ptr[i + 1]):
        e = incoming_synapse[position]
        pre_rate = synapse_state[e, PRE_RATE] * rate_decay
        synapse_state[e, PRE_RATE] = pre_rate
        w[e] = min(max(w[e] + weight_change(pre_rate, rate, theta, eta, dt), w_min), w_max)


@njit(cache=True)
def rate_neuron_run(
    patterns: np.ndarray,
    pattern_steps: int,
    w: np.ndarray,
    offset: float,
    eta: float,
    kappa: float,
    theta_decay: float,
    dt: float,
    w_min: float,
    w_max: float,
    total: int,
    every: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A linear-threshold rate neuron ``y = max(0, w . x - offset)`` (Hz) learning by BCM for
    ``total`` steps of ``dt`` ms from threshold 0, its inputs' rates ``x`` the row
    ``patterns[step // pattern_steps]``; ``w`` changes in place. Returns, every ``every``
    steps, the mean rate over the interval, the weights' norm and the threshold."""
    rows = total // every
    rates, norms, thetas = np.empty(rows), np.empty(rows), np.empty(rows)
    theta, summed = 0.0, 0.0
    for step in range(total):
        x = patterns[step // pattern_steps]
        rate = max(0.0, np.dot(w, x) - offset)
        theta = threshold_step(theta, rate, kappa, theta_decay)
        for j in range(w.shape[0]):
            w[j] = min(max(w[j] + weight_change(x[j], rate, theta, eta, dt), w_min), w_max)
        summed += rate
        if (step + 1) % every == 0:
            row = (step + 1) // every - 1
            rates[row], norms[row], thetas[row] = summed / every, np.sqrt(np.dot(w, w)), theta
            summed = 0.0
    return rates, norms, thetas
