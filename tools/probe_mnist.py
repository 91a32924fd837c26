"""Linear probes of a trained MNIST network: how well its hidden layers' features classify
when read out by least squares or by logistic regression (scikit-learn), next to the
network's own outputs, all on the run's validation split (never the test set).

The network is rebuilt from a finished run store (its scenario and final weights), shown
``--fit-digits`` training digits and the validation digits with only the image clamped, as
the experiment's ``predict`` does, and the states of each hidden layer, as rates, are the
features. A probe far above the network's own accuracy says its readout, not its features,
holds it back; the same probes on the pixels show what the features add to the raw data.

    python tools/probe_mnist.py runs/mnist_astdp_supervised.zarr
    python tools/probe_mnist.py runs/mnist_depth.zarr --fit-digits 10000 --seed-index 0

Needs the real data (``NEUROSIM_DATA`` or the experiment's ``data_dir``) and scikit-learn
(``pip install -e ".[mnist]"``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from neurosim.data import load_dataset  # noqa: E402
from neurosim.errors import ValidationError  # noqa: E402
from neurosim.experiments import mnist  # noqa: E402
from neurosim.kernels.activations import rate  # noqa: E402
from neurosim.recording import open_run  # noqa: E402


def probe(store: Path, fit_digits: int, seed_index: int) -> list[tuple[str, float]]:
    """(readout, validation accuracy) rows: the network's own, then per hidden layer the
    least-squares and the logistic-regression probe, then the same two on the pixels."""
    network, layout, params, table = mnist.network.trained_network(open_run(store), seed_index)
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    train, validation = mnist.protocol.split_indices(table, dataset)
    fitted = np.random.default_rng(table["split_seed"]).permutation(train)[:fit_digits]

    def states(indices: np.ndarray) -> np.ndarray:
        evaluation = mnist.evaluation.evaluation_settings(table)
        images = dataset.train_images
        return np.concatenate(
            list(
                mnist.evaluation.relaxed_states(
                    network, params, layout, images, indices, **evaluation
                )
            )
        )

    fit_states, validation_states = states(fitted), states(validation)
    fit_labels = dataset.train_labels[fitted]
    validation_labels = dataset.train_labels[validation]
    own = np.argmax(validation_states[:, layout.outputs], axis=1)
    rows = [("the network's outputs", float(np.mean(own == validation_labels)))]
    for number, layer in enumerate(np.unique(network.layer[network.hidden]), start=1):
        where = np.flatnonzero(network.hidden & (network.layer == layer))
        features = [
            rate(array[:, where], params.activation, params.hard_sigmoid_threshold)
            for array in (fit_states, validation_states)
        ]
        name = f"hidden layer {number} ({len(where)} neurons)"
        rows += _linear_probes(name, features, fit_labels, validation_labels)
    # the same probes on the images themselves: what the features add to the raw data
    pixels = [
        dataset.train_images[indices].reshape(len(indices), -1) / 255.0
        for indices in (fitted, validation)
    ]
    rows += _linear_probes("the pixels", pixels, fit_labels, validation_labels)
    return rows


def _linear_probes(
    name: str, features: list[np.ndarray], fit_labels: np.ndarray, validation_labels: np.ndarray
) -> list[tuple[str, float]]:
    """Least-squares and logistic-regression probes fitted on ``features[0]`` and scored on
    ``features[1]``."""
    least_squares = RidgeClassifier(alpha=1.0).fit(features[0], fit_labels)
    rows = [(f"{name}, least squares", least_squares.score(features[1], validation_labels))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        logistic = LogisticRegression(max_iter=300).fit(features[0], fit_labels)
    rows.append((f"{name}, logistic regression", logistic.score(features[1], validation_labels)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a finished MNIST run store")
    parser.add_argument(
        "--fit-digits", type=int, default=20_000, help="training digits the probes learn from"
    )
    parser.add_argument("--seed-index", type=int, default=0, help="which of the run's seeds")
    args = parser.parse_args(argv)
    if args.fit_digits < 1:
        parser.error(f"--fit-digits {args.fit_digits}: expected at least 1")
    try:
        rows = probe(args.store, args.fit_digits, args.seed_index)
    except ValidationError as error:
        print(f"probe_mnist: {error}", file=sys.stderr)
        return 2
    print(f"| readout ({args.store.name}, validation split) | accuracy |")
    print("| --- | --- |")
    for name, accuracy in rows:
        print(f"| {name} | {accuracy:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
