"""Local learning rules (MODEL.md, "Learning rules"), one module each, and their registry.

Every rule of the rate model changes a synapse by a product of something the presynaptic
neuron sends and something the postsynaptic neuron knows about itself:

    dW[j, i] = pre_j * post_i,      db_i = post_i.

A rule's module holds its ``RuleSpec`` (registered on import, which gives its code) and its
compiled ``factors``: one neuron's ``(dz, pre, post)`` (learning rate included), with the
signature of ``rule_factors`` below. A backend forms the outer product over the synapses it
has (a batch averages it over samples). Because the factors are per neuron, the same
functions serve a neuron that updates alone (event backend) and a whole batch at once.
Smoothing and fake targets, which go with any rule, have modules of their own.

Adding a rule: a module here with its spec and ``factors``, its import below, and its line in
``rule_factors``. Time unit: one integration step; "new" means the state after this step's
integration and "previous" the state before it.
"""

from __future__ import annotations

from numba import njit

# importing a rule registers it; the import order gives the codes
from neurosim.kernels.rules import astdp, bcm, mstdp, rate_stdp
from neurosim.kernels.rules.spec import RULE_CODES, RULE_SPECS, RuleSpec

__all__ = ["RULE_CODES", "RULE_SPECS", "RuleSpec", "rule_factors"]


@njit(cache=True)
def rule_factors(
    rule: int,
    rate_small: float,
    rate_large: float,
    rate_previous: float,
    state_new: float,
    state_previous: float,
    alpha: float,
    threshold: float,
) -> tuple[float, float, float]:
    """One neuron's ``(dz, presynaptic factor, postsynaptic factor)`` under the rule with code
    ``rule``: ``dz`` is aSTDP's copy difference or the other rules' change of rate.
    ``rate_small``/``rate_large`` are the new rates of the two copies (equal with one copy),
    ``rate_previous`` the rate before this step's integration, ``threshold`` the neuron's
    sliding threshold after this step (BCM's; 0 for the rules without one).

    Compiled code cannot look a function up by value, so this dispatch names each registered
    rule once (one line per rule; the last one registered is the fall-through, which keeps
    the branch out of the backends' vectorised loops). A test checks that every registered
    code reaches its own rule.
    """
    if rule == astdp.CODE:
        return astdp.factors(
            rate_small, rate_large, rate_previous, state_new, state_previous, alpha, threshold
        )
    if rule == mstdp.CODE:
        return mstdp.factors(
            rate_small, rate_large, rate_previous, state_new, state_previous, alpha, threshold
        )
    if rule == bcm.CODE:
        return bcm.factors(
            rate_small, rate_large, rate_previous, state_new, state_previous, alpha, threshold
        )
    return rate_stdp.factors(
        rate_small, rate_large, rate_previous, state_new, state_previous, alpha, threshold
    )
