"""Figures of an evaluation: confusion matrix, ROC curves, training curves.

Each function returns a :class:`matplotlib.figure.Figure`. The confusion
matrix and the ROC curves are drawn by scikit-learn's Display classes so
that they look like, and can be combined with, scikit-learn's own plots.
pyplot is only used to create a figure when no axes are given, exactly as
the Display classes do; without a display matplotlib falls back to Agg.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "plot_confusion_matrix",
    "plot_heatmaps",
    "plot_misclassified",
    "plot_reliability_diagram",
    "plot_risk_coverage",
    "plot_roc_curve",
    "plot_training_curves",
]


def _new_axes(ax, **figure_kw):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(**figure_kw)
    return fig, ax


def _check_labels(labels, name: str = "labels") -> list:
    labels = list(np.asarray(labels).ravel().tolist())
    if len(labels) < 2:
        raise ValueError(f"{name} must name at least 2 classes; got {labels!r}.")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} must not repeat a class; got {labels!r}.")
    return labels


def _check_targets(y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length; got {y_true.shape[0]} "
            f"and {y_pred.shape[0]}."
        )
    known = set(labels)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        unknown = sorted({str(v) for v in y.tolist() if v not in known})
        if unknown:
            raise ValueError(
                f"{name} holds classes {unknown} that are not in labels "
                f"{list(labels)}."
            )
    return y_true, y_pred


def _check_scores(y_score, n_samples: int, labels: list) -> np.ndarray:
    y_score = np.asarray(y_score, dtype=float)
    expected = (n_samples, len(labels))
    if y_score.ndim == 1 and len(labels) == 2:
        # A 1-D binary score is the score of labels[1], as in scikit-learn.
        y_score = np.column_stack([1.0 - y_score, y_score])
    if y_score.shape != expected:
        raise ValueError(
            f"y_score has shape {y_score.shape}; expected {expected}: one "
            "column per class, in the order of labels (predict_proba's output)."
        )
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or infinity; expected finite scores.")
    return y_score


def plot_confusion_matrix(y_true, y_pred, labels, ax=None):
    """Plot the confusion matrix of predictions, counts in every cell.

    Drawn by :class:`sklearn.metrics.ConfusionMatrixDisplay`: rows are the
    true classes, columns the predicted ones, both in the order of
    ``labels``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes.
    y_pred : array-like of shape (n_samples,)
        Predicted classes.
    labels : array-like of shape (n_classes,)
        The classes, in display order.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the plot.

    Examples
    --------
    >>> from sklearn_leukemia.report import plot_confusion_matrix
    >>> fig = plot_confusion_matrix(["ALL", "normal", "ALL"],
    ...                             ["ALL", "ALL", "ALL"], ["normal", "ALL"])
    >>> fig.axes[0].get_xlabel()
    'Predicted label'
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = _check_labels(labels)
    y_true, y_pred = _check_targets(y_true, y_pred, labels)
    size = max(4.0, 0.9 * len(labels) + 2.5)
    fig, ax = _new_axes(ax, figsize=(size + 1.0, size), layout="constrained")
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        display_labels=[str(label) for label in labels],
        ax=ax,
        colorbar=True,
        cmap="Blues",
        xticks_rotation=45 if len(labels) > 4 else "horizontal",
    )
    ax.set_title("Confusion matrix")
    return fig


def plot_roc_curve(y_true, y_score, labels, pos_label=None, ax=None, *,
                   operating_point=None):
    """Plot ROC curves: one for a binary task, one-vs-rest per class otherwise.

    Drawn by :class:`sklearn.metrics.RocCurveDisplay`, with the area under
    each curve in the legend and the chance diagonal.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes.
    y_score : array-like of shape (n_samples, n_classes)
        Class probabilities (``predict_proba``), columns in the order of
        ``labels``. For two classes a 1-D score of ``labels[1]`` is accepted.
    labels : array-like of shape (n_classes,)
        The classes, in the order of the columns of ``y_score``.
    pos_label : label, default=None
        The positive class of a binary task. Required when there are two
        classes; with more it must be None (every class gets its curve).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    operating_point : (float, float) or None, default=None
        ``(false positive rate, sensitivity)`` of the decisions made, marked
        on the curve of a binary task.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the plot.

    Examples
    --------
    >>> from sklearn_leukemia.report import plot_roc_curve
    >>> fig = plot_roc_curve(["normal", "ALL", "ALL", "normal"],
    ...                      [[0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [0.4, 0.6]],
    ...                      labels=["ALL", "normal"], pos_label="ALL")
    >>> len(fig.axes[0].get_lines())  # the curve and the chance line
    2
    """
    from sklearn.metrics import RocCurveDisplay

    labels = _check_labels(labels)
    y_true = np.asarray(y_true).ravel()
    _check_targets(y_true, y_true, labels)
    y_score = _check_scores(y_score, y_true.shape[0], labels)
    if len(labels) == 2:
        if pos_label is None or pos_label not in labels:
            raise ValueError(
                f"pos_label={pos_label!r} must be one of labels {labels} for a "
                "binary task: it names the class whose detection is scored."
            )
        curves = [(pos_label, labels.index(pos_label))]
    else:
        if pos_label is not None:
            raise ValueError(
                f"pos_label={pos_label!r} must be None with {len(labels)} classes; "
                "every class gets a one-vs-rest curve."
            )
        curves = [(label, i) for i, label in enumerate(labels)]

    fig, ax = _new_axes(ax, figsize=(5.5, 5), layout="constrained")
    for n, (label, column) in enumerate(curves):
        positives = y_true == label
        if positives.all() or not positives.any():
            # The curve is undefined without both positives and negatives.
            continue
        name = str(label) if len(labels) == 2 else f"{label} vs rest"
        RocCurveDisplay.from_predictions(
            positives,
            y_score[:, column],
            pos_label=True,
            name=name,
            ax=ax,
            plot_chance_level=n == len(curves) - 1,
        )
    if operating_point is not None and len(labels) == 2:
        fpr, tpr = operating_point
        ax.plot([fpr], [tpr], marker="o", color="crimson", linestyle="none",
                label=f"operating point (sens. {tpr:.1%}, spec. {1 - fpr:.1%})")
        ax.legend(loc="lower right")
    ax.set_title("ROC curve" if len(labels) == 2 else "ROC curves (one-vs-rest)")
    ax.set_xlabel("False positive rate (1 - specificity)")
    ax.set_ylabel("True positive rate (sensitivity)")
    return fig


def _history_rows(history) -> list[Mapping]:
    if hasattr(history, "to_list"):  # skorch History
        history = history.to_list()
    rows = list(history)
    if not all(isinstance(row, Mapping) for row in rows):
        raise TypeError(
            "each history must be a skorch History or a list of per-epoch "
            "dicts with keys such as 'epoch' and 'train_loss'."
        )
    return rows


def _series(rows: list[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    epochs, values = [], []
    for i, row in enumerate(rows):
        if row.get(key) is not None:
            epochs.append(row.get("epoch", i + 1))
            values.append(float(row[key]))
    return np.asarray(epochs), np.asarray(values)


def plot_training_curves(histories, ax=None):
    """Plot loss (and validation score) per epoch, one line per fold.

    Parameters
    ----------
    histories : sequence of skorch History or of lists of dict
        One history per fold (``net.history`` of each fitted classifier), or
        a single one. Keys used: ``epoch``, ``train_loss`` and, when a
        validation split was used, ``valid_loss`` and ``valid_acc``.
    ax : matplotlib Axes, default=None
        Where to draw the losses. When None a new figure is made, with a
        second panel for the validation accuracy if any history has one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the plot.

    Examples
    --------
    >>> from sklearn_leukemia.report import plot_training_curves
    >>> fold = [{"epoch": 1, "train_loss": 0.9, "valid_loss": 0.8, "valid_acc": 0.5},
    ...         {"epoch": 2, "train_loss": 0.6, "valid_loss": 0.7, "valid_acc": 0.7}]
    >>> fig = plot_training_curves([fold, fold])
    >>> len(fig.axes)
    2
    """
    if isinstance(histories, Mapping) or hasattr(histories, "to_list"):
        histories = [histories]
    elif isinstance(histories, Sequence) and histories and all(
        isinstance(row, Mapping) for row in histories
    ):
        histories = [histories]  # one history given as a list of epoch dicts
    folds = [_history_rows(history) for history in histories]
    if not folds or not any(_series(rows, "train_loss")[0].size for rows in folds):
        raise ValueError(
            "histories hold no epoch with a 'train_loss'; expected the skorch "
            "history of at least one fitted classifier."
        )
    has_score = any(_series(rows, "valid_acc")[0].size for rows in folds)
    if ax is None:
        import matplotlib.pyplot as plt

        ncols = 2 if has_score else 1
        fig, axes = plt.subplots(
            1, ncols, figsize=(5 * ncols, 4), layout="constrained", squeeze=False
        )
        loss_ax, score_ax = axes[0, 0], axes[0, 1] if has_score else None
    else:
        fig, loss_ax, score_ax = ax.figure, ax, None

    import matplotlib as mpl

    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for fold, rows in enumerate(folds):
        color = colors[fold % len(colors)]
        name = f"fold {fold + 1}" if len(folds) > 1 else "model"
        epochs, values = _series(rows, "train_loss")
        loss_ax.plot(epochs, values, color=color, label=f"{name} train")
        epochs, values = _series(rows, "valid_loss")
        if epochs.size:
            loss_ax.plot(epochs, values, color=color, linestyle="--",
                         label=f"{name} valid")
        if score_ax is not None:
            epochs, values = _series(rows, "valid_acc")
            if epochs.size:
                score_ax.plot(epochs, values, color=color, label=name)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("Training curves")
    loss_ax.legend(fontsize="small")
    if score_ax is not None:
        score_ax.set_xlabel("epoch")
        score_ax.set_ylabel("validation accuracy")
        score_ax.set_ylim(0, 1.02)
        score_ax.set_title("Validation accuracy")
        score_ax.legend(fontsize="small")
    return fig


def _load_image(image) -> np.ndarray:
    if isinstance(image, str | os.PathLike):
        from sklearn_leukemia.io import read_image

        return read_image(image)
    return np.asarray(image)


def _displayable(image: np.ndarray) -> np.ndarray:
    """Bring any pixel range to what ``imshow`` shows faithfully."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype == np.uint8:
        return image
    image = image.astype(float)
    low, high = float(np.min(image)), float(np.max(image))
    # Normalized images (z-scores, [-1, 1]) are stretched to [0, 1] for display.
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def plot_misclassified(images, y_true, y_pred, proba, labels, max_images=16):
    """Show the misclassified images, most confidently wrong first.

    Parameters
    ----------
    images : sequence of ndarray or of file paths, or ndarray
        All images, aligned with ``y_true``: arrays of shape ``(H, W)`` or
        ``(H, W, C)``, or paths that are read only for the images shown.
    y_true : array-like of shape (n_samples,)
        True classes.
    y_pred : array-like of shape (n_samples,)
        Predicted classes.
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``labels``.
    labels : array-like of shape (n_classes,)
        The classes.
    max_images : int, default=16
        At most this many images are shown.

    Returns
    -------
    fig : matplotlib.figure.Figure
        A grid of images titled with the true class, the predicted class and
        its probability. A figure with a short note when nothing was
        misclassified.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.report import plot_misclassified
    >>> images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    >>> fig = plot_misclassified(images, ["ALL", "normal", "ALL"],
    ...                          ["ALL", "ALL", "normal"],
    ...                          [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],
    ...                          labels=["ALL", "normal"])
    >>> [" / ".join(ax.get_title().splitlines()) for ax in fig.axes]
    ['true ALL / pred normal (p=0.80)', 'true normal / pred ALL (p=0.60)']
    """
    import matplotlib.pyplot as plt

    from sklearn_leukemia.utils._validation import is_integral

    labels = _check_labels(labels)
    y_true, y_pred = _check_targets(y_true, y_pred, labels)
    proba = _check_scores(proba, y_true.shape[0], labels)
    if not is_integral(max_images) or max_images < 1:
        raise ValueError(f"max_images must be an integer >= 1; got {max_images!r}.")
    if len(images) != y_true.shape[0]:
        raise ValueError(
            f"images has {len(images)} items but y_true has {y_true.shape[0]}; "
            "expected one image per sample."
        )
    wrong = np.flatnonzero(y_true != y_pred)
    if wrong.size == 0:
        fig, ax = plt.subplots(figsize=(4, 1.5), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.5, "No misclassified image.", ha="center", va="center")
        return fig

    column = {label: i for i, label in enumerate(labels)}
    confidence = proba[wrong, [column[p] for p in y_pred[wrong]]]
    # Stable sort keeps sample order among equal confidences (reproducible).
    shown = wrong[np.argsort(-confidence, kind="stable")][:max_images]
    ncols = min(4, shown.size)
    nrows = math.ceil(shown.size / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.2 * ncols, 2.5 * nrows), squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel()[shown.size:]:
        fig.delaxes(ax)
    for ax, i in zip(axes.ravel(), shown):
        image = _displayable(_load_image(images[i]))
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        p = proba[i, column[y_pred[i]]]
        ax.set_title(f"true {y_true[i]}\npred {y_pred[i]} (p={p:.2f})",
                     fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Misclassified images ({shown.size} of {wrong.size} shown)")
    return fig


def plot_reliability_diagram(calibration, ax=None):
    """Plot the reliability diagram of a calibration report.

    The mean probability of each bin against how often its cases came true,
    with the diagonal of perfect calibration, drawn by scikit-learn's
    :class:`~sklearn.calibration.CalibrationDisplay`; a bar chart of the
    cases in each bin below it.

    Parameters
    ----------
    calibration : CalibrationReport
        From :func:`~sklearn_leukemia.metrics.calibration_report`.
    ax : matplotlib Axes, default=None
        Where to draw the curve; None makes a figure with the histogram.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.metrics import calibration_report
    >>> from sklearn_leukemia.report import plot_reliability_diagram
    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(200)
    >>> report = calibration_report(rng.random(200) < p, p, pos_label=True,
    ...                             n_bootstraps=0)
    >>> fig = plot_reliability_diagram(report)
    >>> fig.axes[0].get_xlabel()
    'Mean predicted probability (positive class)'
    """
    from sklearn.calibration import CalibrationDisplay

    filled = calibration.bin_count > 0
    if ax is None:
        import matplotlib.pyplot as plt

        fig, (ax, hist) = plt.subplots(
            2, 1, figsize=(5.2, 6), height_ratios=(3, 1), layout="constrained",
            sharex=True,
        )
        centers = (calibration.bin_edges[:-1] + calibration.bin_edges[1:]) / 2
        width = calibration.bin_edges[1] - calibration.bin_edges[0]
        hist.bar(centers, calibration.bin_count, width=width * 0.9, color="0.6")
        hist.set_yscale("symlog")
        hist.set_ylabel("cases")
        hist.set_xlabel(f"Mean predicted probability ({calibration.kind})")
    else:
        fig = ax.figure
    value, low, high = calibration.ece
    interval = "" if low is None else f" [{low:.3f}, {high:.3f}]"
    display = CalibrationDisplay(
        prob_true=calibration.bin_frequency[filled],
        prob_pred=calibration.bin_confidence[filled],
        y_prob=None,
        estimator_name=f"ECE {value:.3f}{interval}",
    )
    display.plot(ax=ax)
    ax.set_xlabel(f"Mean predicted probability ({calibration.kind})")
    ax.set_ylabel("Fraction that came true")
    ax.set_title(f"Reliability ({calibration.n_samples} cases)")
    return fig


def plot_risk_coverage(y_true, y_pred, uncertainty, *, marks=(0.01, 0.02, 0.05),
                       ax=None):
    """Plot the error among the cases kept against the share kept.

    The least sure cases are referred first; a dotted line marks each share
    referred in ``marks``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    uncertainty : array-like of shape (n_samples,)
        Higher means less sure.
    marks : sequence of float, default=(0.01, 0.02, 0.05)
        Shares referred to mark.
    ax : matplotlib Axes, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from sklearn_leukemia.report import plot_risk_coverage
    >>> fig = plot_risk_coverage(["a", "b", "a"], ["a", "a", "a"], [0.1, 0.4, 0.2])
    >>> fig.axes[0].get_ylabel()
    'Error among the cases kept'
    """
    from sklearn_leukemia.metrics import risk_coverage_curve

    coverage, risk, _ = risk_coverage_curve(y_true, y_pred, uncertainty)
    fig, ax = _new_axes(ax, figsize=(5.2, 4), layout="constrained")
    ax.step(np.r_[0.0, coverage], np.r_[risk[0], risk], where="post")
    for share in marks:
        ax.axvline(1 - share, color="0.5", linestyle=":", linewidth=1)
        ax.text(1 - share, ax.get_ylim()[1], f" {share:.0%}", rotation=90,
                va="top", ha="right", fontsize="x-small", color="0.4")
    ax.set_xlim(max(0.0, 1 - 4 * max(marks, default=0.05)), 1.0)
    ax.set_xlabel("Share of cases kept (the rest referred)")
    ax.set_ylabel("Error among the cases kept")
    ax.set_title("Risk against coverage")
    return fig


def plot_heatmaps(images, heatmaps, titles=None, *, ncols=4, alpha=0.45,
                  title=None):
    """Show each image beside itself under its heatmap.

    Parameters
    ----------
    images : sequence of ndarray
        Images ``(H, W)`` or ``(H, W, C)``.
    heatmaps : sequence of ndarray
        One ``(H, W)`` map in [0, 1] per image
        (:func:`~sklearn_leukemia.inspection.class_activation_maps`).
    titles : sequence of str, default=None
        One per image.
    ncols : int, default=4
        Image pairs per row.
    alpha : float, default=0.45
        Opacity of the heatmap over the image.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.report import plot_heatmaps
    >>> fig = plot_heatmaps(np.zeros((3, 8, 8, 3), np.uint8), np.ones((3, 8, 8)),
    ...                     ["a", "b", "c"])
    >>> len(fig.axes)
    6
    """
    import matplotlib.pyplot as plt

    if len(images) != len(heatmaps):
        raise ValueError(
            f"images has {len(images)} items but heatmaps {len(heatmaps)}."
        )
    n = len(images)
    if n == 0:
        fig, ax = plt.subplots(figsize=(4, 1.5), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.5, "No image to show.", ha="center", va="center")
        return fig
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(2.6 * ncols, 1.5 * nrows),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel()[2 * n:]:
        fig.delaxes(ax)
    for i in range(n):
        image = _displayable(np.asarray(images[i]))
        cmap = "gray" if image.ndim == 2 else None
        plain, overlay = axes.ravel()[2 * i], axes.ravel()[2 * i + 1]
        plain.imshow(image, cmap=cmap)
        overlay.imshow(image, cmap=cmap)
        overlay.imshow(np.asarray(heatmaps[i]), cmap="jet", alpha=alpha,
                       vmin=0, vmax=1)
        if titles is not None:
            plain.set_title(titles[i], fontsize="x-small", loc="left")
        for ax in (plain, overlay):
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
