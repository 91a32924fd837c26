"""One writer per run store, under faults: concurrent writers, ``--overwrite`` or ``--resume``
of a store another process writes, a writer killed holding its lock, a creation killed part
way. Each fault runs real ``python -m neurosim`` processes; afterwards every store must open
in xarray and hold exactly one run: the one of its own seed, step by step.

The figures (faults injected, stores readable, stores mixed) are printed at the end (``-s``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.errors import ValidationError
from neurosim.recording import RunStore, open_run
from neurosim.recording.lock import lock_path
from tests.scenario_files import write_scenario

REPOSITORY = Path(__file__).resolve().parents[1]
SEEDS = (1, 2)
FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Iterator[None]:
    yield
    print(
        f"\nlock faults: {FIGURES['faults']} injected, {FIGURES['readable']} of "
        f"{FIGURES['stores']} stores readable, {FIGURES['mixed']} mixed"
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # about 6,000 steps: a run lasts a few seconds, long enough to be caught while it writes
    return write_scenario(tmp_path_factory.mktemp("scenario"), epochs=1, duration=6000)


@pytest.fixture(scope="module")
def references(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Each seed's store, written by a run alone."""
    folder = tmp_path_factory.mktemp("references")
    stores = {}
    for seed in SEEDS:
        stores[seed] = folder / f"seed{seed}.zarr"
        assert neurosim("run", scenario, "--seed", seed, "--out", stores[seed]).returncode == 0
    return stores


def command(*arguments: object) -> list[str]:
    return [sys.executable, "-m", "neurosim", *(str(argument) for argument in arguments)]


def neurosim(*arguments: object, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*arguments), capture_output=True, text=True, cwd=cwd, timeout=120, env=ENV
    )


def start(*arguments: object, cwd: Path = REPOSITORY) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*arguments),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=ENV,
    )


# the checkout under test, from any working directory
ENV = {**os.environ, "PYTHONPATH": str(REPOSITORY)}


def wait_until_writing(process: subprocess.Popen[str], store: Path) -> None:
    """Until ``store`` holds committed steps of a run still going on."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended first: {process.communicate()}"
        try:
            if open_run(store).steps_done > 0:
                return
        except Exception:  # not created yet, or being created
            pass
        time.sleep(0.01)
    raise AssertionError(f"{store} got no steps in 60 s")


def wait_until_stopped(process: subprocess.Popen[str]) -> None:
    """Until the kernel shows ``process`` stopped (state T) and it has no write in flight."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.005)
    raise AssertionError(f"process {process.pid} did not stop in 10 s")


def files_of(store: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(store)): path.read_bytes()
        for path in sorted(store.rglob("*"))
        if path.is_file()
    }


def check_store(store: Path, seed: int, references: dict[int, Path]) -> None:
    """``store`` opens in xarray with equal lengths along ``time``, is complete, and every
    recorded step and weight snapshot is the one of ``seed``'s own run."""
    FIGURES["stores"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trajectory = xr.open_zarr(store, group="trajectory")
        assert {trajectory[name].sizes["time"] for name in ("state", "dz", "time")} == {
            trajectory.sizes["time"]
        }
    FIGURES["readable"] += 1
    run, own = open_run(store), open_run(references[seed])
    assert run.status == "complete" and run.attributes["seed"] == seed
    mixed = False
    for group in ("trajectory", "weights"):
        for name in own.names(group):
            expected, found = own.array(group, name), run.array(group, name)
            # edge_delay is NaN where the topology gives no delay: NaN there equals NaN
            same = found.shape == expected.shape and np.array_equal(
                found, expected, equal_nan=found.dtype.kind == "f"
            )
            if not same:
                mixed = True
    FIGURES["mixed"] += mixed
    assert not mixed, f"{store} is not seed {seed}'s run alone"


def test_two_writers_on_one_store_one_wins_and_the_other_exits_2(
    scenario: Path, references: dict[int, Path], tmp_path: Path
) -> None:
    """Started together on one ``--out``: one run writes the store, the other exits 2 with a
    line naming it and, when it is still written, the holder's process. On the default name
    the same, unless the second run came late enough to pick the next free name."""
    for round_, out in enumerate([tmp_path / "shared.zarr", None, tmp_path / "again.zarr"]):
        where = ["--out", out] if out else []
        runs = {
            seed: start("run", scenario, "--seed", seed, *where, cwd=tmp_path) for seed in SEEDS
        }
        FIGURES["faults"] += 1
        results = {seed: (run.wait(120), *run.communicate()) for seed, run in runs.items()}
        winners = {seed: output for seed, (code, output, _) in results.items() if code == 0}
        losers = [error for code, _, error in results.values() if code != 0]
        assert len(winners) == (1 if out else len(winners)) >= 1, f"round {round_}: {results}"
        stores = {
            seed: tmp_path / output.split("run store ")[1].split(" (")[0]
            for seed, output in winners.items()
        }
        assert len(set(stores.values())) == len(stores)  # never two runs in one store
        for error in losers:
            assert error.count("\n") == 1
            assert error.startswith("neurosim: error: ") and "Traceback" not in error
            winner_pid = runs[next(iter(winners))].pid
            in_use = f"is in use: process {winner_pid} on host"
            assert in_use in error or "already exists" in error, error
            assert str(next(iter(stores.values()))) in error or "runs/small.zarr" in error
        for seed, store in stores.items():
            check_store(store, seed, references)
            assert not lock_path(store).exists()  # let go with its writer


@pytest.mark.parametrize("how", [["--overwrite"], ["--resume"]])
def test_a_store_being_written_is_neither_overwritten_nor_resumed(
    scenario: Path, references: dict[int, Path], tmp_path: Path, how: list[str]
) -> None:
    """``--overwrite`` or ``--resume`` of a running store: exit 2 with a one-line message
    naming the store and its writer (pid, host); the store is left exactly as it was, and
    its run completes as if nothing had happened."""
    store = tmp_path / "busy.zarr"
    writer = start("run", scenario, "--seed", 1, "--out", store)
    wait_until_writing(writer, store)
    writer.send_signal(signal.SIGSTOP)  # hold the writer still, its lock held, mid-run
    wait_until_stopped(writer)  # the signal is delivered asynchronously
    try:
        before = files_of(store)
        if how == ["--resume"]:
            intruder = neurosim("run", "--resume", store)
        else:
            intruder = neurosim("run", scenario, "--seed", 2, "--out", store, *how)
        FIGURES["faults"] += 1
        assert intruder.returncode == 2, intruder
        assert intruder.stderr.strip() == (
            f"neurosim: error: {store} is in use: process {writer.pid} on host "
            f"{os.uname().nodename} (since {intruder.stderr.split('(since ')[1].split(')')[0]}) "
            "writes it; wait for that run to end, or choose another path"
        )
        assert files_of(store) == before
    finally:
        writer.send_signal(signal.SIGCONT)
    assert writer.wait(120) == 0, writer.communicate()
    check_store(store, 1, references)


def test_the_lock_of_a_killed_writer_is_taken_over(
    scenario: Path, references: dict[int, Path], tmp_path: Path
) -> None:
    """A writer killed with SIGKILL leaves its lock file naming it; its lock is free, so the
    store can be reopened (which tells who left it) and replaced with ``--overwrite``."""
    store = tmp_path / "killed.zarr"
    writer = start("run", scenario, "--seed", 1, "--out", store)
    wait_until_writing(writer, store)
    writer.kill()
    writer.wait(60)
    FIGURES["faults"] += 1
    assert f'"pid": {writer.pid}' in lock_path(store).read_text()

    reopened = RunStore.reopen(store)
    assert f"process {writer.pid} on host" in reopened._lock.abandoned_by
    assert f'"pid": {os.getpid()}' in lock_path(store).read_text()
    reopened.close("interrupted", "reopened by the test")
    del reopened  # this process lets the lock go

    replacement = neurosim("run", scenario, "--seed", 2, "--out", store, "--overwrite")
    assert replacement.returncode == 0, replacement
    check_store(store, 2, references)
    assert not lock_path(store).exists()


KILL_DURING_CREATION = textwrap.dedent(
    """
    import os, signal, sys
    import neurosim.recording.layout as layout
    from neurosim.cli import main

    calls = 0
    write_whole = layout._write_whole

    def dying_write_whole(*arguments, **keywords):
        global calls
        calls += 1
        if calls == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)
        write_whole(*arguments, **keywords)

    layout._write_whole = dying_write_whole
    main(sys.argv[2:])
    """
)


@pytest.mark.parametrize("killed_at", [1, 4, 7])
def test_a_creation_killed_part_way_is_replaced_by_overwrite_only(
    scenario: Path, references: dict[int, Path], tmp_path: Path, killed_at: int
) -> None:
    """A creation killed part way leaves a folder and its lock file: refused without
    ``--overwrite``, replaced with it. A folder that is not neurosim's is never replaced, even
    beside a lock file a killed writer left."""
    store = tmp_path / "half.zarr"
    run_arguments = ["run", str(scenario), "--out", str(store)]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_CREATION, str(killed_at), *run_arguments],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    FIGURES["faults"] += 1
    assert killed.returncode == -signal.SIGKILL, killed
    assert store.is_dir() and lock_path(store).exists()
    left_by_the_killed = lock_path(store).read_text()

    refused = neurosim("run", scenario, "--seed", 2, "--out", store)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    replaced = neurosim("run", scenario, "--seed", 2, "--out", store, "--overwrite")
    assert replaced.returncode == 0, replaced
    check_store(store, 2, references)

    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    lock_path(foreign).write_text(left_by_the_killed)
    kept = neurosim("run", scenario, "--out", foreign, "--overwrite")
    assert kept.returncode == 2 and "is not a neurosim run store" in kept.stderr
    assert [path.name for path in foreign.iterdir()] == ["notes.txt"]


def test_a_lock_file_removed_while_it_is_being_locked_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last holder may let go and remove the lock file between this process opening it
    and locking it: the lock then sits on a removed file, so the writer tries again on a
    new one, which then names it."""
    from neurosim.recording import lock as lock_module

    store = tmp_path / "run.zarr"
    real_flock = lock_module.fcntl.flock
    removed: list[Path] = []

    def holder_lets_go_first(descriptor: int, operation: int) -> None:
        if not removed:
            lock_path(store).unlink()
            removed.append(lock_path(store))
        real_flock(descriptor, operation)

    monkeypatch.setattr(lock_module.fcntl, "flock", holder_lets_go_first)
    taken = lock_module.take_writer_lock(store)
    assert removed == [lock_path(store)]
    assert json.loads(lock_path(store).read_text())["pid"] == os.getpid()
    del taken


def test_a_lock_another_process_holds_is_refused_naming_that_process(tmp_path: Path) -> None:
    """Another process holds the store's lock (its file lock, taken through the same call):
    this one is refused at once, naming the holder's pid, and takes nothing."""
    from neurosim.recording.lock import StoreInUseError, take_writer_lock

    store = tmp_path / "run.zarr"
    hold = (
        "import sys, time; from pathlib import Path; "
        "from neurosim.recording.lock import take_writer_lock; "
        "lock = take_writer_lock(Path(sys.argv[1])); print('ready', flush=True); time.sleep(60)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", hold, str(store)], stdout=subprocess.PIPE
    ) as other:
        try:
            assert other.stdout is not None and other.stdout.readline() == b"ready\n"
            with pytest.raises(StoreInUseError, match=f"is in use: process {other.pid} on host"):
                take_writer_lock(store)
            assert json.loads(lock_path(store).read_text())["pid"] == other.pid
        finally:
            other.kill()


def test_a_link_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    """A symbolic link where the lock file goes is refused, never opened: locking through it
    would write this process into whatever file it points at."""
    from neurosim.recording.lock import take_writer_lock

    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("someone else's file")
    store = tmp_path / "run.zarr"
    lock_path(store).symlink_to(elsewhere)
    with pytest.raises(ValidationError, match=re.escape(f"{lock_path(store)} is a symbolic link")):
        take_writer_lock(store)
    assert elsewhere.read_text() == "someone else's file"


def test_the_lock_file_is_readable_by_all_and_its_lease_never_keeps_the_process_alive(
    tmp_path: Path,
) -> None:
    """Mode 0o644 (less the umask): another user's run can read who holds the store. A
    remote lock's renewal runs in a daemon thread, so that a process ending with the lock
    still held is not kept alive by it."""
    import stat
    import threading

    from neurosim.recording.lock import take_writer_lock

    umask = os.umask(0o022)
    os.umask(umask)
    store = tmp_path / "run.zarr"
    taken = take_writer_lock(store)
    assert stat.S_IMODE(lock_path(store).stat().st_mode) == 0o644 & ~umask
    del taken
    import fsspec
    from upath import UPath

    remote = UPath("memory://neurosim-tests/lease-thread/run.zarr")
    try:
        taken = take_writer_lock(remote)
        leases = [t for t in threading.enumerate() if t.name == f"lease {lock_path(remote)}"]
        assert len(leases) == 1 and leases[0].daemon
        del taken
    finally:
        fsspec.filesystem("memory").rm("neurosim-tests/lease-thread", recursive=True)


def test_a_holder_record_without_a_usable_pid_is_described_as_another_process() -> None:
    from neurosim.recording.lock import _describe

    recorded = {"pid": 12, "host": "node1", "started": "2026-01-01T00:00:00"}
    assert _describe(recorded) == "process 12 on host node1 (since 2026-01-01T00:00:00)"
    unusable = ({"pid": "twelve", "host": "node1", "started": "x"}, {"pid": None, "host": "x"})
    for holder in (*unusable, {"host": "node1"}, {}):
        assert _describe(holder) == "another process (not recorded yet)"


def test_a_lease_renewal_that_fails_once_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system that fails one renewal's write does not end the lease: the next renewal
    writes it."""
    import threading

    from neurosim.recording import lock as lock_module

    class FlakyLockFile:
        def __init__(self) -> None:
            self.record = json.dumps({"token": "mine", "renewed": 0.0}).encode()
            self.failures = 1
            self.writes: list[bytes] = []

        def read_bytes(self) -> bytes:
            return self.record

        def write_bytes(self, data: bytes) -> None:
            if self.failures:
                self.failures -= 1
                raise OSError(5, "Input/output error")
            self.writes.append(data)
            self.record = data

    monkeypatch.setattr(lock_module, "LEASE_RENEW", 0.01)
    lock_file, stop = FlakyLockFile(), threading.Event()
    renewing = threading.Thread(target=lock_module._renew, args=(lock_file, "mine", stop))
    renewing.start()
    deadline = time.monotonic() + 10.0
    while not lock_file.writes and renewing.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    renewing.join()
    assert lock_file.failures == 0 and lock_file.writes
    assert json.loads(lock_file.writes[0])["renewed"] > 0.0
