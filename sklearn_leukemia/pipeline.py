"""The leukemia pipeline of the design document, built by one function."""

from __future__ import annotations

from imblearn.pipeline import Pipeline

_CONTRAST = (None, "stretch", "clahe", "gamma")
_DENOISE = (None, "gaussian", "median", "bilateral", "nl_means")
_NORMALIZE = (None, "unit", "symmetric", "standard")


def _check_choice(value, name: str, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"{name}={value!r} is not supported; expected one of "
            f"{[str(a) for a in allowed]}."
        )


def make_leukemia_pipeline(
    *,
    image_size: int = 96,
    progressive_resizing: float | None = None,
    contrast: str | None = None,
    denoise: str | None = None,
    normalize: str | None = "standard",
    augment="flips",
    n_copies: int = 0,
    balance: bool = False,
    architecture: str = "secnn",
    class_weight=None,
    tta="dihedral",
    n_jobs: int | None = None,
    random_state=None,
    memory=None,
    **classifier_params,
) -> Pipeline:
    """Build the imbalanced-learn Pipeline from file paths to a fitted SE-CNN.

    The steps, in order and with these names, are ``read``
    (:class:`~sklearn_leukemia.preprocessing.ImageReader`), ``resize``
    (:class:`~sklearn_leukemia.preprocessing.ImageResizer`), ``contrast``
    (:class:`~sklearn_leukemia.preprocessing.ContrastAdjuster`), ``denoise``
    (:class:`~sklearn_leukemia.preprocessing.ImageDenoiser`), ``normalize``
    (:class:`~sklearn_leukemia.preprocessing.IntensityNormalizer`), ``augment``
    (:class:`~sklearn_leukemia.augmentation.ImageAugmenter`, a sampler that
    only runs in ``fit``) and ``classifier``
    (:class:`~sklearn_leukemia.SECNNClassifier`). A step that is switched off
    is ``"passthrough"`` but keeps its name, so that a grid search can switch
    it on: ``{"denoise": [ImageDenoiser(method="median"), "passthrough"]}``.

    The pipeline takes file paths or image arrays alike: ``read`` reads paths
    (resizing while reading) and passes arrays through to ``resize``.

    Parameters
    ----------
    image_size : int, default=96
        Side of the square images the network sees. The paper uses 224; on
        the real smears of the benchmarks 224 pixels scored at most 1.7
        points of accuracy more than 96, about the run-to-run noise, for five
        times the training time (see the ablation in the documentation).
        On the 800 single-cell crops of ``pbc-normal``, 128 made fewer
        errors with each of three seeds (96.4% accuracy against 95.5%) at
        1.9 times the training time; on the 1,938 smear fields of
        ``all-taleqani`` it gained within the noise and took a full fit on
        2 CPU cores from 8.8 to 13.7 minutes, which is why the default stays
        96. For single-cell crops, ``image_size=128`` with
        ``progressive_resizing=0.5`` made fewer errors still, in less time
        than 128 at full size (1.3 times the time of the default).
    progressive_resizing : float or None, default=None
        Progressive resizing of the classifier (see
        :class:`~sklearn_leukemia.SECNNClassifier`): the first epoch trains
        on the images shrunk to this fraction of ``image_size``, the scale
        grows to full size at three quarters of the epochs, and the last
        quarter and every prediction use the full size. None trains at full
        size throughout. On the real smears of the benchmarks, over three
        cross-validation seeds, ``image_size=128`` with 0.5 made 64 errors
        on the 800 single cells of ``pbc-normal`` (97.3% accuracy) against
        115 (95.2%) for the defaults, fewer with every seed, but on the
        benign-against-leukemic smear fields of ``all-taleqani`` 35 errors
        against 29, 16 of 855 benign fields wrong against 9 (specificity
        98.1% against 98.9%), more with every seed; it trains 1.3 times as
        long (a full fit on the 1,938 all-taleqani images: 5.5 minutes on 2
        CPU cores against 4.3). So it is not the default; try it on sets of
        single-cell crops.
    contrast : {"stretch", "clahe", "gamma"} or None, default=None
        Contrast adjustment, or none. The paper adjusts contrast and
        denoises; on the real smears of the benchmarks, contrast stretching
        with median denoising lowered the accuracy of both tasks (the
        leukemic-versus-benign one from 99.6% to 98.4%), so both are off by
        default.
    denoise : {"gaussian", "median", "bilateral", "nl_means"} or None, \
default=None
        Noise removal, or none.
    normalize : {"standard", "unit", "symmetric"} or None, default="standard"
        Intensity normalization: per-channel z-score learned in fit, [0, 1] or
        [-1, 1]. With None the classifier scales uint8 images to [0, 1].
    augment : str, bool or AugmentationPolicy, default="flips"
        Random augmentation of every training batch, freshly drawn at each
        epoch on the training device. A name of
        :meth:`AugmentationPolicy.preset
        <sklearn_leukemia.augmentation.AugmentationPolicy.preset>`:
        ``"flips"`` (horizontal and vertical flips only), ``"dihedral"``
        (flips and transposition), ``"orientation"`` (flips and rotations),
        ``"paper"`` or ``"default"``; True is the same
        as ``"default"`` (every change of
        :class:`~sklearn_leukemia.augmentation.AugmentationPolicy`, colour
        included); a policy is used as given; False switches it off. Never
        applied at prediction.
    n_copies : int, default=0
        Augmented copies of each training image added once, before training,
        by the ``augment`` sampler step (0 switches the step off unless
        ``balance`` is True).
    balance : bool, default=False
        Oversample minority classes with augmented copies until classes are
        even (``augment`` sampler step).
    architecture : str, default="secnn"
        Network from the architecture registry
        (:func:`~sklearn_leukemia.nn.list_architectures`).
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss (see
        :class:`~sklearn_leukemia.SECNNClassifier`). None counts every image
        alike; ``"balanced"`` weights each class by the inverse of its
        frequency, so that a minority class counts as much in the loss as the
        majority. On all-taleqani (almost six leukemic images to one benign)
        the unweighted loss made fewer errors over three cross-validation
        seeds (60 against 66, binary and four-class together, a gain within
        the spread of the seeds) with the same specificity; on a set far
        more unbalanced than that, try ``"balanced"`` or ``balance=True``.
    tta : {"dihedral", "flips"} or None, default="dihedral"
        Test-time views of the classifier (see
        :class:`~sklearn_leukemia.SECNNClassifier`, whose own default is
        None): each prediction averages the network's log-probabilities for
        the image in its eight orientations (the four mirror images of the
        image and of its transpose; ``"flips"``: the image and its three
        mirror images), the same deterministic views for every image, so a
        prediction does not depend on how the slide lay under the camera.
        Training is unchanged; prediction takes eight (four) times as long.
        The eight views need square images, which ``image_size`` gives; a
        non-square ``resize__size`` needs ``tta="flips"``. On the real smears
        of the benchmarks, over three seeds, the eight views made 19 fewer
        errors than the four flips on the eight cell types of ``pbc-normal``
        (95.96% against 95.17% on average) and were level on ``all-taleqani``
        (1 error fewer on the binary task, 4 more on the four-class one, of
        5,814 predictions each). None predicts from the image alone.
    n_jobs : int or None, default=None
        Parallel image reading.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampler and the classifier.
    memory : str or joblib.Memory, default=None
        Caches fitted transformers, as in :class:`imblearn.pipeline.Pipeline`.
    **classifier_params
        Passed to :class:`~sklearn_leukemia.SECNNClassifier`, for example
        ``max_epochs=20``, ``lr=3e-3``, ``module__width=16`` or
        ``device="cuda"``.

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
    ['read', 'resize', 'contrast', 'denoise', 'normalize', 'augment', 'classifier']
    >>> X = np.random.default_rng(0).integers(0, 256, (12, 20, 20, 3), np.uint8)
    >>> y = np.array(["normal", "ALL"] * 6)
    >>> pipe.fit(X, y).predict(X[:2]).shape
    (2,)
    """
    from sklearn_leukemia.augmentation import AugmentationPolicy, ImageAugmenter
    from sklearn_leukemia.augmentation._policy import PRESETS
    from sklearn_leukemia.classifier import SECNNClassifier
    from sklearn_leukemia.preprocessing import (
        ContrastAdjuster,
        ImageDenoiser,
        ImageReader,
        ImageResizer,
        IntensityNormalizer,
    )

    _check_choice(contrast, "contrast", _CONTRAST)
    _check_choice(denoise, "denoise", _DENOISE)
    _check_choice(normalize, "normalize", _NORMALIZE)
    if isinstance(augment, AugmentationPolicy):
        policy = augment
    elif augment is True:
        policy = AugmentationPolicy()
    elif augment is False or augment is None:
        policy = None
    elif isinstance(augment, str) and augment in PRESETS:
        policy = AugmentationPolicy.preset(augment)
    else:
        raise ValueError(
            f"augment={augment!r} is not supported; expected one of "
            f"{list(PRESETS)}, True, False or an AugmentationPolicy."
        )

    sampler = "passthrough"
    if n_copies or balance:
        # An explicit policy (not None) so a grid can tune augment__policy__*.
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
        ("augment", sampler),
        (
            "classifier",
            SECNNClassifier(
                architecture=architecture,
                class_weight=class_weight,
                tta=tta,
                progressive_resizing=progressive_resizing,
                augmentation=policy,
                random_state=random_state,
                **classifier_params,
            ),
        ),
    ]
    return Pipeline(steps, memory=memory)
