"""A decoded-image cache: every image of a dataset decoded and resized once, stored as uint8 arrays.

``dermkit prepare DATA --size N --out CACHE`` (or ``data.cache=auto``, :mod:`dermkit.data.cache_auto`) decodes each
image with reduced-scale JPEG decoding, resizes it as a model's :class:`~dermkit.data.preprocess.Preprocess` would
(``resize_mode`` and short side or square side ``N``), and writes one array store per split
(:mod:`dermkit.data.arrays`) plus ``manifest.json``: per image its source path, size and modification time, label,
count, split, group and metadata columns, and its store row; unreadable images are listed with their error and get
no row. ``data.root=CACHE`` reads the folder back as a dataset (format ``decoded_cache``) whose records are those of
the sources, each pointing at its row, so training, evaluation and prediction read pixels instead of files. When
``N`` equals the model's ``data.resize`` the pixels are exactly those decoding the files would give.

A source whose size or modification time differs from the manifest's no longer matches its row: reading the cache
decodes that file instead (and says so), and rebuilding the cache (``prepare`` again, or ``data.cache=auto``)
decodes only such files, copying the rows of the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dermkit import __version__
from dermkit.data.arrays import ArrayWriter, forget_store, read_pixels, shapes_path, usable_cores
from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError, ImageLoadError
from dermkit.fileio import write_json

log = logging.getLogger("dermkit")
MANIFEST = "manifest.json"
KIND = "dermkit decoded-image cache"
VERSION = 1
_CHUNK = 256  # images decoded per round of the thread pool (bounds the pixels waiting to be written)


def stamp(path: Path) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a source file, or None when it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of the cache in ``folder``, or None when there is none (or it is not a dermkit cache)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("kind") == KIND else None


def is_cache(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a decoded-image cache."""
    return Path(path).is_dir() and read_manifest(path) is not None


def _part(record: Record) -> str:
    return record.split or "all"


def _reusable(manifest: dict[str, Any] | None, folder: Path, preprocess: Preprocess) -> dict[str, dict[str, Any]]:
    """Entries of an earlier build with the same preprocessing, by source path, with their store file resolved."""
    if manifest is None or manifest.get("preprocessing") != _preprocessing(preprocess):
        return {}
    stores = {part: str(folder / info["file"]) for part, info in manifest.get("parts", {}).items()}
    return {
        entry["path"]: {**entry, "store": stores[entry["part"]]}
        for entry in manifest.get("records", [])
        if entry.get("row") is not None and entry.get("part") in stores
    }


def _preprocessing(preprocess: Preprocess) -> dict[str, Any]:
    return {"size": preprocess.resize, "resize_mode": preprocess.resize_mode}


def _pixels(record: Record, preprocess: Preprocess, old: dict[str, Any] | None) -> tuple[np.ndarray | str, bool]:
    """The resized pixels of ``record`` (the earlier build's row when its source is unchanged) or its error line;
    and whether the row was reused."""
    if old is not None and [old.get("size"), old.get("mtime_ns")] == list(stamp(record.path) or ()):
        with contextlib.suppress(ImageLoadError):
            return read_pixels(Record(record.path, pixels=(old["store"], old["row"]))), True
    try:
        return preprocess.resize_image(read_pixels(record, min_size=preprocess.resize)), False
    except ImageLoadError as exc:
        return str(exc), False


def _decoded(
    records: Sequence[Record], preprocess: Preprocess, reusable: dict[str, dict[str, Any]], workers: int
) -> Iterator[tuple[np.ndarray | str, bool]]:
    """Pixels (or error lines) of ``records`` in order, decoded by ``workers`` threads (decoding and resizing
    release the GIL)."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            yield from pool.map(lambda r: _pixels(r, preprocess, reusable.get(str(r.path))), chunk)


def _entry(record: Record) -> dict[str, Any]:
    size, mtime = stamp(record.path) or (None, None)
    return {"path": str(record.path), "size": size, "mtime_ns": mtime, "label": record.label, "count": record.count,
            "split": record.split, "group": record.group, "meta": dict(record.meta), "part": _part(record)}  # fmt: skip


def build_cache(
    table: ImageTable,
    folder: str | Path,
    *,
    size: int,
    resize_mode: str = "shorter",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Decode every image of ``table`` once into a cache in ``folder`` and return its manifest.

    Rows of an earlier build in ``folder`` whose source is unchanged (same size and modification time) and whose
    preprocessing is the same are copied instead of decoded again. The stores are written under new names and the
    manifest last, each atomically, so a reader never sees a half-built cache; the old stores are removed after.

    Args:
        table: the dataset (any format; records that already point at pixels are read from them).
        folder: the cache folder (created).
        size: side the images are resized to (the short side for ``shorter``; the square's for the other modes).
        resize_mode: ``shorter``, ``square`` or ``pad_square`` (as :class:`~dermkit.data.preprocess.Preprocess`).
        workers: decoding threads (default: the usable cores).
        progress: ``progress(done, total)`` after each image.

    Returns:
        The manifest written to ``folder/manifest.json``.
    """
    folder = Path(folder).absolute()
    preprocess = Preprocess(image_size=size, resize=size, resize_mode=resize_mode)
    old = read_manifest(folder)
    reusable = _reusable(old, folder, preprocess)
    records = [record if record.path.is_absolute() else _absolute(record) for record in table.records]
    build = uuid.uuid4().hex[:8]
    writers: dict[str, ArrayWriter] = {}
    entries, unreadable, reused = [], [], 0
    try:
        decoded = _decoded(records, preprocess, reusable, workers or usable_cores())
        for done, (record, (pixels, was_reused)) in enumerate(zip(records, decoded, strict=True), start=1):
            entry = _entry(record)
            if isinstance(pixels, str):
                entry.update(row=None, error=pixels)
                unreadable.append(pixels)
            else:
                part = entry["part"]
                if part not in writers:
                    writers[part] = ArrayWriter(folder / f"{part}-{build}.npy")
                entry.update(row=writers[part].add(pixels), error=None)
                reused += was_reused
            entries.append(entry)
            if progress is not None:
                progress(done, len(records))
        parts = {part: _close(part, writer) for part, writer in writers.items()}
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    manifest = {"kind": KIND, "version": VERSION, "dermkit_version": __version__, "source": table.source,
                "format": table.format, "class_names": list(table.class_names),
                "preprocessing": _preprocessing(preprocess), "parts": parts, "images": len(entries),
                "reused": reused, "unreadable": unreadable, "records": entries}  # fmt: skip
    _publish(folder, manifest, {entry["store"] for entry in reusable.values()})
    return manifest


def _absolute(record: Record) -> Record:
    return replace(record, path=record.path.absolute())


def _close(part: str, writer: ArrayWriter) -> dict[str, Any]:
    path = writer.close()
    return {"file": path.name, "count": len(writer.shapes), "bytes": path.stat().st_size}


def _publish(folder: Path, manifest: dict[str, Any], old: set[str]) -> None:
    """Write the manifest that makes a build's new stores the cache, then delete the stores it replaces. When the
    manifest cannot be written, the new stores are deleted instead (no manifest, no cache) and the old cache stays."""
    try:
        write_json(folder / MANIFEST, manifest)
    except BaseException:
        for info in manifest["parts"].values():
            (folder / info["file"]).unlink(missing_ok=True)
            (folder / shapes_path(info["file"]).name).unlink(missing_ok=True)
        raise
    _remove_stale_stores(folder, manifest["parts"], old)


def _remove_stale_stores(folder: Path, parts: dict[str, dict[str, Any]], old: set[str]) -> None:
    """Delete the stores of earlier builds (processes still reading them keep their open maps)."""
    for store in old:
        forget_store(store)
    keep = {info["file"] for info in parts.values()} | {shapes_path(info["file"]).name for info in parts.values()}
    for path in folder.glob("*.npy"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def cached_records(manifest: dict[str, Any], folder: str | Path) -> tuple[list[Record], int]:
    """The manifest's records, each pointing at its store row; and how many sources changed since the build.

    A source that still exists but whose size or modification time differs keeps no row (it is decoded from its
    file); a source that is gone keeps its row (the cache may have moved to another machine).
    """
    folder = Path(folder)
    stores = {part: str(folder / info["file"]) for part, info in manifest["parts"].items()}
    records, changed = [], 0
    for entry in manifest["records"]:
        path = Path(entry["path"])
        pixels = None if entry["row"] is None else (stores[entry["part"]], int(entry["row"]))
        now = stamp(path)
        if pixels is not None and now is not None and list(now) != [entry["size"], entry["mtime_ns"]]:
            pixels, changed = None, changed + 1
        records.append(Record(path, entry["label"], entry["split"], entry["group"], dict(entry["meta"]),
                              entry["count"], pixels=pixels))  # fmt: skip
    return records, changed


def _renamed_labels(records: list[Record], stored: list[str], given: Sequence[str], where: Path) -> list[Record]:
    """Records with labels re-indexed from the stored class order to ``given`` (``data.class_names``)."""
    missing = [name for name in stored if name not in given]
    if missing:
        known = ", ".join(given)
        raise DataError(f"{where}: class '{missing[0]}' of the cache is not among data.class_names ({known})")
    index = [list(given).index(name) for name in stored]
    return [record if record.label is None else replace(record, label=index[record.label]) for record in records]


def read_cache(root: Path, options: ReadOptions) -> ImageTable:
    """Read a decoded-image cache as a dataset: the sources' records, each pointing at its stored pixels."""
    manifest = read_manifest(root)
    if manifest is None:
        raise DataError(f"{root}: not a dermkit decoded-image cache (no valid {MANIFEST})")
    if manifest.get("version") != VERSION:
        version = manifest.get("version")
        raise DataError(f"{root}: cache version {version}; this dermkit reads version {VERSION}: prepare it again")
    records, changed = cached_records(manifest, root)
    if changed:
        log.warning("%s: %d source images changed since the cache was built; they are decoded from their files "
                    "(run dermkit prepare again to cache them)", root, changed)  # fmt: skip
    names = list(manifest["class_names"])
    if options.class_names is not None and list(options.class_names) != names:
        records, names = _renamed_labels(records, names, options.class_names, root), list(options.class_names)
    if options.paths_only:
        records = [replace(record, label=None, count=None) for record in records]
    return ImageTable(records, names, source=str(root), format="decoded_cache")


register_format(
    DatasetFormat(
        "decoded_cache", "a folder written by dermkit prepare (manifest.json + uint8 .npy arrays)", is_cache, read_cache
    ),
    priority=0,
)
