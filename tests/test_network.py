"""Compiling graphs into arrays: layout, neuron order, initial weights, write-back."""

from __future__ import annotations

import networkx as nx
import numpy as np

from neurosim.model.network import (
    BLOCK_COMPLETE,
    BLOCK_MASKED,
    BLOCK_NO_DIAGONAL,
    KIND,
    compile_graph,
)
from neurosim.model.parameters import ModelParameters
from neurosim.model.topology import layered, recurrent, sparse_random

PARAMS = ModelParameters(dtype="float64")


def test_the_papers_layout_is_three_dense_blocks() -> None:
    network = compile_graph(recurrent(784, 10, 512), PARAMS, seed=0)
    assert network.n_edges == 1_074_688
    assert network.csr_weight.size == 0
    kinds = sorted(network.block_table[:, KIND].tolist())
    assert kinds == [BLOCK_COMPLETE, BLOCK_COMPLETE, BLOCK_NO_DIAGONAL]
    assert network.dense_weights.size == 2 * 794 * 512 + 512 * 512
    # the blocks feeding the hidden layer form one panel for batched products
    shapes = sorted(panel.shape for *_, panel in network.panels())
    assert shapes == [(512, 794), (1306, 512)]


def test_neurons_are_ordered_by_layer_then_role() -> None:
    graph = nx.DiGraph()
    graph.add_node("h", role="hidden", layer=1)
    graph.add_node("o", role="output", layer=0)
    graph.add_node("i", role="input", layer=0)
    graph.add_edges_from([("i", "h"), ("h", "o"), ("o", "h")])
    network = compile_graph(graph, PARAMS)
    assert network.node_ids == ["i", "o", "h"]
    assert network.index_of("h") == 2


def test_density_chooses_dense_or_sparse_and_both_hold_the_same_weights() -> None:
    graph = sparse_random(5, 2, 40, in_degree=4, seed=3)
    auto = compile_graph(graph, PARAMS, seed=1)
    kinds = set(auto.block_table[:, KIND].tolist())
    assert kinds == {BLOCK_COMPLETE}  # visible <-> hidden is complete
    assert auto.csr_weight.size == 40 * 4  # the sparse hidden core
    dense = compile_graph(graph, PARAMS, seed=1, layout="dense")
    assert BLOCK_MASKED in dense.block_table[:, KIND]
    sparse = compile_graph(graph, PARAMS, seed=1, layout="csr")
    assert sparse.dense_weights.size == 0
    for other in (dense, sparse):
        np.testing.assert_array_equal(auto.edge_weights(), other.edge_weights())
        np.testing.assert_array_equal(auto.dense_matrix(), other.dense_matrix())
        np.testing.assert_array_equal(auto.bias, other.bias)


def test_xavier_initialisation_is_bounded_per_neuron_and_asymmetric() -> None:
    network = compile_graph(recurrent(30, 5, 60), PARAMS.replace(init="xavier"), seed=7)
    fan_in = np.bincount(network.edge_post, minlength=network.n_neurons)
    bound = np.sqrt(6.0 / fan_in)
    weights = network.edge_weights()
    ratio = np.abs(weights) / bound[network.edge_post]
    assert ratio.max() <= 1.0
    assert ratio.max() > 0.99  # the whole interval is used
    assert abs(np.mean(weights / bound[network.edge_post])) < 0.02
    matrix = network.dense_matrix()
    both = (matrix != 0) & (matrix.T != 0)
    correlation = np.corrcoef(matrix[both], matrix.T[both])[0, 1]
    assert abs(correlation) < 0.05  # W[j, i] and W[i, j] drawn independently
    assert np.all(np.abs(network.bias) <= bound)


def test_uniform_initialisation_and_given_values_are_kept() -> None:
    graph = layered([3, 4, 2])
    graph.edges[0, 3]["weight"] = 0.75
    graph.nodes[5]["bias"] = -0.3
    network = compile_graph(graph, PARAMS.replace(init="uniform", init_scale=0.1), seed=2)
    matrix = network.dense_matrix()
    assert matrix[network.index_of(0), network.index_of(3)] == 0.75
    assert network.bias[network.index_of(5)] == -0.3
    others = np.abs(network.edge_weights())
    assert np.sum(others > 0.1) == 1  # only the given weight lies outside U(-0.1, 0.1)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    graph = recurrent(4, 2, 6)
    first = compile_graph(graph, PARAMS, seed=5).edge_weights()
    np.testing.assert_array_equal(first, compile_graph(graph, PARAMS, seed=5).edge_weights())
    assert not np.allclose(first, compile_graph(graph, PARAMS, seed=6).edge_weights())


def test_set_edge_weights_round_trip_and_copy_is_independent() -> None:
    network = compile_graph(sparse_random(3, 1, 12, probability=0.3, seed=1), PARAMS)
    values = np.arange(network.n_edges, dtype=float)
    network.set_edge_weights(values)
    np.testing.assert_array_equal(network.edge_weights(), values)
    duplicate = network.copy()
    duplicate.set_edge_weights(-values)
    np.testing.assert_array_equal(network.edge_weights(), values)
