"""What a stream is: a lazy, re-iterable sequence of changes of (targets, clamping strengths).

A stream describes the data a network sees over time and nothing else: it changes the targets
``t_i`` and the clamp factors in [0, 1] (a neuron's clamping strength in a state copy is
``clamp * beta`` of that copy), and it never tells neurons when to learn. A runner consumes a
stream by running the simulator up to each change's step and then calling
``sim.set_input(change.target, change.clamp)``; :meth:`Stream.segments` gives it each change
together with the step where it stops holding.

Time unit: one integration step. Steps are 0-based and global: step ``s`` is the ``s``-th step a
runner integrates after the start of the stream. A change "at step s" holds for steps s, s + 1,
... up to (not including) the next change's step, or the stream's duration.

Streams are lazy: ``changes()`` is a generator that builds one change at a time, so a long or
unbounded stream never lives in memory (memory O(N + one item), not O(duration)). Every call of
``changes()`` starts afresh and yields the same changes (streams are re-iterable and
deterministic).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neurosim.checks import (
    check_duration,
    check_integer,
    check_label,
    check_real_array,
    describe,
    freeze,
    is_integer,
)
from neurosim.errors import ValidationError

__all__ = [
    "Change",
    "Concatenate",
    "Limit",
    "Segment",
    "StartingAt",
    "Stream",
    "checked_changes",
    "inputs_at",
]


@dataclass(frozen=True, eq=False, slots=True)
class Change:
    """New input values that hold from ``step`` on (until the next change).

    Attributes:
        step: the first step (0-based, global, in integration steps) at which these values hold.
        target: (N,) float64 targets, one per compiled neuron (ignored where ``clamp`` is 0).
        clamp: (N,) float64 clamp factors in [0, 1]; 0 means the neuron has no target.
        label: which item is shown (e.g. the pattern index), for analyses; None if not
            meaningful.

    The arrays are read-only. The constructor checks its arguments and copies arrays that are
    not already read-only float64 (streams build their changes through a faster internal path).
    Two changes are equal when their steps, labels and array values are.
    """

    step: int
    target: np.ndarray
    clamp: np.ndarray
    label: int | None = None

    def __post_init__(self) -> None:
        step = check_integer("step", self.step, 0)
        target = _frozen_vector("target", self.target)
        clamp = _frozen_vector("clamp", self.clamp)
        if clamp.shape != target.shape:
            raise ValidationError(
                f"clamp has shape {clamp.shape} but target has shape {target.shape}: "
                "both must be (N,), one entry per compiled neuron"
            )
        outside = (clamp < 0.0) | (clamp > 1.0)
        if np.any(outside):
            neuron = int(np.flatnonzero(outside)[0])
            raise ValidationError(
                f"clamp[{neuron}] = {float(clamp[neuron])!r}: allowed range is [0, 1]"
            )
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "clamp", clamp)
        object.__setattr__(self, "label", check_label("label", self.label))

    @property
    def n_neurons(self) -> int:
        """N, the number of neurons the arrays address."""
        return int(self.target.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (
            self.step == other.step
            and self.label == other.label
            and np.array_equal(self.target, other.target)
            and np.array_equal(self.clamp, other.clamp)
        )

    __hash__ = None  # type: ignore[assignment]


def _frozen_vector(name: str, value: object) -> np.ndarray:
    if (
        isinstance(value, np.ndarray)
        and value.dtype == np.float64
        and value.ndim == 1
        and not value.flags.writeable
    ):
        array = value
    else:
        array = check_real_array(name, value)
        if array.ndim != 1:
            raise ValidationError(
                f"{name} = {describe(value)}: expected a 1-D array of shape (N,), one entry per "
                "compiled neuron"
            )
        array = freeze(np.array(array, dtype=np.float64))
    if not np.all(np.isfinite(array)):
        neuron = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValidationError(
            f"{name}[{neuron}] = {float(array[neuron])!r}: expected a finite number"
        )
    return array


_new = object.__new__
# Slot descriptors set the fields of a frozen Change directly (faster than object.__setattr__).
_set_step = Change.step.__set__  # type: ignore[attr-defined]
_set_target = Change.target.__set__  # type: ignore[attr-defined]
_set_clamp = Change.clamp.__set__  # type: ignore[attr-defined]
_set_label = Change.label.__set__  # type: ignore[attr-defined]


def make_change(step: int, target: np.ndarray, clamp: np.ndarray, label: int | None) -> Change:
    """Build a Change from values already known to be valid (read-only float64 (N,) arrays).

    For streams of this package only: it skips the constructor's O(N) checks.
    """
    change = _new(Change)
    _set_step(change, step)
    _set_target(change, target)
    _set_clamp(change, clamp)
    _set_label(change, label)
    return change


class Segment(NamedTuple):
    """One change and the step where it stops holding: it holds for steps [start, stop).

    ``stop`` is None for the last change of an unbounded stream (it holds for ever).
    """

    change: Change
    stop: int | None

    @property
    def start(self) -> int:
        """The first step of the segment (the change's step)."""
        return self.change.step

    @property
    def length(self) -> int | None:
        """Number of steps the change holds, None if it holds for ever."""
        return None if self.stop is None else self.stop - self.change.step


class Stream(abc.ABC):
    """A lazy, re-iterable sequence of input changes for a network of ``n_neurons`` neurons.

    Attributes:
        n_neurons: N, the number of compiled neurons (indices 0..N-1) the changes address.
        duration: the total number of integration steps, or None for an unbounded stream.

    Subclasses implement :meth:`changes`. Its contract: the first change is at step 0, steps
    strictly increase, every step is below ``duration`` (when finite), every change's arrays
    have shape (N,), and each call returns a fresh iterator that yields the same changes.
    The last change holds until ``duration``; in an unbounded stream it holds for ever.
    """

    n_neurons: int
    duration: int | None

    def __init__(self, n_neurons: int, duration: int | None) -> None:
        self.n_neurons = check_integer("n_neurons", n_neurons, 1)
        self.duration = check_duration("duration", duration, allow_none=True)

    @abc.abstractmethod
    def changes(self) -> Iterator[Change]:
        """A fresh iterator over the changes, in strictly increasing steps, the first at 0."""

    def segments(self) -> Iterator[Segment]:
        """Each change with the step where it stops holding (checked against the contract).

        A runner does ``for change, stop in stream.segments(): sim.set_input(change.target,
        change.clamp); sim.run(stop - change.step)``. Lazy: reads one change ahead.
        """
        iterator = checked_changes(self)
        current = next(iterator, None)
        while current is not None:
            upcoming = next(iterator, None)
            stop = self.duration if upcoming is None else upcoming.step
            yield Segment(current, stop)
            current = upcoming

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_neurons={self.n_neurons}, duration={self.duration})"


def checked_changes(stream: Stream) -> Iterator[Change]:
    """``stream.changes()``, checking each change against the stream contract as it passes.

    Raises ValidationError naming the stream when a change is not a Change, has the wrong
    shape, the first step is not 0, steps do not strictly increase or reach the duration.
    Costs O(1) per change.
    """
    n_neurons = stream.n_neurons
    duration = stream.duration
    previous = -1
    for position, change in enumerate(stream.changes()):
        if not isinstance(change, Change):
            raise ValidationError(
                f"{stream!r}: change {position} = {describe(change)} is not a Change"
            )
        if change.target.shape != (n_neurons,) or change.clamp.shape != (n_neurons,):
            raise ValidationError(
                f"{stream!r}: change {position} (step {change.step}) has arrays of shape "
                f"{change.target.shape}, expected ({n_neurons},)"
            )
        if position == 0 and change.step != 0:
            raise ValidationError(
                f"{stream!r}: the first change is at step {change.step}; it must be at step 0"
            )
        if change.step <= previous:
            raise ValidationError(
                f"{stream!r}: change {position} is at step {change.step} after a change at "
                f"step {previous}; steps must strictly increase"
            )
        if duration is not None and change.step >= duration:
            raise ValidationError(
                f"{stream!r}: change {position} is at step {change.step}, not below the "
                f"stream's duration {duration}"
            )
        previous = change.step
        yield change


def _check_stream(name: str, value: object) -> Stream:
    if not isinstance(value, Stream):
        raise ValidationError(f"{name} = {describe(value)}: expected a Stream")
    return value


class Concatenate(Stream):
    """Streams one after another: each later stream's steps are shifted by the durations before it.

    Every stream but the last must have a finite duration; all must address the same number
    of neurons. Duration (in steps): the sum of the durations, None if the last is unbounded.
    """

    def __init__(self, streams: Iterable[Stream]) -> None:
        if isinstance(streams, Stream) or not isinstance(streams, Iterable):
            raise ValidationError(
                f"streams = {describe(streams)}: expected a list of Stream objects"
            )
        parts = tuple(streams)
        if not parts:
            raise ValidationError("streams = []: expected at least one Stream")
        for index, part in enumerate(parts):
            _check_stream(f"streams[{index}]", part)
        n_neurons = parts[0].n_neurons
        for index, part in enumerate(parts):
            if part.n_neurons != n_neurons:
                raise ValidationError(
                    f"streams[{index}].n_neurons = {part.n_neurons}: every stream must address "
                    f"the same neurons as streams[0] (n_neurons = {n_neurons})"
                )
        for index, part in enumerate(parts[:-1]):
            if part.duration is None:
                raise ValidationError(
                    f"streams[{index}] = {part!r} is unbounded (duration None): only the last "
                    "stream may be unbounded; cut it with Limit(stream, duration)"
                )
        last = parts[-1].duration
        total = None if last is None else sum(part.duration for part in parts)  # type: ignore[misc]
        super().__init__(n_neurons, total)
        self.streams: tuple[Stream, ...] = parts

    def changes(self) -> Iterator[Change]:
        offset = 0
        for part in self.streams:
            for change in checked_changes(part):
                yield make_change(change.step + offset, change.target, change.clamp, change.label)
            if part.duration is not None:
                offset += part.duration

    def __repr__(self) -> str:
        return f"Concatenate({list(self.streams)!r})"


class Limit(Stream):
    """The first ``duration`` steps of ``stream`` (typically to cut an unbounded stream).

    ``duration`` (in steps) must not exceed the stream's own duration when that is finite.
    """

    def __init__(self, stream: Stream, duration: int) -> None:
        _check_stream("stream", stream)
        duration = check_duration("duration", duration, allow_none=False)  # type: ignore[assignment]
        if stream.duration is not None and duration > stream.duration:
            raise ValidationError(
                f"duration = {duration}: longer than the stream's duration {stream.duration}; "
                f"Limit can only cut, so allowed is [1, {stream.duration}]"
            )
        super().__init__(stream.n_neurons, duration)
        self.stream = stream

    def changes(self) -> Iterator[Change]:
        assert self.duration is not None
        for change in checked_changes(self.stream):
            if change.step >= self.duration:
                return
            yield change

    def __repr__(self) -> str:
        return f"Limit({self.stream!r}, duration={self.duration})"


class StartingAt(Stream):
    """``stream`` from its step ``start`` on, with steps counted from there: the change in
    force at ``start`` comes at step 0, each later one ``start`` steps earlier than in
    ``stream``. A run that stopped at step ``start`` of a stream follows this to go on with
    the same inputs at the same steps; the changes before ``start`` are skipped as they are
    generated (lazily, one at a time), nothing is simulated again."""

    def __init__(self, stream: Stream, start: int) -> None:
        _check_stream("stream", stream)
        limit = None if stream.duration is None else stream.duration - 1
        start = check_integer("start", start, 0, limit)
        super().__init__(stream.n_neurons, None if limit is None else stream.duration - start)
        self.stream = stream
        self.start = start

    def changes(self) -> Iterator[Change]:
        in_force: Change | None = None
        for change in checked_changes(self.stream):
            if change.step <= self.start:
                in_force = change
                continue
            if in_force is not None:
                yield make_change(0, in_force.target, in_force.clamp, in_force.label)
                in_force = None
            yield make_change(change.step - self.start, change.target, change.clamp, change.label)
        if in_force is not None:
            yield make_change(0, in_force.target, in_force.clamp, in_force.label)

    def __repr__(self) -> str:
        return f"StartingAt({self.stream!r}, start={self.start})"


def inputs_at(stream: Stream, steps: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The targets and clamps that hold at each of ``steps`` (integration steps, any order).

    Returns ``(targets, clamps)``, each (T, N) float64 for T steps. Every step must be >= 0 and
    below the stream's duration when finite. Reads the stream once, up to the largest step;
    O(T * N) memory. Meant for tests and plots.
    """
    _check_stream("stream", stream)
    step_array = _check_steps(steps, stream.duration)
    count = step_array.shape[0]
    targets = np.empty((count, stream.n_neurons))
    clamps = np.empty((count, stream.n_neurons))
    if count == 0:
        return targets, clamps
    iterator = checked_changes(stream)
    current = next(iterator)
    upcoming = next(iterator, None)
    for index in np.argsort(step_array, kind="stable"):
        step = step_array[index]
        while upcoming is not None and upcoming.step <= step:
            current = upcoming
            upcoming = next(iterator, None)
        targets[index] = current.target
        clamps[index] = current.clamp
    return targets, clamps


def _check_steps(steps: object, duration: int | None) -> np.ndarray:
    if is_integer(steps):
        raise ValidationError(
            f"steps = {steps!r}: expected a 1-D sequence of integer steps, e.g. [{steps}]"
        )
    if isinstance(steps, range):
        steps = np.arange(steps.start, steps.stop, steps.step, dtype=np.int64)
    array = check_real_array("steps", steps)
    if array.ndim != 1 or (array.size > 0 and array.dtype.kind not in "iu"):
        raise ValidationError(
            f"steps = {describe(steps)}: expected a 1-D sequence of integer steps"
        )
    array = array.astype(np.int64)
    high = None if duration is None else duration - 1
    outside = array < 0 if high is None else (array < 0) | (array > high)
    if np.any(outside):
        position = int(np.flatnonzero(outside)[0])
        allowed = "[0, inf)" if duration is None else f"[0, {duration}) (the stream's duration)"
        raise ValidationError(f"steps[{position}] = {int(array[position])}: allowed is {allowed}")
    return array
