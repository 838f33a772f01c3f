"""The ``dermkit`` command line: thin typer commands over library functions.

User mistakes (a bad path, an unknown key, a corrupt model file) print one ``error:`` line and exit with status 2;
inputs of which not one image could be read exit with 1; tracebacks are kept for real bugs (Python exits with 1).
The README's exit-status table lists every code.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

import typer

# Importing the command modules registers their commands on ``app``.
from dermkit.cli import data_commands as _data_commands  # noqa: F401
from dermkit.cli import deploy_commands as _deploy_commands  # noqa: F401
from dermkit.cli import eval_commands as _eval_commands  # noqa: F401
from dermkit.cli import export_commands as _export_commands  # noqa: F401
from dermkit.cli import info_commands as _info_commands  # noqa: F401
from dermkit.cli import model_commands as _model_commands  # noqa: F401
from dermkit.cli import options as _options  # noqa: F401
from dermkit.cli.app import app, quiet_lightning
from dermkit.errors import DermkitError, NothingReadableError
from dermkit.inference.shards import leave_process_group
from dermkit.registry import RegistryError


def _configure_logging() -> None:
    """dermkit's own warnings as ``warning: ...`` lines; Lightning's start-up chatter (GPU/TPU lines) silenced."""
    logger = logging.getLogger("dermkit")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    quiet_lightning()


_REFUSALS = (PermissionError, FileExistsError, NotADirectoryError, IsADirectoryError)
_REFUSAL_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 no image readable, 2 user or usage error, 130 interrupted)."""
    _configure_logging()
    finished = False
    try:
        status = app(args=argv, prog_name="dermkit", standalone_mode=False)
        finished = True
    except (DermkitError, RegistryError) as exc:
        if getattr(exc, "every_process", False) and os.environ.get("LOCAL_RANK", "0") != "0":
            return 2  # every DDP process raised the same error: the first one prints it
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return 1 if isinstance(exc, NothingReadableError) else 2
    except OSError as exc:
        # The file system refused (no permission, disk full, a file where a folder must go): the user's to fix.
        # Other OS errors keep their traceback: they may be bugs.
        if not exc.filename or not (isinstance(exc, _REFUSALS) or exc.errno in _REFUSAL_ERRNOS):
            raise
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as exc:
        # Usage errors (unknown option, missing argument) come from typer's bundled click: show its usage text.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        raise
    finally:
        leave_process_group(finished)
    return status if isinstance(status, int) else 0  # click returns typer.Exit's code when not standalone


__all__ = ["app", "main"]
