"""Atomic writes: a writer killed mid-way, or failing, leaves the old file byte-identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from angiogen.errors import InputError
from angiogen.io import atomic_path, check_writable, write_bytes_atomic, write_text_atomic

OLD_CONTENT = b"old content that must survive\n" * 1000

CHILD = textwrap.dedent(
    """
    import sys, time
    from angiogen.io.atomic import atomic_path

    target = sys.argv[1]
    with atomic_path(target, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(b"NEW" * 100_000)  # part of the new content
            handle.flush()
            print(tmp, flush=True)  # tell the parent we are mid-way
            time.sleep(60)  # killed here, before the rest and before the rename
            handle.write(b"REST")
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_writer_killed_midway_leaves_old_file_intact(tmp_path):
    target = tmp_path / "volume.nii.gz"
    target.write_bytes(OLD_CONTENT)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        tmp_name = child.stdout.readline().strip()
        assert tmp_name, child.stderr.read()
        assert os.path.getsize(tmp_name) == 300_000  # the child really was writing new bytes
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == OLD_CONTENT
    # the temporary file sat beside the target and kept its suffixes (format chosen by extension)
    assert os.path.dirname(tmp_name) == str(tmp_path)
    assert tmp_name.endswith(".nii.gz")


def test_exception_inside_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.json"
    target.write_bytes(OLD_CONTENT)
    with pytest.raises(RuntimeError):
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == OLD_CONTENT
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_refuses_existing_file_without_overwrite(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_bytes(OLD_CONTENT)
    with pytest.raises(InputError, match="exists") as caught:
        write_text_atomic(target, "new", overwrite=False)
    assert "notes.txt" in str(caught.value)
    assert target.read_bytes() == OLD_CONTENT
    with pytest.raises(InputError):
        check_writable(target)


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "data.bin"
    write_bytes_atomic(target, b"first")
    write_bytes_atomic(target, b"second", overwrite=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["data.bin"]
