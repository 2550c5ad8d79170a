"""What every CLI command shares: the global options and how a sub-command reads them."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the sub-command: ``angiogen --device cpu --seed 1 scar train ...``."""

    device: str = "auto"
    seed: int = 0
    debug: bool = False
    quiet: bool = False


def global_options(ctx: typer.Context) -> GlobalOptions:
    """Return the global options of the running command (defaults when called outside the CLI)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()
