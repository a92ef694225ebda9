"""``compare``: the same cases on several firmware builds, one table, every difference named.

A build is ``LABEL=CODE,VARS`` (:func:`parse_builds`). Each (case, build) pair runs through the
same job pool as ``matrix`` (``cli.run_jobs``), its artifacts under ``<artifacts>/<LABEL>/``;
the rows then carry ``firmware_label``. Everything here is pure: the differences between the
builds' rows (:func:`differences`), the plain-text table (:func:`format_compare_table`) and the
JSON document (:func:`compare_document`), so they are tested on synthetic rows and the HTML page
(``html_report``) shows the same differences as the terminal.

JSON, the matrix report's shape (``report.write_report``) plus two keys::

    {"version": 1,
     "cases": [<a matrix row> + {"firmware_label": LABEL, "firmware_version": <from the row>}],
     "builds": [{"label": LABEL, "code": <path>, "vars": <path>, "firmware_version": ...}],
     "differences": [{"case": <id>, "field": "verdict" | "phase" | "cause" | "seconds",
                      "values": {LABEL: <value>}}],
     "selected": [<case ids>]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .report import release_notes

FIRMWARE_FORM = "LABEL=CODE,VARS"
FIRMWARE_EXAMPLE = "--firmware d12=/usr/share/OVMF/OVMF_CODE_4M.fd,/usr/share/OVMF/OVMF_VARS_4M.fd"
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""A word: it names a table column, a JSON key and the build's artifacts folder, so no ``/``,
no space, and no leading ``.`` or ``-`` (a hidden folder, or a name read as an option)."""

COMPARED_FIELDS = ("verdict", "phase", "cause")
"""What the judge says about a boot: any difference in these is the firmware's."""
SECONDS_KEY = "total"
"""The timing compared and shown: the case's whole run, which every row has (``firmware``, the
time to the image running, is absent from a boot that did not get there)."""
SECONDS_MIN_DELTA = 5.0
SECONDS_MIN_RATIO = 1.5
"""Seconds differ when the slower build took more than 5 s longer *and* more than 50 % longer
than the faster. Under TCG on a shared two-core machine the same case's total moves by a few
seconds between runs (another worker's QEMU takes the core; DHCP's retransmission timers, 1-4 s,
fire or not), which is within 5 s; and a short case (20-40 s) can swing by 20 % on that noise
alone, so only a change of half again is a build really doing more (a longer timeout, a retry,
a slower TLS handshake)."""


@dataclass(frozen=True)
class Build:
    """One firmware build under comparison: its label and its code and vars files."""

    label: str
    code: Path
    vars: Path

    def to_dict(self, firmware_version: Any = None) -> dict[str, Any]:
        return {
            "label": self.label,
            "code": str(self.code),
            "vars": str(self.vars),
            "firmware_version": firmware_version,
        }


def parse_build(text: str) -> Build:
    """One ``--firmware LABEL=CODE,VARS``; a ``UsageError`` naming the problem and the fix."""
    label, equals, paths = text.partition("=")
    fix = f"fix: pass --firmware {FIRMWARE_FORM}, e.g. {FIRMWARE_EXAMPLE}"
    if not equals:
        raise UsageError(f"--firmware {text!r} has no '=': it must be {FIRMWARE_FORM}; {fix}")
    if not LABEL_PATTERN.fullmatch(label):
        raise UsageError(
            f"--firmware label {label!r} is not a word (letters, digits, '_', '-', '.'; not "
            f"starting with '.' or '-'); {fix}"
        )
    parts = paths.split(",")
    if len(parts) != 2 or not all(parts):
        raise UsageError(
            f"--firmware {label}: {paths!r} must be two paths, CODE,VARS, with one comma; {fix}"
        )
    code, vars_template = (Path(p).expanduser().absolute() for p in parts)
    for role, path in (("CODE", code), ("VARS", vars_template)):
        if not path.is_file():
            raise UsageError(
                f"--firmware {label}: {role} {path} does not exist (or is not a file); "
                f"fix: pass the path of that build's {role} file"
            )
    return Build(label, code, vars_template)


def parse_builds(values: Sequence[str] | None) -> list[Build]:
    """Every ``--firmware``, in the order given: at least two, each label once."""
    given = list(values or ())
    if len(given) < 2:
        raise UsageError(
            f"compare needs at least two --firmware {FIRMWARE_FORM} (got {len(given)}); "
            f"fix: pass one --firmware per build, e.g. {FIRMWARE_EXAMPLE} --firmware "
            "d13=CODE,VARS"
        )
    builds = [parse_build(value) for value in given]
    labels = [build.label for build in builds]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(
            f"--firmware label {', '.join(repeated)} is given more than once; "
            "fix: give each build its own label"
        )
    return builds


@dataclass(frozen=True)
class Difference:
    """One field of one case that is not the same on every build."""

    case: str
    field: str
    values: dict[str, Any]
    """Each build's value, by label, in the builds' order (None: the row had none)."""

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "field": self.field, "values": dict(self.values)}

    def describe(self) -> str:
        """``ipv4-http: phase: 2022=download, 2026=tls``."""
        shown = ", ".join(f"{label}={_value(self.field, v)}" for label, v in self.values.items())
        return f"{self.case}: {self.field}: {shown}"


def _value(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if field == "seconds" and isinstance(value, int | float):
        return f"{value:.1f}s"
    return str(value)


def rows_by_case(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(row["id"]): row for row in rows}


def case_order(rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Every case id once, in the order the builds' rows first name it (the selection's)."""
    ids: dict[str, None] = {}
    for rows in rows_by_build.values():
        ids.update((str(row["id"]), None) for row in rows)
    return list(ids)


def _seconds(row: Mapping[str, Any] | None) -> float | None:
    if row is None:
        return None
    value = (row.get("timings") or {}).get(SECONDS_KEY)
    return float(value) if isinstance(value, int | float) else None


def seconds_differ(values: Sequence[float | None]) -> bool:
    """See :data:`SECONDS_MIN_RATIO`: both a 5 s and a 50 % margin, so TCG's noise is quiet."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return False
    fastest, slowest = min(known), max(known)
    return slowest - fastest > SECONDS_MIN_DELTA and slowest > fastest * SECONDS_MIN_RATIO


def differences(rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Difference]:
    """Per case (in the selection's order), each of verdict, phase, cause that is not the same
    on every build, then seconds when they differ by more than TCG's noise. A case missing from
    a build's rows shows as None there, so it differs from any build that has it."""
    indexed = {label: rows_by_case(rows) for label, rows in rows_by_build.items()}
    found: list[Difference] = []
    for case_id in case_order(rows_by_build):
        rows = {label: by_case.get(case_id) for label, by_case in indexed.items()}
        for field in COMPARED_FIELDS:
            values = {label: (row or {}).get(field) for label, row in rows.items()}
            if len(set(map(repr, values.values()))) > 1:
                found.append(Difference(case_id, field, values))
        seconds = {label: _seconds(row) for label, row in rows.items()}
        if seconds_differ(list(seconds.values())):
            rounded = {k: None if v is None else round(v, 1) for k, v in seconds.items()}
            found.append(Difference(case_id, "seconds", rounded))
    return found


def cell(row: Mapping[str, Any] | None) -> str:
    """``verdict[ at phase] Ns ok|FAIL``: one case on one build."""
    if row is None:
        return "not run"
    text = str(row.get("verdict"))
    if row.get("phase"):
        text += f" at {row['phase']}"
    seconds = _seconds(row)
    if seconds is not None:
        text += f" {seconds:.0f}s"
    return f"{text} {'ok' if row.get('met_expectation') else 'FAIL'}"


def comparison_grid(
    rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[tuple[str, list[Mapping[str, Any] | None]]]:
    """(case id, each build's row or None, in the builds' order), one per case."""
    indexed = [rows_by_case(rows) for rows in rows_by_build.values()]
    return [
        (case_id, [by_case.get(case_id) for by_case in indexed])
        for case_id in case_order(rows_by_build)
    ]


def format_compare_table(
    rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]],
    found: Sequence[Difference] | None = None,
) -> str:
    """One line per case, one column per build; then ``differences:`` one per line (or
    ``differences: none``)."""
    found = differences(rows_by_build) if found is None else found
    lines = [("case", *rows_by_build)]
    lines += [(case_id, *map(cell, rows)) for case_id, rows in comparison_grid(rows_by_build)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(line.rstrip() for line in out) + "\n"
    notes = sorted({note for rows in rows_by_build.values() for note in release_notes(rows)})
    text += "".join(f"{note}\n" for note in notes)
    if not found:
        return text + "differences: none\n"
    return text + "differences:\n" + "".join(f"  {d.describe()}\n" for d in found)


def labelled_rows(
    rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Every row with its build's ``firmware_label``, and ``firmware_version`` as the row gives
    it (None when the runner does not say yet)."""
    return [
        {**row, "firmware_label": label, "firmware_version": row.get("firmware_version")}
        for label, rows in rows_by_build.items()
        for row in rows
    ]


def group_by_label(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows that carry ``firmware_label``, by label in the order first seen (the HTML page's
    way back from a flat list to the builds)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("firmware_label") is not None:
            grouped.setdefault(str(row["firmware_label"]), []).append(row)
    return grouped


def build_version(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The build's ``firmware_version`` as its rows give it: the first one that says."""
    return next((row["firmware_version"] for row in rows if row.get("firmware_version")), None)


def compare_document(
    builds: Sequence[Build],
    rows_by_build: Mapping[str, Sequence[Mapping[str, Any]]],
    found: Sequence[Difference] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON report's rows and its top-level keys beside them (``report.write_report``'s
    ``rows`` and ``extra``)."""
    found = differences(rows_by_build) if found is None else found
    extra = {
        "builds": [b.to_dict(build_version(rows_by_build.get(b.label, ()))) for b in builds],
        "differences": [d.to_dict() for d in found],
        "selected": case_order(rows_by_build),
    }
    return labelled_rows(rows_by_build), extra
