"""The STDP-objective paper's spike simulations: both plasticity rules on spike trains, the
random draws, and the ``stdp_curve`` experiment through ``neurosim run`` and ``neurosim plot``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.experiments.stdp_curve import (
    KEYS,
    STREAM_SPIKES,
    Records,
    activities,
    activity_sequence,
    curve_metrics,
    example_trace,
    sequence_records,
)
from neurosim.kernels.activations import ACTIVATION_CODES
from neurosim.kernels.random import draw_key
from neurosim.kernels.spike_timing import (
    BOTH_SIDES,
    COINCIDENT,
    NO_DELTA,
    NO_POST,
    OUTCOME_NAMES,
    PAIRED,
    bernoulli_train,
    exponential_window,
    presynaptic_updates,
    spike_probability,
    spike_updates,
)
from neurosim.recording import open_run

SCENARIO = Path(__file__).parents[1] / "scenarios" / "stdp_curve.toml"
WINDOW = 20
RULE = {"a_plus": 1.5, "a_minus": 0.75, "tau_plus": 4.0, "tau_minus": 6.0}


def reference_updates(
    pre: np.ndarray,
    post: np.ndarray,
    activity: np.ndarray,
    window: int,
    alpha: float,
    a_plus: float,
    a_minus: float,
    tau_plus: float,
    tau_minus: float,
) -> list[tuple[int, int | None, str, float, float]]:
    """Both rules written out from the paper's words, one presynaptic spike at a time:
    ``(step, delta or None, outcome, Eq. 2 update, nearest-neighbour update)``."""
    records = []
    post_steps = np.flatnonzero(post)
    for t in np.flatnonzero(pre):
        t = int(t)
        eq2 = alpha * (activity[t + 1] - activity[t])
        near = post_steps[np.abs(post_steps - t) <= window] - t
        left, right = near[near < 0], near[near > 0]
        if left.size and right.size:
            records.append((t, None, "both_sides", eq2, 0.0))
        elif near.size == 0:
            records.append((t, None, "no_post", eq2, 0.0))
        else:
            delta = int(near[np.argmin(np.abs(near))])
            if delta == 0:
                records.append((t, 0, "coincident", eq2, 0.0))
            elif delta > 0:
                records.append((t, delta, "paired", eq2, a_plus * math.exp(-delta / tau_plus)))
            else:
                records.append((t, delta, "paired", eq2, -a_minus * math.exp(delta / tau_minus)))
    return records


OUTCOME_CODES = {"paired": PAIRED, "coincident": COINCIDENT, "both_sides": BOTH_SIDES}
OUTCOME_CODES["no_post"] = NO_POST


def _trains(n_steps: int, pre_steps: list[int], post_steps: list[int]) -> tuple[np.ndarray, ...]:
    pre = np.zeros(n_steps, dtype=bool)
    post = np.zeros(n_steps, dtype=bool)
    pre[pre_steps] = True
    post[post_steps] = True
    return pre, post


def _one(pre_step: int, post_steps: list[int], n_steps: int = 100):
    """The records of a single presynaptic spike at ``pre_step``."""
    pre, post = _trains(n_steps, [pre_step], post_steps)
    activity = np.linspace(0.0, 1.0, n_steps + 1) ** 2
    records = spike_updates(pre, post, activity, WINDOW, 1.0, **RULE)
    assert records.step.tolist() == [pre_step]
    return (
        int(records.delta[0]),
        int(records.outcome[0]),
        float(records.rate_update[0]),
        float(records.nearest_neighbour_update[0]),
    )


# the outcome by its recorded name (``OUTCOME_NAMES[code]``) and the delta, None for none; ids
# of their own, so that they do not change with the codes' values
NEAREST_CASES = {
    "one_each_side": ([45, 57], None, "both_sides"),  # no change
    "two_each_side": ([30, 49, 51, 70], None, "both_sides"),
    "no_post_spike": ([], None, "no_post"),
    "only_outside": ([10, 90], None, "no_post"),
    "coincident": ([50], 0, "coincident"),  # coincident spikes: no change
    "coincident_nearest": ([50, 53], 0, "coincident"),  # the coincident spike is the nearest
    "both_sides_first": ([44, 50, 53], None, "both_sides"),  # the paper tests both sides first
    "nearest_after": ([53, 57, 68], 3, "paired"),  # the nearest post spike on the one side
    "nearest_before": ([31, 42, 47], -3, "paired"),
    "window_after": ([70], 20, "paired"),  # exactly window steps away: inside
    "window_before": ([30], -20, "paired"),
    "beyond_after": ([71], None, "no_post"),  # window + 1 steps away: outside
    "beyond_before": ([29], None, "no_post"),
    "before_inside_after_beyond": ([30, 71], -20, "paired"),  # one side just outside
    "after_inside_before_beyond": ([29, 70], 20, "paired"),
}


@pytest.mark.parametrize(
    ("post_steps", "delta", "outcome"), list(NEAREST_CASES.values()), ids=list(NEAREST_CASES)
)
def test_nearest_neighbour_rule_on_hand_built_trains(post_steps, delta, outcome) -> None:
    got_delta, got_outcome, _, nearest = _one(50, post_steps)
    assert OUTCOME_NAMES[got_outcome] == outcome
    assert got_delta == (NO_DELTA if delta is None else delta)
    if outcome == "paired" and delta > 0:
        assert nearest == pytest.approx(RULE["a_plus"] * math.exp(-delta / RULE["tau_plus"]))
        assert nearest > 0  # pre before post: potentiation
    elif outcome == "paired":
        assert nearest == pytest.approx(-RULE["a_minus"] * math.exp(delta / RULE["tau_minus"]))
        assert nearest < 0  # post before pre: depression
    else:
        assert nearest == 0.0


def test_the_window_is_clipped_at_the_ends_of_the_trains() -> None:
    assert _one(2, [0], n_steps=10)[:2] == (-2, PAIRED)
    assert _one(8, [9], n_steps=10)[:2] == (1, PAIRED)
    assert _one(0, [], n_steps=1)[:2] == (NO_DELTA, NO_POST)


def test_eq2_update_is_alpha_times_the_post_activity_change_at_the_pre_spike() -> None:
    pre, post = _trains(6, [0, 2, 5], [3])
    activity = np.array([0.0, 0.5, 0.25, 1.0, 1.0, 0.5, 2.0])
    records = spike_updates(pre, post, activity, WINDOW, 2.0, **RULE)
    np.testing.assert_allclose(records.rate_update, [1.0, 1.5, 3.0])


def test_exponential_window() -> None:
    assert exponential_window(0, 1.0, 1.0, 5.0, 5.0) == 0.0
    assert exponential_window(3, 2.0, 1.0, 5.0, 7.0) == pytest.approx(2.0 * math.exp(-3 / 5))
    assert exponential_window(-3, 2.0, 0.5, 5.0, 7.0) == pytest.approx(-0.5 * math.exp(-3 / 7))


def test_both_rules_match_a_plain_reference_on_random_trains() -> None:
    """Random trains of several densities (from sparse to one spike in two steps) and
    windows: every record equals the reference's, spike by spike."""
    generator = np.random.default_rng(7)
    checked = {name: 0 for name in OUTCOME_CODES}
    for trial in range(60):
        n_steps = int(generator.integers(1, 120))
        window = int(generator.integers(1, 25))
        pre = generator.random(n_steps) < generator.uniform(0.05, 0.5)
        post = generator.random(n_steps) < generator.uniform(0.0, 0.5)
        activity = generator.normal(size=n_steps + 1)
        alpha = float(generator.uniform(0.1, 2.0))
        got = spike_updates(pre, post, activity, window, alpha, **RULE)
        expected = reference_updates(pre, post, activity, window, alpha, **RULE)
        assert got.step.tolist() == [record[0] for record in expected], trial
        for k, (_, delta, outcome, eq2, nearest) in enumerate(expected):
            assert got.outcome[k] == OUTCOME_CODES[outcome], (trial, k)
            assert got.delta[k] == (NO_DELTA if delta is None else delta), (trial, k)
            assert got.rate_update[k] == pytest.approx(eq2, rel=1e-12, abs=1e-15)
            assert got.nearest_neighbour_update[k] == pytest.approx(nearest, rel=1e-12)
            checked[outcome] += 1
    assert min(checked.values()) > 20, checked  # every outcome was exercised


def test_mismatched_arrays_are_refused() -> None:
    pre, post = _trains(5, [1], [2])
    with pytest.raises(ValueError, match="one value more"):
        spike_updates(pre, post, np.zeros(5), WINDOW, 1.0, **RULE)
    with pytest.raises(ValueError, match="same number of steps"):
        spike_updates(pre, post[:4], np.zeros(6), WINDOW, 1.0, **RULE)
    with pytest.raises(ValueError, match="window"):
        spike_updates(pre, post, np.zeros(6), 0, 1.0, **RULE)


def test_bernoulli_trains_have_the_right_mean_and_independent_channels() -> None:
    n_steps = 200_000
    probability = np.full(n_steps, 0.3)
    key = np.uint64(draw_key(11, 5, 0))
    first = bernoulli_train(probability, key, 0, 2)
    second = bernoulli_train(probability, key, 1, 2)
    sigma = math.sqrt(0.3 * 0.7 / n_steps)
    for train in (first, second):
        assert abs(train.mean() - 0.3) < 4 * sigma
    # independent channels: P(both) = 0.09
    assert abs(np.mean(first & second) - 0.09) < 4 * math.sqrt(0.09 * 0.91 / n_steps)
    # a pure function of the key; another key gives other draws
    np.testing.assert_array_equal(first, bernoulli_train(probability, key, 0, 2))
    assert not np.array_equal(
        first, bernoulli_train(probability, np.uint64(draw_key(12, 5, 0)), 0, 2)
    )
    ramp = np.linspace(0.0, 0.5, n_steps)
    spikes = bernoulli_train(ramp, key, 0, 1)
    assert abs(spikes.mean() - 0.25) < 4 * math.sqrt(0.25 / n_steps)
    assert not spikes[ramp == 0.0].any()


def test_spike_probability_is_max_rate_times_rho() -> None:
    activity = np.array([-2.0, -0.5, -0.25, 0.0, 0.5, 3.0])
    hard = spike_probability(activity, 0.3, ACTIVATION_CODES["hard_sigmoid"], -0.5)
    np.testing.assert_allclose(hard, 0.3 * np.clip(activity + 0.5, 0.0, 1.0))
    logistic = spike_probability(activity, 0.2, ACTIVATION_CODES["sigmoid4"], -0.5)
    np.testing.assert_allclose(logistic, 0.2 / (1.0 + np.exp(-4.0 * activity)))


def test_activity_sequences_vary_within_the_drive_and_depend_only_on_the_seed() -> None:
    arguments = (160, -1.0, 1.0, 10, 40, 0.05, 0.3)
    first = activity_sequence(3, 7, 1, *arguments)
    assert first.shape == (161,)
    np.testing.assert_array_equal(first, activity_sequence(3, 7, 1, *arguments))
    assert not np.array_equal(first, activity_sequence(4, 7, 1, *arguments))
    assert not np.array_equal(first, activity_sequence(3, 7, 0, *arguments))
    many = np.array([activity_sequence(0, k, 1, *arguments) for k in range(200)])
    assert many.min() >= -1.0 and many.max() <= 1.0
    change = np.diff(many, axis=1)
    # rises and falls in every part of the range, with varied slopes
    for low, high in ((-1.0, -0.3), (-0.3, 0.3), (0.3, 1.0)):
        inside = (many[:, :-1] >= low) & (many[:, :-1] < high)
        assert (change[inside] > 0.01).mean() > 0.1 and (change[inside] < -0.01).mean() > 0.1
    assert np.std(np.abs(change)) > 0.02


def test_sequence_records_gather_the_samples_of_one_sequence() -> None:
    """The compiled driver's records are the kernels' records of each sample's trains, kept
    for pre spikes at steps first .. last - 1 and counted by outcome."""
    seed, sequence, samples, window, first, last = 5, 3, 40, 8, 8, 52
    pre_activity = activity_sequence(seed, sequence, 0, 60, -1.0, 1.0, 5, 15, 0.1, 0.4)
    post_activity = activity_sequence(seed, sequence, 1, 60, -1.0, 1.0, 5, 15, 0.1, 0.4)
    code = ACTIVATION_CODES["hard_sigmoid"]
    counts, deltas, eq1, nn = sequence_records(
        seed, sequence, samples, pre_activity, post_activity, 0.4, code, -0.5, window,
        first, last, 1.0, 1.0, 1.0, 5.0, 5.0,
    )  # fmt: skip
    expected_counts = np.zeros(4, dtype=np.int64)
    expected = []
    for sample in range(samples):
        key = np.uint64(draw_key(seed, STREAM_SPIKES, sequence * samples + sample))
        pre = bernoulli_train(spike_probability(pre_activity[:60], 0.4, code, -0.5), key, 0, 2)
        post = bernoulli_train(spike_probability(post_activity[:60], 0.4, code, -0.5), key, 1, 2)
        step, delta, outcome, rate, window_update = presynaptic_updates(
            pre, post, post_activity, window, 1.0, 1.0, 1.0, 5.0, 5.0
        )
        for k in np.flatnonzero((step >= first) & (step < last)):
            expected_counts[outcome[k]] += 1
            if outcome[k] in (PAIRED, COINCIDENT):
                expected.append((delta[k], rate[k], window_update[k]))
    np.testing.assert_array_equal(counts, expected_counts)
    assert counts[PAIRED] > 50 and counts[BOTH_SIDES] > 50
    np.testing.assert_array_equal(deltas, [record[0] for record in expected])
    np.testing.assert_array_equal(eq1, [record[1] for record in expected])
    np.testing.assert_array_equal(nn, [record[2] for record in expected])


# The key of sample 0 lies below 2**63 under seed 2 and above it under seed 9: a key passed
# from Python as a plain int would be typed int64 in the first case (and draw other trains).
@pytest.mark.parametrize("seed", [2, 9])
def test_the_example_draws_the_trains_of_its_sample_in_the_run(seed: int) -> None:
    """The stored example (sequence 0, sample 0) has the spike trains that sample has in the
    run: the same presynaptic spikes, and the same total nearest-neighbour change."""
    table = {name: key.default for name, key in KEYS.items()}
    table |= {"steps": 60, "samples": 7}
    example = example_trace(table, seed)
    pre_activity, post_activity = activities(table, seed, 0)
    np.testing.assert_array_equal(example["activity"][:, 1], post_activity[:60])
    counts, _, _, nn = sequence_records(
        seed, 0, 1, pre_activity, post_activity, table["max_rate_per_step"],
        ACTIVATION_CODES[table["activation"]], table["hard_sigmoid_threshold"],
        table["window"], 0, 60, table["alpha"], table["a_plus"], table["a_minus"],
        table["tau_plus"], table["tau_minus"],
    )  # fmt: skip
    assert counts.sum() == example["spikes"][:, 0].sum() > 5
    assert example["weight_nearest_neighbour"][-1] == pytest.approx(nn.sum())
    assert example["spikes"][:, 1].sum() > 5


def test_curve_metrics_of_hand_built_records() -> None:
    """Means, standard errors and counts by delta; the bins; the correlations; the shape."""
    delta = np.array([1, 1, 1, -1, -1, 2, 0, 3, -3, 3])
    eq1 = np.array([0.2, 0.4, 0.6, -0.3, -0.1, 0.5, 0.05, 0.1, -0.05, 0.3])
    nn = np.array([0.9, 0.9, 0.9, -0.9, -0.9, 0.8, 0.0, 0.7, -0.7, 0.7])
    records = Records(np.array([9, 1, 4, 6]), delta, eq1, nn)
    metrics = curve_metrics(records, window=3, bins=3, binning="quantile", near_max=1, far_min=3)
    np.testing.assert_array_equal(metrics["delta"], [-3, -2, -1, 0, 1, 2, 3])
    np.testing.assert_array_equal(metrics["pair_count_by_delta"], [1, 0, 2, 1, 3, 1, 2])
    np.testing.assert_allclose(
        metrics["eq1_mean_by_delta"], [-0.05, np.nan, -0.2, 0.05, 0.4, 0.5, 0.2]
    )
    # standard error at delta 1: sd 0.2 over 3 values
    assert metrics["eq1_sem_by_delta"][4] == pytest.approx(0.2 / math.sqrt(3))
    assert metrics["eq1_sem_by_delta"][3] != metrics["eq1_sem_by_delta"][3]  # NaN below 2
    np.testing.assert_allclose(metrics["nn_mean_by_delta"], [-0.7, np.nan, -0.9, 0, 0.9, 0.8, 0.7])
    # the paired spikes (delta != 0), sorted by eq1: three bins of three
    paired = delta != 0
    order = np.argsort(eq1[paired])
    np.testing.assert_array_equal(metrics["eq1_bin_count"], [3, 3, 3])
    np.testing.assert_allclose(
        metrics["eq1_bin_mean"], eq1[paired][order].reshape(3, 3).mean(axis=1)
    )
    np.testing.assert_allclose(
        metrics["nn_mean_by_eq1_bin"], nn[paired][order].reshape(3, 3).mean(axis=1)
    )
    assert metrics["correlation_samples"] == pytest.approx(
        np.corrcoef(eq1[paired], nn[paired])[0, 1]
    )
    assert metrics["correlation_binned"] == pytest.approx(
        np.corrcoef(metrics["eq1_bin_mean"], metrics["nn_mean_by_eq1_bin"])[0, 1]
    )
    assert metrics["eq1_mean_near_pre_leads"] == pytest.approx(0.4)
    assert metrics["eq1_mean_near_post_leads"] == pytest.approx(-0.2)
    assert metrics["eq1_mean_far_pre_leads"] == pytest.approx(0.2)
    assert metrics["eq1_mean_far_post_leads"] == pytest.approx(-0.05)
    assert metrics["bi_poo_signs"] == metrics["bi_poo_decay"] == 1.0
    assert metrics["presynaptic_spikes"] == 20 and metrics["paired_share"] == 9 / 20
    # equal-width bins over [-0.3, 0.6]: edges -0.3, 0, 0.3, 0.6
    wide = curve_metrics(records, window=3, bins=3, binning="equal_width", near_max=1, far_min=3)
    np.testing.assert_allclose(wide["eq1_bin_centre"], [-0.15, 0.15, 0.45])
    np.testing.assert_array_equal(wide["eq1_bin_count"], [3, 2, 4])
    # the far side larger than the near one: no decay
    flipped = Records(
        records.outcome_counts, delta, np.where(np.abs(delta) == 3, eq1 * 10, eq1), nn
    )
    shape = curve_metrics(flipped, window=3, bins=3, binning="quantile", near_max=1, far_min=3)
    assert shape["bi_poo_signs"] == 1.0 and shape["bi_poo_decay"] == 0.0


SMALL = ["--set", "experiment.sequences=20", "--set", "experiment.samples=50"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stdp_curve") / "run.zarr"
    assert main(["run", str(SCENARIO), "--out", str(out), "--quiet", *SMALL]) == EXIT_OK
    return out


def test_small_run_shows_the_bi_and_poo_shape_and_correlated_rules(small_run: Path) -> None:
    run = open_run(small_run)
    assert run.status == "complete"
    metric = {name: run.array("metrics", name) for name in run.names("metrics")}
    assert metric["delta"].tolist() == list(range(-20, 21))
    eq1 = metric["eq1_mean_by_delta"]
    assert np.all(eq1[21:26] > 0) and np.all(eq1[15:20] < 0)  # delta 1..5, -5..-1
    assert float(metric["bi_poo_signs"]) == float(metric["bi_poo_decay"]) == 1.0
    assert float(metric["eq1_mean_near_pre_leads"]) > 3 * float(metric["eq1_mean_far_pre_leads"])
    assert float(metric["eq1_mean_near_post_leads"]) < 3 * float(metric["eq1_mean_far_post_leads"])
    assert float(metric["correlation_samples"]) > 0.4
    assert float(metric["correlation_binned"]) > 0.6
    # the binned NN update rises with the Eq. 1 update from one end to the other
    binned = metric["nn_mean_by_eq1_bin"]
    assert binned[:5].mean() < -0.2 and binned[-5:].mean() > 0.2
    assert int(metric["eq1_bin_count"].sum()) == int(metric["outcome_count"][PAIRED])
    counted = metric["outcome_count"].sum()
    assert metric["outcome_count"].tolist()[PAIRED] == pytest.approx(
        float(metric["paired_share"]) * counted
    )
    # the example: 160 steps, activities, spikes and the weights accumulated by each rule
    assert run.array("trajectory", "activity").shape == (160, 2)
    spikes = run.array("trajectory", "spikes")
    assert spikes.dtype == bool and spikes[:, 0].any()
    weight = run.array("trajectory", "weight_eq2")
    steps = np.flatnonzero(spikes[:, 0])
    assert np.all(np.diff(weight)[np.setdiff1d(np.arange(159), steps - 1)] == 0.0)
    assert run.attributes["scenario"]["experiment"]["kind"] == "stdp_curve"


def test_the_same_seed_gives_the_same_metrics(small_run: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again.zarr", tmp_path / "other.zarr"
    assert main(["run", str(SCENARIO), "--out", str(again), "--quiet", *SMALL]) == EXIT_OK
    command = ["run", str(SCENARIO), "--out", str(other), "--quiet", "--seed", "1", *SMALL]
    assert main(command) == EXIT_OK
    first, second = open_run(small_run), open_run(again)
    for name in first.names("metrics"):
        np.testing.assert_array_equal(first.array("metrics", name), second.array("metrics", name))
    assert not np.array_equal(
        first.array("metrics", "eq1_mean_by_delta"),
        open_run(other).array("metrics", "eq1_mean_by_delta"),
    )


def test_plot_writes_a_small_png(small_run: Path, tmp_path: Path) -> None:
    image = tmp_path / "stdp_curve.png"
    assert main(["plot", str(small_run), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < image.stat().st_size < 150_000


def test_shipped_scenario_is_the_papers_protocol() -> None:
    from neurosim.scenario.schema import load_scenario

    table = load_scenario(SCENARIO).settings["experiment"]
    assert (table["sequences"], table["steps"], table["samples"], table["window"]) == (
        500,
        160,
        1000,
        20,
    )
    for key in ("sequences", "steps", "samples", "window"):
        assert KEYS[key].default == table[key]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("experiment.sequences=0", "experiment.sequences"),
        ("experiment.steps=0", "experiment.steps"),
        ("experiment.steps=40", "experiment.steps"),  # not above 2 * window
        ("experiment.samples=-3", "experiment.samples"),
        ("experiment.window=0", "experiment.window"),
        ("experiment.max_rate_per_step=1.5", "experiment.max_rate_per_step"),
        ("experiment.max_rate_per_step=0", "experiment.max_rate_per_step"),
        ("experiment.tau_plus=-8", "experiment.tau_plus"),
        ("experiment.tau_minus=0", "experiment.tau_minus"),
        ("experiment.a_minus=-1", "experiment.a_minus"),
        ("experiment.leak_max=1.5", "experiment.leak_max"),
        ("experiment.drive_low=2", "experiment.drive_low"),
        ("experiment.segment_min=50", "experiment.segment_min"),
        ("experiment.far_min=25", "experiment.far_min"),
        ("experiment.activation='relu'", "experiment.activation"),
        ("experiment.eq1_binning='log'", "experiment.eq1_binning"),
        ("experiment.example_sample=50", "experiment.example_sample"),
        ("experiment.colour=1", "experiment.colour"),
        ("model.alpha=0.5", "model.alpha"),
        ("scenario.backend='event'", "scenario.backend"),
    ],
)
def test_bad_setting_exits_2_and_writes_nothing(tmp_path, capsys, override, key) -> None:
    out = tmp_path / "bad.zarr"
    # the override comes last: a later --set of the same key wins
    command = ["run", str(SCENARIO), *SMALL, "--set", override, "--out", str(out), "--quiet"]
    assert main(command) == EXIT_BAD_INPUT
    assert key in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
