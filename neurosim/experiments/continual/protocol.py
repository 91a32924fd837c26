"""The ``[experiment]`` keys of a continual-learning stream, their defaults, and the checks
that involve several keys or the data set."""

from __future__ import annotations

from typing import Any

from neurosim.errors import ValidationError
from neurosim.experiments import TEST_MODEL, TEST_MODEL_KEY
from neurosim.keys import Key, boolean, choice, integer, integer_list, number, seed, text
from neurosim.streams.tasks import SCHEDULES

DATASETS = ("mnist", "fashion-mnist", "patterns")
TASKS = ("split", "permuted")
EVALUATIONS = ("class", "task")


def _class_order(name: str, value: Any) -> str | list[int]:
    """ "natural", "seeded", or a list of the classes in the order their tasks come."""
    if isinstance(value, str):
        return choice(("natural", "seeded"))(name, value)
    return integer_list(0)(name, value)


KEYS = {
    # the data: an image set, or the toy experiments' one-hot patterns (no download)
    "dataset": Key(
        choice(DATASETS),
        "mnist",
        doc="The data: an image set, or n_patterns one-hot items (input i with output i; no "
        "download).",
    ),
    "data_dir": Key(
        text,
        doc="The folder that holds the image set's files; absent: --data-dir, NEUROSIM_DATA or "
        "the usual caches.",
    ),
    "n_patterns": Key(integer(2, 1024), 8, doc="Number of one-hot items of the patterns data set."),
    # the tasks: disjoint class subsets ("split") or pixel permutations of every class
    "tasks": Key(
        choice(TASKS),
        "split",
        doc="split: the classes in class_order cut into tasks of classes_per_task; permuted: "
        "n_tasks tasks over every class, each with its own pixel order.",
    ),
    "classes_per_task": Key(integer(1), 2, doc="Classes in each split task."),
    "class_order": Key(
        _class_order,
        "natural",
        doc="The order of the classes the split tasks take: 0, 1, ... (natural), a permutation "
        "drawn from task_seed (seeded), or listed.",
    ),
    "n_tasks": Key(integer(1), 10, doc="Number of permuted tasks."),
    "identity_first": Key(
        boolean, True, doc="Whether permuted task 0 is the identity (the plain images)."
    ),
    # the permutations from a .npy file of shape (n_tasks, inputs) instead of drawn
    "permutations": Key(
        text,
        doc="A .npy file of shape (tasks, inputs), one pixel order per permuted task, instead of "
        "drawn ones.",
    ),
    "task_seed": Key(seed, 0, doc="Seed of the seeded class order and of the drawn permutations."),
    # the schedule: blocks of samples_per_task, the order passed `cycles` times (0: no end)
    "schedule": Key(
        choice(SCHEDULES),
        "blocks",
        doc="blocks: samples_per_task samples of one task, then the next; drift: a block's "
        "samples come more and more from the next block's task.",
    ),
    "samples_per_task": Key(integer(1), 1000, doc="Samples in each task's block."),
    "cycles": Key(
        integer(0),
        1,
        doc="Passes through the task order (2 or more: recurring tasks; 0: without end, up to "
        "samples).",
    ),
    "samples": Key(integer(0), 0, doc="Stop after this many samples (0: at the schedule's end)."),
    # the network
    "hidden": Key(
        integer_list(1, unique=False),
        [256],
        doc="Sizes of the hidden layers (layered) or the number of hidden neurons (recurrent, one"
        " value).",
    ),
    "topology": Key(
        choice(("layered", "recurrent")),
        "layered",
        doc="The network: layers connected both ways, or the MSTDP paper's recurrent layout.",
    ),
    # how each sample is shown: free (prediction), then with its label (learning)
    "batch_size": Key(
        integer(1, 4096),
        1,
        doc="Samples run side by side, each weight change the batch mean (1: online).",
    ),
    "free_steps": Key(
        integer(1),
        20,
        doc="Integration steps each sample's input is shown alone (the answer is read at the end).",
    ),
    "clamped_steps": Key(
        integer(1), 20, doc="Integration steps each sample is then shown with its label."
    ),
    "learn_free": Key(boolean, True, doc="Whether the rule also learns during the free steps."),
    "weight_decay": Key(
        number(0.0),
        0.0,
        doc="Weight decay lambda: after each batch the weights are multiplied by 1 - lambda * "
        "alpha * learning steps (0: none).",
    ),
    "evaluation": Key(
        choice(EVALUATIONS),
        "class",
        doc="class-incremental (argmax over all outputs) or task-incremental (over the task's "
        "classes).",
    ),
    # online metrics
    "prequential_window": Key(integer(1), 500, doc="Samples in the rolling prequential accuracy."),
    "probe_samples": Key(
        integer(1), 200, doc="Held-out test samples per task, read at each probe."
    ),
    "probe_every": Key(
        integer(0),
        500,
        doc="Samples between probes of every task (and one at every block's end; 0: only those).",
    ),
    "test_steps": Key(
        integer(1), 40, doc="Integration steps each probe is shown before the output is read."
    ),
    "eval_batch_size": Key(integer(1), 1000, doc="Probes evaluated side by side."),
    "settle_samples": Key(
        integer(0), 50, doc="Probes on which settling is read at each change of task (0: not read)."
    ),
    "settle_threshold": Key(
        number(0.0),
        1e-3,
        doc="The state has settled when its largest change in one step falls below this (state "
        "units).",
    ),
    "settle_max_steps": Key(integer(1), 500, doc="Steps at most that settling is measured for."),
    "checkpoint_every": Key(integer(1), 5000, doc="Samples between checkpoints for --resume."),
    TEST_MODEL: TEST_MODEL_KEY,
}


def check_settings(table: dict[str, Any], n_classes: int) -> None:
    """The checks that involve several keys or the data set's ``n_classes``."""
    if table["tasks"] == "permuted" and table["dataset"] == "patterns":
        raise ValidationError(
            "experiment.tasks = 'permuted': the one-hot patterns have one active input each, so "
            "a permutation only renames them; use tasks = 'split' with dataset = 'patterns'"
        )
    if "permutations" in table and table["tasks"] != "permuted":
        raise ValidationError(
            f"experiment.permutations = {table['permutations']!r}: pixel orders are for "
            "experiment.tasks = 'permuted'"
        )
    if table["tasks"] == "split":
        order = table["class_order"]
        if isinstance(order, list):
            wrong = [label for label in order if label >= n_classes]
            if wrong or sorted(order) != list(range(n_classes)):
                raise ValidationError(
                    f"experiment.class_order = {order}: expected each of the {n_classes} classes "
                    f"0 to {n_classes - 1} exactly once"
                    + (f" ({wrong[0]} is not a class)" if wrong else "")
                )
        if n_classes % table["classes_per_task"]:
            raise ValidationError(
                f"experiment.classes_per_task = {table['classes_per_task']}: expected a divisor "
                f"of the {n_classes} classes, so that every task has as many"
            )
    if table["cycles"] == 0 and table["samples"] == 0:
        raise ValidationError(
            "experiment.cycles = 0 (a stream without end) needs experiment.samples > 0, the "
            "samples to run (or stop the run with Ctrl-C; it keeps what it learned)"
        )
    batch = table["batch_size"]
    for key in ("samples_per_task", "probe_every", "checkpoint_every", "samples"):
        if table[key] % batch:
            raise ValidationError(
                f"experiment.{key} = {table[key]}: expected a multiple of experiment.batch_size "
                f"= {batch} (the stream is shown a batch at a time)"
            )
    if table["settle_samples"] > table["probe_samples"]:
        raise ValidationError(
            f"experiment.settle_samples = {table['settle_samples']}: expected at most "
            f"experiment.probe_samples = {table['probe_samples']} (settling is read on probes)"
        )
