"""Exceptions that the CLI turns into one clear line and an exit code."""

from __future__ import annotations

from pathlib import Path


class AngiogenError(Exception):
    """Base class of errors angiogen reports to the user without a traceback."""

    exit_code = 1


class InputError(AngiogenError):
    """Bad input from the user (a file, a value, an option): exit code 2.

    Args:
        problem: what is wrong, in a short sentence.
        path: the file or directory concerned, named first in the message when given.
    """

    exit_code = 2

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)
