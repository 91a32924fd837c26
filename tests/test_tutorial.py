"""docs/tutorial.md cannot go stale: every code block in it is executed, in order, in one
fresh folder, the way a reader would type it.

- ```` ```bash ```` blocks run in bash (``set -euo pipefail``) with this interpreter's
  ``neurosim`` first on PATH; every command must succeed.
- ```` ```python ```` blocks run one after another in one namespace, as in one session.
- ```` ```toml ```` blocks are files: the line ``<!-- file: NAME -->`` just before the block
  names the file it is saved as.

A block of any other kind, or a TOML block without its file name, fails the test: the page
must show nothing that is not run here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).parent.parent / "docs" / "tutorial.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<kind>\w*)\n(?P<code>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    kind: str
    code: str
    file: str | None
    line: int  # where the block starts in the page


def tutorial_blocks(text: str) -> list[Block]:
    """The page's fenced code blocks in order, each with its kind and file name (if any)."""
    return [
        Block(
            match["kind"],
            match["code"],
            match["file"],
            text.count("\n", 0, match.start("code")),
        )
        for match in BLOCK.finditer(text)
    ]


def test_the_page_parses_into_blocks_of_known_kinds() -> None:
    blocks = tutorial_blocks(TUTORIAL.read_text())
    assert {block.kind for block in blocks} == {"bash", "python", "toml"}
    for block in blocks:
        assert (block.kind == "toml") == (block.file is not None), (
            f"docs/tutorial.md line {block.line}: a toml block needs '<!-- file: NAME -->' "
            "just before it, and only a toml block may have one"
        )
    # every fence was matched: an odd one out would mean a block this test does not run
    assert TUTORIAL.read_text().count("```") == 2 * len(blocks)


def test_every_block_of_the_tutorial_runs(tmp_path, monkeypatch) -> None:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MPLBACKEND": "Agg",
    }
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "tutorial"}
    for block in tutorial_blocks(TUTORIAL.read_text()):
        where = f"docs/tutorial.md line {block.line}"
        if block.kind == "toml":
            (tmp_path / block.file).write_text(block.code)
        elif block.kind == "bash":
            finished = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + block.code],
                cwd=tmp_path,
                env=environment,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert finished.returncode == 0, (
                f"{where}: exit {finished.returncode}\n{finished.stdout}\n{finished.stderr}"
            )
        else:
            try:
                exec(compile(block.code, where, "exec"), namespace)
            except Exception as error:  # the block and line that failed, not this test's
                pytest.fail(f"{where}: {type(error).__name__}: {error}")
