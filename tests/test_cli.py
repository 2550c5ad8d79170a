"""The command line: help, version, info, global options, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

import angiogen
from angiogen.cli import main


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"angiogen {angiogen.__version__}"


def test_help_lists_commands_and_global_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("info", "demo", "--device", "--seed", "--debug", "--quiet"):
        assert word in out


def test_info_reports_versions_and_unbuilt_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--device", "cpu", "info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "monai" in out and "selected_device" in out
    assert "not built yet" in out


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["no-such-command"]) == 2


def test_bad_device_choice_is_a_usage_error() -> None:
    assert main(["--device", "tpu", "info"]) == 2


def test_cuda_without_cuda_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["--device", "cuda", "info"]) == 2
    err = capsys.readouterr().err
    assert "cuda" in err.lower() and "Traceback" not in err


def test_console_script_exit_code_and_one_line_error(tmp_path) -> None:
    """The installed entry point: a refused overwrite exits 2 with one line naming the folder."""
    (tmp_path / "keep.txt").write_text("user data")
    done = subprocess.run(
        [sys.executable, "-m", "angiogen.cli", "demo", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "--overwrite" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "keep.txt").read_text() == "user data"
