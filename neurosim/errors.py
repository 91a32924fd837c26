"""Exceptions raised by neurosim.

Every error names what was wrong, where, and what is allowed, so that a user can fix the
input without reading the source.
"""

from __future__ import annotations


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose."""


class ValidationError(NeurosimError, ValueError):
    """Bad input: a parameter, array, scenario key or topology that is not allowed."""


class TopologyError(ValidationError):
    """A graph (built or read from GraphML) that neurosim cannot run."""


class DivergenceError(NeurosimError, FloatingPointError):
    """The network state became NaN or infinite during a run.

    ``neuron`` is the graph's id of the first bad neuron, ``sample`` its batch index.
    """

    def __init__(
        self,
        step: int,
        neuron: object,
        value: float,
        sample: int | None = None,
        what: str = "state",
    ) -> None:
        self.step = step
        self.neuron = neuron
        self.value = value
        self.sample = sample
        where = f"neuron {neuron}" + ("" if sample is None else f" (sample {sample})")
        super().__init__(
            f"run diverged at step {step}: {what} of {where} is {value}; "
            "lower the step sizes (eps), the clamping strengths (beta) or the learning rate (alpha)"
        )


class StoreWriteError(NeurosimError):
    """Writing a run store failed (a full disk, a file system error): the message names the
    store, the error and what the store still holds; the store is marked failed."""


class BackendError(NeurosimError):
    """A backend was asked to run a model feature it does not support."""


class DataError(NeurosimError):
    """A data set that is missing, corrupt or not in the expected format (IDX files, archives,
    downloads): the message names the file or the places looked, and what was expected."""
