"""The presets (``models/``) and scenarios (``scenarios/``) shipped with neurosim.

Both folders stay at the top of the source tree, where users read them, and are installed as
the packages ``neurosim.builtin_presets`` and ``neurosim.builtin_scenarios`` (the package-dir
mapping in pyproject.toml), so they are found with importlib.resources in an installed package
as well as in an editable one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from neurosim.checks import read_toml
from neurosim.errors import ValidationError

PRESET_PACKAGE = "neurosim.builtin_presets"
SCENARIO_PACKAGE = "neurosim.builtin_scenarios"


def _directory(package: str) -> Path:
    try:
        folder = resources.files(package)
    except ModuleNotFoundError:  # a source tree used without installing it
        raise ValidationError(
            f"{package} is not installed: install neurosim (pip install . or pip install -e .) "
            "to use the built-in presets and scenarios"
        ) from None
    # an installed or editable package is a folder on disk (neurosim is never run zipped:
    # Numba's cache needs files), and scenario files name other files relative to themselves
    return Path(str(folder))


def preset_directory() -> Path:
    """The folder of the built-in model presets."""
    return _directory(PRESET_PACKAGE)


def scenario_directory() -> Path:
    """The folder of the built-in scenarios."""
    return _directory(SCENARIO_PACKAGE)


def _names(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.toml"))


def preset_names() -> list[str]:
    """Names of the built-in presets (``astdp``, ...)."""
    return _names(preset_directory())


def scenario_names() -> list[str]:
    """Names of the built-in scenarios (``rivalry``, ...)."""
    return _names(scenario_directory())


def scenario_descriptions() -> dict[str, str]:
    """Each built-in scenario's one-line ``[scenario] description``, by name."""
    folder = scenario_directory()
    return {
        name: read_toml(folder / f"{name}.toml", "built-in scenario")
        .get("scenario", {})
        .get("description", "")
        for name in scenario_names()
    }


def scenario_path(name_or_path: str | Path) -> Path:
    """The file of a scenario given as a path, or as the name of a built-in (``rivalry``).

    An existing file wins over a built-in of the same name; a name that is neither is a
    ValidationError listing the built-ins.
    """
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml" or len(path.parts) > 1:
        return path
    builtin = scenario_directory() / f"{name_or_path}.toml"
    if builtin.exists():
        return builtin
    raise ValidationError(
        f"scenario {str(name_or_path)!r}: no such file and no built-in scenario of that name; "
        f"the built-ins are {', '.join(scenario_names())} (neurosim scenarios)"
    )
