"""MedMNIST v2 ``.npz`` files (DermaMNIST and the other single-label sets), read through a PNG and array cache.

A MedMNIST file holds ``{train,val,test}_images`` (``uint8``, ``(N, S, S, 3)`` or grey ``(N, S, S)``, S = 28, 64, 128
or 224) and ``{train,val,test}_labels`` (``(N, 1)`` integers). dermkit trains on image files, so the arrays are
extracted once to ``<npz folder>/<npz stem>_png/{train,val,test}/<index:05d>.png``, or, when that folder cannot be
written, to ``~/.cache/dermkit/medmnist/<stem>_<hash>``. Each PNG is written to a temporary name and renamed, and a
``.complete`` JSON (the npz size, modification time and image counts) is written last: a cache without it, or made
from another version of the file, is extracted again. Images are streamed from the archive a chunk at a time, so the
224-px files never sit in memory whole.

Reference: Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification", Scientific Data 10:41 (2023).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from dermkit.data import manifests as _manifests  # noqa: F401  (csv_manifest first, so ours go in front of it)
from dermkit.data.arrays import ArrayWriter
from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError
from dermkit.fileio import write_json

SPLITS = ("train", "val", "test")
#: DermaMNIST label order (MedMNIST's), which is the HAM10000 codes sorted alphabetically.
DERMAMNIST_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
MARKER = ".complete"
_CHUNK = 256  # images decoded per read from the archive


def _detect_medmnist(root: Path) -> bool:
    if not (root.is_file() and root.suffix.lower() == ".npz"):
        return False
    try:
        with zipfile.ZipFile(root) as archive:
            return "train_images.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _read_labels(path: Path) -> dict[str, np.ndarray]:
    """Each split's labels as a 1-D int64 array; multi-label sets and bad arrays raise."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            found = {split: npz[f"{split}_labels"] for split in SPLITS if f"{split}_images" in keys}
    except KeyError as exc:
        raise DataError(f"{path}: MedMNIST file has images but no labels {exc}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable MedMNIST .npz file ({exc})") from None
    labels = {}
    for split, array in found.items():
        if array.ndim == 2 and array.shape[1] > 1:
            raise DataError(
                f"{path}: {split}_labels has {array.shape[1]} columns per image: multi-label, not supported "
                "(only single-label MedMNIST sets are read)"
            )
        if array.ndim > 2 or not np.issubdtype(array.dtype, np.integer) or (array.size and array.min() < 0):
            raise DataError(f"{path}: {split}_labels must be non-negative integers of shape (N, 1), got {array.shape}")
        labels[split] = array.reshape(-1).astype(np.int64)
    return labels


def _iter_images(path: Path, split: str) -> Iterator[np.ndarray]:
    """Yield the images of one split one by one, reading the ``.npy`` member of the archive in chunks."""
    where = f"{path}: {split}_images"
    with zipfile.ZipFile(path) as archive, archive.open(f"{split}_images.npy") as handle:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(handle)
        if dtype != np.uint8 or len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
            raise DataError(f"{where} must be uint8 of shape (N, S, S[, 3]), got {dtype} {shape}")
        if fortran_order:
            raise DataError(f"{where} is stored in Fortran order; re-save it with numpy.savez")
        item = int(np.prod(shape[1:]))
        for start in range(0, shape[0], _CHUNK):
            count = min(_CHUNK, shape[0] - start)
            data = handle.read(count * item)
            if len(data) != count * item:
                raise DataError(f"{where} is truncated (the file ends inside image {start + len(data) // item})")
            chunk = np.frombuffer(data, dtype=np.uint8).reshape((count, *shape[1:]))
            for image in chunk:
                yield image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


def _png_path(folder: Path, split: str, index: int) -> Path:
    return folder / split / f"{index:05d}.png"


def _array_path(folder: Path, split: str) -> Path:
    return folder / f"{split}.npy"


def _stamp(path: Path, labels: dict[str, np.ndarray]) -> dict[str, object]:
    stat = path.stat()
    counts = {split: int(array.size) for split, array in labels.items()}
    return {"npz": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "counts": counts, "arrays": 1}


def _is_complete(folder: Path, stamp: dict[str, object]) -> bool:
    """True when ``folder`` holds a finished extraction of exactly this npz file."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker != stamp:
        return False
    counts: dict[str, int] = stamp["counts"]  # type: ignore[assignment]
    pngs = all(_png_path(folder, split, n - 1).is_file() for split, n in counts.items() if n)
    return pngs and all(_array_path(folder, split).is_file() for split, n in counts.items() if n)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _fallback_folder(path: Path) -> Path:
    """``~/.cache/dermkit/medmnist/<stem>_<sha1 of the first MB and the size>``."""
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    digest.update(str(path.stat().st_size).encode())
    return Path.home() / ".cache" / "dermkit" / "medmnist" / f"{path.stem}_{digest.hexdigest()[:16]}"


def _save_png(image: np.ndarray, target: Path) -> None:
    """Write one PNG under a temporary name and rename it, so a reader never sees half a file."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def extract_pngs(path: Path, folder: Path, labels: dict[str, np.ndarray], stamp: dict[str, object]) -> None:
    """Write every image of ``path`` as ``folder/<split>/<index:05d>.png`` and into the RGB array
    ``folder/<split>.npy``, then the ``.complete`` marker."""
    with contextlib.suppress(FileNotFoundError):
        (folder / MARKER).unlink()
    for split, split_labels in labels.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        count, rows = 0, ArrayWriter(_array_path(folder, split))
        try:
            for index, image in enumerate(_iter_images(path, split)):
                _save_png(image, _png_path(folder, split, index))
                rows.add(np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image)  # as the PNG decodes
                count += 1
        except BaseException:
            rows.abort()
            raise
        if count:
            rows.close()
        else:
            rows.abort()
        if count != split_labels.size:
            raise DataError(f"{path}: {split} has {count} images but {split_labels.size} labels")
    write_json(folder / MARKER, stamp)


def png_cache(path: Path, labels: dict[str, np.ndarray]) -> Path:
    """The folder of extracted PNGs for ``path``, extracting them first when no finished cache exists."""
    stamp = _stamp(path, labels)
    primary = path.parent / f"{path.stem}_png"
    if _is_complete(primary, stamp):
        return primary
    folder = primary if _writable(primary) else _fallback_folder(path)
    if folder != primary and _is_complete(folder, stamp):
        return folder
    if not _writable(folder):
        raise DataError(f"{path}: cannot write the PNG cache to {primary} or {folder}")
    try:
        extract_pngs(path, folder, labels, stamp)
    except DataError:
        raise
    except (OSError, zipfile.BadZipFile, zlib.error, ValueError) as exc:
        raise DataError(f"{path}: cannot extract the images to {folder} ({exc})") from None
    return folder


def medmnist_class_names(path: Path, num_classes: int, given: tuple[str, ...] | None) -> list[str]:
    """DermaMNIST's HAM10000 codes, ``"0".."K-1"`` for other sets, or the user's names (checked to cover K)."""
    if given is not None:
        if len(given) < num_classes:
            raise DataError(f"{path}: labels go up to {num_classes - 1} but data.class_names names {len(given)}")
        return list(given)
    if num_classes <= len(DERMAMNIST_CLASSES) and ("derma" in path.stem.lower() or num_classes == 7):
        return list(DERMAMNIST_CLASSES)
    return [str(index) for index in range(num_classes)]


def read_medmnist(root: Path, options: ReadOptions) -> ImageTable:
    """Read a MedMNIST ``.npz``: records point at the cached PNGs and their array rows, with the file's
    train/val/test splits.

    ``options.class_names`` renames the label indices; a reordering of the default names (e.g. to put a positive
    class last) moves the labels with their names instead.
    """
    labels = _read_labels(root)
    if "train" not in labels:
        raise DataError(f"{root}: no train_images array; not a MedMNIST file")
    num_classes = max((int(array.max()) + 1 for array in labels.values() if array.size), default=0)
    default = medmnist_class_names(root, num_classes, None)
    given = options.class_names
    names = medmnist_class_names(root, num_classes, given)
    remap = list(range(len(default)))
    if given is not None and sorted(given) == sorted(default) and list(given) != default:
        remap = [names.index(name) for name in default]
    folder = png_cache(root, labels)
    records = [
        Record(
            path=_png_path(folder, split, index),
            label=None if options.paths_only else remap[int(label)],
            split=split,
            pixels=(str(_array_path(folder, split)), index),
        )
        for split, split_labels in labels.items()
        for index, label in enumerate(split_labels.tolist())
    ]
    return ImageTable(records, names, source=str(root), format="medmnist")


register_format(
    DatasetFormat(
        "medmnist",
        "a MedMNIST v2 .npz (train_images, train_labels, val_..., test_...), e.g. dermamnist.npz",
        _detect_medmnist,
        read_medmnist,
    ),
    priority=0,
)
