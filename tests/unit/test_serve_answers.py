"""dermkit.serve.answers: the decision rule and flag in each answer, for binary and multi-class models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dermkit.models.artifact import Architecture, Decision, ModelSpec
from dermkit.serve.answers import decision_summary, flagged, model_summary


def _spec(classes: list[str], threshold: float | None = None, source: str | None = None) -> ModelSpec:
    return ModelSpec(
        architecture=Architecture(name="resnet18", num_outputs=len(classes)),
        class_names=classes,
        preprocessing={},
        decision=Decision(threshold=threshold, threshold_source=source),
        training={"config": {"name": "melanoma_run"}},
    )


def test_binary_model_flags_at_its_stored_threshold() -> None:
    decision = decision_summary(_spec(["benign", "malignant"], 0.2, "recall>=0.999 on val"))
    assert decision == {"positive_class": "malignant", "threshold": 0.2, "threshold_source": "recall>=0.999 on val"}
    assert flagged(decision, {"benign": 0.8, "malignant": 0.2}) is True  # at the threshold counts
    assert flagged(decision, {"benign": 0.81, "malignant": 0.19}) is False


def test_binary_model_without_threshold_flags_the_more_probable_positive() -> None:
    decision = decision_summary(_spec(["benign", "malignant"]))
    assert decision["threshold"] is None and "argmax" in decision["threshold_source"]
    assert flagged(decision, {"benign": 0.4, "malignant": 0.6}) is True
    assert flagged(decision, {"benign": 0.5, "malignant": 0.5}) is False  # a tie goes to the first class, as argmax


def test_multiclass_model_has_no_flag() -> None:
    decision = decision_summary(_spec(["akiec", "bcc", "mel"]))
    assert decision["positive_class"] is None
    assert flagged(decision, {"akiec": 0.1, "bcc": 0.2, "mel": 0.7}) is None


def test_model_name_is_the_folder_else_the_run_name() -> None:
    spec = _spec(["benign", "malignant"])
    assert model_summary(spec, Path("models/derm_v2"))["name"] == "derm_v2"
    summary = model_summary(spec, None)
    assert summary["name"] == "melanoma_run" and summary["version"] == spec.created
    assert summary["architecture"] == "resnet18"


@pytest.mark.parametrize("module", ["dermkit.serve"])
def test_serving_imports_no_torch(module: str) -> None:
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
