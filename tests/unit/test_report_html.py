"""The HTML evaluation report from write_report: sections, figures, gallery, subgroups, escaping, edge cases."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermkit.fileio import write_json
from dermkit.metrics._validation import MetricInputError
from dermkit.reports.html_report import write_report
from tests.unit._report_helpers import SECTIONS, _metrics, _parse, _png, _section


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
