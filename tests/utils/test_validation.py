import warnings

import numpy as np
import pytest

from sklearn_leukemia.utils import check_images


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_raise(dtype, bad):
    X = np.ones((3, 4, 4, 3), dtype=dtype)
    X[2, 1, 3, 0] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        check_images(X)
    assert check_images(X, allow_nan=True) is X


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_finite_pixels_whose_sum_overflows_pass(dtype):
    # The quick test (a finite sum) fails here; the pixel-wise one decides.
    X = np.full((4, 8, 8, 3), np.finfo(dtype).max, dtype=dtype)
    with np.errstate(over="ignore"):
        assert not np.isfinite(X.sum())
    assert check_images(X) is X
    X[0, 0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        check_images(X)


def test_intensity_range_recorded_and_far_outside_warns():
    from sklearn.base import BaseEstimator

    from sklearn_leukemia.utils import IntensityRangeWarning, check_intensity_range

    est = BaseEstimator()
    uint8 = np.array([[[10, 240]]], dtype=np.uint8)
    check_intensity_range(est, uint8, reset=True)
    assert est.intensity_range_ == (10 / 255, 240 / 255)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The same scale, or a little beyond it: silent.
        check_intensity_range(est, np.array([[[0.0, 1.0]]], np.float32), reset=False)
        check_intensity_range(est, np.array([[[0, 65535]]], np.uint16), reset=False)
        check_intensity_range(est, np.array([[[-0.5, 1.6]]]), reset=False)
    with pytest.warns(IntensityRangeWarning, match=(
        r"holds intensities in \[0, 255\] \(float32 pixels, read as they are\), far "
        r"outside the range \[0.03922, 0.9412\] .* \(floats in \[0, 255\] divided by "
        r"255, or uint8 pixels\)"
    )):
        check_intensity_range(est, np.array([[[0.0, 255.0]]], np.float32), reset=False)
    with pytest.warns(IntensityRangeWarning, match=r"in \[-3, 0\]"):
        check_intensity_range(est, np.array([[[-3.0, 0.0]]]), reset=False)
    del est.intensity_range_  # a model saved before the range was recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_intensity_range(est, np.array([[[0.0, 255.0]]]), reset=False)


@pytest.mark.parametrize("y, message", [
    (["ALL", None, "normal"], r"y has a missing label \(None\) at position 1;"),
    (np.array(["ALL", np.nan, "b", None], dtype=object),
     r"y has 2 missing labels \(NaN, None\) at positions 1, 3;"),
    ([1.0, 0.0, np.nan], r"y has a missing label \(NaN\) at position 2;"),
    ([None] * 12, r"12 missing labels \(None\) at positions 0, 1, .*, 9 and 2 more"),
])
def test_missing_labels_are_named_by_position(y, message):
    from sklearn_leukemia.utils._validation import check_no_missing_labels

    with pytest.raises(ValueError, match=message):
        check_no_missing_labels(y)


@pytest.mark.parametrize("y", [["a", "b"], [0, 1], np.array([True, False]),
                               np.array(["x", 2], dtype=object), [0.5, 1.0]])
def test_labels_without_missing_values_pass(y):
    from sklearn_leukemia.utils._validation import check_no_missing_labels

    check_no_missing_labels(y)
