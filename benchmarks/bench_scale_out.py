"""Scale-out: a search on a Dask cluster, a data-parallel fit, an archive predicted.

Three measurements, each printed as a table (ratios measured side by side
in one run, on one machine):

1. ``search``: the same ``GridSearchCV`` of a small SECNNClassifier (each
   fit ``n_threads=1``) on loky (``n_jobs=2``) and on a 2-worker Dask
   ``LocalCluster`` (processes, 1 thread each) through
   :func:`sklearn_leukemia.utils.dask_parallel_config`: are the
   ``cv_results_`` scores equal, and how long each took. The cluster's
   start is timed apart from the search.
2. ``fit``: ``sklearn-leukemia train`` of synthetic smears (``--n-samples``
   of :func:`~sklearn_leukemia.datasets.make_blood_smear`) in one process,
   and under ``accelerate launch --multi_gpu --num_processes 2`` on the CPU
   (gloo); both models scored on the same held-out synthetic images, with
   the training throughput of each process.
3. ``predict``: ``sklearn-leukemia predict`` of folders of N small
   synthetic PNG files (5,000 and 50,000 by default), each run in a child
   process whose peak RSS is read from ``wait4``; images per second at the
   model's image size (96 px by default).

Examples::

    python benchmarks/bench_scale_out.py --json benchmarks/results/scale_out.json
    python benchmarks/bench_scale_out.py --parts predict --n-files 5000 50000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import command_line, environment, environment_lines, text_table, write_json

CLI = [sys.executable, "-m", "sklearn_leukemia.cli"]


def _child_run(argv, env=None) -> tuple[float, float, str]:
    """Run ``argv``; return its wall seconds, peak RSS (MiB) and stderr."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                 env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{text[-3000:]}")
    return wall, usage.ru_maxrss / 1024, text


def bench_search(args) -> dict:
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sklearn_leukemia import SECNNClassifier
    from sklearn_leukemia.datasets import make_blood_smear
    from sklearn_leukemia.utils import dask_parallel_config

    X, y, _ = make_blood_smear(args.search_samples, image_size=32,
                               classes=("normal", "ALL"), random_state=0)
    net = SECNNClassifier(max_epochs=args.search_epochs, batch_size=16,
                          module__width=8, tta=None, random_state=0, n_threads=1)
    grid = {"lr": [1e-2, 3e-3], "mixup": [0.0, 0.2]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    results, times = {}, {}
    search = GridSearchCV(net, grid, cv=cv, scoring="accuracy", refit=False)
    start = time.perf_counter()
    with joblib.parallel_config(backend="loky", n_jobs=2):
        search.fit(X, y)
    times["loky"] = time.perf_counter() - start
    results["loky"] = search.cv_results_
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        times["cluster start"] = time.perf_counter() - start
        search = GridSearchCV(net, grid, cv=cv, scoring="accuracy", refit=False)
        start = time.perf_counter()
        with dask_parallel_config(client):
            search.fit(X, y)
        times["dask"] = time.perf_counter() - start
    results["dask"] = search.cv_results_
    keys = [k for k in results["loky"]
            if k.startswith("split") or k == "mean_test_score"]
    equal = all(np.array_equal(results["loky"][k], results["dask"][k]) for k in keys)
    n_fits = len(search.cv_results_["params"]) * cv.get_n_splits()
    rows = [
        ["loky, n_jobs=2", f"{times['loky']:.1f}", "1.00", "",
         f"{np.mean(results['loky']['mean_test_score']):.4f}"],
        ["Dask LocalCluster, 2 x 1 thread", f"{times['dask']:.1f}",
         f"{times['dask'] / times['loky']:.2f}", f"{times['cluster start']:.1f}",
         f"{np.mean(results['dask']['mean_test_score']):.4f}"],
    ]
    print(f"\nGridSearchCV: {len(grid['lr']) * len(grid['mixup'])} candidates x 3 "
          f"folds = {n_fits} fits of {args.search_epochs} epochs on "
          f"{args.search_samples} images of 32 px")
    print(text_table(["backend", "search s", "/ loky", "cluster start s",
                      "mean accuracy"], rows))
    print(f"cv_results_ scores equal on both backends: {equal}")
    return {"times": times, "equal_scores": equal, "n_fits": n_fits,
            "mean_test_score": {k: results[k]["mean_test_score"].tolist()
                                for k in results}}


def _write_smears(folder: Path, X, y) -> None:
    from PIL import Image

    for label in np.unique(y):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(X, y)):
        Image.fromarray(image).save(folder / label / f"{label}_{i:06d}.png")


def bench_fit(args, work: Path) -> dict:
    from sklearn_leukemia import load_model
    from sklearn_leukemia.datasets import make_blood_smear

    X, y, _ = make_blood_smear(args.fit_samples + 400, image_size=64,
                               classes=("normal", "ALL"), random_state=1)
    train_dir = work / "fit-train"
    _write_smears(train_dir, X[:-400], y[:-400])
    X_test, y_test = X[-400:], y[-400:]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ACCELERATE_", "WORLD_SIZE", "RANK", "LOCAL_RANK"))}
    accelerate = Path(sys.executable).with_name("accelerate")
    rows, out = [], {}
    for seed in args.fit_seeds:
        options = ["--positive-classes", "ALL", "--image-size", "64", "--epochs",
                   str(args.fit_epochs), "--batch-size", "32", "--random-state",
                   str(seed)]
        runs = {
            "1 process": [*CLI, "train", str(train_dir), *options],
            "2 processes (accelerate, gloo)": [
                str(accelerate), "launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no",
                "--dynamo_backend", "no", "-m", "sklearn_leukemia.cli", "train",
                str(train_dir), *options],
        }
        for name, argv in runs.items():
            path = work / f"{name.split()[0]}.slk"
            wall, rss, _ = _child_run([*argv, "--out", str(path)], env=env)
            model = load_model(path)
            accuracy = float(np.mean(model[1:].predict(X_test) == y_test))
            n_proc = int(name.split()[0])
            per_process = args.fit_samples * args.fit_epochs / n_proc / wall
            out[f"{name}, seed {seed}"] = {
                "wall_s": wall, "accuracy": accuracy,
                "images_per_s_per_process": per_process}
            rows.append([name, str(seed), f"{wall:.1f}", f"{accuracy:.2%}",
                         f"{per_process:.1f}"])
    for name in runs:
        mean = np.mean([v["accuracy"] for k, v in out.items()
                        if k.startswith(name + ",")])
        rows.append([name, "mean", "", f"{mean:.2%}", ""])
    print(f"\nData-parallel fit: train on {args.fit_samples} synthetic smears "
          f"(64 px, {args.fit_epochs} epochs, batch 32), accuracy on 400 held out")
    print(text_table(["run", "seed", "wall s", "accuracy", "images/s per process"],
                     rows))
    return out


def bench_predict(args, work: Path) -> dict:
    from PIL import Image

    from sklearn_leukemia.datasets import make_blood_smear

    X, y, _ = make_blood_smear(64, image_size=args.predict_size,
                               classes=("normal", "ALL"), random_state=2)
    train_dir = work / "predict-train"
    _write_smears(train_dir, X, y)
    model = work / "predict.slk"
    _child_run([*CLI, "train", str(train_dir), "--positive-classes", "ALL",
                "--image-size", str(args.predict_size), "--epochs", "1",
                "--width", str(args.predict_width), "--out", str(model)])
    pool, _, _ = make_blood_smear(256, image_size=args.predict_size,
                                  classes=("normal", "ALL"), random_state=3)
    rows, out = [], {}
    folder = work / "archive"
    folder.mkdir()
    written = 0
    for n_files in sorted(args.n_files):
        # The folder grows to each size: its files are written once.
        for i in range(written, n_files):
            Image.fromarray(pool[i % len(pool)]).save(folder / f"cell_{i:06d}.png")
        written = n_files
        csv = work / f"predictions_{n_files}.csv"
        wall, rss, _ = _child_run([*CLI, "predict", str(model), str(folder),
                                   "--output", str(csv)])
        with csv.open() as handle:
            n_rows = sum(1 for _ in handle) - 1
        assert n_rows == n_files, (n_rows, n_files)
        out[n_files] = {"wall_s": wall, "peak_rss_mib": rss,
                        "images_per_s": n_files / wall}
        rows.append([f"{n_files:,}", f"{rss:.0f}", f"{wall:.1f}",
                     f"{n_files / wall:.0f}"])
    print(f"\npredict: PNG files of {args.predict_size} px, model of width "
          f"{args.predict_width} (default test-time views), one child process "
          "each")
    print(text_table(["files", "peak RSS MiB", "wall s", "images/s"], rows))
    sizes = sorted(out)
    growth = out[sizes[-1]]["peak_rss_mib"] - out[sizes[0]]["peak_rss_mib"]
    print(f"peak RSS growth from {sizes[0]:,} to {sizes[-1]:,} files: "
          f"{growth:+.0f} MiB")
    return {"runs": out, "rss_growth_mib": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["search", "fit", "predict"],
                        choices=["search", "fit", "predict"])
    parser.add_argument("--search-samples", type=int, default=240)
    parser.add_argument("--search-epochs", type=int, default=4)
    parser.add_argument("--fit-samples", type=int, default=1200)
    parser.add_argument("--fit-epochs", type=int, default=10)
    parser.add_argument("--fit-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-files", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--predict-size", type=int, default=96)
    parser.add_argument("--predict-width", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    env = environment()
    print("\n".join(environment_lines(env)))
    payload = {"command": command_line(), "environment": env}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "search" in args.parts:
            payload["search"] = bench_search(args)
        if "fit" in args.parts:
            payload["fit"] = bench_fit(args, work)
        if "predict" in args.parts:
            payload["predict"] = bench_predict(args, work)
    if args.json is not None:
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
