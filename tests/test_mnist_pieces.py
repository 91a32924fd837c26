"""The MNIST experiment's pieces, each on the smallest input that shows it: protocol checks,
the modes' clamps, training and evaluation against plain recomputations, the checkpoint clock,
the metrics tables, and whole runs of a few tiny images through 2 hidden neurons (a handful
of steps each) whose stored metrics and figure are checked against what the store holds.
The full-size pipeline and the learning tests are in test_mnist.py."""

from __future__ import annotations

import copy
import dataclasses
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neurosim.backends.sync import SyncSimulator
from neurosim.data import Dataset, Place
from neurosim.errors import ValidationError
from neurosim.experiments import mnist
from neurosim.experiments.mnist.checkpoints import Position, StageClock, write_checkpoint
from neurosim.experiments.mnist.network import Layout
from neurosim.experiments.mnist.results import Results
from neurosim.model.parameters import ModelParameters
from neurosim.recording import RunInterrupted, open_run
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import check_scenario

# ---------------------------------------------------------------------------------------------
# tiny data and scenarios

# the smallest experiment that runs every part: 12 training digits (4 set aside for
# validation, batches of 2), 6 test digits, 2 hidden neurons, one or two steps per part
BASE_EXPERIMENT: dict[str, Any] = {
    "kind": "mnist",
    "hidden": [2],
    "batch_size": 2,
    "validation_digits": 4,
    "test_digits": 6,
    "epochs": 2,
    "free_steps": 1,
    "clamped_steps": 1,
    "test_steps": 2,
    "eval_batch_size": 4,
    "settle_digits": 2,
    "settle_max_steps": 2,
}


def _raw(**experiment: Any) -> dict[str, Any]:
    """A scenario table of the tiny experiment with ``experiment`` keys set."""
    return {
        "scenario": {"name": "mnist_pieces"},
        "model": {"preset": "astdp", "activation": "sigmoid4_centred", "alpha": 0.03},
        "experiment": {**copy.deepcopy(BASE_EXPERIMENT), **experiment},
    }


def _block_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 28 x 28 image per label: a bright 7 x 7 block at the class's own place (class k at
    row k // 4, column k % 4 of a grid of blocks) on a dim noisy background."""
    images = rng.integers(0, 40, size=(len(labels), 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, column = divmod(int(label), 4)
        image[7 * row : 7 * row + 7, 7 * column : 7 * column + 7] = 255
    return images.reshape(len(labels), 784)


class TinyDataset(Dataset):
    """12 training and 6 test digits of block images; ``events`` logs each read of the test
    images (the run must not read them before training is over)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(5)
        train_labels = np.arange(12, dtype=np.uint8) % 10
        test_labels = np.array([4, 1, 7, 1, 0, 9], dtype=np.uint8)
        arrays = {
            "train_images": _block_images(train_labels, rng),
            "train_labels": train_labels,
            "test_images": _block_images(test_labels, rng),
            "test_labels": test_labels,
        }
        super().__init__("mnist", Place(Path("synthetic"), "test"), False, arrays.__getitem__)
        self.events: list[tuple[str, ...]] = []

    @property
    def test_images(self) -> np.ndarray:
        self.events.append(("test read",))
        return super().test_images


def _model(**experiment: Any) -> tuple[ModelParameters, dict[str, Any]]:
    """The training model and the checked [experiment] table of ``_raw(**experiment)``."""
    scenario = check_scenario(_raw(**experiment))
    return scenario.phase_parameters[0], scenario.settings["experiment"]


# ---------------------------------------------------------------------------------------------
# whole tiny runs, with what they did logged


class ProgressSpy:
    """Stands in for the run's progress bar: keeps its arguments and the steps it was told."""

    def __init__(self, **arguments: Any) -> None:
        self.arguments = arguments
        self.counted = 0

    def __enter__(self) -> ProgressSpy:
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def update(self, steps: int) -> None:
        self.counted += steps

    def set_postfix(self, **values: Any) -> None:
        pass


class JudgeSpy:
    """Stands in for the judge of generated digits (a scikit-learn classifier, whose import
    alone takes seconds): its verdict is the images' mean pixel, so what it was shown can be
    told from the stored images."""

    held_out_accuracy = 0.375

    def __init__(self, train: np.ndarray, validation: np.ndarray) -> None:
        self.fitted_on = (train, validation)
        self.heard: list[tuple[np.ndarray, np.ndarray]] = []

    def recognised(self, images: np.ndarray, labels: np.ndarray) -> float:
        self.heard.append((images.copy(), labels.copy()))
        return float(images.mean())


@dataclass
class LoggedRun:
    """A tiny run and what it did, in order: ``events`` holds ("train", mode, digits_seen,
    digits in the order), ("batch", mode), ("curve", point), ("predict", test, digits),
    ("checkpoint", seed, stage, done, steps, within a seed) and ("test read",)."""

    out: Path
    dataset: TinyDataset
    summary: RunSummary | None = None
    events: list[tuple[Any, ...]] = field(default_factory=list)
    bars: list[ProgressSpy] = field(default_factory=list)
    judges: list[JudgeSpy] = field(default_factory=list)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event[1:] for event in self.events if event[0] == kind]


def _carry_out(
    run: LoggedRun, raw: dict[str, Any] | None, stop_after_batches: int | None = None
) -> LoggedRun:
    """Run ``raw`` (None: resume ``run.out``) on ``run.dataset``, logging into ``run``; with
    ``stop_after_batches``, SIGTERM's effect (``RunInterrupted``) after that many batches."""
    events = run.events
    train_epoch = mnist.runner.train_epoch
    checkpoint = mnist.checkpoints.write_checkpoint
    curve_point = mnist.runner.measure_curve_point
    predict_digits = mnist.runner.predict_digits

    def logged_train_epoch(sim, layout, images, labels, order, **kwargs) -> None:
        events.append(("train", kwargs["mode"], kwargs["digits_seen"], len(order)))
        after_batch = kwargs["after_batch"]

        def counted(done: int) -> None:
            events.append(("batch", kwargs["mode"]))
            after_batch(done)
            if sum(event[0] == "batch" for event in events) == stop_after_batches:
                raise RunInterrupted("terminated by SIGTERM")

        train_epoch(sim, layout, images, labels, order, **(kwargs | {"after_batch": counted}))

    def logged_checkpoint(store, results, sim, shuffle, at) -> None:
        events.append(("checkpoint", at.s, at.stage, at.done, at.steps, sim is not None))
        checkpoint(store, results, sim, shuffle, at)

    def logged_curve_point(point: int, **kwargs) -> None:
        events.append(("curve", point))
        curve_point(point, **kwargs)

    def logged_predict(network, params, layout, dataset, indices, table, test=False):
        events.append(("predict", test, len(indices)))
        return predict_digits(network, params, layout, dataset, indices, table, test)

    def progress(**arguments: Any) -> ProgressSpy:
        run.bars.append(ProgressSpy(**arguments))
        return run.bars[-1]

    def fit_judge(dataset, train: np.ndarray, validation: np.ndarray) -> JudgeSpy:
        assert dataset is run.dataset
        run.judges.append(JudgeSpy(train, validation))
        return run.judges[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist, "load_dataset", lambda name, data_dir=None: run.dataset)
        patch.setattr(mnist.runner, "train_epoch", logged_train_epoch)
        patch.setattr(mnist.runner, "write_checkpoint", logged_checkpoint)
        patch.setattr(mnist.checkpoints, "write_checkpoint", logged_checkpoint)
        patch.setattr(mnist.runner, "measure_curve_point", logged_curve_point)
        patch.setattr(mnist.runner, "predict_digits", logged_predict)
        patch.setattr(mnist.runner, "RunProgress", progress)
        patch.setattr(mnist.runner, "fit_judge", fit_judge)
        # the test images' reads go into the run's log while it runs
        patch.setattr(run.dataset, "events", events)
        try:
            if raw is None:
                run.summary = mnist.resume(run.out, progress=False)
            else:
                run.summary = mnist.run(check_scenario(raw), run.out, False, False)
        except RunInterrupted:
            run.summary = None
    return run


# two seeds of two epochs of 8 digits (4 batches), checkpoints only between stages, settling
# on 2 validation digits, 4 test digits
TWO_SEEDS = _raw(seeds=[4, 7], checkpoint_digits=0, test_digits=4)
# one seed of "generate": a pretraining epoch, then two epochs of 6 of the 8 training digits
# (3 batches) with no free part, a learning-curve point every 4 digits on 3 validation
# digits, one generated image per label, no settling, every test digit
CURVE = _raw(
    mode="generate",
    seeds=[3],
    pretrain_epochs=1,
    train_digits=6,
    free_steps=0,
    clamped_steps=2,
    curve_every=4,
    curve_digits=3,
    generate_samples=1,
    generate_steps=1,
    settle_digits=0,
    test_digits=0,
    checkpoint_digits=0,
)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> LoggedRun:
    run = LoggedRun(tmp_path_factory.mktemp("two_seeds") / "run.zarr", TinyDataset())
    return _carry_out(run, TWO_SEEDS)


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory: pytest.TempPathFactory) -> LoggedRun:
    run = LoggedRun(tmp_path_factory.mktemp("curve") / "run.zarr", TinyDataset())
    return _carry_out(run, CURVE)


def _metrics(run: LoggedRun) -> xr.Dataset:
    return xr.open_zarr(run.out, group="metrics")


def _recomputed(run: LoggedRun, s: int) -> dict[str, Any]:
    """Seed ``s``'s test confusion, last validation accuracy and settling, recomputed from
    its stored final weights with the evaluation functions."""
    reader = open_run(run.out)
    network, layout, params, table = mnist.network.trained_network(reader, s)
    dataset = run.dataset
    train, validation = mnist.protocol.split_indices(table, dataset)
    evaluate = mnist.evaluation.predict_digits
    test_indices = np.arange(table["test_digits"] or len(dataset.test_labels))
    predicted = evaluate(network, params, layout, dataset, test_indices, table, test=True)
    labels = dataset.test_labels[test_indices]
    validated = evaluate(network, params, layout, dataset, validation, table)
    curve = validation[: table["curve_digits"]]
    curve_predicted = evaluate(network, params, layout, dataset, curve, table)
    return {
        "confusion": mnist.evaluation.confusion_matrix(labels, predicted),
        "test_accuracy": np.mean(predicted == labels),
        "validation_accuracy": np.mean(validated == dataset.train_labels[validation]),
        "curve_accuracy": np.mean(curve_predicted == dataset.train_labels[curve]),
        "network": network,
        "layout": layout,
        "params": params,
        "table": table,
        "train": train,
        "validation": validation,
    }


# ---------------------------------------------------------------------------------------------
# protocol


def test_check_settings_takes_every_boundary_value_and_refuses_the_next() -> None:
    """On 12 training digits: validation_digits 11 passes and 12 is refused (with the count
    and the data set's name); train_digits may take all that is left, not one more;
    settle_digits and curve_digits (with a curve) at most validation_digits; a recurrent
    network takes one hidden size; curve_every a multiple of batch_size."""
    dataset = TinyDataset()
    _, table = _model()
    check = mnist.protocol.check_settings
    check({**table, "validation_digits": 11, "settle_digits": 2}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"validation_digits = 12: .* the 12 training digits"):
        check({**table, "validation_digits": 12}, dataset, 0.03)
    check({**table, "train_digits": 8}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"train_digits = 9: only 8 training digits .* = 4"):
        check({**table, "train_digits": 9}, dataset, 0.03)
    check({**table, "settle_digits": 4}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"settle_digits = 5: expected at most .* = 4"):
        check({**table, "settle_digits": 5}, dataset, 0.03)
    check({**table, "curve_every": 2, "curve_digits": 4}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"curve_digits = 5"):
        check({**table, "curve_every": 2, "curve_digits": 5}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"curve_every = 3: expected a multiple"):
        check({**table, "curve_every": 3, "curve_digits": 4}, dataset, 0.03)
    check({**table, "topology": "recurrent", "hidden": [3]}, dataset, 0.03)
    check({**table, "topology": "layered", "hidden": [3, 2]}, dataset, 0.03)
    for hidden in ([3, 2], [3, 2, 1]):
        with pytest.raises(ValidationError, match=r"experiment\.hidden = \[3, 2"):
            check({**table, "topology": "recurrent", "hidden": hidden}, dataset, 0.03)


def test_check_settings_refuses_a_weight_decay_that_would_zero_the_weights() -> None:
    """With alpha 0.5 and 2 learning steps a batch scales the weights by 1 - lambda: lambda
    0.999 passes, lambda 1 (a factor of exactly 0) is refused with the largest allowed value
    (1) named; without learning in the free part 1 step is left, so lambda 1.5 passes and 2
    is refused with the limit 2."""
    dataset = TinyDataset()
    _, table = _model()
    check = mnist.protocol.check_settings
    check({**table, "weight_decay": 0.999}, dataset, 0.5)
    with pytest.raises(ValidationError, match=r"weight_decay = 1\.0: .*alpha = 0\.5.* by 0 <= 0"):
        check({**table, "weight_decay": 1.0}, dataset, 0.5)
    with pytest.raises(ValidationError, match=r"expected weight_decay < 1$"):
        check({**table, "weight_decay": 1.0}, dataset, 0.5)
    frozen_free = {**table, "learn_free": False}
    check({**frozen_free, "weight_decay": 1.5}, dataset, 0.5)
    with pytest.raises(ValidationError, match=r"expected weight_decay < 2$"):
        check({**frozen_free, "weight_decay": 2.0}, dataset, 0.5)


def test_split_keeps_validation_apart_and_draws_train_digits_from_the_rest() -> None:
    """The validation digits are the data set's own split; with train_digits n the training
    digits are n of the rest, chosen by the split seed's permutation and sorted; with 0, all
    of the rest."""
    dataset = TinyDataset()
    _, table = _model()
    table = {**table, "split_seed": 9}
    expected_train, expected_validation = dataset.split(4, 9)
    train, validation = mnist.protocol.split_indices(table, dataset)
    np.testing.assert_array_equal(validation, expected_validation)
    np.testing.assert_array_equal(train, expected_train)
    train, validation = mnist.protocol.split_indices({**table, "train_digits": 5}, dataset)
    chosen = np.random.default_rng(9).permutation(8)[:5]
    np.testing.assert_array_equal(train, np.sort(expected_train[chosen]))
    np.testing.assert_array_equal(validation, expected_validation)


def test_hidden_sizes_may_repeat_and_start_at_one() -> None:
    """experiment.hidden takes sizes from 1, repeated; 0 is refused with its index named."""
    for hidden in ([1], [3, 3]):
        assert check_scenario(_raw(hidden=hidden)).settings["experiment"]["hidden"] == hidden
    with pytest.raises(ValidationError, match=r"experiment\.hidden\[0\]"):
        check_scenario(_raw(hidden=[0]))


# ---------------------------------------------------------------------------------------------
# network


def test_layout_spans_the_inputs_and_outputs_of_the_compiled_order() -> None:
    """The layered network is 784 inputs, the hidden layers, 10 outputs by default; the
    layout's slices cover exactly the neurons of each role, for any sizes."""
    params, _ = _model()
    network, layout = mnist.network.build_network([2, 3], params, seed=0)
    assert network.n_neurons == layout.n_neurons == 784 + 5 + 10
    small, small_layout = mnist.network.build_network([3], params, 0, n_input=5, n_output=4)
    for built, where in ((network, layout), (small, small_layout)):
        for role, span in (("input", where.inputs), ("output", where.outputs)):
            expected = np.flatnonzero(built.role == mnist.network.ROLE_CODES[role])
            np.testing.assert_array_equal(np.arange(built.n_neurons)[span], expected)
    assert (small_layout.inputs, small_layout.outputs) == (slice(0, 5), slice(8, 12))
    recurrent, recurrent_layout = mnist.network.build_network([6], params, 0, "recurrent", 5, 4)
    assert recurrent.n_neurons == 15
    assert (recurrent_layout.inputs, recurrent_layout.outputs) == (slice(0, 5), slice(5, 9))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.n_neurons = 3  # type: ignore[misc]


def test_trained_network_refuses_other_stores_and_seeds_it_did_not_store() -> None:
    """Only an MNIST store, and a seed index from 0 to seeds_done - 1 (none counted where the
    store says nothing)."""
    other = SimpleNamespace(path="elsewhere.zarr", attributes={"experiment": "continual"})
    with pytest.raises(ValidationError, match=r"elsewhere\.zarr: not an MNIST"):
        mnist.network.trained_network(other)  # type: ignore[arg-type]
    unfinished = SimpleNamespace(path="x.zarr", attributes={"experiment": "mnist"})
    with pytest.raises(ValidationError, match=r"seed_index = 0: .*weights of 0 seed\(s\)"):
        mnist.network.trained_network(unfinished)  # type: ignore[arg-type]
    two = SimpleNamespace(path="x.zarr", attributes={"experiment": "mnist", "seeds_done": 2})
    for index in (-1, 2):
        with pytest.raises(ValidationError, match=f"seed_index = {index}: .* of 2 seed"):
            mnist.network.trained_network(two, index)  # type: ignore[arg-type]


def test_trained_network_is_each_seeds_stored_network(two_seeds) -> None:
    """Each seed's network has its stored final weights and biases, the layout of its hidden
    sizes, and comes with the test-time model and the run's settings."""
    reader = open_run(two_seeds.out)
    scenario = check_scenario(reader.attributes["scenario"], None)
    for s in (0, 1):
        network, layout, params, table = mnist.network.trained_network(reader, s)
        np.testing.assert_array_equal(network.edge_weights(), reader.array("weights", "W")[s])
        np.testing.assert_array_equal(network.bias, reader.array("weights", "b")[s])
        assert layout == Layout(796, slice(0, 784), slice(786, 796))
        assert params == scenario.test_parameters
        assert table == scenario.settings["experiment"]
    first, *_ = mnist.network.trained_network(reader)
    np.testing.assert_array_equal(first.edge_weights(), reader.array("weights", "W")[0])


# ---------------------------------------------------------------------------------------------
# modes

LAYOUT = Layout(800, slice(0, 784), slice(790, 800))


def test_each_mode_puts_the_image_and_one_hot_label_in_the_targets() -> None:
    """Every mode's targets hold the image on the inputs and, but for selfsupervised, the
    one-hot label on the outputs, zero elsewhere; clamps are exactly 0 or 1."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0.1, 1.0, size=(3, 784)).astype(np.float32)
    labels = np.array([2, 9, 0])
    for mode, present in mnist.modes.MODES.items():
        shown = present(LAYOUT, images, labels, np.random.default_rng(1))
        np.testing.assert_array_equal(shown.target[:, :784], images)
        assert not shown.target[:, 784:790].any()
        expected = np.zeros((3, 10)) if mode == "selfsupervised" else np.eye(10)[labels]
        np.testing.assert_array_equal(shown.target[:, 790:], expected, err_msg=mode)
        for clamp in (shown.free_clamp, shown.clamped_clamp):
            assert set(np.unique(clamp)) <= {0.0, 1.0}, mode
        with pytest.raises(dataclasses.FrozenInstanceError):
            shown.target = images  # type: ignore[misc]
    # the label's width is the outputs' own: 3 outputs give 3 one-hot columns
    narrow = Layout(790, slice(0, 784), slice(787, 790))
    shown = mnist.modes.MODES["supervised"](narrow, images, np.array([2, 1, 0]), rng)
    np.testing.assert_array_equal(shown.target[:, 787:], np.eye(3)[[2, 1, 0]])


def test_selfsupervised_patches_are_10_by_10_anywhere_in_the_image() -> None:
    """Each image frees one 10 x 10 square (100 pixels, the rest clamped); over 2,000 draws
    the squares' corners reach every row and column from 0 to 18, and nothing else."""
    images = np.full((2000, 784), 0.5, dtype=np.float32)
    shown = mnist.modes.MODES["selfsupervised"](
        LAYOUT, images, np.zeros(2000, dtype=np.int64), np.random.default_rng(3)
    )
    free = shown.free_clamp[:, :784].reshape(-1, 28, 28) == 0.0
    assert (free.sum(axis=(1, 2)) == 100).all()
    tops = free.any(axis=2).argmax(axis=1)
    lefts = free.any(axis=1).argmax(axis=1)
    for image, top, left in zip(free[:50], tops[:50], lefts[:50], strict=True):
        assert image[top : top + 10, left : left + 10].all()
    assert set(tops) == set(lefts) == set(range(19))
    assert (shown.free_clamp[:, :784] >= 0.0).all()
    assert shown.clamped_clamp[:, :784].all() and not shown.clamped_clamp[:, 784:].any()


# ---------------------------------------------------------------------------------------------
# training, on a simulator that logs what it is asked


class SimulatorSpy:
    """Stands in for SyncSimulator in training: logs each call; each run adds its steps to
    copy 0's state (copy 1 stays far off), so a read of the state says when it was taken."""

    def __init__(self, params: ModelParameters, batch_size: int, n_neurons: int) -> None:
        self.params = params
        self.batch_size = batch_size
        self.network = SimpleNamespace(dtype=np.dtype(np.float32))
        self.state = np.zeros((2, batch_size, n_neurons), dtype=np.float32)
        self.state[1] = 100.0
        self.log: list[tuple[Any, ...]] = []

    def set_parameters(self, params: ModelParameters) -> None:
        self.params = params
        self.log.append(("parameters", params))

    def set_input(self, target: np.ndarray, clamp: np.ndarray) -> None:
        self.log.append(("input", target.copy(), clamp.copy()))

    def run(self, steps: int) -> None:
        self.state[0] += steps
        self.log.append(("run", steps, self.params))

    def scale_weights(self, factor: float) -> None:
        self.log.append(("scale", factor))

    def entries(self, kind: str) -> list[tuple[Any, ...]]:
        return [entry[1:] for entry in self.log if entry[0] == kind]


def test_training_arithmetic() -> None:
    """decayed_alpha is alpha / (1 + decay n / 1000); a batch scales the weights by 1 -
    lambda alpha (learning steps), the free steps counted only when they learn; an epoch
    trains on the digits that fill whole batches."""
    training = mnist.training
    assert training.decayed_alpha(0.06, 0.5, 4000) == pytest.approx(0.02)
    assert training.decayed_alpha(0.06, 2.0, 250) == pytest.approx(0.04)
    assert training.weight_decay_factor(0.5, 0.1, 3, 2, True) == pytest.approx(0.75)
    assert training.weight_decay_factor(0.5, 0.1, 3, 2, False) == pytest.approx(0.9)
    assert training.weight_decay_factor(2.0, 0.1, 0, 4, True) == pytest.approx(0.2)
    assert [training.whole_batches(n, 4) for n in (3, 4, 7, 8, 11)] == [0, 4, 4, 8, 8]


def test_show_batch_runs_the_free_part_then_the_clamped_part() -> None:
    """The free part with the free clamps (learning only with learn_free, else alpha and its
    smoothing 0), then the clamped part with the clamped clamps and the learning model; the
    answer is copy 0's state at the end of the free part, none without one. Parameters are
    set only where they change."""
    params, _ = _model()
    learning = params.replace(alpha=0.02)
    shown = mnist.modes.Presentation(
        np.full((2, 8), 0.5, np.float32), np.eye(8)[0], np.eye(8)[0] + np.eye(8)[7]
    )
    for learn_free in (True, False):
        sim = SimulatorSpy(params, 2, 8)
        answered = mnist.training.show_batch(sim, shown, learning, 3, 2, learn_free)
        runs = sim.entries("run")
        assert [steps for steps, _ in runs] == [3, 2]
        frozen = learning.replace(alpha=0.0, alpha_smoothing=0.0)
        assert runs[0][1] == (learning if learn_free else frozen)
        assert runs[1][1] == learning
        inputs = sim.entries("input")
        np.testing.assert_array_equal(inputs[0][1], shown.free_clamp)
        np.testing.assert_array_equal(inputs[1][1], shown.clamped_clamp)
        np.testing.assert_array_equal(inputs[1][0], shown.target)
        np.testing.assert_array_equal(answered, np.full((2, 8), 3.0))
    sim = SimulatorSpy(learning, 2, 8)
    assert mnist.training.show_batch(sim, shown, learning, 0, 4, True) is None
    assert sim.entries("parameters") == []
    assert [steps for steps, _ in sim.entries("run")] == [4]
    np.testing.assert_array_equal(sim.entries("input")[0][1], shown.clamped_clamp)


class BarSpy:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, steps: int) -> None:
        self.updates.append(steps)


class StopSpy:
    def __init__(self) -> None:
        self.checks = 0

    def check(self) -> None:
        self.checks += 1


def test_train_epoch_shows_whole_batches_in_order_with_decay_and_reports() -> None:
    """Seven digits in batches of 2: three batches in the order given (the seventh left
    out), each clamping its images and one-hot labels, learning at the alpha decayed by the
    digits before it and then shrinking the weights by its own factor; the bar counts each
    batch's digit-steps, ``after_batch`` hears 2, 4, 6 and the stop request is checked after
    every batch."""
    params, _ = _model()
    layout = Layout(12, slice(0, 6), slice(9, 12))
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(9, 6)).astype(np.uint8)
    labels = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0])
    order = np.array([8, 3, 5, 0, 6, 1, 2])
    sim = SimulatorSpy(params.replace(alpha=0.5), 2, 12)
    bar, stop, done = BarSpy(), StopSpy(), []
    mnist.training.train_epoch(
        sim=sim,  # type: ignore[arg-type]
        layout=layout,
        images=images,
        labels=labels,
        order=order,
        mode="supervised",
        free_steps=2,
        clamped_steps=3,
        learn_free=True,
        params=params,
        alpha_decay=4.0,
        weight_decay=0.25,
        digits_seen=500,
        stop=stop,
        bar=bar,  # type: ignore[arg-type]
        after_batch=done.append,
    )
    alphas = [0.03 / (1.0 + 4.0 * seen / 1000.0) for seen in (500, 502, 504)]
    runs = sim.entries("run")
    assert [steps for steps, _ in runs] == [2, 3] * 3
    np.testing.assert_allclose([p.alpha for _, p in runs], np.repeat(alphas, 2))
    assert runs[-1][1] == params.replace(alpha=runs[-1][1].alpha)
    np.testing.assert_allclose(
        [factor for (factor,) in sim.entries("scale")], [1.0 - 0.25 * a * 5 for a in alphas]
    )
    targets = [target for target, _ in sim.entries("input")[1::2]]
    for batch, target in zip(order[:6].reshape(3, 2), targets, strict=True):
        np.testing.assert_allclose(target[:, :6], images[batch] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(target[:, 9:], np.eye(3)[labels[batch]])
    assert bar.updates == [10, 10, 10]
    assert done == [2, 4, 6]
    assert stop.checks == 3


def test_train_epoch_defaults_to_the_simulators_model_and_a_draw_seeded_by_the_digits() -> None:
    """Without params the batches learn with the simulator's model, undecayed with no
    alpha_decay and no digits seen; without weight_decay nothing is scaled; without rng the
    self-supervised patches are drawn from a generator seeded by digits_seen."""
    params, _ = _model()
    images = np.random.default_rng(2).integers(0, 256, size=(4, 784)).astype(np.uint8)
    labels = np.array([1, 2, 3, 4])
    for seen in (0, 37):
        sim = SimulatorSpy(params, 2, 800)
        mnist.training.train_epoch(
            sim,
            LAYOUT,
            images,
            labels,
            np.arange(4),
            mode="selfsupervised",
            free_steps=1,
            clamped_steps=1,
            learn_free=True,
            **({"digits_seen": seen, "alpha_decay": 1000.0} if seen else {}),
        )
        runs = sim.entries("run")
        decayed = [0.03 / (1.0 + (seen + 2 * k) if seen else 1.0) for k in (0, 1)]
        np.testing.assert_allclose([p.alpha for _, p in runs], np.repeat(decayed, 2))
        assert sim.entries("scale") == []
        rng = np.random.default_rng(seen)
        for k, (_, clamp) in enumerate(sim.entries("input")[::2]):
            batch = images[2 * k : 2 * k + 2].astype(np.float32) / 255
            expected = mnist.modes.MODES["selfsupervised"](LAYOUT, batch, labels[:2], rng)
            np.testing.assert_array_equal(clamp, expected.free_clamp)


# ---------------------------------------------------------------------------------------------
# evaluation, on a network of 6 inputs, 3 hidden neurons and 3 outputs


@pytest.fixture(scope="module")
def small_network() -> tuple[Any, Layout, ModelParameters]:
    """6 inputs, 3 hidden neurons, 3 outputs, wired so that the answer follows the image:
    inputs 2k and 2k + 1 excite hidden neuron k (and inhibit the others), which excites
    output k (and inhibits the others)."""
    params, _ = _model()
    network, layout = mnist.network.build_network([3], params, 2, n_input=6, n_output=3)
    hidden = np.flatnonzero(network.hidden)
    outputs = np.arange(network.n_neurons)[layout.outputs]
    weights = np.zeros((network.n_neurons, network.n_neurons))
    for k in range(3):
        weights[:6, hidden[k]] = np.where(np.arange(6) // 2 == k, 2.0, -1.0)
        weights[hidden[k], outputs] = np.where(np.arange(3) == k, 2.0, -1.0)
    network.set_edge_weights(weights[network.edge_pre, network.edge_post])
    network.bias[:] = 0.0
    return network, layout, params


def _small_images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 6)).astype(np.uint8)


def _simulator(network, params: ModelParameters, batch_size: int, seed: int) -> SyncSimulator:
    """The evaluation's simulator as its docstring has it: a copy, learning off."""
    frozen = params.replace(alpha=0.0, alpha_smoothing=0.0)
    return SyncSimulator(network.copy(), frozen, batch_size=batch_size, seed=seed)


def _show(sim: SyncSimulator, layout: Layout, images: np.ndarray, rows: int) -> None:
    """Clamp ``images`` (uint8) on the inputs of the first rows of a batch of ``rows``."""
    target = np.zeros((rows, layout.n_neurons), dtype=np.float32)
    target[: len(images), layout.inputs] = images.astype(np.float32) / 255
    clamp = np.zeros(layout.n_neurons, dtype=np.float32)
    clamp[layout.inputs] = 1.0
    sim.set_input(target, clamp)


def test_relaxed_states_and_predictions_read_copy_0_after_the_steps(small_network) -> None:
    """Five digits in batches of 2 (the last padded with a blank image): copy 0's states
    after 3 steps of each batch, the state carried over, on a copy with learning off; the
    prediction is their output argmax; a batch larger than the digits shrinks to them; no
    digits, no predictions."""
    network, layout, params = small_network
    before = network.edge_weights().copy()
    images = _small_images(9)
    indices = np.array([7, 2, 5, 0, 3])
    sim = _simulator(network, params, 2, seed=6)
    expected = []
    for start in range(0, 5, 2):
        _show(sim, layout, images[indices[start : start + 2]], 2)
        sim.run(3)
        expected.append(sim.state[0, : len(indices[start : start + 2])].copy())
    arguments = dict(
        network=network,
        params=params,
        layout=layout,
        images=images,
        indices=indices,
        steps=3,
        batch_size=2,
        seed=6,
    )
    states = list(mnist.evaluation.relaxed_states(**arguments))
    assert len(states) == 3
    for got, want in zip(states, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    outputs = np.concatenate(expected)[:, layout.outputs]
    assert len(set(outputs.argmax(axis=1))) > 1  # the answers differ from digit to digit
    predicted = mnist.evaluation.predict(**arguments)
    np.testing.assert_array_equal(predicted, outputs.argmax(axis=1))
    np.testing.assert_array_equal(network.edge_weights(), before)  # learning off, on a copy
    one = _simulator(network, params, 3, seed=6)
    _show(one, layout, images[indices[:3]], 3)
    one.run(3)
    (alone,) = mnist.evaluation.relaxed_states(
        network, params, layout, images, indices[:3], steps=3, batch_size=50, seed=6
    )
    np.testing.assert_array_equal(alone, one.state[0])
    empty = mnist.evaluation.predict(
        network, params, layout, images, indices[:0], steps=3, batch_size=2, seed=6
    )
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_every_batch_is_read_from_the_start_of_an_oscillator_cycle(monkeypatch) -> None:
    """With a clamp oscillator (the MSTDP preset) each batch is clamped at a cycle's start: 40
    test steps are not a whole or half cycle, so a batch shown right after the one before
    (or at any other phase) would start elsewhere."""
    from neurosim.model.presets import load_preset

    params = load_preset("mstdp")
    network, layout = mnist.network.build_network([3], params, 0, "recurrent", 6, 3)
    period = len(params.phase_schedules()[0])
    assert 40 % period and 80 % period
    shown_at: list[int] = []
    set_input = SyncSimulator.set_input

    def logged(sim: SyncSimulator, target: np.ndarray, clamp: np.ndarray) -> None:
        shown_at.append(sim.step_count)
        set_input(sim, target, clamp)

    monkeypatch.setattr(SyncSimulator, "set_input", logged)
    mnist.evaluation.predict(
        network, params, layout, _small_images(6), np.arange(6), steps=40, batch_size=2, seed=0
    )
    assert shown_at == [0, period, 2 * period]


def _settling_by_hand(
    network, params, layout, images, indices, previous, warmup, threshold, max_steps, seed
) -> tuple[np.ndarray, np.ndarray]:
    """Settling as the docstring says, from the whole recorded trajectory: the first step whose
    largest change is below the threshold (the cap where none is), and the last step the
    output argmax changed (0: never), counted until every digit settled (if all do)."""
    sim = _simulator(network, params, len(indices), seed)
    _show(sim, layout, images[previous], len(indices))
    sim.run(warmup)
    _show(sim, layout, images[indices], len(indices))
    trajectory = [sim.state[0].copy()]
    for _ in range(max_steps):
        sim.run(1)
        trajectory.append(sim.state[0].copy())
    states = np.array(trajectory)
    calm = np.abs(np.diff(states, axis=0)).max(axis=2) < threshold  # (steps, digits)
    settled = np.where(calm.any(axis=0), calm.argmax(axis=0) + 1, max_steps)
    last = settled.max() if (settled < max_steps).all() else max_steps
    answers = states[: last + 1, :, layout.outputs].argmax(axis=2)
    changed = answers[1:] != answers[:-1]
    decided = np.where(changed.any(axis=0), last - changed[::-1].argmax(axis=0), 0)
    return settled, decided


def test_settling_counts_the_steps_to_calm_and_to_the_last_change_of_answer(
    small_network,
) -> None:
    """Both counts equal a recomputation from the recorded trajectory, for a threshold that
    some digits meet and some do not, for one that every digit meets at once (the loop then
    stops), for one some digits meet in the first step and for one that a change equals
    (not below it, so not calm); by default each digit follows the one before it in
    ``indices``, the first the last."""
    network, layout, params = small_network
    images = _small_images(10, seed=3)
    indices = np.array([4, 9, 1, 6, 2, 8])
    rolled = np.roll(indices, 1)
    sim = _simulator(network, params, len(indices), 5)
    _show(sim, layout, images[rolled], 6)
    sim.run(4)
    _show(sim, layout, images[indices], 6)
    steps = []
    for _ in range(7):
        before = sim.state[0].copy()
        sim.run(1)
        steps.append(np.abs(sim.state[0] - before).max(axis=1))
    # halfway between the digits' smallest one-step changes: some get below it, some not
    middle = float(np.median(np.min(steps, axis=0)))
    # some digits calm in the first step (which compares with copy 0's state at the switch)
    first = float(np.median(steps[0]))
    # a change exactly at the threshold is not below it
    exact = float(steps[2][0])
    cases = ((middle, None), (middle, indices[::-1]), (10.0, None), (first, None), (exact, None))
    for threshold, previous in cases:
        shown_before = rolled if previous is None else previous
        expected = _settling_by_hand(
            network, params, layout, images, indices, shown_before, 4, threshold, 7, 5
        )
        settled, decided = mnist.evaluation.settling(
            network=network,
            params=params,
            layout=layout,
            images=images,
            indices=indices,
            warmup_steps=4,
            threshold=threshold,
            max_steps=7,
            seed=5,
            previous=previous,
        )
        np.testing.assert_array_equal(settled, expected[0])
        np.testing.assert_array_equal(decided, expected[1])
    by_hand = _settling_by_hand(network, params, layout, images, indices, rolled, 4, middle, 7, 5)
    assert 7 in by_hand[0] and by_hand[0].min() < 7  # some digits settle, some do not
    assert by_hand[1].max() > 0  # some answers change
    everyone = _settling_by_hand(network, params, layout, images, indices, rolled, 4, 10.0, 7, 5)
    assert (everyone[0] == 1).all()
    early = _settling_by_hand(network, params, layout, images, indices, rolled, 4, first, 7, 5)
    assert 1 in early[0]
    at = _settling_by_hand(network, params, layout, images, indices, rolled, 4, exact, 7, 5)
    assert at[0][0] == 4  # the change of step 3 equals the threshold: calm one step later


def test_generate_clamps_the_label_with_scaled_betas_and_clips_the_inputs() -> None:
    """The images are copy 0's input states, clipped to [0, 1], after the steps with the
    one-hot label alone clamped, with both betas times the scale, learning off, from the
    seed's random state; a random state has inputs outside [0, 1], which the clip cuts."""
    params, _ = _model()
    network, layout = mnist.network.build_network([2], params, seed=1)
    labels = np.array([3, 0, 9])
    images = mnist.evaluation.generate(
        network=network,
        params=params,
        layout=layout,
        labels=labels,
        steps=4,
        beta_scale=2.5,
        seed=4,
    )
    scaled = params.replace(beta_small=params.beta_small * 2.5, beta_large=params.beta_large * 2.5)
    sim = _simulator(network, scaled, 3, 4)
    target = np.zeros((3, layout.n_neurons), dtype=np.float32)
    target[:, layout.outputs] = np.eye(10)[labels]
    clamp = np.zeros(layout.n_neurons, dtype=np.float32)
    clamp[layout.outputs] = 1.0
    sim.set_input(target, clamp)
    sim.run(4)
    raw = sim.state[0][:, layout.inputs]
    np.testing.assert_array_equal(images, np.clip(raw, 0.0, 1.0))
    assert raw.min() < 0.0 and raw.max() > 1.0
    # the label's clamp has reached the inputs: unclamped, they would be other images
    free = _simulator(network, scaled, 3, 4)
    free.set_input(target, np.zeros_like(clamp))
    free.run(4)
    assert not np.array_equal(np.clip(free.state[0][:, layout.inputs], 0.0, 1.0), images)
    assert images.shape == (3, 784)


def test_confusion_matrix_counts_each_pair_once() -> None:
    """Each (label, prediction) pair adds one to its cell, labels in rows."""
    labels = np.array([0, 3, 3, 9, 9, 9])
    predicted = np.array([0, 3, 5, 9, 1, 9])
    matrix = mnist.evaluation.confusion_matrix(labels, predicted)
    expected = np.zeros((10, 10), dtype=np.int64)
    for label, guess in zip(labels, predicted, strict=True):
        expected[label, guess] += 1
    np.testing.assert_array_equal(matrix, expected)


def test_evaluation_settings_come_from_the_table() -> None:
    """Evaluation steps, batch and seed are test_steps, eval_batch_size and the first seed."""
    table = {"test_steps": 7, "eval_batch_size": 5, "seeds": [11, 12]}
    assert mnist.evaluation.evaluation_settings(table) == {"steps": 7, "batch_size": 5, "seed": 11}


def test_predict_digits_reads_the_training_or_the_test_images(small_network) -> None:
    """``predict`` with the table's settings, on the training images by default and on the
    test images with ``test`` (the two give different answers here)."""
    network, layout, params = small_network
    train = _small_images(6, seed=1)
    test = 255 - train
    dataset = SimpleNamespace(train_images=train, test_images=test)
    table = {"test_steps": 20, "eval_batch_size": 4, "seeds": [6, 1]}
    indices = np.arange(6)
    for images, flag in ((train, False), (test, True)):
        expected = mnist.evaluation.predict(
            network, params, layout, images, indices, steps=20, batch_size=4, seed=6
        )
        got = mnist.evaluation.predict_digits(
            network, params, layout, dataset, indices, table, test=flag
        )
        np.testing.assert_array_equal(got, expected)
    default = mnist.evaluation.predict_digits(network, params, layout, dataset, indices, table)
    np.testing.assert_array_equal(
        default,
        mnist.evaluation.predict(
            network, params, layout, train, indices, steps=20, batch_size=4, seed=6
        ),
    )
    # the two image sets give different answers, so the choice shows
    assert not np.array_equal(
        default,
        mnist.evaluation.predict_digits(network, params, layout, dataset, indices, table, True),
    )


def test_measure_settling_stores_both_measures_of_the_first_settle_digits(
    small_network, monkeypatch
) -> None:
    """Seed 1's entries get the state's settling (fake targets off) and the answer's (the
    model as given) on the first settle_digits validation digits, warmed up for test_steps,
    with seed 1's seed; unsettled is the share that reached the cap. settle_digits 0 measures
    nothing."""
    network, layout, params = small_network
    images = _small_images(10, seed=3)
    dataset = SimpleNamespace(train_images=images)
    validation = np.array([9, 4, 6, 1, 3, 0])
    table = {
        "settle_digits": 4,
        "test_steps": 3,
        "settle_threshold": 0.01,
        "settle_max_steps": 7,
        "seeds": [0, 7],
    }
    calls = []
    settling = mnist.evaluation.settling

    def logged(network, params, layout, **kwargs):
        calls.append((params, kwargs))
        return settling(network, params, layout, **kwargs)

    monkeypatch.setattr(mnist.evaluation, "settling", logged)
    results = Results(2, 1, 0, np.zeros(0, dtype=np.int64))
    mnist.evaluation.measure_settling(
        results, 1, network, params, layout, dataset, validation, table
    )
    assert [p.fake_target.enabled for p, _ in calls] == [False, True]
    assert calls[0][0] == params.replace(
        fake_target=dataclasses.replace(params.fake_target, enabled=False)
    )
    assert calls[1][0] == params
    for _, kwargs in calls:
        np.testing.assert_array_equal(kwargs["indices"], validation[:4])
        assert kwargs["images"] is images
        assert (kwargs["warmup_steps"], kwargs["threshold"], kwargs["max_steps"]) == (3, 0.01, 7)
        assert kwargs["seed"] == 7 and kwargs.get("previous") is None
    settled, _ = settling(network, calls[0][0], layout, **calls[0][1])
    _, decided = settling(network, params, layout, **calls[1][1])
    assert results.steps_to_settle[1] == settled.mean()
    assert results.unsettled[1] == np.mean(settled == 7)
    assert results.steps_to_decide[1] == decided.mean()
    assert 0.0 < results.unsettled[1] < 1.0  # some settled before the cap, some did not
    assert np.isnan(results.steps_to_settle[0])
    calls.clear()
    untouched = Results(2, 1, 0, np.zeros(0, dtype=np.int64))
    mnist.evaluation.measure_settling(
        untouched, 1, network, params, layout, dataset, validation, {**table, "settle_digits": 0}
    )
    assert calls == [] and np.isnan(untouched.steps_to_settle).all()


def test_measure_generation_stores_the_images_by_label_and_the_judges_verdict() -> None:
    """n images per label, label by label (row k of the generated batch has label k // n),
    generated with the table's steps, scale and seed s's seed; the judge hears the images
    with those labels, and its own accuracy is stored."""
    params, _ = _model()
    network, layout = mnist.network.build_network([2], params, seed=1)
    heard = []

    def recognised(images: np.ndarray, labels: np.ndarray) -> float:
        heard.append((images, labels))
        return 0.25

    judge = SimpleNamespace(recognised=recognised, held_out_accuracy=0.75)
    table = {
        "generate_samples": 2,
        "generate_steps": 1,
        "generate_beta_scale": 1.5,
        "seeds": [5, 8],
    }
    results = Results(2, 1, 2, np.zeros(0, dtype=np.int64))
    mnist.evaluation.measure_generation(results, 1, network, params, layout, judge, table)
    labels = np.repeat(np.arange(10), 2)
    expected = mnist.evaluation.generate(
        network, params, layout, labels, steps=1, beta_scale=1.5, seed=8
    )
    (images, judged_labels), *_ = heard
    np.testing.assert_array_equal(judged_labels, labels)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(results.generated_images[1], expected.reshape(10, 2, 784))
    assert np.isnan(results.generated_images[0]).all()
    assert results.generated_recognised[1] == 0.25 and np.isnan(results.generated_recognised[0])
    assert results.judge_accuracy == 0.75


class StoreSpy:
    """Stands in for a RunStore: keeps the metrics and checkpoints written to it."""

    def __init__(self) -> None:
        self.metrics: dict[str, tuple[np.ndarray, tuple[str, ...], dict, dict]] = {}
        self.checkpoints: list[tuple[dict[str, np.ndarray], dict[str, Any]]] = []

    @contextmanager
    def metrics_together(self) -> Iterator[None]:
        yield

    def write_metric(self, name, values, dims, attributes, coords=None) -> None:
        self.metrics[name] = (np.array(values), dims, attributes, coords or {})

    def write_checkpoint(self, arrays, attributes) -> None:
        self.checkpoints.append((dict(arrays), dict(attributes)))


def test_a_curve_point_is_the_accuracy_on_its_digits_written_at_once(small_network) -> None:
    """Point 2 of seed 1 is the share of the 4 curve digits answered right (3 of 4), only that
    cell changes, and the curve is written to the store at once, by seed."""
    network, layout, params = small_network
    images = _small_images(8, seed=4)
    indices = np.array([6, 1, 3, 0])
    table = {"test_steps": 2, "eval_batch_size": 4, "seeds": [2, 9]}
    predicted = mnist.evaluation.predict(
        network, params, layout, images, indices, steps=2, batch_size=4, seed=2
    )
    labels = np.zeros(8, dtype=np.uint8)
    labels[indices] = predicted
    labels[indices[0]] = (predicted[0] + 1) % 3  # one of four wrong: 0.75
    dataset = SimpleNamespace(train_images=images, train_labels=labels)
    results = Results(2, 1, 0, np.array([4, 8, 12]))
    store = StoreSpy()
    mnist.evaluation.measure_curve_point(
        point=2,
        results=results,
        s=1,
        network=network,
        params=params,
        layout=layout,
        dataset=dataset,
        indices=indices,
        table=table,
        store=store,
    )
    assert results.learning_curve[1, 2] == 0.75
    assert (
        np.isnan(results.learning_curve[1, :2]).all() and np.isnan(results.learning_curve[0]).all()
    )
    np.testing.assert_array_equal(store.metrics["learning_curve"][0], results.learning_curve)
    np.testing.assert_array_equal(store.metrics["learning_curve"][3]["seed"], [2, 9])


# ---------------------------------------------------------------------------------------------
# results


def _finished(n_seeds: int = 3, epochs: int = 3, samples: int = 0) -> Results:
    """Results of ``n_seeds`` seeds of which the first and last are done, with distinct
    values everywhere."""
    results = Results(n_seeds, epochs, samples, np.zeros(0, dtype=np.int64))
    results.test_accuracy[[0, -1]] = [0.5, 0.7]
    results.validation_accuracy[:] = np.arange(n_seeds * epochs).reshape(n_seeds, epochs) / 10
    results.train_wall_time[:] = [2.0, 40.0, 4.0][:n_seeds]
    results.steps_to_settle[[0, -1]] = [10.0, np.nan]
    results.generated_recognised[:] = [0.2, 0.9, 0.4][:n_seeds]
    return results


def test_summary_averages_the_finished_seeds_only() -> None:
    """test accuracy, the last epoch's validation, training time, settling (NaNs skipped)
    and, with generation, the recognised share: means over the seeds with a test accuracy;
    none finished, nothing to say."""
    summary = _finished(samples=2).summary()
    assert summary == pytest.approx(
        {
            "test_accuracy": 0.6,
            "validation_accuracy_last": (0.2 + 0.8) / 2,
            "train_wall_time_s": 3.0,
            "steps_to_settle": 10.0,
            "generated_recognised": 0.3,
        }
    )
    plain = _finished().summary()
    assert "generated_recognised" not in plain and plain["test_accuracy"] == pytest.approx(0.6)
    unsettled = _finished()
    unsettled.steps_to_settle[:] = np.nan
    assert np.isnan(unsettled.summary()["steps_to_settle"])
    assert Results(2, 1, 0, np.zeros(0, dtype=np.int64)).summary() == {}


def test_results_round_trip_through_a_checkpoints_arrays() -> None:
    """``saved`` gives every metric as an array named results_*; ``load`` restores them, the
    judge's accuracy as a plain number."""
    results = _finished(samples=1)
    results.judge_accuracy = 0.625
    results.confusion[1, 2, 3] = 5
    saved = results.saved()
    assert set(saved) == {f"results_{name}" for name in vars(results)}
    restored = Results(3, 3, 1, np.array([9]))
    restored.load({name: np.array(value) for name, value in saved.items()})
    for name, value in vars(results).items():
        np.testing.assert_array_equal(getattr(restored, name), value, err_msg=name)
    assert type(restored.judge_accuracy) is float and restored.judge_accuracy == 0.625


def test_results_write_names_each_metrics_dims_and_coordinates() -> None:
    """Every metric with its dims; epochs counted from 1; the curve only with curve points,
    the generation metrics only with generated samples."""
    results = _finished(n_seeds=2, epochs=3)
    store = StoreSpy()
    results.write(store, [5, 6])  # type: ignore[arg-type]
    assert set(store.metrics) == {
        "test_accuracy",
        "confusion",
        "validation_accuracy",
        "train_wall_time",
        "steps_to_settle",
        "steps_to_decide",
        "unsettled",
    }
    _, dims, _, coords = store.metrics["validation_accuracy"]
    assert dims == ("seed", "epoch")
    np.testing.assert_array_equal(coords["epoch"], [1, 2, 3])
    np.testing.assert_array_equal(coords["seed"], [5, 6])
    _, dims, _, coords = store.metrics["confusion"]
    assert dims == ("seed", "label", "predicted")
    np.testing.assert_array_equal(coords["predicted"], np.arange(10))
    with_all = Results(2, 3, 4, np.array([2, 4]))
    store = StoreSpy()
    with_all.write(store, [5, 6])  # type: ignore[arg-type]
    assert {"learning_curve", "generated_images", "generated_recognised", "judge_accuracy"} <= set(
        store.metrics
    )
    assert store.metrics["generated_images"][0].shape == (2, 10, 4, 784)
    np.testing.assert_array_equal(store.metrics["learning_curve"][3]["digits"], [2, 4])
    np.testing.assert_array_equal(store.metrics["generated_images"][3]["label"], np.arange(10))


# ---------------------------------------------------------------------------------------------
# checkpoints


class FakeClock:
    """perf_counter for the checkpoint clock, moved on by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def perf_counter(self) -> float:
        return self.now


def _clock(
    monkeypatch, every: int, curve_every: int = 0, at: Position | None = None
) -> tuple[StageClock, StoreSpy, Results, FakeClock]:
    """A stage clock of seed 1 of 3, batches of 2 and 3 steps per digit, on spies."""
    time = FakeClock(50.0)
    monkeypatch.setattr(mnist.checkpoints, "time", time)
    store, results = StoreSpy(), Results(3, 1, 0, np.zeros(0, dtype=np.int64))
    sim = SimpleNamespace(batch_size=2, checkpoint=lambda: {"step_count": np.array(7)})
    at = at or Position(1, 2, 4, np.arange(12), 100)
    table = {"checkpoint_digits": every, "curve_every": curve_every}
    shuffle = np.random.default_rng(0)
    clock = StageClock(store, results, sim, shuffle, at, table, 3)  # type: ignore[arg-type]
    return clock, store, results, time


def test_positions_start_at_zero_and_read_back_from_a_checkpoint() -> None:
    """A new position is seed 0, stage 0, nothing done; a checkpoint's attributes and order
    give back the position written (no order where none was saved)."""
    assert Position() == Position(0, 0, 0, None, 0)
    at = Position.saved_in(
        {"order": np.array([3, 1])}, {"seed_index": 2, "stage": 1, "done": 6, "steps": 40}
    )
    assert (at.s, at.stage, at.done, at.steps) == (2, 1, 6, 40)
    np.testing.assert_array_equal(at.order, [3, 1])
    assert Position.saved_in({}, {"seed_index": 0, "stage": 0, "done": 0, "steps": 0}).order is None


def test_stage_clock_writes_a_checkpoint_each_time_the_digits_pass_a_multiple(monkeypatch) -> None:
    """A stage resumed 4 digits in, a checkpoint every 6 digits: after the batches that end at
    6 and 12 digits (and not at 8 or 10), each holding where the run is, the steps counted
    at 3 per digit from the position's 100, the simulator, the shuffle and the order;
    checkpoint_digits 0 writes none."""
    clock, store, results, _ = _clock(monkeypatch, every=6)
    for done_now in (2, 4, 6, 8):
        clock.after_batch(done_now)
    assert [attributes["done"] for _, attributes in store.checkpoints] == [6, 12]
    arrays, attributes = store.checkpoints[0]
    assert attributes | {"shuffle": None} == {
        "seed_index": 1,
        "stage": 2,
        "done": 6,
        "steps": 106,
        "shuffle": None,
    }
    assert store.checkpoints[1][1]["steps"] == 124
    shuffle = np.random.default_rng(0)
    assert json.loads(attributes["shuffle"]) == shuffle.bit_generator.state
    np.testing.assert_array_equal(arrays["order"], np.arange(12))
    assert arrays["step_count"] == 7
    assert set(results.saved()) <= set(arrays)
    never, store, _, _ = _clock(monkeypatch, every=0)
    for done_now in (2, 4, 6, 8):
        never.after_batch(done_now)
    assert store.checkpoints == []


def test_stage_clock_reads_the_curve_at_multiples_of_curve_every_outside_training_time(
    monkeypatch,
) -> None:
    """With 8 digits trained before the stage and 4 done in it, a curve point every 4 digits:
    points 3 and 4 after the batches that end at 16 and 20 training digits, none at 14 or
    18; the time spent on a point is not training time; stop() adds the time since the
    clock (re)started to this seed only."""
    clock, _, results, time = _clock(monkeypatch, every=0, curve_every=4)
    points: list[int] = []

    def point(k: int) -> None:
        points.append(k)
        time.now += 100.0  # evaluating takes long

    clock.follow_curve(8, point)
    for done_now, at in ((2, 51.0), (4, 53.0), (6, 56.0), (8, 60.0)):
        time.now = at if not points else at + 100.0 * len(points)
        clock.after_batch(done_now)
    assert points == [3, 4]
    # 50 -> 53 before point 3, 153 -> 160 + 100 before point 4, nothing after it yet
    assert results.train_wall_time[1] == pytest.approx(3.0 + 7.0)
    time.now += 5.0
    clock.stop()
    assert results.train_wall_time[1] == pytest.approx(15.0)
    assert results.train_wall_time[0] == results.train_wall_time[2] == 0.0
    silent, _, _, _ = _clock(monkeypatch, every=0, curve_every=4)
    silent.after_batch(4)  # no curve followed: nothing to call


def test_write_checkpoint_keeps_the_simulator_only_within_a_seed() -> None:
    """Between seeds (no simulator) only the metrics and the position; within one, the
    simulator, the shuffle and the order where the stage drew one."""
    results = _finished()
    sim = SimpleNamespace(checkpoint=lambda: {"step_count": np.array(3)})
    shuffle = np.random.default_rng(1)
    store = StoreSpy()
    write_checkpoint(store, results, None, None, Position(2, 0, 0, None, 9))  # type: ignore[arg-type]
    write_checkpoint(store, results, sim, None, Position(1, 1, 2, np.arange(3), 9))  # type: ignore[arg-type]
    write_checkpoint(store, results, None, shuffle, Position(1, 1, 2, np.arange(3), 9))  # type: ignore[arg-type]
    for arrays, attributes in store.checkpoints:
        assert set(arrays) == set(results.saved())
        assert "shuffle" not in attributes
    write_checkpoint(store, results, sim, shuffle, Position(1, 1, 2, None, 9))  # type: ignore[arg-type]
    arrays, attributes = store.checkpoints[-1]
    assert "step_count" in arrays and "order" not in arrays and "shuffle" in attributes
    np.testing.assert_array_equal(arrays["results_test_accuracy"], results.test_accuracy)
    assert attributes["seed_index"] == 1 and attributes["steps"] == 9


# ---------------------------------------------------------------------------------------------
# whole tiny runs


def _expected_checkpoints(
    seeds: int, stages: int, usable: int, per_digit: int, every: int
) -> list[tuple[Any, ...]]:
    """Where the checkpoints fall (module docstring of checkpoints): within each stage after
    the batch that passes each multiple of ``every`` digits, after every stage and after
    every seed (without the simulator)."""
    expected, steps = [], 0
    for s in range(seeds):
        for stage in range(stages):
            for done in range(every, usable + 1, every) if every else ():
                expected.append((s, stage, done, steps + done * per_digit, True))
            steps += usable * per_digit
            expected.append((s, stage + 1, 0, steps, True))
        expected.append((s + 1, 0, 0, steps, False))
    return expected


def test_two_seeds_train_stage_by_stage_with_checkpoints_where_they_are_due(two_seeds) -> None:
    """Each seed trains two epochs of 8 digits (digits seen 0, then 8), validated after
    each and tested once after both (the test images read only then); checkpoints after
    every stage and every seed (none within a stage, with checkpoint_digits 0) carry the
    steps done (2 per digit); the
    progress bar's total is every digit-step of training, all counted. The store holds the
    paper's accuracies, which are shares."""
    run = two_seeds
    assert run.summary is not None and run.summary.status == "complete"
    assert run.summary.steps == 2 * 2 * 8 * 2
    assert run.of("train") == [("supervised", 0, 8), ("supervised", 8, 8)] * 2
    kinds = [event[0] for event in run.events if event[0] in ("train", "predict", "test read")]
    one_seed = ["train", "predict", "train", "predict", "predict", "test read"]
    assert kinds == one_seed * 2
    assert run.of("predict") == [(False, 4), (False, 4), (True, 4)] * 2
    assert run.of("checkpoint") == _expected_checkpoints(2, 2, 8, 2, 0)
    (bar,) = run.bars
    assert bar.arguments["total"] == 64 and bar.arguments["initial"] == 0
    assert bar.arguments["disable"] is True
    assert bar.counted == 64
    reader = open_run(run.out)
    assert reader.attributes["seeds_done"] == 2
    assert reader.attributes["train_digits_used"] == 8
    # the paper's test accuracies, by mode, with the test accuracy: shares of modes that exist
    paper = xr.open_zarr(run.out, group="metrics")["test_accuracy"].attrs["paper_value"]
    assert set(paper) <= set(mnist.modes.MODES)
    assert all(0.5 < share < 1.0 for share in paper.values())
    assert reader.attributes["paper_accuracy"] == paper["supervised"]


def test_two_seeds_store_what_their_final_networks_answer(two_seeds) -> None:
    """Each seed's test confusion and accuracy, last validation accuracy and settling equal
    a recomputation on its stored final network (so the run tested the trained network, on
    the test digits, with the test-time model); the summary is their mean; no curve, no
    generation."""
    metrics = _metrics(two_seeds)
    assert list(metrics["seed"].values) == [4, 7]
    assert list(metrics["epoch"].values) == [1, 2]
    assert "learning_curve" not in metrics and "generated_images" not in metrics
    for s in (0, 1):
        again = _recomputed(two_seeds, s)
        np.testing.assert_array_equal(metrics["confusion"].values[s], again["confusion"])
        assert metrics["test_accuracy"].values[s] == again["test_accuracy"]
        assert metrics["validation_accuracy"].values[s, -1] == again["validation_accuracy"]
        assert np.isfinite(metrics["validation_accuracy"].values[s]).all()
        table, params = again["table"], again["params"]
        without_fake = params.replace(
            fake_target=dataclasses.replace(params.fake_target, enabled=False)
        )
        settled, _ = mnist.evaluation.settling(
            again["network"],
            without_fake,
            again["layout"],
            two_seeds.dataset.train_images,
            again["validation"][:2],
            warmup_steps=2,
            threshold=table["settle_threshold"],
            max_steps=2,
            seed=table["seeds"][s],
        )
        assert metrics["steps_to_settle"].values[s] == settled.mean()
        assert metrics["unsettled"].values[s] == np.mean(settled == 2)
        assert 0.0 <= metrics["steps_to_decide"].values[s] <= 2.0
        assert metrics["train_wall_time"].values[s] > 0.0
    assert metrics["confusion"].values.sum() == 8
    # the two seeds are two networks
    weights = open_run(two_seeds.out).array("weights", "W")
    assert not np.array_equal(weights[0], weights[1])
    assert two_seeds.summary is not None
    assert two_seeds.summary.metrics["test_accuracy"] == pytest.approx(
        metrics["test_accuracy"].values.mean()
    )


def test_pretraining_curve_and_generation_follow_the_training_digits(curve_run) -> None:
    """A self-supervised epoch, then two "generate" epochs of 6 digits (digits seen 0, 6):
    validation after the two training epochs only; a curve point after every 4 training
    digits (pretraining not counted) at 4, 8 and 12 digits, the last equal to the final
    network's accuracy on the 3 curve digits; every test digit tested; one generated image
    per label, judged once, by a judge fitted once on the training and validation digits;
    no settling; no paper accuracy."""
    run = curve_run
    assert run.summary is not None and run.summary.steps == 3 * 6 * 2
    assert run.of("train") == [("selfsupervised", 0, 6), ("generate", 0, 6), ("generate", 6, 6)]
    trained = 0
    points = []
    for event in run.events:
        if event[:2] == ("batch", "generate"):
            trained += 2
        elif event[0] == "curve":
            points.append(event[1])
            assert trained == 4 * (event[1] + 1)
    assert points == [0, 1, 2]
    assert run.of("predict") == [(False, 4), (False, 4), (True, 6)]
    stage_of_validation = [k for k, event in enumerate(run.events) if event[0] == "predict"]
    pretraining_batches = [
        k for k, event in enumerate(run.events) if event == ("batch", "selfsupervised")
    ]
    assert max(pretraining_batches) < stage_of_validation[0]
    assert run.of("checkpoint") == _expected_checkpoints(1, 3, 6, 2, 0)
    metrics = _metrics(run)
    again = _recomputed(run, 0)
    assert list(metrics["learning_curve"]["digits"].values) == [4, 8, 12]
    assert metrics["learning_curve"].values[0, -1] == again["curve_accuracy"]
    assert metrics["validation_accuracy"].values[0, -1] == again["validation_accuracy"]
    assert np.isfinite(metrics["learning_curve"].values).all()
    np.testing.assert_array_equal(metrics["confusion"].values[0], again["confusion"])
    assert metrics["confusion"].values.sum() == 6
    assert np.isnan(metrics["steps_to_settle"].values).all()
    assert np.isnan(metrics["unsettled"].values).all()
    images = metrics["generated_images"].values
    assert images.shape == (1, 10, 1, 784)
    assert ((images >= 0.0) & (images <= 1.0)).all()
    (judge,) = run.judges
    np.testing.assert_array_equal(judge.fitted_on[0], again["train"])
    np.testing.assert_array_equal(judge.fitted_on[1], again["validation"])
    ((judged, labels),) = judge.heard
    np.testing.assert_array_equal(judged, images[0, :, 0])
    np.testing.assert_array_equal(labels, np.arange(10))
    assert float(metrics["generated_recognised"].values[0]) == pytest.approx(images.mean())
    assert float(metrics["judge_accuracy"].values) == JudgeSpy.held_out_accuracy
    assert open_run(run.out).attributes.get("paper_accuracy") is None
    assert run.summary.metrics["generated_recognised"] == float(
        metrics["generated_recognised"].values[0]
    )


# two seeds of one epoch of 6 digits (3 batches of one step) with a checkpoint every 4 digits,
# validated and tested on 2 digits each: little to compute, so the checkpoints are the test
RESUMABLE = _raw(
    seeds=[1, 2],
    epochs=1,
    train_digits=6,
    checkpoint_digits=4,
    validation_digits=2,
    test_digits=2,
    eval_batch_size=2,
    test_steps=1,
    free_steps=0,
    clamped_steps=1,
    settle_digits=0,
)


def test_a_stopped_run_resumes_from_its_checkpoint_and_ends_as_if_never_stopped(
    tmp_path,
) -> None:
    """Stopped after 2 batches (the last checkpoint after them, at 4 digits), then resumed:
    the resumed run restarts from the checkpoint's 4 steps with the 2 digits of the order
    left (digits seen 4), finishes seed 1, runs seed 2 from its start, writes every
    checkpoint due after the stop, and its metrics and weights equal an uninterrupted
    run's; resuming a complete run is refused."""
    whole = _carry_out(LoggedRun(tmp_path / "whole.zarr", TinyDataset()), RESUMABLE)
    run = LoggedRun(tmp_path / "stopped.zarr", TinyDataset())
    _carry_out(run, RESUMABLE, stop_after_batches=2)
    assert run.summary is None and open_run(run.out).status == "interrupted"
    _carry_out(run, None)
    assert run.summary is not None and run.summary.status == "complete"
    assert run.summary.steps == whole.summary.steps == 12
    assert [bar.arguments["initial"] for bar in run.bars] == [0, 4]
    assert {bar.arguments["total"] for bar in run.bars} == {12}
    assert [bar.counted for bar in run.bars] == [4, 8]
    assert run.of("train") == [
        ("supervised", 0, 6),
        ("supervised", 4, 2),
        ("supervised", 0, 6),
    ]
    expected_checkpoints = _expected_checkpoints(2, 1, 6, 1, 4)
    assert whole.of("checkpoint") == run.of("checkpoint") == expected_checkpoints
    expected, resumed = _metrics(whole), _metrics(run)
    for name in ("validation_accuracy", "test_accuracy", "confusion"):
        np.testing.assert_array_equal(resumed[name].values, expected[name].values, err_msg=name)
    for name in ("W", "b"):
        np.testing.assert_array_equal(
            open_run(run.out).array("weights", name), open_run(whole.out).array("weights", name)
        )
    with pytest.raises(ValidationError, match="the run is complete"):
        _carry_out(run, None)


# ---------------------------------------------------------------------------------------------
# the figure, read from the Figure object


def _pixels(image: Any) -> np.ndarray:
    """What an image artist shows, every pixel: matplotlib masks NaNs (gaps between tiles),
    and a comparison of masked arrays would skip them."""
    return np.ma.filled(np.ma.asarray(image.get_array(), dtype=float), np.nan)


def _mosaic_by_hand(tiles: np.ndarray, side: int) -> np.ndarray:
    """Tiles (n, 784) laid out row by row, ``side`` per row, 28 x 28 each with a NaN line
    after each row and column of tiles."""
    rows = -(-len(tiles) // side)
    mosaic = np.full((rows * 29, side * 29), np.nan)
    for k, tile in enumerate(tiles):
        row, column = divmod(k, side)
        mosaic[29 * row : 29 * row + 28, 29 * column : 29 * column + 28] = tile.reshape(28, 28)
    return mosaic


def _receptive_fields_by_hand(run: Any) -> np.ndarray:
    """The first 64 hidden units' weights from the inputs, each tile divided by its largest
    magnitude, on a square grid."""
    role = run.array("neurons", "role")
    pre, post = run.array("weights", "edge_src"), run.array("weights", "edge_dst")
    weights = run.array("weights", "W")[0]
    pixel = {int(neuron): k for k, neuron in enumerate(np.flatnonzero(role == "input"))}
    unit = {int(neuron): k for k, neuron in enumerate(np.flatnonzero(role == "hidden")[:64])}
    tiles = np.zeros((len(unit), len(pixel)))
    for source, target, weight in zip(pre.tolist(), post.tolist(), weights, strict=True):
        if source in pixel and target in unit:
            tiles[unit[target], pixel[source]] = weight
    tiles /= np.abs(tiles).max(axis=1, keepdims=True)
    side = int(np.ceil(np.sqrt(len(unit))))
    square = np.full((side * side, 784), np.nan)
    square[: len(tiles)] = tiles
    return _mosaic_by_hand(square, side)


def test_figure_of_two_seeds_draws_the_stored_metrics(two_seeds) -> None:
    """Three panels (and the confusion's colour bar), 5 inches each: validation per epoch,
    one line per seed, with the paper's test accuracy as a dashed line and the mean test
    accuracy in the title; the confusion summed over seeds with each count written in its
    cell, its colour bar 80 % as high; the first hidden units' input weights as tiles."""
    reader = open_run(two_seeds.out)
    metrics = _metrics(two_seeds)
    drawn = mnist.figure.figure(reader)
    assert isinstance(drawn, Figure)
    assert tuple(drawn.get_size_inches()) == pytest.approx((15.0, 4.6))
    curve, matrix, fields, colour_bar = drawn.axes
    validation = metrics["validation_accuracy"].values
    lines = curve.get_lines()
    assert [line.get_label() for line in lines] == ["seed 4", "seed 7", "paper (test)"]
    for s, line in enumerate(lines[:2]):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2])
        np.testing.assert_allclose(line.get_ydata(), 100 * validation[s])
        assert line.get_marker() == "o"
    reference = lines[2]
    paper_share = mnist.protocol.PAPER_ACCURACY["supervised"]
    np.testing.assert_allclose(reference.get_ydata(), [100 * paper_share] * 2)
    assert reference.get_linestyle() == "--"
    legend = curve.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["seed 4", "seed 7", "paper (test)"]
    assert legend.get_texts()[0].get_fontsize() == 8
    assert curve.get_ylim() == (0.0, 100.0)
    assert list(curve.get_xticks()) == [1, 2]
    assert (curve.get_xlabel(), curve.get_ylabel()) == ("epoch", "validation accuracy (%)")
    test_mean = 100 * metrics["test_accuracy"].values.mean()
    assert curve.get_title() == f"test accuracy {test_mean:.1f} %"
    confusion = metrics["confusion"].values.sum(axis=0)
    (image,) = matrix.get_images()
    np.testing.assert_array_equal(_pixels(image), confusion)
    cells = {(text.get_position(), text.get_text()) for text in matrix.texts}
    assert cells == {
        ((predicted, label), str(confusion[label, predicted]))
        for label in range(10)
        for predicted in range(10)
    }
    assert {text.get_fontsize() for text in matrix.texts} == {6}
    assert list(matrix.get_xticks()) == list(matrix.get_yticks()) == list(range(10))
    assert (matrix.get_xlabel(), matrix.get_ylabel()) == ("predicted", "label")
    assert matrix.get_title() == "confusion (test digits, all seeds)"
    assert colour_bar.get_label() == "<colorbar>"
    FigureCanvasAgg(drawn).draw()  # lays the panels out
    bar_height, matrix_height = (a.get_position().height for a in (colour_bar, matrix))
    assert bar_height / matrix_height == pytest.approx(0.8)
    (tiles,) = fields.get_images()
    np.testing.assert_array_equal(_pixels(tiles), _receptive_fields_by_hand(reader))
    assert not fields.axison
    assert fields.get_title() == "input weights of the first 64 hidden units"


def test_plot_writes_the_figure_as_a_png_at_110_dpi(two_seeds, tmp_path) -> None:
    """``plot`` saves ``figure`` as a PNG at 110 dpi: 15 x 4.6 inches are 1650 x 506 pixels."""
    written = mnist.figure.plot(open_run(two_seeds.out), tmp_path / "figure.png")
    assert written == tmp_path / "figure.png"
    header = written.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (15 * 110, round(4.6 * 110))


def test_figure_of_the_curve_run_draws_the_curve_and_the_generated_digits(curve_run) -> None:
    """With a learning curve the x axis is training digits: the curve as a line at its
    digits, each epoch's validation as markers of the same colour at 6 and 12 digits; no
    paper line in "generate" mode; a fourth panel shows the generated images, one row per
    label, on a fixed grey scale, with the recognised share."""
    reader = open_run(curve_run.out)
    metrics = _metrics(curve_run)
    drawn = mnist.figure.figure(reader)
    assert tuple(drawn.get_size_inches()) == pytest.approx((20.0, 4.6))
    curve, _, _, generated, _ = drawn.axes
    line, markers = curve.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [4, 8, 12])
    np.testing.assert_allclose(line.get_ydata(), 100 * metrics["learning_curve"].values[0])
    assert line.get_label() == "seed 3"
    np.testing.assert_array_equal(markers.get_xdata(), [6, 12])
    np.testing.assert_allclose(markers.get_ydata(), 100 * metrics["validation_accuracy"].values[0])
    assert markers.get_linestyle() == "None" and markers.get_marker() == "o"
    assert markers.get_color() == line.get_color()
    assert curve.get_xlabel().startswith("training digits")
    assert [text.get_text() for text in curve.get_legend().get_texts()] == ["seed 3"]
    (image,) = generated.get_images()
    shown = metrics["generated_images"].values[0, :, 0]
    np.testing.assert_array_equal(_pixels(image), _mosaic_by_hand(shown, 1))
    assert image.get_clim() == (0.0, 1.0)
    assert not generated.axison
    recognised = 100 * float(metrics["generated_recognised"].values[0])
    assert generated.get_title() == f"generated (rows: labels 0-9); recognised {recognised:.0f} %"


class StandInRun:
    """A finished run's arrays and attributes with some replaced, read as a RunReader is."""

    def __init__(
        self, path: Path, replaced: dict[tuple[str, str], np.ndarray], **attributes: Any
    ) -> None:
        reader = open_run(path)
        self.path = reader.path
        self.attributes = {**reader.attributes, **attributes}
        metrics = xr.open_zarr(path, group="metrics")
        self.arrays = {("metrics", name): metrics[name].values for name in metrics.variables}
        for group in ("neurons", "weights"):
            self.arrays |= {
                (group, name): reader.array(group, name) for name in reader.names(group)
            }
        self.arrays |= replaced

    def names(self, group: str) -> list[str]:
        return [name for part, name in self.arrays if part == group]

    def array(self, group: str, name: str) -> np.ndarray:
        return self.arrays[(group, name)]


def test_figure_draws_finished_seeds_only_and_the_first_64_hidden_units(two_seeds) -> None:
    """A seed without a test accuracy (stopped) gets no line and no part of the title, the
    finished one its validation in percent; no paper accuracy, no reference line; of 70
    hidden units the first 64 are drawn, 8 by 8."""
    rng = np.random.default_rng(0)
    role = np.array(["input"] * 784 + ["hidden"] * 70 + ["output"] * 10)
    pre = np.repeat(np.arange(784), 70)
    post = np.tile(np.arange(784, 854), 784)
    weights = rng.normal(0.0, 0.3, size=(1, len(pre)))
    test = np.array([0.55, np.nan])
    run = StandInRun(
        two_seeds.out,
        {
            ("neurons", "role"): role,
            ("weights", "edge_src"): pre,
            ("weights", "edge_dst"): post,
            ("weights", "W"): weights,
            ("metrics", "test_accuracy"): test,
            ("metrics", "validation_accuracy"): np.array([[0.25, 0.75], [0.5, 0.5]]),
        },
        paper_accuracy=None,
    )
    drawn = mnist.figure.figure(run)  # type: ignore[arg-type]
    curve, _, fields, _ = drawn.axes
    (line,) = curve.get_lines()
    assert line.get_label() == "seed 4"
    np.testing.assert_allclose(line.get_ydata(), [25.0, 75.0])
    assert curve.get_title() == "test accuracy 55.0 %"
    (tiles,) = fields.get_images()
    expected = _receptive_fields_by_hand(run)
    assert expected.shape == (8 * 29, 8 * 29)
    np.testing.assert_array_equal(_pixels(tiles), expected)


def test_figure_draws_the_curve_of_every_seed_with_points_and_the_first_seeds_images(
    curve_run,
) -> None:
    """Two seeds of which only the second has curve points: one curve line, the second
    seed's; of 11 images per label generated by each seed, the panel shows the first seed's
    first 10, label by label. A store without metrics has no figure."""
    images = np.random.default_rng(3).uniform(0.0, 1.0, size=(2, 10, 11, 784))
    run = StandInRun(
        curve_run.out,
        {
            ("metrics", "seed"): np.array([3, 8]),
            ("metrics", "learning_curve"): np.array([[np.nan] * 3, [0.25, 0.5, 0.75]]),
            ("metrics", "validation_accuracy"): np.array([[0.5, 0.5], [0.25, 0.75]]),
            ("metrics", "test_accuracy"): np.array([0.5, 0.75]),
            ("metrics", "generated_images"): images,
            ("metrics", "generated_recognised"): np.array([0.9, 0.7]),
        },
    )
    drawn = mnist.figure.figure(run)  # type: ignore[arg-type]
    line, markers = drawn.axes[0].get_lines()
    assert line.get_label() == "seed 8"
    np.testing.assert_allclose(line.get_ydata(), [25.0, 50.0, 75.0])
    np.testing.assert_array_equal(markers.get_xdata(), [6, 12])
    np.testing.assert_allclose(markers.get_ydata(), [25.0, 75.0])
    (image,) = drawn.axes[3].get_images()
    np.testing.assert_array_equal(
        _pixels(image), _mosaic_by_hand(images[0, :, :10].reshape(100, 784), 10)
    )
    assert drawn.axes[3].get_title().endswith("recognised 80 %")
    run.arrays = {key: value for key, value in run.arrays.items() if key[0] != "metrics"}
    with pytest.raises(ValidationError, match=r"curve0/run\.zarr: no accuracy metrics yet"):
        mnist.figure.figure(run)  # type: ignore[arg-type]


def test_a_backend_that_cannot_run_batches_is_refused_with_the_one_that_can(tmp_path) -> None:
    """The event backend runs no batches: refused before any store is made, with the batched
    backend to use named in both forms."""
    scenario = check_scenario({**_raw(), "scenario": {"name": "x", "backend": "event"}})
    out = tmp_path / "event.zarr"
    with pytest.raises(
        ValidationError, match=r"'event': .*scenario\.backend = 'sync' or --backend sync\)"
    ):
        mnist.run(scenario, out, False, False)
    assert not out.exists()
