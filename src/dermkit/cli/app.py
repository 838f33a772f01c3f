"""The typer application object and shared console helpers."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="dermkit",
    help="From a folder of skin images to a trained, evaluated, explained and deployable classifier.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(highlight=False, markup=False)


def counts_table(title: str, class_names: list[str], columns: dict[str, list[int]]) -> Table:
    """A table of image counts: one row per class, one column per split, with totals."""
    table = Table(title=title, title_justify="left")
    table.add_column("class")
    for name in columns:
        table.add_column(name, justify="right")
    for index, class_name in enumerate(class_names):
        table.add_row(class_name, *(str(values[index]) for values in columns.values()))
    table.add_row("total", *(str(sum(values)) for values in columns.values()), style="bold")
    return table


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter (GPU/TPU lines, tips); it resets its loggers on import, so call it after."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
