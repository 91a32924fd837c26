"""The STDP-window experiment (aSTDP paper, section 3.2.3): a Bi & Poo curve from two neurons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.experiments.stdp_window import run_protocol, window_metrics
from neurosim.model.parameters import FakeTargetParameters
from neurosim.model.presets import load_preset
from neurosim.recording.store import open_run
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
