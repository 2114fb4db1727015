"""Training and inference speed of SECNNClassifier against a plain torch loop.

On the same synthetic images, with the same network, optimizer (AdamW),
learning-rate schedule (warm-up + cosine, stepped every batch), mixed
precision settings (``--mixed-precision``: the classifier's parameter, one
case per value, so ``false true`` compares float32 with bfloat16 on a CPU),
``channels_last`` layout, batch size, epochs, optional
per-epoch augmentation on the device and data path (``--data-on-device``:
the training images copied to the device once and every batch gathered
there, or each float32 batch gathered on the host and copied over, pinned
and asynchronously on CUDA; ``auto`` decides as ``SECNNClassifier`` does),
it trains and predicts

(a) through ``SECNNClassifier`` at the end of an ``imblearn`` Pipeline;
(b) with a hand-written torch loop;
(c) with the network alone: the same training steps on one batch already on
    the device, without data loading and without reading the loss back
    (training only). It is the ceiling that no data path reaches.

The images are normalized once, before any timing, by
``IntensityNormalizer(method="standard")`` as in the default pipeline, so
that every path gets the same float32 input (the normalizer's own speed is
``bench_preprocessing.py``'s). ``--unique`` distinct synthetic smears are
drawn and repeated to ``--n`` images: the speed does not depend on the
pixels.

It prints, per image size and batch size, the wall times, the ratio
(a) / (b) (the goal is at most 1.10: the scikit-learn/skorch machinery may
cost at most 10%), the images per second, and the model-FLOP utilisation
(MFU): the network's FLOP/s divided by the matrix-multiply peak of this
machine, measured in the same run (on the CPU a float32 2048 x 2048
``torch.mm`` with the same number of threads; on CUDA an 8192 x 8192 product
in the mixed-precision dtype, bfloat16 where supported). Training FLOPs are
3 x the forward FLOPs (forward + backward), counted by
``torch.utils.flop_counter`` (``sklearn_leukemia.nn.count_flops``); only
convolutions and matrix products count, as usual for MFU.

A warm-up runs first; then ``--repeat`` rounds run (a), (b) and (c) in
turn, the order alternating, and the fastest time of each is kept, so that
the load of a shared machine hits all alike. On CUDA every timing waits for
the device to finish. Run from the repository root::

    python benchmarks/bench_training.py [--sizes 128 224] [--n 256] \\
        [--epochs 2] [--batch-size 32 [256 ...]] [--architecture se_resnet] \\
        [--device cpu|cuda|auto] [--data-on-device auto|true|false] \\
        [--augment flips] [--mixed-precision auto [true false]] \\
        [--threads 2] [--repeat 3] [--json PATH]

On a GPU, for example::

    python benchmarks/bench_training.py --device cuda --sizes 224 \\
        --n 8192 --batch-size 32 256 --architecture secnn --repeat 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sklearn_leukemia import SECNNClassifier  # noqa: E402
from sklearn_leukemia._data import batch_to_tensor  # noqa: E402
from sklearn_leukemia._runtime import amp_config, resolve_device  # noqa: E402
from sklearn_leukemia.callbacks import WarmupCosine  # noqa: E402
from sklearn_leukemia.nn import get_architecture  # noqa: E402

LR = 1e-3
WEIGHT_DECAY = 1e-4
SEED = 0
PATHS = ("classifier", "torch_loop", "network")


def make_data(n: int, size: int, unique: int):
    """``unique`` synthetic smears repeated to ``n``, normalized as by default."""
    from sklearn_leukemia.datasets import make_blood_smear
    from sklearn_leukemia.preprocessing import IntensityNormalizer

    unique = max(1, min(n, unique))
    X, y, _ = make_blood_smear(unique, image_size=size, random_state=SEED)
    repeats = math.ceil(n / unique)
    X = np.concatenate([X] * repeats)[:n]
    y = np.concatenate([y] * repeats)[:n]
    X = IntensityNormalizer(method="standard").fit_transform(X)
    return np.ascontiguousarray(X, dtype=np.float32), y


def make_policy(name):
    if name is None:
        return None
    from sklearn_leukemia.augmentation import AugmentationPolicy

    return AugmentationPolicy.preset(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------
# (a) the classifier in a pipeline
# ---------------------------------------------------------------------------


def make_pipeline(args, batch_size: int, device: torch.device):
    from imblearn.pipeline import Pipeline

    clf = SECNNClassifier(
        architecture=args.architecture,
        max_epochs=args.epochs,
        batch_size=batch_size,
        lr=LR,
        optimizer__weight_decay=WEIGHT_DECAY,
        lr_schedule="cosine",
        augmentation=make_policy(args.augment),
        tta=None,
        device=str(device),
        data_on_device=args.data_on_device,
        mixed_precision=args.mixed_precision,
        random_state=SEED,
    )
    return Pipeline([("classifier", clf)])


# ---------------------------------------------------------------------------
# (b) the hand-written loop and (c) the network alone
# ---------------------------------------------------------------------------


def _to_device_batch(images: np.ndarray, device, memory_format) -> torch.Tensor:
    x = batch_to_tensor(images)
    is_uint8 = x.dtype == torch.uint8
    if device.type == "cuda":
        x = x.pin_memory().to(device, non_blocking=True)
    else:
        x = x.to(device)
    x = x.to(dtype=torch.float32, memory_format=memory_format)
    return x.mul_(1.0 / 255.0) if is_uint8 else x


class HandLoop:
    """What one would write by hand with torch, for the same job."""

    def __init__(self, args, batch_size: int, device: torch.device):
        self.args = args
        self.batch_size = batch_size
        self.device = device
        self.memory_format = torch.channels_last
        self.amp = amp_config(args.mixed_precision, device)
        self.policy = make_policy(args.augment)

    def _setup(self, X, y):
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        torch.manual_seed(SEED)
        model = get_architecture(self.args.architecture)(
            n_classes=len(self.classes_), in_channels=X.shape[-1]
        )
        model = model.to(self.device, memory_format=self.memory_format)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY
        )
        steps = math.ceil(len(X) / self.batch_size)
        total = steps * self.args.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, WarmupCosine(total, min(steps, total // 10))
        )
        # As the classifier: the range of the images only when augmenting.
        if self.policy is not None:
            self.value_range = (float(X.min()), float(X.max()))
        return model, optimizer, scheduler, y_encoded.astype(np.int64)

    def _step(self, model, optimizer, scheduler, loss_fn, xb, yb):
        if self.policy is not None:
            from sklearn_leukemia.augmentation import augment_batch

            with torch.no_grad():
                xb = augment_batch(xb, self.policy, value_range=self.value_range)
        optimizer.zero_grad()
        with self.amp.autocast():
            logits = model(xb)
        loss = loss_fn(logits.float(), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss

    def _on_device(self, X) -> bool:
        """The classifier's ``data_on_device`` rule."""
        if self.args.data_on_device != "auto":
            return self.args.data_on_device
        if self.device.type != "cuda":
            return False
        return X.nbytes <= torch.cuda.mem_get_info(self.device)[0] // 2

    def fit(self, X, y):
        model, optimizer, scheduler, y_encoded = self._setup(X, y)
        loss_fn = torch.nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(SEED)
        n = len(X)
        X_device = torch.from_numpy(X).to(self.device) if self._on_device(X) else None
        self.losses_ = []
        for _ in range(self.args.epochs):
            model.train()
            order = torch.randperm(n, generator=generator).numpy()
            for start in range(0, n, self.batch_size):
                index = order[start : start + self.batch_size]
                if X_device is not None:
                    rows = torch.from_numpy(index).to(self.device)
                    xb = X_device.index_select(0, rows).permute(0, 3, 1, 2)
                else:
                    xb = _to_device_batch(X[index], self.device, self.memory_format)
                yb = torch.from_numpy(y_encoded[index])
                yb = yb.to(self.device, non_blocking=True)
                loss = self._step(model, optimizer, scheduler, loss_fn, xb, yb)
                self.losses_.append(loss.item())
        self.model_ = model
        return self

    def fit_resident(self, X, y):
        """(c): the same steps on one batch that stays on the device."""
        model, optimizer, scheduler, y_encoded = self._setup(X, y)
        loss_fn = torch.nn.CrossEntropyLoss()
        xb = _to_device_batch(X[: self.batch_size], self.device, self.memory_format)
        yb = torch.from_numpy(y_encoded[: self.batch_size]).to(self.device)
        n = len(X)
        model.train()
        for _ in range(self.args.epochs):
            for start in range(0, n, self.batch_size):
                rows = min(self.batch_size, n - start)
                self._step(model, optimizer, scheduler, loss_fn, xb[:rows], yb[:rows])
        self.model_ = model
        return self

    def predict_proba(self, X):
        model = self.model_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(X), self.batch_size):
                xb = _to_device_batch(
                    X[start : start + self.batch_size],
                    self.device,
                    self.memory_format,
                )
                with self.amp.autocast():
                    logits = model(xb)
                out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        return np.concatenate(out)


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


def matmul_peak(device: torch.device, dtype: torch.dtype, repeat: int = 10) -> float:
    """Best FLOP/s of a square matrix product on ``device`` in ``dtype``."""
    size = 8192 if device.type == "cuda" else 2048
    generator = torch.Generator(device=device).manual_seed(SEED)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    for _ in range(3):
        torch.mm(a, b)
    best = math.inf
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def forward_flops(architecture: str, size: int, n_classes: int) -> int:
    from sklearn_leukemia.nn import count_flops

    model = get_architecture(architecture)(n_classes=n_classes, in_channels=3)
    return count_flops(model, (1, 3, size, size))


def bench_case(args, X, y, size, batch_size, device, peaks, precision) -> dict:
    """Time (a), (b) and (c) on one size, batch size and ``mixed_precision``."""
    args = argparse.Namespace(**{**vars(args), "mixed_precision": precision})
    dtype = amp_dtype(precision, device)
    peak = peaks.setdefault(dtype, [])
    n_classes = len(np.unique(y))
    flops = forward_flops(args.architecture, size, n_classes)

    def timed(func):
        synchronize(device)
        start = time.perf_counter()
        result = func()
        synchronize(device)
        return time.perf_counter() - start, result

    def run(name):
        if name == "classifier":
            model = make_pipeline(args, batch_size, device)
            t_fit, _ = timed(lambda: model.fit(X, y))
        else:
            model = HandLoop(args, batch_size, device)
            fit = model.fit if name == "torch_loop" else model.fit_resident
            t_fit, _ = timed(lambda: fit(X, y))
        if name == "network":
            return t_fit, math.nan
        t_pred, _ = timed(lambda: model.predict_proba(X))
        return t_fit, t_pred

    # Warm-up on a few batches: kernels are built or chosen per input shape.
    warm = argparse.Namespace(**{**vars(args), "epochs": 1})
    small = slice(0, min(len(X), 2 * batch_size))
    HandLoop(warm, batch_size, device).fit(X[small], y[small]).predict_proba(X[small])
    make_pipeline(warm, batch_size, device).fit(X[small], y[small])

    times = {name: [] for name in PATHS}
    for round_ in range(args.repeat):
        peak.append(matmul_peak(device, dtype))
        order = list(PATHS) if round_ % 2 == 0 else list(reversed(PATHS))
        for name in order:
            t_fit, t_pred = run(name)
            times[name].append((t_fit, t_pred))
            print(
                f"  {size}px batch {batch_size} {_dtype_name(dtype)} {name:10s} "
                f"round {round_ + 1}: "
                f"fit {t_fit:7.2f} s, predict {t_pred:6.2f} s",
                flush=True,
            )

    rows = {}
    n = len(X)
    for name, runs in times.items():
        t_fit = min(r[0] for r in runs)
        t_pred = min(r[1] for r in runs)
        rows[name] = {
            "fit_s": t_fit,
            "predict_s": t_pred,
            "train_images_per_s": n * args.epochs / t_fit,
            "infer_images_per_s": n / t_pred,
        }
    return {
        "size": size,
        "batch_size": batch_size,
        "mixed_precision": precision,
        "compute_dtype": _dtype_name(dtype),
        "fit_s_all_rounds": {k: [r[0] for r in v] for k, v in times.items()},
        "predict_s_all_rounds": {k: [r[1] for r in v] for k, v in times.items()},
        "forward_gflop_per_image": flops / 1e9,
        **rows,
        "fit_ratio": rows["classifier"]["fit_s"] / rows["torch_loop"]["fit_s"],
        "predict_ratio": rows["classifier"]["predict_s"]
        / rows["torch_loop"]["predict_s"],
    }


def amp_dtype(precision, device: torch.device) -> torch.dtype:
    """The dtype the network computes in: the autocast dtype, else float32."""
    amp = amp_config(precision, device)
    return amp.dtype if amp.enabled else torch.float32


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def add_mfu(results, peaks: dict) -> None:
    """MFU against the peak of each case's compute dtype."""
    for r in results:
        peak = peaks[r["compute_dtype"]]
        flops = r["forward_gflop_per_image"] * 1e9
        for name in PATHS:
            row = r[name]
            row["train_mfu"] = 3 * flops * row["train_images_per_s"] / peak
            row["infer_mfu"] = flops * row["infer_images_per_s"] / peak


def print_table(results, peaks: dict) -> None:
    print()
    for name, peak in peaks.items():
        print(f"{name} matmul peak: {peak / 1e12:.3f} TFLOP/s")
    header = (
        f"{'size':>5} {'batch':>5} {'dtype':>8} {'path':>11} {'fit s':>8} "
        f"{'train img/s':>12} "
        f"{'train MFU':>10} {'pred s':>7} {'infer img/s':>12} {'infer MFU':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for name in PATHS:
            row = r[name]
            pred = "" if math.isnan(row["predict_s"]) else f"{row['predict_s']:7.2f}"
            infer = (
                ""
                if math.isnan(row["predict_s"])
                else f"{row['infer_images_per_s']:12.1f} {row['infer_mfu']:10.1%}"
            )
            print(
                f"{r['size']:>5} {r['batch_size']:>5} {r['compute_dtype']:>8} "
                f"{name:>11} {row['fit_s']:8.2f} "
                f"{row['train_images_per_s']:12.1f} {row['train_mfu']:10.1%} "
                f"{pred:>7} {infer}"
            )
        print(
            f"{r['size']:>5} {r['batch_size']:>5} {r['compute_dtype']:>8} "
            f"{'ratio a/b':>11} "
            f"{r['fit_ratio']:8.3f} {'':>12} {'':>10} {r['predict_ratio']:7.3f}"
            "   (goal <= 1.10)"
        )


def _json_ready(obj):
    """Replace NaN (the network path has no prediction) by None, for JSON."""
    if isinstance(obj, dict):
        return {key: _json_ready(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_json_ready(value) for value in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--n", type=int, default=256, help="number of images")
    parser.add_argument(
        "--unique", type=int, default=512, help="distinct images, repeated to --n"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32])
    parser.add_argument("--architecture", default="se_resnet")
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)"
    )
    parser.add_argument(
        "--data-on-device",
        default="auto",
        type=lambda v: {"true": True, "false": False}.get(v.lower(), v),
        choices=["auto", True, False],
        help="where (a) and (b) keep the training images: auto (default), "
        "true or false",
    )
    parser.add_argument(
        "--augment",
        default=None,
        help="augmentation preset applied on the device in (a), (b) and (c), "
        "e.g. flips (default: none)",
    )
    parser.add_argument(
        "--mixed-precision",
        nargs="+",
        default=["auto"],
        type=lambda v: {"true": True, "false": False}.get(v.lower(), v),
        choices=["auto", True, False],
        help="the classifier's mixed_precision, one case each (the loops "
        "follow it): auto (default; on with CUDA), true (bfloat16 on the "
        "CPU) or false, e.g. --mixed-precision false true",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--json", type=Path, default=REPO_ROOT / "benchmarks/results/training.json"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtypes = [amp_dtype(p, device) for p in args.mixed_precision]
    compute = ", ".join(_dtype_name(d) for d in dict.fromkeys(dtypes))
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        where = f"{name}, CUDA {torch.version.cuda}, compute dtype {compute}"
    else:
        where = (
            f"{args.threads} thread(s), {os.cpu_count()} CPU(s), "
            f"compute dtype {compute}"
        )
    peaks = {dtype: [matmul_peak(device, dtype)] for dtype in dtypes}
    print(
        f"torch {torch.__version__}, {device}: {where}; {args.architecture}, "
        f"n={args.n}, epochs={args.epochs}, batch sizes {args.batch_size}, "
        f"mixed_precision={args.mixed_precision}, "
        f"data_on_device={args.data_on_device}, augment={args.augment}",
        flush=True,
    )
    results = []
    for size in args.sizes:
        X, y = make_data(args.n, size, args.unique)
        for batch_size in args.batch_size:
            for precision in args.mixed_precision:
                results.append(
                    bench_case(args, X, y, size, batch_size, device, peaks, precision)
                )
        del X
    for dtype, measured in peaks.items():
        measured.append(matmul_peak(device, dtype))
    # Another process can only slow the product down: the fastest one seen
    # in the run is the machine's peak, for every size.
    best = {_dtype_name(dtype): max(measured) for dtype, measured in peaks.items()}
    add_mfu(results, best)
    print_table(results, best)
    for dtype, measured in peaks.items():
        if min(measured) < 0.9 * max(measured):
            print(
                f"note: the {_dtype_name(dtype)} matmul speed ranged from "
                f"{min(measured) / 1e12:.3f} to {max(measured) / 1e12:.3f} TFLOP/s "
                "during the run: the machine was shared and the times are noisy "
                "(the fastest round of each case is kept)."
            )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "training",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "device": str(device),
        "device_name": where,
        "mixed_precision": args.mixed_precision,
        "architecture": args.architecture,
        "n_images": args.n,
        "unique_images": min(args.n, args.unique),
        "epochs": args.epochs,
        "batch_sizes": args.batch_size,
        "data_on_device": args.data_on_device,
        "augment": args.augment,
        "repeat": args.repeat,
        "matmul_peak_tflops": {name: peak / 1e12 for name, peak in best.items()},
        "matmul_tflops_measured": {
            _dtype_name(dtype): [p / 1e12 for p in measured]
            for dtype, measured in peaks.items()
        },
        "results": results,
    }
    args.json.write_text(json.dumps(_json_ready(report), indent=2, allow_nan=False))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
