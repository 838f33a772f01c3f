"""User mistakes get one ``error:`` line and exit status 2, never a traceback; bad images never cost good ones."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dermkit.cli import main
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error line on stderr"
    assert all(line.startswith("error: ") for line in err)
    assert "Traceback" not in "\n".join(err)
    return "\n".join(err)


@pytest.fixture
def dataset_with_bad_images(tmp_path: Path, synth_dir: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "data"
    shutil.copytree(synth_dir, root, ignore=shutil.ignore_patterns("manifest.csv"))
    truncated = root / "benign" / "zz_truncated.jpg"
    truncated.write_bytes((root / "benign" / "benign_00000.jpg").read_bytes()[:300])
    empty = root / "malignant" / "zz_empty.png"
    empty.write_bytes(b"")
    return root, [truncated, empty]


def test_training_skips_and_reports_unreadable_images(tmp_path, dataset_with_bad_images, capsys) -> None:
    root, bad = dataset_with_bad_images
    run = tmp_path / "run"
    assert main(["train", "demo", f"data.root={root}", *TINY, "trainer.max_epochs=2", "--out", str(run)]) == 0
    skipped = (run / "skipped_images.txt").read_text()
    train_or_val_bad = [path for path in bad if str(path) in skipped]
    assert train_or_val_bad, skipped
    assert all(line.split(": ", 1)[0] in map(str, bad) for line in skipped.splitlines())
    assert (run / "model.json").is_file()


def test_strict_training_stops_at_first_unreadable_image_with_one_line(
    tmp_path, dataset_with_bad_images, capsys
) -> None:
    root, bad = dataset_with_bad_images
    code = main(
        [
            "train",
            "demo",
            f"data.root={root}",
            *TINY,
            "trainer.max_epochs=2",
            "--strict",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    message = error_line(capsys)
    assert any(str(path) in message for path in bad) and "--strict" in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "demo", "data.imag_size=32"], "unknown key 'data.imag_size'; valid keys here: format"),
        (["train", "demo", "trainer.max_epochs=zero"], "trainer.max_epochs"),
        (["train", "demo"], "data.root is not set"),
        (["train", "demo", "data.root=/no/such/folder"], "/no/such/folder: dataset path does not exist"),
        (["train", "no_such_recipe.yaml"], "no such config file or bundled recipe"),
        (["train", "demo", "data.root={data}", "model.name=resnet_does_not_exist"], "unknown model"),
        (
            ["train", "demo", "data.root={data}", "loss.name=focl"],
            "unknown loss 'focl'; choose one of: balanced_softmax, bce, ce",
        ),
        (["train", "demo", "data.root={data}", "trainer.monitor=val/acc_typo"], "trainer.monitor 'val/acc_typo'"),
        (["evaluate", "/no/model", "{data}", "--out", "x"], "/no/model: no such model file or folder"),
        (["evaluate", "{data}", "{data}", "--out", "x"], "not a dermkit model"),
        (["predict", "{data}/manifest.csv", "{data}"], "not a dermkit model"),
        (["split", "{data}/manifest.csv", "--out", "x", "--group-by", "hospital"], "no column 'hospital'"),
        (["synth", "x", "--classes", "a,a"], "duplicate"),
        (["train", "{data}/benign/benign_00000.jpg"], "not a YAML config (not UTF-8 text)"),
        (["train", "demo", "data.root={data}", "model.pretrained_file={data}/manifest.csv"], "cannot read weights"),
        (["synth", "{data}/manifest.csv/x"], "manifest.csv is a file where a folder is needed"),
        (["train", "demo", "data.root={data}", "trainer.precision=17"], "trainer: Precision '17' is invalid"),
        (["train", "demo", "data.root={data}", "trainer.strategy=foo"], "trainer: You selected an invalid strategy"),
        (["train", "demo", "trainer.max_epoch=1"], "override: unknown key 'trainer.max_epoch'"),
        (["evaluate", "{data}", "{data}", "--out", "{data}/manifest.csv"], "is a file; give the path of a folder"),
        (["train", "demo", "data.root={data}", "--out", "{data}/manifest.csv"], "is a file; give the path of a folder"),
        (["train", "demo", "data.root={data}", "data.class_names=[a,a]"], "class names must be unique"),
    ],
)
def test_cli_user_errors_print_one_line_and_exit_2(args, expected, synth_dir, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([arg.replace("{data}", str(synth_dir)) for arg in args])
    assert code == 2
    assert expected in error_line(capsys)


def test_single_class_dataset_is_refused(tmp_path, synth_dir, capsys) -> None:
    root = tmp_path / "one"
    shutil.copytree(synth_dir / "benign", root / "benign")
    assert main(["train", "demo", f"data.root={root}", *TINY, "--out", str(tmp_path / "run")]) == 2
    assert "at least two classes" in error_line(capsys)


def test_empty_class_folder_is_refused(tmp_path, synth_dir, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(synth_dir, root, ignore=shutil.ignore_patterns("manifest.csv"))
    (root / "nevus").mkdir()
    assert main(["train", "demo", f"data.root={root}", *TINY, "--out", str(tmp_path / "run")]) == 2
    assert "nevus: class folder holds no images" in error_line(capsys)


def test_evaluate_refuses_data_with_classes_the_model_does_not_know(tmp_path, trained_run, synth_dir, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(synth_dir / "benign", root / "melanoma")
    shutil.copytree(synth_dir / "benign", root / "benign")
    assert main(["evaluate", str(trained_run), str(root), "--out", str(tmp_path / "e"), "--num-workers", "0"]) == 2
    message = error_line(capsys)
    assert "class 'melanoma'" in message and "model classes: benign, malignant" in message


def test_corrupt_model_files_are_reported_not_raised(tmp_path, trained_run, synth_dir, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken, ignore=shutil.ignore_patterns("*.ckpt", "logs"))
    (broken / "model.safetensors").write_bytes(b"not weights at all")
    assert main(["predict", str(broken), str(synth_dir / "benign"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "model.safetensors: cannot read weights" in error_line(capsys)
    (broken / "model.json").write_text("{ nope")
    assert main(["predict", str(broken), str(synth_dir / "benign"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "model.json: not valid JSON" in error_line(capsys)


def test_installed_entry_point_exits_2_without_traceback(tmp_path) -> None:
    script = Path(sys.executable).with_name("dermkit")
    result = subprocess.run(
        [str(script), "evaluate", str(tmp_path / "nothing"), str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
