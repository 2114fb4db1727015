"""Class-activation heatmaps: where in an image the network found its answer.

Grad-CAM (Selvaraju et al., 2017) by Captum's
:class:`~captum.attr.LayerGradCam`: the gradient of the class's logit,
averaged over each channel of a convolutional layer, weighs that layer's
maps; their positive sum, upsampled to the image, is the heatmap. The layer
is, by default, the deepest one whose maps keep a side of at least an
eighth of the image's (at least 7 pixels): deeper layers answer more
about the class but are too coarse to point at one cell of a smear.
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_activation_maps", "find_cam_layer"]


def _network_parts(model):
    """Return ``(steps before the network, the classifier)`` of ``model``."""
    from sklearn_leukemia.classifier import SECNNClassifier

    inner = getattr(model, "estimator_", None)
    if inner is not None and hasattr(model, "decide"):
        model = inner  # a ClinicalClassifier: its fitted pipeline
    if hasattr(model, "steps"):
        *head, (_, network) = model.steps
        before = [step for _, step in head
                  if step not in (None, "passthrough")
                  and not hasattr(step, "fit_resample")]
    else:
        before, network = [], model
    if not isinstance(network, SECNNClassifier):
        raise TypeError(
            "class_activation_maps explains a SECNNClassifier, or a pipeline "
            f"(or ClinicalClassifier) ending with one; got {type(network).__name__}."
        )
    if not hasattr(network, "module_"):
        raise ValueError("the model is not fitted: fit it before explaining it.")
    return before, network


def _spatial_outputs(module, x) -> list[tuple[str, tuple[int, int]]]:
    """Run ``module`` on ``x``; return each submodule's 4-D output size, in order."""
    import torch

    seen, hooks = [], []
    for name, sub in module.named_modules():
        if not name or list(sub.children()):
            continue  # leaves only: their order is that of the computation

        def hook(_, __, out, name=name):
            if isinstance(out, torch.Tensor) and out.ndim == 4:
                seen.append((name, tuple(out.shape[-2:])))

        hooks.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in hooks:
            handle.remove()
    return seen


def find_cam_layer(module, image_shape) -> str:
    """Return the name of the layer whose maps the heatmaps are made from.

    The deepest leaf module (in the order of the forward pass) whose output
    keeps a side of at least ``max(7, side / 8)`` pixels, for an input of
    ``image_shape``; the first spatial one when none does.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    image_shape : tuple of int
        ``(channels, height, width)`` of an input image.

    Returns
    -------
    name : str
        A name of ``module.named_modules()``.

    Examples
    --------
    >>> from sklearn_leukemia.inspection import find_cam_layer
    >>> from sklearn_leukemia.nn import SECNN
    >>> find_cam_layer(SECNN(n_classes=2, width=8).eval(), (3, 96, 96))
    'stages.1.6'
    """
    import torch

    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else "cpu"
    seen = _spatial_outputs(module, torch.zeros((1, *image_shape), device=device))
    if not seen:
        raise ValueError("the network has no layer with spatial maps to explain.")
    smallest = max(7, min(image_shape[1:]) // 8)
    kept = [name for name, (h, w) in seen if min(h, w) >= smallest]
    return kept[-1] if kept else seen[0][0]


def class_activation_maps(model, X, *, target=None, layer="auto",
                          batch_size=32, return_images=False):
    """Return a Grad-CAM heatmap of each image: where the network looked.

    Parameters
    ----------
    model : SECNNClassifier, pipeline or ClinicalClassifier
        Fitted; a pipeline's steps before the network (reading, resizing,
        normalising) are applied first, its sampler skipped.
    X : array-like
        What ``model`` takes: image file paths or images.
    target : label, array-like of labels or None, default=None
        The class to explain, for all images or one per image; None: the
        class the network predicts for each (from the image alone, without
        test-time views).
    layer : str, default="auto"
        Name of the network's layer (``module_.named_modules()``) whose maps
        are weighed; ``"auto"``: :func:`find_cam_layer`.
    batch_size : int, default=32
        Images explained at once.
    return_images : bool, default=False
        Also return the images the heatmaps lie on: the last uint8 images on
        the way to the network (read and resized, before normalisation), or
        the network's input when none is uint8.

    Returns
    -------
    heatmaps : ndarray of shape (n_samples, height, width)
        In [0, 1], each scaled by its own maximum (all zeros where nothing
        speaks for the class), at the size of the images the network sees:
        overlay them on the pipeline's resized images.
    images : ndarray of shape (n_samples, height, width[, channels])
        Only with ``return_images=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia import SECNNClassifier
    >>> from sklearn_leukemia.inspection import class_activation_maps
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    >>> clf = SECNNClassifier(max_epochs=1, batch_size=8, module__width=4,
    ...                       random_state=0).fit(X, ["ALL", "normal"] * 4)
    >>> maps = class_activation_maps(clf, X[:2])
    >>> maps.shape, bool(maps.min() >= 0 and maps.max() <= 1)
    ((2, 32, 32), True)
    """
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    from sklearn_leukemia._data import batch_to_device, batch_to_tensor

    before, network = _network_parts(model)
    images = X
    shown = None
    for step in before:
        images = step.transform(images)
        if getattr(images, "dtype", None) == np.uint8:
            shown = images
    images = network._check_X(images, reset=False)
    if shown is None or np.shape(shown)[:3] != images.shape[:3]:
        shown = images
    module = network.module_
    classes = list(network.classes_)
    n = len(images)
    if target is not None:
        targets = np.broadcast_to(np.asarray(target, dtype=object), (n,))
        unknown = sorted({str(t) for t in targets if t not in classes})
        if unknown:
            raise ValueError(f"target {unknown} is not among the classes {classes}.")
        target_index = np.array([classes.index(t) for t in targets])
    was_training = module.training
    module.eval()
    try:
        height, width = images.shape[1:3]
        channels = 1 if images.ndim == 3 else images.shape[3]
        name = find_cam_layer(module, (channels, height, width)) if layer == "auto" \
            else layer
        layers = dict(module.named_modules())
        if name not in layers:
            raise ValueError(f"layer {name!r} is not a layer of the network; its "
                             f"layers: {sorted(k for k in layers if k)[:20]}...")
        gradcam = LayerGradCam(module, layers[name])
        device = next(module.parameters()).device
        heatmaps = []
        for start in range(0, n, batch_size):
            batch = batch_to_device(batch_to_tensor(images[start:start + batch_size]),
                                    device, channels_last=False)
            if target is None:
                with torch.no_grad():
                    index = module(batch).argmax(dim=1)
            else:
                index = torch.as_tensor(target_index[start:start + batch_size],
                                        device=device)
            with torch.enable_grad():
                attribution = gradcam.attribute(batch, target=index,
                                                relu_attributions=True)
            attribution = LayerAttribution.interpolate(
                attribution.detach().float(), (height, width), "bilinear"
            )[:, 0].clamp_(min=0)
            peak = attribution.flatten(1).amax(dim=1).clamp_(min=1e-12)
            heatmaps.append((attribution / peak[:, None, None]).cpu().numpy())
    finally:
        module.train(was_training)
    heatmaps = np.concatenate(heatmaps).astype(np.float32)
    return (heatmaps, np.asarray(shown)) if return_images else heatmaps
