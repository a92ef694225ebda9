"""Network events from recorded captures, and the merged timeline."""

from __future__ import annotations

from pathlib import Path

from httpboot_harness.netcapture import NetEvent, dhcp6_options, read_capture
from httpboot_harness.phases import console_marks
from httpboot_harness.timeline import build_timeline, format_timeline


def names(events: list[NetEvent], kind: str) -> list[str]:
    return [e.what for e in events if e.kind == kind]


def test_ipv4_capture_shows_the_dhcp_exchange_with_httpclient(recorded: Path) -> None:
    events = read_capture(recorded / "captures" / "ipv4-http.pcap", origin_wall=0)
    assert names(events, "dhcp4")[:4] == [
        "DHCPv4 DISCOVER", "DHCPv4 OFFER", "DHCPv4 REQUEST", "DHCPv4 ACK",
    ]  # fmt: skip
    offer = next(e for e in events if e.what == "DHCPv4 OFFER")
    assert "vendor class HTTPClient" in offer.detail
    assert offer.detail.endswith("boot file http://www.httpboot.local/ipv4-http/bootx64.efi")
    assert "DNS answer" in names(events, "dns")
    assert names(events, "http") == ["HEAD", "HTTP 200", "GET", "HTTP 200"]
    assert names(events, "download") == ["last byte"]
    times = [e.seconds for e in events]
    assert times == sorted(times)


def test_ipv6_capture_shows_adverts_dad_and_dhcpv6(recorded: Path) -> None:
    events = read_capture(recorded / "captures" / "ipv6-http.pcap", origin_wall=0)
    dhcp6 = names(events, "dhcp6")
    assert dhcp6[:4] == ["DHCPv6 SOLICIT", "DHCPv6 ADVERTISE", "DHCPv6 REQUEST", "DHCPv6 REPLY"]
    assert "router advertisement" in names(events, "ra")
    assert any("2001:db8:f00f:cafe::42:" in e.detail for e in events if e.kind == "dad")
    assert names(events, "dns")[:2] == ["DNS query", "DNS answer"]
    assert "TCP connected" in names(events, "tcp")


def test_a_missing_capture_gives_no_events(tmp_path: Path) -> None:
    assert read_capture(tmp_path / "absent.pcap", origin_wall=0) == []


def test_dhcpv6_options_are_read_as_type_length_value() -> None:
    payload = bytes([2, 0, 0, 1]) + b"\x00\x3b\x00\x03abc" + b"\x00\x10\x00\x02xy"
    assert dhcp6_options(payload) == {59: b"abc", 16: b"xy"}


def test_timeline_merges_sources_in_time_order() -> None:
    arrivals = {">>Start HTTP Boot over IPv4": 5.7, "PROOF x": 9.1}
    events = build_timeline(
        harness_marks={"firmware reached the boot option (entry chosen)": 5.6},
        console_arrival=arrivals.get,
        marks=(*console_marks(), ("PROOF x", "image output (the proof line)")),
        network=[NetEvent(5.8, "dhcp4", "DHCPv4 DISCOVER")],
        qmp=[(9.2, "QMP SHUTDOWN", "guest")],
    )
    assert [e.source for e in events] == ["harness", "console", "network", "console", "qmp"]
    text = format_timeline(events)
    assert (
        text.splitlines()[1]
        == "   5.700 s  console  firmware starts HTTP boot over IPv4  (>>Start HTTP Boot over IPv4)"
    )
