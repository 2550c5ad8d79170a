"""The run-directory layout and its refusal to overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

from angiogen.errors import InputError
from angiogen.io.rundir import create_run_dir, open_run_dir


def test_layout_and_metrics(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path / "run")
    for folder in (run.checkpoints, run.outputs, run.tensorboard):
        assert folder.is_dir()
    run.write_metrics({"dice": 0.9, "nested": {"a": 1}})
    assert run.read_metrics() == {"dice": 0.9, "nested": {"a": 1}}


def test_non_empty_directory_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "precious.nii").write_bytes(b"data")
    with pytest.raises(InputError, match="--overwrite"):
        create_run_dir(tmp_path)
    assert (tmp_path / "precious.nii").read_bytes() == b"data"
    create_run_dir(tmp_path, overwrite=True)
    assert not (tmp_path / "precious.nii").exists()


def test_empty_existing_directory_is_used(tmp_path: Path) -> None:
    assert create_run_dir(tmp_path).root == tmp_path


def test_file_in_place_of_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        create_run_dir(tmp_path / "f", overwrite=True)


def test_open_requires_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config.yaml"):
        open_run_dir(tmp_path)


def test_log_file_receives_records(tmp_path: Path) -> None:
    import logging

    run = create_run_dir(tmp_path / "r")
    handler = run.attach_log()
    logging.getLogger("angiogen.test").info("hello log")
    handler.close()
    logging.getLogger("angiogen").removeHandler(handler)
    assert "hello log" in run.log.read_text()


def test_logging_to_file_copies_records_only_inside_the_block(tmp_path: Path) -> None:
    import logging

    run = create_run_dir(tmp_path / "run")
    logger = logging.getLogger("angiogen")
    before = list(logger.handlers)
    with run.logging_to_file():
        logger.info("inside")
    logger.info("outside")
    with run.logging_to_file(enabled=False):
        logger.info("rank 1")
    text = run.log.read_text()
    assert "inside" in text and "outside" not in text and "rank 1" not in text
    assert logger.handlers == before
