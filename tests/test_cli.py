"""The neurosim command: exit codes, messages, files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from neurosim import __version__
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.model.topology import layered, write_graphml


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == EXIT_OK
    assert "topology" in capsys.readouterr().out


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neurosim", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("neurosim ")


def test_topology_check_and_draw(tmp_path, capsys) -> None:
    path = tmp_path / "net.graphml"
    write_graphml(layered([6, 5, 3], lateral=True), path)
    assert main(["topology", "check", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "valid" in out and "14 neurons" in out and "6 input" in out
    image = tmp_path / "net.png"
    assert main(["topology", "draw", str(path), "-o", str(image)]) == EXIT_OK
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size > 5_000


def test_bad_topology_file_exits_2_and_names_the_problem(tmp_path, capsys) -> None:
    path = tmp_path / "bad.graphml"
    path.write_text("<graphml>not really</graphml>")
    assert main(["topology", "check", str(path)]) == EXIT_BAD_INPUT
    assert "bad.graphml" in capsys.readouterr().err
    assert main(["topology", "check", str(tmp_path / "missing.graphml")]) == EXIT_BAD_INPUT
    assert "missing.graphml" in capsys.readouterr().err
