"""Forked test processes: their settings, and the import hook that serves a mutated module
from memory (nothing is written to disk, so children run side by side)."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import linecache
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def _redirect_output(log_path: Path) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = sys.__stdout__
    sys.stderr = sys.__stderr__


def prepare_test_process(root: Path, log_path: Path) -> None:
    """A forked child's set-up: own process group (so a timeout kills what it started), the
    root as working directory, output to its log, fixed Hypothesis examples."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    os.chdir(root)
    _redirect_output(log_path)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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


def pytest_arguments(tests: Sequence[str], root: Path, extra: Sequence[str]) -> list[str]:
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


def fork(child: Any) -> int:
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
