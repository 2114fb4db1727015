import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.preprocessing import ImageResizer, resize_images

BACKGROUND = (230, 220, 240)
CELL = (60, 40, 120)


def _smear(height, width):
    """A light background with a dark cell in the middle, away from the border."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = BACKGROUND
    image[height // 4 : height - height // 4, width // 4 : width - width // 4] = CELL
    return image


@pytest.mark.parametrize("mode", ["stretch", "pad", "crop"])
@pytest.mark.parametrize("anti_aliasing", [True, False])
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.float32, np.float64], ids=lambda d: d.__name__
)
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_shape_and_dtype_are_kept(rng, mode, anti_aliasing, dtype, channels):
    shape = (3, 20, 12) if channels is None else (3, 20, 12, channels)
    X = rng.integers(0, 256, shape).astype(dtype)
    out = resize_images(X, size=(8, 10), mode=mode, anti_aliasing=anti_aliasing)
    assert out.shape == (3, 8, 10) + shape[3:]
    assert out.dtype == dtype
    # Bilinear resampling and padding with a border colour never leave the
    # range of the input.
    assert out.min() >= X.min() and out.max() <= X.max()


def test_int_size_gives_a_square_and_default_is_224(rgb_images):
    assert resize_images(rgb_images, size=8).shape == (12, 8, 8, 3)
    assert resize_images(rgb_images).shape == (12, 224, 224, 3)


def test_same_size_is_an_exact_copy(rgb_images):
    out = resize_images(rgb_images, size=16)
    np.testing.assert_array_equal(out, rgb_images)
    assert not np.shares_memory(out, rgb_images)


def test_uint8_matches_pillow_bilinear(rng):
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    expected = np.asarray(
        Image.fromarray(image).resize((20, 16), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(
        resize_images(image[None], size=(16, 20))[0], expected
    )


def test_float_result_matches_uint8_result(rng):
    X = rng.integers(0, 256, (2, 30, 30, 3), dtype=np.uint8)
    as_uint8 = resize_images(X, size=13).astype(float)
    as_float = resize_images(X.astype(np.float64), size=13)
    # Pillow's uint8 path rounds after each of its two 1-D passes.
    np.testing.assert_allclose(as_float, as_uint8, atol=1.0)


def test_anti_aliasing_averages_more_pixels(rng):
    noise = rng.integers(0, 256, (1, 64, 64), dtype=np.uint8)
    smooth = resize_images(noise, size=16, anti_aliasing=True)
    aliased = resize_images(noise, size=16, anti_aliasing=False)
    assert smooth.std() < 0.75 * aliased.std()


def test_mixed_input_sizes_in_a_list(rng):
    X = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for h, w in [(10, 20), (32, 32), (50, 17)]
    ]
    for mode in ("stretch", "pad", "crop"):
        out = resize_images(X, size=16, mode=mode)
        assert out.shape == (3, 16, 16, 3)
        for i, image in enumerate(X):
            np.testing.assert_array_equal(
                out[i], resize_images(image[None], size=16, mode=mode)[0]
            )


def test_grayscale_stays_grayscale(rng):
    X = rng.integers(0, 256, (4, 20, 30), dtype=np.uint8)
    for mode in ("stretch", "pad", "crop"):
        assert resize_images(X, size=12, mode=mode).shape == (4, 12, 12)


def test_pad_centres_the_content_and_fills_with_the_border_colour():
    image = _smear(10, 20)
    out = resize_images(image[None], size=16, mode="pad")[0]
    # 10x20 scaled by 0.8 is 8x16: four rows of padding above and below.
    np.testing.assert_array_equal(out[:4], np.broadcast_to(BACKGROUND, (4, 16, 3)))
    np.testing.assert_array_equal(out[12:], np.broadcast_to(BACKGROUND, (4, 16, 3)))
    np.testing.assert_array_equal(out[7:9, 6:10], np.broadcast_to(CELL, (2, 4, 3)))
    # Not black bars: a smear background is light.
    assert out[:4].min() > 200


def test_pad_without_scaling_places_the_image_exactly(rng):
    image = rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)
    image[[0, -1]] = 90
    image[:, [0, -1]] = 90
    image[0, :5] = 10  # a few odd pixels do not move the median border colour
    out = resize_images(image[None], size=16, mode="pad")[0]
    np.testing.assert_array_equal(out[4:12], image)
    np.testing.assert_array_equal(out[:4], np.full((4, 16, 3), 90))
    np.testing.assert_array_equal(out[12:], np.full((4, 16, 3), 90))


def test_pad_tall_image_pads_left_and_right():
    image = _smear(20, 10)
    out = resize_images(image[None], size=16, mode="pad")[0]
    np.testing.assert_array_equal(out[:, :4], np.broadcast_to(BACKGROUND, (16, 4, 3)))
    np.testing.assert_array_equal(out[:, 12:], np.broadcast_to(BACKGROUND, (16, 4, 3)))


@pytest.mark.parametrize("anti_aliasing", [True, False])
def test_crop_keeps_the_centre(rng, anti_aliasing):
    image = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)
    out = resize_images(image[None], size=10, mode="crop", anti_aliasing=anti_aliasing)
    np.testing.assert_array_equal(out[0], image[:, 5:15])
    tall = rng.integers(0, 256, (20, 10), dtype=np.uint8)
    out = resize_images(tall[None], size=10, mode="crop", anti_aliasing=anti_aliasing)
    np.testing.assert_array_equal(out[0], tall[5:15])


def test_crop_keeps_aspect_ratio_when_scaling():
    # A centred square cell stays a square cell, where stretch squashes it.
    image = np.full((40, 80, 3), 255, dtype=np.uint8)
    image[10:30, 30:50] = 0
    cropped = resize_images(image[None], size=20, mode="crop")[0, ..., 0]
    stretched = resize_images(image[None], size=20, mode="stretch")[0, ..., 0]
    rows, cols = np.nonzero(cropped < 128)
    assert np.ptp(rows) == np.ptp(cols)
    rows, cols = np.nonzero(stretched < 128)
    assert np.ptp(rows) > np.ptp(cols)


def test_transformer_matches_function_and_needs_no_fit(rng):
    X = rng.integers(0, 256, (5, 20, 30, 3), dtype=np.uint8)
    params = dict(size=(12, 9), mode="pad", anti_aliasing=False)
    resizer = ImageResizer(**params)
    np.testing.assert_array_equal(resizer.transform(X), resize_images(X, **params))
    np.testing.assert_array_equal(resizer.fit_transform(X), resize_images(X, **params))
    assert resizer.__sklearn_tags__().requires_fit is False


def test_no_size_is_chosen_from_the_data(rng):
    X = rng.integers(0, 256, (5, 20, 30, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="'size' parameter.*Got 'auto'"):
        ImageResizer(size="auto").fit(X)
    with pytest.raises(ValueError, match="'size' parameter.*Got 'auto'"):
        resize_images(X, size="auto")


def test_transformer_accepts_a_list_of_sizes(rng):
    X = [rng.integers(0, 256, (h, 20, 3), dtype=np.uint8) for h in (10, 30)]
    assert ImageResizer(size=8).fit(X).transform(X).shape == (2, 8, 8, 3)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"size": 0}, ValueError, "'size' parameter.*Got 0"),
        ({"size": -3}, ValueError, "size"),
        ({"size": (4, 0)}, ValueError, "size must be positive"),
        ({"size": (4, 4, 4)}, TypeError, "size must be an int or a"),
        ({"size": 2.5}, TypeError, "size"),
        ({"size": "big"}, TypeError, "size"),
        ({"mode": "fit"}, ValueError, r"'mode' parameter.*Got 'fit'"),
        ({"mode": None}, TypeError, "mode"),
        ({"anti_aliasing": "yes"}, TypeError, "anti_aliasing"),
    ],
)
def test_bad_parameters_raise_in_fit_not_init(rgb_images, params, error, match):
    resizer = ImageResizer(**params)  # no validation here
    with pytest.raises(error, match=match):
        resizer.fit(rgb_images)
    with pytest.raises(error, match=match):
        resizer.transform(rgb_images)
    with pytest.raises(error, match=match):
        resize_images(rgb_images, **params)


def test_bad_input(rgb_images):
    nan = rgb_images.astype(np.float32)
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        resize_images(nan, size=8)
    inf = rgb_images.astype(np.float32)
    inf[1, 2, 3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ImageResizer(size=8).fit_transform(inf)
    with pytest.raises(ValueError, match="dimension"):
        resize_images(rgb_images.reshape(12, -1), size=8)
    with pytest.raises(ValueError, match="dimension"):
        resize_images(rgb_images[..., None], size=8)
    with pytest.raises(ValueError, match="at least 1"):
        resize_images(rgb_images[:0], size=8)
    with pytest.raises(ValueError, match="at least 1"):
        resize_images([], size=8)


def test_channel_count_must_match_fit(rgb_images):
    resizer = ImageResizer(size=8).fit(rgb_images)
    with pytest.raises(ValueError, match="1 channel.*fitted on images with 3"):
        resizer.transform(rgb_images[..., 0])


def test_list_with_mixed_dtypes_or_channels_raises(rng):
    a = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="several dtypes"):
        resize_images([a, a[:5].astype(np.float32)], size=8)
    with pytest.raises(ValueError, match="different channel counts"):
        resize_images([a, np.dstack([a[:5], a[:5, :, :1]])], size=8)
