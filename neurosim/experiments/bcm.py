"""BCM with a slow against a fast sliding threshold: ``[experiment] kind = "bcm"``.

The SuperSpike slides' part 1: Hebbian plasticity needs a rapid compensatory process. One
postsynaptic neuron receives ``inputs`` Poisson trains at ``rate`` Hz through synapses that
learn by BCM (``kernels/bcm.py``): ``dw/dt = eta x y (y - theta)``, ``tau_theta dtheta/dt =
-theta + y^2 / kappa``. One neuron per value of ``tau_theta`` (the conditions, e.g. a slow and
a fast threshold), all from the same initial weights and the same input, side by side:

- ``model = "spiking"``: a LIF neuron (``[experiment.neuron]``) on the scenario's backend, the
  rule on rates filtered with ``tau_rate`` ms (the spiking model's rule ``bcm``);
- ``model = "rate"``: a linear-threshold rate neuron ``y = max(0, sum_j w_j x_j - offset)``
  (Hz), its inputs' rates ``x`` redrawn uniformly in ``[0, 2 rate]`` every ``pattern_every``
  ms, integrated with steps of ``dt`` ms.

Every ``record_every`` ms the series ``samples`` gets the time, and per condition the output
rate (spikes over the interval, or ``y``), the weights' norm and the threshold. A condition
whose rate passes ``runaway_rate`` Hz has run away; the figure and the metrics say when.
Metrics per condition (suffix ``_tau<value>``): the rate and weight norm over the last tenth,
the highest rate, and when it ran away (NaN: never). Expected: a fast threshold holds the rate
near ``kappa``; a slow one lets it run away first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurosim.backends.spiking import spiking_simulator
from neurosim.checks import check_choice, check_number, describe
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.spiking import NEURON_KEYS
from neurosim.kernels.bcm import THRESHOLD, rate_neuron_run
from neurosim.keys import Key, allows, check_table, integer, number, text
from neurosim.model.spiking import LifParameters, Plasticity, PoissonInput, SpikingNetwork
from neurosim.progress import RunProgress
from neurosim.recording import ArraySpec, RunReader, RunStore, stop_on_signals
from neurosim.recording.location import StorePath
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario

MODELS = ("spiking", "rate")
PLASTICITY_KEYS = {
    "eta": Key(number(), 1e-7, doc="Learning rate (weight units per Hz^3 ms)."),
    "tau_rate": Key(
        number(), 100.0, doc="Time constant of the rate filter of the spiking model (ms)."
    ),
    "kappa": Key(number(), 10.0, doc="The rate the threshold holds the neuron near (Hz)."),
    "w_min": Key(number(), 0.0, doc="Lowest weight."),
    "w_max": Key(number(), 10.0, doc="Highest weight."),
}


def _tau_theta(name: str, value: Any) -> list[float]:
    """A number > 0, or a list of distinct ones"""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValidationError(f"{name} = {describe(value)}: expected one or more times (ms)")
    checked = [
        check_number(f"{name}[{k}]", item, 0.0, low_open=True) for k, item in enumerate(values)
    ]
    if len(set(checked)) != len(checked):
        raise ValidationError(f"{name} = {describe(value)}: a value repeats; give each once")
    return checked


@allows("a table of BCM keys", PLASTICITY_KEYS)
def _plasticity(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, PLASTICITY_KEYS)
    Plasticity(rule="bcm", **checked, where=name)  # kappa, tau_rate > 0 and the bounds
    return checked


@allows("a table of LIF neuron keys", NEURON_KEYS)
def _neuron(name: str, value: Any) -> dict[str, Any]:
    checked = check_table(name, value, NEURON_KEYS)
    LifParameters(**checked, where=name)
    return checked


KEYS = {
    "model": Key(
        allows(f"one of {', '.join(MODELS)}")(
            lambda name, value: check_choice(name, text(name, value), MODELS)
        ),
        "spiking",
        doc="The neuron: a LIF neuron on the scenario's backend, or a linear-threshold rate "
        "neuron.",
    ),
    "duration": Key(number(), required=True, doc="Biological time simulated (ms)."),
    "dt": Key(number(), 0.1, doc="Time step (ms)."),
    "inputs": Key(integer(1), 100, doc="Number of Poisson inputs."),
    "rate": Key(number(), 10.0, doc="Mean input rate (Hz)."),
    "weight_low": Key(
        number(), 0.0, doc="Initial weights drawn uniformly from [weight_low, weight_high]."
    ),
    "weight_high": Key(number(), 1.0, doc="Upper end of the initial weights."),
    "delay": Key(number(), 0.1, doc="Delay of the input synapses (ms; spiking model)."),
    "tau_theta": Key(
        _tau_theta,
        required=True,
        doc="Time constant of the sliding threshold (ms), one condition (one neuron) per value.",
    ),
    "plasticity": Key(_plasticity, {}, doc="The BCM rule's parameters."),
    "neuron": Key(_neuron, {}, doc="The LIF neuron's parameters (spiking model)."),
    "offset": Key(number(), 0.0, doc="Rate model: y = max(0, sum_j w_j x_j - offset) (Hz)."),
    "pattern_every": Key(
        number(0.0),
        50.0,
        doc="Rate model: the inputs' rates are redrawn every this many ms (at most once a step).",
    ),
    "record_every": Key(number(), 500.0, doc="Time between recorded samples (ms)."),
    "runaway_rate": Key(
        number(), 100.0, doc="A condition whose rate passes this has run away (Hz)."
    ),
}


def _condition(tau: float) -> str:
    return f"tau{tau:g}"


def _initial_weights(settings: dict[str, Any], seed: int) -> np.ndarray:
    low, high = settings["weight_low"], settings["weight_high"]
    if low > high:
        raise ValidationError(
            f"experiment.weight_low = {low:g} is above experiment.weight_high = {high:g}"
        )
    return np.random.default_rng(seed).uniform(low, high, settings["inputs"])


def _spiking_network(
    settings: dict[str, Any], tau_theta: float, weight: np.ndarray
) -> SpikingNetwork:
    n = settings["inputs"]
    return SpikingNetwork(
        dt=check_number("experiment.dt", settings["dt"], 0.0, low_open=True),
        neuron=LifParameters(**settings["neuron"], where="experiment.neuron"),
        n_neurons=1,
        inputs=(PoissonInput(n, settings["rate"], where="experiment.inputs"),),
        synapse_source=np.arange(n),
        synapse_post=np.zeros(n, dtype=np.int64),
        weight=weight,
        delay=settings["delay"],
        plasticity=Plasticity(
            rule="bcm", tau_theta=tau_theta, **settings["plasticity"], where="experiment.plasticity"
        ),
        where="experiment",
    )


def run(scenario: Scenario, out: StorePath, overwrite: bool, progress: bool) -> RunSummary:
    settings = scenario.settings
    table_ = settings["experiment"]
    seed = settings["scenario"]["seed"]
    taus = table_["tau_theta"]
    weight = _initial_weights(table_, seed)
    dt = check_number("experiment.dt", table_["dt"], 0.0, low_open=True)
    # at least one step: record_every >= dt
    every = round(check_number("experiment.record_every", table_["record_every"], dt) / dt)
    total = round(check_number("experiment.duration", table_["duration"], dt) / dt)
    if table_["model"] == "spiking":
        networks = [_spiking_network(table_, tau, weight) for tau in taus]
        backend = settings["scenario"]["backend"]
        simulators = [spiking_simulator(backend)(network, seed) for network in networks]
    n_in, n = table_["inputs"], len(taus)
    store = RunStore.create(
        out,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": seed,
            "dt_ms": dt,
            "conditions": [_condition(tau) for tau in taus],
        },
        neurons={
            "role": np.array(["input"] * n_in + ["output"] * n),
            "layer": np.array([0] * n_in + [1] * n),
            "name": np.array([f"input{k}" for k in range(n_in)] + [_condition(t) for t in taus]),
        },
        arrays={},
        recorded_neurons=np.empty(0, np.int64),
        edge_src=np.tile(np.arange(n_in), n),
        edge_dst=np.repeat(np.arange(n) + n_in, n_in),
        overwrite=overwrite,
        series={
            "samples": {
                "time": ArraySpec(("sample",), (0,), "float64"),
                "rate": ArraySpec(("sample", "condition"), (0, n), "float64"),
                "weight_norm": ArraySpec(("sample", "condition"), (0, n), "float64"),
                "theta": ArraySpec(("sample", "condition"), (0, n), "float64"),
            }
        },
        time_unit=f"{dt:g} ms",
    )
    bar = RunProgress(total=total, unit="step", unit_scale=True, delay=2.0, disable=not progress)
    with store, stop_on_signals() as stop, bar:
        if table_["model"] == "rate":
            samples = _rate_model(table_, taus, weight, dt, every, total, seed)
            weights = samples.pop("final_weights")
            for row in range(samples["time"].size):
                store.append_series(
                    "samples", {key: values[row : row + 1] for key, values in samples.items()}
                )
            bar.update(total)
        else:
            done = 0
            while done < total:
                stop.check()
                chunk = min(every, total - done)
                rates, norms, thetas = [], [], []
                for simulator in simulators:
                    piece = simulator.run(chunk * dt)
                    rates.append(piece.spike_time.size / (chunk * dt * 1e-3))
                    norms.append(float(np.linalg.norm(simulator.state.w)))
                    thetas.append(float(simulator.state.neuron_state[0, THRESHOLD]))
                done += chunk
                store.append_series("samples", {
                    "time": np.array([done * dt]), "rate": np.array([rates]),
                    "weight_norm": np.array([norms]), "theta": np.array([thetas]),
                })  # fmt: skip
                bar.update(chunk)
            weights = np.concatenate([simulator.state.w for simulator in simulators])
        store.snapshot_weights(total, weights, np.zeros(n_in + n))
        store.steps_simulated = total
        store.flush()
        metrics = _metrics(store, taus, table_["runaway_rate"])
    return RunSummary(store.path, total, "complete", metrics)


def _rate_model(
    settings: dict[str, Any],
    taus: list[float],
    weight: np.ndarray,
    dt: float,
    every: int,
    total: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The rate neuron of each condition over the whole run (``kernels/bcm.py``)."""
    rule = settings["plasticity"]
    pattern_steps = max(1, round(settings["pattern_every"] / dt))
    rng = np.random.default_rng([seed, 1])
    patterns = rng.uniform(0.0, 2.0 * settings["rate"], (-(-total // pattern_steps), weight.size))
    rows = total // every
    samples = {
        "time": np.arange(1, rows + 1) * every * dt,
        "rate": np.empty((rows, len(taus))),
        "weight_norm": np.empty((rows, len(taus))),
        "theta": np.empty((rows, len(taus))),
    }
    finals = []
    for k, tau in enumerate(taus):
        w = weight.copy()
        rates, norms, thetas = rate_neuron_run(
            patterns, pattern_steps, w, settings["offset"], rule["eta"], rule["kappa"],
            float(np.exp(-dt / tau)), dt, rule["w_min"], rule["w_max"], total, every,
        )  # fmt: skip
        samples["rate"][:, k], samples["weight_norm"][:, k], samples["theta"][:, k] = (
            rates, norms, thetas,
        )  # fmt: skip
        finals.append(w)
    samples["final_weights"] = np.concatenate(finals)
    return samples


def _metrics(store: RunStore, taus: list[float], runaway_rate: float) -> dict[str, float]:
    from neurosim.recording import open_run

    samples = open_run(store.path).series("samples")
    tail = max(1, samples["time"].size // 10)
    scalars, descriptions = {}, {}
    for k, tau in enumerate(taus):
        suffix = f"_{_condition(tau)}"
        rate = samples["rate"][:, k]
        above = np.flatnonzero(rate > runaway_rate)
        values = {
            "final_rate": (float(rate[-tail:].mean()), "output rate over the last tenth (Hz)"),
            "final_weight_norm": (
                float(samples["weight_norm"][-tail:, k].mean()),
                "norm of the weights over the last tenth",
            ),
            "max_rate": (float(rate.max()), "highest output rate of a sample (Hz)"),
            "runaway_time": (
                float(samples["time"][above[0]]) if above.size else float("nan"),
                "when the rate first passed runaway_rate (ms; NaN: never)",
            ),
        }
        for name, (value, description) in values.items():
            scalars[f"{name}{suffix}"] = value
            descriptions[f"{name}{suffix}"] = f"{description}, tau_theta = {tau:g} ms"
    with store.metrics_together():
        for name, value in scalars.items():
            store.write_metric(name, value, (), {"description": descriptions[name]})
    return scalars


def bcm_figure(run: RunReader) -> Figure:
    """The output rate (with ``kappa``, the fast threshold's fixed point) and the weights'
    norm over time, one line per threshold time constant."""
    if "samples" not in run.series_names() or not len(run.series("samples")["time"]):
        raise ValidationError(f"{run.path}: no samples recorded yet")
    settings = run.attributes["scenario"]["experiment"]
    samples = run.series("samples")
    seconds = samples["time"] * 1e-3
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    for k, tau in enumerate(settings["tau_theta"]):
        label = f"tau_theta = {tau / 1000:g} s"
        left.plot(seconds, samples["rate"][:, k], label=label)
        right.plot(seconds, samples["weight_norm"][:, k], label=label)
    kappa = settings["plasticity"].get("kappa", PLASTICITY_KEYS["kappa"].default)
    left.axhline(kappa, color="grey", linestyle=":", label=f"kappa = {kappa:g} Hz")
    left.set(xlabel="time (s)", ylabel="output rate (Hz)", title="postsynaptic rate")
    right.set(xlabel="time (s)", ylabel="|w|", title="norm of the weights")
    left.legend(fontsize="small")
    name = run.attributes["scenario"]["scenario"]["name"]
    figure.suptitle(f"{name}: BCM, {settings['model']} neuron ({run.attributes['backend']})")
    return figure


def plot(run: RunReader, path: Path) -> Path:
    """Write ``bcm_figure(run)`` to ``path`` as a PNG."""
    bcm_figure(run).savefig(path, dpi=100)
    return Path(path)


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot)
