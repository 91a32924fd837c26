"""Sweeps: the product of a grid of scenario keys and seeds, run on a Dask cluster.

``neurosim sweep SCENARIO --grid model.alpha=1e-3,1e-2 --seeds 0-9 --out DIR`` plans one run
per point (every point's scenario checked before anything starts), runs them on
``dask.distributed`` (a ``LocalCluster`` of ``--workers`` processes with one thread each, or
the cluster at ``--scheduler``), one run store per point under ``DIR/runs/`` with a readable
label, and gathers the final metrics (``neurosim.sweep_results``).

- A run that raises is retried (``--retries``; Dask resubmits it, also when its worker is
  lost) and then reported with its error, never dropped. A run that diverges is a result:
  recorded as ``diverged``, not retried.
- ``DIR/sweep.json`` names the sweep (scenario, overrides, grid, seeds); each run's outcome
  is added to ``DIR/outcomes.json`` as it comes. Started again on the same ``DIR``, a sweep
  skips the runs that are done (complete or diverged), resumes the interrupted ones from
  their checkpoints and starts the others afresh.
- Workers need nothing shared but ``DIR``. Each run limits BLAS and Numba to one thread, and
  Numba's cache goes to a writable folder where the package's own is read-only.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurosim.errors import DivergenceError, NeurosimError, ValidationError
from neurosim.recording.location import StorePath, is_remote, store_path
from neurosim.scenario.schema import Scenario, load_scenario

MANIFEST = "sweep.json"
OUTCOMES = "outcomes.json"
DONE = ("complete", "diverged")
# one thread per run: a worker process is one core
THREAD_LIMITS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class GridKey:
    """One swept key: its dotted path (as ``--set`` takes it), the dim name it gets in the
    results, and its values."""

    key: str
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: the values of the swept keys (by dotted key), the seed, its label,
    store and checked scenario, and the values by the keys' short names (``GridKey.name``)."""

    values: dict[str, Any]
    seed: int
    label: str
    out: StorePath
    scenario: Scenario
    named: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    grid: tuple[GridKey, ...]
    seeds: tuple[int, ...]
    points: tuple[SweepPoint, ...]
    directory: StorePath
    manifest: dict[str, Any]


def _toml(value: Any) -> str:
    """A value in TOML syntax, as ``--set`` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def parse_grid(texts: Sequence[str]) -> tuple[GridKey, ...]:
    """``KEY=V1,V2,...`` per text: the values in TOML syntax (a list of them: ``1e-3,1e-2``,
    ``true,false``, ``"a","b"``, ``[1, 0],[0, 1]``); bare words are taken as strings."""
    keys: list[tuple[str, tuple[Any, ...]]] = []
    for text in texts:
        if "=" not in text:
            raise ValidationError(
                f"--grid {text!r}: expected KEY=V1,V2,... e.g. model.alpha=1e-3,1e-2"
            )
        key, values_text = (part.strip() for part in text.split("=", 1))
        if not key or not all(key.split(".")):
            raise ValidationError(f"--grid {text!r}: {key!r} is not a dotted key path")
        try:
            values = tomllib.loads(f"values = [{values_text}]")["values"]
        except tomllib.TOMLDecodeError:
            values = [word.strip() for word in values_text.split(",")]
        if not values or any(value == "" for value in values):
            raise ValidationError(f"--grid {text!r}: give one or more values after '='")
        if len({_toml(value) for value in values}) != len(values):
            raise ValidationError(f"--grid {text!r}: a value repeats; give each once")
        if key in (known for known, _ in keys):
            raise ValidationError(f"--grid {key}: the key is swept twice; give it once")
        keys.append((key, tuple(values)))
    if not keys:
        raise ValidationError("neurosim sweep: give at least one --grid KEY=V1,V2,...")
    return tuple(
        GridKey(key, name, values)
        for (key, values), name in zip(keys, _dim_names([k for k, _ in keys]), strict=True)
    )


def _dim_names(keys: list[str]) -> list[str]:
    """Each key's shortest tail of dotted parts that no other key shares (``model.alpha`` ->
    ``alpha``); ``seed`` is kept for the seeds."""
    names = []
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            tail = ".".join(parts[-length:])
            name = tail.replace(".", "_")
            clashes = [other for other in keys if other != key and f".{other}".endswith(f".{tail}")]
            if not clashes and name != "seed":
                break
        names.append(name)
    return names


def parse_seeds(texts: Sequence[str]) -> tuple[int, ...]:
    """``0-9``, ``0,3,7`` or several of them: the seeds, each once, in order."""
    seeds: list[int] = []
    for text in texts:
        for part in str(text).split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if match is None:
                raise ValidationError(
                    f"--seeds {text!r}: expected seeds like 0-9 or 0,3,7 (integers >= 0)"
                )
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) is not None else first
            if last < first:
                raise ValidationError(f"--seeds {part!r}: the range ends before it starts")
            seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise ValidationError(f"--seeds {' '.join(map(str, texts))}: a seed repeats")
    return tuple(seeds) or (0,)


def _label(values: dict[str, Any], grid: Sequence[GridKey], seed: int) -> str:
    words = [f"{key.name}={_toml(values[key.key])}" for key in grid] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9=.,+_-]+", "-", "_".join(words)).strip("-")


def plan_points(
    source: str | Path,
    overrides: Sequence[str],
    grid: Sequence[GridKey],
    seeds: Sequence[int],
    place: Callable[[dict[str, Any], int, str], StorePath],
    option: str = "--grid",
) -> tuple[SweepPoint, ...]:
    """Every run of ``grid`` x ``seeds`` (seed-minor), each scenario checked before anything
    is written (a bad key or value raises ``ValidationError`` naming the point, after
    ``option``); ``place(values, seed, label)`` says where each run's store goes. Used by
    ``neurosim sweep`` and by ``neurosim run`` with several seeds or an ``[event] sweep``."""
    points = []
    for combination in itertools.product(*(key.values for key in grid)):
        values = {key.key: value for key, value in zip(grid, combination, strict=True)}
        assignments = [f"{key}={_toml(value)}" for key, value in values.items()]
        for seed in seeds:
            try:
                scenario = load_scenario(
                    source, [*overrides, *assignments, f"scenario.seed={seed}"]
                )
            except ValidationError as error:
                if not assignments:
                    raise
                raise ValidationError(f"{option} point {', '.join(assignments)}: {error}") from None
            label = _label(values, grid, seed)
            named = {key.name: values[key.key] for key in grid}
            points.append(
                SweepPoint(values, seed, label, place(named, seed, label), scenario, named)
            )
    return tuple(points)


def plan_sweep(
    source: str | Path,
    overrides: Sequence[str],
    grid: tuple[GridKey, ...],
    seeds: tuple[int, ...],
    directory: str | os.PathLike[str],
) -> Sweep:
    """Every point of the sweep (``plan_points``), one store each under ``DIRECTORY/runs``."""
    directory = store_path(directory)
    points = plan_points(
        source, overrides, grid, seeds, lambda _, __, label: directory / "runs" / f"{label}.zarr"
    )
    manifest = {
        "scenario": str(Path(source).resolve()) if Path(source).exists() else str(source),
        "overrides": list(overrides),
        "grid": [{"key": key.key, "name": key.name, "values": list(key.values)} for key in grid],
        "seeds": list(seeds),
    }
    return Sweep(grid, seeds, points, directory, manifest)


def claim_directory(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Make ``sweep.directory`` this sweep's (new, or the same sweep started before) and return
    the outcomes recorded so far. An existing folder that holds something else, or another
    sweep, is refused."""
    directory = sweep.directory
    manifest_path = directory / MANIFEST
    taken = directory.exists() and (not directory.is_dir() or any(directory.iterdir()))
    if taken and not manifest_path.exists():
        raise ValidationError(
            f"--out {directory}: exists and is not a sweep (no {MANIFEST}); give a new folder"
        )
    if manifest_path.exists():
        try:
            earlier = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:
            raise ValidationError(f"{manifest_path}: unreadable sweep manifest ({error})") from None
        if earlier != sweep.manifest:
            raise ValidationError(
                f"--out {directory}: holds another sweep (its {MANIFEST} names other keys, values, "
                "seeds or scenario); give a new folder, or the same arguments to continue it"
            )
        return read_outcomes(directory)
    (directory / "runs").mkdir(parents=True, exist_ok=True)
    _write_json(manifest_path, sweep.manifest)
    return {}


def read_outcomes(directory: StorePath) -> dict[str, dict[str, Any]]:
    path = directory / OUTCOMES
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:  # cut short by a kill: the stores say what is done
        return {}


def _write_json(path: StorePath, value: Any) -> None:
    """Written whole to a temporary file, then renamed, or on a remote file system in one
    write (which is atomic there): a reader never sees half of it."""
    if is_remote(path):
        path.write_text(json.dumps(value, indent=1, sort_keys=True))
        return
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as file:
        json.dump(value, file, indent=1, sort_keys=True)
    os.replace(file.name, path)


def run_point(scenario: Scenario, out: str) -> dict[str, Any]:
    """One run on a worker: the store at ``out`` completed (it is left alone), continued from
    its checkpoint, or made afresh. Returns ``{"status", "error", "seconds"}``; a divergence is
    a result, any other error raises (for the scheduler to retry)."""
    from threadpoolctl import threadpool_limits

    from neurosim import runs
    from neurosim.recording import open_run

    started = time.perf_counter()
    path = store_path(out)
    with threadpool_limits(1):
        _wait_for_lease(path)
        try:
            status = open_run(path).status if path.exists() else None
        except (NeurosimError, OSError):
            status = None
        try:
            if status == "complete":
                pass
            elif status is not None and _has_checkpoint(path):
                runs.resume(path, progress=False)
            else:
                runs.execute(scenario, path, overwrite=True, progress=False)
        except DivergenceError as error:
            return {"status": "diverged", "error": str(error), "seconds": _since(started)}
    return {"status": "complete", "error": None, "seconds": _since(started)}


def _wait_for_lease(path: StorePath) -> None:
    """On a remote file system, wait until the lock a lost worker left on ``path`` expires
    (a local lock ends with its process at once): the retried run then takes it over."""
    from neurosim.recording.lock import (
        LEASE_EXPIRES,
        LEASE_RENEW,
        StoreInUseError,
        take_writer_lock,
    )

    if not is_remote(path):
        return
    deadline = time.monotonic() + LEASE_EXPIRES + 2 * LEASE_RENEW
    while True:
        try:
            take_writer_lock(path)  # let go again at once: the run takes it for itself
            return
        except StoreInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(LEASE_RENEW / 4)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _has_checkpoint(path: StorePath) -> bool:
    from neurosim.recording import open_run

    try:
        return open_run(path).checkpoint() is not None
    except (NeurosimError, OSError):
        return False


def worker_environment() -> dict[str, str]:
    """What each worker process starts with: one thread for BLAS and Numba, and Numba's cache
    where it can be written."""
    environment = dict(THREAD_LIMITS)
    package = Path(__file__).parent
    if not os.access(package, os.W_OK) and "NUMBA_CACHE_DIR" not in os.environ:
        environment["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "neurosim" / "numba")
    return environment


def connect(workers: int | None, scheduler: str | None, processes: bool = True) -> Any:
    """A Dask client: of the cluster at ``scheduler``, or of a new ``LocalCluster`` with
    ``workers`` processes (one thread each)."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ValidationError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({error})"
            ) from None
    options: dict[str, Any] = {"env": worker_environment()} if processes else {}
    cluster = LocalCluster(
        n_workers=workers or min(os.cpu_count() or 1, 4),
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",  # any free port: clusters side by side never clash
        silence_logs=logging.ERROR,
        **options,
    )
    return Client(cluster)


Outcome = dict[str, Any]
"""How a run ended: ``status`` (complete, diverged or failed), ``error`` (the message or
None), ``seconds``; ``attempts`` where it failed. In process also ``exception`` (the error
itself) and ``summary`` (what the run returned)."""


def outcomes_in_process(
    points: Sequence[SweepPoint],
    run: Callable[[SweepPoint], Any],
    retries: int = 0,
) -> Iterator[tuple[SweepPoint, Outcome]]:
    """Run ``points`` one after another in this process (``run(point)`` makes one), yielding
    each outcome as it comes. A divergence is a result; a run that raises another error is
    tried ``retries`` more times, then failed. Bad input (``ValidationError``) and Ctrl-C stop
    them all at once."""
    for point in points:
        for attempt in range(retries + 1):
            started = time.perf_counter()
            try:
                summary = run(point)
                outcome: Outcome = {"status": "complete", "error": None, "summary": summary}
                break
            except ValidationError:
                raise
            except DivergenceError as error:
                outcome = {"status": "diverged", "error": str(error), "exception": error}
                break
            except (NeurosimError, OSError) as error:
                outcome = {"status": "failed", "error": _message(error), "exception": error}
                outcome["attempts"] = attempt + 1
        outcome["seconds"] = _since(started)
        yield point, outcome


def outcomes_on_cluster(
    points: Sequence[SweepPoint], client: Any, retries: int = 0
) -> Iterator[tuple[SweepPoint, Outcome]]:
    """Run ``points`` on the Dask cluster of ``client`` (``run_point`` on a worker each),
    yielding each outcome as it comes; a run that raises is resubmitted ``retries`` times
    (also when its worker is lost), then failed."""
    from dask.distributed import as_completed

    pending = {
        client.submit(
            run_point, point.scenario, str(point.out), key=f"neurosim-{point.label}",
            retries=retries, pure=False,
        ): point
        for point in points
    }  # fmt: skip
    for future in as_completed(list(pending)):
        if future.status == "finished":
            outcome = future.result()
        else:
            outcome = {"status": "failed", "error": _message(future.exception())}
            outcome["attempts"] = retries + 1
        yield pending[future], outcome


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def carry_out(
    sweep: Sweep,
    client: Any | None,
    *,
    retries: int = 0,
    on_progress: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, Outcome]:
    """Run every point not done yet, on the cluster of ``client`` (None: in this process, one
    after another), recording each outcome in ``DIR/outcomes.json`` as it comes; returns every
    point's outcome by label."""
    outcomes = claim_directory(sweep)
    outcomes = {label: outcome for label, outcome in outcomes.items() if outcome["status"] in DONE}
    todo = [point for point in sweep.points if point.label not in outcomes]
    counts = {"done": len(outcomes), "failed": 0, "running": len(todo)}
    if on_progress:
        on_progress(counts)
    if client is None:
        coming = outcomes_in_process(
            todo, lambda point: run_point(point.scenario, str(point.out)), retries
        )
    else:
        coming = outcomes_on_cluster(todo, client, retries)
    for point, outcome in coming:
        outcome = {
            key: value for key, value in outcome.items() if key not in ("exception", "summary")
        }
        outcome.setdefault("attempts", None)
        outcomes[point.label] = outcome
        counts["done"] += 1
        counts["running"] -= 1
        counts["failed"] += outcome["status"] == "failed"
        _write_json(sweep.directory / OUTCOMES, outcomes)
        if on_progress:
            on_progress(counts)
    return outcomes
