"""``httpboot-harness report merge``: the shards' JSON reports made one, with what is amiss named.

A shard's report records the case ids it was to judge (``selected``) and its ``shard`` (K/N).
Merging checks that every shard 1..N sent a report, that every selected case has a result, and
that no case has two; each problem is one line, printed, kept in the merged report
(``problems``) and shown at the top of the HTML page. Exit codes follow ``matrix``:

  0    complete, and every case met its expectation
  1    complete, and some case did not (the firmware failed it)
  2    an input cannot be read or is not a harness report (nothing is written)
  125  the merge is incomplete (a duplicate, a missing case or shard) or some case could not be
       judged (verdict ``error``): everything is still written, with the problems named
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .report import REPORT_VERSION, format_table, write_report
from .sharding import Shard

EXIT_OK, EXIT_FIRMWARE_FAILED, EXIT_CANNOT_JUDGE = 0, 1, 125


@dataclass
class Merged:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def exit_code(self) -> int:
        if self.problems or any(r.get("verdict") == "error" for r in self.rows):
            return EXIT_CANNOT_JUDGE
        if any(not r.get("met_expectation") for r in self.rows):
            return EXIT_FIRMWARE_FAILED
        return EXIT_OK


def load_report(path: Path) -> dict[str, Any]:
    """One report, checked for the keys the merge reads; a clear UsageError otherwise."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON ({exc}); give the reports of matrix --json") from None
    if not isinstance(document, dict) or document.get("version") != REPORT_VERSION:
        raise UsageError(f"{path} is not a version {REPORT_VERSION} harness report")
    cases = document.get("cases")
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "id" in c for c in cases):
        raise UsageError(f"{path} has no list of cases with ids; is it a harness report?")
    if "shard" in document and document["shard"] is not None:
        document["shard"] = Shard.parse(str(document["shard"]))
    return document


def merge(documents: Sequence[tuple[str, dict[str, Any]]]) -> Merged:
    """Merge (name, report) pairs; the first result of a case is kept, later ones flagged."""
    merged = Merged(sources=[name for name, _ in documents])
    owner: dict[str, str] = {}
    selected_by: dict[str, str] = {}
    shards: dict[Shard, str] = {}
    for name, document in documents:
        for row in document["cases"]:
            case_id = str(row["id"])
            if case_id in owner:
                merged.problems.append(
                    f"duplicate: {case_id} is in {owner[case_id]} and in {name} (kept the first)"
                )
                continue
            owner[case_id] = name
            merged.rows.append(row)
        for case_id in document.get("selected") or []:
            selected_by.setdefault(str(case_id), name)
        shard = document.get("shard")
        if isinstance(shard, Shard):
            if shard in shards:
                merged.problems.append(f"duplicate: shard {shard} is in {shards[shard]} and {name}")
            shards.setdefault(shard, name)
    for case_id, name in selected_by.items():
        if case_id not in owner:
            merged.problems.append(f"missing: {case_id} was selected in {name} but has no result")
    counts = sorted({s.count for s in shards})
    if len(counts) > 1:
        merged.problems.append(
            "mixed splits: shards of " + " and ".join(f"N={n}" for n in counts) + " were merged"
        )
    for count in counts:
        present = {s.index for s in shards if s.count == count}
        merged.problems += [f"missing: no report from shard {k}/{count}"
                            for k in range(1, count + 1) if k not in present]  # fmt: skip
    merged.selected = sorted(selected_by)
    merged.rows.sort(key=lambda r: str(r["id"]))
    return merged


def merge_command(
    inputs: Sequence[Path], *, output: Path | None, junit: Path | None, html: Path | None
) -> int:
    if output is None and junit is None and html is None:
        raise UsageError("report merge writes nothing: give -o FILE.json, --junit or --html")
    merged = merge([(str(path), load_report(path)) for path in inputs])
    if output is not None:
        extra = {"selected": merged.selected, "shard": None,
                 "merged_from": merged.sources, "problems": merged.problems}  # fmt: skip
        write_report(output, merged.rows, extra=extra)
    if junit is not None:
        from .junit import write_junit

        write_junit(junit, merged.rows, problems=merged.problems)
    if html is not None:
        from .html_report import write_html

        write_html(html, merged.rows, problems=merged.problems)
    print(format_table(merged.rows), end="")
    for problem in merged.problems:
        print(f"httpboot-harness report merge: {problem}", file=sys.stderr)
    written = [str(p) for p in (output, junit, html) if p is not None]
    print(f"merged {len(inputs)} reports, {len(merged.rows)} cases: {', '.join(written)}")
    return merged.exit_code()
