"""The ``sklearn-leukemia`` command line: ``evaluate``, ``train``, ``predict``.

Run ``sklearn-leukemia --help``, or call :func:`main` with a list of
arguments from Python (it returns the exit status instead of exiting).
"""

from sklearn_leukemia.cli._main import main

__all__ = ["main"]
