"""Exceptions raised by neurosim.

Every error names what was wrong, where, and what is allowed, so that a user can fix the
input without reading the source.
"""

from __future__ import annotations

import math


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose."""


class ValidationError(NeurosimError, ValueError):
    """Bad input: a parameter, array, scenario key or topology that is not allowed."""


class CheckpointWarning(UserWarning):
    """A run store's checkpoint is partial or corrupt, and an older one is used."""


class TopologyError(ValidationError):
    """A graph (built or read from GraphML) that neurosim cannot run."""


class DivergenceError(NeurosimError, FloatingPointError):
    """A state or a weight left the model's bound (``model.divergence_bound``) or stopped
    being finite during a run.

    ``neuron`` is the graph's id of the first bad neuron (for a weight, its postsynaptic
    neuron), ``sample`` its batch index, ``synapse`` the (pre, post) graph ids of a bad
    weight, ``bound`` the bound it left.
    """

    def __init__(
        self,
        step: int,
        neuron: object,
        value: float,
        sample: int | None = None,
        what: str = "state",
        *,
        synapse: tuple[object, object] | None = None,
        bound: float | None = None,
    ) -> None:
        self.step = step
        self.neuron = neuron
        self.value = value
        self.sample = sample
        self.synapse = synapse
        self.bound = bound
        if synapse is not None:
            where = f"synapse {synapse[0]!r} -> {synapse[1]!r}"
        else:
            where = f"neuron {neuron}" + ("" if sample is None else f" (sample {sample})")
        beyond = ""
        if bound is not None and math.isfinite(value):
            beyond = f", beyond model.divergence_bound = {bound:g}"
        super().__init__(
            f"run diverged at step {step}: {what} of {where} is {value:g}{beyond}; lower the "
            "step sizes (eps), the clamping strengths (beta) or the learning rate (alpha)"
        )


class StoreWriteError(NeurosimError):
    """Writing a run store failed (a full disk, a file system error): the message names the
    store, the error and what the store still holds; the store is marked failed."""


class BackendError(NeurosimError):
    """A backend was asked to run a model feature it does not support."""


class DataError(NeurosimError):
    """A data set that is missing, corrupt or not in the expected format (IDX files, archives,
    downloads): the message names the file or the places looked, and what was expected."""
