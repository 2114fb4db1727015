"""Portable model files that run no code when loaded.

A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_
file. Its tensors hold every numeric array of the fitted pipeline (network
weights, normalization statistics); its header metadata holds a JSON
description of the pipeline: the class of each step (from an allow-list of
this package's classes), its parameters, and its small fitted attributes.
Loading parses JSON and reads tensors; unlike pickle it never imports or
calls anything named by the file.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

import sklearn_leukemia

FORMAT_NAME = "sklearn-leukemia-model"
FORMAT_VERSION = 1
_META_KEY = "sklearn_leukemia"

#: The largest image side (pixels) a model file may ask the reader or the
#: resizer for: a 4096 x 4096 RGB image is 48 MiB.
MAX_IMAGE_SIDE = 4096
#: How deeply a model file's values may nest.
MAX_DEPTH = 32

# The fitted attributes each class defines: a file may set these and no
# other (tests/test_persistence.py checks the table against real fits).
_FITTED_ATTRIBUTES = {
    "sklearn_leukemia.preprocessing._reader.ImageReader": set(),
    "sklearn_leukemia.preprocessing._resize.ImageResizer": {"n_channels_in_"},
    "sklearn_leukemia.preprocessing._contrast.ContrastAdjuster": {"n_channels_in_"},
    "sklearn_leukemia.preprocessing._denoise.ImageDenoiser": {"n_channels_in_"},
    "sklearn_leukemia.preprocessing._normalize.IntensityNormalizer": {
        "n_channels_in_", "intensity_range_", "mean_", "std_",
    },
    "sklearn_leukemia.augmentation._sampler.ImageAugmenter": {
        "n_channels_in_", "policy_", "sample_indices_", "value_range_",
    },
    "sklearn_leukemia.augmentation._policy.AugmentationPolicy": set(),
    "sklearn_leukemia.patient._classifier.PatientClassifier": {
        "classes_", "cell_classes_", "feature_names_", "oof_features_",
        "cell_estimator_", "final_estimator_",
    },
    "sklearn_leukemia.decision._classifier.ClinicalClassifier": {
        "classes_", "estimator_", "calibrator_", "positive_", "threshold_",
        "refer_cut_", "cv_results_",
    },
    "sklearn_leukemia.decision._calibration._ProbabilityCalibrator": {
        "classes_", "thresholds_x_", "thresholds_y_", "sigmoid_", "temperature_",
    },
    # The default second stage of a PatientClassifier.
    "sklearn.linear_model._logistic.LogisticRegression": {
        "classes_", "coef_", "intercept_", "n_features_in_", "n_iter_",
    },
}
# Parameters and fitted attributes that hold an estimator (from the
# allow-list, itself described in the file), by class.
_ESTIMATOR_FIELDS = {
    "sklearn_leukemia.patient._classifier.PatientClassifier": frozenset({
        "cell_estimator", "final_estimator", "cell_estimator_",
        "final_estimator_",
    }),
    "sklearn_leukemia.decision._classifier.ClinicalClassifier": frozenset({
        "estimator", "estimator_", "calibrator_",
    }),
}
# What a fitted classifier's description holds besides its parameters.
_NETWORK_STATE = frozenset({
    "classes_", "n_channels_in_", "class_weight_", "value_range_",
    "intensity_range_", "augmentation_", "device_", "history",
})
# Prefixed parameters the classifier passes on (skorch's prefixes_, and the
# network's and optimizer's).
_CLASSIFIER_PREFIXES = (
    "module__", "optimizer__", "criterion__", "iterator_train__",
    "iterator_valid__", "callbacks__", "dataset__",
)
# timm arguments that read weights from a file or the network.
_WEIGHT_SOURCES = ("pretrained", "checkpoint_path", "pretrained_cfg",
                   "pretrained_cfg_overlay", "pretrained_strict")
# A timm model name with an optional pretrained tag, and no source prefix.
_TIMM_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_\-]+)?")
# The classifier's parameters a model file leaves at None.
_NONE_ONLY = frozenset({"torch_load_kwargs", "callbacks", "train_split"})
# Parameters that take a class (named in the file, from the allow-list) or a
# policy.
_CLASS_PARAMS = frozenset({"criterion", "iterator_train", "iterator_valid",
                           "dataset"})
_POLICY_PARAMS = frozenset({"augmentation", "policy"})


class _Refused(ValueError):
    """A model file asks for something it may not; the message says what."""


def _allowed_classes() -> dict[str, type]:
    """Classes a model file may name, by qualified name."""
    from imblearn.pipeline import Pipeline as ImbPipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline as SkPipeline

    from sklearn_leukemia.augmentation import AugmentationPolicy
    from sklearn_leukemia.decision._calibration import _ProbabilityCalibrator
    from sklearn_leukemia.utils.discovery import all_estimators

    classes = [ImbPipeline, SkPipeline, AugmentationPolicy, LogisticRegression,
               _ProbabilityCalibrator]
    classes += [cls for _, cls in all_estimators()]
    # Classes that SECNNClassifier takes as parameter values (skorch's
    # criterion, iterators and dataset); named in the file, never imported
    # from it.
    import torch
    from torch.utils.data import DataLoader

    from sklearn_leukemia._data import ImageBatchDataset

    classes += [torch.nn.CrossEntropyLoss, DataLoader, ImageBatchDataset]
    allowed = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in classes}
    # Where files of version 0.1.0.dev0 up to 5d3944a found it.
    allowed["sklearn_leukemia._torch_utils.ImageBatchDataset"] = ImageBatchDataset
    return allowed


#: Parameters that files written before the defaults were decided in
#: ``training_recipe`` may hold as "auto", with the fitted attribute (or
#: classifier state) that holds what "auto" chose.
_LEGACY_AUTO = {
    "sklearn_leukemia.preprocessing._reader.ImageReader": {
        "image_size": "image_size_"
    },
    "sklearn_leukemia.preprocessing._resize.ImageResizer": {"size": "size_"},
    "sklearn_leukemia.classifier.SECNNClassifier": {
        "max_epochs": "max_epochs_",
        "progressive_resizing": "progressive_resizing_",
        "augmentation": "augmentation_",
    },
}


def _upgrade(doc: dict) -> dict:
    """Bring an estimator's description from an older file to today's classes.

    "auto" parameters take the value their fit chose; the classifier's
    ``weight_decay`` becomes ``optimizer__weight_decay``, its
    ``validation_fraction`` (early stopping's split, unused by a fitted
    model) is dropped, and a file older than its ``tta`` or
    ``augmentation`` parameter gets the default of its time, None.
    """
    legacy = _LEGACY_AUTO.get(doc["class"])
    if legacy is None:
        return doc
    params = dict(doc["params"])
    if doc["class"].endswith(".SECNNClassifier"):
        params.setdefault("tta", None)
        params.setdefault("augmentation", None)
    fitted = dict(doc.get("fitted", {}))
    state = doc.get("state", {}).get("__dict__", {})
    for param, attr in legacy.items():
        chosen = fitted.pop(attr, state.get(attr))
        if params.get(param) == "auto":
            params[param] = chosen
    if "weight_decay" in params:
        params.setdefault("optimizer__weight_decay", params.pop("weight_decay"))
    params.pop("validation_fraction", None)
    upgraded = dict(doc, params=params)
    if "fitted" in doc:
        upgraded["fitted"] = fitted
    if state:
        # The attributes that held what "auto" chose are parameters now.
        kept = {k: v for k, v in state.items()
                if k in _NETWORK_STATE or k not in legacy.values()}
        upgraded["state"] = dict(doc["state"], __dict__=kept)
    return upgraded


def _qualname(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _network_state(clf) -> tuple[dict, dict[str, np.ndarray]]:
    """Return a fitted SECNNClassifier's state as JSON-able values and arrays."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(clf, "module_")
    state = {
        "classes_": np.asarray(clf.classes_),
        "n_channels_in_": int(clf.n_channels_in_),
        "class_weight_": clf.class_weight_,
        "value_range_": clf.value_range_,
        "intensity_range_": getattr(clf, "intensity_range_", None),
        "augmentation_": getattr(clf, "augmentation_", None),
        "device_": clf.device_,
        # Epoch-level entries only: the per-batch records are bulky.
        "history": [
            {k: v for k, v in row.items() if k != "batches"}
            for row in clf.history_
        ],
    }
    arrays = {
        name: tensor.detach().cpu().numpy()
        for name, tensor in clf.module_.state_dict().items()
    }
    return state, arrays


def _check_tensors(clf, arrays: dict, key: str) -> None:
    """Refuse tensors that are not those of the network the parameters build.

    The network is built on torch's "meta" device first, which allocates
    nothing: parameters asking for a huge network are caught before any
    memory is spent on it (the file's own tensors are already read, and no
    larger than the file).
    """
    import torch

    try:
        with torch.device("meta"):
            module = clf._build_module()
    except Exception:  # noqa: BLE001 - a network that needs real numbers to
        # be built (``.item()`` of a tensor) is compared after building it.
        return
    # Scalars (BatchNorm's counters) are saved with shape (1,).
    expected = {
        name: tuple(tensor.shape) or (1,)
        for name, tensor in module.state_dict().items()
    }
    given = {name: tuple(np.shape(array)) or (1,) for name, array in arrays.items()}
    for name in sorted(set(expected) | set(given)):
        if expected.get(name) != given.get(name):
            raise _Refused(
                f"{key}.tensor.{name} is {given.get(name, 'missing')} in the "
                f"file but {expected.get(name, 'absent')} in the network its "
                "parameters build."
            )


def _restore_network(clf, state: dict, arrays: dict, key: str = "model") -> None:
    """Rebuild a fitted SECNNClassifier from :func:`_network_state`'s output."""
    import torch
    from skorch.history import History

    from sklearn_leukemia._runtime import resolve_device

    clf.classes_inferred_ = np.asarray(state["classes_"])
    clf.n_channels_in_ = state["n_channels_in_"]
    clf.class_weight_ = state["class_weight_"]
    clf.value_range_ = state["value_range_"]
    clf.augmentation_ = state.get("augmentation_")
    # Files written before the range was recorded: no check at predict.
    clf.intensity_range_ = state.get("intensity_range_")
    try:
        resolve_device(clf.device)
    except (RuntimeError, ValueError):
        warnings.warn(
            f"the model was trained with device={clf.device!r}, which is "
            "not available here; it is loaded on the CPU.",
            UserWarning,
            stacklevel=4,
        )
        clf.device = "cpu"
    _check_tensors(clf, arrays, key)
    try:
        clf.initialize()
    except Exception as exc:
        raise _Refused(
            f"{key}: its network cannot be built ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})."
        ) from exc
    device = torch.device(clf.device_)
    try:
        clf.module_.load_state_dict(
            {name: torch.from_numpy(np.array(a)).to(device) for name, a in
             arrays.items()}
        )
    except RuntimeError as exc:
        raise _Refused(
            f"{key}: its tensors are not those of the network its parameters "
            f"build ({str(exc).splitlines()[0]})."
        ) from exc
    clf.history = History(state["history"])


def _is_network(est) -> bool:
    from sklearn_leukemia.classifier import SECNNClassifier

    return isinstance(est, SECNNClassifier)


class _Encoder:
    """Turns estimators into JSON plus a flat dict of named arrays."""

    def __init__(self, allowed: dict[str, type]):
        self.allowed = allowed
        self.arrays: dict[str, np.ndarray] = {}
        # Inside an estimator-valued parameter (a template, e.g. a patient
        # model's cell_estimator), an unfitted network is saved as its
        # parameters; anywhere else it is an error.
        self._templates = 0

    def value(self, value, key: str):
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, np.generic):
            return self.value(value.item(), key)
        if isinstance(value, int | float):
            if isinstance(value, float) and not np.isfinite(value):
                return {"__float__": repr(value)}
            return value
        if isinstance(value, list | tuple):
            items = [self.value(v, f"{key}.{i}") for i, v in enumerate(value)]
            return items if isinstance(value, list) else {"__tuple__": items}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError(f"{key}: only dicts with string keys can be saved.")
            return {
                "__dict__": {k: self.value(v, f"{key}.{k}") for k, v in value.items()}
            }
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                self.arrays[key] = np.ascontiguousarray(value)
                return {"__array__": key}
            if value.dtype.kind in "USO":
                return {
                    "__strarray__": [str(v) for v in value.ravel()],
                    "shape": list(value.shape),
                    "kind": value.dtype.kind,
                }
        if isinstance(value, type) and hasattr(value, "__module__"):
            name = f"{value.__module__}.{value.__qualname__}"
            if name in self.allowed:
                return {"__type__": name}
        if _qualname(value) in self.allowed:
            return self.estimator(value, key)
        raise TypeError(
            f"{key}: a value of type {type(value).__name__} cannot be saved in "
            "the portable format; use pickle/joblib for custom objects."
        )

    def estimator(self, est, key: str) -> dict:
        if hasattr(est, "to_classifier"):
            # An AcceleratedSECNNClassifier is saved as the plain classifier
            # it trained: a file that loads without accelerate.
            est = est.to_classifier()
        name = _qualname(est)
        if name not in self.allowed:
            raise TypeError(
                f"{key}: {name} is not a sklearn-leukemia class; the portable "
                "format only stores this package's estimators. Use joblib.dump "
                "for pipelines with other steps."
            )
        if hasattr(est, "steps"):  # a Pipeline: its steps are encoded one by one
            steps = [
                [
                    step_name,
                    step
                    if isinstance(step, str) or step is None
                    else self.estimator(step, f"{key}.{step_name}"),
                ]
                for step_name, step in est.steps
            ]
            return {
                "class": name,
                "steps": steps,
                "params": {"memory": None, "verbose": bool(est.verbose)},
            }
        holds = _ESTIMATOR_FIELDS.get(name, frozenset())
        params = {}
        for k, v in est.get_params(deep=False).items():
            self._templates += k in holds
            try:
                params[k] = self.value(v, f"{key}.params.{k}")
            finally:
                self._templates -= k in holds
        doc = {"class": name, "params": params}
        template = self._templates > 0 and not (
            getattr(est, "initialized_", False) and hasattr(est, "module_")
        )
        if _is_network(est) and not template:
            state, arrays = _network_state(est)
            doc["state"] = self.value(state, f"{key}.state")
            for array_name, array in arrays.items():
                self.arrays[f"{key}.tensor.{array_name}"] = np.ascontiguousarray(array)
            doc["tensors"] = sorted(arrays)
        elif _is_network(est):
            pass  # an unfitted template: its parameters say it all
        else:
            fitted = {
                k: v
                for k, v in vars(est).items()
                if k.endswith("_") and not k.startswith("_")
            }
            doc["fitted"] = {
                k: self.value(v, f"{key}.fitted.{k}") for k, v in fitted.items()
            }
        return doc


def _cores() -> int:
    return os.cpu_count() or 1


def _check_size(value, field: str) -> None:
    sides = value if isinstance(value, (list, tuple)) else [value]
    for side in sides:
        if isinstance(side, int) and not isinstance(side, bool) and (
            side > MAX_IMAGE_SIDE
        ):
            raise _Refused(
                f"{field}={value!r} asks for images of {side} pixels a side; a "
                f"model file may ask for at most {MAX_IMAGE_SIDE}."
            )


def _bound_count(params: dict, name: str, field: str, *, allow_all: bool) -> None:
    """Workers, jobs or threads: at most the cores of this machine.

    A machine setting, not a property of the model: a file saved on a
    larger machine loads on a smaller one with the value lowered to its
    cores (a warning names it), and no file starts more workers than that.
    """
    value = params[name]
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return  # the estimator's own validation names other values
    cores = _cores()
    if value > cores:
        bounded = cores
    elif value < 0 and not (allow_all and value >= -cores):
        bounded = -1 if allow_all else 0
    else:
        return
    warnings.warn(
        f"{field}={value!r} asks for more workers than the {cores} cores of "
        f"this machine; loaded with {bounded}.",
        UserWarning,
        stacklevel=5,
    )
    params[name] = bounded


def _check_architecture(value, field: str) -> None:
    if isinstance(value, str) and value.startswith("timm:"):
        name = value[len("timm:"):]
        if not _TIMM_NAME.fullmatch(name):
            raise _Refused(
                f"{field}={value!r}: a model file may name a timm model (with "
                "an optional pretrained tag), not a source timm would fetch "
                "or read (hf-hub:, local-dir:, a path)."
            )


def _check_classifier_params(params: dict, key: str) -> None:
    for name in list(params):
        value, field = params[name], f"{key}.params.{name}"
        if name == "compile" and value is not False:
            raise _Refused(
                f"{field}={value!r}: a model file may not ask for compilation; "
                "set compile=True after loading if you want it."
            )
        if name in _NONE_ONLY and value is not None:
            raise _Refused(f"{field}={value!r}: a model file may not set it.")
        if name == "n_threads" or name.endswith("__num_workers"):
            _bound_count(params, name, field, allow_all=False)
        if name == "architecture":
            _check_architecture(value, field)
        if name.startswith("module__") and name[8:] in _WEIGHT_SOURCES and value:
            raise _Refused(
                f"{field}={value!r} would load weights from elsewhere (a "
                "download or another file) when the model is built; a model "
                "file holds its own weights."
            )


def _check_values(params: dict, key: str, estimators=frozenset()) -> None:
    """Classes and estimators only where a parameter takes them."""
    from sklearn_leukemia.augmentation import AugmentationPolicy

    def plain(value) -> bool:
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(plain(v) for v in value.values())
        return not isinstance(value, type) and not hasattr(value, "get_params")

    for name, value in params.items():
        if isinstance(value, type) and name in _CLASS_PARAMS:
            continue
        if isinstance(value, AugmentationPolicy) and name in _POLICY_PARAMS:
            continue
        if name in estimators and (
            value is None or (hasattr(value, "get_params")
                              and not isinstance(value, type))
        ):
            continue
        if not plain(value):
            raise _Refused(
                f"{key}.params.{name} holds a class or an estimator, which this "
                "parameter does not take in a model file."
            )


def _check_params(cls: type, params: dict, key: str, *,
                  estimators=frozenset()) -> None:
    """Refuse parameters ``cls`` does not have, and values out of bounds.

    Worker counts above the machine's cores are lowered in ``params``.
    """
    from sklearn_leukemia.classifier import SECNNClassifier

    known = {
        p.name for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    network = issubclass(cls, SECNNClassifier)
    for name in params:
        if name in known or (network and name.startswith(_CLASSIFIER_PREFIXES)):
            continue
        raise _Refused(
            f"{key}.params holds {name!r}, which is no parameter of "
            f"{cls.__name__}."
        )
    _check_values(params, key, estimators)
    for name in ("image_size", "size"):
        if name in params:
            _check_size(params[name], f"{key}.params.{name}")
    if "n_jobs" in params:
        _bound_count(params, "n_jobs", f"{key}.params.n_jobs", allow_all=True)
    if network:
        _check_classifier_params(params, key)


def _check_patient_model(model, key: str) -> None:
    """Refuse a patient model whose parts do not fit together."""
    missing = sorted(
        attr for attr in ("classes_", "cell_classes_", "cell_estimator_",
                          "feature_names_")
        if not hasattr(model, attr)
    )
    if missing:
        raise _Refused(f"{key}.fitted lacks {missing[0]!r}.")
    if not hasattr(model.cell_estimator_, "classes_"):
        raise _Refused(f"{key}.fitted.cell_estimator_ is not fitted.")
    if not set(map(str, model.cell_estimator_.classes_)) <= set(
        map(str, model.cell_classes_)
    ):
        raise _Refused(
            f"{key}.fitted.cell_estimator_ predicts classes that are not "
            "cell_classes_."
        )
    final = getattr(model, "final_estimator_", None)
    if final is not None and (
        not hasattr(final, "classes_")
        or list(map(str, final.classes_)) != list(map(str, model.classes_))
    ):
        raise _Refused(
            f"{key}.fitted.final_estimator_ does not predict the model's "
            "classes_."
        )


def _check_clinical_model(model, key: str) -> None:
    """Refuse a clinical model whose parts do not fit together."""
    missing = sorted(
        attr for attr in ("classes_", "estimator_", "calibrator_", "positive_",
                          "threshold_", "refer_cut_", "cv_results_")
        if not hasattr(model, attr)
    )
    if missing:
        raise _Refused(f"{key}.fitted lacks {missing[0]!r}.")
    classes = list(map(str, np.asarray(model.classes_).ravel()))
    inner = getattr(model.estimator_, "classes_", None)
    if inner is None or not set(map(str, np.asarray(inner).ravel())) <= set(classes):
        raise _Refused(
            f"{key}.fitted.estimator_ is not fitted or predicts classes that "
            "are not the model's classes_."
        )
    if model.calibrator_ is not None:
        _check_calibrator(model.calibrator_, classes, f"{key}.fitted.calibrator_")
    positive = model.positive_
    if positive is not None and (
        not isinstance(positive, np.ndarray) or positive.dtype != bool
        or positive.shape != (len(classes),) or positive.all() or not positive.any()
    ):
        raise _Refused(
            f"{key}.fitted.positive_ must mark some, not all, of the "
            f"{len(classes)} classes."
        )
    threshold = model.threshold_
    if threshold is not None and (
        not isinstance(threshold, float) or not 0.0 <= threshold <= 1.0
        or positive is None
    ):
        raise _Refused(
            f"{key}.fitted.threshold_ is {threshold!r}; a threshold is a "
            "probability of a positive side."
        )
    cut = model.refer_cut_
    if cut is not None and (not isinstance(cut, float) or not cut >= 0.0):
        raise _Refused(f"{key}.fitted.refer_cut_ is {cut!r}.")
    results = model.cv_results_
    if not isinstance(results, dict) or not all(
        isinstance(v, (int, float)) or v is None for v in results.values()
    ):
        raise _Refused(f"{key}.fitted.cv_results_ must map names to numbers.")


def _check_calibrator(calibrator, classes: list, key: str) -> None:
    """Refuse a calibrator that would not map probabilities to probabilities."""
    from sklearn_leukemia.decision._calibration import _ProbabilityCalibrator

    if type(calibrator) is not _ProbabilityCalibrator:
        raise _Refused(f"{key} is a {type(calibrator).__name__}, not a calibrator.")
    if list(map(str, np.asarray(getattr(calibrator, "classes_", [])).ravel())) != (
        classes
    ):
        raise _Refused(f"{key} does not fit the model's classes_.")
    columns = 1 if len(classes) == 2 else len(classes)
    method = calibrator.method
    if method == "temperature":
        value = calibrator.temperature_
        if not isinstance(value, float) or not (np.isfinite(value) and value > 0):
            raise _Refused(f"{key}.temperature_ is {value!r}; expected a "
                           "positive number.")
    elif method == "sigmoid":
        ab = np.asarray(calibrator.sigmoid_)
        if ab.shape != (columns, 2) or not np.all(np.isfinite(ab)):
            raise _Refused(f"{key}.sigmoid_ must be {columns} finite (a, b) pairs.")
    else:
        xs, ys = calibrator.thresholds_x_, calibrator.thresholds_y_
        if not (isinstance(xs, list) and isinstance(ys, list)
                and len(xs) == len(ys) == columns):
            raise _Refused(f"{key} must hold {columns} isotonic step function(s).")
        for x, y in zip(xs, ys):
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            if (x.ndim != 1 or x.shape != y.shape or x.size == 0
                    or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0)
                    or not np.all((y >= 0) & (y <= 1))):
                raise _Refused(
                    f"{key} holds an isotonic step function that is not "
                    "increasing from probabilities to probabilities."
                )


# Checks that a loaded model's parts fit together, by class.
_MODEL_CHECKS = {
    "sklearn_leukemia.patient._classifier.PatientClassifier": _check_patient_model,
    "sklearn_leukemia.decision._classifier.ClinicalClassifier": _check_clinical_model,
}


class _Decoder:
    def __init__(self, allowed: dict[str, type], arrays):
        self.allowed = allowed
        self.arrays = arrays

    def cls(self, name: str) -> type:
        if name not in self.allowed:
            raise _Refused(
                f"the model file names class {name!r}, which is not a "
                "sklearn-leukemia class."
            )
        return self.allowed[name]

    def value(self, value, key: str, depth: int = 0):
        if depth > MAX_DEPTH:
            raise _Refused(f"{key} is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, list):
            return [self.value(v, f"{key}.{i}", depth + 1) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            if value["__array__"] not in self.arrays:
                raise _Refused(f"{key} names the missing array {value['__array__']!r}.")
            return self.arrays[value["__array__"]]
        if "__tuple__" in value:
            return tuple(
                self.value(v, f"{key}.{i}", depth + 1)
                for i, v in enumerate(value["__tuple__"])
            )
        if "__dict__" in value:
            return {
                k: self.value(v, f"{key}.{k}", depth + 1)
                for k, v in value["__dict__"].items()
            }
        if "__float__" in value:
            return float(value["__float__"])
        if "__strarray__" in value:
            dtype = object if value["kind"] == "O" else str
            return np.array(value["__strarray__"], dtype=dtype).reshape(value["shape"])
        if "__type__" in value:
            return self.cls(value["__type__"])
        if "class" in value:
            from sklearn_leukemia.augmentation import AugmentationPolicy

            if self.cls(value["class"]) is not AugmentationPolicy:
                raise _Refused(
                    f"{key} builds a {value['class'].rsplit('.', 1)[-1]}; a "
                    "value in a model file may only be an augmentation policy."
                )
            return self.estimator(value, key, depth + 1)
        raise _Refused(f"{key} holds an unreadable value {str(value)[:80]!r}.")

    def estimator(self, doc: dict, key: str, depth: int = 0):
        if depth > MAX_DEPTH:
            raise _Refused(f"{key} is nested more than {MAX_DEPTH} levels deep.")
        cls = self.cls(doc["class"])
        doc = _upgrade(doc)
        if "steps" in doc:
            return self._pipeline(cls, doc, key, depth)
        holds = _ESTIMATOR_FIELDS.get(doc["class"], frozenset())
        params = {
            k: self._field(v, f"{key}.params.{k}", depth + 1, k in holds)
            for k, v in doc["params"].items()
        }
        _check_params(cls, params, key, estimators=holds)
        est = cls(**params)
        if "state" in doc:
            state = self.value(doc["state"], f"{key}.state", depth + 1)
            unknown = sorted(set(state) - _NETWORK_STATE)
            if unknown:
                raise _Refused(
                    f"{key}.state holds {unknown[0]!r}, which {cls.__name__} "
                    "does not define."
                )
            prefix = f"{key}.tensor."
            missing = [n for n in doc["tensors"] if prefix + n not in self.arrays]
            if missing:
                raise _Refused(f"{key} names the missing tensor {missing[0]!r}.")
            arrays = {name: self.arrays[prefix + name] for name in doc["tensors"]}
            _restore_network(est, state, arrays, key)
            return est
        allowed = _FITTED_ATTRIBUTES.get(doc["class"], set())
        for attr, value in doc.get("fitted", {}).items():
            if attr not in allowed:
                raise _Refused(
                    f"{key}.fitted holds {attr!r}, which is no fitted attribute "
                    f"of {cls.__name__}."
                )
            setattr(est, attr, self._field(value, f"{key}.fitted.{attr}",
                                           depth + 1, attr in holds))
        if doc["class"] in _MODEL_CHECKS and doc.get("fitted"):
            _MODEL_CHECKS[doc["class"]](est, key)
        return est

    def _field(self, value, key: str, depth: int, estimator: bool):
        """Decode a value, or an estimator (or None) where the field holds one."""
        if not estimator:
            return self.value(value, key, depth)
        if value is None:
            return None
        if not (isinstance(value, dict) and ("class" in value or "steps" in value)):
            raise _Refused(f"{key} holds {str(value)[:80]!r}, not an estimator.")
        est = self.estimator(value, key, depth)
        if not hasattr(est, "fit") or not hasattr(est, "predict_proba"):
            raise _Refused(
                f"{key} builds a {type(est).__name__}, which is no classifier."
            )
        return est

    def _pipeline(self, cls: type, doc: dict, key: str, depth: int):
        params = doc.get("params", {})
        if set(params) - {"memory", "verbose"} or params.get("memory") is not None:
            raise _Refused(
                f"{key}.params is {params!r}; a pipeline in a model file takes "
                "memory=None and verbose only."
            )
        steps = []
        for item in doc["steps"]:
            if not (isinstance(item, list) and len(item) == 2
                    and isinstance(item[0], str)):
                raise _Refused(f"{key}.steps holds {str(item)[:80]!r}, not a "
                               "[name, step] pair.")
            name, step = item
            if not (isinstance(step, str) or step is None):
                step = self.estimator(step, f"{key}.{name}", depth + 1)
            steps.append((name, step))
        return cls(steps, **params)


def save_model(model, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """Save a fitted pipeline or estimator to a portable, code-free file.

    The file is a single ``safetensors`` file: numeric arrays as tensors and
    a JSON description (classes, parameters, small fitted attributes,
    versions) in its header. It is written atomically: a crash never leaves
    a half-written file at ``path``.

    Parameters
    ----------
    model : Pipeline or estimator
        A pipeline made of this package's estimators (for example from
        :func:`~sklearn_leukemia.make_leukemia_pipeline`), one of them, or a
        :class:`~sklearn_leukemia.patient.PatientClassifier` (whose second
        stage may be scikit-learn's ``LogisticRegression``, its default).
    path : str or path-like
        Where to write; the conventional suffix is ``.slk``.
    metadata : dict, default=None
        Facts about the model to keep beside it, such as how to read its
        answer (``sklearn-leukemia train --fit-classes`` records the
        positive classes here): a dict with string keys and JSON values
        (strings, numbers, booleans, None, lists and dicts of them).
        ``load_model(path, return_metadata=True)`` returns it. The model
        itself never reads it.

    Returns
    -------
    path : Path
        The path written.

    Raises
    ------
    TypeError
        If the pipeline holds a step or a parameter value that the portable
        format cannot describe (use ``joblib.dump`` for those), or if
        ``metadata`` is not a dict of string keys and JSON values.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia import load_model, save_model
    >>> from sklearn_leukemia.preprocessing import IntensityNormalizer
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), np.uint8)
    >>> norm = IntensityNormalizer(method="standard").fit(X)
    >>> import tempfile, os
    >>> path = save_model(norm, os.path.join(tempfile.mkdtemp(), "norm.slk"))
    >>> np.allclose(load_model(path).transform(X), norm.transform(X))
    True
    >>> path = save_model(norm, path, metadata={"site": "lab 2"})
    >>> load_model(path, return_metadata=True)[1]
    {'site': 'lab 2'}
    """
    from safetensors.numpy import save_file

    from sklearn_leukemia.io import atomic_path

    metadata = _check_metadata(metadata)
    encoder = _Encoder(_allowed_classes())
    doc = encoder.estimator(model, "model")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": sklearn_leukemia.__version__,
        "model": doc,
    }
    if metadata:
        # An optional key: files without it, and readers that do not know
        # it, stay compatible, so the format version is unchanged.
        header["metadata"] = metadata
    with atomic_path(path) as tmp:
        save_file(encoder.arrays, tmp, metadata={_META_KEY: json.dumps(header)})
    return Path(path)


def _check_metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(
            f"metadata must be a dict, got {type(metadata).__name__}."
        )

    def check(value, where):
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"metadata{where} has the key {key!r}; keys must be "
                        "strings."
                    )
                check(item, f"{where}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            for k, item in enumerate(value):
                check(item, f"{where}[{k}]")
        elif isinstance(value, float) and not np.isfinite(value):
            raise TypeError(f"metadata{where} is {value!r}, which JSON cannot hold.")
        elif value is not None and not isinstance(value, (str, bool, int, float)):
            raise TypeError(
                f"metadata{where} is a {type(value).__name__}; expected strings, "
                "numbers, booleans, None, lists or dicts of them."
            )

    check(metadata, "")
    # Through JSON and back: what load_model returns, tuples as lists.
    return json.loads(json.dumps(metadata))


def load_model(path: str | os.PathLike, *, return_metadata: bool = False):
    """Load a model saved by :func:`save_model`, running no code from the file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    return_metadata : bool, default=False
        Also return the ``metadata`` given to :func:`save_model` (an empty
        dict when none was).

    Returns
    -------
    model : Pipeline or estimator
        The fitted pipeline or estimator, ready to ``predict``. Network
        weights are loaded on the CPU; a model trained on a GPU predicts on a
        CPU-only machine.
    metadata : dict
        Only with ``return_metadata=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a sklearn-leukemia model, was written by an
        incompatible version of the format, or names a class outside this
        package.

    Examples
    --------
    See :func:`save_model`.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a sklearn-leukemia model file ({exc})."
        ) from exc
    try:
        header = json.loads(metadata[_META_KEY])
    except RecursionError:
        raise ValueError(
            f"refusing to load {str(path)!r}: its description is nested too "
            "deeply to be a sklearn-leukemia model."
        ) from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{str(path)!r} is a safetensors file but not a sklearn-leukemia "
            "model (no model description in its header)."
        ) from exc
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not a sklearn-leukemia model file.")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written by sklearn-leukemia "
            f"{header.get('library_version', '?')} in model format {version}; "
            f"this sklearn-leukemia {sklearn_leukemia.__version__} reads format "
            f"{FORMAT_VERSION} only. Load it with the version that wrote it "
            "and save it again, or retrain."
        )
    try:
        model = _Decoder(_allowed_classes(), arrays).estimator(header["model"], "model")
    except _Refused as exc:
        raise ValueError(f"refusing to load {str(path)!r}: {exc}") from None
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(
            f"refusing to load {str(path)!r}: its description is malformed "
            f"({type(exc).__name__}: {exc})."
        ) from None
    if not return_metadata:
        return model
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(
            f"{str(path)!r} holds metadata that is not a dict "
            f"({type(metadata).__name__})."
        )
    return model, metadata
