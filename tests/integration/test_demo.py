"""`dermkit demo` runs the whole flow and says where everything is (shrunk to seconds with overrides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dermkit.engine.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_writes_model_metrics_report_predictions_and_logs(tmp_path: Path) -> None:
    lines: list[str] = []
    overrides = [
        "model.name=test_resnet",
        "data.image_size=48",
        "data.resize=48",
        "data.num_workers=0",
        "trainer.progress_bar=false",
    ]
    result = run_demo(tmp_path / "demo", epochs=2, per_class=30, log=lines.append, overrides=overrides)
    assert [line[:3] for line in lines] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    for what in ("model", "metrics", "report", "model card", "predictions", "test preds", "logs"):
        assert result.paths[what].exists(), what
    metrics = json.loads(result.paths["metrics"].read_text())
    assert metrics == json.loads(json.dumps(metrics)) and metrics["n"] == result.test_metrics["n"] > 0
    assert "fitzpatrick" in metrics["subgroups"] and metrics["ci"]["accuracy"]["low"] is not None
    rows = result.paths["predictions"].read_text().splitlines()
    assert len(rows) == 31 and rows[0].startswith("path,predicted,p_benign,p_malignant,error")
