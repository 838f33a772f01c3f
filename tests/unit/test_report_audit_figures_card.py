"""The standalone audit report, the report's figures and training-log reader, and the model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from dermkit.metrics.calibration import reliability_bins
from dermkit.reports import figures as plots
from dermkit.reports.audit_page import render_audit_html, write_audit_report
from dermkit.reports.model_card import write_model_card
from dermkit.reports.training_log import read_training_log
from tests.unit._report_helpers import LOG, _audit, _parse


def test_render_audit_and_standalone_audit_report(tmp_path: Path) -> None:
    fragment = render_audit_html(_audit())
    assert fragment.startswith('<section id="audit">') and "dup_in_test.png" in fragment
    out = write_audit_report(tmp_path / "audit.html", _audit(n_unreadable=150), title="Audit <x>")
    text = out.read_text()
    assert _parse(text).ids == ["audit"] and "<!DOCTYPE html>" in text and "Audit &lt;x&gt;" in text
    assert "http" not in text and "... and 50 more." in text and "bad149.png" not in text
    assert "Unreadable images (150 images)" in text


def test_plots_show_numbers_curves_and_bins() -> None:
    fig = plots.confusion_figure([[5, 1], [0, 0]], ["a", "b"])
    counts, rates = (sorted(t.get_text() for t in ax.texts) for ax in fig.axes[:2])
    assert counts == ["0", "0", "1", "5"] and rates == ["0.17", "0.83", "n/a", "n/a"]
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 50)
    p = np.stack([1 - (s := rng.random(50)), s], axis=1)
    roc_legend = [t.get_text() for t in plots.curves_figure(y, p, ["n", "m"], 0.3).axes[0].get_legend().get_texts()]
    assert f"m (AUC {skm.roc_auc_score(y, s):.3f})" in roc_legend and "threshold 0.3" in roc_legend
    y4 = rng.integers(0, 4, 80)
    p4 = rng.dirichlet(np.ones(4), 80)
    pr_legend = [t.get_text() for t in plots.curves_figure(y4, p4, list("abcd")).axes[1].get_legend().get_texts()]
    assert len(pr_legend) == 5 and pr_legend[-1].startswith("micro-average (AP ")
    rel = plots.reliability_figure(reliability_bins(y4, p4, 15), 0.1234)
    assert "ECE = 0.123" in rel.axes[0].get_title() and len(rel.axes[1].patches) == 15


def test_read_training_log_handles_sparse_rows(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(LOG)
    log = read_training_log(tmp_path / "m.csv")
    np.testing.assert_allclose(log["epoch"]["val/loss"][1], [0.8, 0.5])
    np.testing.assert_allclose(log["epoch"]["train/loss_step"][1], [0.8, 0.4])  # mean of the steps per epoch
    np.testing.assert_array_equal(log["epoch"]["val/auroc"][0], [0, 1])
    np.testing.assert_allclose(log["step"]["lr-AdamW"][1], [0.001, 0.002])
    (tmp_path / "empty.csv").write_text("step,loss\n1,0.2\n")
    with pytest.raises(ValueError, match="epoch"):
        read_training_log(tmp_path / "empty.csv")


def test_model_card_has_every_section_and_values(tmp_path: Path, binary: dict) -> None:
    info = {
        "architecture": {"name": "resnet18"}, "class_names": ["benign", "<malignant>"], "task": "classify",
        "output": "softmax", "dermkit_version": "0.1.0",
        "preprocessing": {"image_size": 224, "resize": 256, "resize_mode": "shorter", "mean": [0.5] * 3,
                          "std": [0.25] * 3},
        "decision": {"positive_class": "malignant", "threshold": 0.4, "threshold_source": "recall>=0.99 on val",
                     "temperature": 1.7},
        "training": {"config": {"model": {"name": "resnet18"}, "loss": {"name": "bce"}, "optim": {"name": "adam",
                     "lr": 2e-4}, "sched": {"name": "warmup_cosine"}, "trainer": {"max_epochs": 20},
                     "data": {"train_transform": "skin_classifier"}},
                     "data": {"source": "isic-subset", "train": [800, 200], "val": [100, 25]}},
    }  # fmt: skip
    out = write_model_card(
        tmp_path / "MODEL_CARD.md",
        model_info=info,
        metrics=binary["metrics"],
        data_info={"source": "data/melanoma", "split": "test", "n": 60},
    )
    text = out.read_text()
    for heading in (
        "Model",
        "Training data",
        "Recipe",
        "Evaluation",
        "Operating point",
        "Intended use",
        "Limits",
        "Version",
    ):
        assert f"\n## {heading}\n" in text
    m = binary["metrics"]
    assert f"| Accuracy | {m['accuracy']:.3f} | [0.612, 0.854] |" in text
    assert f"| Sensitivity (malignant) | {m['per_class']['malignant']['recall']:.3f} |" in text
    assert "224 x 224" in text and "| 800 | 100 |" in text and "skin_classifier" in text and "bce" in text
    assert "0.4000" in text and "recall>=0.99 on val" in text and "T = 1.700" in text
    assert "V-VI (worst)" in text and "not a diagnosis" in text and "&lt;malignant>" in text
    bare = write_model_card(tmp_path / "bare.md", model_info={}, metrics={"accuracy": None}).read_text()
    assert "## Intended use" in bare and "| Accuracy | undefined |" in bare and "not recorded" in bare
