import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import gaussian

from sklearn_leukemia.preprocessing import ImageDenoiser, denoise_images

METHODS = ["gaussian", "median", "bilateral", "nl_means"]


@pytest.fixture
def noisy(rng):
    """Four 24x24 RGB images: a light field with a dark square, plus noise."""
    clean = np.full((4, 24, 24, 3), 200.0)
    clean[:, 8:16, 8:16] = 60
    noise = rng.normal(0, 20, clean.shape)
    return np.clip(clean + noise, 0, 255).astype(np.uint8), clean


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.float32, np.float64], ids=lambda d: d.__name__
)
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_shape_and_dtype_are_kept(noisy, method, dtype, channels):
    X = noisy[0][..., 0] if channels is None else noisy[0][..., :channels]
    if dtype == np.uint16:
        X = X.astype(np.uint16) * 257
    elif dtype != np.uint8:
        X = (X / 255).astype(dtype)
    out = denoise_images(X, method=method)
    assert out.shape == X.shape
    assert out.dtype == dtype


@pytest.mark.parametrize("method", METHODS)
def test_noise_is_reduced(noisy, method):
    X, clean = noisy
    out = denoise_images(X, method=method)
    error_before = np.abs(X - clean).mean()
    error_after = np.abs(out - clean).mean()
    assert error_after < 0.7 * error_before


@pytest.mark.parametrize("method", METHODS)
def test_constant_images_are_unchanged(method):
    X = np.full((2, 16, 16, 3), 123, dtype=np.uint8)
    np.testing.assert_array_equal(denoise_images(X, method=method), X)


def test_gaussian_matches_scikit_image(noisy):
    X = noisy[0]
    out = denoise_images(X, method="gaussian", sigma=1.5)
    for i in range(len(X)):
        expected = gaussian(
            X[i], sigma=1.5, channel_axis=-1, preserve_range=True, mode="nearest"
        )
        np.testing.assert_allclose(out[i], np.rint(expected), atol=1)
    out = denoise_images(X / 255, method="gaussian", sigma=1.5)
    expected = gaussian(X[2] / 255, sigma=1.5, channel_axis=-1, mode="nearest")
    np.testing.assert_allclose(out[2], expected, atol=1e-12)


def test_median_matches_scipy_per_channel(noisy):
    X = noisy[0]
    out = denoise_images(X, method="median", size=5)
    expected = ndimage.median_filter(X[1, ..., 2], size=5, mode="nearest")
    np.testing.assert_array_equal(out[1, ..., 2], expected)


def test_median_removes_salt_noise():
    X = np.full((1, 9, 9), 40, dtype=np.uint8)
    X[0, 4, 4] = 255
    X[0, 1, 6] = 0
    np.testing.assert_array_equal(
        denoise_images(X, method="median", size=3), np.full_like(X, 40)
    )


def test_bilateral_keeps_edges_sharper_than_gaussian():
    X = np.zeros((1, 20, 20), dtype=np.uint8)
    X[:, :, 10:] = 255
    bilateral = denoise_images(X, method="bilateral", sigma=2, sigma_color=0.1)
    blurred = denoise_images(X, method="gaussian", sigma=2)
    assert bilateral[0, 5, 9] < 10 and bilateral[0, 5, 10] > 245
    assert blurred[0, 5, 9] > 50


def test_nl_means_strength(noisy):
    X = noisy[0]
    weak = denoise_images(X, method="nl_means", h=0.01)
    strong = denoise_images(X, method="nl_means", h=0.2)
    assert strong.std(axis=(1, 2)).mean() < weak.std(axis=(1, 2)).mean()


@pytest.mark.parametrize("method", METHODS)
def test_images_and_channels_are_filtered_apart(noisy, method):
    X = noisy[0]
    batch = denoise_images(X, method=method)
    alone = denoise_images(X[2:3], method=method)
    np.testing.assert_array_equal(batch[2], alone[0])
    if method in ("gaussian", "median"):
        channel = denoise_images(X[..., 1], method=method)
        np.testing.assert_array_equal(batch[..., 1], channel)


@pytest.mark.parametrize("method", METHODS)
def test_transformer_matches_function(noisy, method):
    params = dict(method=method, sigma=1.2, size=5, h=0.05)
    denoiser = ImageDenoiser(**params)
    np.testing.assert_array_equal(
        denoiser.fit_transform(noisy[0]), denoise_images(noisy[0], **params)
    )
    np.testing.assert_array_equal(
        ImageDenoiser(**params).transform(noisy[0]),
        denoise_images(noisy[0], **params),
    )


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"method": "wiener"}, ValueError, "'method' parameter.*Got 'wiener'"),
        ({"sigma": 0}, ValueError, "sigma"),
        ({"sigma": np.inf}, ValueError, "sigma"),
        ({"size": 0}, ValueError, "size"),
        ({"size": 2.5}, TypeError, "size"),
        ({"sigma_color": -0.1}, ValueError, "sigma_color"),
        ({"h": 0}, ValueError, "'h' parameter.*Got 0"),
        ({"patch_size": 0}, ValueError, "patch_size"),
        ({"patch_distance": "far"}, TypeError, "patch_distance"),
    ],
)
def test_bad_parameters_raise_in_fit_not_init(rgb_images, params, error, match):
    denoiser = ImageDenoiser(**params)
    with pytest.raises(error, match=match):
        denoiser.fit(rgb_images)
    with pytest.raises(error, match=match):
        denoise_images(rgb_images, **params)


def test_bad_input(rgb_images):
    X = rgb_images.astype(np.float32)
    X[3, 1, 1, 1] = -np.inf
    with pytest.raises(ValueError, match="infinity"):
        denoise_images(X)
    with pytest.raises(ValueError, match="dimension"):
        denoise_images(rgb_images.reshape(12, -1))
    with pytest.raises(ValueError, match="at least 1"):
        ImageDenoiser().fit(rgb_images[:0])
    denoiser = ImageDenoiser().fit(rgb_images[..., 0])
    with pytest.raises(ValueError, match="fitted on images with 1"):
        denoiser.transform(rgb_images)
