"""Continual-learning streams: the task schedule (any start without replay, drift, recurring,
endless), the metrics against a plain-NumPy computation of their formulas from the recorded
predictions, a stream that learns, checkpoints and resume after SIGKILL, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.analysis.continual import RollingAccuracy, TransferTracker
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.data import Dataset, Place
from neurosim.errors import ValidationError
from neurosim.experiments.continual import tasks as tasks_module
from neurosim.experiments.continual.tasks import build_tasks
from neurosim.recording import open_run
from neurosim.scenario.schema import load_scenario
from neurosim.streams.tasks import TaskSchedule

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# the schedule


def _schedule(**keys: object) -> TaskSchedule:
    settings = {"schedule": "blocks", "samples_per_task": 30, "cycles": 2, "seed": 5} | keys
    pools = [np.arange(0, 7), np.arange(100, 104), np.arange(200, 211)]
    return TaskSchedule(pools, [2, 0, 1], **settings)  # type: ignore[arg-type]


def test_blocks_follow_the_order_and_draw_each_pool_without_repeats_per_pass() -> None:
    schedule = _schedule()
    tasks, items = schedule.draw(0, schedule.n_samples)
    assert schedule.n_samples == 2 * 3 * 30
    assert list(tasks.reshape(6, 30)[:, 0]) == [2, 0, 1, 2, 0, 1]
    assert np.all(tasks.reshape(6, 30) == tasks.reshape(6, 30)[:, :1])
    pools = schedule.pools
    for block in range(6):
        task = [2, 0, 1][block % 3]
        drawn = items[block * 30 : (block + 1) * 30]
        assert np.isin(drawn, pools[task]).all()
        first_pass = drawn[: len(pools[task])]
        # a pass through the pool shows every item once
        assert sorted(first_pass) == sorted(pools[task])


@pytest.mark.parametrize("schedule_name", ["blocks", "drift"])
def test_a_stream_starts_anywhere_with_the_samples_it_would_have_drawn(schedule_name) -> None:
    whole = _schedule(schedule=schedule_name).draw(0, 180)
    for start, count in [(0, 1), (29, 2), (31, 60), (150, 30), (179, 1)]:
        fresh = _schedule(schedule=schedule_name)  # nothing drawn before
        tasks, items = fresh.draw(start, count)
        assert np.array_equal(tasks, whole[0][start : start + count])
        assert np.array_equal(items, whole[1][start : start + count])


def test_drift_blends_each_block_into_the_next_and_the_last_block_is_pure() -> None:
    schedule = _schedule(schedule="drift", samples_per_task=400, cycles=1)
    tasks, _ = schedule.draw(0, 1200)
    blocks = tasks.reshape(3, 400)
    # block 0 trains task 2 drifting to task 0: the next task's share rises across the block
    early, late = np.mean(blocks[0, :100] == 0), np.mean(blocks[0, 300:] == 0)
    assert early < 0.2 < 0.7 < late
    assert set(np.unique(blocks[0])) == {2, 0}
    assert np.all(blocks[2] == 1)


def test_an_endless_schedule_draws_as_far_as_asked() -> None:
    schedule = _schedule(cycles=None)
    assert schedule.n_samples is None and schedule.n_blocks is None
    tasks, _ = schedule.draw(10_000 * 30, 30)
    assert np.all(tasks == [2, 0, 1][10_000 % 3])
    with pytest.raises(ValidationError, match="samples 170 to 180"):
        _schedule().draw(170, 11)


# ---------------------------------------------------------------------------------------------
# the metrics, from their formulas


def _formulas(
    accuracy: np.ndarray,
    samples: np.ndarray,
    block_end: np.ndarray,
    tasks: np.ndarray,
    per_task: int,
) -> dict[str, np.ndarray]:
    """ACC, BWT, FWT and forgetting at every probe row, written from docs/continual-learning.md
    with plain loops over the recorded rows and samples."""
    rows, n_tasks = accuracy.shape
    out = {name: np.full(rows, np.nan) for name in ("acc", "bwt", "fwt", "forgetting")}
    for r in range(rows):
        trained = tasks[: samples[r]]
        seen = [j for j in range(n_tasks) if np.any(trained == j)]
        current = int(tasks[(samples[r] - 1) // per_task * per_task]) if samples[r] else -1
        if seen:
            out["acc"][r] = np.mean([accuracy[r, j] for j in seen])
        bwt, fwt, forgetting = [], [], []
        for j in seen:
            first = int(np.argmax(trained == j))  # first training sample of j
            before = max(k for k in range(r) if samples[k] <= first)
            if before > 0:
                fwt.append(accuracy[before, j] - accuracy[0, j])
            if j == current:
                continue
            ends = [
                k
                for k in range(r)
                if block_end[k] and tasks[(samples[k] - 1) // per_task * per_task] == j
            ]
            if ends:
                bwt.append(accuracy[r, j] - accuracy[ends[-1], j])
            if r > 1:
                forgetting.append(max(accuracy[1:r, j]) - accuracy[r, j])
        for name, values in (("bwt", bwt), ("fwt", fwt), ("forgetting", forgetting)):
            if values:
                out[name][r] = np.mean(values)
    return out


def _assert_metrics(got: dict, want: dict[str, np.ndarray], atol: float) -> None:
    for mine, theirs in (
        ("average_accuracy", "acc"),
        ("backward_transfer", "bwt"),
        ("forward_transfer", "fwt"),
        ("forgetting", "forgetting"),
    ):
        np.testing.assert_allclose(got[mine], want[theirs], rtol=0, atol=atol, err_msg=mine)


def test_the_tracker_matches_the_formulas_on_a_random_matrix() -> None:
    rng = np.random.default_rng(3)
    per_task, order = 20, [1, 0, 2, 1, 0, 2]
    tasks = np.repeat(order, per_task)
    samples = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120])
    block_end = (samples % per_task == 0) & (samples > 0)
    accuracy = rng.random((len(samples), 3))
    tracker = TransferTracker(3)
    got = {
        name: []
        for name in ("average_accuracy", "backward_transfer", "forward_transfer", "forgetting")
    }
    for r, position in enumerate(samples):
        seen = np.bincount(tasks[:position], minlength=3) > 0
        current = int(tasks[position - 1]) if position else -1
        for name, value in tracker.row(accuracy[r], seen, current, bool(block_end[r])).items():
            got[name].append(value)
    want = _formulas(accuracy, samples, block_end, tasks, per_task)
    _assert_metrics(got, want, atol=1e-12)
    # each metric is defined somewhere and differs from the others there
    assert all(np.isfinite(want[name]).any() for name in want)


def test_rolling_accuracy_is_the_mean_of_the_last_window_and_survives_a_checkpoint() -> None:
    rng = np.random.default_rng(1)
    correct = rng.random(300) < 0.6
    rolling = RollingAccuracy(40)
    first = rolling.update(correct[:123])
    copy = RollingAccuracy(40)
    copy.load({name: value.copy() for name, value in rolling.saved().items()})
    rest = copy.update(correct[123:])
    got = np.concatenate([first, rest])
    want = [correct[max(0, k - 39) : k + 1].mean() for k in range(300)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# whole streams, on the one-hot patterns (no download)

SMALL = {
    "samples_per_task": 60,
    "cycles": 2,
    "probe_every": 20,
    "checkpoint_every": 60,
    "prequential_window": 30,
}


def _scenario(
    folder: Path, name: str = "recurring_patterns", base: dict | None = None, **keys: object
) -> Path:
    """The shipped scenario ``name`` with ``base`` (default: SMALL) and ``keys`` set in its
    [experiment] table."""
    text = (ROOT / "scenarios" / f"{name}.toml").read_text()
    settings = (SMALL if base is None else base) | keys
    lines = [line for line in text.splitlines() if line.split(" = ")[0].strip() not in settings]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("continual")
    out = folder / "stream.zarr"
    assert main(["run", str(_scenario(folder)), "--out", str(out), "--quiet"]) == EXIT_OK
    return out


def test_the_recorded_metrics_match_the_formulas_from_the_recorded_predictions(small_run) -> None:
    run = open_run(small_run)
    assert run.status == "complete"
    samples, probes = run.series("samples"), run.series("probes")
    n = 4 * 60 * 2
    assert len(samples["task"]) == n
    # the rows: the untrained network, every 20 samples (block ends among them)
    assert list(probes["sample"]) == list(range(0, n + 1, 20))
    assert list(np.flatnonzero(probes["block_end"])) == list(range(3, len(probes["sample"]), 3))
    labels = run.array("metrics", "probe_label")
    probe_task = run.array("metrics", "probe_task")
    hits = probes["prediction"] == labels
    accuracy = np.stack([hits[:, probe_task == j].mean(axis=1) for j in range(4)], axis=1)
    np.testing.assert_allclose(probes["accuracy"], accuracy, rtol=0, atol=1e-7)
    want = _formulas(accuracy, probes["sample"], probes["block_end"], samples["task"], 60)
    _assert_metrics(probes, want, atol=1e-6)
    # prequential: predictions made before the label, the rolling mean of their hits
    correct = samples["prediction"] == samples["label"]
    assert np.array_equal(samples["correct"], correct)
    rolling = [correct[max(0, k - 29) : k + 1].mean() for k in range(n)]
    np.testing.assert_allclose(samples["prequential_accuracy"], rolling, rtol=0, atol=1e-6)
    assert run.array("metrics", "prequential_accuracy") == pytest.approx(correct.mean())
    assert run.array("metrics", "average_accuracy") == pytest.approx(probes["average_accuracy"][-1])
    # the accuracy matrix: the block-end rows
    matrix = run.array("metrics", "accuracy_matrix")
    assert np.array_equal(matrix, probes["accuracy"][probes["block_end"]])
    # a change of task at every block but the first (4 tasks in a row, passed twice)
    changes = run.series("changes")
    assert list(changes["sample"]) == list(range(60, n, 60))
    assert np.all(changes["steps_to_settle"] >= 1)


def test_the_stream_learns_each_task_it_trains(small_run) -> None:
    run = open_run(small_run)
    samples, probes = run.series("samples"), run.series("probes")
    # at each block's end, the task just trained is known far above chance (1 in 8)
    ends = np.flatnonzero(probes["block_end"])
    trained = samples["task"][probes["sample"][ends] - 1]
    assert np.mean(probes["accuracy"][ends, trained]) >= 0.75
    # and the second pass answers better before the labels than the first
    first, second = np.split(samples["correct"], 2)
    assert second.mean() > first.mean() + 0.1


def test_the_store_opens_in_xarray_with_named_dims(small_run) -> None:
    probes = xr.open_zarr(small_run, group="probes")
    assert probes["accuracy"].dims == ("probe", "task")
    assert probes.sizes["probe"] == len(open_run(small_run).series("probes")["sample"])
    samples = xr.open_zarr(small_run, group="samples")
    assert samples["prediction"].dims == ("sample",)


def test_task_incremental_answers_only_within_the_task(tmp_path) -> None:
    out = tmp_path / "task.zarr"
    scenario = _scenario(tmp_path, evaluation="task", cycles=1, settle_samples=0)
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    run = open_run(out)
    samples, probes = run.series("samples"), run.series("probes")
    classes = np.array(run.attributes["task_classes"])
    assert np.all(np.any(classes[samples["task"]] == samples["prediction"][:, None], axis=1))
    probe_task = run.array("metrics", "probe_task")
    assert np.all(np.any(classes[probe_task][None] == probes["prediction"][:, :, None], axis=2))
    assert "changes" not in run.series_names() or len(run.series("changes")["sample"]) == 0


def test_an_endless_stream_with_a_sample_count_stops_there_complete(tmp_path) -> None:
    out = tmp_path / "endless.zarr"
    # short presentations: the count of samples is what is checked, not what they teach
    steps = {"free_steps": 4, "clamped_steps": 4, "test_steps": 4}
    scenario = _scenario(tmp_path, cycles=0, samples=100, settle_samples=0, **steps)
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    run = open_run(out)
    assert run.status == "complete"
    assert len(run.series("samples")["task"]) == 100
    # the last row reads the network where the stream stopped, inside block 1
    assert run.series("probes")["sample"][-1] == 100


# ---------------------------------------------------------------------------------------------
# resume after SIGKILL


def _run_in_subprocess(arguments: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "neurosim", *arguments, "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )


def test_a_stream_killed_and_resumed_ends_as_if_never_stopped(tmp_path) -> None:
    scenario = _scenario(tmp_path, checkpoint_every=20, samples_per_task=40, cycles=3)
    whole = tmp_path / "whole.zarr"
    assert main(["run", str(scenario), "--out", str(whole), "--quiet"]) == EXIT_OK
    killed = tmp_path / "killed.zarr"
    process = _run_in_subprocess(["run", str(scenario), "--out", str(killed)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for a few checkpoints, then kill at once
        time.sleep(0.05)
        # read while written: a checkpoint being written is skipped with a CheckpointWarning,
        # and zarr warns of the temporary file of an atomic write it lists
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                saved = open_run(killed).checkpoint()
            except ValidationError:  # the store is being created
                continue
        if saved is not None and saved[1]["position"] >= 100:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert main(["run", "--resume", str(killed), "--quiet"]) == EXIT_OK
    a, b = open_run(whole), open_run(killed)
    assert b.status == "complete"
    for name in ("samples", "probes", "changes"):
        for key, values in a.series(name).items():
            assert np.array_equal(values, b.series(name)[key], equal_nan=True), (name, key)
    assert np.array_equal(a.array("weights", "W"), b.array("weights", "W"))
    assert np.array_equal(a.array("weights", "b"), b.array("weights", "b"))
    assert a.array("metrics", "average_accuracy") == b.array("metrics", "average_accuracy")


# ---------------------------------------------------------------------------------------------
# bad input: exit 2, one line, nothing written


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"class_order": [0, 1, 2, 3, 4, 5, 6, 9]}, "experiment.class_order"),
        ({"class_order": "sorted"}, "experiment.class_order"),
        ({"cycles": 0}, "experiment.cycles"),
        ({"tasks": "permuted"}, "experiment.tasks"),
        ({"classes_per_task": 3}, "experiment.classes_per_task"),
        ({"batch_size": 7}, "experiment.samples_per_task"),
        ({"checkpoint_every": 0}, "experiment.checkpoint_every"),
        ({"settle_samples": 3}, "experiment.settle_samples"),
    ],
)
def test_bad_settings_name_the_key_and_write_nothing(tmp_path, capsys, keys, named) -> None:
    out = tmp_path / "bad.zarr"
    assert main(["run", str(_scenario(tmp_path, **keys)), "--out", str(out), "--quiet"]) == (
        EXIT_BAD_INPUT
    )
    error = capsys.readouterr().err
    assert named in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# the MNIST streams, on a tiny synthetic data set (ten classes, each a bright block)


def _tiny_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    blocks = np.zeros((10, 28, 28), dtype=bool)
    for label in range(10):
        row, column = divmod(label, 4)
        blocks[label, 7 * row : 7 * row + 7, 7 * column : 7 * column + 7] = True
    blocks = blocks.reshape(10, 784)

    def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 784)).astype(np.uint8)
        images[blocks[labels]] = 255
        return images, labels

    arrays = dict(zip(("train_images", "train_labels"), digits(300), strict=True))
    arrays |= dict(zip(("test_images", "test_labels"), digits(100), strict=True))
    return Dataset("mnist", Place(Path("synthetic"), "test"), False, arrays.__getitem__)


TINY_MNIST = {
    "hidden": [32],
    "samples_per_task": 40,
    "probe_samples": 10,
    "probe_every": 20,
    "settle_samples": 5,
    "settle_max_steps": 50,
    "checkpoint_every": 40,
    "free_steps": 5,
    "clamped_steps": 5,
    "test_steps": 5,
}


@pytest.fixture
def tiny_mnist(monkeypatch) -> Dataset:
    dataset = _tiny_dataset()
    monkeypatch.setattr(tasks_module, "load_dataset", lambda name, data_dir=None: dataset)
    return dataset


def test_split_mnist_shows_each_task_its_classes_and_probes_them(tmp_path, tiny_mnist) -> None:
    out = tmp_path / "split.zarr"
    scenario = _scenario(tmp_path, "split_mnist", TINY_MNIST, class_order="seeded", batch_size=4)
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    run = open_run(out)
    classes = np.array(run.attributes["task_classes"])
    assert sorted(classes.ravel()) == list(range(10))
    assert classes.tolist() != [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]  # seeded order
    samples = run.series("samples")
    assert len(samples["task"]) == 5 * 40  # batches of 4: every sample recorded
    assert np.all(np.any(classes[samples["task"]] == samples["label"][:, None], axis=1))
    probe_task, probe_label = (
        run.array("metrics", "probe_task"),
        run.array("metrics", "probe_label"),
    )
    assert np.all(np.any(classes[probe_task] == probe_label[:, None], axis=1))
    assert np.bincount(probe_task).tolist() == [10] * 5
    assert run.array("metrics", "accuracy_matrix").shape == (5, 5)


def test_permuted_tasks_show_each_image_in_their_pixel_order(tiny_mnist) -> None:
    table = load_scenario(ROOT / "scenarios" / "permuted_mnist.toml").settings["experiment"]
    table = table | {"n_tasks": 3, "probe_samples": 6, "settle_samples": 0}
    made = build_tasks(table)
    test_images = tiny_mnist.test_images
    assert made.permutations[0] is None  # task 0 is the identity
    first = made.probe_images[made.probe_tasks == 0]
    for task in (1, 2):
        order = made.permutations[task]
        assert sorted(order) == list(range(784)) and not np.array_equal(order, np.arange(784))
        # the same digits as task 0's, each in the task's pixel order
        np.testing.assert_array_equal(made.probe_images[made.probe_tasks == task], first[:, order])
    inputs = made.inputs(np.array([0, 2]), np.array([5, 5]), np.float32)
    np.testing.assert_array_equal(inputs[1], inputs[0][made.permutations[2]])
    # task 0's probes are test digits as they are
    assert all((test_images == row).all(axis=1).any() for row in first)


def test_permutations_from_a_file_and_one_of_the_wrong_length(tmp_path, tiny_mnist, capsys) -> None:
    orders = np.stack([np.arange(784), np.random.default_rng(1).permutation(784)])
    good = tmp_path / "orders.npy"
    np.save(good, orders)
    table = load_scenario(ROOT / "scenarios" / "permuted_mnist.toml").settings["experiment"]
    made = build_tasks(table | {"permutations": str(good)})
    assert made.n_tasks == 2
    np.testing.assert_array_equal(made.permutations[1], orders[1])
    bad = tmp_path / "short.npy"
    np.save(bad, orders[:, :700])
    out = tmp_path / "bad.zarr"
    scenario = _scenario(tmp_path, "permuted_mnist", TINY_MNIST, permutations=str(bad))
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "experiment.permutations" in error and "(2, 700)" in error
    assert not out.exists()
