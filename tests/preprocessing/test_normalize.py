import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_leukemia.preprocessing import (
    IntensityNormalizer,
    _normalize,
    normalize_intensity,
)


@pytest.fixture
def coloured(rng):
    """RGB images whose channels have clearly different means and spreads."""
    X = rng.normal([180, 120, 60], [10, 30, 5], size=(10, 16, 16, 3))
    return np.clip(np.rint(X), 0, 255).astype(np.uint8)


def test_unit_and_symmetric_scale_by_the_dtype():
    X = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(normalize_intensity(X), [[[0, 0.2, 1]]], rtol=1e-6)
    np.testing.assert_allclose(
        normalize_intensity(X, method="symmetric"), [[[-1, -0.6, 1]]], rtol=1e-6
    )
    X16 = np.array([[[0, 65535]]], dtype=np.uint16)
    np.testing.assert_array_equal(normalize_intensity(X16), [[[0, 1]]])


def test_float_input_is_taken_to_be_in_unit_range():
    X = np.array([[[0.0, 0.25, 1.0]]])
    out = normalize_intensity(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(
        normalize_intensity(X, method="symmetric"), [[[-1, -0.5, 1]]]
    )


@pytest.mark.parametrize("method", ["unit", "symmetric", "standard"])
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.float32, np.float64], ids=lambda d: d.__name__
)
@pytest.mark.parametrize("gray", [False, True])
def test_output_is_float32_of_the_same_shape(coloured, method, dtype, gray):
    X = coloured[..., 0] if gray else coloured
    if np.issubdtype(dtype, np.floating):
        X = (X / 255).astype(dtype)
    else:
        X = X.astype(dtype)
    normalizer = IntensityNormalizer(method=method).fit(X)
    out = normalizer.transform(X)
    assert out.shape == X.shape and out.dtype == np.float32
    if method == "unit":
        assert 0 <= out.min() and out.max() <= 1
    if method == "symmetric":
        assert -1 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.float64], ids=lambda d: d.__name__)
def test_standard_gives_zero_mean_unit_std_per_channel(coloured, dtype):
    X = coloured if dtype == np.uint8 else coloured / 255
    normalizer = IntensityNormalizer(method="standard").fit(X)
    assert normalizer.mean_.shape == (3,) and normalizer.std_.shape == (3,)
    np.testing.assert_allclose(normalizer.mean_, coloured.mean(axis=(0, 1, 2)) / 255)
    np.testing.assert_allclose(normalizer.std_, coloured.std(axis=(0, 1, 2)) / 255)
    out = normalizer.transform(X)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-5)


def test_standard_grayscale_statistics(coloured):
    normalizer = IntensityNormalizer(method="standard").fit(coloured[..., 2])
    assert normalizer.mean_.shape == (1,) and normalizer.std_.shape == (1,)
    assert normalizer.n_channels_in_ == 1


def test_standard_uses_the_statistics_learned_in_fit(coloured):
    normalizer = IntensityNormalizer(method="standard").fit(coloured[:5])
    out = normalizer.transform(coloured[5:])
    expected = (coloured[5:] / 255 - normalizer.mean_) / normalizer.std_
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_uint8_and_float_fits_agree(coloured):
    as_uint8 = IntensityNormalizer(method="standard").fit_transform(coloured)
    as_float = IntensityNormalizer(method="standard").fit_transform(coloured / 255)
    np.testing.assert_allclose(as_uint8, as_float, atol=1e-5)


def test_statistics_are_exact_when_accumulated_in_chunks(coloured, monkeypatch):
    whole = _normalize._channel_stats(coloured.astype(np.float64))
    chunked = _normalize._chunk_slices

    def tiny_chunks(n_samples, sample_size, budget=0):
        return chunked(n_samples, sample_size, budget=sample_size * 3)

    monkeypatch.setattr(_normalize, "_chunk_slices", tiny_chunks)
    for X in (coloured, coloured.astype(np.float64)):
        mean, std = _normalize._channel_stats(X)
        scale = 255 if X.dtype == np.uint8 else 1
        np.testing.assert_allclose(mean * scale, whole[0], rtol=1e-12)
        np.testing.assert_allclose(std * scale, whole[1], rtol=1e-12)


def test_constant_channel_is_centred_not_divided_by_zero(coloured):
    X = coloured.copy()
    X[..., 1] = 90
    normalizer = IntensityNormalizer(method="standard").fit(X)
    out = normalizer.transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[..., 1], 0)


def test_function_standard_uses_its_own_statistics(coloured):
    out = normalize_intensity(coloured, method="standard")
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_array_equal(
        out, IntensityNormalizer(method="standard").fit_transform(coloured)
    )


@pytest.mark.parametrize("method", ["unit", "symmetric"])
def test_transformer_matches_function(coloured, method):
    np.testing.assert_array_equal(
        IntensityNormalizer(method=method).fit(coloured[:3]).transform(coloured),
        normalize_intensity(coloured, method=method),
    )


@pytest.mark.parametrize("method", ["unit", "symmetric", "standard"])
def test_transform_before_fit_raises(coloured, method):
    normalizer = IntensityNormalizer(method=method)
    assert normalizer.__sklearn_tags__().requires_fit
    with pytest.raises(NotFittedError):
        normalizer.transform(coloured)


def test_refit_with_another_method(coloured):
    normalizer = IntensityNormalizer(method="standard").fit(coloured)
    normalizer.set_params(method="unit").fit(coloured)
    assert not hasattr(normalizer, "mean_") and not hasattr(normalizer, "std_")
    normalizer.set_params(method="standard")
    with pytest.raises(NotFittedError, match="call fit again"):
        normalizer.transform(coloured)


def test_bad_method():
    X = np.zeros((1, 4, 4), dtype=np.uint8)
    normalizer = IntensityNormalizer(method="minmax")
    with pytest.raises(ValueError, match=r"'method' parameter.*Got 'minmax'"):
        normalizer.fit(X)
    with pytest.raises(ValueError, match="'method' parameter.*Got 'minmax'"):
        normalize_intensity(X, method="minmax")
    with pytest.raises(TypeError, match="method"):
        normalize_intensity(X, method=None)


def test_bad_input(coloured):
    X = coloured / 255
    X[0, 0, 0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        IntensityNormalizer(method="standard").fit(X)
    with pytest.raises(ValueError, match="dimension"):
        normalize_intensity(coloured[0, 0])
    with pytest.raises(ValueError, match="at least 1"):
        IntensityNormalizer().fit(coloured[:0])
    normalizer = IntensityNormalizer(method="standard").fit(coloured)
    with pytest.raises(ValueError, match="fitted on images with 3"):
        normalizer.transform(coloured[..., :1])
    with pytest.raises(ValueError, match="NaN"):
        normalizer.transform(X)
