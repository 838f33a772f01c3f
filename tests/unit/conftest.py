"""Unit-test fixtures: one binary evaluation written as an HTML report, shared by the report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dermkit.metrics.operating_point import operating_points
from dermkit.reports.html_report import write_report
from tests.unit._report_helpers import LOG, _audit, _metrics, _png


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
