"""An independent judge of generated digits: a logistic-regression classifier trained on real
training images (scikit-learn), which says how many generated images it recognises as the
label that was clamped to generate them.

It shares nothing with the network being judged: it sees only pixels, so a "recognised"
generated digit looks like the real digits of its class to an ordinary linear classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.errors import ValidationError

# Real digits it learns from: enough for about 90 % on MNIST's test set, in seconds.
DEFAULT_TRAIN_DIGITS = 10_000


@dataclass(frozen=True)
class ReferenceClassifier:
    """A fitted classifier of images scaled to [0, 1] (n, pixels), and its accuracy on the
    held-out real digits it was checked on."""

    model: object
    held_out_accuracy: float

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The class of each image (uint8 or [0, 1] floats)."""
        return np.asarray(self.model.predict(_pixels(images)))  # type: ignore[attr-defined]

    def recognised(self, images: np.ndarray, labels: np.ndarray) -> float:
        """The share of ``images`` classified as their ``labels``."""
        if len(images) != len(labels) or len(images) == 0:
            raise ValidationError(
                f"recognised: {len(images)} images and {len(labels)} labels; expected the "
                "same number, at least one"
            )
        return float(np.mean(self.predict(images) == np.asarray(labels)))


def fit_reference_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    held_out_images: np.ndarray,
    held_out_labels: np.ndarray,
    *,
    seed: int = 0,
) -> ReferenceClassifier:
    """Logistic regression on ``images`` (uint8 or [0, 1] floats, one row per image), checked
    on the held-out images (which should come from the training set's validation split, never
    the test set, when the judge's figure is used to choose anything)."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as error:  # an optional dependency: pip install "neurosim[mnist]"
        raise ValidationError(
            "judging generated digits needs scikit-learn: pip install 'neurosim[mnist]'"
        ) from error

    model = LogisticRegression(max_iter=200, random_state=seed)
    model.fit(_pixels(images), np.asarray(labels))
    predicted = model.predict(_pixels(held_out_images))
    return ReferenceClassifier(model, float(np.mean(predicted == np.asarray(held_out_labels))))


def _pixels(images: np.ndarray) -> np.ndarray:
    """Images as float64 in [0, 1] (uint8 images are divided by 255)."""
    values = np.asarray(images)
    return values / 255.0 if values.dtype == np.uint8 else values.astype(np.float64)
