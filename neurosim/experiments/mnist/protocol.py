"""The protocol's settings: the keys of the ``[experiment]`` table with their defaults, the
checks that need the data set, the model or several keys, and the split of the training set.

Data: the training set is split once (``split_seed``) into ``validation_digits`` validation
digits and the rest; ``train_digits`` of the rest (0: all) are shown each epoch in an order
shuffled by the seed. Everything is chosen on the validation split: the test set is read only
after training, for the final evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.data import Dataset
from neurosim.data.datasets import DATASETS
from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL, TEST_MODEL_KEY
from neurosim.experiments.mnist.modes import MODES
from neurosim.experiments.mnist.training import weight_decay_factor
from neurosim.keys import Key, boolean, choice, integer, integer_list, number, seed, seed_list, text

PAPER_ACCURACY = {"supervised": 0.92, "unsupervised": 0.91}
PAPER_SOURCE = "aSTDP paper, section 3.1 (784-512-10, batch 128)"


def _hidden_sizes(name: str, value: Any) -> list[int]:
    """A non-empty list of integers >= 1"""
    return integer_list(1, unique=False)(name, value)


KEYS = {
    "dataset": Key(choice(tuple(DATASETS)), "mnist", doc="The image set read from its IDX files."),
    "data_dir": Key(
        text,
        doc="The folder that holds the data set's files; absent: --data-dir, NEUROSIM_DATA or the"
        " usual caches.",
    ),
    "mode": Key(
        choice(tuple(MODES)),
        "supervised",
        doc="How each digit is shown: supervised (image, then image and label), unsupervised "
        "(both together), generate (label to image) or selfsupervised.",
    ),
    "hidden": Key(
        _hidden_sizes,
        [512],
        doc="Sizes of the hidden layers (layered) or the number of hidden neurons (recurrent, one"
        " value).",
    ),
    "topology": Key(
        choice(("layered", "recurrent")),
        "layered",
        doc="The network: layers connected both ways, or the MSTDP paper's recurrent layout.",
    ),
    "batch_size": Key(
        integer(1, 4096), 128, doc="Digits run side by side, learning from their mean update."
    ),
    "train_digits": Key(
        integer(0), 0, doc="Training digits shown per epoch (0: all but the validation split)."
    ),
    "validation_digits": Key(
        integer(1), 5000, doc="Training digits set aside once for validation."
    ),
    "test_digits": Key(integer(0), 0, doc="Test digits evaluated at the end (0: all)."),
    "split_seed": Key(seed, 0, doc="Seed of the split into training and validation digits."),
    "epochs": Key(integer(1), 1, doc="Passes over the training digits."),
    "free_steps": Key(
        integer(0),
        20,
        doc="Integration steps each digit is shown with the outputs free (before the label is "
        "clamped).",
    ),
    "clamped_steps": Key(
        integer(1), 20, doc="Integration steps each digit is shown with its label clamped too."
    ),
    "learn_free": Key(boolean, True, doc="Whether the rule also learns during the free steps."),
    "alpha_decay": Key(
        number(0.0),
        0.0,
        doc="A batch after n training digits learns at alpha / (1 + alpha_decay * n / 1000) (0: "
        "constant alpha).",
    ),
    "weight_decay": Key(
        number(0.0),
        0.0,
        doc="Weight decay lambda: after each batch the weights are multiplied by 1 - lambda * "
        "alpha * learning steps (0: none).",
    ),
    "pretrain_epochs": Key(
        integer(0), 0, doc="Epochs of self-supervised pretraining before the epochs of mode."
    ),
    "test_steps": Key(
        integer(1),
        40,
        doc="Integration steps each digit is shown at evaluation before the output is read.",
    ),
    "eval_batch_size": Key(integer(1), 1000, doc="Digits evaluated side by side."),
    "settle_digits": Key(
        integer(0),
        300,
        doc="Validation digits on which the steps to settle are measured (0: not measured).",
    ),
    "settle_threshold": Key(
        number(0.0),
        1e-3,
        doc="The state has settled when its largest change in one step falls below this (state "
        "units).",
    ),
    "settle_max_steps": Key(integer(1), 500, doc="Steps at most that settling is measured for."),
    "generate_samples": Key(
        integer(0), 0, doc="Images generated per label after training (0: none)."
    ),
    "generate_steps": Key(integer(1), 100, doc="Integration steps of each generation."),
    "generate_beta_scale": Key(
        number(0.01, 10.0),
        1.0,
        doc="Factor on the betas with which the label is clamped when generating.",
    ),
    "seeds": Key(
        seed_list,
        [0],
        doc="Seeds run one after another, each its own network (network and order of the digits).",
    ),
    "checkpoint_digits": Key(
        integer(0), 5000, doc="A checkpoint for --resume every this many training digits (0: none)."
    ),
    "curve_every": Key(
        integer(0),
        0,
        doc="Evaluate the network on curve_digits validation digits every this many training "
        "digits, a multiple of batch_size (0: no learning curve).",
    ),
    "curve_digits": Key(integer(1), 500, doc="Validation digits of each learning-curve point."),
    # the model of every evaluation (validation, curve, settling, generation, test)
    TEST_MODEL: TEST_MODEL_KEY,
}


def check_settings(table: dict[str, Any], dataset: Dataset, alpha: float) -> None:
    """The checks that need the data set's sizes, the model's alpha, or several keys."""
    if table["topology"] == "recurrent" and len(table["hidden"]) != 1:
        raise ValidationError(
            f"experiment.hidden = {table['hidden']}: experiment.topology = 'recurrent' has one "
            "hidden population; give one size"
        )
    n_train = len(dataset.train_labels)
    if table["validation_digits"] >= n_train:
        raise ValidationError(
            f"experiment.validation_digits = {table['validation_digits']}: expected fewer than "
            f"the {n_train} training digits of {dataset.name}, leaving some to train on"
        )
    left = n_train - table["validation_digits"]
    if table["train_digits"] > left:
        raise ValidationError(
            f"experiment.train_digits = {table['train_digits']}: only {left} training digits "
            f"are left after experiment.validation_digits = {table['validation_digits']}"
        )
    steps = (table["free_steps"], table["clamped_steps"], table["learn_free"])
    if weight_decay_factor(table["weight_decay"], alpha, *steps) <= 0.0:
        largest = 1.0 / (1.0 - weight_decay_factor(1.0, alpha, *steps))  # 1 / (alpha steps)
        raise ValidationError(
            f"experiment.weight_decay = {table['weight_decay']}: with model.alpha = {alpha} a "
            "batch would scale the weights by "
            f"{weight_decay_factor(table['weight_decay'], alpha, *steps):.3g} <= 0; expected "
            f"weight_decay < {largest:.4g}"
        )
    # the curve's digits count only where there is a curve
    taken = ("settle_digits", "curve_digits") if table["curve_every"] else ("settle_digits",)
    for key in taken:
        if table[key] > table["validation_digits"]:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: expected at most "
                f"experiment.validation_digits = {table['validation_digits']}"
            )
    if table["curve_every"] % table["batch_size"]:
        raise ValidationError(
            f"experiment.curve_every = {table['curve_every']}: expected a multiple of "
            f"experiment.batch_size = {table['batch_size']} (the curve is read between batches)"
        )


def split_indices(table: dict[str, Any], dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices) into the training set."""
    train, validation = dataset.split(table["validation_digits"], table["split_seed"])
    if table["train_digits"]:
        chosen = np.random.default_rng(table["split_seed"]).permutation(len(train))
        train = np.sort(train[chosen[: table["train_digits"]]])
    return train, validation
