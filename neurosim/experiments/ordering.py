"""The aSTDP paper's data-ordering experiment (section 3.2.4, Tables 3 and 4).

Item i of ``n_items`` is the one-hot input i together with the one-hot output i. One network
per stride s (``recurrent(n_items, n_items, n_hidden)``, "Network8s" in the paper's naming)
learns the items in the cyclic order i -> i + s mod n_items, ``steps_per_item`` steps per item,
``epochs`` passes, learning all the time and the state never reset. Each item is presented as
in the paper's algorithm 2: ``free_steps`` steps with only the inputs clamped (the outputs
free), then the rest of the item with inputs and outputs clamped.

Test (``docs/toy-experiments-findings.md``, section 3): every trained network is tested on
every order at every length in ``test_steps``, on a copy of the network with learning off
(alpha 0) and a new simulator seeded with ``seed + 1000``. The test runs with the test-time
model ``[experiment.test_model]`` (any ``[model]`` keys merged over the training model, e.g.
the fake targets' ``mu``; the paper gives no test-time settings), the training model where it
is not given. Only the inputs are clamped. ``test_items + 1`` items are shown in the tested
order starting at item 0, the state never reset; the first item is a warm-up and is not
scored. An item is correct when the argmax of the output states (copy 0) at the end of its
presentation is the item.
Accuracy is the share of correct items.

A test length may be longer than ``steps_per_item`` (the findings also tested 320 steps): it
only says how long each item is held at test. ``scenario.seed`` is not used; the experiment
runs every seed in ``seeds`` (network initialisation and training simulator seeded with it).

Metrics: ``accuracy`` over (seed, network, order, test_steps), NaN for seeds not yet run (an
interrupted run keeps the seeds done); ``accuracy_mean`` and ``accuracy_sd`` over (network,
order, test_steps), mean and population sd over the seeds done; ``paper_accuracy`` over the
same dims: the paper's Tables 3 and 4, NaN where the paper gives no value (also the
``paper_value`` attribute of ``accuracy_mean``). The summary prints each mean with the paper's
value beside it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL, TEST_MODEL_KEY, Experiment
from neurosim.experiments.units import UnitCheckpoints
from neurosim.keys import Key, choice, integer, integer_list, seed_list
from neurosim.model import topology
from neurosim.model.network import CompiledNetwork, compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.progress import RunProgress
from neurosim.recording import RunReader, RunStore, StopRequest, stop_on_signals
from neurosim.registry import backend_names
from neurosim.scenario.runner import (
    RunSummary,
    create_experiment_store,
    make_simulator,
    stored_scenario,
)
from neurosim.scenario.schema import Scenario
from neurosim.streams import cyclic_order

TEST_SEED_OFFSET = 1000

# The paper's Tables 3 (160 steps per item at test) and 4 (80 steps): network -> order -> value.
PAPER_TABLES = {
    "160": {
        "Network81": {"order81": 1.00, "order83": 0.98},
        "Network83": {"order81": 0.99, "order83": 1.00},
    },
    "80": {
        "Network81": {"order81": 1.00, "order83": 0.91},
        "Network83": {"order81": 0.87, "order83": 1.00},
    },
}
PAPER_SOURCE = "aSTDP paper, section 3.2.4: Table 3 (test at 160 steps), Table 4 (at 80 steps)"


KEYS = {
    "n_items": Key(integer(2), 8, doc="Number of items (one-hot input i with one-hot output i)."),
    "n_hidden": Key(integer(1), 16, doc="Hidden neurons of each network."),
    "strides": Key(
        integer_list(1),
        [1, 3],
        doc="One network per stride s, trained on the cyclic order i -> i + s.",
    ),
    "epochs": Key(integer(1), 1000, doc="Training passes over the order."),
    "steps_per_item": Key(integer(2), 160, doc="Integration steps each item is shown in training."),
    "free_steps": Key(
        integer(0),
        80,
        doc="Steps of each item with only the input clamped, before the output is clamped too.",
    ),
    "test_steps": Key(
        integer_list(1),
        [160, 80],
        doc="Each length (steps per item) every trained network is tested at.",
    ),
    "test_items": Key(integer(1), 40, doc="Items scored per test (after one warm-up item)."),
    "seeds": Key(seed_list, [0, 1, 2, 3, 4], doc="Seeds run, each training every network anew."),
    # train on another backend than the tests (e.g. the synchronous one, to study asynchrony
    # at recall only)
    "train_backend": Key(
        choice(backend_names()),
        doc="The backend that trains (the tests run on scenario.backend); absent: "
        "scenario.backend.",
    ),
    TEST_MODEL: TEST_MODEL_KEY,
}


def _check_settings(table: dict[str, Any]) -> None:
    """The checks that involve more than one key."""
    n_items = table["n_items"]
    for k, stride in enumerate(table["strides"]):
        if stride >= n_items:
            raise ValidationError(
                f"experiment.strides[{k}] = {stride}: expected 1 .. n_items - 1 = {n_items - 1} "
                f"(stride {stride} is the order of stride {stride % n_items})"
            )
        common = math.gcd(stride, n_items)
        if common > 1:
            raise ValidationError(
                f"experiment.strides[{k}] = {stride} shares the factor {common} with "
                f"experiment.n_items = {n_items}: the order i -> i + {stride} mod {n_items} "
                f"visits only {n_items // common} of the {n_items} items; choose a stride "
                f"coprime to {n_items}"
            )
    if table["free_steps"] >= table["steps_per_item"]:
        raise ValidationError(
            f"experiment.free_steps = {table['free_steps']}: must be below "
            f"experiment.steps_per_item = {table['steps_per_item']}, so that each item has "
            "at least one step with the outputs clamped"
        )


def _labels(n_items: int, strides: list[int]) -> tuple[list[str], list[str]]:
    networks = [f"Network{n_items}{stride}" for stride in strides]
    orders = [f"order{n_items}{stride}" for stride in strides]
    return networks, orders


def _item_target(
    network: CompiledNetwork, inputs: np.ndarray, outputs: np.ndarray, item: int
) -> np.ndarray:
    target = np.zeros(network.n_neurons)
    target[inputs[item]] = 1.0
    target[outputs[item]] = 1.0
    return target


def train(
    n_items: int,
    n_hidden: int,
    stride: int,
    params: ModelParameters,
    seed: int,
    *,
    epochs: int,
    steps_per_item: int,
    free_steps: int,
    stop: StopRequest | None = None,
    bar: tqdm | None = None,
    settings: dict[str, Any] | None = None,
) -> CompiledNetwork:
    """A network trained on the items in the order i -> i + stride (algorithm 2 per item), on
    the backend ``settings`` choose (``experiment.train_backend``, else the scenario's; None:
    the synchronous one)."""
    network = compile_graph(topology.recurrent(n_items, n_items, n_hidden), params, seed=seed)
    inputs, outputs = _roles(network)
    backend = None if settings is None else settings["experiment"].get("train_backend")
    sim = make_simulator(
        settings, network, params, seed, n_items * epochs * steps_per_item, backend=backend
    )
    input_clamp = np.zeros(network.n_neurons)
    input_clamp[inputs] = 1.0
    visible_clamp = (~network.hidden).astype(float)
    targets = [_item_target(network, inputs, outputs, item) for item in range(n_items)]
    for count, item in enumerate(cyclic_order(n_items, stride, length=n_items * epochs)):
        if free_steps:
            sim.set_input(targets[item], input_clamp)
            sim.run(free_steps)
        sim.set_input(targets[item], visible_clamp)
        sim.run(steps_per_item - free_steps)
        if (count + 1) % n_items == 0:
            if bar is not None:
                bar.update(n_items * steps_per_item)
            if stop is not None:
                stop.check()
    return network


def _roles(network: CompiledNetwork) -> tuple[np.ndarray, np.ndarray]:
    roles = np.array(topology.ROLES)[network.role]
    return np.flatnonzero(roles == "input"), np.flatnonzero(roles == "output")


def accuracy_on_order(
    network: CompiledNetwork,
    params: ModelParameters,
    stride: int,
    steps: int,
    n_scored: int,
    seed: int,
    settings: dict[str, Any] | None = None,
) -> float:
    """Share of items whose output argmax is right after ``steps`` steps, inputs clamped only,
    with the test-time model ``params`` (learning off, on a copy; one unscored warm-up item
    first), on the scenario's backend (``settings`` None: the synchronous one)."""
    n_items = int(np.count_nonzero(network.role == topology.ROLES.index("input")))
    inputs, outputs = _roles(network)
    sim = make_simulator(
        settings,
        network.copy(),
        params.replace(alpha=0.0),
        seed + TEST_SEED_OFFSET,
        (n_scored + 1) * steps,
    )
    clamp = np.zeros(network.n_neurons)
    clamp[inputs] = 1.0
    correct = 0
    for position, item in enumerate(cyclic_order(n_items, stride, length=n_scored + 1)):
        target = np.zeros(network.n_neurons)
        target[inputs[item]] = 1.0
        sim.set_input(target, clamp)
        sim.run(steps)
        if position > 0:
            correct += int(np.argmax(sim.state[0, 0, outputs]) == item)
    return correct / n_scored


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    table = scenario.settings["experiment"]
    _check_settings(table)
    params = scenario.phase_parameters[0]
    # a network built before the store: its neurons and synapses describe the store
    layout = compile_graph(
        topology.recurrent(table["n_items"], table["n_items"], table["n_hidden"]), params
    )
    store = create_experiment_store(
        out,
        layout,
        scenario,
        kind="ordering",
        seeds=table["seeds"],
        overwrite=overwrite,
        train_backend=table.get("train_backend", scenario.settings["scenario"]["backend"]),
        paper_tables=PAPER_TABLES,
        paper_source=PAPER_SOURCE,
    )
    return _carry_out(scenario, store, progress, None)


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped run in the store ``out`` after the last (seed, network) unit its
    newest valid checkpoint holds; it ends with the results of the run that never stopped."""
    scenario = stored_scenario(out)
    _check_settings(scenario.settings["experiment"])
    store, arrays, attributes = RunStore.resume(out)
    return _carry_out(scenario, store, progress, (arrays, attributes))


def _carry_out(
    scenario: Scenario,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
) -> RunSummary:
    """Train and test every (seed, network) unit into ``store``, from the first or after the
    units of the checkpoint ``saved``: each unit is built afresh from its seed, so the results
    do not depend on where the run stopped."""
    table = scenario.settings["experiment"]
    params = scenario.phase_parameters[0]
    test_params = scenario.test_parameters
    assert test_params is not None  # the schema resolves it for every kind with TEST_MODEL
    n_items, strides, seeds = table["n_items"], table["strides"], table["seeds"]
    test_steps, n_scored = table["test_steps"], table["test_items"]
    networks, orders = _labels(n_items, strides)
    accuracy = np.full((len(seeds), len(strides), len(strides), len(test_steps)), np.nan)
    train_steps = n_items * table["epochs"] * table["steps_per_item"]
    test_total = len(strides) * (n_scored + 1) * sum(test_steps)
    unit_steps = train_steps + test_total
    first, steps = 0, 0
    if saved is not None:
        accuracy, first = saved[0]["accuracy"], saved[1]["units_done"]
        steps = first * unit_steps
    record = scenario.settings["record"]
    units = UnitCheckpoints(store, record.get("checkpoint_every", 0), record["checkpoint_keep"])
    bar = RunProgress(
        total=len(seeds) * len(strides) * unit_steps,
        initial=steps,
        unit="step",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    with store, stop_on_signals() as stop, bar, units.on_stop():
        for unit in range(first, len(seeds) * len(strides)):
            s, n = divmod(unit, len(strides))
            seed = seeds[s]
            network = train(
                n_items,
                table["n_hidden"],
                strides[n],
                params,
                seed,
                epochs=table["epochs"],
                steps_per_item=table["steps_per_item"],
                free_steps=table["free_steps"],
                stop=stop,
                bar=bar,
                settings=scenario.settings,
            )
            for o, order_stride in enumerate(strides):
                for t, length in enumerate(test_steps):
                    accuracy[s, n, o, t] = accuracy_on_order(
                        network,
                        test_params,
                        order_stride,
                        length,
                        n_scored,
                        seed,
                        scenario.settings,
                    )
                    bar.update((n_scored + 1) * length)
            steps += unit_steps
            if n == len(strides) - 1:  # the seed is done
                with store.metrics_together():
                    _write_metrics(store, accuracy, seeds, networks, orders, test_steps)
                store.set_attribute("seeds_done", s + 1)
            units.done(unit + 1, {"accuracy": accuracy}, {})
            stop.check()
    mean = accuracy.mean(axis=0)
    paper = paper_accuracy(networks, orders, test_steps)
    metrics = {}
    for t, length in enumerate(test_steps):
        for n, network_label in enumerate(networks):
            for o, order in enumerate(orders):
                metrics[f"accuracy_{network_label}_{order}_{length}"] = float(mean[n, o, t])
                if not np.isnan(paper[n, o, t]):
                    metrics[f"paper_accuracy_{network_label}_{order}_{length}"] = float(
                        paper[n, o, t]
                    )
    return RunSummary(store.path, steps, store.status, metrics)


def paper_accuracy(networks: list[str], orders: list[str], test_steps: list[int]) -> np.ndarray:
    """The paper's Tables 3 and 4 over (network, order, test_steps), NaN where it gives none."""
    return np.array(
        [
            [
                [
                    PAPER_TABLES.get(str(length), {}).get(network, {}).get(order, np.nan)
                    for length in test_steps
                ]
                for order in orders
            ]
            for network in networks
        ],
        dtype=float,
    )


def _write_metrics(
    store: RunStore,
    accuracy: np.ndarray,
    seeds: list[int],
    networks: list[str],
    orders: list[str],
    test_steps: list[int],
) -> None:
    done = accuracy[~np.isnan(accuracy).any(axis=(1, 2, 3))]
    coords = {"network": networks, "order": orders, "test_steps": np.array(test_steps)}
    store.write_metric(
        "accuracy",
        accuracy,
        ("seed", "network", "order", "test_steps"),
        {
            "description": "share of test items whose output argmax is the item (inputs "
            "clamped only, learning off); NaN for a seed not run",
        },
        coords={"seed": np.array(seeds), **coords},
    )
    store.write_metric(
        "accuracy_mean",
        done.mean(axis=0),
        ("network", "order", "test_steps"),
        {
            "description": f"accuracy, mean over the {len(done)} seeds done",
            "paper_value": PAPER_TABLES,
            "paper_source": PAPER_SOURCE,
        },
        coords=coords,
    )
    store.write_metric(
        "paper_accuracy",
        paper_accuracy(networks, orders, test_steps),
        ("network", "order", "test_steps"),
        {
            "description": "the paper's accuracy for this network, order and test length "
            "(Table 3: 160 steps, Table 4: 80 steps); NaN where the paper gives none",
            "paper_source": PAPER_SOURCE,
        },
        coords=coords,
    )
    store.write_metric(
        "accuracy_sd",
        done.std(axis=0),
        ("network", "order", "test_steps"),
        {"description": f"accuracy, population sd over the {len(done)} seeds done"},
        coords=coords,
    )


def plot(run: RunReader, path: Path) -> Path:
    """The experiment's figure (``ordering_figure``) saved as ``path``."""
    path = Path(path)
    ordering_figure(run).savefig(path, dpi=120)
    return path


def ordering_figure(run: RunReader) -> Figure:
    """Accuracy against test length, one panel per network: one line per order (mean ± sd over
    the seeds done, in %) and the paper's values as open markers beside them."""
    if "accuracy_mean" not in run.names("metrics"):
        raise ValidationError(f"{run.path}: no accuracy metrics yet (no seed finished)")
    mean = 100 * run.array("metrics", "accuracy_mean")
    sd = 100 * run.array("metrics", "accuracy_sd")
    networks = [str(label) for label in run.array("metrics", "network")]
    orders = [str(label) for label in run.array("metrics", "order")]
    lengths = np.array([int(length) for length in run.array("metrics", "test_steps")])
    paper = 100 * (
        run.array("metrics", "paper_accuracy")
        if "paper_accuracy" in run.names("metrics")
        else paper_accuracy(networks, orders, [int(length) for length in lengths])
    )
    seeds_done = run.attributes.get("seeds_done", "?")
    by_length = np.argsort(lengths)
    figure = Figure(figsize=(0.6 + 3.4 * len(networks), 3.4), layout="constrained")
    axes = figure.subplots(1, len(networks), squeeze=False, sharey=True)[0]
    colours = [f"C{o}" for o in range(len(orders))]
    for n, (ax, network) in enumerate(zip(axes, networks, strict=True)):
        for o, order in enumerate(orders):
            ax.errorbar(
                lengths[by_length],
                mean[n, o, by_length],
                yerr=sd[n, o, by_length],
                color=colours[o],
                marker="o",
                capsize=3,
                label=f"{order} (ours)",
            )
            known = ~np.isnan(paper[n, o])
            ax.plot(
                lengths[known],
                paper[n, o, known],
                linestyle="none",
                marker="D",
                markersize=9,
                markerfacecolor="none",
                color=colours[o],
                label=f"{order} (paper)",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths[by_length], [str(length) for length in lengths[by_length]])
        ax.set_ylim(0, 105)
        ax.set_xlabel("test steps per item", fontsize=8)
        ax.set_title(network, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)", fontsize=8)
    axes[-1].legend(fontsize=7, loc="lower right")
    figure.suptitle(
        f"data ordering: accuracy against test length, mean ± sd over {seeds_done} seeds",
        fontsize=10,
    )
    return figure


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)
