"""``compare`` through the real command: the host's Debian 12 OVMF and Debian 13's (unpacked
into the project's cache, nothing installed) on one case, in one run, one table."""

from __future__ import annotations

import json
from pathlib import Path

from httpboot_harness.package_cache import fetch_package

from .private_temp import harness, temp

__all__ = ["temp"]  # the fixture, used by name

BOOKWORM = "/usr/share/OVMF/OVMF_CODE_4M.fd,/usr/share/OVMF/OVMF_VARS_4M.fd"


def test_compare_runs_one_case_on_two_builds_and_writes_the_table(temp: Path) -> None:
    ovmf = fetch_package("ovmf", "trixie")
    (code,) = ovmf.find("OVMF_CODE_4M.fd")
    (template,) = ovmf.find("OVMF_VARS_4M.fd")
    report, page, artifacts = temp / "compare.json", temp / "compare.html", temp / "artifacts"
    done = harness(
        temp, "compare", "ipv4-http-preset", "--jobs", "2", "--artifacts", str(artifacts),
        "--firmware", f"d12={BOOKWORM}", "--firmware", f"d13={code},{template}",
        "--json", str(report), "--html", str(page), timeout=600,
    )  # fmt: skip
    assert done.code == 0, done.stdout + done.stderr
    document = json.loads(report.read_text())
    rows = document["cases"]
    assert [(r["id"], r["firmware_label"]) for r in rows] == [
        ("ipv4-http-preset", "d12"),
        ("ipv4-http-preset", "d13"),
    ]
    assert all(r["verdict"] == "booted" and r["met_expectation"] for r in rows)
    assert [b["label"] for b in document["builds"]] == ["d12", "d13"]
    assert "trixie" in rows[1]["firmware"]
    assert "trixie" not in rows[0]["firmware"]
    for label in ("d12", "d13"):
        assert (artifacts / label / "ipv4-http-preset" / "verdict.json").is_file()
    table = done.stdout[done.stdout.index("\ncase ") + 1 :].splitlines()
    assert table[0].split() == ["case", "d12", "d13"]
    assert table[2].startswith("ipv4-http-preset  booted ")
    html = page.read_text()
    assert "<table id='compare'>" in html
    assert "<th>d12</th><th>d13</th>" in html
    assert html.count("data-firmware='d13'>booted ") == 1
