"""Does the model read the scale bar? Predictions with an image corner hidden.

The all-taleqani images carry a scale bar burnt into their bottom-right
corner whose style goes with the class folder (a red "XX pix" label or a
black "200 pix" bar in Benign and Early, a white box in Pre and Pro): a
network can learn the label from the bar instead of from the cells. This
benchmark cross-validates the default pipeline (the same folds as
``bench_ablation.py`` and ``bench_real_data.py``) and predicts every test
fold three times with the same fitted models: as it is, with the bar's
corner painted over with each image's mean colour (the bottom 14% of the
rows and the right 40% of the columns, which holds every bar), and, as a
control that hides as much of the cells, with the bottom-left corner of the
same size painted over.
Many more errors with the bar's corner hidden than with the other say that
the model leans on the bar.

``--mask-training`` hides the bar's corner in the training images too (and
predicts with it hidden, as it is, and with the other corner hidden): the
score a model reaches without the bar to lean on.

Run from the repository root::

    python benchmarks/bench_corner_mask.py --tasks taleqani-4class \\
        --n-threads 1 --predictions benchmarks/results/corner.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

# (top, left, bottom, right) as fractions of the height and width.
BAR_CORNER = (0.86, 0.6, 1.0, 1.0)
OTHER_CORNER = (0.86, 0.0, 1.0, 0.4)


def hide_region(X: np.ndarray, box) -> np.ndarray:
    """Return ``X`` with the region ``box`` painted with each image's mean.

    ``X`` is ``(n, H, W, 3)``; ``box`` is ``(top, left, bottom, right)`` in
    fractions of the height and width.
    """
    if box is None:
        return X
    X = np.array(X, copy=True)
    height, width = X.shape[1:3]
    top, bottom = (int(round(f * height)) for f in box[0::2])
    left, right = (int(round(f * width)) for f in box[1::2])
    mean = X.reshape(X.shape[0], -1, X.shape[-1]).mean(axis=1)
    X[:, top:bottom, left:right, :] = np.round(mean[:, None, None, :]).astype(
        X.dtype
    )
    return X


class CornerMasked(ClassifierMixin, BaseEstimator):
    """``estimator`` fed images with a region hidden in fit and/or predict."""

    def __init__(self, estimator=None, *, fit_region=None, predict_region=None):
        self.estimator = estimator
        self.fit_region = fit_region
        self.predict_region = predict_region

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(
            hide_region(X, self.fit_region), y
        )
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(hide_region(X, self.predict_region))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    C.add_common_arguments(parser)
    parser.add_argument(
        "--mask-training", action="store_true",
        help="hide the bar's corner in the training images too",
    )
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir or C.default_data_dir()
    tasks = args.tasks or ["taleqani-4class"]
    kwargs, overrides = C.pipeline_kwargs(args)

    from sklearn_leukemia import make_leukemia_pipeline

    print("\n".join(C.environment_lines(C.environment())))
    print(f"Command: {C.command_line()}")
    print("\n".join(C.describe_settings(overrides, args)))
    trained = "bar corner hidden" if args.mask_training else "as they are"
    fit_region = BAR_CORNER if args.mask_training else None
    settings = {
        "test images as they are": None,
        "test bar corner hidden": BAR_CORNER,
        "test other corner hidden": OTHER_CORNER,
    }
    own = next(k for k, v in settings.items() if v == fit_region)
    print(f"Regions (top, left, bottom, right): bar corner {BAR_CORNER}, other "
          f"corner {OTHER_CORNER}; training images {trained}")

    rows, predictions = [], []
    for name in tasks:
        task, splits, X = C.load_task_images(name, args, kwargs)

        def make_model(kwargs=C.recipe_kwargs(kwargs, task)):
            pipe = make_leukemia_pipeline(random_state=args.random_state, **kwargs)
            return CornerMasked(pipe, fit_region=fit_region,
                                predict_region=fit_region)

        cv = C.cross_validate_once(
            trained, task, make_model, X, splits,
            predict_variants={
                k: {"predict_region": v} for k, v in settings.items() if k != own
            },
        )
        results = {own: cv, **cv["predict_variants"]}
        for setting in settings:
            result = results[setting]
            predictions += C.prediction_rows(
                task, splits, setting, result, args.data_dir
            )
            report = C.score(task, result, n_bootstraps=0, random_state=0)
            n = len(task["y"])
            errors = n - int(round(report.metrics["accuracy"][0] * n))
            changed = int((result["pred"] != cv["pred"]).sum())
            rows.append([name, trained, setting, str(errors), str(changed),
                         f"{100 * report.metrics['accuracy'][0]:.2f}%",
                         f"{report.metrics['roc_auc'][0]:.5f}"])
        if args.predictions:
            C.write_predictions(args.predictions, predictions)
    print()
    header = ["Task", "Training images", "Test images", "Errors",
              f"Changed (vs {own[5:]})", "Accuracy", "AUC-ROC"]
    print(C.text_table(header, rows))
    if args.json:
        C.write_json(args.json, {
            "benchmark": "corner_mask", "bar_corner": BAR_CORNER,
            "other_corner": OTHER_CORNER, "mask_training": args.mask_training,
            "command": C.command_line(), "header": header, "rows": rows,
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
