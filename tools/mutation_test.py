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
   ``-x``. Exit 0: survived; a failure: killed; one test past ``TIMEOUT_FACTOR`` times its
   own baseline time, or the run past that factor times the selected tests' time: killed
   (timeout).

Run from the repository root:

    python tools/mutation_test.py                          # the four packages, the fast tests
    python tools/mutation_test.py neurosim/kernels         # one package
    python tools/mutation_test.py --count                  # count the mutants, run nothing
    python tools/mutation_test.py --report mutants.json    # keep every mutant's outcome
    python tools/mutation_test.py --only-survivors mutants.json   # rerun an earlier survivors
    python tools/mutation_test.py --resume mutants.json   # go on with an interrupted pass
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# the parts live in tools/mutation/; this script's folder is on sys.path when it runs
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutation.execution import format_duration, run_mutants
from mutation.generation import OPERATORS, enumerate_mutants, module_files
from mutation.processes import TEST_ENVIRONMENT
from mutation.results import (
    count_table,
    decided_outcomes,
    print_results,
    survivor_keys,
    take_decided,
    write_report,
)
from mutation.selection import run_baseline, select_tests

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
    "tests/test_mnist_real.py",  # the real data set: minutes
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
    # measured under coverage on 2026-12-06 (seconds, set-up of shared fixtures included)
    "tests/test_mnist.py::test_figure_leaves_the_matplotlib_backend_to_the_caller",  # 102
    "tests/test_mnist.py::test_every_evaluation_runs_with_the_test_time_model",  # 62
    "tests/test_mnist.py::test_a_stopped_run_keeps_the_epochs_it_finished",  # 36
    "tests/test_mnist.py::test_a_network_that_knows_the_classes_predicts_every_label",  # 25
    "tests/test_mnist.py::test_interference_tool_measures_one_digits_pull_on_the_answers",  # 23
    "tests/test_continual.py::test_a_stream_killed_and_resumed_ends_as_if_never_stopped",  # 186
    # the module fixture of the continual stream: 85 s
    "tests/test_continual.py::test_the_recorded_metrics_match_the_formulas_from_the_recorded_"
    "predictions",
    "tests/test_continual.py::test_the_store_opens_in_xarray_with_named_dims",
    "tests/test_continual.py::test_the_stream_learns_each_task_it_trains",
    "tests/test_continual.py::test_split_mnist_shows_each_task_its_classes_and_probes_them",  # 54
    "tests/test_continual.py::test_task_incremental_answers_only_within_the_task",  # 33
    # killed and resumed runs in subprocesses: 25-52 s each
    "tests/test_resume.py::test_a_killed_ordering_experiment_resumes_to_the_same_results",
    "tests/test_resume.py::test_a_killed_phases_run_resumes_to_the_uninterrupted_run_bit_for_bit",
    "tests/test_resume.py::test_a_run_stopped_by_sigterm_checkpoints_where_it_stopped",
    "tests/test_spiking.py::test_a_killed_spiking_run_resumes_to_the_uninterrupted_run",
    # 36, 202 and 74 s
    "tests/test_spiking.py::test_binomial_trains_fire_with_probability_rate_times_dt_per_step",
    "tests/test_superspike.py::test_one_neuron_learns_its_target_spikes_alike_on_both_backends",
    "tests/test_bcm.py::test_a_fast_threshold_settles_and_a_slow_one_runs_away_alike_on_both_backends",
    "tests/test_tutorial.py",  # every block of the tutorial, its stream resumed: over 10 minutes
    # 31-45, 30-70 and 20-24 s under coverage; tests/test_stdp_*_pieces.py cover what they check
    "tests/test_stdp_curve.py::test_bernoulli_trains_have_the_right_mean_and_independent_channels",
    "tests/test_stdp_curve.py::test_the_same_seed_gives_the_same_metrics",
    "tests/test_stdp_window.py::test_each_eps_reading_runs_its_eps_and_says_so",
    "tests/test_mnist.py::test_generated_images_show_their_label_on_a_network_that_knows_the_"
    "classes",  # 21-24 s; tests/test_mnist_pieces.py covers what it checks
)


# Run first for every mutant of module-level code (a key's default, its allowed range, its doc,
# a rule's spec or code): each reads a table through a registry, by name, so coverage never ties
# it to the module that defines it, yet it fails on a change to it. The generated key reference
# reads every section's keys; the others read the rules' specs (RULE_SPECS), the spiking
# rules' codes (RULE_CODES, looked up by the model), the random streams' numbers and the
# backends' entries (registry.backend). A name without parameters means each case.
IMPORT_TIME_TESTS = (
    "tests/test_key_reference.py::test_the_generated_page_is_current",
    "tests/test_registry_of_rules.py::test_fake_targets_are_refused_for_a_rule_without_dz",
    "tests/test_registry_of_rules.py::test_only_mstdp_learns_in_the_clamped_phases_alone",
    "tests/test_registry_of_rules.py::test_a_registered_rule_spec_cannot_be_changed",
    "tests/test_spiking.py::test_rule_none_leaves_the_weights_whatever_the_other_rules_parameters",
    "tests/test_event_backend.py::test_the_clock_jitter_draws_from_a_random_stream_of_its_own",
    "tests/test_backend_contract.py::test_the_backend_is_registered_under_its_name",
    "tests/test_mnist_pieces.py::"
    "test_a_backend_that_cannot_run_batches_is_refused_with_the_one_that_can",
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


# A test slower than this (alone, shared fixtures' set-up included) would dominate every mutant
# that selects it; the tests known to be slower are deselected (SLOW_TESTS) before the baseline.
DEFAULT_MAX_TEST_SECONDS = 20.0


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


def stop_on_interrupt_or_term() -> None:
    """Make Ctrl-C and SIGTERM stop the pass with its report written. A process started in the
    background by a non-interactive shell (``nohup ... &``) inherits SIGINT ignored, and
    Python then never raises KeyboardInterrupt: so set both handlers here."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


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
        help="test files, folders or node ids (default: tests/); SLOW_TESTS not named are left out",
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
        help="rerun only the survivors (and run errors) of an earlier --report",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="REPORT",
        help="take the outcomes an earlier (interrupted) --report decided and run the rest",
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
    if arguments.only_survivors and arguments.resume:
        raise SystemExit("mutation_test: --only-survivors and --resume do not go together")
    if arguments.only_survivors:
        wanted_keys, earlier = survivor_keys(arguments.only_survivors)
    decided: dict[str, dict[str, Any]] = {}
    if arguments.resume:
        decided, earlier = decided_outcomes(arguments.resume)
    paths = arguments.paths or (earlier["paths"] if earlier else list(DEFAULT_PATHS))
    tests = arguments.tests or (earlier["tests"] if earlier else list(DEFAULT_TESTS))
    if arguments.tests:
        # the slow tests inside the files named are still left out, unless named themselves
        deselected = [slow for slow in SLOW_TESTS if slow not in arguments.tests]
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
    if decided:
        taken = take_decided(mutants, decided)
        print(f"{taken} outcomes taken from {arguments.resume}, {len(mutants) - taken} to decide")
    if arguments.sample is not None:
        chosen = random.Random(arguments.seed).sample(mutants, min(arguments.sample, len(mutants)))
        mutants = sorted(chosen, key=lambda m: (m.path, m.line, m.operator, m.occurrence))
    if arguments.limit is not None:
        mutants = mutants[: arguments.limit]
    if arguments.count:
        print(count_table(mutants))
        return 0

    _preload()
    stop_on_interrupt_or_term()
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
            f"in {format_duration(baseline.seconds)}"
        )
        for test in baseline.failed:
            print(f"  left out, failing: {test}")
        baseline.leave_out_slow(arguments.max_test_seconds)
        for test in baseline.slow:
            seconds = baseline.test_seconds(test)
            print(f"  left out, {seconds:.0f} s > {arguments.max_test_seconds:g} s: {test}")
        select_tests(mutants, sources, baseline, IMPORT_TIME_TESTS)
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
    print(f"\ntime: {format_duration(seconds)}")
    if arguments.report:
        write_report(
            arguments.report, mutants, baseline, paths, tests, operators, seconds, deselected
        )
        print(f"report: {arguments.report}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
