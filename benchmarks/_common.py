"""Shared code of ``bench_real_data.py`` and ``bench_ablation.py``.

Data loading per task, the cross-validation loop that collects out-of-fold
predictions and probabilities with the fit seconds and the peak memory of
every fold (each fold runs in a fresh forked child process), the pipeline
"defaults" under test, environment information, and the text, JSON,
Markdown and reST writers, and the per-image predictions CSV.
"""

from __future__ import annotations

import ast
import concurrent.futures
import csv
import datetime as _dt
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

# Each fold runs in a forked child: the parent must not initialise CUDA, so
# torch.cuda.is_available() asks NVML instead of creating a CUDA context.
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
RST_DIR = REPO_ROOT / "docs" / "benchmark_results"

# Tasks: data folder, positive class folders (binary task) or None.
TASKS = {
    "taleqani-binary": {
        "folder": "all-taleqani",
        "positive_classes": ["Early", "Pre", "Pro"],
        "binary_names": ("benign", "leukemia"),
        "description": "all-taleqani, Benign (negative) vs Early+Pre+Pro B-ALL "
        "(positive: leukemia)",
    },
    "taleqani-4class": {
        "folder": "all-taleqani",
        "positive_classes": None,
        "description": "all-taleqani, Benign / Early / Pre / Pro",
    },
    # The binary task answered by a model of the four classes: fitted on the
    # class folders, scored with clinical_report(positive_classes=...). Its
    # folds are those of taleqani-4class, whose fits it reuses in one run.
    "taleqani-binary-subtypes": {
        "folder": "all-taleqani",
        "positive_classes": ["Early", "Pre", "Pro"],
        "fit_on_classes": True,
        "description": "all-taleqani, Benign vs Early+Pre+Pro read from a "
        "model fitted on the four classes",
    },
    "pbc-8class": {
        "folder": "pbc-normal",
        "positive_classes": None,
        "description": "pbc-normal, eight normal blood cell types",
    },
}

TABLE_METRICS = [
    ("accuracy", "Accuracy", True),
    ("precision", "Precision", True),
    ("recall", "Recall (sens.)", True),
    ("f1", "F1", False),
    ("specificity", "Specificity", True),
    ("roc_auc", "AUC-ROC", False),
    ("false_positive_rate", "FPR", True),
    ("false_negative_rate", "FNR", True),
]


def default_data_dir() -> Path:
    """``$SKLEARN_LEUKEMIA_DATA``, else ``shared/data`` beside the checkout."""
    env = os.environ.get("SKLEARN_LEUKEMIA_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------
# Command line helpers
# --------------------------------------------------------------------------


def parse_param(text: str) -> tuple[str, object]:
    """Parse ``name=value`` with a Python literal value (strings may be bare)."""
    if "=" not in text:
        raise SystemExit(f"--param {text!r}: expected name=value, e.g. lr=0.003")
    name, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def add_common_arguments(parser) -> None:
    """Flags shared by both benchmarks."""
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--max-per-class",
        type=int,
        default=None,
        help="subsample at most N images per class folder (quick runs)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override")
    parser.add_argument("--image-size", type=int, default=None, help="override")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override any make_leukemia_pipeline argument (repeatable)",
    )
    parser.add_argument(
        "--n-threads",
        type=int,
        default=None,
        help="torch threads of the classifier (its n_threads; default: the "
        "library's choice). A run-time setting, not part of the recipe.",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-bootstraps", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        default=None,
        metavar="JSON",
        help="do not run: merge the JSON results of earlier runs with the same "
        "settings (e.g. tasks run in parallel processes) and write the tables",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--predictions",
        type=Path,
        default=None,
        metavar="CSV",
        help="also write every image's out-of-fold prediction (task, setting, "
        "file relative to the data folder, fold, label, predicted label, class "
        "probabilities), rewritten after each task",
    )
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--rst", type=Path, default=None)


def pipeline_kwargs(args) -> tuple[dict, dict, dict]:
    """Return (all kwargs, overrides of the library defaults) from the flags."""
    overrides = {}
    if args.epochs is not None:
        overrides["max_epochs"] = args.epochs
    if args.image_size is not None:
        overrides["image_size"] = args.image_size
    overrides.update(parse_param(p) for p in args.param)
    runtime = {} if args.n_threads is None else {"n_threads": args.n_threads}
    return {**overrides, **runtime}, overrides


def library_default(name: str):
    """The current library default of a pipeline or classifier argument."""
    import inspect

    from sklearn_leukemia import SECNNClassifier, make_leukemia_pipeline

    for func in (make_leukemia_pipeline, SECNNClassifier):
        param = inspect.signature(func).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return inspect.Parameter.empty


def describe_settings(overrides: dict, args) -> list[str]:
    """Lines saying exactly what is measured."""
    lines = []
    if overrides:
        lines.append(
            "OVERRIDES IN EFFECT (not the defaults; quick/exploratory run): "
            f"{fmt_kwargs(overrides)}"
        )
    if args.max_per_class:
        lines.append(
            f"SUBSAMPLED: at most {args.max_per_class} images per class folder"
        )
    if args.n_threads is not None:
        lines.append(f"Run-time setting: classifier n_threads={args.n_threads}")
    if not overrides:
        lines.append("Pipeline: make_leukemia_pipeline(random_state=...) defaults")
    return lines


def fmt_kwargs(kwargs: dict) -> str:
    # One line each: a long estimator repr (a policy object) wraps.
    text = ", ".join(f"{k}={' '.join(repr(v).split())}" for k, v in kwargs.items())
    return text or "(none)"


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def load_task(name: str, data_dir: Path, *, max_per_class=None, random_state=0):
    """File names and string labels of a task, optionally subsampled.

    Returns a dict with ``filenames``, ``y`` (str labels, what the model
    fits and the folds stratify on), ``labels`` (sorted), ``pos_label``
    (binary task), ``merge`` (the positive classes of a binary task scored on
    a model of the class folders, else None) and ``class_names`` (source
    folder per image).
    """
    from sklearn_leukemia.datasets import load_image_folder

    spec = TASKS[name]
    root = Path(data_dir) / spec["folder"]
    if not root.is_dir():
        raise SystemExit(
            f"{root} not found: set SKLEARN_LEUKEMIA_DATA or --data-dir to the "
            "folder holding all-taleqani/ and pbc-normal/."
        )
    kwargs = {}
    merge = spec["positive_classes"] if spec.get("fit_on_classes") else None
    if spec["positive_classes"] and not merge:
        kwargs = {
            "positive_classes": spec["positive_classes"],
            "binary_names": spec["binary_names"],
        }
    bunch = load_image_folder(root, **kwargs)
    filenames = np.asarray(bunch.filenames)
    y = np.asarray(bunch.target_names)[bunch.target].astype(str)
    folders = np.asarray(bunch.class_names)
    if folders.shape != y.shape:  # class_names lists folders, not per image
        folders = y
    if max_per_class:
        rng = np.random.default_rng(random_state)
        keep = []
        for folder in np.unique(folders):
            idx = np.flatnonzero(folders == folder)
            keep.extend(rng.permutation(idx)[:max_per_class])
        keep = np.sort(np.asarray(keep))
        filenames, y, folders = filenames[keep], y[keep], folders[keep]
    pos_label = None
    if spec["positive_classes"] and not merge:
        pos_label = spec["binary_names"][1]
    return {
        "name": name,
        "folder": spec["folder"],
        "description": spec["description"],
        "filenames": filenames,
        "y": y,
        "labels": np.unique(y),
        "pos_label": pos_label,
        "merge": merge,
        "class_names": folders,
    }


def load_task_images(name: str, args, kwargs: dict):
    """Load a task, make its folds and read its images at the folds' size.

    Prints the task's header and the reading time. Returns ``(task, splits,
    X)``: what a benchmark running the pipeline ``kwargs`` on every fold of
    the task needs.
    """
    task = load_task(
        name,
        args.data_dir,
        max_per_class=args.max_per_class,
        random_state=args.random_state,
    )
    print(f"\n== {name}: {task['description']}; {len(task['y'])} images ==")
    splits = make_splits(task["y"], args.folds, args.random_state)
    t0 = time.perf_counter()
    X = read_task_images(task["filenames"], read_size(recipe_kwargs(kwargs, task)))
    print(f"    read {X.shape} in {time.perf_counter() - t0:.1f} s")
    return task, splits, X


_IMAGE_CACHE: dict = {}


def read_size(kwargs: dict) -> int:
    """Return the side the folds' pipelines read at.

    ``image_size`` of ``make_leukemia_pipeline(**kwargs)`` (the recipe's for
    ``kwargs["n_images"]``), so that the images read once here pass each
    fold's ``read`` step unchanged.
    """
    from sklearn_leukemia import make_leukemia_pipeline

    return make_leukemia_pipeline(**kwargs)[0].image_size


def recipe_kwargs(kwargs: dict, task: dict) -> dict:
    """``kwargs`` with the recipe of the whole task (``n_images``), unless given.

    Every fold then trains what a fit on the whole task would, as the
    command line's ``evaluate`` does.
    """
    return {"n_images": len(task["y"]), **kwargs}


def read_task_images(filenames, image_size: int) -> np.ndarray:
    """Read and resize once per (files, size); the pipeline's ``read`` step
    passes arrays through, so each fold does not decode the JPEGs again."""
    from sklearn_leukemia.preprocessing import read_images

    key = (tuple(filenames), image_size)
    if key not in _IMAGE_CACHE:
        _IMAGE_CACHE.clear()
        _IMAGE_CACHE[key] = read_images(list(filenames), image_size=image_size)
    return _IMAGE_CACHE[key]


# --------------------------------------------------------------------------
# Cross-validation, one forked child process per fold
# --------------------------------------------------------------------------

# Set by the parent before each fork; the child inherits it, so the images
# are never pickled.
_FOLD_STATE: dict = {}


def policy_name(policy) -> str | None:
    """Return the preset name of a fitted augmentation policy, else its repr."""
    if policy is None:
        return None
    return policy.preset_name() or repr(policy)


def _max_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _fit_fold(fold: int) -> dict:
    import torch

    state = _FOLD_STATE
    X, y = state["X"], state["y"]
    train, test = state["splits"][fold]
    model = state["make_model"]()
    start = time.perf_counter()
    model.fit(X[train], y[train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    proba = model.predict_proba(X[test])
    predict_seconds = time.perf_counter() - start
    # Prediction-time settings compared on the very same fitted model.
    also = {}
    current = model.get_params() if state.get("predict_variants") else {}
    for name, params in state.get("predict_variants", {}).items():
        original = {k: current[k] for k in params}
        model.set_params(**params)
        start = time.perf_counter()
        also[name] = {
            "proba": model.predict_proba(X[test]),
            "predict_seconds": time.perf_counter() - start,
        }
        model.set_params(**original)
    classes = model.classes_
    clf = final_classifier(model)
    device = str(getattr(clf, "device_", "cpu"))
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else None
    history = getattr(clf, "history_", None)
    return {
        "fold": fold,
        "proba": proba,
        "classes": np.asarray(classes),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "peak_rss_mb": _max_rss_mb(),
        # The classifier's own threads (its n_threads_), not the process's.
        "torch_threads": getattr(clf, "n_threads_", torch.get_num_threads()),
        "device": device,
        "gpu": gpu,
        "epochs_run": len(history) if history is not None else None,
        # The augmentation this fold trained with (None without one).
        "augment": policy_name(getattr(clf, "augmentation_", None)),
        "predict_variants": also,
    }


def final_classifier(model):
    """The classifier of a fitted pipeline, or of the first member of a vote."""
    if hasattr(model, "estimators_"):
        model = model.estimators_[0]
    return model[-1] if hasattr(model, "steps") else model


def run_in_child(func, *args):
    """Run ``func(*args)`` in a fresh forked process and return its result.

    A new one-worker pool per call gives each call its own process (Python
    refuses ``max_tasks_per_child`` with ``fork``), so ``ru_maxrss`` is that
    call's peak.
    """
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("fork")
    ) as pool:
        return pool.submit(func, *args).result()


def cross_validate(
    make_model, X, y, splits, *, predict_variants=None, fork=True, log=print
) -> dict:
    """Out-of-fold probabilities and per-fold cost of ``make_model()``.

    ``make_model`` returns an unfitted estimator; each fold fits and predicts
    in a fresh forked child (unless ``fork=False``), whose process peak RSS
    (``ru_maxrss``) is recorded. ``predict_variants`` maps names to
    ``set_params`` arguments that only matter at prediction (e.g.
    ``{"classifier__tta": None}``): each fold's fitted model also predicts
    with each of them, and ``result["predict_variants"][name]`` holds the
    same keys as the result for those predictions.
    """
    _FOLD_STATE.update(
        X=X, y=y, splits=splits, make_model=make_model,
        predict_variants=predict_variants or {},
    )
    folds = []
    try:
        for k in range(len(splits)):
            result = run_in_child(_fit_fold, k) if fork else _fit_fold(k)
            folds.append(result)
            log(
                f"    fold {k + 1}/{len(splits)}: fit {result['fit_seconds']:.1f} s, "
                f"predict {result['predict_seconds']:.1f} s, peak RSS "
                f"{result['peak_rss_mb']:.0f} MiB, device {result['device']}, "
                f"augment {result['augment']}"
            )
    finally:
        _FOLD_STATE.clear()
    classes = folds[0]["classes"]
    for result in folds:
        if not np.array_equal(result["classes"], classes):
            raise RuntimeError("classes differ between folds")

    def pooled(get):
        proba = np.zeros((len(y), len(classes)))
        for (_, test), result in zip(splits, folds):
            proba[test] = get(result)["proba"]
        return {"classes": classes, "proba": proba, "pred": classes[proba.argmax(1)]}

    def fold_costs(get):
        return [
            {
                **{k: v for k, v in f.items() if k not in _PER_PREDICTION},
                "predict_seconds": get(f)["predict_seconds"],
            }
            for f in folds
        ]

    def own(f):
        return f

    out = {**pooled(own), "folds": fold_costs(own), "predict_variants": {}}
    for name in predict_variants or {}:

        def get(f, name=name):
            return f["predict_variants"][name]

        out["predict_variants"][name] = {**pooled(get), "folds": fold_costs(get)}
    return out


_PER_PREDICTION = ("proba", "classes", "predict_variants", "predict_seconds")


_CV_RESULTS: dict = {}


def cross_validate_once(setting: str, task: dict, make_model, X, splits, **kwargs):
    """:func:`cross_validate`, or the result of an earlier call of this run.

    Tasks on the same folder with the same labels (``taleqani-4class`` and
    ``taleqani-binary-subtypes``) have the same folds and the same fits:
    they differ only in how the predictions are scored.
    """
    tests = np.concatenate([test for _, test in splits])
    key = (setting, task["folder"], task["y"].tobytes(), tests.tobytes(),
           repr(kwargs))
    if key not in _CV_RESULTS:
        _CV_RESULTS[key] = cross_validate(make_model, X, task["y"], splits, **kwargs)
    else:
        print("    the fits of an earlier task with the same images and labels")
    return _CV_RESULTS[key]


def prediction_rows(task: dict, splits, setting: str, cv: dict, data_dir) -> list:
    """One row per image of a task: its out-of-fold prediction by ``setting``."""
    fold = np.empty(len(task["y"]), dtype=int)
    for k, (_, test) in enumerate(splits):
        fold[test] = k
    classes = [str(c) for c in cv["classes"]]
    rows = []
    for i, filename in enumerate(task["filenames"]):
        row = {
            "task": task["name"],
            "setting": setting,
            "file": os.path.relpath(filename, data_dir),
            "fold": int(fold[i]),
            "label": str(task["y"][i]),
            "predicted": str(cv["pred"][i]),
        }
        row.update(
            {f"p_{c}": f"{p:.6g}" for c, p in zip(classes, cv["proba"][i])}
        )
        rows.append(row)
    return rows


def write_predictions(path: Path, rows: list) -> None:
    """Write :func:`prediction_rows` rows as CSV (the union of their columns)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} predictions)")


def make_splits(y, n_folds: int, random_state: int):
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return list(cv.split(np.zeros(len(y)), y))


def score(task: dict, cv: dict, *, n_bootstraps: int, random_state: int) -> dict:
    """Clinical report of the pooled out-of-fold predictions, as a dict."""
    from sklearn_leukemia.metrics import clinical_report

    y = task["y"]
    classes = cv["classes"]
    if task["merge"]:
        return clinical_report(
            y,
            cv["pred"],
            cv["proba"],
            labels=list(classes),
            positive_classes=task["merge"],
            n_bootstraps=n_bootstraps,
            random_state=random_state,
        )
    if task["pos_label"] is not None:
        y_score = cv["proba"][:, list(classes).index(task["pos_label"])]
    else:
        y_score = cv["proba"]
    report = clinical_report(
        y,
        cv["pred"],
        y_score,
        labels=list(classes),
        pos_label=task["pos_label"],
        n_bootstraps=n_bootstraps,
        random_state=random_state,
    )
    return report


def training_threads(payload: dict, fold: dict) -> int:
    """Torch threads the classifier trained with.

    ``--n-threads`` when it was given; else what the fold recorded.
    """
    return payload["pipeline_kwargs"].get("n_threads", fold["torch_threads"])


def fold_summary(folds: list[dict]) -> dict:
    fit = np.array([f["fit_seconds"] for f in folds])
    predict = np.array([f["predict_seconds"] for f in folds])
    rss = np.array([f["peak_rss_mb"] for f in folds])
    return {
        "fit_seconds_mean": float(fit.mean()),
        "fit_seconds_max": float(fit.max()),
        "predict_seconds_mean": float(predict.mean()),
        "peak_rss_mb_max": float(rss.max()),
        "device": folds[0]["device"],
        "gpu": folds[0]["gpu"],
        "torch_threads": folds[0]["torch_threads"],
        "epochs_run": folds[0]["epochs_run"],
    }


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------


def environment() -> dict:
    """Date, machine and versions, without initialising CUDA in this process."""
    import imblearn
    import sklearn
    import skorch
    import torch

    import sklearn_leukemia

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores_available": cores,
        "cpu_count": os.cpu_count(),
        "ram_gb": ram_gb,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "python": platform.python_version(),
        "versions": {
            "sklearn_leukemia": sklearn_leukemia.__version__,
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "imbalanced-learn": imblearn.__version__,
            "skorch": skorch.__version__,
            "numpy": np.__version__,
        },
    }


def environment_lines(env: dict) -> list[str]:
    v = env["versions"]
    return [
        f"Date (UTC): {env['date_utc']}",
        f"Machine: {env['cpu']}, {env['cores_available']} cores available "
        f"({env['cpu_count']} in the machine), {env['ram_gb']} GiB RAM, "
        f"torch threads {env['torch_threads']}, CUDA available: "
        f"{env['cuda_available']}",
        "Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + f", Python {env['python']}",
    ]


# --------------------------------------------------------------------------
# Tables and writers
# --------------------------------------------------------------------------


def fmt_metric(value, low=None, high=None, percent=True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if percent:
        text = f"{100 * value:.2f}%"
        ci = f" [{100 * low:.2f}, {100 * high:.2f}]" if low is not None else ""
    else:
        text = f"{value:.4f}"
        ci = f" [{low:.4f}, {high:.4f}]" if low is not None else ""
    return text + ci


def grid_rst(header: list[str], rows: list[list[str]]) -> str:
    """A reST grid table."""
    table = [header, *rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    head = "+" + "+".join("=" * (w + 2) for w in widths) + "+"

    def line(row):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |"

    out = [sep, line(header), head]
    for row in rows:
        out += [line(row), sep]
    return "\n".join(out)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    table = [header, *rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_payloads(paths) -> tuple[list[dict], dict]:
    """The JSON results of earlier runs, checked to share their settings."""
    payloads = [json.loads(Path(p).read_text()) for p in paths]

    def recipe(payload):
        # n_threads is a run-time setting (--n-threads), not part of the recipe.
        kwargs = dict(payload["pipeline_kwargs"])
        kwargs.pop("n_threads", None)
        return {**payload, "pipeline_kwargs": kwargs}

    keys = ("pipeline_kwargs", "folds", "max_per_class", "random_state")
    first = recipe(payloads[0])
    for other in map(recipe, payloads[1:]):
        for key in keys:
            if other[key] != first[key]:
                raise SystemExit(
                    f"--combine: {key} differs between runs: "
                    f"{first[key]!r} != {other[key]!r}"
                )
    merged = dict(payloads[0])
    merged["command"] = " ; ".join(p["command"] for p in payloads)
    # The runs' dates, first to last, rather than the first run's alone (a
    # merged run's date is already a range: "first to last").
    dates = sorted(
        date for p in payloads for date in p["environment"]["date_utc"].split(" to ")
    )
    if dates[0] != dates[-1]:
        env = dict(merged["environment"])
        env["date_utc"] = f"{dates[0]} to {dates[-1]}"
        merged["environment"] = env
    return payloads, merged


def write_json(path: Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    print(f"wrote {path}")


def write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    print(f"wrote {path}")


def write_outputs(payload: dict, args, name: str, document) -> None:
    """Write the JSON (``--json`` or ``results/NAME.json``), and ``--markdown``
    and ``--rst`` when asked, ``document(payload, kind)`` making their text."""
    write_json(args.json or RESULTS_DIR / f"{name}.json", payload)
    for kind, path in (("markdown", args.markdown), ("rst", args.rst)):
        if path:
            write_text(path, document(payload, kind))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    return f"python benchmarks/{Path(sys.argv[0]).name} {args}".strip()
