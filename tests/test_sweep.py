"""neurosim sweep: a grid x seeds on a local Dask cluster, gathered into one table; retries,
divergence, an interrupted sweep started again, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim import runs, sweep
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.scenario.schema import load_scenario
from neurosim.sweep_results import gather, scalar_metrics

try:
    from tests.scenario_files import write_scenario
except ImportError:  # pytest put tests/ itself on sys.path
    from scenario_files import write_scenario

pytest.importorskip("dask.distributed", reason="neurosim sweep needs the sweep extra (Dask)")

REPOSITORY = Path(__file__).resolve().parents[1]
GRID = ["--grid", "model.alpha=0.01,0.02", "--grid", "model.fake_target.enabled=true,false"]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path, epochs=5, duration=200)


def test_grid_and_seeds_are_parsed_as_documented():
    grid = sweep.parse_grid(
        ["model.alpha=1e-3,1e-2", "phase.1.model.fake_target.enabled=true,false",
         "topology.kind=recurrent,layered"]
    )  # fmt: skip
    assert [key.name for key in grid] == ["alpha", "enabled", "kind"]
    assert grid[0].values == (1e-3, 1e-2) and grid[1].values == (True, False)
    assert grid[2].values == ("recurrent", "layered")
    clash = sweep.parse_grid(["model.alpha=1,2", "phase.1.model.alpha=1,2"])
    assert [key.name for key in clash] == ["model_alpha", "1_model_alpha"]
    assert sweep.parse_seeds(["0-3", "7"]) == (0, 1, 2, 3, 7)
    assert sweep.parse_seeds(["2,5"]) == (2, 5)
    for bad in (["x-1"], ["3-1"], ["1", "1"]):
        with pytest.raises(ValidationError, match="--seeds"):
            sweep.parse_seeds(bad)
    for bad in (["model.alpha"], ["model.alpha=1,1"], ["model.alpha=1", "model.alpha=2"]):
        with pytest.raises(ValidationError, match="--grid"):
            sweep.parse_grid(bad)


def test_a_sweep_on_two_workers_gives_the_table_of_the_same_runs_made_one_by_one(
    scenario, tmp_path
):
    out = tmp_path / "sweep"
    code = main(["sweep", str(scenario), *GRID, "--seeds", "0-1", "--workers", "2",
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == EXIT_OK
    table = xr.open_zarr(out / "sweep.zarr", consolidated=False).load()
    assert dict(table.sizes) == {"alpha": 2, "enabled": 2, "seed": 2}
    assert json.loads(table.attrs["keys"]) == {
        "alpha": "model.alpha", "enabled": "model.fake_target.enabled",
    }  # fmt: skip
    assert table["alpha"].values.tolist() == [0.01, 0.02]
    assert table["enabled"].values.tolist() == [True, False]
    assert (table["status"].values == "complete").all()
    assert len(list((out / "runs").glob("*.zarr"))) == 8
    csv = (out / "sweep.csv").read_text().splitlines()
    assert csv[0].startswith("alpha,enabled,seed,") and len(csv) == 9
    assert (out / "plots" / "switches.png").stat().st_size > 5_000
    for alpha, enabled, seed in ((0.02, False, 1), (0.01, True, 0)):
        alone = tmp_path / f"alone-{alpha}-{enabled}-{seed}.zarr"
        settings = [f"model.alpha={alpha}", f"model.fake_target.enabled={str(enabled).lower()}",
                    f"scenario.seed={seed}"]  # fmt: skip
        runs.execute(load_scenario(scenario, settings), alone, progress=False)
        expected = scalar_metrics(alone)
        point = table.sel(alpha=alpha, enabled=enabled, seed=seed)
        for name, value in expected.items():
            np.testing.assert_array_equal(point[name].values, value, err_msg=name)


def in_process_sweep(scenario: Path, out: Path, retries: int, grid=("model.alpha=0.01,0.02",)):
    plan = sweep.plan_sweep(scenario, [], sweep.parse_grid(list(grid)), (0,), out)
    with sweep.connect(2, None, processes=False) as client:
        return plan, sweep.carry_out(plan, client, retries=retries)


def test_a_failing_run_is_retried_then_reported_and_a_flaky_one_completes(
    scenario, tmp_path, monkeypatch
):
    calls: dict[float, int] = {}
    execute = runs.execute

    def failing(chosen, out, **options):
        alpha = chosen.phase_parameters[0].alpha
        calls[alpha] = calls.get(alpha, 0) + 1
        if alpha == 0.01 or calls[alpha] == 1:  # 0.01 always fails, 0.02 only once
            raise RuntimeError(f"injected failure at alpha {alpha}")
        return execute(chosen, out, **options)

    monkeypatch.setattr(runs, "execute", failing)
    plan, outcomes = in_process_sweep(scenario, tmp_path / "sweep", retries=2)
    assert calls == {0.01: 3, 0.02: 2}
    failed, flaky = (outcomes[point.label] for point in plan.points)
    assert failed["status"] == "failed" and "injected failure at alpha 0.01" in failed["error"]
    assert flaky["status"] == "complete"
    table = gather(plan, outcomes)
    assert table["status"].values.ravel().tolist() == ["failed", "complete"]
    assert np.isnan(table["switches"].values[0, 0]) and np.isfinite(table["switches"].values[1, 0])


def test_a_diverging_run_is_a_result_not_retried(scenario, tmp_path, monkeypatch):
    calls = []
    execute = runs.execute
    monkeypatch.setattr(runs, "execute", lambda *a, **k: calls.append(1) or execute(*a, **k))
    plan, outcomes = in_process_sweep(
        scenario, tmp_path / "sweep", retries=3, grid=("model.divergence_bound=1e-3,1e6",)
    )
    diverged, fine = (outcomes[point.label] for point in plan.points)
    assert diverged["status"] == "diverged" and "divergence_bound" in diverged["error"]
    assert fine["status"] == "complete"
    assert len(calls) == 2


def test_an_interrupted_sweep_started_again_does_not_redo_finished_runs(scenario, tmp_path):
    out = tmp_path / "sweep"
    arguments = [sys.executable, "-m", "neurosim", "sweep", str(scenario),
                 "--grid", "model.alpha=0.01,0.02,0.03,0.04,0.05,0.06", "--seeds", "0",
                 "--workers", "1", "--out", str(out), "--quiet"]  # fmt: skip
    process = subprocess.Popen(arguments, cwd=REPOSITORY, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    finished: dict = {}
    while len(finished) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "two runs did not finish within 120 s"
        time.sleep(0.05)
        finished = sweep.read_outcomes(out)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its workers
    process.communicate()
    done = {label: (out / "runs" / f"{label}.zarr" / "zarr.json").stat().st_mtime_ns
            for label in finished}  # fmt: skip
    assert main([*arguments[3:]]) == EXIT_OK
    for label, stamp in done.items():
        assert (out / "runs" / f"{label}.zarr" / "zarr.json").stat().st_mtime_ns == stamp
    table = xr.open_zarr(out / "sweep.zarr", consolidated=False).load()
    assert (table["status"].values == "complete").all()
    assert table.sizes["alpha"] == 6


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--grid", "model.no_such_key=1,2"], "no_such_key"),
        (["--grid", 'model.alpha=0.01,"fast"'], "model.alpha"),
        (["--grid", "model.alpha=0.01", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler"),
        (["--grid", "model.alpha=0.01", "--retries", "-1"], "--retries"),
        (["--grid", "model.alpha=0.01", "--out", "memory://sweep"], "memory://"),
        (["--grid", "model.alpha=0.01", "--out", "nosuchfs://sweep"], "nosuchfs://"),
    ],
)
def test_bad_input_exits_2_naming_it_and_writes_nothing(scenario, tmp_path, capsys, extra, named):
    out = tmp_path / "sweep"
    code = main(["sweep", str(scenario), "--out", str(out), *extra, "--quiet"])  # extra --out wins
    assert code == EXIT_BAD_INPUT
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_an_output_that_is_not_a_sweep_or_another_sweep_is_refused(scenario, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    code = main(["sweep", str(scenario), "--grid", "model.alpha=0.01", "--out", str(taken),
                 "--workers", "1", "--quiet"])  # fmt: skip
    assert code == EXIT_BAD_INPUT and "is not a sweep" in capsys.readouterr().err
    assert sorted(path.name for path in taken.iterdir()) == ["notes.txt"]
    other = tmp_path / "other"
    assert main(["sweep", str(scenario), "--grid", "model.alpha=0.01", "--out", str(other),
                 "--workers", "1", "--quiet"]) == EXIT_OK  # fmt: skip
    code = main(["sweep", str(scenario), "--grid", "model.alpha=0.02", "--out", str(other),
                 "--workers", "1", "--quiet"])  # fmt: skip
    assert code == EXIT_BAD_INPUT and "holds another sweep" in capsys.readouterr().err


def test_a_worker_lost_mid_run_is_replaced_and_its_run_done_again(scenario, tmp_path):
    psutil = pytest.importorskip("psutil")  # installed with Dask's distributed
    out = tmp_path / "sweep"
    arguments = [sys.executable, "-m", "neurosim", "sweep", str(scenario),
                 "--grid", "model.alpha=0.01,0.02,0.03,0.04", "--seeds", "0",
                 "--workers", "2", "--out", str(out), "--quiet"]  # fmt: skip
    process = subprocess.Popen(arguments, cwd=REPOSITORY, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((out / "runs").glob("*.zarr")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no run started within 120 s"
        time.sleep(0.02)
    workers = [
        child for child in psutil.Process(process.pid).children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
    ]  # fmt: skip
    assert len(workers) == 2
    workers[0].kill()
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert "4 runs (4 complete, 0 diverged, 0 failed)" in stdout
    table = xr.open_zarr(out / "sweep.zarr", consolidated=False).load()
    assert (table["status"].values == "complete").all()
