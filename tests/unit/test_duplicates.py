"""Tests for dermkit.data.duplicates."""

from __future__ import annotations

import hashlib
import shutil

import cv2
import numpy as np
import pytest

from dermkit.data.duplicates import (
    exact_duplicate_groups,
    file_digest,
    hamming_distance,
    leak_free_groups,
    near_duplicate_pairs,
    perceptual_hash,
)
from dermkit.errors import DataError


def _smooth_image(seed: int, size: int = 256) -> np.ndarray:
    """A random but photo-like (smooth) RGB image."""
    low = np.random.default_rng(seed).integers(0, 256, size=(8, 8, 3)).astype(np.uint8)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR)[:, :, ::-1]


def test_file_digest_matches_hashlib(tmp_path) -> None:
    data = np.random.default_rng(0).bytes(10_000)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_digest(path) == expected
    assert file_digest(str(path), chunk_size=7) == expected
    with pytest.raises(DataError, match=r"missing\.bin"):
        file_digest(tmp_path / "missing.bin")


def test_exact_duplicate_groups(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
    original = tmp_path / "a" / "img.jpg"
    original.write_bytes(rng.bytes(500))
    shutil.copy(original, tmp_path / "b" / "img.jpg")
    shutil.copy(original, tmp_path / "c" / "renamed.jpg")
    (tmp_path / "a" / "same_size.jpg").write_bytes(rng.bytes(500))  # equal size, different bytes
    (tmp_path / "b" / "same_size.jpg").write_bytes(rng.bytes(500))
    (tmp_path / "c" / "small.jpg").write_bytes(rng.bytes(10))
    (tmp_path / "c" / "small_copy.jpg").write_bytes((tmp_path / "c" / "small.jpg").read_bytes())
    (tmp_path / "b" / "unique.jpg").write_bytes(rng.bytes(300))
    paths = sorted(tmp_path.rglob("*.jpg"), reverse=True)
    groups = exact_duplicate_groups([*paths, paths[0]], workers=2)  # a path listed twice counts once
    assert groups == [
        [tmp_path / "a" / "img.jpg", tmp_path / "b" / "img.jpg", tmp_path / "c" / "renamed.jpg"],
        [tmp_path / "c" / "small.jpg", tmp_path / "c" / "small_copy.jpg"],
    ]
    assert exact_duplicate_groups([str(p) for p in paths], workers=1) == groups
    assert exact_duplicate_groups([]) == []


def test_exact_duplicate_groups_errors(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope\.jpg"):
        exact_duplicate_groups([tmp_path / "nope.jpg"])
    with pytest.raises(DataError, match="workers"):
        exact_duplicate_groups([], workers=0)


def test_unreadable_files_can_be_skipped(tmp_path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x" * 20)
    (tmp_path / "b.jpg").write_bytes(b"x" * 20)
    missing = tmp_path / "gone.jpg"
    assert exact_duplicate_groups([tmp_path / "a.jpg", missing, tmp_path / "b.jpg"], skip_unreadable=True) == [
        [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    ]


def test_leak_free_groups_join_patients_copies_and_repeated_paths(tmp_path) -> None:
    files = [tmp_path / f"{name}.jpg" for name in "abcdef"]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 50)
    files[4].write_bytes(files[0].read_bytes())  # e is a copy of a
    paths = [*files, files[5]]  # f is listed twice
    patients = ["p1", "p1", "p2", None, None, None, None]  # a and b share a patient
    groups, duplicates = leak_free_groups(paths, patients)
    assert duplicates == [[files[0], files[4]]]
    assert groups[0] == groups[1] == groups[4]  # patient p1 plus the copy of a
    assert groups[5] == groups[6]  # the same file twice
    assert len({groups[0], groups[2], groups[3], groups[5]}) == 4  # nothing else is tied


def test_perceptual_hash_survives_resize_jpeg_and_brightening() -> None:
    for seed in range(10):
        image = _smooth_image(seed)
        reference = perceptual_hash(image)
        assert 0 <= reference < 2**64
        variants = [
            cv2.resize(image, (173, 191), interpolation=cv2.INTER_AREA),
            cv2.resize(image, (512, 512), interpolation=cv2.INTER_LINEAR),
            _jpeg(image, 60),
            np.clip(image.astype(np.int16) + 15, 0, 255).astype(np.uint8),
        ]
        for variant in variants:
            assert hamming_distance(reference, perceptual_hash(variant)) <= 6


def test_perceptual_hash_separates_unrelated_images() -> None:
    hashes = [perceptual_hash(_smooth_image(seed)) for seed in range(12)]
    hashes += [perceptual_hash(np.random.default_rng(seed).integers(0, 256, (64, 80, 3), dtype=np.uint8))
               for seed in range(100, 104)]  # fmt: skip
    distances = [hamming_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > 10
    assert 24 <= float(np.mean(distances)) <= 40


def test_perceptual_hash_inputs() -> None:
    image = _smooth_image(0)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert perceptual_hash(gray) == perceptual_hash(image)
    assert perceptual_hash(np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])) == perceptual_hash(image)
    assert perceptual_hash(image, hash_size=4) < 2**16
    with pytest.raises(DataError, match="uint8"):
        perceptual_hash(image.astype(np.float32))
    with pytest.raises(DataError, match="shape"):
        perceptual_hash(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DataError, match="empty"):
        perceptual_hash(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(DataError, match="hash_size"):
        perceptual_hash(image, hash_size=16)


def test_hamming_distance() -> None:
    assert hamming_distance(0, 0) == 0
    assert hamming_distance(0b1011, 0b0001) == 2
    assert hamming_distance(2**64 - 1, 0) == 64
    with pytest.raises(DataError):
        hamming_distance(-1, 0)


@pytest.mark.parametrize("max_distance", [0, 3, 28])
def test_near_duplicate_pairs_matches_brute_force(max_distance: int) -> None:
    rng = np.random.default_rng(max_distance)
    hashes = rng.integers(0, 2**64, size=150, dtype=np.uint64).tolist()
    hashes += [h ^ (1 << int(rng.integers(64))) for h in hashes[:20]]  # near copies, 1 bit off
    hashes += hashes[:5]  # exact copies
    expected = [
        (i, j, hamming_distance(a, b))
        for i, a in enumerate(hashes)
        for j, b in enumerate(hashes)
        if i < j and hamming_distance(a, b) <= max_distance
    ]
    assert len(expected) >= (5 if max_distance == 0 else 25)
    assert near_duplicate_pairs(hashes, max_distance) == expected


def test_near_duplicate_pairs_blocks_and_scale(monkeypatch) -> None:
    import dermkit.data.duplicates as duplicates

    hashes = np.random.default_rng(5).integers(0, 2**64, size=300, dtype=np.uint64).tolist()
    full = near_duplicate_pairs(hashes, 24)
    monkeypatch.setattr(duplicates, "_MAX_BLOCK_ELEMENTS", 1000)  # many small blocks
    assert near_duplicate_pairs(hashes, 24) == full
    monkeypatch.undo()

    many = np.random.default_rng(6).integers(0, 2**64, size=10_000, dtype=np.uint64).tolist()
    many[9_999] = many[17] ^ 0b101
    assert (17, 9_999, 2) in near_duplicate_pairs(many, 6)
    assert near_duplicate_pairs([], 6) == [] and near_duplicate_pairs([5], 6) == []
    with pytest.raises(DataError):
        near_duplicate_pairs([1, 2], -1)
    with pytest.raises(DataError):
        near_duplicate_pairs([2**64], 1)
