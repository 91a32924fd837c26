"""Network topologies: builders, GraphML input/output and validation.

A topology is a ``networkx.DiGraph``. Every node carries ``role`` (one of :data:`ROLES`) and
``layer`` (an int); a node may carry ``bias`` (float). An edge ``j -> i`` means presynaptic
neuron ``j`` and postsynaptic neuron ``i``; it may carry ``weight`` (float) and ``delay``
(float >= 0, used by the event backend). Self-loops are never allowed.

Builders number their nodes ``0 .. N-1``, never put weights on edges (the model initialises
them) and never add self-loops. Every random choice comes from ``numpy.random.default_rng(seed)``
with an explicit ``seed``: the same seed gives the identical graph.
"""

from __future__ import annotations

import inspect
import io
import itertools
import math
import numbers
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from neurosim.checks import check_integer, check_number
from neurosim.errors import TopologyError, ValidationError

__all__ = [
    "ROLES",
    "layered",
    "read_graphml",
    "recurrent",
    "small_world",
    "sparse_random",
    "validate_graph",
    "write_graphml",
]

ROLES = ("input", "output", "hidden")
"""The allowed values of a node's ``role``; ``input`` and ``output`` together are *visible*."""

DEFAULT_LAYER_BY_ROLE = {"input": 0, "hidden": 1, "output": 2}
"""Layers given by :func:`read_graphml` when a file sets ``layer`` on no node at all."""

_FLOAT_NODE_ATTRIBUTES = ("bias",)
_FLOAT_EDGE_ATTRIBUTES = ("weight", "delay")
# Attributes neurosim reads itself: their GraphML keys are read as text, then coerced here, so
# that a bad value is reported with its node or edge instead of as a bare conversion error.
_OWN_ATTRIBUTES = ("role", "layer", "bias", "weight", "delay")
_GRAPHML_NAMESPACE = "http://graphml.graphdrawing.org/xmlns"


# --------------------------------------------------------------------------------------------
# argument checks


def _probability(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, 1.0)


def _check_sizes(n_input: Any, n_output: Any, n_hidden: Any) -> tuple[int, int, int]:
    """Check the sizes of a visible/hidden network: inputs and hidden >= 1, outputs >= 0."""
    return (
        check_integer("n_input", n_input, 1),
        check_integer("n_output", n_output, 0),
        check_integer("n_hidden", n_hidden, 1),
    )


# --------------------------------------------------------------------------------------------
# building blocks


def _visible_hidden_nodes(
    n_input: int, n_output: int, n_hidden: int
) -> tuple[nx.DiGraph, list[int], list[int]]:
    """Nodes of the papers' layout: inputs, then outputs (layer 0), then hidden (layer 1)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n_input), role="input", layer=0)
    graph.add_nodes_from(range(n_input, n_input + n_output), role="output", layer=0)
    n_visible = n_input + n_output
    graph.add_nodes_from(range(n_visible, n_visible + n_hidden), role="hidden", layer=1)
    return graph, list(range(n_visible)), list(range(n_visible, n_visible + n_hidden))


def _connect_both_ways(graph: nx.DiGraph, first: Sequence[int], second: Sequence[int]) -> None:
    """Connect every node of ``first`` to every node of ``second`` and back."""
    graph.add_edges_from(itertools.product(first, second))
    graph.add_edges_from(itertools.product(second, first))


def _connect_within(graph: nx.DiGraph, nodes: Sequence[int]) -> None:
    """Connect every ordered pair of distinct ``nodes`` (all-to-all, no self-loops)."""
    graph.add_edges_from(nx.complete_graph(nodes, create_using=nx.DiGraph).edges)


def _connect_visible_hidden(
    graph: nx.DiGraph,
    visible: Sequence[int],
    hidden: Sequence[int],
    density: float,
    rng: np.random.Generator,
) -> None:
    """Visible <-> hidden edges; each direction of each pair is kept with ``density``."""
    if density >= 1.0:
        _connect_both_ways(graph, visible, hidden)
        return
    shape = (len(visible), len(hidden))
    forward = rng.random(shape) < density  # visible -> hidden
    backward = rng.random(shape) < density  # hidden -> visible
    visible_array = np.asarray(visible)
    hidden_array = np.asarray(hidden)
    rows, columns = np.nonzero(forward)
    graph.add_edges_from(
        zip(visible_array[rows].tolist(), hidden_array[columns].tolist(), strict=True)
    )
    rows, columns = np.nonzero(backward)
    graph.add_edges_from(
        zip(hidden_array[columns].tolist(), visible_array[rows].tolist(), strict=True)
    )


# --------------------------------------------------------------------------------------------
# builders


def recurrent(n_input: int, n_output: int, n_hidden: int) -> nx.DiGraph:
    """Build the papers' recurrent network.

    Nodes ``0 .. n_input-1`` are inputs, the next ``n_output`` are outputs (inputs and outputs
    together are *visible*, ``layer=0``), the last ``n_hidden`` are hidden (``layer=1``).
    Every visible neuron connects to every hidden neuron in both directions, the hidden neurons
    are connected all-to-all (no self-loops), and there are no visible-visible edges:
    ``2 * (n_input + n_output) * n_hidden + n_hidden * (n_hidden - 1)`` edges in all.

    ``n_input`` and ``n_hidden`` must be >= 1; ``n_output`` may be 0 (a network whose visible
    neurons are all inputs).
    """
    n_input, n_output, n_hidden = _check_sizes(n_input, n_output, n_hidden)
    graph, visible, hidden = _visible_hidden_nodes(n_input, n_output, n_hidden)
    _connect_both_ways(graph, visible, hidden)
    _connect_within(graph, hidden)
    validate_graph(graph)
    return graph


def layered(sizes: Sequence[int], lateral: bool = False) -> nx.DiGraph:
    """Build a layered network, e.g. ``layered([784, 512, 512, 10])``.

    The first size is the input layer (role ``input``, ``layer=0``), the last the output layer
    (role ``output``, ``layer=len(sizes)-1``), the sizes between are hidden layers whose
    ``layer`` is their position. Nodes are numbered layer by layer. Adjacent layers are
    connected all-to-all in both directions; no edge skips a layer. With ``lateral=True`` the
    neurons inside each hidden layer are also connected all-to-all (no self-loops).

    At least two sizes are needed, each >= 1.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise ValidationError(f"sizes = {sizes!r}: expected a sequence of at least 2 integers")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValidationError(
            f"sizes = {sizes!r}: expected at least 2 layer sizes (an input and an output layer)"
        )
    sizes = [check_integer(f"sizes[{index}]", size, 1) for index, size in enumerate(sizes)]
    if not isinstance(lateral, (bool, np.bool_)):
        raise ValidationError(f"lateral = {lateral!r}: expected True or False")

    graph = nx.DiGraph()
    layers: list[list[int]] = []
    start = 0
    last = len(sizes) - 1
    for index, size in enumerate(sizes):
        role = "input" if index == 0 else "output" if index == last else "hidden"
        nodes = list(range(start, start + size))
        graph.add_nodes_from(nodes, role=role, layer=index)
        layers.append(nodes)
        start += size
    for lower, upper in itertools.pairwise(layers):
        _connect_both_ways(graph, lower, upper)
    if lateral:
        for nodes in layers[1:-1]:
            _connect_within(graph, nodes)
    validate_graph(graph)
    return graph


def sparse_random(
    n_input: int,
    n_output: int,
    n_hidden: int,
    *,
    in_degree: int | None = None,
    probability: float | None = None,
    visible_density: float = 1.0,
    seed: int = 0,
) -> nx.DiGraph:
    """Build a recurrent network with a sparse random hidden core.

    Nodes, roles and layers are as in :func:`recurrent`. The hidden core is drawn in one of two
    ways; give exactly one of ``in_degree`` and ``probability``:

    - ``in_degree``: every hidden neuron gets exactly ``in_degree`` distinct presynaptic hidden
      neurons, chosen uniformly at random among the other hidden neurons
      (``0 <= in_degree <= n_hidden - 1``);
    - ``probability``: each ordered pair of distinct hidden neurons ``j -> i`` is an edge with
      this probability, independently (an Erdos-Renyi directed graph).

    Each visible -> hidden and each hidden -> visible edge (the two directions independently) is
    kept with probability ``visible_density``; at 1.0 (the default) all are present. The hidden
    core is drawn before the visible edges, so it does not depend on ``visible_density``.
    """
    n_input, n_output, n_hidden = _check_sizes(n_input, n_output, n_hidden)
    if (in_degree is None) == (probability is None):
        raise ValidationError(
            f"in_degree = {in_degree!r}, probability = {probability!r}: "
            "give exactly one of in_degree and probability"
        )
    if in_degree is not None:
        in_degree = check_integer("in_degree", in_degree, 0, n_hidden - 1)
    if probability is not None:
        probability = _probability("probability", probability)
    visible_density = _probability("visible_density", visible_density)
    seed = check_integer("seed", seed, 0)

    rng = np.random.default_rng(seed)
    graph, visible, hidden = _visible_hidden_nodes(n_input, n_output, n_hidden)
    first_hidden = hidden[0]
    if in_degree is not None:
        for post in range(n_hidden):
            # draw among the n_hidden - 1 others: indices >= post shift by one to skip post
            others = rng.choice(n_hidden - 1, size=in_degree, replace=False)
            pres = np.where(others >= post, others + 1, others) + first_hidden
            graph.add_edges_from((pre, post + first_hidden) for pre in pres.tolist())
    else:
        mask = rng.random((n_hidden, n_hidden)) < probability  # mask[pre, post]
        np.fill_diagonal(mask, False)
        pres, posts = np.nonzero(mask)
        graph.add_edges_from(
            zip((pres + first_hidden).tolist(), (posts + first_hidden).tolist(), strict=True)
        )
    _connect_visible_hidden(graph, visible, hidden, visible_density, rng)
    validate_graph(graph)
    return graph


def small_world(
    n_input: int,
    n_output: int,
    n_hidden: int,
    *,
    k: int,
    rewire_probability: float,
    seed: int = 0,
) -> nx.DiGraph:
    """Build a recurrent network with a Watts-Strogatz small-world hidden core.

    Nodes, roles, layers and the visible <-> hidden edges are as in :func:`recurrent`. The
    hidden core is ``nx.watts_strogatz_graph(n_hidden, k, rewire_probability)`` (a ring where
    each neuron joins its ``k`` nearest neighbours, each edge then rewired with
    ``rewire_probability``), drawn with ``numpy.random.default_rng(seed)``; each undirected
    edge becomes two directed edges, so the core is symmetric. ``k`` must be even, with
    ``2 <= k <= n_hidden - 1``.
    """
    n_input, n_output, n_hidden = _check_sizes(n_input, n_output, n_hidden)
    k = check_integer("k", k, 2)
    if k % 2:
        raise ValidationError(
            f"k = {k!r}: expected an even integer (each neuron joins k/2 neighbours per side)"
        )
    if k > n_hidden - 1:
        raise ValidationError(
            f"k = {k!r}: expected an even integer in [2, n_hidden - 1 = {n_hidden - 1}]"
        )
    rewire_probability = _probability("rewire_probability", rewire_probability)
    seed = check_integer("seed", seed, 0)

    rng = np.random.default_rng(seed)
    graph, visible, hidden = _visible_hidden_nodes(n_input, n_output, n_hidden)
    core = nx.watts_strogatz_graph(n_hidden, k, rewire_probability, seed=rng)
    offset = hidden[0]
    for u, v in core.edges:
        graph.add_edge(u + offset, v + offset)
        graph.add_edge(v + offset, u + offset)
    _connect_both_ways(graph, visible, hidden)
    validate_graph(graph)
    return graph


# --------------------------------------------------------------------------------------------
# sizes before building: (neurons, synapses) from a builder's arguments, so that a backend can
# refuse a network too large for it before networkx spends minutes and gigabytes on it


def _recurrent_size(n_input: int, n_output: int, n_hidden: int) -> tuple[int, int]:
    visible = n_input + n_output
    return visible + n_hidden, 2 * visible * n_hidden + n_hidden * (n_hidden - 1)


def _layered_size(sizes: Sequence[int], lateral: bool = False) -> tuple[int, int]:
    synapses = sum(2 * lower * upper for lower, upper in itertools.pairwise(sizes))
    if lateral:
        synapses += sum(size * (size - 1) for size in sizes[1:-1])
    return sum(sizes), synapses


def _sparse_random_size(
    n_input: int,
    n_output: int,
    n_hidden: int,
    *,
    in_degree: int | None = None,
    probability: float | None = None,
    visible_density: float = 1.0,
    seed: int = 0,
) -> tuple[int, int]:
    """The expected count: the core and the visible edges are drawn."""
    visible = n_input + n_output
    if in_degree is not None:
        core = n_hidden * in_degree
    else:
        core = round((probability or 0.0) * n_hidden * (n_hidden - 1))
    return visible + n_hidden, round(visible_density * 2 * visible * n_hidden) + core


def _small_world_size(
    n_input: int,
    n_output: int,
    n_hidden: int,
    *,
    k: int,
    rewire_probability: float,
    seed: int = 0,
) -> tuple[int, int]:
    """Rewiring keeps the ring's n_hidden * k / 2 undirected edges, each both ways."""
    visible = n_input + n_output
    return visible + n_hidden, 2 * visible * n_hidden + n_hidden * k


# --------------------------------------------------------------------------------------------
# validation


# The builders a scenario's ``topology.builder`` names; each one's parameters are the
# [topology] keys it takes (those without a default are required).
BUILDERS: dict[str, Callable[..., nx.DiGraph]] = {
    "recurrent": recurrent,
    "layered": layered,
    "sparse_random": sparse_random,
    "small_world": small_world,
}
# Each builder's (neurons, synapses) for the same arguments, without building (the synapses
# of a random builder: their expected number).
BUILDER_SIZES: dict[str, Callable[..., tuple[int, int]]] = {
    "recurrent": _recurrent_size,
    "layered": _layered_size,
    "sparse_random": _sparse_random_size,
    "small_world": _small_world_size,
}


def builder_parameters(name: str) -> dict[str, bool]:
    """The parameters of a builder, each mapped to whether it is required."""
    signature = inspect.signature(BUILDERS[name])
    return {
        parameter.name: parameter.default is inspect.Parameter.empty
        for parameter in signature.parameters.values()
    }


def _node_name(node: Hashable) -> str:
    return f"node {node!r}"


def _edge_name(pre: Hashable, post: Hashable) -> str:
    return f"edge {pre!r} -> {post!r}"


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def validate_graph(graph: nx.DiGraph, source: str | None = None) -> None:
    """Raise a :class:`~neurosim.errors.TopologyError` unless ``graph`` is a runnable topology.

    Checked, in this order: ``graph`` is a ``networkx.DiGraph`` (not undirected, not a
    multigraph); it has nodes; every node has a ``role`` in :data:`ROLES`, an integer
    ``layer`` where given (given on every node or on none) and a finite numeric ``bias`` where
    given; no edge is a self-loop; every ``weight`` is a finite number and every ``delay`` a
    finite number >= 0; at least one node is an input. The message names the offending node or
    edge, what is allowed, and ``source`` (e.g. the file the graph came from) when given.
    """
    where = f"{source}: " if source else ""

    def fail(message: str) -> TopologyError:
        return TopologyError(where + message)

    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        kind = type(graph).__name__
        if isinstance(graph, nx.Graph) and graph.is_multigraph():
            hint = "; parallel edges are not allowed, at most one edge per direction"
        elif isinstance(graph, nx.Graph):
            hint = "; an undirected graph can be made directed with graph.to_directed()"
        else:
            hint = ""
        raise fail(f"expected a networkx.DiGraph, got {kind}{hint}")
    if graph.number_of_nodes() == 0:
        raise fail("the graph has no nodes; at least one input neuron is needed")

    allowed_roles = ", ".join(repr(role) for role in ROLES)
    with_layer = None
    without_layer = None
    has_input = False
    for node, data in graph.nodes(data=True):
        if "role" not in data:
            raise fail(f"{_node_name(node)} has no role; every node needs one of {allowed_roles}")
        role = data["role"]
        if not isinstance(role, str) or role not in ROLES:
            raise fail(f"{_node_name(node)} has role {role!r}; allowed roles: {allowed_roles}")
        has_input = has_input or role == "input"
        if "layer" in data:
            if not _is_integer(data["layer"]):
                raise fail(
                    f"{_node_name(node)} has layer {data['layer']!r}; a layer must be an integer"
                )
            with_layer = node if with_layer is None else with_layer
        elif without_layer is None:
            without_layer = node
        if "bias" in data:
            bias = data["bias"]
            if not _is_real(bias) or not math.isfinite(bias):
                raise fail(f"{_node_name(node)} has bias {bias!r}; a bias must be a finite number")
    if with_layer is not None and without_layer is not None:
        raise fail(
            f"{_node_name(without_layer)} has no layer but {_node_name(with_layer)} has one; "
            "give a layer on every node or on none"
        )

    for pre, post, data in graph.edges(data=True):
        if pre == post:
            raise fail(f"{_edge_name(pre, post)} is a self-loop; self-loops are not allowed")
        if not data:
            continue
        if "weight" in data:
            weight = data["weight"]
            if not _is_real(weight) or not math.isfinite(weight):
                raise fail(
                    f"{_edge_name(pre, post)} has weight {weight!r}; "
                    "a weight must be a finite number"
                )
        if "delay" in data:
            delay = data["delay"]
            if not _is_real(delay) or not math.isfinite(delay) or delay < 0:
                raise fail(
                    f"{_edge_name(pre, post)} has delay {delay!r}; "
                    "a delay must be a finite number >= 0"
                )

    if not has_input:
        raise fail("the graph has no input neuron; at least one node needs role 'input'")


# --------------------------------------------------------------------------------------------
# GraphML


def _coerce_int(value: Any) -> Any:
    """``value`` as an int when it is one (possibly written as text or as 2.0), else unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value_float = float(text)
            except ValueError:
                return value
            return int(value_float) if value_float.is_integer() else value
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def _coerce_float(value: Any) -> Any:
    """``value`` as a float when it is a number (possibly written as text), else unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _own_attributes_as_text(path: str) -> bytes:
    """The file's XML, with the GraphML keys of neurosim's own attributes typed as strings."""
    try:
        tree = ElementTree.parse(path)
    except FileNotFoundError as err:
        raise TopologyError(f"{path}: file not found") from err
    except OSError as err:
        raise TopologyError(f"{path}: cannot read the file: {err}") from err
    except ElementTree.ParseError as err:
        raise TopologyError(f"{path}: not a well-formed XML (GraphML) file: {err}") from err
    root = tree.getroot()
    if root.tag != f"{{{_GRAPHML_NAMESPACE}}}graphml":
        raise TopologyError(
            f"{path}: the root element is <{root.tag}>; expected <graphml> in the GraphML "
            f'namespace (xmlns="{_GRAPHML_NAMESPACE}")'
        )
    for key in root.iter(f"{{{_GRAPHML_NAMESPACE}}}key"):
        if key.get("attr.name") in _OWN_ATTRIBUTES and key.get("yfiles.type") is None:
            key.set("attr.type", "string")
    return ElementTree.tostring(root, encoding="utf-8")


def node_ids_from_text(nodes: list[str]) -> dict[str, Hashable]:
    """Map GraphML ids to node ids: ints when every id is a decimal integer, else the text."""
    try:
        as_int = [int(node) for node in nodes]
    except ValueError:
        return {node: node for node in nodes}
    if all(str(number) == node for number, node in zip(as_int, nodes, strict=True)):
        return dict(zip(nodes, as_int, strict=True))
    return {node: node for node in nodes}


def read_graphml(path: str | os.PathLike[str]) -> nx.DiGraph:
    """Read a topology from a GraphML file and validate it.

    The file is read with ``networkx.read_graphml``; neurosim's own attributes are read as text
    and converted here (``layer`` to int, ``bias``, ``weight`` and ``delay`` to float, ``role``
    stripped of surrounding blanks), so a file may declare them as ``string``, ``int``,
    ``long``, ``float`` or ``double``. Defaults declared on GraphML keys (``<default>``) are
    applied to every node or edge that lacks the attribute. Other attributes are kept as
    networkx reads them.

    - Node ids become ints when every id in the file is a decimal integer (``"0"``, ``"17"``);
      otherwise they stay strings. Node order is the file's order.
    - An undirected file (``edgedefault="undirected"``) gives each edge in both directions,
      both carrying that edge's attributes (the same ``weight`` and ``delay``).
    - If no node sets ``layer``, it defaults from the role: input 0, hidden 1, output 2.
      Setting it on some nodes but not on others is an error.
    - An edge listed twice (in an undirected file: in either direction) is an error.

    Every problem raises :class:`~neurosim.errors.TopologyError` whose message names ``path``.
    """
    path = os.fspath(path)
    text = _own_attributes_as_text(path)
    try:
        raw = nx.read_graphml(io.BytesIO(text))
    except (nx.NetworkXError, ValueError, KeyError, TypeError) as err:
        raise TopologyError(f"{path}: cannot read GraphML: {err}") from err

    if raw.is_multigraph():
        seen: set[tuple[Any, Any]] = set()
        for pre, post in raw.edges():
            pair = (pre, post) if raw.is_directed() else tuple(sorted((pre, post)))
            if pair in seen:
                raise TopologyError(
                    f"{path}: {_edge_name(pre, post)} appears more than once; "
                    "at most one edge per direction is allowed"
                )
            seen.add(pair)

    node_default = raw.graph.pop("node_default", {}) or {}
    edge_default = raw.graph.pop("edge_default", {}) or {}
    ids = node_ids_from_text(list(raw.nodes))

    graph = nx.DiGraph()
    graph.graph.update(raw.graph)
    for node, data in raw.nodes(data=True):
        attributes = {**node_default, **data}
        if isinstance(attributes.get("role"), str):
            attributes["role"] = attributes["role"].strip()
        if "layer" in attributes:
            attributes["layer"] = _coerce_int(attributes["layer"])
        for name in _FLOAT_NODE_ATTRIBUTES:
            if name in attributes:
                attributes[name] = _coerce_float(attributes[name])
        graph.add_node(ids[node], **attributes)
    directed = raw.is_directed()
    for pre, post, data in raw.edges(data=True):
        attributes = {**edge_default, **data}
        for name in _FLOAT_EDGE_ATTRIBUTES:
            if name in attributes:
                attributes[name] = _coerce_float(attributes[name])
        graph.add_edge(ids[pre], ids[post], **attributes)
        if not directed:
            graph.add_edge(ids[post], ids[pre], **dict(attributes))

    if graph.number_of_nodes() and all("layer" not in data for _, data in graph.nodes(data=True)):
        for _, data in graph.nodes(data=True):
            role = data.get("role")
            if isinstance(role, str) and role in DEFAULT_LAYER_BY_ROLE:
                data["layer"] = DEFAULT_LAYER_BY_ROLE[role]
            # a missing or unknown role is reported by validate_graph below

    validate_graph(graph, source=path)
    return graph


def write_graphml(graph: nx.DiGraph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` to a GraphML file that :func:`read_graphml` reads back unchanged.

    The graph is validated first. Roles, layers (as ``int``), biases, weights and delays (as
    ``double``, written with Python's shortest exact representation, so floats come back
    bit for bit) and any other attributes of GraphML's types are written; node order and edge
    order are kept. Node ids must be ints or strings; they come back as ints when every id is
    an integer (see :func:`read_graphml`).
    """
    path = os.fspath(path)
    validate_graph(graph)
    seen: dict[str, Hashable] = {}
    for node in graph.nodes:
        if not (_is_integer(node) or isinstance(node, str)):
            raise TopologyError(
                f"{path}: {_node_name(node)}: GraphML node ids must be integers or strings"
            )
        text = str(int(node)) if _is_integer(node) else node
        if text in seen:
            raise TopologyError(
                f"{path}: {_node_name(node)} and {_node_name(seen[text])} are both written "
                f"as id {text!r}; node ids must differ as text"
            )
        seen[text] = node

    out = nx.DiGraph()
    out.graph.update(
        {
            key: value
            for key, value in graph.graph.items()
            if key not in ("node_default", "edge_default")
        }
    )
    for node, data in graph.nodes(data=True):
        attributes = dict(data)
        attributes["role"] = str(attributes["role"])
        if "layer" in attributes:
            attributes["layer"] = int(attributes["layer"])
        for name in _FLOAT_NODE_ATTRIBUTES:
            if name in attributes:
                attributes[name] = float(attributes[name])
        out.add_node(int(node) if _is_integer(node) else node, **attributes)
    for pre, post, data in graph.edges(data=True):
        attributes = dict(data)
        for name in _FLOAT_EDGE_ATTRIBUTES:
            if name in attributes:
                attributes[name] = float(attributes[name])
        pre = int(pre) if _is_integer(pre) else pre
        post = int(post) if _is_integer(post) else post
        out.add_edge(pre, post, **attributes)
    buffer = io.BytesIO()
    try:
        nx.write_graphml(out, buffer)
    except (nx.NetworkXError, TypeError) as err:
        raise TopologyError(f"{path}: cannot write GraphML: {err}") from err
    # written only once the whole document exists, so a failure leaves no partial file
    with open(path, "wb") as file:
        file.write(buffer.getvalue())
