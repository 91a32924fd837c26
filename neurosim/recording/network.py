"""The network a run store holds: its neurons, synapses and the weights of one snapshot, as a
topology graph that a new run starts from (``[topology] from_store``) or that is written as
GraphML (``neurosim export --format graphml``)."""

from __future__ import annotations

import os

import networkx as nx
import numpy as np

from neurosim.errors import ValidationError
from neurosim.model.topology import node_ids_from_text, validate_graph
from neurosim.recording.reader import open_run

SNAPSHOTS_KEY = "record.weight_snapshots"
"""The scenario key that makes a run write weight snapshots."""


def stored_graph(
    path: str | os.PathLike[str], snapshot: int | None = None, snapshot_name: str = "snapshot"
) -> nx.DiGraph:
    """The network of the run store at ``path`` with the weights and biases of weight
    snapshot ``snapshot`` (0 is the first; None: the last, the weights the run ended with).

    Nodes are the store's neuron names (ints when every name is a decimal integer, as a
    GraphML file's ids are read) with ``role``, ``layer`` and ``bias``; edges carry ``weight``
    and, where the run's topology gave one, ``delay``. A path that is not a run store, a
    store with no weight snapshot, or a snapshot out of range (named ``snapshot_name``, as the
    user gave it) raise ``ValidationError`` naming the store and what it holds.
    """
    run = open_run(path)  # ValidationError naming the path if there is no run store
    where = run.path
    if "weights" not in run.groups() or run.snapshots_done == 0:
        raise ValidationError(
            f"{where} holds no weight snapshots (the run wrote none: {SNAPSHOTS_KEY} = false, "
            f"or it stopped before its first); run it again with {SNAPSHOTS_KEY} = true"
        )
    times = run.array("weights", "snapshot_time")
    if snapshot is None:
        snapshot = times.size - 1
    elif not 0 <= snapshot < times.size:
        steps = ", ".join(str(step) for step in times[:6].tolist())
        raise ValidationError(
            f"{snapshot_name}{' ' if snapshot_name.startswith('--') else ' = '}{snapshot} is "
            f"out of range: {where} holds {times.size} weight "
            f"snapshot(s); allowed are 0 to {times.size - 1} (at steps {steps}"
            f"{', ...' if times.size > 6 else ''})"
        )
    names = run.array("neurons", "name").tolist()
    roles = run.array("neurons", "role").tolist()
    layers = run.array("neurons", "layer").tolist()
    ids = node_ids_from_text(names)
    node = [ids[name] for name in names]
    weights = run.array("weights", "W")[snapshot]
    biases = run.array("weights", "b")[snapshot]
    delays = (
        run.array("weights", "edge_delay")
        if "edge_delay" in run.names("weights")
        else np.full(weights.size, np.nan)
    )
    graph = nx.DiGraph()
    for k, name in enumerate(node):
        graph.add_node(name, role=roles[k], layer=int(layers[k]), bias=float(biases[k]))
    sources = run.array("weights", "edge_src").tolist()
    destinations = run.array("weights", "edge_dst").tolist()
    for e, (pre, post) in enumerate(zip(sources, destinations, strict=True)):
        graph.add_edge(node[pre], node[post], weight=float(weights[e]))
        if not np.isnan(delays[e]):
            graph.edges[node[pre], node[post]]["delay"] = float(delays[e])
    validate_graph(graph, source=str(where))
    return graph
