"""Fingerprint of what the library predicts, to check that a refactoring keeps it.

Fits a fixed set of small models (synthetic images, tiny networks, a few
epochs) covering the classifier's training features (schedules, weight
averaging, mixup, progressive resizing, augmentation, class weights, early
stopping, test-time views, warm starts, mixed precision) and the pipeline,
and saves every probability and the per-epoch losses to an ``.npz`` file.
``--compare OLD.npz`` then reports, per model, whether the new run is the
same to the last bit.

Run it before a change that must keep predictions and after it::

    python benchmarks/fingerprint.py --out before.npz          # old code
    python benchmarks/fingerprint.py --out after.npz --compare before.npz

A few minutes on one CPU thread. Results depend on the torch build and the
processor: compare runs of one machine only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch


def _data(n=48, size=24, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.integers(0, 200, size=(n, size, size, 3)).astype(np.uint8)
    # A class-dependent bright square, so that the models learn something.
    for k in range(n_classes):
        X[y == k, 4 + 4 * k : 10 + 4 * k, 4:10, k % 3] = 255
    names = np.array(["ALL", "AML", "normal"])[: n_classes]
    return X, names[y]


def _clf(**params):
    from sklearn_leukemia import SECNNClassifier

    base = {
        "max_epochs": 3,
        "batch_size": 8,
        "module__width": 4,
        "random_state": 0,
        "tta": None,
        "augmentation": None,
        "progressive_resizing": None,
    }
    base.update(params)
    return SECNNClassifier(**base)


def _policy(name=None, **params):
    from sklearn_leukemia.augmentation import AugmentationPolicy

    return AugmentationPolicy.preset(name) if name else AugmentationPolicy(**params)


def _losses(model):
    net = model[-1] if hasattr(model, "steps") else model
    history = net.history
    keys = ["train_loss"]
    out = [[row.get(k, np.nan) for k in keys] for row in history]
    lrs = [b.get("event_lr", np.nan) for row in history for b in row.get("batches", [])]
    scale = [row.get("train_scale", 1.0) for row in history]
    valid = [row.get("valid_loss", np.nan) for row in history]
    return np.asarray(out, dtype=float).ravel(), np.asarray(lrs, float), \
        np.asarray(scale, float), np.asarray(valid, float)


def _cases():
    X, y = _data()
    Xg = X[..., 0]
    Xf = (X.astype(np.float32) - 100.0) / 50.0
    X2, y2 = _data(n=40, size=20, n_classes=2, seed=1)

    def fit(model, Xt=X, yt=y):
        return model.fit(Xt, yt)

    yield "plain", lambda: fit(_clf()), X
    yield "schedule_onecycle_sgd", lambda: fit(
        _clf(lr_schedule="onecycle", optimizer="sgd", lr=0.01)), X
    yield "schedule_step_adam", lambda: fit(
        _clf(lr_schedule="step", optimizer="adam", max_epochs=4)), X
    yield "schedule_none", lambda: fit(_clf(lr_schedule=None)), X
    yield "ema", lambda: fit(_clf(ema=0.9, max_epochs=4)), X
    yield "mixup", lambda: fit(_clf(mixup=0.4)), X
    yield "progressive", lambda: fit(_clf(progressive_resizing=0.5, max_epochs=5)), X
    yield "augment_default", lambda: fit(_clf(augmentation=_policy())), X
    yield "augment_erase", lambda: fit(_clf(augmentation=_policy("erase"))), X
    yield "augment_float", lambda: fit(_clf(augmentation=_policy("paper")), Xf), Xf
    yield "everything", lambda: fit(_clf(
        augmentation=_policy("erase"), mixup=0.2, ema=0.8, progressive_resizing=0.5,
        class_weight="balanced", tta="dihedral", max_epochs=5)), X
    yield "tta_flips", lambda: fit(_clf(tta="flips")), X
    yield "class_weight_dict", lambda: fit(
        _clf(class_weight={"ALL": 2.0, "AML": 1.0})), X
    yield "early_stopping", lambda: fit(
        _clf(early_stopping=2, max_epochs=6, batch_size=4)), X
    yield "early_stopping_acc", lambda: fit(
        _clf(early_stopping=2, monitor="valid_acc", max_epochs=6)), X
    yield "early_stopping_train_loss", lambda: fit(
        _clf(early_stopping=1, monitor="train_loss", max_epochs=6)), X
    yield "mixed_precision_cpu", lambda: fit(_clf(mixed_precision=True)), X
    yield "data_on_device", lambda: fit(_clf(data_on_device=True)), X
    yield "no_channels_last", lambda: fit(_clf(channels_last=False)), X
    yield "grayscale", lambda: fit(_clf(), Xg), Xg
    yield "batch_all", lambda: fit(_clf(batch_size=-1, max_epochs=4)), X
    yield "se_resnet", lambda: fit(_clf(architecture="se_resnet", module__width=8)), X
    yield "binary", lambda: fit(_clf(), X2, y2), X2
    yield "augment_dihedral", lambda: fit(_clf(augmentation=_policy("dihedral"))), X
    yield "augment_orientation", lambda: fit(
        _clf(augmentation=_policy("orientation"))), X

    class ScaledCrossEntropy(torch.nn.Module):
        def forward(self, logits, target):
            return torch.nn.functional.cross_entropy(logits, target) * 0.5

    yield "criterion_custom", lambda: fit(
        _clf(criterion=ScaledCrossEntropy, tta="flips")), X

    def warm_ema():
        clf = _clf(warm_start=True, max_epochs=2, ema=0.8)
        clf.fit(X, y)
        return clf.fit(X, y)

    yield "warm_start_ema", warm_ema, X

    def partial_progressive():
        clf = _clf(max_epochs=4, progressive_resizing=0.5)
        clf.partial_fit(X[:24], y[:24], classes=np.unique(y))
        return clf.partial_fit(X[24:], y[24:])

    yield "partial_fit_progressive", partial_progressive, X

    def warm():
        clf = _clf(warm_start=True, max_epochs=2)
        clf.fit(X, y)
        return clf.fit(X, y)

    yield "warm_start", warm, X

    def partial():
        clf = _clf(max_epochs=2)
        clf.partial_fit(X[:24], y[:24], classes=np.unique(y))
        return clf.partial_fit(X[24:], y[24:])

    yield "partial_fit", partial, X

    def pipeline(**params):
        import inspect

        from sklearn_leukemia import make_leukemia_pipeline

        base = {"image_size": 16, "max_epochs": 3, "batch_size": 8,
                "module__width": 4, "random_state": 0}
        # The recipe of the set's size, where the factory takes the count
        # (older versions counted the images in fit).
        if "n_images" in inspect.signature(make_leukemia_pipeline).parameters:
            base["n_images"] = len(y)
        base.update(params)
        return make_leukemia_pipeline(**base)

    yield "pipeline_default", lambda: fit(pipeline()), X
    yield "pipeline_sampler", lambda: fit(pipeline(
        n_copies=1, balance=True, contrast="clahe", denoise="median",
        normalize="unit", augment="flips")), X

    def cv():
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        proba = cross_val_predict(
            pipeline(augment="erase", progressive_resizing=None),
            X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0),
            method="predict_proba",
        )
        return proba

    yield "pipeline_cv", cv, None

    def saved():
        from sklearn_leukemia import load_model, save_model

        model = pipeline(augment="flips", progressive_resizing=0.5).fit(X, y)
        with tempfile.TemporaryDirectory() as tmp:
            return load_model(save_model(model, Path(tmp) / "m.slk"))

    yield "saved_and_loaded", saved, X


def run(names=None) -> dict[str, np.ndarray]:
    results = {}
    for name, make, X in _cases():
        if names and name not in names:
            continue
        out = make()
        if X is None:
            results[f"{name}.proba"] = np.asarray(out)
        else:
            results[f"{name}.proba"] = np.asarray(out.predict_proba(X))
            loss, lrs, scale, valid = _losses(out)
            results[f"{name}.train_loss"] = loss
            results[f"{name}.lr"] = lrs
            results[f"{name}.train_scale"] = scale
            results[f"{name}.valid_loss"] = valid
        print(f"{name}: done", file=sys.stderr, flush=True)
    return results


def compare(new: dict, old_path: Path) -> int:
    old = dict(np.load(old_path))
    print(f"{'array':<40} {'same bits':>9} {'max |diff|':>12}")
    n_diff = 0
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new:
            where = "old" if key not in old else "new"
            print(f"{key:<40} {'missing in ' + where:>22}")
            n_diff += 1
            continue
        a, b = np.asarray(old[key]), np.asarray(new[key])
        same = a.shape == b.shape and a.dtype == b.dtype and (
            a.tobytes() == b.tobytes())
        diff = (np.nanmax(np.abs(a.astype(float) - b.astype(float)))
                if a.shape == b.shape and a.size else float("nan"))
        n_diff += not same
        print(f"{key:<40} {str(same):>9} {diff:>12.3g}")
    print(f"\n{n_diff} of {len(set(old) | set(new))} arrays differ.")
    return 1 if n_diff else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = run(args.only)
    np.savez(args.out, **results)
    if args.compare is not None:
        return compare(results, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
