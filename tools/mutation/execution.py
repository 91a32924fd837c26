"""Running the mutants: one forked child each, ``jobs`` at a time, judged by pytest's exit
code or a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mutation.generation import ERROR, KILLED, SURVIVED, TIMEOUT, Mutant, operator_instance
from mutation.processes import fork, install_mutant, prepare_test_process, pytest_arguments
from mutation.selection import Baseline

# a mutant's run may take this many times its selected tests' baseline time, plus a margin;
# each test alone may take that factor times its own baseline time plus its own margin, so a
# mutant that hangs in its first test is stopped in seconds, not after the whole selection's
# allowance
TIMEOUT_FACTOR = 3.0
TIMEOUT_MARGIN_SECONDS = 10.0
TEST_TIMEOUT_MARGIN_SECONDS = 10.0
# the exit code of a child whose test ran past its own deadline
TEST_TIMEOUT_EXIT_CODE = 124


# pytest exit codes: 1 tests failed, 2 interrupted (a collection error under -x); 3 (internal
# error) and 4 (usage error) are faults of the run, not of the mutant
PYTEST_KILLED_EXIT_CODES = {1, 2}
# how the first failure names a test module that failed to import
COLLECTING = "collecting "


class _FirstFailure:
    def __init__(self) -> None:
        self.test = ""

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.test:
            self.test = report.nodeid

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and not self.test:
            self.test = f"{COLLECTING}{report.nodeid}"


class _TestDeadline:
    """Ends the child when one test (set-up, call and tear-down) runs past its limit. The child
    exits at once rather than raising: a test that expects an exception could swallow one."""

    def __init__(self, limits: dict[str, float], failure: Path) -> None:
        self.limits = limits
        self.failure = failure
        self.test = ""
        signal.signal(signal.SIGALRM, self._expired)

    def _expired(self, signum: int, frame: Any) -> None:
        self.failure.write_text(self.test)
        os._exit(TEST_TIMEOUT_EXIT_CODE)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Any:
        self.test = item.nodeid
        # a test the baseline did not time keeps only the whole run's deadline
        signal.setitimer(signal.ITIMER_REAL, self.limits.get(item.nodeid, 0.0))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _test_limits(tests: Sequence[str], baseline: Baseline) -> dict[str, float]:
    return {
        test: TIMEOUT_FACTOR * baseline.test_seconds(test) + TEST_TIMEOUT_MARGIN_SECONDS
        for test in tests
    }


def _mutant_files(mutant: Mutant, workdir: Path) -> tuple[Path, Path]:
    """Where a mutant's run writes its pytest output and the first failing test."""
    stem = f"mutant-{mutant.path.replace('/', '_')}-{mutant.operator}-{mutant.occurrence}"
    return workdir / f"{stem}.log", workdir / f"{stem}.failure"


def _start_mutant(
    mutant: Mutant,
    source: str,
    root: Path,
    workdir: Path,
    pytest_extra: Sequence[str],
    limits: dict[str, float],
) -> int:
    from cosmic_ray.mutating import mutate_code

    log, failure = _mutant_files(mutant, workdir)

    def child() -> int:
        prepare_test_process(root, log)
        mutated = mutate_code(source, operator_instance(mutant.operator), mutant.occurrence)
        if mutated is None:
            print(f"cosmic-ray made no mutation for occurrence {mutant.occurrence}")
            return 4
        install_mutant(mutant.module, str(root / mutant.path), mutated)
        first_failure = _FirstFailure()
        deadline = _TestDeadline(limits, failure)
        arguments = pytest_arguments(mutant.tests, root, [*pytest_extra, "-x"])
        exit_code = int(pytest.main(arguments, plugins=[first_failure, deadline]))
        failure.write_text(first_failure.test)
        return exit_code

    return fork(child)


def _timeout_seconds(mutant: Mutant, baseline: Baseline) -> float:
    selected = baseline.selection_seconds(mutant.tests)
    return TIMEOUT_FACTOR * selected + baseline.collection_seconds + TIMEOUT_MARGIN_SECONDS


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole}s"


def run_mutants(
    mutants: Sequence[Mutant],
    sources: dict[str, str],
    baseline: Baseline,
    root: Path,
    workdir: Path,
    jobs: int = 2,
    pytest_extra: Sequence[str] = (),
    progress: bool = True,
) -> None:
    """Run every mutant that has tests, ``jobs`` at a time, and set its outcome."""
    waiting = [mutant for mutant in mutants if not mutant.outcome]
    waiting.reverse()  # popped from the end: the original order
    total = len(waiting)
    running: dict[int, tuple[Mutant, float, float]] = {}  # pid -> mutant, start, deadline
    done = 0
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    last_report = started
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                mutant = waiting.pop()
                limits = _test_limits(mutant.tests, baseline)
                pid = _start_mutant(
                    mutant, sources[mutant.path], root, workdir, pytest_extra, limits
                )
                now = time.perf_counter()
                running[pid] = (mutant, now, now + _timeout_seconds(mutant, baseline))
            pid, status = os.waitpid(-1, os.WNOHANG)
            now = time.perf_counter()
            finished: list[tuple[int, int | None]] = []
            if pid:
                finished.append((pid, os.waitstatus_to_exitcode(status)))
            for other, (_, _, deadline) in list(running.items()):
                if other != pid and now > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(other, signal.SIGKILL)
                    os.waitpid(other, 0)
                    finished.append((other, None))
            if not finished:
                time.sleep(0.05)
            for finished_pid, exit_code in finished:
                if finished_pid not in running:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(finished_pid, signal.SIGKILL)  # what a timed-out test started
                mutant, start, _ = running.pop(finished_pid)
                mutant.seconds = now - start
                _judge(mutant, exit_code, workdir)
                counts[mutant.outcome] += 1
                done += 1
            if progress and (now - last_report > 30 or not (waiting or running)):
                last_report = now
                eta = format_duration((now - started) / done * (total - done)) if done else "?"
                print(
                    f"  [{done}/{total}] killed {counts[KILLED]}, timeout {counts[TIMEOUT]}, "
                    f"survived {counts[SURVIVED]}, error {counts[ERROR]}; "
                    f"elapsed {format_duration(now - started)}, ETA {eta}",
                    flush=True,
                )
    finally:
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _judge(mutant: Mutant, exit_code: int | None, workdir: Path) -> None:
    log, failure = _mutant_files(mutant, workdir)
    mutant.killed_by = failure.read_text() if failure.exists() else ""
    if exit_code is None or exit_code == TEST_TIMEOUT_EXIT_CODE:
        mutant.outcome = TIMEOUT
    elif mutant.killed_by.startswith(COLLECTING):
        # the mutant broke the import of a test module: pytest, given test ids, ends that with
        # "found no collectors" (exit 4) rather than a failure, but the mutant was noticed
        mutant.outcome = KILLED
    elif exit_code == 0:
        mutant.outcome = SURVIVED
    elif exit_code in PYTEST_KILLED_EXIT_CODES or exit_code < 0:  # < 0: killed by a signal
        mutant.outcome = KILLED
    else:
        mutant.outcome = ERROR
        tail = log.read_text(errors="replace")[-2000:]
        mutant.killed_by = f"exit {exit_code}: {tail}"
