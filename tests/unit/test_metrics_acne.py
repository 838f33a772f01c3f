"""dermkit.metrics.acne (grading and counting metrics) and dermkit.tasks.acne_decode (numpy post-processing)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imblearn.metrics import specificity_score
from sklearn import metrics as skm

import dermkit
from dermkit.metrics.acne import counting_metrics, grading_metrics, matthews_corrcoef
from dermkit.metrics.functional import MetricInputError, UndefinedMetricWarning

NAMES = ["mild", "moderate", "severe", "very_severe"]
Y_TRUE = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3])
Y_PRED = np.array([0, 0, 1, 1, 1, 2, 1, 2, 1, 3, 2, 3])  # 8 of 12 right
DECODE_PATH = Path(dermkit.__file__).parent / "tasks" / "acne_decode.py"


def load_decode():
    """Load tasks/acne_decode.py by file path: dermkit.tasks' __init__ imports torch, this module must not."""
    spec = importlib.util.spec_from_file_location("acne_decode_under_test", DECODE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- grading --------------------------------------------------------------------------------------------------------


def test_grading_metrics_match_sklearn_and_imblearn() -> None:
    out = grading_metrics(Y_TRUE, Y_PRED, NAMES)
    labels = list(range(4))
    assert out["n"] == 12 and out["accuracy"] == pytest.approx(8 / 12)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED))
    precision = skm.precision_score(Y_TRUE, Y_PRED, labels=labels, average=None, zero_division=np.nan)
    recall = skm.recall_score(Y_TRUE, Y_PRED, labels=labels, average=None, zero_division=np.nan)
    specificity = specificity_score(Y_TRUE, Y_PRED, labels=labels, average=None)
    for i, name in enumerate(NAMES):
        row = out["per_grade"][name]
        assert row["precision"] == pytest.approx(precision[i])
        assert row["sensitivity"] == pytest.approx(recall[i])
        assert row["specificity"] == pytest.approx(specificity[i])
        assert row["support"] == np.bincount(Y_TRUE)[i]
    assert out["macro_precision"] == pytest.approx(skm.precision_score(Y_TRUE, Y_PRED, average="macro"))
    macro_se = skm.recall_score(Y_TRUE, Y_PRED, average="macro")
    macro_sp = specificity_score(Y_TRUE, Y_PRED, average="macro")
    assert out["macro_sensitivity"] == pytest.approx(macro_se)
    assert out["macro_specificity"] == pytest.approx(macro_sp)
    assert out["youden"] == pytest.approx(macro_se + macro_sp - 1)
    assert out["quadratic_kappa"] == pytest.approx(skm.cohen_kappa_score(Y_TRUE, Y_PRED, weights="quadratic"))
    assert out["mcc"] == pytest.approx(skm.matthews_corrcoef(Y_TRUE, Y_PRED))
    assert out["confusion_matrix"] == {"labels": NAMES, "matrix": skm.confusion_matrix(Y_TRUE, Y_PRED).tolist()}
    assert out["undefined"] == []
    json.dumps(out)


def test_an_absent_grade_is_nan_listed_and_warned_never_zero() -> None:
    y_true, y_pred = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 1, 2, 0])
    with pytest.warns(UndefinedMetricWarning, match="precision/very_severe"):
        out = grading_metrics(y_true, y_pred, NAMES)
    row = out["per_grade"]["very_severe"]
    assert math.isnan(row["precision"]) and math.isnan(row["sensitivity"]) and row["support"] == 0
    assert row["specificity"] == pytest.approx(1.0)
    assert set(out["undefined"]) == {"precision/very_severe", "sensitivity/very_severe"}
    present = [0, 1, 2]
    assert out["macro_precision"] == pytest.approx(skm.precision_score(y_true, y_pred, labels=present, average="macro"))
    assert out["macro_sensitivity"] == pytest.approx(skm.recall_score(y_true, y_pred, labels=present, average="macro"))
    assert out["macro_specificity"] == pytest.approx(
        specificity_score(y_true, y_pred, labels=range(4), average="macro")
    )


def test_mcc_is_undefined_when_every_prediction_is_one_grade() -> None:
    y_true, y_pred = np.array([0, 1, 2, 3]), np.zeros(4, dtype=int)
    assert skm.matthews_corrcoef(y_true, y_pred) == 0.0  # scikit-learn reports 0; dermkit says undefined
    with pytest.warns(UndefinedMetricWarning, match="matthews_corrcoef"):
        assert math.isnan(matthews_corrcoef(y_true, y_pred))
    with pytest.warns(UndefinedMetricWarning):
        out = grading_metrics(y_true, y_pred, NAMES)
    assert math.isnan(out["mcc"]) and "mcc" in out["undefined"]


def test_grading_metrics_reject_bad_labels_and_names() -> None:
    with pytest.raises(MetricInputError, match="class index 4 but there are only 4 classes"):
        grading_metrics(np.array([0, 4]), np.array([0, 1]), NAMES)
    with pytest.raises(MetricInputError, match="grade names must be unique"):
        grading_metrics(Y_TRUE, Y_PRED, ["a", "a", "b", "c"])


# --- counting -------------------------------------------------------------------------------------------------------


def test_counting_metrics_hand_example_and_sklearn() -> None:
    true, pred = np.array([0, 10, 20]), np.array([1, 10, 25])
    out = counting_metrics(true, pred)
    assert out == pytest.approx({"mae": 2.0, "mse": 26 / 3, "rmse": math.sqrt(26 / 3)})
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 65, 50), rng.integers(1, 66, 50)
    out = counting_metrics(true, pred)
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(true, pred))
    assert out["mse"] == pytest.approx(skm.mean_squared_error(true, pred))
    assert out["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(true, pred)))


def test_counting_metrics_reject_bad_inputs() -> None:
    with pytest.raises(MetricInputError, match="equal length"):
        counting_metrics(np.array([1, 2]), np.array([1]))
    with pytest.raises(MetricInputError, match="NaN or infinite"):
        counting_metrics(np.array([1.0, np.nan]), np.array([1, 2]))


# --- decode (numpy) -------------------------------------------------------------------------------------------------

RANGES = [(0, 1), (2, 3), (4, 4), (5, 5)]  # four grades over six count bins
COUNT_P = np.array(
    [[0.05, 0.05, 0.1, 0.1, 0.3, 0.4], [0.1, 0.1, 0.2, 0.3, 0.25, 0.05]]
)  # grade sums .1 .2 .3 .4 / .2 .5 .25 .05
HEAD_P = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.4, 0.45, 0.05]])
BLOCK_P = np.array([[0.5, 0.1, 0.2, 0.05, 0.05, 0.1], [0.1, 0.3, 0.1, 0.25, 0.2, 0.05]])  # same grade sums as HEAD_P
BLOCKS_TO_GRADES = [(0, 0), (1, 2), (3, 4), (5, 5)]


@pytest.mark.parametrize("lds", [False, True], ids=["ldl_head", "lds_blocks"])
@pytest.mark.parametrize(
    ("rule", "grades", "proba"),
    [
        ("both", [0, 1], [[0.3, 0.25, 0.2, 0.25], [0.15, 0.45, 0.35, 0.05]]),
        ("head", [0, 2], [[0.5, 0.3, 0.1, 0.1], [0.1, 0.4, 0.45, 0.05]]),
        ("count", [3, 1], [[0.1, 0.2, 0.3, 0.4], [0.2, 0.5, 0.25, 0.05]]),
    ],
)
def test_decode_hand_example(lds: bool, rule: str, grades: list[int], proba: list[list[float]]) -> None:
    decode = load_decode()
    head, head_ranges = (BLOCK_P, BLOCKS_TO_GRADES) if lds else (HEAD_P, None)
    out = decode.decode_acne(
        np.log(head), np.log(COUNT_P), ranges=RANGES, head_grade_ranges=head_ranges, grade_rule=rule, eps=0.0
    )
    assert out["grade"].tolist() == grades
    assert out["count"].tolist() == [6, 4]  # argmax bins 5 and 3, plus one
    np.testing.assert_allclose(out["grade_proba"], proba, atol=1e-12)
    np.testing.assert_allclose(out["count_proba"], COUNT_P, atol=1e-12)
    with_eps = decode.decode_acne(
        np.log(head), np.log(COUNT_P), ranges=RANGES, head_grade_ranges=head_ranges, grade_rule=rule
    )
    assert with_eps["grade"].tolist() == grades and with_eps["grade_proba"].shape == (2, 4)
    np.testing.assert_allclose(with_eps["grade_proba"].sum(axis=1), 1.0)
    np.testing.assert_allclose(with_eps["grade_proba"], proba, atol=1e-3)


def test_decode_rejects_bad_arguments() -> None:
    decode = load_decode()
    with pytest.raises(ValueError, match="unknown grade_rule 'avg'; choose one of: both, head, count"):
        decode.decode_acne(HEAD_P, COUNT_P, ranges=RANGES, grade_rule="avg")
    with pytest.raises(ValueError, match=r"covering 0\.\.5"):
        decode.decode_acne(HEAD_P, COUNT_P, ranges=[(0, 1), (2, 3), (4, 4), (5, 6)])
    with pytest.raises(ValueError, match="expects grade_logits"):
        decode.decode_acne(HEAD_P[0], COUNT_P, ranges=RANGES)


def test_decode_module_imports_without_torch() -> None:
    code = (
        "import importlib.util, sys\n"
        "sys.modules['torch'] = None\n"
        f"spec = importlib.util.spec_from_file_location('acne_decode', {str(DECODE_PATH)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "import numpy as np\n"
        "ranges = [(0, 4), (5, 19), (20, 49), (50, 64)]\n"
        "out = module.decode_acne(np.zeros((2, 4)), 9 * np.eye(2, 65, 30), ranges=ranges)\n"
        "print(out['grade'].tolist(), out['count'].tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[2, 2] [31, 32]"
