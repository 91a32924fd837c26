"""The experiment's network: ``layered([784, *hidden, 10])`` or the MSTDP paper's recurrent
layout, where its inputs and outputs lie, and the network a finished run trained, rebuilt
from its store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim.data.datasets import IMAGE_SHAPE, N_CLASSES
from neurosim.errors import ValidationError
from neurosim.model import topology
from neurosim.model.network import ROLE_CODES, CompiledNetwork, compile_graph
from neurosim.model.parameters import ModelParameters
from neurosim.recording import RunReader
from neurosim.scenario.schema import check_scenario


@dataclass(frozen=True)
class Layout:
    """Where the inputs and the outputs are in the compiled order (by layer, then role, so
    each is one contiguous range)."""

    n_neurons: int
    inputs: slice
    outputs: slice


def build_network(
    hidden: list[int],
    params: ModelParameters,
    seed: int,
    kind: str = "layered",
    n_input: int = IMAGE_SHAPE[0] * IMAGE_SHAPE[1],
    n_output: int = N_CLASSES,
) -> tuple[CompiledNetwork, Layout]:
    """``layered([n_input, *hidden, n_output])`` or, with ``kind`` "recurrent",
    ``recurrent(n_input, n_output, hidden[0])`` (the MSTDP paper's layout), with initial
    weights drawn from ``seed``; by default the MNIST sizes, 784 and 10."""
    if kind == "recurrent":
        graph = topology.recurrent(n_input, n_output, hidden[0])
    else:
        graph = topology.layered([n_input, *hidden, n_output])
    network = compile_graph(graph, params, seed=seed)
    return network, Layout(network.n_neurons, _span(network, "input"), _span(network, "output"))


def _span(network: CompiledNetwork, role: str) -> slice:
    """The compiled indices of the neurons of ``role`` (contiguous: compiled by layer, then
    role)."""
    where = np.flatnonzero(network.role == ROLE_CODES[role])
    return slice(int(where[0]), int(where[-1]) + 1)


def trained_network(
    run: RunReader, seed_index: int = 0
) -> tuple[CompiledNetwork, Layout, ModelParameters, dict[str, Any]]:
    """The network a finished seed of the MNIST run ``run`` trained (its final weights and
    biases), with its layout, the model it is evaluated with (``[experiment.test_model]``
    over the training model) and the experiment settings, for analysis."""
    if run.attributes.get("experiment") != "mnist":
        raise ValidationError(f"{run.path}: not an MNIST experiment's run store")
    done = int(run.attributes.get("seeds_done", 0))
    if not 0 <= seed_index < done:
        raise ValidationError(
            f"seed_index = {seed_index}: the run stored the weights of {done} seed(s)"
        )
    scenario = check_scenario(run.attributes["scenario"], None)
    table = scenario.settings["experiment"]
    network, layout = build_network(
        table["hidden"], scenario.phase_parameters[0], table["seeds"][seed_index], table["topology"]
    )
    network.set_edge_weights(run.array("weights", "W")[seed_index])
    network.bias[:] = run.array("weights", "b")[seed_index]
    assert scenario.test_parameters is not None  # the MNIST kind declares TEST_MODEL
    return network, layout, scenario.test_parameters, table
