"""Predictor: one model folder is enough; every input kind works; the stored decision rule is applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dermkit.data.records import Record
from dermkit.engine.checkpoint import load_task_state
from dermkit.errors import ImageLoadError
from dermkit.inference.predictor import Predictor
from dermkit.models.artifact import read_spec, write_spec


@pytest.fixture(scope="module")
def predictor(trained_run: Path) -> Predictor:
    return Predictor.from_checkpoint(trained_run)


def test_exported_model_gives_identical_logits_to_best_checkpoint(trained_run: Path, predictor: Predictor) -> None:
    weights, meta = load_task_state(trained_run / "best.ckpt")
    reference = Predictor.from_checkpoint(trained_run).model
    reference.load_state_dict(weights)
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(reference.eval()(x), predictor.model(x))
    assert meta["epoch"] == read_spec(trained_run).training["best_epoch"]


def test_predict_accepts_path_bytes_pil_and_arrays_with_same_result(predictor: Predictor, synth_dir: Path) -> None:
    path = synth_dir / "malignant" / "malignant_00001.jpg"
    pil = Image.open(path).convert("RGB")
    results = [
        predictor.predict(path),
        predictor.predict(str(path)),
        predictor.predict(path.read_bytes()),
        predictor.predict(pil),
        predictor.predict(np.asarray(pil)),
    ]
    first = results[0]
    assert first.label in ("benign", "malignant") and first.index == predictor.class_names.index(first.label)
    assert sum(first.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    for other in results[1:]:
        assert other.label == first.label
        assert other.probabilities == pytest.approx(first.probabilities, abs=1e-6)


def test_predict_batch_matches_single_predictions_and_keeps_order(predictor: Predictor, synth_dir: Path) -> None:
    paths = sorted((synth_dir / "benign").glob("*.jpg"))[:5] + sorted((synth_dir / "malignant").glob("*.jpg"))[:4]
    batch = predictor.predict_batch(paths, batch_size=4)
    assert [p.label for p in batch] == [predictor.predict(path).label for path in paths]
    assert sum(p.label == "benign" for p in batch[:5]) >= 4 and sum(p.label == "malignant" for p in batch[5:]) >= 3


def test_predict_raises_one_line_image_error_for_bad_input(predictor: Predictor, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageLoadError) as info:
        predictor.predict(bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)


def test_predict_records_reports_errors_per_row_and_predicts_the_rest(
    predictor: Predictor, synth_dir: Path, tmp_path: Path
) -> None:
    good = sorted((synth_dir / "benign").glob("*.jpg"))[:3]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    records = [Record(good[0]), Record(empty), Record(good[1]), Record(tmp_path / "gone.png"), Record(good[2])]
    result = predictor.predict_records(records, batch_size=2)
    proba, errors = result.proba, result.errors
    assert [e is None for e in errors] == [True, False, True, False, True]
    assert "empty file" in errors[1] and "file not found" in errors[3]
    assert np.isnan(proba[[1, 3]]).all() and not np.isnan(proba[[0, 2, 4]]).any()
    assert result.readable.tolist() == [True, False, True, False, True]
    assert result.logits.shape == (5, predictor.spec.architecture.num_outputs)
    single = [predictor.predict(path).probabilities["benign"] for path in good]
    assert proba[[0, 2, 4], 0] == pytest.approx(single, abs=1e-6)


def test_stored_threshold_and_temperature_are_applied(trained_run: Path, tmp_path: Path, synth_dir: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns("*.ckpt", "logs"))
    image = synth_dir / "benign" / "benign_00002.jpg"
    base = Predictor.from_checkpoint(copy).predict(image)
    spec = read_spec(copy)
    spec = spec.model_copy(update={"decision": spec.decision.model_copy(update={"threshold": 0.0, "temperature": 4.0})})
    write_spec(copy, spec)
    changed = Predictor.from_checkpoint(copy).predict(image)
    assert changed.label == "malignant"  # threshold 0: everything is the positive class
    assert abs(changed.probabilities["benign"] - 0.5) < abs(base.probabilities["benign"] - 0.5)  # softer
    assert json.loads((copy / "model.json").read_text())["decision"]["temperature"] == 4.0


def test_decision_changes_make_a_new_predictor_and_leave_the_old_one(trained_run: Path, synth_dir: Path) -> None:
    from dermkit.data import read_dataset
    from dermkit.evaluation import evaluate
    from dermkit.evaluation.thresholds import parse_rule

    predictor = Predictor.from_checkpoint(trained_run)
    before = predictor.spec.decision.model_dump()
    strict = predictor.with_decision(threshold=0.0)
    assert strict.spec.decision.threshold == 0.0 and strict.model is predictor.model
    with pytest.raises(ValueError, match="frozen"):
        predictor.spec.decision.threshold = 0.2  # type: ignore[misc]
    table = read_dataset(synth_dir / "manifest.csv")
    evaluation = evaluate(predictor, table, choose_threshold=parse_rule("recall=0.9"))
    assert evaluation.spec.decision.threshold_source.startswith("recall>=0.9")
    assert predictor.spec.decision.model_dump() == before  # the evaluated predictor kept its own rule
