"""``sklearn-leukemia predict``: class probabilities of image files as CSV.

With ``--positive-classes`` a model of finer classes (Benign, Early, Pre,
Pro) answers the binary question too: two more columns, ``binary_proba``
(the summed probability of the positive classes) and ``binary_predicted``
(the side of the predicted class, named by its classes joined with "+"), as
``evaluate --fit-classes`` and ``clinical_scorers(positive_classes=...)``
read it. A model saved by ``train --fit-classes`` records its positive
classes, so predict adds the two columns without the option.

Every row ends with an ``uncertainty``: one minus the probability of the
predicted class. A model trained with decision rules (``train
--target-sensitivity``, ``--calibration``, ``--refer-rate``) writes its
decision: ``predicted`` (and ``binary_predicted``) at its stored threshold,
the calibrated probabilities, the uncertainty of its call and, when it
refers, a ``refer`` column (yes/no).

Each image is decoded once, and rows are written as each chunk of images is
predicted, so memory does not grow with the number of files; an
``--output`` file appears, whole, only when every row is in it, so a failed
or interrupted run leaves no partial file. With ``--scheduler`` the chunks
are predicted by the workers of a Dask cluster, and written here in order.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import stat
import sys
import warnings
from pathlib import Path

import numpy as np

from sklearn_leukemia import _options
from sklearn_leukemia.cli._cluster import (
    add_scheduler_option,
    dask_backend,
    recording_warnings,
    reissue_warnings,
)
from sklearn_leukemia.cli._decision import describe_decisions
from sklearn_leukemia.cli._io import UsageError, print_warnings
from sklearn_leukemia.io import atomic_open, check_outside, check_writable

__all__ = [
    "configure_parser",
    "find_images",
    "model_sides",
    "predict_files",
    "prediction_steps",
    "run",
]

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
        "truncated): raise stops at the first chunk of images holding one, "
        "names them and writes no --output file; skip leaves them out of the "
        "CSV and names them (default: raise)",
    )
    parser.add_argument(
        "--positive-classes", nargs="+", metavar="NAME", default=None,
        help="classes of the model that make the positive side of a binary "
        "question, e.g. --positive-classes Early Pre Pro on a model of Benign, "
        "Early, Pre and Pro: adds the summed probability of those classes "
        "and the side of the predicted class (default: the positive classes "
        "a model of 'train --fit-classes' recorded)",
    )
    add_scheduler_option(parser, f"the chunks of {_CHUNK} images")


def find_images(inputs: list[str]) -> list[str]:
    """Image files named by ``inputs``: files as given, folders walked sorted.

    Folders are walked as the loaders walk them
    (:func:`sklearn_leukemia.datasets._base.walk_files`): links to folders
    followed, each folder once, special files skipped with a warning.

    Raises
    ------
    UsageError
        If an input does not exist, is a special file (a FIFO, a socket, a
        device), or a folder holds no image file.
    """
    from sklearn_leukemia.datasets._base import (
        has_image_extension,
        is_ignored,
        walk_files,
    )
    from sklearn_leukemia.io._read import special_file_kind

    files: list[str] = []
    for item in inputs:
        path = Path(item).expanduser()
        try:
            mode = path.stat().st_mode
        except OSError:
            raise UsageError(f"image or folder {item} does not exist.") from None
        kind = special_file_kind(mode)
        if kind is not None:
            raise UsageError(f"{item} is a {kind}, not an image file or a folder.")
        if not stat.S_ISDIR(mode):
            files.append(str(path))
            continue
        found = [
            str(file) for file in walk_files(path)
            if not is_ignored(file.name) and has_image_extension(file.name)
        ]
        if not found:
            raise UsageError(f"folder {item} holds no image file.")
        files += found
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


def _decides(model) -> bool:
    return hasattr(model, "decide") and hasattr(model, "estimator_")


def _header(classes: list, sides, model=None) -> list[str]:
    header = ["file", *[f"proba_{label}" for label in classes], "predicted"]
    if sides is not None:
        header += ["binary_proba", "binary_predicted"]
    header.append("uncertainty")
    if model is not None and _decides(model) and model.refer_cut_ is not None:
        header.append("refer")
    return header


def _rows(files, classes: list, proba: np.ndarray, sides=None, pred=None,
          decision=None):
    """Yield the CSV rows of one chunk of predicted files."""
    if pred is None:
        # The most probable class: what predict returns, without a second pass.
        pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    extra = [[] for _ in files]
    if sides is not None:
        from sklearn_leukemia.metrics._grouping import merge_to_binary

        # The side of the predicted class: what the scorers and evaluate
        # --fit-classes count, so that the CSV agrees with their reports (a
        # model with a threshold predicts a class of the side it calls).
        named, score = merge_to_binary(pred, proba, classes, sides)
        extra = [[f"{p:.6f}", side] for p, side in zip(score, named)]
    if decision is None:
        from sklearn_leukemia.decision import decision_uncertainty

        # Of the class predicted: one minus its probability.
        uncertainty = decision_uncertainty(proba)
    else:
        uncertainty = decision.uncertainty
    for more, u in zip(extra, uncertainty):
        more.append(f"{u:.6f}")
    if decision is not None:
        if decision.refer is not None:
            for more, refer in zip(extra, decision.refer):
                more.append("yes" if refer else "no")
    for name, row, label, more in zip(files, proba, pred, extra):
        yield [name, *[f"{p:.6f}" for p in row], label, *more]


def prediction_steps(model):
    """Split ``model`` into how it reads a file and what predicts the pixels.

    A pipeline that starts with an :class:`ImageReader` reads the files with
    its settings, and the steps after it predict; any other model gets
    every file at its own size. A model with decision rules (a
    ClinicalClassifier) reads as its inner pipeline does, and its rules
    apply to what the steps after the reader predict.
    """
    import copy

    from sklearn_leukemia.preprocessing import ImageReader

    if _decides(model):
        # The decision rules over the steps after the reader.
        read_params, inner = prediction_steps(model.estimator_)
        rules = copy.copy(model)
        rules.estimator_ = inner
        return read_params, rules
    steps = getattr(model, "steps", None)
    if steps and isinstance(steps[0][1], ImageReader) and len(steps) > 1:
        reader = steps[0][1]
        return {"image_size": reader.image_size, "n_jobs": reader.n_jobs}, model[1:]
    return {"image_size": None, "n_jobs": None}, model


def _listed(failures) -> str:
    listed = "; ".join(f"{exc.path!r}: {exc.reason}" for _, exc in failures[:10])
    more = f"; and {len(failures) - 10} more" if len(failures) > 10 else ""
    return listed + more


def _files(n: int) -> str:
    return f"{n} image file{'' if n == 1 else 's'}"


def _openable(files) -> tuple[list, list]:
    """Split ``files`` by a check that decodes nothing: stat and 16 bytes.

    Missing, empty, unreadable and special files are found before the first
    prediction; a truncated or corrupt image only when its chunk is decoded.
    """
    from sklearn_leukemia.io import ImageReadError
    from sklearn_leukemia.io._read import _check_file

    kept, failures = [], []
    for index, path in enumerate(files):
        try:
            _check_file(path)
        except ImageReadError as exc:
            failures.append((index, exc))
        else:
            kept.append(path)
    return kept, failures


@contextlib.contextmanager
def _csv_stream(output):
    """Where the rows go: stdout as they come, or a file renamed when complete."""
    if output is None:
        yield sys.stdout
        return
    with atomic_open(output) as file:
        yield file


def _predict_chunk(predictor, chunk, read_params, classes, sides):
    """Read one chunk of files and predict it; return its CSV rows and failures.

    Runs wherever joblib sends it (this process, a Dask worker), reading the
    files from their paths there.
    """
    from sklearn_leukemia.preprocessing._reader import _params, _read

    images, kept, failures = _read(
        chunk, **_params(on_error="skip", **read_params), require_one=False
    )
    if not kept.any():
        return [], failures
    names = [name for name, k in zip(chunk, kept) if k]
    if _decides(predictor):
        decision = predictor.decide(images)
        rows = _rows(names, classes, decision.proba, sides,
                     pred=decision.predicted, decision=decision)
    else:
        rows = _rows(names, classes, predictor.predict_proba(images), sides)
    return list(rows), failures


def predict_files(model, files, stream, *, on_error="raise", sides=None) -> int:
    """Write the CSV of ``files`` to ``stream`` chunk by chunk; return its rows.

    Each file is decoded once: the chunk is read with the model's reader
    settings and its pixels go to the steps after the reader. Memory stays
    that of one chunk of ``_CHUNK`` images whatever the number of files.
    Files that cannot even be opened are found before the first prediction.
    The chunks go through :func:`joblib.Parallel`, so that under the Dask
    backend the workers predict them, each reading its chunk's files.

    Raises
    ------
    ValueError
        When ``on_error`` is ``"raise"``: before any prediction for files
        that cannot be opened, at the chunk that holds it for an image that
        cannot be decoded (naming them); whatever ``on_error``, when no file
        at all can be read.
    """
    from tqdm.auto import tqdm

    n_files = len(files)
    files, failed = _openable(files)
    if failed and on_error == "raise":
        raise ValueError(
            f"{len(failed)} of {_files(n_files)} cannot be read, so nothing was "
            f"predicted: {_listed(failed)}. Move them out of the input, or pass "
            "--on-error skip to leave them out."
        )
    from joblib import Parallel, delayed

    read_params, predictor = prediction_steps(model)
    classes = list(model.classes_)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(_header(classes, sides, model))
    n_rows = 0
    starts = range(0, len(files), _CHUNK)
    # One task per chunk, run where joblib's active backend says: here, one
    # after the other, or on a Dask cluster (--scheduler), a few chunks
    # ahead of the one written (pre_dispatch). Rows come back in order and
    # are written as they come, so memory holds a few chunks at most.
    tasks = (delayed(recording_warnings)(_predict_chunk, predictor,
                                         files[start:start + _CHUNK],
                                         read_params, classes, sides)
             for start in starts)
    # Closed on an error, so that joblib cancels the chunks still running.
    with contextlib.closing(Parallel(return_as="generator")(tasks)) as chunks, tqdm(
        chunks, total=len(starts), desc="predicting", unit="batch",
        file=sys.stderr, disable=len(starts) < 2,
    ) as bar:
        for (rows, failures), caught in bar:
            reissue_warnings(caught)
            if failures and on_error == "raise":
                raise ValueError(
                    f"{_files(len(failures))} cannot be read: "
                    f"{_listed(failures)}. Move them out of the input, or pass "
                    "--on-error skip to leave them out."
                )
            failed += failures
            writer.writerows(rows)
            n_rows += len(rows)
    if failed and not n_rows:
        raise ValueError(f"None of the {_files(n_files)} can be read, so nothing "
                         f"was predicted: {_listed(failed)}.")
    if failed:
        print(f"Left out {len(failed)} of {_files(n_files)} that cannot be read: "
              f"{_listed(failed)}.", file=sys.stderr)
    return n_rows


def run(args) -> int:
    """Predict every image and write the CSV."""
    from sklearn_leukemia import load_model
    from sklearn_leukemia.patient import PatientClassifier

    model_path = Path(args.model).expanduser()
    if not model_path.is_file():
        raise UsageError(f"model file {args.model} does not exist.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        files = find_images(args.inputs)
    print_warnings(caught)
    output = None
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
        check_writable(output, what="--output")
    model, metadata = load_model(model_path, return_metadata=True)
    if isinstance(model, PatientClassifier):
        from sklearn_leukemia.cli._patients import predict_patients

        if args.scheduler is not None:
            raise UsageError(
                f"{args.model} is a patient model; --scheduler spreads the "
                "images of a cell model, not patients: predict it here."
            )

        return predict_patients(args, model, metadata, output, _csv_stream)
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
    positive = getattr(model, "positive_", None)
    if positive is not None:
        # A model with a threshold decides for its own positive classes.
        own = [str(c) for c in np.asarray(classes, dtype=object)[positive]]
        if args.positive_classes and sorted(args.positive_classes) != sorted(own):
            raise UsageError(
                f"{args.model} decides for the positive classes {own}; "
                "--positive-classes cannot ask another question of it."
            )
        positive_names = own
    if _decides(model):
        print(f"{args.model} decides by {describe_decisions(model) or 'its classes'}"
              ".", file=sys.stderr)
    sides = None
    if positive_names:
        sides = model_sides(classes, list(positive_names))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            with dask_backend(args.scheduler), _csv_stream(output) as stream:
                n_rows = predict_files(model, files, stream,
                                       on_error=args.on_error, sides=sides)
        finally:
            print_warnings(caught)
    if output is not None:
        print(f"Wrote predictions of {n_rows} images to {args.output}.",
              file=sys.stderr)
    return 0
