"""Early stopping on a monitored validation value."""

from __future__ import annotations

import math
from typing import Any, Literal


class EarlyStopping:
    """Stop when the monitored value has not improved by more than ``min_delta`` for ``patience`` checks.

    Args:
        patience: number of consecutive checks without improvement after which :meth:`step` returns True.
        min_delta: smallest change (in the value's units) that counts as an improvement; >= 0.
        mode: ``"min"`` when lower is better (a loss), ``"max"`` when higher is better (Dice, PSNR).

    Attributes:
        best_value: the best value seen so far (None before the first check).
        best_step: the training step at which ``best_value`` was seen.
        bad_checks: consecutive checks without improvement.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: Literal["min", "max"] = "min") -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_checks = 0
        self.n_checks = 0

    def is_improvement(self, value: float) -> bool:
        """True when ``value`` beats the best so far by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def step(self, value: float, step: int | None = None) -> bool:
        """Record one validation value; return True when training should stop.

        Args:
            value: the monitored value.
            step: the training step of this check (defaults to the number of checks so far, from 1).
        """
        self.n_checks += 1
        value = float(value)
        if self.is_improvement(value):
            self.best_value = value
            self.best_step = self.n_checks if step is None else step
            self.bad_checks = 0
        else:
            self.bad_checks += 1
        return self.should_stop

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` consecutive checks brought no improvement."""
        return self.bad_checks >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Plain-typed state (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "mode": self.mode,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "bad_checks": self.bad_checks,
            "n_checks": self.n_checks,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (the counters; patience, min_delta and mode are restored too)."""
        self.patience = int(state["patience"])
        self.min_delta = float(state["min_delta"])
        self.mode = state["mode"]
        self.best_value = None if state["best_value"] is None else float(state["best_value"])
        self.best_step = None if state["best_step"] is None else int(state["best_step"])
        self.bad_checks = int(state["bad_checks"])
        self.n_checks = int(state["n_checks"])
