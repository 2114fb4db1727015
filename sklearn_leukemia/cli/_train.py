"""``sklearn-leukemia train``: fit the pipeline on all data and save it.

Launched by ``accelerate launch --multi_gpu --num_processes N -m
sklearn_leukemia.cli train ...`` (on GPUs, or on the CPU of a machine
without one), the N processes train one network data-parallel (an
:class:`~sklearn_leukemia.accelerated.AcceleratedSECNNClassifier`), and the
main process writes the model, a plain one that loads anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sklearn_leukemia.cli._arguments import (
    add_data_options,
    add_fit_classes_option,
    add_model_options,
    check_fit_classes,
)
from sklearn_leukemia.cli._data import (
    check_data_folder,
    class_counts,
    fits_classes,
    load_dataset,
)
from sklearn_leukemia.cli._decision import (
    add_decision_options,
    check_decision_options,
    decision_model,
    describe_decisions,
    positive_side,
    wants_decisions,
)
from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.cli._model import (
    build_pipeline,
    check_architecture,
    describe_training,
)
from sklearn_leukemia.cli._patients import add_target_options, check_target_options
from sklearn_leukemia.io import check_outside, check_writable

__all__ = ["accelerate_pipeline", "configure_parser", "launched_accelerator", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``train`` to its subparser."""
    add_data_options(parser, data_required=True)
    parser.add_argument(
        "--out", required=True, metavar="MODEL",
        help="model file to write (portable safetensors file, e.g. model.slk)",
    )
    add_fit_classes_option(
        parser,
        "with --positive-classes: fit on the classes themselves (each class "
        "folder its own) and save a model of them, as evaluate --fit-classes "
        "does; the model records the positive classes, and predict adds its "
        "binary answer",
    )
    add_target_options(parser)
    add_decision_options(parser)
    add_model_options(parser)


def launched_accelerator():
    """Return the accelerator of an ``accelerate launch`` of several processes.

    None in a plain run, or in a launch of one process: training then runs
    as it does without accelerate. ``accelerate launch --cpu`` starts one
    process whatever ``--num_processes`` says (accelerate 1.x); several CPU
    processes come from ``--multi_gpu --num_processes N`` on a machine
    without CUDA, or from ``torchrun --nproc_per_node N``.
    """
    import os

    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world_size = 1
    if world_size < 2:
        if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true"):
            print("accelerate launch --cpu started this one process, so it "
                  "trains alone. For several CPU processes, launch with "
                  "--multi_gpu --num_processes N: on a machine without a GPU "
                  "they train on the CPU (see the Scaling out guide).",
                  file=sys.stderr)
        return None
    import torch

    from sklearn_leukemia.accelerated import make_accelerator

    try:
        # Processes on a machine without CUDA share the CPU (gloo).
        return make_accelerator(cpu=not torch.cuda.is_available())
    except ImportError as exc:
        raise UsageError(str(exc)) from None


def accelerate_pipeline(pipeline, accelerator):
    """Put an AcceleratedSECNNClassifier of the same parameters at its end."""
    from sklearn_leukemia.accelerated import AcceleratedSECNNClassifier

    name, clf = pipeline.steps[-1]
    params = clf.get_params(deep=False)
    params.pop("device")
    params["mixed_precision"] = False  # the accelerator's
    pipeline.steps[-1] = (name, AcceleratedSECNNClassifier(accelerator=accelerator,
                                                           **params))
    return pipeline


def _check_launch(args, accelerator) -> None:
    """Refuse what a data-parallel launch cannot train, before any reading."""
    n = accelerator.num_processes
    if args.target is not None:
        raise UsageError(f"--target trains a patient model, on one process; "
                         f"run it without accelerate launch (here {n}).")
    if args.device != "auto":
        raise UsageError("--device: under accelerate launch the devices are "
                         "the launch's (--gpu_ids, or the CPU without CUDA).")
    if args.batch_size is not None and args.batch_size % n:
        raise UsageError(f"--batch-size {args.batch_size}: each batch is split "
                         f"between the {n} processes; give a multiple of {n}.")


def run(args) -> int:
    """Fit the pipeline on all of DATA and save it to ``--out``."""
    import contextlib
    import os

    accelerator = launched_accelerator()
    if accelerator is None or accelerator.is_main_process:
        return _run(args, accelerator)
    # The other processes of a launch train beside the main one, silently;
    # only the main process writes the model.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(
        devnull
    ), contextlib.redirect_stderr(devnull):
        return _run(args, accelerator)


def _run(args, accelerator) -> int:
    from sklearn_leukemia import save_model

    out = Path(args.out).expanduser()
    check_outside(out, check_data_folder(args.data), what="--out")
    if out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; expected a file name "
                         "such as model.slk.")
    if not out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {out.parent} does not exist.")
    check_writable(out, what="--out")
    check_target_options(args)
    check_decision_options(args, patient_model=args.target is not None)
    if accelerator is not None:
        _check_launch(args, accelerator)
    if args.target is not None:
        from sklearn_leukemia.cli._patients import train_patients

        return train_patients(args, out)
    check_fit_classes(args)
    check_architecture(args)
    dataset = load_dataset(args)
    pipeline = build_pipeline(args, n_images=dataset.y.shape[0])
    if accelerator is not None:
        pipeline = accelerate_pipeline(pipeline, accelerator)
        print(f"Training data-parallel on {accelerator.num_processes} processes "
              f"({accelerator.device.type}, mixed precision "
              f"{accelerator.mixed_precision}) with accelerate; each batch of "
              f"{pipeline[-1].batch_size} images is split between them.",
              file=sys.stderr)
    target, classes = dataset.y, dataset.description["classes"]
    fit_classes = fits_classes(args, dataset)
    if fit_classes:
        # The class folders themselves; predict reads the two sides from
        # them with the positive classes recorded in the file.
        target = dataset.classes
        classes = class_counts(target)
    model = pipeline
    if wants_decisions(args):
        model = decision_model(args, pipeline,
                               positive_side(args, dataset, fit_classes))
        print(f"Learning the decision rules on {args.decision_cv} held-back "
              "folds of the training images, then fitting on all of them.",
              file=sys.stderr)
    print(f"Training on {dataset.y.shape[0]} images, classes {classes}.",
          file=sys.stderr)
    model.fit(dataset.X, target, **(
        {"groups": dataset.groups} if model is not pipeline else {}
    ))
    trained = describe_training(pipeline if model is pipeline else model.estimator_)
    if trained:
        print(f"Trained {trained}.", file=sys.stderr)
    if model is not pipeline:
        print(f"Decides by: {describe_decisions(model)}.", file=sys.stderr)
    pipeline = model
    metadata = None
    if fit_classes:
        # The binary question the classes answer: predict reads it from the
        # file and adds the two sides' columns without --positive-classes.
        metadata = {"positive_classes": dataset.sides.positive}
    if accelerator is not None:
        # Every process has the same model: the main one writes it.
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return 0
    save_model(pipeline, out, metadata=metadata)
    classes = ", ".join(map(str, pipeline.classes_))
    print(f"Saved the model to {out} (classes: {classes}).")
    if fit_classes:
        negative, positive = dataset.sides.names
        print(f"It records the positive classes: 'sklearn-leukemia predict "
              f"{out} IMAGE_OR_DIR...' adds the binary answer, {negative} "
              f"against {positive}.")
    return 0
