"""The decoded-image cache: `dermkit prepare`, `data.root=CACHE`, `data.cache=auto`, and source changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermkit.cli import main
from dermkit.data import read_dataset
from dermkit.data.arrays import ArrayStore, read_pixels
from dermkit.data.batch_dataset import BatchArrayDataset
from dermkit.data.cache import build_cache, read_manifest
from dermkit.data.cache_auto import cache_folder, cached_tables
from dermkit.data.dataset import ImageDataset
from dermkit.data.decode import load_image
from dermkit.data.inputs import collect_images
from dermkit.data.preprocess import Preprocess

SIZES = [(128, 96), (96, 128), (160, 120), (120, 120), (144, 108), (100, 140)]  # (width, height): mixed aspect ratios


def _photo(path: Path, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    coarse.resize(size, Image.Resampling.BICUBIC).save(path, quality=92)  # smooth, as photos are at this scale


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A CSV manifest of 12 JPEGs of mixed shapes (two splits, patients, a site column) and one broken file."""
    images = tmp_path / "images"
    images.mkdir()
    rows = ["path,label,patient_id,split,site"]
    for i in range(12):
        _photo(images / f"img{i:02d}.jpg", SIZES[i % len(SIZES)], seed=i)
        label, split, site = ("benign", "malignant")[i % 2], "train" if i < 8 else "val", ("arm", "back")[i % 3 > 0]
        rows.append(f"images/img{i:02d}.jpg,{label},p{i // 2},{split},{site}")
    (images / "broken.jpg").write_bytes(b"not a jpeg at all")
    rows.append("images/broken.jpg,benign,p99,train,arm")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "data.csv"


def _prepare(data: Path, out: Path, size: int, *extra: str) -> None:
    assert main(["--quiet", "prepare", str(data), "--size", str(size), "--out", str(out), *extra]) == 0


def test_cache_gives_the_records_and_the_items_of_decoding_on_the_fly(dataset: Path, tmp_path: Path) -> None:
    _prepare(dataset, tmp_path / "cache", 48)
    source, cached = read_dataset(dataset), read_dataset(tmp_path / "cache")
    assert cached.format == "decoded_cache" and cached.class_names == source.class_names
    assert cached.records == source.records  # path, label, split, group, site column
    assert {r.split for r in cached.records} == {"train", "val"} and cached.records[0].group == "p0"
    manifest = read_manifest(tmp_path / "cache")
    assert len(manifest["unreadable"]) == 1 and manifest["unreadable"][0].startswith(str(dataset.parent / "images"))
    assert [r.pixels is None for r in cached.records].count(True) == 1
    preprocess = Preprocess(40, 48)  # cached at the model's resize: the very pixels decoding gives
    on_the_fly, from_cache = ImageDataset(source.records, preprocess), ImageDataset(cached.records, preprocess)
    for i in range(len(source)):
        a, b = on_the_fly[i], from_cache[i]
        assert ("error" in a) == ("error" in b)
        if "error" not in a:
            assert np.array_equal(a["image"].numpy(), b["image"].numpy()) and a["target"] == b["target"]


def test_cache_at_a_larger_size_stays_within_jpeg_tolerance(dataset: Path, tmp_path: Path) -> None:
    _prepare(dataset, tmp_path / "cache", 56, "--resize-mode", "square")
    source, cached = read_dataset(dataset), read_dataset(tmp_path / "cache")
    preprocess = Preprocess(32, 40, "square")  # resized again from the cached 56-px images
    for a, b in zip(ImageDataset(source.records, preprocess), ImageDataset(cached.records, preprocess), strict=True):
        if "error" not in a:
            pixels = np.abs(a["image"].numpy() - b["image"].numpy()) * 0.225 * 255  # back to 0..255 levels
            assert pixels.mean() < 1.5 and pixels.max() < 12  # resampled twice: about one level off on average


def test_batched_evaluation_equals_the_per_image_dataset(dataset: Path, tmp_path: Path) -> None:
    _prepare(dataset, tmp_path / "cache", 48, "--resize-mode", "square")
    records = [r for r in read_dataset(tmp_path / "cache").records if r.pixels]
    preprocess = Preprocess(40, 48, "square")
    batch = BatchArrayDataset(records, preprocess).__getitems__(list(range(len(records))))
    assert batch["image"].shape == (len(records), 3, 40, 40) and batch["skipped"] == []
    for i, item in enumerate(ImageDataset(records, preprocess)):
        assert np.array_equal(batch["image"][i].numpy(), item["image"].numpy())
        assert batch["target"][i] == item["target"]


def test_square_caches_are_one_array_and_mixed_shapes_a_flat_one(dataset: Path, tmp_path: Path) -> None:
    _prepare(dataset, tmp_path / "square", 32, "--resize-mode", "square")
    _prepare(dataset, tmp_path / "shorter", 32)
    square = read_manifest(tmp_path / "square")["parts"]["train"]["file"]
    shorter = read_manifest(tmp_path / "shorter")["parts"]["train"]["file"]
    assert np.load(tmp_path / "square" / square, mmap_mode="r").shape == (8, 32, 32, 3)
    store = ArrayStore(tmp_path / "shorter" / shorter)
    assert store.array.ndim == 1 and sorted({min(h, w) for h, w in store.shapes}) == [32]
    assert store.image(0).shape == (32, 43, 3)  # 128 x 96 -> short side 32, aspect kept


def test_changed_source_is_decoded_from_its_file_until_the_cache_is_rebuilt(dataset: Path, tmp_path: Path) -> None:
    _prepare(dataset, tmp_path / "cache", 48)
    changed = dataset.parent / "images" / "img03.jpg"
    _photo(changed, (128, 96), seed=99)
    os.utime(changed, ns=(2_000_000_000, 2_000_000_000))
    records = {r.path: r for r in read_dataset(tmp_path / "cache").records}
    assert records[changed].pixels is None  # the stale row is not used
    assert sum(r.pixels is not None for r in records.values()) == 11
    preprocess = Preprocess(48, 48)
    assert np.array_equal(read_pixels(records[changed]), load_image(changed))
    _prepare(dataset, tmp_path / "cache", 48)  # prepare again: only the changed file is decoded
    manifest = read_manifest(tmp_path / "cache")
    assert manifest["reused"] == 11
    fresh = {r.path: r for r in read_dataset(tmp_path / "cache").records}[changed]
    assert np.array_equal(read_pixels(fresh), preprocess.resize_image(load_image(changed, min_size=48)))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 4  # the first build's stores are gone


def test_auto_cache_is_built_once_and_rebuilt_for_a_changed_source(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DERMKIT_CACHE_DIR", str(tmp_path / "caches"))
    table = read_dataset(dataset)
    train, val = table.subset("train"), table.subset("val")
    preprocess = Preprocess(40, 48)
    first = cached_tables([train, val], "auto", preprocess)
    assert [t.records for t in first] == [train.records, val.records]
    folder = cache_folder(tmp_path / "caches", table.source, preprocess)
    built = (folder / "manifest.json").stat().st_mtime_ns
    cached_tables([train, val], "auto", preprocess)
    assert (folder / "manifest.json").stat().st_mtime_ns == built  # current: only read
    changed = dataset.parent / "images" / "img09.jpg"
    _photo(changed, (120, 120), seed=7)
    os.utime(changed, ns=(3_000_000_000, 3_000_000_000))
    again = cached_tables([train, val], "auto", preprocess)
    assert read_manifest(folder)["reused"] == 11
    row = {r.path: r for r in again[1].records}[changed]
    assert np.array_equal(read_pixels(row), preprocess.resize_image(load_image(changed, min_size=48)))


def test_auto_cache_is_keyed_by_the_preprocessing(dataset: Path, tmp_path: Path) -> None:
    table = read_dataset(dataset)
    a = cache_folder(tmp_path, table.source, Preprocess(40, 48))
    assert a == cache_folder(tmp_path, table.source, Preprocess(32, 48))  # same resize: same pixels
    assert a != cache_folder(tmp_path, table.source, Preprocess(40, 56))
    assert a != cache_folder(tmp_path, table.source, Preprocess(40, 48, "square"))


def test_cache_reader_reorders_classes_and_predict_lists_its_images(dataset: Path, tmp_path: Path) -> None:
    build_cache(read_dataset(dataset), tmp_path / "cache", size=48)
    table = read_dataset(tmp_path / "cache", class_names=["malignant", "benign"])
    assert [r.label for r in table.records[:4]] == [1, 0, 1, 0]
    inputs = collect_images([tmp_path / "cache"])
    assert [r.path for r in inputs] == [r.path for r in table.records] and inputs[0].pixels is not None


def test_prepare_refuses_a_folder_that_is_not_a_cache(dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["prepare", str(dataset), "--size", "32", "--out", str(tmp_path / "busy")]) == 2
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]
