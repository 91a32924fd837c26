"""Benchmark MNIST training with aSTDP on 784-512-10: training digits per second and peak memory.

For each batch size (default 1 and 128) a fresh process trains on ``--digits`` training digits
of the real MNIST (``NEUROSIM_DATA`` or ``--data-dir``) with algorithm 2 (``--free-steps`` then
``--clamped-steps`` per digit), after one warm-up batch that also compiles, and reports digits/s,
steps/s and its peak resident memory (``resource.getrusage``, so each batch size runs in its own
process). ``--to-accuracy 0.95`` also trains (at the first batch size) until the validation
accuracy first reaches each goal (a comma-separated list), evaluating on the validation split
every ``--eval-every`` digits, and reports the digits and training seconds each took (None
for a goal not reached within ``--max-digits``) and the best validation accuracy seen (long:
many minutes).

    python tools/bench_mnist.py
    python tools/bench_mnist.py --batch-sizes 16 --to-accuracy 0.85,0.9,0.95 --max-digits 110000

Model, learning-rate decay and weight decay: those of ``scenarios/mnist_astdp_supervised.toml``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from neurosim.backends.sync import SyncSimulator  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.experiments.mnist.evaluation import predict  # noqa: E402
from neurosim.experiments.mnist.network import build_network  # noqa: E402
from neurosim.experiments.mnist.training import train_epoch  # noqa: E402
from neurosim.scenario.schema import load_scenario  # noqa: E402

SCENARIO = REPO_ROOT / "scenarios" / "mnist_astdp_supervised.toml"


def _setup(arguments: argparse.Namespace, batch_size: int):
    scenario = load_scenario(SCENARIO)
    params = scenario.phase_parameters[0]
    arguments.alpha_decay = scenario.settings["experiment"]["alpha_decay"]
    arguments.weight_decay = scenario.settings["experiment"]["weight_decay"]
    dataset = load_dataset("mnist", arguments.data_dir)
    train, validation = dataset.split(5000, 0)
    network, layout = build_network([512], params, 0)
    sim = SyncSimulator(network, params, batch_size=batch_size, seed=0, threads=arguments.threads)
    return params, dataset, train, validation, network, layout, sim


def _train(sim, layout, dataset, order, arguments, params, digits_seen: int = 0) -> None:
    """Algorithm 2 over ``order``, alpha and the weights decayed as the full scenario decays
    them."""
    train_epoch(
        sim,
        layout,
        dataset.train_images,
        dataset.train_labels,
        order,
        mode="supervised",
        free_steps=arguments.free_steps,
        clamped_steps=arguments.clamped_steps,
        learn_free=True,
        params=params,
        alpha_decay=arguments.alpha_decay,
        weight_decay=arguments.weight_decay,
        digits_seen=digits_seen,
    )


def measure(arguments: argparse.Namespace, batch_size: int) -> dict[str, float]:
    """Digits/s of training at ``batch_size`` and this process's peak memory."""
    params, dataset, train, _, _, layout, sim = _setup(arguments, batch_size)
    order = np.random.default_rng(0).permutation(train)
    # warm-up and compilation
    _train(sim, layout, dataset, order[:batch_size], arguments, params)
    digits = max(batch_size, arguments.digits - arguments.digits % batch_size)
    started = time.perf_counter()
    _train(
        sim, layout, dataset, order[batch_size : batch_size + digits], arguments, params, batch_size
    )
    elapsed = time.perf_counter() - started
    steps = arguments.free_steps + arguments.clamped_steps
    return {
        "batch_size": batch_size,
        "digits": digits,
        "seconds": elapsed,
        "digits_per_s": digits / elapsed,
        "steps_per_s": digits * steps / batch_size / elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def time_to_accuracy(arguments: argparse.Namespace, batch_size: int) -> dict[str, object]:
    """Digits and training seconds until the validation accuracy first reaches each goal of
    ``--to-accuracy`` (None for a goal not reached within ``--max-digits``), and the best
    validation accuracy seen."""
    params, dataset, train, validation, network, layout, sim = _setup(arguments, batch_size)
    rng = np.random.default_rng(0)
    order = np.concatenate(
        [rng.permutation(train) for _ in range(-(-arguments.max_digits // len(train)))]
    )
    goals = sorted(arguments.to_accuracy)
    reached: dict[float, dict[str, float] | None] = dict.fromkeys(goals)
    seen, training, best, best_at = 0, 0.0, 0.0, 0
    while seen < arguments.max_digits and reached[goals[-1]] is None:
        started = time.perf_counter()
        chunk = order[seen : seen + arguments.eval_every]
        _train(sim, layout, dataset, chunk, arguments, params, seen)
        training += time.perf_counter() - started
        seen += arguments.eval_every
        predicted = predict(
            network,
            params,
            layout,
            dataset.train_images,
            validation,
            steps=40,
            batch_size=1000,
            seed=0,
        )
        accuracy = float(np.mean(predicted == dataset.train_labels[validation]))
        if accuracy > best:
            best, best_at = accuracy, seen
        for goal in goals:
            if reached[goal] is None and accuracy >= goal:
                reached[goal] = {"digits": seen, "train_seconds": round(training, 1)}
        print(f"  {seen} digits, {training:.0f} s training: validation {accuracy:.4f}", flush=True)
    return {
        "reached": {f"{goal:g}": value for goal, value in reached.items()},
        "best_validation_accuracy": best,
        "best_at_digits": best_at,
        "digits_trained": seen,
        "train_seconds": round(training, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="1,128")
    parser.add_argument("--digits", type=int, default=1024, help="timed training digits")
    parser.add_argument("--free-steps", type=int, default=20)
    parser.add_argument("--clamped-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--to-accuracy",
        type=lambda text: [float(goal) for goal in text.split(",")],
        default=None,
        help="validation accuracy goals, e.g. 0.85,0.9,0.95",
    )
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--max-digits", type=int, default=110000)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one is not None:
        print(json.dumps(measure(arguments, arguments.one)))
        return 0
    sizes = [int(size) for size in arguments.batch_sizes.split(",")]
    print(f"{'B':>5} {'digits/s':>10} {'steps/s':>10} {'peak MiB':>10}")
    # one process per batch size, so that each peak memory is its own
    passed = [
        f"--{name.replace('_', '-')}={getattr(arguments, name)}"
        for name in ("digits", "free_steps", "clamped_steps", "threads")
    ] + ([f"--data-dir={arguments.data_dir}"] if arguments.data_dir else [])
    for size in sizes:
        child = subprocess.run(
            [sys.executable, __file__, *passed, "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{size:>5} {row['digits_per_s']:>10.1f} {row['steps_per_s']:>10.1f} "
            f"{row['peak_rss_mib']:>10.0f}"
        )
    if arguments.to_accuracy is not None:
        goals = ", ".join(f"{goal:.0%}" for goal in arguments.to_accuracy)
        print(f"time to {goals} validation accuracy at B = {sizes[0]} (None: not reached):")
        print(json.dumps(time_to_accuracy(arguments, sizes[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
