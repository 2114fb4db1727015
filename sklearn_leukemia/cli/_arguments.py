"""The options that ``evaluate`` and ``train`` share, and their value checks.

The choice lists come from :mod:`sklearn_leukemia._options`, the ones the
estimators validate against, so ``--help`` needs neither torch nor
scikit-learn.
"""

from __future__ import annotations

import argparse

import numpy as np

from sklearn_leukemia import _options
from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.cli._layout import LAYOUTS

__all__ = [
    "SYNTHETIC_DEFAULTS",
    "add_data_options",
    "add_fit_classes_option",
    "add_model_options",
    "check_fit_classes",
    "cv_count",
]

# The synthetic smears are small and quick to learn: the demo gets a lighter
# setting that finishes in a few minutes on a 2-core CPU. On a folder, an
# option left out takes the library's default.
SYNTHETIC_DEFAULTS = {"image_size": 64, "epochs": 15}


def _number(text: str, kind=float):
    try:
        return kind(text)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {value}"
            )
        return value

    return parse


def _in_range(low: float, high: float, *, low_open: bool, high_open: bool, what=""):
    def parse(text: str) -> float:
        value = _number(text)
        inside = np.isfinite(value) and (value > low if low_open else value >= low)
        inside = inside and (value < high if high_open else value <= high)
        if not inside:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(
                f"expected {what or 'a number'} in {left}{low:g}, {high:g}{right}, "
                f"got {text}"
            )
        return value

    return parse


def _n_jobs(text: str) -> int:
    value = _number(text, int)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a non-zero integer (-1: all cores)")
    return value


positive_int = _at_least(1)
cv_count = _at_least(2)
_positive = _in_range(0, np.inf, low_open=True, high_open=True)
_non_negative = _in_range(0, np.inf, low_open=False, high_open=True)
_decay = _in_range(0, 1, low_open=False, high_open=True, what="a decay such as 0.999")
_scale = _in_range(0, 1, low_open=True, high_open=False, what="a scale such as 0.5")


def add_data_options(parser: argparse.ArgumentParser, *, data_required: bool) -> None:
    """Add DATA, ``--layout``, ``--positive-classes`` and ``--on-error``."""
    layouts = ("folder of images: one subfolder per class, the layout of "
               "C-NMC, ALL-IDB or AML-Cytomorphology_LMU, or patient folders "
               "with a patients.csv (detected)")
    if data_required:
        parser.add_argument("data", metavar="DATA", help=layouts)
    else:
        parser.add_argument(
            "data", metavar="DATA", nargs="?", default=None,
            help=f"{layouts}. Without it, synthetic blood smears (classes "
            "normal, ALL, AML; patient groups)",
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
        "--on-error", choices=_options.ON_ERROR, default="raise",
        help="what to do with a file in DATA that is not a readable image (a "
        "text file, a broken or truncated image): raise stops before any "
        "training and names them; skip leaves them out and names them "
        "(default: raise)",
    )
    # The synthetic generator's size: for tests and quick trials, not in --help.
    parser.add_argument("--n-samples", type=positive_int, default=600,
                        help=argparse.SUPPRESS)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the pipeline and network options."""
    group = parser.add_argument_group(
        "model", "Options left out take the defaults of make_leukemia_pipeline "
        "for the number of images (see the documentation), except the image "
        "size and epochs of the synthetic demo."
    )
    group.add_argument(
        "--image-size", type=positive_int, default=None, metavar="N",
        help="side in pixels of the square images the network sees (default: "
        f"{SYNTHETIC_DEFAULTS['image_size']} for the synthetic data, the "
        "library's for a folder)",
    )
    group.add_argument(
        "--epochs", type=positive_int, default=None, metavar="N",
        help=f"training epochs (default: {SYNTHETIC_DEFAULTS['epochs']} for the "
        "synthetic data, the library's for a folder)",
    )
    group.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                       help="images per training batch")
    group.add_argument("--lr", type=_positive, default=None, metavar="X",
                       help="peak learning rate of the optimizer")
    group.add_argument(
        "--architecture", default="secnn", metavar="NAME",
        help="network from the registry, see 'sklearn-leukemia architectures' "
        "(default: secnn)",
    )
    group.add_argument(
        "--width", type=positive_int, default=None, metavar="N",
        help="channels of the first stage of the network (default: the "
        "architecture's own)",
    )
    _add_preprocessing_options(group)
    _add_training_options(group)
    _add_run_options(group)


def _add_preprocessing_options(group) -> None:
    group.add_argument(
        "--contrast", choices=_options.CONTRAST_METHODS, default=None,
        help="contrast adjustment before the network (default: none)",
    )
    group.add_argument(
        "--denoise", choices=_options.DENOISE_METHODS, default=None,
        help="noise removal before the network (default: none)",
    )


def _add_training_options(group) -> None:
    group.add_argument(
        "--augment", choices=("auto", *_options.AUGMENTATION_PRESETS, "none"),
        default=None,
        help="random changes of the training batches, never applied at "
        "prediction: auto (erase from 1,500 images up, flips below; the "
        "default), flips, dihedral (flips and transposition), erase (flips "
        "and random erasing of one rectangle), orientation (flips and any "
        "rotation), paper (also zoom, shift, shear), default (also brightness "
        "and contrast) or none",
    )
    group.add_argument(
        "--no-augment", dest="augment", action="store_const", const="none",
        help="same as --augment none",
    )
    group.add_argument(
        "--mixup", type=_non_negative, default=None, metavar="ALPHA",
        help="mixup of the training batches with a Beta(ALPHA, ALPHA) weight; "
        "0 switches it off (default: off)",
    )
    group.add_argument(
        "--ema", type=_decay, default=None, metavar="DECAY",
        help="predict with a moving average of the weights of this decay "
        "(e.g. 0.999, about 1,000 steps); 0 switches it off (default: off)",
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
        "inverse of its frequency) or none (every image alike; the default)",
    )
    group.add_argument(
        "--tta", choices=(*_options.TTA_MODES, "none"), default=None,
        help="test-time views: predict from the mean log-probabilities of each "
        "image's eight orientations (dihedral, the default), of its four "
        "mirror images (flips) or from the image alone (none)",
    )
    group.add_argument(
        "--early-stopping", type=positive_int, default=None, metavar="PATIENCE",
        help="hold out 10%% of the training images, log validation loss and "
        "accuracy, and stop when the validation loss has not improved for "
        "PATIENCE epochs (default: off, train all epochs)",
    )


def _add_run_options(group) -> None:
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


def add_fit_classes_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--fit-classes`` and ``--fit-sides``: what a binary task fits.

    Both store ``args.fit_classes`` (True, False); without either it is None
    and :func:`sklearn_leukemia.cli._data.fits_classes` decides.
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
