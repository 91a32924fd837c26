"""Run the full MNIST experiments and write a Markdown table of measured figures beside the
papers' figures.

Each experiment is one scenario file under ``scenarios/``, run by ``neurosim run`` in a child
process (so that its peak memory is its own: ``resource.getrusage(RUSAGE_CHILDREN)``). The
table gives, per experiment: the test accuracy on the scenario's test digits (the full 10,000
unless the scenario says otherwise), the papers' figure and the target, seeds, epochs,
training digits, wall time and peak memory; below it, the learning curve of each run that
measured one (``experiment.curve_every``). A scenario file that does not exist yet is listed
as "not built"; a run that fails is listed with its exit code.

    python tools/reproduce_mnist.py                         # every experiment, about hours
    python tools/reproduce_mnist.py --only supervised --out docs/mnist-results.md
    python tools/reproduce_mnist.py --set experiment.epochs=1   # a quick pass of every one

Needs the real data (``NEUROSIM_DATA`` or ``--data-dir``, see ``neurosim data check``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Experiment:
    """One row of the table: a scenario and the figures to compare with."""

    name: str
    scenario: str  # under scenarios/
    paper: str
    target: str


EXPERIMENTS = (
    Experiment("supervised", "mnist_astdp_supervised.toml", "92% (aSTDP paper)", ">= 97%"),
    Experiment("unsupervised", "mnist_astdp_unsupervised.toml", "91% (aSTDP paper)", ">= 95%"),
    Experiment("selfsupervised", "mnist_astdp_selfsupervised.toml", "92% (aSTDP paper)", ">= 95%"),
    Experiment("mstdp", "mnist_mstdp.toml", "96% on 500 digits (MSTDP paper)", ">= 97%"),
    Experiment("depth", "mnist_depth.toml", "96 / 95 / 93% (1 / 2 / 3 hidden)", ">= 96%"),
    Experiment("generate", "mnist_generate.toml", "recognisable digits", ">= 90% recognised"),
    Experiment("fashion", "fashion_astdp_supervised.toml", "none", ">= 86%"),
)


def _metrics(store: Path) -> dict[str, object]:
    """The scalar metrics (per-seed ones as their mean) and the settings of a finished run
    store."""
    sys.path.insert(0, str(REPO_ROOT))
    from neurosim.recording import open_run

    run = open_run(store)
    values: dict[str, object] = {"status": run.status}
    for name in run.names("metrics"):
        array = run.array("metrics", name)
        if array.ndim == 0:
            values[name] = array.item()
        elif run.dims("metrics", name) == ("seed",) and array.dtype.kind == "f":
            values[name] = float(array.mean())  # the mean over seeds
    if "learning_curve" in run.names("metrics"):
        digits = run.array("metrics", "digits")
        points = run.array("metrics", "learning_curve").mean(axis=0)
        values["learning_curve"] = list(zip(digits.tolist(), points.tolist(), strict=True))
    values["experiment"] = run.attributes["scenario"].get("experiment", {})
    return values


def _run(experiment: Experiment, arguments: argparse.Namespace) -> dict[str, object]:
    scenario = REPO_ROOT / "scenarios" / experiment.scenario
    if not scenario.exists():
        return {"status": "not built"}
    store = Path(arguments.runs) / f"{scenario.stem}.zarr"
    command = [sys.executable, "-m", "neurosim", "run", str(scenario), "--out", str(store)]
    command += ["--overwrite", "--quiet"]
    for setting in arguments.set or []:
        command += ["--set", setting]
    environment = dict(os.environ)
    if arguments.data_dir:
        environment["NEUROSIM_DATA"] = arguments.data_dir
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
    )
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    finished = subprocess.run(command, env=environment, check=False)
    wall = time.perf_counter() - started
    # ru_maxrss of the children is the largest of them all: a run that uses less than an
    # earlier one shows the earlier figure, so it is marked as an upper bound
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    row: dict[str, object] = {"wall_s": wall, "peak_mib": peak / 1024}
    row["peak_is_bound"] = peak == before
    if finished.returncode != 0:
        return row | {"status": f"failed (exit {finished.returncode})"}
    return row | _metrics(store)


def _cell(value: object, form: str = "{:.1%}") -> str:
    return "-" if value is None else form.format(value)


def _table(rows: list[tuple[Experiment, dict[str, object]]]) -> str:
    header = (
        "| experiment | test accuracy | papers | target | seeds | epochs | training digits "
        "| wall time | peak memory | status |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for experiment, row in rows:
        settings = row.get("experiment", {})
        assert isinstance(settings, dict)
        peak = row.get("peak_mib")
        memory = "-" if peak is None else f"{'<= ' if row.get('peak_is_bound') else ''}"
        memory += "" if peak is None else f"{peak:,.0f} MiB"
        cells = [
            experiment.name,
            _cell(row.get("test_accuracy")),
            experiment.paper,
            experiment.target,
            str(settings.get("seeds", "-")),
            str(settings.get("epochs", "-")),
            str(settings.get("train_digits", "-") or "all"),
            _cell(row.get("wall_s"), "{:,.0f} s"),
            memory,
            str(row["status"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    curves = [
        f"- {experiment.name}: "
        + ", ".join(f"{digits:,}: {accuracy:.1%}" for digits, accuracy in row["learning_curve"])
        for experiment, row in rows
        if isinstance(row.get("learning_curve"), list)
    ]
    if curves:
        lines += [
            "",
            "Learning curves (training digits: accuracy on the scenario's curve_digits "
            "validation digits, mean over seeds):",
            *curves,
        ]
    return header + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", choices=[e.name for e in EXPERIMENTS], help="these experiments"
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="for every run")
    parser.add_argument("--data-dir", help="where the data sets are (else NEUROSIM_DATA)")
    parser.add_argument("--runs", default="runs", help="folder of the run stores")
    parser.add_argument("--out", default="mnist-results.md", help="the Markdown table")
    arguments = parser.parse_args(argv)
    chosen = [e for e in EXPERIMENTS if arguments.only is None or e.name in arguments.only]
    rows = []
    for experiment in chosen:
        print(f"== {experiment.name}: scenarios/{experiment.scenario}", flush=True)
        rows.append((experiment, _run(experiment, arguments)))
        Path(arguments.out).write_text(_table(rows))  # after every run: nothing measured is lost
    print(_table(rows))
    print(f"wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
