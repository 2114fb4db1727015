"""Speed of reading and preprocessing real blood-smear images.

Compares, on the same files and in the same run:

- a plain Pillow loop, ``Image.open(p).convert("RGB").resize((224, 224))``
  into a preallocated array: the baseline every ratio is relative to;
- ``ImageReader(image_size=224)``, which resizes each image right after
  reading it, with 1 and 2 threads, and the same reading done by 2 loky
  worker processes instead of threads;
- ``read_image`` into a list of full-size arrays, then ``ImageResizer``
  (Pillow, anti-aliased) or ``skimage.transform.resize`` (the alternative
  ImageResizer could have used);
- the whole chain ``ImageReader(image_size=224) -> ContrastAdjuster ->
  ImageDenoiser -> IntensityNormalizer(method="standard")``, with 1 and 2
  reading threads;
- each in-memory step on its own, on a batch of already-read 224x224 images.

Each case runs once to warm up, then ``--repeat`` times; the median is
reported in images per second. Run from the repository root::

    python benchmarks/bench_preprocessing.py [--data DIR] [--limit N] [--json PATH]

The images are those of ``../shared/data`` (or ``$SKLEARN_LEUKEMIA_DATA``);
``--limit`` takes that many files spread evenly over the sorted list, so
every class and image size is represented.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.pipeline import make_pipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def default_data_dir() -> Path:
    env = os.environ.get("SKLEARN_LEUKEMIA_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def find_images(folder: Path, limit: int | None) -> list[str]:
    paths = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if limit is not None and limit < len(paths):
        picks = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths = [paths[i] for i in picks]
    return paths


def time_cases(cases: dict, repeat: int, reference=None):
    """Median wall time of each case over ``repeat`` interleaved rounds.

    Every case runs once to warm up; then the rounds run all cases one after
    the other, so that a change in the load of a shared machine hits all of
    them alike instead of biasing whichever ran during it. Returns the
    medians and, per case, the fraction of pixels equal to ``reference``
    (the first case's output when None).
    """
    same = {}
    for name, func in cases.items():
        result = func()
        if reference is None:
            reference = result
        if (
            isinstance(result, np.ndarray)
            and result.shape == reference.shape
            and result.dtype == reference.dtype
        ):
            same[name] = float(np.mean(result == reference))
        else:
            same[name] = None
        del result
    times = {name: [] for name in cases}
    for _ in range(repeat):
        for name, func in cases.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, same, reference


def pillow_loop(paths, size=224):
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            out[i] = np.asarray(
                im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            )
    return out


def reading_cases(paths, size=224):
    from skimage.transform import resize

    from sklearn_leukemia.io import read_image
    from sklearn_leukemia.preprocessing import (
        ContrastAdjuster,
        ImageDenoiser,
        ImageReader,
        ImageResizer,
        IntensityNormalizer,
        read_images,
    )

    def skimage_loop():
        out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
        for i, path in enumerate(paths):
            scaled = resize(
                read_image(path), (size, size), anti_aliasing=True, preserve_range=True
            )
            out[i] = np.rint(scaled)
        return out

    def processes(n_jobs):
        # The alternative to ImageReader's threads: the same chunks read by
        # loky worker processes, each image pickled back to the parent.
        from joblib import Parallel, delayed

        chunks = np.array_split(np.arange(len(paths)), 4 * n_jobs)
        parts = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(read_images)([paths[i] for i in chunk], image_size=size)
            for chunk in chunks
        )
        return np.concatenate(parts)

    def chain(n_jobs):
        return make_pipeline(
            ImageReader(image_size=size, n_jobs=n_jobs),
            ContrastAdjuster(method="stretch"),
            ImageDenoiser(method="gaussian", sigma=1.0),
            IntensityNormalizer(method="standard"),
        )

    return {
        "pillow loop (baseline)": lambda: pillow_loop(paths, size),
        "ImageReader(image_size=224), n_jobs=1": lambda: ImageReader(
            image_size=size, n_jobs=1
        ).transform(paths),
        "ImageReader(image_size=224), n_jobs=2": lambda: ImageReader(
            image_size=size, n_jobs=2
        ).transform(paths),
        "read_images in loky processes, n_jobs=2": lambda: processes(2),
        "read_image list + ImageResizer": lambda: ImageResizer(size=size).transform(
            [read_image(p) for p in paths]
        ),
        "read_image + skimage resize loop": skimage_loop,
        "chain (read, contrast, denoise, normalize), n_jobs=1": lambda: chain(
            1
        ).fit_transform(paths),
        "chain (read, contrast, denoise, normalize), n_jobs=2": lambda: chain(
            2
        ).fit_transform(paths),
    }


def step_cases(images):
    from sklearn_leukemia.preprocessing import (
        adjust_contrast,
        denoise_images,
        normalize_intensity,
        resize_images,
    )

    return {
        "resize_images 224->128 (pillow)": lambda: resize_images(images, size=128),
        "resize_images 224->128, anti_aliasing=False (skimage)": (
            lambda: resize_images(images, size=128, anti_aliasing=False)
        ),
        "resize_images 224->128, mode=pad": lambda: resize_images(
            images, size=(128, 96), mode="pad"
        ),
        "adjust_contrast stretch": lambda: adjust_contrast(images, method="stretch"),
        "adjust_contrast clahe": lambda: adjust_contrast(images, method="clahe"),
        "adjust_contrast gamma": lambda: adjust_contrast(
            images, method="gamma", gamma=0.8
        ),
        "denoise_images gaussian": lambda: denoise_images(images, method="gaussian"),
        "denoise_images median": lambda: denoise_images(images, method="median"),
        "denoise_images bilateral": lambda: denoise_images(images, method="bilateral"),
        "denoise_images nl_means": lambda: denoise_images(images, method="nl_means"),
        "normalize_intensity standard": lambda: normalize_intensity(
            images, method="standard"
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument(
        "--limit", type=int, default=1000, help="number of files (default 1000)"
    )
    parser.add_argument(
        "--step-limit",
        type=int,
        default=100,
        help="images in the in-memory step table (default 100)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--json",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results" / "preprocessing.json",
    )
    args = parser.parse_args(argv)

    if not args.data.is_dir():
        print(f"no image folder at {args.data}; pass --data DIR", file=sys.stderr)
        return 2
    paths = find_images(args.data, args.limit)
    if not paths:
        print(f"no image files under {args.data}", file=sys.stderr)
        return 2
    sizes = {}
    for path in paths:
        with Image.open(path) as im:
            sizes[im.size] = sizes.get(im.size, 0) + 1
    print(
        f"{len(paths)} files from {args.data}; sizes (w, h): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items()))
        + f"; {os.cpu_count()} CPU(s); median of {args.repeat} after a warm-up"
    )

    cases = reading_cases(paths)
    seconds, same, reference = time_cases(cases, args.repeat)
    baseline = seconds[next(iter(cases))]
    rows = [
        {
            "case": name,
            "n_images": len(paths),
            "seconds": seconds[name],
            "images_per_s": len(paths) / seconds[name],
            "speed_vs_pillow": baseline / seconds[name],
            "pixels_equal_to_pillow": same[name],
        }
        for name in cases
    ]

    images = reference[: args.step_limit]
    steps = step_cases(images)
    seconds, _, _ = time_cases(steps, args.repeat, reference=images)
    step_rows = [
        {
            "case": name,
            "n_images": len(images),
            "seconds": seconds[name],
            "images_per_s": len(images) / seconds[name],
        }
        for name in steps
    ]

    width = max(len(r["case"]) for r in rows + step_rows)
    print(f"\n{'case':<{width}}  {'img/s':>8}  {'vs pillow':>9}  {'same px':>7}")
    for r in rows:
        same = r["pixels_equal_to_pillow"]
        same = "-" if same is None else f"{100 * same:.1f}%"
        print(
            f"{r['case']:<{width}}  {r['images_per_s']:>8.0f}  "
            f"{r['speed_vs_pillow']:>8.2f}x  {same:>7}"
        )
    print(
        f"\n{'in-memory step (' + str(len(images)) + ' images 224x224)':<{width}}  "
        f"{'img/s':>8}"
    )
    for r in step_rows:
        print(f"{r['case']:<{width}}  {r['images_per_s']:>8.0f}")

    import PIL
    import skimage
    import sklearn

    report = {
        "data": str(args.data),
        "n_files": len(paths),
        "sizes": {f"{w}x{h}": n for (w, h), n in sorted(sizes.items())},
        "repeat": args.repeat,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "scikit-image": skimage.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "reading": rows,
        "steps": step_rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
