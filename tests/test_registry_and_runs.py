"""The key checkers, the registry of backends and experiment kinds, and run planning."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pytest

from neurosim import registry, runs
from neurosim.errors import ValidationError
from neurosim.keys import Key, check_table, integer, integer_list, number_list, text
from neurosim.scenario.runner import RunSummary
from neurosim.scenario.schema import load_scenario


def test_check_table_fills_defaults_and_names_what_is_wrong() -> None:
    keys = {"name": Key(text, required=True), "sizes": Key(integer_list(1), [2, 3])}
    checked = check_table("demo", {"name": "x"}, keys)
    assert checked == {"name": "x", "sizes": [2, 3]}
    checked["sizes"].append(9)  # a default is a copy, never the Key's own list
    assert check_table("demo", {"name": "y"}, keys)["sizes"] == [2, 3]
    with pytest.raises(ValidationError, match=r"demo.size = 3: unknown key; .* name, sizes"):
        check_table("demo", {"name": "x", "size": 3}, keys)
    with pytest.raises(ValidationError, match=r"demo\.name is missing; it is required"):
        check_table("demo", {}, keys)
    with pytest.raises(ValidationError, match=r"demo.sizes\[1\] = 0: expected an integer >= 1"):
        check_table("demo", {"name": "x", "sizes": [1, 0]}, keys)
    with pytest.raises(ValidationError, match="a value repeats"):
        check_table("demo", {"name": "x", "sizes": [1, 1]}, keys)
    with pytest.raises(ValidationError, match="expected a table"):
        check_table("demo", [1], keys)


def test_key_factories_check_bounds_and_types() -> None:
    assert integer(0, 3)("k", 3) == 3
    with pytest.raises(ValidationError, match="k = 4"):
        integer(0, 3)("k", 4)
    assert number_list()("v", [1, 2.5]) == [1.0, 2.5]
    with pytest.raises(ValidationError, match=r"v\[1\] = -1"):
        number_list(0.0)("v", [1, -1])
    with pytest.raises(ValidationError, match="non-empty list of numbers"):
        number_list()("v", [])
    with pytest.raises(ValidationError, match="expected a string"):
        text("t", 3)


def test_the_registry_names_the_built_ins_and_lists_them_for_an_unknown_name() -> None:
    assert registry.backend_names()[:2] == ("sync", "event")
    assert set(registry.experiment_kinds()) >= {"stdp_window", "ordering", "mnist"}
    assert registry.experiment("ordering").keys["n_items"].default == 8
    with pytest.raises(KeyError, match="no experiment kind named 'nope'; known are stdp_window"):
        registry.experiment("nope")


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """An experiment kind that a package of its own declares through an entry point."""
    (tmp_path / "toy_plugin.py").write_text(
        textwrap.dedent(
            """
            from neurosim.experiments import Experiment
            from neurosim.keys import Key, integer

            EXPERIMENT = Experiment(
                keys={"size": Key(integer(1), 4)}, run=None, plot=None
            )
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        importlib.metadata.EntryPoint("toy", "toy_plugin", "neurosim.experiments"),
        # a package cannot take over a built-in name
        importlib.metadata.EntryPoint("mnist", "toy_plugin", "neurosim.experiments"),
    ]

    def entry_points(group: str):
        return [point for point in points if point.group == group]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    registry._table.cache_clear()
    yield
    registry._table.cache_clear()


def test_an_installed_package_adds_an_experiment_kind_the_scenario_checker_accepts(
    installed_plugin, tmp_path
) -> None:
    assert registry.experiment_kinds()[-1] == "toy"
    assert registry.experiment("mnist") is not registry.experiment("toy")
    path = tmp_path / "toy.toml"
    path.write_text(
        '[scenario]\nname = "toy"\n[model]\npreset = "astdp"\n[experiment]\nkind = "toy"\n'
    )
    assert load_scenario(path).settings["experiment"] == {"kind": "toy", "size": 4}
    with pytest.raises(ValidationError, match=r"experiment\.size = 0"):
        load_scenario(path, ["experiment.size=0"])


def _phases_scenario(folder: Path) -> Path:
    path = folder / "tiny.toml"
    path.write_text(
        textwrap.dedent(
            """
            [scenario]
            name = "tiny"
            backend = "event"
            [model]
            preset = "astdp"
            [topology]
            builder = "recurrent"
            n_input = 2
            n_hidden = 2
            [[phase]]
            stream = "constant"
            values = [1.0, 0.0]
            duration = 5
            """
        )
    )
    return path


def test_a_plan_names_one_store_per_seed_and_sweep_point(tmp_path, monkeypatch) -> None:
    source = _phases_scenario(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "tiny.zarr").mkdir(parents=True)
    single = runs.plan_runs(source)
    assert [run.out for run in single.runs] == [Path("runs/tiny-2.zarr")]
    assert single.runs[0].scenario.settings["scenario"]["seed"] == 0
    sweep = ["event.sweep={jitter = [0.0, 0.5]}"]
    plan = runs.plan_runs(source, sweep, seeds=[3, 4], out=tmp_path / "out")
    assert [run.out.name for run in plan.runs] == [
        "out-jitter0-seed3.zarr",
        "out-jitter0-seed4.zarr",
        "out-jitter0.5-seed3.zarr",
        "out-jitter0.5-seed4.zarr",
    ]
    assert [run.scenario.settings["event"]["jitter"] for run in plan.runs] == [0, 0, 0.5, 0.5]
    assert [run.scenario.settings["scenario"]["seed"] for run in plan.runs] == [3, 4, 3, 4]
    assert plan.points == [{"jitter": 0.0}, {"jitter": 0.5}]
    # every scenario is checked before anything runs
    with pytest.raises(ValidationError, match=r"event\.sweep\.jitter"):
        runs.plan_runs(source, ["event.sweep={jitter = [-1.0]}"])


def test_the_spread_report_summarises_seeds_and_writes_the_sweep_table(tmp_path) -> None:
    source = _phases_scenario(tmp_path)
    sweep = ["event.sweep={jitter = [0.0, 0.5]}"]
    plan = runs.plan_runs(source, sweep, seeds=[1, 2], out=tmp_path / "out")
    summaries = [
        RunSummary(run.out, 5, "complete", {"switches": value})
        for run, value in zip(plan.runs, [1.0, 3.0, 10.0, 10.0], strict=True)
    ]
    report = runs.spread_report(plan, summaries)
    assert "| jitter | switches |" in report
    assert "| 0 | 2 ± 1 |" in report and "| 0.5 | 10 ± 0 |" in report
    assert (tmp_path / "out-sweep.md").read_text().endswith("| 0.5 | 10 ± 0 |\n")
    seeds_only = runs.plan_runs(source, seeds=[1, 2], out=tmp_path / "s")
    text_report = runs.spread_report(seeds_only, summaries[:2])
    assert text_report.startswith("over 2 seeds (mean ± sd):\n  switches: 2 ± 1")
    assert runs.spread_report(runs.plan_runs(source, out=tmp_path / "one"), summaries[:1]) == ""


def test_a_complete_phases_run_is_not_resumed(tmp_path) -> None:
    source = _phases_scenario(tmp_path)
    planned = runs.plan_runs(source, ["scenario.backend=sync"], out=tmp_path / "r.zarr").runs[0]
    summary = runs.execute(planned.scenario, planned.out, progress=False)
    assert summary.status == "complete" and summary.steps == 5
    with pytest.raises(ValidationError, match="the run is complete; there is nothing to resume"):
        runs.resume(planned.out, progress=False)


def test_several_seeds_into_one_out_name_their_stores_out_seed_and_a_failing_one_is_reported(
    tmp_path, monkeypatch, capsys
) -> None:
    """``--out X.zarr --seeds 1 2`` writes X-seed1.zarr and X-seed2.zarr; a seed whose run
    fails is reported (exit 1) and the other seeds still run."""
    from neurosim.cli import EXIT_FAILED, main
    from neurosim.errors import BackendError

    source = _phases_scenario(tmp_path)
    plan = runs.plan_runs(source, seeds=[1, 2], out=tmp_path / "x.zarr")
    assert [run.out.name for run in plan.runs] == ["x-seed1.zarr", "x-seed2.zarr"]
    execute = runs.execute

    def failing_first(scenario, out, **options):
        summary = execute(scenario, out, **options)
        if scenario.settings["scenario"]["seed"] == 1:
            raise BackendError("injected failure after the run")
        return summary

    monkeypatch.setattr(runs, "execute", failing_first)
    code = main(["run", str(source), "--seeds", "1", "2", "--out", str(tmp_path / "x.zarr"),
                 "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert "injected failure after the run" in captured.err and captured.err.count("\n") == 1
    assert "(seed 2)" in captured.out and "(seed 1)" not in captured.out
    assert (tmp_path / "x-seed2.zarr").is_dir()
