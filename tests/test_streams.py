"""Streams: exact changes, durations, labels, laziness, re-iteration and argument checks."""

from __future__ import annotations

import collections
import itertools
import tracemalloc
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from neurosim.errors import ValidationError
from neurosim.streams import (
    Change,
    Concatenate,
    Constant,
    Limit,
    Order,
    PatternSequence,
    StartingAt,
    StepInput,
    Stream,
    Window,
    Windows,
    checked_changes,
    cyclic_order,
    inputs_at,
    repeated,
    shuffled_epochs,
)

EYE8 = np.eye(8)


def steps_of(stream: Stream) -> list[int]:
    return [change.step for change in stream.changes()]


def labels_of(stream: Stream) -> list[int | None]:
    return [change.label for change in stream.changes()]


def one_hot_sequence(order, steps_per_item: int = 160, n_neurons: int = 16) -> PatternSequence:
    """The data-ordering experiment's inputs: 8 one-hot patterns on neurons 0..7."""
    return PatternSequence(n_neurons, np.arange(8), EYE8, order, steps_per_item)


class ListStream(Stream):
    """A stream that yields given changes, for testing the contract checks."""

    def __init__(self, n_neurons: int, duration: int | None, changes: list[Change]) -> None:
        super().__init__(n_neurons, duration)
        self._changes = changes

    def changes(self) -> Iterator[Change]:
        yield from self._changes


def change(step: int, target, clamp, label=None) -> Change:
    return Change(step, np.asarray(target, float), np.asarray(clamp, float), label)


# ---------------------------------------------------------------- Change


def test_change_copies_freezes_and_compares() -> None:
    target = np.array([1.0, 2.0])
    made = Change(3, target, [0, 1], label=np.int64(2))
    target[0] = 5.0
    assert made.step == 3 and made.label == 2 and type(made.label) is int
    np.testing.assert_array_equal(made.target, [1.0, 2.0])
    assert made.target.dtype == np.float64 and made.clamp.dtype == np.float64
    assert not made.target.flags.writeable and not made.clamp.flags.writeable
    with pytest.raises(ValueError):
        made.target[0] = 1.0
    with pytest.raises(AttributeError):
        made.step = 4  # type: ignore[misc]
    assert made == Change(3, np.array([1.0, 2.0]), np.array([0.0, 1.0]), 2)
    assert made != Change(3, np.array([1.0, 2.0]), np.array([0.0, 0.5]), 2)
    assert made != Change(4, np.array([1.0, 2.0]), np.array([0.0, 1.0]), 2)
    assert made.n_neurons == 2


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ((-1, [0.0], [0.0]), "step"),
        ((1.5, [0.0], [0.0]), "step"),
        ((True, [0.0], [0.0]), "step"),
        ((0, [0.0, 1.0], [0.0]), "clamp"),
        ((0, [0.0], [1.5]), r"clamp\[0\]"),
        ((0, [0.0], [-0.1]), r"clamp\[0\]"),
        ((0, [np.nan], [0.0]), r"target\[0\]"),
        ((0, [[0.0]], [0.0]), "target"),
        ((0, ["a"], [0.0]), "target"),
        ((0, [0.0], [0.0], 1.5), "label"),
    ],
)
def test_change_rejects_bad_values(arguments, name) -> None:
    with pytest.raises(ValidationError, match=f"^{name}"):
        Change(*arguments)


# ---------------------------------------------------------------- orders


def test_cyclic_orders_of_the_paper() -> None:
    assert list(itertools.islice(cyclic_order(8), 9)) == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    assert list(itertools.islice(cyclic_order(8, 3), 9)) == [0, 3, 6, 1, 4, 7, 2, 5, 0]
    assert list(cyclic_order(8, 3, start=5, length=4)) == [5, 0, 3, 6]
    assert list(cyclic_order(4, -1, length=5)) == [0, 3, 2, 1, 0]
    assert list(cyclic_order(3, length=0)) == []
    finite = cyclic_order(8, 3, length=16)
    assert len(finite) == 16 and finite.length == 16
    assert list(finite) == list(finite)  # re-iterable
    assert all(type(item) is int for item in finite)
    unbounded = cyclic_order(8)
    assert unbounded.length is None
    with pytest.raises(TypeError):
        len(unbounded)


def test_shuffled_epochs_are_deterministic_permutations() -> None:
    order = shuffled_epochs(10, 5, seed=3)
    items = list(order)
    assert len(order) == 50 and len(items) == 50
    epochs = [items[i : i + 10] for i in range(0, 50, 10)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(10))
    assert len({tuple(epoch) for epoch in epochs}) > 1  # a new permutation each epoch
    assert list(order) == items  # every pass restarts the generator
    assert list(shuffled_epochs(10, 5, seed=3)) == items  # deterministic per seed
    assert list(shuffled_epochs(10, 5, seed=4)) != items
    # numpy's default_rng(seed), one permutation per epoch
    rng = np.random.default_rng(3)
    assert items[:20] == rng.permutation(10).tolist() + rng.permutation(10).tolist()
    unbounded = shuffled_epochs(10, None, seed=3)
    assert unbounded.length is None
    assert list(itertools.islice(unbounded, 50)) == items
    assert list(shuffled_epochs(4, 0, seed=0)) == []


def test_repeated() -> None:
    order = repeated([2, 0, 1], 3)
    assert list(order) == [2, 0, 1] * 3 and len(order) == 9
    assert list(order) == [2, 0, 1] * 3
    assert list(repeated(range(2), 0)) == []
    forever = repeated(cyclic_order(3, length=2), None)
    assert forever.length is None
    assert list(itertools.islice(forever, 7)) == [0, 1, 0, 1, 0, 1, 0]
    assert list(repeated([], None)) == []  # an empty order repeated for ever is empty
    nested = repeated(shuffled_epochs(4, 1, seed=1), 2)
    first = list(nested)
    assert first[:4] == first[4:] and len(nested) == 8
    assert repeated(cyclic_order(3), 2).length is None
    assert isinstance(order, Order)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: cyclic_order(0), "n_items"),
        (lambda: cyclic_order(8.0), "n_items"),
        (lambda: cyclic_order(8, 1.5), "stride"),
        (lambda: cyclic_order(8, start=8), "start"),
        (lambda: cyclic_order(8, start=-1), "start"),
        (lambda: cyclic_order(8, length=-1), "length"),
        (lambda: shuffled_epochs(0, 1, seed=0), "n_items"),
        (lambda: shuffled_epochs(4, -1, seed=0), "epochs"),
        (lambda: shuffled_epochs(4, 1, seed=-1), "seed"),
        (lambda: shuffled_epochs(4, 1, seed=None), "seed"),
        (lambda: repeated((i for i in range(3)), 2), "order"),
        (lambda: repeated(5, 2), "order"),
        (lambda: repeated([0, 1], -1), "times"),
        (lambda: repeated([0, 1], 1.0), "times"),
    ],
)
def test_orders_reject_bad_arguments(make: Callable[[], object], name: str) -> None:
    with pytest.raises(ValidationError, match=f"^{name} = "):
        make()


# ---------------------------------------------------------------- PatternSequence


def test_pattern_sequence_exact_changes() -> None:
    neurons = np.array([4, 1, 2])
    patterns = np.array([[1.0, 0.5, 0.0], [0.0, 0.25, 1.0]])
    stream = PatternSequence(6, neurons, patterns, [1, 0, 0, 1], steps_per_item=5, clamp=0.5)
    assert stream.duration == 20 and stream.n_neurons == 6 and stream.n_patterns == 2
    changes = list(stream.changes())
    assert [c.step for c in changes] == [0, 5, 10, 15]
    assert [c.label for c in changes] == [1, 0, 0, 1]  # a repeated pattern is still one item
    np.testing.assert_array_equal(changes[0].target, [0, 0.25, 1.0, 0, 0.0, 0])
    np.testing.assert_array_equal(changes[1].target, [0, 0.5, 0.0, 0, 1.0, 0])
    for c in changes:
        np.testing.assert_array_equal(c.clamp, [0, 0.5, 0.5, 0, 0.5, 0])
        assert c.target.shape == (6,) and not c.target.flags.writeable
    assert list(stream.changes()) == changes  # re-iterating gives the same changes


def test_pattern_sequence_data_ordering_experiment() -> None:
    stream = one_hot_sequence(cyclic_order(8, 3, length=16), steps_per_item=80)
    assert stream.duration == 16 * 80
    assert steps_of(stream) == list(range(0, 16 * 80, 80))
    assert labels_of(stream) == [0, 3, 6, 1, 4, 7, 2, 5] * 2
    for c in stream.changes():
        expected = np.zeros(16)
        expected[c.label] = 1.0
        np.testing.assert_array_equal(c.target, expected)
        np.testing.assert_array_equal(c.clamp, np.r_[np.ones(8), np.zeros(8)])


def test_pattern_sequence_per_neuron_clamp_mask_and_integer_patterns() -> None:
    mask = np.array([True, False, True, False])
    stream = PatternSequence(4, mask, np.array([[3, 4]], dtype=np.uint8), range(1), 2, [1.0, 0.2])
    (only,) = stream.changes()
    np.testing.assert_array_equal(only.target, [3, 0, 4, 0])
    np.testing.assert_array_equal(only.clamp, [1.0, 0, 0.2, 0])
    assert stream.duration == 2


def test_pattern_sequence_unbounded_and_large_problems() -> None:
    stream = one_hot_sequence(shuffled_epochs(8, None, seed=1), steps_per_item=3)
    assert stream.duration is None
    first = list(itertools.islice(stream.changes(), 24))
    assert [c.step for c in first] == list(range(0, 72, 3))
    assert [c.label for c in first] == list(itertools.islice(shuffled_epochs(8, None, 1), 24))
    # Many patterns on many neurons: no per-pattern cache, each item's array built afresh.
    rng = np.random.default_rng(0)
    patterns = rng.uniform(size=(300, 4000))
    big = PatternSequence(5000, np.arange(1000, 5000), patterns, [7, 299, 7], 10)
    changes = list(big.changes())
    np.testing.assert_array_equal(changes[1].target[1000:], patterns[299])
    np.testing.assert_array_equal(changes[2].target[:1000], 0.0)
    assert changes == list(big.changes())


def test_pattern_sequence_copies_its_inputs() -> None:
    patterns = np.eye(2)
    order = [0, 1]
    stream = PatternSequence(2, [0, 1], patterns, order, 1)
    before = list(stream.changes())
    patterns[0, 0] = 9.0
    order.append(0)
    assert list(stream.changes()) == before and stream.duration == 2


def test_pattern_sequence_lazy_index_check() -> None:
    class Unsized:
        def __iter__(self) -> Iterator[int]:
            return iter([0, 1, 8])

    stream = one_hot_sequence(Unsized(), steps_per_item=1)
    assert stream.duration is None  # unsized: treated as unbounded
    iterator = stream.changes()
    assert [next(iterator).label, next(iterator).label] == [0, 1]
    with pytest.raises(ValidationError, match=r"^order\[2\] = 8: .*\[0, 8\)"):
        next(iterator)
    unbounded = one_hot_sequence(cyclic_order(9), steps_per_item=1)
    with pytest.raises(ValidationError, match=r"^order\[8\] = 8"):
        list(itertools.islice(unbounded.changes(), 10))

    class Empty:
        def __iter__(self) -> Iterator[int]:
            return iter(())

    with pytest.raises(ValidationError, match=r"^order = .* yielded no items"):
        list(one_hot_sequence(Empty()).changes())


def test_unbounded_stream_is_lazy() -> None:
    """A cyclic-order stream runs through 1,000,000 items without building a list."""
    stream = one_hot_sequence(cyclic_order(8, 3), steps_per_item=160)
    assert stream.duration is None
    tracemalloc.start()
    try:
        last = collections.deque(itertools.islice(stream.changes(), 200_000), maxlen=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last[0].step == 199_999 * 160
    assert peak < 200_000  # bytes: a list of 200,000 changes would take tens of MB
    # The millionth item, reached without tracing (fast): step and label are exact.
    (millionth,) = itertools.islice(stream.changes(), 999_999, 1_000_000)
    assert millionth.step == 999_999 * 160
    assert millionth.label == (999_999 * 3) % 8
    assert millionth.target[millionth.label] == 1.0 and millionth.target.sum() == 1.0


# ---------------------------------------------------------------- Constant, StepInput


def test_constant_binocular_rivalry_input() -> None:
    stream = Constant(12, np.arange(4), [1, 1, 0, 0], 1000, label=7)
    assert stream.duration == 1000
    (only,) = stream.changes()
    assert only.step == 0 and only.label == 7
    np.testing.assert_array_equal(only.target, [1, 1, 0, 0] + [0] * 8)
    np.testing.assert_array_equal(only.clamp, [1] * 4 + [0] * 8)
    assert list(stream.changes()) == [only]
    unbounded = Constant(3, [2], 0.5, None, clamp=0.25)
    assert unbounded.duration is None and unbounded.label is None
    (only,) = unbounded.changes()
    np.testing.assert_array_equal(only.target, [0, 0, 0.5])
    np.testing.assert_array_equal(only.clamp, [0, 0, 0.25])


def test_step_input_switches_on_and_off() -> None:
    stream = StepInput(5, [1, 3], low=0.0, high=[1.0, 0.5], on_step=100, off_step=300, duration=500)
    changes = list(stream.changes())
    assert [c.step for c in changes] == [0, 100, 300] and stream.duration == 500
    assert [c.label for c in changes] == [None, None, None]
    np.testing.assert_array_equal(changes[0].target, 0.0)
    np.testing.assert_array_equal(changes[1].target, [0, 1.0, 0, 0.5, 0])
    np.testing.assert_array_equal(changes[2].target, 0.0)
    for c in changes:
        np.testing.assert_array_equal(c.clamp, [0, 1, 0, 1, 0])
    assert steps_of(StepInput(2, [0], 0.2, 0.8, 0, 10, 20)) == [0, 10]
    assert steps_of(StepInput(2, [0], 0.2, 0.8, 5, 20, 20)) == [0, 5]  # off at the end: no change
    assert steps_of(StepInput(2, [0], 0.2, 0.8, 5, None, 20)) == [0, 5]
    assert steps_of(StepInput(2, [0], 0.2, 0.8, 5, 9, None)) == [0, 5, 9]
    first = StepInput(2, [0], 0.2, 0.8, 0, 10, 20)
    assert next(first.changes()).target[0] == 0.8  # on_step 0 starts high


def test_step_input_repeats_its_cycles() -> None:
    stream = StepInput(2, [0], 0.2, 0.8, on_step=30, off_step=50, duration=150, cycles=3, period=40)
    changes = list(stream.changes())
    assert [c.step for c in changes] == [0, 30, 50, 70, 90, 110, 130]
    assert [c.target[0] for c in changes] == [0.2, 0.8, 0.2, 0.8, 0.2, 0.8, 0.2]
    assert steps_of(StepInput(2, [0], 0.2, 0.8, 0, 5, 20, cycles=2, period=10)) == [0, 5, 10, 15]


# ---------------------------------------------------------------- Windows


def test_windows_stdp_experiment() -> None:
    """Two neurons, a 5-step window each, the second 3 steps later."""
    stream = Windows(2, [(0, 10, 5, 1.0), (1, 13, 5, 1.0)], duration=30)
    segments = list(stream.segments())
    assert [(s.start, s.stop) for s in segments] == [
        (0, 10),
        (10, 13),
        (13, 15),
        (15, 18),
        (18, 30),
    ]
    clamps = [s.change.clamp.tolist() for s in segments]
    assert clamps == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    targets = [s.change.target.tolist() for s in segments]
    assert targets == clamps
    assert all(s.change.label is None for s in segments)
    targets, clamps = inputs_at(stream, range(30))
    expected = np.zeros((30, 2))
    expected[10:15, 0] = 1.0
    expected[13:18, 1] = 1.0
    np.testing.assert_array_equal(clamps, expected)
    np.testing.assert_array_equal(targets, expected)


def test_windows_boundaries_coincide_touch_and_fill_the_duration() -> None:
    windows = [
        Window(0, 0, 5, 0.5),  # starts at 0: part of the first change
        (1, 5, 5, 2.0),  # starts where neuron 0's window ends: one change at 5
        (0, 5, 3, -1.0),  # touches the first window on neuron 0
        (2, 8, 2, 1.0),  # ends at the duration: no change at 10
    ]
    stream = Windows(3, windows, duration=10, clamp=0.5)
    changes = list(stream.changes())
    assert [c.step for c in changes] == [0, 5, 8]
    np.testing.assert_array_equal(changes[0].target, [0.5, 0, 0])
    np.testing.assert_array_equal(changes[0].clamp, [0.5, 0, 0])
    np.testing.assert_array_equal(changes[1].target, [-1.0, 2.0, 0])
    np.testing.assert_array_equal(changes[1].clamp, [0.5, 0.5, 0])
    np.testing.assert_array_equal(changes[2].target, [0, 2.0, 1.0])
    np.testing.assert_array_equal(changes[2].clamp, [0, 0.5, 0.5])
    assert list(stream.changes()) == changes
    empty = Windows(2, [], 4)
    assert steps_of(empty) == [0]
    np.testing.assert_array_equal(next(empty.changes()).clamp, 0.0)
    unbounded = Windows(1, [(0, 2, 3, 1.0)], None)
    assert unbounded.duration is None and steps_of(unbounded) == [0, 2, 5]


def test_windows_reject_overlaps_and_windows_outside_the_duration() -> None:
    with pytest.raises(
        ValidationError, match=r"^windows\[0\] = \(0, 10, 5, 1.0\) and windows\[2\] = .* neuron 0"
    ):
        Windows(2, [(0, 10, 5, 1.0), (1, 11, 5, 1.0), (0, 14, 5, 1.0)], 30)
    with pytest.raises(ValidationError, match=r"^windows\[1\] = \(1, 26, 5, 1.0\).*duration 30"):
        Windows(2, [(0, 10, 5, 1.0), (1, 26, 5, 1.0)], 30)


# ---------------------------------------------------------------- Concatenate, Limit


def test_concatenate_shifts_steps() -> None:
    first = one_hot_sequence([0, 1], steps_per_item=10)
    second = Constant(16, np.arange(4), [1, 1, 0, 0], 50, label=99)
    third = StepInput(16, [0], 0.0, 1.0, 5, 8, 12)
    stream = Concatenate([first, second, third])
    assert stream.duration == 20 + 50 + 12 and stream.n_neurons == 16
    changes = list(stream.changes())
    assert [c.step for c in changes] == [0, 10, 20, 70, 75, 78]
    assert [c.label for c in changes] == [0, 1, 99, None, None, None]
    np.testing.assert_array_equal(changes[2].target, next(second.changes()).target)
    assert list(stream.changes()) == changes
    tail = Concatenate([first, one_hot_sequence(cyclic_order(8), 1)])
    assert tail.duration is None
    assert [c.step for c in itertools.islice(tail.changes(), 4)] == [0, 10, 20, 21]


def test_concatenate_rejects_bad_streams() -> None:
    unbounded = one_hot_sequence(cyclic_order(8))
    finite = one_hot_sequence([0])
    with pytest.raises(ValidationError, match=r"^streams\[1\] = .*unbounded"):
        Concatenate([finite, unbounded, finite])
    with pytest.raises(ValidationError, match=r"^streams\[1\].n_neurons = 17"):
        Concatenate([finite, PatternSequence(17, [0], [[1.0]], [0], 1)])
    with pytest.raises(ValidationError, match=r"^streams = \[\]"):
        Concatenate([])
    with pytest.raises(ValidationError, match=r"^streams\[0\] = 3"):
        Concatenate([3])
    with pytest.raises(ValidationError, match=r"^streams = "):
        Concatenate(finite)  # type: ignore[arg-type]


def test_limit_cuts_an_unbounded_stream() -> None:
    stream = Limit(one_hot_sequence(cyclic_order(8, 3), steps_per_item=160), 1000)
    assert stream.duration == 1000
    assert steps_of(stream) == [0, 160, 320, 480, 640, 800, 960]
    assert labels_of(stream) == [0, 3, 6, 1, 4, 7, 2]
    assert list(stream.changes()) == list(stream.changes())
    assert steps_of(Limit(Windows(1, [(0, 5, 5, 1.0)], 20), 5)) == [0]
    assert steps_of(Limit(Windows(1, [(0, 5, 5, 1.0)], 20), 20)) == [0, 5, 10]
    with pytest.raises(ValidationError, match=r"^duration = 21: .*\[1, 20\]"):
        Limit(Windows(1, [], 20), 21)
    with pytest.raises(ValidationError, match=r"^duration = 0"):
        Limit(Windows(1, [], 20), 0)
    with pytest.raises(ValidationError, match=r"^stream = "):
        Limit([], 5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- inputs_at, segments, contract


def test_inputs_at_any_order_of_steps() -> None:
    stream = one_hot_sequence(cyclic_order(8, 1), steps_per_item=4)
    steps = [9, 0, 3, 4, 9, 31, 32]
    targets, clamps = inputs_at(stream, steps)
    assert targets.shape == (7, 16) and clamps.shape == (7, 16)
    expected = np.zeros((7, 16))
    for row, step in enumerate(steps):
        expected[row, (step // 4) % 8] = 1.0
    np.testing.assert_array_equal(targets, expected)
    np.testing.assert_array_equal(clamps[:, :8], 1.0)
    np.testing.assert_array_equal(clamps[:, 8:], 0.0)
    targets, clamps = inputs_at(stream, [])
    assert targets.shape == (0, 16)
    finite = Constant(2, [0], 1.0, 10)
    with pytest.raises(ValidationError, match=r"^steps\[1\] = 10: .*\[0, 10\)"):
        inputs_at(finite, [0, 10])
    with pytest.raises(ValidationError, match=r"^steps\[0\] = -1"):
        inputs_at(finite, [-1])
    with pytest.raises(ValidationError, match=r"^steps = "):
        inputs_at(finite, [0.5])
    with pytest.raises(ValidationError, match=r"^steps = "):
        inputs_at(finite, 3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^stream = "):
        inputs_at("x", [0])  # type: ignore[arg-type]


def test_segments_of_an_unbounded_stream_end_with_none() -> None:
    stream = Concatenate([Constant(1, [0], 1.0, 7), Constant(1, [0], 0.0, None)])
    segments = list(stream.segments())
    assert [(s.start, s.stop, s.length) for s in segments] == [(0, 7, 7), (7, None, None)]


@pytest.mark.parametrize(
    ("changes", "duration", "message"),
    [
        ([change(1, [0], [0])], 5, "first change is at step 1"),
        ([change(0, [0], [0]), change(0, [1], [1])], 5, "strictly increase"),
        ([change(0, [0], [0]), change(5, [1], [1])], 5, "duration 5"),
        ([change(0, [0, 0], [0, 0])], 5, r"shape \(2,\)"),
        (["not a change"], 5, "is not a Change"),
    ],
)
def test_contract_violations_are_reported(changes, duration, message) -> None:
    stream = ListStream(1, duration, changes)
    with pytest.raises(ValidationError, match=message):
        list(checked_changes(stream))
    with pytest.raises(ValidationError, match=message):
        list(stream.segments())
    with pytest.raises(ValidationError, match=message):
        list(Concatenate([stream]).changes())


def test_a_runner_drives_the_simulator() -> None:
    """The contract with SyncSimulator: run each segment after set_input; steps add up."""
    from neurosim.backends.sync import SyncSimulator
    from neurosim.model.network import compile_graph
    from neurosim.model.presets import load_preset
    from neurosim.model.topology import recurrent

    params = load_preset("astdp")
    network = compile_graph(recurrent(4, 0, 8), params, seed=0)
    visible = ~network.hidden
    stream = Concatenate(
        [
            PatternSequence(network.n_neurons, visible, np.eye(4), repeated(range(4), 2), 10),
            Constant(network.n_neurons, visible, [1, 1, 0, 0], 25),
        ]
    )
    sim = SyncSimulator(network, params, batch_size=1, seed=0)
    for segment in stream.segments():
        assert sim.step_count == segment.start
        sim.set_input(segment.change.target, segment.change.clamp)
        sim.run(segment.length)
    assert sim.step_count == stream.duration == 105
    np.testing.assert_array_equal(sim.target[0], np.r_[1, 1, 0, 0, np.zeros(8)])


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: PatternSequence(0, [0], [[1.0]], [0], 1), "n_neurons"),
        (lambda: PatternSequence(4.0, [0], [[1.0]], [0], 1), "n_neurons"),
        (lambda: PatternSequence(4, [4], [[1.0]], [0], 1), r"neurons\[0\]"),
        (lambda: PatternSequence(4, [-1], [[1.0]], [0], 1), r"neurons\[0\]"),
        (lambda: PatternSequence(4, [1, 1], [[1.0, 1.0]], [0], 1), "neurons"),
        (lambda: PatternSequence(4, [], np.zeros((1, 0)), [0], 1), "neurons"),
        (lambda: PatternSequence(4, [0.5], [[1.0]], [0], 1), "neurons"),
        (lambda: PatternSequence(4, [True, False], [[1.0]], [0], 1), "neurons"),
        (lambda: PatternSequence(4, [0], [[1.0, 2.0]], [0], 1), "patterns"),
        (lambda: PatternSequence(4, [0], [1.0], [0], 1), "patterns"),
        (lambda: PatternSequence(4, [0], np.zeros((0, 1)), [0], 1), "patterns"),
        (lambda: PatternSequence(4, [0], [[np.inf]], [0], 1), r"patterns\[0, 0\] = inf"),
        (lambda: PatternSequence(4, [0], [["a"]], [0], 1), "patterns"),
        (lambda: PatternSequence(4, [0], [[1.0]], [1], 1), r"order\[0\] = 1"),
        (lambda: PatternSequence(4, [0], [[1.0]], [0, -1], 1), r"order\[1\] = -1"),
        (lambda: PatternSequence(4, [0], [[1.0]], [0, 0.0], 1), r"order\[1\] = 0.0"),
        (lambda: PatternSequence(4, [0], [[1.0]], [True], 1), r"order\[0\] = True"),
        (lambda: PatternSequence(4, [0], [[1.0]], np.array([0, 3]), 1), r"order\[1\] = 3"),
        (lambda: PatternSequence(4, [0], [[1.0]], np.zeros((1, 1), int), 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], range(0, 2), 1), r"order\[1\] = 1"),
        (lambda: PatternSequence(4, [0], [[1.0]], [], 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], range(0), 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], cyclic_order(1, length=0), 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], iter([0]), 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], 3, 1), "order"),
        (lambda: PatternSequence(4, [0], [[1.0]], [0], 0), "steps_per_item"),
        (lambda: PatternSequence(4, [0], [[1.0]], [0], 2.0), "steps_per_item"),
        (lambda: PatternSequence(4, [0], [[1.0]], [0], 1, clamp=1.5), "clamp"),
        (lambda: PatternSequence(4, [0, 1], [[1.0, 1.0]], [0], 1, [1, -1]), r"clamp\[1\]"),
        (lambda: PatternSequence(4, [0, 1], [[1.0, 1.0]], [0], 1, [1, 1, 1]), "clamp"),
        (lambda: Constant(4, [0], [1.0, 2.0], 10), "values"),
        (lambda: Constant(4, [0], np.nan, 10), "values"),
        (lambda: Constant(4, [0], 1.0, 0), "duration"),
        (lambda: Constant(4, [0], 1.0, 2.5), "duration"),
        (lambda: Constant(4, [0], 1.0, 10, clamp=2.0), "clamp"),
        (lambda: Constant(4, [0], 1.0, 10, label="a"), "label"),
        (lambda: Constant(4, [9], 1.0, 10), r"neurons\[0\]"),
        (lambda: StepInput(4, [0], [0.0, 1.0], 1.0, 1, 2, 5), "low"),
        (lambda: StepInput(4, [0], 0.0, "x", 1, 2, 5), "high"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 5, None, 5), "on_step"),
        (lambda: StepInput(4, [0], 0.0, 1.0, -1, 2, 5), "on_step"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 3, 3, 5), "off_step"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 3, 6, 5), "off_step"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 2, 0), "duration"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 2, 5, clamp=-0.5), "clamp"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 2, 50, cycles=0, period=5), "cycles = 0"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 2, 50, cycles=2), "cycles = 2 needs"),
        (
            lambda: StepInput(4, [0], 0.0, 1.0, 1, None, 50, cycles=2, period=5),
            "cycles = 2 needs off_step",
        ),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 4, 50, cycles=2, period=3), "period = 3"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 4, 50, cycles=2, period=0), "period = 0"),
        (lambda: StepInput(4, [0], 0.0, 1.0, 1, 4, 20, cycles=2, period=10), "duration = 20"),
        (lambda: Windows(0, [], 5), "n_neurons"),
        (lambda: Windows(2, 5, 5), "windows"),
        (lambda: Windows(2, [(0, 1, 2)], 5), r"windows\[0\]"),
        (lambda: Windows(2, [(2, 1, 2, 1.0)], 5), r"windows\[0\].neuron = 2"),
        (lambda: Windows(2, [(0, -1, 2, 1.0)], 5), r"windows\[0\].start = -1"),
        (lambda: Windows(2, [(0, 1, 0, 1.0)], 5), r"windows\[0\].length = 0"),
        (lambda: Windows(2, [(0, 1, 2, np.nan)], 5), r"windows\[0\].value = nan"),
        (lambda: Windows(2, [(0, 1, 2, "high")], 5), r"windows\[0\].value"),
        (lambda: Windows(2, [(0, 1, 2, 1.0)], 0), "duration"),
        (lambda: Windows(2, [(0, 1, 2, 1.0)], 5, clamp=1.5), "clamp"),
    ],
)
def test_bad_arguments_name_themselves(make: Callable[[], object], name: str) -> None:
    with pytest.raises(ValidationError, match=f"^{name}"):
        make()


@pytest.mark.parametrize("start", [0, 1, 7, 8, 9, 31])
def test_a_stream_starting_at_a_step_holds_the_same_inputs_from_there(start: int) -> None:
    """StartingAt(stream, start) at step s holds what the stream holds at start + s, with the
    change in force at ``start`` first (at step 0) and the later ones shifted."""
    patterns = np.eye(4)
    stream = PatternSequence(6, np.arange(4), patterns, cyclic_order(4, 1, length=4), 8)
    rest = StartingAt(stream, start)
    assert rest.duration == 32 - start
    expected = inputs_at(stream, np.arange(start, 32))
    actual = inputs_at(rest, np.arange(32 - start))
    for expected_array, actual_array in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(actual_array, expected_array)
    steps = [change.step for change in rest.changes()]
    assert steps[0] == 0 and steps[1:] == [step - start for step in range(8, 32, 8) if step > start]
    with pytest.raises(ValidationError, match="start"):
        StartingAt(stream, 32)
