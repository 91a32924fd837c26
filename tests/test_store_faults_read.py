"""Fault injection into the run store: a run killed (SIGKILL) at random writes, a full disk
(ENOSPC) at random writes, a deleted chunk, a killed export. After each, the store opens in
xarray with arrays of one length per dim, its status says what happened, and what it holds is
exactly a prefix of the same run left alone (nothing mixed). Each test prints its counts
(faults injected, stores readable, stores mixed); run with ``-s`` to see them. A store is
readable when xarray and ``open_run`` open it with every array at its committed length and
``neurosim export --format netcdf`` writes exactly the committed steps and snapshots."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr.storage._local as local_store

from neurosim.cli import main
from neurosim.export import export_run
from neurosim.recording import StopRequest, open_run
from neurosim.recording.layout import EVERY_CHUNK_STORED

try:
    from tests.scenario_files import SCENARIO
except ImportError:  # pytest put tests/ itself on sys.path
    from scenario_files import SCENARIO

ROOT = Path(__file__).resolve().parents[1]

# the small rivalry run, every phase recorded in chunks of 64 steps (20 trajectory commits)
# and the weights every 200 steps: a few hundred file writes in 1,240 steps
FAULT_SCENARIO = SCENARIO.format(epochs=2, duration=600).replace(
    'phases = ["ambiguous"]\ntime_chunk = 512',
    'phases = "all"\ntime_chunk = 64\nweight_snapshots = 200',
)

# Run in a subprocess: count the files the store writes under STORE (zarr's local store
# writes each through ``_put``) and SIGKILL this process just before write number KILL_AT.
KILLING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import zarr.storage._local as local_store
    from neurosim.cli import main

    scenario, store, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    put, writes = local_store._put, 0

    def killing_put(path, *args, **kwargs):
        global writes
        if str(path).startswith(store + os.sep):
            writes += 1
            if writes == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return put(path, *args, **kwargs)

    local_store._put = killing_put
    sys.exit(main(["run", scenario, "--out", store]))
    """
)

# Run in a subprocess: an export that is SIGKILLed once its output is fully written under its
# temporary name, just before that is renamed into place.
KILLED_EXPORT = textwrap.dedent(
    """
    import os, signal, sys
    import neurosim.export as export
    from neurosim.cli import main

    def killed_place(temporary, target):
        os.kill(os.getpid(), signal.SIGKILL)

    export._place = killed_place
    sys.exit(main(["export", *sys.argv[1:]]))
    """
)


@dataclass(frozen=True)
class Reference:
    """The run left alone: its store and the number of files written into it."""

    store: Path
    writes: int


@dataclass
class Tally:
    """Faults injected, stores readable afterwards and stores holding anything not of the
    reference run; printed at the end of a test."""

    what: str
    injected: int = 0
    readable: int = 0
    mixed: int = 0
    absent: int = 0  # the fault hit the store's creation, which then left nothing

    def report(self) -> None:
        print(
            f"\n{self.what}: faults injected {self.injected}, stores readable "
            f"{self.readable}, stores mixed {self.mixed}, left nothing {self.absent}"
        )


class CountingPut:
    """A replacement for zarr's ``_put`` (through which its local store writes every file)
    that counts the writes into ``store`` and raises ``OSError(ENOSPC)``, as a full disk
    does, for those where ``fail(number)`` is true."""

    def __init__(self, store: Path, fail: Callable[[int], bool] = lambda number: False) -> None:
        self.store, self.fail, self.writes = store, fail, 0
        self.put = local_store._put

    def __call__(self, path: Path, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(f"{self.store}{os.sep}"):
            self.writes += 1
            if self.fail(self.writes):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return self.put(path, *args, **kwargs)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "faults.toml"
    path.write_text(FAULT_SCENARIO)
    return path


@pytest.fixture(scope="module")
def reference(scenario: Path) -> Reference:
    """The scenario run to its end, counting the files it writes into its store."""
    store = scenario.parent / "reference.zarr"
    counter = CountingPut(store)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_store, "_put", counter)
        assert main(["run", str(scenario), "--out", str(store), "--quiet"]) == 0
    assert open_run(store).status == "complete" and counter.writes > 100
    return Reference(store, counter.writes)


def holds_a_prefix_of(path: Path, reference: Path) -> bool:
    """Whether the store at ``path`` opens in xarray with one length per dim and every group
    holds the first rows of the reference run's (trajectory, weights, events), read both with
    ``open_run`` and with xarray; raises if a group does not open."""
    run, full = open_run(path), open_run(reference)
    consistent = True
    for group, dim in (("trajectory", "time"), ("weights", "snapshot")):
        # opening checks that the arrays along each dim have one length
        dataset = xr.open_zarr(path, group=group)
        committed = run.steps_done if dim == "time" else run.snapshots_done
        consistent &= dataset.sizes[dim] <= committed
        for name in run.names(group):
            values, expected = run.array(group, name), full.array(group, name)
            if run.dims(group, name)[:1] == (dim,):
                consistent &= len(values) == committed
                expected = expected[:committed]
                viewed = dataset[name].values
                consistent &= np.array_equal(viewed, expected[: len(viewed)], equal_nan=True)
            consistent &= np.array_equal(values, expected, equal_nan=True)
    return bool(consistent)


def exports_at_committed_lengths(path: Path) -> bool:
    """Whether ``neurosim export --format netcdf`` of the store at ``path`` writes its
    trajectory and weights with exactly the committed steps and snapshots."""
    run = open_run(path)
    written = {file.name.split(".")[-2]: file for file in export_run(path, "netcdf")}
    with (
        xr.open_dataset(written["trajectory"]) as trajectory,
        xr.open_dataset(written["weights"]) as weights,
    ):
        return (trajectory.sizes.get("time", 0), weights.sizes.get("snapshot", 0)) == (
            run.steps_done,
            run.snapshots_done,
        )


def random_writes(reference: Reference, count: int, seed: int) -> list[int]:
    """``count`` distinct write numbers of the reference run, drawn at random but fixed."""
    generator = np.random.default_rng(seed)
    return sorted(generator.choice(np.arange(1, reference.writes + 1), count, replace=False))


# --------------------------------------------------------------------------------------------
# SIGKILL


def test_a_run_killed_at_random_writes_leaves_a_readable_unmixed_store(
    scenario: Path, reference: Reference, tmp_path: Path
) -> None:
    """A run SIGKILLed just before a random one of its file writes: the store opens in xarray
    and with ``open_run`` with every array at its committed length, holds only the reference
    run's data, says "running or killed" (never "complete": the store closes complete only
    once the analysis has written its metrics), and keeps ``steps_simulated`` from its last
    commit."""
    tally = Tally("SIGKILL of a run")
    for kill_at in random_writes(reference, 5, seed=16):
        store = tmp_path / f"killed-{kill_at}.zarr"
        finished = subprocess.run(
            [sys.executable, "-c", KILLING_RUN, str(scenario), str(store), str(kill_at)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert finished.returncode == -signal.SIGKILL, finished.stderr
        tally.injected += 1
        run = open_run(store)
        assert run.status == "running" and "killed" in run.status_description
        if run.steps_done:
            # steps count from 1: the last recorded step's number is the steps simulated then
            last_recorded = int(run.array("trajectory", "time")[-1])
            assert run.attributes["steps_simulated"] >= last_recorded
        tally.readable += exports_at_committed_lengths(store)
        tally.mixed += not holds_a_prefix_of(store, reference.store)
    tally.report()
    assert tally.readable == tally.injected and tally.mixed == 0


# --------------------------------------------------------------------------------------------
# a full disk


@pytest.mark.parametrize("lasting", [False, True], ids=["one write", "every later write"])
def test_a_full_disk_at_random_writes_is_one_line_exit_1_and_a_readable_store(
    scenario: Path,
    reference: Reference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lasting: bool,
) -> None:
    """ENOSPC raised by a random file write of a run (only that write, or that one and every
    later one as a disk that stays full): exit 1 with one line naming the store; the store
    opens with every array at its committed length and holds only the reference run's data.
    When the disk takes writes again the store is marked failed, its message naming the
    error; a disk that stays full cannot take the mark, and the store then reads as killed
    (never as complete, metrics included)."""
    tally = Tally(f"ENOSPC ({'every later write' if lasting else 'one write'})")
    for fail_at in random_writes(reference, 4, seed=17 + lasting):
        store = tmp_path / f"full-{fail_at}.zarr"
        counter = CountingPut(
            store, lambda number, at=fail_at: number >= at if lasting else number == at
        )
        monkeypatch.setattr(local_store, "_put", counter)
        code = main(["run", str(scenario), "--out", str(store), "--quiet"])
        monkeypatch.undo()
        tally.injected += 1
        error = capsys.readouterr().err.strip()
        assert code == 1, error
        assert error.count("\n") == 0 and "Traceback" not in error
        assert str(store) in error and "no space left" in error.lower()
        if not store.exists():  # the disk filled while the store was created: nothing left
            assert not list(tmp_path.glob(f"{store.name}*")), "a lock or a folder is left"
            tally.absent += 1
            continue
        run = open_run(store)
        if lasting:
            assert run.status in ("running", "failed")
        else:
            assert run.status == "failed"
            assert os.strerror(errno.ENOSPC) in run.status_message
        tally.readable += exports_at_committed_lengths(store)
        tally.mixed += not holds_a_prefix_of(store, reference.store)
    tally.report()
    assert tally.readable + tally.absent == tally.injected and tally.mixed == 0


# --------------------------------------------------------------------------------------------
# a deleted chunk


def test_a_deleted_chunk_reads_nan_everywhere_and_verify_names_it(
    reference: Reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trajectory chunk and a weight snapshot chunk deleted from a complete store read NaN
    (not 0) in ``open_run``, xarray and the NetCDF export, the rest unchanged; ``inspect
    --verify`` passes on the intact store and exits 1 naming exactly the two chunks."""
    store = shutil.copytree(reference.store, tmp_path / "damaged.zarr")
    assert main(["inspect", "--verify", str(store)]) == 0
    capsys.readouterr()
    deleted = ["trajectory/state/c/1/0/0", "weights/W/c/2/0"]
    for chunk in deleted:
        (store / chunk).unlink()

    assert main(["inspect", "--verify", str(store)]) == 1
    listed = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert sorted(line for line in listed if line in deleted) == sorted(deleted)
    assert len([line for line in listed if "/c/" in line]) == len(deleted)
    assert not any("may be zeros" in line for line in listed)  # this store keeps every chunk

    chunk_steps = slice(64, 128)  # chunk 1 of time_chunk = 64
    intact, damaged = open_run(reference.store), open_run(store)
    state = damaged.array("trajectory", "state")
    assert np.isnan(state[chunk_steps]).all()
    np.testing.assert_array_equal(
        np.delete(state, chunk_steps, axis=0),
        np.delete(intact.array("trajectory", "state"), chunk_steps, axis=0),
    )
    assert np.isnan(damaged.array("weights", "W")[2]).all()
    assert np.isnan(xr.open_zarr(store, group="trajectory")["state"][chunk_steps]).all()
    assert np.isnan(xr.open_zarr(store, group="weights")["W"][2]).all()

    exported = tmp_path / "damaged"
    assert main(["export", str(store), "--format", "netcdf", "--output", str(exported)]) == 0
    with xr.open_dataset(tmp_path / "damaged.trajectory.nc") as trajectory:
        assert np.isnan(trajectory["state"][chunk_steps]).all()
        assert not np.isnan(trajectory["state"][: chunk_steps.start]).any()
    print("\ndeleted chunks: faults injected 2, named by --verify 2, read as NaN 2")

    # a store written before every chunk was stored (no such attribute) left out chunks of
    # zeros: verify says that a chunk it lists may be one of those
    metadata = json.loads((store / "zarr.json").read_text())
    del metadata["attributes"][EVERY_CHUNK_STORED]
    (store / "zarr.json").write_text(json.dumps(metadata))
    capsys.readouterr()
    assert main(["inspect", "--verify", str(store)]) == 1
    assert "a chunk listed here may be zeros, not lost data" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# a killed export


@pytest.mark.parametrize("format", ["netcdf", "csv"])
def test_a_killed_export_leaves_nothing_visible_and_the_next_removes_its_temporary(
    reference: Reference, tmp_path: Path, format: str
) -> None:
    """An export SIGKILLed with its output written but not yet renamed into place leaves no
    visible file: only a hidden temporary, which the next export to the same output removes
    before writing its own."""
    target = tmp_path / "exported"
    command = [str(reference.store), "--format", format, "--output", str(target)]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_EXPORT, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(item.name.startswith(".") for item in leftovers)

    assert main(["export", *command]) == 0
    written = [item.name for item in tmp_path.iterdir()]
    assert written and not [name for name in written if name.startswith(".")]
    assert all(name.startswith(target.name) for name in written)
    print(f"\nkilled {format} export: faults injected 1, visible temporaries 0, left after 0")


# --------------------------------------------------------------------------------------------
# SIGTERM: the weights learned so far are kept


@pytest.mark.parametrize("stop_at_check", [3, 9])
def test_a_run_stopped_by_sigterm_keeps_its_current_weights_and_steps_simulated(
    scenario: Path,
    reference: Reference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop_at_check: int,
) -> None:
    """SIGTERM in the middle of a run (sent to the process between two pieces of work):
    exit 130, the store ``interrupted``, its last weight snapshot the weights at the step the
    run stopped (``steps_simulated``), after those of every 200 steps
    (``weight_snapshots = 200``) equal to the uninterrupted run's."""
    checks, check = [0], StopRequest.check

    def signalling_check(request: StopRequest) -> None:
        checks[0] += 1
        if checks[0] == stop_at_check:
            os.kill(os.getpid(), signal.SIGTERM)
        check(request)

    monkeypatch.setattr(StopRequest, "check", signalling_check)
    store = tmp_path / "stopped.zarr"
    assert main(["run", str(scenario), "--out", str(store), "--quiet"]) == 130
    run, full = open_run(store), open_run(reference.store)
    assert run.status == "interrupted"
    stopped_at = run.attributes["steps_simulated"]
    assert 0 < stopped_at < full.attributes["steps_simulated"]
    times = run.array("weights", "snapshot_time")
    assert times[-1] == stopped_at and stopped_at % 200 != 0
    earlier = list(times[:-1])
    assert earlier == [time for time in full.array("weights", "snapshot_time") if time < stopped_at]
    assert all(time % 200 == 0 or time == 640 for time in earlier)  # 640: the first phase's end
    np.testing.assert_array_equal(
        run.array("weights", "W")[:-1], full.array("weights", "W")[: len(earlier)]
    )
    assert not np.array_equal(run.array("weights", "W")[-1], run.array("weights", "W")[0])
