"""Find exact and near duplicate images.

Dermatology datasets often hold the same photograph twice (copied between folders, re-exported, re-compressed).
If the copies land in different splits the test score is inflated, so splits merge them into one group (see
:func:`dermkit.data.splits.merge_groups`). Exact copies are found by SHA-256 of the file bytes; near copies by the
DCT perceptual hash (pHash, Zauner 2010), which survives resizing, JPEG re-compression and small colour changes.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from dermkit.data.splits import merge_groups
from dermkit.errors import DataError

_MAX_BLOCK_ELEMENTS = 1 << 22  # XOR matrix cells per block in near_duplicate_pairs (32 MB of uint64)


def file_digest(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks.

    Args:
        path: the file.
        chunk_size: bytes read at a time.

    Returns:
        The 64-character lowercase hex digest.

    Raises:
        DataError: if the file cannot be read.
    """
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def exact_duplicate_groups(
    paths: Sequence[str | Path],
    *,
    workers: int = 4,
    skip_unreadable: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[Path]]:
    """Groups of byte-identical files.

    Only files that share their size with another file are hashed, in a pool of ``workers`` threads. A path
    listed more than once counts once.

    Args:
        paths: the files to compare.
        workers: number of hashing threads (>= 1).
        skip_unreadable: leave out files that cannot be read (training reports them later) instead of raising.
        progress: called as ``progress(done, total)`` after each file hashed (total: the files that are hashed).

    Returns:
        Groups of two or more identical files; each group sorted, groups sorted by their first path.

    Raises:
        DataError: if ``workers`` < 1 or a file cannot be read.
    """
    if workers < 1:
        raise DataError(f"workers must be >= 1, got {workers}")
    by_size: dict[int, list[Path]] = defaultdict(list)
    for path in dict.fromkeys(Path(p) for p in paths):
        try:
            by_size[os.stat(path).st_size].append(path)
        except OSError as exc:
            if not skip_unreadable:
                raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    candidates = [p for same_size in by_size.values() if len(same_size) > 1 for p in same_size]
    if not candidates:
        return []

    def digest_of(path: Path) -> str | None:
        try:
            return file_digest(path)
        except DataError:
            if skip_unreadable:
                return None
            raise

    digests = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for digest in pool.map(digest_of, candidates):
            digests.append(digest)
            if progress is not None:
                progress(len(digests), len(candidates))
    by_digest: dict[str, list[Path]] = defaultdict(list)
    for path, digest in zip(candidates, digests, strict=True):
        if digest is not None:
            by_digest[digest].append(path)
    groups = [sorted(group) for group in by_digest.values() if len(group) > 1]
    return sorted(groups, key=lambda group: group[0])


def leak_free_groups(
    paths: Sequence[str | Path],
    groups: Sequence[Hashable | None] | None,
    *,
    skip_unreadable: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[int], list[list[Path]]]:
    """A group index per item that keeps together what must never straddle two splits.

    That is every item of one patient (``groups``; None entries are unknown and tie nothing), byte-identical files,
    and a file listed twice. Splitters (``split``, the automatic validation hold-out, cross-validation folds) pass
    these groups to :func:`dermkit.data.splits.stratified_group_split` / ``kfold_assign``.

    ``progress(done, total)`` follows the hashing (see :func:`exact_duplicate_groups`).

    Returns:
        The merged group index per item, and the groups of byte-identical files found.
    """
    duplicates = exact_duplicate_groups(paths, skip_unreadable=skip_unreadable, progress=progress)
    rows_of: dict[Path, list[int]] = {}
    for i, path in enumerate(paths):
        rows_of.setdefault(Path(path), []).append(i)
    same = [[i for path in group for i in rows_of[path]] for group in duplicates]
    same += [rows for rows in rows_of.values() if len(rows) > 1]
    return merge_groups(groups, same, len(paths)), duplicates


def perceptual_hash(image: np.ndarray, hash_size: int = 8) -> int:
    """DCT perceptual hash (pHash) of an image.

    The image is converted to grayscale, resized to ``4 * hash_size`` pixels square (32 x 32 by default) with
    area interpolation, transformed by a 2-D DCT, and the top-left ``hash_size`` x ``hash_size`` block of
    low-frequency coefficients is kept. Each bit says whether a coefficient lies above the block's median, the
    DC term excluded from the median. Bits are packed row-major, first coefficient in the most significant bit.

    Args:
        image: ``H x W x 3`` RGB (``H x W x 4`` RGBA, or ``H x W`` grayscale) uint8 array.
        hash_size: side of the kept DCT block, 2..8 (the hash has ``hash_size ** 2`` bits; 64 by default).

    Returns:
        The hash as a non-negative int.

    Raises:
        DataError: if the image is not a non-empty uint8 grayscale/RGB/RGBA array or ``hash_size`` is out of range.
    """
    if not 2 <= hash_size <= 8:
        raise DataError(f"hash_size must be between 2 and 8, got {hash_size}")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise DataError(f"perceptual_hash needs a uint8 image, got dtype {image.dtype}")
    if image.size == 0:
        raise DataError(f"perceptual_hash got an empty image of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        gray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        gray = image
    else:
        raise DataError(f"perceptual_hash needs an H x W x 3 RGB image, got shape {image.shape}")
    side = 4 * hash_size
    small = cv2.resize(np.ascontiguousarray(gray), (side, side), interpolation=cv2.INTER_AREA)
    block = cv2.dct(small.astype(np.float32))[:hash_size, :hash_size].ravel()
    bits = block > np.median(block[1:])
    value = 0
    for bit in bits.tolist():
        value = (value << 1) | int(bit)
    return value


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two non-negative integer hashes."""
    if a < 0 or b < 0:
        raise DataError(f"hashes must be non-negative, got {a} and {b}")
    return (int(a) ^ int(b)).bit_count()


def near_duplicate_pairs(hashes: Sequence[int], max_distance: int = 6) -> list[tuple[int, int, int]]:
    """All pairs of hashes within ``max_distance`` bits of each other.

    Vectorised: hashes are XOR-ed as uint64 in row blocks (bounded memory) and bits counted with
    ``np.bitwise_count``, so 10,000 hashes take well under a second.

    Args:
        hashes: 64-bit (or shorter) non-negative hashes, e.g. from :func:`perceptual_hash`.
        max_distance: largest Hamming distance reported (>= 0).

    Returns:
        ``(i, j, distance)`` with ``i < j``, sorted by ``i`` then ``j``.

    Raises:
        DataError: if ``max_distance`` < 0 or a hash does not fit in 64 unsigned bits.
    """
    if max_distance < 0:
        raise DataError(f"max_distance must be >= 0, got {max_distance}")
    try:
        values = np.array([int(h) for h in hashes], dtype=np.uint64)
    except OverflowError:
        raise DataError("hashes must be non-negative integers below 2**64") from None
    n = len(values)
    pairs: list[tuple[int, int, int]] = []
    if n < 2:
        return pairs
    block = max(1, _MAX_BLOCK_ELEMENTS // n)
    for start in range(0, n - 1, block):
        stop = min(start + block, n - 1)
        # Rows start..stop-1 against columns start+1..n-1; keep the strict upper triangle only.
        distances = np.bitwise_count(values[start:stop, None] ^ values[None, start + 1 :])
        rows = np.arange(start, stop)[:, None]
        cols = np.arange(start + 1, n)[None, :]
        mask = (distances <= max_distance) & (cols > rows)
        r, c = np.nonzero(mask)
        found = distances[r, c]
        pairs.extend(zip((r + start).tolist(), (c + start + 1).tolist(), found.tolist(), strict=True))
    return pairs
