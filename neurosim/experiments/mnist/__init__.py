"""MNIST and Fashion-MNIST with aSTDP (aSTDP paper, section 3.1; MODEL.md's experiments table).

The network is ``layered([784, *hidden, 10])`` or, with ``topology`` "recurrent", the MSTDP
paper's layout (``recurrent(784, 10, hidden)``: visible <-> hidden, hidden all-to-all). Each
digit is shown as ``mode`` says: "supervised" (the paper's algorithm 2: the image clamped on
the inputs with the outputs free for ``free_steps`` steps, then the one-hot label clamped on
the outputs as well for ``clamped_steps`` steps), "unsupervised", "generate" or
"selfsupervised". After training, every seed is validated, measured and tested on a copy of
the network with learning off.

The package, by job: ``protocol`` (the ``[experiment]`` keys, their checks, the data split),
``network`` (the layout and the trained network of a run), ``modes`` (what each mode
clamps), ``training`` (an epoch, the learning-rate and weight decay), ``evaluation``
(prediction, settling, generation, the learning curve), ``results`` (the metrics and how
they are stored), ``checkpoints`` (resume), ``runner`` (the seeds carried out) and
``figure`` (the paper's figure). Each module's docstring gives the details of its part.
"""

from __future__ import annotations

from pathlib import Path

from neurosim import registry
from neurosim.data import load_dataset
from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.mnist.figure import plot
from neurosim.experiments.mnist.network import build_network
from neurosim.experiments.mnist.protocol import (
    KEYS,
    PAPER_ACCURACY,
    PAPER_SOURCE,
    check_settings,
    split_indices,
)
from neurosim.experiments.mnist.runner import carry_out
from neurosim.recording import RunStore
from neurosim.scenario.runner import RunSummary, create_experiment_store, stored_scenario
from neurosim.scenario.schema import Scenario


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    """Carry the experiment of ``scenario`` out into a new run store at ``out``, after every
    check that needs the data set (nothing is written where one fails)."""
    table = scenario.settings["experiment"]
    name = scenario.settings["scenario"]["backend"]
    if not registry.backend(name).batched:
        batched = [other for other in registry.backend_names() if registry.backend(other).batched]
        raise ValidationError(
            f"scenario.backend = {name!r}: the MNIST experiments (1,306 neurons and more, tens "
            "of millions of steps, in batches) need a backend that runs batches; run them on "
            f"{', '.join(batched)} (scenario.backend = {batched[0]!r} or --backend {batched[0]})"
        )
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    params = scenario.phase_parameters[0]
    check_settings(table, dataset, params.alpha)
    train_indices, _ = split_indices(table, dataset)
    # a network built before the store: its neurons and synapses describe the store
    layout_network, _ = build_network(table["hidden"], params, table["seeds"][0], table["topology"])
    store = create_experiment_store(
        out,
        layout_network,
        scenario,
        kind="mnist",
        seeds=table["seeds"],
        overwrite=overwrite,
        dataset_source=str(dataset.source),
        train_digits_used=len(train_indices),
        paper_accuracy=PAPER_ACCURACY.get(table["mode"]),
        paper_source=PAPER_SOURCE,
    )
    return carry_out(scenario, dataset, store, progress, None)


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped run in the store ``out`` from its newest valid checkpoint, with
    the settings it was started with; the result is the one the run would have given
    without the stop. The data set is checked before the store is touched."""
    scenario = stored_scenario(out)
    table = scenario.settings["experiment"]
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    check_settings(table, dataset, scenario.phase_parameters[0].alpha)
    store, arrays, attributes = RunStore.resume(out)
    return carry_out(scenario, dataset, store, progress, (arrays, attributes))


EXPERIMENT = Experiment(
    keys=KEYS, run=run, plot=plot, resume=resume, checkpoint_key="checkpoint_digits"
)
