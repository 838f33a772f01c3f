"""Every command that writes refuses an unwritable output in one line, exit status 2, before any work, leaving no
temporary or partial file: a parent folder that cannot be created, a read-only or refusing file system, a file where
a folder is needed (and the reverse), a full disk (a real full tmpfs, and ENOSPC from the write layer mid-command)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dermkit.cli import main
from dermkit.errors import OutputPathError
from tests.reliability.conftest import FAST, leftovers, one_error_line

Argv = Callable[[Path, Path, Path], list[str]]

#: command -> (what --out names, argv from (out, data, model))
COMMANDS: dict[str, tuple[str, Argv]] = {
    "train": ("folder", lambda out, data, model: ["train", "demo", f"data.root={data}", *FAST, "--out", out]),
    "cv": ("folder", lambda out, data, model: ["cv", "demo", f"data.root={data}", *FAST, "--folds", "2", "--out", out]),
    "evaluate": ("folder", lambda out, data, model: ["evaluate", model, data, "--out", out, "--num-workers", "0"]),
    "predict": ("file", lambda out, data, model: ["predict", model, data, "--out", out, "--num-workers", "0"]),
    "split": ("folder", lambda out, data, model: ["split", data, "--out", out]),
    "audit": ("folder", lambda out, data, model: ["audit", data, "--out", out, "--workers", "1"]),
    "synth": ("folder", lambda out, data, model: ["synth", out, "--per-class", "2", "--size", "32"]),
    "demo": ("folder", lambda out, data, model: ["demo", "--out", out, "--epochs", "1"]),
    "prepare": ("folder", lambda out, data, model: ["prepare", data, "--size", "32", "--out", out, "--workers", "1"]),
    "export": ("file", lambda out, data, model: ["export", model, "--out", out]),
    "explain": ("folder", lambda out, data, model: ["explain", model, data / "benign", "--out", out]),
}


def _fail_if_called(what: str) -> Callable[..., None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{what} started before the output was checked")

    return refuse


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The long steps of every command fail loudly: an output check that comes after them would show."""
    import dermkit.cli.data_commands as data_commands
    import dermkit.data.formats as formats
    import dermkit.engine.cv as cv
    import dermkit.engine.demo as demo
    import dermkit.engine.train as train
    import dermkit.inference.onnx_export as onnx_export
    from dermkit.inference.explain import Explainer
    from dermkit.inference.predictor import Predictor

    monkeypatch.setattr(train, "build_run", _fail_if_called("training"))
    monkeypatch.setattr(onnx_export, "export_onnx", _fail_if_called("exporting"))
    monkeypatch.setattr(Explainer, "from_checkpoint", _fail_if_called("loading the model to explain"))
    monkeypatch.setattr(cv, "_fold_tables", _fail_if_called("cross-validation"))
    monkeypatch.setattr(formats, "detect_format", _fail_if_called("reading the dataset"))
    monkeypatch.setattr(Predictor, "from_checkpoint", _fail_if_called("loading the model"))
    monkeypatch.setattr(data_commands, "make_synthetic_dataset", _fail_if_called("synthesising"))
    monkeypatch.setattr(demo, "make_synthetic_dataset", _fail_if_called("the demo"))


def _run(command: str, out: Path, data: Path, model: Path, capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = ["--quiet", *(str(arg) for arg in COMMANDS[command][1](out, data, model))]  # stderr: the error alone
    capfd.readouterr()
    code = main(argv)
    return code, one_error_line(capfd.readouterr().err)


def _out(base: Path, command: str) -> Path:
    if COMMANDS[command][0] == "folder":
        return base / "out"
    return base / ("model.onnx" if command == "export" else "preds.csv")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_parent_that_is_a_file_is_refused_first(command, tmp_path, tiny_data, tiny_model, no_work, capfd) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    out = _out(blocker / "sub", command)
    code, line = _run(command, out, tiny_data, tiny_model, capfd)
    assert code == 2
    assert line == f"error: {out}: {blocker} is a file where a folder is needed"
    assert blocker.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [blocker]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("system_folder", "reasons"),
    [("/proc", ("(it accepts no new files)",)), ("/sys", ("(permission denied)", "(read-only file system)"))],
)
def test_a_folder_that_refuses_files_is_refused_first(
    command, system_folder, reasons, tiny_data, tiny_model, no_work, capfd
) -> None:
    if not Path(system_folder).is_dir():
        pytest.skip(f"no {system_folder} here")
    out = _out(Path(system_folder) / "dermkit-reliability", command)
    code, line = _run(command, out, tiny_data, tiny_model, capfd)
    assert code == 2
    assert line.startswith(f"error: {out}: cannot write in {system_folder} (") and line.endswith(reasons)
    assert not out.parent.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_where_a_folder_is_needed_and_the_reverse(
    command, tmp_path, tiny_data, tiny_model, no_work, capfd
) -> None:
    wants_file = COMMANDS[command][0] == "file"
    out = tmp_path / "taken"
    if wants_file:
        out.mkdir()
    else:
        out.write_text("keep me")
    code, line = _run(command, out, tiny_data, tiny_model, capfd)
    assert code == 2
    expected = "is a folder; give the path of a file to write" if wants_file else "is a file; give the path of a folder"
    assert line.startswith(f"error: {out}: {expected}")
    assert (list(out.iterdir()) == []) if wants_file else (out.read_text() == "keep me")
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_file_system_is_refused_first(command, read_only, tiny_data, no_work, capfd) -> None:
    out = _out(read_only / "new", command)
    code, line = _run(command, out, tiny_data, read_only / "model", capfd)
    assert code == 2
    assert line == f"error: {out}: cannot write in {read_only} (read-only file system)"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_is_refused_first(command, full_disk, tiny_data, tiny_model, no_work, capfd) -> None:
    out = _out(full_disk, command)
    code, line = _run(command, out, tiny_data, tiny_model, capfd)
    assert code == 2
    assert line == f"error: {out}: cannot write in {full_disk} (no space left on the device)"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def _no_space(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_disk_that_fills_up_mid_command_leaves_no_partial_file(
    command, tmp_path, tiny_data, tiny_model, monkeypatch, capfd
) -> None:
    # every write passes through fsync before its rename: a disk that fills while the command runs
    monkeypatch.setattr(os, "fsync", _no_space)
    out = _out(tmp_path / "results", command)
    code, line = _run(command, out, tiny_data, tiny_model, capfd)
    assert code == 2
    folder = out if COMMANDS[command][0] == "folder" else out.parent
    assert line.startswith(f"error: {folder}") and line.endswith(": cannot write (no space left on the device)")
    assert leftovers(tmp_path) == []
    assert not out.is_file()


def test_train_on_a_disk_too_small_for_a_checkpoint_fails_at_the_save_cleanly(small_disk, tiny_data, capfd) -> None:
    out = small_disk / "run"
    code = main(["--quiet", "train", "demo", f"data.root={tiny_data}", *FAST, "--out", str(out)])
    line = one_error_line(capfd.readouterr().err)
    assert code == 2
    assert line.startswith(f"error: {out}/") and line.endswith(".ckpt: cannot write (no space left on the device)")
    assert leftovers(small_disk) == [] and not (out / "last.ckpt").exists() and not (out / "best.ckpt").exists()


def test_synth_on_a_disk_that_fills_keeps_only_whole_images(small_disk, capfd) -> None:
    from dermkit.data.decode import load_image

    out = small_disk / "synth"
    code = main(["--quiet", "synth", str(out), "--per-class", "400", "--size", "64"])
    line = one_error_line(capfd.readouterr().err)
    assert code == 2 and line.endswith(": cannot write (no space left on the device)")
    written = sorted(out.rglob("*.jpg"))
    assert written and leftovers(small_disk) == []
    assert all(load_image(path).shape == (64, 64, 3) for path in written)  # no half-written image


def test_calibrate_and_evaluate_refuse_a_read_only_model_folder_before_predicting(
    read_only, tiny_data, tmp_path, no_work, capfd
) -> None:
    model = read_only / "model"
    before = (model / "model.json").read_bytes()
    for argv in (
        ["calibrate", model, tiny_data, "--split", "all"],
        ["evaluate", model, tiny_data, "--out", tmp_path / "eval", "--choose-threshold", "youden", "--save"],
        ["evaluate", model, tiny_data, "--out", tmp_path / "eval", "--report"],
    ):
        assert main(["--quiet", *(str(arg) for arg in argv)]) == 2
        line = one_error_line(capfd.readouterr().err)
        assert line == f"error: {model}: cannot write in {model} (read-only file system)"
    assert (model / "model.json").read_bytes() == before and not (tmp_path / "eval").exists()


def test_calibrate_on_a_disk_that_fills_keeps_model_json(tiny_model, tiny_data, tmp_path, monkeypatch, capfd) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.json", "model.safetensors"):
        (model / name).write_bytes((tiny_model / name).read_bytes())
    before = (model / "model.json").read_bytes()
    monkeypatch.setattr(os, "fsync", _no_space)
    assert main(["--quiet", "calibrate", str(model), str(tiny_data), "--split", "all", "--num-workers", "0"]) == 2
    line = one_error_line(capfd.readouterr().err)
    assert line == f"error: {model / 'model.json'}: cannot write (no space left on the device)"
    assert (model / "model.json").read_bytes() == before and leftovers(tmp_path) == []


def test_library_train_checks_its_run_folder_before_reading_data(tmp_path, tiny_data, no_work) -> None:
    from dermkit import config
    from dermkit.engine.train import train
    from dermkit.recipes import resolve_recipe

    (tmp_path / "f").write_text("")
    cfg = config.load(resolve_recipe("demo"), [f"data.root={tiny_data}", *FAST])
    with pytest.raises(OutputPathError, match=r"f is a file where a folder is needed$"):
        train(cfg, tmp_path / "f" / "run")
