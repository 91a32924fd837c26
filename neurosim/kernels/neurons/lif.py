"""The leaky integrate-and-fire neuron with an exponentially decaying synaptic input.

Time unit: milliseconds; potentials in mV. Between spikes a neuron follows

    tau_membrane * dv/dt = (v_rest - v) + input_scale * g,
    tau_synapse  * dg/dt = -g,

and an arriving spike adds the synapse's weight to ``g``. ``input_scale`` is 1 for the
current-based form (``g`` is then the synaptic input in mV) and ``e_synapse - v_reset`` for
the conductance-like form of the Song-Miller-Abbott benchmark (``g`` dimensionless: the
driving force is frozen at its value at reset, which keeps the equations linear).

The system is linear, so one grid step of length ``dt`` is integrated exactly (closed form,
the propagators below; NEST's ``iaf_psc_exp`` does the same): no integration error, whatever
``dt``. The threshold is only looked at on the grid: a spike is emitted at the first grid
time where ``v >= v_threshold`` (a crossing and return between two grid points is missed,
as in Brian2 and NEST for this model). After a spike ``v`` is set to ``v_reset`` and held
there for ``refractory_steps`` grid steps, while ``g`` keeps decaying and collecting input.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from numba import njit

NAME = "lif"


class Propagators(NamedTuple):
    """The exact one-step solution: ``v' = v_rest + (v - v_rest) * membrane_decay +
    synapse_to_membrane * g`` and ``g' = g * synapse_decay``."""

    membrane_decay: float
    synapse_decay: float
    synapse_to_membrane: float


def propagators(
    dt: float, tau_membrane: float, tau_synapse: float, input_scale: float
) -> Propagators:
    """The propagators of one step of ``dt`` ms.

    With ``g(t) = g0 exp(-t / tau_s)`` the membrane's particular solution is
    ``C exp(-t / tau_s)`` with ``C = input_scale * g0 * tau_s / (tau_s - tau_m)``, so the
    coupling over one step is ``input_scale * tau_s / (tau_s - tau_m) * (exp(-dt / tau_s) -
    exp(-dt / tau_m))``. The difference of exponentials is written with ``expm1`` so that it
    keeps its precision when the time constants are close; when they are equal the limit
    ``input_scale * dt / tau_m * exp(-dt / tau_m)`` is used.
    """
    membrane_decay = math.exp(-dt / tau_membrane)
    synapse_decay = math.exp(-dt / tau_synapse)
    difference = tau_synapse - tau_membrane
    if abs(difference) <= 1e-12 * tau_membrane:
        coupling = input_scale * dt / tau_membrane * membrane_decay
    else:
        rate_gap = dt * difference / (tau_membrane * tau_synapse)
        coupling = input_scale * tau_synapse / difference * membrane_decay * math.expm1(rate_gap)
    return Propagators(membrane_decay, synapse_decay, coupling)


@njit(cache=True)
def membrane_derivative(
    v: float, g: float, v_rest: float, input_scale: float, tau_membrane: float
) -> float:
    """dv/dt (mV/ms) of the subthreshold dynamics at the state (v, g)."""
    return ((v_rest - v) + input_scale * g) / tau_membrane


@njit(cache=True)
def lif_step(
    v: float,
    g: float,
    refractory_left: int,
    v_rest: float,
    v_reset: float,
    v_threshold: float,
    membrane_decay: float,
    synapse_decay: float,
    synapse_to_membrane: float,
    refractory_steps: int,
) -> tuple[float, float, int, bool]:
    """One grid step of one neuron: ``(v, g, refractory steps left, spiked)``.

    A refractory neuron keeps ``v`` at reset (its ``g`` still decays); otherwise ``v`` and
    ``g`` advance by the exact propagators and the threshold is checked at the step's end.
    """
    if refractory_left > 0:
        return v, g * synapse_decay, refractory_left - 1, False
    v = v_rest + (v - v_rest) * membrane_decay + synapse_to_membrane * g
    g = g * synapse_decay
    if v >= v_threshold:
        return v_reset, g, refractory_steps, True
    return v, g, 0, False
