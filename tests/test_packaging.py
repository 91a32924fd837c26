"""The installed package: the presets and built-in scenarios ship inside it and are found by
name, and pyproject.toml lists every package (CI also installs the wheel and runs from
outside the checkout, .ci/run)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from neurosim.builtin import (
    preset_directory,
    scenario_descriptions,
    scenario_directory,
    scenario_names,
    scenario_path,
)
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model.presets import available_presets
from neurosim.scenario.schema import load_scenario

REPOSITORY = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_under_neurosim() -> None:
    configuration = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]
    listed = set(configuration["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPOSITORY).parts)
        for init in (REPOSITORY / "neurosim").rglob("__init__.py")
    }
    mapped = configuration["setuptools"]["package-dir"]
    assert mapped == {
        "neurosim.builtin_presets": "models",
        "neurosim.builtin_scenarios": "scenarios",
    }
    assert listed == on_disk | set(mapped)


def test_builtin_folders_are_the_top_level_ones_with_the_same_files() -> None:
    # the installed copies are built from models/ and scenarios/, never kept by hand
    for folder, top_level in (
        (preset_directory(), REPOSITORY / "models"),
        (scenario_directory(), REPOSITORY / "scenarios"),
    ):
        names = sorted(path.name for path in top_level.glob("*.toml"))
        assert names and sorted(path.name for path in folder.glob("*.toml")) == names
        for name in names:
            assert (folder / name).read_bytes() == (top_level / name).read_bytes()
    assert available_presets() == sorted(p.stem for p in (REPOSITORY / "models").glob("*.toml"))


def test_every_builtin_scenario_loads_by_name_as_by_path() -> None:
    names = scenario_names()
    assert {"rivalry", "adaptation", "ordering", "stdp_window"} <= set(names)
    for name in names:
        by_name = load_scenario(name)
        by_path = load_scenario(REPOSITORY / "scenarios" / f"{name}.toml")
        assert by_name.name == name
        assert by_name.settings == by_path.settings


def test_every_builtin_scenario_has_a_one_line_description() -> None:
    descriptions = scenario_descriptions()
    assert list(descriptions) == scenario_names()
    for name, description in descriptions.items():
        assert description.strip(), f"{name} has no [scenario] description"
        assert "\n" not in description, name


def test_a_file_wins_over_a_builtin_and_an_unknown_name_lists_the_builtins(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rivalry").write_text("not a scenario")
    assert scenario_path("rivalry") == Path("rivalry")
    assert scenario_path("elsewhere/rivalry.toml") == Path("elsewhere/rivalry.toml")
    with pytest.raises(ValidationError, match=r"'rivalri'.*built-ins are adaptation.*rivalry"):
        scenario_path("rivalri")


def test_scenarios_command_lists_each_builtin_with_its_description(capsys) -> None:
    assert main(["scenarios"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    for name, description in scenario_descriptions().items():
        assert any(line.split(None, 1) == [name, description] for line in lines), name


def test_run_takes_a_builtin_name_from_any_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    short = ["--set", "phase.0.epochs=2", "--set", "phase.1.duration=200", "--quiet"]
    assert main(["run", "rivalry", "--out", "r.zarr", *short]) == EXIT_OK
    assert main(["inspect", "r.zarr"]) == EXIT_OK
    assert "rivalry" in capsys.readouterr().out
    assert main(["run", "rivalri", "--out", "s.zarr"]) == EXIT_BAD_INPUT
    assert "no built-in scenario" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()
