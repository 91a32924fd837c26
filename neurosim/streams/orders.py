"""Orders in which items (patterns) are shown: lazy, re-iterable sequences of item indices.

Each helper returns an :class:`Order`: iterating it starts a fresh generator, so the same order
is produced every time (a stream built on it is re-iterable) and nothing is materialised, even
for an unbounded order. ``len(order)`` is the number of items when finite; ``order.length`` is
that number or None for an unbounded order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from neurosim.checks import check_integer, check_reiterable, describe
from neurosim.errors import ValidationError

__all__ = ["Order", "cyclic_order", "repeated", "shuffled_epochs"]


class Order(Iterable[int]):
    """A lazy, re-iterable sequence of item indices (Python ints).

    ``make`` builds a fresh iterator for each pass; ``length`` is the number of items, None if
    unbounded. ``len()`` raises TypeError for an unbounded order.
    """

    def __init__(self, make: Callable[[], Iterator[int]], length: int | None, text: str) -> None:
        self._make = make
        self.length = length
        self._text = text

    def __iter__(self) -> Iterator[int]:
        return self._make()

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError(f"{self._text} is unbounded and has no length")
        return self.length

    def __repr__(self) -> str:
        return self._text


def _check_length(name: str, value: object) -> int | None:
    return None if value is None else check_integer(name, value, 0)


def cyclic_order(n_items: int, stride: int = 1, start: int = 0, length: int | None = None) -> Order:
    """start, start + stride, start + 2 stride, ... modulo ``n_items``.

    The aSTDP paper's data orders over 8 items are ``cyclic_order(8, 1)`` (i -> i + 1) and
    ``cyclic_order(8, 3)`` (i -> i + 3). ``stride`` may be any integer (negative runs
    backwards); ``length`` None gives an unbounded order.
    """
    n_items = check_integer("n_items", n_items, 1)
    stride = check_integer("stride", stride)
    start = check_integer("start", start, 0, n_items - 1)
    length = _check_length("length", length)

    def make() -> Iterator[int]:
        index = start
        counter = itertools.count() if length is None else range(length)
        for _ in counter:
            yield index
            index = (index + stride) % n_items

    text = f"cyclic_order({n_items}, stride={stride}, start={start}, length={length})"
    return Order(make, length, text)


def shuffled_epochs(n_items: int, epochs: int | None, seed: int) -> Order:
    """Each epoch a new random permutation of 0..n_items-1, from ``numpy.random.default_rng(seed)``.

    Deterministic for a seed: every pass restarts the generator. ``epochs`` None gives an
    unbounded order.
    """
    n_items = check_integer("n_items", n_items, 1)
    epochs = _check_length("epochs", epochs)
    seed = check_integer("seed", seed, 0)

    def make() -> Iterator[int]:
        rng = np.random.default_rng(seed)
        counter = itertools.count() if epochs is None else range(epochs)
        for _ in counter:
            yield from rng.permutation(n_items).tolist()

    length = None if epochs is None else n_items * epochs
    return Order(make, length, f"shuffled_epochs({n_items}, epochs={epochs}, seed={seed})")


def repeated(order: Iterable[int], times: int | None) -> Order:
    """``order`` played ``times`` times in a row (None: for ever).

    ``order`` must be re-iterable (a list, range, array or another Order), not a generator.
    """
    check_reiterable("order", order)
    times = _check_length("times", times)
    inner = order_length(order)

    def make() -> Iterator[int]:
        counter = itertools.count() if times is None else range(times)
        for _ in counter:
            empty = True
            for item in order:
                empty = False
                yield item
            if empty:
                return

    length = None if times is None or inner is None else inner * times
    return Order(make, length, f"repeated({describe(order)}, times={times})")


def order_length(order: object) -> int | None:
    """The number of items of a finite sized order, None when unbounded or unsized."""
    if isinstance(order, Order):
        return order.length
    try:
        return len(order)  # type: ignore[arg-type]
    except TypeError:
        return None


def check_order_item(position: int, item: object, n_items: int) -> int:
    """``item`` as an int index in [0, n_items); ValidationError naming ``order[position]``."""
    if (
        isinstance(item, (int, np.integer))
        and not isinstance(item, (bool, np.bool_))
        and 0 <= item < n_items
    ):
        return int(item)
    raise ValidationError(
        f"order[{position}] = {describe(item)}: expected an integer item index in [0, {n_items})"
    )
