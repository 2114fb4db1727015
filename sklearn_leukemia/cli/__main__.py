"""``python -m sklearn_leukemia.cli``: the same as the ``sklearn-leukemia`` command."""

import sys

from sklearn_leukemia.cli import main

if __name__ == "__main__":
    sys.exit(main())
