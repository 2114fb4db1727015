import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_leukemia.augmentation import AugmentationPolicy, ImageAugmenter
from sklearn_leukemia.augmentation._policy import PRESETS

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


def apply(matrix, x, y):
    return (matrix @ np.array([x, y, 1.0]))[:2]


def test_default_policy_is_valid_and_has_no_fit():
    policy = AugmentationPolicy()
    assert policy.validate() is policy
    # all_estimators() skips classes without fit: a policy is not an estimator.
    assert not hasattr(policy, "fit")
    assert "AugmentationPolicy(" in repr(AugmentationPolicy(zoom=0.3))
    assert "zoom=0.3" in repr(AugmentationPolicy(zoom=0.3))


def test_paper_policy_is_geometric_only():
    policy = AugmentationPolicy.paper().validate()
    assert policy.brightness is None and policy.contrast is None
    assert not policy.has_colour
    assert policy.rotation == (0, 360)
    assert AugmentationPolicy().has_colour


def test_get_set_params_clone_pickle_round_trip():
    policy = AugmentationPolicy(zoom=(0.9, 1.3), fill="nearest")
    params = policy.get_params()
    assert params["zoom"] == (0.9, 1.3)
    assert params["fill"] == "nearest"
    copy = clone(policy)
    assert copy is not policy and copy.get_params() == params
    policy.set_params(zoom=0.5, shear=None)
    assert (policy.zoom, policy.shear) == (0.5, None)
    restored = pickle.loads(pickle.dumps(policy))
    assert restored.get_params() == policy.get_params()


def test_nested_params_through_the_sampler():
    augmenter = ImageAugmenter(policy=AugmentationPolicy())
    assert augmenter.get_params()["policy__zoom"] == (0.8, 1.2)
    augmenter.set_params(policy__zoom=0.05, policy__fill="constant")
    assert augmenter.policy.zoom == 0.05
    copy = clone(augmenter)
    assert copy.policy is not augmenter.policy
    assert copy.get_params()["policy__zoom"] == 0.05
    assert copy.get_params()["policy__fill"] == "constant"


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("rotation", 30, (-30, 30)),
        ("rotation", (10, 20), (10, 20)),
        ("zoom", 0.25, (0.75, 1.25)),
        ("zoom", (1.5, 2.0), (1.5, 2.0)),
        ("shift", 0.2, (-0.2, 0.2)),
        ("shear", 5, (-5, 5)),
        ("brightness", 0.3, (-0.3, 0.3)),
        ("contrast", 0.5, (0.5, 1.5)),
        ("contrast", (1.2, 1.4), (1.2, 1.4)),
    ],
)
def test_numbers_and_ranges_bound_the_samples(name, value, expected):
    params = AugmentationPolicy(**{**OFF, name: value}).sample(500, random_state=0)
    values = params[name]
    assert values.min() >= expected[0] and values.max() <= expected[1]
    # The draws fill the range rather than sitting at one value.
    assert values.max() - values.min() > 0.8 * (expected[1] - expected[0])


@pytest.mark.parametrize("off", [None, 0])
def test_none_and_zero_switch_a_change_off(off):
    policy = AugmentationPolicy(
        rotation=off, zoom=off, shift=off, shear=off, brightness=off, contrast=off
    )
    params = policy.sample(20, random_state=0)
    assert np.all(params["rotation"] == 0) and np.all(params["shear"] == 0)
    assert np.all(params["zoom"] == 1) and np.all(params["contrast"] == 1)
    assert np.all(params["shift"] == 0) and np.all(params["brightness"] == 0)
    assert not policy.has_colour


def test_flips_have_probability_one_half_or_zero():
    params = AugmentationPolicy().sample(2000, random_state=0)
    for key in ("horizontal_flip", "vertical_flip"):
        assert params[key].dtype == bool
        assert 0.45 < params[key].mean() < 0.55
    params = AugmentationPolicy(horizontal_flip=False).sample(100, random_state=0)
    assert not params["horizontal_flip"].any()
    # The transposition is off by default and otherwise has probability 1/2.
    assert not AugmentationPolicy().sample(100, random_state=0)["transpose"].any()
    params = AugmentationPolicy(transpose=True).sample(2000, random_state=0)
    assert params["transpose"].dtype == bool
    assert 0.45 < params["transpose"].mean() < 0.55


def test_transpose_is_drawn_last_and_changes_no_other_draw():
    before = AugmentationPolicy().sample(50, random_state=3)
    after = AugmentationPolicy(transpose=True).sample(50, random_state=3)
    for key in before:
        if key != "transpose":
            np.testing.assert_array_equal(before[key], after[key])


def test_erase_is_drawn_last_and_changes_no_other_draw():
    before = AugmentationPolicy(transpose=True).sample(50, random_state=3)
    after = AugmentationPolicy(transpose=True, erase=0.3).sample(50, random_state=3)
    for key in before:
        if key != "erase":
            np.testing.assert_array_equal(before[key], after[key])
    # Off by default: every area is 0, and no rectangle has pixels.
    assert np.all(before["erase"][:, 0] == 0)
    boxes = AugmentationPolicy.erase_boxes(before, (16, 16))
    assert np.all(boxes == 0)
    assert not AugmentationPolicy().has_erase
    assert not AugmentationPolicy(erase=0.3, erase_probability=0).has_erase


def test_erase_draws_probability_area_and_aspect():
    policy = AugmentationPolicy(**OFF, erase=(0.02, 0.33), erase_probability=0.25)
    assert policy.has_erase
    params = policy.sample(4000, random_state=0)
    area, aspect, x, y = params["erase"].T
    on = area > 0
    assert 0.22 < on.mean() < 0.28
    assert area[on].min() >= 0.02 and area[on].max() <= 0.33
    assert aspect.min() >= 0.3 and aspect.max() <= 1 / 0.3
    # log-uniform: as many rectangles taller than wide as wider than tall
    assert 0.45 < (aspect > 1).mean() < 0.55
    assert x.min() >= 0 and x.max() < 1 and y.min() >= 0 and y.max() < 1
    # A number e means (0, e).
    single = AugmentationPolicy(erase=0.1, erase_probability=1).sample(500, 0)
    assert single["erase"][:, 0].max() <= 0.1 and single["erase"][:, 0].min() < 0.01


def test_erase_boxes_have_the_area_aspect_and_stay_inside():
    policy = AugmentationPolicy(erase=(0.05, 0.5), erase_probability=1)
    params = policy.sample(500, random_state=1)
    for shape in [(24, 24), (10, 40), (33, 7)]:
        height, width = shape
        boxes = AugmentationPolicy.erase_boxes(params, (*shape, 3))
        assert boxes.dtype == np.int64 and boxes.shape == (500, 4)
        top, bottom, left, right = boxes.T
        assert np.all((0 <= top) & (top <= bottom) & (bottom <= height))
        assert np.all((0 <= left) & (left <= right) & (right <= width))
    # On a square image big enough not to clip, the area and aspect match.
    boxes = AugmentationPolicy.erase_boxes(params, (200, 200))
    rows = boxes[:, 1] - boxes[:, 0]
    cols = boxes[:, 3] - boxes[:, 2]
    area, aspect = params["erase"][:, 0], params["erase"][:, 1]
    unclipped = (rows < 200) & (cols < 200)
    np.testing.assert_allclose(
        rows[unclipped] * cols[unclipped] / 200**2, area[unclipped], rtol=0.05
    )
    np.testing.assert_allclose(
        rows[unclipped] / cols[unclipped], aspect[unclipped], rtol=0.05
    )
    # The position spans the room left: a box at x = 0 is at the left edge,
    # near x = 1 at the right edge.
    one = {**params}
    one["erase"] = np.array([[0.25, 1.0, 0.0, 0.999]])
    one = {k: v[:1] for k, v in one.items()}
    assert AugmentationPolicy.erase_boxes(one, (8, 8)).tolist() == [[4, 8, 0, 4]]


def test_erase_params_are_checked():
    params = AugmentationPolicy().sample(3, random_state=0)
    bad = {**params, "erase": params["erase"][:, :2]}
    with pytest.raises(ValueError, match="erase of shape \\(3, 2\\)"):
        AugmentationPolicy.erase_boxes(bad, (8, 8))


def test_dihedral_preset_draws_all_eight_orientations_evenly():
    params = AugmentationPolicy.preset("dihedral").sample(8000, random_state=0)
    code = (
        params["transpose"] * 4 + params["vertical_flip"] * 2
        + params["horizontal_flip"]
    )
    counts = np.bincount(code.astype(int), minlength=8)
    assert counts.min() > 900 and counts.max() < 1100


def test_sample_shapes_and_reproducibility():
    policy = AugmentationPolicy()
    first = policy.sample(7, random_state=3)
    assert first["shift"].shape == (7, 2)
    assert first["erase"].shape == (7, 4)
    wide = ("shift", "erase")
    assert all(first[key].shape == (7,) for key in first if key not in wide)
    again = policy.sample(7, random_state=3)
    other = policy.sample(7, random_state=4)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["rotation"], other["rotation"])
    from_generator = policy.sample(7, np.random.default_rng(3))
    np.testing.assert_array_equal(
        from_generator["zoom"], policy.sample(7, np.random.default_rng(3))["zoom"]
    )
    assert policy.sample(0, random_state=0)["rotation"].shape == (0,)


def test_switching_one_change_off_keeps_the_others():
    full = AugmentationPolicy().sample(10, random_state=0)
    no_zoom = AugmentationPolicy(zoom=None).sample(10, random_state=0)
    np.testing.assert_array_equal(full["rotation"], no_zoom["rotation"])
    np.testing.assert_array_equal(full["shift"], no_zoom["shift"])
    assert np.all(no_zoom["zoom"] == 1)


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_sample_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n="):
        AugmentationPolicy().sample(n, random_state=0)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("zoom", 0.0 - 1e-9, "zoom="),
        ("zoom", 1.0, "zoom="),
        ("zoom", (0, 1.2), "zoom="),
        ("zoom", (-0.5, 1.2), "zoom="),
        ("zoom", (1.2, 0.8), "zoom=.*min 1.2 > max 0.8"),
        ("zoom", True, "zoom="),
        ("rotation", -5, "rotation="),
        ("rotation", (90, 10), "rotation=.*min 90.0 > max 10.0"),
        ("rotation", (1, 2, 3), "rotation="),
        ("rotation", "all", "rotation="),
        ("rotation", np.nan, "rotation="),
        ("rotation", (0, np.inf), "rotation="),
        ("shift", 1.0, "shift="),
        ("shift", (-1.0, 0.5), "shift="),
        ("shear", 90, "shear="),
        ("shear", (-95, 10), "shear="),
        ("brightness", 1.5, "brightness="),
        ("brightness", (-2, 0), "brightness="),
        ("contrast", -0.1, "contrast="),
        ("contrast", (-0.5, 1), "contrast="),
        ("contrast", 1.01, "contrast="),
        ("horizontal_flip", "yes", "horizontal_flip="),
        ("vertical_flip", 0.5, "vertical_flip="),
        ("fill", "wrap", "fill='wrap' is not supported"),
        ("fill", None, "fill=None is not supported"),
        ("erase", 1.5, "erase="),
        ("erase", (-0.1, 0.2), "erase="),
        ("erase", (0.3, 0.1), "erase=.*min 0.3 > max 0.1"),
        ("erase_probability", 1.2, "erase_probability=1.2"),
        ("erase_probability", None, "erase_probability=None"),
        ("erase_probability", True, "erase_probability=True"),
    ],
)
def test_invalid_values_name_the_parameter(name, value, message):
    policy = AugmentationPolicy(**{name: value})  # __init__ only stores
    with pytest.raises(ValueError, match=message):
        policy.validate()
    with pytest.raises(ValueError, match=message):
        policy.sample(3, random_state=0)


def test_matrices_identity_flip_rotation_shift_conventions():
    shape = (10, 16)  # height, width
    policy = AugmentationPolicy(**OFF)
    params = policy.sample(1, random_state=0)
    np.testing.assert_allclose(policy.matrices(params, shape)[0], np.eye(3))

    flip = {**params, "horizontal_flip": np.array([True])}
    # Column 0 lands on column W - 1; rows are unchanged.
    np.testing.assert_allclose(apply(policy.matrices(flip, shape)[0], 0, 3), (15, 3))

    flip = {**params, "vertical_flip": np.array([True])}
    np.testing.assert_allclose(apply(policy.matrices(flip, shape)[0], 2, 0), (2, 9))

    # The transposition swaps x and y on a square image, and comes before
    # the flips: (x, y) -> (y, x) -> (W - 1 - y, x).
    swap = {**params, "transpose": np.array([True])}
    np.testing.assert_allclose(apply(policy.matrices(swap, (9, 9))[0], 2, 7), (7, 2))
    both = {**swap, "horizontal_flip": np.array([True])}
    np.testing.assert_allclose(apply(policy.matrices(both, (9, 9))[0], 2, 7), (1, 2))
    # On other shapes it is the mirror about the diagonal through the centre.
    matrix = policy.matrices(swap, shape)[0]
    np.testing.assert_allclose(apply(matrix, 7.5, 4.5), (7.5, 4.5))
    np.testing.assert_allclose(apply(matrix, 8.5, 4.5), (7.5, 5.5))

    # 90 degrees counter-clockwise as displayed: a point right of the centre
    # goes above it.
    rotate = {**params, "rotation": np.array([90.0])}
    matrix = policy.matrices(rotate, (9, 9))[0]
    np.testing.assert_allclose(apply(matrix, 8, 4), (4, 0), atol=1e-12)

    shift = {**params, "shift": np.array([[0.25, -0.1]])}
    matrix = policy.matrices(shift, shape)[0]
    np.testing.assert_allclose(apply(matrix, 0, 0), (4, -1))

    zoom = {**params, "zoom": np.array([2.0])}
    matrix = policy.matrices(zoom, (9, 9))[0]
    np.testing.assert_allclose(apply(matrix, 4, 4), (4, 4))  # the centre stays
    np.testing.assert_allclose(apply(matrix, 5, 4), (6, 4))

    shear = {**params, "shear": np.array([45.0])}
    matrix = policy.matrices(shear, (9, 9))[0]
    np.testing.assert_allclose(apply(matrix, 4, 6), (6, 6))  # 2 rows down


def test_matrices_accept_channel_shape_and_check_params():
    policy = AugmentationPolicy()
    params = policy.sample(3, random_state=0)
    assert policy.matrices(params, (8, 8, 3)).shape == (3, 3, 3)
    bad = dict(params)
    del bad["zoom"]
    with pytest.raises(ValueError, match="params lacks \\['zoom'\\]"):
        policy.matrices(bad, (8, 8))
    bad = {**params, "shear": params["shear"][:2]}
    with pytest.raises(ValueError, match="expected 3 values each"):
        policy.matrices(bad, (8, 8))
    with pytest.raises(TypeError, match="expected the dict"):
        policy.matrices([1, 2], (8, 8))


def test_to_dict_from_dict_json_round_trip():
    policy = AugmentationPolicy(
        rotation=np.float64(45), zoom=(0.9, 1.1), shift=None, fill="constant"
    )
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["zoom"] == [0.9, 1.1] and data["shift"] is None
    restored = AugmentationPolicy.from_dict(data)
    assert restored.zoom == (0.9, 1.1)
    assert restored.rotation == 45 and restored.fill == "constant"
    erasing = AugmentationPolicy(erase=(0.02, 0.25), erase_probability=0.3)
    saved = json.loads(json.dumps(erasing.to_dict()))
    erasing = AugmentationPolicy.from_dict(saved)
    assert (erasing.erase, erasing.erase_probability) == ((0.02, 0.25), 0.3)
    # A policy saved before erasing existed has it off.
    del saved["erase"], saved["erase_probability"]
    assert not AugmentationPolicy.from_dict(saved).has_erase
    params = policy.sample(5, random_state=1)
    again = restored.sample(5, random_state=1)
    for key in params:
        np.testing.assert_array_equal(params[key], again[key])


def test_from_dict_rejects_unknown_keys_bad_values_and_non_dicts():
    with pytest.raises(ValueError, match="Unknown AugmentationPolicy parameter"):
        AugmentationPolicy.from_dict({"rotate": 10})
    with pytest.raises(ValueError, match="zoom="):
        AugmentationPolicy.from_dict({"zoom": [2, 1]})
    with pytest.raises(TypeError, match="expected a dict"):
        AugmentationPolicy.from_dict([("zoom", 0.1)])


@pytest.mark.parametrize(
    "name", ["default", "paper", "orientation", "flips", "dihedral"]
)
def test_presets_are_valid_new_policies(name):
    policy = AugmentationPolicy.preset(name)
    assert policy.validate() is policy
    assert AugmentationPolicy.preset(name) is not policy


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_name_names_each_preset_and_nothing_else(name):
    assert AugmentationPolicy.preset(name).preset_name() == name
    # Changed in any parameter, it is no preset any more.
    changed = AugmentationPolicy.preset(name).set_params(
        erase_keep_centre=0.5, erase=(0.02, 0.25)
    )
    assert changed.preset_name() is None
    # paper() is the "paper" preset.
    assert AugmentationPolicy.paper().preset_name() == "paper"


def test_preset_contents():
    assert AugmentationPolicy.preset("default").get_params() == (
        AugmentationPolicy().get_params()
    )
    assert AugmentationPolicy.preset("paper").get_params() == (
        AugmentationPolicy.paper().get_params()
    )
    orientation = AugmentationPolicy.preset("orientation")
    assert orientation.rotation == (0, 360)
    assert orientation.horizontal_flip and orientation.vertical_flip
    assert orientation.zoom is orientation.shift is orientation.shear is None
    assert not orientation.has_colour
    flips = AugmentationPolicy.preset("flips")
    assert flips.rotation is None and flips.horizontal_flip and flips.vertical_flip
    assert not flips.transpose
    dihedral = AugmentationPolicy.preset("dihedral")
    assert dihedral.get_params() == flips.set_params(transpose=True).get_params()
    erase = AugmentationPolicy.preset("erase")
    assert erase.has_erase and (erase.erase, erase.erase_probability) == (
        (0.02, 0.25), 0.5
    )
    flips = AugmentationPolicy.preset("flips")
    assert erase.get_params() == flips.set_params(
        erase=(0.02, 0.25), erase_probability=0.5
    ).get_params()


@pytest.mark.parametrize("name", ["rotate", "", None, 3])
def test_unknown_preset_lists_the_known_ones(name):
    with pytest.raises(ValueError, match="preset .* expected one of .*flips"):
        AugmentationPolicy.preset(name)
