"""What each ``neurosim`` command does, one function per command, given its parsed
arguments (``neurosim.cli`` parses them and turns errors into one-line messages), returning the
exit code."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from neurosim.errors import NeurosimError, StoreWriteError, ValidationError
from neurosim.filesystem import (
    check_output_file,
    check_output_folder,
    describe_os_error,
    staged_file,
)

if TYPE_CHECKING:
    from neurosim.recording import RunReader

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away


def topology_check(arguments: argparse.Namespace) -> int:
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


def run(arguments: argparse.Namespace) -> int:
    from neurosim import runs
    from neurosim.recording import RunInterrupted
    from neurosim.recording.location import folder_bytes
    from neurosim.scenario.runner import RunSummary
    from neurosim.sweep import SweepPoint, outcomes_in_process

    if arguments.resume is not None:
        return _resume(arguments)
    if arguments.scenario is None:
        raise ValidationError("neurosim run: give a SCENARIO file, or --resume STORE")
    overrides = runs.with_data_dir(arguments.scenario, _overrides(arguments), arguments.data_dir)
    if arguments.backend is not None:
        overrides.append(f"scenario.backend={arguments.backend}")
    seeds = arguments.seeds or ([arguments.seed] if arguments.seed is not None else None)
    plan = runs.plan_runs(arguments.scenario, overrides, seeds, arguments.out)
    for run in plan.runs:  # before any run: a store that cannot be written writes nothing
        check_output_folder(run.out, "--out")
    current: list[SweepPoint] = []

    def execute(run: SweepPoint) -> RunSummary:
        current[:] = [run]
        with _writing(run.out):
            return runs.execute(
                run.scenario, run.out, overwrite=arguments.overwrite, progress=not arguments.quiet
            )

    summaries, code = [], EXIT_OK
    try:
        for run, outcome in outcomes_in_process(plan.runs, execute):
            if outcome["status"] != "complete":
                error = outcome["exception"]
                if not run.out.exists():  # it failed before its store was made
                    raise error
                code = _failed(run.out, error)
                continue
            summary = outcome["summary"]
            # experiments that run several seeds name them in experiment.seeds
            settings = run.scenario.settings
            seed = settings.get("experiment", {}).get("seeds", settings["scenario"]["seed"])
            where = "".join(f", {key} {value:g}" for key, value in run.named.items())
            print(
                f"{run.scenario.name} (seed {seed}{where}): {summary.steps} steps, "
                f"{summary.status}, {outcome['seconds']:.1f} s; run store {run.out} "
                f"({folder_bytes(run.out) / 1e6:.1f} MB)"
            )
            _print_metrics(summary.metrics)
            summaries.append(summary)
    except (KeyboardInterrupt, RunInterrupted):
        return _interrupted(current[0].out)
    if code == EXIT_OK:
        print(runs.spread_report(plan, summaries), end="")
    return code


def sweep(arguments: argparse.Namespace) -> int:
    from tqdm import tqdm

    from neurosim import runs, sweep_results
    from neurosim.recording.location import store_path
    from neurosim.sweep import carry_out, connect, parse_grid, parse_seeds, plan_sweep

    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ValidationError('neurosim sweep needs Dask: pip install "neurosim[sweep]"') from None
    if arguments.retries < 0:
        raise ValidationError(f"--retries {arguments.retries}: expected an integer >= 0")
    if arguments.workers is not None and arguments.workers < 1:
        raise ValidationError(f"--workers {arguments.workers}: expected an integer >= 1")
    grid = parse_grid(arguments.grid)
    seeds = parse_seeds(arguments.seeds)
    first = runs_name(arguments.scenario)
    directory = store_path(arguments.out) if arguments.out else Path("runs") / f"{first}-sweep"
    if getattr(directory, "protocol", None) == "memory":
        raise ValidationError(
            f"--out {directory}: fsspec's memory:// is private to each process, and the sweep's "
            "workers are processes; give a folder or the URL of a shared file system"
        )
    check_output_folder(directory, "--out")
    overrides = runs.with_data_dir(arguments.scenario, _overrides(arguments), arguments.data_dir)
    plan = plan_sweep(arguments.scenario, overrides, grid, seeds, directory)
    total = len(plan.points)
    started = time.perf_counter()
    with connect(arguments.workers, arguments.scheduler) as client:
        bar = tqdm(total=total, unit="run", disable=arguments.quiet)

        def progress(counts: dict[str, int]) -> None:
            bar.n = counts["done"]
            bar.set_postfix(failed=counts["failed"], running=counts["running"], refresh=True)

        with bar:
            outcomes = carry_out(plan, client, retries=arguments.retries, on_progress=progress)
    dataset = sweep_results.gather(plan, outcomes)
    written = sweep_results.write(dataset, directory)
    statuses = [outcome["status"] for outcome in outcomes.values()]
    print(
        f"sweep of {plan.points[0].scenario.name}: {total} runs "
        f"({statuses.count('complete')} complete, {statuses.count('diverged')} diverged, "
        f"{statuses.count('failed')} failed) in {time.perf_counter() - started:.1f} s; "
        f"{', '.join(str(path) for path in written[:2])} and {len(written) - 2} plot(s)"
    )
    for label, outcome in sorted(outcomes.items()):
        if outcome["status"] != "complete":
            print(f"  {label}: {outcome['status']}: {outcome['error']}")
    return EXIT_FAILED if "failed" in statuses else EXIT_OK


def _overrides(arguments: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides, after the one of ``--topology`` (so a ``--set`` of another
    topology key, such as ``topology.layout``, applies to the file), paths made absolute."""
    from neurosim.scenario.overrides import absolute_override, topology_override

    topology = [] if arguments.topology is None else [topology_override(arguments.topology)]
    return topology + [absolute_override(override) for override in arguments.set or []]


def runs_name(source: str) -> str:
    """The scenario's name, for the default folder (checked again with the sweep)."""
    from neurosim.scenario.schema import load_scenario

    return load_scenario(source).name


def _failed(out: Path, error: NeurosimError | OSError) -> int:
    """The run stopped with ``error`` after its store was created: say so in one line."""
    from neurosim.recording import open_run

    if isinstance(error, StoreWriteError):  # it names the store and what it keeps already
        print(f"neurosim: error: {error}", file=sys.stderr)
        return EXIT_FAILED

    try:
        status = open_run(out).status
    except (NeurosimError, OSError) as unreadable:
        status = f"unreadable: {unreadable}"
    reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
    print(
        f"neurosim: error: {reason}; the run store {out} keeps the steps before it "
        f"(status: {status})",
        file=sys.stderr,
    )
    return EXIT_FAILED


@contextmanager
def _writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError that names no file (a full disk found on a flush) is said of ``path``."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise


def _interrupted(out: Path) -> int:
    print(f"neurosim: interrupted; what was recorded is kept in {out}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _print_metrics(metrics: dict[str, float]) -> None:
    for metric, value in metrics.items():
        print(f"  {metric}: {value:.4g}")


def _resume(arguments: argparse.Namespace) -> int:
    """``neurosim run --resume STORE``: the stored settings, nothing else."""
    from neurosim import runs
    from neurosim.recording import RunInterrupted
    from neurosim.recording.location import store_path

    given = [
        option
        for option, value in (
            ("SCENARIO", arguments.scenario),
            ("--set", arguments.set),
            ("--topology", arguments.topology),
            ("--seed", arguments.seed),
            ("--seeds", arguments.seeds),
            ("--backend", arguments.backend),
            ("--out", arguments.out),
            ("--overwrite", arguments.overwrite or None),
        )
        if value is not None
    ]
    if given:
        raise ValidationError(
            f"--resume continues a run with the settings it started with; {given[0]} cannot "
            "be given with it"
        )
    out = store_path(arguments.resume)
    started = time.perf_counter()
    try:
        with _writing(out), _data_looked_for_in(arguments.data_dir):
            summary = runs.resume(out, not arguments.quiet)
    except (KeyboardInterrupt, RunInterrupted):
        return _interrupted(out)
    except (NeurosimError, OSError) as error:
        if isinstance(error, ValidationError):  # refused before anything was written
            raise
        return _failed(out, error)
    print(
        f"{out} resumed: {summary.steps} steps in all, {summary.status}, "
        f"{time.perf_counter() - started:.1f} s"
    )
    _print_metrics(summary.metrics)
    return EXIT_OK


@contextmanager
def _data_looked_for_in(data_dir: str | None) -> Iterator[None]:
    """``--resume --data-dir DIR``: the data set is looked for in DIR too (as NEUROSIM_DATA,
    after the folder the run started with), for a run whose data has moved."""
    if data_dir is None:
        yield
        return
    if not Path(data_dir).expanduser().is_dir():
        raise ValidationError(f"--data-dir {data_dir}: no such folder")
    before = os.environ.get("NEUROSIM_DATA")
    os.environ["NEUROSIM_DATA"] = str(Path(data_dir).expanduser().resolve())
    try:
        yield
    finally:
        if before is None:
            del os.environ["NEUROSIM_DATA"]
        else:
            os.environ["NEUROSIM_DATA"] = before


def inspect(arguments: argparse.Namespace) -> int:
    import json

    from neurosim.inspection import store_summary, summary_text
    from neurosim.recording import open_run

    run = open_run(arguments.path)
    summary = store_summary(run)
    if arguments.json:  # one JSON object, the verification in it
        if arguments.verify:
            summary["missing_chunks"] = run.missing_chunks()
        print(json.dumps(summary, indent=1, allow_nan=False))
        return EXIT_FAILED if summary.get("missing_chunks") else EXIT_OK
    print(summary_text(summary), end="")
    if arguments.verify:
        return _verify(run)
    return EXIT_OK


def _verify(run: RunReader) -> int:
    """Say whether every chunk of committed data is on disk; exit 1 naming those that are not."""
    missing = run.missing_chunks()
    if not missing:
        print("verify: every chunk of committed data is on disk")
        return EXIT_OK
    print(
        f"verify: {len(missing)} chunks of committed data are missing "
        "(float arrays read NaN there):"
    )
    for chunk in missing:
        print(f"  {chunk}")
    if not run.stores_every_chunk:
        print(
            "verify: this store was written before every chunk was stored: a chunk that held "
            "only zeros was left out, so a chunk listed here may be zeros, not lost data"
        )
    return EXIT_FAILED


def plot(arguments: argparse.Namespace) -> int:
    from neurosim.plotting.runs import figure_kinds, plot_run
    from neurosim.recording import open_run
    from neurosim.recording.location import local_name

    run = open_run(arguments.path)
    settings = run.attributes.get("scenario", {})
    experiment_kind = settings.get("experiment", {}).get("kind")
    drawn = figure_kinds(run) + ((experiment_kind,) if experiment_kind else ())
    kind = arguments.kind
    if kind is None:
        analysis = settings.get("analysis") or settings.get("experiment")
        kind = analysis["kind"] if analysis else "trajectory"
    if kind not in drawn:
        of = f"the {experiment_kind} experiment's " if experiment_kind else ""
        offered = ", ".join(drawn) if drawn else "none (it recorded no states)"
        raise ValidationError(
            f"--kind {kind}: {run.path} is a store of {of}scenario "
            f"{settings.get('scenario', {}).get('name', '?')!r}; its figures are {offered}"
        )
    if arguments.neurons and kind == experiment_kind:
        raise ValidationError(
            f"--neurons: the {kind} figure draws what its experiment chose; --neurons "
            "applies to the trajectory and rivalry figures"
        )
    output = Path(arguments.output or local_name(run.path).with_suffix(f".{kind}.png"))
    check_output_file(output, "-o", _image_suffixes())
    with _writing(output), staged_file(output) as temporary:
        if kind == experiment_kind:
            from neurosim.registry import experiment

            experiment(kind).plot(run, temporary)
        else:
            plot_run(run, temporary, kind, neurons=arguments.neurons)
    print(f"wrote {output}")
    return EXIT_OK


def _image_suffixes() -> list[str]:
    """The file extensions matplotlib writes (it picks the format from the extension)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return list(FigureCanvasBase.get_supported_filetypes())


def export(arguments: argparse.Namespace) -> int:
    from neurosim.export import export_run

    with _writing(arguments.output or f"the export of {arguments.path}"):
        written = export_run(arguments.path, arguments.format, arguments.output, arguments.snapshot)
    for file in written:
        print(f"wrote {file}")
    return EXIT_OK


def topology_draw(arguments: argparse.Namespace) -> int:
    from neurosim.model.topology import read_graphml
    from neurosim.plotting.topology import draw_topology

    output = Path(arguments.output or Path(arguments.file).with_suffix(".png"))
    check_output_file(output, "-o", _image_suffixes())
    graph = read_graphml(arguments.file)
    with _writing(output), staged_file(output) as temporary:
        draw_topology(graph, temporary, title=Path(arguments.file).name)
    print(f"wrote {output}")
    return EXIT_OK


def data_check(arguments: argparse.Namespace) -> int:
    from neurosim.data import DATASETS, PARTS, DatasetNotFoundError, load_dataset
    from neurosim.errors import DataError

    status = EXIT_OK
    for name in DATASETS:
        try:
            dataset = load_dataset(name, arguments.data_dir)
        except DatasetNotFoundError as error:
            print(f"{name}: missing; {error}")
            continue
        except DataError as error:
            print(f"{name}: corrupt: {error}")
            status = EXIT_FAILED
            continue
        if dataset.verified:
            state = "checksums verified"
        else:
            # no published checksum for this form: reading checks the IDX structure instead
            for part in PARTS:
                getattr(dataset, part)
            state = "no published checksum for these files; read and valid"
        print(f"{name}: {dataset.source} ({dataset.found_via}); {state}")
    return status


def data_fetch(arguments: argparse.Namespace) -> int:
    from neurosim.data import default_data_dir, fetch_dataset

    data_dir = Path(arguments.data_dir or default_data_dir()).expanduser()
    check_output_folder(data_dir / arguments.name, "--data-dir")
    with _writing(data_dir / arguments.name):
        folder = fetch_dataset(arguments.name, data_dir, arguments.mirror, log=print)
    print(f"{arguments.name}: the four files are in {folder}")
    return EXIT_OK


def scenarios(arguments: argparse.Namespace) -> int:
    from neurosim.builtin import scenario_descriptions, scenario_directory

    descriptions = scenario_descriptions()
    width = max(map(len, descriptions))
    for name, description in descriptions.items():
        print(f"{name:<{width}}  {description}")
    print(f"\n(the files are in {scenario_directory()}; run one with: neurosim run NAME)")
    return EXIT_OK


def keys(arguments: argparse.Namespace) -> int:
    from neurosim.scenario.reference import reference

    print(reference(arguments.section, markdown=arguments.markdown), end="")
    return EXIT_OK


def demo(arguments: argparse.Namespace) -> int:
    from neurosim.demo import run_demo

    return EXIT_OK if run_demo(arguments.seeds, arguments.epochs) else EXIT_FAILED
