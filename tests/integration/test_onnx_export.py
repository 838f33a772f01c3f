"""ONNX export: verified against PyTorch, self-describing, atomic; the ONNX predictor gives PyTorch's numbers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from dermkit.data.inputs import collect_images
from dermkit.data.synthetic_acne import make_synthetic_acne_dataset
from dermkit.errors import ExportError, ModelFileError
from dermkit.inference import onnx_export
from dermkit.inference.onnx_export import export_onnx, onnx_bytes
from dermkit.inference.onnx_predictor import MODEL_JSON_KEY, OnnxPredictor
from dermkit.inference.predictor import Predictor
from dermkit.models.spec import Architecture, ModelSpec
from tests.integration._onnx_helpers import acne_model_dir, classify_model_dir


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return classify_model_dir(tmp_path_factory.mktemp("classify") / "run")


@pytest.fixture(scope="module")
def classify_onnx(classify_run: Path) -> Path:
    return export_onnx(classify_run, classify_run.parent / "model.onnx").path


@pytest.fixture(scope="module")
def acne(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("acne")
    model = acne_model_dir(root / "run")
    make_synthetic_acne_dataset(root / "data", n=10, size=48, seed=2)
    return {"model": model, "onnx": export_onnx(model, root / "acne.onnx").path, "data": root / "data"}


def test_export_stores_the_whole_model_json_and_a_dynamic_batch(classify_run: Path, classify_onnx: Path) -> None:
    proto = onnx.load(str(classify_onnx))
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    stored = json.loads(metadata[MODEL_JSON_KEY])
    written = json.loads((classify_run / "model.json").read_text())
    assert stored == written  # task, task_options, classes, preprocessing, decision (threshold, temperature)...
    assert [output.name for output in proto.graph.output] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.opset_import[0].version == 17


def test_export_verifies_on_given_images_and_leaves_only_its_file(
    classify_run: Path, synth_dir: Path, tmp_path: Path
) -> None:
    images = sorted((synth_dir / "malignant").glob("*.jpg"))[:3]  # reused in turn for the 5 inputs
    report = export_onnx(classify_run, tmp_path / "m.onnx", verify_images=images)
    assert 0.0 <= report.max_abs_diff <= 1e-4 and 0.0 <= report.raw_diff <= 1e-3
    assert report.batches == (1, 1, 3) and report.verified_on == "5 images"
    assert report.size == (tmp_path / "m.onnx").stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


def test_acne_export_has_both_heads_as_named_outputs(acne: dict[str, Path]) -> None:
    proto = onnx.load(str(acne["onnx"]))
    assert [output.name for output in proto.graph.output] == ["grade_logits", "count_logits"]
    spec = OnnxPredictor.from_file(acne["onnx"]).spec
    assert spec.task == "acne_ldl" and spec.task_options["ranges"] == [[0, 4], [5, 19], [20, 49], [50, 64]]


@pytest.mark.parametrize("tta", [None, "d4"])
def test_onnx_probabilities_equal_pytorch_on_the_same_classify_images(
    classify_run: Path, classify_onnx: Path, synth_dir: Path, tta: str | None
) -> None:
    records = collect_images([synth_dir / "benign", synth_dir / "malignant"])[::9]
    torch_result = Predictor.from_checkpoint(classify_run, tta=tta).predict_records(records, batch_size=4)
    onnx_result = OnnxPredictor.from_file(classify_onnx, tta=tta).predict_records(records, batch_size=4, num_workers=2)
    assert onnx_result.proba.shape == (len(records), 2)
    assert np.abs(onnx_result.proba - torch_result.proba).max() <= 1e-4
    assert np.array_equal(onnx_result.proba.argmax(1), torch_result.proba.argmax(1))


def test_onnx_acne_grades_counts_and_probabilities_equal_pytorch(acne: dict[str, Path]) -> None:
    records = collect_images([acne["data"] / "images"])
    torch_out = Predictor.from_checkpoint(acne["model"]).predict_records(records, batch_size=3).outputs
    onnx_out = OnnxPredictor.from_file(acne["onnx"]).predict_records(records, batch_size=3).outputs
    assert np.abs(onnx_out["proba"] - torch_out["proba"]).max() <= 1e-4
    assert np.abs(onnx_out["count_proba"] - torch_out["count_proba"]).max() <= 1e-4
    assert np.array_equal(onnx_out["grade"], torch_out["grade"]) and np.array_equal(
        onnx_out["count"], torch_out["count"]
    )


def test_from_checkpoint_on_an_onnx_file_gives_the_onnx_predictor(classify_onnx: Path, synth_dir: Path) -> None:
    predictor = Predictor.from_checkpoint(classify_onnx)
    assert isinstance(predictor, OnnxPredictor)
    assert predictor.class_names == ["benign", "malignant"] and predictor.threshold == 0.5
    result = predictor.predict(synth_dir / "benign" / "benign_00000.jpg")
    assert result.label in predictor.class_names and sum(result.probabilities.values()) == pytest.approx(1.0)


def test_failing_verification_writes_nothing_and_keeps_an_earlier_file(
    classify_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onnx_export.onnx_bytes

    def perturbed(*args: object, **kwargs: object) -> bytes:
        """What a broken exporter would produce: the real export with one logit shifted by 0.5."""
        proto = onnx.load_from_string(real(*args, **kwargs))
        head = proto.graph.node[-1]  # the classifier's Gemm: shift its bias
        weights = next(init for init in proto.graph.initializer if init.name == head.input[2])
        shifted = onnx.numpy_helper.to_array(weights).copy()
        shifted[-1] += 0.5
        weights.CopyFrom(onnx.numpy_helper.from_array(shifted, weights.name))
        return proto.SerializeToString()

    monkeypatch.setattr(onnx_export, "onnx_bytes", perturbed)
    with pytest.raises(
        ExportError,
        match=r"disagree on 5 random inputs: max \|p_onnx - p_torch\| = .* \(tolerance 0.0001\), raw outputs .* apart",
    ) as e:
        export_onnx(classify_run, tmp_path / "new.onnx")
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one
    earlier = tmp_path / "old.onnx"
    earlier.write_bytes(b"an earlier export")
    with pytest.raises(ExportError):
        export_onnx(classify_run, earlier)
    assert earlier.read_bytes() == b"an earlier export" and [p.name for p in tmp_path.iterdir()] == ["old.onnx"]


class _Bessel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.bessel_j0(x).mean(dim=(2, 3))


def test_operator_onnx_cannot_export_is_one_line_naming_it() -> None:
    spec = ModelSpec(architecture=Architecture(name="custom", num_outputs=3), class_names=["a", "b", "c"],
                     preprocessing={"image_size": 8, "resize": 8})  # fmt: skip
    with pytest.raises(ExportError, match=r"^net: cannot export to ONNX opset 17: operator 'aten::special_bessel_j0'"):
        onnx_bytes(_Bessel(), spec, 17, where="net")


def test_onnx_file_without_dermkit_metadata_is_a_one_line_model_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 4, 4),), str(plain), dynamo=False)
    with pytest.raises(ModelFileError, match=r"without dermkit's description .*`dermkit export MODEL --format onnx`$"):
        OnnxPredictor.from_file(plain)
    text = tmp_path / "text.onnx"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match=r"text.onnx: not a readable ONNX model \("):
        Predictor.from_checkpoint(text)
