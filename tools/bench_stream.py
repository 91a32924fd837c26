"""Benchmark long continual-learning streams: peak memory against the stream's length, and
samples/s against the bare simulator.

For each stream (the toy one-hot tasks of ``scenarios/recurring_patterns.toml``, endless, and
split MNIST of ``scenarios/split_mnist.toml``, endless) and each length, a fresh process runs
``neurosim run`` on that many samples into a temporary store (recording, probes, metrics,
checkpoints: everything a user's run does) and reports its peak resident memory
(``os.wait4``'s ``ru_maxrss``) and samples/s (the run's own ``samples_per_second`` metric, its
stream time without start-up). In the same run, a baseline process shows the same number of
samples (the first size's) to a bare ``SyncSimulator`` on the same network and steps
(``set_input`` and ``run`` per sample, nothing recorded or measured), for the ratio.

Targets (PASS/FAIL): memory flat, peak RSS at the longest stream at most 1.25 x the shortest's;
the stream machinery costs little, samples/s at least 0.5 x the bare simulator's (the probes,
read at each block's end here, and the settling at each change of task are part of the
stream's time; a checkpoint every 100,000 samples).

    python tools/bench_stream.py                                 # toy: 10k, 100k, 1M samples
    python tools/bench_stream.py --streams split_mnist --sizes 10000,100000
    python tools/bench_stream.py --steps 5,5                     # free, clamped steps per sample

The toy stream at 1M samples takes several minutes; split MNIST needs the data
(``NEUROSIM_DATA`` or ``--data-dir``) and, at batch 1 on 784-256-10, about a millisecond per
step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "recurring_patterns": REPO_ROOT / "scenarios" / "recurring_patterns.toml",
    "split_mnist": REPO_ROOT / "scenarios" / "split_mnist.toml",
}
MEMORY_TARGET = 1.25
SPEED_TARGET = 0.5

# the bare simulator on the stream's network: the same samples' steps, nothing else
BASELINE = """
import sys, time, json
import numpy as np
sys.path.insert(0, {root!r})
from neurosim.backends.sync import SyncSimulator
from neurosim.experiments.continual.runner import network_of
from neurosim.experiments.continual.tasks import build_tasks
from neurosim.experiments.mnist.modes import MODES
from neurosim.scenario.schema import load_scenario
scenario = load_scenario({scenario!r}, overrides={overrides!r})
table = scenario.settings["experiment"]
tasks = build_tasks(table)
network, layout = network_of(scenario, tasks)
sim = SyncSimulator(network, scenario.phase_parameters[0], batch_size=1, seed=0)
schedule = tasks.schedule(table, 0)
samples = {samples}
task, item = schedule.draw(0, samples)
images = tasks.inputs(task, item, network.dtype.type)
labels = tasks.train_labels[item]
shown = MODES["supervised"](layout, images, labels, np.random.default_rng(0))
sim.set_input(shown.target[:1], shown.free_clamp)
sim.run(1)  # compiles
started = time.perf_counter()
for k in range(samples):
    sim.set_input(shown.target[k : k + 1], shown.free_clamp)
    sim.run(table["free_steps"])
    sim.set_input(shown.target[k : k + 1], shown.clamped_clamp)
    sim.run(table["clamped_steps"])
print(json.dumps({{"samples_per_second": samples / (time.perf_counter() - started)}}))
"""


def _overrides(samples: int, steps: tuple[int, int], data_dir: str | None) -> list[str]:
    settings = [
        "experiment.cycles=0",
        f"experiment.samples={samples}",
        f"experiment.free_steps={steps[0]}",
        f"experiment.clamped_steps={steps[1]}",
        "experiment.checkpoint_every=100000",
        "experiment.probe_every=0",  # probes at the blocks' ends only
    ]
    if data_dir:
        settings.append(f"experiment.data_dir={data_dir!r}")
    return settings


def _measure(command: list[str]) -> tuple[float, str]:
    """Run ``command`` in a fresh process; (its peak RSS in MiB, its stdout)."""
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            assert process.stderr is not None
            sys.exit(f"{' '.join(command)} failed: {process.stderr.read().decode().strip()}")
        output.seek(0)
        return usage.ru_maxrss / 1024, output.read()


def stream_row(name: str, samples: int, steps: tuple[int, int], data_dir: str | None) -> dict:
    """One stream of ``samples`` samples in a fresh process: peak RSS, samples/s."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stream.zarr"
        command = [sys.executable, "-m", "neurosim", "run", str(SCENARIOS[name])]
        command += [f"--set={item}" for item in _overrides(samples, steps, data_dir)]
        command += ["--out", str(out), "--quiet"]
        started = time.perf_counter()
        peak, _ = _measure(command)
        wall = time.perf_counter() - started
        code = (
            "import json, sys; from neurosim.recording import open_run; "
            f"r = open_run({str(out)!r}); "
            "print(json.dumps({k: float(r.array('metrics', k)) for k in "
            "('samples_per_second', 'samples')}))"
        )
        _, text = _measure([sys.executable, "-c", code])
        metrics = json.loads(text)
    return {"samples": samples, "peak_mib": peak, "wall_s": wall, **metrics}


def baseline_row(name: str, samples: int, steps: tuple[int, int], data_dir: str | None) -> float:
    """Samples/s of the bare simulator on the stream's network and steps."""
    code = BASELINE.format(
        root=str(REPO_ROOT),
        scenario=str(SCENARIOS[name]),
        overrides=_overrides(samples, steps, data_dir),
        samples=samples,
    )
    _, text = _measure([sys.executable, "-c", code])
    return float(json.loads(text)["samples_per_second"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="recurring_patterns", help="comma-separated")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="samples, comma-separated")
    parser.add_argument("--steps", default="10,10", help="free,clamped steps per sample")
    parser.add_argument("--data-dir", default=os.environ.get("NEUROSIM_DATA"))
    arguments = parser.parse_args(argv)
    sizes = [int(size) for size in arguments.sizes.split(",")]
    free, clamped = (int(value) for value in arguments.steps.split(","))
    verdicts = []
    print(
        f"{'stream':<20}{'samples':>10}{'peak MiB':>10}{'samples/s':>11}{'/bare':>7}{'wall s':>8}"
    )
    for name in arguments.streams.split(","):
        if name not in SCENARIOS:
            sys.exit(f"--streams: {name!r} is not one of {', '.join(SCENARIOS)}")
        bare = baseline_row(name, min(sizes), (free, clamped), arguments.data_dir)
        print(
            f"{name:<20}{min(sizes):>10,}{'-':>10}{bare:>11,.0f}{1.0:>7.2f}{'-':>8}"
            "  (bare simulator)"
        )
        rows = []
        for size in sizes:
            row = stream_row(name, size, (free, clamped), arguments.data_dir)
            rows.append(row)
            ratio = row["samples_per_second"] / bare
            print(
                f"{name:<20}{size:>10,}{row['peak_mib']:>10.0f}{row['samples_per_second']:>11,.0f}"
                f"{ratio:>7.2f}{row['wall_s']:>8.0f}",
                flush=True,
            )
        growth = rows[-1]["peak_mib"] / rows[0]["peak_mib"]
        slowest = min(row["samples_per_second"] for row in rows) / bare
        memory_ok, speed_ok = growth <= MEMORY_TARGET, slowest >= SPEED_TARGET
        verdicts += [memory_ok, speed_ok]
        print(
            f"  peak RSS {sizes[-1]:,} / {sizes[0]:,} samples: {growth:.2f} (target <= "
            f"{MEMORY_TARGET}): {'PASS' if memory_ok else 'FAIL'}; slowest samples/s / bare: "
            f"{slowest:.2f} (target >= {SPEED_TARGET}): {'PASS' if speed_ok else 'FAIL'}"
        )
    print(f"overall: {sum(verdicts)}/{len(verdicts)} targets met")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
