"""Print pip constraints holding every direct dependency at its lower bound.

What ``uv pip install --resolution lowest-direct`` would choose, for pip:
each dependency of ``pyproject.toml`` (and of the extras named on the
command line) pinned to the version its ``>=`` names, so that the test suite
runs against the oldest versions the package claims to support. torch is
held at the CPU build the project installs (``--torch``): any older one is a
CUDA download of several GB here.

    python .ci/lowest_constraints.py test --torch 2.13.0 > lowest.txt
    pip install -c lowest.txt -e ".[test]"
"""

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def lower_bounds(extras: list[str], torch: str) -> list[str]:
    """Return ``name==lower`` for every requirement, ``torch`` at ``torch``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)\s*", requirement)
        if match is None:
            raise SystemExit(f"no '>=' lower bound in {requirement!r}")
        name, version = match.groups()
        pins.append(f"{name}=={torch if name == 'torch' else version}")
    return pins


def main() -> None:
    """Print the constraints of the extras named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--torch", required=True)
    args = parser.parse_args()
    print("\n".join(lower_bounds(args.extras, args.torch)))


if __name__ == "__main__":
    main()
