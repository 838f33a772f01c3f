"""Progress of long steps: a rich bar on a terminal, a few plain lines in logs, nothing when quiet.

Library functions never print. A function with one long loop takes a callback ``progress(done, total)`` (default
None); a function with several named steps (``evaluate``, ``cross_validate``) takes a :class:`Reporter`, which
:func:`silent` (the default) and :func:`track` both are::

    with progress(len(records), "predicting", "images") as step:
        predictor.predict_records(records, progress=step)   # step(done, total) after every batch

The command line passes :func:`track`. It draws a rich bar on stderr only when stderr is a terminal; otherwise (CI,
logs, pipes) it writes at most a few plain lines per step (25, 50 and 75 %, each at least ``interval`` seconds after
the previous line, then a closing line with the time taken) and no control characters. ``configure(quiet=True)``
turns every step silent. Colours follow rich's console, which honours ``NO_COLOR``. Each finished step is also
logged at DEBUG level on the ``dermkit`` logger with its duration.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Reporter", "Tracker", "configure", "shows_bars", "silent", "track"]

log = logging.getLogger("dermkit")


@dataclass
class _Settings:
    quiet: bool = False
    console: Console | None = None
    interval: float = 5.0


_settings = _Settings()
_stderr_console: Console | None = None


def configure(*, quiet: bool = False, console: Console | None = None, interval: float = 5.0) -> None:
    """Set how :func:`track` shows progress (every call resets all three settings).

    Args:
        quiet: show nothing (``--quiet``).
        console: where bars and lines go (default: a rich console on ``sys.stderr``); tests pass a console over a
            ``StringIO``, ``force_terminal=True`` to see a bar.
        interval: least seconds between two plain progress lines of one step.
    """
    global _settings
    _settings = _Settings(quiet, console, interval)


def _console() -> Console:
    global _stderr_console
    if _settings.console is not None:
        return _settings.console
    if _stderr_console is None:
        from rich.console import Console

        _stderr_console = Console(stderr=True, highlight=False)  # one console: nested bars share its live display
    return _stderr_console


def _is_terminal() -> bool:
    """stderr is an interactive terminal (rich's FORCE_COLOR / TTY_COMPATIBLE do not count: they are set in CI)."""
    if _settings.console is not None:
        return _settings.console.is_terminal and not _settings.console.is_dumb_terminal
    try:
        return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def shows_bars() -> bool:
    """Whether :func:`track` draws live bars now (stderr is a terminal and not quiet); Lightning's follows it."""
    return not _settings.quiet and _is_terminal()


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


class Tracker:
    """One step's progress: a context manager, an iterator over its iterable, and a ``(done, total)`` callback.

    This base class records progress and shows nothing (what :func:`silent` returns).

    Args:
        iterable_or_total: the items to iterate over (their ``len`` is the total when they have one), or the total
            count of units (None: unknown until the first ``(done, total)`` call).
        description: what the step does (``predicting``).
        unit: what is counted (``images``).
    """

    def __init__(self, iterable_or_total: Iterable[Any] | int | None, description: str, unit: str = "items") -> None:
        if iterable_or_total is None or isinstance(iterable_or_total, int):
            self._iterable, self.total = None, iterable_or_total
        else:
            self._iterable = iterable_or_total
            self.total = len(iterable_or_total) if hasattr(iterable_or_total, "__len__") else None
        self.description, self.unit, self.done = description, unit, 0
        self.started = time.monotonic()

    def __enter__(self) -> Tracker:
        self.started = time.monotonic()
        self._open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._close(exc_type is None)
        if exc_type is None and (self.done or self.total):
            log.debug("%s: %d %s in %.2f s", self.description, self.done, self.unit, time.monotonic() - self.started)

    def __call__(self, done: int, total: int | None = None) -> None:
        """Report ``done`` units finished (of ``total``, when it is given or changes)."""
        if total is not None:
            self.total = total
        self.done = done
        self._show()

    def advance(self, units: int = 1) -> None:
        """Report ``units`` more units finished."""
        self(self.done + units)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise TypeError(f"{self.description}: track(total, ...) is a context manager; pass an iterable to iterate")
        with self:
            for item in self._iterable:
                yield item
                self.advance()

    def _rate(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"{rate:.{0 if rate >= 100 else 1 if rate >= 10 else 2}f} {self.unit}/s"

    def _open(self) -> None:
        """Start showing (nothing here)."""

    def _show(self) -> None:
        """Show the current count (nothing here)."""

    def _close(self, ok: bool) -> None:
        """Stop showing; ``ok`` is False when the step raised (nothing here)."""


class _LineTracker(Tracker):
    """Plain lines for logs: at 25 / 50 / 75 % (at least ``interval`` s apart), and one when the step ends."""

    def __init__(self, *args: Any, interval: float, stream: TextIO | None) -> None:
        super().__init__(*args)
        self._interval, self._stream = interval, stream
        self._last, self._quarter = self.started, 0

    def _write(self, line: str) -> None:
        print(line, file=self._stream or sys.stderr, flush=True)

    def _open(self) -> None:
        self._last, self._quarter = self.started, 0

    def _show(self) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        if not self.total:  # unknown total: a count every interval
            self._write(f"{self.description}: {self.done} {self.unit}, {self._rate(now)}")
            self._last = now
            return
        quarter = 4 * min(self.done, self.total) // self.total
        if not self._quarter < quarter < 4:
            return
        self._quarter, self._last = quarter, now
        rate = self.done / (now - self.started)
        left = f", about {_duration((self.total - self.done) / rate)} left" if rate > 0 else ""
        self._write(f"{self.description}: {100 * self.done // self.total}% ({self.done}/{self.total} {self.unit}), "
                    f"{self._rate(now)}{left}")  # fmt: skip

    def _close(self, ok: bool) -> None:
        if ok and (self.done or self.total):
            now = time.monotonic()
            self._write(f"{self.description}: {self.done} {self.unit} in {_duration(now - self.started)} "
                        f"({self._rate(now)})")  # fmt: skip


class _BarTracker(Tracker):
    """A rich progress bar: description, bar, done/total, rate, elapsed and remaining time."""

    def __init__(self, *args: Any, console: Console) -> None:
        super().__init__(*args)
        self._console, self._progress, self._task = console, None, None

    def _open(self) -> None:
        from rich import progress as rp

        self._progress = rp.Progress(
            rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
            rp.TextColumn("{task.fields[unit]}"), rp.TextColumn("{task.fields[rate]}"), rp.TimeElapsedColumn(),
            rp.TimeRemainingColumn(), console=self._console,
        )  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total, unit=self.unit, rate="")

    def _show(self) -> None:
        if self._progress is not None:
            rate = self._rate(time.monotonic())
            self._progress.update(self._task, completed=self.done, total=self.total, rate=rate)

    def _close(self, ok: bool) -> None:
        if self._progress is not None:
            self._show()
            self._progress.stop()
            self._progress = None


class Reporter(Protocol):
    """What a library function with several long steps accepts as ``progress``: :func:`silent` or :func:`track`."""

    def __call__(
        self, iterable_or_total: Iterable[Any] | int | None, description: str, unit: str = "items", *, live: bool = True
    ) -> Tracker: ...


def silent(
    iterable_or_total: Iterable[Any] | int | None, description: str = "", unit: str = "items", *, live: bool = True
) -> Tracker:
    """A :class:`Tracker` that shows nothing: the library's default ``progress``."""
    return Tracker(iterable_or_total, description, unit)


def track(
    iterable_or_total: Iterable[Any] | int | None, description: str, unit: str = "items", *, live: bool = True
) -> Tracker:
    """Show a step's progress as :func:`configure` says: a bar on a terminal, plain lines otherwise, or nothing.

    Args:
        iterable_or_total: the items to iterate over, or the number of units (None: unknown yet).
        description: what the step does, e.g. ``predicting``.
        unit: what is counted, e.g. ``images``.
        live: False for a step that prints between its updates (each cross-validation fold trains with Lightning's
            own bar): it reports in plain lines even on a terminal, as a live bar around other output garbles both.

    Returns:
        A :class:`Tracker`: ``with track(n, ...) as step: step(done, total)`` or ``for x in track(items, ...)``.

    Example:
        >>> for fold in track(range(5), "cross-validation", "folds"):
        ...     pass
    """
    args = (iterable_or_total, description, unit)
    if _settings.quiet:
        return Tracker(*args)
    if live and _is_terminal():
        return _BarTracker(*args, console=_console())
    stream = _settings.console.file if _settings.console is not None else None
    return _LineTracker(*args, interval=_settings.interval, stream=stream)
