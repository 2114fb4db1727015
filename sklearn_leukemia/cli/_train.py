"""``sklearn-leukemia train``: fit the pipeline on all data and save it.

Also holds what ``evaluate`` shares with ``train``: the data and model
options, loading the data (a folder or the synthetic generator) and building
the pipeline from the options.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sklearn_leukemia.cli._io import UsageError, check_outside, check_readable
from sklearn_leukemia.cli._layout import LAYOUTS, detect_layout, load_layout

__all__ = [
    "BinarySides",
    "Dataset",
    "add_data_options",
    "add_model_options",
    "binary_sides",
    "build_pipeline",
    "check_data_folder",
    "configure_parser",
    "epochs_trained",
    "fold_training",
    "load_dataset",
    "model_params",
    "pipeline_settings",
    "run",
    "trained_size",
]

# On a folder, an option left out takes make_leukemia_pipeline's default (the
# recipe tuned on real smears by benchmarks/bench_real_data.py). The synthetic
# smears are small and quick to learn, so the demo run gets a lighter setting
# that finishes in a few minutes on a 2-core CPU.
SYNTHETIC_DEFAULTS = {"image_size": 64, "epochs": 15}
SYNTHETIC_CLASSES = ("normal", "ALL", "AML")
# The choices of make_leukemia_pipeline, repeated so that --help need not
# import imblearn (a second of start-up); a test keeps them equal.
CONTRAST_CHOICES = ("stretch", "clahe", "gamma")
DENOISE_CHOICES = ("gaussian", "median", "bilateral", "nl_means")
AUGMENT_CHOICES = ("flips", "dihedral", "erase", "orientation", "paper", "default")
#: What ``--augment`` takes: "auto" (the library's default), the presets, none.
AUGMENT_OPTIONS = ("auto", *AUGMENT_CHOICES, "none")
# More folders than this on one side of a binary task get a generic name.
_MAX_NAMED_FOLDERS = 3


@dataclass
class Dataset:
    """What the commands need from the data, whatever their source."""

    X: np.ndarray  # file paths (str) or images (n, S, S, 3) uint8
    y: np.ndarray  # class names (str)
    groups: np.ndarray | None
    pos_label: str | None
    source: str
    layout: str
    root: Path | None
    description: dict = field(default_factory=dict)
    # With --positive-classes: the class (folder) of each image, which y
    # merges into the two sides, and those sides; None otherwise.
    classes: np.ndarray | None = None
    sides: BinarySides | None = None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _positive_float(text: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    return _positive_float(text, allow_zero=True)


def _decay(text: str) -> float:
    value = _positive_float(text, allow_zero=True)
    if value >= 1:
        raise argparse.ArgumentTypeError(
            f"expected a decay in [0, 1) such as 0.999, got {text}"
        )
    return value


def _scale(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(
            f"expected a scale in (0, 1] such as 0.5, got {text}"
        )
    return value


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if value == 0:
        raise argparse.ArgumentTypeError("expected a non-zero integer (-1: all cores)")
    return value


def add_data_options(parser: argparse.ArgumentParser, *, data_required: bool) -> None:
    """Add DATA, ``--layout`` and ``--positive-classes`` to ``parser``."""
    if data_required:
        parser.add_argument(
            "data", metavar="DATA",
            help="folder of images: one subfolder per class, or the layout of "
            "C-NMC, ALL-IDB or AML-Cytomorphology_LMU (detected)",
        )
    else:
        parser.add_argument(
            "data", metavar="DATA", nargs="?", default=None,
            help="folder of images: one subfolder per class, or the layout of "
            "C-NMC, ALL-IDB or AML-Cytomorphology_LMU (detected). Without it, "
            "synthetic blood smears (classes normal, ALL, AML; patient groups)",
        )
    parser.add_argument(
        "--layout", choices=("auto", *LAYOUTS), default="auto",
        help="layout of DATA (default: auto, detected from the folder names)",
    )
    parser.add_argument(
        "--positive-classes", nargs="+", metavar="NAME", default=None,
        help="classes that make the positive class of a binary task (the "
        "others are negative), e.g. --positive-classes Early Pre Pro. Without "
        "it every class is its own",
    )
    parser.add_argument(
        "--on-error", choices=("raise", "skip"), default="raise",
        help="what to do with a file in DATA that is not a readable image (a "
        "text file, a broken or truncated image): raise stops before any "
        "training and names them; skip leaves them out and names them "
        "(default: raise)",
    )
    # The synthetic generator's size: for tests and quick trials, not in --help.
    parser.add_argument("--n-samples", type=_positive_int, default=600,
                        help=argparse.SUPPRESS)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the pipeline and network options to ``parser``."""
    group = parser.add_argument_group(
        "model", "Options left out take the defaults of make_leukemia_pipeline "
        "(see the documentation), except the image size and epochs of the "
        "synthetic demo."
    )
    group.add_argument(
        "--image-size", type=_positive_int, default=None, metavar="N",
        help="side in pixels of the square images the network sees (default: "
        f"{SYNTHETIC_DEFAULTS['image_size']} for the synthetic data, the "
        "library's for a folder)",
    )
    group.add_argument(
        "--epochs", type=_positive_int, default=None, metavar="N",
        help=f"training epochs (default: {SYNTHETIC_DEFAULTS['epochs']} for the "
        "synthetic data, the library's for a folder)",
    )
    group.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                       help="images per training batch")
    group.add_argument("--lr", type=_positive_float, default=None, metavar="X",
                       help="peak learning rate of the optimizer")
    group.add_argument(
        "--architecture", default="secnn", metavar="NAME",
        help="network from the registry, see 'sklearn-leukemia architectures' "
        "(default: secnn)",
    )
    group.add_argument(
        "--width", type=_positive_int, default=None, metavar="N",
        help="channels of the first stage of the network (default: the "
        "architecture's own)",
    )
    group.add_argument(
        "--contrast", choices=CONTRAST_CHOICES, default=None,
        help="contrast adjustment before the network (default: none)",
    )
    group.add_argument(
        "--denoise", choices=DENOISE_CHOICES, default=None,
        help="noise removal before the network (default: none)",
    )
    group.add_argument(
        "--augment", choices=AUGMENT_OPTIONS, default=None,
        help="random changes of the training batches, never applied at "
        "prediction: auto (erase from 1,500 training images up, flips below; "
        "the default), flips, dihedral (flips and transposition: the eight "
        "orientations of a square), erase (flips and random erasing of one "
        "rectangle), orientation (flips and any rotation), paper "
        "(also zoom, shift, shear), default (also brightness and contrast) or "
        "none",
    )
    group.add_argument(
        "--no-augment", dest="augment", action="store_const", const="none",
        help="same as --augment none",
    )
    group.add_argument(
        "--mixup", type=_non_negative_float, default=None, metavar="ALPHA",
        help="mixup of the training batches: blend pairs of images, and their "
        "losses, with a Beta(ALPHA, ALPHA) weight; 0 switches it off "
        "(default: the library's)",
    )
    group.add_argument(
        "--ema", type=_decay, default=None, metavar="DECAY",
        help="keep an exponential moving average of the weights with this "
        "decay (e.g. 0.999, about 1,000 steps) and predict with it; 0 switches "
        "it off (default: the library's)",
    )
    group.add_argument(
        "--progressive-resizing", type=_scale, default=None, metavar="SCALE",
        help="train the first epochs on images shrunk by SCALE (e.g. 0.5), "
        "growing to full size at three quarters of the epochs; 1 trains at "
        "full size throughout (default: the library's)",
    )
    group.add_argument(
        "--class-weight", choices=("balanced", "none"), default=None,
        help="weights of the classes in the loss: balanced (each class by the "
        "inverse of its frequency, so that a minority class counts as much as "
        "the majority) or none (every image alike) (default: the library's, "
        "none)",
    )
    group.add_argument(
        "--tta", choices=("flips", "dihedral", "none"), default=None,
        help="test-time views: predict from the mean log-probabilities of each "
        "image's eight orientations (dihedral), of the image and its three "
        "mirror images (flips) or from the image alone (none) (default: the "
        "library's, dihedral)",
    )
    group.add_argument(
        "--early-stopping", type=_positive_int, default=None, metavar="PATIENCE",
        help="hold out 10%% of the training images, log validation loss and "
        "accuracy, and stop when the validation loss has not improved for "
        "PATIENCE epochs (default: off, train all epochs)",
    )
    group.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
        help="where the network runs; auto: cuda, then mps, then cpu",
    )
    group.add_argument(
        "--n-jobs", type=_n_jobs, default=None, metavar="N",
        help="parallel jobs reading images (-1: all cores; default: 1)",
    )
    group.add_argument("--random-state", type=int, default=0, metavar="SEED",
                       help="seed of the splits, the sampler and the network "
                       "(default: 0)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="print the loss of every epoch")


def _side_name(folders: list[str], fallback: str) -> str:
    if 1 <= len(folders) <= _MAX_NAMED_FOLDERS:
        return "+".join(folders)
    return fallback


@dataclass(frozen=True)
class BinarySides:
    """The two sides that ``--positive-classes`` makes of a set of classes.

    Both sides list their classes in the order of the classes (the sorted
    class folders, the model's ``classes_``), whatever the order of the
    names given, and are named by them joined with "+" (or "negative" /
    "positive" when they are more than three), as the clinical report
    names them.
    """

    negative: list[str]
    positive: list[str]

    @property
    def names(self) -> tuple[str, str]:
        """Names of the negative and the positive side."""
        return (_side_name(self.negative, "negative"),
                _side_name(self.positive, "positive"))


def binary_sides(classes, positive_names, where: str) -> BinarySides:
    """Check ``--positive-classes`` against ``classes`` and make the two sides.

    Shared by evaluate and train (against the class folders or the synthetic
    classes) and by predict (against the model's classes), so that the
    three check the names and name the sides alike.

    Parameters
    ----------
    classes : list of str
        Every class, in its order.
    positive_names : list of str
        The names given to ``--positive-classes``.
    where : str
        What the classes are, for the messages, e.g. ``"class folders of
        DATA"``.

    Raises
    ------
    UsageError
        If a name is given twice or is not one of ``classes``, or if the
        names cover every class.
    """
    classes = [str(c) for c in classes]
    names = list(positive_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--positive-classes names {repeated} more than once.")
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise UsageError(
            f"--positive-classes names {unknown}, which are not {where} "
            f"{classes}."
        )
    negative = [c for c in classes if c not in names]
    if not negative:
        raise UsageError(
            f"--positive-classes covers every one of the {where} {classes}; "
            "leave at least one for the negative side."
        )
    return BinarySides(negative=negative,
                       positive=[c for c in classes if c in names])


def check_data_folder(data: str) -> Path:
    root = Path(data).expanduser()
    if not root.exists():
        raise UsageError(f"data folder {data} does not exist.")
    if not root.is_dir():
        raise UsageError(f"data folder {data} is not a folder.")
    return root


def _synthetic(args) -> Dataset:
    from sklearn_leukemia.datasets import make_blood_smear

    if args.layout not in ("auto", "folder"):
        raise UsageError(f"--layout {args.layout} needs a DATA folder.")
    image_size = args.image_size or SYNTHETIC_DEFAULTS["image_size"]
    # About 5 images per patient, and at least 5 patients per class so that
    # 5 patient-level folds all see every class in training.
    n_patients = min(args.n_samples,
                     max(5 * len(SYNTHETIC_CLASSES), args.n_samples // 5))
    images, target, groups = make_blood_smear(
        args.n_samples, image_size=image_size, classes=SYNTHETIC_CLASSES,
        n_patients=n_patients, random_state=args.random_state,
    )
    target = np.asarray(target).astype(str)
    classes = None
    pos_label = None
    sides = None
    description = {
        "source": "synthetic blood smears (make_blood_smear)",
        "images": int(target.shape[0]),
        "image size": f"{image_size}x{image_size}",
    }
    if args.positive_classes:
        sides = binary_sides(SYNTHETIC_CLASSES, args.positive_classes,
                             "classes of the synthetic data")
        negative_label, pos_label = sides.names
        classes = target
        target = np.where(np.isin(target, sides.positive), pos_label,
                          negative_label)
        description["positive classes"] = sides.positive
    return Dataset(
        X=images, y=target, groups=np.asarray(groups), pos_label=pos_label,
        source="synthetic", layout="synthetic", root=None, description=description,
        classes=classes, sides=sides,
    )


def _folder(args) -> Dataset:
    root = check_data_folder(args.data)
    layout = detect_layout(root) if args.layout == "auto" else args.layout
    how = "detected" if args.layout == "auto" else "given"
    print(f"Layout of {args.data}: {layout} ({how}).", file=sys.stderr)
    if args.positive_classes and layout != "folder":
        raise UsageError(
            f"--positive-classes applies to the folder layout only; the {layout} "
            "layout has fixed classes. Pass --layout folder to choose them."
        )
    sides = None
    if args.positive_classes:
        from sklearn_leukemia.datasets._base import scan_dir

        # The class folders as the loader finds them: a hidden folder or an
        # archiver's __MACOSX is no class.
        folders = [folder.name for folder in scan_dir(root)[1]]
        sides = binary_sides(folders, args.positive_classes,
                             f"class folders of {args.data}")
    # The loaders warn of the files they leave out (--on-error skip); the
    # warnings are printed as plain lines, like the rest of the output.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if sides is not None:
            from sklearn_leukemia.datasets import load_image_folder

            data = load_image_folder(root, positive_classes=sides.positive,
                                     binary_names=sides.names, n_jobs=args.n_jobs,
                                     on_error=args.on_error)
        else:
            data = load_layout(root, layout, positive_classes=args.positive_classes,
                               n_jobs=args.n_jobs, on_error=args.on_error)
    for warning in caught:
        print(warning.message, file=sys.stderr)
    names = np.asarray(data.target_names).astype(str)
    X = np.asarray(data.filenames).astype(str)
    y = names[np.asarray(data.target)]
    groups = data.get("groups")
    groups = None if groups is None else np.asarray(groups)
    classes = None if sides is None else np.asarray(data.class_names).astype(str)
    # Binary loaders put the positive (leukemic) class at target 1.
    pos_label = str(names[1]) if names.shape[0] == 2 else None
    if names.shape[0] == 2 and layout == "folder" and not args.positive_classes:
        raise UsageError(
            f"{args.data} has two classes {names.tolist()}; name the positive "
            "one with --positive-classes, since sensitivity and specificity "
            "depend on it."
        )
    # Every image read once now, so that a broken one stops the command (or
    # is left out) before any training.
    keep = check_readable(X, on_error=args.on_error, n_jobs=args.n_jobs)
    left_out = [os.path.relpath(path, root) for path in X[~keep]]
    if left_out:
        X, y = X[keep], y[keep]
        groups = None if groups is None else groups[keep]
        classes = None if classes is None else classes[keep]
    description = {
        "source": str(root),
        "layout": layout,
        "images": int(y.shape[0]),
    }
    if left_out:
        description["unreadable images left out"] = left_out
    if sides is not None:
        description["positive classes"] = sides.positive
    return Dataset(
        X=X, y=y, groups=groups,
        pos_label=pos_label, source="folder", layout=layout, root=root,
        description=description, classes=classes, sides=sides,
    )


def class_counts(y) -> dict[str, int]:
    """Return the number of images of each class, classes sorted."""
    labels, counts = np.unique(y, return_counts=True)
    return {str(label): int(count) for label, count in zip(labels, counts)}


def load_dataset(args) -> Dataset:
    """Load the data named by the options (a folder, or the synthetic smears)."""
    dataset = _folder(args) if args.data is not None else _synthetic(args)
    counts = class_counts(dataset.y)
    if len(counts) < 2:
        raise UsageError(f"the data hold one class only ({list(counts)}); "
                         "at least two are needed.")
    dataset.description["classes"] = counts
    grouped = dataset.groups is not None
    dataset.description["patient_groups"] = grouped
    if grouped:
        dataset.description["patients"] = int(np.unique(dataset.groups).shape[0])
    return dataset


def model_params(args) -> dict:
    """Keyword arguments of ``make_leukemia_pipeline`` from the options.

    Options left out are left out here too, so that the pipeline takes its
    own defaults, except for the synthetic demo (``SYNTHETIC_DEFAULTS``).
    """
    params = {
        "contrast": args.contrast,
        "denoise": args.denoise,
        "architecture": args.architecture,
        "n_jobs": args.n_jobs,
        "random_state": args.random_state,
        "device": args.device,
        "verbose": int(args.verbose),
    }
    image_size, epochs = args.image_size, args.epochs
    if args.data is None:
        image_size = image_size or SYNTHETIC_DEFAULTS["image_size"]
        epochs = epochs or SYNTHETIC_DEFAULTS["epochs"]
    optional = {
        "image_size": image_size,
        "max_epochs": epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "augment": False if args.augment == "none" else args.augment,
        "early_stopping": args.early_stopping,
        "module__width": args.width,
        "mixup": args.mixup,
        "ema": args.ema,
        "progressive_resizing": args.progressive_resizing,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    # Options whose "none" is the parameter None, not the option left out.
    for name in ("tta", "class_weight"):
        value = getattr(args, name)
        if value is not None:
            params[name] = None if value == "none" else value
    return params


def _policy_name(policy) -> str | None:
    """Return the preset name of an augmentation policy, else its repr.

    ``"auto"`` (not yet resolved by a fit) is returned as it is.
    """
    from sklearn_leukemia.utils._budget import is_auto

    if policy is None or is_auto(policy):
        return policy
    return policy.preset_name() or repr(policy)


def pipeline_settings(pipeline) -> dict:
    """Return the settings a run uses, read back from the built pipeline.

    Unlike :func:`model_params` it holds the defaults too, for the report.
    """
    clf = pipeline.named_steps["classifier"]
    params = clf.get_params(deep=False)
    steps = pipeline.named_steps

    def method(name):
        step = steps[name]
        return None if step == "passthrough" else step.method

    settings = {
        "image_size": steps["read"].image_size,
        "contrast": method("contrast"),
        "denoise": method("denoise"),
        "normalize": method("normalize"),
        "augment": _policy_name(clf.augmentation),
        "architecture": params["architecture"],
        **{k: v for k, v in params.items() if k.startswith("module__")},
    }
    for name in ("max_epochs", "batch_size", "lr", "optimizer", "lr_schedule",
                 "class_weight", "mixup", "ema", "progressive_resizing", "tta",
                 "early_stopping", "device", "random_state"):
        settings[name] = params[name]
    settings["n_jobs"] = steps["read"].n_jobs
    return settings


def fold_training(estimator) -> dict:
    """Return the sizes a fitted pipeline (or fold) trained at.

    ``image_size`` ("HxW") is the read step's fitted size (what
    ``image_size="auto"`` chose), ``progressive_resizing`` the
    classifier's first scale and ``augment`` the preset name of its
    augmentation (what ``augment="auto"`` chose), each when the fitted
    estimator has it.
    """
    out = {}
    if hasattr(estimator, "steps"):
        size = getattr(estimator.named_steps.get("read"), "image_size_", None)
        if size is not None:
            out["image_size"] = f"{size[0]}x{size[1]}"
    network = estimator[-1] if hasattr(estimator, "steps") else estimator
    start = getattr(network, "progressive_resizing_", None)
    if start is not None:
        out["progressive_resizing"] = start
    augmentation = getattr(network, "augmentation_", None)
    if augmentation is not None:
        out["augment"] = _policy_name(augmentation)
    return out


def trained_size(pipeline) -> str:
    """Return " at HxW pixels" of a fitted pipeline, its first scale, its augment.

    The size and the augmentation's preset name are ``fold_training``'s;
    the scale is that of ``progressive_resizing``, from the history.
    """
    training = fold_training(pipeline)
    size = training.get("image_size")
    if size is None:
        return ""
    history = getattr(pipeline[-1], "history", None) or [{}]
    start = history[0].get("train_scale", 1.0)
    grown = f", grown from {start:g} of the side" if start < 1 else ""
    augment = training.get("augment")
    augmented = f", augment {augment}" if augment is not None else ""
    return f" at {size} pixels{grown}{augmented}"


def epochs_trained(history) -> str:
    """Return ``"N epochs"`` (or ``"1 epoch"``) for a fitted network's history."""
    return f"{len(history)} epoch{'s' if len(history) != 1 else ''}"


def build_pipeline(args):
    """Build the unfitted pipeline; an unknown architecture is a usage error."""
    from sklearn_leukemia import make_leukemia_pipeline
    from sklearn_leukemia.nn import get_architecture

    try:
        get_architecture(args.architecture)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--architecture: {exc}") from None
    return make_leukemia_pipeline(**model_params(args))


def add_fit_classes_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--fit-classes`` and ``--fit-sides``: what a binary task fits.

    Both store ``args.fit_classes`` (True, False); without either it is None
    and :func:`fits_classes` decides.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--fit-classes", dest="fit_classes", action="store_const", const=True,
        default=None, help=help + " (the default when a side of "
        "--positive-classes holds several classes)",
    )
    group.add_argument(
        "--fit-sides", dest="fit_classes", action="store_const", const=False,
        help="with --positive-classes: fit on the two sides, each class "
        "taking the label of its side (the default when each side is one "
        "class)",
    )


def check_fit_classes(args) -> None:
    """``--fit-classes``/``--fit-sides`` need the positive classes of the task."""
    if args.fit_classes is not None and not args.positive_classes:
        option = "--fit-classes" if args.fit_classes else "--fit-sides"
        raise UsageError(
            f"{option} chooses what a binary task fits: name its positive "
            "classes with --positive-classes."
        )


def fits_classes(args, dataset: Dataset) -> bool:
    """Whether a binary task fits the classes themselves rather than the sides.

    ``--fit-classes`` and ``--fit-sides`` decide; without either, the
    classes are fitted when a side of ``--positive-classes`` holds more
    than one of them (on the smear fields of all-taleqani, with the
    defaults, the four-class models read as binary took 1 benign field of
    855 for leukemic over three cross-validation seeds, against 6 for
    models of the two sides; see the benchmarks). Without
    ``--positive-classes`` there is no binary task: False.
    """
    if dataset.sides is None:
        return False
    if args.fit_classes is not None:
        return bool(args.fit_classes)
    return len(dataset.sides.negative) > 1 or len(dataset.sides.positive) > 1


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
    add_model_options(parser)


def run(args) -> int:
    """Fit the pipeline on all of DATA and save it to ``--out``."""
    from sklearn_leukemia import save_model

    out = Path(args.out).expanduser()
    check_outside(out, check_data_folder(args.data), what="--out")
    if out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; expected a file name "
                         "such as model.slk.")
    if not out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {out.parent} does not exist.")
    check_fit_classes(args)
    pipeline = build_pipeline(args)
    dataset = load_dataset(args)
    target, classes = dataset.y, dataset.description["classes"]
    fit_classes = fits_classes(args, dataset)
    if fit_classes:
        # The class folders themselves; predict reads the two sides from
        # them with the positive classes recorded in the file.
        target = dataset.classes
        classes = class_counts(target)
    print(f"Training on {dataset.y.shape[0]} images, classes {classes}.",
          file=sys.stderr)
    pipeline.fit(dataset.X, target)
    history = getattr(pipeline[-1], "history", None)
    if history is not None:
        print(f"Trained {epochs_trained(history)}{trained_size(pipeline)}.",
              file=sys.stderr)
    metadata = None
    if fit_classes:
        # The binary question the classes answer: predict reads it from the
        # file and adds the two sides' columns without --positive-classes.
        metadata = {"positive_classes": dataset.sides.positive}
    save_model(pipeline, out, metadata=metadata)
    classes = ", ".join(map(str, pipeline.classes_))
    print(f"Saved the model to {out} (classes: {classes}).")
    if fit_classes:
        negative, positive = dataset.sides.names
        print(f"It records the positive classes: 'sklearn-leukemia predict "
              f"{out} IMAGE_OR_DIR...' adds the binary answer, {negative} "
              f"against {positive}.")
    return 0
