"""The ``neurosim`` command: its arguments, and errors turned into one-line messages (what
each command does is in ``neurosim.commands``).

Exit codes: 0 done, 1 the run failed, 2 bad input (nothing written), 130 interrupted, 141 the
reader of the output went away (``neurosim inspect STORE | head``). Every error is one line on
stderr naming the value, file or path and what to do; an error that is a bug in neurosim says
so, and ``neurosim --debug COMMAND`` adds the traceback to any error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from neurosim import __version__, commands
from neurosim.commands import (
    EXIT_BAD_INPUT,
    EXIT_CLOSED_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
)
from neurosim.errors import CheckpointWarning, NeurosimError, ValidationError
from neurosim.filesystem import (
    PATH_ERRNOS,
    describe_os_error,
)
from neurosim.registry import backend_names, experiment_kinds

if TYPE_CHECKING:
    pass

_DATA_DIR_HELP = (
    "folder where MNIST or Fashion-MNIST is looked for first (the files in DIR or DIR/NAME/; "
    "see neurosim data check); with --resume, looked in when the folder the run started with "
    "no longer holds it"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosim",
        description="Simulate local, STDP-like learning in energy-based recurrent networks.",
    )
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of any error before its one-line message",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = subcommands.add_parser("run", help="run a scenario file and record it in a run store")
    run.add_argument(
        "scenario",
        nargs="?",
        help="scenario file (TOML) or the name of a built-in scenario (neurosim scenarios)",
    )
    run.add_argument(
        "--resume",
        metavar="STORE",
        help="continue the stopped run in STORE from its newest valid checkpoint (phases runs "
        "and every experiment kind that checkpoints)",
    )
    run.add_argument("--out", help="run store directory (default: runs/NAME.zarr)")
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set model.alpha=1e-3 (repeatable); a relative "
        "path is taken from the working directory",
    )
    run.add_argument(
        "--topology",
        metavar="FILE",
        help="run on this GraphML topology instead of the scenario's [topology] (its builder "
        "and arguments dropped, its layout kept); the same as --set topology.path=FILE",
    )
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="the scenario's master seed")
    seeds.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="N",
        help="one run per seed (stores OUT-seedN.zarr), with mean and spread",
    )
    run.add_argument("--backend", choices=backend_names(), help="the backend")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run store")
    run.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=commands.run)
    sweep = subcommands.add_parser(
        "sweep", help="run a grid of scenario keys x seeds on a Dask cluster (neurosim[sweep])"
    )
    sweep.add_argument("scenario", help="scenario file (TOML) or the name of a built-in one")
    sweep.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="a swept key and its values in TOML syntax, e.g. --grid model.alpha=1e-3,1e-2 "
        "(repeatable: the sweep is the product)",
    )
    sweep.add_argument(
        "--seeds", nargs="+", default=["0"], metavar="SEEDS", help="e.g. 0-9, or 0 3 7"
    )
    sweep.add_argument("--set", action="append", metavar="KEY=VALUE", help="as for run")
    sweep.add_argument("--topology", metavar="FILE", help="as for run")
    sweep.add_argument(
        "--retries", type=int, default=1, help="retries of a run that raises (default 1)"
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: cores, <= 4)")
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    sweep.add_argument("--out", help="the sweep's folder (default: runs/NAME-sweep)")
    sweep.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=commands.sweep)
    scenarios = subcommands.add_parser(
        "scenarios", help="list the built-in scenarios, each with its description"
    )
    scenarios.set_defaults(handler=commands.scenarios)
    keys = subcommands.add_parser(
        "keys", help="the reference of every scenario key: allowed values, default, meaning"
    )
    keys.add_argument(
        "section", nargs="?", help="one section, e.g. phase, model, experiment.mnist (default: all)"
    )
    keys.add_argument(
        "--markdown", action="store_true", help="Markdown tables (docs/scenario-keys.md)"
    )
    keys.set_defaults(handler=commands.keys)
    inspect = subcommands.add_parser("inspect", help="summarise a run store")
    inspect.add_argument("path", help="run store directory")
    inspect.add_argument(
        "--verify",
        action="store_true",
        help="check that every chunk of committed data is on disk; exit 1 naming those missing",
    )
    inspect.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object (status, steps, attributes, arrays, metric "
        "values)",
    )
    inspect.set_defaults(handler=commands.inspect)
    export = subcommands.add_parser(
        "export",
        help="write a run store as NetCDF, CSV or NumPy .npz files, or its trained "
        "network as GraphML",
    )
    export.add_argument("path", help="run store directory")
    export.add_argument(
        "--format",
        required=True,
        metavar="{netcdf,csv,npz,graphml}",
        help="netcdf: one NetCDF-3 file per group; csv: a folder of long-format CSVs; "
        "npz: one NumPy .npz; graphml: the trained network as a topology file",
    )
    export.add_argument(
        "-o",
        "--output",
        help="npz or graphml file, csv folder, or netcdf base name (default: from the store's "
        "path)",
    )
    export.add_argument(
        "--snapshot",
        type=int,
        metavar="N",
        help="graphml: the weight snapshot to write (0 is the first; default: the last)",
    )
    export.set_defaults(handler=commands.export)
    plot = subcommands.add_parser("plot", help="draw a figure of a run store")
    plot.add_argument("path", help="run store directory")
    plot.add_argument(
        "--kind",
        help="which figure: trajectory (a store with recorded states), rivalry or adaptation "
        "(a scenario with that [analysis]), or the kind of the store's [experiment] "
        f"({', '.join(experiment_kinds())}); default: the scenario's analysis or experiment, "
        "else trajectory",
    )
    plot.add_argument(
        "--neurons",
        nargs="+",
        metavar="NAME",
        help="recorded neurons to draw, by name (the store's neurons/name); default: the "
        "first ones recorded",
    )
    plot.add_argument("-o", "--output", help="image file (default: PATH.KIND.png)")
    plot.set_defaults(handler=commands.plot)
    demo = subcommands.add_parser(
        "demo", help="train four one-hot patterns with aSTDP, then recall and complete them"
    )
    demo.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        metavar="N",
        help="one network per seed (default: 0 1 2)",
    )
    demo.add_argument("--epochs", type=int, default=1000, help="passes over the patterns")
    demo.set_defaults(handler=commands.demo)
    topology = subcommands.add_parser("topology", help="check or draw a GraphML topology file")
    topology_commands = topology.add_subparsers(
        dest="topology_command", metavar="ACTION", required=True
    )
    check = topology_commands.add_parser("check", help="validate a GraphML file and summarise it")
    check.add_argument("file", help="GraphML file with node roles (input, output, hidden)")
    check.set_defaults(handler=commands.topology_check)
    draw = topology_commands.add_parser("draw", help="draw a GraphML file by layer and role")
    draw.add_argument("file", help="GraphML file with node roles (input, output, hidden)")
    draw.add_argument("-o", "--output", help="image file (default: FILE with .png)")
    draw.set_defaults(handler=commands.topology_draw)
    data = subcommands.add_parser("data", help="find, check or download MNIST and Fashion-MNIST")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data_check = data_commands.add_parser(
        "check", help="say where each data set is found and whether its checksums match"
    )
    data_check.add_argument(
        "--data-dir", help="folder to look in first (the data set in it or in DIR/NAME/)"
    )
    data_check.set_defaults(handler=commands.data_check)
    fetch = data_commands.add_parser("fetch", help="download a data set from public mirrors")
    fetch.add_argument("name", choices=("mnist", "fashion-mnist"), help="the data set")
    fetch.add_argument(
        "--data-dir",
        help="the files go to DIR/NAME/ (default: $NEUROSIM_DATA, else ~/.cache/neurosim)",
    )
    fetch.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="folder URL holding the .gz files, tried in the order given (repeatable; "
        "default: the data set's public mirrors)",
    )
    fetch.set_defaults(handler=commands.data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurosim`` console script; returns the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        with _warnings_as_lines():
            return arguments.handler(arguments)
    except BrokenPipeError:
        _discard_output()
        return EXIT_CLOSED_PIPE
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if arguments.debug:
            traceback.print_exc()
        message, code = _error_line(error)
        print(f"neurosim: {message}", file=sys.stderr)
        return code


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """neurosim's own warnings (a skipped checkpoint) as one line each on stderr."""
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, CheckpointWarning):
            print(f"neurosim: warning: {message}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _error_line(error: Exception) -> tuple[str, int]:
    """The one line said of ``error``, and the exit code."""
    if isinstance(error, ValidationError):
        return f"error: {error}", EXIT_BAD_INPUT
    if isinstance(error, NeurosimError):
        return f"error: {error}", EXIT_FAILED
    if isinstance(error, OSError):
        code = EXIT_BAD_INPUT if error.errno in PATH_ERRNOS else EXIT_FAILED
        return f"error: {describe_os_error(error)}", code
    first_line = next(iter(str(error).splitlines()), "")  # the rest comes with --debug
    return (
        f"internal error: {type(error).__name__}: {first_line}. This is a bug in neurosim; "
        "please report it with the command and the traceback that `neurosim --debug ...` "
        "prints",
        EXIT_FAILED,
    )


def _discard_output() -> None:
    """The reader of stdout went away: send what is left to /dev/null, so that Python's own
    flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
