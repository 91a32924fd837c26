"""The independent judge of generated digits (neurosim.analysis.recognition)."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.analysis.recognition import fit_reference_classifier
from neurosim.errors import ValidationError


def prototypes_with_noise(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes: a fixed 8x8 prototype each, plus pixel noise, as uint8 images."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(99).uniform(0, 255, size=(3, 64))
    labels = rng.integers(0, 3, size=n)
    images = prototypes[labels] + rng.normal(0, 60, size=(n, 64))
    return np.clip(images, 0, 255).astype(np.uint8), labels


def test_the_judge_recognises_its_classes_and_nothing_else():
    images, labels = prototypes_with_noise(600, 0)
    held_out, held_out_labels = prototypes_with_noise(200, 1)
    judge = fit_reference_classifier(images, labels, held_out, held_out_labels)
    assert judge.held_out_accuracy >= 0.95
    fresh, fresh_labels = prototypes_with_noise(300, 2)
    assert judge.recognised(fresh, fresh_labels) >= 0.95
    # the same images under a wrong label are not recognised as it
    assert judge.recognised(fresh, (fresh_labels + 1) % 3) <= 0.05
    # float images in [0, 1] are judged as their uint8 form
    np.testing.assert_array_equal(judge.predict(fresh / 255.0), judge.predict(fresh))


def test_mismatched_images_and_labels_are_refused():
    images, labels = prototypes_with_noise(60, 0)
    judge = fit_reference_classifier(images, labels, images, labels)
    with pytest.raises(ValidationError, match="3 images and 2 labels"):
        judge.recognised(images[:3], labels[:2])
