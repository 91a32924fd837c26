"""What a training batch clamps in each ``mode``: one entry of ``MODES`` per mode.

"supervised" is the aSTDP paper's algorithm 2 (the image alone, then the image and the
one-hot label); "unsupervised" its algorithm 1 (image and label as one pattern, all visible
neurons clamped throughout; evaluation in-paints the label from the image); "generate" is
algorithm 2 with input and output swapped, the paper's conditional generation (the label
alone, then the label and the image); "selfsupervised" is section 2.3.3 (a random 10 x 10
patch of the image free in the free part, clamped in the clamped part, the label never
shown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurosim.data import one_hot
from neurosim.data.datasets import IMAGE_SHAPE
from neurosim.experiments.mnist.network import Layout

PATCH = 10  # side of the square the self-supervised mode covers


@dataclass(frozen=True)
class Presentation:
    """What one batch of digits clamps: targets (B, N), the clamps of the free part and of
    the clamped part."""

    target: np.ndarray
    free_clamp: np.ndarray
    clamped_clamp: np.ndarray


def _supervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 2: the image alone, then the image and the one-hot label."""
    target = np.zeros((len(images), layout.n_neurons), dtype=images.dtype)
    target[:, layout.inputs] = images
    n_outputs = layout.outputs.stop - layout.outputs.start
    target[:, layout.outputs] = one_hot(labels, n_outputs, dtype=images.dtype)
    free = np.zeros(layout.n_neurons, dtype=images.dtype)
    free[layout.inputs] = 1.0
    clamped = free.copy()
    clamped[layout.outputs] = 1.0
    return Presentation(target, free, clamped)


def _unsupervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 1: the image and the one-hot label as one pattern, clamped throughout."""
    shown = _supervised(layout, images, labels, rng)
    return Presentation(shown.target, shown.clamped_clamp, shown.clamped_clamp)


def _generate(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """Algorithm 2 with input and output swapped (the paper's conditional generation): the
    label alone, then the label and the image."""
    shown = _supervised(layout, images, labels, rng)
    free = np.zeros_like(shown.free_clamp)
    free[layout.outputs] = 1.0
    return Presentation(shown.target, free, shown.clamped_clamp)


def _selfsupervised(
    layout: Layout, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> Presentation:
    """The aSTDP paper's self-supervised learning (section 2.3.3): a ``PATCH`` x ``PATCH``
    square of each image, at a random place, is left free in the free part (the network
    predicts it from the rest) and clamped in the clamped part; the label is never shown."""
    target = np.zeros((len(images), layout.n_neurons), dtype=images.dtype)
    target[:, layout.inputs] = images
    clamped = np.zeros_like(target)
    clamped[:, layout.inputs] = 1.0
    free = clamped.copy()
    height, width = IMAGE_SHAPE
    corners = rng.integers(0, [height - PATCH + 1, width - PATCH + 1], size=(len(images), 2))
    for row, (top, left) in enumerate(corners):
        covered = np.zeros(IMAGE_SHAPE, dtype=bool)
        covered[top : top + PATCH, left : left + PATCH] = True
        free[row, layout.inputs][covered.ravel()] = 0.0
    return Presentation(target, free, clamped)


# mode -> how a batch is presented in training; ``rng`` draws what a mode draws (the
# self-supervised patches)
MODES: dict[str, Callable[[Layout, np.ndarray, np.ndarray, np.random.Generator], Presentation]] = {
    "supervised": _supervised,
    "unsupervised": _unsupervised,
    "generate": _generate,
    "selfsupervised": _selfsupervised,
}
