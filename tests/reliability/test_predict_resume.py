"""``dermkit predict`` streams its CSV batch by batch through ``<out>.partial``; after ``kill -9`` at any point,
``--resume`` keeps the rows written, predicts only the rest, and ends with one row per input in input order."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dermkit
from dermkit.cli import main
from dermkit.data.inputs import collect_images
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.inference.outputs import predict_to_csv
from dermkit.inference.predictor import Predictor
from tests.reliability.conftest import leftovers, one_error_line

SRC = Path(dermkit.__file__).resolve().parents[1]

# A predict whose every batch takes 0.2 s, so that a kill lands mid-run on any machine.
SLOW_PREDICT = """
import sys, time
from dermkit.cli import main
from dermkit.inference.predictor import Predictor

real_forward = Predictor._forward


def slow_forward(self, batch):
    time.sleep(0.2)
    return real_forward(self, batch)


Predictor._forward = slow_forward
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 images, one of them unreadable."""
    root = tmp_path_factory.mktemp("archive") / "images"
    make_synthetic_dataset(root, ("benign", "malignant"), per_class=20, size=32, seed=5)
    (root / "benign" / "benign_00003.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture(scope="module")
def reference(tiny_model: Path, archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The predictions of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "reference.csv"
    assert main(["--quiet", "predict", str(tiny_model), str(archive), "--out", str(out), "--num-workers", "0"]) == 0
    return out


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the model is run on."""
    sizes: list[int] = []
    real_forward = Predictor._forward

    def counting(self: Predictor, batch: object) -> dict:
        sizes.append(len(batch))  # type: ignore[arg-type]
        return real_forward(self, batch)

    monkeypatch.setattr(Predictor, "_forward", counting)
    return sizes


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _expected_paths(archive: Path) -> list[str]:
    return [str(record.path) for record in collect_images([archive])]


def _same_predictions(rows: list[list[str]], reference: list[list[str]]) -> None:
    """Same paths, errors and decisions; probabilities equal to 1e-5 (batches of other sizes round differently)."""
    assert [row[0] for row in rows] == [row[0] for row in reference]
    assert [(row[1], row[-1]) for row in rows] == [(row[1], row[-1]) for row in reference]
    numbers = [[float(cell) for cell in row[2:-1]] for row in rows if not row[-1]]
    expected = [[float(cell) for cell in row[2:-1]] for row in reference if not row[-1]]
    np.testing.assert_allclose(numbers, expected, atol=1e-5)


def test_rows_reach_the_disk_one_batch_at_a_time(tiny_model, archive, tmp_path) -> None:
    predictor = Predictor.from_checkpoint(tiny_model)
    records = collect_images([archive])
    out = tmp_path / "preds.csv"
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:  # after each batch: its rows are already in the partial file
        seen.append((done, len(_rows(out.with_name("preds.csv.partial"))) - 1))

    summary = predict_to_csv(predictor, records, out, batch_size=4, progress=progress)
    assert seen == [(done, done) for done in range(4, 41, 4)]
    rows = _rows(out)
    assert rows[0] == ["path", "predicted", "p_benign", "p_malignant", "error"]
    assert [row[0] for row in rows[1:]] == _expected_paths(archive)
    assert summary.total == 40 and summary.resumed == 0 and len(summary.errors) == 1
    assert [row[-1] != "" for row in rows[1:]].count(True) == 1 and leftovers(tmp_path) == []


def _kill_mid_run(tmp_path: Path, model: Path, archive: Path, out: Path, lines: int) -> None:
    script = tmp_path / "slow_predict.py"
    script.write_text(SLOW_PREDICT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, str(script), "--quiet", "predict", str(model), str(archive), "--out", str(out),
            "--batch-size", "2", "--num-workers", "0"]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 180
    try:
        while not (partial.exists() and partial.read_bytes().count(b"\n") >= lines):
            assert process.poll() is None, "predict ended before it could be killed"
            assert time.monotonic() < deadline, "predict wrote nothing for 180 s"
            time.sleep(0.02)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_kill_9_mid_run_then_resume_predicts_only_the_rest(
    tiny_model, archive, reference, tmp_path, forwarded, capfd
) -> None:
    out = tmp_path / "preds.csv"
    _kill_mid_run(tmp_path, tiny_model, archive, out, lines=7)  # the header and at least 3 batches of 2
    partial = out.with_name("preds.csv.partial")
    written = partial.read_bytes()
    kept = written[: written.rfind(b"\n") + 1].count(b"\n") - 1  # complete rows; a torn one would be re-predicted
    assert 6 <= kept < 40 and not out.exists()

    assert main(["predict", str(tiny_model), str(archive), "--out", str(out), "--resume", "--num-workers", "0"]) == 0
    printed = capfd.readouterr().out
    assert f"resumed: kept {kept} rows of the interrupted run" in printed
    assert sum(forwarded) == 40 - kept - (1 if kept < 4 else 0)  # the unreadable image (row 4) is never run
    rows = _rows(out)
    assert _rows(out)[1 : kept + 1] == [next(csv.reader([line])) for line in written.decode().splitlines()[1:]][:kept]
    assert [row[0] for row in rows[1:]] == _expected_paths(archive) and not partial.exists()
    _same_predictions(rows[1:], _rows(reference)[1:])


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("nothing", 0),  # killed before the file was created
        ("torn header", 0),  # killed while writing the header
        ("header", 0),  # killed before the first batch was written
        ("torn row", 5),  # killed in the middle of writing a row: the half row is dropped
        ("rows", 5),  # killed between batches
        ("finished", 40),  # the run had finished: nothing left to predict
    ],
)
def test_resume_from_any_interruption_point(state, kept, tiny_model, archive, reference, tmp_path, forwarded) -> None:
    text = reference.read_bytes()
    lines = text.splitlines(keepends=True)
    out = tmp_path / "preds.csv"
    partial = tmp_path / "preds.csv.partial"
    content = {
        "torn header": lines[0][:7],
        "header": lines[0],
        "torn row": b"".join(lines[:6]) + lines[6][: len(lines[6]) // 2],
        "rows": b"".join(lines[:6]),
    }
    if state == "finished":
        out.write_bytes(text)
    elif state != "nothing":
        partial.write_bytes(content[state])
    assert main(["--quiet", "predict", str(tiny_model), str(archive), "--out", str(out), "--resume",
                 "--num-workers", "0"]) == 0  # fmt: skip
    assert sum(forwarded) == 40 - kept - (1 if kept < 4 else 0)  # row 4 is the unreadable image: nothing to run
    if state == "finished":
        assert out.read_bytes() == text
    _same_predictions(_rows(out)[1:], _rows(reference)[1:])
    assert not partial.exists()


def test_resume_refuses_rows_of_other_inputs_and_keeps_them(tiny_model, archive, tiny_data, tmp_path, capfd) -> None:
    out = tmp_path / "preds.csv"
    partial = tmp_path / "preds.csv.partial"
    assert main(["--quiet", "predict", str(tiny_model), str(tiny_data), "--out", str(out), "--num-workers", "0"]) == 0
    os.replace(out, partial)  # an interrupted run over other images
    before = partial.read_bytes()
    first_other, first_here = _rows(partial)[1][0], _expected_paths(archive)[0]
    code = main(["--quiet", "predict", str(tiny_model), str(archive), "--out", str(out), "--resume"])
    assert code == 2
    assert one_error_line(capfd.readouterr().err) == (
        f"error: {out}: cannot resume: row 1 is {first_other} but input 1 is {first_here}; the rows are from other "
        "inputs: drop --resume to start over"
    )
    assert partial.read_bytes() == before and not out.exists()
    partial.write_text("path,label,error\r\n")  # another model's (or task's) columns
    assert main(["--quiet", "predict", str(tiny_model), str(archive), "--out", str(out), "--resume"]) == 2
    line = one_error_line(capfd.readouterr().err)
    assert line.startswith(f"error: {partial}: its columns (path, label, error) are not this table's (path, predicted")
