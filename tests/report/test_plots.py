import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from skorch.history import History

from sklearn_leukemia.report import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_roc_curve,
    plot_training_curves,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.fixture
def multiclass(rng):
    labels = ["ALL", "AML", "normal"]
    y_true = np.array(labels * 10)
    proba = rng.dirichlet(np.ones(3), size=30)
    # Make the scores informative so the curves are not all on the diagonal.
    proba[np.arange(30), np.tile([0, 1, 2], 10)] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = np.array(labels)[proba.argmax(axis=1)]
    return y_true, y_pred, proba, labels


def test_confusion_matrix_counts_and_labels():
    fig = plot_confusion_matrix(
        ["ALL", "normal", "ALL", "ALL"], ["ALL", "ALL", "normal", "ALL"],
        labels=["normal", "ALL"],
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "ALL"]
    # Rows are true classes: normal -> ALL once; ALL -> normal once, ALL twice.
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0", "1", "1", "2"]
    assert _png_bytes(fig).startswith(b"\x89PNG")


def test_confusion_matrix_draws_on_given_axes():
    fig, ax = plt.subplots()
    assert plot_confusion_matrix([0, 1], [0, 1], labels=[0, 1], ax=ax) is fig


def test_confusion_matrix_rejects_unknown_class():
    with pytest.raises(ValueError, match=r"y_pred holds classes \['AML'\]"):
        plot_confusion_matrix(["ALL", "normal"], ["ALL", "AML"], ["ALL", "normal"])


def test_confusion_matrix_rejects_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        plot_confusion_matrix([0, 1, 1], [0, 1], labels=[0, 1])


def test_roc_binary_one_curve_with_auc_in_legend():
    y_true = np.array(["ALL", "normal", "ALL", "normal"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    fig = plot_roc_curve(y_true, proba, ["ALL", "normal"], pos_label="ALL")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(text.startswith("ALL") and "AUC = 1.00" in text for text in legend)
    assert len(fig.axes[0].get_lines()) == 2  # curve + chance level


def test_roc_binary_accepts_one_dimensional_score():
    fig = plot_roc_curve([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3], labels=[0, 1],
                         pos_label=1)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("AUC = 0.75" in text for text in legend)


def test_roc_multiclass_one_curve_per_class(multiclass):
    y_true, _, proba, labels = multiclass
    fig = plot_roc_curve(y_true, proba, labels)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for label in labels:
        assert any(text.startswith(f"{label} vs rest") for text in legend)
    assert len(fig.axes[0].get_lines()) == 4


def test_roc_needs_pos_label_for_binary():
    with pytest.raises(ValueError, match="pos_label=None must be one of labels"):
        plot_roc_curve([0, 1], [[0.5, 0.5], [0.2, 0.8]], labels=[0, 1])


def test_roc_rejects_pos_label_for_multiclass(multiclass):
    y_true, _, proba, labels = multiclass
    with pytest.raises(ValueError, match="must be None with 3 classes"):
        plot_roc_curve(y_true, proba, labels, pos_label="ALL")


def test_roc_rejects_wrong_score_shape(multiclass):
    y_true, _, proba, labels = multiclass
    with pytest.raises(ValueError, match=r"y_score has shape \(30, 2\); expected"):
        plot_roc_curve(y_true, proba[:, :2], labels)


def test_roc_rejects_nan_scores(multiclass):
    y_true, _, proba, labels = multiclass
    proba[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plot_roc_curve(y_true, proba, labels)


def _history(losses, valid=True):
    history = History()
    for epoch, loss in enumerate(losses, start=1):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", loss)
        if valid:
            history.record("valid_loss", loss + 0.1)
            history.record("valid_acc", 1 - loss / 2)
    return history


def test_training_curves_one_line_pair_per_fold():
    fig = plot_training_curves([_history([1.0, 0.7, 0.5]), _history([0.9, 0.6, 0.4])])
    loss_ax, score_ax = fig.axes
    assert len(loss_ax.get_lines()) == 4  # train + valid per fold
    assert len(score_ax.get_lines()) == 2
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_ydata(), [1.0, 0.7, 0.5])
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["fold 1 train", "fold 1 valid", "fold 2 train", "fold 2 valid"]


def test_training_curves_without_validation_has_one_panel():
    fig = plot_training_curves(_history([1.0, 0.5], valid=False))
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 1


def test_training_curves_accepts_list_of_dicts_and_axes():
    fig, ax = plt.subplots()
    rows = [{"epoch": 1, "train_loss": 0.8}, {"epoch": 2, "train_loss": 0.6}]
    assert plot_training_curves([rows], ax=ax) is fig
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2])


def test_training_curves_rejects_empty_history():
    with pytest.raises(ValueError, match="no epoch with a 'train_loss'"):
        plot_training_curves([History()])


def test_misclassified_grid_most_confident_first(rng):
    images = rng.integers(0, 256, size=(5, 12, 12, 3), dtype=np.uint8)
    y_true = np.array(["a", "b", "a", "b", "a"])
    y_pred = np.array(["a", "a", "b", "a", "a"])
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7], [0.95, 0.05],
                      [0.8, 0.2]])
    fig = plot_misclassified(images, y_true, y_pred, proba, ["a", "b"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "true b\npred a (p=0.95)",
        "true a\npred b (p=0.70)",
        "true b\npred a (p=0.55)",
    ]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[3])
    assert "3 of 3 shown" in fig._suptitle.get_text()


def test_misclassified_respects_max_images(rng):
    images = rng.random((6, 8, 8))  # float grayscale: stretched for display
    fig = plot_misclassified(images, [0] * 6, [1] * 6, np.tile([0.2, 0.8], (6, 1)),
                             labels=[0, 1], max_images=4)
    assert len(fig.axes) == 4
    shown = fig.axes[0].images[0].get_array()
    assert shown.min() == 0 and shown.max() == 1
    assert "4 of 6 shown" in fig._suptitle.get_text()


def test_misclassified_reads_paths(tmp_path, rng):
    from PIL import Image

    paths = []
    for i in range(2):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    fig = plot_misclassified(paths, [0, 1], [1, 1], [[0.3, 0.7], [0.1, 0.9]],
                             labels=[0, 1])
    assert len(fig.axes) == 1
    assert fig.axes[0].images[0].get_array().shape == (10, 10, 3)


def test_misclassified_none_wrong_says_so(rng):
    images = rng.integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
    fig = plot_misclassified(images, [0, 1], [0, 1], [[1, 0], [0, 1]], [0, 1])
    assert fig.axes[0].texts[0].get_text() == "No misclassified image."


@pytest.mark.parametrize("max_images", [0, 2.5, True])
def test_misclassified_rejects_bad_max_images(rgb_images, max_images):
    with pytest.raises(ValueError, match="max_images must be an integer >= 1"):
        plot_misclassified(rgb_images[:2], [0, 1], [1, 0], [[0, 1], [1, 0]],
                           [0, 1], max_images=max_images)


def test_misclassified_rejects_misaligned_images(rgb_images):
    with pytest.raises(ValueError, match="images has 12 items but y_true has 2"):
        plot_misclassified(rgb_images, [0, 1], [1, 0], [[0, 1], [1, 0]], [0, 1])


def test_roc_curve_marks_the_operating_point():
    from sklearn_leukemia.report import plot_roc_curve

    fig = plot_roc_curve(["normal", "ALL", "ALL", "normal"],
                         [[0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [0.4, 0.6]],
                         labels=["ALL", "normal"], pos_label="ALL",
                         operating_point=(0.5, 1.0))
    marked = [line for line in fig.axes[0].get_lines()
              if line.get_label().startswith("operating point")]
    assert len(marked) == 1
    assert marked[0].get_label() == "operating point (sens. 100.0%, spec. 50.0%)"
    np.testing.assert_allclose(marked[0].get_xydata(), [[0.5, 1.0]])


def test_reliability_and_risk_coverage_figures():
    from sklearn_leukemia.metrics import calibration_report
    from sklearn_leukemia.report import plot_reliability_diagram, plot_risk_coverage

    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = rng.random(300) < p
    fig = plot_reliability_diagram(calibration_report(y, p, pos_label=True,
                                                      n_bootstraps=0))
    assert fig.axes[0].get_legend_handles_labels()[1][-1].startswith("ECE 0.0")
    fig = plot_risk_coverage(y, p > 0.5, 1 - np.maximum(p, 1 - p))
    (curve,) = [line for line in fig.axes[0].get_lines()
                if line.get_drawstyle().startswith("steps")]
    x, risk = curve.get_xydata().T
    assert x[-1] == 1.0 and risk[-1] == pytest.approx(np.mean(y != (p > 0.5)))
