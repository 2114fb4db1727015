"""The ``sklearn-leukemia`` dispatcher: one subparser and one ``run`` per command.

Modelled on skops' ``cli/entrypoint.py``: every command module exposes
``configure_parser(parser)`` and ``run(args) -> int``, and :func:`main` maps
the subcommand to them, so that each command is testable in-process with
``main([...])``. Command modules are imported only when their command runs
(or the parser is built), keeping ``--help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

__all__ = ["build_parser", "main"]

PROG = "sklearn-leukemia"

# name -> (module, one-line help)
COMMANDS = {
    "evaluate": (
        "sklearn_leukemia.cli._evaluate",
        "cross-validated clinical evaluation with an HTML/JSON report",
    ),
    "train": (
        "sklearn_leukemia.cli._train",
        "fit the pipeline on all images of a folder and save the model",
    ),
    "predict": (
        "sklearn_leukemia.cli._predict",
        "class probabilities of image files as CSV",
    ),
    "architectures": (
        "sklearn_leukemia.cli._main",
        "list the network architectures (plugins included)",
    ),
}

_DESCRIPTIONS = {
    "evaluate": (
        "Cross-validate the leukemia pipeline on DATA (or, without DATA, on "
        "synthetic blood smears), print the clinical metrics with confidence "
        "intervals and write report.html, report.json and plots to --out. "
        "Folds keep each patient's images together when the data have patient "
        "groups."
    ),
    "train": "Fit the leukemia pipeline on every image of DATA and save it.",
    "predict": (
        "Predict images with a saved model: one CSV row per image with the "
        "probability of each class and the predicted class."
    ),
    "architectures": "List the names accepted by --architecture.",
}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``architectures`` takes no option."""


def run(args) -> int:
    """Print the registered architecture names, one per line."""
    from sklearn_leukemia.nn import list_architectures

    for name in list_architectures():
        print(name)
    return 0


def _version() -> str:
    import sklearn_leukemia

    return f"{PROG} {sklearn_leukemia.__version__}"


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Leukemia detection in blood-smear images: evaluate, train "
        "and predict from the command line.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    # SUPPRESS keeps a subparser from overwriting a --debug given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    subparsers = parser.add_subparsers(title="commands", dest="command",
                                       metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name, help=help_text, description=_DESCRIPTIONS[name],
            parents=[common],
        )
        module.configure_parser(sub)
        sub.set_defaults(run=module.run)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name.

    Returns
    -------
    status : int
        0 on success, 2 for a usage error (a bad option, a missing input, an
        output inside the data or that cannot be written), 130 when
        interrupted (Ctrl-C; no output file is written), 141 when the reader
        of stdout goes away (``| head``), 1 for any other failure. Errors
        are printed on stderr as one line without traceback, unless
        ``--debug`` is given.

    Examples
    --------
    >>> from sklearn_leukemia.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    sklearn-leukemia ...
    0
    """
    from sklearn_leukemia.cli._io import UsageError
    from sklearn_leukemia.io import OutputInsideDataError, OutputNotWritableError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        import matplotlib

        # Reports are files: never open a window, even where a display exists.
        matplotlib.use("Agg")
        return args.run(args)
    except (UsageError, OutputInsideDataError, OutputNotWritableError) as exc:
        if args.debug:
            traceback.print_exc()
        _error(str(exc))
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (``predict ... | head``): stop
        # quietly, and keep Python from complaining at exit as it flushes.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt as exc:
        # Output files are written atomically at the end: none was.
        why = f" ({exc})" if str(exc) else ""
        _error(f"interrupted{why}; no output file was written.")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI reports, never crashes
        if args.debug:
            traceback.print_exc()
            _error(f"{type(exc).__name__}: {exc}")
        else:
            message = str(exc).rstrip()
            # A loader's message may end with the expected folder tree: keep
            # it, and put the hint on a line of its own after it.
            sep = "\n" if "\n" in message else " "
            _error(f"{message}{sep}(run with --debug for the traceback)")
        return 1
