"""The leukemia pipeline, and the one place where its defaults are decided.

:func:`make_leukemia_pipeline` builds the imbalanced-learn Pipeline of the
design; :func:`training_recipe` is the only rule that adapts a default to
the data: the image size, epochs, progressive resizing and augmentation of a
training set of a given size. The factory applies it once, to the count it
is given, so that every fit of the pipeline it returns (each
cross-validation fold and the final refit) trains the same recipe.
"""

from __future__ import annotations

from numbers import Integral, Real

from imblearn.pipeline import Pipeline
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

from sklearn_leukemia import _options
from sklearn_leukemia.augmentation import AugmentationPolicy
from sklearn_leukemia.utils._validation import SIZE

__all__ = ["LARGE_SET", "make_leukemia_pipeline", "training_recipe"]

#: Training sets of at least this many images get the large-set recipe.
LARGE_SET = 1500
#: The recipe of a large set, also the defaults of the estimators.
_LARGE = {
    "image_size": 96,
    "max_epochs": 150,
    "progressive_resizing": None,
    "augment": "erase",
}
#: A smaller set trains longer on larger images, grown from half their side.
_SMALL = {"image_size": 128, "progressive_resizing": 0.5, "augment": "flips"}
#: Image passes of a small set's training (epochs times images), and the
#: most epochs it gets.
_SMALL_IMAGE_PASSES = 225_000
_SMALL_MAX_EPOCHS = 250


@validate_params(
    {"n_images": [Interval(Integral, 1, None, closed="left"), None]},
    prefer_skip_nested_validation=True,
)
def training_recipe(n_images=None) -> dict:
    """Return the settings a default fit uses for a training set of ``n_images``.

    One training budget (about 2,000 images in 10 minutes on 2 CPU cores) is
    spent by the size of the set. From :data:`LARGE_SET` (1,500) images up,
    or when the size is not given: 96-pixel images, 150 epochs, no
    progressive resizing, flips and random erasing. Below: 128-pixel images
    trained from half their side, flips only, and the epochs of 225,000
    image passes (150 to 250). The rule counts images; it does not look at
    them. The :doc:`benchmarks </benchmarks>` give the numbers behind it.

    Parameters
    ----------
    n_images : int or None, default=None
        Images of the whole training set, before any oversampling.

    Returns
    -------
    recipe : dict
        ``image_size``, ``max_epochs``, ``progressive_resizing`` and
        ``augment``, as :func:`make_leukemia_pipeline` takes them.

    Examples
    --------
    >>> from sklearn_leukemia.pipeline import training_recipe
    >>> training_recipe(1938)
    {'image_size': 96, 'max_epochs': 150, 'progressive_resizing': None, \
'augment': 'erase'}
    >>> training_recipe(800)["max_epochs"]
    250
    """
    if n_images is None or n_images >= LARGE_SET:
        return dict(_LARGE)
    epochs = round(_SMALL_IMAGE_PASSES / n_images)
    return {**_SMALL, "max_epochs": min(_SMALL_MAX_EPOCHS, max(150, epochs))}


@validate_params(
    {
        "n_images": [Interval(Integral, 1, None, closed="left"), None],
        "image_size": [*SIZE, StrOptions({"auto"})],
        "progressive_resizing": [
            Interval(Real, 0, 1, closed="right"), StrOptions({"auto"}), None,
        ],
        "contrast": [StrOptions(set(_options.CONTRAST_METHODS)), None],
        "denoise": [StrOptions(set(_options.DENOISE_METHODS)), None],
        "normalize": [StrOptions(set(_options.NORMALIZE_METHODS)), None],
        "augment": [
            StrOptions({"auto", *_options.AUGMENTATION_PRESETS}),
            "boolean",
            AugmentationPolicy,
            None,
        ],
        "n_copies": [Interval(Integral, 0, None, closed="left")],
        "balance": ["boolean"],
        "architecture": [str, callable],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "tta": [StrOptions(set(_options.TTA_MODES)), None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "memory": [str, HasMethods(["cache"]), None],
    },
    prefer_skip_nested_validation=True,
)
def make_leukemia_pipeline(
    *,
    n_images=None,
    image_size="auto",
    progressive_resizing="auto",
    contrast=None,
    denoise=None,
    normalize="standard",
    augment="auto",
    n_copies=0,
    balance=False,
    architecture="secnn",
    class_weight=None,
    tta="dihedral",
    n_jobs=None,
    random_state=None,
    memory=None,
    **classifier_params,
) -> Pipeline:
    """Build the imbalanced-learn Pipeline from file paths to a fitted SE-CNN.

    The steps, in order and with these names: ``read``
    (:class:`~sklearn_leukemia.preprocessing.ImageReader`), ``resize``
    (:class:`~sklearn_leukemia.preprocessing.ImageResizer`), ``contrast``
    (:class:`~sklearn_leukemia.preprocessing.ContrastAdjuster`), ``denoise``
    (:class:`~sklearn_leukemia.preprocessing.ImageDenoiser`), ``normalize``
    (:class:`~sklearn_leukemia.preprocessing.IntensityNormalizer`),
    ``oversample`` (:class:`~sklearn_leukemia.augmentation.ImageAugmenter`, a
    sampler that only runs in ``fit``) and ``classifier``
    (:class:`~sklearn_leukemia.SECNNClassifier`). A step switched off is
    ``"passthrough"`` and keeps its name, so that a grid search can switch it
    on. ``read`` takes file paths or passes image arrays through.

    Parameters
    ----------
    n_images : int or None, default=None
        Images of the training set the pipeline is for: the ``"auto"``
        settings are :func:`training_recipe`'s for this many. Give the size
        of the whole set you cross-validate, so that the folds train the
        same recipe as the final fit. None takes the recipe of a large set.
    image_size : int, (int, int) or "auto", default="auto"
        Side of the square images the network sees, or their ``(height,
        width)`` (then with ``tta="flips"``: the eight views need squares).
    progressive_resizing : float, "auto" or None, default="auto"
        Scale of the first epoch's training images (see
        :class:`~sklearn_leukemia.SECNNClassifier`); None trains at full
        size.
    contrast : {"stretch", "clahe", "gamma"} or None, default=None
        Contrast adjustment, or none.
    denoise : {"gaussian", "median", "bilateral", "nl_means"} or None, \
default=None
        Noise removal, or none.
    normalize : {"standard", "unit", "symmetric"} or None, default="standard"
        Per-channel z-score learned in fit, [0, 1] or [-1, 1]; None leaves
        the classifier to scale uint8 images to [0, 1].
    augment : str, bool or AugmentationPolicy, default="auto"
        Augmentation of every training batch, never of a prediction: a
        preset name of :meth:`AugmentationPolicy.preset
        <sklearn_leukemia.augmentation.AugmentationPolicy.preset>`, a policy,
        True (``"default"``) or False (none).
    n_copies : int, default=0
        Augmented copies of each training image added once before training
        by the ``oversample`` step (0 switches it off unless ``balance``).
    balance : bool, default=False
        Oversample minority classes with augmented copies until the classes
        are even (``oversample`` step).
    architecture : str or callable, default="secnn"
        Network from the architecture registry.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss.
    tta : {"dihedral", "flips"} or None, default="dihedral"
        Test-time views of the classifier.
    n_jobs : int or None, default=None
        Parallel image reading.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampler and the classifier.
    memory : str or joblib.Memory, default=None
        Caches fitted transformers, as in :class:`imblearn.pipeline.Pipeline`.
    **classifier_params
        Passed to :class:`~sklearn_leukemia.SECNNClassifier`, e.g.
        ``max_epochs=20`` (default: the recipe's), ``lr=3e-3``,
        ``module__width=16`` or ``device="cuda"``.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        Unfitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia import make_leukemia_pipeline
    >>> pipe = make_leukemia_pipeline(image_size=16, max_epochs=1, batch_size=8,
    ...                               module__width=4, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['read', 'resize', 'contrast', 'denoise', 'normalize', 'oversample', \
'classifier']
    >>> X = np.random.default_rng(0).integers(0, 256, (12, 20, 20, 3), np.uint8)
    >>> y = np.array(["normal", "ALL"] * 6)
    >>> pipe.fit(X, y).predict(X[:2]).shape
    (2,)
    """
    from sklearn_leukemia.augmentation import ImageAugmenter
    from sklearn_leukemia.classifier import SECNNClassifier
    from sklearn_leukemia.preprocessing import (
        ContrastAdjuster,
        ImageDenoiser,
        ImageReader,
        ImageResizer,
        IntensityNormalizer,
    )

    recipe = training_recipe(n_images)
    if image_size == "auto":
        image_size = recipe["image_size"]
    if isinstance(progressive_resizing, str):
        progressive_resizing = recipe["progressive_resizing"]
    if classifier_params.get("max_epochs", "auto") == "auto":
        classifier_params["max_epochs"] = recipe["max_epochs"]
    if augment == "auto":
        augment = recipe["augment"]
    elif augment is True:
        augment = "default"
    elif augment is False:
        augment = None

    sampler = "passthrough"
    if n_copies or balance:
        # An explicit policy (not None), so that a grid can tune
        # oversample__policy__*.
        sampler = ImageAugmenter(
            policy=AugmentationPolicy(),
            n_copies=n_copies,
            balance=balance,
            random_state=random_state,
        )
    steps = [
        ("read", ImageReader(image_size=image_size, n_jobs=n_jobs)),
        ("resize", ImageResizer(size=image_size)),
        ("contrast", ContrastAdjuster(method=contrast) if contrast else "passthrough"),
        ("denoise", ImageDenoiser(method=denoise) if denoise else "passthrough"),
        (
            "normalize",
            IntensityNormalizer(method=normalize) if normalize else "passthrough",
        ),
        ("oversample", sampler),
        (
            "classifier",
            SECNNClassifier(
                architecture=architecture,
                class_weight=class_weight,
                tta=tta,
                progressive_resizing=progressive_resizing,
                augmentation=augment,
                random_state=random_state,
                **classifier_params,
            ),
        ),
    ]
    return Pipeline(steps, memory=memory)
