"""The experiment carried out: every seed trained stage by stage (pretraining epochs, then
training epochs), validated after each training epoch, then measured (settling, generation)
and tested, with its metrics, weights and checkpoints written to the run store as it goes.

``pretrain_epochs`` epochs of "selfsupervised" come before the ``epochs`` of ``mode`` (the
paper's self-supervised pretraining, then training with labels), each stage with its own
``alpha_decay`` schedule; validation follows the ``mode`` epochs only. ``scenario.seed`` is
not used: the experiment runs every seed in ``seeds`` (initial weights, training order and
simulator). The final weights of each seed are stored as weight snapshots, for the receptive
fields in the figure.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from neurosim.analysis.recognition import ReferenceClassifier
from neurosim.backends.sync import SyncSimulator
from neurosim.data import Dataset
from neurosim.experiments.mnist.checkpoints import Position, StageClock, write_checkpoint
from neurosim.experiments.mnist.evaluation import (
    confusion_matrix,
    fit_judge,
    measure_curve_point,
    measure_generation,
    measure_settling,
    predict_digits,
)
from neurosim.experiments.mnist.network import build_network
from neurosim.experiments.mnist.protocol import split_indices
from neurosim.experiments.mnist.results import Results
from neurosim.experiments.mnist.training import train_epoch, whole_batches
from neurosim.progress import RunProgress
from neurosim.recording import RunStore, stop_on_signals
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario


def carry_out(
    scenario: Scenario,
    dataset: Dataset,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
) -> RunSummary:
    """Train, validate and test every seed into ``store``, from the start or from the
    checkpoint ``saved``. A checkpoint is written after every ``checkpoint_digits`` training
    digits, after every epoch and after every seed."""
    table = scenario.settings["experiment"]
    params = scenario.phase_parameters[0]
    # every evaluation runs with the test-time model ([experiment.test_model])
    evaluation_params = scenario.test_parameters
    assert evaluation_params is not None  # the schema resolves it for every kind with TEST_MODEL
    seeds, epochs = table["seeds"], table["epochs"]
    train_indices, validation_indices = split_indices(table, dataset)
    per_digit = table["free_steps"] + table["clamped_steps"]
    usable = whole_batches(len(train_indices), table["batch_size"])
    pretrain_epochs = table["pretrain_epochs"]
    train_steps = (pretrain_epochs + epochs) * usable * per_digit
    every = table["curve_every"]
    curve_at = np.arange(every, epochs * usable + 1, every) if every else np.zeros(0, np.int64)
    results = Results(len(seeds), epochs, table["generate_samples"], curve_at)
    at = Position()
    if saved is not None:
        results.load(saved[0])
        at = Position.saved_in(*saved)
    restoring = saved is not None and "step_count" in saved[0]
    judge: ReferenceClassifier | None = None
    bar = RunProgress(
        total=len(seeds) * train_steps,
        initial=at.steps,
        unit="digit-step",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    store.checkpoint_keep = scenario.settings["record"]["checkpoint_keep"]
    with store, stop_on_signals() as stop, bar:
        for s in range(at.s, len(seeds)):
            seed = seeds[s]
            network, layout = build_network(table["hidden"], params, seed, table["topology"])
            sim = SyncSimulator(network, params, batch_size=table["batch_size"], seed=seed)
            curve_point = partial(
                measure_curve_point,
                results=results,
                s=s,
                network=network,
                params=evaluation_params,
                layout=layout,
                dataset=dataset,
                indices=validation_indices[: table["curve_digits"]],
                table=table,
                store=store,
            )
            shuffle = np.random.default_rng(seed)
            if restoring and saved is not None:  # within this seed: continue where it was
                sim.restore(saved[0])
                shuffle.bit_generator.state = json.loads(saved[1]["shuffle"])
                restoring = False
            else:
                at = Position(s, 0, 0, None, at.steps)
            # pretraining, then training: each stage with its own alpha schedule
            stages = [("selfsupervised", k) for k in range(pretrain_epochs)]
            stages += [(table["mode"], k) for k in range(epochs)]
            for stage in range(at.stage, len(stages)):
                mode, epoch = stages[stage]
                order = shuffle.permutation(train_indices) if at.order is None else at.order
                at = replace(at, stage=stage, order=order)
                clock = StageClock(store, results, sim, shuffle, at, table, per_digit)
                if stage >= pretrain_epochs and every:
                    clock.follow_curve(epoch * usable, curve_point)
                train_epoch(
                    sim,
                    layout,
                    dataset.train_images,
                    dataset.train_labels,
                    order[at.done :],
                    params=params,
                    mode=mode,
                    free_steps=table["free_steps"],
                    clamped_steps=table["clamped_steps"],
                    learn_free=table["learn_free"],
                    alpha_decay=table["alpha_decay"],
                    weight_decay=table["weight_decay"],
                    digits_seen=epoch * usable + at.done,
                    rng=shuffle,
                    stop=stop,
                    bar=bar,
                    after_batch=clock.after_batch,
                )
                clock.stop()
                at = Position(s, stage + 1, 0, None, at.steps + (usable - at.done) * per_digit)
                if stage >= pretrain_epochs:  # validation measures the training stage only
                    predicted = predict_digits(
                        network, evaluation_params, layout, dataset, validation_indices, table
                    )
                    correct = predicted == dataset.train_labels[validation_indices]
                    results.validation_accuracy[s, epoch] = correct.mean()
                    bar.set_postfix(validation=f"{correct.mean():.3f}")
                    # on disk after every epoch: a stopped run keeps its learning curve
                    results.write(store, seeds)
                write_checkpoint(store, results, sim, shuffle, at)
            measure_settling(
                results, s, network, evaluation_params, layout, dataset, validation_indices, table
            )
            if table["generate_samples"]:
                if judge is None:
                    judge = fit_judge(dataset, train_indices, validation_indices)
                measure_generation(results, s, network, evaluation_params, layout, judge, table)
            # the test set is read here, after this seed's training, and never before
            test_indices = np.arange(table["test_digits"] or len(dataset.test_labels))
            labels = dataset.test_labels[test_indices]
            predicted = predict_digits(
                network, evaluation_params, layout, dataset, test_indices, table, test=True
            )
            results.confusion[s] = confusion_matrix(labels, predicted)
            results.test_accuracy[s] = np.mean(predicted == labels)
            store.snapshot_weights(s, network.edge_weights(), network.bias)
            results.write(store, seeds)
            store.set_attribute("seeds_done", s + 1)
            at = Position(s + 1, 0, 0, None, at.steps)
            write_checkpoint(store, results, None, None, at)
    return RunSummary(store.path, at.steps, store.status, results.summary())
