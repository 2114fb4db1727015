"""``sklearn-leukemia predict``: class probabilities of image files as CSV.

With ``--positive-classes`` a model of finer classes (Benign, Early, Pre,
Pro) answers the binary question too: two more columns, ``binary_proba``
(the summed probability of the positive classes) and ``binary_predicted``
(the side of the predicted class, named by its classes joined with "+"), as
``evaluate --fit-classes`` and ``clinical_scorers(positive_classes=...)``
read it. A model saved by ``train --fit-classes`` records its positive
classes, so predict adds the two columns without the option.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from sklearn_leukemia import _options
from sklearn_leukemia.cli._io import UsageError, check_readable
from sklearn_leukemia.io import atomic_write_text, check_outside

__all__ = ["configure_parser", "find_images", "model_sides", "run"]

# Images predicted at once: bounds memory on folders of any size.
_CHUNK = 256


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``predict`` to its subparser."""
    parser.add_argument("model", metavar="MODEL",
                        help="model file written by 'sklearn-leukemia train'")
    parser.add_argument(
        "inputs", metavar="IMAGE_OR_DIR", nargs="+",
        help="image files, or folders searched (recursively, sorted) for images",
    )
    parser.add_argument(
        "--output", metavar="CSV", default=None,
        help="CSV file to write (default: print the CSV to stdout); never "
        "inside an input folder",
    )
    parser.add_argument(
        "--on-error", choices=_options.ON_ERROR, default="raise",
        help="what to do with an image file that cannot be read (broken, "
        "truncated): raise stops before predicting any and names them; skip "
        "leaves them out of the CSV and names them (default: raise)",
    )
    parser.add_argument(
        "--positive-classes", nargs="+", metavar="NAME", default=None,
        help="classes of the model that make the positive side of a binary "
        "question, e.g. --positive-classes Early Pre Pro on a model of Benign, "
        "Early, Pre and Pro: adds the summed probability of those classes "
        "and the side of the predicted class (default: the positive classes "
        "a model of 'train --fit-classes' recorded)",
    )


def find_images(inputs: list[str]) -> list[str]:
    """Image files named by ``inputs``: files as given, folders walked sorted.

    Raises
    ------
    UsageError
        If an input does not exist or a folder holds no image file.
    """
    from sklearn_leukemia.datasets._base import has_image_extension, is_ignored

    files: list[str] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_file():
            files.append(str(path))
        elif path.is_dir():
            found = []
            for folder, dirs, names in os.walk(path):
                # Sorted in place so that os.walk visits folders in order.
                dirs[:] = sorted(d for d in dirs if not is_ignored(d))
                found += [
                    os.path.join(folder, name) for name in sorted(names)
                    if not is_ignored(name) and has_image_extension(name)
                ]
            if not found:
                raise UsageError(f"folder {item} holds no image file.")
            files += found
        else:
            raise UsageError(f"image or folder {item} does not exist.")
    return files


def model_sides(classes: list, positive_names: list[str]):
    """Make the sides of ``--positive-classes`` among a model's classes.

    A class matches by its string form, so that a model of integer classes
    takes ``--positive-classes 1 2``; the sides hold the model's own labels,
    in the model's order, and are named as ``evaluate`` names them.

    Raises
    ------
    UsageError
        If a name is not a class of the model, is given twice, or the names
        cover every class.
    """
    from sklearn_leukemia.cli._data import command_sides
    from sklearn_leukemia.metrics._grouping import BinarySides

    named = command_sides(classes, positive_names, "the classes of the model")
    return BinarySides(
        negative=[c for c in classes if str(c) in named.negative],
        positive=[c for c in classes if str(c) in named.positive],
    )


def _csv_text(files: list[str], classes: list, proba: np.ndarray, pred,
              sides=None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["file", *[f"proba_{label}" for label in classes], "predicted"]
    extra = [[]] * len(files)
    if sides is not None:
        from sklearn_leukemia.metrics._grouping import merge_to_binary

        header += ["binary_proba", "binary_predicted"]
        # The side of the predicted class: what the scorers and evaluate
        # --fit-classes count, so that the CSV agrees with their reports.
        named, score = merge_to_binary(pred, proba, classes, sides)
        extra = [[f"{p:.6f}", side] for p, side in zip(score, named)]
    writer.writerow(header)
    for name, row, label, more in zip(files, proba, pred, extra):
        writer.writerow([name, *[f"{p:.6f}" for p in row], label, *more])
    return buffer.getvalue()


def run(args) -> int:
    """Predict every image and write the CSV."""
    from sklearn_leukemia import load_model

    model_path = Path(args.model).expanduser()
    if not model_path.is_file():
        raise UsageError(f"model file {args.model} does not exist.")
    files = find_images(args.inputs)
    if args.output is not None:
        output = Path(args.output).expanduser()
        for item in args.inputs:
            check_outside(output, Path(item).expanduser(), what="--output")
        if output.is_dir():
            raise UsageError(f"--output {args.output} is a folder; expected a "
                             "file name such as predictions.csv.")
        if not output.parent.is_dir():
            raise UsageError(f"--output {args.output}: folder {output.parent} "
                             "does not exist.")
    model, metadata = load_model(model_path, return_metadata=True)
    classes = list(model.classes_)
    positive_names = args.positive_classes
    recorded = metadata.get("positive_classes")
    if positive_names is None and recorded is not None:
        # Recorded by train --fit-classes: the binary question it was
        # trained for. --positive-classes given here replaces it.
        if not isinstance(recorded, list) or not recorded:
            raise UsageError(
                f"model file {args.model} records positive_classes={recorded!r}, "
                "not a list of class names; name them with --positive-classes."
            )
        positive_names = [str(name) for name in recorded]
        print(f"{args.model} answers the binary question of the positive "
              f"classes {positive_names} (recorded in the model file); "
              "--positive-classes NAME... asks another.", file=sys.stderr)
    sides = None
    if positive_names:
        sides = model_sides(classes, list(positive_names))
    # Every file read once before the first prediction: a broken one stops
    # the command here (or is left out), not after hours of chunks.
    keep = check_readable(files, on_error=args.on_error, what="predicted")
    files = [name for name, kept in zip(files, keep) if kept]

    from tqdm.auto import tqdm

    chunks = [files[i:i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    probas = []
    for chunk in tqdm(chunks, desc="predicting", unit="batch", file=sys.stderr,
                      disable=len(chunks) < 2):
        probas.append(model.predict_proba(np.asarray(chunk, dtype=str)))
    proba = np.concatenate(probas)
    # The most probable class: what predict returns, without a second pass.
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    text = _csv_text(files, classes, proba, pred, sides)
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)
        print(f"Wrote predictions of {len(files)} images to {args.output}.",
              file=sys.stderr)
    return 0
