"""The STDP-window experiment in small pieces: its settings' checks at their bounds, the eps
readings, one protocol against the aSTDP rule recomputed from its recorded traces, the
window metrics of curves with known figures, a tiny run's store and its figure."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurosim.errors import ValidationError
from neurosim.experiments import stdp_window
from neurosim.experiments.stdp_window import (
    KEYS,
    run_protocol,
    two_neuron_graph,
    window_metrics,
)
from neurosim.experiments.units import UnitCheckpoints
from neurosim.model.parameters import FakeTargetParameters, ModelParameters
from neurosim.model.presets import load_preset
from neurosim.recording import RunInterrupted, open_run
from neurosim.scenario.schema import load_scenario

# Every bound of the cross-checks met with equality: offsets -2, 0, 2 (3 points, the fewest),
# the longest window 2 (the extreme offsets just clear it), the post window of offset -2
# starting at step 0 and that of offset +2 ending at the last step, the traces' windows too.
TIGHT = {
    "window_sizes": [2],
    "window_for_beta_panels": 2,
    "offset_min": -2,
    "offset_max": 2,
    "offset_step": 2,
    "steps": 6,
    "window_start": 2,
    "trace_offset": 2,
    "beta_small": 0.4,
    "beta_large_for_window_panels": 0.4,
    "beta_large_values": [0.4],
}


def _table(**changes: Any) -> dict[str, Any]:
    return {name: key.default for name, key in KEYS.items()} | TIGHT | changes


def _check(**changes: Any) -> np.ndarray:
    return stdp_window._check_settings(_table(**changes), ModelParameters())


def test_settings_on_every_bound_are_accepted() -> None:
    """The tight table passes every check and gives its three offsets."""
    np.testing.assert_array_equal(_check(), [-2, 0, 2])
    assert _check().dtype == np.int64
    # a grid whose last offset falls short of offset_max: the last offset is what must fit
    # and clear the longest window
    np.testing.assert_array_equal(
        _check(offset_min=-3, offset_max=4, offset_step=3, window_start=3, steps=8),
        [-3, 0, 3],
    )
    np.testing.assert_array_equal(_check(offset_max=3, steps=7), [-2, 0, 2])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"offset_min": 3, "offset_max": 2},
            "experiment.offset_min = 3 is larger than experiment.offset_max = 2",
        ),
        (
            {"offset_min": 2, "offset_max": 2},
            "experiment.offset_step = 2: the offsets [2] give fewer than 3 points",
        ),
        (
            {"offset_step": 3},
            "experiment.offset_step = 3: the offsets [-2, 1] give fewer than 3 points",
        ),
        (
            {"window_sizes": [2, 3], "steps": 4, "offset_min": -3, "offset_max": 3},
            "experiment.window_sizes[1] = 3: the pre window [2, 5) does not fit in "
            "experiment.steps = 4",
        ),
        (
            {"window_for_beta_panels": 5, "steps": 6, "offset_min": -5, "offset_max": 5},
            "experiment.window_for_beta_panels = 5: the pre window [2, 7) does not fit in "
            "experiment.steps = 6",
        ),
        (
            {"window_start": 1, "trace_offset": 0},
            "experiment.offset_min = -2: the post window would start at step -1; raise "
            "experiment.window_start to at least 2",
        ),
        (
            {"steps": 5, "trace_offset": 0},
            "experiment.offset_max = 2: the post window of the longest window (2) would end "
            "at step 6, after experiment.steps = 5",
        ),
        (
            {"offset_min": -1, "offset_max": 3, "offset_step": 1, "steps": 7},
            "experiment.offset_min = -1, offset_max = 3 (last offset 3): the extreme offsets "
            "must not overlap the longest window (2) so that they give the no-overlap "
            "baseline; use offsets beyond -2 and +2",
        ),
        (
            {"offset_min": -3, "offset_max": 1, "offset_step": 1, "window_start": 3},
            "experiment.offset_min = -3, offset_max = 1 (last offset 1)",
        ),
        (
            {"trace_offset": 3, "steps": 8, "window_start": 2},
            "experiment.trace_offset = 3: the recorded protocols' post windows (offsets -3 "
            "and +3) must lie within [0, 8)",
        ),
        (
            {"beta_large_values": [0.4, 0.3]},
            "experiment.beta_large_values[1] = 0.3: smaller than experiment.beta_small = 0.4",
        ),
        (
            {"beta_large_for_window_panels": 0.35},
            "experiment.beta_large_for_window_panels = 0.35: smaller than",
        ),
    ],
)
def test_a_setting_one_past_its_bound_is_refused(changes: dict[str, Any], message: str) -> None:
    """Each cross-check refuses the tight table moved one step past its bound, with a message that
    names the key, its value and the limit."""
    with pytest.raises(ValidationError) as error:
        _check(**changes)
    assert message in str(error.value)


def test_the_trace_windows_must_fit_at_the_end_too() -> None:
    """The trace's post window of offset +trace ends at start + trace + window: equal to steps
    fits, one more does not; the curve's own offsets fit in both cases."""
    table = {"offset_min": -3, "offset_max": 3, "offset_step": 3, "window_start": 5}
    assert _check(**table, steps=10, trace_offset=3).size == 3
    with pytest.raises(ValidationError, match=re.escape("experiment.trace_offset = 4")):
        _check(**table, steps=10, trace_offset=4)


def test_the_window_needs_the_two_copy_rule() -> None:
    """A one-copy rule has no dz to make a window from: refused, naming the rule."""
    with pytest.raises(
        ValidationError, match=re.escape("model.rule = 'mstdp': the STDP window needs")
    ):
        stdp_window._check_settings(_table(), ModelParameters().replace(rule="mstdp"))


def _eps_settings(reading: str, preset: str | None = "astdp") -> dict[str, Any]:
    model = {} if preset is None else {"preset": preset}
    return {"experiment": {"eps_reading": reading}, "model": model}


def test_an_eps_reading_replaces_the_presets_eps_and_refuses_others() -> None:
    """``model`` keeps the model as it is; a named reading runs its eps, accepts them set
    explicitly or left at the preset's (or the defaults') values, and refuses any other, naming
    the key, the reading and the value it wants."""
    preset = load_preset("astdp")
    model = stdp_window._apply_eps_reading(_eps_settings("model"), preset)
    assert model is preset
    for reading, eps in stdp_window.EPS_READINGS.items():
        ran = stdp_window._apply_eps_reading(_eps_settings(reading), preset)
        assert (ran.eps_small, ran.eps_large) == eps
        # the reading's own values, set explicitly, agree with it
        explicit = preset.replace(eps_small=eps[0], eps_large=eps[1])
        assert stdp_window._apply_eps_reading(_eps_settings(reading), explicit) == ran
    with pytest.raises(ValidationError) as error:
        stdp_window._apply_eps_reading(
            _eps_settings("large_beta_faster"), preset.replace(eps_large=0.3)
        )
    assert str(error.value).startswith(
        "model.eps_large = 0.3 contradicts experiment.eps_reading = 'large_beta_faster' "
        "(eps_large 0.5); drop model.eps_large"
    )
    # without a preset the defaults count as not set
    default = ModelParameters()
    ran = stdp_window._apply_eps_reading(_eps_settings("small_beta_faster", None), default)
    assert (ran.eps_small, ran.eps_large) == (0.5, 0.4)
    with pytest.raises(ValidationError, match=re.escape("model.eps_small = 0.3")):
        stdp_window._apply_eps_reading(
            _eps_settings("small_beta_faster", None), default.replace(eps_small=0.3)
        )


def test_panels_and_the_two_neuron_graph() -> None:
    """The panels: the window sizes at the window panels' beta, then the beta pairs at their
    window, labelled as the figure titles them; the network: pre (input) and post (output), W =
    b = 0 both ways."""
    table = _table(window_sizes=[4, 6], beta_large_for_window_panels=0.55)
    table |= {"window_for_beta_panels": 7, "beta_large_values": [0.6, 0.75]}
    assert stdp_window._panels(table) == [
        ("window 4", 4, 0.55),
        ("window 6", 6, 0.55),
        ("beta 0.4/0.6", 7, 0.6),
        ("beta 0.4/0.75", 7, 0.75),
    ]
    assert stdp_window._slug("beta 0.4/0.6") == "beta_0.4_0.6"
    graph = two_neuron_graph()
    assert dict(graph.nodes(data=True)) == {
        0: {"role": "input", "layer": 0, "bias": 0.0},
        1: {"role": "output", "layer": 1, "bias": 0.0},
    }
    assert sorted(graph.edges(data="weight")) == [(0, 1, 0.0), (1, 0, 0.0)]


PARAMS = load_preset("astdp").replace(
    dtype="float64",
    activation="sigmoid4",
    alpha=1e-4,
    beta_small=0.4,
    beta_large=0.6,
    eps_small=0.2,
    eps_large=0.5,
    fake_target=FakeTargetParameters(enabled=False),
)


def _sigmoid4(state: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-4.0 * state))


@pytest.mark.parametrize("offset", [-2, 3])
def test_one_protocol_is_the_astdp_rule_summed_over_its_traces(offset: int) -> None:
    """The targets are on during each neuron's window; ΔW[pre -> post] / alpha is the sum
    over the steps of rho(s^S_pre) * dz_post (MODEL.md, aSTDP), read from the recorded
    traces, and the same without recording."""
    change, traces = run_protocol(PARAMS, 3, offset, steps=14, window_start=4, record=True)
    assert set(traces) == {"time", "state", "dz", "clamp"}
    np.testing.assert_array_equal(traces["time"], np.arange(1, 15))
    assert traces["state"].shape == (14, 2, 2)
    assert traces["dz"].shape == traces["clamp"].shape == (14, 2)
    # a record at count t shows the input of step t - 1
    time = traces["time"]
    assert time[traces["clamp"][:, 0] > 0].tolist() == [5, 6, 7]
    assert time[traces["clamp"][:, 1] > 0].tolist() == [5 + offset, 6 + offset, 7 + offset]
    # both states start at 0 and stay there until a target comes (W = b = 0); a target's
    # first step moves each copy by eps * beta * (1 - 0)
    state = traces["state"]
    first = min(4, 4 + offset)
    assert np.all(state[:first] == 0.0)
    for neuron, start in ((0, 4), (1, 4 + offset)):
        moved = state[start, :, neuron]
        assert moved == pytest.approx([0.2 * 0.4, 0.5 * 0.6], rel=1e-3), neuron
    # dz of each neuron: rho of the large-beta copy minus that of the small-beta copy
    np.testing.assert_allclose(traces["dz"], _sigmoid4(state[:, 1]) - _sigmoid4(state[:, 0]))
    expected = float(np.sum(_sigmoid4(state[:, 0, 0]) * traces["dz"][:, 1]))
    assert change == pytest.approx(expected, rel=1e-9)
    assert abs(change) > 1e-3
    # the other direction of the pair changes by another amount
    assert abs(float(np.sum(_sigmoid4(state[:, 0, 1]) * traces["dz"][:, 0])) - change) > 1e-3
    unrecorded, nothing = run_protocol(PARAMS, 3, offset, steps=14, window_start=4)
    assert unrecorded == pytest.approx(change, rel=1e-12) and nothing == {}
    # divided by alpha: a ten times smaller alpha changes the ratio by far less than ten times
    smaller, _ = run_protocol(PARAMS.replace(alpha=1e-5), 3, offset, steps=14, window_start=4)
    assert smaller == pytest.approx(change, rel=1e-2)


def test_a_protocol_by_default_runs_the_experiments_default_timing() -> None:
    """Without ``steps`` and ``window_start``, a protocol runs the keys' defaults: 200 steps,
    the pre window from step 60."""
    _, traces = run_protocol(PARAMS, 2, 3, record=True)
    assert traces["time"].tolist() == list(range(1, KEYS["steps"].default + 1))
    start = KEYS["window_start"].default
    assert traces["time"][traces["clamp"][:, 0] > 0].tolist() == [start + 1, start + 2]
    assert traces["time"][traces["clamp"][:, 1] > 0].tolist() == [start + 4, start + 5]


def test_the_half_width_counts_a_sample_exactly_at_half_height_as_inside() -> None:
    """A lobe with a plateau at exactly half its peak: the plateau lies inside the lobe, so
    the half-height crossings lie between the plateau's outer samples and the zeros."""
    offsets = np.arange(-6, 7)
    curve = np.zeros(offsets.size)
    curve[[4, 5, 7, 8]] = 0.5  # offsets -2, -1, 1, 2
    curve[6] = 1.0  # offset 0
    metrics = window_metrics(offsets, curve)
    # from +2 (0.5) toward +3 (0): the crossing at 0.5 is +2 itself, likewise -2
    assert metrics["fwhm_potentiation"] == pytest.approx(4.0)
    # a lopsided plateau: two samples at half height on the right, none on the left
    curve = np.zeros(offsets.size)
    curve[[7, 8]] = 0.5
    curve[6] = 1.0
    curve[5] = 0.25
    left = 0.0 - (1.0 - 0.5) / (1.0 - 0.25)  # from the peak (1.0) toward 0.25 at -1
    assert window_metrics(offsets, curve)["fwhm_potentiation"] == pytest.approx(2.0 - left)


def test_the_half_width_at_the_ends_of_the_grid() -> None:
    """Crossings are interpolated over the grid's spacing (here 2 steps); a lobe reaching an
    end of the grid is measured to that end."""
    offsets = np.array([-3, -1, 1, 3, 5])
    # far is the mean of the ends: 0.2; relative: 0, 0.8, 1.0, 0.8, 0 (potentiation)
    metrics = window_metrics(offsets, np.array([0.2, 1.0, 1.2, 1.0, 0.2]))
    left = -3 + 2 * (0.5 - 0.0) / 0.8
    right = 3 + 2 * (0.8 - 0.5) / 0.8
    assert metrics["fwhm_potentiation"] == pytest.approx(right - left)
    assert metrics["peak_potentiation_offset"] == 1
    # the depression lobe touches the right end: relative -1 at the end, far -0.5
    ends = window_metrics(np.array([0, 1, 2, 3]), np.array([0.0, 0.0, -0.6, -1.0]))
    assert ends["far"] == -0.5
    assert ends["peak_depression"] == pytest.approx(-0.5)
    assert ends["peak_depression_offset"] == 3
    # relative 0.5, 0.5, -0.1, -0.5: the half (-0.25) crossed between 2 and 3
    assert ends["fwhm_depression"] == pytest.approx(3 - (2 + (-0.1 + 0.25) / (-0.1 + 0.5)))
    assert ends["peak_potentiation"] == pytest.approx(0.5)
    assert ends["peak_potentiation_offset"] == 0
    # the potentiation plateau reaches the left end: from 0 to its crossing beyond 1
    assert ends["fwhm_potentiation"] == pytest.approx(1 + (0.5 - 0.25) / (0.5 + 0.1))


def test_a_lobe_exactly_at_the_threshold_does_not_count() -> None:
    """A lobe counts only when deeper than the threshold: equal to it is not enough."""
    offsets = np.arange(-4, 5)
    curve = np.zeros(offsets.size)
    curve[6] = 1.0
    curve[2] = -0.25
    at = window_metrics(offsets, curve, tolerance=0.25, floor=0.0)
    assert at["lobe_threshold"] == 0.25
    assert at["peak_depression"] == 0.0 and at["asymmetry"] == math.inf
    inside = window_metrics(offsets, curve, tolerance=0.24, floor=0.0)
    assert inside["peak_depression"] == -0.25 and inside["asymmetry"] == 4.0
    # the floor acts alike
    assert window_metrics(offsets, curve, tolerance=0.0, floor=1.0)["peak_potentiation"] == 0.0
    assert window_metrics(offsets, curve, tolerance=0.0, floor=0.99)["peak_potentiation"] == 1.0


TINY = """
[scenario]
name = "stdp_window_tiny"

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
window_sizes = [2, 3]
beta_small = 0.4
beta_large_for_window_panels = 0.5
beta_large_values = [0.6, 0.5, 0.7]
window_for_beta_panels = 3
offset_min = -4
offset_max = 4
offset_step = 2
steps = 16
window_start = 5
trace_offset = 2
lobe_tolerance = 0.05
lobe_floor = 1e-6
"""
TINY_PANELS = [
    ("window 2", 2, 0.5),
    ("window 3", 3, 0.5),
    ("beta 0.4/0.6", 3, 0.6),
    ("beta 0.4/0.5", 3, 0.5),
    ("beta 0.4/0.7", 3, 0.7),
]
TINY_OFFSETS = np.arange(-4, 5, 2)


@pytest.fixture(scope="module")
def tiny_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stdp_window_tiny") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def tiny_run(tiny_scenario: Path) -> tuple[Path, Any]:
    out = tiny_scenario.parent / "run.zarr"
    summary = stdp_window.run(load_scenario(tiny_scenario), out, False, False)
    return out, summary


def _tiny_params(beta_large: float) -> ModelParameters:
    return PARAMS.replace(beta_small=0.4, beta_large=beta_large)


def _protocol(beta_large: float, window: int, offset: int, record: bool = False):
    return run_protocol(
        _tiny_params(beta_large), window, offset, steps=16, window_start=5, record=record
    )


def test_a_tiny_run_stores_each_panels_curve_and_its_metrics(tiny_run) -> None:
    """Each panel's curve is its protocols' ΔW / alpha; the relative curve, the panels'
    windows and betas, the eps that ran and every window metric (with the run's tolerance
    and floor) follow from it."""
    out, summary = tiny_run
    run = open_run(out)
    assert run.status == "complete"
    assert run.checkpoint() is None  # no record.checkpoint_every: none unless stopped
    labels = [str(label) for label in run.array("metrics", "panel")]
    assert labels == [label for label, _, _ in TINY_PANELS]
    np.testing.assert_array_equal(run.array("metrics", "offset"), TINY_OFFSETS)
    curves = run.array("metrics", "weight_change")
    expected = [
        [_protocol(beta, window, int(offset))[0] for offset in TINY_OFFSETS]
        for _, window, beta in TINY_PANELS
    ]
    np.testing.assert_array_equal(curves, expected)
    far = (curves[:, 0] + curves[:, -1]) / 2.0
    np.testing.assert_allclose(
        run.array("metrics", "relative_weight_change"), curves - far[:, None], rtol=0, atol=0
    )
    np.testing.assert_array_equal(run.array("metrics", "panel_window"), [2, 3, 3, 3, 3])
    np.testing.assert_array_equal(
        run.array("metrics", "panel_beta_large"), [0.5, 0.5, 0.6, 0.5, 0.7]
    )
    assert float(run.array("metrics", "eps_small")) == 0.2
    assert float(run.array("metrics", "eps_large")) == 0.5
    for row, curve in enumerate(curves):
        metrics = window_metrics(TINY_OFFSETS, curve, tolerance=0.05, floor=1e-6)
        for name in stdp_window.METRIC_DESCRIPTIONS:
            np.testing.assert_array_equal(run.array("metrics", name)[row], metrics[name], name)
    threshold = run.array("metrics", "lobe_threshold")
    relative = np.abs(curves - far[:, None]).max(axis=1)
    np.testing.assert_allclose(threshold, np.maximum(0.05 * relative, 1e-6))
    # the summary: where, how many steps (two traces, then one curve per distinct protocol)
    assert summary.store == out and summary.status == "complete"
    assert summary.steps == 16 * (2 + 4 * TINY_OFFSETS.size)
    metric = {name: run.array("metrics", name) for name in stdp_window.HEADLINE}
    expected_headline = {
        f"{label.replace(' ', '_').replace('/', '_')}.{name}": metric[name][row]
        for row, (label, _, _) in enumerate(TINY_PANELS)
        for name in stdp_window.HEADLINE
    } | {"eps_small": 0.2, "eps_large": 0.5}
    assert summary.metrics.keys() == expected_headline.keys()
    for name, value in expected_headline.items():
        np.testing.assert_array_equal(summary.metrics[name], value, name)


def test_a_tiny_run_stores_the_traces_of_both_orders(tiny_run) -> None:
    """The traces: window_for_beta_panels at the first beta_large_values entry, at
    +trace_offset (pre leads) and -trace_offset (post leads), as run_protocol records them."""
    out, _ = tiny_run
    run = open_run(out)
    assert run.attributes["trace"] == {
        "window": 3,
        "beta_small": 0.4,
        "beta_large": 0.6,
        "pre_leads_offset": 2,
        "post_leads_offset": -2,
        "window_start": 5,
    }
    assert run.attributes["backend"] == "sync" and run.attributes["seed"] == 0
    assert run.attributes["scenario"]["model"]["eps_small"] == 0.2
    np.testing.assert_array_equal(run.array("trajectory", "time"), np.arange(1, 17))
    for side, offset in (("pre_leads", 2), ("post_leads", -2)):
        _, traces = _protocol(0.6, 3, offset, record=True)
        for name in ("state", "dz", "clamp"):
            np.testing.assert_array_equal(
                run.array("trajectory", f"{name}_{side}"), traces[name], f"{name}_{side}"
            )


class _Bar:
    """Stands for the progress bar: notes its options and its updates."""

    made: ClassVar[list[_Bar]] = []

    def __init__(self, **options: Any) -> None:
        self.options, self.updates = options, 0
        _Bar.made.append(self)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.updates += n


def test_a_tiny_run_stopped_and_resumed_ends_with_the_same_store(
    tiny_run, tiny_scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after 7 of its 20 points with a checkpoint every 3, then resumed: the run
    carries on after point 6 and ends with the uninterrupted run's metrics."""
    whole, _ = tiny_run
    protocol = stdp_window.run_protocol
    calls: list[bool] = []
    stop_at = [2 + 8]  # the two traces, then the 8th point

    def stopping_protocol(*arguments: Any, **keywords: Any):
        calls.append(keywords.get("record", False))
        if len(calls) in stop_at:
            raise RunInterrupted("terminated by SIGTERM")
        return protocol(*arguments, **keywords)

    monkeypatch.setattr(stdp_window, "run_protocol", stopping_protocol)
    out = tmp_path / "stopped.zarr"
    scenario = load_scenario(tiny_scenario, ["record.checkpoint_every=3"])
    with pytest.raises(RunInterrupted):
        stdp_window.run(scenario, out, False, False)
    assert open_run(out).checkpoint()[1]["units_done"] == 7
    calls.clear()
    stop_at.clear()
    _Bar.made.clear()
    monkeypatch.setattr(stdp_window, "RunProgress", _Bar)
    summary = stdp_window.resume(out, True)
    assert calls == [False] * (20 - 7)
    # the bar counts the protocols, from those the checkpoint holds
    (bar,) = _Bar.made
    assert bar.options == {
        "total": 20,
        "initial": 7,
        "unit": "protocol",
        "delay": 2.0,
        "disable": False,
    }
    assert bar.updates == 20 - 7
    assert summary.status == "complete"
    for group in ("trajectory", "metrics"):
        for name in open_run(whole).names(group):
            np.testing.assert_array_equal(
                open_run(out).array(group, name), open_run(whole).array(group, name), name
            )


def _texts(figure: Figure) -> str:
    parts = [figure.get_suptitle()]
    for axis in figure.axes:
        parts += [axis.get_title(), axis.get_xlabel(), axis.get_ylabel()]
    return "\n".join(parts)


def test_the_figure_draws_each_panel_where_figure_6_has_it(tiny_run) -> None:
    """Window sizes in the top row, beta pairs in the bottom row, the spare panel hidden; in
    each panel the curve, the zero line, the zero offset and the far baseline, a title with
    the panel's label, its other setting and its asymmetry."""
    out, _ = tiny_run
    run = open_run(out)
    figure = stdp_window.window_figure(run)
    axes = np.array(figure.axes).reshape(2, 3)
    curves = run.array("metrics", "weight_change")
    far = run.array("metrics", "far")
    asymmetry = run.array("metrics", "asymmetry")
    positions = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert not axes[0, 2].get_visible()
    details = ["beta 0.4/0.5"] * 2 + ["window 3"] * 3
    for row, ((r, c), (label, _, _)) in enumerate(zip(positions, TINY_PANELS, strict=True)):
        axis = axes[r, c]
        assert axis.get_visible()
        assert axis.get_title() == f"{label} ({details[row]}); asym {asymmetry[row]:.3g}"
        lines = axis.get_lines()
        assert len(lines) == 4
        zero, vertical, baseline, curve = lines
        assert (zero.get_color(), zero.get_linewidth()) == ("black", 0.8)
        assert (vertical.get_color(), vertical.get_linewidth()) == ("grey", 0.5)
        assert vertical.get_linestyle() == ":"
        assert (baseline.get_color(), baseline.get_linewidth()) == ("tab:grey", 0.8)
        assert baseline.get_linestyle() == "--"
        assert (curve.get_color(), curve.get_linewidth()) == ("tab:blue", 1.0)
        assert list(zero.get_ydata()) == [0.0, 0.0]
        assert list(vertical.get_xdata()) == [0.0, 0.0]
        assert list(baseline.get_ydata()) == [far[row], far[row]]
        assert baseline.get_label() == "far baseline"
        np.testing.assert_array_equal(curve.get_xdata(), TINY_OFFSETS)
        np.testing.assert_array_equal(curve.get_ydata(), curves[row])
        assert curve.get_marker() == "." and curve.get_markersize() == 3
        assert axis.get_ylabel() == ("ΔW / alpha" if c == 0 else "")
        assert axis.get_xlabel() == ("offset t_post - t_pre (steps)" if r == 1 else "")
        # small type: titles 9 pt, axis labels 8 pt, ticks 7 pt
        assert axis.title.get_fontsize() == 9
        for label in (axis.xaxis.label, axis.yaxis.label):
            assert label.get_fontsize() == 8 or not label.get_text()
        assert axis.xaxis.get_major_ticks()[0].label1.get_fontsize() == 7
    legend = axes[0, 0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["far baseline"]
    assert legend.get_texts()[0].get_fontsize() == 7
    assert axes[0, 1].get_legend() is None
    assert figure.get_suptitle() == (
        "STDP window (aSTDP, Figure 6): pre leads for offset > 0; eps reading 'model': "
        "eps_small 0.2, eps_large 0.5"
    )
    assert figure._suptitle.get_fontsize() == 10
    assert (figure.get_figwidth(), figure.get_figheight()) == pytest.approx((3.6 * 3, 6.2))


def test_plot_saves_the_figure_in_a_new_folder(tiny_run, tmp_path: Path) -> None:
    """``plot`` creates the missing folders and writes a PNG, at 120 dpi, where it is told."""
    out, _ = tiny_run
    image = stdp_window.plot(open_run(out), tmp_path / "deep" / "er" / "figure.png")
    assert image == tmp_path / "deep" / "er" / "figure.png"
    data = image.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # the image's pixels (from its IHDR chunk) are the figure's inches x 120
    inches = stdp_window.window_figure(open_run(out)).get_size_inches()
    assert struct.unpack(">II", data[16:24]) == tuple(round(120 * side) for side in inches)


def test_a_run_without_the_curves_is_refused_by_the_figure(
    tiny_scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped before its curves has no weight_change metric: the figure is refused and no
    folder is made for it."""

    def stop(*arguments: Any, **keywords: Any):
        raise RunInterrupted("terminated by SIGTERM")

    monkeypatch.setattr(stdp_window, "run_protocol", stop)
    out = tmp_path / "stopped.zarr"
    with pytest.raises(RunInterrupted):
        stdp_window.run(load_scenario(tiny_scenario), out, False, False)
    with pytest.raises(ValidationError, match="no weight_change metric"):
        stdp_window.plot(open_run(out), tmp_path / "figures" / "figure.png")
    assert not (tmp_path / "figures").exists()


class _CheckpointStore:
    """What ``UnitCheckpoints`` uses of a run store: the checkpoints it writes are noted."""

    def __init__(self) -> None:
        self.checkpoint_keep = 0
        self.write_error: Exception | None = None
        self.written: list[tuple[dict[str, np.ndarray], dict[str, Any]]] = []

    def write_checkpoint(self, arrays: dict[str, np.ndarray], attributes: dict[str, Any]) -> None:
        self.written.append((arrays, attributes))


def test_unit_checkpoints_are_written_every_few_units_as_they_were() -> None:
    """Every ``every`` units the results as they were when the unit ended (later changes of
    the run's arrays do not reach them), with the number of units done."""
    store = _CheckpointStore()
    units = UnitCheckpoints(store, 2, 3)
    assert store.checkpoint_keep == 3
    values = np.zeros(5)
    for unit in range(1, 6):
        values[unit - 1] = unit
        units.done(unit, {"values": values}, {"note": unit})
    assert [attributes for _, attributes in store.written] == [
        {"note": 2, "units_done": 2},
        {"note": 4, "units_done": 4},
    ]
    np.testing.assert_array_equal(store.written[0][0]["values"], [1, 2, 0, 0, 0])
    np.testing.assert_array_equal(store.written[1][0]["values"], [1, 2, 3, 4, 0])


def test_unit_checkpoints_on_a_stop_write_the_units_done_once() -> None:
    """A stop signal writes the units done unless they are written already (or the store
    cannot be written); another error, or no unit done, writes nothing; the error goes on."""
    store = _CheckpointStore()
    units = UnitCheckpoints(store, 0, 1)
    with pytest.raises(RunInterrupted), units.on_stop():
        raise RunInterrupted("terminated by SIGTERM")
    assert store.written == []
    units.done(1, {"values": np.ones(2)}, {})
    units.done(2, {"values": np.full(2, 2.0)}, {})
    assert store.written == []  # every 0: only on a stop
    with pytest.raises(ValueError), units.on_stop():
        raise ValueError("not a stop")
    assert store.written == []
    with pytest.raises(RunInterrupted), units.on_stop():
        raise RunInterrupted("terminated by SIGTERM")
    assert [attributes for _, attributes in store.written] == [{"units_done": 2}]
    np.testing.assert_array_equal(store.written[0][0]["values"], [2.0, 2.0])
    with pytest.raises(KeyboardInterrupt), units.on_stop():
        raise KeyboardInterrupt
    assert len(store.written) == 1  # unit 2 is written already
    units.done(3, {"values": np.full(2, 3.0)}, {})
    store.write_error = OSError("disk full")
    with pytest.raises(RunInterrupted), units.on_stop():
        raise RunInterrupted("terminated by SIGTERM")
    assert len(store.written) == 1
    # a checkpoint due at a unit is not written again when the stop comes next
    due = _CheckpointStore()
    units = UnitCheckpoints(due, 2, 1)
    units.done(2, {"values": np.ones(1)}, {})
    with pytest.raises(RunInterrupted), units.on_stop():
        raise RunInterrupted("terminated by SIGTERM")
    assert len(due.written) == 1


class _Reader:
    """What the figure reads of a run store, given directly."""

    def __init__(self, metrics: dict[str, np.ndarray], attributes: dict[str, Any]) -> None:
        self.metrics, self.attributes, self.path = metrics, attributes, Path("given.zarr")

    def names(self, group: str) -> list[str]:
        return list(self.metrics) if group == "metrics" else []

    def array(self, group: str, name: str) -> np.ndarray:
        return self.metrics[name]


def test_a_figure_of_one_panel_per_row_shares_the_offset_axis() -> None:
    """One window size and one beta pair: two panels, one above the other, on one offset
    axis; the eps reading the title names is the one stored (the model's when none is)."""
    offsets = np.array([-2, 0, 2])
    metrics = {
        "weight_change": np.array([[0.1, 0.5, 0.2], [0.0, -0.3, 0.4]]),
        "panel": np.array(["window 4", "beta 0.4/0.6"]),
        "offset": offsets,
        "far": np.array([0.15, 0.2]),
        "asymmetry": np.array([2.5, 0.25]),
    }
    experiment = {
        "window_sizes": [4],
        "beta_large_values": [0.6],
        "beta_small": 0.4,
        "beta_large_for_window_panels": 0.5,
        "window_for_beta_panels": 6,
    }
    model = {"eps_small": 0.3, "eps_large": 0.45}
    reader = _Reader(metrics, {"scenario": {"experiment": experiment, "model": model}})
    figure = stdp_window.window_figure(reader)  # type: ignore[arg-type]
    top, bottom = figure.axes
    assert top.get_title() == "window 4 (beta 0.4/0.5); asym 2.5"
    assert bottom.get_title() == "beta 0.4/0.6 (window 6); asym 0.25"
    np.testing.assert_array_equal(top.get_lines()[-1].get_ydata(), [0.1, 0.5, 0.2])
    np.testing.assert_array_equal(bottom.get_lines()[-1].get_ydata(), [0.0, -0.3, 0.4])
    assert top.get_shared_x_axes().joined(top, bottom)
    assert top.get_subplotspec().get_geometry() == (2, 1, 0, 0)
    assert (figure.get_figwidth(), figure.get_figheight()) == pytest.approx((3.6, 6.2))
    assert "eps reading 'model': eps_small 0.3, eps_large 0.45" in figure.get_suptitle()
    experiment["eps_reading"] = "small_beta_faster"
    figure = stdp_window.window_figure(reader)  # type: ignore[arg-type]
    assert "eps reading 'small_beta_faster'" in figure.get_suptitle()


def test_a_protocol_takes_its_timing_by_keyword_only() -> None:
    """``steps`` and ``window_start`` are keyword-only: a fourth positional argument is an
    error, not a silently different protocol."""
    change, _ = run_protocol(PARAMS, 3, 2, steps=14, window_start=4)
    assert change > 0.0  # pre leads: potentiation
    with pytest.raises(TypeError):
        run_protocol(PARAMS, 3, 2, 14)  # type: ignore[misc]


def test_the_window_needs_a_positive_alpha(tiny_scenario: Path, tmp_path: Path) -> None:
    """ΔW / alpha needs alpha > 0: alpha 0 is refused before a store is made."""
    scenario = load_scenario(tiny_scenario, ["model.alpha=0"])
    out = tmp_path / "run.zarr"
    with pytest.raises(
        ValidationError, match=re.escape("model.alpha = 0: the window needs alpha > 0")
    ):
        stdp_window.run(scenario, out, False, False)
    assert not out.exists()
