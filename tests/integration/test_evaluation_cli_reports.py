"""The HTML report and model card from evaluate --report, the audit command and the datasets listing."""

from __future__ import annotations

import json
import shutil

import pytest

from dermkit.cli import main
from tests.integration._evaluation_helpers import model_copy

pytestmark = pytest.mark.slow


class _Sections(__import__("html.parser").parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "img":
            self.images.append(values.get("src") or "")


def test_report_holds_every_section_and_the_model_card_is_written(setup, capsys) -> None:
    model = model_copy(setup, "reported")
    out = setup["root"] / "eval_report"
    args = [
        "evaluate",
        str(model),
        str(setup["lists"]),
        "--out",
        str(out),
        "--report",
        "--bootstrap",
        "100",
        "--group-by",
        "fitzpatrick",
        "--audit",
        "--num-workers",
        "0",
    ]
    assert main(args) == 0
    parser = _Sections()
    parser.feed((out / "report.html").read_text())
    audit = json.loads((out / "audit.json").read_text())
    assert audit["n_images"] == sum(
        len((setup["lists"] / f"{s}.csv").read_text().splitlines()) - 1 for s in ("train", "val", "test")
    )  # every split, not only the evaluated one
    expected = {
        "audit",
        "summary",
        "operating-point",
        "per-class",
        "confusion",
        "curves",
        "calibration",
        "training",
        "mistakes",
        "subgroups",
    }
    assert expected <= parser.ids
    assert parser.images and all(src.startswith("data:image/") for src in parser.images)
    card = (model / "MODEL_CARD.md").read_text()
    for heading in ("Intended use", "Limits", "Operating point", "Evaluation"):
        assert heading in card


def test_audit_command_reports_cross_split_duplicates(setup, capsys) -> None:
    clean_out = setup["root"] / "audit_clean"
    assert main(["audit", str(setup["lists"]), "--out", str(clean_out)]) == 0
    clean = json.loads((clean_out / "audit.json").read_text())
    assert clean["leakage"]["exact"] == 0 and clean["n_images"] == 100
    leaky = setup["root"] / "leaky_lists"  # a sibling folder, so the relative image paths still resolve
    shutil.copytree(setup["lists"], leaky, dirs_exist_ok=True)
    train_rows = (leaky / "train.csv").read_text().splitlines()
    test_rows = (leaky / "test.csv").read_text().splitlines()
    (leaky / "test.csv").write_text("\n".join([*test_rows, train_rows[1].replace(",train,", ",test,")]) + "\n")
    capsys.readouterr()
    out = setup["root"] / "audit_leaky"
    assert main(["audit", str(leaky), "--out", str(out)]) == 0
    assert "LEAKAGE" in capsys.readouterr().out
    audit = json.loads((out / "audit.json").read_text())
    assert audit["leakage"]["exact"] == 1 and audit["exact_duplicates"][0]["cross_split"]
    assert sorted(audit["exact_duplicates"][0]["splits"]) == ["test", "train"]
    assert 'id="audit"' in (out / "audit.html").read_text()


def test_datasets_command_lists_public_datasets(capsys) -> None:
    assert main(["datasets"]) == 0
    printed = capsys.readouterr().out
    for name in ("ham10000", "dermamnist", "isic2019", "class-folders", "csv-manifest"):
        assert name in printed


def test_re_evaluating_without_report_removes_the_stale_report(setup, capsys) -> None:
    out = setup["root"] / "eval_again"
    base = ["evaluate", str(setup["run"]), str(setup["lists"]), "--out", str(out), "--num-workers", "0"]
    assert main([*base, "--report"]) == 0 and (out / "report.html").is_file()
    assert main(base) == 0 and not (out / "report.html").exists()
    assert (out / "metrics.json").is_file()
