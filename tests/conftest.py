"""Shared test fixtures."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import torch

# Two cores here and in CI: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module of tiny tensors (a second thread only adds overhead, 10x under load);
    restored afterwards. Task folders turn it on for all their modules in their conftest."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def angiogen_log_handlers() -> Iterator[None]:
    """Restore the ``angiogen`` logger after a test that runs commands: a ``train`` run sets its level and attaches
    ``run/log.txt`` while it runs; any handler left and the level are undone."""
    logger = logging.getLogger("angiogen")
    handlers, level = list(logger.handlers), logger.level
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
