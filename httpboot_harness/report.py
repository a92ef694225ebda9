"""The JSON report (a stable shape for CI dashboards) and the plain-text summary table.

Shape, version 1 (keys may be added, these stay)::

    {"version": 1,
     "cases": [{"id": "ipv6-https", "arch": "x86_64" | "aarch64",
                "verdict": "booted" | "refused" | "failed" | "error",
                "phase": <first phase without evidence, or null>, "accel": "tcg" | "kvm",
                "timings": {"total": <s>, "firmware": <s from QEMU start to the image running>},
                "artifacts": <path>, ...}],
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
    """case | arch | expected | verdict | phase | firmware s | total s | ok, one per case."""
    header = ("case", "arch", "expected", "verdict", "phase", "firmware s", "total s", "result")
    lines = [header]
    for row in rows:
        timings = row.get("timings", {})
        lines.append(
            (
                str(row["id"]),
                str(row.get("arch", "x86_64")),
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
    return "\n".join(line.rstrip() for line in out) + "\n"


def _seconds(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"
