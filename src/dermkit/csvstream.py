"""Long CSV tables written as they are made: batch by batch through ``<file>.partial``, resumable after a crash.

A table of predictions for a whole archive is written while it is computed, never held in memory. Each
:meth:`CSVStream.write` appends rows to ``<file>.partial`` and flushes them to disk, so an interruption (Ctrl-C,
``kill -9``, a power cut) loses at most the rows of that one call. When the block ends without error the partial file
is renamed onto ``<file>`` (atomic), so ``<file>`` itself is always a complete table. ``resume=True`` keeps the
complete rows an interrupted run left (a row torn by the interruption is dropped) and appends after them.

If the file system refuses a write (full disk, read-only...), the partial file is removed and one
:class:`~dermkit.errors.OutputPathError` line is raised; any other exception (an interruption, a bug) leaves the
partial file for a resumed run.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dermkit.errors import OutputPathError
from dermkit.fileio import check_output, make_folder, output_error

PARTIAL_SUFFIX = ".partial"

#: ``check_row(index, cells)``: called on every row kept from an earlier run (0-based); raises to refuse resuming.
RowCheck = Callable[[int, list[str]], None]


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`stream_csv` writes ``path`` until it is complete: ``<path>.partial``."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


class CSVStream:
    """An open partial CSV: :meth:`write` appends rows and flushes them; ``kept`` rows came from an earlier run."""

    def __init__(self, path: Path, handle: IO[str], kept: int) -> None:
        self.path = path
        self.partial = partial_path(path)
        self.kept = kept
        self.written = 0
        self.failed = False
        self._handle = handle
        self._writer = csv.writer(handle)

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append ``rows`` and flush them to disk (after this returns, an interruption cannot lose them)."""
        rows = list(rows)
        try:
            self._writer.writerows(rows)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self.failed = True
            raise output_error(self.path, exc) from None
        self.written += len(rows)


@contextlib.contextmanager
def stream_csv(
    path: str | os.PathLike[str], header: Sequence[str], *, resume: bool = False, check_row: RowCheck | None = None
) -> Iterator[CSVStream]:
    """Write a CSV with ``header`` batch by batch; rename it onto ``path`` when the block ends without error.

    Args:
        path: the finished table.
        header: the column names (a resumed file must have the same).
        resume: keep the complete rows of ``<path>.partial`` (or of a finished ``path``) and append after them;
            without an earlier file the table starts empty.
        check_row: called on each kept row; raise (one line) to refuse a file written for other inputs.

    Yields:
        The stream; ``stream.kept`` rows are already in it.

    Raises:
        OutputPathError: ``path`` cannot be written, the disk filled up (the partial file is then removed), or the
            earlier file does not fit ``header``.
    """
    target = check_output(path, "file")
    partial = partial_path(target)
    stream = _open(target, partial, list(header), resume, check_row)
    try:
        yield stream
    except BaseException:
        with contextlib.suppress(OSError):
            stream._handle.close()  # closing flushes what was written: a resumed run keeps it
        if stream.failed:
            with contextlib.suppress(OSError):
                partial.unlink()
        raise
    try:
        stream._handle.flush()
        os.fsync(stream._handle.fileno())
        stream._handle.close()
        os.replace(partial, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            stream._handle.close()
        with contextlib.suppress(OSError):
            partial.unlink()
        raise output_error(target, exc) from None


def _open(target: Path, partial: Path, header: list[str], resume: bool, check_row: RowCheck | None) -> CSVStream:
    """Open ``partial`` for appending after the rows kept from an earlier run (or afresh, with the header)."""
    kept, end = 0, 0
    make_folder(target.parent, target)
    try:
        if resume and not partial.exists() and target.is_file():
            shutil.copyfile(target, partial)  # a finished table: extend a copy, keep the original until the end
        if resume and partial.is_file():
            kept, end = _kept_rows(partial, header, check_row)
        if end:
            with partial.open("r+b") as raw:
                raw.truncate(end)  # drop a row torn by the interruption
        handle = partial.open("a" if end else "w", encoding="utf-8", newline="")
        if not end:
            csv.writer(handle).writerow(header)
            handle.flush()
    except OutputPathError:
        raise
    except OSError as exc:
        if not end:  # a fresh file: leave nothing behind (rows of an earlier run stay for the next --resume)
            with contextlib.suppress(OSError):
                partial.unlink()
        raise output_error(target, exc) from None
    return CSVStream(target, handle, kept)


def _kept_rows(partial: Path, header: list[str], check_row: RowCheck | None) -> tuple[int, int]:
    """The number of complete rows in ``partial`` and the byte offset after the last; ``(0, 0)`` if even the header
    is torn. Lines are read one at a time, so memory does not grow with the file."""
    rows, end = -1, 0
    with partial.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break  # the last line, torn by the interruption
            try:
                cells = next(csv.reader([line.decode("utf-8")]), [])
            except (UnicodeDecodeError, csv.Error):
                raise OutputPathError(f"{partial} line {number}: not a CSV row; drop --resume to start over") from None
            if rows < 0 and cells != header:
                raise OutputPathError(
                    f"{partial}: its columns ({', '.join(cells)}) are not this table's "
                    f"({', '.join(header)}); drop --resume to start over"
                )
            if rows >= 0:
                if len(cells) != len(header):
                    raise OutputPathError(
                        f"{partial} line {number}: {len(cells)} cells, expected {len(header)}; "
                        "drop --resume to start over"
                    )
                if check_row is not None:
                    check_row(rows, cells)
            rows, end = rows + 1, end + len(line)
    return max(rows, 0), end
