"""The event-driven backend's scenario section ``[event]``: its keys, their checks, and the
simulator options and size guard a scenario run derives from them.

Clock settings (``period``, ``jitter``, ``oscillator_offset``) are one number for every
neuron or a table by role and neuron id; ``delay`` is the delay of synapses the graph gives
none, one number or a table by projection ("input->hidden"); ``threshold`` is the send
threshold; ``events`` what the run store's ``events/`` group logs; ``sweep`` lists values of
``jitter`` and ``delay`` to run every combination of (``neurosim.runs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from neurosim.checks import check_choice, check_number, describe
from neurosim.errors import ValidationError
from neurosim.keys import DescribedCheck, Key, check_table, number
from neurosim.model import topology
from neurosim.model.network import CompiledNetwork

# The kinds of logged events.
EVENT_KINDS = ("update", "message")
SWEEP_KEYS = ("jitter", "delay")

# Above this many neuron updates a scenario is refused on the event-driven backend: about an
# hour at the 300,000 updates/s tools/bench_event.py measures on a 2-core machine.
EVENT_MAX_UPDATES = 1e9
EVENT_UPDATES_PER_SECOND = 3e5
# Above this many synapses its per-synapse arrays (about 60 bytes each) pass 3 GB.
EVENT_MAX_SYNAPSES = 50_000_000
# Above this many bytes of message channels a run is refused: each neuron's channel keeps the
# messages its slowest synapse may still deliver, about delay / period of them.
EVENT_MAX_CHANNEL_BYTES = 2e9


def _clock(positive: bool) -> Callable[[str, Any], float | dict[str, float]]:
    """A clock setting: one number for every neuron, or a table by role (input, output,
    hidden) and neuron id (an id's entry wins over its role's)."""

    def check(name: str, value: Any) -> float | dict[str, float]:
        def one(key: str, item: Any) -> float:
            return check_number(key, item, 0.0, low_open=positive)

        if isinstance(value, Mapping):
            if not value:
                raise ValidationError(f"{name} = {{}}: expected a number or a non-empty table")
            return {str(key): one(f"{name}.{key}", item) for key, item in value.items()}
        return one(name, value)

    bound = "> 0" if positive else ">= 0"
    return DescribedCheck(check, f"number {bound}, or a table by role and neuron id")


def _delays(name: str, value: Any) -> float | dict[str, float]:
    """Number >= 0, or a table by projection ("input->hidden" = 2.0) with an optional
    default entry"""
    if not isinstance(value, Mapping):
        return check_number(name, value, 0.0)
    checked = {}
    for key, item in value.items():
        if key != "default":
            parts = str(key).split("->")
            if len(parts) != 2 or any(part not in topology.ROLES for part in parts):
                raise ValidationError(
                    f"{name}.{key}: expected 'default' or a projection 'PRE->POST' of roles "
                    f'({", ".join(topology.ROLES)}), e.g. "input->hidden"'
                )
        checked[str(key)] = check_number(f"{name}.{key}", item, 0.0)
    return checked


def _event_kinds(name: str, value: Any) -> list[str]:
    """A list of update, message"""
    if not isinstance(value, list):
        raise ValidationError(
            f"{name} = {describe(value)}: expected a list of {', '.join(EVENT_KINDS)}"
        )
    return [check_choice(f"{name}[{k}]", item, EVENT_KINDS) for k, item in enumerate(value)]


def _sweep(name: str, value: Any) -> dict[str, list[float]]:
    """A table of lists of numbers >= 0: jitter, delay"""
    if not isinstance(value, Mapping) or not value:
        raise ValidationError(
            f"{name} = {describe(value)}: expected a table of lists ({', '.join(SWEEP_KEYS)})"
        )
    checked = {}
    for key, items in value.items():
        if key not in SWEEP_KEYS:
            raise ValidationError(
                f"{name}.{key}: unknown key; a sweep varies {', '.join(SWEEP_KEYS)}"
            )
        if not isinstance(items, list) or not items:
            raise ValidationError(f"{name}.{key} = {describe(items)}: expected a list of numbers")
        checked[key] = [check_number(f"{name}.{key}[{k}]", x, 0.0) for k, x in enumerate(items)]
    return checked


EVENT_KEYS = {
    "period": Key(
        _clock(positive=True),
        1.0,
        doc="Time between a neuron's updates, in time units (1 unit = one integration step of "
        "the sync backend).",
    ),
    "jitter": Key(
        _clock(positive=False),
        0.0,
        doc="Each interval is drawn uniformly from [period - jitter, period + jitter] (time "
        "units; at most period).",
    ),
    "delay": Key(
        _delays,
        1.0,
        doc="Transmission delay, in time units, of the synapses the topology gives none.",
    ),
    "threshold": Key(
        number(0.0),
        0.0,
        doc="A neuron sends a message only when one of its values moved by more than this "
        "since its last message (0: always).",
    ),
    "events": Key(_event_kinds, [], doc="The kinds of events logged in the store's events group."),
    "oscillator_offset": Key(
        _clock(positive=False),
        0,
        doc="Shifts each neuron's clamp oscillator (model.oscillator) by this many of its own "
        "updates.",
    ),
    "sweep": Key(
        _sweep,
        doc="Values of jitter and delay to run every combination of, one run store each.",
    ),
}
# keys that mean nothing on another backend, with the reason given when one is set there
EXCLUSIVE_KEYS = {"sweep": "varies the event-driven backend's clocks and delays"}


def _node_index(network: CompiledNetwork, node: str, key: str) -> int:
    """The compiled index of a neuron named in a TOML key (always a string there)."""
    try:
        return network.neuron_index(node, key)
    except ValidationError:
        raise ValidationError(
            f"{key}: no neuron {node!r} in the network; keys are roles "
            f"({', '.join(topology.ROLES)}) or neuron names: its {network.names_in_brief()}"
        ) from None


def _clock_values(
    value: float | dict[str, float], network: CompiledNetwork, key: str, default: float
) -> float | np.ndarray:
    """One clock setting per neuron: a number, or a table by role then by neuron id."""
    if not isinstance(value, dict):
        return value
    values = np.full(network.n_neurons, default)
    roles = np.array(topology.ROLES)[network.role]
    for name, entry in value.items():
        if name in topology.ROLES:
            values[roles == name] = entry
    for name, entry in value.items():
        if name not in topology.ROLES:
            values[_node_index(network, name, f"{key}.{name}")] = entry
    return values


def event_options(settings: Mapping[str, Any] | None, network: CompiledNetwork) -> dict[str, Any]:
    """``EventSimulator`` keyword arguments from the ``[event]`` table (settings None: its
    defaults). A delay table by projection ("input->hidden") is written into the network's
    synapses that have no delay of their own (GraphML ``delay``)."""
    table = check_table("event", {}, EVENT_KEYS) if settings is None else settings["event"]
    delay = table["delay"]
    default_delay = delay
    if isinstance(delay, dict):
        default_delay = delay.get("default", 1.0)
        unset = np.isnan(network.edge_delay)
        pre_role = network.role[network.edge_pre]
        post_role = network.role[network.edge_post]
        for projection, value in delay.items():
            if projection != "default":
                pre, post = (topology.ROLES.index(role) for role in projection.split("->"))
                network.edge_delay[unset & (pre_role == pre) & (post_role == post)] = value
    return {
        "period": _clock_values(table["period"], network, "event.period", 1.0),
        "jitter": _clock_values(table["jitter"], network, "event.jitter", 0.0),
        "default_delay": default_delay,
        "send_threshold": table["threshold"],
        "events": tuple(table["events"]),
        "oscillator_offset": _clock_values(
            table["oscillator_offset"], network, "event.oscillator_offset", 0.0
        ),
    }


_USE_SYNC = "run it on the synchronous backend (scenario.backend = 'sync' or --backend sync)"


def check_network_size(n_neurons: int, n_synapses: int) -> None:
    """Refuse a network whose synapses would take the event-driven backend more memory than
    a machine has; known from the scenario before the graph is built."""
    if n_synapses > EVENT_MAX_SYNAPSES:
        raise ValidationError(
            f"{n_neurons} neurons and {n_synapses:,} synapses are too many for the "
            f"event-driven backend (at most {EVENT_MAX_SYNAPSES:,} synapses); {_USE_SYNC}"
        )


def check_delays(settings: Mapping[str, Any] | None, network: CompiledNetwork, steps: int) -> None:
    """Refuse a synapse delay longer than the run: its messages would never arrive, and the
    channels would keep every message of the run. Reads the graph's own delays (GraphML
    ``delay``, before ``event_options`` fills in the others) and ``event.delay``."""
    graph_delays = np.nan_to_num(network.edge_delay, nan=0.0)
    beyond = np.flatnonzero(graph_delays > steps)
    if beyond.size:
        e = int(beyond[0])
        pre, post = network.node_ids[network.edge_pre[e]], network.node_ids[network.edge_post[e]]
        # an experiment's settings have no [topology]: its networks are built
        path = None if settings is None else settings.get("topology", {}).get("path")
        source = "" if path is None else f"topology.path = {path!r}: "
        raise ValidationError(
            f"{source}delay = {graph_delays[e]:g} on edge {pre!r} -> {post!r} is longer than "
            f"the run ({steps} steps); allowed: a delay in [0, {steps}]"
        )
    if settings is None:
        return  # the default delay, one step
    delay = settings["event"]["delay"]
    table = delay if isinstance(delay, dict) else {"": delay}
    for name, value in table.items():
        if value > steps:
            key = "event.delay" + (f".{name}" if name else "")
            raise ValidationError(
                f"{key} = {value:g} is longer than the run ({steps} steps); allowed: a delay "
                f"in [0, {steps}]"
            )


def check_channel_memory(
    n_neurons: int, longest_delay: float, fastest_period: float, message_bytes: int
) -> None:
    """Refuse channels that would keep more messages than memory allows: each neuron's
    ring holds what it sends within its slowest synapse's delay."""
    capacity = ring_capacity(longest_delay, fastest_period)
    total = n_neurons * capacity * message_bytes
    if total > EVENT_MAX_CHANNEL_BYTES:
        raise ValidationError(
            f"event.delay and event.period: a delay of {longest_delay:g} with a neuron "
            f"updating every {fastest_period:g} keeps {capacity:,} messages per neuron, "
            f"{total / 1e9:.3g} GB for {n_neurons} neurons (at most "
            f"{EVENT_MAX_CHANNEL_BYTES / 1e9:g} GB); shorten the delays or slow the clocks"
        )


def ring_capacity(longest_delay: float, fastest_period: float) -> int:
    """Messages a channel keeps: a power of two above those sent within the slowest
    synapse's delay at the fastest clock (two when a clock can fire at once)."""
    needed = 2 if fastest_period <= 0 else 2 + math.ceil(longest_delay / fastest_period)
    return 1 << (needed - 1).bit_length()


def check_run_size(network: CompiledNetwork, period: float | np.ndarray, steps: int) -> None:
    """Refuse a run of ``steps`` steps that would take the event-driven backend hours or
    more memory than a machine has, pointing to the synchronous backend."""
    check_network_size(network.n_neurons, network.n_edges)
    updates = float(np.sum(steps / np.broadcast_to(period, network.n_neurons)))
    if updates > EVENT_MAX_UPDATES:
        hours = updates / EVENT_UPDATES_PER_SECOND / 3600
        raise ValidationError(
            f"the scenario is too large for the event-driven backend: {network.n_neurons} "
            f"neurons and {network.n_edges} synapses over {steps} steps make {updates:.3g} "
            f"neuron updates (about {hours:.1f} h at {EVENT_UPDATES_PER_SECOND:,.0f} updates/s; "
            f"the limit is {EVENT_MAX_UPDATES:.0e} updates); {_USE_SYNC}"
        )
