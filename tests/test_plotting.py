"""What the figures of `neurosim plot` and `neurosim topology draw` state: axis labels with
units, neurons left out, decimation, the rivalry counts, an interrupted run, arrowheads and
the projection diagram of a large graph. Read from the matplotlib Figure objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from neurosim.analysis.rivalry import rivalry_metrics
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model.topology import layered, small_world, write_graphml
from neurosim.plotting.runs import MAX_POINTS, run_figure
from neurosim.plotting.topology import MAX_DRAWN_EDGES, topology_figure
from neurosim.recording import ArraySpec, RunStore, open_run

N_INPUT, N_HIDDEN = 4, 8
ROLES = ["input"] * N_INPUT + ["hidden"] * N_HIDDEN
NAMES = [str(index) for index in range(len(ROLES))]
RIVALRY = {
    "kind": "rivalry",
    "phase": "ambiguous",
    "units": [0, 1],
    "hysteresis": 0.2,
    "on_level": 0.6,
    "off_level": 0.45,
    "copy": 0,
}


def alternating_states(steps: int, seed: int = 0) -> np.ndarray:
    """States (time, copy, neuron): units 0 and 1 take turns at 0.8 and 0.2 for random
    stretches of 20 to 200 steps, the others drift; noise on all."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 200, size=steps // 20 + 1)
    turn = np.repeat(np.arange(lengths.size) % 2, lengths)[:steps]
    state = 0.5 + 0.1 * rng.standard_normal((steps, 2, len(ROLES)))
    state[:, :, 0] = np.where(turn, 0.2, 0.8)[:, None] + 0.03 * rng.standard_normal((steps, 2))
    state[:, :, 1] = np.where(turn, 0.8, 0.2)[:, None] + 0.03 * rng.standard_normal((steps, 2))
    return state


def make_store(
    path: Path, steps: int, analysis: dict[str, Any] | None = None, status: str = "complete"
) -> Path:
    """A store of every neuron's states, dz and targets over ``steps`` steps, closed with
    ``status``."""
    scenario: dict[str, Any] = {"scenario": {"name": "synthetic"}}
    if analysis is not None:
        scenario["analysis"] = analysis
    writer = RunStore.create(
        path,
        attributes={"scenario": scenario, "backend": "sync", "seed": 5},
        neurons={"role": ROLES, "layer": [0] * N_INPUT + [1] * N_HIDDEN, "name": NAMES},
        arrays={
            "state": ArraySpec(("copy", "neuron"), (2, len(ROLES)), "float32"),
            "dz": ArraySpec(("neuron",), (len(ROLES),), "float32"),
            "target": ArraySpec(("neuron",), (len(ROLES),), "float32"),
        },
        recorded_neurons=np.arange(len(ROLES)),
        edge_src=np.array([0, 4]),
        edge_dst=np.array([4, 0]),
        time_chunk=1024,
    )
    state = alternating_states(steps)
    time = np.arange(1, steps + 1)
    writer.append(
        time,
        {"state": state, "dz": state[:, 1] - state[:, 0], "target": np.zeros_like(state[:, 0])},
    )
    writer.steps_simulated = steps + 100
    writer.close(status, None if status == "complete" else "stopped by a signal")
    return path


def texts(figure: Figure) -> str:
    """Every string the figure shows: its title, the axes' titles, labels and texts."""
    parts = [figure.get_suptitle(), *(text.get_text() for text in figure.texts)]
    for axes in figure.axes:
        parts += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        parts += [text.get_text() for text in axes.texts]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def short_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("runs") / "short.zarr", 300)


@pytest.fixture(scope="module")
def rivalry_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("runs") / "rivalry.zarr", 20_000, RIVALRY)


def test_the_trajectory_labels_its_axes_and_says_what_it_left_out(short_store: Path) -> None:
    figure = run_figure(open_run(short_store))
    panels = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in panels] == [f"input {n}" for n in range(4)] + [
        f"hidden {n}" for n in range(4, 8)
    ]
    assert all(axes.get_ylabel() == "rate (dimensionless)" for axes in panels)
    assert panels[-1].get_xlabel() == "time (steps)"
    assert "8 of 12 recorded neurons shown, 4 left out; --neurons picks them" in texts(figure)
    assert "decimated" not in texts(figure)
    assert figure.get_suptitle().startswith("synthetic: trajectory (seed 5)")
    # both copies and dz as lines of 300 points; the target in black, apart from copy 1
    lines = panels[0].get_lines()
    assert [line.get_xydata().shape[0] for line in lines[:3]] == [300, 300, 300]
    assert lines[1].get_color() != lines[3].get_color() == "black"


def test_the_neurons_drawn_are_chosen_by_name(short_store: Path) -> None:
    figure = run_figure(open_run(short_store), neurons=["11", "2"])
    assert [axes.get_title() for axes in figure.axes] == ["hidden 11", "input 2"]
    assert "2 of 12 recorded neurons shown, 10 left out" in texts(figure)
    with pytest.raises(ValidationError, match="--neurons: no neuron named 'h9'; neurons are 0,"):
        run_figure(open_run(short_store), neurons=["h9"])


def test_many_neurons_are_a_heatmap(short_store: Path) -> None:
    figure = run_figure(open_run(short_store), neurons=NAMES)
    images = [axes for axes in figure.axes if axes.images]
    assert len(images) == 2  # one per copy
    assert images[0].images[0].get_array().shape == (len(NAMES), 300)
    assert "left out" not in texts(figure)
    assert "state, rate (dimensionless)" in texts(figure)  # the colour bars' label


def test_a_long_run_is_drawn_as_an_envelope_and_says_so(rivalry_store: Path) -> None:
    figure = run_figure(open_run(rivalry_store), neurons=["0"])
    (panel,) = [axes for axes in figure.axes if axes.get_title() == "input 0"]
    envelopes = [c for c in panel.collections if isinstance(c, PolyCollection)]
    assert len(envelopes) == 3  # both copies and dz
    assert not [line for line in panel.get_lines() if line.get_xydata().shape[0] > MAX_POINTS]
    assert "20,000 recorded steps drawn as the min-max envelope of each bin of 25" in texts(figure)
    # the envelope keeps the extremes a plain subsample would lose
    state = open_run(rivalry_store).array("trajectory", "state")[:, 0, 0]
    (low, high) = (
        envelopes[0].get_paths()[0].vertices[:, 1].min(),
        envelopes[0].get_paths()[0].vertices[:, 1].max(),
    )
    assert (low, high) == pytest.approx((state.min(), state.max()))


def test_the_rivalry_figure_counts_as_the_analysis_does(rivalry_store: Path) -> None:
    run = open_run(rivalry_store)
    figure = run_figure(run, "rivalry")
    state = run.array("trajectory", "state")[:, 0]
    time = np.arange(1, state.shape[0] + 1)
    metrics = rivalry_metrics(time, state[:, 0], state[:, 1], 0.2, 0.6, 0.45)
    assert metrics.switches > 50
    (timeline,) = [a for a in figure.axes if a.get_title().startswith("whole phase")]
    assert f"{metrics.switches} dominance switches" in timeline.get_title()
    assert f"{metrics.pattern_switches} pattern switches" in timeline.get_title()
    assert "decimated" in timeline.get_title()
    assert timeline.get_xlabel() == "time into the phase (steps)"
    # the dominance as spans: one bar per run of one dominant unit, about one per switch
    spans = sum(len(c.get_paths()) for c in timeline.collections[:2])
    assert metrics.switches * 0.8 <= spans - 1 <= metrics.switches
    (histogram,) = [a for a in figure.axes if a.get_title().startswith("dominance durations")]
    bars = [p for p in histogram.patches if isinstance(p, Rectangle)]
    assert sum(bar.get_height() for bar in bars) == metrics.durations.size
    assert histogram.get_xlabel() == "duration (steps)"
    assert histogram.get_ylabel() == "periods (count)"
    assert "the first 600 of 20,000 recorded steps" in figure.get_suptitle()
    assert figure.get_suptitle().startswith("synthetic: rivalry (seed 5)\n")
    panels = [a for a in figure.axes if a.get_title() in ("input 0", "hidden 4")]
    assert all(a.get_xlabel() == "time into the phase (steps)" for a in panels)
    assert all(a.get_ylabel() == "rate (dimensionless)" for a in panels)


def test_an_interrupted_run_is_marked(tmp_path: Path) -> None:
    store = make_store(tmp_path / "cut.zarr", 200, status="interrupted")
    figure = run_figure(open_run(store))
    assert "synthetic: trajectory (seed 5) (interrupted at step 300)" in figure.get_suptitle()
    assert figure._suptitle.get_color() == "tab:red"


def test_plot_cli_kinds_and_neurons(short_store: Path, tmp_path: Path, capsys) -> None:
    image = tmp_path / "chosen.png"
    assert main(["plot", str(short_store), "--neurons", "1", "5", "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["plot", str(short_store), "--kind", "mnist", "-o", str(image)]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "--kind mnist:" in error and "its figures are trajectory" in error
    assert main(["plot", str(short_store), "--kind", "rivalry"]) == EXIT_BAD_INPUT


def test_a_small_topology_has_an_arrow_per_synapse_and_a_weight_scale() -> None:
    graph = small_world(3, 2, 12, k=4, rewire_probability=0.3)
    for index, (_, _, data) in enumerate(graph.edges(data=True)):
        data["weight"] = (index % 7 - 3) / 10
    figure = topology_figure(graph, "net")
    axes = figure.axes[0]
    arrows = [patch for patch in axes.patches if isinstance(patch, FancyArrowPatch)]
    assert len(arrows) == graph.number_of_edges()
    assert all(arrow.get_arrowstyle().__class__.__name__ == "CurveFilledB" for arrow in arrows)
    assert figure.axes[1].get_ylabel() == "synaptic weight (dimensionless)"  # the colour bar
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["input", "output", "hidden"]
    # the hidden ring is not folded onto a line: its neurons span both directions
    hidden = [n for n, data in graph.nodes(data=True) if data["role"] == "hidden"]
    offsets = np.array(axes.collections[-1].get_offsets())[hidden]
    assert np.ptp(offsets[:, 0]) > 1 and np.ptp(offsets[:, 1]) > 1


def test_the_legend_lists_only_the_roles_present_and_delays_as_widths() -> None:
    graph = layered([3, 2])  # no hidden neurons
    for source, target, data in graph.edges(data=True):
        data["delay"] = 1.0 + (source + target) % 3
    figure = topology_figure(graph)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["input", "output", "delay 1 (steps)", "delay 3 (steps)"]
    assert "no weights in the file" in figure.axes[0].get_title()


def test_a_large_topology_is_a_projection_diagram() -> None:
    graph = layered([60, 50, 40, 10], lateral=True)
    assert graph.number_of_edges() > MAX_DRAWN_EDGES
    figure = topology_figure(graph, "big")
    axes = figure.axes[0]
    blocks = [patch for patch in axes.patches if isinstance(patch, FancyBboxPatch)]
    arrows = [patch for patch in axes.patches if isinstance(patch, FancyArrowPatch)]
    assert len(blocks) == 4
    assert len(arrows) == 3 * 2 + 2  # both directions between neighbours, two lateral groups
    shown = [text.get_text() for text in axes.texts]
    assert "hidden, layer 1\n50 neurons" in shown
    assert "3,000 synapses\ndensity 1.00" in shown  # input -> first hidden layer
    assert "2,450 synapses\ndensity 1.00" in shown  # inside the first hidden layer
    assert "drawn as projections between groups" in axes.get_title()


def test_topology_draw_writes_the_projection_diagram(tmp_path: Path) -> None:
    path = tmp_path / "big.graphml"
    write_graphml(layered([60, 50, 40, 10], lateral=True), path)
    image = tmp_path / "big.png"
    assert main(["topology", "draw", str(path), "-o", str(image)]) == EXIT_OK
    assert image.stat().st_size > 10_000
