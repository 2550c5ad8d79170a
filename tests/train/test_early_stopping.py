"""Early stopping: patience, min_delta and mode."""

from __future__ import annotations

import math

import pytest

from angiogen.train import EarlyStopping


def test_patience_counts_checks_without_improvement() -> None:
    stopper = EarlyStopping(patience=2)
    assert not stopper.step(1.0)
    assert not stopper.step(0.5)  # improvement
    assert not stopper.step(0.6)  # 1 bad
    assert stopper.step(0.7)  # 2 bad -> stop
    assert stopper.best_value == 0.5 and stopper.best_step == 2


def test_min_delta_ignores_small_improvements() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    stopper.step(1.0, step=10)
    assert not stopper.step(0.95, step=20)  # better by 0.05 < min_delta: does not count
    assert stopper.step(0.91, step=30)
    assert stopper.best_value == 1.0 and stopper.best_step == 10


def test_improvement_resets_the_counter_and_max_mode() -> None:
    stopper = EarlyStopping(patience=2, mode="max")
    for value in (0.5, 0.4, 0.6, 0.55):
        assert not stopper.step(value)
    assert stopper.bad_checks == 1 and stopper.best_value == 0.6


def test_nan_is_never_an_improvement_and_state_round_trip() -> None:
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0)
    assert stopper.step(math.nan)
    copy = EarlyStopping(patience=5)
    copy.load_state_dict(stopper.state_dict())
    assert copy.should_stop and copy.patience == 1 and copy.best_value == 1.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError):
        EarlyStopping(patience=1, min_delta=-1.0)
