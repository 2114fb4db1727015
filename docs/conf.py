"""Sphinx configuration for sklearn-leukemia."""

import os
from pathlib import Path

import sklearn_leukemia

project = "sklearn-leukemia"
author = "The sklearn-leukemia developers"
copyright = "2026, The sklearn-leukemia developers"
release = sklearn_leukemia.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Signatures of torch/skorch base classes carry many inherited parameters; the
# numpydoc parameter-list validation would flag theirs, not ours.
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "sklearn-leukemia"

# No internet at build time on CI: intersphinx inventories are optional.
intersphinx_mapping = {}
if os.environ.get("SKLEARN_LEUKEMIA_DOCS_INTERSPHINX"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "numpy": ("https://numpy.org/doc/stable", None),
    }

_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sphinx_gallery_conf = {
    "examples_dirs": str(_EXAMPLES),
    "gallery_dirs": "auto_examples",
    # Examples run during the build unless SKLEARN_LEUKEMIA_DOCS_RUN_EXAMPLES=0,
    # so a broken example fails the docs build.
    "plot_gallery": os.environ.get("SKLEARN_LEUKEMIA_DOCS_RUN_EXAMPLES", "1") != "0",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}
