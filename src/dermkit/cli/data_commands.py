"""Data commands: ``synth``, ``split``, ``prepare``, ``audit`` and ``datasets``."""

from __future__ import annotations

from pathlib import Path

import typer

from dermkit.cli.app import READER_OPTIONS_HELP, app, console, counts_table
from dermkit.config import reader_options
from dermkit.data import read_dataset
from dermkit.data.split_manifests import split_dataset
from dermkit.data.synthetic import long_tail_counts, make_synthetic_dataset
from dermkit.data.synthetic_acne import make_synthetic_acne_dataset
from dermkit.errors import DataError
from dermkit.fileio import check_output
from dermkit.progress import track

SYNTH_TASKS = ("classify", "acne")


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write the class-folder tree (or, for --task acne, images/) into."),
    task: str = typer.Option(
        "classify", help="classify: lesions in class folders; acne: faces with a known number of red lesion spots."
    ),
    classes: str = typer.Option("benign,malignant", help="Comma-separated class names, or a number of classes."),
    per_class: int = typer.Option(100, min=1, help="Images per class (with --imbalance: of the largest class)."),
    imbalance: float | None = typer.Option(
        None, min=1.0, help="Long-tailed: class sizes fall exponentially to 1/IMBALANCE of the first class's."
    ),
    n: int = typer.Option(200, "--n", min=1, help="Images (--task acne)."),
    size: int | None = typer.Option(None, min=16, help="Image side in pixels [default: 128; 96 for --task acne]."),
    seed: int = typer.Option(0, min=0, help="Same seed, same images (byte-identical)."),
    image_format: str | None = typer.Option(
        None, "--format", help="jpg or png [default: jpg; png for --task acne: JPEG blurs small red spots]."
    ),
    manifest: bool = typer.Option(False, help="Also write manifest.csv with patient ids and skin types."),
) -> None:
    """Write synthetic dermoscopy-like images (a lesion on skin; colour, border and texture depend on the class).

    With --task acne: faces with 0-60 inflamed spots and manifest.csv of path,grade,count,patient_id,split.
    """
    check_output(out, "folder")
    if task not in SYNTH_TASKS:
        raise DataError(f"unknown --task '{task}'; choose one of: {', '.join(SYNTH_TASKS)}")
    if task == "acne" and imbalance is not None:
        raise DataError("--imbalance applies to --task classify (acne faces come with a grade mix of their own)")
    if task == "acne":
        acne = make_synthetic_acne_dataset(out, n, size=size or 96, seed=seed, image_format=image_format or "png")
        grades = ", ".join(f"{name} {count}" for name, count in acne.grade_counts.items())
        console.print(f"wrote {n} acne faces ({grades}) to {acne.root}")
        console.print(f"manifest: {acne.manifest} (train with data.root={acne.manifest})")
        return
    names = synth_class_names(classes)
    fmt = image_format or "jpg"
    counts = per_class if imbalance is None else long_tail_counts(len(names), per_class, imbalance)
    summary = make_synthetic_dataset(
        out, names, per_class=counts, size=size or 128, seed=seed, image_format=fmt, manifest=manifest
    )
    total = sum(summary.counts.values())
    console.print(f"wrote {total} images of {len(names)} classes to {summary.root}")
    if imbalance is not None:
        sizes = list(summary.counts.values())
        console.print(f"long-tailed: {sizes[0]} images in {names[0]} down to {sizes[-1]} in {names[-1]}")
    if summary.manifest is not None:
        console.print(f"manifest: {summary.manifest}")


def synth_class_names(classes: str) -> list[str]:
    """``--classes``: comma-separated names, or a number N of classes named ``class_00`` ... (zero-padded)."""
    text = classes.strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise DataError(f"--classes {text}: give at least one class")
        width = len(str(count - 1))
        return [f"class_{k:0{width}d}" for k in range(count)]
    return [name.strip() for name in classes.split(",")]


@app.command()
def split(
    data: Path = typer.Argument(..., help="Dataset: class folders, split folders, a CSV manifest or list files."),
    options: list[str] | None = typer.Argument(
        None,
        help=READER_OPTIONS_HELP,
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.csv, val.csv and test.csv."),
    val: float = typer.Option(0.05, min=0.0, max=0.9, help="Fraction of images for validation."),
    test: float = typer.Option(0.1, min=0.0, max=0.9, help="Fraction of images for testing."),
    seed: int = typer.Option(0, min=0, help="Random seed."),
    group_by: str | None = typer.Option(
        None, help="Column whose groups stay in one split (default: the patient/lesion ids the dataset has)."
    ),
) -> None:
    """Write stratified train/val/test CSV manifests; patients (--group-by) and identical files never straddle."""
    check_output(out, "folder")
    reader = reader_options(None, options or ())
    table = read_dataset(data, **reader)
    with track(None, "hashing files", "files") as step:
        report = split_dataset(table, out, val=val, test=test, seed=seed, group_by=group_by, progress=step)
    console.print(counts_table(f"split of {table.source}", report.class_names, report.counts))
    if report.groups is not None:
        column = group_by or reader.get("group_column")
        by = f"'{column}'" if column else "the dataset's patient/lesion ids"
        console.print(f"{report.groups} groups by {by}, each within one split")
    if report.duplicates:
        copies = sum(len(group) for group in report.duplicates)
        console.print(
            f"{len(report.duplicates)} sets of byte-identical files ({copies} files), each kept in one split:"
        )
        for group in report.duplicates[:10]:
            console.print("  " + "  =  ".join(str(path) for path in group))
        if len(report.duplicates) > 10:
            console.print(f"  ... and {len(report.duplicates) - 10} more")
    else:
        console.print("no byte-identical duplicates found")
    for name, path in report.files.items():
        console.print(f"{name}: {path}")


@app.command()
def prepare(
    data: Path = typer.Argument(..., help="Dataset (any supported layout)."),
    options: list[str] | None = typer.Argument(None, help=READER_OPTIONS_HELP, show_default=False),
    size: int = typer.Option(
        ..., min=8, help="Resize to this side: the recipe's data.resize (short side; the square's with square modes)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder; then train, evaluate or predict data.root=CACHE."),
    resize_mode: str = typer.Option("shorter", help="shorter, square or pad_square: the recipe's data.resize_mode."),
    workers: int | None = typer.Option(None, min=1, help="Decoding threads [default: the usable cores]."),
) -> None:
    """Decode every image once into uint8 arrays (and a manifest); reading the folder then skips decoding."""
    from dermkit.data.cache import build_cache, is_cache
    from dermkit.data.preprocess import RESIZE_MODES

    if resize_mode not in RESIZE_MODES:
        raise DataError(f"unknown --resize-mode '{resize_mode}'; choose one of: {', '.join(RESIZE_MODES)}")
    check_output(out, "folder")  # before a single image is decoded
    if out.exists() and not (out.is_dir() and (is_cache(out) or not any(out.iterdir()))):
        raise DataError(f"{out}: exists and is not a dermkit cache; give --out a new or empty folder")
    table = read_dataset(data, **reader_options(None, options or ()))
    with track(len(table), "decoding", "images") as step:
        manifest = build_cache(table, out, size=size, resize_mode=resize_mode, workers=workers, progress=step)
    stored = sum(part["bytes"] for part in manifest["parts"].values())
    reused = f" ({manifest['reused']} unchanged, copied)" if manifest["reused"] else ""
    console.print(f"cached {manifest['images'] - len(manifest['unreadable'])} of {manifest['images']} images of "
                  f"{table.source}{reused}: {stored / 2**20:.1f} MB in {out}")  # fmt: skip
    for error in manifest["unreadable"][:5]:
        console.print(f"  unreadable (listed in manifest.json, skipped): {error}")
    if len(manifest["unreadable"]) > 5:
        console.print(f"  ... {len(manifest['unreadable']) - 5} more in {out / 'manifest.json'}")
    console.print(f"next: dermkit train RECIPE data.root={out} (data.resize={size} data.resize_mode={resize_mode})")


@app.command()
def audit(
    data: Path = typer.Argument(..., help="Dataset (any supported layout)."),
    options: list[str] | None = typer.Argument(
        None,
        help=READER_OPTIONS_HELP,
        show_default=False,
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for audit.json and audit.html."),
    decode: bool = typer.Option(True, help="Fully decode every image (finds truncated files); --no-decode: headers."),
    near: bool = typer.Option(True, help="Search near duplicates (perceptual hash); needs --decode."),
    max_distance: int = typer.Option(
        6, min=0, max=64, help="Largest Hamming distance between hashes counted as a near duplicate."
    ),
    workers: int = typer.Option(2, min=1, help="Decoding threads."),
    many: int = typer.Option(100, min=0, help="Many-shot classes have more than this many training images."),
    few: int = typer.Option(20, min=0, help="Few-shot classes have fewer than this many training images."),
) -> None:
    """Audit a dataset: class balance (imbalance ratio, many / medium / few-shot classes), sizes and modes, unreadable
    files, duplicates and leakage across splits."""
    from dermkit.data.audit import audit_dataset

    if out is not None:
        check_output(out, "folder")
    table = read_dataset(data, **reader_options(None, options or ()))
    with track(None, "auditing", "files") as step:
        report = audit_dataset(table, near_duplicates=near and decode, max_distance=max_distance, decode=decode,
                               workers=workers, progress=step, many=many, few=few)  # fmt: skip
    for line in report.summary_lines():
        console.print(line)
    if report.to_dict()["near_duplicates"]:
        console.print("near duplicates are candidates to look at, not proof: similar framing can match too")
    if out is not None:
        from dermkit.fileio import write_json
        from dermkit.reports.audit_page import write_audit_report

        audit_dict = report.to_dict()
        console.print(f"audit.json: {write_json(out / 'audit.json', audit_dict)}")
        console.print(f"audit.html: {write_audit_report(out / 'audit.html', audit_dict)}")


@app.command()
def datasets() -> None:
    """List the dataset layouts and public datasets dermkit reads, and how to get each."""
    from dermkit.data.catalog import format_catalog

    typer.echo(format_catalog())  # the answer: shown with --quiet
