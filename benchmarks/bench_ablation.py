"""Ablation study: what each part of the default recipe buys.

Each variant is the default pipeline (``make_leukemia_pipeline``) with ONE
change, cross-validated on the same stratified folds as every other variant,
on the binary all-taleqani task and the eight-class pbc-normal task:

- ``default``: the defaults;
- ``se_resnet``: ``architecture="se_resnet", module__width=16`` (the two
  architectures at the same width);
- ``no_se``: ``module__use_se=False`` (no squeeze-and-excitation blocks);
- ``no_augment``, ``flips``, ``dihedral``, ``orientation``,
  ``paper_augment``: ``augment=False``, ``"flips"``, ``"dihedral"`` (flips
  and transposition), ``"orientation"`` (flips and any rotation) or
  ``"paper"`` (also zoom, shift and shear) instead of the default;
- ``flips_colour``, ``flips_shift``: the default flips with, on top, random
  brightness and contrast changes (each within 10%) or random shifts (up to
  10% of the side), as ``AugmentationPolicy`` objects;
- ``flips_erase``: the default flips with random erasing on top: in half the
  images one rectangle of 2-25% of the field painted over with the image's
  mean colour (``augment="erase"``, ``AugmentationPolicy(erase=(0.02, 0.25))``
  on top of the flips); ``flips_erase_small``: the same with rectangles of
  2-10% of the image;
- ``contrast+denoise``: ``contrast="stretch", denoise="median"``;
- ``no_class_weight``, ``class_weight_balanced``: ``class_weight=None`` or
  ``"balanced"`` (the loss weighted by the inverse class frequencies);
- ``size_96``, ``size_128``, ``size_224``: ``image_size``;
- ``progressive_128``: ``image_size=128, progressive_resizing=0.5`` (the
  early epochs train on smaller copies of the 128-pixel images, growing to
  full size at three quarters of the epochs);
- ``stem4_224``: ``image_size=224, module__stem_stride=4`` (224-pixel
  images through a stem of non-overlapping 4x4 patches, which reaches the
  first stage at 28x28: the full resolution for the FLOPs of 112 pixels,
  30 million per image against 19 at 96 pixels and 105 at 224);
- ``epochs_60``: ``max_epochs=60``;
- ``mixup``, ``no_mixup``: ``mixup=0.2`` or ``0`` (mixup of the training
  batches);
- ``label_smoothing``: ``criterion__label_smoothing=0.1``;
- ``ema``: ``ema=0.999`` (predict with the moving average of the weights;
  the training itself is the same as ``default``'s);
- ``no_tta``, ``tta_flips``, ``tta_dihedral``: ``tta=None``, ``"flips"`` or
  ``"dihedral"``. The test-time flips only act at prediction, so these are
  not trained again: the fitted models of ``default`` also predict with each
  setting (the comparison is paired, and costs only the predictions).

A variant equal to the defaults is the default itself and is skipped.

Prints a table (variant x task: accuracy, AUC-ROC, macro F1, fit seconds per
fold) and writes JSON, Markdown and reST. Each fold runs in a fresh forked
child process, as in ``bench_real_data.py``. Run from the repository root::

    python benchmarks/bench_ablation.py --rst docs/benchmark_results/ablation.rst

``--seed-ensemble N`` makes every model the soft vote of N pipelines of the
variant (``sklearn.ensemble.VotingClassifier(voting="soft")``, members
with ``random_state`` SEED, SEED + 1000, ...: the first is the single run
of that seed), to measure what averaging independently trained networks
buys at N times the training time; with ``--epochs`` each member trains
that many epochs. Its rows of the ``--predictions`` CSV name the setting
``VARIANT+seedsN`` (``default+seeds3``).

Reduced runs take the flags of ``bench_real_data.py`` (``--folds``,
``--max-per-class``, ``--epochs``, ``--image-size``, ``--param``); overrides
apply to every variant and are printed. ``--predictions FILE.csv`` writes
each image's out-of-fold prediction by each variant.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from sklearn_leukemia.augmentation import AugmentationPolicy  # noqa: E402

VARIANTS = {
    "default": {},
    # At the default width of secnn: the architectures compared at equal
    # width (se_resnet's own default, 32, costs 8 times secnn's FLOPs).
    "se_resnet": {"architecture": "se_resnet", "module__width": 16},
    "no_se": {"module__use_se": False},
    "no_augment": {"augment": False},
    "flips": {"augment": "flips"},
    "dihedral": {"augment": "dihedral"},
    "orientation": {"augment": "orientation"},
    "paper_augment": {"augment": "paper"},
    # The "flips" preset with one change of AugmentationPolicy()'s on top.
    "flips_colour": {
        "augment": AugmentationPolicy.preset("flips").set_params(
            brightness=0.1, contrast=0.1
        )
    },
    "flips_shift": {
        "augment": AugmentationPolicy.preset("flips").set_params(shift=0.1)
    },
    # Random erasing (Zhong et al. 2020) on top of the flips: one rectangle
    # of 2-25% of the field, in half the images, painted with its mean colour.
    "flips_erase": {"augment": "erase"},
    # The same with smaller rectangles (2-10% of the image), which hide less
    # of a single-cell crop.
    "flips_erase_small": {
        "augment": AugmentationPolicy.preset("erase").set_params(erase=(0.02, 0.1))
    },
    # The same rectangles in a quarter of the images rather than half: less
    # of the single cells' label lost, less of the fields hidden.
    "flips_erase_p25": {
        "augment": AugmentationPolicy.preset("erase").set_params(
            erase_probability=0.25
        )
    },
    # The same rectangles, never painting the central half of each side:
    # a single-cell crop keeps its cell, a smear field is still hidden in part.
    "flips_erase_keep50": {
        "augment": AugmentationPolicy.preset("erase").set_params(
            erase_keep_centre=0.5
        )
    },
    # A smaller spared centre: more of a field erasable, less of a cell safe.
    "flips_erase_keep30": {
        "augment": AugmentationPolicy.preset("erase").set_params(
            erase_keep_centre=0.3
        )
    },
    "contrast+denoise": {"contrast": "stretch", "denoise": "median"},
    "no_class_weight": {"class_weight": None},
    "class_weight_balanced": {"class_weight": "balanced"},
    "size_96": {"image_size": 96},
    "size_128": {"image_size": 128},
    "size_224": {"image_size": 224},
    "progressive_128": {"image_size": 128, "progressive_resizing": 0.5},
    "stem4_224": {"image_size": 224, "module__stem_stride": 4},
    "epochs_60": {"max_epochs": 60},
    "mixup": {"mixup": 0.2},
    "no_mixup": {"mixup": 0.0},
    "label_smoothing": {"criterion__label_smoothing": 0.1},
    "ema": {"ema": 0.999},
    "no_tta": {"tta": None},
    "tta_flips": {"tta": "flips"},
    "tta_dihedral": {"tta": "dihedral"},
}
#: Parameters that only act at prediction: their variants reuse the fits of
#: ``default`` (``set_params(classifier__<name>=...)`` on the fitted model).
PREDICT_TIME = {"tta"}
DEFAULT_TASKS = ["taleqani-binary", "pbc-8class"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    C.add_common_arguments(parser)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None)
    parser.add_argument(
        "--seed-ensemble",
        type=int,
        default=1,
        metavar="N",
        help="each model the soft vote of N pipelines with random_state SEED, "
        "SEED + 1000, ... (default 1: the pipeline itself)",
    )
    args = parser.parse_args(argv)
    if args.seed_ensemble < 1:
        parser.error(f"--seed-ensemble must be 1 or more, got {args.seed_ensemble}")
    if args.combine:
        payloads, payload = C.load_payloads(args.combine)
        payload["variants"], payload["results"], payload["tasks"] = {}, {}, []
        for p in payloads:
            payload["variants"].update(p["variants"])
            for name, per_task in p["results"].items():
                payload["results"].setdefault(name, {}).update(per_task)
            payload["tasks"] += [t for t in p["tasks"] if t not in payload["tasks"]]
        return _write(payload, args)
    args.data_dir = args.data_dir or C.default_data_dir()
    tasks = args.tasks or DEFAULT_TASKS
    base, overrides = C.pipeline_kwargs(args)

    from sklearn_leukemia import make_leukemia_pipeline

    variants = {}
    for name in args.variants or VARIANTS:
        change = VARIANTS[name]
        current = {k: base.get(k, C.library_default(k)) for k in change}
        if name != "default" and current == change:
            print(f"skipping {name}: {C.fmt_kwargs(change)} is the default")
            continue
        variants[name] = change
    predict_only = {n: c for n, c in variants.items() if set(c) <= PREDICT_TIME and c}
    if predict_only and args.seed_ensemble > 1:
        parser.error(
            f"the prediction-time variants {list(predict_only)} reuse the fits of "
            "one pipeline; run them without --seed-ensemble"
        )
    if predict_only and "default" not in variants:
        variants = {"default": {}, **variants}

    env = C.environment()
    settings = C.describe_settings(overrides, args)
    if args.seed_ensemble > 1:
        settings.append(
            f"SEED ENSEMBLE: each model the soft vote of {args.seed_ensemble} "
            "pipelines, random_state "
            + ", ".join(str(s) for s in _member_seeds(args))
        )
    print("\n".join(C.environment_lines(env)))
    print(f"Command: {C.command_line()}")
    print("\n".join(settings))
    print(f"Variants (each the defaults with one change): {list(variants)}")

    results: dict = {name: {} for name in variants}
    predictions: list = []
    for task_name in tasks:
        task = C.load_task(
            task_name,
            args.data_dir,
            max_per_class=args.max_per_class,
            random_state=args.random_state,
        )
        splits = C.make_splits(task["y"], args.folds, args.random_state)
        print(f"\n== {task_name}: {task['description']}; {len(task['y'])} images ==")
        for name, change in variants.items():
            if name in predict_only:
                continue  # predicted from the fits of "default"
            kwargs = C.recipe_kwargs({**base, **change}, task)
            size = C.read_size(kwargs)
            t0 = time.perf_counter()
            X = C.read_task_images(task["filenames"], size)
            print(
                f"  {name} ({C.fmt_kwargs(change) if change else 'no change'}); "
                f"images {X.shape} read in {time.perf_counter() - t0:.1f} s"
            )

            def make_model(kwargs=kwargs):
                members = [
                    make_leukemia_pipeline(random_state=seed, **kwargs)
                    for seed in _member_seeds(args)
                ]
                if len(members) == 1:
                    return members[0]
                from sklearn.ensemble import VotingClassifier

                return VotingClassifier(
                    [(f"seed{k}", m) for k, m in enumerate(members)], voting="soft"
                )

            also = {}
            if name == "default":
                also = {
                    n: {f"classifier__{k}": v for k, v in c.items()}
                    for n, c in predict_only.items()
                }
            cv = C.cross_validate_once(
                name, task, make_model, X, splits, predict_variants=also
            )
            outcomes = [(name, change, cv, None)] + [
                (n, predict_only[n], cv["predict_variants"][n], name) for n in also
            ]
            for variant, variant_change, variant_cv, same_fit in outcomes:
                predictions += C.prediction_rows(
                    task,
                    splits,
                    _setting_name(variant, args),
                    variant_cv,
                    args.data_dir,
                )
                report = C.score(
                    task,
                    variant_cv,
                    n_bootstraps=args.n_bootstraps,
                    random_state=args.random_state,
                )
                metrics = report.to_dict()["metrics"]
                results[variant][task_name] = {
                    "change": variant_change,
                    "n_images": len(task["y"]),
                    "metrics": metrics,
                    "folds": variant_cv["folds"],
                    "same_fit_as": same_fit,
                    **C.fold_summary(variant_cv["folds"]),
                }
                r = results[variant][task_name]
                print(
                    f"    {variant}: accuracy {100 * metrics['accuracy']['value']:.2f}%"
                    f", AUC {metrics['roc_auc']['value']:.4f}, F1 "
                    f"{metrics['f1']['value']:.4f}, fit {r['fit_seconds_mean']:.0f} "
                    f"s/fold, predict {r['predict_seconds_mean']:.1f} s/fold"
                    + (f" (the fits of {same_fit})" if same_fit else "")
                )
        if args.predictions:
            C.write_predictions(args.predictions, predictions)

    payload = {
        "benchmark": "ablation",
        "command": C.command_line(),
        "environment": env,
        "settings": settings,
        "pipeline_kwargs": base,
        "overrides": overrides,
        "variants": variants,
        "tasks": tasks,
        "folds": args.folds,
        "max_per_class": args.max_per_class,
        "random_state": args.random_state,
        "seed_ensemble": args.seed_ensemble,
        "n_bootstraps": args.n_bootstraps,
        "results": results,
    }
    return _write(payload, args)


def _member_seeds(args) -> list[int]:
    """The ``random_state`` of each pipeline of a model (one without an ensemble)."""
    return [args.random_state + 1000 * k for k in range(args.seed_ensemble)]


def _setting_name(variant: str, args) -> str:
    """The ``setting`` of a variant's rows in the predictions CSV."""
    if args.seed_ensemble > 1:
        return f"{variant}+seeds{args.seed_ensemble}"
    return variant


def _write(payload: dict, args) -> int:
    print("\n== Ablation ==")
    print(C.text_table(*_rows(payload)))
    C.write_outputs(payload, args, "ablation", _document)
    return 0


def _rows(payload: dict) -> tuple[list[str], list[list[str]]]:
    header = ["Variant", "Change"]
    for task in payload["tasks"]:
        header += [
            f"{task} acc.",
            f"{task} AUC",
            f"{task} F1",
            f"{task} fit s/fold",
            f"{task} predict s/fold",
        ]
    rows = []
    for name, per_task in payload["results"].items():
        change = payload["variants"][name]
        row = [name, C.fmt_kwargs(change) if change else "(defaults)"]
        for task in payload["tasks"]:
            res = per_task.get(task)
            if res is None:
                row += ["n/a"] * 5
                continue
            m = res["metrics"]
            same_fit = res.get("same_fit_as")
            predict = res.get("predict_seconds_mean")
            row += [
                f"{100 * m['accuracy']['value']:.2f}%",
                f"{m['roc_auc']['value']:.4f}",
                f"{m['f1']['value']:.4f}",
                f"fits of {same_fit}" if same_fit else f"{res['fit_seconds_mean']:.0f}",
                "n/a" if predict is None else f"{predict:.1f}",
            ]
        rows.append(row)
    return header, rows


def _document(payload: dict, kind: str) -> str:
    first = next(iter(next(iter(payload["results"].values())).values()))
    intro = [
        f"Command: ``{payload['command']}``",
        *payload["settings"],
        f"Every variant is cross-validated on the same stratified "
        f"{payload['folds']}-fold split (shuffled, random_state="
        f"{payload['random_state']}); metrics of the pooled out-of-fold "
        "predictions (F1 and AUC-ROC: macro one-vs-rest for pbc-8class; "
        "binary with leukemia positive for taleqani-binary). Fit s/fold and "
        "predict s/fold: mean wall seconds of one fold's fit and of its "
        "predictions. A prediction-time variant (test-time flips) is not "
        "trained again: the fitted models of the variant it names predict with "
        "its setting.",
        *C.environment_lines(payload["environment"]),
        f"Training device: {first['device']}"
        + (f" ({first['gpu']})" if first["gpu"] else "")
        + f"; torch threads per fit: {C.training_threads(payload, first)}.",
    ]
    header, rows = _rows(payload)
    lines = [] if kind == "rst" else ["# Ablation", ""]
    lines += [f"- {line}" for line in intro] + [""]
    table = C.grid_rst if kind == "rst" else C.markdown_table
    lines.append(table(header, rows))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
