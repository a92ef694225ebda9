"""The verdict from recorded real runs, and what it says when one link of the proof is missing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import DEFAULT_MATRIX
from httpboot_harness.evidence import judge, parse_console
from httpboot_harness.payload import PROOF_PREFIX
from httpboot_harness.services.dhcpd6 import parse_dhcpd6
from httpboot_harness.services.dnsmasq import parse_dnsmasq_dhcp
from httpboot_harness.services.lighttpd import parse_access_log

from .recorded_runs import IMAGE_SIZE, load


@pytest.mark.parametrize("name", ["ipv4-http", "ipv6-https"])
def test_recorded_boot_is_booted_with_every_phase_proven(recorded: Path, name: str) -> None:
    judgement = judge(load(recorded, name))
    assert judgement.verdict == "booted", judgement.summary
    assert judgement.phase is None
    assert "GET" in judgement.proven["download"]
    assert "guest-shutdown" in judgement.proven["poweroff"]


def test_ipv6_boot_is_proven_by_the_dhcpv6_reply_and_an_ipv6_client(recorded: Path) -> None:
    judgement = judge(load(recorded, "ipv6-https"))
    assert judgement.proven["dhcp"].startswith("dhcpd6: Reply NA 2001:db8:f00f:cafe::42:")
    assert "AAAA www.httpboot.local" in judgement.proven["dns"]
    assert "port 443" in judgement.proven["download"]


def test_untrusted_https_is_refused_at_tls(recorded: Path) -> None:
    judgement = judge(load(recorded, "ipv4-https-untrusted"))
    assert judgement.verdict == "refused"
    assert judgement.phase == "tls"
    assert "Could not retrieve NBP file size" in judgement.summary
    assert "download" not in judgement.proven


def test_no_shared_cipher_is_refused_at_tls_with_the_servers_words(recorded: Path) -> None:
    judgement = judge(load(recorded, "no-shared-cipher"))
    assert (judgement.verdict, judgement.phase) == ("refused", "tls")
    assert "no shared cipher" in judgement.summary


def test_a_boot_without_the_get_in_the_access_log_fails_at_download(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    servers = dataclasses.replace(ev.servers, access=[r for r in ev.access if r.method != "GET"])
    judgement = judge(dataclasses.replace(ev, servers=servers))
    assert (judgement.verdict, judgement.phase) == ("failed", "download")


def test_a_short_download_is_not_a_download(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    judgement = judge(dataclasses.replace(ev, image_size=IMAGE_SIZE + 1))
    assert judgement.phase == "download"


def test_a_different_nonce_means_the_image_did_not_run(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    other = f"{PROOF_PREFIX} ipv4-http 0000000000000000"
    console = parse_console((recorded / "ipv4-http" / "console.txt").read_text(), other)
    judgement = judge(dataclasses.replace(ev, console=console, proof_line=other))
    assert (judgement.verdict, judgement.phase) == ("failed", "image")


def test_a_reset_instead_of_power_off_fails_at_poweroff(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    judgement = judge(
        dataclasses.replace(ev, shutdown_event={"guest": True, "reason": "guest-reset"})
    )
    assert (judgement.verdict, judgement.phase) == ("failed", "poweroff")


def test_the_right_logs_for_the_wrong_family_prove_nothing(recorded: Path) -> None:
    """An IPv4 download does not prove an IPv6 case."""
    ipv6_case = next(c for c in DEFAULT_MATRIX if c.id == "ipv6-http")
    judgement = judge(load(recorded, "ipv4-http", case=ipv6_case))
    assert judgement.verdict != "booted"
    assert judgement.phase == "dhcp"


def test_access_log_lines_parse_into_records(recorded: Path) -> None:
    records = parse_access_log((recorded / "ipv6-https/lighttpd/access.log").read_text())
    assert [(r.method, r.status, r.port) for r in records] == [
        ("HEAD", 200, 443),
        ("GET", 200, 443),
    ]
    assert records[1].agent == "UefiHttpBoot/1.0"
    assert records[1].bytes == IMAGE_SIZE


def test_dnsmasq_exchange_carries_vendor_class_and_boot_file(recorded: Path) -> None:
    exchanges = parse_dnsmasq_dhcp((recorded / "ipv4-http/dnsmasq/dnsmasq.log").read_text())
    acked = [e for e in exchanges if "DHCPACK" in e.messages]
    assert acked
    assert acked[0].vendor_class_sent
    assert acked[0].bootfile == "http://www.httpboot.local/ipv4-http/bootx64.efi"
    assert acked[0].mac == "52:54:00:12:34:56"


def test_dhcpd6_log_lists_offers_and_replies(recorded: Path) -> None:
    log = parse_dhcpd6((recorded / "ipv6-https/dhcpd6/dhcpd6.log").read_text())
    assert ("HTTPClient", "https://www.httpboot.local/ipv6-https/bootx64.efi") in log.offers
    assert [kind for kind, _ in log.replies] == ["Advertise", "Reply"]


def test_console_facts_of_a_refusal(recorded: Path) -> None:
    facts = parse_console((recorded / "ipv4-https-untrusted/console.txt").read_text(), "x")
    assert facts.station_address == "192.168.111.102"
    assert "Error: Could not retrieve NBP file size from HTTP server." in facts.firmware_errors
    assert not facts.download_complete
