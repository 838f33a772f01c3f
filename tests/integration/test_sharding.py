"""Shards given by hand (``--shard K/N``) and merged afterwards (``--merge``): the merged CSV and metrics are the
single process's, and a missing, unfinished or foreign part is refused instead of merged."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from dermkit.cli import main
from dermkit.data.inputs import collect_images
from dermkit.errors import DataError
from dermkit.evaluation.pipeline import evaluate_to_folder
from dermkit.evaluation.sharded import evaluate_sharded
from dermkit.inference.outputs import predict_to_csv
from dermkit.inference.predictor import Predictor
from dermkit.inference.sharded import merge_parts, predict_part
from dermkit.inference.shards import Shard
from tests.integration._scaleout_helpers import archive, model

pytestmark = pytest.mark.slow  # trains a model
__all__ = ["archive", "model"]  # fixtures


def test_cli_shards_by_hand_merge_to_the_single_process_rows(tmp_path: Path, archive: Path, model: Path) -> None:
    single, merged = tmp_path / "single.csv", tmp_path / "out" / "preds.csv"
    assert main(["predict", str(model), str(archive), "--out", str(single), "--num-workers", "0"]) == 0
    for k in (1, 0):  # any order
        args = ["predict", str(model), str(archive), "--out", str(merged), "--shard", f"{k}/2", "--batch-size", "3"]
        assert main([*args, "--num-workers", "0"]) == 0
    assert sorted(p.name for p in merged.parent.iterdir()) == [
        "preds.csv.part-0-of-2", "preds.csv.part-0-of-2.json", "preds.csv.part-1-of-2", "preds.csv.part-1-of-2.json"
    ]  # fmt: skip
    assert main(["predict", "--merge", str(merged)]) == 0
    with single.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 31 and sum(bool(row[-1]) for row in rows[1:]) == 6  # 6 unreadable files keep their row
    with merged.open(newline="") as handle:
        assert list(csv.reader(handle)) == rows
    assert [p.name for p in merged.parent.iterdir()] == ["preds.csv"]


def test_contiguous_shards_of_uneven_size_merge_in_input_order(tmp_path: Path, archive: Path, model: Path) -> None:
    predictor, records = Predictor.from_checkpoint(model), collect_images([archive])
    predict_to_csv(predictor, records, tmp_path / "single.csv")
    for k in range(4):  # 30 inputs: shards of 8, 8, 7 and 7
        part = predict_part(predictor, records, tmp_path / "m.csv", Shard(k, 4), layout="contiguous", batch_size=4)
        assert part.total == (8 if k < 2 else 7)
    summary = merge_parts(tmp_path / "m.csv")
    assert (summary.rows, summary.errors, summary.parts) == (30, 6, 4)
    assert (tmp_path / "m.csv").read_text() == (tmp_path / "single.csv").read_text()


def test_merge_refuses_missing_unfinished_and_foreign_parts(tmp_path: Path, archive: Path, model: Path) -> None:
    predictor, records = Predictor.from_checkpoint(model), collect_images([archive])
    out = tmp_path / "p.csv"
    predict_part(predictor, records, out, Shard(0, 2))
    with pytest.raises(DataError, match=r"part 1 of 2 is missing or unfinished \(p\.csv\.part-1-of-2\.json\)"):
        merge_parts(out)
    predict_part(predictor, records[:-1], out, Shard(1, 2))  # cut from 29 inputs, part 0 from 30
    with pytest.raises(DataError, match="part 1 was cut from other inputs than part 0"):
        merge_parts(out)
    predict_part(predictor, records, out, Shard(1, 2))
    Path(f"{out}.part-1-of-2.json").unlink()  # a part still being written has no .json yet
    with pytest.raises(DataError, match="missing or unfinished"):
        merge_parts(out, 2)
    assert not out.exists()


def test_sharded_evaluate_gives_the_single_process_metrics(tmp_path: Path, archive: Path, model: Path) -> None:
    options = {"batch_size": 1, "num_workers": 0, "bootstrap": 100}  # one image per pass: bit-identical outputs
    evaluate_to_folder(model, archive, tmp_path / "single", **options)
    for k in (0, 1):
        assert evaluate_sharded(model, archive, tmp_path / "sharded", Shard(k, 2), **options) is None
    assert len(list((tmp_path / "sharded").glob("predictions.part-*-of-2.npz"))) == 2
    run = evaluate_sharded(model, archive, tmp_path / "sharded", Shard(), merge=True, **options)
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert json.loads((tmp_path / "sharded" / "metrics.json").read_text()) == single
    assert run.evaluation.metrics["unreadable"] == 6 and single["n"] == 24 and "ci" in single
    assert sorted(p.name for p in (tmp_path / "sharded").iterdir()) == ["metrics.json", "predictions.csv"]


def test_sharded_evaluate_refuses_parts_of_other_images(tmp_path: Path, archive: Path, model: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(archive, other)
    (other / "benign" / "broken_0.jpg").unlink()  # another node's copy of the data, one file short
    evaluate_sharded(model, archive, tmp_path / "ev", Shard(0, 2), num_workers=0)
    evaluate_sharded(model, other, tmp_path / "ev", Shard(1, 2), num_workers=0)
    with pytest.raises(DataError, match="made from other images than these 30"):
        evaluate_sharded(model, archive, tmp_path / "ev", Shard(), merge=True, num_workers=0)
