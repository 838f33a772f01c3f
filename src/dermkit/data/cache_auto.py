"""``data.cache=auto``: the decoded-image cache built on first use and kept current, safe under DDP.

The cache of a dataset lives in ``<cache root>/<source name>-<key>``, the key hashing the source's absolute path and
the preprocessing (resize and resize mode), so another dataset or another ``data.resize`` gets its own cache. The
cache root is ``$DERMKIT_CACHE_DIR`` or ``~/.cache/dermkit/decoded`` for ``data.cache=auto``, or the folder
``data.cache`` names. On each use the records' files are compared with the manifest (size and modification time):
when one was added or changed the cache is rebuilt, decoding only those files.

Several processes may start at once (DDP ranks under ``torchrun``, two runs on one dataset): the build happens under
an exclusive lock on ``<cache>/.lock`` (``fcntl.flock``, released if its holder dies), so one process builds while
the others wait, then find the cache current and only read it. The manifest is written last and atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from dermkit.data.cache import VERSION, build_cache, read_manifest, stamp
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import ImageTable, Record

log = logging.getLogger("dermkit")


def cache_root(setting: str) -> Path:
    """Where caches are kept: ``auto`` -> ``$DERMKIT_CACHE_DIR`` or ``~/.cache/dermkit/decoded``; else the folder
    ``setting`` names."""
    if setting == "auto":
        return Path(os.environ.get("DERMKIT_CACHE_DIR") or Path.home() / ".cache" / "dermkit" / "decoded")
    return Path(setting).expanduser()


def cache_folder(root: Path, source: str, preprocess: Preprocess) -> Path:
    """The cache folder of ``source`` prepared with ``preprocess``'s resize: ``<root>/<source name>-<key>``."""
    where = str(Path(source).expanduser().absolute())
    text = json.dumps([VERSION, where, preprocess.resize, preprocess.resize_mode])
    key = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    return root / f"{Path(where).name or 'data'}-{key}"


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (waiting for another process holding it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no flock; concurrent first builds write the same files
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _absolute(record: Record) -> Record:
    return record if record.path.is_absolute() else replace(record, path=record.path.absolute())


def is_current(manifest: dict | None, records: Sequence[Record]) -> bool:
    """Whether the cache holds every record's file as it is now (unreadable files count as held: they were tried)."""
    if manifest is None or manifest.get("version") != VERSION:
        return False
    known = {entry["path"]: (entry["size"], entry["mtime_ns"]) for entry in manifest["records"]}
    for record in records:
        now = stamp(record.path)
        if str(record.path) not in known or tuple(now or (None, None)) != tuple(known[str(record.path)]):
            return False
    return True


def cached_tables(
    tables: Sequence[ImageTable], setting: str | None, preprocess: Preprocess, workers: int | None = None
) -> list[ImageTable]:
    """``tables`` with every record pointing at its row in the dataset's cache, built or updated first if needed.

    Args:
        tables: tables of one dataset (the training and validation records).
        setting: ``data.cache``: None (no cache: the tables are returned as they are), ``auto`` or a folder.
        preprocess: the run's preprocessing; images are cached at its resize.
        workers: decoding threads for a build.

    Returns:
        The tables, in order, with the same records; records already pointing at pixels (MedMNIST) keep them.
    """
    if not setting or all(record.pixels for table in tables for record in table.records):
        return list(tables)
    tables = [table.with_records([_absolute(record) for record in table.records]) for table in tables]
    unique = {str(record.path): record for table in tables for record in table.records}
    first = tables[0]
    folder = cache_folder(cache_root(setting), first.source, preprocess)
    with build_lock(folder):
        manifest = read_manifest(folder)
        if not is_current(manifest, list(unique.values())):
            log.info("decoding %d images once into the cache %s", len(unique), folder)
            whole = ImageTable(list(unique.values()), first.class_names, first.source, first.format)
            manifest = build_cache(whole, folder, size=preprocess.resize, resize_mode=preprocess.resize_mode,
                                   workers=workers)  # fmt: skip
    assert manifest is not None
    stores = {part: str(folder / info["file"]) for part, info in manifest["parts"].items()}
    rows = {e["path"]: (stores[e["part"]], int(e["row"])) for e in manifest["records"] if e["row"] is not None}
    return [table.with_records([replace(r, pixels=rows.get(str(r.path))) for r in table.records]) for table in tables]
