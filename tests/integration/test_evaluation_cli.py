"""Evaluation a clinician can trust, through the CLI: CIs, operating points, subgroups, calibration, cv, compare."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dermkit.cli import main
from dermkit.data import read_dataset
from dermkit.data.split_manifests import split_dataset
from tests.conftest import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluation")
    lists = root / "lists"
    split_dataset(read_dataset(synth_dir / "manifest.csv"), lists, val=0.25, test=0.25, group_by="patient_id")
    run = root / "run"
    assert main(["train", "demo", f"data.root={lists}", *TINY, "--out", str(run)]) == 0
    return {"root": root, "lists": lists, "run": run}


def model_copy(setup: dict[str, Path], name: str) -> Path:
    copy = setup["root"] / name
    shutil.copytree(setup["run"], copy, ignore=shutil.ignore_patterns("*.ckpt"), dirs_exist_ok=True)
    return copy


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


class _Sections(__import__("html.parser").parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "img":
            self.images.append(values.get("src") or "")


def test_report_holds_every_section_and_the_model_card_is_written(setup, capsys) -> None:
    model = model_copy(setup, "reported")
    out = setup["root"] / "eval_report"
    args = [
        "evaluate",
        str(model),
        str(setup["lists"]),
        "--out",
        str(out),
        "--report",
        "--bootstrap",
        "100",
        "--group-by",
        "fitzpatrick",
        "--audit",
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    parser = _Sections()
    parser.feed((out / "report.html").read_text())
    audit = json.loads((out / "audit.json").read_text())
    assert audit["n_images"] == sum(
        len((setup["lists"] / f"{s}.csv").read_text().splitlines()) - 1 for s in ("train", "val", "test")
    )  # every split, not only the evaluated one
    expected = {
        "audit",
        "summary",
        "operating-point",
        "per-class",
        "confusion",
        "curves",
        "calibration",
        "training",
        "mistakes",
        "subgroups",
    }
    assert expected <= parser.ids
    assert parser.images and all(src.startswith("data:image/") for src in parser.images)
    card = (model / "MODEL_CARD.md").read_text()
    for heading in ("Intended use", "Limits", "Operating point", "Evaluation"):
        assert heading in card


def test_audit_command_reports_cross_split_duplicates(setup, capsys) -> None:
    clean_out = setup["root"] / "audit_clean"
    assert main(["audit", str(setup["lists"]), "--out", str(clean_out)]) == 0
    clean = json.loads((clean_out / "audit.json").read_text())
    assert clean["leakage"]["exact"] == 0 and clean["n_images"] == 100
    leaky = setup["root"] / "leaky_lists"  # a sibling folder, so the relative image paths still resolve
    shutil.copytree(setup["lists"], leaky, dirs_exist_ok=True)
    train_rows = (leaky / "train.csv").read_text().splitlines()
    test_rows = (leaky / "test.csv").read_text().splitlines()
    (leaky / "test.csv").write_text("\n".join([*test_rows, train_rows[1].replace(",train,", ",test,")]) + "\n")
    capsys.readouterr()
    out = setup["root"] / "audit_leaky"
    assert main(["audit", str(leaky), "--out", str(out)]) == 0
    assert "LEAKAGE" in capsys.readouterr().out
    audit = json.loads((out / "audit.json").read_text())
    assert audit["leakage"]["exact"] == 1 and audit["exact_duplicates"][0]["cross_split"]
    assert sorted(audit["exact_duplicates"][0]["splits"]) == ["test", "train"]
    assert 'id="audit"' in (out / "audit.html").read_text()


def test_datasets_command_lists_public_datasets(capsys) -> None:
    assert main(["datasets"]) == 0
    printed = capsys.readouterr().out
    for name in ("ham10000", "dermamnist", "isic2019", "class-folders", "csv-manifest"):
        assert name in printed


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


def test_re_evaluating_without_report_removes_the_stale_report(setup, capsys) -> None:
    out = setup["root"] / "eval_again"
    base = ["evaluate", str(setup["run"]), str(setup["lists"]), "--out", str(out), "--num-workers", "0"]
    assert main([*base, "--report"]) == 0 and (out / "report.html").is_file()
    assert main(base) == 0 and not (out / "report.html").exists()
    assert (out / "metrics.json").is_file()


def test_predict_without_images_is_an_error_and_all_unreadable_exits_1(setup, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(setup["run"]), str(tmp_path / "empty"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "no images found in" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not an image")
    out = tmp_path / "bad.csv"
    assert main(["predict", str(setup["run"]), str(tmp_path / "bad"), "--out", str(out), "--num-workers", "0"]) == 1
    assert "x.jpg" in out.read_text()
