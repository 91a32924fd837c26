"""The ``stdp_curve`` experiment in small pieces: its settings' checks at their bounds, the
activity sequences and the spike-train samples against plain recomputations, the analyses'
edge cases, a tiny run's store and its figure."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurosim.backends.event_update import STREAM_CLOCK
from neurosim.errors import ValidationError
from neurosim.experiments import stdp_curve
from neurosim.experiments.stdp_curve import (
    STREAM_ACTIVITY,
    STREAM_SPIKES,
    Records,
    activities,
    activity_sequence,
    curve_metrics,
    example_trace,
    sequence_records,
    simulate,
)
from neurosim.experiments.stdp_curve.analysis import HEADLINE, METRICS
from neurosim.experiments.stdp_curve.figure import curve_figure
from neurosim.experiments.stdp_curve.simulation import POST, PRE, counted_steps, delta_dtype
from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.random import STREAM_FAKE_TARGET, STREAM_NOISE, draw_key, uniform_at
from neurosim.kernels.spike_timing import (
    OUTCOME_NAMES,
    PAIRED,
    bernoulli_train,
    presynaptic_updates,
    spike_probability,
)
from neurosim.recording import RunInterrupted, open_run
from neurosim.scenario.schema import load_scenario

SCENARIO = Path(__file__).parents[1] / "scenarios" / "stdp_curve.toml"


def _scenario(*settings: str):
    return load_scenario(SCENARIO, list(settings))


def _check(*settings: str) -> dict[str, Any]:
    return stdp_curve._check_settings(_scenario(*settings))


@pytest.mark.parametrize(
    "settings",
    [
        # each cross-check met with equality, or one step inside where equality is refused
        ("experiment.window=20", "experiment.steps=41"),
        ("experiment.full_windows_only=false", "experiment.window=20", "experiment.steps=40"),
        ("experiment.segment_min=25", "experiment.segment_max=25"),
        ("experiment.leak_min=0.2", "experiment.leak_max=0.2"),
        ("experiment.drive_low=0.5", "experiment.drive_high=0.5000001"),
        ("experiment.far_min=20", "experiment.window=20"),
        ("experiment.near_max=14", "experiment.far_min=15"),
        ("experiment.example_sequence=499", "experiment.example_sample=999"),
    ],
)
def test_settings_on_their_bounds_are_accepted(settings: tuple[str, ...]) -> None:
    """Each cross-check at its bound (or one step inside where the bound itself is refused) passes
    and gives back the table."""
    scenario = _scenario(*settings)
    assert stdp_curve._check_settings(scenario) is scenario.settings["experiment"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ("experiment.window=20", "experiment.steps=40"),
            "experiment.steps = 40: with full_windows_only, a presynaptic spike counts only "
            "with its whole window (experiment.window = 20) inside the sequence; steps must "
            "exceed 2 * window = 40",
        ),
        (
            ("experiment.drive_low=0.5", "experiment.drive_high=0.5"),
            "experiment.drive_low = 0.5 must be below experiment.drive_high = 0.5",
        ),
        (
            ("experiment.segment_min=26", "experiment.segment_max=25"),
            "experiment.segment_min = 26 is larger than experiment.segment_max = 25",
        ),
        (
            ("experiment.leak_min=0.25", "experiment.leak_max=0.2"),
            "experiment.leak_min = 0.25 is larger than experiment.leak_max = 0.2",
        ),
        (
            ("experiment.far_min=21", "experiment.window=20"),
            "experiment.far_min = 21: the far range far_min .. window must lie within "
            "experiment.window = 20",
        ),
        (
            ("experiment.near_max=15", "experiment.far_min=15"),
            "experiment.near_max = 15 must be below experiment.far_min = 15 (the near range "
            "1 .. near_max, the far range far_min .. window)",
        ),
        (
            ("experiment.example_sequence=500",),
            "experiment.example_sequence = 500: must be below experiment.sequences = 500",
        ),
        (
            ("experiment.example_sample=1000",),
            "experiment.example_sample = 1000: must be below experiment.samples = 1000",
        ),
        (("model.eps_small=0.3",), "model.eps_small = 0.3: the stdp_curve experiment reads"),
        (("model.preset='astdp'",), "model.preset = 'astdp': the stdp_curve experiment reads"),
        (
            ("scenario.backend='event'",),
            "scenario.backend = 'event': the stdp_curve experiment runs no simulator backend",
        ),
    ],
)
def test_a_setting_past_its_bound_is_refused(settings: tuple[str, ...], message: str) -> None:
    """Each cross-check one step past its bound is refused with a message naming the keys and their
    values; so are a [model] table, a preset and a simulator backend."""
    with pytest.raises(ValidationError) as error:
        _check(*settings)
    assert message in str(error.value)


def test_the_number_checks_of_the_keys_at_their_bounds() -> None:
    """alpha and the taus: > 0; the rate and the leaks: in (0, 1]; the hard sigmoid's
    threshold: in (-1, 0); each returns the value it accepts."""
    checks = {
        stdp_curve._positive: ([1e-12, 5.0], [0.0, -1.0]),
        stdp_curve._probability: ([1e-12, 1.0], [0.0, 1.0 + 1e-12]),
        stdp_curve._leak: ([1e-12, 1.0], [0.0, 1.0 + 1e-12]),
        stdp_curve._threshold: ([-1.0 + 1e-12, -1e-12], [-1.0, 0.0]),
    }
    for check, (accepted, refused) in checks.items():
        for value in accepted:
            assert check("experiment.x", value) == value
        for value in refused:
            with pytest.raises(ValidationError, match=re.escape("experiment.x")):
                check("experiment.x", value)


def test_the_streams_differ_from_each_other_and_from_the_other_draws() -> None:
    """The experiment's draws are unrelated to each other's and to a network's."""
    streams = [STREAM_ACTIVITY, STREAM_SPIKES, STREAM_FAKE_TARGET, STREAM_NOISE, STREAM_CLOCK]
    assert len(set(streams)) == len(streams)
    assert (PRE, POST) == (0, 1)


def _plain_activity(
    seed: int, sequence: int, neuron: int, steps: int, low: float, high: float,
    segment_min: int, segment_max: int, leak_min: float, leak_max: float,
) -> np.ndarray:  # fmt: skip
    """The docstring's recipe, one draw after another: leak, s(0), then per segment its
    level and its length."""
    key = np.uint64(draw_key(seed, STREAM_ACTIVITY, 2 * sequence + neuron))
    draws = iter(uniform_at(key, index) for index in range(10_000))
    leak = leak_min + (leak_max - leak_min) * next(draws)
    values = [low + (high - low) * next(draws)]
    drive: list[float] = []
    while len(drive) < steps:
        level = low + (high - low) * next(draws)
        length = segment_min + math.floor(next(draws) * (segment_max - segment_min + 1))
        drive += [level] * length
    for level in drive[:steps]:
        values.append(values[-1] + leak * (level - values[-1]))
    return np.array(values)


def test_an_activity_sequence_is_the_leaky_integration_of_its_drive() -> None:
    """The compiled sequence equals the docstring's recipe written out draw by draw; with a fixed
    leak and fixed segments the drive read back from s is piecewise constant in the drive's
    range."""
    arguments = (30, -0.8, 0.6, 3, 7, 0.1, 0.4)
    for seed, sequence, neuron in ((0, 0, 0), (3, 2, 1), (5, 1, 0)):
        np.testing.assert_allclose(
            activity_sequence(seed, sequence, neuron, *arguments),
            _plain_activity(seed, sequence, neuron, *arguments),
            rtol=1e-12,
            atol=1e-15,
        )
    # a fixed leak of 1/2 and segments of 4: the drive read back from s is constant for 4
    # steps at a time, within the drive's range
    values = activity_sequence(1, 0, 0, 24, -1.0, 2.0, 4, 4, 0.5, 0.5)
    drive = values[:-1] + (values[1:] - values[:-1]) / 0.5
    segments = drive.reshape(6, 4)
    np.testing.assert_allclose(segments, segments[:, :1] * np.ones(4), atol=1e-12)
    assert np.all(np.diff(segments[:, 0]) != 0.0)
    assert drive.min() >= -1.0 and drive.max() < 2.0


def test_activities_reads_the_generator_settings_in_order() -> None:
    """``activities`` gives the pre (neuron 0) and post (neuron 1) sequences of the table's
    generator settings."""
    table = {
        "steps": 12,
        "drive_low": -0.3,
        "drive_high": 0.9,
        "segment_min": 2,
        "segment_max": 5,
        "leak_min": 0.2,
        "leak_max": 0.6,
    }
    pre, post = activities(table, 4, 2)
    arguments = (12, -0.3, 0.9, 2, 5, 0.2, 0.6)
    np.testing.assert_array_equal(pre, activity_sequence(4, 2, 0, *arguments))
    np.testing.assert_array_equal(post, activity_sequence(4, 2, 1, *arguments))


TINY_SETTINGS = (
    "experiment.sequences=3",
    "experiment.samples=6",
    "experiment.steps=24",
    "experiment.window=4",
    "experiment.near_max=2",
    "experiment.far_min=3",
    "experiment.eq1_bins=4",
    "experiment.eq1_binning='equal_width'",
    "experiment.max_rate_per_step=0.25",
    "experiment.alpha=2.0",
    "experiment.a_plus=1.5",
    "experiment.a_minus=0.5",
    "experiment.tau_plus=3.0",
    "experiment.tau_minus=4.0",
    "experiment.segment_min=3",
    "experiment.segment_max=6",
    "experiment.leak_min=0.2",
    "experiment.leak_max=0.5",
    "experiment.drive_low=-0.4",
    "experiment.example_sequence=2",
    "experiment.example_sample=3",
    "scenario.seed=3",
)


@pytest.fixture(scope="module")
def tiny_table() -> dict[str, Any]:
    return _scenario(*TINY_SETTINGS).settings["experiment"]


def test_counted_steps_keep_the_whole_windows_or_every_step(tiny_table) -> None:
    """With full_windows_only the pre spikes at window .. steps - window - 1 count, else every
    step."""
    assert counted_steps(tiny_table) == (4, 20)
    assert counted_steps(tiny_table | {"full_windows_only": False}) == (0, 24)


def test_simulate_gathers_every_sequence_and_reports_after_each(tiny_table) -> None:
    """The records of every sequence, in order, each from ``sequence_records`` with the
    run's settings and the counted steps; the callback and the stop check once a sequence."""
    reported: list[str] = []

    class Stop:
        def check(self) -> None:
            reported.append("checked")

    records = simulate(tiny_table, 3, lambda: reported.append("done"), Stop())
    assert reported == ["done", "checked"] * 3
    code = ACTIVATION_CODES["hard_sigmoid"]
    counts = np.zeros(4, dtype=np.int64)
    pieces = []
    for sequence in range(3):
        pre, post = activities(tiny_table, 3, sequence)
        result = sequence_records(
            3, sequence, 6, pre, post, 0.25, code, -0.5, 4, 4, 20, 2.0, 1.5, 0.5, 3.0, 4.0
        )
        counts += result[0]
        pieces.append(result[1:])
    np.testing.assert_array_equal(records.outcome_counts, counts)
    for k, name in enumerate(("delta", "eq1", "nn")):
        np.testing.assert_array_equal(
            getattr(records, name), np.concatenate([piece[k] for piece in pieces]), name
        )
    assert records.delta.dtype == np.int16
    assert counts[PAIRED] > 10
    # int16 holds every |delta| <= window up to its largest value, int64 beyond
    assert (delta_dtype(40), delta_dtype(2**15 - 1), delta_dtype(2**15)) == (
        np.int16, np.int16, np.int64
    )  # fmt: skip
    # without a callback or a stop request: the same records
    again = simulate(tiny_table, 3)
    np.testing.assert_array_equal(again.eq1, records.eq1)
    every_step = simulate(tiny_table | {"full_windows_only": False}, 3)
    assert every_step.outcome_counts.sum() > records.outcome_counts.sum()


def test_the_example_is_its_samples_trains_and_both_rules_summed(tiny_table) -> None:
    """Sample 3 of sequence 2: its activities and spike trains as the run draws them, the
    Eq. 2 weight summed over the pre spikes (alpha times the post activity's change) and the
    nearest-neighbour weight summed likewise."""
    example = example_trace(tiny_table, 3)
    pre_activity, post_activity = activities(tiny_table, 3, 2)
    np.testing.assert_array_equal(example["time"], np.arange(24))
    np.testing.assert_array_equal(
        example["activity"], np.stack([pre_activity[:24], post_activity[:24]], axis=1)
    )
    code = ACTIVATION_CODES["hard_sigmoid"]
    key = np.uint64(draw_key(3, STREAM_SPIKES, 2 * 6 + 3))
    pre = bernoulli_train(spike_probability(pre_activity[:24], 0.25, code, -0.5), key, 0, 2)
    post = bernoulli_train(spike_probability(post_activity[:24], 0.25, code, -0.5), key, 1, 2)
    np.testing.assert_array_equal(example["spikes"], np.stack([pre, post], axis=1))
    assert pre.sum() >= 4 and post.sum() >= 4
    eq2 = np.where(pre, 2.0 * (post_activity[1:] - post_activity[:-1]), 0.0)
    np.testing.assert_allclose(example["weight_eq2"], np.cumsum(eq2), rtol=1e-12, atol=1e-15)
    step, _, _, _, nearest = presynaptic_updates(
        pre, post, post_activity, 4, 2.0, 1.5, 0.5, 3.0, 4.0
    )
    per_step = np.zeros(24)
    per_step[step] = nearest
    np.testing.assert_allclose(example["weight_nearest_neighbour"], np.cumsum(per_step))
    assert np.any(per_step != 0.0)


def _records(by_delta: dict[int, float]) -> Records:
    """Two presynaptic spikes per timing difference, both with the given Eq. 1 update."""
    delta = np.repeat(list(by_delta), 2)
    eq1 = np.repeat(list(by_delta.values()), 2)
    nn = np.sign(delta) * 0.5
    counts = np.array([np.sum(delta != 0), np.sum(delta == 0), 0, 0])
    return Records(counts, delta.astype(np.int16), eq1.astype(float), nn.astype(float))


def _shape(by_delta: dict[int, float]) -> tuple[float, float]:
    metrics = curve_metrics(
        _records(by_delta), window=4, bins=2, binning="quantile", near_max=2, far_min=3
    )
    return metrics["bi_poo_signs"], metrics["bi_poo_decay"]


# The Bi & Poo shape over window 4 (near 1 .. 2, far 3 .. 4): the signs at 0 and beyond the
# near range do not count, every delta in it does; near means +-0.5, far ones -+0.125.
SHAPE = {
    -4: 0.125, -3: 0.125, -2: -0.25, -1: -0.75, 0: -0.9, 1: 0.75, 2: 0.25, 3: -0.125, 4: -0.125
}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "shape"),
    [
        ({}, (1.0, 1.0)),
        ({2: -0.25}, (0.0, 1.0)),  # the last near delta on the pre-leads side
        ({1: -0.75, 2: 1.75}, (0.0, 1.0)),
        ({-2: 0.25}, (0.0, 1.0)),  # the last near delta on the post-leads side
        ({-1: 0.75, -2: -1.75}, (0.0, 1.0)),
        ({2: 0.0, 1: 1.0}, (0.0, 1.0)),  # zero is no sign
        ({-2: 0.0, -1: -1.0}, (0.0, 1.0)),
        ({3: 1.0}, (1.0, 1.0)),  # far mean 0.4375: below the near one
        ({3: 1.125}, (1.0, 0.0)),  # far mean 0.5, as large as the near one: no decay
        ({4: -1.125}, (1.0, 0.0)),  # |far mean| 0.625
        ({-3: -1.125}, (1.0, 0.0)),
        ({-4: 1.125}, (1.0, 0.0)),
    ],
)
def test_the_bi_and_poo_shape_reads_exactly_its_ranges(
    changes: dict[int, float], shape: tuple[float, float]
) -> None:
    """The signs need every delta in 1 .. near_max above 0 and every one in -near_max .. -1 below
    0, nothing else; the decay needs |near mean| strictly above |far mean| on both sides."""
    assert _shape(SHAPE | changes) == shape


def test_the_shape_needs_every_near_delta() -> None:
    """A near delta with no spike has no mean: no sign there, no Bi & Poo signs."""
    missing = {delta: value for delta, value in SHAPE.items() if delta != -2}
    assert _shape(missing)[0] == 0.0
    missing = {delta: value for delta, value in SHAPE.items() if delta != 2}
    assert _shape(missing)[0] == 0.0


def test_pooled_ranges_include_their_ends() -> None:
    """near: 1 .. near_max and -near_max .. -1; far: far_min .. window on each side."""
    values = {d: float(d) for d in range(-6, 7)}
    metrics = curve_metrics(
        _records(values), window=6, bins=2, binning="quantile", near_max=2, far_min=4
    )
    assert metrics["eq1_mean_near_pre_leads"] == pytest.approx(1.5)
    assert metrics["eq1_mean_near_post_leads"] == pytest.approx(-1.5)
    assert metrics["eq1_mean_far_pre_leads"] == pytest.approx(5.0)
    assert metrics["eq1_mean_far_post_leads"] == pytest.approx(-5.0)
    # spikes beyond the window (none here) would not count: the counts cover -6 .. 6 only
    np.testing.assert_array_equal(metrics["pair_count_by_delta"], np.full(13, 2))
    # no near spikes at all: NaN means, and no decay
    far_only = {d: v for d, v in values.items() if abs(d) >= 4}
    empty = curve_metrics(
        _records(far_only), window=6, bins=2, binning="quantile", near_max=2, far_min=4
    )
    assert math.isnan(empty["eq1_mean_near_pre_leads"])
    assert math.isnan(empty["eq1_mean_near_post_leads"])
    assert empty["bi_poo_decay"] == 0.0


def test_analyses_of_too_few_spikes_give_nan_not_errors() -> None:
    """No paired spike: NaN bin edges and correlations; one: no correlation; no presynaptic
    spike: no paired share; a constant update: no correlation."""
    nothing = Records(np.zeros(4, dtype=np.int64), np.zeros(0, np.int16), np.zeros(0), np.zeros(0))
    metrics = curve_metrics(nothing, window=3, bins=2, binning="quantile", near_max=1, far_min=2)
    assert metrics["eq1_bin_centre"].shape == (2,)
    assert np.all(np.isnan(metrics["eq1_bin_centre"]))
    np.testing.assert_array_equal(metrics["eq1_bin_count"], [0, 0])
    assert math.isnan(metrics["correlation_samples"])
    assert math.isnan(metrics["correlation_binned"])
    assert math.isnan(metrics["paired_share"]) and metrics["presynaptic_spikes"] == 0.0
    one = Records(np.array([1, 0, 0, 0]), np.array([2], np.int16), np.array([0.3]), np.array([0.1]))
    metrics = curve_metrics(one, window=3, bins=2, binning="equal_width", near_max=1, far_min=2)
    assert math.isnan(metrics["correlation_samples"])
    assert metrics["paired_share"] == 1.0
    # one value makes bins of width 0 around it, the value in the last
    np.testing.assert_array_equal(metrics["eq1_bin_centre"], [0.3, 0.3])
    np.testing.assert_array_equal(metrics["eq1_bin_count"], [0, 1])
    flat = Records(
        np.array([3, 0, 0, 0]), np.array([1, 2, 3], np.int16), np.full(3, 0.5), np.arange(3.0)
    )
    metrics = curve_metrics(flat, window=3, bins=2, binning="quantile", near_max=1, far_min=2)
    assert math.isnan(metrics["correlation_samples"])
    # two values in a group: the standard error is sd / sqrt(2)
    two = Records(
        np.array([2, 0, 0, 0]), np.array([1, 1], np.int16), np.array([0.2, 0.6]), np.zeros(2)
    )
    metrics = curve_metrics(two, window=1, bins=2, binning="quantile", near_max=1, far_min=1)
    assert metrics["eq1_sem_by_delta"][2] == pytest.approx(
        np.std([0.2, 0.6], ddof=1) / math.sqrt(2)
    )
    assert np.isnan(metrics["eq1_sem_by_delta"][0])
    # two spikes on a rising line: r = 1, over the spikes and over their two bins
    rising = Records(
        np.array([2, 0, 0, 0]),
        np.array([1, -1], np.int16),
        np.array([0.2, 0.6]),
        np.array([0.1, 0.3]),
    )
    metrics = curve_metrics(rising, window=1, bins=2, binning="quantile", near_max=1, far_min=1)
    assert metrics["correlation_samples"] == pytest.approx(1.0)
    assert metrics["correlation_binned"] == pytest.approx(1.0)


def test_the_bins_take_the_values_on_their_edges() -> None:
    """Equal-width bins over [0, 3] (edges 0, 1, 2, 3): a value on an inner edge falls in the
    bin above it, the largest value in the last bin; only paired spikes (delta != 0) count."""
    delta = np.array([1, 2, 3, -1, -2, 0], np.int16)
    eq1 = np.array([0.0, 1.0, 2.0, 3.0, 2.5, 9.0])
    nn = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.0])
    records = Records(np.array([5, 1, 0, 0]), delta, eq1, nn)
    metrics = curve_metrics(records, window=3, bins=3, binning="equal_width", near_max=1, far_min=2)
    np.testing.assert_allclose(metrics["eq1_bin_centre"], [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(metrics["eq1_bin_count"], [1, 1, 3])
    np.testing.assert_allclose(metrics["eq1_bin_mean"], [0.0, 1.0, 2.5])
    np.testing.assert_allclose(metrics["nn_mean_by_eq1_bin"], [0.1, 0.2, 0.4])
    np.testing.assert_allclose(metrics["nn_sem_by_eq1_bin"][2], 0.1 / math.sqrt(3))
    # the bins' correlation counts every bin with a spike, one spike is enough
    assert metrics["correlation_binned"] == pytest.approx(
        np.corrcoef([0.0, 1.0, 2.5], [0.1, 0.2, 0.4])[0, 1]
    )
    assert np.isnan(metrics["nn_sem_by_eq1_bin"][0])
    assert metrics["paired_share"] == pytest.approx(5 / 6)
    # an empty bin (the middle one) is left out of the bins' correlation, not made NaN
    gap = Records(
        np.array([4, 0, 0, 0]),
        np.array([1, 2, -1, -2], np.int16),
        np.array([0.0, 0.5, 2.5, 3.0]),
        np.array([0.1, 0.3, 0.2, 0.6]),
    )
    metrics = curve_metrics(gap, window=2, bins=3, binning="equal_width", near_max=1, far_min=2)
    np.testing.assert_array_equal(metrics["eq1_bin_count"], [2, 0, 2])
    assert metrics["correlation_binned"] == pytest.approx(1.0)  # two bins: (0.25, 0.2), (2.75, 0.4)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("stdp_curve_tiny") / "run.zarr"
    summary = stdp_curve.run(_scenario(*TINY_SETTINGS), out, False, False)
    return out, summary


def test_a_tiny_run_stores_the_analyses_of_its_records(tiny_run, tiny_table) -> None:
    """Every metric is ``curve_metrics`` of the run's records, with its dims and coords; the
    example is ``example_trace``'s; the summary counts every step of every sample."""
    out, summary = tiny_run
    run = open_run(out)
    assert run.status == "complete"
    expected = curve_metrics(
        simulate(tiny_table, 3), window=4, bins=4, binning="equal_width", near_max=2, far_min=3
    )
    for name, (dims, _) in METRICS.items():
        assert run.dims("metrics", name) == dims, name
        np.testing.assert_array_equal(run.array("metrics", name), expected[name], name)
    np.testing.assert_array_equal(run.array("metrics", "delta"), np.arange(-4, 5))
    np.testing.assert_array_equal(run.array("metrics", "eq1_bin"), np.arange(4))
    assert run.array("metrics", "outcome").tolist() == list(OUTCOME_NAMES)
    example = example_trace(tiny_table, 3)
    for name, values in example.items():
        np.testing.assert_array_equal(run.array("trajectory", name), values, name)
    attributes = run.attributes
    assert attributes["backend"] == "none" and attributes["seed"] == 3
    assert attributes["experiment"] == "stdp_curve"
    assert attributes["example"] == {"sequence": 2, "sample": 3}
    assert attributes["scenario"]["experiment"]["samples"] == 6
    assert summary.store == out and summary.status == "complete"
    assert summary.steps == 3 * 6 * 24
    assert list(summary.metrics) == list(HEADLINE)
    for name in HEADLINE:
        np.testing.assert_array_equal(summary.metrics[name], expected[name], name)


def test_a_tiny_run_stores_the_synapse_pre_to_post(tiny_run) -> None:
    """The store's network: neuron 0 the presynaptic input, neuron 1 the postsynaptic output, one
    synapse 0 -> 1."""
    out, _ = tiny_run
    run = open_run(out)
    assert run.array("neurons", "role").tolist() == ["input", "output"]
    assert run.array("neurons", "name").tolist() == ["pre", "post"]
    assert run.array("neurons", "layer").tolist() == [0, 1]
    assert run.array("weights", "edge_src").tolist() == [0]
    assert run.array("weights", "edge_dst").tolist() == [1]


def test_the_progress_bar_counts_the_sequences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with progress shows a bar of one update per sequence."""
    bars: list[dict[str, Any]] = []

    class Bar:
        def __init__(self, **options: Any) -> None:
            self.options = options | {"updates": 0}
            bars.append(self.options)

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exception: object) -> None:
            return None

        def update(self, n: int = 1) -> None:
            self.options["updates"] += n

    monkeypatch.setattr(stdp_curve, "RunProgress", Bar)
    stdp_curve.run(_scenario(*TINY_SETTINGS), tmp_path / "run.zarr", False, True)
    assert bars == [
        {
            "total": 3,
            "unit": "sequence",
            "delay": 2.0,
            "disable": False,
            "mininterval": 0.5,
            "updates": 3,
        }
    ]


def test_a_stopped_run_leaves_no_metrics_and_no_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped during its spike trains stores no metrics; its figure is refused."""

    def stopped(*arguments: Any, **keywords: Any):
        raise RunInterrupted("terminated by SIGTERM")

    monkeypatch.setattr(stdp_curve, "simulate", stopped)
    out = tmp_path / "stopped.zarr"
    with pytest.raises(RunInterrupted):
        stdp_curve.run(_scenario(*TINY_SETTINGS), out, False, False)
    with pytest.raises(ValidationError, match="no stdp_curve metrics"):
        stdp_curve.plot(open_run(out), tmp_path / "figure.png")


def _errorbar_halves(container) -> np.ndarray:
    """Half the length of each error bar of an errorbar container (NaN: no bar drawn)."""
    segments = container.lines[2][0].get_segments()
    return np.array([(s[1][1] - s[0][1]) / 2.0 if len(s) == 2 else np.nan for s in segments])


def test_the_figure_draws_the_stored_metrics_and_the_example(tiny_run) -> None:
    """Fig. 1 middle: Eq. 1 by delta with its standard errors; Fig. 1 right: NN by delta;
    Fig. 2 right: NN by Eq. 1 bin; Fig. 3: the example's activities, spikes and weights;
    each with the titles and labels that say what it shows."""
    out, _ = tiny_run
    run = open_run(out)

    def metric(name: str) -> np.ndarray:
        return run.array("metrics", name)

    figure = curve_figure(run)
    assert isinstance(figure, Figure)
    timing, nearest, binned, example, weights, nearest_weight = figure.axes
    delta = metric("delta")
    # Fig. 1 middle
    (bars,) = timing.containers
    np.testing.assert_array_equal(bars.lines[0].get_xdata(), delta)
    np.testing.assert_array_equal(bars.lines[0].get_ydata(), metric("eq1_mean_by_delta"))
    sem = metric("eq1_sem_by_delta")
    np.testing.assert_allclose(_errorbar_halves(bars), sem)
    assert np.isfinite(sem).sum() >= 5
    assert timing.get_title() == "Eq. 1 update by spike timing (Fig. 1 middle)"
    assert timing.get_ylabel() == "mean alpha * ds_i/dt at pre spikes"
    # Fig. 1 right
    data = nearest.get_lines()[-1]
    np.testing.assert_array_equal(data.get_xdata(), delta)
    np.testing.assert_array_equal(data.get_ydata(), metric("nn_mean_by_delta"))
    assert nearest.get_title() == ("nearest-neighbour STDP (Fig. 1 right): tau+ 3, tau- 4 steps")
    assert nearest.get_ylabel() == "mean nearest-neighbour update"
    for axis in (timing, nearest):
        assert axis.get_xlabel() == "delta = t_post - t_pre (steps)"
    # zero lines in the three curve panels
    for axis in (timing, nearest, binned):
        zero, vertical = axis.get_lines()[:2]
        assert list(zero.get_ydata()) == [0.0, 0.0] and list(vertical.get_xdata()) == [0.0, 0.0]
    # Fig. 2 right
    (bars,) = binned.containers
    np.testing.assert_array_equal(bars.lines[0].get_xdata(), metric("eq1_bin_mean"))
    np.testing.assert_array_equal(bars.lines[0].get_ydata(), metric("nn_mean_by_eq1_bin"))
    sem = metric("nn_sem_by_eq1_bin")
    np.testing.assert_allclose(_errorbar_halves(bars), sem)
    assert np.isfinite(sem).sum() >= 2
    assert binned.get_title() == (
        "NN update against Eq. 1 update, 4 equal_width bins (Fig. 2 right)\n"
        f"r = {float(metric('correlation_samples')):.3f} over spikes, "
        f"{float(metric('correlation_binned')):.3f} over bins"
    )
    assert binned.get_xlabel() == "Eq. 1 update (bin mean)"
    assert binned.get_ylabel() == "mean nearest-neighbour update"
    # Fig. 3: activities, then each neuron's spikes on a row below the lowest activity
    time = run.array("trajectory", "time")
    activity = run.array("trajectory", "activity")
    spikes = run.array("trajectory", "spikes")
    pre_line, post_line, pre_spikes, post_spikes = example.get_lines()
    np.testing.assert_array_equal(pre_line.get_ydata(), activity[:, 0])
    np.testing.assert_array_equal(post_line.get_ydata(), activity[:, 1])
    np.testing.assert_array_equal(pre_line.get_xdata(), time)
    low = float(activity.min()) - 0.1
    for line, neuron, below in ((pre_spikes, 0, 0.15), (post_spikes, 1, 0.35)):
        np.testing.assert_array_equal(line.get_xdata(), time[spikes[:, neuron]])
        np.testing.assert_allclose(line.get_ydata(), low - below)
        assert line.get_marker() == "|"
    assert spikes[:, 0].any() and spikes[:, 1].any()
    assert [text.get_text() for text in example.get_legend().get_texts()] == [
        "s_j (pre)",
        "s_i (post)",
    ]
    assert example.get_title() == "example (Fig. 3): sequence 2, sample 3"
    assert example.get_ylabel() == "s; spikes below"
    (eq2,) = weights.get_lines()
    np.testing.assert_array_equal(eq2.get_ydata(), run.array("trajectory", "weight_eq2"))
    (nn,) = nearest_weight.get_lines()
    np.testing.assert_array_equal(
        nn.get_ydata(), run.array("trajectory", "weight_nearest_neighbour")
    )
    assert (weights.get_xlabel(), weights.get_ylabel()) == ("step", "W by Eq. 2")
    assert nearest_weight.get_ylabel() == "W by NN STDP"
    assert figure.get_suptitle() == (
        "STDP-objective spike simulations: 3 sequences x 24 steps x 6 samples, window 4\n"
        "rho hard_sigmoid, max rate 0.25 per step; Bi & Poo signs "
        f"{int(metric('bi_poo_signs'))}, decay {int(metric('bi_poo_decay'))}"
    )


def test_plot_saves_the_figure_in_a_new_folder(tiny_run, tmp_path: Path) -> None:
    """``plot`` creates the missing folders and writes a PNG, at 100 dpi, where it is told."""
    out, _ = tiny_run
    image = stdp_curve.plot(open_run(out), tmp_path / "deep" / "er" / "figure.png")
    assert image == tmp_path / "deep" / "er" / "figure.png"
    data = image.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # at 100 dpi: the image's pixels (from its IHDR chunk) are the figure's inches x 100
    inches = curve_figure(open_run(out)).get_size_inches()
    assert struct.unpack(">II", data[16:24]) == tuple(round(100 * side) for side in inches)


def test_the_figures_layout_and_style(tiny_run) -> None:
    """Fig. 1's two panels on top, Fig. 2 bottom left, Fig. 3 bottom right in two rows (the
    activities over 3/5 of it, the weights below, sharing the step axis); each label in the
    colour of its line, each neuron's spikes in the colour of its activity; small type."""
    out, _ = tiny_run
    figure = curve_figure(open_run(out))
    timing, nearest, binned, example, weights, nearest_weight = figure.axes
    assert (figure.get_figwidth(), figure.get_figheight()) == (11, 7.5)
    for axis, cell in ((timing, 0), (nearest, 1), (binned, 2)):
        assert axis.get_subplotspec().get_geometry() == (2, 2, cell, cell)
    for axis, row in ((example, 0), (weights, 1)):
        spec = axis.get_subplotspec()
        assert spec.get_geometry() == (2, 1, row, row)
        assert spec.get_topmost_subplotspec().get_geometry() == (2, 2, 3, 3)
    grid = example.get_subplotspec().get_gridspec()
    assert list(grid.get_height_ratios()) == [3, 2] and grid.get_subplot_params().hspace == 0.08
    assert weights.get_shared_x_axes().joined(weights, example)
    assert not example.xaxis.get_major_ticks()[0].label1.get_visible()
    # the zero lines
    for axis in (timing, nearest, binned):
        zero, vertical = axis.get_lines()[:2]
        assert (zero.get_color(), zero.get_linewidth()) == ("black", 0.6)
        assert (vertical.get_color(), vertical.get_linewidth()) == ("grey", 0.5)
        assert vertical.get_linestyle() == ":"
    # the error bars: points, bars and caps
    for axis, marker, colour, size in (
        (timing, ".", "tab:blue", 4),
        (binned, "o", "tab:purple", 3),
    ):
        (bars,) = axis.containers
        points, caps, (lines,) = bars.lines
        assert (points.get_marker(), points.get_color(), points.get_markersize()) == (
            marker,
            colour,
            size,
        )
        assert points.get_linestyle() == "None"
        assert list(lines.get_linewidth()) == [0.8]
        assert {cap.get_markersize() for cap in caps} == {3.0}  # 2 * capsize
    data = nearest.get_lines()[-1]
    assert (data.get_marker(), data.get_color(), data.get_markersize()) == (".", "tab:red", 4)
    assert data.get_linestyle() == "None"
    pre_line, post_line, pre_spikes, post_spikes = example.get_lines()
    assert pre_line.get_color() != post_line.get_color()
    for activity, spikes in ((pre_line, pre_spikes), (post_line, post_spikes)):
        assert activity.get_linewidth() == 1.0
        assert spikes.get_color() == activity.get_color() and spikes.get_markersize() == 5
        assert spikes.get_linestyle() == "None"
    legend = example.get_legend()
    assert legend._loc == 1 and legend._ncols == 2  # upper right, side by side
    (eq2,) = weights.get_lines()
    (nn,) = nearest_weight.get_lines()
    assert (eq2.get_linewidth(), nn.get_linewidth(), nn.get_linestyle()) == (1.2, 1.0, "--")
    assert eq2.get_color() != nn.get_color()
    assert weights.yaxis.label.get_color() == eq2.get_color()
    assert nearest_weight.yaxis.label.get_color() == nn.get_color()
    # type sizes: the figure's title 10, the panels' titles 9, labels 8, ticks and legend 7
    assert figure._suptitle.get_fontsize() == 10
    for axis in figure.axes:
        assert axis.title.get_fontsize() == 9 or not axis.get_title()
        for label in (axis.xaxis.label, axis.yaxis.label):
            assert label.get_fontsize() == 8 or not label.get_text()
        assert axis.yaxis.get_major_ticks()[0].label1.get_fontsize() == 7
    assert nearest_weight.yaxis.get_major_ticks()[0].label2.get_fontsize() == 7
    assert {text.get_fontsize() for text in legend.get_texts()} == {7}
