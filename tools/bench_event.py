"""Benchmark the event-driven backend (``EventSimulator``) against the raw SimPy rate.

What it measures, all in the same run (so on the same machine, in the same state):

(1) Raw SimPy rate: 1,000 SimPy processes that do nothing but jittered timeouts
    (``yield env.timeout(1 + jitter * (2 u - 1))``, ``u`` uniform), in events/s. This is the
    ceiling of any backend that spends one SimPy event per neuron update.
(2) ``EventSimulator`` on two networks, each with default lock-step clocks (period 1, jitter 0)
    and with jittered clocks (period 1, jitter ``--jitter``), threshold 0:

    - rivalry: ``recurrent(4, 0, 8)`` (4 inputs, 8 hidden, 12 neurons);
    - sparse: ``sparse_random(n_input=50, n_output=10, n_hidden=940, in_degree=50,
      visible_density=50/940)``: every hidden neuron has 50 hidden inputs plus about 3 visible
      ones, every visible neuron about 50 hidden inputs (1,000 neurons, in-degree about 50).

    The model is the ``astdp`` preset (two copies, fake targets on the hidden neurons) in
    float64; visible neurons are clamped to fixed random 0/1 targets. Reported: neuron
    updates/s (total updates / wall time), messages/s (``messages_sent`` / wall time) and the
    ratio of updates/s to the raw SimPy rate (target: >= 1/3 on the sparse network,
    in-degree 50, PASS/FAIL per clock setting). Each configuration runs once untimed (compiling
    and warming up), then ``--repeats`` timed ``sim.run(duration)`` calls; the median is shown.
(3) Settled sparse network with threshold ``--threshold`` (jittered clocks): after
    ``--settle`` time units with the same constant input, messages per update over the timed
    calls (target: below 10 %, PASS/FAIL). The target row has fake targets off: a fake target
    is a random kick whose probability adapts to the neuron's own recent |dz|, so a network
    with fake targets never settles by design; the same run with fake targets on is shown
    beside it, without a target.

Run from the repository root (the default run takes about a minute on a 2-core machine):

    python tools/bench_event.py
    python tools/bench_event.py --repeats 5 --sparse-duration 200 --threshold 1e-2
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy

# The working tree's package is benchmarked, installed or not (`python tools/bench_event.py`).
REPO_ROOT = Path(__file__).resolve().parents[1]

SIMPY_PROCESSES = 1_000
SPARSE_SIZES = dict(n_input=50, n_output=10, n_hidden=940)
SPARSE_IN_DEGREE = 50
MIN_RATIO = 1 / 3  # updates/s over the raw SimPy rate, sparse network (in-degree 50)
MAX_MESSAGES_PER_UPDATE = 0.10  # settled sparse network, threshold > 0


@dataclass
class Row:
    """One measured configuration."""

    name: str
    neurons: int
    synapses: int
    clocks: str
    threshold: float
    fake_targets: bool
    updates: float  # per second
    messages: float  # per second
    messages_per_update: float
    target: str = ""  # "ratio" or "messages" when a target applies to this row


# ----------------------------------------------------------------------------- (1) raw SimPy


def simpy_rate(processes: int, duration: float, jitter: float, seed: int = 0) -> float:
    """Events/s of `processes` SimPy processes doing only jittered timeouts for `duration`."""
    env = simpy.Environment()
    counts = [0] * processes

    def process(index: int, rng: random.Random):
        while True:
            yield env.timeout(1.0 + jitter * (2.0 * rng.random() - 1.0))
            counts[index] += 1

    for index in range(processes):
        env.process(process(index, random.Random(seed * 1_000_003 + index)))
    start = time.perf_counter()
    env.run(until=duration)
    elapsed = time.perf_counter() - start
    return sum(counts) / elapsed


# ----------------------------------------------------------------------------- (2) neurosim


def neurosim_imports():
    if sys.path[0] != str(REPO_ROOT):
        sys.path.insert(0, str(REPO_ROOT))
    from neurosim.backends.event import EventSimulator
    from neurosim.model.network import compile_graph
    from neurosim.model.presets import load_preset
    from neurosim.model.topology import recurrent, sparse_random

    return EventSimulator, compile_graph, load_preset, recurrent, sparse_random


def build(name: str, seed: int, fake_targets: bool = True):
    """(compiled network, params) of the rivalry or the sparse network, aSTDP preset, float64
    (fake targets on unless ``fake_targets`` is False)."""
    _, compile_graph, load_preset, recurrent, sparse_random = neurosim_imports()
    params = dataclasses.replace(load_preset("astdp"), dtype="float64")
    if not fake_targets:
        params = params.replace(fake_target=dataclasses.replace(params.fake_target, enabled=False))
    if name == "rivalry":
        graph = recurrent(4, 0, 8)
    else:
        graph = sparse_random(
            **SPARSE_SIZES,
            in_degree=SPARSE_IN_DEGREE,
            visible_density=SPARSE_IN_DEGREE / SPARSE_SIZES["n_hidden"],
            seed=seed,
        )
    return compile_graph(graph, params, seed=seed), params


def make_simulator(network, params, seed: int, jitter: float, threshold: float):
    event_simulator = neurosim_imports()[0]
    sim = event_simulator(
        network, params, seed=seed, period=1.0, jitter=jitter, send_threshold=threshold
    )
    visible = ~network.hidden
    rng = np.random.default_rng(seed)
    target = np.where(visible, rng.integers(0, 2, size=network.n_neurons), 0).astype(float)
    sim.set_input(target, visible.astype(float))
    return sim


def measure(sim, duration: float, repeats: int) -> tuple[float, float, float]:
    """Median updates/s and messages/s of `repeats` run(duration) calls; messages per update
    over all of them."""
    update_rates, message_rates = [], []
    total_updates = total_messages = 0
    for _ in range(repeats):
        updates0, messages0 = int(sim.update_count.sum()), sim.messages_sent
        start = time.perf_counter()
        sim.run(duration)
        elapsed = time.perf_counter() - start
        updates = int(sim.update_count.sum()) - updates0
        messages = sim.messages_sent - messages0
        update_rates.append(updates / elapsed)
        message_rates.append(messages / elapsed)
        total_updates += updates
        total_messages += messages
    return (
        statistics.median(update_rates),
        statistics.median(message_rates),
        total_messages / max(total_updates, 1),
    )


def run_configuration(
    name: str,
    args: argparse.Namespace,
    jitter: float,
    threshold: float,
    duration: float,
    warmup: float,
    target: str,
    fake_targets: bool = True,
) -> Row:
    print(
        f"  {name}, jitter {jitter:g}, threshold {threshold:g}, fake targets "
        f"{'on' if fake_targets else 'off'}: warm-up {warmup:g}",
        end="",
        flush=True,
    )
    network, params = build(name, args.seed, fake_targets)  # fresh: the simulator learns in place
    sim = make_simulator(network, params, args.seed, jitter, threshold)
    sim.run(warmup)
    print(f", {args.repeats} x {duration:g} time units", end="", flush=True)
    updates, messages, per_update = measure(sim, duration, args.repeats)
    print(" done", flush=True)
    clocks = "lock-step" if jitter == 0 else f"1 +- {jitter:g}"
    return Row(
        name,
        network.n_neurons,
        network.n_edges,
        clocks,
        threshold,
        fake_targets,
        updates,
        messages,
        per_update,
        target,
    )


# ----------------------------------------------------------------------------- report


def print_table(raw: float, rows: list[Row]) -> list[bool]:
    header = (
        f"{'network':<8} {'neurons':>7} {'synapses':>8} {'clocks':>9} {'thresh':>6} {'fake':>4}"
        f" {'updates/s':>10} {'messages/s':>10} {'msg/upd':>7} {'/ SimPy':>7}  target"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'SimPy':<8} {SIMPY_PROCESSES:>7} {'-':>8} {'1 +- j':>9} {'-':>6} {'-':>4} {raw:>10,.0f}"
        f" {'-':>10} {'-':>7} {1.0:>7.3f}  (raw events/s, timeouts only)"
    )
    verdicts = []
    for r in rows:
        ratio = r.updates / raw
        note = ""
        if r.target == "ratio":
            passed = ratio >= MIN_RATIO
            verdicts.append(passed)
            note = f"/SimPy >= 1/3: {'PASS' if passed else 'FAIL'}"
        elif r.target == "messages":
            passed = r.messages_per_update < MAX_MESSAGES_PER_UPDATE
            verdicts.append(passed)
            note = f"msg/upd < 10 % (settled): {'PASS' if passed else 'FAIL'}"
        print(
            f"{r.name:<8} {r.neurons:>7} {r.synapses:>8} {r.clocks:>9} {r.threshold:>6g}"
            f" {'on' if r.fake_targets else 'off':>4}"
            f" {r.updates:>10,.0f} {r.messages:>10,.0f} {r.messages_per_update:>7.3f}"
            f" {ratio:>7.3f}  {note}".rstrip()
        )
    print(
        "updates/s = neuron updates / wall time, messages/s = messages sent / wall time (one\n"
        "message per sending update, fanned out to all its synapses), median of the timed calls;\n"
        "/ SimPy = updates/s over the raw SimPy rate measured above."
    )
    return verdicts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median is shown)")
    parser.add_argument(
        "--simpy-duration", type=float, default=300, help="time units of the raw SimPy run"
    )
    parser.add_argument(
        "--rivalry-duration", type=float, default=5000, help="time units per timed rivalry call"
    )
    parser.add_argument(
        "--sparse-duration", type=float, default=100, help="time units per timed sparse call"
    )
    parser.add_argument("--jitter", type=float, default=0.2, help="clock jitter (period 1)")
    parser.add_argument(
        "--threshold", type=float, default=1e-3, help="message threshold of the settled run"
    )
    parser.add_argument(
        "--settle", type=float, default=500, help="time units with constant input before (3)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"raw SimPy: {SIMPY_PROCESSES} processes, {args.simpy_duration:g} time units", flush=True)
    simpy_rate(SIMPY_PROCESSES, 10, args.jitter, args.seed)  # warm-up
    raw = statistics.median(
        simpy_rate(SIMPY_PROCESSES, args.simpy_duration, args.jitter, args.seed + k)
        for k in range(args.repeats)
    )
    print("EventSimulator (astdp preset, float64):", flush=True)
    rows = []
    for jitter in (0.0, args.jitter):
        rows.append(run_configuration("rivalry", args, jitter, 0.0, args.rivalry_duration, 100, ""))
    for jitter in (0.0, args.jitter):
        rows.append(
            run_configuration("sparse", args, jitter, 0.0, args.sparse_duration, 20, "ratio")
        )
    for fake_targets in (False, True):
        rows.append(
            run_configuration(
                "sparse",
                args,
                args.jitter,
                args.threshold,
                args.sparse_duration,
                args.settle,
                "" if fake_targets else "messages",
                fake_targets,
            )
        )
    print()
    verdicts = print_table(raw, rows)
    print()
    print(f"overall: {sum(verdicts)}/{len(verdicts)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
