"""The seed HOWTO's other scenarios: case ids, URLs, and verdicts from recorded real runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import ALL_CASES, DEFAULT_MATRIX, SEED_SCENARIOS, Case, case_by_id
from httpboot_harness.evidence import judge
from httpboot_harness.network import Addressing
from httpboot_harness.ovmf_menu import edit_box_text, field_value
from httpboot_harness.services.dhcpd4 import parse_isc_dhcpd4
from httpboot_harness.services.dnsmasq import parse_tftp_log

from .recorded_runs import load


def test_seed_scenarios_have_stable_unique_ids() -> None:
    assert [c.id for c in SEED_SCENARIOS] == [
        "ipv4-http-literal",
        "ipv6-http-literal",
        "ipv4-http-iso",
        "ipv6-http-iso",
        "ipv6-http-dhcp6-string",
        "ipv6-http-dhcp6-classes",
        "ipv6-http-dhcp6-arch",
        "pxe-ipv4",
        "pxe-ipv6",
        "ipv4-http-uri",
        "ipv4-http-iso-uri",
        "ipv4-http-preset",
        "ipv6-http-uri",
        "ipv6-http-preset",
    ]
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)
    assert ALL_CASES[: len(DEFAULT_MATRIX)] == DEFAULT_MATRIX


@pytest.mark.parametrize("case", ALL_CASES, ids=str)
def test_every_case_id_parses_back(case: Case) -> None:
    assert case_by_id(case.id) is case


def test_markers_name_the_scenario() -> None:
    assert case_by_id("ipv6-http-iso").markers == ("ipv6", "http", "iso", "x86_64")
    assert case_by_id("pxe-ipv4").markers == ("ipv4", "pxe", "x86_64")
    assert "dhcp6_variants" in case_by_id("ipv6-http-dhcp6-arch").markers
    assert "uri" in case_by_id("ipv4-http-preset").markers
    pxe6 = case_by_id("pxe-ipv6")
    assert pxe6.source.entry_label(pxe6) == "UEFI PXEv6"


@pytest.mark.parametrize(
    ("case_id", "image_path", "boot_url"),
    [
        ("ipv4-http", "/ipv4-http/bootx64.efi", "http://www.httpboot.local/ipv4-http/bootx64.efi"),
        (
            "ipv4-http-literal",
            "/ipv4-http-literal/bootx64.efi",
            "http://192.168.111.1/ipv4-http-literal/bootx64.efi",
        ),
        (
            "ipv6-http-literal",
            "/ipv6-http-literal/bootx64.efi",
            "http://[2001:db8:f00f:cafe::1]/ipv6-http-literal/bootx64.efi",
        ),
        (
            "ipv4-http-iso",
            "/ipv4-http-iso/boot.iso",
            "http://www.httpboot.local/ipv4-http-iso/boot.iso",
        ),
        ("pxe-ipv4", "pxe-ipv4/bootx64.efi", "pxe-ipv4/bootx64.efi"),
        ("pxe-ipv6", "pxe-ipv6/bootx64.efi", "tftp://[2001:db8:f00f:cafe::1]/pxe-ipv6/bootx64.efi"),
    ],
)
def test_boot_locations_follow_the_seed(case_id: str, image_path: str, boot_url: str) -> None:
    where = case_by_id(case_id).locations(Addressing())
    assert (where.image_path, where.boot_url) == (image_path, boot_url)


@pytest.mark.parametrize(
    "name",
    [
        "pxe-ipv4",
        "pxe-ipv6",
        "ipv4-http-literal",
        "ipv4-http-iso",
        "ipv4-http-uri",
        "apache2-ipv6-https",
        "isc-ipv4-http",
    ],
)
def test_recorded_scenario_boots_with_every_phase_proven(recorded: Path, name: str) -> None:
    judgement = judge(load(recorded, name))
    assert judgement.verdict == "booted", judgement.summary
    assert list(judgement.proven)[-2:] == ["image", "poweroff"]


def test_pxe_download_is_proven_by_the_tftp_log(recorded: Path) -> None:
    judgement = judge(load(recorded, "pxe-ipv6"))
    assert judgement.proven["download"].startswith("dnsmasq-tftp: sent ")
    assert "to 2001:db8:f00f:cafe::42:" in judgement.proven["download"]
    assert "PXEClient offer tftp://" in judgement.proven["dhcp"]


def test_tftp_log_lines_parse_and_aborted_transfers_do_not_count(recorded: Path) -> None:
    records = parse_tftp_log((recorded / "pxe-ipv4/dnsmasq/dnsmasq.log").read_text())
    assert records
    assert all(r.path.endswith("/pxe-ipv4/bootx64.efi") for r in records)
    assert {r.client for r in records} == {"192.168.111.102"}


def test_pxe_without_the_tftp_transfer_fails_at_download(recorded: Path) -> None:
    ev = load(recorded, "pxe-ipv4")
    servers = dataclasses.replace(ev.servers, tftp=[])
    judgement = judge(dataclasses.replace(ev, servers=servers))
    assert (judgement.verdict, judgement.phase) == ("failed", "download")


def test_literal_url_needs_no_dns_and_a_query_breaks_the_claim(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-literal")
    assert judge(ev).proven["dns"].startswith("no DNS needed: the URL names 192.168.111.1")
    queried = dataclasses.replace(
        ev.servers, dns_queries=[("A", "www.httpboot.local", "192.168.111.102")]
    )
    judgement = judge(dataclasses.replace(ev, servers=queried))
    assert judgement.phase == "dns"


def test_plain_string_dhcp6_vendor_class_is_ignored_by_this_ovmf(recorded: Path) -> None:
    """The seed's form for older firmware: the server advertises, the client never requests."""
    judgement = judge(load(recorded, "ipv6-http-dhcp6-string"))
    assert (judgement.verdict, judgement.phase) == ("refused", "dhcp")
    assert "Remote boot cancelled." in judgement.summary


def test_uri_case_proves_an_address_without_a_boot_file(recorded: Path) -> None:
    judgement = judge(load(recorded, "ipv4-http-uri"))
    assert "no boot file" in judgement.proven["dhcp"]
    assert "Boot URI" in judgement.proven["boot-entry"]


def test_isc_dhcpd4_log_gives_the_ack_and_the_class_offer(recorded: Path) -> None:
    exchanges = parse_isc_dhcpd4((recorded / "isc-ipv4-http/dhcpd4/dhcpd4.log").read_text())
    assert [(e.messages[-1], e.mac) for e in exchanges] == [("DHCPACK", "52:54:00:12:34:56")]
    assert exchanges[0].vendor_class_sent
    assert exchanges[0].bootfile == "http://www.httpboot.local/ipv4-http/bootx64.efi"


def test_apache_access_log_has_the_lighttpd_shape(recorded: Path) -> None:
    judgement = judge(load(recorded, "apache2-ipv6-https"))
    assert "port 443" in judgement.proven["download"]
    assert "request(s) over TLS" in judgement.proven["tls"]


def test_form_values_are_read_from_recorded_screens(recorded: Path) -> None:
    screens = recorded / "ipv4-http-uri" / "screens"
    before = (screens / "http-boot-configuration.txt").read_text()
    after = (screens / "boot-uri.txt").read_text()
    assert field_value(before, "Input the description") == "UEFI HTTP"
    assert field_value(after, "Input the description") == "HBH-URI-BOOT"
    # The value column wraps; its first line is a prefix of the typed URL, help text cut off.
    assert field_value(after, "Boot URI") == "http://www.httpboot.local/"


def test_edit_box_text_is_the_line_under_its_title() -> None:
    screen = (
        "  \u2502                Please type in your data                \u2502\n"
        "  \u2502UEFI HTTP                                               \u2502\n"
    )
    assert edit_box_text(screen) == "UEFI HTTP"
    assert edit_box_text("no box here\n") == ""
