"""Test-time augmentation views, and temperature scaling fitted on logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dermkit.errors import ConfigError
from dermkit.evaluation.calibration import fit_calibration
from dermkit.inference.predictor import Predictor, tta_views


def test_d4_gives_the_eight_distinct_symmetries_and_flips_four() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    d4 = tta_views(x, "d4")
    assert len(d4) == 8 and len({tuple(view.flatten().tolist()) for view in d4}) == 8
    flips = tta_views(x, "flips")
    assert len(flips) == 4 and torch.equal(flips[3], torch.rot90(x, 2, dims=(-2, -1)))
    assert tta_views(x, None)[0] is x
    with pytest.raises(ValueError, match="unknown test-time augmentation 'rot'"):
        tta_views(x, "rot")


def test_tta_probabilities_average_the_views(trained_run: Path) -> None:
    plain = Predictor.from_checkpoint(trained_run)
    tta = Predictor.from_checkpoint(trained_run, tta="d4")
    batch = torch.randn(2, 3, 48, 48)
    expected = np.mean([plain.predict_proba_tensor(view) for view in tta_views(batch, "d4")], axis=0)
    assert tta.predict_proba_tensor(batch) == pytest.approx(expected, abs=1e-6)
    assert tta.predict_proba_tensor(batch).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_predictor_rejects_unknown_tta_at_construction(trained_run: Path) -> None:
    with pytest.raises(ValueError, match="choose one of: none, flips, d4"):
        Predictor.from_checkpoint(trained_run, tta="everything")


def overconfident(seed: int, n: int = 3000, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(n, classes)) * 1.5
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(classes, p=row) for row in p])
    return true_logits * 4.0, y  # the model is 4x too sure of itself


def test_temperature_scaling_lowers_nll_of_an_overconfident_model() -> None:
    logits, y = overconfident(0)
    result = fit_calibration(logits, y)
    assert result.temperature == pytest.approx(4.0, rel=0.15)
    assert result.nll_after < result.nll_before and result.ece_after < result.ece_before
    assert result.n == 3000


def test_temperature_scaling_handles_single_logit_models_and_ignores_unreadable_rows() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000) * 2
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)
    logits = (z * 3.0)[:, None].copy()
    logits[:10] = np.nan
    result = fit_calibration(logits, y)
    assert result.n == 3990 and result.temperature == pytest.approx(3.0, rel=0.15)


def test_config_error_is_raised_for_threshold_on_multiclass(trained_run: Path) -> None:
    from dermkit.evaluation.classification import _set_threshold
    from dermkit.evaluation.thresholds import parse_rule

    predictor = Predictor.from_checkpoint(trained_run)
    predictor.spec.class_names.append("third")
    with pytest.raises(ConfigError, match="two-class models"):
        _set_threshold(predictor, parse_rule("recall=0.9"), np.zeros(3), np.zeros((3, 3)), None)
