"""Acne grading + lesion counting end to end on synthetic faces: both recipes (LDL, LDS) learn, and evaluate,
predict, the report and the Python API speak the acne task's language."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dermkit.cli import main
from dermkit.data.synthetic_acne import make_synthetic_acne_dataset
from dermkit.inference import Predictor

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = [
    "model.name=resnet18", "model.pretrained=false", "data.image_size=64", "data.resize=64",
    "data.train_resize=72", "data.batch_size=16", "data.eval_batch_size=32", "data.num_workers=0",
    "trainer.max_epochs=16", "sched.step_size=12", "optim.lr=0.01", "trainer.progress_bar=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acne")
    return make_synthetic_acne_dataset(root, n=200, size=64, seed=0).manifest


def _constant_baselines(manifest: Path) -> tuple[float, float]:
    """Grade accuracy of always predicting the most common training grade, and count MAE of always predicting the
    median training count, both on the test split."""
    rows = list(csv.DictReader(manifest.open()))
    train = [row for row in rows if row["split"] != "test"]
    test = [row for row in rows if row["split"] == "test"]
    grades = [row["grade"] for row in train]
    majority = max(set(grades), key=grades.count)
    median = float(np.median([int(row["count"]) for row in train]))
    accuracy = float(np.mean([row["grade"] == majority for row in test]))
    mae = float(np.mean([abs(int(row["count"]) - median) for row in test]))
    return accuracy, mae


@pytest.mark.parametrize("recipe", ["acne04_ldl", "acne04_lds"])
def test_recipe_learns_grades_and_counts_better_than_a_constant(recipe: str, faces: Path, tmp_path: Path) -> None:
    run = tmp_path / recipe
    overrides = [f"data.root={faces}", "data.format=csv_manifest", *SMALL]
    assert main(["train", str(CONFIGS / f"{recipe}.yaml"), *overrides, "--out", str(run)]) == 0
    spec = json.loads((run / "model.json").read_text())
    assert spec["task"] == recipe.replace("04", "") and spec["outputs"] == ["grade_logits", "count_logits"]
    assert "train/loss_count" in (run / "logs" / "metrics.csv").read_text().splitlines()[0]

    out = tmp_path / "eval"
    assert main(["evaluate", str(run), str(faces), "--out", str(out), "--split", "test", "--report"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    accuracy, mae = _constant_baselines(faces)
    assert metrics["accuracy"] > accuracy + 0.05
    assert metrics["count_mae"] < mae
    assert metrics["count_rmse"] == pytest.approx(np.sqrt(metrics["count_mse"]))
    assert "Predicted vs true lesion count" in (out / "report.html").read_text()
    header = next(csv.reader((out / "predictions.csv").open()))
    assert header == ["path", "true_grade", "true_count", "grade", "count", "p_mild", "p_moderate", "p_severe",
                      "p_very_severe", "error"]  # fmt: skip


def test_predict_and_python_api_give_grade_count_and_distributions(faces: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = [f"data.root={faces}", "data.format=csv_manifest", *SMALL, "trainer.max_epochs=1"]
    assert main(["train", str(CONFIGS / "acne04_lds.yaml"), *overrides, "--out", str(run)]) == 0
    images = sorted((faces.parent / "images").glob("*.png"))[:3]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main(["predict", str(run), *map(str, images), str(broken), "--out", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert list(rows[0]) == ["path", "grade", "count", "p_mild", "p_moderate", "p_severe", "p_very_severe", "error"]
    assert [row["path"] for row in rows] == [*map(str, images), str(broken)]
    assert rows[-1]["error"] and not rows[-1]["grade"]

    prediction = Predictor.from_checkpoint(run).predict(images[0])
    assert prediction.grade == rows[0]["grade"] and prediction.count == int(rows[0]["count"])
    assert sum(prediction.grade_probabilities.values()) == pytest.approx(1.0)
    assert len(prediction.count_distribution) == 65 and sum(prediction.count_distribution) == pytest.approx(1.0)
    assert json.loads(json.dumps(prediction.to_dict()))["count"] == prediction.count
