"""The aSTDP paper's STDP window (section 3.2.3, Figure 6): ``[experiment] kind = "stdp_window"``.

Two neurons, W = b = 0 (node 0 "input", the presynaptic one; node 1 "output", the
postsynaptic one), both states starting at 0. Each neuron gets target 1 during a window of
``w`` steps: the pre neuron during [window_start, window_start + w), the post neuron during
[window_start + offset, window_start + offset + w). After ``steps`` steps the change of
W[pre -> post] divided by alpha is the curve's value at that offset (offset > 0: pre leads).
The run is deterministic: no noise, no fake targets (no hidden neurons), no random states.

Six panels as in Figure 6: the window sizes at one beta pair (top row), the beta pairs at one
window size (bottom row). Per panel the metrics follow ``docs/toy-experiments-findings.md``
(section 2): ``far`` is the mean of the values at the two extreme offsets (no overlap), the
*relative* curve is the curve minus ``far``; its positive and negative peaks and their
offsets, the width at half maximum of each lobe (half-peak crossings interpolated between
offsets) and the asymmetry |max| / |min|. A lobe counts only when it is deeper than
``lobe_tolerance`` times the curve's largest |relative value| (at least ``lobe_floor``).

The two copies' step sizes decide the shape: the window has a depression lobe only when the
large-beta copy decays faster than the small one (``eps_large > eps_small``); otherwise ``dz``
never turns negative and the curve is one bump (findings, "Why eps matters"). The paper's
pairing of its eps values with its betas is garbled (MODEL.md, open points), so
``experiment.eps_reading`` names the reading that runs: ``"large_beta_faster"`` (eps_small
0.4, eps_large 0.5: the values paired in the order the paper lists them, the scenario's
choice), ``"small_beta_faster"`` (0.5 / 0.4: the preset's pairing) or ``"model"`` (the
``[model]`` eps as they are, e.g. an explicit 0.2 / 0.5). The store's scalar metrics
``eps_small`` and ``eps_large`` and the figure's title say which ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
from matplotlib.figure import Figure

from neurosim.errors import ValidationError
from neurosim.experiments import Experiment
from neurosim.experiments.units import UnitCheckpoints
from neurosim.keys import Key, choice, integer, integer_list, number, number_list
from neurosim.model.network import compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.model.presets import load_preset
from neurosim.progress import RunProgress
from neurosim.recording import ArraySpec, RunReader, RunStore, stop_on_signals
from neurosim.scenario.runner import RunSummary, create_store, make_simulator, stored_scenario
from neurosim.scenario.schema import Scenario
from neurosim.streams import Windows

PRE, POST = 0, 1  # compiled indices of node 0 (input, layer 0) and node 1 (output, layer 1)
TRACE_ARRAYS = ("state", "dz", "clamp")

# The paper's MNIST sentence on the two copies' step sizes lost its subscripts: "we set beta
# to 0.4, beta to 0.25, eps to 0.5 and eps to 0.4 for net and net" (section 3.1; MODEL.md, open
# points). Its two readings, as (eps_small, eps_large) of the small- and large-beta copy:
EPS_READINGS = {
    # the preset's pairing (models/astdp.toml): the small-beta copy takes the larger step
    "small_beta_faster": (0.5, 0.4),
    # the values paired in the order listed (beta 0.4 with eps 0.5, beta 0.25 with eps 0.4)
    "large_beta_faster": (0.4, 0.5),
}
# "model": no reading, the [model] eps (the preset's unless set) run as they are
EPS_READING_CHOICES = ("model", *EPS_READINGS)
# A lobe shallower than 1 % of the curve's largest |relative value| is no lobe: well above the
# ~1e-5 drift between the far ends of a 0.1 bump, well below the shallowest real depression
# lobe measured (5 % of the potentiation peak); the floor keeps a flat curve lobe-free.
LOBE_TOLERANCE = 0.01
LOBE_FLOOR = 1e-9


KEYS = {
    "window_sizes": Key(
        integer_list(1, unique=False),
        [5, 10, 15],
        doc="Window lengths w (steps) of the top-row panels: each neuron's target is 1 for w "
        "steps.",
    ),
    "beta_small": Key(number(0.0), 0.4, doc="beta_small of every panel."),
    "beta_large_values": Key(
        number_list(0.0), [0.5, 0.6, 0.7], doc="The beta_large of each bottom-row panel."
    ),
    "beta_large_for_window_panels": Key(number(0.0), 0.5, doc="beta_large of the top-row panels."),
    "window_for_beta_panels": Key(
        integer(1), 10, doc="Window length (steps) of the bottom-row panels."
    ),
    "offset_min": Key(
        integer(),
        -30,
        doc="Smallest offset of the post window after the pre window (steps; negative: post "
        "leads).",
    ),
    "offset_max": Key(integer(), 30, doc="Largest offset (steps)."),
    "offset_step": Key(integer(1), 1, doc="Steps between two offsets of the curve."),
    "steps": Key(integer(1), 200, doc="Integration steps each offset runs for."),
    "window_start": Key(integer(0), 60, doc="Step the pre neuron's window starts at."),
    "trace_offset": Key(integer(0), 5, doc="Offset whose traces the figure draws (steps)."),
    "eps_reading": Key(
        choice(EPS_READING_CHOICES),
        "model",
        doc="The copies' step sizes: the [model] ones (model), or one of the two readings of the "
        "paper.",
    ),
    "lobe_tolerance": Key(
        number(0.0, 1.0),
        LOBE_TOLERANCE,
        doc="A lobe counts only when deeper than this share of the curve's largest value.",
    ),
    "lobe_floor": Key(
        number(0.0),
        LOBE_FLOOR,
        doc="A lobe counts only when deeper than this, at least (weight change / alpha).",
    ),
}


def _check_settings(table: dict[str, Any], params: ModelParameters) -> np.ndarray:
    """The offsets, after checking the settings against each other and the model."""
    if params.spec.copies != 2:
        raise ValidationError(
            f"model.rule = {params.rule!r}: the STDP window needs the two-copy rule 'astdp'"
        )
    low, high, step = table["offset_min"], table["offset_max"], table["offset_step"]
    if low > high:
        raise ValidationError(
            f"experiment.offset_min = {low} is larger than experiment.offset_max = {high}"
        )
    offsets = np.arange(low, high + 1, step, dtype=np.int64)
    if offsets.size < 3:
        raise ValidationError(
            f"experiment.offset_step = {step}: the offsets {offsets.tolist()} give fewer than "
            "3 points; lower the step or widen offset_min..offset_max"
        )
    steps, start = table["steps"], table["window_start"]
    windows = [*table["window_sizes"], table["window_for_beta_panels"]]
    longest = max(windows)
    for key, window in [
        *((f"experiment.window_sizes[{k}]", w) for k, w in enumerate(table["window_sizes"])),
        ("experiment.window_for_beta_panels", table["window_for_beta_panels"]),
    ]:
        if start + window > steps:
            raise ValidationError(
                f"{key} = {window}: the pre window [{start}, {start + window}) does not fit in "
                f"experiment.steps = {steps}"
            )
    if start + offsets[0] < 0:
        raise ValidationError(
            f"experiment.offset_min = {low}: the post window would start at step "
            f"{start + offsets[0]}; raise experiment.window_start to at least {-offsets[0]}"
        )
    if start + offsets[-1] + longest > steps:
        raise ValidationError(
            f"experiment.offset_max = {high}: the post window of the longest window ({longest}) "
            f"would end at step {start + offsets[-1] + longest}, after experiment.steps = "
            f"{steps}"
        )
    if -offsets[0] < longest or offsets[-1] < longest:
        raise ValidationError(
            f"experiment.offset_min = {low}, offset_max = {high} (last offset {offsets[-1]}): "
            f"the extreme offsets must not overlap the longest window ({longest}) so that they "
            f"give the no-overlap baseline; use offsets beyond -{longest} and +{longest}"
        )
    trace = table["trace_offset"]
    window = table["window_for_beta_panels"]
    if start - trace < 0 or start + trace + window > steps:
        raise ValidationError(
            f"experiment.trace_offset = {trace}: the recorded protocols' post windows "
            f"(offsets -{trace} and +{trace}) must lie within [0, {steps})"
        )
    for key, beta in [
        *(
            (f"experiment.beta_large_values[{k}]", b)
            for k, b in enumerate(table["beta_large_values"])
        ),
        ("experiment.beta_large_for_window_panels", table["beta_large_for_window_panels"]),
    ]:
        if beta < table["beta_small"]:
            raise ValidationError(
                f"{key} = {beta}: smaller than experiment.beta_small = {table['beta_small']}; "
                "the large beta must be at least the small one"
            )
    return offsets


def _apply_eps_reading(settings: dict[str, Any], model: ModelParameters) -> ModelParameters:
    """The model with the eps of ``experiment.eps_reading``, refusing [model] eps that were set
    (differ from the preset's, or the defaults) to other values than the reading's."""
    reading = settings["experiment"]["eps_reading"]
    if reading == "model":
        return model
    eps_small, eps_large = EPS_READINGS[reading]
    preset = settings["model"].get("preset")
    base = load_preset(preset) if preset is not None else ModelParameters()
    for name, wanted in (("eps_small", eps_small), ("eps_large", eps_large)):
        given = getattr(model, name)
        if given not in (wanted, getattr(base, name)):
            raise ValidationError(
                f"model.{name} = {given:g} contradicts experiment.eps_reading = {reading!r} "
                f"({name} {wanted:g}); drop model.{name}, or set experiment.eps_reading = "
                "'model' to run the [model] eps as they are"
            )
    return model.replace(eps_small=eps_small, eps_large=eps_large)


def _panels(table: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(label, window, beta_large) of each panel: window sizes first, then beta pairs."""
    beta_small = table["beta_small"]
    panels = [
        (f"window {w}", w, table["beta_large_for_window_panels"]) for w in table["window_sizes"]
    ]
    panels += [
        (f"beta {beta_small:g}/{b:g}", table["window_for_beta_panels"], b)
        for b in table["beta_large_values"]
    ]
    return panels


def two_neuron_graph() -> nx.DiGraph:
    """Node 0 (input, pre) and node 1 (output, post), W = b = 0 in both directions."""
    graph = nx.DiGraph()
    graph.add_node(0, role="input", layer=0, bias=0.0)
    graph.add_node(1, role="output", layer=1, bias=0.0)
    graph.add_edge(0, 1, weight=0.0)
    graph.add_edge(1, 0, weight=0.0)
    return graph


def run_protocol(
    params: ModelParameters,
    window: int,
    offset: int,
    *,
    steps: int = 200,
    window_start: int = 60,
    seed: int = 0,
    record: bool = False,
    settings: dict[str, Any] | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """One protocol: ``(ΔW[pre -> post] / alpha, recorded arrays)`` (empty unless ``record``).

    ``params`` must have alpha > 0; the network is built afresh, so protocols are independent.
    ``settings`` (a checked scenario's) choose the backend; None: the synchronous one.
    """
    network = compile_graph(two_neuron_graph(), params, seed=seed)
    edge = int(np.flatnonzero((network.edge_pre == PRE) & (network.edge_post == POST))[0])
    before = float(network.edge_weights()[edge])
    simulator = make_simulator(settings, network, params, seed, steps, initial_state_scale=0.0)
    stream = Windows(
        network.n_neurons,
        [(PRE, window_start, window, 1.0), (POST, window_start + offset, window, 1.0)],
        steps,
    )
    pieces: list[dict[str, np.ndarray]] = []
    for change, stop in stream.segments():
        simulator.set_input(change.target, change.clamp)
        values = simulator.run(
            stop - change.step, record_every=1 if record else 0, record=TRACE_ARRAYS
        )
        if record:
            pieces.append(values)
    change_of_weight = (float(network.edge_weights()[edge]) - before) / params.alpha
    if not record:
        return change_of_weight, {}
    recorded = {
        name: np.concatenate([piece[name] for piece in pieces]) for name in ("time", *TRACE_ARRAYS)
    }
    # batch size 1: drop the batch axis
    recorded["state"] = recorded["state"][:, :, 0]
    recorded["dz"] = recorded["dz"][:, 0]
    recorded["clamp"] = recorded["clamp"][:, 0]
    return change_of_weight, recorded


def _half_maximum_width(offsets: np.ndarray, relative: np.ndarray, peak: int) -> float:
    """Full width at half maximum of the lobe around ``peak``, in offset units.

    The lobe is the contiguous run of samples around ``peak`` whose value (signed like the
    peak) is at least half the peak; each edge is where the curve crosses half the peak,
    interpolated linearly between the last sample inside and the first outside, so the width
    does not jump by whole offset steps and reads the same on any offset grid. A lobe that
    reaches an end of the grid is measured to that end (its width is then a lower bound).
    """
    signed = np.sign(relative[peak]) * relative
    half = signed[peak] / 2.0

    def edge(direction: int) -> float:
        inside = peak
        while 0 <= inside + direction < signed.size and signed[inside + direction] >= half:
            inside += direction
        outside = inside + direction
        if not 0 <= outside < signed.size:
            return float(offsets[inside])
        fraction = (signed[inside] - half) / (signed[inside] - signed[outside])
        return float(offsets[inside] + fraction * (offsets[outside] - offsets[inside]))

    return edge(+1) - edge(-1)


def window_metrics(
    offsets: np.ndarray,
    curve: np.ndarray,
    tolerance: float = LOBE_TOLERANCE,
    floor: float = LOBE_FLOOR,
) -> dict[str, float]:
    """The findings' summary of one curve (raw ΔW / alpha over ``offsets``).

    The relative curve is the curve minus ``far`` (the mean of its two ends). A lobe counts
    only when its peak lies further than ``max(tolerance * scale, floor)`` from ``far``, where
    ``scale`` is the largest |relative value|: the two ends of a curve differ by round-off and
    slow drift (~1e-5 of a 0.1 bump), and that is no depression lobe. A missing lobe has peak
    0 and NaN offset and width; the asymmetry is then inf (no depression) or 0 (no
    potentiation), and NaN for a flat curve.
    """
    far = float((curve[0] + curve[-1]) / 2.0)
    relative = curve - far
    top, bottom = int(np.argmax(relative)), int(np.argmin(relative))
    peak, trough = float(relative[top]), float(relative[bottom])
    threshold = max(tolerance * float(np.max(np.abs(relative))), floor)
    has_top, has_bottom = peak > threshold, -trough > threshold
    if has_bottom:
        asymmetry = (peak if has_top else 0.0) / -trough
    else:
        asymmetry = float("inf") if has_top else float("nan")
    return {
        "far": far,
        "raw_max": float(curve.max()),
        "raw_min": float(curve.min()),
        "lobe_threshold": threshold,
        "peak_potentiation": peak if has_top else 0.0,
        "peak_potentiation_offset": float(offsets[top]) if has_top else float("nan"),
        "peak_depression": trough if has_bottom else 0.0,
        "peak_depression_offset": float(offsets[bottom]) if has_bottom else float("nan"),
        "fwhm_potentiation": (
            _half_maximum_width(offsets, relative, top) if has_top else float("nan")
        ),
        "fwhm_depression": (
            _half_maximum_width(offsets, relative, bottom) if has_bottom else float("nan")
        ),
        "asymmetry": asymmetry,
    }


METRIC_DESCRIPTIONS = {
    "far": "mean of ΔW/alpha at the two extreme offsets (no overlap): the baseline",
    "raw_max": "largest ΔW/alpha",
    "raw_min": "smallest ΔW/alpha",
    "lobe_threshold": "depth a lobe must exceed to count: max(lobe_tolerance * largest "
    "|relative value|, lobe_floor)",
    "peak_potentiation": "largest value of the relative curve (ΔW/alpha - far)",
    "peak_potentiation_offset": "offset (t_post - t_pre) of the potentiation peak",
    "peak_depression": "smallest value of the relative curve (ΔW/alpha - far)",
    "peak_depression_offset": "offset (t_post - t_pre) of the depression peak",
    "fwhm_potentiation": "width (steps) of the potentiation lobe at half its peak, half-peak "
    "crossings interpolated linearly (NaN: no lobe; a lobe reaching a grid end: lower bound)",
    "fwhm_depression": "width (steps) of the depression lobe at half its peak, measured like "
    "fwhm_potentiation",
    "asymmetry": "|peak_potentiation| / |peak_depression| (inf: no depression lobe; 0: no "
    "potentiation lobe; NaN: neither)",
}
HEADLINE = ("asymmetry", "peak_potentiation_offset", "peak_depression_offset", "fwhm_potentiation")


def _slug(label: str) -> str:
    return label.replace(" ", "_").replace("/", "_")


class WindowRun(NamedTuple):
    """What a run of the experiment needs, built and checked before its store is touched."""

    table: dict[str, Any]
    seed: int
    model: ModelParameters
    settings: dict[str, Any]
    offsets: np.ndarray
    panels: list[tuple[str, int, float]]
    parameters: dict[float, ModelParameters]


def _prepare(scenario: Scenario) -> WindowRun:
    table = scenario.settings["experiment"]
    seed = scenario.settings["scenario"]["seed"]
    model = _apply_eps_reading(scenario.settings, scenario.phase_parameters[0])
    # the stored scenario names the eps that ran, so that it runs again as it is
    settings = {
        **scenario.settings,
        "model": {
            **scenario.settings["model"],
            "eps_small": model.eps_small,
            "eps_large": model.eps_large,
        },
    }
    offsets = _check_settings(table, model)
    if model.alpha <= 0:
        raise ValidationError(f"model.alpha = {model.alpha}: the window needs alpha > 0")
    panels = _panels(table)
    parameters = {
        beta_large: model.replace(beta_small=table["beta_small"], beta_large=beta_large)
        for _, _, beta_large in panels
    }
    return WindowRun(table, seed, model, settings, offsets, panels, parameters)


def run(scenario: Scenario, out: Path, overwrite: bool, progress: bool) -> RunSummary:
    """Every panel's curve, written to one run store at ``out``."""
    window_run = _prepare(scenario)
    table, seed, model, settings = window_run[:4]
    steps, start = table["steps"], table["window_start"]
    dtype = np.dtype(model.dtype)
    specs = {}
    for side in ("pre_leads", "post_leads"):
        specs[f"state_{side}"] = ArraySpec(("copy", "neuron"), (2, 2), dtype)
        specs[f"dz_{side}"] = ArraySpec(("neuron",), (2,), dtype)
        specs[f"clamp_{side}"] = ArraySpec(("neuron",), (2,), dtype)
    network = compile_graph(two_neuron_graph(), model, seed=seed)
    trace_window = table["window_for_beta_panels"]
    trace_beta = table["beta_large_values"][0]
    trace_offset = table["trace_offset"]
    store = create_store(
        out,
        network,
        attributes={
            "scenario": settings,
            "backend": settings["scenario"]["backend"],
            "seed": seed,
            "trace": {
                "window": trace_window,
                "beta_small": table["beta_small"],
                "beta_large": trace_beta,
                "pre_leads_offset": trace_offset,
                "post_leads_offset": -trace_offset,
                "window_start": start,
            },
        },
        arrays=specs,
        recorded_neurons=None,
        time_chunk=max(steps, 1),
        overwrite=overwrite,
    )
    return _carry_out(window_run, store, progress, None)


def resume(out: Path, progress: bool) -> RunSummary:
    """Continue the stopped run in the store ``out`` after the points its newest valid
    checkpoint holds; it ends with the curves of the run that never stopped."""
    window_run = _prepare(stored_scenario(out))
    store, arrays, attributes = RunStore.resume(out)
    return _carry_out(window_run, store, progress, (arrays, attributes))


def _carry_out(
    window_run: WindowRun,
    store: RunStore,
    progress: bool,
    saved: tuple[dict[str, np.ndarray], dict[str, Any]] | None,
) -> RunSummary:
    """The traces, then one point (a protocol at an offset) after another for each distinct
    (window, beta_large), from the first or after the points of the checkpoint ``saved``; then
    the metrics. Each protocol builds its network afresh, so the points do not depend on
    where the run stopped."""
    table, seed, model, settings, offsets, panels, parameters = window_run
    steps, start = table["steps"], table["window_start"]
    trace_window = table["window_for_beta_panels"]
    trace_beta = table["beta_large_values"][0]
    trace_offset = table["trace_offset"]
    curve_keys = list(dict.fromkeys((window, beta_large) for _, window, beta_large in panels))
    values = np.full((len(curve_keys), offsets.size), np.nan)
    first = 0
    if saved is not None:
        values, first = saved[0]["weight_change"], saved[1]["units_done"]
    record = settings["record"]
    units = UnitCheckpoints(store, record.get("checkpoint_every", 0), record["checkpoint_keep"])
    bar = RunProgress(
        total=values.size, initial=first, unit="protocol", delay=2.0, disable=not progress
    )
    with store, stop_on_signals() as stop, bar, units.on_stop():
        if saved is None:
            traces = {}
            for side, offset in (("pre_leads", trace_offset), ("post_leads", -trace_offset)):
                _, traces[side] = run_protocol(
                    parameters[trace_beta],
                    trace_window,
                    offset,
                    steps=steps,
                    window_start=start,
                    seed=seed,
                    record=True,
                    settings=settings,
                )
            store.append(
                traces["pre_leads"]["time"],
                {f"{name}_{side}": traces[side][name] for side in traces for name in TRACE_ARRAYS},
            )
        for point in range(first, values.size):
            key, column = divmod(point, offsets.size)
            window, beta_large = curve_keys[key]
            values[key, column], _ = run_protocol(
                parameters[beta_large],
                window,
                int(offsets[column]),
                steps=steps,
                window_start=start,
                seed=seed,
                settings=settings,
            )
            bar.update(1)
            units.done(point + 1, {"weight_change": values}, {})
            stop.check()
        curves = np.array([values[curve_keys.index((w, b))] for _, w, b in panels])
        labels = np.array([label for label, _, _ in panels])
        coords = {"panel": labels, "offset": offsets}
        store.write_metric(
            "weight_change",
            curves,
            ("panel", "offset"),
            {
                "description": "ΔW[pre -> post] / alpha after the protocol; offset = t_post - "
                "t_pre (> 0: pre leads)"
            },
            coords=coords,
        )
        far = (curves[:, :1] + curves[:, -1:]) / 2.0
        store.write_metric(
            "relative_weight_change",
            curves - far,
            ("panel", "offset"),
            {"description": "weight_change minus the panel's far baseline"},
        )
        store.write_metric(
            "panel_window",
            np.array([window for _, window, _ in panels], dtype=np.int64),
            ("panel",),
            {"description": "window size (steps) of the panel"},
        )
        store.write_metric(
            "panel_beta_large",
            np.array([beta for _, _, beta in panels]),
            ("panel",),
            {"description": f"beta_large of the panel (beta_small {table['beta_small']:g})"},
        )
        for name in ("eps_small", "eps_large"):
            store.write_metric(
                name,
                getattr(model, name),
                (),
                {
                    "description": f"{name} that ran (experiment.eps_reading "
                    f"{table['eps_reading']!r})",
                    "eps_reading": table["eps_reading"],
                },
            )
        per_panel = [
            window_metrics(offsets, curve, table["lobe_tolerance"], table["lobe_floor"])
            for curve in curves
        ]
        for name, description in METRIC_DESCRIPTIONS.items():
            store.write_metric(
                name,
                np.array([metrics[name] for metrics in per_panel]),
                ("panel",),
                {"description": description},
            )
    headline = {
        f"{_slug(label)}.{name}": metrics[name]
        for (label, _, _), metrics in zip(panels, per_panel, strict=True)
        for name in HEADLINE
    } | {"eps_small": model.eps_small, "eps_large": model.eps_large}
    # steps simulated: the two recorded protocols and one curve per distinct (window, beta)
    simulated = steps * (2 + values.size)
    return RunSummary(store.path, simulated, store.status, headline)


def plot(run_reader: RunReader, path: Path) -> Path:
    """Write ``window_figure(run_reader)`` to ``path``."""
    figure = window_figure(run_reader)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def window_figure(run_reader: RunReader) -> Figure:
    """Figure 6's layout: window sizes on top, beta pairs below; ΔW / alpha against offset."""
    if "weight_change" not in run_reader.names("metrics"):
        raise ValidationError(f"{run_reader.path}: no weight_change metric (the run did not end)")
    curves = run_reader.array("metrics", "weight_change")
    labels = [str(label) for label in run_reader.array("metrics", "panel")]
    offsets = run_reader.array("metrics", "offset")
    far = run_reader.array("metrics", "far")
    asymmetry = run_reader.array("metrics", "asymmetry")
    table = run_reader.attributes["scenario"]["experiment"]
    n_top = len(table["window_sizes"])
    n_bottom = len(table["beta_large_values"])
    columns = max(n_top, n_bottom)
    figure = Figure(figsize=(3.6 * columns, 6.2))
    axes = figure.subplots(2, columns, squeeze=False, sharex=True)
    positions = [(0, k) for k in range(n_top)] + [(1, k) for k in range(n_bottom)]
    for row, (label, (r, c)) in enumerate(zip(labels, positions, strict=True)):
        axis = axes[r][c]
        axis.axhline(0.0, color="black", lw=0.8)
        axis.axvline(0.0, color="grey", lw=0.5, ls=":")
        axis.axhline(far[row], color="tab:grey", lw=0.8, ls="--", label="far baseline")
        axis.plot(offsets, curves[row], ".-", color="tab:blue", ms=3, lw=1.0)
        detail = (
            f"beta {table['beta_small']:g}/{table['beta_large_for_window_panels']:g}"
            if r == 0
            else f"window {table['window_for_beta_panels']}"
        )
        axis.set_title(f"{label} ({detail}); asym {asymmetry[row]:.3g}", fontsize=9)
        axis.tick_params(labelsize=7)
        if c == 0:
            axis.set_ylabel("ΔW / alpha", fontsize=8)
        if r == 1:
            axis.set_xlabel("offset t_post - t_pre (steps)", fontsize=8)
    for r, count in ((0, n_top), (1, n_bottom)):
        for c in range(count, columns):
            axes[r][c].set_visible(False)
    axes[0][0].legend(fontsize=7, loc="upper left")
    model = run_reader.attributes["scenario"]["model"]
    figure.suptitle(
        "STDP window (aSTDP, Figure 6): pre leads for offset > 0; eps reading "
        f"{table.get('eps_reading', 'model')!r}: eps_small {model['eps_small']:g}, "
        f"eps_large {model['eps_large']:g}",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


EXPERIMENT = Experiment(keys=KEYS, run=run, plot=plot, resume=resume)

__all__ = [
    "EXPERIMENT",
    "KEYS",
    "run_protocol",
    "two_neuron_graph",
    "window_figure",
    "window_metrics",
]
