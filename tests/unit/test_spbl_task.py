"""The spbl task definition: outputs, the SVM head from its stored arrays (== scikit-learn), --head, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from scipy.special import softmax
from sklearn.svm import SVC

from dermkit import config
from dermkit.data.preprocess import Preprocess
from dermkit.engine.setup import build_components
from dermkit.errors import ConfigError, DataError, ModelFileError
from dermkit.models import create_model
from dermkit.models.artifact import Architecture, ModelSpec, load_model, read_spec, save_model
from dermkit.models.factory import FeatureClassifier
from dermkit.models.svm import fit_svm
from dermkit.tasks import get_task
from dermkit.tasks.spbl import SPBLOptions, choose_head
from dermkit.tasks.spbl_heads import fit_round_svm

NAMES = ["acne", "eczema", "psoriasis"]


def spbl_folder(tmp_path: Path, head: str = "svm", svm_file: str | None = "svm.safetensors") -> tuple[Path, SVC]:
    """A model folder: a test_resnet returning (logits, features) and an SVM fitted on random 8-d features."""
    model = create_model("test_resnet", 3, features_slope=0.1)
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.normal(size=(60, 8)) + y[:, None] * rng.normal(size=(1, 8))
    weights = rng.uniform(0.2, 3.0, 60)
    svm = fit_svm(x, y, weights)
    save_file(svm.to_arrays(), str(tmp_path / "svm.safetensors"))
    options = {**SPBLOptions(name="spbl").model_dump(mode="json"), "svm_file": svm_file, "head": head}
    spec = ModelSpec(
        task="spbl",
        task_options=options,
        outputs=["logits", "features"],
        architecture=Architecture(name="test_resnet", num_outputs=3, features_slope=0.1),
        class_names=NAMES,
        preprocessing=Preprocess(32, 32).to_dict(),
    )
    save_model(tmp_path, model, spec)
    return tmp_path, SVC(kernel="rbf", decision_function_shape="ovr").fit(x, y, sample_weight=weights)


def test_svm_head_is_the_softmax_of_scikit_learns_decision_averaged_over_views(tmp_path: Path) -> None:
    folder, reference = spbl_folder(tmp_path)
    spec, task = read_spec(folder), get_task("spbl")
    rng = np.random.default_rng(1)
    raw = {"logits": rng.normal(size=(2, 5, 3)), "features": rng.normal(size=(2, 5, 8))}
    out = task.postprocess(raw, spec)
    svm = np.mean([softmax(reference.decision_function(view), axis=1) for view in raw["features"]], axis=0)
    cnn = np.mean(softmax(raw["logits"], axis=2), axis=0)
    np.testing.assert_allclose(out["proba"], svm, atol=1e-6)
    np.testing.assert_allclose(out["proba_cnn"], cnn, atol=1e-12)
    choose_head(spec, "cnn")
    np.testing.assert_allclose(task.postprocess(raw, spec)["proba"], cnn, atol=1e-12)
    choose_head(spec, "both")
    both = task.postprocess(raw, spec)
    np.testing.assert_allclose(both["proba"], (svm + cnn) / 2, atol=1e-6)
    assert task.csv_header(spec, labelled=False)[-2:] == ["predicted_cnn", "predicted_svm"]
    rows = task.csv_rows(spec, both, np.ones(5, dtype=bool))
    assert [row[-1] for row in rows] == [NAMES[i] for i in svm.argmax(axis=1)]


def test_a_model_without_svm_predicts_with_its_cnn_and_refuses_the_svm_head(tmp_path: Path) -> None:
    folder, _ = spbl_folder(tmp_path, head="auto", svm_file=None)
    spec = read_spec(folder)
    raw = {"logits": np.zeros((1, 2, 3)), "features": np.zeros((1, 2, 8))}
    assert "proba_svm" not in get_task("spbl").postprocess(raw, spec)
    with pytest.raises(ConfigError, match="--head svm: this SPBL model stores no SVM"):
        choose_head(spec, "svm")


def test_head_errors_are_one_line(tmp_path: Path) -> None:
    folder, _ = spbl_folder(tmp_path)
    spec = read_spec(folder)
    with pytest.raises(ConfigError, match="unknown --head 'svn'; choose one of: svm, cnn, both"):
        choose_head(spec, "svn")
    with pytest.raises(ConfigError, match=r"--head applies to SPBL models .*'classify'"):
        choose_head(spec.model_copy(update={"task": "classify"}), "svm")
    (folder / "svm.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"svm\.safetensors: SVM file missing beside model\.json"):
        get_task("spbl").postprocess({"logits": np.zeros((1, 1, 3)), "features": np.zeros((1, 1, 8))}, spec)


def test_network_returns_logits_and_leaky_relu_pooled_feature_and_reloads(tmp_path: Path) -> None:
    folder, _ = spbl_folder(tmp_path)
    model, spec = load_model(folder)
    assert isinstance(model, FeatureClassifier) and spec.architecture.model_extra == {"features_slope": 0.1}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, features = model(x)
        pooled = model.pool(model.forward_features(x))
    assert torch.equal(logits, model.head(pooled))
    assert torch.equal(features, torch.nn.functional.leaky_relu(pooled, 0.1))


def test_build_makes_a_feature_network_and_refuses_a_sigmoid_loss() -> None:
    cfg = config.load(None, ["task.name=spbl", "model.name=test_resnet", "task.leaky_slope=0.2"])
    parts = build_components(cfg, NAMES, [5, 3, 2])
    assert isinstance(parts.model, FeatureClassifier) and parts.model.negative_slope == 0.2
    assert parts.architecture["features_slope"] == 0.2
    out = parts.task({"image": torch.randn(2, 3, 32, 32), "target": torch.tensor([0, 2])})
    assert out["logits"].shape == (2, 3) and out["features"].shape[0] == 2 and out["loss"].ndim == 0
    bce = config.load(None, ["task.name=spbl", "model.name=test_resnet", "loss.name=bce"])
    with pytest.raises(ConfigError, match=r"loss\.name 'bce': task spbl trains a softmax CNN"):
        build_components(bce, ["a", "b"], [3, 2])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("task.pace=[0.5,0.9,0.75]", r"task\.pace must be non-decreasing, but task\.pace\[2\] = 0.75 < 0.9"),
        ("task.pace=[0,1]", r"task\.pace\[0\] = 0.0 lies outside \(0, 1\]"),
        ("task.pace=[0.5,1.5]", r"task\.pace\[1\] = 1.5 lies outside \(0, 1\]"),
        ("task.pace=[]", r"task\.pace is empty"),
        ("task.train_ratio=0", r"task\.train_ratio: Input should be greater than 0"),
        ("task.cost_low=5", r"task\.cost_high \(2.0\) must be >= task\.cost_low \(5.0\)"),
        ("task.head=svn", r"task\.head: Input should be 'auto', 'svm', 'cnn' or 'both'"),
    ],
)
def test_bad_spbl_options_are_one_line_naming_the_key(override: str, match: str) -> None:
    extra = ["task.cost_high=2"] if "cost_low" in override else []
    with pytest.raises(ConfigError, match=match) as caught:
        config.load(None, ["task.name=spbl", override, *extra])
    assert "\n" not in str(caught.value)


def test_an_svm_fit_that_cannot_run_names_the_round_and_the_reason() -> None:
    options = SPBLOptions(name="spbl")
    with pytest.raises(DataError, match=r"^SPBL round 2: the SVM cannot be fitted: .*at least two classes"):
        fit_round_svm(np.ones((4, 3)), np.zeros(4, dtype=np.int64), np.ones(4), 2, options)
