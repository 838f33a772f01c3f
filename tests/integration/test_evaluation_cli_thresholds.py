"""Decision thresholds, calibration and TTA chosen through the CLI; predict applying them, and its exit codes."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from dermkit.cli import main
from tests.integration._evaluation_helpers import model_copy

pytestmark = pytest.mark.slow


def test_chosen_threshold_is_saved_and_used_by_predict(setup, capsys) -> None:
    model = model_copy(setup, "thresholded")
    args = [
        "evaluate",
        str(model),
        str(setup["lists"]),
        "--split",
        "val",
        "--choose-threshold",
        "recall=0.99",
        "--save",
        "--out",
        str(setup["root"] / "eval_val"),
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    assert "saved to model.json" in capsys.readouterr().out
    decision = json.loads((model / "model.json").read_text())["decision"]
    assert decision["threshold_source"].startswith("recall>=0.99 on ") and decision["threshold_source"].endswith(
        "(val)"
    )
    val_rows = list(csv.DictReader((setup["root"] / "eval_val" / "predictions.csv").open()))
    positives = [float(r["p_malignant"]) for r in val_rows if r["label"] == "malignant"]
    assert np.mean(np.array(positives) >= decision["threshold"]) >= 0.99  # the recall it was chosen for
    out = setup["root"] / "thresholded.csv"
    assert main(["predict", str(model), str(setup["lists"] / "test.csv"), "--out", str(out), "--num-workers", "0"]) == 0
    assert f"malignant when p >= {decision['threshold']:g} (recall>=0.99 on" in capsys.readouterr().out
    for row in csv.DictReader(out.open()):
        expected = "malignant" if float(row["p_malignant"]) >= decision["threshold"] else "benign"
        assert row["predicted"] == expected


def test_threshold_choice_on_test_data_warns(setup, capsys) -> None:
    model = model_copy(setup, "test_threshold")
    args = [
        "evaluate",
        str(model),
        str(setup["lists"]),
        "--choose-threshold",
        "youden",
        "--out",
        str(setup["root"] / "eval_t"),
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "warning: the threshold was chosen on test data" in printed and "not saved (add --save)" in printed
    assert json.loads((model / "model.json").read_text())["decision"]["threshold"] == 0.5


def test_calibrate_stores_temperature_and_keeps_decisions(setup, capsys) -> None:
    model = model_copy(setup, "calibrated")
    spec = json.loads((model / "model.json").read_text())
    spec["decision"]["threshold"] = 0.2
    (model / "model.json").write_text(json.dumps(spec))
    before = setup["root"] / "before.csv"
    assert (
        main(["predict", str(model), str(setup["lists"] / "test.csv"), "--out", str(before), "--num-workers", "0"]) == 0
    )
    assert main(["calibrate", str(model), str(setup["lists"]), "--num-workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "the val split" in printed and "NLL" in printed and "(same decisions)" in printed
    decision = json.loads((model / "model.json").read_text())["decision"]
    assert decision["temperature"] != 1.0 and decision["threshold"] != 0.2
    after = setup["root"] / "after.csv"
    assert (
        main(["predict", str(model), str(setup["lists"] / "test.csv"), "--out", str(after), "--num-workers", "0"]) == 0
    )
    assert "calibrated: logits /" in capsys.readouterr().out
    rows_before, rows_after = list(csv.DictReader(before.open())), list(csv.DictReader(after.open()))
    assert [r["predicted"] for r in rows_before] == [r["predicted"] for r in rows_after]
    assert any(r1["p_malignant"] != r2["p_malignant"] for r1, r2 in zip(rows_before, rows_after, strict=True))


def test_calibrate_refuses_data_without_a_val_split(setup, capsys) -> None:
    no_val = setup["root"] / "lists_no_val"  # beside lists/, so the manifests' relative paths still resolve
    no_val.mkdir(exist_ok=True)
    for name in ("train.csv", "test.csv"):
        shutil.copy(setup["lists"] / name, no_val / name)
    model = model_copy(setup, "not_calibrated")
    assert main(["calibrate", str(model), str(no_val), "--num-workers", "0"]) == 2
    assert "no val split to calibrate on" in capsys.readouterr().err
    assert json.loads((model / "model.json").read_text())["decision"]["temperature"] == 1.0
    assert main(["calibrate", str(setup["run"]), str(setup["lists"] / "test.csv"), "--split", "val"]) == 2
    assert "no 'val' split" in capsys.readouterr().err
    args = ["calibrate", str(model), str(no_val), "--split", "test", "--dry-run", "--num-workers", "0"]
    assert main(args) == 0
    assert "warning: fitted on test images" in capsys.readouterr().out


def test_threshold_chosen_with_tta_is_applied_with_the_same_tta(setup, capsys) -> None:
    model = model_copy(setup, "tta_threshold")
    args = ["evaluate", str(model), str(setup["lists"]), "--split", "val", "--tta", "flips", "--choose-threshold",
            "recall=0.95", "--save", "--out", str(setup["root"] / "eval_tta"), "--num-workers", "0"]  # fmt: skip
    assert main(args) == 0
    assert "test-time augmentation: flips" in capsys.readouterr().out
    assert json.loads((model / "model.json").read_text())["decision"]["tta"] == "flips"
    out = setup["root"] / "tta.csv"
    assert main(["predict", str(model), str(setup["lists"] / "val.csv"), "--out", str(out), "--num-workers", "0"]) == 0
    assert "test-time augmentation: flips" in capsys.readouterr().out
    tta_rows = {
        r["path"]: r["p_malignant"] for r in csv.DictReader((setup["root"] / "eval_tta" / "predictions.csv").open())
    }
    predicted = {r["path"]: r["p_malignant"] for r in csv.DictReader(out.open())}
    assert predicted == tta_rows  # predict used the probabilities the threshold was chosen on
    plain = setup["root"] / "plain.csv"
    args = [
        "predict",
        str(model),
        str(setup["lists"] / "val.csv"),
        "--tta",
        "none",
        "--out",
        str(plain),
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    assert "test-time augmentation" not in capsys.readouterr().out
    plain_rows = {r["path"]: r["p_malignant"] for r in csv.DictReader(plain.open())}
    assert plain_rows != predicted  # --tta none really predicted single views
    assert main(["calibrate", str(model), str(setup["lists"]), "--dry-run", "--num-workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "chosen with test-time augmentation (flips)" in printed and "(same decisions)" not in printed


def test_predict_without_images_is_an_error_and_all_unreadable_exits_1(setup, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(setup["run"]), str(tmp_path / "empty"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "no images found in" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not an image")
    out = tmp_path / "bad.csv"
    assert main(["predict", str(setup["run"]), str(tmp_path / "bad"), "--out", str(out), "--num-workers", "0"]) == 1
    assert "x.jpg" in out.read_text()
