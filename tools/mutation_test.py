"""Mutation testing: change the code one small step at a time and check that a test notices.

Each mutant is one small change to one line (``+`` to ``-``, ``<`` to ``<=``, a constant plus
one, a loop that never runs, ...). A mutant is *killed* when a test fails on it and *survives*
when every test still passes: a survivor points at behaviour no test pins down (or it is an
equivalent mutant, a change that cannot alter behaviour). docs/testing.md explains how to read
the output.

How it works:

1. Generation: cosmic-ray's mutation operators (a curated subset, ``OPERATORS`` below) over the
   modules under the given paths; changes inside type annotations and Numba's decorators are
   skipped.
2. Selection: the tests run once under coverage.py, with Numba's JIT off, one coverage context
   per test. A mutant runs only the passing tests that executed its statement, fastest first
   (for a statement executed at import time: those that executed the lines where it acts, then
   the module's other tests). A mutant that no passing test reaches survives as "not covered"
   without a run. Tests that fail without any mutation (in pure-Python mode) are left out and
   counted.
3. Execution: this process imports the heavy third-party modules once and forks one child per
   mutant. The child serves the mutated source of its one module through an import hook (the
   file on disk is never changed, so children can run side by side) and runs pytest with
   ``-x``. Exit 0: survived; a failure: killed; past ``TIMEOUT_FACTOR`` times the selected
   tests' baseline time: killed (timeout).

Run from the repository root:

    python tools/mutation_test.py                          # the four packages, the fast tests
    python tools/mutation_test.py neurosim/kernels         # one package
    python tools/mutation_test.py --count                  # count the mutants, run nothing
    python tools/mutation_test.py --report mutants.json    # keep every mutant's outcome
    python tools/mutation_test.py --only-survivors mutants.json   # rerun an earlier survivors
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import difflib
import importlib.abc
import importlib.util
import json
import linecache
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PATHS = (
    "neurosim/kernels",
    "neurosim/backends",
    "neurosim/recording",
    "neurosim/experiments",
)

# The tests: all of tests/ except those too slow in pure-Python mode (seconds measured with the
# JIT off on the 2-core machine), those that need the real MNIST, and this tool's own test.
# Files that never reach the mutated modules cost their run in the baseline only.
DEFAULT_TESTS = ("tests",)
SLOW_TESTS = (
    "tests/test_learning.py",  # 150 s per seed
    "tests/test_event_backend.py::test_ordering_advantage_holds_with_jitter_and_delays",  # 650
    "tests/test_event_backend.py::test_rivalry_alternates_with_jitter_and_delays",  # 190
    "tests/test_scenario.py::test_the_ambiguous_mixture_alternates_with_fake_targets_only",  # 220
    "tests/test_scenario.py::test_adaptation_overshoot_grows_with_momentum",  # 65
    # the module fixture small_run: over 7 minutes
    "tests/test_ordering.py::test_each_network_is_better_on_its_own_order",
    "tests/test_ordering.py::test_metrics_have_the_documented_dims_and_paper_values",
    "tests/test_ordering.py::test_plot_writes_a_png",
    "tests/test_mnist.py::test_small_scenario_on_real_mnist_reaches_80_percent",  # data set
    "tests/test_mnist.py::test_unsupervised_in_painting_on_real_mnist_is_far_above_chance",
    "tests/test_mnist.py::test_mstdp_learns_real_mnist_with_the_scenarios_settings",
    "tests/test_mnist.py::test_a_resumed_run_ends_as_if_it_had_never_stopped",  # 35-390
    "tests/test_mnist.py::test_tiny_classes_are_learned_far_above_chance",  # 87 each
    "tests/test_mnist.py::test_learning_curve_reads_the_network_between_batches",  # 76
    "tests/test_mnist.py::test_recurrent_topology_runs_mstdp_with_its_oscillator",  # 52
    "tests/test_mnist.py::test_pretraining_epochs_come_before_the_validated_ones",  # 37
    "tests/test_mnist.py::test_generate_mode_stores_judged_images_and_plots_them",  # 33
    "tests/test_mnist.py::test_unsupervised_mode_runs_the_pipeline",  # 23
    # the module fixture tiny_run: 49 s
    "tests/test_mnist.py::test_tiny_pipeline_writes_every_metric_with_its_dims",
    "tests/test_mnist.py::test_probe_tool_reads_the_trained_network_back",
    "tests/test_mnist.py::test_confusion_counts_every_test_digit_once",
    "tests/test_mnist.py::test_test_images_are_read_only_after_training",
    "tests/test_mnist.py::test_plot_writes_a_png",
    "tests/test_mnist.py::test_resume_refuses_what_it_cannot_continue",
    "tests/test_mutation_tool.py",
)

# cosmic-ray's core operators, one replacement per arithmetic operator instead of all eleven
# (which would multiply the binary-operator mutants by ten for little extra information).
# RemoveDecorator is left out: with the JIT off, removing @njit changes nothing.
OPERATORS = (
    "ReplaceBinaryOperator_Add_Sub",
    "ReplaceBinaryOperator_Sub_Add",
    "ReplaceBinaryOperator_Mul_Div",
    "ReplaceBinaryOperator_Div_Mul",
    "ReplaceBinaryOperator_FloorDiv_Div",
    "ReplaceBinaryOperator_Mod_FloorDiv",
    "ReplaceBinaryOperator_Pow_Mul",
    "ReplaceBinaryOperator_BitAnd_BitOr",
    "ReplaceBinaryOperator_BitOr_BitAnd",
    "ReplaceBinaryOperator_BitXor_BitOr",
    "ReplaceBinaryOperator_LShift_RShift",
    "ReplaceBinaryOperator_RShift_LShift",
    "ReplaceComparisonOperator_Lt_LtE",
    "ReplaceComparisonOperator_LtE_Lt",
    "ReplaceComparisonOperator_Gt_GtE",
    "ReplaceComparisonOperator_GtE_Gt",
    "ReplaceComparisonOperator_Lt_Gt",
    "ReplaceComparisonOperator_Gt_Lt",
    "ReplaceComparisonOperator_Eq_NotEq",
    "ReplaceComparisonOperator_NotEq_Eq",
    "ReplaceComparisonOperator_Is_IsNot",
    "ReplaceComparisonOperator_IsNot_Is",
    "ReplaceUnaryOperator_USub_UAdd",
    "ReplaceUnaryOperator_UAdd_USub",
    "ReplaceUnaryOperator_Delete_Not",
    "ReplaceUnaryOperator_Delete_Invert",
    "NumberReplacer",
    "ReplaceTrueWithFalse",
    "ReplaceFalseWithTrue",
    "ReplaceAndWithOr",
    "ReplaceOrWithAnd",
    "AddNot",
    "ReplaceBreakWithContinue",
    "ReplaceContinueWithBreak",
    "ZeroIterationForLoop",
    "ExceptionReplacer",
)

# Imported once by the parent so that each forked child starts without paying for them; never
# neurosim or the tests, which a child must import itself (one of them mutated).
PRELOADED_MODULES = (
    "numpy",
    "numba",
    "scipy",
    "scipy.sparse",
    "scipy.special",
    "scipy.stats",
    "networkx",
    "simpy",
    "zarr",
    "zarr.storage",
    "xarray",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "tqdm",
    "threadpoolctl",
    "sklearn",
    "sklearn.linear_model",
    "pytest",
    "hypothesis",
    "hypothesis.strategies",
    "_pytest.pytester",
)

# Settings of every test process: pure-Python kernels, no display, fixed hashing, and one BLAS
# thread per process since ``--jobs`` processes share the cores.
TEST_ENVIRONMENT = {
    "NUMBA_DISABLE_JIT": "1",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

# Numba's decorators: with the JIT off they return the function unchanged, so mutating their
# arguments (``cache=True``) is equivalent by construction and is skipped.
JIT_DECORATORS = frozenset({"njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil"})

# A test slower than this (alone, shared fixtures' set-up included) would dominate every mutant
# that selects it; the tests known to be slower are deselected (SLOW_TESTS) before the baseline.
DEFAULT_MAX_TEST_SECONDS = 20.0

TIMEOUT_FACTOR = 3.0
TIMEOUT_MARGIN_SECONDS = 10.0

KILLED = "killed"
TIMEOUT = "timeout"
SURVIVED = "survived"
NOT_COVERED = "not covered"
ERROR = "error"
# pytest exit codes: 1 tests failed, 2 interrupted (a collection error under -x); 3 (internal
# error) and 4 (usage error) are faults of the run, not of the mutant
PYTEST_KILLED_EXIT_CODES = {1, 2}


@dataclasses.dataclass
class Mutant:
    """One mutation of one module and, once run, its outcome."""

    path: str  # relative to the root, with forward slashes
    module: str  # the dotted import name
    line: int
    operator: str
    occurrence: int  # cosmic-ray's index of this operator's mutation in the module
    original: str  # the changed line before and after the mutation
    mutated: str
    key: str = ""  # stable across runs while the line is unchanged (see ``assign_keys``)
    outcome: str = ""
    tests: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    killed_by: str = ""

    @property
    def package(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else "."


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


# ---------------------------------------------------------------------------------------------
# Generation


def module_files(paths: Iterable[str | Path], root: Path) -> list[Path]:
    """The Python files under ``paths`` (files or folders, relative to ``root``), sorted."""
    files: set[Path] = set()
    for path in paths:
        full = (root / path).resolve()
        if full.is_dir():
            files.update(p for p in full.rglob("*.py") if "__pycache__" not in p.parts)
        elif full.suffix == ".py" and full.exists():
            files.add(full)
        else:
            raise SystemExit(f"mutation_test: {path} is neither a folder nor a Python file")
    return sorted(files)


def module_name(file: Path, root: Path) -> str:
    """The dotted import name of ``file`` relative to ``root``."""
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _operator_instance(name: str) -> Any:
    import cosmic_ray.plugins

    return cosmic_ray.plugins.get_operator(f"core/{name}")()


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _skipped_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, (line, character column), where a change cannot matter: type
    annotations (never evaluated under ``from __future__ import annotations``) and Numba's
    decorators (``cache=True`` and the like do nothing with the JIT off)."""
    lines = source.splitlines()

    def character_column(line: int, byte_column: int) -> int:
        # ast counts UTF-8 bytes, parso counts characters
        return len(lines[line - 1].encode()[:byte_column].decode(errors="ignore"))

    spans = []
    for node in ast.walk(ast.parse(source)):
        skipped: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every_argument = [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]
            skipped += [a.annotation for a in every_argument if a is not None]
            skipped.append(node.returns)
            skipped += [d for d in node.decorator_list if _decorator_name(d) in JIT_DECORATORS]
        elif isinstance(node, ast.AnnAssign):
            skipped.append(node.annotation)
        for expression in skipped:
            if expression is None or expression.end_lineno is None:
                continue
            start = (expression.lineno, character_column(expression.lineno, expression.col_offset))
            end_column = expression.end_col_offset or 0
            end = (expression.end_lineno, character_column(expression.end_lineno, end_column))
            spans.append((start, end))
    return spans


def _snapshot(node: Any) -> list[tuple[Any, str, Any]]:
    """Everything an operator may change when mutating ``node``: its parent's children and its
    own subtree's children, values and prefixes."""
    saved: list[tuple[Any, str, Any]] = []
    if node.parent is not None:
        saved.append((node.parent, "children", list(node.parent.children)))
    stack = [node]
    while stack:
        current = stack.pop()
        if hasattr(current, "children"):
            saved.append((current, "children", list(current.children)))
            stack.extend(current.children)
        else:
            saved.append((current, "value", current.value))
            saved.append((current, "prefix", current.prefix))
    return saved


def _mutated_code_in_place(tree: Any, node: Any, operator: Any, index: int) -> str:
    """The module's code with ``operator``'s ``index``-th mutation of ``node`` applied, the tree
    restored afterwards: what cosmic-ray's ``mutate_code`` returns for the same occurrence,
    without parsing the module again for every mutant."""
    saved = _snapshot(node)
    try:
        replacement = operator.mutate(node, index)
        if replacement is not node:
            siblings = node.parent.children
            position = next(i for i, child in enumerate(siblings) if child is node)
            if replacement is None:
                del siblings[position]
            else:
                siblings[position] = replacement
        return tree.get_code()
    finally:
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def _changed_line(original: str, mutated: str, line: int) -> tuple[int, str, str]:
    """The first changed line (number, before, after), looked for from ``line`` on."""
    original_lines = original.split("\n")
    mutated_lines = mutated.split("\n")
    if len(original_lines) == len(mutated_lines):
        for number in range(line, len(original_lines) + 1):
            if original_lines[number - 1] != mutated_lines[number - 1]:
                return number, original_lines[number - 1], mutated_lines[number - 1]
    matcher = difflib.SequenceMatcher(a=original_lines, b=mutated_lines, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag != "equal":
            before = original_lines[a_start] if a_start < a_end else ""
            after = mutated_lines[b_start] if b_start < b_end else ""
            return a_start + 1, before, after
    return line, original_lines[line - 1], original_lines[line - 1]


def enumerate_mutants(
    files: Sequence[Path], root: Path, operators: Sequence[str] = OPERATORS
) -> tuple[list[Mutant], dict[str, str]]:
    """Every mutant of ``files`` under ``operators``, and each file's source by relative path.

    Mutants are numbered as cosmic-ray numbers them (``occurrence``), so
    ``cosmic_ray.mutating.mutate_code(source, operator, occurrence)`` rebuilds each one.
    """
    from cosmic_ray.ast import ast_nodes, get_ast

    mutants: list[Mutant] = []
    sources: dict[str, str] = {}
    instances = [(name, _operator_instance(name)) for name in operators]
    for file in files:
        relative = file.relative_to(root).as_posix()
        source = file.read_text(encoding="utf-8")
        sources[relative] = source
        tree = get_ast(source)
        nodes = list(ast_nodes(tree))
        skipped_spans = _skipped_spans(source)
        for name, operator in instances:
            occurrence = 0
            for node in nodes:
                for index, (start, _end) in enumerate(list(operator.mutation_positions(node))):
                    this_occurrence = occurrence
                    occurrence += 1
                    if any(first <= start < last for first, last in skipped_spans):
                        continue
                    code = _mutated_code_in_place(tree, node, operator, index)
                    if code == source:
                        continue
                    line, before, after = _changed_line(source, code, start[0])
                    mutants.append(
                        Mutant(
                            path=relative,
                            module=module_name(file, root),
                            line=line,
                            operator=name,
                            occurrence=this_occurrence,
                            original=before,
                            mutated=after,
                        )
                    )
    mutants.sort(key=lambda m: (m.path, m.line, m.operator, m.occurrence))
    assign_keys(mutants)
    return mutants, sources


def assign_keys(mutants: Sequence[Mutant]) -> None:
    """Give each mutant a key that survives edits elsewhere in its file: path, operator, the
    line before and after (whitespace stripped) and a counter among mutants sharing those."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for mutant in mutants:
        identity = (mutant.path, mutant.operator, mutant.original.strip(), mutant.mutated.strip())
        mutant.key = "|".join((*identity, str(seen[identity])))
        seen[identity] += 1


# ---------------------------------------------------------------------------------------------
# Which tests reach which statement


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


def select_tests(mutants: Sequence[Mutant], sources: dict[str, str], baseline: Baseline) -> None:
    """Set each mutant's tests (passing tests that reach it, fastest first); a mutant reached by
    none survives as "not covered"."""
    trees = {path: ast.parse(source) for path, source in sources.items()}
    reads = _name_reads(trees)
    module_tests: dict[str, set[str]] = {}

    def by_cost(tests: Iterable[str]) -> list[str]:
        usable = set(tests) & baseline.passed
        return sorted(usable, key=lambda test: (baseline.test_seconds(test), test))

    def tests_of(path: str, lines: Iterable[int]) -> set[str]:
        file_lines = baseline.line_tests.get(path, {})
        return set().union(*(file_lines.get(line, set()) for line in lines))

    for mutant in mutants:
        lines, in_function_body = _statement_lines(trees[mutant.path], mutant.line)
        if in_function_body:
            mutant.tests = by_cost(tests_of(mutant.path, lines))
        elif not lines & baseline.executed_lines.get(mutant.path, set()):
            mutant.tests = []  # e.g. a branch for the other JIT setting
        else:
            # import-time code (constants, defaults, decorators) acts where it is used, and
            # the import itself happens in whichever test comes first: the tests that run
            # where the statement acts first, then (unless that is all) the module's others
            uses, complete = _import_time_uses(trees, reads, mutant.path, mutant.line)
            first = set().union(*(tests_of(path, lines) for path, lines in uses.items()))
            mutant.tests = by_cost(first)
            if not complete:
                if mutant.path not in module_tests:
                    module_tests[mutant.path] = baseline.module_tests(mutant.path) or set(
                        baseline.passed
                    )
                mutant.tests += by_cost(module_tests[mutant.path] - first)
        if not mutant.tests:
            mutant.outcome = NOT_COVERED


# ---------------------------------------------------------------------------------------------
# Child processes


def _redirect_output(log_path: Path) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = sys.__stdout__
    sys.stderr = sys.__stderr__


def _prepare_test_process(root: Path, log_path: Path) -> None:
    """A forked child's set-up: own process group (so a timeout kills what it started), the
    root as working directory, output to its log, fixed Hypothesis examples."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    os.chdir(root)
    _redirect_output(log_path)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # mutated runs must not write bytecode caches for the test modules side by side
    sys.dont_write_bytecode = True
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from hypothesis import settings
    except ImportError:
        return
    # the same examples in every run, none carried from one mutant's run to the next, and no
    # deadline (pure-Python kernels on a busy machine would make timing fail tests)
    settings.register_profile("mutation-testing", database=None, derandomize=True, deadline=None)
    settings.load_profile("mutation-testing")


def _pytest_arguments(tests: Sequence[str], root: Path, extra: Sequence[str]) -> list[str]:
    return [
        *tests,
        "-q",
        "--tb=short",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(root),
        *extra,
    ]


def _fork(child: Any) -> int:
    """Fork a child that calls ``child()`` and exits with its return value."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 3
        try:
            status = child()
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    return pid


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
        _prepare_test_process(root, log)
        import coverage

        measurement = coverage.Coverage(config_file=str(config))
        plugin = _BaselinePlugin(measurement)
        measurement.start()
        try:
            exit_code = pytest.main(_pytest_arguments(tests, root, pytest_extra), plugins=[plugin])
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
    pid = _fork(child)
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


class _MutantLoader(importlib.abc.Loader):
    """Executes the mutated source under the module's real filename (tracebacks and line numbers
    stay right); nothing is written to disk, no bytecode cache included."""

    def __init__(self, filename: str, source: str) -> None:
        self.filename = filename
        self.source = source

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        from cosmic_ray.exceptions import CosmicRayTestingException

        # ExceptionReplacer's handlers name this class; it is raised by nothing
        module.__dict__["CosmicRayTestingException"] = CosmicRayTestingException
        exec(compile(self.source, self.filename, "exec", dont_inherit=True), module.__dict__)

    def get_source(self, fullname: str) -> str:
        return self.source


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Serves the mutated source for exactly one module name."""

    def __init__(self, name: str, filename: str, source: str) -> None:
        self.name = name
        self.filename = filename
        self.source = source

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        is_package = Path(self.filename).name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname,
            self.filename,
            loader=_MutantLoader(self.filename, self.source),
            submodule_search_locations=[str(Path(self.filename).parent)] if is_package else None,
        )


def install_mutant(name: str, filename: str, source: str) -> None:
    """Make ``import name`` execute ``source`` (the mutated module) as if read from
    ``filename``."""
    sys.meta_path.insert(0, _MutantFinder(name, filename, source))
    lines = source.splitlines(keepends=True)
    # tracebacks show the mutated line (an mtime of None keeps linecache from rereading)
    linecache.cache[filename] = (len(source), None, lines, filename)


class _FirstFailure:
    def __init__(self) -> None:
        self.test = ""

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.test:
            self.test = report.nodeid

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and not self.test:
            self.test = f"collecting {report.nodeid}"


def _mutant_files(mutant: Mutant, workdir: Path) -> tuple[Path, Path]:
    """Where a mutant's run writes its pytest output and the first failing test."""
    stem = f"mutant-{mutant.path.replace('/', '_')}-{mutant.operator}-{mutant.occurrence}"
    return workdir / f"{stem}.log", workdir / f"{stem}.failure"


def _start_mutant(
    mutant: Mutant, source: str, root: Path, workdir: Path, pytest_extra: Sequence[str]
) -> int:
    from cosmic_ray.mutating import mutate_code

    log, failure = _mutant_files(mutant, workdir)

    def child() -> int:
        _prepare_test_process(root, log)
        mutated = mutate_code(source, _operator_instance(mutant.operator), mutant.occurrence)
        if mutated is None:
            print(f"cosmic-ray made no mutation for occurrence {mutant.occurrence}")
            return 4
        install_mutant(mutant.module, str(root / mutant.path), mutated)
        first_failure = _FirstFailure()
        arguments = _pytest_arguments(mutant.tests, root, [*pytest_extra, "-x"])
        exit_code = int(pytest.main(arguments, plugins=[first_failure]))
        failure.write_text(first_failure.test)
        return exit_code

    return _fork(child)


def _timeout_seconds(mutant: Mutant, baseline: Baseline) -> float:
    selected = baseline.selection_seconds(mutant.tests)
    return TIMEOUT_FACTOR * selected + baseline.collection_seconds + TIMEOUT_MARGIN_SECONDS


def _format_duration(seconds: float) -> str:
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
                pid = _start_mutant(mutant, sources[mutant.path], root, workdir, pytest_extra)
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
                mutant, start, _ = running.pop(finished_pid)
                mutant.seconds = now - start
                _judge(mutant, exit_code, workdir)
                counts[mutant.outcome] += 1
                done += 1
            if progress and (now - last_report > 30 or not (waiting or running)):
                last_report = now
                eta = _format_duration((now - started) / done * (total - done)) if done else "?"
                print(
                    f"  [{done}/{total}] killed {counts[KILLED]}, timeout {counts[TIMEOUT]}, "
                    f"survived {counts[SURVIVED]}, error {counts[ERROR]}; "
                    f"elapsed {_format_duration(now - started)}, ETA {eta}",
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
    if exit_code is None:
        mutant.outcome = TIMEOUT
    elif exit_code == 0:
        mutant.outcome = SURVIVED
    elif exit_code in PYTEST_KILLED_EXIT_CODES or exit_code < 0:  # < 0: killed by a signal
        mutant.outcome = KILLED
    else:
        mutant.outcome = ERROR
        tail = log.read_text(errors="replace")[-2000:]
        mutant.killed_by = f"exit {exit_code}: {tail}"


# ---------------------------------------------------------------------------------------------
# Results


def scores(mutants: Sequence[Mutant]) -> dict[str, dict[str, float]]:
    """Per package and "overall": mutants, each outcome's count and the score, (killed +
    timeout) / (mutants - error)."""
    groups: dict[str, list[Mutant]] = defaultdict(list)
    for mutant in mutants:
        groups[mutant.package].append(mutant)
    groups["overall"] = list(mutants)
    table: dict[str, dict[str, float]] = {}
    for name, members in groups.items():
        counts = Counter(mutant.outcome for mutant in members)
        judged = len(members) - counts[ERROR]
        row: dict[str, float] = {"mutants": len(members)}
        row.update({outcome: counts[outcome] for outcome in _OUTCOMES})
        row["score"] = (counts[KILLED] + counts[TIMEOUT]) / judged if judged else 0.0
        table[name] = row
    return table


_OUTCOMES = (KILLED, TIMEOUT, SURVIVED, NOT_COVERED, ERROR)


def format_survivor(mutant: Mutant) -> str:
    return f"{mutant.path}:{mutant.line}  {mutant.operator}  {mutant.mutated.strip()}"


def print_results(mutants: Sequence[Mutant]) -> None:
    for outcome, title in ((SURVIVED, "Survived"), (NOT_COVERED, "Not covered by any test")):
        listed = [mutant for mutant in mutants if mutant.outcome == outcome]
        if listed:
            print(f"\n{title} ({len(listed)}):")
            for mutant in listed:
                print(f"  {format_survivor(mutant)}")
    errors = [mutant for mutant in mutants if mutant.outcome == ERROR]
    if errors:
        print(f"\nErrors of the run itself, not counted ({len(errors)}):")
        for mutant in errors:
            print(f"  {format_survivor(mutant)}\n    {mutant.killed_by.strip()[-300:]}")
    table = scores(mutants)
    width = max(len(name) for name in table)
    header = "mutants  killed  timeout  survived  not covered  error   score"
    print(f"\n{'package':<{width}}  {header}")
    for name, row in table.items():
        print(
            f"{name:<{width}}  {row['mutants']:7.0f}  {row[KILLED]:6.0f}  {row[TIMEOUT]:7.0f}  "
            f"{row[SURVIVED]:8.0f}  {row[NOT_COVERED]:11.0f}  {row[ERROR]:5.0f}  "
            f"{100 * row['score']:5.1f} %"
        )


def write_report(
    path: Path,
    mutants: Sequence[Mutant],
    baseline: Baseline | None,
    paths: Sequence[str],
    tests: Sequence[str],
    operators: Sequence[str],
    seconds: float,
    deselected: Sequence[str] = (),
) -> None:
    """Every mutant's outcome as JSON, to compare one pass with a later one."""
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "paths": list(paths),
        "tests": list(tests),
        "deselected": list(deselected),
        "operators": list(operators),
        "seconds": round(seconds, 1),
        "baseline": None
        if baseline is None
        else {
            "passed": len(baseline.passed),
            "failed_without_mutation": baseline.failed,
            "left_out_as_slow": baseline.slow,
            "skipped": baseline.skipped,
            "seconds": round(baseline.seconds, 1),
        },
        "scores": scores(mutants),
        "mutants": [dataclasses.asdict(mutant) for mutant in mutants],
    }
    path.write_text(json.dumps(report, indent=1) + "\n")


def survivor_keys(report_path: Path) -> tuple[set[str], dict[str, Any]]:
    """The keys of an earlier report's survivors (run or not covered), and the report."""
    report = json.loads(report_path.read_text())
    keys = {
        mutant["key"]
        for mutant in report["mutants"]
        if mutant["outcome"] in (SURVIVED, NOT_COVERED)
    }
    return keys, report


def count_table(mutants: Sequence[Mutant]) -> str:
    by_package = Counter(mutant.package for mutant in mutants)
    by_operator = Counter(mutant.operator for mutant in mutants)
    lines = ["package                     mutants"]
    lines += [f"{package:<28}{count:7d}" for package, count in sorted(by_package.items())]
    lines.append(f"{'overall':<28}{len(mutants):7d}")
    lines.append("\noperator                                  mutants")
    lines += [f"{name:<42}{count:7d}" for name, count in by_operator.most_common()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _preload() -> None:
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for name in PRELOADED_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python tools/mutation_test.py",
        description="Mutation testing with cosmic-ray's operators and a forking test runner.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        help=f"folders or modules to mutate (default: {' '.join(DEFAULT_PATHS)})",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        help="test files, folders or node ids (default: tests/ less SLOW_TESTS)",
    )
    parser.add_argument("-k", "--keyword", help="pytest -k expression to narrow the tests")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument(
        "--max-test-seconds",
        type=float,
        default=DEFAULT_MAX_TEST_SECONDS,
        help="leave out tests that take longer alone in pure-Python mode "
        f"(default {DEFAULT_MAX_TEST_SECONDS:g})",
    )
    parser.add_argument("--limit", type=int, help="run only the first N mutants")
    parser.add_argument("--sample", type=int, help="run a random sample of N mutants")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument(
        "--operators",
        nargs="+",
        help="operators to use (names from OPERATORS, or any prefix such as ReplaceBinary)",
    )
    parser.add_argument("--report", type=Path, help="write every mutant's outcome here (JSON)")
    parser.add_argument(
        "--only-survivors",
        type=Path,
        metavar="REPORT",
        help="rerun only the survivors of an earlier --report",
    )
    parser.add_argument("--count", action="store_true", help="count the mutants and stop")
    parser.add_argument("--log-dir", type=Path, help="keep each mutant's pytest output here")
    parser.add_argument(
        "--root", type=Path, default=REPOSITORY_ROOT, help="where module names start"
    )
    return parser.parse_args(argv)


def _chosen_operators(requested: Sequence[str] | None) -> list[str]:
    if not requested:
        return list(OPERATORS)
    chosen = [name for name in OPERATORS if any(name.startswith(r) for r in requested)]
    if not chosen:
        raise SystemExit(f"mutation_test: no operator matches {requested}; see OPERATORS")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    # the test processes are forks of this one, so their settings must be in place before
    # this interpreter starts (hash seed) or before numpy and numba are imported
    if any(os.environ.get(name) != value for name, value in TEST_ENVIRONMENT.items()):
        environment = {**os.environ, **TEST_ENVIRONMENT}
        command = list(sys.argv[1:] if argv is None else argv)
        os.execve(
            sys.executable, [sys.executable, str(Path(__file__).resolve()), *command], environment
        )

    arguments = _parse_arguments(argv)
    root = arguments.root.resolve()
    earlier: dict[str, Any] | None = None
    wanted_keys: set[str] | None = None
    if arguments.only_survivors:
        wanted_keys, earlier = survivor_keys(arguments.only_survivors)
    paths = arguments.paths or (earlier["paths"] if earlier else list(DEFAULT_PATHS))
    tests = arguments.tests or (earlier["tests"] if earlier else list(DEFAULT_TESTS))
    if arguments.tests:
        deselected = []
    else:
        deselected = earlier.get("deselected", SLOW_TESTS) if earlier else list(SLOW_TESTS)
    requested_operators = arguments.operators or (earlier["operators"] if earlier else None)
    operators = _chosen_operators(requested_operators)
    files = module_files(paths, root)

    started = time.perf_counter()
    mutants, sources = enumerate_mutants(files, root, operators)
    modules = f"{len(files)} module{'s' if len(files) != 1 else ''}"
    print(f"{len(mutants)} mutants in {modules} ({time.perf_counter() - started:.1f} s)")
    if wanted_keys is not None:
        mutants = [mutant for mutant in mutants if mutant.key in wanted_keys]
        missing = len(wanted_keys) - len(mutants)
        print(f"{len(mutants)} survivors of {arguments.only_survivors} to rerun", end="")
        print(f" ({missing} no longer found: their lines changed)" if missing else "")
    if arguments.sample is not None:
        chosen = random.Random(arguments.seed).sample(mutants, min(arguments.sample, len(mutants)))
        mutants = sorted(chosen, key=lambda m: (m.path, m.line, m.operator, m.occurrence))
    if arguments.limit is not None:
        mutants = mutants[: arguments.limit]
    if arguments.count:
        print(count_table(mutants))
        return 0

    _preload()
    with contextlib.ExitStack() as stack:
        if arguments.log_dir:
            workdir = arguments.log_dir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mutation-")))
        pytest_extra = [f"--deselect={test}" for test in deselected]
        if arguments.keyword:
            pytest_extra += ["-k", arguments.keyword]
        print(f"baseline: {' '.join(tests)} under coverage, JIT off ...", flush=True)
        baseline = run_baseline(root, tests, files, workdir, pytest_extra)
        print(
            f"baseline: {len(baseline.passed)} passed, {baseline.skipped} skipped, "
            f"{len(baseline.failed)} failing without mutation (left out) "
            f"in {_format_duration(baseline.seconds)}"
        )
        for test in baseline.failed:
            print(f"  left out, failing: {test}")
        baseline.leave_out_slow(arguments.max_test_seconds)
        for test in baseline.slow:
            seconds = baseline.test_seconds(test)
            print(f"  left out, {seconds:.0f} s > {arguments.max_test_seconds:g} s: {test}")
        select_tests(mutants, sources, baseline)
        to_run = sum(not mutant.outcome for mutant in mutants)
        print(f"{to_run} mutants to run, {len(mutants) - to_run} reached by no passing test")
        interrupted = False
        try:
            run_mutants(mutants, sources, baseline, root, workdir, arguments.jobs)
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: the mutants finished so far")

    seconds = time.perf_counter() - started
    print_results([mutant for mutant in mutants if mutant.outcome])
    changed = [path for path, source in sources.items() if _read(root / path) != source]
    if changed:
        # the mutants ran on the code read at the start, the baseline on the files on disk
        print(f"\nchanged on disk during the run (line numbers may be off): {', '.join(changed)}")
    print(f"\ntime: {_format_duration(seconds)}")
    if arguments.report:
        write_report(
            arguments.report, mutants, baseline, paths, tests, operators, seconds, deselected
        )
        print(f"report: {arguments.report}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
