"""How far one digit's training moves a network's answers: for that digit, and for digits it
never saw. Online rules (batch size 1) learn one digit at a time; where a single digit moves
every answer toward its own label, the network keeps forgetting and predicts whatever label
came last.

The network is built from a scenario file (``--set`` overrides as ``neurosim run`` takes
them), trained on ``--warmup`` digits, and then shown ``--digits`` more, one at a time, each
with the alpha the run would use at that point (its ``alpha_decay``). Around
each, the answers (the output states after ``test_steps`` with only the image clamped, as the
experiment's ``predict`` reads them) are taken for the digit itself and for ``--watched``
validation digits. Per digit it prints:

- fit: the share of the digit's own error removed, ``(after - before) . (target - before) /
  |target - before|^2`` with the one-hot label as the target;
- own move / others' move: the largest change of the digit's answer, and that change averaged
  over the watched digits;
- pulled: how much the watched digits' answers moved toward the digit's label, beyond their
  average move over all labels;
- answering its label: the share of the watched digits whose argmax is the digit's label after.

    python tools/interference_mnist.py scenarios/mnist_mstdp.toml --digits 6
    python tools/interference_mnist.py scenarios/mnist_mstdp.toml \\
        --set 'experiment.hidden=[256]' --warmup 200

Needs the real data (``NEUROSIM_DATA`` or the experiment's ``data_dir``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from neurosim.backends.sync import SyncSimulator  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.errors import ValidationError  # noqa: E402
from neurosim.experiments import mnist  # noqa: E402
from neurosim.scenario.schema import Scenario, load_scenario  # noqa: E402

COLUMNS = ("label", "fit", "own move", "others' move", "pulled", "answering its label")


def measure(
    scenario: Scenario, digits: int, warmup: int, watched: int
) -> list[tuple[int, float, float, float, float, float]]:
    """One row per digit shown, with the COLUMNS."""
    table = scenario.settings["experiment"]
    if table.get("kind") != "mnist":
        raise ValidationError(f"experiment.kind = {table.get('kind')!r}: expected 'mnist'")
    if table["batch_size"] != 1:
        raise ValidationError(
            f"experiment.batch_size = {table['batch_size']}: the tool measures one digit's "
            "update; expected 1 (--set experiment.batch_size=1)"
        )
    params = scenario.phase_parameters[0]
    dataset = load_dataset(table["dataset"], table.get("data_dir"))
    train, validation = mnist.protocol.split_indices(table, dataset)
    if warmup + digits > len(train):
        raise ValidationError(
            f"--warmup {warmup} + --digits {digits}: the training split has {len(train)} digits"
        )
    seed = table["seeds"][0]
    network, layout = mnist.network.build_network(table["hidden"], params, seed, table["topology"])
    sim = SyncSimulator(network, params, batch_size=1, seed=seed)
    order = np.random.default_rng(seed).permutation(train)
    images, labels = dataset.train_images, dataset.train_labels

    def learn(indices: np.ndarray, seen: int) -> None:
        """Train ``indices`` as the run would after ``seen`` digits (its decayed alpha)."""
        mnist.training.train_epoch(
            sim,
            layout,
            images,
            labels,
            indices,
            mode=table["mode"],
            free_steps=table["free_steps"],
            clamped_steps=table["clamped_steps"],
            learn_free=table["learn_free"],
            params=params,
            alpha_decay=table["alpha_decay"],
            weight_decay=table["weight_decay"],
            digits_seen=seen,
        )

    def answers(indices: np.ndarray) -> np.ndarray:
        evaluation = mnist.evaluation.evaluation_settings(table)
        states = mnist.evaluation.relaxed_states(
            network, params, layout, images, indices, **evaluation
        )
        return np.concatenate(list(states))[:, layout.outputs]

    if warmup:
        learn(order[:warmup], 0)
    rows = []
    for seen, digit in enumerate(order[warmup : warmup + digits], start=warmup):
        shown = np.concatenate([[digit], validation[:watched]])
        before = answers(shown)
        learn(np.array([digit]), seen)
        after = answers(shown)
        moved = after - before
        label = int(labels[digit])
        error = np.eye(len(moved[0]))[label] - before[0]
        others = moved[1:]
        rows.append(
            (
                label,
                float(moved[0] @ error / (error @ error)),
                float(np.abs(moved[0]).max()),
                float(np.abs(others).max(axis=1).mean()),
                float(np.mean(others[:, label] - others.mean(axis=1))),
                float(np.mean(np.argmax(after[1:], axis=1) == label)),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path, help="an MNIST scenario file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key (repeatable)",
    )
    parser.add_argument("--digits", type=int, default=6, help="digits measured one by one")
    parser.add_argument("--warmup", type=int, default=0, help="digits trained before")
    parser.add_argument("--watched", type=int, default=50, help="validation digits watched")
    args = parser.parse_args(argv)
    for name in ("digits", "watched"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: expected at least 1")
    if args.warmup < 0:
        parser.error(f"--warmup {args.warmup}: expected 0 or more")
    try:
        scenario = load_scenario(args.scenario, args.set)
        rows = measure(scenario, args.digits, args.warmup, args.watched)
    except ValidationError as error:
        print(f"interference_mnist: {error}", file=sys.stderr)
        return 2
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for label, *values in rows:
        print(f"| {label} | " + " | ".join(f"{value:+.3f}" for value in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
