"""The ``neurosim`` command.

Exit codes: 0 done, 1 the run failed, 2 bad input (nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from neurosim import __version__
from neurosim.errors import NeurosimError, ValidationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _topology_check(arguments: argparse.Namespace) -> int:
    from neurosim.model.topology import read_graphml

    graph = read_graphml(arguments.file)
    roles: dict[str, int] = {}
    for _, role in graph.nodes(data="role"):
        roles[role] = roles.get(role, 0) + 1
    summary = ", ".join(f"{count} {role}" for role, count in sorted(roles.items()))
    print(
        f"{arguments.file}: valid; {graph.number_of_nodes()} neurons ({summary}), "
        f"{graph.number_of_edges()} synapses"
    )
    return EXIT_OK


def _topology_draw(arguments: argparse.Namespace) -> int:
    from neurosim.model.topology import read_graphml
    from neurosim.plotting.topology import draw_topology

    graph = read_graphml(arguments.file)
    output = arguments.output or str(Path(arguments.file).with_suffix(".png"))
    print(f"wrote {draw_topology(graph, output, title=Path(arguments.file).name)}")
    return EXIT_OK


def _demo(arguments: argparse.Namespace) -> int:
    from neurosim.demo import run_demo

    return EXIT_OK if run_demo(arguments.seeds, arguments.epochs) else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosim",
        description="Simulate local, STDP-like learning in energy-based recurrent networks.",
    )
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
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
    demo.set_defaults(handler=_demo)
    topology = commands.add_parser("topology", help="check or draw a GraphML topology file")
    topology_commands = topology.add_subparsers(
        dest="topology_command", metavar="ACTION", required=True
    )
    check = topology_commands.add_parser("check", help="validate a GraphML file and summarise it")
    check.add_argument("file", help="GraphML file with node roles (input, output, hidden)")
    check.set_defaults(handler=_topology_check)
    draw = topology_commands.add_parser("draw", help="draw a GraphML file by layer and role")
    draw.add_argument("file", help="GraphML file with node roles (input, output, hidden)")
    draw.add_argument("-o", "--output", help="image file (default: FILE with .png)")
    draw.set_defaults(handler=_topology_draw)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurosim`` console script; returns the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return arguments.handler(arguments)
    except ValidationError as error:
        print(f"neurosim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NeurosimError as error:
        print(f"neurosim: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
