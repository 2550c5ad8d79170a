"""The one training loop every task uses: :class:`Trainer`.

Design choice: batches come from a function ``batch_for_step(index) -> batch`` instead of an iterator.
The batch then depends only on its index (typically through ``(seed, index)``), so a run resumed from a
checkpoint at step ``k`` sees exactly the batches an unbroken run would have seen, without replaying or
pickling a data-loader's state. ``index`` counts micro-batches: optimiser step ``s`` with ``accumulate``
micro-batches uses indices ``s * accumulate`` .. ``s * accumulate + accumulate - 1``, so a global sample
index ``index * micro_batch_size + i`` is the same whatever the accumulation. Under DDP each rank returns
its own share of batch ``index`` (see :func:`angiogen.train.distributed.shard_indices`).

The loop handles: gradient accumulation (loss divided by ``accumulate``; DDP gradient sync only on the last
micro-batch), mixed precision with a ``GradScaler`` when fp16 needs one, gradient clipping, LR scheduler
step per optimiser step, EMA update, logging to TensorBoard + CSV, periodic atomic checkpoints, exact resume
from the latest checkpoint, validation with early stopping, and a rich progress bar.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from angiogen.io.rundir import RunDir
from angiogen.train.checkpoint import find_latest_checkpoint, load_checkpoint, save_checkpoint
from angiogen.train.device import autocast_context, needs_grad_scaler
from angiogen.train.distributed import all_reduce_mean, barrier, is_main_process
from angiogen.train.early_stopping import EarlyStopping
from angiogen.train.ema import EMA
from angiogen.train.logging import MetricLogger

log = logging.getLogger(__name__)

LossOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]
LossFn = Callable[[nn.Module, Any], LossOutput]
BatchFn = Callable[[int], Any]
ValidateFn = Callable[[nn.Module, int], Mapping[str, float]]


@dataclass
class TrainConfig:
    """Settings of one :meth:`Trainer.fit` run; steps count optimiser steps.

    Attributes:
        max_steps: optimiser steps to reach (a resumed run continues up to the same number).
        accumulate: micro-batches per optimiser step; the loss of each is divided by ``accumulate``.
        grad_clip_norm: clip the global L2 norm of the gradients to this value (None: no clipping).
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (see :mod:`angiogen.train.device`).
        log_every: log the mean training loss and the learning rate every this many steps.
        checkpoint_every: write a checkpoint every this many steps (None: only at the end).
        keep_last: number of checkpoints to keep (None: all).
        validate_every: call the validation function every this many steps (None: never).
        monitor: name of the validation metric that early stopping watches.
        validate_with_ema: validate with the EMA weights swapped in when an EMA is kept.
        resume: continue from the latest checkpoint in ``<run_dir>/checkpoints`` if there is one.
        quiet: no progress bar.
    """

    max_steps: int
    accumulate: int = 1
    grad_clip_norm: float | None = None
    precision: str = "auto"
    log_every: int = 10
    checkpoint_every: int | None = None
    keep_last: int | None = 3
    validate_every: int | None = None
    monitor: str = "val_loss"
    validate_with_ema: bool = True
    resume: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.accumulate < 1:
            raise ValueError(f"accumulate must be >= 1, got {self.accumulate}")
        for name in ("log_every", "checkpoint_every", "validate_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`.

    Attributes:
        step: optimiser steps completed (equals ``max_steps`` unless stopped early).
        start_step: the step the run started from (> 0 after a resume).
        stopped_early: True when early stopping ended the run.
        best_value, best_step: best monitored validation value and its step (None without validation).
        last_metrics: the last logged training and validation scalars.
        checkpoint: the last checkpoint written (None on non-main ranks or if none was written).
    """

    step: int
    start_step: int = 0
    stopped_early: bool = False
    best_value: float | None = None
    best_step: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple/list/dict batch to ``device``; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(value, device) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(value, device) for value in batch)
    return batch


def _split_loss(output: LossOutput) -> tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]:
    if isinstance(output, torch.Tensor):
        return output, {}
    loss, metrics = output
    return loss, metrics


class Trainer:
    """Run ``loss_fn(model, batch)`` over ``batch_for_step`` with one optimiser, checkpoints and logging.

    Args:
        model: the model, already on its device (and wrapped with
            :func:`angiogen.train.distributed.wrap_model` under DDP); the first parameter's device is used.
        optimizer: the optimiser over the model's parameters.
        loss_fn: ``loss_fn(model, batch) -> loss`` (a 0-d tensor, mean over the micro-batch), or
            ``(loss, {name: scalar})`` to log further training scalars.
        run_dir: the run directory (layout of :class:`angiogen.io.rundir.RunDir`): ``metrics.csv``,
            ``tensorboard/`` and ``checkpoints/`` go here.
        config: the loop settings.
        scheduler: an LR scheduler stepped once per optimiser step.
        ema: an :class:`~angiogen.train.ema.EMA` updated after each optimiser step.
        early_stopping: watches ``config.monitor`` from the validation function.
        extra_state: extra plain-typed state saved in every checkpoint (e.g. the config as a dict).
        companion_optimizers: further optimisers that ``loss_fn`` steps itself (e.g. a critic's), by name;
            saved and restored with the checkpoints so that a resume stays exact.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        run_dir: str | Path | RunDir,
        config: TrainConfig,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        ema: EMA | None = None,
        early_stopping: EarlyStopping | None = None,
        extra_state: dict[str, Any] | None = None,
        companion_optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        self.checkpoint_dir = self.run_dir.checkpoints
        self.config = config
        self.scheduler = scheduler
        self.ema = ema
        self.early_stopping = early_stopping
        self.extra_state = dict(extra_state or {})
        self.optimizers = {"optimizer": optimizer, **dict(companion_optimizers or {})}
        self.device = next(model.parameters()).device
        self.is_main = is_main_process()
        self.grad_scaler = (
            torch.amp.GradScaler(self.device.type) if needs_grad_scaler(self.device, config.precision) else None
        )

    # -- checkpoints -------------------------------------------------------------------------------

    def _save(self, step: int) -> Path | None:
        path = None
        if self.is_main:
            extra = {"trainer": {"early_stopping": self.early_stopping.state_dict() if self.early_stopping else None}}
            extra["user"] = self.extra_state
            path = save_checkpoint(
                self.checkpoint_dir,
                step,
                self.model,
                optimizer=self.optimizers,
                scheduler=self.scheduler,
                ema=self.ema,
                extra=extra,
                grad_scaler=self.grad_scaler,
                keep_last=self.config.keep_last,
            )
        barrier()
        return path

    def _resume(self) -> int:
        latest = find_latest_checkpoint(self.checkpoint_dir)
        if latest is None:
            log.info("no checkpoint in %s; starting from step 0", self.checkpoint_dir)
            return 0
        loaded = load_checkpoint(
            latest,
            self.model,
            optimizer=self.optimizers,
            scheduler=self.scheduler,
            ema=self.ema,
            grad_scaler=self.grad_scaler,
        )
        stopping_state = loaded.extra.get("trainer", {}).get("early_stopping")
        if self.early_stopping is not None and stopping_state is not None:
            self.early_stopping.load_state_dict(stopping_state)
        log.info("resumed from %s at step %d", loaded.path, loaded.step)
        return loaded.step

    # -- one optimiser step ------------------------------------------------------------------------

    def _optimizer_step(self, step: int, batch_for_step: BatchFn) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Accumulate gradients over the micro-batches of ``step`` and apply them; return the mean loss."""
        accumulate = self.config.accumulate
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        metric_sums: dict[str, torch.Tensor] = {}
        for micro in range(accumulate):
            batch = move_to_device(batch_for_step(step * accumulate + micro), self.device)
            last = micro == accumulate - 1
            sync = (
                self.model.no_sync()
                if isinstance(self.model, DistributedDataParallel) and not last
                else contextlib.nullcontext()
            )
            with sync:
                with autocast_context(self.device, self.config.precision):
                    loss, metrics = _split_loss(self.loss_fn(self.model, batch))
                scaled = loss.float() / accumulate
                if self.grad_scaler is not None:
                    scaled = self.grad_scaler.scale(scaled)
                scaled.backward()
            loss_sum += loss.detach().float()
            for name, value in metrics.items():
                value = torch.as_tensor(value, device=self.device).detach().float()
                metric_sums[name] = metric_sums.get(name, torch.zeros((), device=self.device)) + value
        extras = {name: total / accumulate for name, total in metric_sums.items()}
        if self.config.grad_clip_norm is not None:
            if self.grad_scaler is not None:
                self.grad_scaler.unscale_(self.optimizer)
            extras["grad_norm"] = torch.nn.utils.clip_grad_norm_(
                self.model.parameters(), self.config.grad_clip_norm
            ).detach()
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return loss_sum / accumulate, extras

    # -- validation --------------------------------------------------------------------------------

    def _validate(self, validate: ValidateFn, step: int) -> tuple[dict[str, float], bool]:
        """Run validation (EMA weights if configured); return its metrics and the early-stop decision."""
        self.model.eval()
        swap = (
            self.ema.swap_into(self.model)
            if self.ema is not None and self.config.validate_with_ema
            else contextlib.nullcontext()
        )
        with torch.no_grad(), swap:
            metrics = {name: float(value) for name, value in validate(self.model, step).items()}
        self.model.train()
        stop = False
        if self.early_stopping is not None:
            if self.config.monitor not in metrics:
                raise KeyError(f"validation returned {sorted(metrics)}, not the monitored {self.config.monitor!r}")
            stop = self.early_stopping.step(metrics[self.config.monitor], step)
        if dist.is_available() and dist.is_initialized():
            # every rank must leave the loop together: stop if any rank says so
            flag = torch.tensor([float(stop)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return metrics, stop

    # -- the loop ----------------------------------------------------------------------------------

    def fit(self, batch_for_step: BatchFn, validate: ValidateFn | None = None) -> TrainResult:
        """Train until ``config.max_steps`` optimiser steps (or early stopping); return a summary.

        Args:
            batch_for_step: ``batch_for_step(index) -> batch`` for micro-batch ``index`` (see module docs);
                tensors in tuples/lists/dicts are moved to the model's device.
            validate: ``validate(model, step) -> {name: value}``, called in eval mode under ``no_grad``
                every ``config.validate_every`` steps; values are logged with their names as given.
        """
        config = self.config
        start_step = self._resume() if config.resume else 0
        result = TrainResult(step=start_step, start_step=start_step)
        metric_logger = MetricLogger(self.run_dir.root, purge_step=start_step + 1) if self.is_main else None
        progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=config.quiet or not self.is_main,
        )
        window_loss = torch.zeros((), device=self.device)
        window_steps = 0
        last_saved: int | None = start_step if start_step > 0 else None  # resumed: already on disk
        try:
            with progress:
                task = progress.add_task("train", total=config.max_steps, completed=start_step, loss="-")
                for step in range(start_step, config.max_steps):
                    loss, extras = self._optimizer_step(step, batch_for_step)
                    window_loss += loss
                    window_steps += 1
                    done = step + 1
                    logged: dict[str, float] = {}
                    if done % config.log_every == 0 or done == config.max_steps:
                        mean_loss = float(all_reduce_mean(window_loss / window_steps).item())
                        window_loss.zero_()
                        window_steps = 0
                        logged = {"train/loss": mean_loss, "train/lr": self.optimizer.param_groups[0]["lr"]}
                        logged.update(
                            {f"train/{name}": float(all_reduce_mean(value).item()) for name, value in extras.items()}
                        )
                        if not math.isfinite(mean_loss):
                            log.warning("non-finite training loss %s at step %d", mean_loss, done)
                        progress.update(task, loss=f"{mean_loss:.4g}")
                    stop = False
                    if validate is not None and config.validate_every and done % config.validate_every == 0:
                        val_metrics, stop = self._validate(validate, done)
                        logged.update(val_metrics)
                    if logged:
                        result.last_metrics.update(logged)
                        if metric_logger is not None:
                            metric_logger.log(done, logged)
                    result.step = done
                    progress.update(task, completed=done)
                    if stop or (config.checkpoint_every and done % config.checkpoint_every == 0):
                        result.checkpoint = self._save(done)
                        last_saved = done
                    if stop:
                        log.info("early stopping at step %d", done)
                        result.stopped_early = True
                        break
            if last_saved != result.step:
                result.checkpoint = self._save(result.step)
        finally:
            if metric_logger is not None:
                metric_logger.close()
        if self.early_stopping is not None:
            result.best_value = self.early_stopping.best_value
            result.best_step = self.early_stopping.best_step
        return result
