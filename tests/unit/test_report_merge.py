"""report merge: one report from the shards', with duplicates and missing cases or shards named."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from httpboot_harness.cli import main
from httpboot_harness.junit import MERGE_CHECK
from tests.unit.report_rows import default_rows


def write(path: Path, rows: list[dict[str, Any]], shard: str | None, selected: list[str]) -> Path:
    path.write_text(json.dumps({"version": 1, "cases": rows, "selected": selected,
                                "shard": shard}))  # fmt: skip
    return path


def shards(tmp_path: Path) -> tuple[Path, Path]:
    a, b, c = default_rows()
    return (
        write(tmp_path / "1.json", [a, c], "1/2", [a["id"], c["id"]]),
        write(tmp_path / "2.json", [b], "2/2", [b["id"]]),
    )


def test_two_shards_merge_into_every_case_with_junit_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = shards(tmp_path)
    out, junit, page = tmp_path / "all.json", tmp_path / "all.xml", tmp_path / "report.html"
    code = main(["report", "merge", str(first), str(second), "-o", str(out),
                 "--junit", str(junit), "--html", str(page)])  # fmt: skip
    assert code == 0, capsys.readouterr()
    merged = json.loads(out.read_text())
    assert [c["id"] for c in merged["cases"]] == sorted(r["id"] for r in default_rows())
    assert merged["problems"] == []
    assert merged["merged_from"] == [str(first), str(second)]
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "0"
    names = {case.get("name") for case in suite.iter("testcase")}
    assert names == {*(r["id"] for r in default_rows()), MERGE_CHECK}
    assert page.read_text().count("data-case=") == 3


def test_a_missing_shard_and_a_duplicate_are_named_and_exit_125(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _second = shards(tmp_path)
    out, junit = tmp_path / "all.json", tmp_path / "all.xml"
    code = main(["report", "merge", str(first), str(first), "-o", str(out), "--junit", str(junit)])
    assert code == 125
    err = capsys.readouterr().err
    assert "missing: no report from shard 2/2" in err
    assert f"duplicate: ipv6-https is in {first} and in {first}" in err
    assert f"duplicate: shard 1/2 is in {first} and {first}" in err
    problems = json.loads(out.read_text())["problems"]
    assert len(problems) == 4  # two duplicate cases, the duplicate shard, the missing shard
    cases = ET.parse(junit).getroot().iter("testcase")
    check = next(c for c in cases if c.get("name") == MERGE_CHECK)
    assert check.find("failure") is not None


def test_a_selected_case_without_a_result_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _b, _c = default_rows()
    lone = write(tmp_path / "lone.json", [a], None, [a["id"], "ipv4-http"])
    assert main(["report", "merge", str(lone), "-o", str(tmp_path / "o.json")]) == 125
    assert "missing: ipv4-http was selected in" in capsys.readouterr().err


def test_a_case_not_as_expected_exits_1(tmp_path: Path) -> None:
    a, _b, _c = default_rows()
    a.update(verdict="failed", phase="dns", met_expectation=False)
    report = write(tmp_path / "r.json", [a], None, [a["id"]])
    junit = tmp_path / "r.xml"
    assert main(["report", "merge", str(report), "--junit", str(junit)]) == 1
    assert ET.parse(junit).getroot().get("failures") == "1"


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "is not JSON"), ('{"version": 7, "cases": []}', "is not a version 1"),
     ('{"version": 1, "cases": [{"x": 1}]}', "no list of cases with ids")],
)  # fmt: skip
def test_an_input_that_is_no_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out.json"
    assert main(["report", "merge", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = shards(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["report", "merge", str(first), "-o", str(blocker / "all.json")]) == 2
    assert capsys.readouterr().err.startswith(f"httpboot-harness: cannot write {blocker}")


def test_merge_with_nothing_to_write_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = shards(tmp_path)
    assert main(["report", "merge", str(first)]) == 2
    assert "give -o FILE.json, --junit or --html" in capsys.readouterr().err
