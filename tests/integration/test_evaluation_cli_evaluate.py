"""The evaluate, cv and compare commands: CIs, operating points, subgroups, class maps, option errors."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from dermkit.cli import main
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def test_evaluate_reports_cis_operating_points_and_subgroups(setup, capsys) -> None:
    out = setup["root"] / "eval_full"
    args = [
        "evaluate",
        str(setup["run"]),
        str(setup["lists"]),
        "--out",
        str(out),
        "--bootstrap",
        "100",
        "--group-by",
        "fitzpatrick",
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "95% CI" in printed and "worst-group gap" in printed and "precision at recall >= 0.999" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert "patients" in metrics["ci_method"]
    for name in ("accuracy", "roc_auc", "sensitivity", "specificity"):
        ci = metrics["ci"][name]
        assert ci["low"] <= ci["point"] <= ci["high"]
    assert metrics["ci"]["accuracy"]["point"] == pytest.approx(metrics["accuracy"])
    groups = metrics["subgroups"]["fitzpatrick"]["groups"]
    assert set(groups) <= {"1", "2", "3", "4", "5", "6"} and sum(g["n"] for g in groups.values()) == metrics["n"]
    assert set(metrics["operating_points"]) == {"precision_at_recall", "specificity_at_sensitivity", "youden"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--save"], "--save stores the threshold chosen by --choose-threshold"),
        (["--tta", "rot"], "unknown test-time augmentation 'rot'"),
        (["--bootstrap", "-5"], "--bootstrap"),
        (["--bootstrap", "10"], "a 95% interval needs at least 100 resamples"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_evaluate_options_are_one_line_errors(setup, capsys, args: list[str], message: str) -> None:
    assert main(["evaluate", str(setup["run"]), str(setup["lists"]), "--out", str(setup["root"] / "bad"), *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err + captured.out and "Traceback" not in captured.err
    assert not (setup["root"] / "bad" / "metrics.json").exists()


def test_absent_class_gives_undefined_metrics_and_a_warning(setup, synth_dir, tmp_path, capsys) -> None:
    shutil.copytree(synth_dir / "benign", tmp_path / "only" / "benign")
    out = tmp_path / "eval"
    assert main(["evaluate", str(setup["run"]), str(tmp_path / "only"), "--out", str(out), "--num-workers", "0"]) == 0
    assert "warning: " in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["per_class"]["malignant"]["recall"] is None and metrics["roc_auc"] is None
    assert "recall/malignant" in metrics["undefined"]


def test_class_map_renames_data_classes(setup, synth_dir, tmp_path) -> None:
    shutil.copytree(synth_dir / "benign", tmp_path / "data" / "nevus")
    shutil.copytree(synth_dir / "malignant", tmp_path / "data" / "melanoma")
    out = tmp_path / "eval"
    args = [
        "evaluate",
        str(setup["run"]),
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--num-workers",
        "0",
        "--class-map",
        "nevus=benign,melanoma=malignant",
    ]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["per_class"]["benign"]["support"] == 50 and metrics["accuracy"] >= 0.85


def test_cv_writes_one_row_per_fold_and_compare_reads_it(setup, synth_dir, capsys) -> None:
    out = setup["root"] / "cv"
    args = [
        "cv",
        "demo",
        f"data.root={synth_dir / 'manifest.csv'}",
        *TINY,
        "trainer.max_epochs=3",
        "--folds",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "stratified 2-fold cross-validation, patient-grouped" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "cv_results.csv").open()))
    assert [row["fold"] for row in rows] == ["0", "1", "mean", "std"]
    assert sum(int(row["n_test"]) for row in rows[:2]) == 100
    accuracies = [float(row["accuracy"]) for row in rows[:2]]
    assert float(rows[2]["accuracy"]) == pytest.approx(np.mean(accuracies))
    assert float(rows[3]["accuracy"]) == pytest.approx(np.std(accuracies, ddof=1))
    assert main(["compare", str(out), str(setup["run"]), str(setup["root"] / "eval_full")]) == 0
    printed = capsys.readouterr().out
    assert "+/-" in printed and "(validation)" in printed and "eval_full" in printed
    assert main(["compare", str(out), str(setup["run"]), "--metrics", "accuracy,g_mean"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["accuracy", "g_mean"]
    assert main(["compare", str(out), "--metrics", "auroc"]) == 2
    assert "unknown metric 'auroc'; choose from: accuracy" in capsys.readouterr().err


def test_repeated_random_splits_protocol(setup, synth_dir, capsys) -> None:
    out = setup["root"] / "repeats"
    args = [
        "cv",
        "demo",
        f"data.root={synth_dir}",
        *TINY,
        "trainer.max_epochs=2",
        "--repeats",
        "2",
        "--test-fraction",
        "0.3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    summary = json.loads((out / "cv_results.json").read_text())
    assert summary["protocol"].startswith("2 random stratified splits (30% test)")
    assert [fold["n_test"] for fold in summary["folds"]] == [30, 30]


def test_group_by_unknown_column_lists_the_columns(setup, capsys) -> None:
    args = [
        "evaluate",
        str(setup["run"]),
        str(setup["lists"]),
        "--out",
        str(setup["root"] / "e_bad"),
        "--group-by",
        "skin",
        "--num-workers",
        "0",
    ]
    assert main(args) == 2
    assert "no column 'skin'; columns: fitzpatrick, patient_id" in capsys.readouterr().err
