"""``dermkit export`` / ``bench`` and ``predict`` / ``evaluate`` on an .onnx file, through the real CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from dermkit.cli import main
from dermkit.inference.onnx_predictor import OnnxPredictor
from tests.integration._onnx_helpers import classify_model_dir, read_rows


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx_cli")
    run = classify_model_dir(root / "run")
    assert main(["export", str(run), "--format", "onnx", "--out", str(root / "model.onnx")]) == 0
    images = root / "images"
    images.mkdir()
    for path in sorted((synth_dir / "benign").glob("*.jpg"))[:3] + sorted((synth_dir / "malignant").glob("*.jpg"))[:3]:
        shutil.copy(path, images / path.name)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return {"root": root, "run": run, "onnx": root / "model.onnx", "images": images}


def test_export_quantize_int8_writes_a_smaller_second_file_and_prints_the_accuracy_change(
    exported: dict[str, Path], synth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = exported["root"] / "q" / "model.onnx"
    assert (
        main(["export", str(exported["run"]), "--out", str(out), "--quantize", "int8", "--data", str(synth_dir)]) == 0
    )
    text = capsys.readouterr().out
    int8 = out.with_name("model.int8.onnx")
    assert f"int8 (dynamic): {int8}" in text
    assert out.stat().st_size > 2.5 * int8.stat().st_size
    found = re.search(r"accuracy on all 100 images: fp32 (\d\.\d{4}) -> int8 (\d\.\d{4}) \(([+-]\d\.\d{4})\)", text)
    assert found, text
    before, after, change = (float(value) for value in found.groups())
    assert change == pytest.approx(after - before, abs=2e-4)
    # the printed int8 accuracy is the int8 model's: score its predictions independently
    assert main(["predict", str(int8), str(synth_dir / "benign"), str(synth_dir / "malignant"), "--out",
                 str(out.parent / "p.csv")]) == 0  # fmt: skip
    rows = read_rows(out.parent / "p.csv")
    truth = [Path(row["path"]).parent.name for row in rows]
    assert accuracy_score(truth, [row["predicted"] for row in rows]) == pytest.approx(after, abs=5e-5)
    predictor = OnnxPredictor.from_file(int8)
    assert predictor.class_names == ["benign", "malignant"] and predictor.spec.decision.temperature == 1.5


def test_export_with_calibration_images_quantises_statically(
    exported: dict[str, Path], synth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = exported["root"] / "static" / "model.onnx"
    args = ["export", str(exported["run"]), "--out", str(out), "--quantize", "int8", "--calibration",
            str(synth_dir / "benign")]  # fmt: skip
    assert main(args) == 0
    assert "int8 (static, 50 calibration images)" in capsys.readouterr().out
    metadata = OnnxPredictor.from_file(out.with_name("model.int8.onnx"))
    proba = metadata.predict_proba_tensor(np.zeros((2, 3, 48, 48), np.float32))
    assert proba.shape == (2, 2) and proba.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_predict_onnx_writes_the_same_rows_as_the_model_folder(exported: dict[str, Path]) -> None:
    inputs = [str(exported["images"]), str(exported["root"] / "missing.png")]
    folder_csv, onnx_csv = exported["root"] / "folder.csv", exported["root"] / "onnx.csv"
    assert main(["predict", str(exported["run"]), *inputs, "--out", str(folder_csv), "--num-workers", "0"]) == 0
    assert main(["predict", str(exported["onnx"]), *inputs, "--out", str(onnx_csv), "--num-workers", "2"]) == 0
    folder, onnx_rows = read_rows(folder_csv), read_rows(onnx_csv)
    assert len(onnx_rows) == 8 and list(onnx_rows[0]) == list(folder[0])
    for a, b in zip(folder, onnx_rows, strict=True):
        assert (a["path"], a["predicted"], a["error"]) == (b["path"], b["predicted"], b["error"])
        if not a["error"]:
            assert float(a["p_malignant"]) == pytest.approx(float(b["p_malignant"]), abs=1e-4)
    unreadable = [Path(row["path"]).name for row in onnx_rows if row["error"]]
    assert unreadable == ["broken.jpg", "missing.png"]


def test_evaluate_onnx_gives_the_folder_metrics_and_writes_its_card_into_out(
    exported: dict[str, Path], synth_dir: Path
) -> None:
    metrics = {}
    for name in ("run", "onnx"):
        out = exported["root"] / f"eval_{name}"
        assert main(["evaluate", str(exported[name]), str(synth_dir), "--out", str(out), "--report"]) == 0
        metrics[name] = json.loads((out / "metrics.json").read_text())
    assert metrics["onnx"]["accuracy"] == metrics["run"]["accuracy"]
    assert metrics["onnx"]["roc_auc"] == pytest.approx(metrics["run"]["roc_auc"], abs=1e-4)
    assert (exported["root"] / "eval_onnx" / "MODEL_CARD.md").is_file()
    assert (exported["root"] / "eval_onnx" / "report.html").is_file()


def test_bench_prints_eager_fp32_and_int8_side_by_side(
    exported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", str(exported["run"]), str(exported["onnx"]), "--iterations", "3", "--batch", "4"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-3:] == ["ms", "b4", "img/s"]
    rows = [line for line in lines[1:] if line.startswith(str(exported["root"]))]
    runtimes = [re.split(r"\s{2,}", row)[1] for row in rows]
    assert runtimes == ["pytorch eager", "onnxruntime fp32", "onnxruntime int8 (static)", "onnxruntime fp32",
                        "onnxruntime int8 (static)"]  # fmt: skip
    for row in rows:
        params, size, median, p90, throughput = (float(v.rstrip("M")) for v in re.split(r"\s{2,}", row)[2:])
        assert params > 0 and size > 0 and 0 < median <= p90 and throughput > 0
    eager_size = float(re.split(r"\s{2,}", rows[0])[3])
    assert eager_size == pytest.approx((exported["run"] / "model.safetensors").stat().st_size / 1e6, abs=0.01)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "{root}", "--out", "{root}/x.onnx"], "not a dermkit model"),
        (["export", "{run}", "--format", "tflite"], "unknown --format 'tflite'; choose one of: onnx"),
        (["export", "{run}", "--out", "{root}/model.pt"], "the output must end in .onnx"),
        (["export", "{onnx}", "--out", "{root}/again.onnx"], "already an ONNX model"),
        (["export", "{run}", "--calibration", "{images}"], "--calibration calibrates --quantize int8"),
        (["export", "{run}", "--quantize", "int4"], "unknown --quantize 'int4'; choose one of: int8"),
        (["predict", "{images}/broken.onnx", "{images}"], "not a readable ONNX model"),
        (["evaluate", "{onnx}", "{images}", "--out", "{root}/e", "--choose-threshold", "youden", "--save"],
         "--save: {onnx} is an exported ONNX file, whose model description is read-only"),
        (["calibrate", "{onnx}", "{images}"], "calibrate (without --dry-run): {onnx} is an exported ONNX file"),
        (["bench", "{run}", "--int8", "fp16"], "unknown int8 mode 'fp16'; choose one of: static, dynamic"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_and_exit_2(
    exported: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (exported["images"] / "broken.onnx").write_text("not a model")
    names = {key: str(value) for key, value in exported.items()}
    capsys.readouterr()
    assert main([arg.format(**names) for arg in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message.format(**names) in err[0], err
    assert not (exported["root"] / "x.onnx").exists() and not (exported["root"] / "again.onnx").exists()
