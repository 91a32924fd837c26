"""The MNIST experiment (aSTDP paper, section 3.1): key checks, the whole pipeline on a tiny
synthetic data set (which it must learn), the readout and generation on networks built by
hand to know the tiny classes (the real MNIST: test_mnist_real.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.backends.sync import SyncSimulator
from neurosim.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, main
from neurosim.data import Dataset, Place
from neurosim.errors import ValidationError
from neurosim.experiments import mnist
from neurosim.model.network import CompiledNetwork
from neurosim.model.parameters import ModelParameters
from neurosim.recording import RunInterrupted, open_run
from neurosim.scenario.schema import check_scenario, load_scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SMALL = SCENARIOS / "mnist_astdp_supervised_small.toml"
FULL = SCENARIOS / "mnist_astdp_supervised.toml"

TINY = """
[scenario]
name = "mnist_tiny"

[model]
preset = "astdp"
activation = "sigmoid4_centred"
alpha = 0.03

[experiment]
kind = "mnist"
hidden = [16]
batch_size = 8
validation_digits = 40
test_digits = 60
epochs = 2
free_steps = 10
clamped_steps = 10
test_steps = 20
eval_batch_size = 32
settle_digits = 16
settle_max_steps = 50
"""


def _class_blocks() -> np.ndarray:
    """(10, 784) booleans: the pixels of each tiny class's 7 x 7 block (class k at row k // 4,
    column k % 4 of a grid of blocks)."""
    blocks = np.zeros((10, 28, 28), dtype=bool)
    for label in range(10):
        row, column = divmod(label, 4)
        blocks[label, 7 * row : 7 * row + 7, 7 * column : 7 * column + 7] = True
    return blocks.reshape(10, 784)


CLASS_BLOCKS = _class_blocks()


def _tiny_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Ten classes, each a bright 7 x 7 block at its own place on a noisy background."""

    def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 784)).astype(np.uint8)
        images[CLASS_BLOCKS[labels]] = 255
        return images, labels

    train_images, train_labels = digits(200)
    test_images, test_labels = digits(80)
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }


class SpyDataset(Dataset):
    """A dataset that logs, in ``events``, each read of the test images."""

    def __init__(self, arrays: dict[str, np.ndarray], events: list[str]) -> None:
        super().__init__("mnist", Place(Path("synthetic"), "test"), False, arrays.__getitem__)
        self.events = events

    @property
    def test_images(self) -> np.ndarray:
        self.events.append("test read")
        return super().test_images


def _run_tiny(
    folder: Path,
    text: str,
    stop_at_epoch: int | None = None,
    code: int = EXIT_OK,
    stop_after_batches: int | None = None,
    argv: list[str] | None = None,
) -> tuple[Path, list[str]]:
    """Run the scenario ``text`` on the tiny data set, SIGTERM arriving as training epoch
    ``stop_at_epoch`` (1-based) starts, or after ``stop_after_batches`` training batches, if
    given; (store, events). ``argv`` replaces the command line (``--resume``)."""
    events: list[str] = []
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(0)), events)
    train_epoch = mnist.training.train_epoch

    def logged_train_epoch(*args, **kwargs) -> None:
        events.append("train")
        if events.count("train") == stop_at_epoch:
            raise RunInterrupted("terminated by SIGTERM")
        after_batch = kwargs["after_batch"]

        def counted(done: int) -> None:
            after_batch(done)
            events.append("batch")
            if events.count("batch") == stop_after_batches:
                raise RunInterrupted("terminated by SIGTERM")

        train_epoch(*args, **(kwargs | {"after_batch": counted}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist, "load_dataset", lambda name, data_dir=None: dataset)
        patch.setattr(mnist.runner, "train_epoch", logged_train_epoch)
        scenario = folder / "tiny.toml"
        scenario.write_text(text)
        out = folder / "tiny.zarr"
        command = argv or ["run", str(scenario), "--out", str(out), "--quiet"]
        assert main(command) == code
    return out, events


def _with(text: str, **keys: object) -> str:
    """``text`` with ``keys`` set in its [experiment] table (the last table)."""
    kept = [line for line in text.splitlines() if line.split(" = ")[0] not in keys]
    added = [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(kept + added) + "\n"


# TINY is too small to learn (it runs the pipeline); with the small scenario's alpha, betas and
# alpha decay, 64 hidden neurons and four epochs it learns the tiny classes in seconds
LEARNING = _with(
    TINY.replace("alpha = 0.03", "alpha = 0.04\nbeta_small = 0.5\nbeta_large = 1.0"),
    hidden=[64],
    epochs=4,
    alpha_decay=0.5,
    settle_digits=0,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, list[str]]:
    return _run_tiny(tmp_path_factory.mktemp("mnist"), TINY)


@pytest.fixture(scope="module")
def generate_run(tmp_path_factory) -> tuple[Path, list[str]]:
    text = _with(
        TINY,
        mode="generate",
        epochs=1,
        generate_samples=3,
        generate_steps=10,
        generate_beta_scale=2.0,
    )
    return _run_tiny(tmp_path_factory.mktemp("generate"), text)


def test_tiny_pipeline_writes_every_metric_with_its_dims(tiny_run) -> None:
    out, _ = tiny_run
    metrics = xr.open_zarr(out, group="metrics")
    assert metrics["test_accuracy"].dims == ("seed",)
    assert metrics["confusion"].dims == ("seed", "label", "predicted")
    assert metrics["validation_accuracy"].dims == ("seed", "epoch")
    assert list(metrics["validation_accuracy"]["epoch"].values) == [1, 2]
    for name in ("train_wall_time", "steps_to_settle", "steps_to_decide", "unsettled"):
        assert metrics[name].dims == ("seed",)
        assert np.all(np.isfinite(metrics[name].values))
    assert 1 <= metrics["steps_to_settle"].values[0] <= 50
    assert 0 <= metrics["steps_to_decide"].values[0] <= 50
    assert "generated_images" not in metrics
    # learning is tested by test_tiny_classes_are_learned_far_above_chance and on the real
    # data below; here only the pipeline
    for name in ("validation_accuracy", "test_accuracy"):
        assert np.all((metrics[name].values >= 0.0) & (metrics[name].values <= 1.0))


def test_generate_mode_stores_judged_images_and_plots_them(generate_run, tmp_path) -> None:
    out, _ = generate_run
    metrics = xr.open_zarr(out, group="metrics")
    images = metrics["generated_images"]
    assert images.dims == ("seed", "label", "sample", "pixel")
    assert images.shape == (1, 10, 3, 784)
    assert np.all((images.values >= 0.0) & (images.values <= 1.0))
    assert 0.0 <= float(metrics["generated_recognised"].values[0]) <= 1.0
    # the tiny classes (one bright block each) are easy for the judge
    assert float(metrics["judge_accuracy"].values) > 0.9
    # the stored share is the judge's verdict on the stored images, each with its row's label
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(0)), [])
    table = check_scenario(open_run(out).attributes["scenario"], None).settings["experiment"]
    judge = mnist.evaluation.fit_judge(dataset, *mnist.protocol.split_indices(table, dataset))
    labels = np.repeat(np.arange(10), 3)
    assert float(metrics["generated_recognised"].values[0]) == pytest.approx(
        judge.recognised(images.values[0].reshape(30, 784), labels)
    )
    image = tmp_path / "generate.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("mode", ["supervised", "unsupervised"])
def test_tiny_classes_are_learned_far_above_chance(tmp_path, mode) -> None:
    """Four epochs of the 160 tiny training digits (784-64-10, ``LEARNING``), seed 0, measured:
    supervised, validation 0.325, 0.875, 1.0, 0.975 after the epochs and test accuracy 0.983;
    unsupervised (the label in-painted), 0.5, 0.9, 1.0, 0.975 and 0.983; chance is 0.1 (seeds
    1-3 gave test accuracies of 0.83-0.98). A prediction read from the wrong neurons, or a
    network that does not learn, stays near chance."""
    out, _ = _run_tiny(tmp_path, _with(LEARNING, mode=mode))
    metrics = xr.open_zarr(out, group="metrics")
    assert float(metrics["test_accuracy"].values[0]) >= 0.9
    validation = metrics["validation_accuracy"].values[0]
    assert validation[-1] >= 0.9
    assert validation[-1] >= validation[0] + 0.3  # learned over the epochs, not at the start


def test_prediction_is_the_argmax_of_the_output_states(monkeypatch) -> None:
    """``predict`` reads each digit's label as the output neuron with the largest state, in the
    order of ``indices``, batch after batch: output states made up so that the label's neuron
    is largest, another one smallest, and the inputs and hidden neurons larger still, give back
    exactly the labels (argmin, an output shifted by one or another slice would not)."""
    layout = mnist.network.Layout(800, slice(0, 784), slice(790, 800))
    labels = np.array([3, 0, 9, 5, 1, 7, 2, 8, 6, 4, 9, 0])
    rng = np.random.default_rng(0)
    states = np.empty((len(labels), 800))
    states[:, :784] = 9.0
    states[:, 784:790] = 5.0
    states[:, 790:] = rng.uniform(-0.5, 0.3, size=(len(labels), 10))
    rows = np.arange(len(labels))
    states[rows, 790 + labels] = 0.6
    states[rows, 790 + (labels + 5) % 10] = -0.9  # argmin points elsewhere
    shown: list[np.ndarray] = []

    def made_up_states(network, params, layout, images, indices, *, steps, batch_size, seed):
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            shown.append(batch)
            yield states[batch]

    monkeypatch.setattr(mnist.evaluation, "relaxed_states", made_up_states)
    order = np.array([5, 2, 11, 0, 7, 1, 10, 3, 8, 4, 9, 6])
    predicted = mnist.evaluation.predict(
        None, None, layout, np.zeros((12, 784)), order, steps=1, batch_size=5, seed=0
    )
    assert len(shown) == 3
    np.testing.assert_array_equal(predicted, labels[order])


def _hand_built_network(
    params: ModelParameters, direction: str
) -> tuple[CompiledNetwork, mnist.network.Layout]:
    """784-10-10 (``build_network([10], ...)``) with weights set by hand so that it knows the
    tiny classes without training: hidden neuron k stands for class k. ``direction``
    "recognise": the pixels of class k's block excite hidden k, which excites output k;
    "generate": output k excites hidden k, which excites class k's block. Nothing feeds back,
    so what is clamped alone decides the rest. With TINY's model (betas 0.25 / 0.4,
    sigmoid4_centred) a clamped block pixel's rate is about 0.23 and a background pixel's
    0.12; a label clamped with three times the betas has rate 0.43, the other outputs 0.12.
    Each hidden bias sits halfway between its neuron's drive with and without its class; the
    last layer's bias keeps dark what no active hidden neuron drives."""
    network, layout = mnist.network.build_network([10], params, seed=0)
    hidden = np.flatnonzero(network.hidden)
    outputs = np.arange(network.n_neurons)[layout.outputs]
    weights = np.zeros((network.n_neurons, network.n_neurons))
    network.bias[:] = 0.0
    for label in range(10):
        block = np.flatnonzero(CLASS_BLOCKS[label])
        if direction == "recognise":
            weights[block, hidden[label]] = 0.4
            weights[hidden[label], outputs[label]] = 2.0
        else:
            weights[outputs[label], hidden[label]] = 7.0
            weights[hidden[label], block] = 2.0
    if direction == "recognise":
        network.bias[hidden] = -3.5
        network.bias[outputs] = -0.8
    else:
        network.bias[hidden] = -1.75
        network.bias[layout.inputs] = -0.7
    network.set_edge_weights(weights[network.edge_pre, network.edge_post])
    return network, layout


def test_a_network_that_knows_the_classes_predicts_every_label() -> None:
    """On the hand-built recognising network (``_hand_built_network``) all 80 tiny test digits
    are predicted right, in batches of 8 whose state carries over from digit to digit as in
    evaluation (measured 80 of 80 for simulator seeds 0-4); the label's output settles at
    0.59-0.65 and every other output at -0.17 (measured)."""
    params = check_scenario(tomllib.loads(TINY)).phase_parameters[0]
    network, layout = _hand_built_network(params, "recognise")
    arrays = _tiny_arrays(np.random.default_rng(0))
    images, labels = arrays["test_images"], arrays["test_labels"]
    indices = np.arange(len(labels))
    settings = {"steps": 20, "batch_size": 8, "seed": 0}
    predicted = mnist.evaluation.predict(network, params, layout, images, indices, **settings)
    np.testing.assert_array_equal(predicted, labels)
    outputs = np.concatenate(
        list(mnist.evaluation.relaxed_states(network, params, layout, images, indices, **settings))
    )[:, layout.outputs]
    own = outputs[indices, labels]
    others = np.where(np.eye(10, dtype=bool)[labels], np.nan, outputs)
    assert own.min() > 0.5 and np.nanmax(others) < 0.0


def test_generated_images_show_their_label_on_a_network_that_knows_the_classes() -> None:
    """The experiment's generation (``_generation``: ``generate`` with the label clamped, then
    the judge) on the hand-built generating network (``_hand_built_network``), 3 images per
    label, 40 steps, betas times 3: every image lights its own label's block (block mean
    0.58-0.76, and 0.57 at least over simulator seeds 0-4) and leaves every other pixel dark
    (0.0), lies nearest to its own class's mean training image, and the judge recognises all
    of them (measured 1.0), against 0.1 by chance. A generator that does not clamp the label
    gives every label the same blank image."""
    scenario = check_scenario(tomllib.loads(TINY))
    params = scenario.phase_parameters[0]
    table = {
        **scenario.settings["experiment"],
        "generate_samples": 3,
        "generate_steps": 40,
        "generate_beta_scale": 3.0,
    }
    network, layout = _hand_built_network(params, "generate")
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(0)), [])
    train, validation = mnist.protocol.split_indices(table, dataset)
    judge = mnist.evaluation.fit_judge(dataset, train, validation)
    results = mnist.results.Results(1, 1, 3, np.zeros(0, dtype=np.int64))
    mnist.evaluation.measure_generation(results, 0, network, params, layout, judge, table)
    images = results.generated_images[0]  # (label, sample, pixel)
    for label in range(10):
        own = images[label][:, CLASS_BLOCKS[label]]
        rest = images[label][:, ~CLASS_BLOCKS[label]]
        assert own.mean(axis=1).min() > 0.4, label
        assert rest.max() < 0.1, label
    class_means = np.stack(
        [
            dataset.train_images[dataset.train_labels == label].mean(axis=0) / 255
            for label in range(10)
        ]
    )
    distances = ((images[:, :, None, :] - class_means) ** 2).sum(axis=-1)
    np.testing.assert_array_equal(
        distances.argmin(axis=-1), np.repeat(np.arange(10), 3).reshape(10, 3)
    )
    assert judge.held_out_accuracy > 0.9
    assert results.generated_recognised[0] >= 0.9


def test_learning_curve_reads_the_network_between_batches(tmp_path) -> None:
    """Two epochs of 160 digits, a curve point every 80 digits on all 40 validation digits:
    four points, on disk with their digit counts; those at 160 and 320 digits read the
    network the epoch's validation reads, so they equal it (a point read one batch early
    or late would not). Pretraining is not on the curve."""
    text = _with(TINY, curve_every=80, curve_digits=40, pretrain_epochs=1, settle_digits=0)
    out, _ = _run_tiny(tmp_path, text)
    metrics = xr.open_zarr(out, group="metrics")
    curve = metrics["learning_curve"]
    assert curve.dims == ("seed", "digits")
    assert list(curve["digits"].values) == [80, 160, 240, 320]
    np.testing.assert_array_equal(curve.values[0, [1, 3]], metrics["validation_accuracy"].values[0])
    assert np.all((curve.values >= 0.0) & (curve.values <= 1.0))
    # the points follow the training: the second epoch reads a different network
    assert not np.array_equal(curve.values[0, :2], curve.values[0, 2:])
    image = tmp_path / "curve.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # tools/reproduce_mnist.py lists the curve below its table
    tool = _load_tool("reproduce_mnist")
    table = tool._table([(tool.EXPERIMENTS[0], tool._metrics(out))])
    listed = ", ".join(
        f"{digits:,}: {accuracy:.1%}"
        for digits, accuracy in zip([80, 160, 240, 320], curve.values[0], strict=True)
    )
    assert f"\n- supervised: {listed}\n" in table


def test_pretraining_epochs_come_before_the_validated_ones(tmp_path) -> None:
    out, events = _run_tiny(tmp_path, _with(TINY, pretrain_epochs=1, epochs=1, settle_digits=0))
    assert events.count("train") == 2
    metrics = xr.open_zarr(out, group="metrics")
    assert metrics["validation_accuracy"].shape == (1, 1)
    assert np.isfinite(metrics["validation_accuracy"].values).all()


def test_unsupervised_mode_runs_the_pipeline(tmp_path) -> None:
    out, _ = _run_tiny(tmp_path, _with(TINY, mode="unsupervised", epochs=1, settle_digits=0))
    metrics = xr.open_zarr(out, group="metrics")
    assert metrics["confusion"].values.sum() == 60


def test_recurrent_topology_runs_mstdp_with_its_oscillator(tmp_path) -> None:
    """The MSTDP paper's layout: visible (inputs, then outputs) <-> hidden, hidden all-to-all."""
    text = TINY.replace('preset = "astdp"\nactivation = "sigmoid4_centred"\nalpha = 0.03', "")
    text = text.replace("[model]\n", '[model]\npreset = "mstdp"\n')
    text = _with(
        text,
        mode="unsupervised",
        topology="recurrent",
        batch_size=1,
        train_digits=20,
        epochs=1,
        free_steps=0,
        clamped_steps=128,
        test_steps=96,
        settle_digits=4,
    )
    out, _ = _run_tiny(tmp_path, text)
    metrics = xr.open_zarr(out, group="metrics")
    assert metrics["confusion"].values.sum() == 60
    params = load_scenario(tmp_path / "tiny.toml").phase_parameters[0]
    network, layout = mnist.network.build_network([16], params, 0, "recurrent")
    assert (layout.inputs, layout.outputs) == (slice(0, 784), slice(784, 794))
    assert network.n_neurons == 810


def test_predict_reads_every_batch_at_the_same_oscillator_phase(monkeypatch) -> None:
    """With a clamp oscillator, a batch after the first starts at a cycle boundary, so its
    digits see the same clamped and free phases before the read as the first batch's (160
    test steps are 2.5 cycles of 64: without the alignment the second batch would be read
    at the end of a free phase)."""
    from neurosim.model.presets import load_preset

    params = load_preset("mstdp")
    network, layout = mnist.network.build_network([8], params, 0, "recurrent")
    period = len(params.phase_schedules()[0])
    assert 160 % period != 0
    shown_at: list[int] = []
    set_input = SyncSimulator.set_input

    def logged(sim: SyncSimulator, target: np.ndarray, clamp: np.ndarray) -> None:
        shown_at.append(sim.step_count)
        set_input(sim, target, clamp)

    monkeypatch.setattr(SyncSimulator, "set_input", logged)
    images = np.random.default_rng(0).integers(0, 256, size=(6, 784), dtype=np.uint8)
    predicted = mnist.evaluation.predict(
        network, params, layout, images, np.arange(6), steps=160, batch_size=2, seed=0
    )
    assert predicted.shape == (6,)
    assert len(shown_at) == 3
    assert [at % period for at in shown_at] == [0, 0, 0]
    assert shown_at[1] - shown_at[0] >= 160


def _load_tool(name: str):
    path = Path(__file__).parent.parent / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    # registered first: a dataclass looks its module up while the module runs
    sys.modules[name] = tool
    spec.loader.exec_module(tool)
    return tool


def test_probe_tool_reads_the_trained_network_back(tiny_run, monkeypatch) -> None:
    """tools/probe_mnist.py rebuilds the trained network from the store: its own outputs
    give exactly the validation accuracy the run stored after its last epoch, and each
    hidden layer gets a least-squares and a logistic-regression probe, as do the pixels."""
    out, _ = tiny_run
    tool = _load_tool("probe_mnist")
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(0)), [])
    monkeypatch.setattr(tool, "load_dataset", lambda name, data_dir=None: dataset)
    rows = tool.probe(out, fit_digits=100, seed_index=0)
    stored = float(xr.open_zarr(out, group="metrics")["validation_accuracy"].values[0, -1])
    assert rows[0] == ("the network's outputs", pytest.approx(stored))
    assert [name for name, _ in rows[1:]] == [
        "hidden layer 1 (16 neurons), least squares",
        "hidden layer 1 (16 neurons), logistic regression",
        "the pixels, least squares",
        "the pixels, logistic regression",
    ]
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in rows)
    run = open_run(out)
    network, _, params, table = mnist.network.trained_network(run)
    np.testing.assert_array_equal(network.edge_weights(), run.array("weights", "W")[0])
    np.testing.assert_array_equal(network.bias, run.array("weights", "b")[0])
    untrained, _ = mnist.network.build_network(table["hidden"], params, table["seeds"][0])
    assert not np.array_equal(network.edge_weights(), untrained.edge_weights())
    with pytest.raises(ValidationError, match="weights of 1 seed"):
        tool.probe(out, fit_digits=100, seed_index=1)


def test_interference_tool_measures_one_digits_pull_on_the_answers(tmp_path, monkeypatch) -> None:
    """tools/interference_mnist.py: with learning the shown digit's answer moves toward its
    label (a positive share of its error removed), each figure as recomputed from the
    answers read before and after, at the alpha the run's decay gives; without learning no
    answer moves; a batched scenario is refused with the key named."""
    tool = _load_tool("interference_mnist")
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(0)), [])
    monkeypatch.setattr(tool, "load_dataset", lambda name, data_dir=None: dataset)
    path = tmp_path / "tiny.toml"
    path.write_text(_with(TINY, batch_size=1))
    answers: list[np.ndarray] = []  # every evaluation's states, in the order they were read
    relaxed_states = mnist.evaluation.relaxed_states

    def recorded(*args, **kwargs):
        states = list(relaxed_states(*args, **kwargs))
        answers.append(np.concatenate(states))
        yield from states

    monkeypatch.setattr(mnist.evaluation, "relaxed_states", recorded)
    scenario = load_scenario(path, ["model.alpha=1.0"])
    rows = tool.measure(scenario, digits=3, warmup=0, watched=8)
    assert len(rows) == 3 and len(answers) == 6
    assert all(row[1] > 0.0 and row[2] > 0.0 for row in rows)
    # every row, recomputed from the answers read before and after its digit
    _, layout = mnist.network.build_network([16], scenario.phase_parameters[0], 0)
    for row, before, after in zip(rows, answers[0::2], answers[1::2], strict=True):
        before, after = before[:, layout.outputs], after[:, layout.outputs]
        label, moved = row[0], after - before
        error = np.eye(10)[label] - before[0]
        expected = (
            moved[0] @ error / (error @ error),
            np.abs(moved[0]).max(),
            np.abs(moved[1:]).max(axis=1).mean(),
            np.mean(moved[1:, label] - moved[1:].mean(axis=1)),
            np.mean(after[1:].argmax(axis=1) == label),
        )
        np.testing.assert_allclose(row[1:], expected, rtol=1e-6)
    assert {row[5] for row in rows} == {0.0, 1.0}  # answers flipped after some digits only
    # the run's alpha decay: the first digit (none seen) learns as before, the second at
    # alpha / (1 + 1e6 * 1 / 1000), about alpha / 1000
    decayed = tool.measure(
        load_scenario(path, ["model.alpha=1.0", "experiment.alpha_decay=1e6"]),
        digits=2,
        warmup=0,
        watched=8,
    )
    assert decayed[0] == pytest.approx(rows[0])
    assert 0.0 < decayed[1][2] < 0.1 * rows[1][2]
    frozen = tool.measure(load_scenario(path, ["model.alpha=0"]), digits=2, warmup=0, watched=8)
    assert all(value == 0.0 for row in frozen for value in row[1:5])
    path.write_text(TINY)
    with pytest.raises(ValidationError, match=r"experiment\.batch_size = 8"):
        tool.measure(load_scenario(path), digits=1, warmup=0, watched=8)


def test_presentations_clamp_what_each_mode_shows() -> None:
    """supervised: image, then image and label; unsupervised: both throughout; generate:
    label, then label and image."""
    layout = mnist.network.Layout(800, slice(0, 784), slice(790, 800))
    images = np.full((2, 784), 0.5, dtype=np.float32)
    labels = np.array([3, 7])
    visible = {"inputs": layout.inputs, "outputs": layout.outputs}
    expected = {
        "supervised": ({"inputs"}, {"inputs", "outputs"}),
        "unsupervised": ({"inputs", "outputs"}, {"inputs", "outputs"}),
        "generate": ({"outputs"}, {"inputs", "outputs"}),
    }
    rng = np.random.default_rng(0)
    for mode, (free, clamped) in expected.items():
        shown = mnist.modes.MODES[mode](layout, images, labels, rng)
        for clamp, parts in ((shown.free_clamp, free), (shown.clamped_clamp, clamped)):
            for name, where in visible.items():
                assert np.all(clamp[where] == (1.0 if name in parts else 0.0)), (mode, name)
            assert not clamp[784:790].any()
        assert shown.target[1, 797] == 1.0 and shown.target[1, 793] == 0.0


def test_selfsupervised_mode_frees_one_square_patch_per_image() -> None:
    layout = mnist.network.Layout(800, slice(0, 784), slice(790, 800))
    images = np.full((3, 784), 0.5, dtype=np.float32)
    shown = mnist.modes.MODES["selfsupervised"](
        layout, images, np.zeros(3), np.random.default_rng(1)
    )
    assert not shown.clamped_clamp[:, 784:].any() and shown.clamped_clamp[:, :784].all()
    assert not shown.free_clamp[:, 784:].any()
    for free in shown.free_clamp[:, :784].reshape(3, 28, 28) == 0.0:
        rows, columns = np.flatnonzero(free.any(axis=1)), np.flatnonzero(free.any(axis=0))
        assert free.sum() == 100 and len(rows) == len(columns) == 10
        assert free[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].all()


def test_confusion_counts_every_test_digit_once(tiny_run) -> None:
    out, _ = tiny_run
    metrics = xr.open_zarr(out, group="metrics")
    confusion = metrics["confusion"].values[0]
    assert confusion.shape == (10, 10)
    assert confusion.sum() == 60
    np.testing.assert_allclose(
        np.trace(confusion) / confusion.sum(), metrics["test_accuracy"].values[0]
    )


def test_test_images_are_read_only_after_training(tiny_run) -> None:
    _, events = tiny_run
    assert events.count("train") == 2
    assert "test read" in events
    assert events.index("test read") > max(k for k, e in enumerate(events) if e == "train")


def test_plot_writes_a_png(tiny_run, tmp_path) -> None:
    out, _ = tiny_run
    image = tmp_path / "mnist.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_leaves_the_matplotlib_backend_to_the_caller(tiny_run, tmp_path) -> None:
    """Importing the experiment and drawing its figure neither picks a backend nor starts
    pyplot: a program that chose its own backend keeps it, and still gets the PNG."""
    out, _ = tiny_run
    image = tmp_path / "own_backend.png"
    program = "\n".join(
        [
            "import sys",
            "import matplotlib",
            "matplotlib.use('pdf')",
            "from neurosim.experiments import mnist",
            "from neurosim.recording import open_run",
            "mnist.figure.plot(open_run(sys.argv[1]), sys.argv[2])",
            "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()",
            "assert 'matplotlib.pyplot' not in sys.modules",
        ]
    )
    finished = subprocess.run(
        [sys.executable, "-c", program, str(out), str(image)], capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_puts_labels_in_rows() -> None:
    matrix = mnist.evaluation.confusion_matrix(np.array([1, 1, 2]), np.array([1, 3, 2]))
    assert matrix[1, 1] == 1 and matrix[1, 3] == 1 and matrix[2, 2] == 1
    assert matrix.sum() == 3


def test_decayed_alpha_falls_as_one_over_the_digits_seen() -> None:
    assert mnist.training.decayed_alpha(0.04, 0.0, 50_000) == 0.04
    assert mnist.training.decayed_alpha(0.04, 0.5, 0) == 0.04
    assert mnist.training.decayed_alpha(0.04, 0.5, 2000) == pytest.approx(0.02)


def test_train_epoch_decays_alpha_batch_by_batch() -> None:
    """Each batch learns with the alpha decayed by the digits before it (earlier epochs
    included); the rest of the parameters stay as given."""
    scenario = check_scenario(tomllib.loads(TINY))
    params = scenario.phase_parameters[0]
    arrays = _tiny_arrays(np.random.default_rng(2))
    network, layout = mnist.network.build_network([16], params, seed=0)
    sim = SyncSimulator(network, params, batch_size=8, seed=0)
    order = np.arange(20)  # two batches of 8; the last 4 digits are left out
    run_params = []
    run = sim.run

    def logged_run(steps: int) -> None:
        run_params.append(sim.params)
        run(steps)

    sim.run = logged_run
    mnist.training.train_epoch(
        sim,
        layout,
        arrays["train_images"],
        arrays["train_labels"],
        order,
        params=params,
        mode="supervised",
        free_steps=2,
        clamped_steps=2,
        learn_free=True,
        alpha_decay=2.0,
        digits_seen=500,
    )
    alphas = [p.alpha for p in run_params]
    expected = [mnist.training.decayed_alpha(0.03, 2.0, n) for n in (500, 500, 508, 508)]
    np.testing.assert_allclose(alphas, expected)
    assert run_params[-1] == params.replace(alpha=expected[-1])


def test_weight_decay_shrinks_the_weights_after_each_batch() -> None:
    """train_epoch with weight_decay equals, batch by batch, the same training without it
    followed by W <- (1 - lambda * alpha_batch * learning steps) W (biases untouched)."""
    params = check_scenario(tomllib.loads(TINY)).phase_parameters[0]
    arrays = _tiny_arrays(np.random.default_rng(3))
    images, labels = arrays["train_images"], arrays["train_labels"]
    common = {"mode": "supervised", "free_steps": 2, "clamped_steps": 3, "alpha_decay": 1.0}

    def simulator() -> tuple[SyncSimulator, mnist.network.Layout]:
        network, layout = mnist.network.build_network([16], params, seed=0)
        return SyncSimulator(network, params, batch_size=8, seed=0), layout

    for learn_free, steps in ((True, 5), (False, 3)):
        decayed, layout = simulator()
        mnist.training.train_epoch(
            decayed,
            layout,
            images,
            labels,
            np.arange(16),
            params=params,
            learn_free=learn_free,
            weight_decay=2.0,
            digits_seen=100,
            **common,
        )
        by_hand, _ = simulator()
        for batch, seen in ((np.arange(8), 100), (np.arange(8, 16), 108)):
            mnist.training.train_epoch(
                by_hand,
                layout,
                images,
                labels,
                batch,
                params=params,
                learn_free=learn_free,
                digits_seen=seen,
                rng=np.random.default_rng(seen),
                **common,
            )
            alpha = 0.03 / (1.0 + 1.0 * seen / 1000)
            by_hand.network.dense_weights *= 1.0 - 2.0 * alpha * steps
            by_hand.invalidate()
        np.testing.assert_allclose(
            decayed.network.edge_weights(), by_hand.network.edge_weights(), rtol=1e-5, atol=1e-7
        )
        # the biases learned (they moved from their start) but did not decay
        np.testing.assert_array_equal(decayed.network.bias, by_hand.network.bias)
        assert not np.allclose(decayed.network.bias, simulator()[0].network.bias)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dataset", "cifar", "experiment.dataset"),
        ("mode", "dreaming", "experiment.mode"),
        ("hidden", [512, 0], "experiment.hidden[1]"),
        ("hidden", [], "experiment.hidden"),
        ("batch_size", 0, "experiment.batch_size"),
        ("clamped_steps", 0, "experiment.clamped_steps"),
        ("test_steps", 1.5, "experiment.test_steps"),
        ("learn_free", "yes", "experiment.learn_free"),
        ("alpha_decay", -0.5, "experiment.alpha_decay"),
        ("weight_decay", -1.0, "experiment.weight_decay"),
        ("seeds", [1, 1], "experiment.seeds"),
        ("generate_samples", -1, "experiment.generate_samples"),
        ("topology", "ring", "experiment.topology"),
        ("pretrain_epochs", -1, "experiment.pretrain_epochs"),
        ("generate_steps", 0, "experiment.generate_steps"),
        ("generate_beta_scale", 0.0, "experiment.generate_beta_scale"),
        ("colour", 1, "experiment.colour"),
        ("curve_every", -8, "experiment.curve_every"),
        ("curve_digits", 0, "experiment.curve_digits"),
    ],
)
def test_bad_experiment_keys_name_the_key(key, value, message) -> None:
    raw = tomllib.loads(TINY)
    raw["experiment"][key] = value
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_scenario(raw)


def test_sizes_that_need_the_data_set_are_checked_against_it() -> None:
    dataset = SpyDataset(_tiny_arrays(np.random.default_rng(1)), [])
    table = check_scenario(tomllib.loads(TINY)).settings["experiment"]
    for key, value in (("validation_digits", 200), ("train_digits", 161), ("settle_digits", 41)):
        with pytest.raises(ValidationError, match=f"experiment.{key}"):
            mnist.protocol.check_settings({**table, key: value}, dataset, 0.03)
    # the curve's digits only count where there is a curve
    mnist.protocol.check_settings({**table, "curve_digits": 41}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"experiment\.curve_digits = 41: expected at most"):
        mnist.protocol.check_settings(
            {**table, "curve_digits": 41, "curve_every": 8}, dataset, 0.03
        )
    with pytest.raises(
        ValidationError,
        match=r"curve_every = 12: expected a multiple of "
        r"experiment\.batch_size = 8",
    ):
        mnist.protocol.check_settings(
            {**table, "curve_every": 12, "curve_digits": 40}, dataset, 0.03
        )
    recurrent = {**table, "topology": "recurrent", "hidden": [16, 16]}
    with pytest.raises(ValidationError, match=r"experiment\.hidden.*one size"):
        mnist.protocol.check_settings(recurrent, dataset, 0.03)
    # 20 learning steps at alpha 0.03: a batch would scale the weights by 1 - 0.6 lambda
    mnist.protocol.check_settings({**table, "weight_decay": 1.6}, dataset, 0.03)
    with pytest.raises(ValidationError, match=r"experiment\.weight_decay = 1\.7.*< 1\.667"):
        mnist.protocol.check_settings({**table, "weight_decay": 1.7}, dataset, 0.03)


def test_scenario_files_check() -> None:
    expected = {
        SMALL: ("mnist", "supervised"),
        FULL: ("mnist", "supervised"),
        SCENARIOS / "mnist_astdp_unsupervised.toml": ("mnist", "unsupervised"),
        SCENARIOS / "mnist_astdp_selfsupervised.toml": ("mnist", "supervised"),
        SCENARIOS / "mnist_generate.toml": ("mnist", "generate"),
        SCENARIOS / "mnist_depth.toml": ("mnist", "supervised"),
        SCENARIOS / "mnist_mstdp.toml": ("mnist", "unsupervised"),
        SCENARIOS / "fashion_astdp_supervised.toml": ("fashion-mnist", "supervised"),
    }
    found = {*SCENARIOS.glob("mnist_*.toml"), *SCENARIOS.glob("fashion_*.toml")}
    assert found == set(expected)
    for path, (dataset, mode) in expected.items():
        table = load_scenario(path).settings["experiment"]
        assert (table["kind"], table["dataset"], table["mode"]) == ("mnist", dataset, mode)
    assert load_scenario(SCENARIOS / "mnist_mstdp.toml").phase_parameters[0].rule == "mstdp"
    selfsupervised = SCENARIOS / "mnist_astdp_selfsupervised.toml"
    assert load_scenario(selfsupervised).settings["experiment"]["pretrain_epochs"] >= 1
    assert load_scenario(SCENARIOS / "mnist_generate.toml").settings["experiment"][
        "generate_samples"
    ]


def test_the_event_backend_is_refused_before_anything_is_written(tmp_path, capsys) -> None:
    out = tmp_path / "event.zarr"
    arguments = ["run", str(SMALL), "--out", str(out), "--quiet", "--backend", "event"]
    assert main(arguments) == EXIT_BAD_INPUT
    assert "--backend sync" in capsys.readouterr().err
    assert not out.exists()


def test_a_stopped_run_keeps_the_epochs_it_finished(tmp_path) -> None:
    """SIGTERM (RunInterrupted) during the second epoch: the store is marked interrupted and
    holds the first epoch's validation accuracy."""
    out, _ = _run_tiny(tmp_path, TINY, stop_at_epoch=2, code=EXIT_INTERRUPTED)
    assert open_run(out).status == "interrupted"
    curve = xr.open_zarr(out, group="metrics")["validation_accuracy"].values[0]
    assert np.isfinite(curve[0]) and np.isnan(curve[1])


RESUMED_TEXT = _with(
    TINY, seeds=[0, 1], checkpoint_digits=48, pretrain_epochs=1, curve_every=32, curve_digits=40
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run the resumed ones must equal, made once for all of them."""
    whole, _ = _run_tiny(tmp_path_factory.mktemp("whole"), RESUMED_TEXT)
    return whole


@pytest.mark.parametrize(
    ("stop", "batches_left"),
    [({"stop_at_epoch": 2}, 100), ({"stop_after_batches": 8}, 114), ({"stop_at_epoch": 4}, 60)],
    ids=["second stage of seed 0", "mid-stage, after a checkpoint", "first stage of seed 1"],
)
def test_a_resumed_run_ends_as_if_it_had_never_stopped(
    tmp_path, capsys, uninterrupted, stop, batches_left
) -> None:
    """Two seeds of three stages (a pretraining epoch, two epochs) of 20 batches, with a
    checkpoint every 48 digits (6 batches) and after every stage, a learning curve point every
    32 digits; stopped by SIGTERM, then
    ``neurosim run --resume``: every metric and the final weights equal an uninterrupted
    run's, and only what came after the last checkpoint is trained again."""
    text, whole = RESUMED_TEXT, uninterrupted
    stopped, _ = _run_tiny(tmp_path, text, code=EXIT_INTERRUPTED, **stop)
    assert open_run(stopped).status == "interrupted"
    assert open_run(stopped).checkpoint() is not None
    assert main(["inspect", str(stopped)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "mnist_tiny (sync backend, seed [0, 1])" in printed  # the seeds the experiment ran
    assert f"continue: neurosim run --resume {stopped}" in printed
    _, events = _run_tiny(tmp_path, text, argv=["run", "--resume", str(stopped), "--quiet"])
    assert open_run(stopped).status == "complete"
    expected, resumed = (xr.open_zarr(path, group="metrics") for path in (whole, stopped))
    names = ("validation_accuracy", "test_accuracy", "confusion", "steps_to_settle")
    for name in (*names, "learning_curve"):
        np.testing.assert_array_equal(resumed[name].values, expected[name].values, err_msg=name)
    for name in ("W", "b"):
        np.testing.assert_array_equal(
            open_run(stopped).array("weights", name), open_run(whole).array("weights", name)
        )
    assert events.count("batch") == batches_left


def test_resume_refuses_what_it_cannot_continue(tmp_path, tiny_run, capsys) -> None:
    out, _ = tiny_run
    assert main(["run", "--resume", str(out)]) == EXIT_BAD_INPUT
    assert "the run is complete; there is nothing to resume" in capsys.readouterr().err
    assert main(["run", "--resume", str(out), "--set", "experiment.epochs=3"]) == EXIT_BAD_INPUT
    assert "--set cannot be given with it" in capsys.readouterr().err
    assert main(["run"]) == EXIT_BAD_INPUT
    assert "give a SCENARIO file, or --resume STORE" in capsys.readouterr().err
    early, _ = _run_tiny(tmp_path, TINY, stop_at_epoch=1, code=EXIT_INTERRUPTED)
    assert main(["run", "--resume", str(early)]) == EXIT_BAD_INPUT
    assert "stopped before its first checkpoint" in capsys.readouterr().err


def test_every_evaluation_runs_with_the_test_time_model(tmp_path, monkeypatch) -> None:
    """``[experiment.test_model]``: validation, settling and test run with it (learning off),
    training with the training model."""
    trained, evaluated = [], []
    training_simulator = mnist.runner.SyncSimulator
    evaluation_simulator = mnist.evaluation._evaluation_simulator

    def training_spy(network, params, **kwargs):
        trained.append(params)
        return training_simulator(network, params, **kwargs)

    def evaluation_spy(network, params, batch_size, seed):
        evaluated.append(params)
        return evaluation_simulator(network, params, batch_size, seed)

    monkeypatch.setattr(mnist.runner, "SyncSimulator", training_spy)
    monkeypatch.setattr(mnist.evaluation, "_evaluation_simulator", evaluation_spy)
    text = _with(TINY, epochs=1) + "\n[experiment.test_model.fake_target]\nmu = 0.995\n"
    _run_tiny(tmp_path, text)
    assert [params.fake_target.mu for params in trained] == [0.9]
    # validation after the epoch, settling (with and without fake targets), test
    assert len(evaluated) >= 3
    assert {params.fake_target.mu for params in evaluated} == {0.995}
    assert {params.fake_target.k for params in evaluated} == {trained[0].fake_target.k}
