"""The ``angiogen`` command line: global options, ``info``, ``demo`` and one sub-app per built task."""

from __future__ import annotations

import logging
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

import angiogen
from angiogen.cli_common import GlobalOptions, global_options
from angiogen.config import Config
from angiogen.errors import AngiogenError
from angiogen.synth.cli import app as synth_app
from angiogen.tasks.registry import PLANNED_TASKS, registered_tasks

app = typer.Typer(
    name="angiogen",
    help="AI for cardiovascular imaging on a shared, physics-based core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


class DeviceChoice(str, Enum):
    """Where tensors live: CUDA when present (auto), or forced."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class DemoConfig(Config):
    """What ``angiogen demo`` ran with; saved as ``config.yaml`` in the demo folder."""

    device: str = "auto"
    seed: int = 0


def _version(value: bool) -> None:
    if value:
        typer.echo(f"angiogen {angiogen.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    device: DeviceChoice = typer.Option(DeviceChoice.auto, help="Compute device."),
    seed: int = typer.Option(0, help="Random seed for everything that draws numbers."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors; no progress bars."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """AI for cardiovascular imaging on a shared, physics-based core."""
    ctx.obj = GlobalOptions(device=device.value, seed=seed, debug=debug, quiet=quiet)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


@app.command()
def info(ctx: typer.Context) -> None:
    """Versions of angiogen, Python, torch and MONAI; the device and threads; the tasks and their status."""
    from angiogen.environment import environment_summary
    from angiogen.train.device import select_device

    table = Table(title="angiogen", show_header=False)
    for name, value in environment_summary().items():
        table.add_row(name, str(value))
    table.add_row("selected_device", str(select_device(global_options(ctx).device)))
    built = {task.name for task in registered_tasks()}
    for name, summary in PLANNED_TASKS.items():
        table.add_row(f"task {name}", ("built: " if name in built else "not built yet: ") + summary)
    Console().print(table)


@app.command()
def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/demo"), help="Output folder; DIR/report.html is the report."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Run every built task's demo step on synthetic data and write DIR/report.html."""
    from angiogen.demo import run_demo

    options = global_options(ctx)
    report, steps = run_demo(out, options.device, options.seed, options.quiet, overwrite, options.debug)
    DemoConfig(device=options.device, seed=options.seed).save(out / "config.yaml")
    failed = [step.task for step in steps if step.status == "failed"]
    typer.echo(f"report: {report}")
    if failed:
        raise AngiogenError(f"demo steps failed: {', '.join(failed)} (see {out / 'log.txt'})")


for _task in registered_tasks():
    app.add_typer(_task.app, name=_task.name, help=_task.summary)

app.add_typer(synth_app, name="synth", help="Synthesise vessel trees, phantoms and angiography runs (engine).")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; turn errors into one line and an exit code (0 ok, 2 bad input, 1 internal)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="angiogen")  # usage errors exit 2 inside, --help and --version exit 0
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    except AngiogenError as error:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return error.exit_code
    except Exception as error:
        if debug:
            raise
        console.print(f"[bold red]internal error:[/] {type(error).__name__}: {error} (rerun with --debug "
                      "for the traceback)", highlight=False, soft_wrap=True)
        return 1
    return 0


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
