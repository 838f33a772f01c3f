"""SPBL's round folders: what each finished round leaves, and reading it back for ``--resume``.

Self-paced balance learning (Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition",
IEEE TNNLS 2020) runs one CNN fine-tuning and one SVM fit per pace step. Round k of a run folder is
``round_<k>/``: the engine's run files (``model.safetensors``, ``model.json``, ``val_metrics.json``, ``logs/``),
``svm.safetensors`` (the SVM's arrays), ``spbl_arrays.safetensors`` (the features the round added to the SVM's paced
pool and the pool's scores), ``round.json`` (selected images and class weights per class, validation metrics of each
head) and, written last, ``spbl_state.json`` (:class:`~dermkit.tasks.spbl_state.SPBLState`): a round is finished
when its state file exists. Nothing here is pickled; it needs numpy and safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save

from dermkit.data.records import ImageTable
from dermkit.errors import ConfigError, ModelFileError, OutputPathError
from dermkit.fileio import write_bytes, write_json, write_text
from dermkit.models.svm import SVMArrays
from dermkit.tasks.spbl import SVM_FILE
from dermkit.tasks.spbl_state import SPBLState

STATE_FILE = "spbl_state.json"
ARRAYS_FILE = "spbl_arrays.safetensors"
ROUND_FILE = "round.json"
ROUNDS_SUMMARY = "spbl_rounds.json"
FINAL_FILES = ("model.safetensors", "model.json", SVM_FILE, "val_metrics.json", ROUNDS_SUMMARY, "config.yaml")


@dataclass
class RoundResult:
    """What one finished round hands to the next.

    Attributes:
        state: indices, weights and the random generator's state.
        svm: the SVM fitted in this round.
        paced_features: (M, D) float32 features of the SVM's paced pool (rows of ``state.paced_idx``).
        pool_probs: (n_pool, C) the pool's class probabilities under this round's SVM.
    """

    state: SPBLState
    svm: SVMArrays
    paced_features: np.ndarray
    pool_probs: np.ndarray


def round_dir(out_dir: Path, k: int) -> Path:
    """The folder of round ``k`` (0: the initial easy set; k >= 1: pace step k)."""
    return out_dir / f"round_{k}"


def finished_rounds(out_dir: Path) -> list[int]:
    """Indices of the rounds whose state file exists, contiguous from 0 (a gap ends the list)."""
    done = []
    while (round_dir(out_dir, len(done)) / STATE_FILE).is_file():
        done.append(len(done))
    return done


def data_fingerprint(train: ImageTable, val: ImageTable) -> str:
    """A hash of the training and validation images and labels: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for name, table in (("train", train), ("val", val)):
        for record in table.records:
            digest.update(f"{name}\t{record.path}\t{record.label}\n".encode())
    return digest.hexdigest()


def prepare_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Check ``out_dir`` for a new run or a resumed one (as the engine does for one-stage runs)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"{out_dir}: is a file; --out takes a folder")
    rounds = sorted(out_dir.glob("round_*")) if out_dir.is_dir() else []
    if resume:
        if not rounds:
            raise ConfigError(f"{out_dir}: nothing to resume (no SPBL round folder); drop --resume to start a new run")
        return
    if rounds or (out_dir / "model.json").exists():
        if not overwrite:
            raise ConfigError(
                f"{out_dir} already holds a run; pass --resume to continue it, --overwrite to start "
                "over, or --out to train elsewhere"
            )
        for folder in rounds:
            shutil.rmtree(folder)
        for name in FINAL_FILES:
            (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def write_svm(folder: Path, svm: SVMArrays) -> Path:
    """Write ``svm.safetensors``: the SVM's arrays (no pickle)."""
    return write_bytes(folder / SVM_FILE, save(svm.to_arrays()))


def write_round(folder: Path, result: RoundResult, added: np.ndarray, summary: dict[str, Any]) -> None:
    """Write a finished round (its SVM is already in ``svm.safetensors``): the features it added to the paced pool
    and the pool's scores, its summary, then its state."""
    arrays = {
        "paced_features": np.ascontiguousarray(added, dtype=np.float32),
        "pool_probs": np.ascontiguousarray(result.pool_probs, dtype=np.float64),
    }
    write_bytes(folder / ARRAYS_FILE, save(arrays))
    write_json(folder / ROUND_FILE, summary)
    write_text(folder / STATE_FILE, result.state.to_json())  # last: the round counts as finished from here


def read_round(out_dir: Path, k: int, fingerprint: str) -> RoundResult:
    """Round ``k`` as it finished: its state, SVM and pool scores, and the paced features of rounds 0..k."""
    folder = round_dir(out_dir, k)
    try:
        state = SPBLState.from_json((folder / STATE_FILE).read_text(encoding="utf-8"))
        summary = json.loads((folder / ROUND_FILE).read_text(encoding="utf-8"))
        svm = SVMArrays.from_arrays(load_file(folder / SVM_FILE))
        pool_probs = load_file(folder / ARRAYS_FILE)["pool_probs"]
        added = [load_file(round_dir(out_dir, j) / ARRAYS_FILE)["paced_features"] for j in range(k + 1)]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{folder}: cannot resume from this round ({str(exc).splitlines()[0]})") from None
    if summary.get("data_fingerprint") != fingerprint:
        raise ConfigError(
            f"{out_dir}: the training or validation images differ from those the run started with; "
            "resume with the same data and seed, or start over with --overwrite"
        )
    paced = np.concatenate(added)
    if paced.shape[0] != state.paced_idx.size:
        raise ModelFileError(f"{folder}: {paced.shape[0]} paced features for {state.paced_idx.size} paced images")
    return RoundResult(state, svm, paced, pool_probs)


def read_summary(out_dir: Path, k: int) -> dict[str, Any]:
    """Round ``k``'s ``round.json`` (selected images and class weights per class, validation metrics per head)."""
    summary = json.loads((round_dir(out_dir, k) / ROUND_FILE).read_text(encoding="utf-8"))
    summary.pop("data_fingerprint", None)
    return summary


def remove_checkpoints(folder: Path) -> None:
    """Drop a finished round's Lightning checkpoints: its exported weights and state are what later rounds need."""
    for name in ("best.ckpt", "last.ckpt"):
        (folder / name).unlink(missing_ok=True)
