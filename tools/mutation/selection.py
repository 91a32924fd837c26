"""The baseline (the tests once, unmutated, under coverage, one context per test) and the
selection of each mutant's tests from it."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from mutation.generation import NOT_COVERED, Mutant
from mutation.processes import fork, prepare_test_process, pytest_arguments


@dataclasses.dataclass
class Baseline:
    """The unmutated test run: what passes, how long each test takes, which test runs what."""

    durations: dict[str, float]  # set-up, call and tear-down
    setup_durations: dict[str, float]
    passed: set[str]  # the tests a mutant may run
    failed: list[str]  # failing or erroring without any mutation: left out of every selection
    skipped: int
    line_tests: dict[str, dict[int, set[str]]]  # path -> line -> tests that executed it
    executed_lines: dict[str, set[int]]  # path -> lines executed at all, imports included
    # test -> the tests whose set-up created a module- or session-wide fixture it uses: run
    # without them, it pays for that set-up itself
    fixture_creators: dict[str, set[str]]
    collection_seconds: float
    seconds: float
    slow: list[str] = dataclasses.field(default_factory=list)  # left out by ``leave_out_slow``

    def test_seconds(self, test: str) -> float:
        """What ``test`` costs when run alone: its own time and its shared fixtures' set-up."""
        shared = sum(self.setup_durations.get(c, 0.0) for c in self.fixture_creators.get(test, ()))
        return self.durations.get(test, 0.0) + shared

    def selection_seconds(self, tests: Sequence[str]) -> float:
        """What running ``tests`` together costs, each shared fixture set up once."""
        creators = set().union(*(self.fixture_creators.get(test, set()) for test in tests))
        own = sum(self.durations.get(test, 0.0) for test in tests)
        return own + sum(self.setup_durations.get(c, 0.0) for c in creators - set(tests))

    def leave_out_slow(self, max_seconds: float) -> None:
        """Take the tests that cost more than ``max_seconds`` alone out of the selection."""
        self.slow = sorted(t for t in self.passed if self.test_seconds(t) > max_seconds)
        self.passed -= set(self.slow)

    def module_tests(self, path: str) -> set[str]:
        """Every test that executed at least one line of ``path``."""
        tests: set[str] = set()
        for line_tests in self.line_tests.get(path, {}).values():
            tests |= line_tests
        return tests


class _BaselinePlugin:
    """Switches the coverage context per test and phase, times and judges each test, and notes
    which tests share a fixture broader than one test (whose set-up runs in the first of them)."""

    def __init__(self, coverage: Any) -> None:
        self.coverage = coverage
        self.current = ""
        self.durations: dict[str, float] = defaultdict(float)
        self.setup_durations: dict[str, float] = {}
        self.outcomes: dict[str, str] = {}
        self.fixture_names: dict[str, list[str]] = {}
        self.created_fixtures: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.started = time.perf_counter()
        self.collection_seconds = 0.0

    def pytest_collection_finish(self, session: Any) -> None:
        self.collection_seconds = time.perf_counter() - self.started
        for item in session.items:
            self.fixture_names[item.nodeid] = list(getattr(item, "fixturenames", []))

    # tryfirst: the context must be switched before pytest's own hook sets up fixtures
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> None:
        self.current = item.nodeid
        self.coverage.switch_context(f"{item.nodeid}|setup")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: Any) -> None:
        self.coverage.switch_context(f"{item.nodeid}|call")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: Any) -> None:
        self.coverage.switch_context(f"{item.nodeid}|teardown")

    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> None:
        if self.current and fixturedef.scope != "function":
            self.created_fixtures[self.current].append((fixturedef.argname, fixturedef.baseid))

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] += report.duration
        if report.when == "setup":
            self.setup_durations[report.nodeid] = report.duration
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.when == "call" and report.nodeid not in self.outcomes:
            self.outcomes[report.nodeid] = "skipped" if report.skipped else "passed"
        elif report.skipped and report.nodeid not in self.outcomes:
            self.outcomes[report.nodeid] = "skipped"
        if report.when == "teardown":
            self.coverage.switch_context("")
            self.current = ""

    def sharers(self) -> dict[str, list[str]]:
        """For each test whose set-up created a broader fixture: the tests that use it."""
        shared: dict[str, list[str]] = {}
        for creator, fixtures in self.created_fixtures.items():
            shared[creator] = [
                test
                for test, names in self.fixture_names.items()
                if any(name in names and test.startswith(base) for name, base in fixtures)
            ]
        return shared


def run_baseline(
    root: Path,
    tests: Sequence[str],
    files: Sequence[Path],
    workdir: Path,
    pytest_extra: Sequence[str] = (),
) -> Baseline:
    """Run ``tests`` once, unmutated, under coverage.py in a forked child (``files`` measured)."""
    config = workdir / "coveragerc"
    data_file = workdir / "coverage-data"
    includes = "\n".join(f"    {file}" for file in files)
    config.write_text(f"[run]\ndata_file = {data_file}\ninclude =\n{includes}\n")
    result_file = workdir / "baseline.json"
    log = workdir / "baseline.log"

    def child() -> int:
        prepare_test_process(root, log)
        import coverage

        measurement = coverage.Coverage(config_file=str(config))
        plugin = _BaselinePlugin(measurement)
        measurement.start()
        try:
            exit_code = pytest.main(pytest_arguments(tests, root, pytest_extra), plugins=[plugin])
        finally:
            measurement.stop()
            measurement.save()
        result = {
            "exit_code": int(exit_code),
            "durations": plugin.durations,
            "setup_durations": plugin.setup_durations,
            "outcomes": plugin.outcomes,
            "sharers": plugin.sharers(),
            "collection_seconds": plugin.collection_seconds,
        }
        result_file.write_text(json.dumps(result))
        return 0

    started = time.perf_counter()
    pid = fork(child)
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0 or not result_file.exists():
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise SystemExit(f"mutation_test: the baseline run failed:\n{tail}")
    result = json.loads(result_file.read_text())
    if result["exit_code"] not in (0, 1):
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutation_test: pytest exited {result['exit_code']}:\n{tail}")

    from coverage import CoverageData

    data = CoverageData(basename=str(data_file))
    data.read()
    sharers: dict[str, list[str]] = result["sharers"]
    line_tests: dict[str, dict[int, set[str]]] = {}
    executed_lines: dict[str, set[int]] = {}
    for measured in data.measured_files():
        relative = Path(measured).resolve().relative_to(root.resolve()).as_posix()
        lines = line_tests.setdefault(relative, {})
        executed_lines[relative] = set(data.lines(measured) or ())
        for line, contexts in data.contexts_by_lineno(measured).items():
            for context in contexts:
                if "|" not in context:
                    continue  # import time, between tests
                test, phase = context.rsplit("|", 1)
                reached = lines.setdefault(line, set())
                reached.add(test)
                if phase == "setup":
                    reached.update(sharers.get(test, ()))
    fixture_creators: dict[str, set[str]] = defaultdict(set)
    for creator, users in sharers.items():
        for user in users:
            if user != creator:
                fixture_creators[user].add(creator)
    outcomes: dict[str, str] = result["outcomes"]
    return Baseline(
        durations=result["durations"],
        setup_durations=result["setup_durations"],
        passed={test for test, outcome in outcomes.items() if outcome == "passed"},
        failed=sorted(test for test, outcome in outcomes.items() if outcome == "failed"),
        skipped=sum(outcome == "skipped" for outcome in outcomes.values()),
        line_tests=line_tests,
        executed_lines=executed_lines,
        fixture_creators=dict(fixture_creators),
        collection_seconds=result["collection_seconds"],
        seconds=seconds,
    )


def _statement_lines(tree: ast.Module, line: int) -> tuple[set[int], bool]:
    """The lines of the statement that holds ``line`` (only the header of a compound statement:
    coverage may record a multi-line statement on any of its lines), and whether it runs when
    a function is called (True) or when the module is imported (False)."""
    lines: set[int] = set()
    in_function_body = False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body_lines = (node.body[0].lineno, node.end_lineno or 0)
        elif isinstance(node, ast.Lambda):
            body_lines = (node.body.lineno, node.body.end_lineno or 0)
        else:
            body_lines = (0, -1)
        if body_lines[0] <= line <= body_lines[1]:
            in_function_body = True
        if not isinstance(node, ast.stmt | ast.ExceptHandler):
            continue
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(decorator.lineno for decorator in decorators)])
        last = node.end_lineno or node.lineno
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            last = max(node.lineno, body[0].lineno - 1)
        if first <= line <= last:
            lines.update(range(first, last + 1))
    return lines or {line}, in_function_body


def _header_lines(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> range:
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    return range(first, max(node.lineno, node.body[0].lineno - 1) + 1)


def _name_reads(trees: dict[str, ast.Module]) -> dict[str, dict[str, set[int]]]:
    """name -> file -> the lines that read it (as a name or an attribute)."""
    reads: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads[node.id][path].add(node.lineno)
            elif isinstance(node, ast.Attribute):
                reads[node.attr][path].add(node.lineno)
    return reads


def _import_time_uses(
    trees: dict[str, ast.Module],
    reads: dict[str, dict[str, set[int]]],
    path: str,
    line: int,
) -> tuple[dict[str, set[int]], bool]:
    """Where an import-time statement acts, by file, and whether that is all of it: the body of
    a function whose signature holds ``line`` (all: a default only acts in a call), the same
    for a decorator (not all: a decorator may act without a call), the lines of a class, or the
    lines that read the names a module-level statement binds (not all: other packages and the
    tests may read them too)."""
    tree = trees[path]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and line in _header_lines(node):
            body = set(range(node.body[0].lineno, (node.end_lineno or 0) + 1))
            in_decorator = any(
                d.lineno <= line <= (d.end_lineno or d.lineno) for d in node.decorator_list
            )
            return {path: body}, not in_decorator
    statement = next((s for s in tree.body if s.lineno <= line <= (s.end_lineno or s.lineno)), None)
    if statement is None:
        return {}, False
    if isinstance(statement, ast.ClassDef):
        return {path: set(range(statement.lineno, (statement.end_lineno or 0) + 1))}, False
    names = {
        node.id
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    uses: dict[str, set[int]] = defaultdict(set)
    for name in names:
        for other_path, lines in reads.get(name, {}).items():
            uses[other_path] |= lines
    return uses, False


def select_tests(
    mutants: Sequence[Mutant],
    sources: dict[str, str],
    baseline: Baseline,
    import_time_tests: Sequence[str] = (),
) -> None:
    """Set each mutant's tests (passing tests that reach it, fastest first); a mutant reached by
    none survives as "not covered". ``import_time_tests`` (node ids, with or without their
    parameters) run first for every mutant of module-level code that acts beyond its module:
    tests that read such tables through a lookup by name (``getattr`` on an imported module, a
    registry's dict), which coverage cannot tie to the statement."""
    trees = {path: ast.parse(source) for path, source in sources.items()}
    reads = _name_reads(trees)
    module_tests: dict[str, set[str]] = {}
    # a test named without its parameters stands for each of its parametrized cases
    import_time = {
        test
        for test in baseline.passed
        for wanted in import_time_tests
        if test == wanted or test.startswith(wanted + "[")
    }

    def by_cost(tests: Iterable[str]) -> list[str]:
        usable = set(tests) & baseline.passed
        return sorted(usable, key=lambda test: (baseline.test_seconds(test), test))

    def tests_of(path: str, lines: Iterable[int]) -> set[str]:
        file_lines = baseline.line_tests.get(path, {})
        return set().union(*(file_lines.get(line, set()) for line in lines))

    for mutant in mutants:
        if mutant.outcome:  # decided by an earlier pass (--resume)
            continue
        lines, in_function_body = _statement_lines(trees[mutant.path], mutant.line)
        reached = tests_of(mutant.path, lines)
        if in_function_body and reached:
            mutant.tests = by_cost(reached)
        elif not lines & baseline.executed_lines.get(mutant.path, set()):
            mutant.tests = []  # e.g. a branch for the other JIT setting
        else:
            # import-time code (constants, defaults, decorators, the body of a function that
            # only the import calls) acts where it is used, and the import itself happens in
            # whichever test comes first: the tests that run where the statement acts first,
            # then (unless that is all) the module's others
            if in_function_body:  # what the import made of its result is not traced
                uses, complete = {}, False
            else:
                uses, complete = _import_time_uses(trees, reads, mutant.path, mutant.line)
            first = set().union(*(tests_of(path, lines) for path, lines in uses.items()))
            mutant.tests = by_cost(first)
            if not complete:
                mutant.tests = by_cost(import_time - first) + mutant.tests
                first |= import_time
                if mutant.path not in module_tests:
                    module_tests[mutant.path] = baseline.module_tests(mutant.path) or set(
                        baseline.passed
                    )
                mutant.tests += by_cost(module_tests[mutant.path] - first)
        if not mutant.tests:
            mutant.outcome = NOT_COVERED
