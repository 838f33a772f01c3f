"""Tests for dermkit.progress (bars on a terminal, plain lines in logs, nothing when quiet) and the library's
``progress(done, total)`` callbacks."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
from rich.console import Console

from dermkit import progress
from dermkit.data.duplicates import exact_duplicate_groups
from dermkit.metrics.bootstrap import METRICS, bootstrap_metrics
from dermkit.metrics.headline import subgroup_metrics

SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour / style escape sequences


@pytest.fixture(autouse=True)
def _reset_progress():
    yield
    progress.configure()


def _terminal(width: int = 100) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=width), buffer


def test_track_draws_a_rich_bar_on_a_terminal(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    console, buffer = _terminal()
    progress.configure(console=console)
    assert progress.shows_bars()
    with progress.track(40, "predicting", "images") as step:
        for done in range(0, 41, 8):
            step(done)
    out = buffer.getvalue()
    assert "\x1b[" in out and "\r" in out  # a live display: cursor control
    assert SGR.findall(out)  # coloured (NO_COLOR is not set here)
    assert "━" in out and "predicting" in out and "40/40 images" in SGR.sub("", out)


def test_bar_honours_no_color(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    console, buffer = _terminal()  # rich reads NO_COLOR when the console is made
    progress.configure(console=console)
    with progress.track(10, "bootstrap", "resamples") as step:
        step(10)
    out = buffer.getvalue()
    assert "━" in out and "10/10 resamples" in out
    assert not SGR.findall(out)


def test_plain_lines_at_quarters_then_a_closing_line(capsys) -> None:
    progress.configure(interval=0.0)  # stderr under pytest is not a terminal
    assert not progress.shows_bars()
    with progress.track(100, "predicting", "images") as step:
        for done in range(1, 101):
            step(done)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line.split(" (")[0] for line in lines[:3]] == ["predicting: 25%", "predicting: 50%", "predicting: 75%"]
    assert len(lines) == 4 and lines[3].startswith("predicting: 100 images in ")
    assert "\x1b" not in err and "\r" not in err


def test_plain_lines_are_rate_limited_by_time(capsys) -> None:
    progress.configure(interval=3600.0)
    with progress.track(100, "hashing files", "files") as step:
        for done in range(1, 101):
            step(done)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hashing files: 100 files in ")


def test_total_can_arrive_with_the_first_update(capsys) -> None:
    with progress.track(None, "auditing", "files") as step:
        step(3, 7)
        step(7, 7)
    assert step.total == 7 and step.done == 7
    assert capsys.readouterr().err.startswith("auditing: 7 files in ")


def test_quiet_and_silent_show_nothing(capsys) -> None:
    console, buffer = _terminal()
    progress.configure(quiet=True, console=console)
    assert not progress.shows_bars()
    with progress.track(5, "predicting", "images") as step:
        step(5)
    progress.configure(console=console)
    with progress.silent(5, "predicting", "images") as step:
        step(5)
    assert buffer.getvalue() == "" and capsys.readouterr().err == ""


def test_iterating_yields_every_item_and_counts_them(capsys) -> None:
    tracker = progress.track(range(5), "cross-validation", "folds", live=False)
    assert list(tracker) == [0, 1, 2, 3, 4]
    assert tracker.done == 5 and tracker.total == 5
    assert capsys.readouterr().err.startswith("cross-validation: 5 folds in ")


def test_live_false_writes_lines_even_on_a_terminal() -> None:
    console, buffer = _terminal()
    progress.configure(console=console)
    for _ in progress.track(range(2), "cross-validation", "folds", live=False):
        pass
    assert buffer.getvalue().startswith("cross-validation: 2 folds in ") and "\x1b" not in buffer.getvalue()


def test_a_failed_step_writes_no_closing_line(capsys) -> None:
    with pytest.raises(RuntimeError), progress.track(10, "predicting", "images") as step:
        step(4)
        raise RuntimeError("boom")
    assert capsys.readouterr().err == ""


def test_each_finished_step_is_a_debug_log_record(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="dermkit")
    with progress.silent(3, "bootstrap", "resamples") as step:
        step(3)
    assert any(r.levelno == logging.DEBUG and r.getMessage().startswith("bootstrap: 3 resamples in ")
               for r in caplog.records)  # fmt: skip


def test_iterating_a_total_is_refused() -> None:
    with pytest.raises(TypeError, match="pass an iterable"):
        list(progress.silent(3, "x"))


def test_bootstrap_reports_each_resample_and_keeps_its_numbers() -> None:
    y = np.array([0, 1, 0, 1, 1])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55], [0.7, 0.3]])
    calls: list[tuple[int, int]] = []
    functions = {"accuracy": METRICS["accuracy"]}
    record = lambda done, total: calls.append((done, total))  # noqa: E731
    with_progress = bootstrap_metrics(functions, y, proba, n_resamples=3, seed=1, progress=record)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert with_progress == bootstrap_metrics(functions, y, proba, n_resamples=3, seed=1)  # same resamples drawn


@pytest.mark.parametrize(("resamples", "expected_last"), [(2, (4, 4)), (0, (2, 2))])
def test_subgroups_report_resamples_across_all_groups(resamples, expected_last) -> None:
    y = np.array([0, 1, 0, 1, 1])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55], [0.7, 0.3]])
    calls: list[tuple[int, int]] = []
    subgroup_metrics(y, proba, ["a", "a", "b", "b", None], {"accuracy": METRICS["accuracy"]}, n_resamples=resamples,
                     progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    assert calls[-1] == expected_last
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)  # never goes backwards
    assert {total for _, total in calls} == {expected_last[1]}


def test_duplicate_search_reports_the_files_it_hashes(tmp_path) -> None:
    for name, content in {"a.jpg": b"x" * 10, "b.jpg": b"x" * 10, "c.jpg": b"y" * 10, "d.jpg": b"zz"}.items():
        (tmp_path / name).write_bytes(content)
    calls: list[tuple[int, int]] = []
    groups = exact_duplicate_groups(sorted(tmp_path.iterdir()), workers=2, progress=lambda d, t: calls.append((d, t)))
    assert groups == [[tmp_path / "a.jpg", tmp_path / "b.jpg"]]
    assert calls == [(1, 3), (2, 3), (3, 3)]  # d.jpg has a size of its own: never hashed
