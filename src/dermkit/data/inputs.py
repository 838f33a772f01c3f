"""What ``dermkit predict`` accepts: image files, folders (searched recursively), CSV manifests and decoded-image
caches (``dermkit prepare``), in order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dermkit.data.cache import is_cache, read_cache
from dermkit.data.formats import ReadOptions, image_files
from dermkit.data.manifests import read_csv_manifest
from dermkit.data.records import Record


def collect_images(inputs: Sequence[str | Path], path_column: str | None = None) -> list[Record]:
    """One record per image, in the order given (folders sorted, manifests in row order).

    ``path_column`` names the image column of CSV manifests whose column is not one of the usual spellings.

    A path that does not exist or is not an image still yields a record: prediction reports it as an error row
    instead of stopping, so one bad entry never costs the others.
    """
    records: list[Record] = []
    for item in inputs:
        path = Path(item).expanduser()
        if is_cache(path):  # its images in manifest order, each read from its stored row
            cached = read_cache(path, ReadOptions(paths_only=True)).records
            records.extend(Record(path=record.path, meta=record.meta, pixels=record.pixels) for record in cached)
        elif path.is_dir():
            records.extend(Record(path=file) for file in image_files(path))
        elif path.is_file() and path.suffix.lower() == ".csv":
            table = read_csv_manifest(path, ReadOptions(path_column=path_column, check_files=False, paths_only=True))
            records.extend(Record(path=record.path, meta=record.meta) for record in table.records)
        else:
            records.append(Record(path=path))
    return records
