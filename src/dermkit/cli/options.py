"""Options every command shares: ``--version``, ``--quiet`` and ``--verbose`` (the typer app's callback)."""

from __future__ import annotations

import logging
import platform
from importlib import metadata

import typer

from dermkit import __version__, progress
from dermkit.cli.app import app, console

#: Packages whose versions ``dermkit --version --verbose`` lists (read from their metadata: nothing is imported).
RUNTIME_PACKAGES = ("torch", "torchvision", "timm", "lightning", "onnxruntime")

log = logging.getLogger("dermkit")


def version_lines(verbose: bool = False) -> list[str]:
    """``dermkit <version>``; with ``verbose`` also Python's and each runtime package's (or ``not installed``)."""
    lines = [f"dermkit {__version__}"]
    if verbose:
        lines.append(f"python {platform.python_version()}")
        for name in RUNTIME_PACKAGES:
            try:
                lines.append(f"{name} {metadata.version(name)}")
            except metadata.PackageNotFoundError:
                lines.append(f"{name} not installed")
    return lines


@app.callback(invoke_without_command=True)
def shared_options(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", help="Print dermkit's version (with --verbose: also torch, timm, lightning, onnxruntime)."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress and no summaries; errors still print (the exit status tells)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print dermkit's debug log."),
) -> None:
    """Options for every command; they go before the command name: ``dermkit --quiet predict ...``."""
    if quiet and verbose:
        ctx.fail("--quiet and --verbose exclude each other; choose one")
    # set on every invocation: in-process callers (tests, notebooks) run several commands in one interpreter
    console.quiet = quiet
    progress.configure(quiet=quiet)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if version:
        typer.echo("\n".join(version_lines(verbose)))  # the answer asked for: printed even with --quiet
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")
    log.debug("dermkit %s on python %s: %s", __version__, platform.python_version(), ctx.invoked_subcommand)
