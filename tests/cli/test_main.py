import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_leukemia
from sklearn_leukemia.cli import main
from sklearn_leukemia.cli._main import COMMANDS


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"sklearn-leukemia {sklearn_leukemia.__version__}"
    )


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sklearn-leukemia {command}")


def test_evaluate_help_documents_the_options(capsys):
    main(["evaluate", "--help"])
    out = capsys.readouterr().out
    for option in ("--layout", "--positive-classes", "--cv", "--image-size",
                   "--epochs", "--batch-size", "--lr", "--architecture",
                   "--device", "--n-jobs", "--random-state", "--out"):
        assert option in out
    assert "--n-samples" not in out  # a hidden option for tests


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit"], "invalid choice: 'fit'"),
        (["evaluate", "--cv", "1"], "--cv: expected an integer >= 2, got 1"),
        (["evaluate", "--epochs", "zero"], "--epochs: expected an integer, got 'zero'"),
        (["evaluate", "--lr", "-1"], "--lr: expected a number in (0, inf), got -1"),
        (["evaluate", "--device", "tpu"], "--device: invalid choice: 'tpu'"),
        (["evaluate", "--layout", "imagenet"], "--layout: invalid choice"),
        (["evaluate", "--n-jobs", "0"], "--n-jobs: expected a non-zero integer"),
        (["train", "data"], "the following arguments are required: --out"),
        (["predict", "model.slk"], "required: IMAGE_OR_DIR"),
        (["evaluate", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2_with_reason(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_data_folder_is_named(capsys, tmp_path):
    missing = tmp_path / "no-such-folder"
    assert main(["evaluate", str(missing), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err == f"sklearn-leukemia: error: data folder {missing} does not exist.\n"


def test_data_that_is_a_file_is_refused(capsys, tmp_path):
    path = tmp_path / "images.zip"
    path.write_bytes(b"")
    assert main(["train", str(path), "--out", str(tmp_path / "m.slk")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_unknown_architecture_is_a_usage_error(capsys, tmp_path):
    assert main(["evaluate", "--architecture", "alexnet",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sklearn-leukemia: error: --architecture:")
    assert "secnn" in err  # the message lists the known ones
    assert not (tmp_path / "r").exists()


def test_failure_is_one_line_without_traceback_unless_debug(capsys, tmp_path,
                                                             monkeypatch):
    from sklearn_leukemia.cli import _main

    def broken(args):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("sklearn_leukemia.cli._main.run", broken)
    assert _main.main(["architectures"]) == 1
    err = capsys.readouterr().err
    assert err == ("sklearn-leukemia: error: the disk is on fire "
                   "(run with --debug for the traceback)\n")
    assert _main.main(["--debug", "architectures"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("RuntimeError: the disk is on fire")
    # --debug is accepted after the command as well.
    assert _main.main(["architectures", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_architectures_lists_the_registry(capsys):
    from sklearn_leukemia.nn import list_architectures

    assert main(["architectures"]) == 0
    names = capsys.readouterr().out.split()
    assert names == list_architectures()
    assert {"secnn", "se_resnet"} <= set(names)


def test_one_home_for_the_choices(capsys):
    # The command line, the factory and the estimators take their lists of
    # names from sklearn_leukemia._options.
    from sklearn_leukemia import SECNNClassifier, _options, make_leukemia_pipeline
    from sklearn_leukemia.augmentation._policy import PRESETS
    from sklearn_leukemia.preprocessing import ContrastAdjuster, ImageDenoiser

    assert tuple(PRESETS) == _options.AUGMENTATION_PRESETS
    for method in _options.CONTRAST_METHODS:
        ContrastAdjuster(method=method)._validate_params()
        make_leukemia_pipeline(contrast=method)
    for method in _options.DENOISE_METHODS:
        ImageDenoiser(method=method)._validate_params()
        make_leukemia_pipeline(denoise=method)
    for preset in _options.AUGMENTATION_PRESETS:
        make_leukemia_pipeline(augment=preset)
        SECNNClassifier(augmentation=preset)._check_params()
    main(["train", "--help"])
    usage = capsys.readouterr().out
    assert "{" + ",".join(_options.CONTRAST_METHODS) + "}" in usage
    assert "{" + ",".join(_options.DENOISE_METHODS) + "}" in usage


def _console_script() -> str | None:
    name = "sklearn-leukemia.exe" if os.name == "nt" else "sklearn-leukemia"
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.is_file() else shutil.which("sklearn-leukemia")


def test_installed_console_script_runs():
    script = _console_script()
    if script is None:
        pytest.skip("sklearn-leukemia is not installed (pip install -e .)")
    result = subprocess.run([script, "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sklearn-leukemia")
    assert "evaluate" in result.stdout
