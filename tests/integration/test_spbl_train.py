"""SPBL end to end on a tiny long-tailed set in the SPBL layout: rounds, --resume, --head for predict and evaluate, cv.

One epoch per round, a 32-px test_resnet and the pace schedule [0.5, 0.75, 1.0] (rounds 0..3) keep it to minutes.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dermkit.cli import main
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.tasks import spbl_rounds

pytestmark = pytest.mark.slow
PACE = [0.5, 0.75, 1.0]
TINY = [
    "model.name=test_resnet",
    "model.pretrained=false",
    "data.image_size=32",
    "data.resize=32",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.drop_last=false",
    "data.val_fraction=0.25",
    "data.train_transform=none",
    "trainer.max_epochs=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    f"task.pace={PACE}",
]


@pytest.fixture(scope="module")
def spbl_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``raw/images/<label>/...`` of 4 classes (24, 14, 8, 6 images), 4 of each listed in val.txt (the test list)."""
    root = tmp_path_factory.mktemp("sd")
    images = root / "raw" / "images"
    summary = make_synthetic_dataset(images, ["0", "1", "2", "3"], per_class=[24, 14, 8, 6], size=32, seed=3)
    lists: dict[str, list[str]] = {"train.txt": [], "val.txt": []}
    for label in summary.class_names:
        for k, path in enumerate(sorted((images / label).iterdir())):
            lists["val.txt" if k < 4 else "train.txt"].append(f"{label}/{path.name} {label}")
    for name, lines in lists.items():
        (root / "raw" / name).write_text("\n".join(lines) + "\n")
    return root


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "configs/sd198_spbl.yaml", f"data.root={data}", *TINY, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def spbl_run(spbl_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spbl") / "run"
    assert main(train_args(spbl_data, out)) == 0
    return out


def state(run: Path, k: int) -> dict:
    return json.loads((run / f"round_{k}" / "spbl_state.json").read_text())


def test_each_round_grows_the_selection_by_the_pace_and_covers_every_class(spbl_run: Path) -> None:
    rounds = json.loads((spbl_run / "spbl_rounds.json").read_text())
    assert [entry["pace"] for entry in rounds] == [None, *PACE]
    per_round = [list(entry["selected_per_class"].values()) for entry in rounds]
    n = per_round[-1]  # pace 1.0 at the end: every training image of each class
    easy = [math.ceil(0.2 * count) for count in n]  # S0: 20 % of each class
    assert per_round[0] == easy
    for ratio, counts in zip(PACE, per_round[1:], strict=True):  # S0 plus ceil(r * n_c^U) of each class's pool
        assert counts == [e + math.ceil(round(ratio * (count - e), 9)) for e, count in zip(easy, n, strict=True)]
    assert all(min(counts) >= 1 for counts in per_round)
    assert all(a <= b for prev, cur in itertools.pairwise(per_round) for a, b in zip(prev, cur, strict=True))
    assert [len(state(spbl_run, k)["selected_idx"]) for k in range(1, 4)] == [sum(c) - sum(easy) for c in per_round[1:]]
    spec = json.loads((spbl_run / "model.json").read_text())
    assert spec["outputs"] == ["logits", "features"] and spec["task_options"]["svm_file"] == "svm.safetensors"
    assert spec["task_options"]["head"] in ("svm", "cnn", "both") and (spbl_run / "svm.safetensors").is_file()
    assert spec["training"]["data"]["train"] == n
    assert not list(spbl_run.glob("**/*.ckpt"))  # finished rounds keep weights and state, not Lightning checkpoints


def test_a_run_resumed_after_round_2_ends_with_the_same_selection(
    spbl_data: Path, spbl_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, fits = tmp_path / "run", []
    fit = spbl_rounds.fit

    def interrupted_fit(stage, **kwargs):
        fits.append(stage.out_dir.name)
        if stage.out_dir.name == "round_3" and len(fits) == 4:
            raise KeyboardInterrupt  # a stop in the middle of round 3
        return fit(stage, **kwargs)

    monkeypatch.setattr(spbl_rounds, "fit", interrupted_fit)
    assert main(train_args(spbl_data, out)) == 130
    assert (out / "round_3").is_dir() and not (out / "round_3" / "spbl_state.json").exists()
    finished = (out / "round_2" / "spbl_state.json").stat().st_mtime_ns
    assert main(train_args(spbl_data, out, "--resume")) == 0
    assert fits == ["round_0", "round_1", "round_2", "round_3", "round_3"]  # rounds 0-2 were not trained again
    assert (out / "round_2" / "spbl_state.json").stat().st_mtime_ns == finished
    for k in range(4):
        resumed, uninterrupted = state(out, k), state(spbl_run, k)
        for key in ("easy_idx", "pool_idx", "selected_idx", "paced_idx", "class_weights", "sample_weights"):
            assert resumed[key] == uninterrupted[key], (k, key)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_evaluate_and_predict_with_each_head(spbl_data: Path, spbl_run: Path, tmp_path: Path) -> None:
    assert main(["evaluate", str(spbl_run), str(spbl_data), "--head", "both", "--out", str(tmp_path / "both")]) == 0
    both = json.loads((tmp_path / "both" / "metrics.json").read_text())
    assert both["n"] == 16 and set(both["heads"]) == {"svm", "cnn", "both"}  # the test list (val.txt)
    winner = json.loads((spbl_run / "model.json").read_text())["task_options"]["head"]
    for head in (None, "svm", "cnn"):
        out = tmp_path / str(head)
        assert (
            main(["evaluate", str(spbl_run), str(spbl_data), "--out", str(out), *(["--head", head] if head else [])])
            == 0
        )
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["accuracy"] == pytest.approx(both["heads"][head or winner]["accuracy"])
        assert "few_shot_accuracy" in metrics and "g_mean_spbl" in metrics
    images = spbl_data / "raw" / "images"
    rows = {}
    for head in ("svm", "cnn", "both"):
        assert (
            main(["predict", str(spbl_run), str(images), "--head", head, "--out", str(tmp_path / f"{head}.csv")]) == 0
        )
        rows[head] = read_csv(tmp_path / f"{head}.csv")
    assert [row["predicted_svm"] for row in rows["both"]] == [row["predicted"] for row in rows["svm"]]
    assert [row["predicted_cnn"] for row in rows["both"]] == [row["predicted"] for row in rows["cnn"]]
    p_svm = np.array([[float(row[f"p_{c}"]) for c in "0123"] for row in rows["svm"]])
    p_cnn = np.array([[float(row[f"p_{c}"]) for c in "0123"] for row in rows["cnn"]])
    p_both = np.array([[float(row[f"p_{c}"]) for c in "0123"] for row in rows["both"]])
    np.testing.assert_allclose(p_both, (p_svm + p_cnn) / 2, atol=2e-6)


def test_cv_reports_the_papers_metrics_and_the_shot_breakdown(spbl_data: Path, tmp_path: Path) -> None:
    args = [
        "cv",
        "configs/sd198_spbl.yaml",
        f"data.root={spbl_data}",
        *TINY,
        "task.pace=[1.0]",
        "--repeats",
        "2",
        "--out",
        str(tmp_path / "cv"),
    ]
    assert main(args) == 0
    summary = json.loads((tmp_path / "cv" / "cv_results.json").read_text())["summary"]
    for key in (
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "g_mean",
        "g_mean_spbl",
        "mauc",
        "weighted_pr_harmonic",
        "accuracy",
        "few_shot_accuracy",
    ):
        assert summary[key]["folds"] == 2 and summary[key]["std"] is not None, key
    assert summary["many_shot_accuracy"]["mean"] is None  # no class has > 100 training images here
