"""The boot's pieces are named for what was being done, and the HTML page holds every case."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from httpboot_harness.html_report import render_html
from httpboot_harness.segments import find_milestones, row_segments, segments
from tests.unit.report_rows import IPV6_HTTPS_TIMELINE, default_rows, row


def test_ipv6_address_configuration_is_not_called_dns() -> None:
    pieces = {p.activity: round(p.seconds, 2) for p in row_segments(row("ipv6-https",
              IPV6_HTTPS_TIMELINE))}  # fmt: skip
    assert pieces["address configuration"] == 2.1  # DHCPv6 REPLY 6.0 -> DNS query 8.1
    assert pieces["DNS"] == 0.1
    assert pieces["TLS handshake and HEAD"] == 1.6
    assert pieces["firmware start and boot menu"] == 4.2
    assert list(pieces)[-1] == "image run to power-off"


def test_a_preset_boot_without_menu_walk_names_its_first_piece_for_all_it_spans() -> None:
    (first, *_rest) = row_segments(default_rows()[1])
    assert first.activity == "firmware start and boot menu + network start"
    assert (first.start, first.end) == (0.0, 3.0)


def test_a_refused_boot_ends_in_the_piece_where_it_stopped() -> None:
    pieces = row_segments(default_rows()[2])
    assert pieces[-1].failed
    assert pieces[-1].activity == "stopped at tls"
    assert (pieces[-1].start, pieces[-1].end) == (5.8, 7.5)
    assert not any(p.failed for p in pieces[:-1])


def test_the_harness_piece_follows_the_power_off_when_the_total_is_given() -> None:
    marks = find_milestones(row("ipv6-https", IPV6_HTTPS_TIMELINE)["timeline"])
    last = segments(marks, tls=True, total=20.0)[-1]
    assert (last.activity, last.start, last.end) == ("harness setup and teardown", 12.3, 20.0)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_has_a_row_per_case_an_svg_and_details_of_what_did_not_boot(
    tmp_path: Path,
) -> None:
    rows = default_rows()
    page = render_html(rows, tmp_path / "report.html")
    parsed = _Collect()
    parsed.feed(page)
    case_rows = [str(a["data-case"]) for t, a in parsed.tags if t == "tr" and "data-case" in a]
    assert sorted(case_rows) == sorted(r["id"] for r in rows)
    details = [a["data-failing-case"] for t, a in parsed.tags if "data-failing-case" in a]
    assert details == ["ipv4-https-untrusted"]
    assert "SSL: alert unknown ca &lt;&amp;&gt;" in page  # log lines escaped
    assert "<a href='ipv4-https-untrusted/console.txt'>" in page
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    ET.fromstring(svg)  # well-formed
    for label in ("address configuration", "stopped at tls", "ipv4-http-preset"):
        assert label in svg
    assert "until" not in svg


def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    page = render_html(default_rows(), tmp_path / "report.html")
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "<script" not in page
    assert "<link" not in page


def test_an_artifacts_folder_that_exists_is_linked_relative_to_the_page(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "ipv4-https-untrusted"
    folder.mkdir(parents=True)
    rows = default_rows()
    rows[2]["artifacts"] = str(folder)
    page = render_html(rows, tmp_path / "pages" / "report.html")
    assert "href='../run/ipv4-https-untrusted/console.txt'" in page


def test_problems_are_shown_at_the_top(tmp_path: Path) -> None:
    page = render_html(default_rows(), tmp_path / "r.html", problems=["missing: shard 2/2"])
    assert page.index("missing: shard 2/2") < page.index("<table")


def test_each_row_names_its_firmware(tmp_path: Path) -> None:
    rows = default_rows()
    rows[0] = dict(rows[0], firmware_version="edk2 2026.08 (ovmf-generic 2026.08+ds-2)")
    page = render_html(rows, tmp_path / "report.html")
    cells = re.findall(r"<td class='firmware'>([^<]*)</td>", page)
    assert len(cells) == len(rows)
    assert "edk2 2026.08 (ovmf-generic 2026.08+ds-2)" in cells
    assert "-" in cells
