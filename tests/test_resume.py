"""``neurosim run --resume``: a run killed with SIGKILL (or stopped by SIGTERM) and resumed
ends with bitwise the trajectory, time axis, weights and metrics of a run that never stopped,
on both backends and for an experiment kind; bad input is refused with the store untouched."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.recording import open_run
from neurosim.scenario.schema import load_scenario
from tests.scenario_files import write_scenario
from tests.test_store_checkpoints import directory_digest

REPOSITORY = Path(__file__).resolve().parents[1]

# every step recorded in both phases, a checkpoint every 400 steps, snapshots every 1000
RECORD = """
[record]
arrays = ["state", "dz", "fake_target"]
time_chunk = 128
checkpoint_every = 400
weight_snapshots = 1000
"""

EVENT = """
[event]
jitter = 0.2
delay = 1.0
events = ["update"]
"""


def phases_scenario(directory: Path, epochs: int, extra: str = "") -> Path:
    """The small rivalry scenario recording all its steps, with checkpoints."""
    path = write_scenario(directory, epochs=epochs, duration=400)
    text = path.read_text()
    start = text.index("[record]")
    text = text[:start] + RECORD.strip() + "\n\n" + text[text.index("[analysis]") :]
    path.write_text(text + extra)
    return path


def neurosim(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "neurosim", *arguments],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def has_checkpoint(store: Path) -> bool:
    """Whether a checkpoint with its manifest is on disk."""
    for metadata in store.glob("checkpoint/state*/zarr.json"):
        try:
            if "manifest" in json.loads(metadata.read_text())["attributes"]:
                return True
        except (OSError, ValueError):
            continue
    return False


def has_steps(store: Path) -> bool:
    """Whether the store holds committed steps (it may not be a store yet)."""
    try:
        return open_run(store).steps_done > 0
    except ValidationError:
        return False


def kill_after_first_checkpoint(arguments: list[str], store: Path, seed: int) -> None:
    """Run ``neurosim ARGUMENTS`` and SIGKILL it at a random moment after its first
    checkpoint (the moment drawn from ``seed``, so a failure can be replayed)."""
    process = neurosim(*arguments)
    deadline = time.monotonic() + 120
    while not has_checkpoint(store):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0.0, 0.4))
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert open_run(store).status == "running"


def assert_same_run(resumed: Path, whole: Path) -> None:
    """Every committed array of every group bitwise equal, and the time axis without gaps
    or repeated steps."""
    expected, actual = open_run(whole), open_run(resumed)
    assert actual.status == "complete"
    assert actual.steps_done == expected.steps_done
    groups = [group for group in expected.groups() if group != "checkpoint"]
    assert [group for group in actual.groups() if group != "checkpoint"] == groups
    for group in groups:
        assert actual.names(group) == expected.names(group), group
        for name in expected.names(group):
            np.testing.assert_array_equal(
                actual.array(group, name), expected.array(group, name), err_msg=f"{group}/{name}"
            )
    time_axis = actual.array("trajectory", "time")
    np.testing.assert_array_equal(time_axis, np.arange(1, len(time_axis) + 1))
    assert actual.attributes["steps_simulated"] == expected.attributes["steps_simulated"]


@pytest.mark.parametrize(
    ("backend", "epochs", "extra"),
    [("sync", 40, ""), ("event", 12, EVENT)],
    ids=["sync", "event with jitter and delays"],
)
def test_a_killed_phases_run_resumes_to_the_uninterrupted_run_bit_for_bit(
    tmp_path: Path, backend: str, epochs: int, extra: str
) -> None:
    scenario = phases_scenario(tmp_path, epochs, extra)
    whole, killed = tmp_path / "whole.zarr", tmp_path / "killed.zarr"
    run = ["run", str(scenario), "--backend", backend, "--quiet"]
    assert main([*run, "--out", str(whole)]) == EXIT_OK
    kill_after_first_checkpoint([*run, "--out", str(killed)], killed, seed=len(backend))
    resumed = neurosim("run", "--resume", str(killed), "--quiet")
    _, errors = resumed.communicate()
    assert resumed.returncode == EXIT_OK, errors
    assert_same_run(killed, whole)
    trajectory = xr.open_zarr(killed, group="trajectory")  # the documented layout
    assert trajectory["state"].dims == ("time", "copy", "neuron")
    assert trajectory.sizes["time"] == open_run(whole).steps_done


def test_a_run_stopped_by_sigterm_checkpoints_where_it_stopped(tmp_path: Path) -> None:
    """Without checkpoint_every, SIGTERM still writes a checkpoint, from which the run
    resumes to the uninterrupted one."""
    scenario = phases_scenario(tmp_path, 40)
    scenario.write_text(scenario.read_text().replace("checkpoint_every = 400\n", ""))
    whole, stopped = tmp_path / "whole.zarr", tmp_path / "stopped.zarr"
    assert main(["run", str(scenario), "--quiet", "--out", str(whole)]) == EXIT_OK
    process = neurosim("run", str(scenario), "--quiet", "--out", str(stopped))
    while not has_steps(stopped):
        assert process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    process.communicate()
    assert process.returncode == EXIT_INTERRUPTED
    assert open_run(stopped).checkpoint() is not None
    assert main(["run", "--resume", str(stopped), "--quiet"]) == EXIT_OK
    assert_same_run(stopped, whole)


def test_a_killed_ordering_experiment_resumes_to_the_same_results(tmp_path: Path) -> None:
    scenario = tmp_path / "ordering.toml"
    scenario.write_text(ORDERING_TINY)
    whole, killed = tmp_path / "whole.zarr", tmp_path / "killed.zarr"
    assert main(["run", str(scenario), "--quiet", "--out", str(whole)]) == EXIT_OK
    kill_after_first_checkpoint(["run", str(scenario), "--quiet", "--out", str(killed)], killed, 3)
    assert main(["run", "--resume", str(killed), "--quiet"]) == EXIT_OK
    assert_same_metrics(killed, whole)


def assert_same_metrics(resumed: Path, whole: Path) -> None:
    expected, actual = open_run(whole), open_run(resumed)
    assert actual.status == "complete"
    assert actual.names("metrics") == expected.names("metrics")
    for name in expected.names("metrics"):
        np.testing.assert_array_equal(
            actual.array("metrics", name), expected.array("metrics", name), err_msg=name
        )
    assert actual.attributes["seeds_done"] == expected.attributes["seeds_done"]


ORDERING_TINY = """
[scenario]
name = "ordering_tiny"

[model]
preset = "astdp"
activation = "sigmoid4_centred"
alpha = 0.005
init = "uniform"
init_scale = 0.1
dtype = "float64"

[model.fake_target]
k = 10.0

[experiment]
kind = "ordering"
n_items = 4
n_hidden = 6
strides = [1, 3]
epochs = 40
steps_per_item = 40
free_steps = 20
test_steps = [40]
test_items = 8
seeds = [0, 1, 2]

[record]
checkpoint_every = 1
"""


def test_resume_refuses_bad_input_with_one_line_and_the_store_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = phases_scenario(tmp_path, 2)
    complete = tmp_path / "complete.zarr"
    assert main(["run", str(scenario), "--quiet", "--out", str(complete)]) == EXIT_OK
    capsys.readouterr()
    other_format = tmp_path / "other.zarr"
    assert main(["run", str(scenario), "--quiet", "--out", str(other_format)]) == EXIT_OK
    metadata = json.loads((other_format / "zarr.json").read_text())
    metadata["attributes"]["store_format"] = 99
    metadata["attributes"]["status"] = "interrupted"
    (other_format / "zarr.json").write_text(json.dumps(metadata))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.txt").write_text("not a store")
    cases = {
        complete: "the run is complete; there is nothing to resume",
        other_format: "written in store format 99",
        foreign: "is not a neurosim run store",
    }
    for store, message in cases.items():
        before = directory_digest(store)
        assert main(["run", "--resume", str(store)]) == EXIT_BAD_INPUT
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and message in captured.err, captured.err
        assert "Traceback" not in captured.err
        assert directory_digest(store) == before


@pytest.mark.parametrize("interval", ["0", "-5", "2.5"])
def test_a_checkpoint_interval_that_is_not_a_positive_integer_is_refused(
    tmp_path: Path, interval: str
) -> None:
    scenario = phases_scenario(tmp_path, 2)
    out = tmp_path / "never.zarr"
    process = neurosim(
        "run", str(scenario), "--set", f"record.checkpoint_every={interval}", "--out", str(out)
    )
    _, errors = process.communicate()
    assert process.returncode == EXIT_BAD_INPUT
    assert errors.count("\n") == 1 and "record.checkpoint_every" in errors, errors
    assert not out.exists()


def test_mnist_takes_record_checkpoint_every_as_its_checkpoint_digits(tmp_path: Path) -> None:
    from tests.test_mnist import TINY

    scenario = tmp_path / "mnist.toml"
    scenario.write_text(TINY + "\n[record]\ncheckpoint_every = 800\n")
    assert load_scenario(scenario).settings["experiment"]["checkpoint_digits"] == 800
    scenario.write_text(TINY.replace("epochs = 2", "epochs = 2\ncheckpoint_digits = 300"))
    assert load_scenario(scenario).settings["experiment"]["checkpoint_digits"] == 300
    scenario.write_text(scenario.read_text() + "\n[record]\ncheckpoint_every = 800\n")
    with pytest.raises(ValidationError, match=r"record\.checkpoint_every = 800 and experiment"):
        load_scenario(scenario)


def test_experiments_take_only_the_checkpoint_keys_of_record(tmp_path: Path) -> None:
    scenario = tmp_path / "ordering.toml"
    scenario.write_text(ORDERING_TINY.replace("checkpoint_every = 1", "every = 2"))
    with pytest.raises(ValidationError, match=r"record\.every: the ordering experiment records"):
        load_scenario(scenario)
