"""The typer application object and shared console helpers."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from dermkit.reports.numbers import format_number

READER_OPTIONS_HELP = "Reader options: data.images_dir=DIR, data.path_column=NAME, data.class_names=[a,b]..."

app = typer.Typer(
    name="dermkit",
    help="From a folder of skin images to a trained, evaluated, explained and deployable classifier.",
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(highlight=False, markup=False, soft_wrap=True)


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


def cv_table(result: object) -> Table:
    """One row per metric: its value in each fold, then mean +/- std (a :class:`dermkit.engine.cv.CVResult`)."""
    rows, summary = result.rows, result.summary  # type: ignore[attr-defined]
    table = Table(title=result.protocol, title_justify="left")  # type: ignore[attr-defined]
    table.add_column("metric")
    for row in rows:
        table.add_column(f"fold {row['fold']}", justify="right")
    table.add_column("mean +/- std", justify="right", style="bold")
    table.add_row("test images", *(str(row["n_test"]) for row in rows), "")
    for name in summary:
        if summary[name]["mean"] is None:
            continue
        spread = f"{_cell(summary[name]['mean'])} +/- {_cell(summary[name]['std'])}"
        table.add_row(name, *(_cell(row[name]) for row in rows), spread)
    return table


def _cell(value: float | None) -> str:
    return format_number(value, 4, missing="-")
