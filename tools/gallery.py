"""Make every figure kind of `neurosim plot` and `neurosim topology draw` from the built-in
scenarios, shortened with ``--set`` so the whole gallery takes a few minutes, and write
docs/gallery.md showing each with what it shows and the command that made it.

    python tools/gallery.py [--only NAME ...] [--keep RUNS_FOLDER]

The MNIST figure needs the data (``NEUROSIM_DATA`` or the usual caches; ``neurosim data
fetch mnist``). ``--keep`` also lets ``--only trajectory`` reuse the rivalry run it draws.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from neurosim.cli import EXIT_OK, main
from neurosim.model.topology import recurrent, small_world, write_graphml

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures" / "gallery"
PAGE = ROOT / "docs" / "gallery.md"


@dataclass(frozen=True)
class Entry:
    """One figure: the scenario run with ``settings`` (or a store made by an earlier entry,
    ``store``), then ``neurosim plot`` with ``plot_options``; or ``topology draw`` of a
    GraphML file written by ``graph``."""

    name: str
    title: str
    text: str
    scenario: str | None = None
    settings: tuple[str, ...] = ()
    store: str | None = None
    plot_options: tuple[str, ...] = ()
    graph: str | None = None


ENTRIES = (
    Entry(
        "rivalry",
        "Binocular rivalry (`rivalry`)",
        "The aSTDP paper's Figure 3 layout: visible and hidden neurons over the first 600 steps "
        "of the ambiguous phase, the analysed pair with its pattern state shaded, and over the "
        "whole 20,000 steps the dominant unit and the pattern state as coloured spans with the "
        "switch counts, beside the histogram of dominance durations.",
        scenario="rivalry",
    ),
    Entry(
        "trajectory",
        "Trajectory (`--kind trajectory`)",
        "Chosen neurons' states (both copies), dz and targets over time. A run this long is "
        "drawn as the min-max envelope of each bin of steps, so the alternation stays visible "
        "as the band's width; the title says how many recorded neurons were left out.",
        store="rivalry",
        plot_options=("--kind", "trajectory", "--neurons", "0", "1", "4"),
    ),
    Entry(
        "trajectory_heatmap",
        "Trajectory of many neurons",
        "With more than eight neurons chosen, each copy's states become a heatmap (neurons "
        "down, time across; the mean of each bin of steps).",
        store="rivalry",
        plot_options=("--kind", "trajectory", "--neurons", *map(str, range(12))),
    ),
    Entry(
        "adaptation",
        "Adaptation (`adaptation`)",
        "The aSTDP paper's Figure 4: the analysed neuron's response to the input stepping from "
        "one pattern to the other and back, with its rest and settled levels; the title gives "
        "the overshoot and undershoot the analysis measured.",
        scenario="adaptation",
    ),
    Entry(
        "stdp_window",
        "STDP window (`stdp_window`)",
        "The two-neuron protocol: the weight change of the pre-to-post synapse against the "
        "offset between the two target windows (the aSTDP paper's Figure 6).",
        scenario="stdp_window",
        settings=("experiment.offset_step=3",),
    ),
    Entry(
        "stdp_curve",
        "Rate rule against spike-timing STDP (`stdp_curve`)",
        "The STDP-objective paper's spike simulations: the rate rule's update against the "
        "spike-timing difference, and against nearest-neighbour STDP.",
        scenario="stdp_curve",
        settings=("experiment.sequences=60", "experiment.samples=200"),
    ),
    Entry(
        "ordering",
        "Ordering (`ordering`)",
        "Two networks trained on the orders i -> i+1 and i -> i+3, each tested on both orders "
        "(the aSTDP paper's Tables 3 and 4).",
        scenario="ordering",
        settings=("experiment.epochs=300", "experiment.seeds=[0, 1]"),
    ),
    Entry(
        "continual",
        "Continual learning (`continual`)",
        "Recurring patterns learned task after task: the accuracy on each task over the stream.",
        scenario="recurring_patterns",
        settings=("experiment.samples_per_task=100", "experiment.cycles=2"),
    ),
    Entry(
        "spiking",
        "Spiking STDP (`spiking`)",
        "Song, Miller and Abbott's spike-timing STDP on a LIF neuron driven by 1,000 Poisson "
        "inputs: the weights' distribution and the membrane potential.",
        scenario="sma_stdp",
        settings=("experiment.duration=4000.0", "experiment.weights_every=1000.0"),
    ),
    Entry(
        "bcm",
        "BCM stability (`bcm`)",
        "A spiking neuron under BCM with a slow and a fast sliding threshold: the rate, the "
        "threshold and the weights over time.",
        scenario="bcm_stability",
        settings=("experiment.duration=5000.0", "experiment.record_every=250.0"),
    ),
    Entry(
        "superspike",
        "SuperSpike (`superspike`)",
        "Surrogate-gradient learning of a spike train: the output's spikes against the target "
        "over trials and the van Rossum distance.",
        scenario="superspike_single",
        settings=("experiment.trials=40",),
    ),
    Entry(
        "mnist",
        "MNIST (`mnist`)",
        "The learning curve, the confusion matrix on the test digits and the input weights of "
        "the first hidden units, after one epoch on a few hundred digits.",
        scenario="mnist_astdp_supervised_small",
        settings=(
            "experiment.train_digits=600",
            "experiment.validation_digits=200",
            "experiment.test_digits=200",
            "experiment.settle_digits=50",
        ),
    ),
    Entry(
        "topology_small_world",
        "Topology: a small-world hidden core (`topology draw`)",
        "Each layer's neurons on a circle: the visible layer (inputs, outputs) on the left, the "
        "hidden ring with its rewired shortcuts on the right, every synapse an arrow coloured "
        "by its weight.",
        graph="small_world",
    ),
    Entry(
        "topology_projections",
        "Topology: a network too large to draw synapse by synapse",
        "The papers' recurrent layout at 10 x 10 pixels (100 inputs, 10 outputs, 80 hidden, "
        "23,920 synapses, over the 5,000 drawn one by one) as a projection diagram: a block "
        "per layer and role with its neuron count, an arrow per projection with its synapse "
        "count and density. The MNIST size (over a million synapses) is drawn the same way.",
        graph="recurrent",
    ),
)


_GRAPHS = {
    "small_world": "small_world(4, 2, 16, k=4, rewire_probability=0.2, seed=1)), with weights",
    "recurrent": "recurrent(100, 10, 80))",
}


def _graph(name: str, path: Path) -> None:
    """Write the GraphML file ``name`` (one of ``_GRAPHS``) to ``path``."""
    if name == "small_world":
        graph = small_world(4, 2, 16, k=4, rewire_probability=0.2, seed=1)
        for source, target, data in graph.edges(data=True):  # weights to show the colour scale
            data["weight"] = round(((source * 7 + target * 3) % 11 - 5) / 10, 2)
    else:
        graph = recurrent(100, 10, 80)
    write_graphml(graph, path)


def _run(arguments: list[str]) -> None:
    if main(arguments) != EXIT_OK:
        raise SystemExit(f"failed: neurosim {shlex.join(arguments)}")


def commands(entry: Entry) -> list[list[str]]:
    """The ``neurosim`` commands (arguments) that make ``entry``'s figure, with the files
    named as in the page: ``NAME.graphml``, ``STORE.zarr``, ``NAME.png``."""
    image = f"{entry.name}.png"
    if entry.graph is not None:
        return [["topology", "draw", f"{entry.graph}.graphml", "-o", image]]
    store = f"{entry.store or entry.name}.zarr"
    made = []
    if entry.scenario is not None:
        settings = [part for setting in entry.settings for part in ("--set", setting)]
        made.append(["run", entry.scenario, *settings, "--out", store, "--quiet"])
    return [*made, ["plot", store, *entry.plot_options, "-o", image]]


def make(entry: Entry, runs: Path) -> None:
    """Make ``entry``'s figure in FIGURES, its runs and GraphML files in ``runs``."""
    if entry.graph is not None:
        _graph(entry.graph, runs / f"{entry.graph}.graphml")
    for arguments in commands(entry):
        *head, last = arguments
        if head and head[0] in ("plot", "topology"):
            last = str(FIGURES / last)
        _run([str(runs / a) if a.endswith((".zarr", ".graphml")) else a for a in head] + [last])


def section(entry: Entry) -> str:
    """``entry``'s part of the page: title, what it shows, the commands, the image."""
    lines = []
    if entry.graph is not None:
        made = _GRAPHS[entry.graph]
        lines.append(f"# {entry.graph}.graphml: write_graphml(neurosim.model.topology.{made})")
    lines += [shlex.join(["neurosim", *arguments]) for arguments in commands(entry)]
    code = "\n".join(lines)
    image = (FIGURES / f"{entry.name}.png").relative_to(PAGE.parent)
    return f"## {entry.title}\n\n{entry.text}\n\n```sh\n{code}\n```\n\n![{entry.name}]({image})\n"


def write_page(sections: list[str]) -> None:
    PAGE.write_text(
        "# Gallery\n\n"
        "Every kind of figure `neurosim plot` and `neurosim topology draw` make, from the "
        "built-in scenarios shortened with `--set` so that all of them take a few minutes "
        "(their numbers are those of short runs, not the papers'). Made by "
        "`python tools/gallery.py`; each section gives the commands that made its figure.\n\n"
        "Every axis names its unit (time in steps of the store's `time_unit`; states, targets "
        "and dz as dimensionless rates). A figure says which recorded neurons it left out "
        "(`--neurons` picks them), when it decimated a long run, and when the run did not "
        "complete (a red title: interrupted, failed, or running or killed, at step N).\n\n"
        + "\n".join(sections)
    )


def main_gallery(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="make only these figures")
    parser.add_argument("--keep", type=Path, help="keep the run stores in this folder")
    options = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        runs = options.keep or Path(temporary)
        runs.mkdir(parents=True, exist_ok=True)
        for entry in ENTRIES:
            if options.only and entry.name not in options.only:
                continue
            started = time.monotonic()
            make(entry, runs)
            print(f"{entry.name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    write_page([section(entry) for entry in ENTRIES])
    return 0


if __name__ == "__main__":
    sys.exit(main_gallery())
