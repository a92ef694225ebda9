"""The JSON report (a stable shape for CI dashboards) and the plain-text summary table.

Shape, version 1 (keys may be added, these stay)::

    {"version": 1,
     "cases": [{"id": "ipv6-https", "arch": "x86_64" | "aarch64",
                "verdict": "booted" | "refused" | "failed" | "error",
                "phase": <first phase without evidence, or null>, "accel": "tcg" | "kvm",
                "timings": {"total": <s>, "firmware": <s from QEMU start to the image running>},
                "artifacts": <path>,
                "firmware_version": "edk2 2026.08 (ovmf-generic 2026.08+ds-2)",
                "firmware_identity": {"edk2": "2026.08", "build": "2026.08+ds-2",
                                      "package": "ovmf-generic", "package_version": ...}, ...}],
     "selected": [<the case ids this run was to judge>], "shard": "K/N" | null}

``selected`` and ``shard`` let ``report merge`` tell a missing case or shard from a run that
never meant to have it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPORT_VERSION = 1


def write_report(
    path: Path, rows: Iterable[Mapping[str, Any]], *, extra: Mapping[str, Any] | None = None
) -> None:
    """``extra``: top-level keys beside the cases (a shard's ``selected`` and ``shard``, a
    merge's ``merged_from`` and ``problems``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": REPORT_VERSION, "cases": sorted(rows, key=lambda r: str(r["id"]))}
    document.update(extra or {})
    path.write_text(json.dumps(document, indent=2) + "\n")


def format_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """case | arch | expected | verdict | phase | firmware s | total s | ok, one per case.

    Which firmware ran: when every row ran the same one (a nightly matrix, a bisect step) it is
    said once, ``firmware: <label>`` under the table; a column would repeat one long label on
    every line. Only rows that ran different firmware (a merged report, ``--firmware-code`` per
    architecture) get a ``firmware`` column after ``arch``."""
    rows = list(rows)
    versions = firmware_versions(rows)
    column = len(versions) > 1
    header = ("case", "arch", *(("firmware",) if column else ()), "expected", "verdict",
              "phase", "firmware s", "total s", "result")  # fmt: skip
    lines = [header]
    for row in rows:
        timings = row.get("timings", {})
        firmware = (str(row.get("firmware_version") or "-"),) if column else ()
        lines.append(
            (
                str(row["id"]),
                str(row.get("arch", "x86_64")),
                *firmware,
                str(row.get("expected", "")),
                str(row["verdict"]),
                str(row.get("phase") or "-"),
                _seconds(timings.get("firmware")),
                _seconds(timings.get("total")),
                "ok" if row.get("met_expectation") else "FAIL",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    if len(versions) == 1:
        out.append(f"firmware: {versions[0]}")
    out += release_notes(rows)
    return "\n".join(line.rstrip() for line in out) + "\n"


def release_notes(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per case whose expectation followed an upstream change on the release that ran
    (``expected_release``): which release, what changed, and where."""
    notes = []
    for row in rows:
        note = row.get("expected_release")
        if note:
            since = note.get("since")
            where = f" ({note['reference']})" if note.get("reference") else ""
            release = f"edk2 {since} and later" if since != "unknown" else "an unknown release"
            notes.append(f"{row['id']}: expected of {release}: {note.get('what')}{where}")
    return notes


def firmware_versions(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct ``firmware_version`` labels of ``rows``, in first-seen order (rows that
    ended before the firmware was chosen carry none)."""
    labels = (row.get("firmware_version") for row in rows)
    return list(dict.fromkeys(str(label) for label in labels if label))


def _seconds(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"
