"""Fast checks of the continual-learning stream, on a tiny stream of the one-hot patterns (4
patterns in 2 tasks, blocks of 6 samples passed twice and stopped after 22, batches of 2, 3
hidden neurons): every recorded sample, probe row, change of task and checkpoint against the
module docstrings, recomputed from what the simulator answered and from the recorded
predictions; resume after a stop; the tasks; the settings' checks; and the figure's content."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgba

from neurosim.backends.sync import SyncSimulator
from neurosim.cli import EXIT_BAD_INPUT, main
from neurosim.errors import ValidationError
from neurosim.experiments import continual
from neurosim.experiments.continual import protocol, runner
from neurosim.experiments.continual import tasks as tasks_module
from neurosim.experiments.continual.figure import plot, stream_figure
from neurosim.experiments.continual.protocol import KEYS, check_settings
from neurosim.experiments.continual.tasks import TaskSet, build_tasks
from neurosim.recording import RunInterrupted, StopRequest, open_run
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import Scenario, load_scenario
from neurosim.streams.tasks import TaskSchedule
from tests.scenario_files import recording_progress

try:
    from tests.test_continual import _formulas, _scenario, _tiny_dataset
except ImportError:  # pytest put tests/ itself on sys.path
    from test_continual import _formulas, _scenario, _tiny_dataset

# 4 patterns in 2 tasks of 2; blocks of 6 samples, the order passed twice (24 samples) but
# stopped at 22: the probes every 4 samples, at the block ends (6, 12, 18) and at the end (22)
TINY = {
    "n_patterns": 4,
    "classes_per_task": 2,
    "samples_per_task": 6,
    "cycles": 2,
    "samples": 22,
    "batch_size": 2,
    "hidden": [6],
    "free_steps": 3,
    "clamped_steps": 6,
    "test_steps": 4,
    "probe_every": 4,
    "probe_samples": 2,
    "eval_batch_size": 3,
    "settle_samples": 2,
    "settle_threshold": 0.02,
    "settle_max_steps": 6,
    "checkpoint_every": 8,
    "prequential_window": 5,
}
SEED = 7  # the scenario's seed: the schedule's draws, the network and the simulators
TEST_MU = 0.95  # the test-time model's fake-target average, unlike the training one (0.9)


def _tiny_scenario(folder: Path, **keys: object) -> Path:
    """The shipped recurring_patterns scenario cut to TINY (and ``keys``), with seed SEED and
    a test-time model of its own."""
    path = _scenario(folder, "recurring_patterns", TINY, **keys)
    text = path.read_text()
    assert "\nseed = 0\n" in text
    assert "\nalpha = 0.03\n" in text
    # a fast learner: the tiny stream's accuracies change from probe row to probe row
    text = text.replace("\nseed = 0\n", f"\nseed = {SEED}\n").replace("alpha = 0.03", "alpha = 1.0")
    path.write_text(text + f"\n[experiment.test_model.fake_target]\nmu = {TEST_MU}\n")
    return path


class Clock:
    """A stand-in for ``time.perf_counter`` whose time advances only by ``advance`` (the spies
    advance it by what each batch, probe row and settling read "takes"), so the stream's wall
    time is known, and below 1 s."""

    def __init__(self) -> None:
        self.now = 0.0
        self.readings: list[float] = []

    def perf_counter(self) -> float:
        self.readings.append(self.now)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def elapsed(self) -> float:
        """The time from the stream's first reading to now."""
        return self.now - self.readings[0] if self.readings else 0.0


@dataclass
class Recorded:
    """A tiny stream's store and what its parts were given and gave back."""

    out: Path
    scenario: Scenario
    clock: Clock
    summary: RunSummary | None = None  # set once the stream has run to its end
    batches: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    settles: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[tuple[int, float, float]] = field(default_factory=list)
    scaled: list[float] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)  # each bar's arguments and updates


def _run_recorded(path: Path, out: Path, patch: pytest.MonkeyPatch) -> Recorded:
    """Run the scenario at ``path`` into ``out`` with spies on the stream's parts."""
    record = _spied(load_scenario(path), out, patch)
    record.summary = continual.run(record.scenario, out, overwrite=False, progress=False)
    return record


def _spied(scenario: Scenario, out: Path, patch: pytest.MonkeyPatch) -> Recorded:
    """Spies on the stream's parts and a stand-in clock, set with ``patch``; what they see
    goes into the returned record."""
    clock = Clock()
    record = Recorded(out, scenario, clock)
    show_batch, relaxed_states, settling = (
        runner.show_batch,
        runner.relaxed_states,
        runner.settling,
    )
    checkpoint, scale_weights = runner.Stream.checkpoint, SyncSimulator.scale_weights

    def spy_show_batch(sim, shown, learning, free_steps, clamped_steps, learn_free):
        answered = show_batch(sim, shown, learning, free_steps, clamped_steps, learn_free)
        clock.advance(0.01)
        record.batches.append(
            {
                "target": shown.target.copy(),
                "learning": learning,
                "steps": (free_steps, clamped_steps, learn_free),
                "answered": answered.copy(),
            }
        )
        return answered

    def spy_relaxed_states(*args, **kwargs):
        states = [rows.copy() for rows in relaxed_states(*args, **kwargs)]
        clock.advance(0.001)
        record.probes.append({"args": args, "kwargs": kwargs, "states": states})
        return iter(states)

    def spy_settling(*args, **kwargs):
        result = settling(*args, **kwargs)
        clock.advance(0.002)
        record.settles.append({"args": args, "kwargs": kwargs, "settled": result[0].copy()})
        return result

    def spy_checkpoint(self):
        record.checkpoints.append((self.position, self.wall_time, clock.elapsed()))
        checkpoint(self)

    def spy_scale_weights(self, factor):
        record.scaled.append(factor)
        scale_weights(self, factor)

    patch.setattr(runner, "show_batch", spy_show_batch)
    patch.setattr(runner, "relaxed_states", spy_relaxed_states)
    patch.setattr(runner, "settling", spy_settling)
    patch.setattr(runner, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    patch.setattr(runner.Stream, "checkpoint", spy_checkpoint)
    patch.setattr(SyncSimulator, "scale_weights", spy_scale_weights)
    patch.setattr(runner, "RunProgress", recording_progress(record.bars))
    return record


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("tiny_stream")
    with pytest.MonkeyPatch.context() as patch:
        return _run_recorded(_tiny_scenario(folder), folder / "stream.zarr", patch)


def _layout(record: Recorded) -> Any:
    tasks = build_tasks(record.scenario.settings["experiment"])
    return runner.network_of(record.scenario, tasks)[1]


# ---------------------------------------------------------------------------------------------
# the samples


def test_the_samples_are_the_schedule_s_draws_shown_as_pattern_and_label(stream) -> None:
    """Each sample's task and item are the schedule's draws from the scenario's seed (items are
    labels here); the batch shows the pattern as input and the one-hot label as output, with
    the steps and the learning of the settings."""
    run = open_run(stream.out)
    samples = run.series("samples")
    schedule = TaskSchedule(
        [np.array([0, 1]), np.array([2, 3])],
        [0, 1],
        schedule="blocks",
        samples_per_task=6,
        cycles=2,
        seed=SEED,
    )
    want_tasks, want_items = schedule.draw(0, 22)
    np.testing.assert_array_equal(samples["task"], want_tasks)
    np.testing.assert_array_equal(samples["label"], want_items)
    assert list(samples["task"][::6]) == [0, 1, 0, 1]
    layout = _layout(stream)
    assert len(stream.batches) == 11
    targets = np.concatenate([batch["target"] for batch in stream.batches])
    one_hot = np.eye(4)[samples["label"]]
    np.testing.assert_array_equal(targets[:, layout.inputs], one_hot)
    np.testing.assert_array_equal(targets[:, layout.outputs], one_hot)
    assert {batch["steps"] for batch in stream.batches} == {(3, 6, True)}
    learning = stream.scenario.phase_parameters[0]
    assert all(batch["learning"] == learning for batch in stream.batches)
    assert stream.scaled == []  # no weight decay


def test_each_prediction_is_the_answer_before_the_label_and_the_prequential_accuracy_follows(
    stream,
) -> None:
    """The prediction is the argmax of the output states at the end of the free steps; the
    hits, the rolling accuracy over the last 5 samples, and the final metrics (prequential
    accuracy, samples, samples per second over the stream's wall time, integration steps)."""
    run = open_run(stream.out)
    samples = run.series("samples")
    layout = _layout(stream)
    answered = np.concatenate([batch["answered"] for batch in stream.batches])
    predicted = np.argmax(answered[:, layout.outputs], axis=1)
    np.testing.assert_array_equal(samples["prediction"], predicted)
    correct = predicted == samples["label"]
    np.testing.assert_array_equal(samples["correct"], correct)
    rolling = [correct[max(0, k - 4) : k + 1].mean() for k in range(22)]
    np.testing.assert_allclose(samples["prequential_accuracy"], rolling, rtol=0, atol=1e-6)
    final = stream.summary.metrics
    assert final["prequential_accuracy"] == pytest.approx(correct.mean(), abs=1e-12)
    assert run.array("metrics", "prequential_accuracy") == pytest.approx(correct.mean())
    assert final["samples"] == 22.0 == run.array("metrics", "samples")
    elapsed = stream.clock.elapsed()
    assert 0 < elapsed < 1
    assert final["samples_per_second"] == pytest.approx(22 / elapsed, rel=1e-9)
    assert run.array("metrics", "samples_per_second") == pytest.approx(22 / elapsed, rel=1e-6)
    # the steps of the samples learned (free + clamped each), where the weights are kept
    assert stream.summary.steps == 22 * (3 + 6)
    # the progress bar (off here) counts the samples, a batch at a time
    (bar,) = stream.bars
    assert (bar["total"], bar["initial"], bar["unit"], bar["disable"]) == (22, 0, "sample", True)
    assert bar["updates"] == [2] * 11
    assert list(run.array("weights", "snapshot_time")) == [22 * 9]
    assert run.status == "complete"


def test_xarray_sees_every_series_row_as_the_run_reads_it(stream) -> None:
    """The series are appended with their dims named: xarray reads the same rows."""
    run = open_run(stream.out)
    for name in ("samples", "probes", "changes"):
        view = xr.open_zarr(stream.out, group=name)
        for key, values in run.series(name).items():
            np.testing.assert_array_equal(view[key].values, values, err_msg=key)
            assert view[key].dims[0] == {"samples": "sample", "probes": "probe"}.get(name, "change")
    assert dict(xr.open_zarr(stream.out, group="changes").sizes) == {"change": 3}


# ---------------------------------------------------------------------------------------------
# the probes


def test_probe_rows_come_every_probe_every_samples_at_block_ends_and_at_the_end(stream) -> None:
    """Rows at 0 (untrained), every 4 samples, at the block ends and at the stream's end; each
    reads every task's probes with the test-time model, in batches of eval_batch_size."""
    run = open_run(stream.out)
    probes = run.series("probes")
    assert list(probes["sample"]) == [0, 4, 6, 8, 12, 16, 18, 20, 22]
    assert list(probes["block_end"]) == [False, False, True, False, True, False, True, False, False]
    tasks = build_tasks(stream.scenario.settings["experiment"])
    test_params = stream.scenario.test_parameters
    assert test_params.fake_target.mu == TEST_MU
    assert len(stream.probes) == 9
    for call in stream.probes:
        _, params, _, images, indices = call["args"]
        assert params == test_params
        np.testing.assert_array_equal(images, tasks.probe_images)
        np.testing.assert_array_equal(indices, np.arange(4))
        assert call["kwargs"] == {"steps": 4, "batch_size": 3, "seed": SEED}
        assert [len(rows) for rows in call["states"]] == [3, 1]


def test_probe_predictions_accuracies_and_metrics_recomputed(stream) -> None:
    """The probes' predictions are the argmax of the relaxed output states; the accuracy per
    task, the transfer metrics (from their formulas) and the accuracy matrix (block-end rows)
    follow from them; the final metrics are the last row's."""
    run = open_run(stream.out)
    probes, samples = run.series("probes"), run.series("samples")
    layout = _layout(stream)
    outputs = np.stack([np.concatenate(call["states"]) for call in stream.probes])
    predicted = np.argmax(outputs[:, :, layout.outputs], axis=2)
    np.testing.assert_array_equal(probes["prediction"], predicted)
    labels, probe_task = run.array("metrics", "probe_label"), run.array("metrics", "probe_task")
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    np.testing.assert_array_equal(probe_task, [0, 0, 1, 1])
    hits = predicted == labels
    accuracy = np.stack([hits[:, :2].mean(axis=1), hits[:, 2:].mean(axis=1)], axis=1)
    np.testing.assert_allclose(probes["accuracy"], accuracy, rtol=0, atol=1e-7)
    want = _formulas(accuracy, probes["sample"], probes["block_end"], samples["task"], 6)
    for name, theirs in (
        ("average_accuracy", "acc"),
        ("backward_transfer", "bwt"),
        ("forward_transfer", "fwt"),
        ("forgetting", "forgetting"),
    ):
        np.testing.assert_allclose(probes[name], want[theirs], rtol=0, atol=1e-6, err_msg=name)
        final = stream.summary.metrics[name]
        np.testing.assert_allclose(final, want[theirs][-1], rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(run.array("metrics", name), final, rtol=0, atol=1e-12)
    matrix = run.array("metrics", "accuracy_matrix")
    np.testing.assert_array_equal(matrix, probes["accuracy"][[2, 4, 6]])
    assert run.dims("metrics", "accuracy_matrix") == ("block", "task")


# ---------------------------------------------------------------------------------------------
# settling, checkpoints, resume


def test_settling_is_read_at_each_change_of_task_on_both_tasks_probes(stream) -> None:
    """At every block start after the first (the task changes each time): settling on the new
    task's probes, each after one of the old task's, with the test-time model without fake
    targets; the row holds the mean steps and the share that did not settle."""
    run = open_run(stream.out)
    changes = run.series("changes")
    assert list(changes["sample"]) == [6, 12, 18]
    assert list(changes["task"]) == [1, 0, 1]
    tasks = build_tasks(stream.scenario.settings["experiment"])
    test_params = stream.scenario.test_parameters
    assert len(stream.settles) == 3
    for call, (old, new) in zip(stream.settles, [(0, 1), (1, 0), (0, 1)], strict=True):
        _, params, _, images, indices = call["args"]
        assert params.fake_target.enabled is False and test_params.fake_target.enabled
        assert params == test_params.replace(fake_target=params.fake_target)
        assert params.fake_target.mu == TEST_MU
        want = np.concatenate(
            [
                tasks.probe_images[tasks.probe_tasks == old],
                tasks.probe_images[tasks.probe_tasks == new],
            ]
        )
        np.testing.assert_array_equal(images, want)
        np.testing.assert_array_equal(indices, [2, 3])
        np.testing.assert_array_equal(call["kwargs"].pop("previous"), [0, 1])
        assert call["kwargs"] == {
            "warmup_steps": 4,
            "threshold": 0.02,
            "max_steps": 6,
            "seed": SEED,
        }
    settled = np.stack([call["settled"] for call in stream.settles])
    np.testing.assert_allclose(changes["steps_to_settle"], settled.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(changes["unsettled"], np.mean(settled >= 6, axis=1), rtol=1e-6)


def test_checkpoints_every_checkpoint_every_samples_hold_the_stream_s_state(stream) -> None:
    """Checkpoints at 8 and 16 (none at 22), each with the wall time so far; the newest
    holds the position, the hits, the samples per task and the last probe row's metrics."""
    assert [position for position, _, _ in stream.checkpoints] == [8, 16]
    for _, wall_time, elapsed in stream.checkpoints:
        assert wall_time == pytest.approx(elapsed, rel=1e-9)
    run = open_run(stream.out)
    samples, probes = run.series("samples"), run.series("probes")
    arrays, attributes = run.checkpoint()
    assert attributes["position"] == 16
    assert attributes["correct_total"] == int(samples["correct"][:16].sum())
    assert attributes["wall_time"] == pytest.approx(stream.checkpoints[-1][2], rel=1e-9)
    np.testing.assert_array_equal(arrays["trained"], np.bincount(samples["task"][:16]))
    row = list(probes["sample"]).index(16)
    last = [probes[name][row] for name in runner.TRANSFER_METRICS]
    np.testing.assert_allclose(arrays["last_metrics"], last, rtol=0, atol=1e-6)


class _StopAfter(StopRequest):
    """A stop request that fires at its ``checks``-th check."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def check(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.reason = "stopped by the test"
        super().check()


def test_a_stream_stopped_and_resumed_records_what_the_whole_stream_records(
    stream, tmp_path, monkeypatch
) -> None:
    """Stopped after 5 batches (10 samples): a checkpoint there with the wall time so far, the
    store interrupted; resumed, every series and the weights are the uninterrupted stream's and
    the wall time goes on from the checkpoint's. (No checkpoint is due in this run: each one
    costs time, and the stop's is the one checked.)"""

    @contextmanager
    def stop_after_five() -> Iterator[StopRequest]:
        yield _StopAfter(5)

    out = tmp_path / "stopped.zarr"
    scenario = load_scenario(_tiny_scenario(tmp_path, checkpoint_every=24))
    with monkeypatch.context() as patch:
        stopping = _spied(scenario, out, patch)
        patch.setattr(runner, "stop_on_signals", stop_after_five)
        with pytest.raises(RunInterrupted):
            continual.run(scenario, out, overwrite=False, progress=False)
    # the checkpoint of the stop holds the wall time up to it
    assert [position for position, _, _ in stopping.checkpoints] == [10]
    stopped = open_run(out)
    assert stopped.status == "interrupted"
    _, attributes = stopped.checkpoint()
    assert attributes["position"] == 10
    assert attributes["wall_time"] == pytest.approx(stopping.clock.elapsed(), rel=1e-9)
    assert len(stopped.series("samples")["task"]) == 10
    with monkeypatch.context() as patch:
        resuming = _spied(scenario, out, patch)
        summary = continual.resume(out, progress=False)
    (bar,) = resuming.bars
    assert (bar["total"], bar["initial"], bar["updates"]) == (22, 10, [2] * 6)
    assert resuming.checkpoints == []
    wall_time = attributes["wall_time"] + resuming.clock.elapsed()
    assert summary.metrics["samples_per_second"] == pytest.approx(22 / wall_time, rel=1e-9)
    whole, resumed = open_run(stream.out), open_run(out)
    assert resumed.status == "complete"
    for name in ("samples", "probes", "changes"):
        again = resumed.series(name)
        for key, values in whole.series(name).items():
            np.testing.assert_array_equal(again[key], values, err_msg=key)
    for name in ("W", "b"):
        np.testing.assert_array_equal(resumed.array("weights", name), whole.array("weights", name))
    for name in ("prequential_accuracy", "average_accuracy", "forgetting"):
        assert summary.metrics[name] == pytest.approx(stream.summary.metrics[name], nan_ok=True)
    assert summary.metrics["samples"] == 22.0


@pytest.mark.parametrize(("learn_free", "samples", "settle_samples"), [(True, 8, 1), (False, 0, 0)])
def test_weight_decay_scales_the_weights_after_every_batch(
    tmp_path, monkeypatch, learn_free, samples, settle_samples
) -> None:
    """With weight decay, each batch ends with the weights times 1 - lambda * alpha * the
    learning steps (the clamped ones, and the free ones where they learn). samples = 0: the
    stream runs to the schedule's end (one pass, 12 samples); settle_samples = 1: settling on
    one probe of each task at the change of task."""
    keys = {
        "samples": samples,
        "cycles": 1,
        "weight_decay": 0.01,
        "learn_free": learn_free,
        "settle_samples": settle_samples,
    }
    record = _run_recorded(_tiny_scenario(tmp_path, **keys), tmp_path / "decay.zarr", monkeypatch)
    alpha = record.scenario.phase_parameters[0].alpha
    assert alpha == 1.0
    steps = 6 + (3 if learn_free else 0)
    n_samples = samples or 12
    assert len(open_run(record.out).series("samples")["task"]) == n_samples
    assert record.scaled == pytest.approx([1 - 0.01 * alpha * steps] * (n_samples // 2), rel=1e-12)
    assert len(record.settles) == settle_samples
    if settle_samples:
        (call,) = record.settles
        np.testing.assert_array_equal(call["args"][4], [1])
        np.testing.assert_array_equal(call["kwargs"]["previous"], [0])
        changes = open_run(record.out).series("changes")
        assert list(changes["sample"]) == [6]


def test_one_sample_at_a_time_a_task_counts_as_seen_from_its_first_sample(
    tmp_path, monkeypatch
) -> None:
    """Batches of 1, probed after every sample: task 1 is seen from its first sample (the 7th),
    so its forward transfer is read at row 6, the last before it; every row's metrics follow
    their formulas."""
    keys = {"samples": 8, "batch_size": 1, "probe_every": 1, "settle_samples": 0}
    record = _run_recorded(_tiny_scenario(tmp_path, **keys), tmp_path / "one.zarr", monkeypatch)
    run = open_run(record.out)
    probes, samples = run.series("probes"), run.series("samples")
    assert list(probes["sample"]) == list(range(9))
    assert list(samples["task"]) == [0] * 6 + [1] * 2
    accuracy = probes["accuracy"]
    assert accuracy[7, 1] != accuracy[6, 1]  # so that the row read tells which one it is
    forward = accuracy[6, 1] - accuracy[0, 1]
    np.testing.assert_allclose(probes["forward_transfer"][7:], [forward] * 2, rtol=0, atol=1e-6)
    assert probes["average_accuracy"][7] == pytest.approx(accuracy[7].mean())
    want = _formulas(accuracy, probes["sample"], probes["block_end"], samples["task"], 6)
    np.testing.assert_allclose(probes["average_accuracy"], want["acc"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(probes["forward_transfer"], want["fwt"], rtol=0, atol=1e-6)


def test_the_current_task_is_the_task_of_the_block_the_stream_is_in_or_just_ended() -> None:
    schedule = TaskSchedule(
        [np.arange(2), np.arange(2, 4)],
        [1, 0],
        schedule="blocks",
        samples_per_task=6,
        cycles=2,
        seed=0,
    )
    for position, task in [(0, -1), (1, 1), (6, 1), (7, 0), (12, 0), (13, 1), (24, 0)]:
        stream = SimpleNamespace(
            position=position, schedule=schedule, table={"samples_per_task": 6}
        )
        assert runner.Stream.current_task(stream) == task, position  # type: ignore[arg-type]


def test_the_summary_divides_by_at_least_one_sample_and_a_positive_wall_time() -> None:
    """The final metrics: the last probe row's, the share of samples answered right, and the
    samples per second, also for a stream that learned nothing or took no measurable time."""
    last = dict(zip(runner.TRANSFER_METRICS, [0.5, -0.25, 0.125, 0.0], strict=True))
    for position, correct, wall_time, rate in [
        (1, 1, 0.5, 2.0),
        (3, 2, 4.0, 0.75),
        (0, 0, 0.0, 0.0),
        (2, 1, 0.0, 2e12),
    ]:
        stream = SimpleNamespace(
            last_metrics=last, correct_total=correct, position=position, wall_time=wall_time
        )
        final = runner.Stream.summary(stream)  # type: ignore[arg-type]
        assert final == last | {
            "prequential_accuracy": correct / max(position, 1),
            "samples": float(position),
            "samples_per_second": pytest.approx(rate, rel=1e-12),
        }


def test_a_backend_that_does_not_batch_is_refused_before_anything_is_written(
    tmp_path, capsys
) -> None:
    out = tmp_path / "event.zarr"
    path = _tiny_scenario(tmp_path)
    arguments = ["run", str(path), "--set", "scenario.backend=event", "--out", str(out)]
    assert main([*arguments, "--quiet"]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "scenario.backend = 'event'" in error
    assert "run it on sync (scenario.backend = 'sync' or --backend sync)" in error
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# the tasks


def _table(**keys: object) -> dict[str, Any]:
    """The [experiment] table of the defaults, with ``keys``."""
    defaults = {name: key.default for name, key in KEYS.items() if key.default is not None}
    return defaults | {"settle_samples": 0} | keys


def test_the_patterns_split_into_tasks_of_their_classes_with_their_own_probes() -> None:
    made = build_tasks(
        _table(dataset="patterns", n_patterns=6, classes_per_task=3, probe_samples=2)
    )
    np.testing.assert_array_equal(made.train_images, 255 * np.eye(6, dtype=np.uint8))
    np.testing.assert_array_equal(made.train_labels, np.arange(6))
    assert (made.n_tasks, made.n_inputs, made.n_outputs) == (2, 6, 6)
    assert [group.tolist() for group in made.classes] == [[0, 1, 2], [3, 4, 5]]
    assert [pool.tolist() for pool in made.pools] == [[0, 1, 2], [3, 4, 5]]
    assert made.permutations == [None, None]
    # two probes per task: sorted patterns of its classes, each shown as itself
    np.testing.assert_array_equal(made.probe_tasks, [0, 0, 1, 1])
    for task in (0, 1):
        chosen = made.probe_labels[made.probe_tasks == task]
        assert np.all(np.diff(chosen) > 0) and set(chosen) <= set(made.classes[task])
    np.testing.assert_array_equal(made.probe_images, made.train_images[made.probe_labels])
    # every pattern a probe when probe_samples is more than a task has
    everything = build_tasks(
        _table(dataset="patterns", n_patterns=6, classes_per_task=3, probe_samples=5)
    )
    np.testing.assert_array_equal(everything.probe_labels, np.arange(6))
    # the probes chosen depend on task_seed
    chosen = {
        tuple(
            build_tasks(
                _table(
                    dataset="patterns",
                    n_patterns=6,
                    classes_per_task=3,
                    probe_samples=1,
                    task_seed=s,
                )
            ).probe_labels
        )
        for s in range(8)
    }
    assert len(chosen) > 1


def test_class_orders_natural_seeded_and_listed() -> None:
    base = {"dataset": "patterns", "n_patterns": 6, "classes_per_task": 2}
    natural = build_tasks(_table(**base))
    assert [group.tolist() for group in natural.classes] == [[0, 1], [2, 3], [4, 5]]
    for task_seed in (0, 5):
        seeded = build_tasks(_table(**base, class_order="seeded", task_seed=task_seed))
        order = np.random.default_rng(task_seed).permutation(6)
        assert [group.tolist() for group in seeded.classes] == order.reshape(3, 2).tolist()
        # a task's training pool holds the patterns of its classes
        assert [sorted(pool) for pool in seeded.pools] == np.sort(order.reshape(3, 2)).tolist()
    listed = build_tasks(_table(**base, class_order=[5, 3, 1, 0, 2, 4]))
    assert [group.tolist() for group in listed.classes] == [[5, 3], [1, 0], [2, 4]]
    assert listed.classes[0].dtype == np.int64


def test_inputs_are_scaled_to_one_and_each_task_s_rows_take_its_pixel_order() -> None:
    rng = np.random.default_rng(2)
    order = np.array([3, 0, 4, 1, 2])
    made = TaskSet(
        train_images=rng.integers(0, 256, size=(4, 5)).astype(np.uint8),
        train_labels=np.arange(4),
        pools=[np.arange(4)] * 2,
        classes=[np.arange(4)] * 2,
        permutations=[None, order],
        probe_images=np.zeros((0, 5), np.uint8),
        probe_labels=np.zeros(0, np.int64),
        probe_tasks=np.zeros(0, np.int64),
        n_outputs=4,
    )
    assert (made.n_inputs, made.n_tasks) == (5, 2)
    tasks, items = np.array([0, 1, 1, 0]), np.array([2, 2, 0, 3])
    got = made.inputs(tasks, items, np.float32)
    assert got.dtype == np.float32
    want = made.train_images[items] / 255.0
    want[1:3] = want[1:3][:, order]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.max() <= 1.0


def test_class_incremental_answers_over_every_class_task_incremental_within_the_task() -> None:
    made = build_tasks(_table(dataset="patterns", n_patterns=6, classes_per_task=2))
    outputs = np.array(
        [
            [0.1, 0.2, 0.9, 0.0, 0.0, 0.0],  # task 0: best overall 2, within {0, 1}: 1
            [0.8, 0.0, 0.1, 0.3, 0.0, 0.0],  # task 1: 0 overall, 3 within {2, 3}
            [0.0, 0.0, 0.0, 0.0, -0.2, -0.1],  # task 2: 0 overall, 5 within {4, 5}
            [0.5, 0.1, 0.0, 0.0, 0.0, 0.0],  # task 0: 0 either way
        ]
    )
    tasks = np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(made.answer(outputs, tasks, "class"), [2, 0, 0, 0])
    np.testing.assert_array_equal(made.answer(outputs, tasks, "task"), [1, 3, 5, 0])


@pytest.fixture
def tiny_mnist(monkeypatch):
    dataset = _tiny_dataset()
    monkeypatch.setattr(tasks_module, "load_dataset", lambda name, data_dir=None: dataset)
    return dataset


def test_permuted_tasks_draw_one_pixel_order_per_task_from_the_task_seed(tiny_mnist) -> None:
    table = _table(tasks="permuted", n_tasks=3, probe_samples=4)
    first = build_tasks(table)
    assert first.n_tasks == 3 and first.permutations[0] is None
    assert [group.tolist() for group in first.classes] == [list(range(10))] * 3
    assert all(len(pool) == 300 for pool in first.pools)
    # without identity_first task 0 is permuted too, and the other tasks keep their orders
    permuted = build_tasks(table | {"identity_first": False})
    assert sorted(permuted.permutations[0]) == list(range(784))
    for task in (1, 2):
        np.testing.assert_array_equal(permuted.permutations[task], first.permutations[task])
    assert not np.array_equal(first.permutations[1], first.permutations[2])
    other = build_tasks(table | {"task_seed": 1})
    assert not np.array_equal(other.permutations[1], first.permutations[1])
    # every task probes the same 4 test digits, each in its own pixel order
    np.testing.assert_array_equal(first.probe_tasks, np.repeat([0, 1, 2], 4))
    np.testing.assert_array_equal(first.probe_labels[4:8], first.probe_labels[:4])
    np.testing.assert_array_equal(
        first.probe_images[8:], first.probe_images[:4][:, first.permutations[2]]
    )


def test_split_mnist_settles_on_the_probes_both_tasks_have(
    tmp_path, tiny_mnist, monkeypatch
) -> None:
    """On split MNIST (a tiny synthetic set) every test digit of a task's classes is a probe,
    so tasks have different numbers of them: at each change of task, settling runs on as many
    probes of each task as the smaller one has, the new task's after the old one's."""
    keys = {
        "hidden": [4],
        "samples_per_task": 2,
        "samples": 6,
        "free_steps": 2,
        "clamped_steps": 2,
        "test_steps": 1,  # every test digit is a probe: keep their reading short
        "probe_samples": 1000,
        "probe_every": 0,
        "settle_samples": 1000,
        "settle_max_steps": 3,
        "checkpoint_every": 6,
    }
    path = _scenario(tmp_path, "split_mnist", keys)
    record = _run_recorded(path, tmp_path / "split.zarr", monkeypatch)
    tasks = build_tasks(record.scenario.settings["experiment"])
    assert tasks.n_tasks == 5
    probes = [tasks.probe_images[tasks.probe_tasks == task] for task in range(3)]
    # the cases checked: the new task has more probes (0 to 1), then fewer (1 to 2)
    assert len(probes[0]) < len(probes[1]) > len(probes[2])
    assert len(record.settles) == 2
    for call, (old, new) in zip(record.settles, [(0, 1), (1, 2)], strict=True):
        count = min(len(probes[old]), len(probes[new]))
        _, _, _, images, indices = call["args"]
        np.testing.assert_array_equal(
            images, np.concatenate([probes[old][:count], probes[new][:count]])
        )
        np.testing.assert_array_equal(indices, np.arange(count, 2 * count))
        np.testing.assert_array_equal(call["kwargs"]["previous"], np.arange(count))
    run = open_run(record.out)
    changes = run.series("changes")
    assert list(changes["sample"]) == [2, 4] and list(changes["task"]) == [1, 2]
    assert list(run.series("probes")["sample"]) == [0, 2, 4, 6]


def _orders_file(folder: Path, orders: Any, name: str = "orders.npy") -> str:
    path = folder / name
    np.save(path, orders, allow_pickle=True)
    return str(path)


def test_permutations_from_a_file_are_read_and_checked(tmp_path, tiny_mnist, monkeypatch) -> None:
    rng = np.random.default_rng(4)
    orders = np.stack([rng.permutation(784) for _ in range(3)]).astype(np.int32)
    monkeypatch.setenv("HOME", str(tmp_path))
    _orders_file(tmp_path, orders)
    made = build_tasks(_table(tasks="permuted", permutations="~/orders.npy"))
    assert made.n_tasks == 3
    for task in range(3):
        assert made.permutations[task].dtype == np.int64
        np.testing.assert_array_equal(made.permutations[task], orders[task])
    bad = {
        "missing": (str(tmp_path / "none.npy"), "cannot be read as a .npy array"),
        "pickled": (
            _orders_file(tmp_path, np.array([{}], dtype=object), "p.npy"),
            "cannot be read",
        ),
        "flat": (
            _orders_file(tmp_path, np.arange(784), "f.npy"),
            "shape (784,); expected (tasks, 784)",
        ),
        "short": (_orders_file(tmp_path, orders[:, :700], "s.npy"), "shape (3, 700)"),
        "empty": (_orders_file(tmp_path, orders[:0], "e.npy"), "shape (0, 784)"),
    }
    repeated = orders.copy()
    repeated[1, 0] = repeated[1, 1]
    bad["repeated"] = (
        _orders_file(tmp_path, repeated, "r.npy"),
        "row 1 is not a permutation of 0 to 783",
    )
    for path, message in bad.values():
        with pytest.raises(ValidationError) as refused:
            build_tasks(_table(tasks="permuted", permutations=path))
        assert f"experiment.permutations = {path!r}: " in str(refused.value)
        assert message in str(refused.value)


# ---------------------------------------------------------------------------------------------
# the checks of several keys


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"tasks": "permuted", "dataset": "patterns"},
            "experiment.tasks = 'permuted': the one-hot patterns",
        ),
        ({"permutations": "p.npy"}, "experiment.permutations = 'p.npy': pixel orders are for"),
        (
            {"class_order": [0, 1, 2, 3, 4, 5, 6, 7, 10, 12]},
            "experiment.class_order = [0, 1, 2, 3, 4, 5, 6, 7, 10, 12]: expected each of the 10 "
            "classes 0 to 9 exactly once (10 is not a class)",
        ),
        (
            {"class_order": [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]},
            "classes 0 to 9 exactly once",
        ),
        ({"class_order": [0, 1, 2, 3, 4, 5, 6, 7, 8]}, "classes 0 to 9 exactly once"),
        ({"classes_per_task": 3}, "experiment.classes_per_task = 3: expected a divisor of the 10"),
        ({"cycles": 0}, "experiment.cycles = 0 (a stream without end) needs experiment.samples"),
        ({"batch_size": 2, "samples_per_task": 3}, "experiment.samples_per_task = 3: expected"),
        ({"batch_size": 2, "probe_every": 5}, "experiment.probe_every = 5: expected a multiple"),
        ({"batch_size": 2, "checkpoint_every": 7}, "experiment.checkpoint_every = 7: expected"),
        ({"batch_size": 2, "samples": 9}, "experiment.samples = 9: expected a multiple of "),
        ({"settle_samples": 201}, "experiment.settle_samples = 201: expected at most"),
    ],
)
def test_checks_of_several_keys_name_the_key_and_value(keys, message) -> None:
    with pytest.raises(ValidationError) as refused:
        check_settings(_table(**keys), 10)
    assert message in str(refused.value)
    assert ("is not a class" in str(refused.value)) == ("(10 is not a class)" in message)


def test_settings_at_the_bounds_are_accepted() -> None:
    check_settings(_table(settle_samples=200, probe_samples=200), 10)
    check_settings(_table(class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0], classes_per_task=5), 10)
    check_settings(_table(cycles=0, samples=4), 10)
    batches_of_3 = {"samples_per_task": 9, "probe_every": 0, "checkpoint_every": 3, "samples": 6}
    check_settings(_table(batch_size=3, **batches_of_3), 10)
    check_settings(_table(tasks="permuted", permutations="p.npy"), 10)
    check_settings(_table(tasks="permuted", class_order=[0]), 10)  # no class order to check


def test_class_order_is_natural_seeded_or_a_list_of_classes() -> None:
    check = protocol._class_order
    assert check("experiment.class_order", "natural") == "natural"
    assert check("experiment.class_order", "seeded") == "seeded"
    assert check("experiment.class_order", [2, 0, 1]) == [2, 0, 1]
    for wrong in ("sorted", [-1, 0]):
        with pytest.raises(ValidationError, match=r"experiment\.class_order"):
            check("experiment.class_order", wrong)


# ---------------------------------------------------------------------------------------------
# the figure


def test_the_figure_plots_the_stored_accuracies_metrics_and_prequential_accuracy(stream) -> None:
    run = open_run(stream.out)
    probes, samples = run.series("probes"), run.series("samples")
    figure = stream_figure(run)
    matrix_axis, forgetting_axis, online_axis = figure.axes
    assert len(figure.axes) == 3
    assert matrix_axis.get_shared_x_axes().joined(matrix_axis, online_axis)
    # the accuracy matrix: one line per task over the samples seen
    lines = matrix_axis.get_lines()
    assert [line.get_label() for line in lines] == ["task 0", "task 1"]
    for task, line in enumerate(lines):
        np.testing.assert_array_equal(line.get_xdata(), probes["sample"])
        np.testing.assert_array_equal(line.get_ydata(), probes["accuracy"][:, task])
        assert to_rgba(line.get_color()) == to_rgba(f"C{task}")
    assert [text.get_text() for text in matrix_axis.get_legend().get_texts()] == [
        "task 0",
        "task 1",
    ]
    assert matrix_axis.get_ylabel() == "probe accuracy R[t, task]"
    assert matrix_axis.get_ylim() == pytest.approx((-0.02, 1.02))
    assert matrix_axis.get_title() == "recurring_patterns: accuracy matrix over the stream"
    # the transfer metrics, and the zero line
    lines = forgetting_axis.get_lines()
    labels = ["average accuracy", "forgetting", "backward transfer"]
    assert [line.get_label() for line in lines[:3]] == labels
    for line, name, style in zip(
        lines,
        ("average_accuracy", "forgetting", "backward_transfer"),
        ("-", "--", ":"),
        strict=False,
    ):
        np.testing.assert_array_equal(line.get_xdata(), probes["sample"])
        np.testing.assert_array_equal(line.get_ydata(), probes[name])
        assert line.get_linestyle() == style
    assert list(lines[3].get_ydata()) == [0.0, 0.0]
    # the zero line and the prequential curve thinner than the metrics' lines
    assert 0 < lines[3].get_linewidth() < lines[0].get_linewidth()
    assert [text.get_text() for text in forgetting_axis.get_legend().get_texts()] == labels
    assert forgetting_axis.get_ylabel() == "over the tasks seen"
    # the prequential accuracy over the samples, 1 to 22
    (line,) = online_axis.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 23))
    np.testing.assert_array_equal(line.get_ydata(), samples["prequential_accuracy"])
    assert 0 < line.get_linewidth() < lines[0].get_linewidth()
    assert online_axis.get_ylabel() == "prequential accuracy\n(last 5 samples)"
    assert online_axis.get_ylim() == pytest.approx((-0.02, 1.02))
    assert online_axis.get_xlabel() == "samples seen (shading: the block's task)"
    # each block shaded in its task's colour on every panel
    for axis in figure.axes:
        spans = [(patch.get_x(), patch.get_x() + patch.get_width()) for patch in axis.patches]
        assert spans == [(0, 6), (6, 12), (12, 18), (18, 24)]
        for block, patch in enumerate(axis.patches):
            assert patch.get_facecolor() == pytest.approx(to_rgba(f"C{block % 2}", 0.08))
            assert patch.get_linewidth() == 0


def test_ten_tasks_take_the_ten_colours_of_the_cycle_in_lines_and_shading() -> None:
    """A stream of 10 tasks (a stand-in store: one block of 3 samples each, a probe row at
    each block's end): each task's line and blocks in its own colour, C0 to C9."""
    n_tasks = 10
    probes = {
        "sample": np.arange(0, 31, 3),
        "accuracy": np.random.default_rng(1).random((11, n_tasks)),
        **{name: np.zeros(11) for name in runner.TRANSFER_METRICS},
    }
    samples = {
        "task": np.repeat(np.arange(n_tasks), 3),
        "correct": np.ones(30, dtype=bool),
        "prequential_accuracy": np.ones(30),
    }
    experiment = {"samples_per_task": 3, "prequential_window": 4}
    run = SimpleNamespace(
        path=Path("ten.zarr"),
        series_names=lambda: ["changes", "probes", "samples"],
        series={"probes": probes, "samples": samples}.__getitem__,
        attributes={"scenario": {"scenario": {"name": "ten"}, "experiment": experiment}},
    )
    figure = stream_figure(run)  # type: ignore[arg-type]
    matrix_axis = figure.axes[0]
    colours = [to_rgba(f"C{task}") for task in range(n_tasks)]
    assert len(set(colours)) == n_tasks
    assert [to_rgba(line.get_color()) for line in matrix_axis.get_lines()] == colours
    for axis in figure.axes:
        shades = [to_rgba(patch.get_facecolor(), 1.0) for patch in axis.patches]
        assert shades == colours
    assert matrix_axis.get_title() == "ten: accuracy matrix over the stream"


def test_plot_saves_the_figure_and_refuses_a_store_without_probe_rows(stream, tmp_path) -> None:
    image = tmp_path / "stream.png"
    assert plot(open_run(stream.out), image) == image
    header = image.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    # 10 by 10 inches at 110 dots per inch
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (1100, 1100)
    empty = {"sample": np.zeros(0, np.int64)}
    for names in ([], ["probes"]):
        stub = SimpleNamespace(
            path=Path("none.zarr"), series_names=lambda names=names: names, series=lambda _: empty
        )
        with pytest.raises(ValidationError, match=r"none\.zarr: no probe row recorded yet"):
            stream_figure(stub)  # type: ignore[arg-type]
