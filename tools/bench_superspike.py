"""SuperSpike's single-neuron task: trials per second on neurosim's two backends and on a plain
PyTorch implementation of the same task on the CPU.

The task is ``scenarios/superspike_single.toml``: 100 frozen Poisson inputs at 5 Hz onto one
LIF neuron, 500 ms trials of 5,000 steps, the weights learning by SuperSpike with RMaxProp.
The PyTorch version is the code a user would write after the SpyTorch tutorials: the input
raster as a tensor, a Python loop over the time steps with tensor operations over the
synapses (the same equations, constants and input spikes; float32, as such code uses). Each
is warmed up with ``--warmup`` trials, then timed over ``--trials`` trials, all on one thread;
the last column is the speed against PyTorch's, measured in the same run.

    python tools/bench_superspike.py               # about a minute
    python tools/bench_superspike.py --trials 20 --no-torch
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from neurosim.analysis.spike_distance import van_rossum
from neurosim.backends.spiking import spiking_simulator
from neurosim.experiments.superspike import build_network
from neurosim.model.spiking import SpikingNetwork
from neurosim.scenario.schema import load_scenario

SCENARIO = "scenarios/superspike_single.toml"


def neurosim_trials(network: SpikingNetwork, backend: str, warmup: int, trials: int):
    """(trials per second, the last trial's distance)."""
    simulator = spiking_simulator(backend)(network, 0)
    trial = network.targets.period
    for _ in range(warmup):
        simulator.run(trial)
    started = time.perf_counter()
    for _ in range(trials):
        start = simulator.step * network.dt
        piece = simulator.run(trial)
    seconds = time.perf_counter() - started
    return trials / seconds, van_rossum(network.targets.times, piece.spike_time - start)


def torch_trials(network: SpikingNetwork, warmup: int, trials: int):
    """The same task written with PyTorch tensors and a loop over time steps."""
    import torch

    torch.set_num_threads(1)
    neuron, rule, dt = network.neuron, network.plasticity, network.dt
    steps = round(network.targets.period / dt)
    population = network.inputs[0]
    raster = torch.zeros(steps, population.size)
    raster[np.rint(population.times / dt).astype(int), population.indices] = 1.0
    target = torch.zeros(steps)
    target[np.rint(network.targets.times / dt).astype(int)] = 1.0
    membrane_decay = math.exp(-dt / neuron.tau_membrane)
    synapse_decay = math.exp(-dt / neuron.tau_synapse)
    coupling = neuron.propagators(dt).synapse_to_membrane
    refractory_steps = round(neuron.refractory / dt)
    update_every = round(rule.update_every / dt)
    rms_decay = math.exp(-update_every * dt / rule.tau_rms)
    rise_decay = math.exp(-dt / rule.tau_rise)
    w = torch.tensor(network.weight, dtype=torch.float32)
    state = {
        "v": torch.tensor(neuron.v_rest),
        "g": torch.tensor(0.0),
        "hold": 0,
        "pre": torch.zeros_like(w),
        "psp": torch.zeros_like(w),
        "summed": torch.zeros_like(w),
        "eligibility": torch.zeros_like(w),
        "gradient": torch.zeros_like(w),
        "rms": torch.zeros_like(w),
        "rise": torch.tensor(0.0),
        "error": torch.tensor(0.0),
    }

    def trial() -> list[float]:
        s = state
        spikes = []
        for t in range(steps):
            arriving = raster[t - 1] if t > 0 else torch.zeros_like(w)  # one-step delay
            s["g"] = s["g"] + arriving @ w
            s["pre"] = s["pre"] + arriving
            fired = 0.0
            if s["hold"] > 0:
                s["hold"] -= 1
                s["g"] = s["g"] * synapse_decay
            else:
                s["v"] = (
                    neuron.v_rest + (s["v"] - neuron.v_rest) * membrane_decay + coupling * s["g"]
                )
                s["g"] = s["g"] * synapse_decay
                if s["v"] >= neuron.v_threshold:
                    s["v"] = torch.tensor(neuron.v_reset)
                    s["hold"] = refractory_steps
                    fired = 1.0
                    spikes.append((t + 1) * dt)
            wrong = target[(t + 1) % steps] - fired
            s["rise"] = s["rise"] + dt / rule.tau_rise * (wrong - s["rise"])
            s["error"] = s["error"] + dt / rule.tau_decay * (s["rise"] - s["error"])
            sigma = rule.beta / (1.0 + torch.abs(rule.beta * (s["v"] - neuron.v_threshold))) ** 2
            s["psp"] = s["psp"] * membrane_decay + coupling * s["pre"]
            s["pre"] = s["pre"] * synapse_decay
            s["summed"] = s["summed"] + s["psp"] * sigma
            s["eligibility"] = s["eligibility"] + dt / rule.tau_decay * (
                s["summed"] - s["eligibility"]
            )
            s["summed"] = s["summed"] * rise_decay
            s["gradient"] = s["gradient"] + s["eligibility"] * s["error"]
            if (t + 1) % update_every == 0:
                mean = s["gradient"] / update_every
                s["rms"] = torch.maximum(mean * mean, rms_decay * s["rms"])
                w.add_(rule.eta * mean / (torch.sqrt(s["rms"]) + rule.epsilon))
                w.clamp_(rule.w_min, rule.w_max)
                s["gradient"] = torch.zeros_like(w)
        return spikes

    with torch.no_grad():
        for _ in range(warmup):
            trial()
        started = time.perf_counter()
        for _ in range(trials):
            spikes = trial()
        seconds = time.perf_counter() - started
    return trials / seconds, van_rossum(network.targets.times, spikes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    arguments = parser.parse_args()
    network = build_network(load_scenario(SCENARIO).settings["experiment"], 0)
    rows = []
    with threadpool_limits(1):
        for backend in ("sync", "event"):
            rate, distance = neurosim_trials(network, backend, arguments.warmup, arguments.trials)
            rows.append((f"neurosim {backend}", rate, distance))
        if not arguments.no_torch:
            import torch

            rows.append((f"PyTorch {torch.__version__} (CPU, loop over steps)",
                         *torch_trials(network, arguments.warmup, arguments.trials)))  # fmt: skip
    baseline = rows[-1][1] if not arguments.no_torch else None
    print(f"SuperSpike single-neuron task, {arguments.trials} trials of 500 ms after "
          f"{arguments.warmup} warm-up trials, one thread")  # fmt: skip
    print(f"{'implementation':45s} {'trials/s':>10s} {'distance':>9s} {'x PyTorch':>10s}")
    for name, rate, distance in rows:
        ratio = f"{rate / baseline:10.1f}" if baseline else f"{'-':>10s}"
        print(f"{name:45s} {rate:10.1f} {distance:9.3f} {ratio}")


if __name__ == "__main__":
    main()
