"""Output files: checked before work starts, written atomically, and every refusal one line.

:func:`check_output` tells, before hours of work, whether a file or folder can be written (a file in the way, a
read-only or full file system, a folder that refuses new files). Each writer writes a temporary file in the destination
folder and renames it over the target, which is atomic on POSIX and Windows file systems, so a crash or a full disk
never leaves a half-written checkpoint, report or CSV. Every ``OSError`` of the write layer becomes one
:class:`~dermkit.errors.OutputPathError` line naming the path and the problem (:func:`output_error`); the temporary
file is removed. Long tables stream through :func:`dermkit.csvstream.stream_csv`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from dermkit.errors import DermkitError, OutputPathError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; finished files get the permissions a plain open() would give.
_FILE_MODE = 0o666 & ~_current_umask()


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large for the file system",
    errno.ENOTDIR: "a file is in the way of a folder",
    errno.EISDIR: "is a folder",
}


def is_refusal(exc: OSError) -> bool:
    """Whether ``exc`` is the file system refusing a write (full, read-only, no permission), not a bug."""
    return isinstance(exc, PermissionError) or exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def output_error(path: str | os.PathLike[str], exc: OSError, action: str = "cannot write") -> OutputPathError:
    """The one-line error for a file-system refusal while writing ``path``: ``"<path>: cannot write (<reason>)"``."""
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc).splitlines()[0] or type(exc).__name__).lower()
    return OutputPathError(f"{path}: {action} ({reason})")


def check_output(path: str | os.PathLike[str], kind: Literal["file", "folder"] = "file") -> Path:
    """Check that ``path`` can be written, before any work starts; nothing is created.

    A probe file is created and removed in ``path``'s nearest existing folder (root ignores permission bits, and
    ``/proc`` or ``/sys`` refuse files whatever they say), and that folder's file system must have free space.

    Args:
        path: the output file (``kind="file"``) or folder (``kind="folder"``), existing or not.
        kind: what the command writes there.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputPathError: one line naming ``path`` and the problem (a folder where a file is needed or the reverse, a
            file in the way of a parent folder, no permission, a read-only, refusing or full file system).
    """
    if kind not in ("file", "folder"):
        raise ValueError(f"kind must be 'file' or 'folder', not {kind!r}")
    target = Path(path).expanduser()
    try:
        if kind == "file" and target.is_dir():
            raise OutputPathError(f"{target}: is a folder; give the path of a file to write")
        if kind == "folder" and target.exists() and not target.is_dir():
            raise OutputPathError(f"{target}: is a file; give the path of a folder to write into")
        folder = target if kind == "folder" else target.parent
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise OutputPathError(f"{target}: {existing} is a file where a folder is needed")
        _probe(target, existing)
    except OutputPathError:
        raise
    except OSError as exc:  # e.g. no permission to look inside a parent folder
        raise output_error(target, exc, "cannot check") from None
    return target


def _probe(target: Path, folder: Path) -> None:
    """Create and remove a file in ``folder``; refuse a full file system."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".dermkit-check-", suffix=".tmp", dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists but takes no files (/proc)
            raise OutputPathError(f"{target}: cannot write in {folder} (it accepts no new files)") from None
        raise output_error(target, exc, f"cannot write in {folder}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    if not hasattr(os, "statvfs"):
        return
    stats = os.statvfs(folder)
    free = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail  # root may use the blocks reserved for it
    if stats.f_blocks and not free:  # pseudo file systems (/proc) report no blocks at all
        raise OutputPathError(f"{target}: cannot write in {folder} (no space left on the device)")


def make_folder(path: str | os.PathLike[str], target: str | os.PathLike[str] | None = None) -> Path:
    """Create ``path`` and its parents (an existing folder is fine); an ``OSError`` becomes an OutputPathError
    naming ``target`` (default ``path``)."""
    folder, named = Path(path), Path(target if target is not None else path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(f"{named}: cannot create the folder {folder} (a file is in the way)") from None
    except PermissionError:
        raise OutputPathError(f"{named}: no permission to create the folder {folder}") from None
    except OSError as exc:
        raise output_error(named, exc, f"cannot create the folder {folder}") from None
    return folder


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", *, durable: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it onto ``path`` when the block ends without error.

    Args:
        path: the destination; its parent folders are created.
        mode: ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``.
        durable: fsync the file before the rename (a power cut then leaves the old or the new file, never an empty
            one). False for large files rewritten often (checkpoints), where the rename alone keeps interrupted
            writes out and the fsync would cost more than the write.
        **kwargs: passed to :func:`open` (``newline``, ``encoding``).

    Raises:
        OutputPathError: the file system refused (a full disk, a read-only file system...), including a writer that
            reports the refusal as another error raised while handling the OSError (torch's zip writer raises a
            RuntimeError); no temporary file is left.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(f"{target}: is a folder; give the path of a file to write")
    make_folder(target.parent, target)
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise output_error(target, exc) from None
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # only writing happens in the block (see the writers below), so an OSError here is the file system's refusal
        cause = _os_error_behind(exc) if isinstance(exc, Exception) and not isinstance(exc, DermkitError) else None
        if cause is not None:
            raise output_error(target, cause) from None
        raise


def _os_error_behind(exc: BaseException) -> OSError | None:
    """``exc`` when it is an OSError, or the OSError it was raised while handling."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    return seen


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text`` to ``path`` and return the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path`` and return the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN written as ``null``) and return the path."""
    return write_text(path, json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Atomically write a CSV with ``header`` and ``rows`` and return the path."""
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def _json_safe(obj: Any) -> Any:
    """Replace NaN and infinities (undefined metrics) by ``None`` and numpy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _json_safe(obj.tolist())
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
