"""Find the public estimators of the package, like ``sklearn.utils.all_estimators``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

# Not walked: the command line and test helpers define no estimators. The
# torch-based modules (nn, classifier) are walked: their estimators are public.
_SKIP = {"sklearn_leukemia.cli", "sklearn_leukemia.tests"}


def all_estimators() -> list[tuple[str, type]]:
    """Return ``(name, class)`` for every public estimator of sklearn_leukemia.

    Walks every module of the package and keeps the non-abstract classes that
    derive from :class:`sklearn.base.BaseEstimator`, have a ``fit`` method and
    whose names are public (no leading underscore), sorted by name. Parameter
    holders such as ``AugmentationPolicy`` have no ``fit`` and are left out.
    Tests use it so that a new estimator is covered by the common checks
    without being listed by hand.

    Returns
    -------
    estimators : list of (str, type)
        Sorted by name, without duplicates.

    Examples
    --------
    >>> from sklearn_leukemia.utils.discovery import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> isinstance(names, list)
    True
    """
    import sklearn_leukemia

    found = {}
    prefix = sklearn_leukemia.__name__ + "."
    for info in pkgutil.walk_packages(sklearn_leukemia.__path__, prefix):
        if any(info.name.startswith(skip) for skip in _SKIP):
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                name.startswith("_")
                or not issubclass(obj, BaseEstimator)
                or not hasattr(obj, "fit")
                or not obj.__module__.startswith(prefix)
                or inspect.isabstract(obj)
            ):
                continue
            found[name] = obj
    return sorted(found.items())
