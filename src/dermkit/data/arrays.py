"""Decoded images stored as uint8 arrays on disk, read through memory maps.

A store is one ``.npy`` file plus ``<name>.shapes.npy`` (``(N, 2)`` heights and widths). When every image has the
same shape the file holds a ``(N, H, W, 3)`` array (one row per image, so a batch is one fancy index); otherwise it
holds the images' pixels back to back in a flat ``(total,)`` array, image ``i`` starting where image ``i - 1``
ends. Either way ``np.load(path, mmap_mode="r")`` opens it, so a store larger than memory costs only the pages read,
and processes that read the same store (DataLoader workers, DDP ranks) share the operating system's page cache.

Records point at a row with ``Record.pixels = (store file, row)``; :func:`read_pixels` returns that row (or decodes
the record's file when it has none), so every dataset reads cached and uncached records alike.
"""

from __future__ import annotations

import contextlib
import os
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np

from dermkit.data.decode import load_image
from dermkit.data.records import Record
from dermkit.errors import DataError, ImageLoadError
from dermkit.fileio import atomic_open

HEADER_BYTES = 128  # npy version 1.0 header of a uint8 array of up to 4 dimensions, padded to 64-byte alignment


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or ``taskset``'s share), for the number of
    decoding threads and loader processes."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shapes_path(path: str | Path) -> Path:
    """The file of a store's image shapes: ``train.npy`` -> ``train.shapes.npy``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shapes.npy")


class ArrayWriter:
    """Append RGB uint8 images to a new store; nothing is visible at ``path`` until :meth:`close` succeeds.

    The pixels stream into a temporary file behind a reserved header, so a store larger than memory is written
    without holding it; :meth:`close` writes the header (4-D when every image had the same shape, else flat) and
    renames the files into place (:func:`dermkit.fileio.atomic_open`).

    Args:
        path: the ``.npy`` file to create.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.shapes: list[tuple[int, int]] = []
        self._stack = contextlib.ExitStack()
        self._handle: IO[bytes] = self._stack.enter_context(atomic_open(self.path, "wb"))
        self._handle.write(b"\0" * HEADER_BYTES)

    def add(self, image: np.ndarray) -> int:
        """Append ``image`` ((H, W, 3) uint8) and return its row."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{self.path}: images must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
        self._handle.write(np.ascontiguousarray(image).tobytes())
        self.shapes.append((int(image.shape[0]), int(image.shape[1])))
        return len(self.shapes) - 1

    def close(self) -> Path:
        """Write the header, move the store into place and return its path."""
        uniform = len(set(self.shapes)) == 1
        total = sum(h * w * 3 for h, w in self.shapes)
        shape = (len(self.shapes), *self.shapes[0], 3) if uniform else (total,)
        self._handle.seek(0)
        np.lib.format.write_array_header_1_0(self._handle, {"descr": "|u1", "fortran_order": False, "shape": shape})
        if self._handle.tell() != HEADER_BYTES:  # pragma: no cover - only for shapes with absurdly many digits
            raise DataError(f"{self.path}: array header of {self._handle.tell()} bytes; expected {HEADER_BYTES}")
        self._handle.seek(0, os.SEEK_END)
        self._stack.close()
        with atomic_open(shapes_path(self.path), "wb") as handle:
            np.save(handle, np.asarray(self.shapes, dtype=np.int64).reshape(-1, 2))
        return self.path

    def abort(self) -> None:
        """Drop the partial store (the temporary file is removed; ``path`` is untouched)."""
        with contextlib.suppress(RuntimeError):
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)


class ArrayStore:
    """A store opened read-only through a memory map.

    Args:
        path: the store's ``.npy`` file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.array = np.load(self.path, mmap_mode="r")
            self.shapes = np.load(shapes_path(self.path))
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: not a readable image array store ({exc})") from None
        if self.array.dtype != np.uint8 or self.array.ndim not in (1, 4):
            raise DataError(f"{self.path}: expected a uint8 (N, H, W, 3) or flat array, got {self.array.shape}")

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def uniform(self) -> bool:
        """Whether every image has the same shape (the file is a 4-D array)."""
        return self.array.ndim == 4

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start of each image in a flat store (N + 1 entries)."""
        sizes = self.shapes[:, 0] * self.shapes[:, 1] * 3
        return np.concatenate([[0], np.cumsum(sizes)])

    def image(self, row: int) -> np.ndarray:
        """Image ``row`` as a writeable (H, W, 3) uint8 array."""
        if self.uniform:
            return np.array(self.array[row])
        height, width = self.shapes[row]
        return np.array(self.array[self.offsets[row] : self.offsets[row + 1]]).reshape(height, width, 3)


_OPEN: dict[str, tuple[tuple[int, int], ArrayStore]] = {}


def open_store(path: str | Path) -> ArrayStore:
    """The store at ``path``, opened once per process (a worker or DDP rank maps it itself), and opened again when
    the file was replaced since (a re-extracted MedMNIST file keeps its store names)."""
    key = str(path)
    info = os.stat(key)
    identity = (info.st_ino, info.st_mtime_ns)
    known = _OPEN.get(key)
    if known is None or known[0] != identity:
        known = _OPEN[key] = (identity, ArrayStore(path))
    return known[1]


def forget_store(path: str | Path) -> None:
    """Close this process's map of ``path`` (after the store was replaced by a new build)."""
    _OPEN.pop(str(path), None)


def read_pixels(record: Record, min_size: int | None = None) -> np.ndarray:
    """The record's RGB uint8 image: its stored row when it has one, else its file decoded.

    Args:
        record: the image.
        min_size: smallest side needed (reduced-scale JPEG decoding; see :func:`dermkit.data.decode.load_image`).

    Raises:
        ImageLoadError: the file cannot be decoded, or the store cannot be read (one line naming the record's file).
    """
    if record.pixels is None:
        return load_image(record.path, min_size=min_size)
    file, row = record.pixels
    try:
        return open_store(file).image(row)
    except (OSError, DataError, IndexError, ValueError) as exc:
        raise ImageLoadError(record.path, f"cannot read its decoded pixels from {file} row {row} ({exc})") from None
