import numpy as np
import pytest
from skimage.exposure import equalize_adapthist

from sklearn_leukemia.preprocessing import ContrastAdjuster, adjust_contrast


@pytest.fixture
def dull_images(rng):
    """Low-contrast RGB images: values squeezed into a narrow band per image."""
    X = rng.integers(0, 256, (6, 24, 24, 3)).astype(np.float64)
    low = np.linspace(20, 120, 6)[:, None, None, None]
    return (low + X * 0.3).astype(np.uint8)


def _percentile_reference(X, percentiles):
    """Stretch per image and channel with np.percentile, in float64."""
    n_channels = 1 if X.ndim == 3 else X.shape[-1]
    flat = X.reshape(len(X), -1, n_channels).astype(np.float64)
    low, high = np.percentile(flat, percentiles, axis=1, keepdims=True)
    out = np.clip((flat - low) / (high - low), 0, 1)
    return out.reshape(X.shape)


@pytest.mark.parametrize("method", ["stretch", "clahe", "gamma"])
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.float32, np.float64], ids=lambda d: d.__name__
)
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_shape_and_dtype_are_kept(dull_images, method, dtype, channels):
    X = dull_images[..., 0] if channels is None else dull_images[..., :channels]
    if dtype == np.uint16:
        X = X.astype(np.uint16) * 257
    elif dtype != np.uint8:
        X = (X / 255).astype(dtype)
    out = adjust_contrast(X, method=method, gamma=0.7)
    assert out.shape == X.shape
    assert out.dtype == dtype
    top = 1.0 if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max
    assert out.min() >= 0 and out.max() <= top


@pytest.mark.parametrize("percentiles", [(0, 100), (2, 98), (10, 75.5)])
@pytest.mark.parametrize("gray", [False, True])
def test_stretch_matches_numpy_percentiles(dull_images, percentiles, gray):
    X = dull_images[..., 1] if gray else dull_images
    expected = _percentile_reference(X, percentiles)
    out = adjust_contrast(X, method="stretch", percentiles=percentiles)
    # Exact up to ties at .5 rounding one way or the other.
    np.testing.assert_allclose(out, np.rint(255 * expected), atol=1)
    out_float = adjust_contrast(X / 255, method="stretch", percentiles=percentiles)
    np.testing.assert_allclose(out_float, expected, atol=1e-6)


def test_stretch_full_range_per_image_and_channel(dull_images):
    out = adjust_contrast(dull_images, method="stretch", percentiles=(0, 100))
    np.testing.assert_array_equal(out.min(axis=(1, 2)), 0)
    np.testing.assert_array_equal(out.max(axis=(1, 2)), 255)


def test_stretch_leaves_a_flat_channel_unchanged(dull_images):
    X = dull_images.copy()
    X[2, ..., 1] = 77
    out = adjust_contrast(X, method="stretch")
    np.testing.assert_array_equal(out[2, ..., 1], 77)
    assert out[2, ..., 0].max() == 255


def test_each_image_is_adjusted_on_its_own(dull_images):
    for method in ("stretch", "clahe", "gamma"):
        batch = adjust_contrast(dull_images, method=method, gamma=2.0)
        alone = adjust_contrast(dull_images[3:4], method=method, gamma=2.0)
        np.testing.assert_array_equal(batch[3], alone[0])


def test_clahe_matches_scikit_image(dull_images):
    out = adjust_contrast(dull_images, method="clahe", clip_limit=0.02)
    expected = np.rint(255 * equalize_adapthist(dull_images[0], clip_limit=0.02))
    np.testing.assert_array_equal(out[0], expected)
    gray = adjust_contrast(dull_images[..., 0], method="clahe", kernel_size=8)
    expected = np.rint(255 * equalize_adapthist(dull_images[0, ..., 0], kernel_size=8))
    np.testing.assert_array_equal(gray[0], expected)


def test_clahe_raises_contrast(dull_images):
    out = adjust_contrast(dull_images, method="clahe")
    assert out.std() > 2 * dull_images.std(axis=(1, 2, 3)).mean()


def test_clahe_keeps_a_fourth_channel(dull_images):
    X = np.concatenate([dull_images, dull_images[..., :1]], axis=-1)
    out = adjust_contrast(X, method="clahe")
    np.testing.assert_array_equal(out[..., 3], X[..., 3])
    np.testing.assert_array_equal(
        out[..., :3], adjust_contrast(dull_images, method="clahe")
    )


def test_gamma(dull_images):
    np.testing.assert_array_equal(
        adjust_contrast(dull_images, method="gamma", gamma=1.0), dull_images
    )
    out = adjust_contrast(dull_images, method="gamma", gamma=0.5)
    expected = np.rint(255 * (dull_images / 255) ** 0.5)
    np.testing.assert_array_equal(out, expected)
    assert out.mean() > dull_images.mean()
    assert adjust_contrast(dull_images, method="gamma", gamma=2).mean() < (
        dull_images.mean()
    )
    X = dull_images / 255
    np.testing.assert_allclose(adjust_contrast(X, method="gamma", gamma=2.2), X**2.2)


def test_gamma_rejects_negative_float_values(dull_images):
    X = dull_images / 127.5 - 1
    with pytest.raises(ValueError, match="non-negative"):
        adjust_contrast(X, method="gamma", gamma=2)


@pytest.mark.parametrize("method", ["stretch", "clahe", "gamma"])
def test_transformer_matches_function(dull_images, method):
    params = dict(method=method, percentiles=(5, 95), clip_limit=0.03, gamma=0.8)
    adjuster = ContrastAdjuster(**params)
    np.testing.assert_array_equal(
        adjuster.fit_transform(dull_images), adjust_contrast(dull_images, **params)
    )
    # Stateless: transform works without fit.
    np.testing.assert_array_equal(
        ContrastAdjuster(**params).transform(dull_images),
        adjust_contrast(dull_images, **params),
    )


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"method": "equalize"}, ValueError, r"'method' parameter.*Got 'equalize'"),
        ({"method": 3}, TypeError, "method"),
        ({"percentiles": (98, 2)}, ValueError, "percentiles must satisfy"),
        ({"percentiles": (-1, 50)}, ValueError, "percentiles"),
        ({"percentiles": (50, 101)}, ValueError, "percentiles"),
        ({"percentiles": 5}, TypeError, "'percentiles' parameter.*Got 5"),
        ({"percentiles": (1, 2, 3)}, TypeError, "percentiles"),
        ({"clip_limit": 0}, ValueError, "clip_limit"),
        ({"clip_limit": 1.5}, ValueError, "clip_limit"),
        ({"gamma": 0}, ValueError, "gamma"),
        ({"gamma": -1.0}, ValueError, "gamma"),
        ({"gamma": "2"}, TypeError, "gamma"),
        ({"kernel_size": 0}, ValueError, "kernel_size"),
        ({"nbins": 1}, ValueError, "nbins"),
    ],
)
def test_bad_parameters_raise_in_fit_not_init(rgb_images, params, error, match):
    adjuster = ContrastAdjuster(**params)
    with pytest.raises(error, match=match):
        adjuster.fit(rgb_images)
    with pytest.raises(error, match=match):
        adjust_contrast(rgb_images, **params)


def test_bad_input(rgb_images):
    X = rgb_images / 255
    X[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        adjust_contrast(X)
    with pytest.raises(ValueError, match="dimension"):
        ContrastAdjuster().fit(rgb_images[0, 0])
    with pytest.raises(ValueError, match="at least 1"):
        adjust_contrast(rgb_images[:0])
    with pytest.raises(ValueError, match="channel-first"):
        adjust_contrast(np.moveaxis(rgb_images, -1, 1))
    adjuster = ContrastAdjuster().fit(rgb_images)
    with pytest.raises(ValueError, match="fitted on images with 3"):
        adjuster.transform(rgb_images[..., 0])
