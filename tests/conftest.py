"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("SKLEARN_LEUKEMIA_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _few_torch_threads():
    """Keep torch at one thread: CI has 2 cores and pytest-xdist may use both."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real images in ``../shared/data``; skips the test when absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real images not available at {path}")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def rgb_images(rng):
    """Twelve random 16x16 RGB uint8 images."""
    return rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture
def unwritable_dir(tmp_path):
    """A folder nothing can be created in: immutable as root, read-only else."""
    import shutil
    import subprocess

    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "old.txt").write_text("kept")
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    chattr = shutil.which("chattr")
    if as_root and chattr:
        locked = subprocess.run([chattr, "+i", str(folder)], capture_output=True)
        if locked.returncode != 0:
            pytest.skip(f"chattr +i failed: {locked.stderr.decode().strip()}")
    elif not as_root:
        folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("no way to make a folder unwritable here")
        yield folder
    finally:
        if as_root and chattr:
            subprocess.run([chattr, "-i", str(folder)], check=False)
        else:
            folder.chmod(0o755)


@pytest.fixture(scope="session")
def dask_cluster():
    """A real Dask ``LocalCluster``: 2 worker processes of 1 thread each.

    Its address is what ``--scheduler`` takes; its scheduler runs in this
    process and its workers in processes of their own, as on a cluster.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
    ) as cluster:
        yield cluster
