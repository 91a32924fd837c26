"""Throughput of ``neurosim sweep`` on a local cluster, and its overhead per run.

Times ``neurosim run SCENARIO`` alone (a process per run, as a user would loop over points),
then a sweep of ``--runs`` points (seeds of the same scenario) with 1 and with 2 local
workers, each sweep a fresh process and a fresh folder. Prints runs per minute and, for one
worker, the sweep's time per run minus the time of ``neurosim run`` alone: what the cluster,
the scheduling and the table cost per run.

    python tools/bench_sweep.py                       # rivalry, 8 runs: about 2 minutes
    python tools/bench_sweep.py --scenario path.toml --runs 16
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "neurosim", *arguments], check=True,
                   capture_output=True, text=True)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="rivalry")
    parser.add_argument("--runs", type=int, default=8, help="runs per sweep (seeds)")
    parser.add_argument(
        "--grid", default="model.alpha=0.005", help="one point (rivalry's own alpha by default)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timings of the run alone")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        alone = [
            timed(
                [
                    "run",
                    arguments.scenario,
                    "--quiet",
                    "--overwrite",
                    "--out",
                    str(Path(folder) / "alone.zarr"),
                ]
            )
            for _ in range(arguments.repeats)
        ]
        rows = []
        for workers in (1, 2):
            out = Path(folder) / f"sweep-{workers}"
            seconds = timed(["sweep", arguments.scenario, "--grid", arguments.grid,
                             "--seeds", f"0-{arguments.runs - 1}", "--workers", str(workers),
                             "--out", str(out), "--quiet"])  # fmt: skip
            rows.append((workers, seconds))
    run_alone = statistics.median(alone)
    print(f"{arguments.scenario}: neurosim run alone {run_alone:.2f} s (median of {len(alone)})")
    print(f"{'workers':>7s} {'runs':>5s} {'wall s':>8s} {'runs/min':>9s} {'s per run':>10s}")
    for workers, seconds in rows:
        rate = 60 * arguments.runs / seconds
        print(
            f"{workers:7d} {arguments.runs:5d} {seconds:8.2f} {rate:9.1f} "
            f"{seconds / arguments.runs:10.2f}"
        )
    one_worker = rows[0][1] / arguments.runs
    print(
        f"overhead per run with 1 worker: {one_worker - run_alone:+.2f} s "
        f"({one_worker / run_alone:.2f}x neurosim run alone, startup of the cluster included)"
    )


if __name__ == "__main__":
    main()
