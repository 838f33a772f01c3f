"""The HTML evaluation report, its figures, the audit report and the model card."""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as skm

from dermkit.fileio import write_json
from dermkit.metrics import plots
from dermkit.metrics._validation import MetricInputError
from dermkit.metrics.calibration import reliability_bins
from dermkit.metrics.classification import classification_metrics
from dermkit.metrics.model_card import write_model_card
from dermkit.metrics.operating_point import operating_points
from dermkit.metrics.report import render_audit_html, write_audit_report, write_report

SECTIONS = ("summary", "operating-point", "per-class", "confusion", "curves", "calibration", "training", "mistakes")
LOG = """epoch,lr-AdamW,step,train/loss_epoch,train/loss_step,val/acc,val/auroc,val/balanced_acc,val/f1,val/loss
,0.001,0,,,,,,,
0,,1,,0.9,,,,,
0,,3,,0.7,,,,,
0,,3,,,0.6,0.7,0.6,0.55,0.8
0,,3,0.8,,,,,,
,0.002,4,,,,,,,
1,,5,,0.5,,,,,
1,,7,,0.3,,,,,
1,,7,,,0.8,0.9,0.8,0.75,0.5
1,,7,0.4,,,,,,
"""


class _Page(HTMLParser):
    """Collects element ids, tag names and ``src`` attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if "src" in a:
            self.srcs.append(a["src"] or "")


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _section(text: str, sid: str) -> str:
    match = re.search(rf'<section id="{sid}">(.*?)</section>', text, re.S)
    assert match, f"no section {sid}"
    return match.group(1)


def _metrics(y: np.ndarray, p: np.ndarray, names: list[str], threshold: float | None = None) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return classification_metrics(y, p, names, threshold=threshold)


def _png(path: Path, seed: int, size: int = 24) -> str:
    yy, xx = np.mgrid[0:size, 0:size]
    arr = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, seed % 255)], axis=-1).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """60 binary predictions; image 0 is the most confident mistake and is not a readable image."""
    root = tmp_path_factory.mktemp("binary")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.clip(0.4 * y + rng.normal(0.3, 0.2, 60), 0.01, 0.98)
    y[0], s[0] = 0, 0.995
    p = np.stack([1 - s, s], axis=1)
    paths = [_png(root / f"img{i}.png", i) for i in range(60)]
    Path(paths[0]).write_text("this is not a png")
    m = _metrics(y, p, ["benign", "malignant"], threshold=0.4)
    m["operating_points"] = operating_points(y, p[:, 1])
    m["ci"] = {"accuracy": {"point": m["accuracy"], "low": 0.612, "high": 0.854, "n_resamples": 1000}}
    m["ci_method"] = "percentile bootstrap, 1000 resamples of patients"
    m["subgroups"] = {
        "skin_type": {
            "groups": {
                "I-II": {"n": 40, "metrics": {"accuracy": {"point": 0.8, "low": 0.7, "high": 0.9}}},
                "V-VI": {"n": 20, "metrics": {"accuracy": {"point": 0.55, "low": 0.3, "high": 0.75}}},
            },
            "worst_gap": {"accuracy": {"gap": 0.25, "best": "I-II", "worst": "V-VI"}},
        }
    }
    log = root / "metrics.csv"
    log.write_text(LOG)
    model_info = {
        "architecture": {"name": "resnet18"},
        "decision": {"threshold": 0.4, "threshold_source": "recall>=0.99 on val", "temperature": 1.7},
        "training": {"best_epoch": 1, "monitor": "val/auroc"},
    }
    out = write_report(
        root / "report.html",
        title="Binary test",
        metrics=m,
        y_true=y,
        proba=p,
        class_names=["benign", "malignant"],
        paths=paths,
        training_log=log,
        model_info=model_info,
        data_info={"source": "data/melanoma", "split": "test", "n": 60},
        audit=_audit(),
    )
    return {"y": y, "p": p, "metrics": m, "paths": paths, "root": root, "html": out.read_text(), "out": out}


def _audit(n_unreadable: int = 1) -> dict:
    return {
        "source": "data/melanoma", "n_images": 60, "class_names": ["benign", "malignant"],
        "splits": {"train": [20, 20], "test": [10, 10]},
        "sizes": {k: {"min": 24, "median": 24, "max": 24} for k in ("width", "height", "megapixels")},
        "modes": {"RGB": 59}, "formats": {"PNG": 59},
        "unreadable": [{"path": f"bad{i}.png", "error": "not an image"} for i in range(n_unreadable)],
        "exact_duplicates": [{"paths": ["a.png", "dup_in_test.png"], "splits": ["train", "test"],
                              "labels": ["benign", "benign"], "cross_split": True, "conflicting_labels": False}],
        "near_duplicates": [{"a": "c.png", "b": "d.png", "distance": 3, "splits": ["train", "train"],
                             "cross_split": False}],
        "leakage": {"exact": 1, "near": 0},
    }  # fmt: skip


def test_report_has_every_section_and_decodable_images(binary: dict) -> None:
    page = _parse(binary["html"])
    assert set(SECTIONS) | {"subgroups", "audit"} <= set(page.ids)
    pngs = [s for s in page.srcs if s.startswith("data:image/png;base64,")]
    assert len(pngs) == 4  # confusion, curves, calibration, training
    for src in pngs:
        img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        img.verify()
        assert img.format == "PNG" and img.size[0] > 300
    jpegs = [s for s in page.srcs if s.startswith("data:image/jpeg;base64,")]
    assert 1 <= len(jpegs) <= 11  # 12 at most, one of them a placeholder
    assert max(Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).size[0] for s in jpegs) <= 128
    head = binary["html"].split('<section id="summary">')[0]
    assert "resnet18" in head and "data/melanoma" in head and "test" in head and "0.1" in head


def test_report_is_self_contained(binary: dict) -> None:
    text, page = binary["html"], _parse(binary["html"])
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert all(s.startswith("data:") for s in page.srcs)
    assert not {"script", "link", "iframe"} & set(page.tags)
    assert "percentile bootstrap, 1000 resamples of patients" in text.split("<footer>")[1]
    assert binary["out"].stat().st_size < 400_000


def test_summary_shows_cis_and_operating_point_shows_levels(binary: dict) -> None:
    summary = _section(binary["html"], "summary")
    assert f"{binary['metrics']['accuracy']:.3f}" in summary and "[0.612, 0.854]" in summary
    op = _section(binary["html"], "operating-point")
    assert "0.4000" in op and "recall&gt;=0.99 on val" in op and "Youden" in op
    for level in ("0.999", "0.99", "0.95"):
        assert f"recall &ge; {level}<" in op and f"sensitivity &ge; {level}<" in op
    thr = binary["metrics"]["operating_points"]["specificity_at_sensitivity"]["0.95"]["threshold"]
    assert f"{thr:.4f}" in op


def test_unreadable_gallery_image_shows_placeholder(binary: dict) -> None:
    gallery = _section(binary["html"], "mistakes")
    cards = re.findall(r'<div class="thumb"', gallery)
    n_wrong = int(np.sum((binary["p"][:, 1] >= 0.4).astype(int) != binary["y"]))
    assert len(cards) == min(12, n_wrong)
    first = gallery.split('<div class="thumb"')[1]
    assert "image unreadable" in first and "img0.png" in first and "0.995" in first
    assert "true:</b> benign" in first and "predicted:</b> malignant" in first


def test_subgroups_highlight_worst_group_and_audit_flags_cross_split(binary: dict) -> None:
    sub = _section(binary["html"], "subgroups")
    worst_row = re.search(r'<tr class="worst-row">(.*?)</tr>', sub).group(1)
    assert "V-VI" in worst_row and '<td class="worst">0.550 [0.300, 0.750]</td>' in worst_row
    assert "0.250" in sub
    audit = _section(binary["html"], "audit")
    assert re.search(r'<tr class="worst">[^\n]*dup_in_test\.png', audit) and "Leakage" in audit


def test_no_subgroups_no_audit_no_log_multiclass(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = ["nevus", "melanoma", "bcc", "absent"]
    y = rng.integers(0, 3, 80)  # class 3 never occurs
    logits = rng.normal(size=(80, 4)) + 2.5 * np.eye(4)[y]
    logits[:, 3] = -20  # and is never predicted
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[[5, 6]] = np.nan  # two unreadable images
    m = _metrics(y[~np.isnan(p[:, 0])], p[~np.isnan(p[:, 0])], names)
    paths = [str(tmp_path / "missing.png")] * 80
    text = write_report(
        tmp_path / "r.html", title="Four classes", metrics=m, y_true=y, proba=p, class_names=names, paths=paths
    ).read_text()
    ids = set(_parse(text).ids)
    assert len([s for s in _parse(text).srcs if s.startswith("data:image/png")]) == 3  # no training figure
    assert set(SECTIONS) - {"operating-point"} <= ids
    assert not {"operating-point", "subgroups", "audit"} & ids
    assert "No training log was given" in _section(text, "training")
    assert "2 unreadable" in text and "MAUC" in _section(text, "summary")
    row = re.search(r"<tr><td>absent</td>(.*?)</tr>", _section(text, "per-class")).group(1)
    assert row.count("undefined") == 3 and "0.000" not in row.replace("<td>0</td>", "")  # precision, recall, F1
    assert _section(text, "mistakes").count("image unreadable") >= 1


def test_undefined_survives_json_round_trip_and_bad_log(tmp_path: Path, binary: dict) -> None:
    m = dict(binary["metrics"])
    m["per_class"] = {k: dict(v) for k, v in m["per_class"].items()}
    m["per_class"]["malignant"]["precision"] = float("nan")
    m.pop("operating_points")
    m = json.loads(write_json(tmp_path / "m.json", m).read_text())
    assert m["per_class"]["malignant"]["precision"] is None
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\xff\xfe garbage")
    text = write_report(
        tmp_path / "r.html",
        title="t",
        metrics=m,
        y_true=binary["y"],
        proba=binary["p"],
        class_names=["benign", "malignant"],
        training_log=bad,
    ).read_text()
    row = re.search(r"<tr><td>malignant</td><td>(.*?)</td>", _section(text, "per-class")).group(1)
    assert "undefined" in row
    assert "could not be read" in _section(text, "training")
    assert "Youden" in _section(text, "operating-point")  # recomputed when absent
    assert "No image paths" in _section(text, "mistakes")
    missing = write_report(
        tmp_path / "r2.html",
        title="t",
        metrics=m,
        y_true=binary["y"],
        proba=binary["p"],
        class_names=["benign", "malignant"],
        training_log=tmp_path / "nope.csv",
    ).read_text()
    assert "could not be read" in _section(missing, "training") and "<img" not in _section(missing, "training")


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    names = ["<script>alert(1)</script>", "b&c"]
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.8, 0.2]])
    paths = [_png(tmp_path / f'x"{i}<i>.png', i) for i in range(6)]
    text = write_report(
        tmp_path / "r.html",
        title="<b>t</b>",
        metrics=_metrics(y, p, names),
        y_true=y,
        proba=p,
        class_names=names,
        paths=paths,
        data_info={"source": "<img src=x>"},
    ).read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x>" not in text and "<b>t</b>" not in text and "b&amp;c" in text
    assert 'x"0<i>' not in text and "script" not in _parse(text).tags


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
    log = plots.read_training_log(tmp_path / "m.csv")
    np.testing.assert_allclose(log["epoch"]["val/loss"][1], [0.8, 0.5])
    np.testing.assert_allclose(log["epoch"]["train/loss_step"][1], [0.8, 0.4])  # mean of the steps per epoch
    np.testing.assert_array_equal(log["epoch"]["val/auroc"][0], [0, 1])
    np.testing.assert_allclose(log["step"]["lr-AdamW"][1], [0.001, 0.002])
    (tmp_path / "empty.csv").write_text("step,loss\n1,0.2\n")
    with pytest.raises(ValueError, match="epoch"):
        plots.read_training_log(tmp_path / "empty.csv")


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


def test_mismatched_inputs_raise_one_clear_error(tmp_path: Path, binary: dict) -> None:
    with pytest.raises(MetricInputError, match="3 paths"):
        write_report(
            tmp_path / "r.html",
            title="t",
            metrics=binary["metrics"],
            y_true=binary["y"],
            proba=binary["p"],
            class_names=["benign", "malignant"],
            paths=["a", "b", "c"],
        )
    assert not (tmp_path / "r.html").exists()
