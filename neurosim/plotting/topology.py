"""Drawing a topology: each layer's neurons on a circle, synapses as arrows coloured by weight.

Placing a layer on a circle (rather than a column) keeps the synapses inside a layer apart:
a ring or small-world core shows as chords along the circle instead of folding onto one line.
A graph with more than ``MAX_DRAWN_EDGES`` synapses is drawn as a projection diagram: one
block per (layer, role) group with its neuron count, one arrow per projection between groups
labelled with its synapse count and density.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib as mpl
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from neurosim.model.topology import DEFAULT_LAYER_BY_ROLE

ROLE_COLOURS = {"input": "tab:blue", "output": "tab:orange", "hidden": "tab:gray"}
ROLE_ORDER = tuple(ROLE_COLOURS)
# Beyond this many synapses a picture of each is a smear: draw the projection diagram.
MAX_DRAWN_EDGES = 5_000
# node names are written beside the nodes up to this many neurons
MAX_LABELLED_NODES = 40
LAYER_SPACING = 3.0  # between the centres of neighbouring layers' circles (radius 1)
UNWEIGHTED_COLOUR = "0.55"
WEIGHT_LABEL = "synaptic weight (dimensionless)"


def draw_topology(graph: nx.DiGraph, path: str | Path, title: str | None = None) -> Path:
    """Write ``topology_figure(graph, title)`` to ``path`` (PNG, or any format matplotlib
    knows from the suffix)."""
    path = Path(path)
    topology_figure(graph, title).savefig(path, dpi=110, bbox_inches="tight")
    return path


def topology_figure(graph: nx.DiGraph, title: str | None = None) -> Figure:
    """A figure of ``graph``: every synapse as an arrow (colour: weight, width: delay, where
    the file gives them) between neurons placed on one circle per layer and coloured by role;
    above ``MAX_DRAWN_EDGES`` synapses, the projection diagram. The title gives the counts."""
    layers = _layers(graph)
    figure = Figure(figsize=(9, 6.5))
    axes = figure.subplots()
    counts = f"{graph.number_of_nodes():,} neurons, {graph.number_of_edges():,} synapses"
    notes = []
    if graph.number_of_edges() <= MAX_DRAWN_EDGES:
        if not _draw_synapses(figure, axes, graph, layers):
            notes.append("no weights in the file (the model initialises them)")
    else:
        _draw_projections(axes, graph, layers)
        notes.append(f"more than {MAX_DRAWN_EDGES:,} synapses: drawn as projections between groups")
    axes.set_axis_off()
    axes.set_aspect("equal")
    heading = f"{title}: {counts}" if title else counts
    axes.set_title("\n".join([heading, *notes]), fontsize=10)
    return figure


def _layers(graph: nx.DiGraph) -> dict[Any, int]:
    return {
        node: int(data.get("layer", DEFAULT_LAYER_BY_ROLE[data["role"]]))
        for node, data in graph.nodes(data=True)
    }


def layer_circles(graph: nx.DiGraph, layers: dict[Any, int]) -> dict[Any, np.ndarray]:
    """Positions: each layer's neurons evenly on a circle of radius 1 (a lone neuron at its
    centre), grouped by role and in node order, the circles left to right by layer."""
    positions: dict[Any, np.ndarray] = {}
    for column, layer in enumerate(sorted(set(layers.values()))):
        nodes = [node for node in graph.nodes if layers[node] == layer]
        nodes.sort(key=lambda node: ROLE_ORDER.index(graph.nodes[node]["role"]))
        centre = np.array([column * LAYER_SPACING, 0.0])
        for index, node in enumerate(nodes):
            angle = math.pi / 2 - 2 * math.pi * index / len(nodes)
            offset = np.array([math.cos(angle), math.sin(angle)]) if len(nodes) > 1 else 0.0
            positions[node] = centre + offset
    return positions


def _draw_synapses(figure: Figure, axes: Axes, graph: nx.DiGraph, layers: dict[Any, int]) -> bool:
    """Every synapse and neuron; whether any synapse has a weight (then a colour bar)."""
    positions = layer_circles(graph, layers)
    node_size = max(8.0, 300.0 / max(1.0, graph.number_of_nodes() ** 0.5))
    weights = [data.get("weight") for _, _, data in graph.edges(data=True)]
    delays = [data.get("delay") for _, _, data in graph.edges(data=True)]
    colours, mappable = _weight_colours(weights)
    widths, delay_handles = _delay_widths(delays)
    nx.draw_networkx_edges(
        graph,
        positions,
        ax=axes,
        arrows=True,
        arrowstyle="-|>",
        arrowsize=max(4, 10 - graph.number_of_edges() // 400),
        edge_color=colours,
        width=widths,
        alpha=0.7,
        node_size=node_size,
        connectionstyle="arc3,rad=0.12",  # a pair of opposite synapses as two arcs
    )
    roles = [data["role"] for _, data in graph.nodes(data=True)]
    nx.draw_networkx_nodes(
        graph,
        positions,
        ax=axes,
        node_color=[ROLE_COLOURS[role] for role in roles],
        node_size=node_size,
    )
    if graph.number_of_nodes() <= MAX_LABELLED_NODES:
        names = {node: str(node) for node in graph.nodes}
        nx.draw_networkx_labels(graph, positions, names, ax=axes, font_size=6)
    for column, layer in enumerate(sorted(set(layers.values()))):
        members = [graph.nodes[node]["role"] for node in graph.nodes if layers[node] == layer]
        summary = ", ".join(f"{members.count(r)} {r}" for r in ROLE_ORDER if r in members)
        axes.text(
            column * LAYER_SPACING,
            -1.35,
            f"layer {layer}\n{summary}",
            ha="center",
            va="top",
            fontsize=8,
        )
    axes.set_ylim(-1.9, 1.3)
    present = [role for role in ROLE_ORDER if role in roles]
    handles = [
        Line2D([], [], marker="o", ls="", color=ROLE_COLOURS[role], label=role) for role in present
    ]
    axes.legend(
        handles=handles + delay_handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(handles) + len(delay_handles),
        frameon=False,
        fontsize=8,
    )
    if mappable is not None:
        figure.colorbar(mappable, ax=axes, shrink=0.7, label=WEIGHT_LABEL)
    return mappable is not None


def _weight_colours(
    weights: list[float | None],
) -> tuple[list[Any], ScalarMappable | None]:
    """Each synapse's colour from its weight (grey where it has none) and the colour scale:
    diverging around zero where weights of both signs occur. None without any weight."""
    given = np.array([w for w in weights if w is not None], dtype=float)
    if given.size == 0:
        return [UNWEIGHTED_COLOUR] * len(weights), None
    if given.min() < 0 < given.max():
        largest = float(np.abs(given).max())
        norm, colour_map = Normalize(-largest, largest), mpl.colormaps["RdBu_r"]
    else:
        low, high = float(given.min()), float(given.max())
        norm, colour_map = (
            Normalize(low, high if high > low else low + 1e-12),
            mpl.colormaps["viridis"],
        )
    colours = [UNWEIGHTED_COLOUR if w is None else colour_map(norm(w)) for w in weights]
    return colours, ScalarMappable(norm=norm, cmap=colour_map)


def _delay_widths(delays: list[float | None]) -> tuple[list[float], list[Line2D]]:
    """Each synapse's line width from its delay (0.8 where none or all equal) and legend
    entries for the shortest and longest delay."""
    given = [d for d in delays if d is not None]
    if not given or min(given) == max(given):
        return [0.8] * len(delays), []
    low, high = min(given), max(given)

    def width(delay: float) -> float:
        return 0.4 + 2.6 * (delay - low) / (high - low)

    handles = [
        Line2D([], [], color=UNWEIGHTED_COLOUR, lw=width(d), label=f"delay {d:g} (steps)")
        for d in (low, high)
    ]
    return [0.8 if d is None else width(d) for d in delays], handles


def projections(
    graph: nx.DiGraph, layers: dict[Any, int]
) -> tuple[list[tuple[int, str]], np.ndarray, dict[tuple[int, int], tuple[int, float | None]]]:
    """The graph's (layer, role) groups in order, the neurons in each, and per ordered pair
    of groups with synapses between them: the synapse count and their mean weight (None
    where no synapse has a weight)."""
    group_of = {node: (layers[node], graph.nodes[node]["role"]) for node in graph.nodes}
    groups = sorted(set(group_of.values()), key=lambda g: (g[0], ROLE_ORDER.index(g[1])))
    index = {group: position for position, group in enumerate(groups)}
    node_group = {node: index[group] for node, group in group_of.items()}
    sizes = np.bincount(list(node_group.values()), minlength=len(groups))
    edges = graph.number_of_edges()
    source = np.fromiter((node_group[u] for u, _ in graph.edges), int, edges)
    target = np.fromiter((node_group[v] for _, v in graph.edges), int, edges)
    weight = np.fromiter(
        (np.nan if w is None else w for _, _, w in graph.edges(data="weight")), float, edges
    )
    pair = source * len(groups) + target
    found: dict[tuple[int, int], tuple[int, float | None]] = {}
    for code, count in zip(*np.unique(pair, return_counts=True), strict=True):
        chosen = weight[pair == code]
        mean = float(np.nanmean(chosen)) if np.isfinite(chosen).any() else None
        found[divmod(int(code), len(groups))] = (int(count), mean)
    return groups, sizes, found


def _draw_projections(axes: Axes, graph: nx.DiGraph, layers: dict[Any, int]) -> None:
    """Blocks per (layer, role) group, arrows per projection with count and density."""
    groups, sizes, found = projections(graph, layers)
    columns = sorted({layer for layer, _ in groups})
    centres: dict[int, np.ndarray] = {}
    for column, layer in enumerate(columns):
        members = [g for g, (in_layer, _) in enumerate(groups) if in_layer == layer]
        for row, group in enumerate(members):
            centres[group] = np.array([column * 4.0, (len(members) - 1) / 2 * 2.6 - row * 2.6])
    blocks = {}
    for group, (layer, role) in enumerate(groups):
        x, y = centres[group]
        block = FancyBboxPatch(
            (x - 0.9, y - 0.45),
            1.8,
            0.9,
            boxstyle="round,pad=0.05",
            facecolor=ROLE_COLOURS[role],
            alpha=0.35,
            edgecolor="black",
            label=f"{role} {layer}",
        )
        axes.add_patch(block)
        blocks[group] = block
        axes.text(
            x,
            y,
            f"{role}, layer {layer}\n{sizes[group]:,} neurons",
            ha="center",
            va="center",
            fontsize=8,
        )
    largest = max(count for count, _ in found.values())
    for (source, target), (count, mean) in found.items():
        possible = sizes[source] * (sizes[target] - (source == target))
        text = f"{count:,} synapses\ndensity {count / possible:.2f}"
        if mean is not None:
            text += f"\nmean weight {mean:.3g}"
        width = 0.6 + 2.4 * math.log1p(count) / math.log1p(largest)
        _projection_arrow(axes, centres, blocks, source, target, width, text)
    xs = [c[0] for c in centres.values()]
    ys = [c[1] for c in centres.values()]
    axes.set_xlim(min(xs) - 1.6, max(xs) + 1.6)
    axes.set_ylim(min(ys) - 1.4, max(ys) + 2.2)


def _projection_arrow(
    axes: Axes,
    centres: dict[int, np.ndarray],
    blocks: dict[int, FancyBboxPatch],
    source: int,
    target: int,
    width: float,
    text: str,
) -> None:
    """One projection: an arc between two blocks (two opposite projections as two arcs), or
    a loop above the block for synapses inside a group; the label at the arc's middle."""
    if source == target:
        x, y = centres[source]
        start, end, rad = (x + 0.45, y + 0.5), (x - 0.45, y + 0.5), 1.6
        patch_a = patch_b = None
    else:
        start, end, rad = tuple(centres[source]), tuple(centres[target]), 0.2
        patch_a, patch_b = blocks[source], blocks[target]
    arrow = FancyArrowPatch(
        start,
        end,
        connectionstyle=f"arc3,rad={rad}",
        arrowstyle="-|>",
        mutation_scale=12,
        lw=width,
        color="0.25",
        patchA=patch_a,
        patchB=patch_b,
    )
    axes.add_patch(arrow)
    # matplotlib's arc3 bends through a control point offset by rad * (dy, -dx) from the
    # middle; the curve's middle lies halfway to it
    dx, dy = end[0] - start[0], end[1] - start[1]
    middle = ((start[0] + end[0]) / 2 + rad * dy / 2, (start[1] + end[1]) / 2 - rad * dx / 2)
    axes.text(
        *middle,
        text,
        ha="center",
        va="center",
        fontsize=6.5,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )
