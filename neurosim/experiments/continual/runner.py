"""A continual-learning stream carried out: every sample predicted, then learned; the probes
read every ``probe_every`` samples and at every block's end; settling measured at every change
of task; all of it appended to the run store as the stream goes, and checkpoints written.

A sample (a batch of ``batch_size``) is shown as the MNIST experiment's supervised mode shows a
digit: ``free_steps`` steps with only the input clamped, at whose end the output states give
the prediction (before the label is shown: prequential), then ``clamped_steps`` steps with the
one-hot label clamped too. The network learns in both parts (``learn_free``) and is never
reset. Probes and settling run on a copy with learning off and the test-time model, so they
do not change what the stream learns.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from tqdm import tqdm

from neurosim.analysis.continual import TRANSFER_METRICS, RollingAccuracy, TransferTracker
from neurosim.backends.sync import SyncSimulator
from neurosim.experiments.continual.tasks import TaskSet
from neurosim.experiments.mnist.evaluation import relaxed_states, settling
from neurosim.experiments.mnist.modes import MODES
from neurosim.experiments.mnist.network import Layout, build_network
from neurosim.experiments.mnist.training import show_batch, weight_decay_factor
from neurosim.model.network import CompiledNetwork
from neurosim.progress import RunProgress
from neurosim.recording import RunInterrupted, RunStore, StopRequest, open_run, stop_on_signals
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario
from neurosim.streams.tasks import TaskSchedule


def network_of(scenario: Scenario, tasks: TaskSet) -> tuple[CompiledNetwork, Layout]:
    """The stream's network, its initial weights drawn from ``scenario.seed``."""
    table = scenario.settings["experiment"]
    return build_network(
        table["hidden"],
        scenario.phase_parameters[0],
        scenario.settings["scenario"]["seed"],
        table["topology"],
        n_input=tasks.n_inputs,
        n_output=tasks.n_outputs,
    )


class Stream:
    """The run's state: the simulator and everything the metrics carry from sample to sample
    (what a checkpoint holds)."""

    def __init__(
        self,
        scenario: Scenario,
        tasks: TaskSet,
        store: RunStore,
        network: tuple[CompiledNetwork, Layout] | None = None,
    ) -> None:
        self.table = scenario.settings["experiment"]
        self.seed = scenario.settings["scenario"]["seed"]
        self.params = scenario.phase_parameters[0]
        assert scenario.test_parameters is not None  # the kind declares TEST_MODEL
        self.evaluation_params = scenario.test_parameters
        self.tasks, self.store = tasks, store
        self.network, self.layout = network or network_of(scenario, tasks)
        self.sim = SyncSimulator(
            self.network, self.params, batch_size=self.table["batch_size"], seed=self.seed
        )
        self.schedule: TaskSchedule = tasks.schedule(self.table, self.seed)
        self.total = self.table["samples"] or self.schedule.n_samples
        assert self.total is not None  # an endless schedule needs `samples` (protocol)
        self.position = 0
        self.trained = np.zeros(tasks.n_tasks, dtype=np.int64)
        self.correct_total = 0
        self.tracker = TransferTracker(tasks.n_tasks)
        self.rolling = RollingAccuracy(self.table["prequential_window"])
        self.wall_time = 0.0
        self.last_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------------------------
    # checkpoints

    def saved(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = self.sim.checkpoint() | self.tracker.saved() | self.rolling.saved()
        arrays |= {
            "trained": self.trained,
            # NaN where a metric is undefined: an array, since JSON attributes hold no NaN
            "last_metrics": np.array(
                [self.last_metrics.get(name, np.nan) for name in TRANSFER_METRICS]
            ),
        }
        attributes = {
            "position": self.position,
            "correct_total": self.correct_total,
            "wall_time": self.wall_time,
        }
        return arrays, attributes

    def load(self, arrays: dict[str, np.ndarray], attributes: dict[str, Any]) -> None:
        self.sim.restore(arrays)
        self.tracker.load(arrays)
        self.rolling.load(arrays)
        self.trained = np.asarray(arrays["trained"], dtype=np.int64).copy()
        self.position = int(attributes["position"])
        self.correct_total = int(attributes["correct_total"])
        self.wall_time = float(attributes["wall_time"])
        self.last_metrics = dict(
            zip(TRANSFER_METRICS, map(float, arrays["last_metrics"]), strict=True)
        )

    def checkpoint(self) -> None:
        self.store.write_checkpoint(*self.saved())

    # ------------------------------------------------------------------------------------
    # the stream

    @property
    def steps(self) -> int:
        """Integration steps of the samples learned so far (probes and settling not counted)."""
        return self.position * (self.table["free_steps"] + self.table["clamped_steps"])

    def current_task(self) -> int:
        """The task of the block the stream is in (of the block just ended, at its end)."""
        if self.position == 0:
            return -1
        return self.schedule.block_task((self.position - 1) // self.table["samples_per_task"])

    def learn_batch(self) -> None:
        """Predict, then learn, the next batch of samples; append what was answered."""
        batch = self.table["batch_size"]
        task, item = self.schedule.draw(self.position, batch)
        dtype = self.network.dtype.type
        images = self.tasks.inputs(task, item, dtype)
        labels = self.tasks.train_labels[item]
        shown = MODES["supervised"](self.layout, images, labels, np.random.default_rng(0))
        answered = show_batch(
            self.sim,
            shown,
            self.params,
            self.table["free_steps"],
            self.table["clamped_steps"],
            self.table["learn_free"],
        )
        assert answered is not None  # free_steps >= 1 (protocol)
        if self.table["weight_decay"]:
            self.sim.scale_weights(
                weight_decay_factor(
                    self.table["weight_decay"],
                    self.params.alpha,
                    self.table["free_steps"],
                    self.table["clamped_steps"],
                    self.table["learn_free"],
                )
            )
        predicted = self.tasks.answer(
            answered[:, self.layout.outputs], task, self.table["evaluation"]
        )
        correct = predicted == labels
        self.store.append_series(
            "samples",
            {
                "task": task.astype(np.int16),
                "label": labels.astype(np.int16),
                "prediction": predicted.astype(np.int16),
                "correct": correct,
                "prequential_accuracy": self.rolling.update(correct).astype(np.float32),
            },
        )
        self.trained += np.bincount(task, minlength=self.tasks.n_tasks)
        self.correct_total += int(correct.sum())
        self.position += batch

    def probe(self, block_end: bool) -> None:
        """Read every task's probes (learning off, test-time model) and append the row."""
        table, tasks = self.table, self.tasks
        states = relaxed_states(
            self.network,
            self.evaluation_params,
            self.layout,
            tasks.probe_images,
            np.arange(len(tasks.probe_labels)),
            steps=table["test_steps"],
            batch_size=table["eval_batch_size"],
            seed=self.seed,
        )
        outputs = np.concatenate([rows[:, self.layout.outputs] for rows in states])
        predicted = tasks.answer(outputs, tasks.probe_tasks, table["evaluation"])
        hits = predicted == tasks.probe_labels
        accuracy = np.bincount(tasks.probe_tasks, hits, tasks.n_tasks) / np.bincount(
            tasks.probe_tasks, minlength=tasks.n_tasks
        )
        metrics = self.tracker.row(accuracy, self.trained > 0, self.current_task(), block_end)
        self.last_metrics = metrics
        self.store.append_series(
            "probes",
            {
                "sample": np.array([self.position], dtype=np.int64),
                "block_end": np.array([block_end]),
                "accuracy": accuracy[None].astype(np.float32),
                "prediction": predicted[None].astype(np.int16),
                **{name: np.array([value], np.float32) for name, value in metrics.items()},
            },
        )

    def measure_settling(self, previous_task: int, task: int) -> None:
        """Steps to settle on ``task``'s probes, each shown after one of ``previous_task``'s,
        with the fake targets off (with them on nothing settles; MNIST's settling)."""
        count = self.table["settle_samples"]
        tasks = self.tasks
        shown = [np.flatnonzero(tasks.probe_tasks == k)[:count] for k in (previous_task, task)]
        count = min(len(shown[0]), len(shown[1]))
        if count == 0:
            return
        images = np.concatenate([tasks.probe_images[where[:count]] for where in shown])
        params = self.evaluation_params
        without_fake = params.replace(fake_target=replace(params.fake_target, enabled=False))
        settled, _ = settling(
            self.network,
            without_fake,
            self.layout,
            images,
            np.arange(count, 2 * count),
            previous=np.arange(count),
            warmup_steps=self.table["test_steps"],
            threshold=self.table["settle_threshold"],
            max_steps=self.table["settle_max_steps"],
            seed=self.seed,
        )
        self.store.append_series(
            "changes",
            {
                "sample": np.array([self.position], dtype=np.int64),
                "task": np.array([task], dtype=np.int16),
                "steps_to_settle": np.array([settled.mean()], dtype=np.float32),
                "unsettled": np.array(
                    [np.mean(settled >= self.table["settle_max_steps"])], dtype=np.float32
                ),
            },
        )

    def run(self, stop: StopRequest, bar: tqdm) -> None:
        """Go on from ``position`` to the stream's end (the probes, settling and checkpoints
        on their boundaries, which fall between batches: a resumed run meets the same ones)."""
        table = self.table
        per_task, every = table["samples_per_task"], table["probe_every"]
        if self.position == 0:
            self.probe(block_end=False)  # row 0: the untrained network
        started = time.perf_counter()
        try:
            while self.position < self.total:
                block, offset = divmod(self.position, per_task)
                # a change of task: a block whose task differs from the one before it
                if offset == 0 and block and table["settle_samples"]:
                    previous, task = (
                        self.schedule.block_task(block - 1),
                        self.schedule.block_task(block),
                    )
                    if previous != task:
                        self.measure_settling(previous, task)
                self.learn_batch()
                bar.update(table["batch_size"])
                ends_block = self.position % per_task == 0
                if (
                    ends_block
                    or self.position == self.total
                    or (every and self.position % every == 0)
                ):
                    self.probe(block_end=ends_block)
                if self.position % table["checkpoint_every"] == 0:
                    self.wall_time += time.perf_counter() - started
                    started = time.perf_counter()
                    self.checkpoint()
                stop.check()
        except RunInterrupted:
            # the last whole batch is done and recorded: a checkpoint there loses nothing
            self.wall_time += time.perf_counter() - started
            self.checkpoint()
            raise
        self.wall_time += time.perf_counter() - started

    def summary(self) -> dict[str, float]:
        """The stream's final metrics: the last probe row's, and the prequential accuracy."""
        final = {name: self.last_metrics[name] for name in TRANSFER_METRICS}
        final["prequential_accuracy"] = self.correct_total / max(self.position, 1)
        final["samples"] = float(self.position)
        final["samples_per_second"] = self.position / max(self.wall_time, 1e-12)
        return final


def carry_out(
    scenario: Scenario,
    tasks: TaskSet,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
    network: tuple[CompiledNetwork, Layout] | None = None,
) -> RunSummary:
    """Run the stream into ``store`` from the start, or from the checkpoint ``saved``;
    ``network``: the stream's untrained network, if already built."""
    stream = Stream(scenario, tasks, store, network)
    if saved is not None:
        stream.load(*saved)
    bar = RunProgress(
        total=stream.total,
        initial=stream.position,
        unit="sample",
        delay=2.0,
        disable=not progress,
        mininterval=0.5,
    )
    with store, stop_on_signals() as stop, bar:
        stream.run(stop, bar)
        store.snapshot_weights(stream.steps, stream.network.edge_weights(), stream.network.bias)
        store.flush()
        final = stream.summary()
        with store.metrics_together():
            for name, value in final.items():
                store.write_metric(name, value, ())
        rows = open_run(store.path).series("probes")
        matrix = rows["accuracy"][rows["block_end"].astype(bool)]
        store.write_metric("accuracy_matrix", matrix, ("block", "task"))
    return RunSummary(store.path, stream.steps, store.status, final)
