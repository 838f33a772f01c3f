"""Integration fixtures: one small model trained through the CLI on patient-grouped split manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermkit.cli import main
from dermkit.data import read_dataset
from dermkit.data.split_manifests import split_dataset
from tests.conftest import TINY


@pytest.fixture(scope="session")
def setup(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> dict[str, Path]:
    """Split manifests of ``synth_dir`` (lists/) and a demo model trained on them (run/), under one root.

    Session-scoped so the evaluation CLI modules share one training run; each test writes under its own name.
    """
    root = tmp_path_factory.mktemp("evaluation")
    lists = root / "lists"
    split_dataset(read_dataset(synth_dir / "manifest.csv"), lists, val=0.25, test=0.25, group_by="patient_id")
    run = root / "run"
    assert main(["train", "demo", f"data.root={lists}", *TINY, "--out", str(run)]) == 0
    return {"root": root, "lists": lists, "run": run}
