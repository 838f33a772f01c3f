"""The dataset-audit section and the standalone ``audit.html`` (class balance, sizes, unreadable files, exact and
near duplicates across splits)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dermkit import __version__
from dermkit.fileio import write_text
from dermkit.reports.html import escape as _e
from dermkit.reports.html import footer as _footer
from dermkit.reports.html import note as _note
from dermkit.reports.html import page as _page
from dermkit.reports.html import section as _section
from dermkit.reports.html import table as _table
from dermkit.reports.html import value_html as _v

__all__ = ["render_audit_html", "write_audit_report"]

_MAX_ROWS = 100  # longest audit list shown; the rest is counted


def _join(values: Any, sep: str = ", ") -> str:
    return sep.join(map(str, values or []))


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def _unreadable_row(r: dict) -> tuple[list, bool]:
    return [r.get("path"), r.get("error")], False


def _exact_row(r: dict) -> tuple[list, bool]:
    flags = (r.get("cross_split"), r.get("conflicting_labels"))
    return [_join(r.get("paths"), " | "), _join(r.get("splits")), _join(r.get("labels")), *map(_yes, flags)], any(flags)


def _near_row(r: dict) -> tuple[list, bool]:
    cells = [r.get("a"), r.get("b"), r.get("distance"), _join(r.get("splits")), _yes(r.get("cross_split"))]
    return cells, bool(r.get("cross_split"))


_AUDIT_LISTS = (  # key, heading, what is counted, columns, row maker (cells, highlighted)
    ("unreadable", "Unreadable images", "images", ("path", "error"), _unreadable_row),
    ("exact_duplicates", "Exact duplicates", "groups; cross-split or conflicting labels highlighted",
     ("paths", "splits", "labels", "cross-split", "conflicting labels"), _exact_row),
    ("near_duplicates", "Near duplicates", "pairs; cross-split highlighted",
     ("image a", "image b", "distance", "splits", "cross-split"), _near_row),
)  # fmt: skip


def render_audit_html(audit: dict) -> str:
    """The dataset-audit section alone (``<section id="audit">``), used by the evaluation and audit reports.

    Args:
        audit: The dict made by ``dermkit audit`` (source, n_images, class_names, splits, sizes, modes, formats,
            unreadable, exact_duplicates, near_duplicates, leakage); any key may be missing.

    Returns:
        An HTML fragment; every user string is escaped.
    """
    names = [str(c) for c in audit.get("class_names") or []]
    leak = audit.get("leakage") or {}
    n_leak = sum(int(leak.get(key) or 0) for key in ("exact", "near", "patients"))
    body = f"<p>{_e(audit.get('source', 'unknown source'))}: {_e(audit.get('n_images', '?'))} images.</p>"
    patients = audit.get("patients_across_splits") or []
    body += (
        f'<p class="warn">Leakage: {_e(leak.get("exact", 0))} exact and {_e(leak.get("near", 0))} near-duplicate '
        f"groups and {_e(leak.get('patients', 0))} patients span more than one split"
        + (f" (e.g. {_e(', '.join(map(str, patients[:5])))})" if patients else "")
        + ".</p>"
        if n_leak
        else '<p class="ok">No duplicates or patients across splits.</p>'
    )
    splits = audit.get("splits") or {}
    if splits and names:
        rows = [[_e(n), *(_e(c[i]) for c in splits.values())] for i, n in enumerate(names)]
        rows.append(["<b>total</b>", *(_e(sum(c)) for c in splits.values())])
        body += "<h3>Class counts</h3>" + _table(["class", *map(str, splits)], rows)
    sizes = audit.get("sizes") or {}
    if sizes:
        rows = [[_e(k), *(_v(s.get(q), 1) for q in ("min", "median", "max"))] for k, s in sizes.items()]
        body += "<h3>Image sizes</h3>" + _table(["", "min", "median", "max"], rows)
    for key in ("modes", "formats"):
        if audit.get(key):
            body += f"<h3>{key.title()}</h3>" + _table(
                [key[:-1], "images"], [[_e(k), _e(v)] for k, v in audit[key].items()]
            )
    for key, heading, unit, header, make_row in _AUDIT_LISTS:
        items = audit.get(key) or []
        rows, flags = zip(*(make_row(item) for item in items[:_MAX_ROWS]), strict=True) if items else ((), ())
        body += f"<h3>{heading} ({len(items)} {unit})</h3>"
        body += _table(header, [[_e(c) for c in r] for r in rows], ["worst" if f else "" for f in flags])
        if len(items) > _MAX_ROWS:
            body += _note(f"... and {len(items) - _MAX_ROWS} more.")
    return _section("audit", "Dataset audit", body)


def write_audit_report(path: str | Path, audit: dict, title: str = "Dataset audit") -> Path:
    """Write a standalone, self-contained ``audit.html`` holding the audit section.

    Args:
        path: The HTML file to write (atomically).
        audit: The audit dict (see :func:`render_audit_html`).
        title: Page title.

    Returns:
        The path written.
    """
    meta = (
        f"<tr><td><b>Data</b></td><td>{_e(audit.get('source', 'unknown'))}</td></tr><tr><td><b>Date</b></td>"
        f"<td>{datetime.now(UTC):%Y-%m-%d %H:%M} UTC</td></tr><tr><td><b>dermkit</b></td><td>{__version__}</td></tr>"
    )
    header = f'<header><h1>{_e(title)}</h1><table class="meta">{meta}</table></header>\n'
    return write_text(path, _page(title, header + render_audit_html(audit) + _footer(None)))
