"""Every condition of every proof: break exactly that one in a recorded boot, and the judge stops
at its phase; keep the rest as recorded.

The recorded boots cover each kind of case: HTTP and HTTPS on both families (with and without a
capture), PXE over IPv4 and IPv6, IP-literal URLs, the typed Boot URI (DHCP gives an address
only), ISC dhcpd and apache2. Each test runs on every recorded boot its condition applies to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from httpboot_harness.cases import Dhcp, Preset, Pxe, TypedUri, case_by_id
from httpboot_harness.evidence import Evidence, judge, parse_console
from httpboot_harness.phases import family_of

from .judge_edits import (
    V4_CLIENT,
    V6_CLIENT,
    access,
    booted,
    console,
    dhcp4,
    dhcp6,
    events,
    network,
    other_family_client,
    servers,
    stop,
    the_get,
)
from .recorded_runs import load


def is_pxe(ev: Evidence) -> bool:
    return isinstance(ev.case.source, Pxe)


def is_http(ev: Evidence) -> bool:
    return not is_pxe(ev)


def offers_url(ev: Evidence) -> bool:
    return ev.case.source.offer is not None


def names_host(ev: Evidence) -> bool:
    """The URL names its host, so DNS must answer for it."""
    host = ev.boot_url.split("/")[2] if "://" in ev.boot_url else ""
    return is_http(ev) and family_of(host) is None


def v4(ev: Evidence) -> bool:
    return ev.case.family == "ipv4"


def v6(ev: Evidence) -> bool:
    return ev.case.family == "ipv6"


def captured(ev: Evidence) -> bool:
    return ev.network is not None


ALL = booted()
HTTP = booted(is_http)
PXE = booted(is_pxe)
DHCP4_OFFER = booted(lambda ev: v4(ev) and offers_url(ev))
DHCP4_HTTP_OFFER = booted(lambda ev: v4(ev) and is_http(ev) and offers_url(ev))
DHCP6_OFFER = booted(lambda ev: v6(ev) and offers_url(ev))
ADDRESS_ONLY = booted(lambda ev: not offers_url(ev))
NAMED = booted(names_host)
NAMED_CAPTURED = booted(lambda ev: names_host(ev) and captured(ev))
NAMED_UNCAPTURED = booted(lambda ev: names_host(ev) and not captured(ev))
LITERAL = booted(lambda ev: is_http(ev) and not names_host(ev))
PLAIN_HTTP = booted(lambda ev: is_http(ev) and ev.case.scheme == "http")
HTTPS = booted(lambda ev: ev.case.scheme == "https")


def dhcp6_form(ev: Evidence) -> str | None:
    return ev.case.source.dhcp6_vendor if isinstance(ev.case.source, Dhcp | Pxe) else None


def name_is_literal(ev: Evidence, version: int) -> bool:
    return is_http(ev) and not names_host(ev) and ev.case.family == f"ipv{version}"


KINDS: dict[str, list[str]] = {
    "pxe over ipv4": booted(lambda ev: is_pxe(ev) and v4(ev)),
    "pxe over ipv6, captured": booted(lambda ev: is_pxe(ev) and v6(ev) and captured(ev)),
    "https over ipv4": booted(lambda ev: ev.case.scheme == "https" and v4(ev)),
    "https over ipv6": booted(lambda ev: ev.case.scheme == "https" and v6(ev)),
    "http over ipv6 with a boot offer, captured": booted(
        lambda ev: v6(ev) and is_http(ev) and captured(ev) and offers_url(ev)
    ),
    "ip-literal url over ipv4": booted(lambda ev: name_is_literal(ev, 4)),
    "ip-literal url over ipv6": booted(lambda ev: name_is_literal(ev, 6)),
    "typed uri over ipv4": booted(lambda ev: not offers_url(ev) and v4(ev)),
    "typed uri over ipv6": booted(lambda ev: not offers_url(ev) and v6(ev)),
    "preset uri": booted(lambda ev: isinstance(ev.case.source, Preset)),
    "dhcp6 classes form": booted(lambda ev: dhcp6_form(ev) == "classes" and is_http(ev)),
    "dhcp6 arch form": booted(lambda ev: dhcp6_form(ev) == "arch"),
    "named host, captured": NAMED_CAPTURED,
    "named host, no capture": NAMED_UNCAPTURED,
    "isc dhcpd": booted(lambda ev: any(x.xid.startswith("isc-") for x in ev.servers.dhcp4)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_recorded_boots_cover_every_kind_of_case(kind: str) -> None:
    assert KINDS[kind], f"no recorded boot of the kind {kind!r}"


@pytest.mark.parametrize("name", ALL)
def test_each_recorded_boot_is_booted_as_recorded(recorded: Path, name: str) -> None:
    assert stop(load(recorded, name)) == ("booted", None)


# -- firmware, boot entry ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_no_firmware_output_stops_at_firmware(recorded: Path, name: str) -> None:
    ev = dataclasses.replace(load(recorded, name), firmware_output=False)
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("failed", "firmware")
    assert judgement.proven == {}
    proof = judge(load(recorded, name)).proven["firmware"]
    assert proof == "the firmware drew its screens on the serial line"


@pytest.mark.parametrize("name", ALL)
def test_an_entry_never_reached_stops_at_boot_entry(recorded: Path, name: str) -> None:
    judgement = judge(dataclasses.replace(load(recorded, name), reached_boot_entry=False))
    assert (judgement.verdict, judgement.phase) == ("failed", "boot-entry")
    assert list(judgement.proven) == ["firmware"]


# -- DHCPv4 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", booted(v4))
def test_dhcpv4_without_an_ack_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert stop(dhcp4(ev, messages=("DHCPDISCOVER", "DHCPOFFER"))) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(v4))
def test_dhcpv4_ack_to_another_station_address_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert ev.console.station_address is not None
    assert stop(dhcp4(ev, address="192.168.111.119")) == ("failed", "dhcp")
    assert stop(console(ev, station_address="192.168.111.119")) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(v4))
def test_dhcpv4_ack_proves_when_the_console_lost_the_station_line(
    recorded: Path, name: str
) -> None:
    assert stop(console(load(recorded, name), station_address=None)) == ("booted", None)


@pytest.mark.parametrize("name", DHCP4_OFFER)
def test_dhcpv4_ack_with_another_boot_file_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert stop(dhcp4(ev, bootfile=ev.boot_url + ".old")) == ("failed", "dhcp")
    assert stop(dhcp4(ev, bootfile=None)) == ("failed", "dhcp")


@pytest.mark.parametrize("name", DHCP4_OFFER)
def test_dhcpv4_proof_compares_the_boot_file_with_the_offered_url(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    assert stop(dataclasses.replace(ev, offered_url="http://elsewhere/x.efi")) == (
        "failed",
        "dhcp",
    )


@pytest.mark.parametrize("name", DHCP4_HTTP_OFFER)
def test_dhcpv4_ack_without_the_httpclient_class_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert "option 60 HTTPClient" in judge(ev).proven["dhcp"]
    assert stop(dhcp4(ev, vendor_class_sent=False)) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(lambda ev: v4(ev) and is_pxe(ev)))
def test_dhcpv4_pxe_offer_is_proven_by_the_boot_file_alone(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert not any(x.vendor_class_sent for x in ev.servers.dhcp4)
    assert judge(ev).proven["dhcp"].endswith(f"with PXE boot file {ev.boot_url}")
    assert stop(dhcp4(ev, bootfile="other/bootx64.efi")) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(lambda ev: v4(ev) and not offers_url(ev)))
def test_dhcpv4_address_only_source_refuses_an_ack_with_a_boot_file(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["dhcp"].endswith("an address and no boot file")
    assert stop(dhcp4(ev, bootfile=ev.boot_url)) == ("failed", "dhcp")
    assert stop(dhcp4(ev, messages=("DHCPOFFER",))) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(v4))
def test_dhcpv4_a_bad_exchange_before_the_good_one_does_not_hide_it(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    good = ev.servers.dhcp4
    bad = [dataclasses.replace(x, xid="0", messages=("DHCPOFFER",)) for x in good]
    other_station = [dataclasses.replace(x, xid="1", address="192.168.111.119") for x in good]
    other_file = [dataclasses.replace(x, xid="2", bootfile="nope") for x in good]
    no_class = [dataclasses.replace(x, xid="3", vendor_class_sent=False) for x in good]
    before = bad + other_station + (other_file if offers_url(ev) else []) + no_class
    assert stop(servers(ev, dhcp4=before + good)) == ("booted", None)


@pytest.mark.parametrize("name", booted(lambda ev: v4(ev) and is_http(ev)))
def test_dhcpv4_preset_and_typed_uri_prove_dhcp_alike(recorded: Path, name: str) -> None:
    """The other address-only sources (Preset, TypedUri) need an ACK with no boot file."""
    ev = load(recorded, name)
    for case_id in ("ipv4-http-preset", "ipv4-http-uri"):
        as_uri = dataclasses.replace(ev, case=case_by_id(case_id))
        address_only = dhcp4(as_uri, bootfile=None)
        assert "dhcp" in judge(address_only).proven
        assert stop(dhcp4(as_uri, bootfile=ev.boot_url)) == ("failed", "dhcp")


# -- DHCPv6 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", booted(v6))
def test_dhcpv6_without_a_reply_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    advertised = tuple(("Advertise", a) for _, a in ev.servers.dhcp6.replies)
    assert stop(dhcp6(ev, replies=advertised)) == ("failed", "dhcp")
    assert stop(dhcp6(ev, replies=())) == ("failed", "dhcp")


@pytest.mark.parametrize("name", DHCP6_OFFER)
def test_dhcpv6_offer_of_another_vendor_class_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    offer = ev.case.source.offer
    other = "PXEClient" if offer == "HTTPClient" else "HTTPClient"
    offers = tuple((other, url) for _, url in ev.servers.dhcp6.offers)
    assert stop(dhcp6(ev, offers=offers)) == ("failed", "dhcp")


@pytest.mark.parametrize("name", DHCP6_OFFER)
def test_dhcpv6_offer_of_another_url_stops_at_dhcp(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    offers = tuple((vendor, url + ".old") for vendor, url in ev.servers.dhcp6.offers)
    assert stop(dhcp6(ev, offers=offers)) == ("failed", "dhcp")
    assert stop(dataclasses.replace(ev, offered_url="http://elsewhere/x.efi")) == (
        "failed",
        "dhcp",
    )


@pytest.mark.parametrize("name", booted(lambda ev: v6(ev) and captured(ev)))
def test_dhcpv6_request_outside_the_boot_clients_class_stops_at_dhcp(
    recorded: Path, name: str
) -> None:
    """The firmware's own IPv6 stack also requests an address; only a Request in the boot
    client's class (PXEClient, else HTTPClient, also when the URL is typed or preset) shows the
    boot asked, and took the offer."""
    ev = load(recorded, name)
    client_class = ev.case.source.offer or "HTTPClient"
    assert any(client_class in e.detail for e in ev.net("DHCPv6 REQUEST"))
    no_class = events("DHCPv6 REQUEST", lambda _d: "vendor class none")
    assert stop(network(ev, no_class)) == ("failed", "dhcp")
    assert stop(network(ev, events("DHCPv6 REQUEST", None))) == ("failed", "dhcp")


@pytest.mark.parametrize("name", booted(lambda ev: v6(ev) and offers_url(ev) and not captured(ev)))
def test_dhcpv6_without_a_capture_rests_on_the_servers_log(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["dhcp"].startswith("dhcpd6: Reply NA ")


@pytest.mark.parametrize("name", booted(lambda ev: v6(ev) and not offers_url(ev)))
def test_dhcpv6_address_only_source_refuses_a_boot_offer(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["dhcp"].endswith("an address and no boot URL")
    offers = (("HTTPClient", ev.boot_url),)
    assert stop(dhcp6(ev, offers=offers)) == ("failed", "dhcp")
    replies = (("Reply", "2001:db8::1"), ("Reply", "2001:db8::2"), ("Reply", "2001:db8::3"))
    assert judge(dhcp6(ev, replies=replies)).proven["dhcp"] == (
        "dhcpd6: Reply NA 2001:db8::3: an address and no boot URL"
    )


# -- DNS ---------------------------------------------------------------------------------------
def other_type(rtype: str) -> str:
    return "AAAA" if rtype == "A" else "A"


@pytest.mark.parametrize("name", NAMED_CAPTURED)
def test_dns_answer_of_the_other_record_type_stops_at_dns(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    swap = events("DNS answer", lambda d: other_type(d.split(" ", 1)[0]) + " " + d.split(" ", 1)[1])
    assert stop(network(ev, swap)) == ("failed", "dns")


@pytest.mark.parametrize("name", NAMED_CAPTURED)
def test_dns_answer_with_no_record_stops_at_dns(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    empty = events("DNS answer", lambda d: d.rsplit(":", 1)[0] + ": 0 record(s)")
    assert stop(network(ev, empty)) == ("failed", "dns")
    ten = events("DNS answer", lambda d: d.rsplit(":", 1)[0] + ": 10 record(s)")
    assert stop(network(ev, ten)) == ("booted", None)


@pytest.mark.parametrize("name", NAMED_CAPTURED)
def test_dns_answer_for_another_host_stops_at_dns(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    other = events("DNS answer", lambda d: d.replace("www.", "ww.", 1))
    assert stop(network(ev, other)) == ("failed", "dns")
    longer = events("DNS answer", lambda d: d.replace(".local:", ".local.example:", 1))
    assert stop(network(ev, longer)) == ("failed", "dns")


@pytest.mark.parametrize("name", NAMED_CAPTURED)
def test_dns_with_a_capture_needs_the_answer_not_the_servers_query_log(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    assert ev.servers.dns_queries
    assert stop(network(ev, events("DNS answer", None))) == ("failed", "dns")


@pytest.mark.parametrize("name", NAMED_UNCAPTURED)
def test_dns_query_log_of_the_other_type_or_name_stops_at_dns(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    wrong_type = [(other_type(t), n, c) for t, n, c in ev.servers.dns_queries]
    assert stop(servers(ev, dns_queries=wrong_type)) == ("failed", "dns")
    wrong_name = [(t, "ww." + n, c) for t, n, c in ev.servers.dns_queries]
    assert stop(servers(ev, dns_queries=wrong_name)) == ("failed", "dns")
    assert stop(servers(ev, dns_queries=[])) == ("failed", "dns")


@pytest.mark.parametrize("name", LITERAL)
def test_literal_url_needs_no_query_of_the_wanted_type(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    host = ev.boot_url.split("/")[2]
    wanted = "A" if v4(ev) else "AAAA"
    assert judge(ev).proven["dns"] == (
        f"no DNS needed: the URL names {host}, and no {wanted} query was logged"
    )
    client = V4_CLIENT if v4(ev) else V6_CLIENT
    other = [(other_type(wanted), "www.httpboot.local", client)]
    assert stop(servers(ev, dns_queries=other)) == ("booted", None)
    queried = [(wanted, "www.httpboot.local", client)]
    assert stop(servers(ev, dns_queries=queried)) == ("failed", "dns")


@pytest.mark.parametrize("name", PXE)
def test_pxe_needs_no_dns(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["dns"] == (
        "no DNS needed: the boot file is named by the server's address"
    )
    queried = [("A", "www.httpboot.local", V4_CLIENT), ("AAAA", "www.httpboot.local", V6_CLIENT)]
    assert stop(servers(ev, dns_queries=queried)) == ("booted", None)


# -- connect (plain HTTP) and TLS (HTTPS) ------------------------------------------------------
@pytest.mark.parametrize("name", booted(lambda ev: "connect" in ev.case.phases and captured(ev)))
def test_connect_to_another_port_stops_at_connect(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["connect"] == "TCP connection to port 80 accepted"
    assert stop(network(ev, events("TCP connected", lambda _d: "port 443"))) == (
        "failed",
        "connect",
    )
    assert stop(network(ev, events("TCP connected", None))) == ("failed", "connect")


@pytest.mark.parametrize(
    "name", booted(lambda ev: "connect" in ev.case.phases and is_http(ev) and not captured(ev))
)
def test_connect_without_a_capture_needs_a_request_on_the_port(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["connect"].startswith("the server logged 2 request(s) on port 80")
    moved = access(ev, lambda r: dataclasses.replace(r, port=443))
    assert stop(moved) == ("failed", "connect")
    assert stop(access(ev, other_family_client)) == ("failed", "connect")


@pytest.mark.parametrize("name", HTTPS)
def test_tls_needs_a_request_on_port_443_from_the_cases_family(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["tls"] == "2 request(s) over TLS on port 443"
    assert stop(access(ev, lambda r: dataclasses.replace(r, port=80))) == ("failed", "tls")
    assert stop(access(ev, other_family_client)) == ("failed", "tls")
    assert stop(access(ev, lambda _r: None)) == ("failed", "tls")


# -- download over HTTP(S) ---------------------------------------------------------------------
@pytest.mark.parametrize("name", HTTP)
def test_the_get_with_another_status_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    for status in (206, 304, 404, 500):
        assert stop(access(ev, the_get(status=status)))[1] == "download"


@pytest.mark.parametrize("name", HTTP)
def test_the_get_of_another_path_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert stop(access(ev, the_get(path=ev.image_path + ".old"))) == ("failed", "download")
    assert stop(access(ev, the_get(path="/missing.efi"))) == ("failed", "download")


@pytest.mark.parametrize("name", HTTP)
def test_only_a_head_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert stop(access(ev, the_get(method="HEAD"))) == ("failed", "download")
    assert stop(access(ev, the_get(method="POST"))) == ("failed", "download")


@pytest.mark.parametrize("name", HTTP)
def test_the_get_with_another_size_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert stop(access(ev, the_get(bytes=ev.image_size - 1))) == ("failed", "download")
    assert stop(dataclasses.replace(ev, image_size=ev.image_size + 1)) == ("failed", "download")


@pytest.mark.parametrize("name", HTTP)
def test_the_get_on_another_port_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    other = 80 if ev.case.scheme == "https" else 443
    assert stop(access(ev, the_get(port=other))) == ("failed", "download")


@pytest.mark.parametrize("name", HTTP)
def test_the_get_from_a_client_of_the_other_family_stops_at_download(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    other = V6_CLIENT if v4(ev) else V4_CLIENT
    assert stop(access(ev, the_get(client=other))) == ("failed", "download")


@pytest.mark.parametrize("name", booted(lambda ev: is_http(ev) and v4(ev)))
def test_an_ipv4_mapped_client_counts_as_ipv4(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    mapped = access(ev, lambda r: dataclasses.replace(r, client="::ffff:" + r.client))
    assert stop(mapped) == ("booted", None)


@pytest.mark.parametrize("name", HTTP)
def test_download_needs_the_console_line_or_the_nonce(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert ev.console.download_complete
    assert judge(ev).proven["download"].endswith("; console: Downloading...100%")
    lost_line = console(ev, download_complete=False)
    judgement = judge(lost_line)
    assert judgement.verdict == "booted"
    assert judgement.proven["download"].endswith("; the image ran (its nonce is on the console)")
    neither = console(ev, download_complete=False, proof_seen=False)
    assert stop(neither) == ("failed", "download")


@pytest.mark.parametrize("name", HTTP)
def test_download_proof_names_the_get(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    get = next(r for r in ev.requests_on(443 if ev.case.scheme == "https" else 80) if r.bytes)
    assert (
        judge(ev)
        .proven["download"]
        .startswith(
            f"GET {ev.image_path} 200 {ev.image_size} bytes to {get.client} on port {get.port} "
            f"({get.agent}); "
        )
    )


@pytest.mark.parametrize("name", HTTP)
def test_download_a_bad_get_before_the_good_one_does_not_hide_it(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    gets = [r for r in ev.access if r.method == "GET"]
    short = [dataclasses.replace(r, bytes=r.bytes - 1) for r in gets]
    failed = [dataclasses.replace(r, status=500) for r in gets]
    assert stop(servers(ev, access=short + failed + ev.access)) == ("booted", None)


# -- download over TFTP (PXE) ------------------------------------------------------------------
@pytest.mark.parametrize("name", PXE)
def test_pxe_download_needs_the_console_line_or_the_nonce(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert ev.console.nbp_downloaded
    assert stop(console(ev, nbp_downloaded=False)) == ("booted", None)
    assert stop(console(ev, nbp_downloaded=False, proof_seen=False)) == ("failed", "download")


@pytest.mark.parametrize("name", PXE)
def test_pxe_download_of_another_file_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    renamed = [dataclasses.replace(t, path=t.path + ".old") for t in ev.servers.tftp]
    assert stop(servers(ev, tftp=renamed)) == ("failed", "download")
    # A file whose name only ends like the image's (no directory boundary) is another file.
    prefixed = [
        dataclasses.replace(t, path=t.path.replace(f"/{ev.case.id}/", f"/x{ev.case.id}/"))
        for t in ev.servers.tftp
    ]
    assert stop(servers(ev, tftp=prefixed)) == ("failed", "download")


@pytest.mark.parametrize("name", PXE)
def test_pxe_download_matches_an_image_path_given_with_a_leading_slash(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    assert not ev.image_path.startswith("/")
    assert stop(dataclasses.replace(ev, image_path="/" + ev.image_path)) == ("booted", None)


@pytest.mark.parametrize("name", PXE)
def test_pxe_download_to_the_other_family_stops_at_download(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    other = V6_CLIENT if v4(ev) else V4_CLIENT
    moved = [dataclasses.replace(t, client=other) for t in ev.servers.tftp]
    assert stop(servers(ev, tftp=moved)) == ("failed", "download")
    assert stop(servers(ev, tftp=[])) == ("failed", "download")


@pytest.mark.parametrize("name", PXE)
def test_pxe_download_proof_names_the_transfer(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    sent = ev.servers.tftp[0]
    assert judge(ev).proven["download"] == f"dnsmasq-tftp: sent {sent.path} to {sent.client}"


# -- image, power-off --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_no_proof_line_stops_at_image(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert judge(ev).proven["image"] == f"console: {ev.proof_line!r}"
    assert stop(console(ev, proof_seen=False)) == ("failed", "image")


def recorded_console(recorded: Path, name: str, edit: Callable[[str], str]) -> Evidence:
    """The recorded run with its console text edited, parsed as the runner parses it."""
    ev = load(recorded, name)
    text = edit((recorded / name / "console.txt").read_text())
    return dataclasses.replace(ev, console=parse_console(text, ev.proof_line))


@pytest.mark.parametrize("name", ALL)
def test_a_proof_line_that_lost_bytes_gives_no_verdict(recorded: Path, name: str) -> None:
    """The nonce cut short on the serial line (seen with four guests on two cores): an image
    ran, and which one cannot be told, so neither the firmware nor the case is blamed."""
    nonce = load(recorded, name).proof_line.rsplit(" ", 1)[1]
    for damaged in (nonce[:6], nonce[:3] + nonce[5:], ""):

        def cut(text: str, damaged: str = damaged) -> str:
            return text.replace(nonce, damaged)

        ev = recorded_console(recorded, name, cut)
        judgement = judge(ev)
        assert (judgement.verdict, judgement.phase) == ("error", "image"), damaged
        assert "lost bytes of the proof line" in judgement.summary


@pytest.mark.parametrize("name", ALL)
def test_another_images_whole_proof_line_is_the_firmwares_failure(
    recorded: Path, name: str
) -> None:
    """A whole line with another run's nonce: the firmware ran an image it was not served."""
    nonce = load(recorded, name).proof_line.rsplit(" ", 1)[1]
    ev = recorded_console(recorded, name, lambda text: text.replace(nonce, "0123456789abcdef"))
    assert ev.console.damaged_proof is None
    assert stop(ev) == ("failed", "image")


@pytest.mark.parametrize("name", ALL)
def test_poweroff_needs_a_guest_shutdown(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert ev.shutdown_event == {"guest": True, "reason": "guest-shutdown"}
    assert judge(ev).proven["poweroff"] == "QMP SHUTDOWN (guest=true, reason=guest-shutdown)"
    for event in (
        None,
        {},
        {"guest": False, "reason": "guest-shutdown"},
        {"guest": "true", "reason": "guest-shutdown"},
        {"reason": "guest-shutdown"},
        {"guest": True, "reason": "guest-reset"},
        {"guest": True, "reason": "host-qmp-quit"},
        {"guest": True},
    ):
        assert stop(dataclasses.replace(ev, shutdown_event=event)) == ("failed", "poweroff"), event


# -- the walk ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_a_booted_judgement_lists_every_phase_of_the_case_in_order(
    recorded: Path, name: str
) -> None:
    ev = load(recorded, name)
    judgement = judge(ev)
    assert list(judgement.proven) == [p.value for p in ev.case.phases]
    assert judgement.summary == "the firmware downloaded the image and ran it"
    assert judgement.cause is None


@pytest.mark.parametrize("name", PLAIN_HTTP)
def test_plain_http_never_asks_for_tls(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert "tls" not in judge(ev).proven
    # Port 443 requests are not needed, and their absence does not matter.
    assert not ev.requests_on(443)


@pytest.mark.parametrize("name", ADDRESS_ONLY)
def test_the_uri_sources_entry_note_is_the_boot_entry_proof(recorded: Path, name: str) -> None:
    ev = load(recorded, name)
    assert isinstance(ev.case.source, TypedUri | Preset)
    assert judge(ev).proven["boot-entry"] == ev.case.source.entry_note(ev.case)
