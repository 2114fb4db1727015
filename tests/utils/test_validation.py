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
