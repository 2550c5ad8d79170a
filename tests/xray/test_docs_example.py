"""The documented example of angiogen.xray (two standard views) must keep working."""

from __future__ import annotations

import doctest

import angiogen.xray


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(angiogen.xray, verbose=False)
    assert result.attempted >= 5 and result.failed == 0
