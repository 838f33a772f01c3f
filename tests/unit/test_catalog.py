"""Tests for dermkit.data.catalog: the dataset catalogue behind ``dermkit datasets``."""

from __future__ import annotations

import shlex

import pytest

import dermkit.data.public.isic_ham  # noqa: F401  (registers the public formats the catalogue names)
from dermkit import config
from dermkit.data import FORMATS
from dermkit.data.catalog import DATASETS, PLANNED_FORMATS, DatasetInfo, format_catalog, get_dataset
from dermkit.errors import DataError
from dermkit.recipes import RECIPE_DIR

EXPECTED = {
    "class-folders", "split-folders", "csv-manifest", "list-files", "ham10000", "dermamnist", "isic2019", "isic2020",
    "acne04", "sd198", "melanoma-kaggle", "skin-two-class",
}  # fmt: skip
#: Recipes DESIGN.md plans for the methods whose readers or tasks are still to come.


def test_catalogue_lists_every_dataset_once() -> None:
    names = [info.name for info in DATASETS]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED
    assert all(isinstance(info, DatasetInfo) and info.description and info.how_to_get for info in DATASETS)


def test_every_format_is_registered_or_planned() -> None:
    for info in DATASETS:
        assert info.format in FORMATS or info.format in PLANNED_FORMATS, info.name
    assert {"medmnist", "ham10000", "isic"} <= {info.format for info in DATASETS}


def test_format_catalog_mentions_each_entry_and_omits_unknown_sizes() -> None:
    text = format_catalog()
    blocks = text.strip().split("\n\n")
    assert len(blocks) == len(DATASETS)
    for info, block in zip(DATASETS, blocks, strict=True):
        assert block.startswith(info.name)
        assert (info.example or "planned (reader and recipe to come)") in block and info.how_to_get in block
        assert ("size:" in block) == (info.size is not None)
    assert ("reader planned" in text) == any(info.format in PLANNED_FORMATS for info in DATASETS)


def test_known_sizes_and_sources_are_stated() -> None:
    assert "10,015" in get_dataset("ham10000").size
    assert "doi:10.7910/DVN/DBW86T" in get_dataset("ham10000").how_to_get
    assert "7,007" in get_dataset("dermamnist").size and "2,005" in get_dataset("dermamnist").size
    assert "10519652" in get_dataset("dermamnist").how_to_get
    assert "25,331" in get_dataset("isic2019").size
    assert "33,126" in get_dataset("isic2020").size
    assert get_dataset("isic2019").classes.startswith("8: AK, BCC, BKL, DF, MEL, NV, SCC, VASC")


@pytest.mark.parametrize("info", DATASETS, ids=lambda info: info.name)
def test_each_example_is_a_train_command_whose_overrides_validate(info: DatasetInfo) -> None:
    if info.example is None:
        assert "planned" in info.description  # the reader is still to come, and the entry says so
        return
    words = shlex.split(info.example)
    assert words[:2] == ["dermkit", "train"]
    recipe = words[2]
    assert recipe.startswith("configs/") and recipe.endswith(".yaml")
    overrides = words[3:]
    assert any(word.startswith("data.root=") for word in overrides)
    stem = recipe.removeprefix("configs/").removesuffix(".yaml")
    assert (RECIPE_DIR / f"{stem}.yaml").is_file()
    assert config.load(RECIPE_DIR / f"{stem}.yaml", overrides).data.root is not None


def test_unknown_dataset_lists_the_catalogue() -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'ham'.*ham10000.*dermamnist"):
        get_dataset("ham")
