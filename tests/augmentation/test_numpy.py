import numpy as np
import pytest

from sklearn_leukemia.augmentation import AugmentationPolicy, augment_images

OFF = dict(
    rotation=None,
    horizontal_flip=False,
    vertical_flip=False,
    zoom=None,
    shift=None,
    shear=None,
    brightness=None,
    contrast=None,
)


def fixed(n, fill="reflect", **values):
    """A geometry-only policy and params with the given values for every image."""
    policy = AugmentationPolicy(**{**OFF, "fill": fill})
    params = policy.sample(n, random_state=0)
    for key, value in values.items():
        params[key] = np.broadcast_to(np.asarray(value), params[key].shape).copy()
    return policy, params


@pytest.fixture(params=["uint8-rgb", "float32-gray", "float64-rgb"])
def images(request, rng):
    dtype, layout = request.param.split("-")
    shape = (4, 12, 12, 3) if layout == "rgb" else (4, 12, 12)
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


@pytest.mark.parametrize("fill", ["reflect", "nearest", "constant"])
def test_exact_transforms_match_numpy(images, fill):
    policy, params = fixed(4, fill, rotation=90)
    out = augment_images(images, policy, params=params)
    np.testing.assert_allclose(out, np.rot90(images, axes=(1, 2)), atol=1e-6)

    policy, params = fixed(4, fill, rotation=-90)
    out = augment_images(images, policy, params=params)
    np.testing.assert_allclose(out, np.rot90(images, k=-1, axes=(1, 2)), atol=1e-6)

    policy, params = fixed(4, fill, horizontal_flip=True)
    out = augment_images(images, policy, params=params)
    np.testing.assert_array_equal(out, images[:, :, ::-1])

    policy, params = fixed(4, fill, vertical_flip=True, horizontal_flip=True)
    out = augment_images(images, policy, params=params)
    np.testing.assert_array_equal(out, images[:, ::-1, ::-1])


def test_whole_pixel_shift_with_each_fill(images):
    # 3 columns right and 2 rows down on a 12x12 image.
    shift = [3 / 12, 2 / 12]
    inside = np.roll(images, (2, 3), axis=(1, 2))[:, 2:, 3:]

    policy, params = fixed(4, "constant", shift=shift)
    out = augment_images(images, policy, params=params, value_range=(0, 1))
    np.testing.assert_array_equal(out[:, 2:, 3:], inside)
    assert np.all(out[:, :2] == 0) and np.all(out[:, :, :3] == 0)

    policy, params = fixed(4, "nearest", shift=shift)
    out = augment_images(images, policy, params=params)
    np.testing.assert_array_equal(out[:, 2:, 3:], inside)
    np.testing.assert_array_equal(out[:, 2:, 0], images[:, :-2, 0])

    policy, params = fixed(4, "reflect", shift=shift)
    out = augment_images(images, policy, params=params)
    np.testing.assert_array_equal(out[:, 2:, 3:], inside)
    # Mirrored about the border, the edge pixel repeated: c b a | a b c.
    np.testing.assert_array_equal(out[:, 2:, 2], images[:, :-2, 0])
    np.testing.assert_array_equal(out[:, 2:, 0], images[:, :-2, 2])


def test_constant_fill_uses_low_end_of_value_range(rng):
    images = rng.uniform(-1, 1, size=(2, 8, 8, 3))
    policy, params = fixed(2, "constant", shift=[0.25, 0])
    out = augment_images(images, policy, params=params, value_range=(-1, 1))
    assert np.all(out[:, :, :2] == -1)


def test_identity_policy_returns_the_input(images):
    out = augment_images(images, AugmentationPolicy(**OFF), random_state=0)
    np.testing.assert_array_equal(out, images)
    assert out.dtype == images.dtype and out is not images


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_shape_and_dtype_are_kept_and_input_not_mutated(rng, dtype):
    if np.issubdtype(dtype, np.integer):
        images = rng.integers(0, np.iinfo(dtype).max, (3, 16, 16, 3)).astype(dtype)
    else:
        images = rng.random((3, 16, 16, 3)).astype(dtype)
    before = images.copy()
    out = augment_images(images, AugmentationPolicy(), random_state=0)
    assert out.shape == images.shape and out.dtype == images.dtype
    np.testing.assert_array_equal(images, before)
    assert not np.array_equal(out, images)


def test_uint8_is_rounded_and_clipped(rng):
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    policy = AugmentationPolicy(**{**OFF, "brightness": (0.2, 0.2)})
    out = augment_images(images, policy, random_state=0)
    expected = np.clip(np.rint(images + 0.2 * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    policy = AugmentationPolicy(**{**OFF, "brightness": (-1, -1)})
    assert np.all(augment_images(images, policy, random_state=0) == 0)


def test_contrast_scales_around_the_image_mean(rng):
    images = rng.random((2, 8, 8, 3))
    policy = AugmentationPolicy(**{**OFF, "contrast": (1.5, 1.5)})
    out = augment_images(images, policy, random_state=0, value_range=(-10, 10))
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (images - mean) * 1.5 + mean)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), mean.ravel())


@pytest.mark.parametrize("layout", ["rgb", "gray"])
def test_erase_paints_the_box_with_the_image_mean(rng, layout):
    shape = (5, 10, 14, 3) if layout == "rgb" else (5, 10, 14)
    images = rng.random(shape)
    policy = AugmentationPolicy(**OFF, erase=(0.1, 0.4), erase_probability=1)
    params = policy.sample(5, random_state=0)
    params["erase"][4, 0] = 0.0  # the last image keeps all its pixels
    out = augment_images(images, policy, params=params)
    boxes = policy.erase_boxes(params, shape[1:3])
    for i, (top, bottom, left, right) in enumerate(boxes):
        inside = np.zeros(shape[1:3], bool)
        inside[top:bottom, left:right] = True
        assert inside.sum() == (i < 4) * (bottom - top) * (right - left)
        np.testing.assert_array_equal(out[i][~inside], images[i][~inside])
        mean = images[i].mean(axis=(0, 1))
        np.testing.assert_allclose(out[i][inside], np.broadcast_to(
            mean, out[i][inside].shape))
    np.testing.assert_array_equal(out[4], images[4])


def test_erase_keeps_the_centre(rng):
    images = rng.random((3, 16, 20, 3))
    policy = AugmentationPolicy(**OFF, erase=(0.5, 0.5), erase_probability=1,
                                erase_keep_centre=0.5)
    params = policy.sample(3, random_state=0)
    # A square over the top-left quarter and beyond, one over the centre
    # alone, and one beside it.
    params["erase"][:, 1] = 1.0
    params["erase"][:, 2:] = [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]
    params["erase"][1, 0] = 0.1
    out = augment_images(images, policy, params=params)
    kept = policy.erase_kept_box(images.shape[1:3])
    assert kept == (4, 12, 5, 15)
    centre = np.s_[4:12, 5:15]
    boxes = policy.erase_boxes(params, images.shape[1:3])
    for i, (top, bottom, left, right) in enumerate(boxes):
        # The centre keeps its pixels; the rest of the rectangle is painted.
        np.testing.assert_array_equal(out[i][centre], images[i][centre])
        painted = np.zeros(images.shape[1:3], bool)
        painted[top:bottom, left:right] = True
        painted[centre] = False
        np.testing.assert_allclose(out[i][painted], np.broadcast_to(
            images[i].mean(axis=(0, 1)), out[i][painted].shape))
        np.testing.assert_array_equal(out[i][~painted], images[i][~painted])
    assert np.array_equal(out[1], images[1])  # wholly inside the centre
    assert not np.array_equal(out[0], images[0])


def test_erase_keep_centre_changes_no_draw(rng):
    images = rng.random((6, 12, 12, 3))
    policy = AugmentationPolicy.preset("erase").set_params(erase_probability=1)
    kept = AugmentationPolicy.preset("erase").set_params(
        erase_probability=1, erase_keep_centre=0.4
    )
    first = policy.sample(6, random_state=0)
    second = kept.sample(6, random_state=0)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    plain = augment_images(images, policy, params=first)
    out = augment_images(images, kept, params=first)
    # Outside the centre both paint the same pixels.
    outside = np.ones((12, 12), bool)
    top, bottom, left, right = kept.erase_kept_box((12, 12))
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(out[:, outside], plain[:, outside])


@pytest.mark.parametrize("value", [-0.1, 1.0, "half", None, True])
def test_erase_keep_centre_is_checked(value):
    with pytest.raises(ValueError, match="erase_keep_centre=.*fraction of the image"):
        AugmentationPolicy(erase_keep_centre=value).validate()


def test_erase_comes_after_the_geometry_and_rounds_integers(rng):
    images = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    policy, params = fixed(2, horizontal_flip=True)
    policy.set_params(erase=0.5, erase_probability=1)
    params["erase"] = np.array([[0.25, 1.0, 0.0, 0.0]] * 2)  # rows 0-3, cols 0-3
    out = augment_images(images, policy, params=params)
    flipped = images[:, :, ::-1]
    mean = np.rint(flipped.astype(float).mean(axis=(1, 2)))
    np.testing.assert_array_equal(out[:, :4, :4], np.broadcast_to(
        mean[:, None, None], (2, 4, 4, 3)))
    np.testing.assert_array_equal(out[:, 4:], flipped[:, 4:])
    assert out.dtype == np.uint8


def test_brightness_is_relative_to_value_range(rng):
    images = rng.random((2, 8, 8)) * 0.5 + 0.25  # inside [0.25, 0.75]
    policy = AugmentationPolicy(**{**OFF, "brightness": (0.1, 0.1)})
    out = augment_images(images, policy, value_range=(-1, 1), random_state=0)
    np.testing.assert_allclose(out, images + 0.2)
    # Without value_range the min and max of the float batch are the range,
    # and the result is clipped to it.
    out = augment_images(images, policy, random_state=0)
    span = images.max() - images.min()
    np.testing.assert_allclose(out, np.minimum(images + 0.1 * span, images.max()))


def test_random_state_reproducible(rgb_images):
    policy = AugmentationPolicy()
    first = augment_images(rgb_images, policy, random_state=0)
    np.testing.assert_array_equal(
        first, augment_images(rgb_images, policy, random_state=0)
    )
    assert not np.array_equal(first, augment_images(rgb_images, policy, random_state=1))
    # None means the default policy.
    np.testing.assert_array_equal(
        first, augment_images(rgb_images, None, random_state=0)
    )


def test_list_of_images_is_accepted(rgb_images):
    out = augment_images(list(rgb_images), random_state=0)
    assert out.shape == rgb_images.shape


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((2, 8, 8), np.nan), "NaN or infinity"),
        (np.full((2, 8, 8, 3), np.inf), "NaN or infinity"),
        (np.zeros((8, 8)), "2 dimension"),
        (np.zeros((2, 3, 8, 8)), "channel-first"),
        (np.zeros((0, 8, 8)), "0 image"),
        (np.zeros((2, 8, 8), dtype=bool), "dtype bool"),
    ],
)
def test_bad_images_raise(images, message):
    with pytest.raises(ValueError, match=message):
        augment_images(images, random_state=0)


def test_bad_arguments_raise(rgb_images):
    with pytest.raises(ValueError, match="value_range="):
        augment_images(rgb_images, value_range=(1, 0))
    with pytest.raises(ValueError, match="value_range="):
        augment_images(rgb_images, value_range=(0, np.nan))
    with pytest.raises(ValueError, match="value_range="):
        augment_images(rgb_images, value_range=5)
    with pytest.raises(TypeError, match="expected an AugmentationPolicy"):
        augment_images(rgb_images, {"zoom": 0.1})
    with pytest.raises(ValueError, match="fill="):
        augment_images(rgb_images, AugmentationPolicy(fill="mirror"))
    params = AugmentationPolicy().sample(3, random_state=0)
    with pytest.raises(ValueError, match="expected 12 values each"):
        augment_images(rgb_images, params=params)
