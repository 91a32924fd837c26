"""The Song-Miller-Abbott STDP benchmark: neurosim's event and sync backends against Brian2.

1,000 Poisson inputs at 15 Hz onto one LIF neuron with additive all-to-all STDP, for
``--duration`` seconds of biological time (default 100, as in Brian2's example). For each
simulator it prints the wall time of the run and, separately, of compilation or build:

- neurosim: "build" is the first call of the compiled code in a fresh process (Numba loading
  or compiling its cached kernels, on a 1 ms run), then the run alone;
- Brian2 Cython target: the first short run compiles the code into a fresh cache folder;
  the run is timed after it;
- Brian2 C++ standalone (where a compiler exists): the build (code generation and
  compilation) and the run, which Brian2 reports itself.

Each Brian2 target runs in a process of its own (standalone mode cannot be left within one
process). The last column is each time against Brian2 standalone's run (and build + run).
Needs Brian2 (``pip install -e ".[brian2]"``); without it only neurosim is timed.

    python tools/bench_sma.py                 # about 2 minutes, mostly Brian2's compilers
    python tools/bench_sma.py --duration 10 --no-brian2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile

import numpy as np

BRIAN2_SCRIPT = r"""
import json, sys, tempfile, time
import brian2 as b2
target, duration, folder = sys.argv[1], float(sys.argv[2]), sys.argv[3]
if target == "standalone":
    b2.set_device("cpp_standalone", directory=folder, build_on_run=False)
else:
    b2.prefs.codegen.target = "cython"
    b2.prefs.codegen.runtime.cython.cache_dir = folder
b2.seed(0)
ms, mV, Hz = b2.ms, b2.mV, b2.Hz
gmax = 0.01
namespace = dict(taum=10 * ms, taupre=20 * ms, taupost=20 * ms, Ee=0 * mV, vt=-54 * mV,
                 vr=-60 * mV, El=-74 * mV, taue=5 * ms, gmax=gmax, dApre=0.01 * gmax,
                 dApost=-0.0105 * gmax)

def network():
    inputs = b2.PoissonGroup(1000, rates=15 * Hz)
    neuron = b2.NeuronGroup(1, '''dv/dt = (ge * (Ee - vr) + El - v) / taum : volt
                                  dge/dt = -ge / taue : 1''', threshold="v > vt",
                            reset="v = vr", method="exact", namespace=namespace)
    neuron.v = -74 * mV
    synapses = b2.Synapses(inputs, neuron, '''w : 1
        dApre/dt = -Apre / taupre : 1 (event-driven)
        dApost/dt = -Apost / taupost : 1 (event-driven)''',
        on_pre="ge += w\nApre += dApre\nw = clip(w + Apost, 0, gmax)",
        on_post="Apost += dApost\nw = clip(w + Apre, 0, gmax)", namespace=namespace)
    synapses.connect()
    synapses.w = "rand() * gmax"
    monitor = b2.SpikeMonitor(neuron)
    return b2.Network(inputs, neuron, synapses, monitor), synapses, monitor

if target == "standalone":
    net, synapses, monitor = network()
    net.run(duration * b2.second)
    start = time.perf_counter()
    b2.device.build(directory=folder, compile=True, run=True, debug=False)
    total = time.perf_counter() - start
    run = b2.device._last_run_time
    build = total - run
else:
    start = time.perf_counter()
    net, synapses, monitor = network()
    net.run(1 * ms)  # compiles every code object into the fresh cache
    build = time.perf_counter() - start
    net, synapses, monitor = network()
    start = time.perf_counter()
    net.run(duration * b2.second)
    run = time.perf_counter() - start
w = (synapses.w[:] / gmax).tolist()
print(json.dumps({"build": build, "run": run, "spikes": int(monitor.num_spikes), "w": w}))
"""


def neurosim_time(backend: str, duration_s: float) -> dict:
    """Build (the first compiled call, on 1 ms) and run times of one neurosim backend, in a
    fresh process so that nothing is compiled or loaded before."""
    code = f"""
import json, time
t0 = time.perf_counter()
from tools.bench_sma import sma_network
from neurosim.backends.spiking import spiking_simulator
simulator_class = spiking_simulator({backend!r})
network = sma_network()
simulator_class(network, seed=0).run(1.0)
build = time.perf_counter() - t0
simulator = simulator_class(network, seed=0)
t0 = time.perf_counter()
record = simulator.run({duration_s * 1e3!r})
run = time.perf_counter() - t0
print(json.dumps({{"build": build, "run": run, "spikes": int(record.spike_time.size),
                  "w": (simulator.state.w / 0.01).tolist()}}))
"""
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def sma_network():
    """The benchmark's network (scenarios/sma_stdp.toml), weights drawn with seed 0."""
    from neurosim.model.spiking import (
        LifParameters,
        Plasticity,
        PoissonInput,
        SpikingNetwork,
        all_to_all,
    )

    gmax = 0.01
    source, post = all_to_all(1000, 1)
    return SpikingNetwork(
        dt=0.1,
        neuron=LifParameters(
            tau_membrane=10.0,
            tau_synapse=5.0,
            v_rest=-74.0,
            v_reset=-60.0,
            v_threshold=-54.0,
            synapse="conductance_like",
            e_synapse=0.0,
        ),
        n_neurons=1,
        inputs=(PoissonInput(1000, 15.0),),
        synapse_source=source,
        synapse_post=post,
        weight=np.random.default_rng(0).uniform(0, gmax, 1000),
        delay=0.1,
        plasticity=Plasticity(
            "additive_stdp",
            a_plus=0.01 * gmax,
            a_minus=-0.0105 * gmax,
            tau_plus=20.0,
            tau_minus=20.0,
            w_min=0.0,
            w_max=gmax,
        ),
    )


def brian2_time(target: str, duration_s: float) -> dict | None:
    folder = tempfile.mkdtemp(prefix=f"brian2_{target}_")
    try:
        result = subprocess.run(
            [sys.executable, "-c", BRIAN2_SCRIPT, target, str(duration_s), folder],
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode != 0:
        print(f"Brian2 {target} failed: {result.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=100.0, help="biological seconds")
    parser.add_argument("--no-brian2", action="store_true", help="time neurosim only")
    arguments = parser.parse_args()
    rows = {}
    for backend in ("event", "sync"):
        rows[f"neurosim {backend}"] = neurosim_time(backend, arguments.duration)
    brian2_available = not arguments.no_brian2
    if brian2_available:
        try:
            import brian2  # noqa: F401
        except ImportError:
            print("Brian2 is not installed: timing neurosim only")
            brian2_available = False
    if brian2_available:
        if shutil.which("g++") or shutil.which("c++"):
            rows["Brian2 C++ standalone"] = brian2_time("standalone", arguments.duration)
        rows["Brian2 Cython"] = brian2_time("cython", arguments.duration)
    reference = rows.get("Brian2 C++ standalone")
    print(f"\nSong-Miller-Abbott STDP, {arguments.duration:g} s of biological time, dt 0.1 ms")
    header = f"{'simulator':24s} {'build s':>8s} {'run s':>8s} {'spikes':>7s} {'at ends':>8s}"
    if reference:
        header += f" {'run / B2 run':>13s} {'total / B2 total':>17s}"
    print(header)
    for name, row in rows.items():
        if row is None:
            continue
        weights = np.asarray(row["w"])
        ends = np.mean((weights <= 0.2) | (weights >= 0.8))
        line = f"{name:24s} {row['build']:8.2f} {row['run']:8.2f} {row['spikes']:7d} {ends:8.2f}"
        if reference:
            total = row["build"] + row["run"]
            reference_total = reference["build"] + reference["run"]
            line += f" {row['run'] / reference['run']:13.3f} {total / reference_total:17.3f}"
        print(line)
    print("'at ends': fraction of final weights within 20 % of the range of 0 or gmax")


if __name__ == "__main__":
    main()
