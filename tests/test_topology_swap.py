"""Swapping a scenario's topology: --topology and --set topology.path (paths from the working
directory), neurons named by their GraphML ids, [topology] from_store, and the trained
network exported as GraphML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from neurosim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from neurosim.errors import ValidationError
from neurosim.model.topology import read_graphml, write_graphml
from neurosim.recording import open_run
from neurosim.recording.network import stored_graph
from neurosim.scenario.runner import prepare_phases
from neurosim.scenario.schema import load_scenario

SCENARIO = """
[scenario]
name = "swap"
seed = 1

[model]
preset = "astdp"
dtype = "float64"

[topology]
builder = "recurrent"
n_input = 2
n_hidden = 3
layout = "csr"

[[phase]]
name = "train"
stream = "patterns"
patterns = "one_hot"
epochs = 1
steps_per_item = 5

[[phase]]
name = "hold"
stream = "constant"
values = [1, 0]
duration = 20

[record]
arrays = ["state"]
"""


def named_graph(prefix: str = "n", delay: float | None = None) -> nx.DiGraph:
    """Two inputs and three hidden neurons named PREFIX0.., visible <-> hidden both ways."""
    graph = nx.DiGraph()
    for k in range(5):
        graph.add_node(f"{prefix}{k}", role="input" if k < 2 else "hidden")
    for pre in range(2):
        for post in range(2, 5):
            attributes = {} if delay is None else {"delay": delay + pre}
            graph.add_edge(f"{prefix}{pre}", f"{prefix}{post}", **attributes)
            graph.add_edge(f"{prefix}{post}", f"{prefix}{pre}", **attributes)
    return graph


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A scenario file in its own folder, and a working directory elsewhere (the cwd)."""
    folder, work = tmp_path / "scenarios", tmp_path / "work"
    folder.mkdir()
    work.mkdir()
    (folder / "swap.toml").write_text(SCENARIO)
    monkeypatch.chdir(work)
    return folder / "swap.toml", work


def run(*arguments: str) -> int:
    return main(["run", *arguments, "--quiet"])


def test_topology_flag_replaces_the_builder_and_keeps_the_layout(places) -> None:
    scenario, work = places
    write_graphml(named_graph(), work / "net.graphml")
    assert run(str(scenario), "--topology", "net.graphml", "--out", "r.zarr") == EXIT_OK
    stored = open_run(work / "r.zarr")
    assert stored.array("neurons", "name").tolist() == ["n0", "n1", "n2", "n3", "n4"]
    topology = stored.attributes["scenario"]["topology"]
    assert topology == {"path": str(work / "net.graphml"), "layout": "csr"}


def test_command_line_paths_are_taken_from_the_working_directory(places) -> None:
    scenario, work = places
    write_graphml(named_graph("w"), work / "net.graphml")  # only in the working directory
    for override in ("topology.path=net.graphml", 'topology={path="net.graphml"}'):
        checked = load_scenario(scenario, [override]).settings["topology"]
        assert checked["path"] == str(work / "net.graphml")
        assert "builder" not in checked and "n_hidden" not in checked
    # a path written in the scenario file is taken from the file's folder
    write_graphml(named_graph("f"), scenario.parent / "own.graphml")
    scenario.write_text(
        SCENARIO.replace('builder = "recurrent"\nn_input = 2\nn_hidden = 3', 'path = "own.graphml"')
    )
    assert load_scenario(scenario).settings["topology"]["path"] == str(
        scenario.parent / "own.graphml"
    )
    with pytest.raises(ValidationError, match=r"topology\.path = .*own\.graphml.*no such file"):
        load_scenario(scenario, ["topology.path=own.graphml"])  # not in the working directory
    # an explicit builder replaces the file's path
    rebuilt = load_scenario(
        scenario, ["topology.builder=recurrent", "topology.n_input=2", "topology.n_hidden=4"]
    ).settings["topology"]
    assert rebuilt["builder"] == "recurrent" and "path" not in rebuilt


def test_neurons_are_named_by_their_graphml_ids(places) -> None:
    scenario, work = places
    write_graphml(named_graph(), work / "net.graphml")
    analysis = '\n[analysis]\nkind = "rivalry"\nphase = "hold"\nunits = {units}\n'
    scenario.write_text(SCENARIO + analysis.format(units='["n2", "n3"]'))
    by_id = ["topology.path=net.graphml", 'record.neurons=["n3", "n2", "n0"]']
    phases = prepare_phases(load_scenario(scenario, by_id))
    assert [phases.network.node_ids[k] for k in phases.recorded] == ["n3", "n2", "n0"]
    assert phases.columns == [1, 0]
    # integers are names too: they fail against ids that are not numbers, naming valid ones
    scenario.write_text(SCENARIO + analysis.format(units="[2, 3]"))
    with pytest.raises(ValidationError, match=r"analysis\.units\[0\] = 2: .*'n0', 'n1'"):
        prepare_phases(load_scenario(scenario, ["topology.path=net.graphml"]))
    # a builder's neurons are named by their numbers, as integers or as text
    phases = prepare_phases(load_scenario(scenario, ['record.neurons=["3", 2]']))
    assert phases.recorded.tolist() == [3, 2] and phases.columns == [1, 0]


def test_from_store_starts_from_the_trained_network(places) -> None:
    scenario, work = places
    write_graphml(named_graph(delay=2.0), work / "net.graphml")
    assert run(str(scenario), "--topology", "net.graphml", "--out", "trained.zarr") == EXIT_OK
    trained = open_run(work / "trained.zarr")
    assert trained.snapshots_done >= 2  # and learning moved the weights: the two differ
    assert not np.array_equal(trained.array("weights", "W")[0], trained.array("weights", "W")[-1])
    graph = stored_graph(work / "trained.zarr")
    assert graph.edges["n1", "n4"]["delay"] == 3.0 and graph.nodes["n2"]["role"] == "hidden"
    for snapshot, option in ((-1, []), (0, ["--set", "topology.snapshot=0"])):
        out = f"again{snapshot}.zarr"
        options = ["--set", "topology.from_store=trained.zarr", *option, "--out", out]
        assert run(str(scenario), *options) == EXIT_OK
        again = open_run(work / out)
        for name in ("W", "b"):
            start = again.array("weights", name)[0]
            np.testing.assert_array_equal(start, trained.array("weights", name)[snapshot])
        for name in ("name", "role", "layer"):
            assert again.array("neurons", name).tolist() == trained.array("neurons", name).tolist()
        assert again.attributes["scenario"]["topology"]["layout"] == "csr"


def test_from_store_refuses_what_it_cannot_start_from(places, capsys) -> None:
    scenario, work = places
    (work / "plain").mkdir()
    none = ["--set", "record.weight_snapshots=false", "--out", "none.zarr"]
    assert run(str(scenario), *none) == EXIT_OK
    assert run(str(scenario), "--out", "some.zarr") == EXIT_OK
    capsys.readouterr()
    cases = {
        "topology.from_store=missing.zarr": "topology.from_store = .*missing.zarr.*no such run",
        "topology.from_store=plain": "topology.from_store = .*plain.*not a neurosim run store",
        "topology.from_store=none.zarr": "no weight snapshots.*record.weight_snapshots = true",
        "topology.snapshot=9": r"topology\.snapshot = 9 is out of range.*0 to 2",
        "topology.snapshot=3": r"topology\.snapshot = 3 is out of range.*0 to 2",  # one past
    }
    for override, message in cases.items():
        overrides = ["--set", override]
        if override.startswith("topology.snapshot"):
            overrides = ["--set", "topology.from_store=some.zarr", *overrides]
        assert run(str(scenario), *overrides, "--out", "bad.zarr") == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert re.search(message, err), err
        assert not (work / "bad.zarr").exists()
    # from_store excludes a builder and its arguments in one file
    scenario.write_text(SCENARIO.replace("layout", 'from_store = "x.zarr"\nlayout'))
    with pytest.raises(ValidationError, match=r"exactly one of.*given: builder, from_store"):
        load_scenario(scenario)


@pytest.mark.parametrize(("snapshots", "listed"), [(6, "50)"), (7, "50, ...)")])
def test_a_snapshot_out_of_range_lists_the_first_six_steps(
    tmp_path: Path, snapshots: int, listed: str
) -> None:
    """Below 0 or past the last: refused, naming the count, the allowed range and the steps
    of the first six snapshots (then "..." when there are more)."""
    from tests.test_store import make_store

    path = tmp_path / "run.zarr"
    with make_store(path) as store:
        for k in range(snapshots):
            store.snapshot_weights(10 * k, np.full(6, float(k)), np.zeros(6))
    assert stored_graph(path, snapshot=snapshots - 1).edges["in0", "h0"]["weight"] == snapshots - 1
    for snapshot in (-1, snapshots):
        with pytest.raises(ValidationError) as refused:
            stored_graph(path, snapshot=snapshot, snapshot_name="--snapshot")
        assert str(refused.value) == (
            f"--snapshot {snapshot} is out of range: {path} holds {snapshots} weight snapshot(s); "
            f"allowed are 0 to {snapshots - 1} (at steps 0, 10, 20, 30, 40, {listed}"
        )


def test_export_graphml_round_trips_through_topology(places, capsys) -> None:
    scenario, work = places
    assert run(str(scenario), "--out", "trained.zarr") == EXIT_OK
    arguments = ["export", "trained.zarr", "--format", "graphml"]
    assert main([*arguments, "-o", "trained.graphml"]) == EXIT_OK
    assert main(["topology", "check", "trained.graphml"]) == EXIT_OK
    exported = read_graphml(work / "trained.graphml")
    trained = open_run(work / "trained.zarr")
    biases = trained.array("weights", "b")
    assert [exported.nodes[k]["bias"] for k in range(5)] == biases[-1].tolist()
    assert run(str(scenario), "--topology", "trained.graphml", "--out", "again.zarr") == EXIT_OK
    restarted = stored_graph(work / "again.zarr", snapshot=0)
    for pre, post, data in exported.edges(data=True):
        assert restarted.edges[pre, post]["weight"] == data["weight"]
    assert main([*arguments, "--snapshot", "0", "-o", "first.graphml"]) == EXIT_OK
    first = read_graphml(work / "first.graphml")
    assert [first.nodes[k]["bias"] for k in range(5)] == biases[0].tolist()
    capsys.readouterr()
    assert main([*arguments, "--snapshot", "5", "-o", "late.graphml"]) == EXIT_BAD_INPUT
    assert "--snapshot 5 is out of range" in capsys.readouterr().err
    assert main([*arguments, "-o", "trained.graphml"]) == EXIT_BAD_INPUT  # never overwrites
    assert "already exists" in capsys.readouterr().err
    npz = ["export", "trained.zarr", "--format", "npz", "--snapshot", "0"]
    assert main(npz) == EXIT_BAD_INPUT
    assert "--snapshot 0: only --format graphml" in capsys.readouterr().err
    assert not (work / "late.graphml").exists() and not (work / "trained.npz").exists()


def test_topology_flag_errors_name_the_flag(places, capsys) -> None:
    scenario, work = places
    for command in ("run", "sweep"):
        extra = ["--grid", "model.alpha=0.01,0.02"] if command == "sweep" else []
        code = main([command, str(scenario), *extra, "--topology", "gone.graphml", "--quiet"])
        assert code == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert "--topology 'gone.graphml': no such file" in err and str(work) in err
    assert not (work / "runs").exists()
    # an experiment builds its own network: the flag is refused, named
    write_graphml(named_graph(), work / "mine.graphml")
    code = main(["run", "recurring_patterns", "--topology", "mine.graphml", "--quiet"])
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "continual experiment builds its own network" in err and "--topology" in err
    assert not (work / "runs").exists()


def test_a_sweep_keeps_command_line_paths_absolute_in_its_manifest(places) -> None:
    scenario, work = places
    write_graphml(named_graph(), work / "net.graphml")
    arguments = [str(scenario), "--grid", "model.alpha=0.01,0.02", "--out", "swept", "--quiet"]
    assert main(["sweep", *arguments, "--set", "topology.path=net.graphml"]) == EXIT_OK
    manifest = json.loads((work / "swept" / "sweep.json").read_text())
    # the same file from any folder: --set gives what --topology gives
    assert manifest["overrides"] == [f"topology.path={json.dumps(str(work / 'net.graphml'))}"]
    assert main(["sweep", *arguments, "--topology", "net.graphml"]) == EXIT_OK  # the same sweep
