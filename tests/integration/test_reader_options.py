"""Datasets that need reader options (list files beside an image folder, index labels, odd CSV columns) work in
every command: evaluate reuses the training run's options, and data.KEY=VALUE arguments set them anywhere."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import pytest

from dermkit.cli import main
from tests.conftest import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_class_project(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> Path:
    """The skin_disease_two_classification layout: lists/{train,val,test}.txt of 'name index', images elsewhere."""
    root = tmp_path_factory.mktemp("two_class")
    (root / "lists").mkdir()
    (root / "used_dataset").mkdir()
    rows = []
    for index, name in enumerate(("benign", "malignant")):
        for image in sorted((synth_dir / name).glob("*.jpg"))[:20]:
            shutil.copy(image, root / "used_dataset" / image.name)
            rows.append(f"{image.name} {index}")
    random.Random(0).shuffle(rows)
    for split, part in (("train", rows[:24]), ("val", rows[24:32]), ("test", rows[32:])):
        (root / "lists" / f"{split}.txt").write_text("\n".join(part))  # no newline after the last line
    return root


def test_evaluate_reuses_the_training_runs_reader_options(two_class_project: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(two_class_project)
    options = ["data.images_dir=../used_dataset", "data.class_names=[benign,malignant]"]
    assert main(["train", "demo", "data.root=lists", *options, *TINY, "trainer.max_epochs=2", "--out", "run"]) == 0
    assert main(["evaluate", "run", "lists", "--out", "eval", "--num-workers", "0"]) == 0
    metrics = json.loads(Path("eval/metrics.json").read_text())
    assert metrics["n"] == 8 and set(metrics["per_class"]) == {"benign", "malignant"}
    assert "include training images" not in capsys.readouterr().out
    assert main(["evaluate", "run", "lists", "--split", "train", "--out", "eval_train", "--num-workers", "0"]) == 0
    assert "warning: these images include training images" in capsys.readouterr().out

    shutil.copytree("lists", "elsewhere/lists")  # another copy: the run's relative images_dir no longer fits
    assert main(["evaluate", "run", "elsewhere/lists", "--out", "eval2", "--num-workers", "0"]) == 2
    assert "file not found" in capsys.readouterr().err
    moved = ["data.images_dir=../../used_dataset", "data.class_names=[benign,malignant]"]
    assert main(["evaluate", "run", "elsewhere/lists", *moved, "--out", "eval2", "--num-workers", "0"]) == 0
    assert json.loads(Path("eval2/metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    assert main(["calibrate", "run", "elsewhere/lists", *moved, "--dry-run", "--num-workers", "0"]) == 0
    assert main(["split", "elsewhere/lists", *moved, "--out", "lists_csv"]) == 0
    assert sum(len(Path(f"lists_csv/{s}.csv").read_text().splitlines()) - 1 for s in ("train", "val", "test")) == 40
    assert main(["audit", "elsewhere/lists", moved[0]]) == 0
    assert main(["evaluate", "run", "lists", "data.batch_size=4", "--out", "eval3"]) == 2
    assert "unknown dataset option 'data.batch_size'; valid: data.format" in capsys.readouterr().err
    assert main(["evaluate", "run", "lists", "data=x", "--out", "eval3"]) == 2
    assert "give reader options as data.KEY=VALUE" in capsys.readouterr().err

    monkeypatch.chdir("elsewhere")  # another folder with its own "lists": the same relative name is other data
    assert main(["evaluate", "../run", "lists", "--out", "eval4", "--num-workers", "0"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_predict_reads_a_csv_with_an_unusual_image_column(two_class_project: Path, trained_run: Path, tmp_path) -> None:
    manifest = tmp_path / "to_score.csv"
    images = sorted((two_class_project / "used_dataset").glob("*.jpg"))[:3]
    manifest.write_text("picture,visit\n" + "".join(f"{image},{i}\n" for i, image in enumerate(images)))
    out = tmp_path / "scores.csv"
    args = ["predict", str(trained_run), str(manifest), "data.path_column=picture", "--out", str(out)]
    assert main([*args, "--num-workers", "0"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [row["path"] for row in rows] == [str(image) for image in images] and all(not r["error"] for r in rows)


def test_split_reader_overrides_keeps_paths_and_options_apart_in_order() -> None:
    from dermkit.config import split_reader_overrides

    arguments = ["a.jpg", "data.path_column=file", "data/x.csv", "data.jpg", "b=c.jpg", "data.images_dir=../i"]
    paths, options = split_reader_overrides(arguments)
    assert paths == ["a.jpg", "data/x.csv", "data.jpg", "b=c.jpg"]
    assert options == ["data.path_column=file", "data.images_dir=../i"]
