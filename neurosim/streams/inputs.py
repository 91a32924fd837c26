"""The basic streams: patterns in an order, a constant input, a step input, timed windows.

Time unit: integration steps. Neurons are addressed by compiled index (0..N-1); a stream's
``neurons`` argument takes an integer array of indices or a boolean mask of shape (N,) (for
example ``~network.hidden`` for the visible neurons). Neurons a stream does not address get
clamp 0 (no target) and target 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from neurosim.checks import (
    check_duration,
    check_integer,
    check_label,
    check_neurons,
    check_number,
    check_per_neuron,
    check_real_array,
    check_reiterable,
    describe,
    freeze,
)
from neurosim.errors import ValidationError
from neurosim.streams.base import Change, Stream, make_change
from neurosim.streams.orders import Order, check_order_item, order_length

__all__ = ["Constant", "PatternSequence", "StepInput", "Window", "Windows"]

CACHE_ELEMENTS = 1 << 20
"""PatternSequence keeps each pattern's (N,) target array when P * N is at most this (8 MiB)."""


def _where(neurons: np.ndarray) -> slice | np.ndarray:
    """A slice when the indices are contiguous and increasing (faster to assign), else them."""
    first = int(neurons[0])
    if np.array_equal(neurons, np.arange(first, first + neurons.shape[0])):
        return slice(first, first + neurons.shape[0])
    return neurons


def _full(n_neurons: int, where: slice | np.ndarray, values: np.ndarray) -> np.ndarray:
    """A read-only (N,) array with ``values`` at ``where`` and 0 elsewhere."""
    array = np.zeros(n_neurons)
    array[where] = values
    return freeze(array)


class PatternSequence(Stream):
    """Patterns shown one after another, each for ``steps_per_item`` steps.

    Args:
        n_neurons: N, the network's number of compiled neurons.
        neurons: the K compiled neuron indices the patterns address (or a boolean mask (N,)).
        patterns: (P, K) target values; row p is pattern p.
        order: the pattern indices to show, in order: a list, range, 1-D integer array or an
            :class:`~neurosim.streams.orders.Order` (``cyclic_order``, ``shuffled_epochs``,
            ``repeated``); it may be unbounded and is consumed lazily, one item per change.
            One-shot iterators (generators) are rejected: the stream must be re-iterable.
        steps_per_item: how many integration steps each item is shown (>= 1).
        clamp: clamp factor of the addressed neurons, a number or (K,) values in [0, 1].

    Item ``k`` of the order is shown from step ``k * steps_per_item``; its change carries the
    pattern index as ``label``. A pattern repeated in a row still gives one change per item.
    Duration: ``len(order) * steps_per_item`` when the order has a length, else None (an
    unsized order is treated as unbounded: if it ends, its last item holds).
    The patterns are copied once (in their own dtype); memory is O(P * K + N), plus one
    shared (N,) target array per pattern when P * N <= ``CACHE_ELEMENTS`` (2**20).
    """

    def __init__(
        self,
        n_neurons: int,
        neurons: Sequence[int] | np.ndarray,
        patterns: Sequence[Sequence[float]] | np.ndarray,
        order: Iterable[int],
        steps_per_item: int,
        clamp: float | Sequence[float] | np.ndarray = 1.0,
    ) -> None:
        n_neurons = check_integer("n_neurons", n_neurons, 1)
        self.neurons = check_neurons("neurons", neurons, n_neurons)
        k = self.neurons.shape[0]
        pattern_array = check_real_array("patterns", patterns)
        if pattern_array.ndim != 2 or pattern_array.shape[1] != k or pattern_array.shape[0] < 1:
            raise ValidationError(
                f"patterns = {describe(patterns)} has shape {pattern_array.shape}: expected "
                f"(P, {k}) with P >= 1, one row per pattern and one column per listed neuron"
            )
        self.patterns = freeze(np.array(pattern_array, copy=True))
        n_patterns = self.patterns.shape[0]
        self.order = _check_order(order, n_patterns)
        self.steps_per_item = check_integer("steps_per_item", steps_per_item, 1)
        self.clamp = check_per_neuron("clamp", clamp, k, 0.0, 1.0)
        length = order_length(self.order)
        super().__init__(n_neurons, None if length is None else length * self.steps_per_item)

    @property
    def n_patterns(self) -> int:
        """P, the number of patterns."""
        return int(self.patterns.shape[0])

    def changes(self) -> Iterator[Change]:
        where = _where(self.neurons)
        clamp = _full(self.n_neurons, where, self.clamp)
        n_patterns = self.n_patterns
        steps = self.steps_per_item
        # Small problems share one read-only target array per pattern (at most CACHE_ELEMENTS
        # numbers); large ones (e.g. MNIST) build each item's array afresh: memory O(N).
        cache: dict[int, np.ndarray] | None = (
            {} if n_patterns * self.n_neurons <= CACHE_ELEMENTS else None
        )
        position = -1
        for position, item in enumerate(self.order):
            if type(item) is int and 0 <= item < n_patterns:
                index = item
            else:
                index = check_order_item(position, item, n_patterns)
            target = None if cache is None else cache.get(index)
            if target is None:
                target = _full(self.n_neurons, where, self.patterns[index])
                if cache is not None:
                    cache[index] = target
            yield make_change(position * steps, target, clamp, index)
        if position < 0:
            raise ValidationError(f"order = {describe(self.order)} yielded no items")

    def __repr__(self) -> str:
        return (
            f"PatternSequence(n_neurons={self.n_neurons}, {self.neurons.shape[0]} neurons, "
            f"{self.n_patterns} patterns, order={describe(self.order)}, "
            f"steps_per_item={self.steps_per_item})"
        )


def _check_order(order: object, n_items: int) -> Iterable[int]:
    """Check an order once where cheap (lists, arrays, ranges); return what to iterate."""
    check_reiterable("order", order)
    if isinstance(order, range):
        if len(order) == 0:
            raise ValidationError(f"order = {order!r}: expected at least one item")
        for position in (0, len(order) - 1):
            check_order_item(position, order[position], n_items)
        return order
    if isinstance(order, (list, tuple, np.ndarray)):
        array = np.asarray(order) if isinstance(order, np.ndarray) else None
        if array is not None and array.ndim != 1:
            raise ValidationError(
                f"order = {describe(order)}: expected a 1-D sequence of item indices"
            )
        if len(order) == 0:
            raise ValidationError(f"order = {describe(order)}: expected at least one item")
        if array is not None and array.dtype.kind in "iu":
            outside = (array < 0) | (array >= n_items)
            if np.any(outside):
                position = int(np.flatnonzero(outside)[0])
                check_order_item(position, array[position], n_items)
            return freeze(array.astype(np.int64))  # a compact copy, 8 bytes per item
        items = tuple(order)  # a copy: later changes to the caller's list do not leak in
        for position, item in enumerate(items):
            check_order_item(position, item, n_items)
        return items
    if isinstance(order, Order) and order.length == 0:
        raise ValidationError(f"order = {order!r}: expected at least one item")
    return order  # type: ignore[return-value]


class Constant(Stream):
    """One change: ``values`` on ``neurons`` with clamp ``clamp`` for ``duration`` steps.

    For example the ambiguous mixture ``[1, 1, 0, 0]`` on the four visible neurons of the
    binocular-rivalry experiment. ``values`` and ``clamp`` are numbers or (K,) arrays;
    ``duration`` None gives an unbounded stream; ``label`` marks the change for analyses.
    """

    def __init__(
        self,
        n_neurons: int,
        neurons: Sequence[int] | np.ndarray,
        values: float | Sequence[float] | np.ndarray,
        duration: int | None,
        clamp: float | Sequence[float] | np.ndarray = 1.0,
        label: int | None = None,
    ) -> None:
        n_neurons = check_integer("n_neurons", n_neurons, 1)
        self.neurons = check_neurons("neurons", neurons, n_neurons)
        k = self.neurons.shape[0]
        self.values = check_per_neuron("values", values, k)
        self.clamp = check_per_neuron("clamp", clamp, k, 0.0, 1.0)
        self.label = check_label("label", label)
        super().__init__(n_neurons, check_duration("duration", duration, allow_none=True))

    def changes(self) -> Iterator[Change]:
        where = _where(self.neurons)
        target = _full(self.n_neurons, where, self.values)
        clamp = _full(self.n_neurons, where, self.clamp)
        yield make_change(0, target, clamp, self.label)

    def __repr__(self) -> str:
        return (
            f"Constant(n_neurons={self.n_neurons}, {self.neurons.shape[0]} neurons, "
            f"duration={self.duration}, label={self.label})"
        )


class StepInput(Stream):
    """Target ``low``, switched to ``high`` at ``on_step`` and back to ``low`` at ``off_step``,
    ``cycles`` times, every ``period`` steps.

    The neural-adaptation experiment: a step change of the input and its offset, repeated to
    average a response over cycles. Steps are integration steps with ``0 <= on_step < off_step
    <= duration``; ``off_step`` None (or equal to ``duration``) never switches back; ``on_step``
    0 starts high. With ``cycles`` > 1, cycle k switches on at ``on_step + k * period`` and off
    at ``off_step + k * period``; then ``off_step - on_step < period`` and the last cycle must
    end by ``duration``. ``low``, ``high`` and ``clamp`` are numbers or (K,) arrays; the clamp
    stays on throughout. ``duration`` None gives an unbounded stream. Labels are None.
    """

    def __init__(
        self,
        n_neurons: int,
        neurons: Sequence[int] | np.ndarray,
        low: float | Sequence[float] | np.ndarray,
        high: float | Sequence[float] | np.ndarray,
        on_step: int,
        off_step: int | None,
        duration: int | None,
        clamp: float | Sequence[float] | np.ndarray = 1.0,
        cycles: int = 1,
        period: int | None = None,
    ) -> None:
        n_neurons = check_integer("n_neurons", n_neurons, 1)
        self.neurons = check_neurons("neurons", neurons, n_neurons)
        k = self.neurons.shape[0]
        self.low = check_per_neuron("low", low, k)
        self.high = check_per_neuron("high", high, k)
        self.clamp = check_per_neuron("clamp", clamp, k, 0.0, 1.0)
        duration = check_duration("duration", duration, allow_none=True)
        last = None if duration is None else duration - 1
        self.on_step = check_integer("on_step", on_step, 0, last)
        if off_step is None:
            self.off_step: int | None = None
        else:
            self.off_step = check_integer("off_step", off_step, self.on_step + 1, duration)
        self.cycles = check_integer("cycles", cycles, 1)
        self.period = None if period is None else check_integer("period", period, 1)
        if self.cycles > 1:
            if self.off_step is None or self.period is None:
                raise ValidationError(f"cycles = {self.cycles} needs off_step and period")
            if self.period <= self.off_step - self.on_step:
                raise ValidationError(
                    f"period = {self.period}: a cycle must be longer than its "
                    f"{self.off_step - self.on_step} steps on (off_step - on_step)"
                )
            end = self.on_step + self.cycles * self.period
            if duration is not None and end > duration:
                raise ValidationError(
                    f"duration = {duration}: {self.cycles} cycles of {self.period} steps from "
                    f"on_step {self.on_step} need {end}"
                )
        super().__init__(n_neurons, duration)

    def changes(self) -> Iterator[Change]:
        where = _where(self.neurons)
        clamp = _full(self.n_neurons, where, self.clamp)
        low = _full(self.n_neurons, where, self.low)
        if self.on_step > 0:
            yield make_change(0, low, clamp, None)
        high = _full(self.n_neurons, where, self.high)
        for cycle in range(self.cycles):
            shift = cycle * (self.period or 0)
            yield make_change(self.on_step + shift, high, clamp, None)
            off = None if self.off_step is None else self.off_step + shift
            if off is not None and (self.duration is None or off < self.duration):
                yield make_change(off, low, clamp, None)

    def __repr__(self) -> str:
        return (
            f"StepInput(n_neurons={self.n_neurons}, {self.neurons.shape[0]} neurons, "
            f"on_step={self.on_step}, off_step={self.off_step}, cycles={self.cycles}, "
            f"period={self.period}, duration={self.duration})"
        )


class Window(NamedTuple):
    """A neuron clamped toward ``value`` during steps [start, start + length)."""

    neuron: int
    start: int
    length: int
    value: float

    @property
    def stop(self) -> int:
        """The first step after the window."""
        return self.start + self.length


class Windows(Stream):
    """Neurons clamped toward a value during time windows, unclamped outside them.

    Args:
        n_neurons: N, the network's number of compiled neurons.
        windows: (neuron, start, length, value) tuples (or :class:`Window`): the neuron is
            clamped (clamp factor ``clamp``) toward ``value`` during steps [start, start +
            length) and has clamp 0, target 0 outside every window. Windows of different
            neurons may overlap; windows of one neuron may touch but not overlap.
        duration: total steps (>= 1); every window must end by then. None: unbounded (after
            the last window every neuron stays unclamped).
        clamp: the clamp factor inside windows, in [0, 1] (default 1).

    Changes come at step 0 and at window boundaries only (one change where several coincide);
    labels are None. The STDP-window experiment: ``Windows(2, [(0, 20, 10, 1.0), (1, 20 +
    offset, 10, 1.0)], duration)``.
    """

    def __init__(
        self,
        n_neurons: int,
        windows: Iterable[tuple[int, int, int, float]],
        duration: int | None,
        clamp: float = 1.0,
    ) -> None:
        n_neurons = check_integer("n_neurons", n_neurons, 1)
        duration = check_duration("duration", duration, allow_none=True)
        if isinstance(windows, (str, bytes)) or not isinstance(windows, Iterable):
            raise ValidationError(
                f"windows = {describe(windows)}: expected a list of (neuron, start, length, "
                "value) tuples"
            )
        self.windows: tuple[Window, ...] = tuple(
            _check_window(f"windows[{index}]", window, n_neurons, duration)
            for index, window in enumerate(windows)
        )
        _check_overlaps(self.windows)
        self.clamp = check_number("clamp", clamp, 0.0, 1.0)
        super().__init__(n_neurons, duration)

    def changes(self) -> Iterator[Change]:
        starts: dict[int, list[Window]] = {}
        stops: dict[int, list[Window]] = {}
        for window in self.windows:
            starts.setdefault(window.start, []).append(window)
            if self.duration is None or window.stop < self.duration:
                stops.setdefault(window.stop, []).append(window)
        boundaries = sorted({0, *starts, *stops})
        target = np.zeros(self.n_neurons)
        clamp = np.zeros(self.n_neurons)
        for step in boundaries:
            for window in stops.get(step, ()):  # ends first: a touching window may start here
                target[window.neuron] = 0.0
                clamp[window.neuron] = 0.0
            for window in starts.get(step, ()):
                target[window.neuron] = window.value
                clamp[window.neuron] = self.clamp
            yield make_change(step, freeze(target.copy()), freeze(clamp.copy()), None)

    def __repr__(self) -> str:
        return (
            f"Windows(n_neurons={self.n_neurons}, {len(self.windows)} windows, "
            f"duration={self.duration})"
        )


def _check_window(name: str, window: object, n_neurons: int, duration: int | None) -> Window:
    if not isinstance(window, (tuple, list)) or len(window) != 4:
        raise ValidationError(
            f"{name} = {describe(window)}: expected a (neuron, start, length, value) tuple"
        )
    neuron, start, length, value = window
    neuron = check_integer(f"{name}.neuron", neuron, 0, n_neurons - 1)
    start = check_integer(f"{name}.start", start, 0)
    length = check_integer(f"{name}.length", length, 1)
    value = check_number(f"{name}.value", value)
    if duration is not None and start + length > duration:
        raise ValidationError(
            f"{name} = {tuple(window)!r} covers steps [{start}, {start + length}), outside the "
            f"duration {duration}: a window must lie within [0, {duration})"
        )
    return Window(neuron, start, length, value)


def _check_overlaps(windows: tuple[Window, ...]) -> None:
    by_neuron: dict[int, list[int]] = {}
    for index, window in enumerate(windows):
        by_neuron.setdefault(window.neuron, []).append(index)
    for neuron, indices in by_neuron.items():
        indices.sort(key=lambda index: windows[index].start)
        for before, after in itertools.pairwise(indices):
            first, second = windows[before], windows[after]
            if second.start < first.stop:
                raise ValidationError(
                    f"windows[{before}] = {tuple(first)!r} and windows[{after}] = "
                    f"{tuple(second)!r} overlap on neuron {neuron} (steps [{first.start}, "
                    f"{first.stop}) and [{second.start}, {second.stop})): windows of one "
                    "neuron must not overlap"
                )
