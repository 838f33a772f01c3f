"""The JSON the server answers with: per-image predictions with the decision rule, and the model's description.

Reads only ``predictor.spec`` (a :class:`~dermkit.models.artifact.ModelSpec`) and the predictions' ``to_dict()``,
so any task and any predictor (PyTorch or ONNX) is answered the same way. Imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dermkit.errors import ImageLoadError
from dermkit.fileio import _json_safe
from dermkit.serve.uploads import ApiError, Upload, image_error_status

MODEL_CARD = "MODEL_CARD.md"


def model_summary(spec: Any, model_dir: Path | None) -> dict[str, Any]:
    """Name and version of the model: its folder (or run) name, architecture, task and when it was exported."""
    run_name = (spec.training.get("config") or {}).get("name") if isinstance(spec.training, dict) else None
    return {
        "name": model_dir.name if model_dir else (run_name or spec.architecture.name),
        "architecture": spec.architecture.name,
        "task": spec.task,
        "version": spec.created,
        "dermkit_version": spec.dermkit_version,
    }


def decision_summary(spec: Any) -> dict[str, Any]:
    """The decision rule in use: for two classes the threshold on the positive class and where it came from."""
    names = list(spec.class_names)
    if len(names) != 2:
        return {"positive_class": None, "threshold": None, "threshold_source": "argmax (most probable class)"}
    threshold = spec.decision.threshold
    source = spec.decision.threshold_source if threshold is not None else "argmax (no stored threshold)"
    return {"positive_class": names[1], "threshold": threshold, "threshold_source": source}


def flagged(decision: dict[str, Any], probabilities: dict[str, float] | None) -> bool | None:
    """Whether the positive class reaches the threshold (binary models; None otherwise)."""
    positive = decision["positive_class"]
    if positive is None or not probabilities or positive not in probabilities:
        return None
    threshold = decision["threshold"]
    others = [value for name, value in probabilities.items() if name != positive]
    score = probabilities[positive]
    return bool(score >= threshold) if threshold is not None else bool(score > max(others, default=0.0))


def prediction_entry(upload: Upload, prediction: Any, decision: dict[str, Any], model: dict[str, Any]) -> dict:
    """One image's answer: the task's prediction, the threshold in use and its source, the flag and the model."""
    body = prediction.to_dict()
    return {
        "file": upload.index + 1,
        "filename": upload.filename,
        **body,
        "threshold": decision["threshold"],
        "threshold_source": decision["threshold_source"],
        "positive_class": decision["positive_class"],
        "flagged": flagged(decision, body.get("probabilities")),
        "model": model,
    }


def error_entry(upload: Upload, error: ImageLoadError) -> dict:
    """One unreadable image's answer: its HTTP status and one line naming it (``file 2: not an image ...``)."""
    return {
        "file": upload.index + 1,
        "filename": upload.filename,
        "error": f"{upload.label}: {error.reason}",
        "status": image_error_status(error),
    }


def predict_uploads(predictor: Any, uploads: list[Upload], model: dict[str, Any]) -> list[dict]:
    """Predict every upload; an unreadable one gets an error entry and the others are answered.

    All images go through one ``predict_batch``; only when one of them is unreadable is each predicted alone, to
    tell which. Runs in a worker thread.

    Raises:
        ApiError: every image is unreadable (the first one's status and message).
    """
    decision = decision_summary(predictor.spec)
    try:
        predictions = predictor.predict_batch([upload.data for upload in uploads])
        return [prediction_entry(u, p, decision, model) for u, p in zip(uploads, predictions, strict=True)]
    except ImageLoadError:
        pass
    entries = []
    for upload in uploads:
        try:
            entries.append(prediction_entry(upload, predictor.predict(upload.data), decision, model))
        except ImageLoadError as exc:
            entries.append(error_entry(upload, exc))
    if all("error" in entry for entry in entries):
        first = entries[0]
        raise ApiError(first["status"], first["error"], extra={"results": entries} if len(entries) > 1 else None)
    return entries


def model_description(predictor: Any, model_dir: Path | None, explain: str | None) -> dict[str, Any]:
    """``GET /model``: classes, validation metrics, the operating point, the model card and what the server offers."""
    spec = predictor.spec
    card = model_dir / MODEL_CARD if model_dir else None
    return _json_safe(
        {
            **model_summary(spec, model_dir),
            "classes": list(spec.class_names),
            "output": spec.output,
            "preprocessing": spec.preprocessing,
            "operating_point": {
                **decision_summary(spec),
                "temperature": spec.decision.temperature,
                "tta": spec.decision.tta,
            },
            "metrics": spec.metrics,
            "model_card": card.read_text(encoding="utf-8") if card and card.is_file() else None,
            "explain": explain is None,
            "explain_unavailable": explain,
        }
    )
