"""Drawing a topology: neurons placed by layer, coloured by role."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from matplotlib.figure import Figure

from neurosim.model.topology import DEFAULT_LAYER_BY_ROLE

ROLE_COLOURS = {"input": "tab:blue", "output": "tab:orange", "hidden": "tab:gray"}
# Beyond this many neurons a picture of every synapse is a grey smear: draw neurons only.
MAX_DRAWN_EDGES = 5_000


def draw_topology(graph: nx.DiGraph, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG (or any format matplotlib knows from the suffix) of ``graph``.

    Layers become columns (networkx's multipartite layout); each neuron is coloured by its
    role. Synapses are drawn up to ``MAX_DRAWN_EDGES``; the title gives the counts.
    """
    layers = {
        node: int(data.get("layer", DEFAULT_LAYER_BY_ROLE[data["role"]]))
        for node, data in graph.nodes(data=True)
    }
    nx.set_node_attributes(layout_graph := graph.copy(), layers, "layer")
    positions = nx.multipartite_layout(layout_graph, subset_key="layer")
    figure = Figure(figsize=(8, 6))
    axes = figure.subplots()
    if graph.number_of_edges() <= MAX_DRAWN_EDGES:
        nx.draw_networkx_edges(graph, positions, ax=axes, alpha=0.15, arrows=False, width=0.5)
    colours = [ROLE_COLOURS[data["role"]] for _, data in graph.nodes(data=True)]
    size = max(4.0, 300.0 / max(1.0, graph.number_of_nodes() ** 0.5))
    nx.draw_networkx_nodes(graph, positions, ax=axes, node_color=colours, node_size=size)
    for role, colour in ROLE_COLOURS.items():
        axes.scatter([], [], color=colour, label=role)
    axes.legend(loc="upper right", frameon=False)
    axes.set_axis_off()
    counts = f"{graph.number_of_nodes()} neurons, {graph.number_of_edges()} synapses"
    axes.set_title(f"{title}: {counts}" if title else counts)
    path = Path(path)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path
