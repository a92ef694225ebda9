"""Shards, merge and the HTML report end to end, through the real command and a real browser.

The default matrix runs once whole (two jobs at a time; every case as expected, each with its
verdict.json: what ``test_cli``'s two-jobs test checks) and once as two shards balanced by the
whole run's durations; the shards' reports are merged with JUnit XML and the HTML page, and the
merge must hold the same cases with the same verdicts as the whole run. Headless Chromium then
renders the page: every case's row and the timeline SVG must be in the rendered DOM, and a
screenshot is kept beside the page (``report.png``) for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

HARNESS = [sys.executable, "-m", "httpboot_harness"]
BROWSER_SECONDS = 120


def harness(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARNESS, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )


def verdicts(report: Path) -> dict[str, tuple[str, str | None]]:
    return {c["id"]: (c["verdict"], c["phase"]) for c in json.loads(report.read_text())["cases"]}


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    assert browser, "chromium is missing: tools/install-system-packages installs it"
    return subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True, text=True, timeout=BROWSER_SECONDS, check=False,
    )  # fmt: skip


class _Rendered(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.failing: list[str] = []
        self.svgs = 0
        self.svg_text: list[str] = []
        self._in_svg_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found: dict[str, Any] = dict(attrs)
        if tag == "tr" and found.get("data-case"):
            self.rows.append(found["data-case"])
        if found.get("data-failing-case"):
            self.failing.append(found["data-failing-case"])
        self.svgs += tag == "svg"
        self._in_svg_text = tag == "text"

    def handle_data(self, data: str) -> None:
        if self._in_svg_text:
            self.svg_text.append(data)


def test_two_shards_merged_equal_the_whole_run_and_the_page_renders(tmp_path: Path) -> None:
    whole = tmp_path / "whole.json"
    done = harness("matrix", "--jobs", "1", "--artifacts", tmp_path / "whole", "--json", whole)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5/5 done, " in done.stdout  # the overall progress line
    rows = json.loads(whole.read_text())["cases"]
    assert all(row["met_expectation"] for row in rows)
    for row in rows:
        assert (tmp_path / "whole" / row["id"] / "verdict.json").is_file()

    runs = tmp_path / "shards"
    reports = []
    for index in (1, 2):
        report = runs / f"shard-{index}.json"
        done = harness("matrix", "--shard", f"{index}/2", "--durations-from", whole,
                       "--jobs", "1", "--artifacts", runs, "--json", report)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "left" in done.stdout  # the estimate, from the whole run's durations
        reports.append(report)
    first, second = (set(verdicts(r)) for r in reports)
    assert first
    assert second
    assert not first & second

    merged, junit, page = runs / "all.json", runs / "all.xml", runs / "report.html"
    done = harness("report", "merge", *reports, "-o", merged, "--junit", junit, "--html", page)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(merged) == verdicts(whole)
    assert json.loads(merged.read_text())["problems"] == []
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "0")

    shown = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    rendered = _Rendered()
    rendered.feed(shown.stdout)
    assert sorted(rendered.rows) == sorted(verdicts(whole))
    assert rendered.svgs >= 1
    assert set(verdicts(whole)) <= set(rendered.svg_text)  # each case labels its bar
    not_booted = {c for c, (verdict, _) in verdicts(whole).items() if verdict != "booted"}
    assert set(rendered.failing) == not_booted

    picture = runs / "report.png"
    shot = chromium(f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1800",
                    f"--screenshot={picture}", page.as_uri())  # fmt: skip
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert picture.read_bytes().startswith(b"\x89PNG")
