"""File-system errors in the neurosim command: one line naming the path, the documented exit
code, no traceback, and nothing half written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurosim import commands
from neurosim.cli import EXIT_BAD_INPUT, EXIT_CLOSED_PIPE, EXIT_FAILED, EXIT_OK, main
from neurosim.model.topology import layered, write_graphml
from neurosim.recording import RunStore, open_run

try:
    from tests import scenario_files, test_export
except ImportError:  # pytest put tests/ itself on sys.path
    import scenario_files
    import test_export

REPOSITORY = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed run store with 40 recorded steps."""
    path = tmp_path_factory.mktemp("runs") / "run.zarr"
    with test_export.make_store(path) as writer:
        writer.append(*test_export.steps(0, 40))
        writer.snapshot_weights(0, np.arange(6) / 10, np.zeros(6))
    return path


@pytest.fixture
def graphml(tmp_path: Path) -> Path:
    path = tmp_path / "net.graphml"
    write_graphml(layered([3, 2]), path)
    return path


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A plain file, for outputs that would have to go under it."""
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder nobody may write in. Root ignores permission bits, so there the operating
    system's answer to "may I write here?" is replaced for this folder alone."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda path, mode, **kw: (
                False if Path(path) == folder and mode & os.W_OK else access(path, mode, **kw)
            ),
        )
    yield folder
    folder.chmod(0o755)


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")}


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, checked to be one line without a traceback."""
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.count("\n") == 1 and error.startswith("neurosim: "), error
    return error


def test_run_output_under_a_file_or_unwritable_writes_nothing(
    tmp_path: Path, a_file: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = scenario_files.write_scenario(tmp_path)
    before = files_under(tmp_path)
    for out, said in [
        (a_file / "run.zarr", f"{a_file} is a file, not a folder"),
        (a_file / "deeper" / "run.zarr", f"{a_file} is a file, not a folder"),
        (read_only / "run.zarr", f"the folder {read_only} is not writable"),
    ]:
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
        line = error_line(capsys)
        assert str(out) in line and said in line
    assert main(["run", str(scenario), "--seeds", "1", "2", "--out", str(a_file / "r")]) == 2
    assert f"{a_file} is a file" in error_line(capsys)
    assert files_under(tmp_path) == before


def test_scenario_path_that_is_a_folder_or_under_a_file(
    tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path), "--quiet"]) == EXIT_BAD_INPUT
    assert f"{tmp_path}: is a folder; give the path of a file" in error_line(capsys)
    assert main(["run", str(a_file / "x.toml"), "--quiet"]) == EXIT_BAD_INPUT
    assert f"{a_file} is a file, not a folder" in error_line(capsys)


def test_full_disk_during_a_run_fails_in_one_line_and_keeps_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def disk_full(self: RunStore, *args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # names no file, as zarr's

    monkeypatch.setattr(RunStore, "append", disk_full)
    scenario = scenario_files.write_scenario(tmp_path, epochs=1, duration=50)
    out = tmp_path / "run.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_FAILED
    line = error_line(capsys)
    assert f"{out}: no space left on the device" in line and "status: failed" in line
    assert open_run(out).status == "failed"


@pytest.mark.parametrize("command", ["plot", "draw"])
def test_image_outputs(
    command: str,
    store: Path,
    graphml: Path,
    tmp_path: Path,
    a_file: Path,
    read_only: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = ["plot", str(store)] if command == "plot" else ["topology", "draw", str(graphml)]
    before = files_under(tmp_path)
    for output, said in [
        (tmp_path / "figure.xyz", "the extension .xyz is unknown; give a file name ending in"),
        (tmp_path / "figure", "no extension; give a file name ending in one of"),
        (a_file / "figure.png", f"{a_file} is a file, not a folder"),
        (tmp_path / "missing" / "figure.png", f"the folder {tmp_path / 'missing'} does not"),
        (read_only / "figure.png", f"the folder {read_only} is not writable"),
    ]:
        assert main([*source, "-o", str(output)]) == EXIT_BAD_INPUT
        line = error_line(capsys)
        assert str(output) in line and said in line
    assert files_under(tmp_path) == before
    assert main([*source, "-o", str(tmp_path / "figure.svg")]) == EXIT_OK
    assert (tmp_path / "figure.svg").read_text().lstrip().startswith("<?xml")


def test_full_disk_while_drawing_leaves_no_half_image(
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def half_written(self: Figure, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", half_written)
    output = tmp_path / "figure.png"
    assert main(["plot", str(store), "-o", str(output)]) == EXIT_FAILED
    assert f"{output}: no space left on the device" in error_line(capsys)
    assert files_under(tmp_path) == set()


def test_export_outputs(
    store: Path,
    tmp_path: Path,
    a_file: Path,
    read_only: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = files_under(tmp_path)
    for output, said in [
        (a_file / "run.npz", f"{a_file} is a file, not a folder"),
        (read_only / "run.npz", f"the folder {read_only} is not writable"),
    ]:
        assert main(["export", str(store), "--format", "npz", "-o", str(output)]) == 2
        line = error_line(capsys)
        assert str(output) in line and said in line

    def disk_full(stream: object, **arrays: object) -> None:
        stream.write(b"PK half")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", disk_full)
    output = tmp_path / "run.npz"
    assert main(["export", str(store), "--format", "npz", "-o", str(output)]) == EXIT_FAILED
    assert f"{output}: no space left on the device" in error_line(capsys)
    assert files_under(tmp_path) == before


def test_data_fetch_into_a_folder_it_cannot_write(
    a_file: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for data_dir, said in [
        (a_file, f"{a_file} is a file, not a folder"),
        (read_only, f"the folder {read_only} is not writable"),
    ]:
        command = ["data", "fetch", "mnist", "--data-dir", str(data_dir), "--mirror", "file:///"]
        assert main(command) == EXIT_BAD_INPUT
        assert f"--data-dir {data_dir / 'mnist'}: {said}" in error_line(capsys)
    assert not (read_only / "mnist").exists()


def test_an_error_of_the_file_system_met_anywhere_is_one_line(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(*args: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(store / "zarr.json"))

    monkeypatch.setattr("neurosim.recording.open_run", refused)
    assert main(["inspect", str(store)]) == EXIT_BAD_INPUT
    assert f"{store / 'zarr.json'}: permission denied" in error_line(capsys)


def test_a_bug_says_so_and_debug_shows_its_traceback(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(arguments: object) -> int:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(commands, "inspect", broken)
    assert main(["inspect", str(store)]) == EXIT_FAILED
    line = error_line(capsys)
    assert "RuntimeError: first line. This is a bug in neurosim" in line and "--debug" in line
    assert main(["--debug", "inspect", str(store)]) == EXIT_FAILED
    error = capsys.readouterr().err
    assert "Traceback" in error and "second line" in error
    assert error.rstrip().splitlines()[-1].startswith("neurosim: internal error: RuntimeError")


def test_output_to_a_closed_pipe_is_quiet(store: Path) -> None:
    """``neurosim inspect STORE | head -0``: the reader is gone before anything is printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "neurosim", "inspect", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPOSITORY,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, error = process.communicate(timeout=60)
    assert process.returncode == EXIT_CLOSED_PIPE
    assert error == b""
