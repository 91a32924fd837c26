"""Everything a scenario run can check is checked before any work and any write: analysis
neuron ids, the event backend's size (before the graph is built), synapse delays against the
run and the channels' memory, the seed's range. Each refusal is exit 2, one message naming
the file and the key, and no store."""

from __future__ import annotations

import functools
from pathlib import Path

import networkx as nx
import pytest

from neurosim.backends.sync import SyncSimulator
from neurosim.checks import MAX_SEED
from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model import topology
from neurosim.model.network import compile_graph
from neurosim.model.parameters import ModelParameters

# A small rivalry scenario on a GraphML topology whose node ids are names, not numbers.
SCENARIO = """
[scenario]
name = "checked"
seed = 3
backend = "{backend}"

[model]
preset = "astdp"
dtype = "float64"

[topology]
path = "net.graphml"

[[phase]]
name = "show"
stream = "constant"
neurons = ["in0", "in1"]
values = [1, 0]
duration = {duration}

[record]
neurons = {recorded}

[analysis]
kind = "rivalry"
phase = "show"
units = {units}
{extra}
"""


def write_graph(directory: Path, delay: float | None = None) -> None:
    graph = nx.relabel_nodes(
        topology.recurrent(2, 0, 3), {0: "in0", 1: "in1", 2: "h0", 3: "h1", 4: "h2"}
    )
    if delay is not None:
        graph.edges["in0", "h1"]["delay"] = delay
    topology.write_graphml(graph, directory / "net.graphml")


def write_scenario(
    directory: Path,
    *,
    backend: str = "sync",
    duration: int = 50,
    recorded: str = '"all"',
    units: str = '["h0", "h1"]',
    extra: str = "",
    delay: float | None = None,
) -> Path:
    write_graph(directory, delay)
    path = directory / "checked.toml"
    path.write_text(
        SCENARIO.format(
            backend=backend,
            duration=duration,
            recorded=recorded,
            units=units,
            extra=extra,
        )
    )
    return path


def refused(capsys, scenario: Path, out: Path, *options: str) -> str:
    """Run the scenario; assert exit 2, no store and a message naming the file; return it."""
    code = main(["run", str(scenario), "--out", str(out), "--quiet", *options])
    message = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, message
    assert not out.exists()
    assert str(scenario) in message
    assert message.count("\n") == 1  # one line
    return message


def test_analysis_units_by_graphml_id_are_accepted(tmp_path, capsys):
    scenario = write_scenario(tmp_path)
    out = tmp_path / "run.zarr"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == EXIT_OK
    assert "switches" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("units", "recorded", "named"),
    [
        (
            '["h0", "missing"]',
            '"all"',
            "analysis.units[1] = 'missing': no neuron named 'missing' in the network; its 5 "
            "neurons are named 'in0', 'in1', 'h0'",
        ),
        ('["h0", 3]', '"all"', "analysis.units[1] = 3: no neuron named '3' in the network"),
        ('["h0", "h1"]', '["in0", "h0"]', "analysis.units[1] = 'h1' is not recorded"),
    ],
)
def test_analysis_units_are_checked_before_the_run(tmp_path, capsys, units, recorded, named):
    # a long run: the old check came after it, and left a complete store without metrics
    scenario = write_scenario(tmp_path, duration=10**7, units=units, recorded=recorded)
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert named in message


def test_the_event_backend_refuses_a_large_network_before_building_it(
    tmp_path, capsys, monkeypatch
):
    @functools.wraps(topology.recurrent)  # the same parameters, which the schema reads
    def never(*arguments, **keywords):
        raise AssertionError("the graph was built")

    monkeypatch.setitem(topology.BUILDERS, "recurrent", never)
    scenario = tmp_path / "large.toml"
    scenario.write_text(
        '[scenario]\nname = "large"\nbackend = "event"\n'
        '[topology]\nbuilder = "recurrent"\nn_input = 784\nn_hidden = 8000\n'
        '[[phase]]\nstream = "constant"\nvalues = [0.5]\nneurons = [0]\nduration = 10\n'
    )
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert "topology (builder 'recurrent')" in message
    # 2 * 784 * 8000 visible <-> hidden + 8000 * 7999 hidden -> hidden
    assert "76,536,000 synapses" in message and "synchronous backend" in message


@pytest.mark.parametrize(
    ("builder", "arguments"),
    [
        ("recurrent", {"n_input": 5, "n_output": 2, "n_hidden": 7}),
        ("layered", {"sizes": [4, 6, 5, 3], "lateral": True}),
        ("layered", {"sizes": [4, 6, 3]}),
        ("sparse_random", {"n_input": 5, "n_output": 1, "n_hidden": 30, "in_degree": 4}),
        ("small_world", {"n_input": 3, "n_output": 2, "n_hidden": 20, "k": 4,
                         "rewire_probability": 0.3, "seed": 2}),
    ],
)  # fmt: skip
def test_builder_sizes_match_the_built_graphs(builder, arguments):
    graph = topology.BUILDERS[builder](**arguments)
    assert topology.BUILDER_SIZES[builder](**arguments) == (
        graph.number_of_nodes(),
        graph.number_of_edges(),
    )


def test_random_builder_sizes_are_the_expected_counts():
    sizes = []
    for seed in range(20):
        arguments = {"n_input": 10, "n_output": 0, "n_hidden": 40, "probability": 0.2}
        arguments |= {"visible_density": 0.5, "seed": seed}
        sizes.append(topology.sparse_random(**arguments).number_of_edges())
    neurons, expected = topology.BUILDER_SIZES["sparse_random"](**arguments)
    assert neurons == 50
    assert abs(sum(sizes) / len(sizes) - expected) < 0.02 * expected


def test_a_delay_longer_than_the_run_is_refused(tmp_path, capsys):
    scenario = write_scenario(tmp_path, backend="event", extra="[event]\ndelay = 1e12\n")
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert "event.delay = 1e+12 is longer than the run (50 steps)" in message


def test_a_delay_by_projection_longer_than_the_run_is_refused(tmp_path, capsys):
    extra = '[event.delay]\n"input->hidden" = 51\n'
    scenario = write_scenario(tmp_path, backend="event", extra=extra)
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert "event.delay.input->hidden = 51 is longer than the run (50 steps)" in message


def test_a_graphml_delay_longer_than_the_run_is_refused(tmp_path, capsys):
    scenario = write_scenario(tmp_path, backend="event", delay=1e12)
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert "topology.path = 'net.graphml'" not in message  # the resolved path is named
    assert f"topology.path = '{tmp_path / 'net.graphml'}'" in message
    assert "delay = 1e+12 on edge 'in0' -> 'h1' is longer than the run (50 steps)" in message


def test_channels_beyond_the_memory_bound_are_refused(tmp_path, capsys):
    # a delay within the run, but 10^7 messages in flight per neuron at this clock
    extra = "[event]\nperiod = 0.01\ndelay = 1e5\n"
    scenario = write_scenario(tmp_path, backend="event", duration=100_000, extra=extra)
    message = refused(capsys, scenario, tmp_path / "run.zarr")
    assert "event.delay and event.period" in message and "GB" in message


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (["--seed", str(2**64)], "scenario.seed = 18446744073709551616"),
        (["--seed", str(MAX_SEED + 1)], f"scenario.seed = {MAX_SEED + 1}"),
        (["--seed", "-1"], "scenario.seed = -1"),
        (["--set", f"topology.seed={2**64}"], "topology.seed = 18446744073709551616"),
    ],
)
def test_a_seed_out_of_range_is_refused(tmp_path, capsys, options, key):
    scenario = write_scenario(tmp_path)
    message = refused(capsys, scenario, tmp_path / "run.zarr", *options)
    assert key in message and f"[0, {MAX_SEED}]" in message


@pytest.mark.parametrize("backend", ["sync", "event"])
def test_the_largest_seed_runs_on_both_backends(tmp_path, capsys, backend):
    scenario = write_scenario(tmp_path, backend=backend, duration=5)
    out = tmp_path / "run.zarr"
    arguments = ["run", str(scenario), "--out", str(out), "--quiet", "--seed", str(MAX_SEED)]
    assert main(arguments) == EXIT_OK, capsys.readouterr().err


def test_simulators_refuse_a_seed_out_of_range():
    params = ModelParameters()
    network = compile_graph(topology.recurrent(2, 0, 2), params, seed=0)
    with pytest.raises(ValidationError, match=r"seed = 18446744073709551616"):
        SyncSimulator(network, params, seed=2**64)
