"""tools/mutation_test.py's parts on a throwaway module and its test: generation, coverage-based
selection, forked runs with the mutated source served from memory, the score and the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# the tool's parts, imported as tools/mutation_test.py imports them
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from mutation import execution, generation, results, selection

MODULE = """\
def offset(x):
    return x + 1


def scaled(x):
    return x * 3


def halved(x):
    return x / 2


def unused(x):
    return x - 2
"""

TESTS = """\
import pytest

from throwaway_arithmetic import halved, offset, scaled


@pytest.fixture(scope="module")
def half():
    return halved(3)


def test_offset():
    assert offset(2) == 3


def test_scaled_runs():
    scaled(2)


def test_broken_without_any_mutation():
    assert offset(0) == 5


def test_half_is_set_up(half):
    assert half is not None


def test_half_is_right(half):
    assert half == 1.5
"""

OPERATORS = [
    "ReplaceBinaryOperator_Add_Sub",
    "ReplaceBinaryOperator_Mul_Div",
    "ReplaceBinaryOperator_Div_Mul",
    "ReplaceBinaryOperator_Sub_Add",
]


def test_killed_surviving_and_not_covered_mutants(tmp_path: Path) -> None:
    """``x + 1`` is pinned by a test, ``x * 3`` only run, ``x / 2`` checked through a module
    fixture set up in another test's set-up, ``x - 2`` never run."""
    (tmp_path / "throwaway_arithmetic.py").write_text(MODULE)
    (tmp_path / "test_throwaway_arithmetic.py").write_text(TESTS)
    files = generation.module_files(["throwaway_arithmetic.py"], tmp_path)
    mutants, sources = generation.enumerate_mutants(files, tmp_path, OPERATORS)
    assert [(m.line, m.mutated.strip()) for m in mutants] == [
        (2, "return x - 1"),
        (6, "return x / 3"),
        (10, "return x * 2"),
        (14, "return x + 2"),
    ]

    work = tmp_path / "work"
    work.mkdir()
    baseline = selection.run_baseline(tmp_path, ["test_throwaway_arithmetic.py"], files, work)
    test_ids = "test_throwaway_arithmetic.py::test_"
    offset, scaled, half_set_up, half_right = (
        f"{test_ids}{name}" for name in ("offset", "scaled_runs", "half_is_set_up", "half_is_right")
    )
    assert baseline.passed == {offset, scaled, half_set_up, half_right}
    assert baseline.failed == [f"{test_ids}broken_without_any_mutation"]
    assert baseline.fixture_creators == {half_right: {half_set_up}}

    selection.select_tests(mutants, sources, baseline)
    assert [set(m.tests) for m in mutants] == [
        {offset},
        {scaled},
        {half_set_up, half_right},
        set(),
    ]
    execution.run_mutants(mutants, sources, baseline, tmp_path, work, jobs=2, progress=False)
    assert [m.outcome for m in mutants] == ["killed", "survived", "killed", "not covered"]
    assert (mutants[0].killed_by, mutants[2].killed_by) == (offset, half_right)
    assert (tmp_path / "throwaway_arithmetic.py").read_text() == MODULE  # never written

    overall = results.scores(mutants)["overall"]
    assert (overall["mutants"], overall["killed"], overall["survived"]) == (4, 2, 1)
    assert overall["not covered"] == 1
    assert overall["score"] == 2 / 4
    assert results.format_survivor(mutants[1]) == (
        "throwaway_arithmetic.py:6  ReplaceBinaryOperator_Mul_Div  return x / 3"
    )

    report = tmp_path / "report.json"
    results.write_report(report, mutants, baseline, ["."], ["tests"], OPERATORS, 1.0)
    written = json.loads(report.read_text())
    outcomes = [m["outcome"] for m in written["mutants"]]
    assert outcomes == ["killed", "survived", "killed", "not covered"]
    assert written["baseline"]["failed_without_mutation"] == baseline.failed
    # --only-survivors finds the same two mutants again by key, and a run error too
    keys, _ = results.survivor_keys(report)
    again, _ = generation.enumerate_mutants(files, tmp_path, OPERATORS)
    assert [m.line for m in again if m.key in keys] == [6, 14]
    errored = json.loads(report.read_text())
    errored["mutants"][0]["outcome"] = "error"
    (tmp_path / "errored.json").write_text(json.dumps(errored))
    keys, _ = results.survivor_keys(tmp_path / "errored.json")
    assert [m.line for m in again if m.key in keys] == [mutants[0].line, 6, 14]

    # --resume: a pass interrupted after two mutants takes their outcomes and runs the rest
    written["mutants"][1]["outcome"] = ""  # not reached before the interruption
    written["mutants"][2]["outcome"] = "error"  # an error of the run is decided again
    interrupted = tmp_path / "interrupted.json"
    interrupted.write_text(json.dumps(written))
    decided, _ = results.decided_outcomes(interrupted)
    resumed, _ = generation.enumerate_mutants(files, tmp_path, OPERATORS)
    assert results.take_decided(resumed, decided) == 2
    assert [m.outcome for m in resumed] == ["killed", "", "", "not covered"]
    assert resumed[0].killed_by == offset
    selection.select_tests(resumed, sources, baseline)
    assert [set(m.tests) for m in resumed[1:3]] == [{scaled}, {half_set_up, half_right}]
    execution.run_mutants(resumed, sources, baseline, tmp_path, work, jobs=2, progress=False)
    assert [m.outcome for m in resumed] == ["killed", "survived", "killed", "not covered"]


def test_the_fast_mutation_is_the_one_cosmic_ray_makes(tmp_path: Path) -> None:
    """The mutated line reported for each mutant is the one cosmic-ray's ``mutate_code``
    produces for that operator and occurrence (the child process runs the latter)."""
    from cosmic_ray.mutating import mutate_code

    source = (
        "import numba\n\n\n"
        "@numba.njit(cache=True)\n"
        "def f(x: int | None, flag=True) -> float:\n"
        "    if x is None or not flag:\n"
        "        return -1.5\n"
        "    for k in range(3):\n"
        "        if k >= x and k != 2:\n"
        "            break\n"
        "    try:\n"
        "        return (x ** 2 + x // 2 - x % 3) / 4 * (x << 1 ^ x & 1 | x >> 2)\n"
        "    except (ValueError, KeyError):\n"
        "        return 0\n"
    )
    (tmp_path / "sample.py").write_text(source)
    mutants, _ = generation.enumerate_mutants([tmp_path / "sample.py"], tmp_path)
    assert len(mutants) > 40
    # nothing in the annotations or in Numba's decorator
    assert not [m for m in mutants if m.line in (4, 5) and m.operator != "ReplaceTrueWithFalse"]
    for mutant in mutants:
        mutated = mutate_code(
            source, generation.operator_instance(mutant.operator), mutant.occurrence
        )
        assert generation.changed_line(source, mutated, 1) == (
            mutant.line,
            mutant.original,
            mutant.mutated,
        )


def test_import_time_mutants_run_the_tests_where_the_statement_acts_first(tmp_path: Path) -> None:
    """A constant's mutant runs the import-time tests and the tests that read the constant
    first, then the module's other tests; a default's mutant only the tests that run its
    function; a function body that only the import ran, the import-time tests and the
    module's others; a statement that never ran (the branch for the other JIT setting) is not
    covered."""
    source = (
        "import os\n"
        "\n"
        "if os.environ.get('NEVER_SET_ANYWHERE'):\n"
        "    LIMIT = 9\n"
        "else:\n"
        "    LIMIT = 3\n"
        "\n"
        "\n"
        "def capped(x, floor=0):\n"
        "    return min(max(x, floor), LIMIT)\n"
        "\n"
        "\n"
        "def doubled(x):\n"
        "    return 2 * x\n"
        "\n"
        "\n"
        "def described():\n"
        "    return 'at most ' + str(5)\n"
        "\n"
        "\n"
        "DESCRIPTION = described()\n"
    )
    (tmp_path / "constants.py").write_text(source)
    mutants, sources = generation.enumerate_mutants(
        [tmp_path / "constants.py"], tmp_path, ["NumberReplacer"]
    )
    reads_limit, reads_floor, doubles = "t.py::test_capped", "t.py::test_floor", "t.py::test_double"
    # reads the module's tables by name, so coverage ties it to none of their lines
    page = "t.py::test_page"
    # named without parameters: each case; a test whose name only starts alike: not
    cases = ["t.py::test_registry[x]", "t.py::test_registry[y]"]
    alike = "t.py::test_registry_more"
    baseline = selection.Baseline(
        durations={
            reads_limit: 2.0,
            reads_floor: 3.0,
            doubles: 1.0,
            page: 5.0,
            cases[0]: 0.5,
            cases[1]: 0.7,
            alike: 0.1,
        },
        setup_durations={},
        passed={reads_limit, reads_floor, doubles, page, *cases, alike},
        failed=[],
        skipped=0,
        line_tests={"constants.py": {10: {reads_limit, reads_floor}, 14: {doubles}}},
        executed_lines={"constants.py": {1, 3, 6, 9, 10, 13, 14, 17, 18, 21}},
        fixture_creators={},
        collection_seconds=0.0,
        seconds=0.0,
    )
    selection.select_tests(
        mutants, sources, baseline, import_time_tests=[page, "t.py::test_registry"]
    )
    selected = {(m.line, m.mutated.strip()): (m.outcome, m.tests) for m in mutants}
    assert selected[(4, "LIMIT = 10")] == ("not covered", [])
    # the import-time tests (fastest first), the tests reading LIMIT, then the module's other
    assert selected[(6, "LIMIT = 4")] == ("", [*cases, page, reads_limit, reads_floor, doubles])
    # a default acts only in a call: the tests that run the function are all it needs
    assert selected[(9, "def capped(x, floor= 1):")] == ("", [reads_limit, reads_floor])
    assert selected[(14, "return 3 * x")] == ("", [doubles])
    # a function body run only by the import: the import-time tests, then the module's others
    assert selected[(18, "return 'at most ' + str( 6)")] == (
        "",
        [*cases, page, doubles, reads_limit, reads_floor],
    )


def test_a_mutant_that_breaks_a_test_module_s_import_is_killed(tmp_path: Path) -> None:
    """A constant a test module checks when it is imported: pytest, given the selected test
    ids, reports the broken import as a usage error (exit 4), which still kills the mutant."""
    (tmp_path / "throwaway_limits.py").write_text("LIMIT = 3\n\n\ndef limit():\n    return LIMIT\n")
    (tmp_path / "test_throwaway_limits.py").write_text(
        "from throwaway_limits import LIMIT, limit\n\n"
        "assert LIMIT == 3, 'the limit the tests below are written for'\n\n\n"
        "def test_limit():\n    assert limit() >= 0\n"
    )
    files = generation.module_files(["throwaway_limits.py"], tmp_path)
    mutants, sources = generation.enumerate_mutants(files, tmp_path, ["NumberReplacer"])
    assert [m.mutated.strip() for m in mutants] == ["LIMIT = 4", "LIMIT = 2"]
    work = tmp_path / "work"
    work.mkdir()
    baseline = selection.run_baseline(tmp_path, ["test_throwaway_limits.py"], files, work)
    selection.select_tests(mutants, sources, baseline)
    execution.run_mutants(mutants, sources, baseline, tmp_path, work, jobs=1, progress=False)
    assert [m.outcome for m in mutants] == ["killed", "killed"]
    assert mutants[0].killed_by == "collecting test_throwaway_limits.py"


def test_a_mutant_that_hangs_in_one_test_is_stopped_at_that_test_s_deadline(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A mutant that turns a countdown into an endless loop hangs in the first test; it is a
    timeout once that test runs past its own limit, long before the whole selection's."""
    (tmp_path / "throwaway_countdown.py").write_text(
        "def countdown(n):\n    while n > 0:\n        n = n - 1\n    return n\n"
    )
    tests = "".join(
        f"def test_countdown_{i}():\n    assert countdown({i}) == 0\n\n\n" for i in range(1, 4)
    )
    (tmp_path / "test_throwaway_countdown.py").write_text(
        f"from throwaway_countdown import countdown\n\n\n{tests}"
    )
    files = generation.module_files(["throwaway_countdown.py"], tmp_path)
    mutants, sources = generation.enumerate_mutants(
        files, tmp_path, ["ReplaceBinaryOperator_Sub_Add"]
    )
    assert [m.mutated.strip() for m in mutants] == ["n = n + 1"]
    work = tmp_path / "work"
    work.mkdir()
    baseline = selection.run_baseline(tmp_path, ["test_throwaway_countdown.py"], files, work)
    selection.select_tests(mutants, sources, baseline)
    assert len(mutants[0].tests) == 3
    monkeypatch.setattr(execution, "TEST_TIMEOUT_MARGIN_SECONDS", 1.0)
    monkeypatch.setattr(execution, "TIMEOUT_MARGIN_SECONDS", 60.0)
    execution.run_mutants(mutants, sources, baseline, tmp_path, work, jobs=1, progress=False)
    assert mutants[0].outcome == "timeout"
    assert mutants[0].killed_by == mutants[0].tests[0]
    assert mutants[0].seconds < 30.0  # the whole run's deadline is over 60 s


def test_an_interrupt_or_term_stops_the_pass_even_when_sigint_was_ignored() -> None:
    """A pass started with ``nohup ... &`` inherits SIGINT ignored; the tool's handlers turn
    both SIGINT and SIGTERM into the KeyboardInterrupt after which it writes its report."""
    import signal

    import pytest

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import mutation_test

    saved = {name: signal.getsignal(name) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        mutation_test.stop_on_interrupt_or_term()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with pytest.raises(KeyboardInterrupt, match=signal.Signals(signum).name):
                signal.raise_signal(signum)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_every_slow_or_import_time_test_names_a_test_that_exists() -> None:
    # a renamed slow test would otherwise come back into every mutant's run unnoticed, and a
    # renamed import-time test would silently stop running
    import mutation_test

    root = Path(__file__).resolve().parent.parent
    for entry in (*mutation_test.SLOW_TESTS, *mutation_test.IMPORT_TIME_TESTS):
        file, _, name = entry.partition("::")
        source = (root / file).read_text()
        assert not name or f"def {name}(" in source, entry
