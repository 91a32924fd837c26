"""Streams: what data a network sees over time, as lazy changes of targets and clamps.

A stream only changes targets and clamping strengths (clamp factors in [0, 1], scaled by each
copy's beta); it never tells neurons when to learn. Time unit: integration steps. See
:mod:`neurosim.streams.base` for the contract.

- :class:`PatternSequence`: patterns in an order (``cyclic_order``, ``shuffled_epochs``,
  ``repeated``), each for a number of steps;
- :class:`Constant`, :class:`StepInput`, :class:`Windows`: the toy experiments' inputs;
- :class:`Concatenate`, :class:`Limit`, :class:`StartingAt`: one stream after another, the start
  of a stream, the rest of a stream from a step on (to resume a run);
- :func:`inputs_at`: the targets and clamps at given steps (tests, plots).
"""

from __future__ import annotations

from neurosim.streams.base import (
    Change,
    Concatenate,
    Limit,
    Segment,
    StartingAt,
    Stream,
    checked_changes,
    inputs_at,
)
from neurosim.streams.inputs import Constant, PatternSequence, StepInput, Window, Windows
from neurosim.streams.orders import Order, cyclic_order, repeated, shuffled_epochs

__all__ = [
    "Change",
    "Concatenate",
    "Constant",
    "Limit",
    "Order",
    "PatternSequence",
    "Segment",
    "StartingAt",
    "StepInput",
    "Stream",
    "Window",
    "Windows",
    "checked_changes",
    "cyclic_order",
    "inputs_at",
    "repeated",
    "shuffled_epochs",
]
