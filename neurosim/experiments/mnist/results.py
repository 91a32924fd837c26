"""The experiment's metrics: every seed's arrays (NaN until the seed is done), their
checkpointed form, how they are written to the run store's ``metrics/`` and the summary
printed at the end.

Over ``seed`` where per seed: ``test_accuracy``, ``confusion`` (seed, label, predicted;
counts of test digits), ``validation_accuracy`` (seed, epoch), ``learning_curve`` (seed,
digits; with ``curve_every``), ``train_wall_time`` (seconds), ``steps_to_settle`` and
``steps_to_decide`` (means over the settle digits), ``unsettled`` (share of them that had
not settled at the cap); with generation ``generated_images`` (seed, label, sample, pixel),
``generated_recognised`` (seed) and ``judge_accuracy`` (the judge's validation accuracy).
"""

from __future__ import annotations

import numpy as np

from neurosim.data.datasets import IMAGE_SHAPE, N_CLASSES
from neurosim.experiments.mnist.protocol import PAPER_ACCURACY, PAPER_SOURCE
from neurosim.recording import RunStore


class Results:
    """The metrics of every seed, NaN until a seed is done."""

    def __init__(
        self, n_seeds: int, epochs: int, generate_samples: int, curve_at: np.ndarray
    ) -> None:
        self.test_accuracy = np.full(n_seeds, np.nan)
        self.confusion = np.zeros((n_seeds, N_CLASSES, N_CLASSES), dtype=np.int64)
        self.validation_accuracy = np.full((n_seeds, epochs), np.nan)
        self.curve_at = curve_at
        self.learning_curve = np.full((n_seeds, len(curve_at)), np.nan)
        self.train_wall_time = np.zeros(n_seeds)
        self.steps_to_settle = np.full(n_seeds, np.nan)
        self.unsettled = np.full(n_seeds, np.nan)
        self.steps_to_decide = np.full(n_seeds, np.nan)
        n_pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        self.generated_images = np.full(
            (n_seeds, N_CLASSES, generate_samples, n_pixels), np.nan, dtype=np.float32
        )
        self.generated_recognised = np.full(n_seeds, np.nan)
        self.judge_accuracy = np.nan

    def saved(self) -> dict[str, np.ndarray]:
        """Every metric array, by attribute name (for a checkpoint)."""
        return {f"results_{name}": np.asarray(value) for name, value in vars(self).items()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """The metrics of ``saved()`` (from a checkpoint)."""
        for name, value in vars(self).items():
            saved = arrays[f"results_{name}"]
            setattr(self, name, saved if np.ndim(value) else float(saved))

    def write(self, store: RunStore, seeds: list[int]) -> None:
        """Every metric into the store's ``metrics/`` (again after each epoch and seed, so a
        stopped run keeps what it has)."""
        with store.metrics_together():  # one commit for all of them
            seed = {"seed": np.array(seeds)}
            classes = np.arange(N_CLASSES)
            store.write_metric(
                "test_accuracy",
                self.test_accuracy,
                ("seed",),
                {
                    "description": "share of test digits whose output argmax is the label "
                    "(image clamped only, learning off)",
                    "paper_value": PAPER_ACCURACY,
                    "paper_source": PAPER_SOURCE,
                },
                coords=seed,
            )
            store.write_metric(
                "confusion",
                self.confusion,
                ("seed", "label", "predicted"),
                {"description": "test digits by label (rows) and predicted class (columns)"},
                coords={**seed, "label": classes, "predicted": classes},
            )
            store.write_metric(
                "validation_accuracy",
                self.validation_accuracy,
                ("seed", "epoch"),
                {"description": "accuracy on the validation split after each epoch"},
                coords={**seed, "epoch": np.arange(1, self.validation_accuracy.shape[1] + 1)},
            )
            if len(self.curve_at):
                store.write_metric(
                    "learning_curve",
                    self.learning_curve,
                    ("seed", "digits"),
                    {
                        "description": "accuracy on the first curve_digits validation digits "
                        "after this many training digits (pretraining not counted)"
                    },
                    coords={**seed, "digits": self.curve_at},
                )
            store.write_metric(
                "train_wall_time",
                self.train_wall_time,
                ("seed",),
                {"description": "seconds spent training (evaluations excluded)", "unit": "s"},
                coords=seed,
            )
            store.write_metric(
                "steps_to_settle",
                self.steps_to_settle,
                ("seed",),
                {
                    "description": "mean steps until max |ds| < threshold after a digit changes, "
                    "fake targets off (validation digits; unsettled digits count as the cap)",
                    "paper_value": "76 / 95 / 121 for 1 / 2 / 3 hidden layers (500 without fake "
                    "targets)",
                },
                coords=seed,
            )
            store.write_metric(
                "steps_to_decide",
                self.steps_to_decide,
                ("seed",),
                {
                    "description": "mean steps after a digit changes until the output argmax "
                    "changed for the last time within settle_max_steps (training's fake targets)"
                },
                coords=seed,
            )
            store.write_metric(
                "unsettled",
                self.unsettled,
                ("seed",),
                {"description": "share of the settle digits not settled at the cap"},
                coords=seed,
            )
            if self.generated_images.shape[2]:
                self._write_generation(store, seed)

    def _write_generation(self, store: RunStore, seed: dict[str, np.ndarray]) -> None:
        store.write_metric(
            "generated_images",
            self.generated_images,
            ("seed", "label", "sample", "pixel"),
            {
                "description": "input states (clipped to [0, 1]) after generate_steps steps "
                "with only the label clamped, from a random state (learning off)"
            },
            coords={**seed, "label": np.arange(N_CLASSES)},
        )
        store.write_metric(
            "generated_recognised",
            self.generated_recognised,
            ("seed",),
            {
                "description": "share of generated images the independent classifier "
                "(logistic regression on real digits) assigns to the clamped label",
                "paper_value": "recognisable digits",
            },
            coords=seed,
        )
        store.write_metric(
            "judge_accuracy",
            self.judge_accuracy,
            (),
            {"description": "the independent classifier's accuracy on the validation split"},
        )

    def summary(self) -> dict[str, float]:
        """The means over the finished seeds that the end of a run prints."""
        done = ~np.isnan(self.test_accuracy)
        if not done.any():
            return {}
        return {
            "test_accuracy": float(self.test_accuracy[done].mean()),
            "validation_accuracy_last": float(self.validation_accuracy[done, -1].mean()),
            "train_wall_time_s": float(self.train_wall_time[done].mean()),
            "steps_to_settle": float(np.nanmean(self.steps_to_settle[done]))
            if not np.isnan(self.steps_to_settle[done]).all()
            else float("nan"),
            **(
                {"generated_recognised": float(self.generated_recognised[done].mean())}
                if self.generated_images.shape[2]
                else {}
            ),
        }
