"""The STDP-window experiment (aSTDP paper, section 3.2.3): a Bi & Poo curve from two neurons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.experiments.stdp_window import run_protocol, window_metrics
from neurosim.model.parameters import FakeTargetParameters
from neurosim.model.presets import load_preset
from neurosim.recording import open_run
from neurosim.scenario.schema import load_scenario

SCENARIO = """
[scenario]
name = "stdp_window_small"

[model]
preset = "astdp"
activation = "sigmoid4"
eps_small = 0.2
eps_large = 0.5
alpha = 1e-4
dtype = "float64"
fake_target = { enabled = false }

[experiment]
kind = "stdp_window"
window_sizes = [5, 10, 15]
beta_small = 0.4
beta_large_for_window_panels = 0.5
beta_large_values = [0.5, 0.6, 0.7]
window_for_beta_panels = 10
offset_min = -20
offset_max = 20
offset_step = 2
steps = 120
window_start = 30
"""


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stdp")
    scenario = folder / "stdp.toml"
    scenario.write_text(SCENARIO)
    out = folder / "run.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    return scenario, out


def _metric(run, name: str) -> dict[str, float]:
    labels = [str(label) for label in run.array("metrics", "panel")]
    return dict(zip(labels, run.array("metrics", name).tolist(), strict=True))


def test_store_holds_the_curves_and_the_traces(small_run) -> None:
    _, out = small_run
    run = open_run(out)
    assert run.status == "complete"
    assert run.dims("metrics", "weight_change") == ("panel", "offset")
    labels = [str(label) for label in run.array("metrics", "panel")]
    assert labels == [
        "window 5",
        "window 10",
        "window 15",
        "beta 0.4/0.5",
        "beta 0.4/0.6",
        "beta 0.4/0.7",
    ]
    assert run.array("metrics", "offset").tolist() == list(range(-20, 21, 2))
    curves = run.array("metrics", "weight_change")
    assert curves.shape == (6, 21) and np.all(np.isfinite(curves))
    # the same protocol (window 10, beta 0.4/0.5) appears in both rows
    np.testing.assert_array_equal(curves[1], curves[3])
    assert run.attributes["scenario"]["experiment"]["kind"] == "stdp_window"
    assert run.array("trajectory", "state_pre_leads").shape == (120, 2, 2)
    clamp = run.array("trajectory", "clamp_pre_leads")
    time = run.array("trajectory", "time")
    # a record at count t shows the input of step t - 1; pre window [30, 40), post [35, 45)
    assert time[clamp[:, 0] > 0].tolist() == list(range(31, 41))
    assert time[clamp[:, 1] > 0].tolist() == list(range(36, 46))


def test_bi_and_poo_pattern(small_run) -> None:
    _, out = small_run
    run = open_run(out)
    curves = run.array("metrics", "weight_change")
    offsets = run.array("metrics", "offset")
    relative = run.array("metrics", "relative_weight_change")
    potentiation = _metric(run, "peak_potentiation_offset")
    depression = _metric(run, "peak_depression_offset")
    for row, label in enumerate(_metric(run, "asymmetry")):
        # pre leads: potentiation; post leads: depression (relative to the no-overlap value)
        assert 0 < potentiation[label] <= 8, label
        assert depression[label] < 0, label
        assert relative[row, offsets == 4][0] > 0.05, label
        assert relative[row, offsets == -8][0] < -0.05, label
    # with beta 0.4/0.5 and short windows even the raw change is negative when post leads
    assert curves[0, offsets == -4][0] < -0.05
    assert curves[0, offsets == 2][0] > 0.05
    assert curves[1, offsets == -8][0] < -0.05


def test_shorter_window_narrower_larger_beta_ratio_more_asymmetric(small_run) -> None:
    _, out = small_run
    run = open_run(out)
    width = _metric(run, "fwhm_potentiation")
    assert width["window 5"] < width["window 10"] < width["window 15"]
    asymmetry = _metric(run, "asymmetry")
    assert asymmetry["beta 0.4/0.5"] < asymmetry["beta 0.4/0.6"] < asymmetry["beta 0.4/0.7"]
    assert asymmetry["beta 0.4/0.7"] > 1.5 * asymmetry["beta 0.4/0.5"]


def test_plot_writes_a_png(small_run, tmp_path) -> None:
    _, out = small_run
    image = tmp_path / "figure6.png"
    assert main(["plot", str(out), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("experiment.offset_min=30", "experiment.offset_min"),
        ("experiment.offset_max=200", "experiment.offset_max"),
        ("experiment.window_sizes=[5, 500]", "experiment.window_sizes[1]"),
        ("experiment.window_sizes=[0]", "experiment.window_sizes[0]"),
        ("experiment.offset_step=0", "experiment.offset_step"),
        ("experiment.beta_large_values=[0.3]", "experiment.beta_large_values[0]"),
        ("experiment.window_start=5", "experiment.offset_min"),
        ("experiment.colour=1", "experiment.colour"),
    ],
)
def test_bad_setting_exits_2_and_writes_nothing(small_run, tmp_path, capsys, override, key) -> None:
    scenario, _ = small_run
    out = tmp_path / "bad.zarr"
    code = main(["run", str(scenario), "--set", override, "--out", str(out), "--quiet"])
    assert code == EXIT_BAD_INPUT
    assert key in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_shipped_scenario_is_valid() -> None:
    scenario = load_scenario(Path(__file__).parents[1] / "scenarios" / "stdp_window.toml")
    model = scenario.phase_parameters[0]
    assert model.eps_small < model.eps_large
    assert scenario.settings["experiment"]["offset_min"] == -30


def test_default_eps_gives_no_depression_lobe() -> None:
    """Open point (findings, "Why eps matters"): with the project default eps_small 0.5 >
    eps_large 0.4, dz never turns negative after the window, so the curve is one bump."""
    base = load_preset("astdp").replace(
        dtype="float64",
        alpha=1e-4,
        beta_small=0.4,
        beta_large=0.5,
        fake_target=FakeTargetParameters(enabled=False),
    )
    assert base.eps_small > base.eps_large
    offsets = np.arange(-20, 21, 4)

    def curve(params):
        return np.array([run_protocol(params, 10, int(offset))[0] for offset in offsets])

    default = window_metrics(offsets, curve(base), 4)
    # no value drops below the no-overlap baseline by more than 1 % of the bump
    assert default["raw_min"] > 0.0
    assert default["far"] - default["raw_min"] < 0.01 * default["peak_potentiation"]
    assert default["asymmetry"] > 100
    # the same protocol with eps_small < eps_large has a clear depression lobe
    swapped = window_metrics(offsets, curve(base.replace(eps_small=0.2, eps_large=0.5)), 4)
    assert swapped["peak_depression"] < -0.5 * swapped["peak_potentiation"]
    assert swapped["asymmetry"] < 2


def _gaussian(offsets: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """A bump of height 1 at ``centre`` that falls to 1/2 at ``centre +- half_width``."""
    sigma = half_width / np.sqrt(2.0 * np.log(2.0))
    return np.exp(-((offsets - centre) ** 2) / (2.0 * sigma**2))


# Two Gaussian lobes on a baseline, sampled every 2 steps. Each half-width lies halfway between
# two samples, so the lobe's samples at or above half its peak span exactly its full width at
# half maximum (3 samples = 6 steps, 5 samples = 10 steps), far from any rounding edge; the
# lobes are too far apart, and from the ends, to touch each other or the baseline (< 1e-5).
GAUSS_STEP = 2
GAUSS_OFFSETS = np.arange(-40, 41, GAUSS_STEP)
BASELINE = 0.3
POTENTIATION = {"height": 2.0, "centre": 10, "half_width": 3.0}
DEPRESSION = {"height": 0.5, "centre": -16, "half_width": 5.0}


def _two_lobes(offsets: np.ndarray) -> np.ndarray:
    return (
        BASELINE
        + POTENTIATION["height"]
        * _gaussian(offsets, POTENTIATION["centre"], POTENTIATION["half_width"])
        - DEPRESSION["height"] * _gaussian(offsets, DEPRESSION["centre"], DEPRESSION["half_width"])
    )


def test_window_metrics_of_two_gaussian_lobes() -> None:
    """Peaks, their offsets, widths at half maximum, baseline and asymmetry of a curve whose
    figures are known: potentiation 2.0 at +10 (FWHM 6), depression -0.5 at -16 (FWHM 10),
    on a baseline of 0.3."""
    metrics = window_metrics(GAUSS_OFFSETS, _two_lobes(GAUSS_OFFSETS), GAUSS_STEP)
    expected = {
        "far": BASELINE,
        "raw_max": BASELINE + POTENTIATION["height"],
        "raw_min": BASELINE - DEPRESSION["height"],
        "peak_potentiation": POTENTIATION["height"],
        "peak_potentiation_offset": POTENTIATION["centre"],
        "peak_depression": -DEPRESSION["height"],
        "peak_depression_offset": DEPRESSION["centre"],
        "fwhm_potentiation": 2 * POTENTIATION["half_width"],
        "fwhm_depression": 2 * DEPRESSION["half_width"],
        "asymmetry": POTENTIATION["height"] / DEPRESSION["height"],
    }
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-5), name


def test_window_metrics_follow_the_sign_and_the_side_of_each_lobe() -> None:
    """Post leading is a negative offset and depression a negative change: the same two lobes
    mirrored (pre and post swapped) keep their signs and widths at mirrored offsets; negated,
    the lobes swap roles (the former depression lobe is now the potentiation lobe, with its
    width) and the asymmetry inverts."""
    mirrored = window_metrics(GAUSS_OFFSETS, _two_lobes(-GAUSS_OFFSETS), GAUSS_STEP)
    assert mirrored["peak_potentiation"] == pytest.approx(POTENTIATION["height"], abs=1e-5)
    assert mirrored["peak_potentiation_offset"] == -POTENTIATION["centre"]
    assert mirrored["peak_depression_offset"] == -DEPRESSION["centre"]
    assert mirrored["fwhm_potentiation"] == 2 * POTENTIATION["half_width"]
    assert mirrored["fwhm_depression"] == 2 * DEPRESSION["half_width"]
    negated = window_metrics(GAUSS_OFFSETS, -_two_lobes(GAUSS_OFFSETS), GAUSS_STEP)
    assert negated["far"] == pytest.approx(-BASELINE, abs=1e-5)
    assert negated["peak_potentiation"] == pytest.approx(DEPRESSION["height"], abs=1e-5)
    assert negated["peak_potentiation_offset"] == DEPRESSION["centre"]
    assert negated["fwhm_potentiation"] == 2 * DEPRESSION["half_width"]
    assert negated["peak_depression"] == pytest.approx(-POTENTIATION["height"], abs=1e-5)
    assert negated["peak_depression_offset"] == POTENTIATION["centre"]
    assert negated["fwhm_depression"] == 2 * POTENTIATION["half_width"]
    assert negated["asymmetry"] == pytest.approx(DEPRESSION["height"] / POTENTIATION["height"])


def test_window_metrics_of_a_bi_and_poo_exponential_window() -> None:
    """The classical window, one step apart: ``A+ exp(-t / tau+)`` for t > 0 (pre leads),
    ``-A- exp(t / tau-)`` for t < 0, no change at 0. Each lobe peaks next to 0 and decays to
    one side only, to half its peak after ``tau ln 2`` steps (chosen 2.5 and 5.5 steps, away
    from a sample): the potentiation lobe is the 3 offsets +1..+3, the depression lobe the 6
    offsets -1..-6."""
    offsets = np.arange(-120, 121)
    amplitude_plus, amplitude_minus = 1.0, 0.6
    tau_plus, tau_minus = 2.5 / np.log(2.0), 5.5 / np.log(2.0)
    curve = np.where(
        offsets > 0,
        amplitude_plus * np.exp(-offsets / tau_plus),
        -amplitude_minus * np.exp(offsets / tau_minus),
    )
    curve[offsets == 0] = 0.0
    metrics = window_metrics(offsets, curve, 1)
    peak_plus = amplitude_plus * np.exp(-1.0 / tau_plus)
    peak_minus = amplitude_minus * np.exp(-1.0 / tau_minus)
    assert metrics["far"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["peak_potentiation"] == pytest.approx(peak_plus, rel=1e-5)
    assert metrics["peak_potentiation_offset"] == 1
    assert metrics["peak_depression"] == pytest.approx(-peak_minus, rel=1e-5)
    assert metrics["peak_depression_offset"] == -1
    assert metrics["fwhm_potentiation"] == np.floor(tau_plus * np.log(2.0)) + 1 == 3
    assert metrics["fwhm_depression"] == np.floor(tau_minus * np.log(2.0)) + 1 == 6
    assert metrics["asymmetry"] == pytest.approx(peak_plus / peak_minus, rel=1e-5)


def test_window_metrics_of_a_curve_with_one_lobe() -> None:
    """A lobe that is missing has size 0, no offset, no width; the asymmetry is then infinite
    (no depression) or 0 (no potentiation)."""
    bump = 0.1 + 3.0 * _gaussian(GAUSS_OFFSETS, 4, 3.0)
    only_potentiation = window_metrics(GAUSS_OFFSETS, bump, GAUSS_STEP)
    assert only_potentiation["peak_potentiation"] == pytest.approx(3.0, abs=1e-5)
    assert only_potentiation["peak_potentiation_offset"] == 4
    assert only_potentiation["fwhm_potentiation"] == 6
    assert only_potentiation["peak_depression"] == 0.0
    assert np.isnan(only_potentiation["peak_depression_offset"])
    assert np.isnan(only_potentiation["fwhm_depression"])
    assert only_potentiation["asymmetry"] == float("inf")
    only_depression = window_metrics(GAUSS_OFFSETS, -bump, GAUSS_STEP)
    assert only_depression["peak_depression"] == pytest.approx(-3.0, abs=1e-5)
    assert only_depression["peak_depression_offset"] == 4
    assert only_depression["fwhm_depression"] == 6
    assert only_depression["peak_potentiation"] == 0.0
    assert np.isnan(only_depression["peak_potentiation_offset"])
    assert np.isnan(only_depression["fwhm_potentiation"])
    assert only_depression["asymmetry"] == 0.0


def test_window_baseline_is_the_mean_of_the_two_extreme_offsets() -> None:
    """``far`` averages both ends (they need not agree), and the peaks are measured from it;
    the raw extremes are not."""
    offsets = np.array([-4, -2, 0, 2, 4])
    metrics = window_metrics(offsets, np.array([1.0, 0.5, 6.0, 2.0, 3.0]), 2)
    assert metrics["far"] == 2.0
    assert (metrics["raw_max"], metrics["raw_min"]) == (6.0, 0.5)
    assert (metrics["peak_potentiation"], metrics["peak_potentiation_offset"]) == (4.0, 0)
    assert (metrics["peak_depression"], metrics["peak_depression_offset"]) == (-1.5, -2)
    # relative curve -1, -1.5, 4, 0, 1: potentiation is one sample, depression two (-1 is
    # more than half of -1.5)
    assert (metrics["fwhm_potentiation"], metrics["fwhm_depression"]) == (2.0, 4.0)
    assert metrics["asymmetry"] == pytest.approx(4.0 / 1.5)
