"""The STDP-window experiment (aSTDP paper, section 3.2.3): a Bi & Poo curve from two neurons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from neurosim.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, main
from neurosim.experiments import stdp_window
from neurosim.experiments.stdp_window import run_protocol, window_metrics
from neurosim.model.parameters import FakeTargetParameters
from neurosim.model.presets import load_preset
from neurosim.recording import RunInterrupted, open_run
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
        ("experiment.eps_reading='paper'", "experiment.eps_reading"),
        ("experiment.lobe_tolerance=2", "experiment.lobe_tolerance"),
        ("experiment.lobe_floor=-1", "experiment.lobe_floor"),
        # the scenario sets eps_small 0.2: not the reading's 0.4
        ("experiment.eps_reading='large_beta_faster'", "model.eps_small = 0.2"),
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


# One panel, few offsets: enough to compare how the eps readings reach the model.
READING_SETTINGS = [
    "experiment.window_sizes=[10]",
    "experiment.beta_large_values=[0.5]",
    "experiment.offset_step=5",
]


def _run_reading(folder: Path, name: str, settings: list[str]):
    """The shipped scenario, reduced to one panel, run with ``settings`` on top."""
    scenario = Path(__file__).parents[1] / "scenarios" / "stdp_window.toml"
    out = folder / f"{name}.zarr"
    arguments = ["run", str(scenario), "--out", str(out), "--quiet"]
    for setting in [*READING_SETTINGS, *settings]:
        arguments += ["--set", setting]
    assert main(arguments) == EXIT_OK
    return open_run(out)


def test_each_eps_reading_runs_its_eps_and_says_so(tmp_path, monkeypatch) -> None:
    """A named reading runs the eps the paper's sentence gives under it (eps 0.5 and 0.4,
    paired with the betas in the order listed or crossed); the same eps set in [model] run the
    same curve; the store's metrics and the figure's title name the reading."""
    titles: list[str] = []
    save = Figure.savefig

    def save_and_note_the_title(figure: Figure, path: Path, **options: object) -> None:
        titles.append(figure.get_suptitle())
        save(figure, path, **options)  # the command renames the written file into place

    monkeypatch.setattr(Figure, "savefig", save_and_note_the_title)
    readings = {
        "large_beta_faster": (0.4, 0.5),
        "small_beta_faster": (0.5, 0.4),
    }
    for reading, (eps_small, eps_large) in readings.items():
        named = _run_reading(tmp_path, reading, [f"experiment.eps_reading='{reading}'"])
        explicit = _run_reading(
            tmp_path,
            f"{reading}_explicit",
            [
                "experiment.eps_reading='model'",
                f"model.eps_small={eps_small}",
                f"model.eps_large={eps_large}",
            ],
        )
        np.testing.assert_array_equal(
            named.array("metrics", "weight_change"), explicit.array("metrics", "weight_change")
        )
        assert float(named.array("metrics", "eps_small")) == eps_small
        assert float(named.array("metrics", "eps_large")) == eps_large
        attributes = xr.open_zarr(named.path, group="metrics")["eps_small"].attrs
        assert attributes["eps_reading"] == reading
        # the stored scenario runs again as it is: its [model] names the eps that ran
        model = named.attributes["scenario"]["model"]
        assert (model["eps_small"], model["eps_large"]) == (eps_small, eps_large)
        assert main(["plot", str(named.path), "-o", str(tmp_path / "figure.png")]) == EXIT_OK
        assert f"'{reading}'" in titles[-1]
        assert f"eps_small {eps_small:g}, eps_large {eps_large:g}" in titles[-1]
    # the readings differ where it matters: only eps_large > eps_small has a depression lobe
    depth = {
        reading: open_run(tmp_path / f"{reading}.zarr").array("metrics", "peak_depression")[0]
        for reading in readings
    }
    assert depth["large_beta_faster"] < 0.0 == depth["small_beta_faster"]


def test_shipped_scenario_runs_the_large_beta_faster_reading() -> None:
    scenario = load_scenario(Path(__file__).parents[1] / "scenarios" / "stdp_window.toml")
    assert scenario.settings["experiment"]["eps_reading"] == "large_beta_faster"
    assert scenario.settings["experiment"]["offset_min"] == -30


def test_preset_eps_gives_no_depression_lobe() -> None:
    """Open point (findings, "Why eps matters"): with the preset's eps_small 0.5 > eps_large
    0.4, dz never turns negative after the window, so the curve is one bump: its two far ends
    differ by round-off only, which is no depression lobe."""
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

    default = window_metrics(offsets, curve(base))
    # no value drops below the no-overlap baseline by more than 1 % of the bump
    assert default["raw_min"] > 0.0
    assert default["far"] - default["raw_min"] < 0.01 * default["peak_potentiation"]
    assert default["peak_depression"] == 0.0
    assert default["asymmetry"] == float("inf")
    # the same protocol with eps_small < eps_large has a clear depression lobe
    swapped = window_metrics(offsets, curve(base.replace(eps_small=0.2, eps_large=0.5)))
    assert swapped["peak_depression"] < -0.5 * swapped["peak_potentiation"]
    assert swapped["asymmetry"] < 2


def _tent(offsets: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A triangle of height 1 at ``centre`` that is 1/2 at ``centre +- width / 2`` (its full
    width at half maximum is ``width``) and 0 beyond ``centre +- width``."""
    return np.clip(1.0 - np.abs(offsets - centre) / width, 0.0, None)


# Two triangular lobes on a baseline, sampled every 2 steps, peaks on samples. Each side of a
# lobe is straight from its peak to its foot, and its half-peak crossing (3.5 or 5.5 steps from
# the peak) lies between two samples of that straight side, so a linear interpolation finds it
# exactly; the lobes do not touch each other or the ends.
STEP = 2
OFFSETS = np.arange(-40, 41, STEP)
BASELINE = 0.3
POTENTIATION = {"height": 2.0, "centre": 10, "width": 7.0}
DEPRESSION = {"height": 0.5, "centre": -16, "width": 11.0}


def _two_lobes(offsets: np.ndarray) -> np.ndarray:
    return (
        BASELINE
        + POTENTIATION["height"] * _tent(offsets, POTENTIATION["centre"], POTENTIATION["width"])
        - DEPRESSION["height"] * _tent(offsets, DEPRESSION["centre"], DEPRESSION["width"])
    )


def test_window_metrics_of_two_triangular_lobes() -> None:
    """Peaks, their offsets, widths at half maximum, baseline and asymmetry of a curve whose
    figures are known: potentiation 2.0 at +10 (FWHM 7), depression -0.5 at -16 (FWHM 11),
    on a baseline of 0.3."""
    metrics = window_metrics(OFFSETS, _two_lobes(OFFSETS))
    expected = {
        "far": BASELINE,
        "raw_max": BASELINE + POTENTIATION["height"],
        "raw_min": BASELINE - DEPRESSION["height"],
        "lobe_threshold": 0.01 * POTENTIATION["height"],
        "peak_potentiation": POTENTIATION["height"],
        "peak_potentiation_offset": POTENTIATION["centre"],
        "peak_depression": -DEPRESSION["height"],
        "peak_depression_offset": DEPRESSION["centre"],
        "fwhm_potentiation": POTENTIATION["width"],
        "fwhm_depression": DEPRESSION["width"],
        "asymmetry": POTENTIATION["height"] / DEPRESSION["height"],
    }
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name


def test_window_metrics_of_two_gaussian_lobes_on_a_fine_grid() -> None:
    """Gaussian lobes (FWHM = 2 sqrt(2 ln 2) sigma) sampled every step: the interpolated
    widths come within 2 % of the analytic ones, whatever their position between samples
    (the lobes lie 34 steps apart, where each is below 1e-14 of its peak)."""
    offsets = np.arange(-60, 61)
    sigma_plus, sigma_minus = 2.3, 4.1
    curve = 0.1 + 0.8 * np.exp(-((offsets - 14) ** 2) / (2 * sigma_plus**2))
    curve -= 0.25 * np.exp(-((offsets + 20) ** 2) / (2 * sigma_minus**2))
    metrics = window_metrics(offsets, curve)
    to_fwhm = 2.0 * np.sqrt(2.0 * np.log(2.0))
    assert metrics["fwhm_potentiation"] == pytest.approx(to_fwhm * sigma_plus, rel=0.02)
    assert metrics["fwhm_depression"] == pytest.approx(to_fwhm * sigma_minus, rel=0.02)
    assert metrics["peak_potentiation_offset"] == 14
    assert metrics["peak_depression_offset"] == -20
    assert metrics["asymmetry"] == pytest.approx(0.8 / 0.25, rel=1e-6)


def test_window_metrics_follow_the_sign_and_the_side_of_each_lobe() -> None:
    """Post leading is a negative offset and depression a negative change: the same two lobes
    mirrored (pre and post swapped) keep their signs and widths at mirrored offsets; negated,
    the lobes swap roles (the former depression lobe is now the potentiation lobe, with its
    width) and the asymmetry inverts."""
    mirrored = window_metrics(OFFSETS, _two_lobes(-OFFSETS))
    assert mirrored["peak_potentiation"] == pytest.approx(POTENTIATION["height"])
    assert mirrored["peak_potentiation_offset"] == -POTENTIATION["centre"]
    assert mirrored["peak_depression_offset"] == -DEPRESSION["centre"]
    assert mirrored["fwhm_potentiation"] == pytest.approx(POTENTIATION["width"])
    assert mirrored["fwhm_depression"] == pytest.approx(DEPRESSION["width"])
    negated = window_metrics(OFFSETS, -_two_lobes(OFFSETS))
    assert negated["far"] == pytest.approx(-BASELINE)
    assert negated["peak_potentiation"] == pytest.approx(DEPRESSION["height"])
    assert negated["peak_potentiation_offset"] == DEPRESSION["centre"]
    assert negated["fwhm_potentiation"] == pytest.approx(DEPRESSION["width"])
    assert negated["peak_depression"] == pytest.approx(-POTENTIATION["height"])
    assert negated["peak_depression_offset"] == POTENTIATION["centre"]
    assert negated["fwhm_depression"] == pytest.approx(POTENTIATION["width"])
    assert negated["asymmetry"] == pytest.approx(DEPRESSION["height"] / POTENTIATION["height"])


def test_window_metrics_width_does_not_depend_on_the_offset_grid() -> None:
    """The same triangular lobes sampled every step, every 2 steps (peaks on samples) give the
    same widths: the half-peak crossings are interpolated, not counted in samples."""
    fine = window_metrics(np.arange(-40, 41), _two_lobes(np.arange(-40, 41)))
    coarse = window_metrics(OFFSETS, _two_lobes(OFFSETS))
    for name in ("fwhm_potentiation", "fwhm_depression"):
        assert fine[name] == pytest.approx(coarse[name], abs=1e-12), name


def test_a_tiny_difference_between_the_far_ends_is_no_depression_lobe() -> None:
    """A single bump whose two ends differ by 1e-5 (the drift of the preset-eps curve): half
    that difference lies below ``far`` at one end, which is no lobe under the default
    tolerance; with no tolerance it would count and give an asymmetry of about 2e4."""
    offsets = np.arange(-30, 31)
    drift = 1e-5 * (offsets - offsets[0]) / (offsets[-1] - offsets[0])
    bump = 0.235 + 0.095 * _tent(offsets, -3, 14.0) + drift
    metrics = window_metrics(offsets, bump)
    assert metrics["peak_depression"] == 0.0
    assert np.isnan(metrics["peak_depression_offset"])
    assert np.isnan(metrics["fwhm_depression"])
    assert metrics["asymmetry"] == float("inf")
    assert metrics["peak_potentiation_offset"] == -3
    untolerant = window_metrics(offsets, bump, tolerance=0.0, floor=0.0)
    assert untolerant["peak_depression"] == pytest.approx(-0.5e-5)
    assert untolerant["asymmetry"] == pytest.approx(0.095 / 0.5e-5, rel=1e-3)


def test_a_lobe_counts_only_above_the_tolerance_and_the_floor() -> None:
    """The threshold is the larger of ``tolerance`` x the largest |relative value| and
    ``floor``: a depression lobe 5 % of the potentiation peak counts at tolerance 0.04, not at
    0.06; a flat curve, or one below the floor, has no lobe at all."""
    curve = 0.9 * _tent(OFFSETS, 8, 6.0) - 0.045 * _tent(OFFSETS, -10, 6.0)
    assert window_metrics(OFFSETS, curve, tolerance=0.04)["peak_depression"] == pytest.approx(
        -0.045
    )
    assert window_metrics(OFFSETS, curve, tolerance=0.06)["peak_depression"] == 0.0
    below_floor = window_metrics(OFFSETS, 1e-3 * curve, tolerance=0.0, floor=1e-3)
    assert below_floor["peak_potentiation"] == below_floor["peak_depression"] == 0.0
    assert np.isnan(below_floor["asymmetry"])
    flat = window_metrics(OFFSETS, np.full(OFFSETS.size, 0.2))
    assert flat["peak_potentiation"] == flat["peak_depression"] == 0.0
    assert np.isnan(flat["asymmetry"])


def test_window_metrics_of_a_bi_and_poo_exponential_window() -> None:
    """The classical window, one step apart: ``A+ exp(-t / tau+)`` for t > 0 (pre leads),
    ``-A- exp(t / tau-)`` for t < 0, no change at 0. Each lobe peaks next to 0: on the far side
    it falls to half its peak ``tau ln 2`` steps later (2.5 and 5.5), on the near side the
    straight line to the 0 at offset 0 crosses half the peak half a step from the peak."""
    offsets = np.arange(-120, 121)
    amplitude_plus, amplitude_minus = 1.0, 0.6
    tau_plus, tau_minus = 2.5 / np.log(2.0), 5.5 / np.log(2.0)
    curve = np.where(
        offsets > 0,
        amplitude_plus * np.exp(-offsets / tau_plus),
        -amplitude_minus * np.exp(offsets / tau_minus),
    )
    curve[offsets == 0] = 0.0
    metrics = window_metrics(offsets, curve)
    peak_plus = amplitude_plus * np.exp(-1.0 / tau_plus)
    peak_minus = amplitude_minus * np.exp(-1.0 / tau_minus)
    assert metrics["far"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["peak_potentiation"] == pytest.approx(peak_plus, rel=1e-5)
    assert metrics["peak_potentiation_offset"] == 1
    assert metrics["peak_depression"] == pytest.approx(-peak_minus, rel=1e-5)
    assert metrics["peak_depression_offset"] == -1
    # linear interpolation of the convex decay overshoots the crossing by under 0.1 step
    assert metrics["fwhm_potentiation"] == pytest.approx(tau_plus * np.log(2.0) + 0.5, abs=0.1)
    assert metrics["fwhm_depression"] == pytest.approx(tau_minus * np.log(2.0) + 0.5, abs=0.1)
    assert metrics["asymmetry"] == pytest.approx(peak_plus / peak_minus, rel=1e-5)


def test_window_metrics_of_a_curve_with_one_lobe() -> None:
    """A lobe that is missing has size 0, no offset, no width; the asymmetry is then infinite
    (no depression) or 0 (no potentiation)."""
    bump = 0.1 + 3.0 * _tent(OFFSETS, 4, 6.0)
    only_potentiation = window_metrics(OFFSETS, bump)
    assert only_potentiation["peak_potentiation"] == pytest.approx(3.0)
    assert only_potentiation["peak_potentiation_offset"] == 4
    assert only_potentiation["fwhm_potentiation"] == pytest.approx(6.0)
    assert only_potentiation["peak_depression"] == 0.0
    assert np.isnan(only_potentiation["peak_depression_offset"])
    assert np.isnan(only_potentiation["fwhm_depression"])
    assert only_potentiation["asymmetry"] == float("inf")
    only_depression = window_metrics(OFFSETS, -bump)
    assert only_depression["peak_depression"] == pytest.approx(-3.0)
    assert only_depression["peak_depression_offset"] == 4
    assert only_depression["fwhm_depression"] == pytest.approx(6.0)
    assert only_depression["peak_potentiation"] == 0.0
    assert np.isnan(only_depression["peak_potentiation_offset"])
    assert np.isnan(only_depression["fwhm_potentiation"])
    assert only_depression["asymmetry"] == 0.0


def test_window_baseline_is_the_mean_of_the_two_extreme_offsets() -> None:
    """``far`` averages both ends (they need not agree), and the peaks are measured from it;
    the raw extremes are not. A lobe that reaches an end of the grid is measured to it."""
    offsets = np.array([-4, -2, 0, 2, 4])
    metrics = window_metrics(offsets, np.array([1.0, 0.5, 6.0, 2.0, 3.0]))
    assert metrics["far"] == 2.0
    assert (metrics["raw_max"], metrics["raw_min"]) == (6.0, 0.5)
    assert (metrics["peak_potentiation"], metrics["peak_potentiation_offset"]) == (4.0, 0)
    assert (metrics["peak_depression"], metrics["peak_depression_offset"]) == (-1.5, -2)
    # relative curve -1, -1.5, 4, 0, 1. Potentiation (half 2): from 0 toward -1.5 at -2 and
    # toward 0 at +2. Depression (half -0.75): -1 at -4 is still inside, so it reaches the
    # grid's end; to the right it crosses toward 4 at 0.
    left = 0 - 2 * (4 - 2) / (4 + 1.5)
    right = 0 + 2 * (4 - 2) / (4 - 0)
    assert metrics["fwhm_potentiation"] == pytest.approx(right - left)
    assert metrics["fwhm_depression"] == pytest.approx(-2 + 2 * (1.5 - 0.75) / (1.5 + 4) + 4)
    assert metrics["asymmetry"] == pytest.approx(4.0 / 1.5)


def test_a_stopped_run_resumes_to_the_same_curves(
    small_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped (as by SIGTERM) after 30 of its protocols with a checkpoint every 8 points,
    then resumed: the trajectory and every metric equal the uninterrupted run's, and only
    the points after the last checkpoint run again."""
    scenario, whole = small_run
    out = tmp_path / "stopped.zarr"
    protocol = stdp_window.run_protocol
    calls = []
    stop_at = [2 + 30]  # the two traces, then 30 points

    def stopping_protocol(*arguments, **keywords):
        calls.append(keywords.get("record", False))
        if len(calls) in stop_at:
            raise RunInterrupted("terminated by SIGTERM")
        return protocol(*arguments, **keywords)

    monkeypatch.setattr(stdp_window, "run_protocol", stopping_protocol)
    run = ["run", str(scenario), "--set", "record.checkpoint_every=8", "--quiet"]
    assert main([*run, "--out", str(out)]) == EXIT_INTERRUPTED
    assert open_run(out).checkpoint()[1]["units_done"] == 29  # written when it stopped
    calls.clear()
    stop_at.clear()
    assert main(["run", "--resume", str(out), "--quiet"]) == EXIT_OK
    distinct_points = 5 * 21  # (5, 10, 15) x 0.5, then beta 0.6 and 0.7 at window 10
    assert len(calls) == distinct_points - 29
    for group in ("trajectory", "metrics"):
        for name in open_run(whole).names(group):
            np.testing.assert_array_equal(
                open_run(out).array(group, name), open_run(whole).array(group, name), name
            )
