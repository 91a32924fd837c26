"""What each section of a scenario file allows: the checked key tables of ``[scenario]``,
``[topology]``, ``[[phase]]``, ``[record]`` and ``[analysis]`` (``[model]`` is
``ModelParameters``; a backend's and an experiment's own keys come from the registry).
The checks use them; the key reference (``neurosim keys``) prints them."""

from __future__ import annotations

from typing import Any

from neurosim.analysis.rivalry import OFF_LEVEL, ON_LEVEL
from neurosim.backends.base import RECORDABLE
from neurosim.checks import check_choice, check_integer, check_number, describe
from neurosim.errors import ValidationError
from neurosim.keys import (
    Key,
    allows,
    boolean,
    choice,
    integer,
    number,
    number_list,
    seed,
    table,
    text,
)
from neurosim.model.network import LAYOUTS
from neurosim.model.topology import BUILDERS
from neurosim.registry import DEFAULT_BACKEND, backend, backend_names

ORDERS = ("shuffled", "cyclic")
NEURON_SETS = ("visible", "input", "output", "hidden", "all")


def _patterns(name: str, value: Any) -> str | list[list[float]]:
    """ "one_hot" or a list of patterns (lists of numbers, all of one length)"""
    if value == "one_hot":
        return value
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f'{name} = {describe(value)}: expected "one_hot" or a list of patterns (lists)'
        )
    rows = [number_list()(f"{name}[{k}]", row) for k, row in enumerate(value)]
    if len({len(row) for row in rows}) > 1:
        raise ValidationError(f"{name}: the patterns have different lengths")
    return rows


@allows(f"one of {', '.join(NEURON_SETS)}, or a list of neuron ids")
def _neurons(name: str, value: Any) -> str | list[Any]:
    if isinstance(value, str):
        return check_choice(name, value, NEURON_SETS)
    if isinstance(value, list) and value:
        return [_neuron_name(f"{name}[{k}]", item) for k, item in enumerate(value)]
    raise ValidationError(
        f"{name} = {describe(value)}: expected one of {', '.join(NEURON_SETS)} or a list of "
        "neuron ids"
    )


def _windows(name: str, value: Any) -> list[list[float]]:
    """A list of [neuron id, start step, length in steps, target value]"""
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{name} = {describe(value)}: expected a list of [neuron, start, length, value]"
        )
    windows = []
    for k, window in enumerate(value):
        if not isinstance(window, list) or len(window) != 4:
            raise ValidationError(
                f"{name}[{k}] = {describe(window)}: expected [neuron, start, length, value]"
            )
        windows.append(
            [
                _neuron_name(f"{name}[{k}][0]", window[0]),
                check_integer(f"{name}[{k}][1]", window[1], 0),
                check_integer(f"{name}[{k}][2]", window[2], 1),
                check_number(f"{name}[{k}][3]", window[3]),
            ]
        )
    return windows


def _neuron_name(name: str, value: Any) -> int | str:
    """A neuron's name: its GraphML node id, or a builder's number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{name} = {describe(value)}: expected a neuron's id (name)")
    return value


@allows(f"list of {', '.join(RECORDABLE)}")
def _record_arrays(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValidationError(f"{name} = {describe(value)}: expected a list of array names")
    return [check_choice(f"{name}[{k}]", item, RECORDABLE) for k, item in enumerate(value)]


def _snapshot_interval(name: str, value: Any) -> bool | int:
    """true, false, or an interval in steps >= 1"""
    if isinstance(value, bool):
        return value
    if not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{name} = {describe(value)}: expected true, false or an interval in steps >= 1"
        )
    return value


def _phase_names(name: str, value: Any) -> list[str] | str:
    """ "all" or a list of phase names"""
    if value == "all":
        return value
    if not isinstance(value, list):
        raise ValidationError(f'{name} = {describe(value)}: expected "all" or a list of names')
    return [text(f"{name}[{k}]", item) for k, item in enumerate(value)]


def _sizes(name: str, value: Any) -> list[int]:
    """A list of at least 2 layer sizes, each an integer >= 1"""
    if not isinstance(value, list) or len(value) < 2:
        raise ValidationError(f"{name} = {describe(value)}: expected a list of at least 2 sizes")
    return [check_integer(f"{name}[{k}]", size, 1) for k, size in enumerate(value)]


def _number_or_list(name: str, value: Any) -> float | list[float]:
    """A number, or a list of numbers (one per neuron of the phase)"""
    return number_list()(name, value) if isinstance(value, list) else check_number(name, value)


SCENARIO_KEYS = {
    "name": Key(text, required=True, doc="The run's name, stored with it and shown in summaries."),
    "description": Key(text, "", doc="What the scenario is for, in a sentence or two."),
    "backend": Key(
        choice(backend_names()),
        DEFAULT_BACKEND,
        doc="The simulator that runs the scenario: sync (lock-step, batched) or event (each "
        "neuron on its own clock); --backend overrides it.",
    ),
    "seed": Key(
        seed,
        0,
        doc="The master seed every random draw derives from (initial weights and states, "
        "shuffled orders, noise, random topologies); --seed overrides it.",
    ),
}
TOPOLOGY_KEYS = {
    "builder": Key(
        choice(tuple(BUILDERS)),
        doc="The builder that makes the network (the section's note lists each builder's "
        "arguments); give one of builder, path, from_store.",
    ),
    "path": Key(
        text,
        doc="A GraphML topology file, relative to the scenario file's folder (given on the "
        "command line: to the working directory); give one of builder, path, from_store.",
    ),
    "from_store": Key(
        text,
        doc="A run store whose network starts this run: its neurons, synapses, delays and the "
        "weights and biases of one weight snapshot (docs/topologies.md); give one of builder, "
        "path, from_store.",
    ),
    "snapshot": Key(
        integer(0),
        doc="The weight snapshot from_store starts from, 0 the first; absent: the last.",
    ),
    "n_input": Key(integer(1), doc="Number of input neurons (recurrent builders)."),
    "n_output": Key(
        integer(0),
        doc="Number of output neurons (recurrent builders; 0: every visible neuron is an input).",
    ),
    "n_hidden": Key(integer(1), doc="Number of hidden neurons (recurrent builders)."),
    "sizes": Key(
        _sizes,
        doc="Layer sizes from the input layer to the output layer (layered builder), e.g. "
        "[784, 512, 10].",
    ),
    "lateral": Key(
        boolean,
        doc="Whether the neurons inside each hidden layer are connected all-to-all (layered "
        "builder; default false).",
    ),
    "in_degree": Key(
        integer(0),
        doc="Presynaptic hidden neurons drawn for each hidden neuron (sparse_random; give this "
        "or probability).",
    ),
    "probability": Key(
        number(0.0, 1.0),
        doc="Probability of each hidden-to-hidden synapse (sparse_random; give this or in_degree).",
    ),
    "visible_density": Key(
        number(0.0, 1.0),
        doc="Share of the visible<->hidden synapses kept, each direction drawn independently "
        "(sparse_random; default 1).",
    ),
    "k": Key(
        integer(2),
        doc="Nearest neighbours each hidden neuron joins on the ring, an even number "
        "(small_world).",
    ),
    "rewire_probability": Key(
        number(0.0, 1.0),
        doc="Probability that each ring edge is rewired to a random neuron (small_world).",
    ),
    "seed": Key(
        seed,
        doc="Seed of a builder that draws at random (sparse_random, small_world); absent: the "
        "scenario's seed.",
    ),
    "layout": Key(
        choice(LAYOUTS),
        "auto",
        doc="How the weights are stored: dense blocks, sparse (CSR) rows, or chosen per layer "
        "pair by its density (auto); results are the same.",
    ),
}
TOPOLOGY_SOURCES = ("builder", "path", "from_store")
"""The ``[topology]`` keys that say where the network comes from; a scenario gives one."""
COMMAND_LINE_PATHS = (("topology", "path"), ("topology", "from_store"))
"""Path-valued keys that a ``--set`` (or ``--topology``) gives relative to the working
directory; written in a scenario file, they are relative to the file's folder."""

# each stream kind and the phase keys it needs
PHASE_NEEDS = {
    "patterns": ("patterns", "steps_per_item"),
    "constant": ("values", "duration"),
    "step": ("on_step", "duration"),
    "windows": ("windows", "duration"),
}
STREAM_KINDS = tuple(PHASE_NEEDS)
PHASE_KEYS = {
    "name": Key(
        text, doc="The phase's name, used by record.phases and analysis.phase (default phaseK)."
    ),
    "stream": Key(
        choice(STREAM_KINDS),
        required=True,
        doc="What the data do in this phase: patterns shown in turn, a constant input, a step "
        "input switched on and off, or timed windows.",
    ),
    "neurons": Key(
        _neurons,
        "visible",
        doc="The neurons the stream clamps: a role set or a list of neuron ids (not used by "
        "windows, whose entries name their neuron).",
    ),
    "clamp": Key(
        number(0.0, 1.0),
        1.0,
        doc="How strongly the data are clamped: a factor on the model's beta (1: full, 0: free).",
    ),
    "duration": Key(
        integer(1),
        doc="Length of the phase in integration steps; a patterns phase without epochs "
        "repeats its patterns without end until then.",
    ),
    # patterns
    "patterns": Key(
        _patterns,
        doc="patterns stream: the targets shown, one value per selected neuron each, or "
        "one_hot (one pattern per neuron).",
    ),
    "order": Key(
        choice(ORDERS),
        "shuffled",
        doc="patterns stream: each epoch in a new random order, or cyclically with stride.",
    ),
    "stride": Key(
        integer(),
        1,
        doc="patterns stream, cyclic order: item i is followed by item i + stride (modulo the "
        "number of patterns; negative runs backwards).",
    ),
    "epochs": Key(
        integer(1),
        doc="patterns stream: passes over all patterns; absent: they repeat until duration.",
    ),
    "steps_per_item": Key(
        integer(1), doc="patterns stream: integration steps each pattern is held."
    ),
    # constant
    "values": Key(
        number_list(), doc="constant stream: the target of each selected neuron, held throughout."
    ),
    # step
    "low": Key(
        _number_or_list,
        0.0,
        doc="step stream: the target before on_step and after off_step (one value or one per "
        "neuron).",
    ),
    "high": Key(
        _number_or_list,
        1.0,
        doc="step stream: the target from on_step to off_step (one value or one per neuron).",
    ),
    "on_step": Key(
        integer(0), doc="step stream: the step (from the phase's start) the input switches high."
    ),
    "off_step": Key(
        integer(0),
        doc="step stream: the step it switches back to low; absent: it stays high.",
    ),
    "cycles": Key(
        integer(1), doc="step stream: how many times the on/off step repeats (default 1)."
    ),
    "period": Key(
        integer(1), doc="step stream: steps between the starts of two cycles (with cycles > 1)."
    ),
    # windows
    "windows": Key(
        _windows,
        doc="windows stream: each entry clamps one neuron to a value for length steps from start.",
    ),
    "model": Key(
        allows("a table of [model] keys")(table),
        doc="Model parameters changed from this phase on (rates, clamping, noise, fake "
        "targets; not rule, dtype or activation).",
    ),  # checked against the model below
}
CHECKPOINT_KEYS = {
    # a checkpoint every N steps (experiments: N of their own units); absent: only on SIGTERM
    # or Ctrl-C
    "checkpoint_every": Key(
        integer(1),
        doc="A checkpoint for --resume every this many steps (an experiment: of its own unit); "
        "absent: only when the run is stopped.",
    ),
    "checkpoint_keep": Key(
        integer(2), 2, doc="How many of the latest checkpoints the store keeps."
    ),
}
"""The ``[record]`` keys every scenario kind takes, experiments too."""

RECORD_KEYS = {
    "arrays": Key(
        _record_arrays,
        ["state", "dz", "fake_target"],
        doc="The per-neuron arrays written to the store's trajectory group.",
    ),
    "every": Key(integer(1), 1, doc="Record one time point every this many integration steps."),
    "neurons": Key(_neurons, "all", doc="The neurons recorded: a role set or a list of ids."),
    "phases": Key(_phase_names, "all", doc="The phases recorded (by name)."),
    "time_chunk": Key(
        integer(1),
        1024,
        doc="Recorded time points per chunk of the store's arrays (a storage setting; "
        "results are the same).",
    ),
    "weight_snapshots": Key(
        _snapshot_interval,
        True,
        doc="Weight snapshots: true at the start, at each phase's end and when the run stops; "
        "an interval adds one every that many steps; false none.",
    ),
    **CHECKPOINT_KEYS,
}


def _neuron_pair(name: str, value: Any) -> list[Any]:
    """A list of the ids of two neurons"""
    if not isinstance(value, list) or len(value) != 2:
        raise ValidationError(f"{name} = {describe(value)}: expected the ids of two neurons")
    return [_neuron_name(f"{name}[{k}]", item) for k, item in enumerate(value)]


_ANALYSIS_KIND = "The analysis: rivalry or adaptation."
_ANALYSIS_PHASE = (
    "The name of the phase analysed; it must be recorded, with state among the arrays."
)
_ANALYSIS_COPY = "The state copy analysed (0: the small-beta copy of a two-copy rule)."
ANALYSIS_KEYS = {
    "rivalry": {
        "kind": Key(text, required=True, doc=_ANALYSIS_KIND),
        "phase": Key(text, required=True, doc=_ANALYSIS_PHASE),
        "units": Key(
            _neuron_pair, required=True, doc="The two competing neurons, a and b, by their ids."
        ),
        "hysteresis": Key(
            number(0.0),
            0.2,
            doc="A unit dominates from the step its state leads the other's by more than this "
            "(state units).",
        ),
        "on_level": Key(
            number(),
            ON_LEVEL,
            doc="A pattern shows where its unit's state is at least this and the other's at "
            "most off_level.",
        ),
        "off_level": Key(
            number(),
            OFF_LEVEL,
            doc="The suppressed unit's level at most for a clean pattern; below on_level.",
        ),
        "copy": Key(integer(0, 1), 0, doc=_ANALYSIS_COPY),
    },
    "adaptation": {
        "kind": Key(text, required=True, doc=_ANALYSIS_KIND),
        "phase": Key(
            text,
            required=True,
            doc=_ANALYSIS_PHASE + " It must be a step phase recorded every step.",
        ),
        "unit": Key(_neuron_name, required=True, doc="The neuron whose response is measured."),
        "settle": Key(
            integer(1),
            100,
            doc="Steps averaged for the settled levels (before switch-on, at the end of on and "
            "of off).",
        ),
        "window": Key(
            integer(1),
            doc="Steps after each switch searched for the overshoot or undershoot; absent: settle.",
        ),
        "copy": Key(integer(0, 1), 0, doc=_ANALYSIS_COPY),
    },
}


def backend_sections() -> tuple[str, ...]:
    """The backends that have a section of their own, named after them."""
    return tuple(name for name in backend_names() if backend(name).keys is not None)


def scenario_sections() -> tuple[str, ...]:
    """The sections a scenario file may have, in the order of a file."""
    return (
        "scenario",
        "model",
        "topology",
        *backend_sections(),
        "phase",
        "record",
        "analysis",
        "experiment",
    )
