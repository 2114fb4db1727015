"""The pipeline that ``evaluate`` and ``train`` build from their options."""

from __future__ import annotations

from sklearn_leukemia.cli._arguments import SYNTHETIC_DEFAULTS
from sklearn_leukemia.cli._io import UsageError

__all__ = [
    "build_pipeline",
    "check_architecture",
    "describe_training",
    "model_params",
    "pipeline_settings",
]


def model_params(args, n_images: int) -> dict:
    """Keyword arguments of ``make_leukemia_pipeline`` from the options.

    Options left out are left out here too, so that the pipeline takes the
    recipe of ``n_images`` images (the whole set: each cross-validation
    fold trains what the final fit does), except for the synthetic demo
    (``SYNTHETIC_DEFAULTS``).
    """
    params = {
        "n_images": n_images,
        "contrast": args.contrast,
        "denoise": args.denoise,
        "architecture": args.architecture,
        "n_jobs": args.n_jobs,
        "random_state": args.random_state,
        "device": args.device,
        "verbose": int(args.verbose),
    }
    image_size, epochs = args.image_size, args.epochs
    if args.data is None:
        image_size = image_size or SYNTHETIC_DEFAULTS["image_size"]
        epochs = epochs or SYNTHETIC_DEFAULTS["epochs"]
    optional = {
        "image_size": image_size,
        "max_epochs": epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "augment": False if args.augment == "none" else args.augment,
        "early_stopping": args.early_stopping,
        "module__width": args.width,
        "mixup": args.mixup,
        "ema": args.ema,
        "progressive_resizing": args.progressive_resizing,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    # Options whose "none" is the parameter None, not the option left out.
    for name in ("tta", "class_weight"):
        value = getattr(args, name)
        if value is not None:
            params[name] = None if value == "none" else value
    return params


def check_architecture(args) -> None:
    """Refuse an unknown ``--architecture`` before any work, as a usage error."""
    from sklearn_leukemia.nn import get_architecture

    try:
        get_architecture(args.architecture)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--architecture: {exc}") from None


def build_pipeline(args, n_images: int):
    """Build the unfitted pipeline of the recipe for ``n_images`` images."""
    from sklearn_leukemia import make_leukemia_pipeline

    check_architecture(args)
    return make_leukemia_pipeline(**model_params(args, n_images))


def _preset_name(policy):
    """Return the preset name of an augmentation (a name, a policy or None)."""
    if policy is None or isinstance(policy, str):
        return policy
    return policy.preset_name() or repr(policy)


def pipeline_settings(pipeline) -> dict:
    """Return the settings of a built pipeline, the defaults included, for reports."""
    steps = pipeline.named_steps
    clf = steps["classifier"]
    params = clf.get_params(deep=False)

    def method(name):
        step = steps[name]
        return None if step == "passthrough" else step.method

    settings = {
        "image_size": steps["read"].image_size,
        "contrast": method("contrast"),
        "denoise": method("denoise"),
        "normalize": method("normalize"),
        "augment": _preset_name(clf.augmentation),
        "architecture": params["architecture"],
        **{k: v for k, v in params.items() if k.startswith("module__")},
    }
    for name in ("max_epochs", "batch_size", "lr", "optimizer", "lr_schedule",
                 "class_weight", "mixup", "ema", "progressive_resizing", "tta",
                 "early_stopping", "device", "random_state"):
        settings[name] = params[name]
    settings["n_jobs"] = steps["read"].n_jobs
    return settings


def describe_training(pipeline) -> str:
    """Return ``"N epochs at SxS pixels, grown from 0.5 of the side, augment A"``.

    Of a fitted pipeline (or classifier): the epochs it trained (early
    stopping may end sooner than ``max_epochs``) and, for a pipeline, what
    it trained at.
    """
    network = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    history = getattr(network, "history", None)
    if history is None:
        return ""
    text = f"{len(history)} epoch{'s' if len(history) != 1 else ''}"
    if not hasattr(pipeline, "steps"):
        return text
    size = pipeline.named_steps["read"].image_size
    if size is not None:
        side = f"{size}x{size}" if isinstance(size, int) else "x".join(map(str, size))
        text += f" at {side} pixels"
    start = history[0].get("train_scale", 1.0) if len(history) else 1.0
    if start < 1:
        text += f", grown from {start:g} of the side"
    augment = _preset_name(getattr(network, "augmentation_", None))
    if augment is not None:
        text += f", augment {augment}"
    return text
