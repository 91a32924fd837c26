"""A small rivalry scenario file for the tests of `neurosim run` on either backend."""

from __future__ import annotations

from pathlib import Path

SCENARIO = """
[scenario]
name = "small"
seed = 3

[model]
preset = "astdp"
activation = "sigmoid4_centred"
alpha = 0.005
init = "uniform"
dtype = "float64"

[model.fake_target]
k = 10.0

[topology]
builder = "recurrent"
n_input = 4
n_hidden = 8

[[phase]]
name = "train"
stream = "patterns"
patterns = "one_hot"
epochs = {epochs}
steps_per_item = 80

[[phase]]
name = "ambiguous"
stream = "constant"
values = [1, 1, 0, 0]
duration = {duration}

[phase.model]
alpha = 0.0

[phase.model.fake_target]
k = 5.0
magnitude = 1.0
mu = 0.99

[record]
arrays = ["state", "dz", "fake_target"]
phases = ["ambiguous"]
time_chunk = 512

[analysis]
kind = "rivalry"
phase = "ambiguous"
units = [0, 1]
"""


def write_scenario(directory: Path, epochs: int = 20, duration: int = 600, extra: str = "") -> Path:
    path = directory / "small.toml"
    path.write_text(SCENARIO.format(epochs=epochs, duration=duration) + extra)
    return path


# A short version of scenarios/ordering.toml: 300 epochs instead of 1000, two seeds. With these
# seeds each network is better on its own order by 20 points or more at 300, 400 and 500
# epochs (measured), so the assertion does not hang on one setting.
ORDERING_SMALL = """
[scenario]
name = "ordering_small"

[model]
preset = "astdp"
activation = "sigmoid4_centred"
alpha = 0.005
init = "uniform"
init_scale = 0.1
dtype = "float64"

[model.fake_target]
k = 10.0
magnitude = 0.25
mu = 0.9

[experiment]
kind = "ordering"
epochs = 300
test_items = 24
seeds = [0, 2]
"""


def recording_progress(bars: list[dict]) -> type:
    """A ``RunProgress`` that appends each bar's keyword arguments, and the amounts of its
    updates (under ``"updates"``), to ``bars``: a spy for what a run shows."""
    from neurosim.progress import RunProgress

    class RecordingProgress(RunProgress):
        def __init__(self, *args: object, **kwargs: object) -> None:
            bars.append(kwargs | {"updates": []})
            super().__init__(*args, **kwargs)

        def update(self, n: float = 1) -> bool | None:
            bars[-1]["updates"].append(n)
            return super().update(n)

    return RecordingProgress
