"""The parts the judge reads: console facts, the server logs of a case folder, the evidence's
filters (family, port, captured events)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.evidence import ServerLogs, parse_console
from httpboot_harness.netcapture import NetEvent
from httpboot_harness.phases import family_of

from .recorded_runs import load


def test_console_facts_of_a_recorded_http_boot(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    facts = ev.console
    assert facts.station_address == "192.168.111.102"
    assert facts.file_size == 167936
    assert facts.download_complete
    assert not facts.nbp_downloaded
    assert facts.proof_seen
    assert facts.firmware_errors == ()
    assert facts.security_violation is None


def test_console_facts_of_a_recorded_ipv6_and_pxe_boot(recorded: Path) -> None:
    assert load(recorded, "ipv6-https").console.station_address == "2001:DB8:F00F:CAFE:0:0:42:98"
    pxe = load(recorded, "pxe-ipv4").console
    assert pxe.nbp_downloaded
    assert not pxe.download_complete


@pytest.mark.parametrize(
    ("text", "station"),
    [
        ("  Station IP address is 192.168.111.102\n", "192.168.111.102"),
        ("  Station IPv6 address is 2001:DB8::42\n", "2001:DB8::42"),
        ("  Station IP address is 2001:db8::9\n", "2001:db8::9"),
        ("no address here\n", None),
    ],
)
def test_console_station_address(text: str, station: str | None) -> None:
    assert parse_console(text, "proof").station_address == station


def test_console_file_size_and_download_lines() -> None:
    facts = parse_console("  File Size: 3325952 Bytes\n  Downloading...99%\n", "proof")
    assert facts.file_size == 3325952
    assert not facts.download_complete
    assert parse_console("File Size: none\n", "proof").file_size is None
    assert parse_console("  Downloading...100%\n", "proof").download_complete
    assert parse_console("  NBP file downloaded successfully.\n", "proof").nbp_downloaded


def test_console_proof_is_the_exact_line() -> None:
    assert parse_console("HTTPBOOT-PROOF a 1234\n", "HTTPBOOT-PROOF a 1234").proof_seen
    assert not parse_console("HTTPBOOT-PROOF a 1235\n", "HTTPBOOT-PROOF a 1234").proof_seen


def test_console_errors_are_kept_once_each_in_order() -> None:
    text = (
        "  Error: Could not retrieve NBP file size from HTTP server.\n"
        "ok line\n"
        "  PXE-E16: Failed to boot\n"
        "  Error: Could not retrieve NBP file size from HTTP server.\n"
        "  failed to load Boot0001\n"
        "  Error: Remote boot cancelled.\n"
        "  An error: not a firmware error line\n"
    )
    assert parse_console(text, "proof").firmware_errors == (
        "Error: Could not retrieve NBP file size from HTTP server.",
        "PXE-E16: Failed to boot",
        "failed to load Boot0001",
        "Error: Remote boot cancelled.",
    )


@pytest.mark.parametrize(
    "words", ["Access Denied", "Security Violation", "ACCESS_DENIED", "SECURITY_VIOLATION"]
)
def test_console_security_violation_words(words: str) -> None:
    facts = parse_console(f"BdsDxe: failed to load Boot0001: {words}\n", "proof")
    assert facts.security_violation is not None
    assert words.startswith(facts.security_violation)


def test_server_logs_of_a_case_folder(recorded: Path) -> None:
    logs = ServerLogs.from_case_dir(recorded / "ipv4-http")
    assert [(r.method, r.status) for r in logs.access] == [("HEAD", 200), ("GET", 200)]
    assert [x.messages[-1] for x in logs.dhcp4] == ["DHCPACK"]
    assert ("A", "www.httpboot.local", "192.168.111.102") in logs.dns_queries
    assert logs.tls_errors == []
    assert logs.tftp == []


def test_server_logs_read_apache2_isc_dhcpd_and_tftp(recorded: Path) -> None:
    apache = ServerLogs.from_case_dir(recorded / "apache2-ipv6-https")
    assert [r.port for r in apache.access] == [443, 443]
    isc = ServerLogs.from_case_dir(recorded / "isc-ipv4-http")
    assert [x.xid for x in isc.dhcp4 if x.xid.startswith("isc-")] == ["isc-0"]
    assert ServerLogs.from_case_dir(recorded / "pxe-ipv4").tftp


def test_server_logs_of_an_empty_folder_are_empty(tmp_path: Path) -> None:
    logs = ServerLogs.from_case_dir(tmp_path)
    assert (logs.access, logs.dhcp4, logs.dns_queries, logs.tls_errors, logs.tftp) == (
        [],
        [],
        [],
        [],
        [],
    )
    assert logs.dhcp6.replies == ()
    assert logs.dhcp6.offers == ()


def test_logs_with_bytes_that_are_not_utf8_are_read(recorded: Path, tmp_path: Path) -> None:
    """A daemon may log raw bytes (a client's vendor class, a host name): they are replaced."""
    for relative in ("dnsmasq/dnsmasq.log", "dhcpd6/dhcpd6.log"):
        source = recorded / "ipv6-https" / relative
        (tmp_path / relative).parent.mkdir(parents=True)
        (tmp_path / relative).write_bytes(b"garbage \xff\xfe\n" + source.read_bytes())
    logs = ServerLogs.from_case_dir(tmp_path)
    assert logs.dhcp6.replies
    assert logs.dns_queries


def test_requests_on_keeps_the_port_and_the_family(recorded: Path) -> None:
    ev = load(recorded, "ipv6-https")
    assert len(ev.requests_on(443)) == 2
    assert ev.requests_on(80) == []
    moved = dataclasses.replace(ev.access[0], client="192.168.111.102")
    other = dataclasses.replace(ev, servers=dataclasses.replace(ev.servers, access=[moved]))
    assert other.requests_on(443) == []


def test_net_selects_events_by_prefix(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-capture")
    assert [e.what for e in ev.net("DHCPv4 ")] == [
        "DHCPv4 DISCOVER",
        "DHCPv4 OFFER",
        "DHCPv4 REQUEST",
        "DHCPv4 ACK",
    ]
    assert all(e.what.startswith("TCP") for e in ev.net("TCP"))
    assert load(recorded, "ipv4-http").net("DHCPv4") == []
    one = NetEvent(1.0, "dns", "DNS answer", "A x: 1 record(s)")
    assert dataclasses.replace(ev, network=[one]).net("DNS answer") == [one]


def test_offered_url_defaults_to_the_boot_url(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    assert ev.offered_url == ev.boot_url
    assert dataclasses.replace(ev, offered_url="http://x/y").offered_url == "http://x/y"


@pytest.mark.parametrize(
    ("address", "family"),
    [
        ("192.168.111.102", "ipv4"),
        ("2001:db8::1", "ipv6"),
        ("[2001:db8::1]", "ipv6"),
        ("::ffff:192.168.111.102", "ipv4"),
        ("www.httpboot.local", None),
        ("", None),
    ],
)
def test_family_of(address: str, family: str | None) -> None:
    assert family_of(address) == family
