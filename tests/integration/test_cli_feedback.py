"""The command line's feedback: progress without control characters in logs, --quiet, --verbose, --version,
``python -m dermkit``, shell completion, ``dermkit info`` and exit statuses.

Commands run in-process with pytest's captured (not a terminal) stdout and stderr, on the session's tiny model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

import dermkit
from dermkit.cli import main
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.models.artifact import ModelSpec, load_model, read_spec
from tests.conftest import TINY

SRC = Path(dermkit.__file__).resolve().parents[1]
# Lightning's bar left on: the CLI must switch it off; two batches per epoch keep train and cv to seconds
TINY_WITH_BAR = [item for item in TINY if not item.startswith("trainer.progress_bar")]
TINY_WITH_BAR.append("trainer.limit_train_batches=2")


def _run(args: list[object], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    out, err = capfd.readouterr()
    return code, out, err


def _python_m(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "dermkit", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})})  # fmt: skip


@pytest.fixture
def dup_data(tmp_path: Path) -> Path:
    """12 small images with one byte-identical copy, so the duplicate search has files to hash."""
    root = tmp_path / "dup"
    make_synthetic_dataset(root, ("benign", "malignant"), per_class=6, size=32, seed=3)
    first = sorted((root / "benign").iterdir())[0]
    shutil.copy(first, first.with_name("copy_" + first.name))
    return root


COMMANDS = {
    "synth": (["synth", "{tmp}/s", "--per-class", "2", "--size", "32"], []),
    "split": (["split", "{dup}", "--out", "{tmp}/lists", "--val", "0.2", "--test", "0.2"],
              ["hashing files: 2 files in"]),
    "audit": (["audit", "{data}", "--workers", "1"], ["auditing: 100 files in"]),
    "predict": (["predict", "{run}", "{data}/benign", "--out", "{tmp}/p.csv", "--num-workers", "0"],
                ["predicting: 50 images in"]),
    "evaluate": (["evaluate", "{run}", "{data}/manifest.csv", "--out", "{tmp}/e", "--num-workers", "0", "--bootstrap",
                  "100", "--group-by", "fitzpatrick", "--audit"],
                 ["predicting: 100 images in", "bootstrap: 100 resamples in", "subgroups by fitzpatrick: ",
                  "auditing: 100 files in"]),
    "calibrate": (["calibrate", "{run}", "{data}", "--dry-run", "--num-workers", "0"], ["predicting: 100 images in"]),
    "train": (["train", "demo", "data.root={data}", *TINY_WITH_BAR, "trainer.max_epochs=2", "--out", "{tmp}/t"],
              ["training: 2 epochs in"]),
    "cv": (["cv", "demo", "data.root={data}", *TINY_WITH_BAR, "trainer.max_epochs=1", "--folds", "2", "--out",
            "{tmp}/cv"], ["cross-validation: 2 folds in", "predicting: 50 images in"]),
    "info": (["info", "{run}"], []),
}  # fmt: skip


@pytest.mark.parametrize("name", list(COMMANDS))
def test_commands_write_no_control_characters_when_stderr_is_not_a_terminal(
    name, trained_run, synth_dir, dup_data, tmp_path, capfd
) -> None:
    args, progress_lines = COMMANDS[name]
    places = {"{run}": trained_run, "{data}": synth_dir, "{dup}": dup_data, "{tmp}": tmp_path}
    for key, value in places.items():
        args = [arg.replace(key, str(value)) for arg in args]
    code, out, err = _run(args, capfd)
    assert code == 0, err
    assert "\x1b[" not in out + err and "\r" not in out + err  # no bar, no colour, no Lightning/tqdm bar
    for line in progress_lines:  # a few plain progress lines instead
        assert any(row.startswith(line) for row in err.splitlines()), (line, err)


def test_quiet_synth_prints_nothing(tmp_path, capfd) -> None:
    code, out, err = _run(["--quiet", "synth", tmp_path / "q", "--per-class", "2", "--size", "32"], capfd)
    assert (code, out, err) == (0, "", "")
    assert len(list((tmp_path / "q" / "benign").iterdir())) == 2


def test_quiet_predict_prints_nothing_but_writes_the_csv(trained_run, synth_dir, tmp_path, capfd) -> None:
    out_csv = tmp_path / "p.csv"
    args = ["-q", "predict", trained_run, synth_dir / "benign", "--out", out_csv, "--num-workers", "0"]
    assert _run(args, capfd) == (0, "", "")
    assert len(out_csv.read_text().splitlines()) == 51  # header + one row per image


def test_quiet_still_prints_errors(tmp_path, synth_dir, capfd) -> None:
    code, out, err = _run(["--quiet", "predict", tmp_path / "nothing", synth_dir], capfd)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_quiet_and_verbose_together_are_a_usage_error(capfd) -> None:
    code, _, err = _run(["--quiet", "--verbose", "datasets"], capfd)
    assert code == 2 and "exclude each other" in err


def test_verbose_shows_dermkits_debug_log(trained_run, synth_dir, tmp_path, capfd, caplog) -> None:
    args = ["predict", trained_run, synth_dir / "benign", "--out", tmp_path / "p.csv", "--num-workers", "0"]
    assert _run(args, capfd)[0] == 0
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert _run(["--verbose", *args], capfd)[0] == 0
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(message.startswith("predicting: 50 images in ") for message in debug)


def test_version_in_process_and_with_verbose_in_a_subprocess(capfd) -> None:
    assert _run(["--version"], capfd) == (0, f"dermkit {dermkit.__version__}\n", "")
    result = _python_m("--version", "--verbose")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"dermkit {dermkit.__version__}"
    for name in ("torch", "timm", "lightning", "onnxruntime"):
        try:
            expected = f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            expected = f"{name} not installed"
        assert expected in lines


def test_python_m_dermkit_help_lists_commands_and_completion() -> None:
    result = _python_m("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: dermkit ")
    for word in ("predict", "evaluate", "info", "--version", "--quiet", "--install-completion", "--show-completion"):
        assert word in result.stdout


def test_shell_completion_completes_command_names() -> None:
    result = _python_m(env={"_DERMKIT_COMPLETE": "complete_bash", "COMP_WORDS": "dermkit inf", "COMP_CWORD": "1"})
    assert result.returncode == 0 and result.stdout.split() == ["info"]


def test_info_shows_every_field(trained_run, synth_dir, capfd) -> None:
    code, out, _ = _run(["info", trained_run], capfd)
    assert code == 0
    spec = read_spec(trained_run)
    parameters = sum(p.numel() for p in load_model(trained_run)[0].parameters())  # torch's own count
    size_mb = (trained_run / "model.safetensors").stat().st_size / 1e6
    data = spec.training["data"]
    expected = [
        "task           classify, softmax output",
        f"architecture   {spec.architecture.name}, linear head, 2 outputs",
        f"{parameters:,} parameters, {size_mb:.1f} MB",
        "classes        2: benign, malignant",
        f"image_size {spec.preprocessing['image_size']}, resize {spec.preprocessing['resize']}",
        "decision       malignant when p(malignant) >= 0.5 (default); temperature 1 (uncalibrated); "
        "test-time augmentation none",
        f"val metrics    {spec.metrics['val']['n']} images: accuracy {spec.metrics['val']['accuracy']:.4f}",
        f"roc_auc {spec.metrics['val']['roc_auc']:.4f}",
        f"training data  {synth_dir} (root {synth_dir.resolve()}); train {sum(data['train'])} "
        f"(benign {data['train'][0]}, malignant {data['train'][1]}); val {sum(data['val'])}",
        f"best_epoch {spec.training['best_epoch']}",
        f"created        {spec.created} by dermkit {spec.dermkit_version}",
    ]
    for text in expected:
        assert text in out, text


def test_info_json_parses_and_round_trips_model_json(trained_run, capfd) -> None:
    code, out, _ = _run(["info", trained_run, "--json"], capfd)
    assert code == 0
    info = json.loads(out)
    assert info["model"] == json.loads((trained_run / "model.json").read_text())
    assert ModelSpec.model_validate(info["model"]) == read_spec(trained_run)
    weights = info["weights"]
    assert weights["parameters"] == sum(p.numel() for p in load_model(trained_run)[0].parameters())
    assert weights["bytes"] == (trained_run / "model.safetensors").stat().st_size
    assert weights["tensors"] == len(load_model(trained_run)[0].state_dict())


def test_info_prints_fields_it_does_not_know(trained_run, tmp_path, capfd) -> None:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(trained_run / "model.safetensors", model)
    spec = json.loads((trained_run / "model.json").read_text())
    spec["acne"] = {"max_count": 65, "grades": ["mild", "severe"]}  # a task block from a newer writer
    spec["decision"]["chosen_on"] = "val"
    (model / "model.json").write_text(json.dumps(spec))
    code, out, _ = _run(["info", model], capfd)
    assert code == 0
    assert "acne           max_count 65, grades [mild, severe]" in out and "; chosen_on val" in out
    assert json.loads(_run(["info", model, "--json"], capfd)[1])["model"]["acne"] == spec["acne"]


def test_info_on_a_path_that_is_not_a_model_is_one_line_and_exit_2(synth_dir, capfd) -> None:
    code, out, err = _run(["info", synth_dir], capfd)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "not a dermkit model" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_no_readable_image_exits_1_with_an_error_line(command, trained_run, tmp_path, capfd) -> None:
    for name in ("benign", "malignant"):
        (tmp_path / "bad" / name).mkdir(parents=True)
        (tmp_path / "bad" / name / "x.jpg").write_bytes(b"not an image")
    args = [command, trained_run, tmp_path / "bad", "--out", tmp_path / "out", "--num-workers", "0"]
    code, _, err = _run(["--quiet", *args], capfd)
    assert code == 1
    assert err.startswith("error: ") and "none of the 2 images could be read" in err and len(err.splitlines()) == 1


def test_train_does_not_warn_of_classes_the_sanity_check_batches_miss(synth_dir, tmp_path, capfd) -> None:
    """Lightning's pre-training check sees two val batches; of 2 images each here, all benign (the val records come
    in class order), so torchmetrics' AUROC would warn that the other class has no positive sample."""
    args = ["train", "demo", f"data.root={synth_dir}", *TINY, "trainer.max_epochs=1", "trainer.limit_train_batches=1"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = _run([*args, "data.eval_batch_size=2", "--out", tmp_path / "t"], capfd)
    assert code == 0, err
    assert not [w for w in caught if "No positive samples" in str(w.message)]
