"""Run stores at fsspec URLs: ``memory://`` (in one process) and ``file://`` open in xarray
like a local store; creation, checkpoints, resume and the writer lock work without renames."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import numpy as np
import pytest
import xarray as xr
from upath import UPath

from neurosim import runs
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.recording import ArraySpec, RunStore, open_run
from neurosim.recording import lock as lock_module
from neurosim.recording.location import remove_file, remove_tree, store_path
from neurosim.recording.lock import StoreInUseError, lock_path, take_writer_lock
from neurosim.scenario.schema import load_scenario

try:
    from tests.scenario_files import write_scenario
except ImportError:  # pytest put tests/ itself on sys.path
    from scenario_files import write_scenario


@pytest.fixture
def memory_url(request: pytest.FixtureRequest):
    """A fresh folder on fsspec's in-memory file system, emptied afterwards."""
    folder = f"memory://neurosim-tests/{request.node.name}"
    yield folder
    fsspec.filesystem("memory").rm(folder.removeprefix("memory://"), recursive=True)


def small_store(url: str, **options) -> RunStore:
    return RunStore.create(
        url,
        attributes={"scenario": {}, "backend": "sync", "seed": 0},
        neurons={"role": ["input", "hidden"], "name": ["a", "b"], "layer": [0, 1]},
        arrays={"rate": ArraySpec(("neuron",), (2,), "float32")},
        recorded_neurons=None,
        edge_src=[0],
        edge_dst=[1],
        time_chunk=4,
        **options,
    )


def test_a_store_at_a_memory_url_is_written_checkpointed_resumed_and_opens_in_xarray(memory_url):
    url = f"{memory_url}/run.zarr"
    store = small_store(url)
    assert store.path == UPath(url) and str(store.path) == url
    for step in range(10):
        store.append([step + 5], {"rate": np.full((1, 2), step, dtype="float32")})
    store.snapshot_weights(14, [0.5], [0.0, 0.0])
    for number in range(3):
        store.write_checkpoint({"state": np.arange(number + 3)}, {"number": number})
    store.append([15], {"rate": np.full((1, 2), 10, dtype="float32")})
    store.close("interrupted", "stopped by the test")
    del store

    run = open_run(url)
    assert (run.status, run.steps_done) == ("interrupted", 11)
    assert sorted(entry.name for entry in (UPath(url) / "checkpoint").iterdir()) == [
        "state1",
        "state2",
        "zarr.json",
    ]  # fmt: skip  (two kept, the oldest removed)
    trajectory = xr.open_zarr(url, group="trajectory")
    assert trajectory["time"].values.tolist() == list(range(5, 16))
    np.testing.assert_array_equal(trajectory["rate"].values[:, 0], np.arange(11))
    assert xr.open_zarr(url, group="weights")["W"].values.tolist() == [[0.5]]

    resumed, arrays, attributes = RunStore.resume(url)
    assert attributes == {"number": 2} and arrays["state"].tolist() == [0, 1, 2, 3, 4]
    assert resumed.steps_done == 10  # cut back to the checkpoint: the step after it is gone
    resumed.append([15], {"rate": np.full((1, 2), 20, dtype="float32")})
    resumed.write_metric("score", 1.5, ())
    resumed.close()
    del resumed
    assert not lock_path(UPath(url)).exists()  # let go with its writer
    assert xr.open_zarr(url, group="trajectory")["rate"].values[-1, 0] == 20
    assert open_run(url).status == "complete"
    assert float(xr.open_zarr(url, group="metrics")["score"]) == 1.5


def test_a_scenario_runs_into_a_memory_url_like_into_a_folder(memory_url, tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, epochs=2, duration=100))
    remote = runs.execute(scenario, f"{memory_url}/small.zarr", progress=False)
    local = runs.execute(scenario, tmp_path / "small.zarr", progress=False)
    assert remote.steps == local.steps and remote.metrics.keys() == local.metrics.keys()
    for name, value in local.metrics.items():
        np.testing.assert_array_equal(remote.metrics[name], value, err_msg=name)
    opened = xr.open_zarr(f"{memory_url}/small.zarr", group="trajectory").load()
    expected = xr.open_zarr(tmp_path / "small.zarr", group="trajectory").load()
    xr.testing.assert_identical(opened, expected)


def test_neurosim_run_writes_to_a_file_url_that_xarray_opens(tmp_path, capsys):
    scenario = write_scenario(tmp_path, epochs=2, duration=100)
    url = f"file://{tmp_path}/runs/small.zarr"
    assert main(["run", str(scenario), "--out", url, "--quiet"]) == EXIT_OK
    assert store_path(url) == tmp_path / "runs" / "small.zarr"  # a local path, locked as one
    trajectory = xr.open_zarr(url, group="trajectory")
    assert trajectory.sizes["time"] == open_run(tmp_path / "runs" / "small.zarr").steps_done > 0
    assert main(["inspect", url]) == EXIT_OK
    assert "status: complete" in capsys.readouterr().out


def test_a_creation_cut_short_is_not_a_run_store_and_is_replaced_with_overwrite_only(
    memory_url, monkeypatch
):
    url = f"{memory_url}/half.zarr"
    import neurosim.recording.layout as layout

    writes = 0
    write_whole = layout._write_whole

    def cut_short(*arguments, **options):  # the process dies here: nothing cleans up
        nonlocal writes
        writes += 1
        if writes == 4:
            raise SystemExit("killed")
        write_whole(*arguments, **options)

    monkeypatch.setattr(layout, "_write_whole", cut_short)
    monkeypatch.setattr("neurosim.recording.writer._remove_partial_store", lambda *a: None)
    with pytest.raises(SystemExit):
        small_store(url)
    monkeypatch.undo()
    assert (UPath(url) / "zarr.json").exists()  # the folder was left as a killed creation leaves it
    with pytest.raises(ValidationError, match="creation was cut short"):
        open_run(url)
    with pytest.raises(ValidationError, match="already exists"):
        small_store(url)
    small_store(url, overwrite=True).close()
    assert open_run(url).status == "complete"


def holder(pid: int, renewed: float, host: str | None = None) -> bytes:
    record = {"pid": pid, "host": host or socket.gethostname(), "started": "earlier"}
    return json.dumps({**record, "token": "theirs", "renewed": renewed}).encode()


def test_a_remote_lock_held_by_a_live_writer_refuses_and_an_abandoned_one_is_taken_over(
    memory_url,
):
    store = UPath(f"{memory_url}/busy.zarr")
    lock_file = lock_path(store)
    # every signal's default action, even under nohup (which ignores SIGHUP), before it is
    # judged: a holder that any signal would end
    live = (
        "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
        "print('ready', flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", live], stdout=subprocess.PIPE) as other:
        try:
            assert other.stdout is not None and other.stdout.readline() == b"ready\n"
            lock_file.write_bytes(holder(other.pid, time.time()))
            with pytest.raises(StoreInUseError, match=f"process {other.pid} on host"):
                take_writer_lock(store)
            with pytest.raises(StoreInUseError):  # another host: its lease decides
                lock_file.write_bytes(holder(1, time.time(), host="elsewhere"))
                take_writer_lock(store)
            time.sleep(0.2)
            assert other.poll() is None  # asked whether it lives (signal 0), never signalled
        finally:
            other.kill()
    lock_file.write_bytes(holder(other.pid, time.time()))  # gone, on this host
    taken = take_writer_lock(store)
    assert (
        taken.abandoned_by == f"process {other.pid} on host {socket.gethostname()} (since earlier)"
    )
    assert json.loads(lock_file.read_bytes())["pid"] == os.getpid()
    del taken
    assert not lock_file.exists()
    lock_file.write_bytes(holder(1, time.time() - lock_module.LEASE_EXPIRES - 1, host="elsewhere"))
    taken = take_writer_lock(store)  # not renewed within the lease: abandoned
    assert "on host elsewhere" in taken.abandoned_by


def test_a_remote_lock_of_a_process_not_ours_or_not_yet_recorded_is_held(memory_url, monkeypatch):
    """A holder on this host whose process this user may not signal (another user's) is
    alive; a lock file whose record is half written (no renewal time yet) is held too."""
    store = UPath(f"{memory_url}/theirs.zarr")

    def not_permitted(pid: int, signal_number: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(lock_module.os, "kill", not_permitted)
    lock_path(store).write_bytes(holder(4321, time.time()))
    with pytest.raises(StoreInUseError, match="process 4321 on host"):
        take_writer_lock(store)
    monkeypatch.undo()
    lock_path(store).write_bytes(b'{"pid": 4321, "host"')
    with pytest.raises(StoreInUseError, match=r"another process \(not recorded yet\) writes it"):
        take_writer_lock(store)


def test_a_writer_on_another_host_is_judged_by_its_lease_not_by_a_process_here(memory_url):
    """A pid recorded by another host says nothing about this host's processes: a lock
    renewed just now by a host elsewhere is held, even when no process here has that pid."""
    with subprocess.Popen([sys.executable, "-c", "pass"]) as ended:
        pass
    store = UPath(f"{memory_url}/elsewhere.zarr")
    lock_path(store).write_bytes(holder(ended.pid, time.time(), host="elsewhere"))
    with pytest.raises(StoreInUseError, match=f"process {ended.pid} on host elsewhere"):
        take_writer_lock(store)


def test_the_lease_runs_out_after_the_documented_two_minutes(memory_url):
    """docs/run-store.md: a lock renewed within the last 120 s refuses a second writer, one
    not renewed for 120 s counts as abandoned."""
    store = UPath(f"{memory_url}/lease.zarr")
    lock_path(store).write_bytes(holder(1, time.time() - 119.0, host="elsewhere"))
    with pytest.raises(StoreInUseError, match=r"a lock not renewed for 120 s is taken over"):
        take_writer_lock(store)
    lock_path(store).write_bytes(holder(1, time.time() - 120.5, host="elsewhere"))
    taken = take_writer_lock(store)
    assert "on host elsewhere" in taken.abandoned_by
    del taken


def test_without_exclusive_create_the_lock_is_written_and_read_back(memory_url, monkeypatch):
    """A file system that cannot create a file only if absent (mode "xb") still gets one
    writer: the lock file is written, then read back to see whose token it holds."""
    store = UPath(f"{memory_url}/plain.zarr")
    file_system = lock_path(store).fs
    opened = file_system.open

    refusals: list[type[Exception]] = [NotImplementedError, ValueError]

    def no_exclusive_create(path, mode="rb", **kwargs):
        if mode == "xb":
            raise refusals[0]("no exclusive create here")  # either, by file system
        return opened(path, mode, **kwargs)

    monkeypatch.setattr(file_system, "open", no_exclusive_create)
    for _ in range(2):
        taken = take_writer_lock(store)
        assert json.loads(lock_path(store).read_bytes())["pid"] == os.getpid()
        assert take_writer_lock(store) is taken
        del taken
        assert not lock_path(store).exists()
        refusals.pop(0)


def test_a_remote_lock_file_created_by_another_writer_first_is_theirs(memory_url, monkeypatch):
    """Two writers may both find no lock file: the second one's exclusive create fails, and
    its next try reads the first one's lock, which is held."""
    store = UPath(f"{memory_url}/race.zarr")
    read_holder = lock_module._read_holder
    reads: list[str] = []

    def read_before_the_other_writes(lock_file):
        reads.append(str(lock_file))
        if len(reads) == 1:
            lock_file.write_bytes(holder(1, time.time(), host="elsewhere"))
            return None
        return read_holder(lock_file)

    monkeypatch.setattr(lock_module, "_read_holder", read_before_the_other_writes)
    with pytest.raises(StoreInUseError, match="process 1 on host elsewhere"):
        take_writer_lock(store)
    assert len(reads) == 2
    assert json.loads(lock_path(store).read_bytes())["token"] == "theirs"


def test_a_remote_writer_renews_its_lease_while_it_lives(memory_url, monkeypatch):
    monkeypatch.setattr(lock_module, "LEASE_RENEW", 0.05)
    store = UPath(f"{memory_url}/long.zarr")
    taken = take_writer_lock(store)
    first = json.loads(lock_path(store).read_bytes())["renewed"]
    time.sleep(0.3)
    assert json.loads(lock_path(store).read_bytes())["renewed"] > first
    assert take_writer_lock(store) is taken  # one lock per store within a process
    del taken


@pytest.mark.parametrize(
    "url, named",
    [("nosuchfs://bucket/run.zarr", "nosuchfs"), ("s3x://bucket/run.zarr", "s3x")],
)
def test_an_unknown_file_system_is_bad_input(tmp_path, capsys, url, named):
    scenario = write_scenario(tmp_path, epochs=2, duration=100)
    assert main(["run", str(scenario), "--out", url, "--quiet"]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith(f"neurosim: error: {url}:") and named in error
    assert error.count("\n") == 1


def test_a_sweep_writes_its_stores_and_table_to_a_memory_url(memory_url, tmp_path):
    pytest.importorskip("dask.distributed", reason="neurosim sweep needs the sweep extra (Dask)")
    from neurosim import sweep, sweep_results

    scenario = write_scenario(tmp_path, epochs=2, duration=100)
    plan = sweep.plan_sweep(
        scenario, [], sweep.parse_grid(["model.alpha=0.01,0.02"]), (0, 1), f"{memory_url}/sw"
    )
    with sweep.connect(2, None, processes=False) as client:  # one process: one memory://
        outcomes = sweep.carry_out(plan, client)
    written = sweep_results.write(sweep_results.gather(plan, outcomes), plan.directory)
    table = xr.open_zarr(f"{memory_url}/sw/sweep.zarr", consolidated=False).load()
    assert dict(table.sizes) == {"alpha": 2, "seed": 2}
    assert (table["status"].values == "complete").all()
    assert (UPath(f"{memory_url}/sw/sweep.csv").read_text().count("\n")) == 5
    assert all(path.exists() for path in written)
    alone = runs.execute(
        load_scenario(scenario, ["model.alpha=0.02", "scenario.seed=1"]),
        tmp_path / "alone.zarr",
        progress=False,
    )
    assert float(table["switches"].sel(alpha=0.02, seed=1)) == alone.metrics["switches"]
    again = sweep.claim_directory(plan)  # started again: every run is done
    assert sorted(again) == sorted(point.label for point in plan.points)


def test_a_sweep_run_waits_out_the_lease_a_lost_worker_left_then_takes_the_store_over(
    memory_url, tmp_path, monkeypatch
):
    from neurosim import sweep

    monkeypatch.setattr(lock_module, "LEASE_EXPIRES", 0.6)
    monkeypatch.setattr(lock_module, "LEASE_RENEW", 0.1)
    scenario = load_scenario(write_scenario(tmp_path, epochs=2, duration=100))
    out = UPath(f"{memory_url}/lost.zarr")
    lock_path(out).write_bytes(holder(1, time.time(), host="a-lost-worker"))
    started = time.monotonic()
    outcome = sweep.run_point(scenario, str(out))
    assert outcome["status"] == "complete" and time.monotonic() - started > 0.6
    assert open_run(out).status == "complete" and not lock_path(out).exists()


def test_removing_a_local_tree_or_file_that_is_not_there_does_nothing(tmp_path: Path) -> None:
    missing = store_path(tmp_path / "never_made.zarr")
    remove_tree(missing)
    remove_file(store_path(tmp_path / "never_made.lock"))  # let go by its holder meanwhile
    made = tmp_path / "made.zarr"
    (made / "group").mkdir(parents=True)
    (made / "group" / "zarr.json").write_text("{}")
    remove_tree(store_path(made))
    assert not made.exists() and tmp_path.exists()


def test_a_url_whose_file_system_needs_a_package_not_installed_is_refused_naming_it() -> None:
    """fsspec knows the protocol, but the package that implements it is missing: the error
    names the URL and what fsspec says to install, before anything is written."""
    import importlib.util

    from fsspec.registry import known_implementations

    missing = [
        protocol
        for protocol, implementation in sorted(known_implementations.items())
        if "err" in implementation
        and importlib.util.find_spec(implementation["class"].split(".")[0]) is None
    ]
    assert missing, "every fsspec file system is installed here"
    url = f"{missing[0]}://bucket/run.zarr"
    with pytest.raises(ValidationError, match=rf"{url}: the file system .* not installed \(\w+"):
        store_path(url)
