"""ImageAugmenter: an imbalanced-learn sampler adding augmented training images."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from imblearn.base import SamplerMixin
from imblearn.utils._tags import InputTags, SamplerTags, Tags
from sklearn.base import BaseEstimator
from sklearn.utils import TargetTags, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets

from sklearn_leukemia.augmentation._numpy import (
    _check_dtype,
    augment_into,
    check_value_range,
    default_value_range,
)
from sklearn_leukemia.augmentation._policy import AugmentationPolicy, check_policy
from sklearn_leukemia.utils import check_image_channels, check_images
from sklearn_leukemia.utils._validation import check_no_missing_labels


class ImageAugmenter(SamplerMixin, BaseEstimator):
    """Add randomly augmented copies of the training images, at fit time only.

    An imbalanced-learn sampler: in an :class:`imblearn.pipeline.Pipeline`
    its :meth:`fit_resample` runs while the pipeline is fitted, and it is
    skipped by ``predict``, ``predict_proba``, ``score`` and ``transform``, so
    test images are never augmented. Each copy gets its own random flips,
    zoom, shear, rotation, shift, brightness and contrast drawn from
    ``policy`` (see :func:`augment_images`).

    Parameters
    ----------
    policy : AugmentationPolicy or None, default=None
        The random changes. None means ``AugmentationPolicy()``; pass a policy
        to tune its parameters as ``policy__zoom`` in a grid search.
    n_copies : int, default=1
        Augmented copies of every image added after the originals.
    balance : bool, default=False
        Also oversample the smaller classes with augmented copies of their own
        images, picked in random order and each as often as the others (give
        or take one), until every class has as many images as the largest one.
        With ``n_copies`` too, every class ends with
        ``n_largest * (1 + n_copies)`` images.
    value_range : (float, float) or None, default=None
        ``(lo, hi)`` intensity range of the images: the unit of brightness,
        the bounds of the colour change and ``lo`` the "constant" fill. None
        means the full range of an integer dtype (0-255 for uint8), and the
        min and max of ``X`` for float images.
    random_state : int, RandomState instance or None, default=None
        Makes the copies reproducible.

    Attributes
    ----------
    policy_ : AugmentationPolicy
        The validated policy used.
    value_range_ : (float, float)
        The intensity range used.
    n_channels_in_ : int
        Number of channels of the images seen in fit (1 for ``(n, H, W)``).
    sample_indices_ : ndarray of shape (n_samples_resampled,)
        Index in ``X`` of the source image of each output image; set by
        :meth:`fit_resample`.

    See Also
    --------
    AugmentationPolicy : The random changes.
    augment_images : Function twin.
    augment_batch : Per-epoch augmentation of torch training batches.

    Notes
    -----
    The output holds the ``n`` originals unchanged, in their order, then
    ``n_copies`` rounds of one augmented copy of each image (in the same
    order), then the copies added by ``balance`` (classes in sorted order).
    Integer images stay integer (rounded and clipped); float images keep
    their dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.augmentation import ImageAugmenter
    >>> X = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), np.uint8)
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> X_res, y_res = ImageAugmenter(n_copies=2, random_state=0).fit_resample(X, y)
    >>> X_res.shape
    (18, 16, 16, 3)
    >>> X_res, y_res = ImageAugmenter(n_copies=0, balance=True,
    ...                               random_state=0).fit_resample(X, y)
    >>> np.bincount(y_res)
    array([4, 4])
    """

    _sampling_type = "over-sampling"
    _parameter_constraints = {
        "policy": [AugmentationPolicy, None],
        "n_copies": [Interval(Integral, 0, None, closed="left")],
        "balance": ["boolean"],
        "value_range": [tuple, list, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        policy=None,
        n_copies=1,
        balance=False,
        value_range=None,
        random_state=None,
    ):
        self.policy = policy
        self.n_copies = n_copies
        self.balance = balance
        self.value_range = value_range
        self.random_state = random_state

    def _check(self, X, y):
        """Validate the parameters and the data; set the fitted attributes."""
        self._validate_params()
        policy = check_policy(self.policy)
        X = check_images(X, estimator=self)
        _check_dtype(X)
        if y is None:
            raise ValueError(
                "ImageAugmenter requires y: the labels of the augmented copies "
                "are those of their source images."
            )
        check_no_missing_labels(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                f"y has shape {y.shape}; expected a 1-D array of labels of shape "
                f"({X.shape[0]},)."
            )
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} images but y has {y.shape[0]} labels; "
                "expected one label per image."
            )
        if self.balance:
            check_classification_targets(y)
        if self.value_range is None:
            value_range = default_value_range(X)
        else:
            value_range = check_value_range(self.value_range, "value_range")
        check_image_channels(self, X, reset=True)
        self.policy_ = policy
        self.value_range_ = value_range
        return X, y

    def fit(self, X, y):
        """Check the parameters and the images; use :meth:`fit_resample`.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Channel-last images, integer or float.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        self : ImageAugmenter
            The fitted sampler.
        """
        self._check(X, y)
        return self

    def fit_resample(self, X, y):
        """Return the images followed by augmented copies, and their labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Channel-last images, integer or float, finite. Not modified.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        X_resampled : ndarray of shape (n_samples_resampled, H, W[, C])
            The originals then the copies, with the dtype of ``X``. With
            ``n_copies=0`` and ``balance=False`` it is ``X`` itself.
        y_resampled : ndarray of shape (n_samples_resampled,)
            ``y[self.sample_indices_]``.

        Raises
        ------
        ValueError
            If a parameter is invalid, or ``X`` or ``y`` are malformed (wrong
            number of dimensions, empty, NaN or infinite pixels, lengths that
            differ); the message names the problem.
        """
        X, y = self._check(X, y)
        return self._fit_resample(X, y)

    def _fit_resample(self, X, y):
        rng = check_random_state(self.random_state)
        n = X.shape[0]
        sources = [np.tile(np.arange(n), self.n_copies)]
        if self.balance:
            classes, counts = np.unique(y, return_counts=True)
            target = counts.max() * (1 + self.n_copies)
            for label, count in zip(classes, counts):
                members = np.flatnonzero(y == label)
                missing = target - count * (1 + self.n_copies)
                rounds = -(-missing // count)
                picks = [members[:0]]
                picks += [rng.permutation(members) for _ in range(rounds)]
                sources.append(np.concatenate(picks)[:missing])
        source = np.concatenate(sources).astype(np.intp)
        self.sample_indices_ = np.concatenate([np.arange(n), source])
        if source.size == 0:
            return X, y

        policy = self.policy_
        params = policy.sample(source.size, rng)
        X_res = np.empty((n + source.size, *X.shape[1:]), dtype=X.dtype)
        X_res[:n] = X
        augment_into(X, source, policy, params, self.value_range_, X_res[n:])
        return X_res, y[self.sample_indices_]

    def __sklearn_tags__(self):
        # imblearn's Tags add ``sampler_tags``; its own samplers build them
        # the same way (imblearn/base.py), there being no public constructor.
        tags = Tags(
            estimator_type="sampler",
            target_tags=TargetTags(required=True),
            sampler_tags=SamplerTags(sample_indices=True),
            input_tags=InputTags(two_d_array=False, three_d_array=True),
        )
        tags.non_deterministic = False
        return tags
