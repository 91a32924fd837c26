"""The experiment's figure: the learning curve, the confusion matrix, the input weights of
the first hidden units and, where digits were generated, a grid of them.

Drawn on a ``matplotlib.figure.Figure`` made directly (not through pyplot), which writes
files without choosing a backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurosim.data.datasets import IMAGE_SHAPE, N_CLASSES
from neurosim.errors import ValidationError
from neurosim.experiments.mnist.training import whole_batches
from neurosim.recording import RunReader
from neurosim.scenario.schema import check_scenario

N_RECEPTIVE_FIELDS = 64
N_GENERATED_SHOWN = 10  # generated digits per label in the figure


def plot(run: RunReader, path: Path) -> Path:
    """Write ``figure(run)`` to ``path``."""
    path = Path(path)
    figure(run).savefig(path, dpi=110)
    return path


def figure(run: RunReader) -> Figure:
    """Learning curve (validation accuracy per epoch, one line per seed), the confusion
    matrix summed over seeds, the input weights of the first hidden units (first seed) and,
    where digits were generated, a grid of them (one row per label, first seed)."""
    if "test_accuracy" not in run.names("metrics"):
        raise ValidationError(f"{run.path}: no accuracy metrics yet (no seed finished)")
    validation = run.array("metrics", "validation_accuracy")
    confusion = run.array("metrics", "confusion").sum(axis=0)
    test = run.array("metrics", "test_accuracy")
    seeds = run.array("metrics", "seed")
    generated = "generated_images" in run.names("metrics")
    n_panels = 4 if generated else 3
    drawn = Figure(figsize=(5 * n_panels, 4.6), layout="constrained")
    axes = drawn.subplots(1, n_panels)
    curve, matrix, fields = axes[:3]
    _plot_learning_curve(run, curve, validation, seeds, test)
    paper = run.attributes.get("paper_accuracy")
    if paper is not None:
        curve.axhline(100 * paper, color="grey", linestyle="--", label="paper (test)")
    curve.set_ylim(0, 100)
    curve.set_ylabel("validation accuracy (%)")
    curve.set_title(f"test accuracy {100 * np.nanmean(test):.1f} %")
    curve.legend(fontsize=8)
    image = matrix.imshow(confusion, cmap="Blues")
    for (label, predicted), count in np.ndenumerate(confusion):
        matrix.text(predicted, label, str(count), ha="center", va="center", fontsize=6)
    matrix.set_xticks(range(N_CLASSES))
    matrix.set_yticks(range(N_CLASSES))
    matrix.set_xlabel("predicted")
    matrix.set_ylabel("label")
    matrix.set_title("confusion (test digits, all seeds)")
    drawn.colorbar(image, ax=matrix, shrink=0.8)
    fields.imshow(_receptive_fields(run), cmap="RdBu_r")
    fields.set_axis_off()
    fields.set_title(f"input weights of the first {N_RECEPTIVE_FIELDS} hidden units")
    if generated:
        recognised = run.array("metrics", "generated_recognised")
        shown = run.array("metrics", "generated_images")[0, :, :N_GENERATED_SHOWN]
        axes[3].imshow(_mosaic(shown), cmap="gray_r", vmin=0.0, vmax=1.0)
        axes[3].set_axis_off()
        axes[3].set_title(
            f"generated (rows: labels 0-9); recognised {100 * np.nanmean(recognised):.0f} %"
        )
    return drawn


def _plot_learning_curve(
    run: RunReader, axis: Axes, validation: np.ndarray, seeds: np.ndarray, test: np.ndarray
) -> None:
    """Validation accuracy per epoch, one line per finished seed; with a learning curve
    (``curve_every``), against the training digits, the curve as a line and each epoch's
    validation as a marker at the digits it was read after, for every seed with a point."""
    epochs = np.arange(1, validation.shape[1] + 1)
    if "learning_curve" not in run.names("metrics"):
        for s, seed in enumerate(seeds):
            if not np.isnan(test[s]):
                axis.plot(epochs, 100 * validation[s], marker="o", label=f"seed {seed}")
        axis.set_xticks(epochs)
        axis.set_xlabel("epoch")
        return
    points = run.array("metrics", "learning_curve")
    digits = run.array("metrics", "digits")
    batch_size = check_scenario(run.attributes["scenario"], None).settings["experiment"][
        "batch_size"
    ]
    per_epoch = whole_batches(int(run.attributes["train_digits_used"]), batch_size)
    for s, seed in enumerate(seeds):
        if np.isnan(points[s]).all():
            continue
        (line,) = axis.plot(digits, 100 * points[s], label=f"seed {seed}")
        axis.plot(
            epochs * per_epoch,
            100 * validation[s],
            marker="o",
            linestyle="none",
            color=line.get_color(),
        )
    axis.set_xlabel("training digits (line: curve digits; markers: each epoch's validation)")


def _receptive_fields(run: RunReader) -> np.ndarray:
    """The input-to-hidden weights of the first hidden units as a mosaic of 28 x 28 tiles,
    each scaled to [-1, 1] (first seed's final weights)."""
    role = run.array("neurons", "role")
    pre = run.array("weights", "edge_src")
    post = run.array("weights", "edge_dst")
    weights = run.array("weights", "W")[0]
    inputs = np.flatnonzero(role == "input")
    hidden = np.flatnonzero(role == "hidden")[:N_RECEPTIVE_FIELDS]
    dense = np.zeros((len(role), len(role)))
    dense[pre, post] = weights
    tiles = dense[np.ix_(inputs, hidden)].T.reshape(-1, *IMAGE_SHAPE)
    tiles /= np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    side = int(np.ceil(np.sqrt(len(tiles))))
    grid = np.full((side * side, tiles.shape[1] * tiles.shape[2]), np.nan)
    grid[: len(tiles)] = tiles.reshape(len(tiles), -1)
    return _mosaic(grid.reshape(side, side, -1))


def _mosaic(grid: np.ndarray) -> np.ndarray:
    """Images (rows, columns, pixels) as one picture of 28 x 28 tiles, NaN between them."""
    height, width = IMAGE_SHAPE
    rows, columns = grid.shape[:2]
    mosaic = np.full((rows * (height + 1), columns * (width + 1)), np.nan)
    for row, column in np.ndindex(rows, columns):
        mosaic[row * (height + 1) : row * (height + 1) + height, column * (width + 1) :][
            :, :width
        ] = grid[row, column].reshape(IMAGE_SHAPE)
    return mosaic
