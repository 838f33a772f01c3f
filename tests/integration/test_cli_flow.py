"""The README's flow through the real CLI: synth -> split -> train -> evaluate -> predict, then resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from dermkit.cli import main
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("flow")
    data, lists, run = root / "data", root / "lists", root / "run"
    assert main(["synth", str(data), "--per-class", "60", "--size", "48", "--seed", "3", "--manifest"]) == 0
    assert (
        main(
            [
                "split",
                str(data / "manifest.csv"),
                "--out",
                str(lists),
                "--val",
                "0.2",
                "--test",
                "0.2",
                "--group-by",
                "patient_id",
            ]
        )
        == 0
    )
    assert main(["train", "configs/demo.yaml", f"data.root={lists}", *TINY, "--out", str(run)]) == 0
    return {"root": root, "data": data, "lists": lists, "run": run}


def test_train_writes_checkpoints_logs_and_self_describing_model(flow: dict[str, Path]) -> None:
    run = flow["run"]
    for name in ("config.yaml", "best.ckpt", "last.ckpt", "model.safetensors", "model.json", "val_metrics.json"):
        assert (run / name).is_file(), name
    assert (run / "logs" / "metrics.csv").is_file()
    assert any((run / "logs" / "tb").iterdir())
    spec = json.loads((run / "model.json").read_text())
    assert spec["class_names"] == ["benign", "malignant"]
    assert spec["architecture"]["name"] == "test_resnet"
    assert spec["preprocessing"]["image_size"] == 48
    assert spec["decision"] == {
        "positive_class": "malignant",
        "threshold": 0.5,
        "threshold_source": "default",
        "temperature": 1.0,
        "tta": "none",
    }
    assert spec["dermkit_version"]
    assert spec["training"]["data"]["val_source"] == "the dataset's val split"


def test_learnable_synthetic_task_reaches_high_validation_accuracy(flow: dict[str, Path]) -> None:
    metrics = json.loads((flow["run"] / "val_metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9
    assert metrics["roc_auc"] >= 0.95


def test_evaluate_writes_metrics_matching_sklearn_on_its_predictions(flow: dict[str, Path], capsys) -> None:
    out = flow["root"] / "eval"
    assert main(["evaluate", str(flow["run"]), str(flow["lists"]), "--out", str(out), "--num-workers", "0"]) == 0
    assert "the test split" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    rows = read_rows(out / "predictions.csv")
    test_rows = read_rows(flow["lists"] / "test.csv")
    assert len(rows) == len(test_rows) == metrics["n"]
    assert list(rows[0]) == ["path", "label", "predicted", "p_benign", "p_malignant", "error"]
    labels = [row["label"] for row in rows]
    assert accuracy_score(labels, [row["predicted"] for row in rows]) == pytest.approx(metrics["accuracy"])
    y = np.array([label == "malignant" for label in labels])
    assert roc_auc_score(y, [float(row["p_malignant"]) for row in rows]) == pytest.approx(metrics["roc_auc"], abs=1e-6)
    assert metrics["accuracy"] >= 0.85


def test_predict_keeps_input_order_and_reports_bad_files_as_rows(flow: dict[str, Path], capsys) -> None:
    folder = flow["data"] / "benign"
    corrupt = flow["root"] / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    missing = flow["root"] / "missing.png"
    out = flow["root"] / "preds.csv"
    args = [
        "predict",
        str(flow["run"] / "model.json"),
        str(corrupt),
        str(folder),
        str(missing),
        "--out",
        str(out),
        "--num-workers",
        "0",
        "--batch-size",
        "7",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "malignant when p >= 0.5 (default)" in printed
    rows = read_rows(out)
    images = sorted(folder.glob("*.jpg"))
    assert [row["path"] for row in rows] == [str(corrupt), *map(str, images), str(missing)]
    assert rows[0]["error"].startswith(str(corrupt)) and rows[0]["predicted"] == ""
    assert "file not found" in rows[-1]["error"]
    good = rows[1:-1]
    assert all(row["error"] == "" for row in good)
    assert sum(row["predicted"] == "benign" for row in good) >= 0.8 * len(good)
    for row in good:
        assert float(row["p_benign"]) + float(row["p_malignant"]) == pytest.approx(1.0, abs=1e-5)


def test_resume_continues_from_last_checkpoint(flow: dict[str, Path]) -> None:
    run = flow["run"]
    before = json.loads((run / "model.json").read_text())["training"]["epochs_run"]
    args = [
        "train",
        "configs/demo.yaml",
        f"data.root={flow['lists']}",
        *TINY,
        "trainer.max_epochs=17",
        "--out",
        str(run),
        "--resume",
    ]
    assert main(args) == 0
    after = json.loads((run / "model.json").read_text())["training"]["epochs_run"]
    assert (before, after) == (15, 17)
    with (run / "logs" / "metrics.csv").open(newline="") as file:
        epochs = {int(row["epoch"]) for row in csv.DictReader(file) if row.get("val/loss")}
    assert epochs == set(range(17))  # the resumed epochs extend the log; the earlier ones are kept


def test_second_train_into_same_folder_needs_resume_or_overwrite(flow: dict[str, Path], capsys) -> None:
    assert main(["train", "configs/demo.yaml", f"data.root={flow['lists']}", *TINY, "--out", str(flow["run"])]) == 2
    assert "--resume" in capsys.readouterr().err
