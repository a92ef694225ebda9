"""JUnit XML from JSON report rows, for CI engines that show test results (GitLab, Jenkins, the
GitHub test-report actions): one test case per boot case, ``failure`` when the firmware did not
meet the expectation, ``error`` when the harness could not judge, and one more test case that
fails when the merge found a duplicate or a missing case or shard."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MERGE_CHECK = "report-merge-complete"


def junit_tree(rows: Sequence[Mapping[str, Any]], *, problems: Sequence[str] = ()) -> ET.Element:
    suite = ET.Element("testsuite", name="httpboot")
    failures = errors = 0
    total_seconds = 0.0
    for row in rows:
        seconds = float((row.get("timings") or {}).get("total") or 0.0)
        total_seconds += seconds
        case = ET.SubElement(suite, "testcase", classname=f"httpboot.{row.get('arch', 'x86_64')}",
                             name=str(row["id"]), time=f"{seconds:.3f}")  # fmt: skip
        message = str(row.get("summary") or row.get("verdict"))
        if row.get("verdict") == "error" or row.get("error"):
            errors += 1
            ET.SubElement(case, "error", message=str(row.get("error") or message))
        elif not row.get("met_expectation"):
            failures += 1
            failure = ET.SubElement(case, "failure", message=message)
            failure.text = "\n".join(row.get("console_tail") or [])
        properties = ET.SubElement(case, "properties")
        for key in ("verdict", "phase", "expected", "accel", "artifacts"):
            ET.SubElement(properties, "property", name=key, value=str(row.get(key)))
    check = ET.SubElement(suite, "testcase", classname="httpboot", name=MERGE_CHECK, time="0")
    if problems:
        failures += 1
        failure = ET.SubElement(check, "failure", message=f"{len(problems)} problem(s)")
        failure.text = "\n".join(problems)
    suite.set("tests", str(len(rows) + 1))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("time", f"{total_seconds:.3f}")
    return suite


def write_junit(
    path: Path, rows: Sequence[Mapping[str, Any]], *, problems: Sequence[str] = ()
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_tree(rows, problems=problems))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
