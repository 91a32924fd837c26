"""The simulator contract every backend implements, and what the backends share.

A simulator runs one compiled network with one set of model parameters. Through
``Simulator`` a caller (the scenario runner, an experiment, a test) can:

- set the inputs (``set_input``), the parameters (``set_parameters``) and the state
  (``set_state``), and read the per-neuron arrays (``state``, ``velocity``, ``dz``,
  ``dz_mean``, ``fake_target``, ``target``, ``clamp``; see RECORDABLE);
- ``run(n_steps)``, optionally recording chosen arrays of chosen neurons every k steps, in
  the format ``Recorder`` gives;
- ``follow(stream)``: the stream's changes then arrive on their own, change step ``s`` at
  ``s`` steps after the call, however the following runs are cut into calls;
- ``checkpoint()`` everything a later ``restore`` needs, as plain NumPy arrays, and
  ``restore`` it into a fresh simulator of the same network and options, which then continues
  bit for bit as the first one would have;
- read what the run store keeps besides the trajectory: ``run_attributes()`` (root
  attributes) and ``take_events()`` (the event log, with ``event_kinds`` naming its codes).

A backend module defines ``BACKEND``, a ``Backend`` (see ``neurosim.registry``). Time unit: one
integration step.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.checks import check_inputs
from neurosim.errors import ValidationError
from neurosim.kernels.activations import rate
from neurosim.keys import Key
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters
from neurosim.streams.base import Stream

# The arrays a run can record; the first three have one row per state copy.
RECORDABLE = ("state", "rate", "velocity", "dz", "fake_target", "target", "clamp")
PER_COPY = ("state", "rate", "velocity")
# The arrays set_state accepts.
SETTABLE = ("state", "velocity", "dz", "dz_mean")
# What set_parameters cannot change: the compiled code and the arrays are built for them.
FIXED_PARAMETERS = ("rule", "activation", "dtype")
# The columns of an event log and their dtypes.
EVENT_COLUMNS = {"time": np.float64, "neuron": np.int64, "kind": np.uint8, "value": np.float64}


def event_columns(rows: Sequence[tuple[float, int, int, float]]) -> dict[str, np.ndarray]:
    """Event rows (time, neuron, kind, value) as the log's columns."""
    return {
        name: np.array([row[k] for row in rows], dtype=dtype)
        for k, (name, dtype) in enumerate(EVENT_COLUMNS.items())
    }


class Recorder:
    """The arrays one ``run`` call of a simulator records, in the format every backend returns.

    ``take(time)`` copies the arrays named in ``record`` (``state``/``rate``/``velocity`` as
    (copy, batch, neuron), the others as (batch, neuron)) for the neurons selected;
    ``result()`` stacks them along a leading time axis, with ``time``.
    """

    def __init__(
        self, simulator: Simulator, record: Sequence[str], record_neurons: np.ndarray | None
    ) -> None:
        unknown = [name for name in record if name not in RECORDABLE]
        if unknown:
            raise ValidationError(
                f"record = {unknown!r}: allowed names are {', '.join(RECORDABLE)}"
            )
        self._simulator = simulator
        self._names = tuple(record)
        self._neurons = slice(None) if record_neurons is None else np.asarray(record_neurons)
        self._values: dict[str, list[np.ndarray]] = {name: [] for name in record} | {"time": []}

    def _array(self, name: str) -> np.ndarray:
        simulator = self._simulator
        if name == "rate":
            values = rate(
                simulator.state,
                simulator.params.activation,
                simulator.params.hard_sigmoid_threshold,
            )
        else:
            values = getattr(simulator, name)
        return values[..., self._neurons]

    def take(self, time: int) -> None:
        self._values["time"].append(np.array(time))
        for name in self._names:
            self._values[name].append(self._array(name).copy())

    def result(self) -> dict[str, np.ndarray]:
        if not self._values["time"]:  # no record time fell into this call
            empty = {
                name: np.empty((0, *self._array(name).shape), dtype=self._array(name).dtype)
                for name in self._names
            }
            return empty | {"time": np.empty(0, dtype=np.int64)}
        return {name: np.stack(values) for name, values in self._values.items()}


def check_saved(
    saved: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]], needs: str
) -> None:
    """A checkpoint has every array of ``shapes`` with that shape (None: any shape), else a
    ValidationError naming the array; ``needs`` says what must match."""
    for name, shape in shapes.items():
        if name not in saved:
            raise ValidationError(f"checkpoint: the array {name!r} is missing")
        if shape is not None and np.shape(saved[name]) != shape:
            raise ValidationError(
                f"checkpoint: {name} has shape {np.shape(saved[name])}, this simulator "
                f"needs {shape} ({needs})"
            )


class Simulator(abc.ABC):
    """The contract of a backend's simulator (see the module docstring).

    Subclasses set ``network``, ``params``, ``seed`` and ``batch_size`` and implement the
    abstract members; the input, parameter and state setters are shared.
    """

    network: CompiledNetwork
    params: ModelParameters
    seed: int
    batch_size: int
    step_count: int  # whole steps done
    # the names of the codes in take_events()["kind"]
    event_kinds: tuple[str, ...] = ()

    # -- the per-neuron arrays: (copy, batch, neuron) for the first two, else (batch, neuron)
    @property
    @abc.abstractmethod
    def state(self) -> np.ndarray:
        """States, (copy, batch, neuron): copy 0 is the weakly clamped one."""

    @property
    @abc.abstractmethod
    def velocity(self) -> np.ndarray: ...

    @property
    @abc.abstractmethod
    def dz(self) -> np.ndarray:
        """aSTDP's ``rho(s^L) - rho(s^S)``, or the step's change of rate for one-copy rules."""

    @property
    @abc.abstractmethod
    def dz_mean(self) -> np.ndarray: ...

    @property
    @abc.abstractmethod
    def fake_target(self) -> np.ndarray:
        """Which neurons had a fake target in their last step, (batch, neuron)."""

    @property
    @abc.abstractmethod
    def target(self) -> np.ndarray: ...

    @property
    @abc.abstractmethod
    def clamp(self) -> np.ndarray: ...

    # -- running
    @abc.abstractmethod
    def run(
        self,
        n_steps: int,
        *,
        record_every: int = 0,
        record: Sequence[str] = ("state", "dz", "fake_target"),
        record_neurons: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``n_steps`` steps; every ``record_every`` steps of the global step count
        the arrays named in ``record`` of ``record_neurons`` (compiled indices; None: all)
        are kept. Returns them as ``Recorder.result()`` does (empty if record_every is 0)."""

    @abc.abstractmethod
    def follow(self, stream: Stream) -> None:
        """Take the inputs from ``stream`` from now on: its change at step ``s`` holds from
        ``s`` steps after this call (its last one until the next ``follow`` or
        ``set_input``). A later ``follow`` replaces this one."""

    @abc.abstractmethod
    def checkpoint(self) -> dict[str, np.ndarray]:
        """Copies of everything ``restore`` needs to continue exactly as this simulator
        would, as plain arrays by name (a followed stream is not included)."""

    @abc.abstractmethod
    def restore(self, saved: Mapping[str, np.ndarray]) -> None:
        """Continue from ``checkpoint()``'s arrays, taken from a simulator of the same
        network layout and options (checked: a mismatch names the array)."""

    @abc.abstractmethod
    def _use_parameters(self, params: ModelParameters) -> None:
        """Rebuild what the backend derives from checked parameters."""

    @abc.abstractmethod
    def _state_changed(self) -> None:
        """Make the next step start from the arrays ``set_state`` wrote."""

    # -- shared
    def set_input(self, target: np.ndarray | float, clamp: np.ndarray | float) -> None:
        """Set what the data clamps: ``target`` values and ``clamp`` factors in [0, 1].

        Each is a scalar, an (N,) array for every sample, or a (B, N) array. A neuron's
        clamping strength in copy c is ``clamp * beta_c`` (or ``clamp * role_beta[role]``);
        0 means no target.
        """
        self.target[:], self.clamp[:] = check_inputs(
            target, clamp, self.batch_size, self.network.n_neurons, self.network.dtype
        )

    def set_parameters(self, params: ModelParameters) -> None:
        """Continue with other parameters (rates, clamping, momentum, noise, fake targets, the
        oscillator); the rule, the activation and the dtype stay those the run started with."""
        if not isinstance(params, ModelParameters):
            raise ValidationError("params: expected ModelParameters")
        changed = [
            name for name in FIXED_PARAMETERS if getattr(params, name) != getattr(self.params, name)
        ]
        if changed:
            raise ValidationError(
                f"model.{changed[0]} cannot change during a run (from "
                f"{getattr(self.params, changed[0])!r} to {getattr(params, changed[0])!r})"
            )
        self._use_parameters(params)

    def set_state(self, **arrays: np.ndarray | float) -> None:
        """Set per-neuron arrays by name (``state``, ``velocity``, ``dz``, ``dz_mean``), each
        a value that broadcasts to the array's shape. The next step starts from them, and
        every neuron's inputs carry the new rates as if each neuron had sent them."""
        unknown = [name for name in arrays if name not in SETTABLE]
        if unknown:
            raise ValidationError(
                f"set_state: {unknown[0]!r} is not settable; allowed are {', '.join(SETTABLE)}"
            )
        checked = {}
        for name, value in arrays.items():
            target = getattr(self, name)
            try:
                array = np.broadcast_to(np.asarray(value, dtype=target.dtype), target.shape)
            except (TypeError, ValueError):
                raise ValidationError(
                    f"set_state: {name} has shape {np.shape(value)}; allowed is a value that "
                    f"broadcasts to {target.shape}"
                ) from None
            if not np.all(np.isfinite(array)):
                raise ValidationError(f"set_state: {name} has values that are not finite")
            checked[name] = array
        for name, array in checked.items():
            getattr(self, name)[...] = array
        self._state_changed()

    def run_attributes(self) -> dict[str, Any]:
        """Root attributes of the run store that describe this run (backend counters)."""
        return {}

    @abc.abstractmethod
    def log_events(self, enabled: bool) -> None:
        """Log the events the simulator was made to log (``enabled``) or none from now on."""

    def take_events(self) -> dict[str, np.ndarray]:
        """The events logged since the last call, as columns ``time``, ``neuron``, ``kind``
        (a code, see ``event_kinds``) and ``value``; empty columns when none."""
        return event_columns(())


# What builds a backend's simulator for a scenario: (checked settings or None for the
# defaults, network, parameters, seed, steps of the run, initial_state_scale).
MakeSimulator = Callable[
    [Mapping[str, Any] | None, CompiledNetwork, ModelParameters, int, int, float], Simulator
]


@dataclass(frozen=True)
class Backend:
    """One backend, as ``neurosim.registry`` finds it.

    ``keys`` are the keys of its scenario section (named after the backend; None: it has
    none), and ``exclusive_keys`` those of them a scenario may only set when it runs on this
    backend, each with the reason. ``make`` builds the simulator of a scenario run and refuses
    (ValidationError) a run too large for the backend. ``batched``: it runs several
    independent states at once. ``check_size`` (None: any size) refuses a network of so many
    neurons and synapses before it is built.
    """

    name: str
    description: str
    simulator: type[Simulator]
    make: MakeSimulator
    batched: bool
    keys: Mapping[str, Key] | None = None
    exclusive_keys: Mapping[str, str] = field(default_factory=dict)
    check_size: Callable[[int, int], None] | None = None
