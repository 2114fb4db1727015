"""``sklearn-leukemia predict``: class probabilities of image files as CSV."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from sklearn_leukemia.cli._io import UsageError, atomic_write_text, check_outside

__all__ = ["configure_parser", "find_images", "run"]

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


def _csv_text(files: list[str], classes: list, proba: np.ndarray, pred) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", *[f"proba_{label}" for label in classes], "predicted"])
    for name, row, label in zip(files, proba, pred):
        writer.writerow([name, *[f"{p:.6f}" for p in row], label])
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
    model = load_model(model_path)
    classes = list(model.classes_)

    from tqdm.auto import tqdm

    chunks = [files[i:i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    probas = []
    for chunk in tqdm(chunks, desc="predicting", unit="batch", file=sys.stderr,
                      disable=len(chunks) < 2):
        probas.append(model.predict_proba(np.asarray(chunk, dtype=str)))
    proba = np.concatenate(probas)
    # The most probable class: what predict returns, without a second pass.
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    text = _csv_text(files, classes, proba, pred)
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)
        print(f"Wrote predictions of {len(files)} images to {args.output}.",
              file=sys.stderr)
    return 0
