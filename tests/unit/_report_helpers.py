"""Shared helpers for the report tests: an HTML page parser, section lookup, metrics, PNGs and a sample audit."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from dermkit.metrics.classification import classification_metrics

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
