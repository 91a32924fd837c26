"""The event-driven backend's agents: each neuron's SimPy process (wait for its clock,
update, send, log), the waits that land on a time exactly, and the event log it writes.
``event.EventSimulator`` starts the processes and holds what they share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import simpy
from simpy.events import Timeout

from neurosim.backends.base import event_columns
from neurosim.backends.event_scenario import EVENT_KINDS
from neurosim.backends.event_update import CHANNEL_FULL, F_RATE, F_STATE, I_SENT, update_neuron
from neurosim.errors import ValidationError

if TYPE_CHECKING:
    from neurosim.backends.event import EventSimulator

EVENT_UPDATE = EVENT_KINDS.index("update")
EVENT_MESSAGE = EVENT_KINDS.index("message")


class EventLog:
    """Logged events, in the order they happened: time, neuron (compiled index), kind (an
    index into EVENT_KINDS) and value (an update's new state of copy 0, a message's rate of
    copy 0). ``take()`` returns them as arrays and empties the log."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.select(kinds)
        self._rows: list[tuple[float, int, int, float]] = []

    def select(self, kinds: Sequence[str]) -> None:
        """Log these kinds from now on (none: pause the log)."""
        unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
        if unknown:
            raise ValidationError(
                f"events = {list(kinds)!r}: allowed kinds are {', '.join(EVENT_KINDS)}"
            )
        self.updates = "update" in kinds
        self.messages = "message" in kinds

    def add(self, time: float, neuron: int, kind: int, value: float) -> None:
        self._rows.append((time, neuron, kind, float(value)))

    def take(self) -> dict[str, np.ndarray]:
        """The events logged since the last call: ``time``, ``neuron``, ``kind``, ``value``."""
        rows = self._rows
        self._rows = []
        return event_columns(rows)


class _DivergedError(Exception):
    """Raised by the process of a neuron whose state or incoming weight left the bound (args:
    its index), to end ``env.run`` at that instant."""


def _neuron_process(env: simpy.Environment, simulator: EventSimulator, i: int, first: float):
    """Neuron ``i``: wait for its clock (the first update at time ``first``), update (and
    send); until its state or an incoming weight leaves the bound. ``simulator._arrays``
    is read at every update: growing the channels replaces it. Each wait is a SimPy
    timeout, whose time and order ``next_update`` and ``wait_order`` keep for a checkpoint.
    With an event log, each update (state of copy 0) and each message sent (its rate of copy
    0) is logged."""
    log = simulator._event_log
    counts = simulator._neuron_counts
    values = simulator._neuron_values
    next_update = simulator._next_update
    wait_order = simulator._wait_order
    order = simulator._wait_count
    sent = 0
    next_update[i] = first
    wait_order[i] = next(order)
    for delay in _delays_until(env.now, first):
        yield Timeout(env, delay)
    while True:
        if log is not None:
            sent = counts[i, I_SENT]
        wait = update_neuron(i, env.now, *simulator._arrays)
        if wait < 0.0:
            if wait == CHANNEL_FULL:
                simulator._grow_channels()
                continue
            raise _DivergedError(i)
        if log is not None:
            if log.updates:
                log.add(env.now, i, EVENT_UPDATE, values[i, F_STATE])
            if log.messages and counts[i, I_SENT] != sent:
                log.add(env.now, i, EVENT_MESSAGE, values[i, F_RATE])
        next_update[i] = env.now + wait
        wait_order[i] = next(order)
        yield Timeout(env, wait)


def _delays_until(now: float, time: float) -> tuple[float, ...]:
    """The waits after which SimPy, adding each to the time it has reached, is at exactly
    ``time`` (>= now). Often one wait does it; where no float delay lands on ``time`` from
    ``now`` (possible when ``time > 2 now``), a first wait ends just below it, and from there
    the rest is an exact difference (two floats within a factor two subtract exactly)."""
    delay = time - now
    while now + delay > time:
        delay = np.nextafter(delay, -math.inf)
    # no step up from a sum below ``time`` is tried: the rounded difference is the float
    # nearest the exact one, so the next one up overshoots by half an ulp or more (never seen
    # to land in 400,000 random pairs); were one to land, the two waits still reach it exactly
    reached = now + float(delay)
    if reached == time:
        return (float(delay),)
    return (float(delay), time - reached)
