"""Tests of neurosim.model.topology: builders, validation and GraphML input/output."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from neurosim.errors import TopologyError, ValidationError
from neurosim.model.topology import (
    ROLES,
    layered,
    read_graphml,
    recurrent,
    small_world,
    sparse_random,
    validate_graph,
    write_graphml,
)

# --------------------------------------------------------------------------------------------
# helpers

STRING_KEYS = """
  <key id="role" for="node" attr.name="role" attr.type="string"/>
  <key id="layer" for="node" attr.name="layer" attr.type="string"/>
  <key id="bias" for="node" attr.name="bias" attr.type="string"/>
  <key id="weight" for="edge" attr.name="weight" attr.type="string"/>
  <key id="delay" for="edge" attr.name="delay" attr.type="string"/>
"""


def graphml_text(body: str, keys: str = STRING_KEYS, edgedefault: str = "directed") -> str:
    """A GraphML document with ``keys`` and a graph whose nodes and edges are ``body``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns
           http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">
{keys}
  <graph id="G" edgedefault="{edgedefault}">
{body}
  </graph>
</graphml>
"""


def node(node_id: str, role: str | None = None, **data: str) -> str:
    """One GraphML node element; ``role`` and every keyword become data elements."""
    items = ({"role": role} if role is not None else {}) | data
    inner = "".join(f'<data key="{key}">{value}</data>' for key, value in items.items())
    return f'    <node id="{node_id}">{inner}</node>\n'


def edge(source: str, target: str, **data: str) -> str:
    """One GraphML edge element with the keywords as data elements."""
    inner = "".join(f'<data key="{key}">{value}</data>' for key, value in data.items())
    return f'    <edge source="{source}" target="{target}">{inner}</edge>\n'


def write_text(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edge_set(graph: nx.DiGraph) -> set[tuple[int, int]]:
    return set(graph.edges())


def edge_array(graph: nx.DiGraph) -> np.ndarray:
    """The edges of a graph with integer nodes as an (E, 2) array of (pre, post)."""
    flat = np.fromiter(itertools.chain.from_iterable(graph.edges()), dtype=np.int64)
    return flat.reshape(-1, 2)


# --------------------------------------------------------------------------------------------
# recurrent


@pytest.fixture(scope="module")
def papers_network() -> nx.DiGraph:
    return recurrent(784, 10, 512)


def test_recurrent_papers_layout_counts(papers_network: nx.DiGraph) -> None:
    graph = papers_network
    assert graph.number_of_nodes() == 784 + 10 + 512
    assert graph.number_of_edges() == 1_074_688
    assert graph.number_of_edges() == 2 * (784 + 10) * 512 + 512 * 511
    assert list(graph.nodes) == list(range(1306))


def test_recurrent_papers_layout_roles_and_layers(papers_network: nx.DiGraph) -> None:
    roles = nx.get_node_attributes(papers_network, "role")
    layers = nx.get_node_attributes(papers_network, "layer")
    assert [roles[n] for n in range(784)] == ["input"] * 784
    assert [roles[n] for n in range(784, 794)] == ["output"] * 10
    assert [roles[n] for n in range(794, 1306)] == ["hidden"] * 512
    assert all(layers[n] == 0 for n in range(794))
    assert all(layers[n] == 1 for n in range(794, 1306))
    assert all(type(layer) is int for layer in layers.values())


def test_recurrent_papers_layout_edges(papers_network: nx.DiGraph) -> None:
    graph = papers_network
    edges = edge_array(graph)
    assert not np.any(edges[:, 0] == edges[:, 1]), "self-loop"
    visible_to_visible = (edges[:, 0] < 794) & (edges[:, 1] < 794)
    assert not np.any(visible_to_visible)
    hidden_in_degrees = [graph.in_degree(n) for n in range(794, 1306)]
    assert hidden_in_degrees == [794 + 511] * 512
    visible_in_degrees = {graph.in_degree(n) for n in range(794)}
    assert visible_in_degrees == {512}
    # builders never put weights or any other data on edges
    assert not any(data for _, _, data in graph.edges(data=True))


def test_recurrent_small_is_complete_between_visible_and_hidden() -> None:
    graph = recurrent(2, 1, 3)
    visible, hidden = [0, 1, 2], [3, 4, 5]
    for v in visible:
        for h in hidden:
            assert graph.has_edge(v, h) and graph.has_edge(h, v)
    for a in hidden:
        for b in hidden:
            assert graph.has_edge(a, b) == (a != b)
    assert graph.number_of_edges() == 2 * 3 * 3 + 3 * 2


def test_recurrent_allows_no_outputs() -> None:
    graph = recurrent(4, 0, 8)
    assert set(nx.get_node_attributes(graph, "role").values()) == {"input", "hidden"}
    assert graph.number_of_edges() == 2 * 4 * 8 + 8 * 7


def test_roles_constant() -> None:
    assert ROLES == ("input", "output", "hidden")


# --------------------------------------------------------------------------------------------
# layered


def test_layered_edge_count_and_layers() -> None:
    graph = layered([784, 512, 512, 10])
    assert graph.number_of_nodes() == 784 + 512 + 512 + 10
    assert graph.number_of_edges() == 2 * (784 * 512 + 512 * 512 + 512 * 10)
    layers = nx.get_node_attributes(graph, "layer")
    roles = nx.get_node_attributes(graph, "role")
    assert [layers[n] for n in (0, 783, 784, 1295, 1296, 1807, 1808, 1817)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert [roles[n] for n in (0, 783, 784, 1807, 1808, 1817)] == [
        "input",
        "input",
        "hidden",
        "hidden",
        "output",
        "output",
    ]
    layer_of = np.array([layers[n] for n in range(graph.number_of_nodes())])
    edges = edge_array(graph)
    assert np.all(np.abs(layer_of[edges[:, 0]] - layer_of[edges[:, 1]]) == 1)


def test_layered_lateral_adds_connections_inside_hidden_layers_only() -> None:
    graph = layered([784, 512, 512, 10], lateral=True)
    expected = 2 * (784 * 512 + 512 * 512 + 512 * 10) + 2 * 512 * 511
    assert graph.number_of_edges() == expected
    layers = nx.get_node_attributes(graph, "layer")
    roles = nx.get_node_attributes(graph, "role")
    layer_of = np.array([layers[n] for n in range(graph.number_of_nodes())])
    edges = edge_array(graph)
    gap = np.abs(layer_of[edges[:, 0]] - layer_of[edges[:, 1]])
    assert np.all(gap <= 1), "an edge skips a layer"
    same_layer = edges[gap == 0]
    assert len(same_layer) == 2 * 512 * 511
    is_hidden = np.array([roles[n] == "hidden" for n in range(graph.number_of_nodes())])
    assert np.all(is_hidden[same_layer])
    assert not np.any(edges[:, 0] == edges[:, 1])


def test_layered_two_layers_and_both_directions() -> None:
    graph = layered([3, 2])
    assert graph.number_of_edges() == 2 * 3 * 2
    assert graph.has_edge(0, 3) and graph.has_edge(3, 0)
    assert nx.get_node_attributes(graph, "layer") == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1}
    assert nx.get_node_attributes(graph, "role")[4] == "output"


# --------------------------------------------------------------------------------------------
# sparse_random


def hidden_predecessors(graph: nx.DiGraph, node_id: int) -> list[int]:
    return [p for p in graph.predecessors(node_id) if graph.nodes[p]["role"] == "hidden"]


def test_sparse_random_in_degree_exact() -> None:
    graph = sparse_random(5, 3, 40, in_degree=7, seed=3)
    hidden = [n for n, role in graph.nodes(data="role") if role == "hidden"]
    assert hidden == list(range(8, 48))
    for h in hidden:
        preds = hidden_predecessors(graph, h)
        assert len(preds) == 7
        assert h not in preds
        # full visible connectivity at the default density
        assert graph.in_degree(h) == 7 + 8
    assert graph.number_of_edges() == 40 * 7 + 2 * 8 * 40
    assert nx.number_of_selfloops(graph) == 0


def test_sparse_random_in_degree_extremes() -> None:
    full = sparse_random(2, 1, 6, in_degree=5, seed=0)
    assert all(len(hidden_predecessors(full, h)) == 5 for h in range(3, 9))
    empty = sparse_random(2, 1, 6, in_degree=0, seed=0)
    assert all(len(hidden_predecessors(empty, h)) == 0 for h in range(3, 9))


def test_sparse_random_probability_edge_count_is_binomial() -> None:
    n_hidden, probability = 200, 0.1
    graph = sparse_random(4, 2, n_hidden, probability=probability, seed=11)
    hidden_edges = graph.number_of_edges() - 2 * 6 * n_hidden
    pairs = n_hidden * (n_hidden - 1)
    mean = pairs * probability
    sd = math.sqrt(pairs * probability * (1 - probability))
    assert abs(hidden_edges - mean) < 5 * sd
    assert nx.number_of_selfloops(graph) == 0


def test_sparse_random_probability_extremes() -> None:
    assert sparse_random(2, 1, 10, probability=0.0).number_of_edges() == 2 * 3 * 10
    assert sparse_random(2, 1, 10, probability=1.0).number_of_edges() == 2 * 3 * 10 + 90


def test_sparse_random_visible_density() -> None:
    graph = sparse_random(50, 10, 40, in_degree=3, visible_density=0.25, seed=5)
    visible_edges = graph.number_of_edges() - 40 * 3
    pairs = 2 * 60 * 40
    sd = math.sqrt(pairs * 0.25 * 0.75)
    assert abs(visible_edges - pairs * 0.25) < 5 * sd
    for pre, post in graph.edges():
        assert graph.nodes[pre]["role"] == "hidden" or graph.nodes[post]["role"] == "hidden"
    # the hidden core is drawn first, so it does not depend on visible_density
    dense = sparse_random(50, 10, 40, in_degree=3, seed=5)
    hidden = set(range(60, 100))
    core = {(a, b) for a, b in graph.edges() if a in hidden and b in hidden}
    dense_core = {(a, b) for a, b in dense.edges() if a in hidden and b in hidden}
    assert core == dense_core


@pytest.mark.parametrize(
    "options",
    [{"in_degree": 4}, {"probability": 0.2}, {"in_degree": 4, "visible_density": 0.5}],
)
def test_sparse_random_same_seed_same_graph(options: dict) -> None:
    first = sparse_random(3, 2, 30, seed=42, **options)
    second = sparse_random(3, 2, 30, seed=42, **options)
    other = sparse_random(3, 2, 30, seed=43, **options)
    assert list(first.edges()) == list(second.edges())
    assert list(first.nodes(data=True)) == list(second.nodes(data=True))
    assert edge_set(first) != edge_set(other)


# --------------------------------------------------------------------------------------------
# small_world


def hidden_core(graph: nx.DiGraph) -> set[tuple[int, int]]:
    role = nx.get_node_attributes(graph, "role")
    return {(a, b) for a, b in graph.edges() if role[a] == role[b] == "hidden"}


def test_small_world_ring_has_degree_k() -> None:
    graph = small_world(3, 2, 20, k=4, rewire_probability=0.0, seed=1)
    core = hidden_core(graph)
    assert all((b, a) in core for a, b in core)
    for h in range(5, 25):
        assert len(hidden_predecessors(graph, h)) == 4
        assert sum(1 for s in graph.successors(h) if s >= 5) == 4
    # the ring: each hidden neuron joins its 2 nearest neighbours on each side
    assert (5, 6) in core and (5, 7) in core and (5, 24) in core and (5, 8) not in core
    assert graph.number_of_edges() == 20 * 4 + 2 * 5 * 20


def test_small_world_rewired_core_is_symmetric_and_seeded() -> None:
    graph = small_world(3, 2, 30, k=4, rewire_probability=0.5, seed=7)
    core = hidden_core(graph)
    assert all((b, a) in core for a, b in core)
    assert len(core) == 30 * 4  # rewiring moves edges, it does not add or remove them
    assert nx.number_of_selfloops(graph) == 0
    again = small_world(3, 2, 30, k=4, rewire_probability=0.5, seed=7)
    assert list(graph.edges()) == list(again.edges())
    other = small_world(3, 2, 30, k=4, rewire_probability=0.5, seed=8)
    assert hidden_core(other) != core
    ring = small_world(3, 2, 30, k=4, rewire_probability=0.0, seed=7)
    assert hidden_core(ring) != core


# --------------------------------------------------------------------------------------------
# builder argument errors


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: recurrent(0, 10, 5), "n_input"),
        (lambda: recurrent(3, -1, 5), "n_output"),
        (lambda: recurrent(3, 1, 0), "n_hidden"),
        (lambda: recurrent(3.5, 1, 4), "n_input"),
        (lambda: recurrent(True, 1, 4), "n_input"),
        (lambda: layered([784]), "sizes"),
        (lambda: layered([784, 0, 10]), "sizes[1]"),
        (lambda: layered("784"), "sizes"),
        (lambda: layered([4, 2], lateral="yes"), "lateral"),
        (lambda: sparse_random(3, 1, 10, in_degree=10), "in_degree"),
        (lambda: sparse_random(3, 1, 10, in_degree=-1), "in_degree"),
        (lambda: sparse_random(3, 1, 10, probability=1.5), "probability"),
        (lambda: sparse_random(3, 1, 10, probability=float("nan")), "probability"),
        (lambda: sparse_random(3, 1, 10), "in_degree"),
        (lambda: sparse_random(3, 1, 10, in_degree=2, probability=0.5), "probability"),
        (lambda: sparse_random(3, 1, 10, in_degree=2, visible_density=2.0), "visible_density"),
        (lambda: sparse_random(3, 1, 10, in_degree=2, seed=-3), "seed"),
        (lambda: sparse_random(0, 1, 10, in_degree=2), "n_input"),
        (lambda: small_world(3, 1, 10, k=3, rewire_probability=0.1), "k"),
        (lambda: small_world(3, 1, 10, k=10, rewire_probability=0.1), "k"),
        (lambda: small_world(3, 1, 10, k=0, rewire_probability=0.1), "k"),
        (lambda: small_world(3, 1, 10, k=4, rewire_probability=-0.1), "rewire_probability"),
        (lambda: small_world(3, 1, 10, k=4, rewire_probability=0.1, seed=1.5), "seed"),
    ],
)
def test_builder_argument_errors_name_the_argument(build, argument: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    message = str(info.value)
    assert argument in message
    assert any(word in message for word in ("expected", "allowed", "exactly one"))


def test_builder_argument_error_gives_value_and_allowed_range() -> None:
    with pytest.raises(ValidationError, match=r"in_degree = 12: .*\[0, 9\]"):
        sparse_random(3, 1, 10, in_degree=12)
    with pytest.raises(ValidationError, match=r"k = 5: .*even"):
        small_world(3, 1, 10, k=5, rewire_probability=0.0)


# --------------------------------------------------------------------------------------------
# GraphML round trip


def decorated_graph() -> nx.DiGraph:
    """A small recurrent graph with biases, weights and delays that are awkward floats."""
    graph = recurrent(3, 2, 4)
    rng = np.random.default_rng(9)
    for n in graph.nodes:
        graph.nodes[n]["bias"] = float(rng.normal())
    graph.nodes[0]["bias"] = 0.1 + 0.2  # 0.30000000000000004
    graph.nodes[1]["bias"] = -1e-300
    for index, (pre, post) in enumerate(graph.edges()):
        graph.edges[pre, post]["weight"] = float(rng.uniform(-0.1, 0.1))
        graph.edges[pre, post]["delay"] = float(index % 4) * 0.37
    graph.edges[0, 5]["weight"] = np.float32(0.1)  # a float32 weight comes back as its exact value
    return graph


def test_graphml_round_trip_is_exact(tmp_path: Path) -> None:
    graph = decorated_graph()
    path = tmp_path / "net.graphml"
    write_graphml(graph, path)
    back = read_graphml(path)
    assert isinstance(back, nx.DiGraph)
    assert list(back.nodes) == list(graph.nodes)
    assert all(type(n) is int for n in back.nodes)
    for n, data in graph.nodes(data=True):
        assert back.nodes[n] == data
        assert type(back.nodes[n]["layer"]) is int
        assert type(back.nodes[n]["bias"]) is float
    assert list(back.edges()) == list(graph.edges())
    for pre, post, data in graph.edges(data=True):
        got = back.edges[pre, post]
        assert got["weight"] == float(data["weight"])  # bit for bit, not approximately
        assert got["delay"] == data["delay"]
        assert set(got) == {"weight", "delay"}
    assert back.nodes[0]["bias"] == 0.30000000000000004
    assert back.edges[0, 5]["weight"] == float(np.float32(0.1))


def test_graphml_round_trip_of_builder_output_and_string_ids(tmp_path: Path) -> None:
    graph = layered([3, 4, 2], lateral=True)
    write_graphml(graph, tmp_path / "layered.graphml")
    back = read_graphml(tmp_path / "layered.graphml")
    assert list(back.nodes(data=True)) == list(graph.nodes(data=True))
    assert list(back.edges(data=True)) == list(graph.edges(data=True))

    named = nx.DiGraph()
    named.add_node("in", role="input", layer=0)
    named.add_node("out", role="output", layer=1, bias=0.5)
    named.add_edge("in", "out", weight=-2.25)
    write_graphml(named, str(tmp_path / "named.graphml"))
    back = read_graphml(str(tmp_path / "named.graphml"))
    assert list(back.nodes(data=True)) == list(named.nodes(data=True))
    assert list(back.edges(data=True)) == list(named.edges(data=True))


# --------------------------------------------------------------------------------------------
# hand-written GraphML files


def test_user_file_with_string_attributes(tmp_path: Path) -> None:
    body = (
        node("0", "input", layer="0", bias="0.5")
        + node("1", "input", layer="0")
        + node("2", " hidden ", layer=" 1 ", bias="-1e-3")
        + node("3", "output", layer="2.0", bias="2")
        + edge("0", "2", weight="0.25", delay="1.5")
        + edge("1", "2", weight="-3")
        + edge("2", "3", delay="0")
        + edge("3", "2")
    )
    path = write_text(tmp_path, "user.graphml", graphml_text(body))
    graph = read_graphml(path)
    assert list(graph.nodes) == [0, 1, 2, 3]
    assert nx.get_node_attributes(graph, "role") == {
        0: "input",
        1: "input",
        2: "hidden",
        3: "output",
    }
    layers = nx.get_node_attributes(graph, "layer")
    assert layers == {0: 0, 1: 0, 2: 1, 3: 2}
    assert all(type(layer) is int for layer in layers.values())
    assert graph.nodes[0]["bias"] == 0.5 and graph.nodes[2]["bias"] == -1e-3
    assert type(graph.nodes[3]["bias"]) is float
    assert "bias" not in graph.nodes[1]
    assert graph.edges[0, 2] == {"weight": 0.25, "delay": 1.5}
    assert graph.edges[1, 2] == {"weight": -3.0}
    assert type(graph.edges[1, 2]["weight"]) is float
    assert graph.edges[2, 3] == {"delay": 0.0}
    assert graph.edges[3, 2] == {}
    assert graph.number_of_edges() == 4


def test_user_file_with_numeric_typed_keys_and_defaults(tmp_path: Path) -> None:
    keys = """
  <key id="d0" for="node" attr.name="role" attr.type="string"><default>hidden</default></key>
  <key id="d1" for="node" attr.name="layer" attr.type="long"/>
  <key id="d2" for="edge" attr.name="weight" attr.type="double"/>
  <key id="d3" for="edge" attr.name="delay" attr.type="int"><default>2</default></key>
  <key id="d4" for="node" attr.name="label" attr.type="string"/>
"""
    body = (
        '    <node id="a"><data key="d0">input</data><data key="d1">0</data>'
        '<data key="d4">first</data></node>\n'
        '    <node id="b"><data key="d1">1</data></node>\n'
        '    <edge source="a" target="b"><data key="d2">0.125</data></edge>\n'
        '    <edge source="b" target="a"><data key="d2">1</data>'
        '<data key="d3">0</data></edge>\n'
    )
    graph = read_graphml(write_text(tmp_path, "typed.graphml", graphml_text(body, keys)))
    assert list(graph.nodes) == ["a", "b"]
    assert graph.nodes["a"] == {"role": "input", "layer": 0, "label": "first"}
    assert graph.nodes["b"] == {"role": "hidden", "layer": 1}
    assert graph.edges["a", "b"] == {"weight": 0.125, "delay": 2.0}
    assert graph.edges["b", "a"] == {"weight": 1.0, "delay": 0.0}
    assert type(graph.edges["a", "b"]["delay"]) is float


def test_undirected_file_gives_both_directions(tmp_path: Path) -> None:
    body = (
        node("0", "input")
        + node("1", "hidden")
        + node("2", "output")
        + edge("0", "1", weight="0.5", delay="1")
        + edge("1", "2", weight="-0.5")
    )
    path = write_text(tmp_path, "undirected.graphml", graphml_text(body, edgedefault="undirected"))
    graph = read_graphml(path)
    assert isinstance(graph, nx.DiGraph)
    assert edge_set(graph) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    assert graph.edges[0, 1] == graph.edges[1, 0] == {"weight": 0.5, "delay": 1.0}
    assert graph.edges[2, 1] == {"weight": -0.5}
    # no layer anywhere in the file: defaults from the role
    assert nx.get_node_attributes(graph, "layer") == {0: 0, 1: 1, 2: 2}


# --------------------------------------------------------------------------------------------
# bad files: each message names the node or edge and the file

BAD_FILES = {
    "unknown_role": (
        node("a", "input") + node("h7", "hiddden") + edge("a", "h7"),
        ["node 'h7'", "'hiddden'", "'input', 'output', 'hidden'"],
    ),
    "missing_role": (
        node("a", "input") + node("h7") + edge("a", "h7"),
        ["node 'h7'", "no role"],
    ),
    "self_loop": (
        node("a", "input") + node("h7", "hidden") + edge("a", "h7") + edge("h7", "h7"),
        ["edge 'h7' -> 'h7'", "self-loop"],
    ),
    "non_numeric_weight": (
        node("a", "input") + node("h7", "hidden") + edge("a", "h7", weight="heavy"),
        ["edge 'a' -> 'h7'", "'heavy'", "finite number"],
    ),
    "nan_weight": (
        node("a", "input") + node("h7", "hidden") + edge("h7", "a", weight="NaN"),
        ["edge 'h7' -> 'a'", "nan", "finite number"],
    ),
    "infinite_weight": (
        node("a", "input") + node("h7", "hidden") + edge("h7", "a", weight="inf"),
        ["edge 'h7' -> 'a'", "inf"],
    ),
    "negative_delay": (
        node("a", "input") + node("h7", "hidden") + edge("a", "h7", delay="-0.5"),
        ["edge 'a' -> 'h7'", "-0.5", ">= 0"],
    ),
    "non_numeric_delay": (
        node("a", "input") + node("h7", "hidden") + edge("a", "h7", delay="soon"),
        ["edge 'a' -> 'h7'", "'soon'"],
    ),
    "no_input": (
        node("o1", "output") + node("h7", "hidden") + edge("o1", "h7"),
        ["no input neuron", "'input'"],
    ),
    "non_integer_layer": (
        node("a", "input", layer="0") + node("h7", "hidden", layer="1.5"),
        ["node 'h7'", "'1.5'", "integer"],
    ),
    "text_layer": (
        node("a", "input", layer="0") + node("h7", "hidden", layer="first"),
        ["node 'h7'", "'first'", "integer"],
    ),
    "partial_layers": (
        node("a", "input", layer="0") + node("h7", "hidden"),
        ["node 'h7'", "no layer", "node 'a'"],
    ),
    "nan_bias": (
        node("a", "input") + node("h7", "hidden", bias="nan"),
        ["node 'h7'", "bias"],
    ),
    "no_nodes": ("", ["no nodes"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_names_node_or_edge_and_file(tmp_path: Path, case: str) -> None:
    body, fragments = BAD_FILES[case]
    path = write_text(tmp_path, f"{case}.graphml", graphml_text(body))
    with pytest.raises(TopologyError) as info:
        read_graphml(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_bad_file_with_integer_ids_names_the_node(tmp_path: Path) -> None:
    body = node("0", "input") + node("17", "visible") + edge("0", "17")
    path = write_text(tmp_path, "int_ids.graphml", graphml_text(body))
    with pytest.raises(TopologyError, match=r"node 17 has role 'visible'") as info:
        read_graphml(path)
    assert "int_ids.graphml" in str(info.value)


def test_parallel_edges_are_rejected(tmp_path: Path) -> None:
    body = node("a", "input") + node("h", "hidden") + edge("a", "h") + edge("a", "h")
    path = write_text(tmp_path, "parallel.graphml", graphml_text(body))
    with pytest.raises(TopologyError, match="edge 'a' -> 'h' appears more than once") as info:
        read_graphml(path)
    assert str(path) in str(info.value)
    body = node("a", "input") + node("h", "hidden") + edge("a", "h") + edge("h", "a")
    path = write_text(tmp_path, "both_ways.graphml", graphml_text(body, edgedefault="undirected"))
    with pytest.raises(TopologyError, match="more than once"):
        read_graphml(path)


def test_unreadable_files_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.graphml"
    with pytest.raises(TopologyError, match="file not found") as info:
        read_graphml(missing)
    assert str(missing) in str(info.value)

    broken = write_text(tmp_path, "broken.graphml", "<graphml><graph>")
    with pytest.raises(TopologyError, match="XML") as info:
        read_graphml(broken)
    assert str(broken) in str(info.value)

    no_namespace = write_text(tmp_path, "plain.graphml", "<graphml><graph/></graphml>")
    with pytest.raises(TopologyError, match="namespace") as info:
        read_graphml(no_namespace)
    assert str(no_namespace) in str(info.value)

    bad_key = graphml_text(
        node("a", "input") + '    <node id="b"><data key="nokey">1</data></node>\n'
    )
    path = write_text(tmp_path, "bad_key.graphml", bad_key)
    with pytest.raises(TopologyError, match="nokey") as info:
        read_graphml(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------------------------
# validate_graph on graphs in memory


def test_validate_graph_accepts_builder_output() -> None:
    validate_graph(recurrent(2, 1, 3))
    validate_graph(layered([2, 3, 1], lateral=True))


def test_validate_graph_rejects_wrong_graph_types() -> None:
    with pytest.raises(TopologyError, match=r"DiGraph, got Graph"):
        validate_graph(nx.Graph([(0, 1)]))
    multi = nx.MultiDiGraph()
    multi.add_node(0, role="input")
    with pytest.raises(TopologyError, match="got MultiDiGraph"):
        validate_graph(multi)
    with pytest.raises(TopologyError, match="got dict"):
        validate_graph({})  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="no nodes"):
        validate_graph(nx.DiGraph())


def test_validate_graph_names_the_source_and_the_offender() -> None:
    graph = recurrent(2, 1, 3)
    graph.add_edge(4, 4)
    with pytest.raises(TopologyError, match=r"^scenario.toml: edge 4 -> 4 is a self-loop"):
        validate_graph(graph, source="scenario.toml")

    graph = recurrent(2, 1, 3)
    graph.nodes[3]["layer"] = 1.0
    with pytest.raises(TopologyError, match=r"node 3 has layer 1\.0"):
        validate_graph(graph)

    graph = recurrent(2, 1, 3)
    graph.nodes[5]["bias"] = "0.1"
    with pytest.raises(TopologyError, match=r"node 5 has bias '0\.1'"):
        validate_graph(graph)

    graph = recurrent(2, 1, 3)
    graph.edges[0, 3]["weight"] = True
    with pytest.raises(TopologyError, match="edge 0 -> 3 has weight True"):
        validate_graph(graph)

    graph = recurrent(2, 1, 3)
    graph.edges[3, 0]["delay"] = float("nan")
    with pytest.raises(TopologyError, match="edge 3 -> 0 has delay nan"):
        validate_graph(graph)


def test_validate_graph_accepts_numpy_numbers() -> None:
    graph = recurrent(2, 1, 3)
    graph.nodes[0]["layer"] = np.int64(0)
    graph.nodes[0]["bias"] = np.float32(0.5)
    graph.edges[0, 3]["weight"] = np.float64(-0.2)
    graph.edges[0, 3]["delay"] = np.int32(3)
    validate_graph(graph)


def test_write_graphml_validates_first(tmp_path: Path) -> None:
    graph = recurrent(2, 1, 3)
    graph.nodes[4]["role"] = "teacher"
    with pytest.raises(TopologyError, match="node 4 has role 'teacher'"):
        write_graphml(graph, tmp_path / "never.graphml")
    assert not (tmp_path / "never.graphml").exists()


def test_write_graphml_rejects_attributes_graphml_cannot_hold(tmp_path: Path) -> None:
    graph = recurrent(2, 1, 3)
    graph.nodes[0]["position"] = (0.0, 1.0)
    path = tmp_path / "tuple.graphml"
    with pytest.raises(TopologyError, match="cannot write GraphML") as info:
        write_graphml(graph, path)
    assert str(path) in str(info.value)
    assert not path.exists()
