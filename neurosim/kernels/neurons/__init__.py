"""Neuron models: how one neuron's state moves in one integration step.

The seam between the step and the neuron. ``kernels.step`` owns the order of a step (fake
targets, the state before the step, smoothing, integration of every copy, the rule's factors,
the next rates) and asks the neuron model only to integrate one copy of one neuron:

    integrate(state, velocity, drive, bias, target, beta, eps, momentum, rate_derivative,
              momentum_includes_clamp) -> (new state, new velocity, force)

a compiled function of scalars, with ``drive = sum_j W[j, i] * rho(s_j)`` as the backend
computed it and ``rate_derivative`` = rho' at the state that drive was computed from. A model
keeps whatever else it needs in the state and velocity it is handed (a spiking model would
read its membrane potential as the state and its refractory or trace variable as the
velocity), so the backends' loops and arrays stay what they are.

Models:

- ``rate``: the rate neuron of MODEL.md, "Dynamics" (``kernels.neurons.rate``), the model of
  every rule today; ``kernels.step`` imports it as ``neuron`` and calls only
  ``neuron.integrate``.

A spiking neuron (LIF, later) is a module of its own beside ``rate`` with the same
``integrate``; the step then selects between them by a code, as ``rule_factors`` selects
learning rules, and neither backend changes.
"""
