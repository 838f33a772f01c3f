"""User-facing errors.

Every mistake a user can make (a bad path, an unknown key, a corrupt image) raises a :class:`DermkitError`
whose message is one line naming the file or key and the problem. The CLI prints that line and exits with
status 2 instead of showing a traceback; library users catch the exception like any other.
"""

from __future__ import annotations


def one_line(text: object) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``, ``\\x00``), so a file name or CSV
    cell quoted in a message cannot spread it over several lines."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DermkitError(Exception):
    """A problem with the user's input, explained in one line."""


class _OneLineError(DermkitError):
    """An error whose message quotes user data (paths, cells) yet must stay one line."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(message), *args)


class ConfigError(DermkitError, ValueError):
    """An invalid configuration key or value."""


class DataError(_OneLineError, ValueError):
    """A dataset that cannot be read as asked (layout, labels, missing files)."""


class NothingReadableError(DataError):
    """Not one of the input images could be read, so nothing was predicted (the CLI exits with status 1)."""


class ImageLoadError(DermkitError, OSError):
    """One image that cannot be decoded. ``path`` names the file, ``reason`` the problem."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(one_line(f"{self.path}: {reason}"))


class ModelFileError(DermkitError, OSError):
    """A model path that does not hold a readable dermkit model."""


class OutputPathError(_OneLineError, OSError):
    """An output path that cannot be written (a folder where a file is expected, no permission)."""


class ExportError(DermkitError):
    """A model that cannot be exported (an operator ONNX lacks) or whose export does not reproduce it."""


class NonFiniteLossError(DermkitError, ArithmeticError):
    """Training met a NaN or infinite loss (or weights) and stopped; the message names the epoch, step and learning
    rate. Every DDP process raises it alike, so only the first process's is printed (``every_process``)."""

    every_process = True
