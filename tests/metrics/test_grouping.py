import numpy as np
import pytest

from sklearn_leukemia.metrics._grouping import (
    BinarySides,
    binary_sides,
    merge_to_binary,
)


def test_sides_follow_the_order_of_the_classes():
    sides = binary_sides(["Pro", "Early"], ["Benign", "Early", "Pre", "Pro"])
    assert sides == BinarySides(negative=["Benign", "Pre"], positive=["Early", "Pro"])
    assert sides.names == ("Benign+Pre", "Early+Pro")


def test_one_naming_rule_for_every_reader():
    # Up to three classes are named by themselves, more by their side.
    many = binary_sides(["a", "b", "c", "d"], ["n", "a", "b", "c", "d"])
    assert many.names == ("n", "positive")
    assert binary_sides(["a"], ["n", "m", "o", "p", "a"]).names == ("negative", "a")
    # Names that would collide fall back to the sides.
    assert BinarySides(negative=["a+b"], positive=["a", "b"]).names == (
        "negative", "positive")
    # Integer classes are named by their text.
    assert binary_sides([2], [0, 1, 2]).names == ("0+1", "2")


def test_merge_to_binary_reads_labels_and_scores_as_the_sides():
    classes = ["Benign", "Early", "Pre"]
    sides = binary_sides(["Early", "Pre"], classes)
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    y, score = merge_to_binary(np.array(["Benign", "Pre"]), proba, classes, sides)
    assert y.tolist() == ["Benign", "Early+Pre"]
    np.testing.assert_allclose(score, [0.4, 0.8])
    y, score = merge_to_binary(["Early"], None, classes, sides)
    assert y.tolist() == ["Early+Pre"] and score is None


@pytest.mark.parametrize(
    ("positive", "message"),
    [
        (["Late"], r"names \['Late'\], which are not among the classes"),
        (["Pre", "Pre"], r"names \['Pre'\] more than once"),
        (["Benign", "Pre"], "covers every one of the classes"),
        ([], "non-empty list"),
    ],
)
def test_bad_positive_classes_are_named(positive, message):
    with pytest.raises(ValueError, match=message):
        binary_sides(positive, ["Benign", "Pre"])
    with pytest.raises(ValueError, match="--positive-classes names"):
        binary_sides(["Late"], ["Benign", "Pre"], name="--positive-classes")
