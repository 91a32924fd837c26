"""Compile a topology graph into the arrays a backend runs, and write trained weights back.

Neurons are renumbered so that each layer is one contiguous index range (inside a layer:
inputs, outputs, hidden, then the graph's own order). The synapses between two layers become
one *dense block* when they fill at least ``density_threshold`` of the possible pairs, and
otherwise go to one *CSR* structure indexed by the presynaptic neuron. A dense block stores
``W[pre, post]`` row-major, so a presynaptic neuron's outgoing weights are one contiguous row:
the synchronous backend passes over each row once per step. Dense blocks come in three kinds:
complete, complete but for the diagonal (a layer onto itself, no self-loops), and masked
(missing synapses stay exactly zero through learning).

Initial weights follow the papers, drawn independently for ``W[j, i]`` and ``W[i, j]``:
``uniform`` is U(-init_scale, init_scale); ``xavier`` is U(-x, x) with ``x = sqrt(6 / n)`` and
``n`` the postsynaptic neuron's number of inputs (the aSTDP paper's form). Biases are drawn the
same way for each neuron. Weights and biases given on the graph are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from neurosim.errors import ValidationError
from neurosim.model.parameters import ModelParameters
from neurosim.model.topology import DEFAULT_LAYER_BY_ROLE, ROLES, validate_graph, write_graphml

ROLE_CODES = {role: code for code, role in enumerate(ROLES)}
HIDDEN = ROLE_CODES["hidden"]

BLOCK_COMPLETE = 0
BLOCK_NO_DIAGONAL = 1
BLOCK_MASKED = 2
LAYOUTS = ("auto", "dense", "csr")

# Columns of CompiledNetwork.block_table.
PRE_START, PRE_STOP, POST_START, POST_STOP, OFFSET, KIND = range(6)


@dataclass
class CompiledNetwork:
    """A network as arrays. Indices are compiled indices (0..n_neurons-1), not graph ids.

    ``dense_weights`` holds all dense blocks back to back; row ``block_table[k]`` gives a
    block's pre range, post range, offset into ``dense_weights`` and kind. ``dense_mask`` has
    the same layout (1 where a synapse exists) and is only read for masked blocks. The CSR part
    lists, for presynaptic neuron j, postsynaptic neurons ``csr_post[csr_indptr[j]:
    csr_indptr[j + 1]]`` with weights ``csr_weight`` at the same positions. Every synapse also
    has a canonical number (sorted by pre then post): ``edge_pre``, ``edge_post``,
    ``edge_delay`` (NaN where the graph gave none), and ``edge_slot`` into ``dense_weights``
    (``edge_in_dense``) or ``csr_weight``.
    """

    node_ids: list[Any]
    role: np.ndarray
    layer: np.ndarray
    bias: np.ndarray
    dense_weights: np.ndarray
    dense_mask: np.ndarray
    block_table: np.ndarray
    csr_indptr: np.ndarray
    csr_post: np.ndarray
    csr_weight: np.ndarray
    edge_pre: np.ndarray
    edge_post: np.ndarray
    edge_delay: np.ndarray
    edge_in_dense: np.ndarray
    edge_slot: np.ndarray

    @property
    def n_neurons(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return int(self.edge_pre.size)

    @property
    def dtype(self) -> np.dtype:
        return self.bias.dtype

    @property
    def hidden(self) -> np.ndarray:
        """Boolean mask of hidden neurons."""
        return self.role == HIDDEN

    def copy_betas(self, params: ModelParameters) -> np.ndarray:
        """Each neuron's clamping strength in each state copy, (copies, N) float64: the
        copy's beta, or for a role in ``params.role_beta`` that one strength in every copy."""
        betas = np.tile(np.array(params.copy_betas, dtype=np.float64)[:, None], self.n_neurons)
        for role, beta in params.role_beta.items():
            betas[:, self.role == ROLE_CODES[role]] = beta
        return betas

    def index_of(self, node_id: Any) -> int:
        """The compiled index of a graph node."""
        return self._index[node_id]

    def neuron_index(self, name: Any, key: str) -> int:
        """The compiled index of the neuron a scenario key names. A neuron's name is its graph
        id as text (the store's ``neurons/name``): a GraphML node id as the file writes it, a
        builder's number; the integer 3 and the string "3" name the same neuron. An unknown
        name raises ValidationError naming ``key``, the value and some of the names."""
        try:
            return self._names[str(name)]
        except KeyError:
            raise ValidationError(
                f"{key} = {name!r}: no neuron named {str(name)!r} in the network; its "
                f"{self.names_in_brief()}"
            ) from None

    def names_in_brief(self) -> str:
        """How many neurons there are and the first few names, for a message."""
        shown = ", ".join(repr(str(node)) for node in self.node_ids[:5])
        return f"{self.n_neurons} neurons are named {shown}{', ...' if self.n_neurons > 5 else ''}"

    def __post_init__(self) -> None:
        self._index = {node: k for k, node in enumerate(self.node_ids)}
        self._names = {str(node): k for k, node in enumerate(self.node_ids)}

    def block(self, k: int) -> np.ndarray:
        """Dense block k as a (n_pre, n_post) view into ``dense_weights``."""
        row = self.block_table[k]
        shape = (row[PRE_STOP] - row[PRE_START], row[POST_STOP] - row[POST_START])
        return self.dense_weights[row[OFFSET] : row[OFFSET] + shape[0] * shape[1]].reshape(shape)

    def panels(self) -> list[tuple[int, int, int, int, np.ndarray]]:
        """Runs of dense blocks that feed the same post range from adjacent pre ranges and lie
        back to back in ``dense_weights``, each as (pre_start, pre_stop, post_start,
        post_stop, row-major view): fewer, larger matrix products for a batched backend."""
        runs: list[list[int]] = []
        for pre_start, pre_stop, post_start, post_stop, offset, _ in self.block_table.tolist():
            if runs:
                last = runs[-1]
                last_end = last[4] + (last[1] - last[0]) * (last[3] - last[2])
                if (
                    last[2:4] == [post_start, post_stop]
                    and last[1] == pre_start
                    and (last_end == offset)
                ):
                    last[1] = pre_stop
                    continue
            runs.append([pre_start, pre_stop, post_start, post_stop, offset])
        return [
            (
                first,
                last,
                start,
                stop,
                self.dense_weights[offset : offset + (last - first) * (stop - start)].reshape(
                    last - first, stop - start
                ),
            )
            for first, last, start, stop, offset in runs
        ]

    def block_mask(self, k: int) -> np.ndarray:
        """The synapse mask of dense block k, as a view shaped like ``block(k)``."""
        row = self.block_table[k]
        shape = (row[PRE_STOP] - row[PRE_START], row[POST_STOP] - row[POST_START])
        return self.dense_mask[row[OFFSET] : row[OFFSET] + shape[0] * shape[1]].reshape(shape)

    def edge_weights(self) -> np.ndarray:
        """All synaptic weights in canonical edge order."""
        weights = np.empty(self.n_edges, dtype=self.dtype)
        in_dense = self.edge_in_dense
        weights[in_dense] = self.dense_weights[self.edge_slot[in_dense]]
        weights[~in_dense] = self.csr_weight[self.edge_slot[~in_dense]]
        return weights

    def set_edge_weights(self, values: np.ndarray) -> None:
        """Overwrite all synaptic weights, given in canonical edge order."""
        values = np.asarray(values, dtype=self.dtype)
        if values.shape != (self.n_edges,):
            raise ValidationError(
                f"edge weights have shape {values.shape}; expected ({self.n_edges},)"
            )
        self.dense_weights[self.edge_slot[self.edge_in_dense]] = values[self.edge_in_dense]
        self.csr_weight[self.edge_slot[~self.edge_in_dense]] = values[~self.edge_in_dense]

    def dense_matrix(self) -> np.ndarray:
        """The full (N, N) weight matrix ``W[pre, post]``, zero where there is no synapse."""
        matrix = np.zeros((self.n_neurons, self.n_neurons), dtype=self.dtype)
        matrix[self.edge_pre, self.edge_post] = self.edge_weights()
        return matrix

    def copy(self) -> CompiledNetwork:
        """A deep copy (the arrays a run changes are not shared)."""
        return CompiledNetwork(
            node_ids=list(self.node_ids),
            **{
                name: getattr(self, name).copy()
                for name in self.__dataclass_fields__
                if name != "node_ids"
            },
        )

    def to_graph(self, graph: nx.DiGraph | None = None) -> nx.DiGraph:
        """A graph carrying the current weights and biases.

        With ``graph`` given, its nodes and edges get the values (in place, and returned);
        otherwise a new graph with roles, layers, biases, weights and delays is built.
        """
        if graph is None:
            graph = nx.DiGraph()
            for k, node in enumerate(self.node_ids):
                graph.add_node(node, role=ROLES[self.role[k]], layer=int(self.layer[k]))
        for k, node in enumerate(self.node_ids):
            graph.nodes[node]["bias"] = float(self.bias[k])
        weights = self.edge_weights()
        for e in range(self.n_edges):
            pre, post = self.node_ids[self.edge_pre[e]], self.node_ids[self.edge_post[e]]
            graph.add_edge(pre, post, weight=float(weights[e]))
            if not np.isnan(self.edge_delay[e]):
                graph.edges[pre, post]["delay"] = float(self.edge_delay[e])
        return graph

    def write_graphml(self, path: str | Path, graph: nx.DiGraph | None = None) -> None:
        """Write the network with its current weights and biases to a GraphML file."""
        write_graphml(self.to_graph(None if graph is None else graph.copy()), path)


def _node_order(graph: nx.DiGraph) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Nodes sorted by layer, then role (input, output, hidden), then graph order."""
    keyed = []
    for position, (node, data) in enumerate(graph.nodes(data=True)):
        role = data["role"]
        layer = int(data.get("layer", DEFAULT_LAYER_BY_ROLE[role]))
        keyed.append((layer, ROLE_CODES[role], position, node))
    keyed.sort(key=lambda item: item[:3])
    node_ids = [item[3] for item in keyed]
    layer = np.array([item[0] for item in keyed], dtype=np.int64)
    role = np.array([item[1] for item in keyed], dtype=np.int8)
    return node_ids, role, layer


def _layer_ranges(layer: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous (start, stop) index ranges, one per layer value."""
    boundaries = np.flatnonzero(np.diff(layer)) + 1
    starts = np.concatenate([[0], boundaries])
    stops = np.concatenate([boundaries, [layer.size]])
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _initial_bounds(params: ModelParameters, fan_in: np.ndarray) -> np.ndarray:
    """Half-width of the uniform initial distribution, per postsynaptic neuron."""
    if params.init == "uniform":
        return np.full(fan_in.shape, params.init_scale)
    return np.sqrt(6.0 / np.maximum(fan_in, 1))


def compile_graph(
    graph: nx.DiGraph,
    params: ModelParameters,
    *,
    seed: int = 0,
    layout: str = "auto",
    density_threshold: float = 0.25,
) -> CompiledNetwork:
    """Turn a validated topology graph into a CompiledNetwork with initial weights.

    ``layout`` forces every layer pair into dense blocks (``"dense"``) or CSR (``"csr"``);
    ``"auto"`` makes a layer pair dense when its synapses fill at least
    ``density_threshold`` of the possible pairs.
    """
    if not isinstance(params, ModelParameters):
        raise ValidationError(f"params: expected ModelParameters, got {type(params).__name__}")
    if layout not in LAYOUTS:
        raise ValidationError(f"layout = {layout!r}: allowed values are {', '.join(LAYOUTS)}")
    if not 0.0 <= density_threshold <= 1.0:
        raise ValidationError(f"density_threshold = {density_threshold!r}: allowed range is [0, 1]")
    validate_graph(graph)
    dtype = np.dtype(params.dtype)
    node_ids, role, layer = _node_order(graph)
    index = {node: k for k, node in enumerate(node_ids)}
    n = len(node_ids)

    edges = list(graph.edges(data=True))
    pre = np.array([index[u] for u, _, _ in edges], dtype=np.int64)
    post = np.array([index[v] for _, v, _ in edges], dtype=np.int64)
    given_weight = np.array([float(d.get("weight", np.nan)) for _, _, d in edges])
    delay = np.array([float(d.get("delay", np.nan)) for _, _, d in edges])
    order = np.lexsort((post, pre))
    pre, post, given_weight, delay = pre[order], post[order], given_weight[order], delay[order]

    rng = np.random.default_rng(seed)
    fan_in = np.bincount(post, minlength=n)
    bound = _initial_bounds(params, fan_in)
    drawn = rng.uniform(-1.0, 1.0, size=pre.size) * bound[post]
    weight = np.where(np.isnan(given_weight), drawn, given_weight)
    given_bias = np.array([float(graph.nodes[node].get("bias", np.nan)) for node in node_ids])
    bias = np.where(np.isnan(given_bias), rng.uniform(-1.0, 1.0, size=n) * bound, given_bias)

    ranges = _layer_ranges(layer)
    layer_of = np.empty(n, dtype=np.int64)
    for g, (start, stop) in enumerate(ranges):
        layer_of[start:stop] = g
    pair = layer_of[pre] * len(ranges) + layer_of[post]
    pair_count = np.bincount(pair, minlength=len(ranges) ** 2)

    blocks: list[list[int]] = []
    in_dense = np.zeros(pre.size, dtype=bool)
    slot = np.zeros(pre.size, dtype=np.int64)
    offset = 0
    # post-major order: the blocks that feed one layer lie back to back, so blocks with
    # adjacent pre ranges form one row-major panel W[pre_start:pre_stop, post] for BLAS
    for g_post, (post_start, post_stop) in enumerate(ranges):
        for g_pre, (pre_start, pre_stop) in enumerate(ranges):
            count = pair_count[g_pre * len(ranges) + g_post]
            if count == 0:
                continue
            n_pre, n_post = pre_stop - pre_start, post_stop - post_start
            possible = n_pre * n_post - (n_pre if g_pre == g_post else 0)
            dense = layout == "dense" or (
                layout == "auto" and count >= density_threshold * possible
            )
            if not dense:
                continue
            if count < possible:
                kind = BLOCK_MASKED
            elif g_pre == g_post:
                kind = BLOCK_NO_DIAGONAL
            else:
                kind = BLOCK_COMPLETE
            members = pair == g_pre * len(ranges) + g_post
            in_dense[members] = True
            slot[members] = (
                offset + (pre[members] - pre_start) * n_post + (post[members] - post_start)
            )
            blocks.append([pre_start, pre_stop, post_start, post_stop, offset, kind])
            offset += n_pre * n_post

    dense_weights = np.zeros(offset, dtype=dtype)
    dense_weights[slot[in_dense]] = weight[in_dense]
    dense_mask = np.zeros(offset, dtype=dtype)
    dense_mask[slot[in_dense]] = 1.0

    sparse = ~in_dense
    csr_indptr = np.concatenate([[0], np.cumsum(np.bincount(pre[sparse], minlength=n))])
    slot[sparse] = np.arange(int(sparse.sum()))  # already sorted by pre, then post
    return CompiledNetwork(
        node_ids=node_ids,
        role=role,
        layer=layer,
        bias=bias.astype(dtype),
        dense_weights=dense_weights,
        dense_mask=dense_mask,
        block_table=np.array(blocks, dtype=np.int64).reshape(-1, 6),
        csr_indptr=csr_indptr.astype(np.int64),
        csr_post=post[sparse].astype(np.int64),
        csr_weight=weight[sparse].astype(dtype),
        edge_pre=pre,
        edge_post=post,
        edge_delay=delay,
        edge_in_dense=in_dense,
        edge_slot=slot,
    )
