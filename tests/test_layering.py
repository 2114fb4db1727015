import subprocess
import sys


def test_the_library_never_imports_its_command_line():
    # The command line is a layer over the library, not a part of it.
    code = (
        "import sys\n"
        "import sklearn_leukemia as s\n"
        "from sklearn_leukemia import (augmentation, callbacks, datasets, io,\n"
        "    metrics, nn, persistence, pipeline, preprocessing, report)\n"
        "s.SECNNClassifier, s.make_leukemia_pipeline, s.save_model\n"
        "cli = 'sklearn_leukemia.cli'\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(cli))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
