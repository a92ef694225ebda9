"""What the judge says when a boot stops: each phase's explanation names its cause from the
server logs and the capture, and the verdict is "refused" only when the firmware said why."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.evidence import Evidence, judge, parse_console
from httpboot_harness.netcapture import NetEvent

from .judge_edits import access, console, dhcp4, dhcp6, events, network, servers, stop, the_get
from .recorded_runs import load, recorded_names

RECORDED_NAMES = recorded_names()


def cause_of(ev: Evidence) -> str:
    cause = judge(ev).cause
    assert cause is not None
    return cause


def add_events(ev: Evidence, *added: NetEvent) -> Evidence:
    return dataclasses.replace(ev, network=[*(ev.network or []), *added])


def recorded_or_skip(recorded: Path, name: str) -> Evidence:
    if name not in RECORDED_NAMES:
        pytest.skip(f"{name} is not recorded here")
    return load(recorded, name)


# -- firmware, boot entry ----------------------------------------------------------------------
def test_no_firmware_output_is_explained(recorded: Path) -> None:
    ev = dataclasses.replace(load(recorded, "ipv4-http"), firmware_output=False)
    assert cause_of(ev) == "QEMU ran, but the firmware printed nothing on the serial line"


def test_a_missing_menu_entry_is_explained_by_the_menus_words(recorded: Path) -> None:
    ev = dataclasses.replace(load(recorded, "ipv4-http"), reached_boot_entry=False)
    assert cause_of(ev) == "the firmware's menu never offered the boot entry"
    problem = "the Boot Manager offers no 'UEFI HTTPv4' entry"
    assert cause_of(dataclasses.replace(ev, menu_problem=problem)) == problem


# -- DHCP --------------------------------------------------------------------------------------
NEVER_REQUESTED = "dhcpd6 advertised the boot URL, and the client never requested it"


def test_advertised_but_never_requested_from_the_servers_log(recorded: Path) -> None:
    ev = load(recorded, "ipv6-http-dhcp6-string")
    assert ev.network is None
    assert {kind for kind, _ in ev.servers.dhcp6.replies} == {"Advertise"}
    assert cause_of(ev) == NEVER_REQUESTED


def test_advertised_but_never_requested_while_the_ip6_stack_took_an_address(
    recorded: Path,
) -> None:
    """Recorded: the firmware's own IPv6 stack got a Reply; the boot client never requested."""
    ev = load(recorded, "ipv6-http-dhcp6-string-capture")
    assert "Reply" in {kind for kind, _ in ev.servers.dhcp6.replies}
    assert cause_of(ev) == NEVER_REQUESTED
    # Without the capture the log alone cannot tell the stack's Reply from the boot client's.
    assert cause_of(dataclasses.replace(ev, network=None)) != NEVER_REQUESTED


def test_a_request_in_the_boot_clients_class_is_not_never_requested(recorded: Path) -> None:
    ev = load(recorded, "ipv6-http-capture")
    stalled = dhcp6(ev, replies=())
    assert stop(stalled)[1] == "dhcp"
    assert cause_of(stalled) != NEVER_REQUESTED
    no_url = network(stalled, events("DHCPv6 ADVERTISE", lambda d: d.split(",")[0]))
    no_request = network(no_url, events("DHCPv6 REQUEST", None))
    assert cause_of(no_request) != NEVER_REQUESTED
    advertised = network(stalled, events("DHCPv6 REQUEST", None))
    assert cause_of(advertised) == NEVER_REQUESTED


def test_an_ipv4_case_is_never_explained_by_dhcpd6(recorded: Path) -> None:
    ev = dhcp4(load(recorded, "ipv4-http"), messages=("DHCPOFFER",))
    offered = dhcp6(ev, offers=(("HTTPClient", ev.boot_url),), replies=(("Advertise", "::1"),))
    assert cause_of(offered) != NEVER_REQUESTED


def test_no_dhcp_answer_is_explained_from_the_capture(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-no-dhcp-capture")
    assert ev.net("DHCPv4 DISCOVER")
    assert cause_of(ev) == "no DHCPv4 answer: the client asked, no server offered"


def test_no_dhcpv6_answer_is_explained_from_the_capture(recorded: Path) -> None:
    ev = load(recorded, "ipv6-http-capture")
    quiet = network(ev, events("DHCPv6 ADVERTISE", None))
    quiet = network(quiet, events("DHCPv6 REPLY", None))
    quiet = dhcp6(quiet, replies=(), offers=())
    assert cause_of(quiet) == "no DHCPv6 answer: the client asked, no server offered"


@pytest.mark.parametrize(("name", "family"), [("ipv4-http-capture", "DHCPv4"),
                                              ("ipv6-http-capture", "DHCPv6")])  # fmt: skip
def test_a_client_that_sent_no_dhcp_message_is_explained(
    recorded: Path, name: str, family: str
) -> None:
    ev = load(recorded, name)
    silent = dataclasses.replace(ev, network=[e for e in ev.network or [] if e.kind[:4] != "dhcp"])
    silent = dhcp6(dhcp4(silent, messages=()), replies=(), offers=())
    assert cause_of(silent) == f"the client sent no {family} message"


def test_a_client_that_sent_no_dhcpv6_message_at_all_is_explained(recorded: Path) -> None:
    """Recorded: a preset IPv6 boot that started during duplicate address detection."""
    ev = load(recorded, "ipv6-http-preset-capture")
    assert "Error: Unexpected network error." in ev.console.firmware_errors
    assert stop(ev) == ("refused", "dhcp")
    assert cause_of(ev) == "the client sent no DHCPv6 message"


def test_only_the_ip6_stacks_own_dhcpv6_exchange_is_explained(recorded: Path) -> None:
    """Recorded: the boot failed at once, while the IPv6 stack got its address by DHCPv6."""
    ev = load(recorded, "ipv6-http-preset-stack-dhcp-capture")
    assert [kind for kind, _ in ev.servers.dhcp6.replies] == ["Advertise", "Reply"]
    assert stop(ev) == ("refused", "dhcp")
    assert cause_of(ev) == (
        "the boot client sent no DHCPv6 message in the HTTPClient class "
        "(only the firmware's own network stack asked for an address)"
    )


def test_an_address_only_answer_is_not_blamed_on_the_class(recorded: Path) -> None:
    """A typed or preset URL: the DHCPv6 answers carry no vendor class by design."""
    ev = dhcp6(load(recorded, "ipv6-http-uri-capture"), replies=())
    assert stop(ev) == ("failed", "dhcp")
    assert cause_of(ev) == "no HTTPClient offer/reply for this family in the DHCP server's log"


def test_an_answer_without_the_httpclient_class_is_explained(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-capture")
    no_class = events("DHCPv4 OFFER", lambda d: d.replace("HTTPClient", "none"))
    plain = dhcp4(network(network(ev, no_class), events("DHCPv4 ACK", None)), messages=())
    assert cause_of(plain) == (
        "DHCPv4 answer without the HTTPClient class, so the firmware ignored it"
    )


def test_an_answer_with_the_httpclient_class_is_not_blamed_on_the_class(recorded: Path) -> None:
    ev = dhcp4(load(recorded, "ipv4-http-capture"), vendor_class_sent=False)
    assert any("HTTPClient" in e.detail for e in ev.net("DHCPv4 OFFER"))
    assert cause_of(ev) == "no HTTPClient offer/reply for this family in the DHCP server's log"


def test_the_recorded_no_httpclient_fault_is_explained(recorded: Path) -> None:
    ev = recorded_or_skip(recorded, "ipv4-http-no-httpclient-capture")
    assert "without the HTTPClient class" in cause_of(ev)


def test_dhcp_without_a_capture_is_explained_by_the_servers_log(recorded: Path) -> None:
    ev = dhcp4(load(recorded, "ipv4-http"), vendor_class_sent=False)
    assert cause_of(ev) == "no HTTPClient offer/reply for this family in the DHCP server's log"


# -- DNS ---------------------------------------------------------------------------------------
def test_nxdomain_is_explained(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-capture")
    unknown = network(ev, events("DNS answer", None))
    unknown = add_events(unknown, NetEvent(8.9, "dns", "DNS answer NXDOMAIN", "A nowhere.local"))
    assert cause_of(unknown) == "DNS: the name is unknown (A nowhere.local: NXDOMAIN)"


def test_the_recorded_unknown_host_is_explained_by_nxdomain(recorded: Path) -> None:
    ev = recorded_or_skip(recorded, "ipv4-http-unknown-host-capture")
    assert "NXDOMAIN" in cause_of(ev)


def test_a_query_without_an_answer_is_explained(recorded: Path) -> None:
    ev = network(load(recorded, "ipv4-http-capture"), events("DNS answer", None))
    assert cause_of(ev) == "DNS: the query got no answer"


def test_dns_without_a_query_is_explained(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-capture")
    ev = network(network(ev, events("DNS answer", None)), events("DNS query", None))
    assert cause_of(ev) == "no DNS query for the boot host was answered"
    no_record = events("DNS answer", lambda d: d.replace("1 record(s)", "0 record(s)"))
    empty = network(load(recorded, "ipv4-http-capture"), no_record)
    assert cause_of(empty) == "no DNS query for the boot host was answered"
    uncaptured = servers(load(recorded, "ipv4-http"), dns_queries=[])
    assert cause_of(uncaptured) == "no DNS query for the boot host was answered"


# -- connect -----------------------------------------------------------------------------------
def test_a_refused_connection_is_explained(recorded: Path) -> None:
    ev = network(load(recorded, "ipv4-http-capture"), events("TCP connected", None))
    refused = add_events(ev, NetEvent(8.9, "tcp", "TCP refused", "port 80 sent RST"))
    assert cause_of(refused) == "TCP connection refused (port 80 sent RST)"


def test_a_syn_without_answer_is_explained(recorded: Path) -> None:
    ev = network(load(recorded, "ipv4-http-capture"), events("TCP connected", None))
    assert cause_of(ev) == "TCP SYN sent, no answer"


def test_no_connection_attempt_is_explained(recorded: Path) -> None:
    ev = network(load(recorded, "ipv4-http-capture"), events("TCP connected", None))
    ev = network(ev, events("TCP SYN", None))
    assert cause_of(ev) == "the firmware never opened a TCP connection"


# -- TLS ---------------------------------------------------------------------------------------
def test_the_servers_tls_error_lines_explain_tls(recorded: Path) -> None:
    ev = load(recorded, "no-shared-cipher")
    (recorded_error,) = ev.servers.tls_errors
    assert "no shared cipher" in recorded_error
    assert cause_of(ev) == "the HTTPS server logged: " + recorded_error
    older = servers(ev, tls_errors=["SSL: first", "SSL: second", recorded_error])
    assert cause_of(older) == "the HTTPS server logged: SSL: second | " + recorded_error


def https_without_requests(recorded: Path) -> Evidence:
    """A captured HTTPS boot whose server logged no request: TLS is not proven."""
    return access(load(recorded, "ipv4-https-capture"), lambda _r: None)


def test_a_tls_alert_is_explained_with_the_servers_words(recorded: Path) -> None:
    ev = https_without_requests(recorded)
    alert = NetEvent(9.0, "tls", "TLS alert", "from the server, code 40")
    with_alert = servers(add_events(ev, alert), tls_errors=["SSL: a", "SSL: b", "SSL: c"])
    assert cause_of(with_alert) == (
        "TLS alert (from the server, code 40); the HTTPS server logged: SSL: b | SSL: c"
    )
    quiet = servers(with_alert, tls_errors=[])
    assert cause_of(quiet) == "TLS alert (from the server, code 40); "


def test_a_handshake_without_alert_or_server_words_is_explained(recorded: Path) -> None:
    ev = https_without_requests(recorded)
    assert ev.net("TCP SYN")
    assert cause_of(ev) == "no TLS handshake completed"


def test_a_handshake_the_client_abandoned_after_the_servers_hello_is_explained(
    recorded: Path,
) -> None:
    """Debian 13's OVMF without the CA: ClientHello, ServerHello, then nothing, no alert."""
    ev = https_without_requests(recorded)
    hello = NetEvent(9.0, "tls", "TLS ServerHello", "from the server")
    assert cause_of(add_events(ev, hello)) == (
        "the firmware gave up during the TLS handshake after the server's hello and "
        "certificate, without an alert: it did not accept the server"
    )


def test_untrusted_https_did_not_even_connect(recorded: Path) -> None:
    ev = load(recorded, "ipv4-https-untrusted-capture")
    assert not ev.net("TCP SYN")
    assert cause_of(ev) == (
        "the firmware did not even connect: no CA certificates enrolled, or TLS off"
    )


def test_tls_without_a_capture_or_server_words_is_explained(recorded: Path) -> None:
    ev = load(recorded, "ipv4-https-untrusted")
    assert cause_of(ev) == "no TLS handshake completed"


# -- download ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 403, 404, 500, 599])
def test_an_error_status_in_the_access_log_is_explained(recorded: Path, status: int) -> None:
    ev = access(load(recorded, "ipv4-http"), lambda r: dataclasses.replace(r, status=status))
    judgement = judge(ev)
    assert judgement.phase == "download"
    assert judgement.cause == (
        f"HTTP {status}: the server answered HEAD {ev.image_path} with {status}"
    )


def test_an_error_status_of_the_get_alone_is_explained(recorded: Path) -> None:
    ev = access(load(recorded, "ipv4-http"), the_get(status=404))
    assert cause_of(ev) == f"HTTP 404: the server answered GET {ev.image_path} with 404"


@pytest.mark.parametrize(("name", "status"), [("ipv4-http-not-found-capture", 404),
                                              ("ipv4-http-http-500-capture", 500)])  # fmt: skip
def test_the_recorded_http_faults_are_explained(recorded: Path, name: str, status: int) -> None:
    ev = recorded_or_skip(recorded, name)
    assert f"HTTP {status}" in cause_of(ev)


def test_a_missing_download_lists_what_the_server_saw(recorded: Path) -> None:
    ev = access(load(recorded, "ipv4-http"), the_get(bytes=100))
    assert cause_of(ev) == (
        f"expected GET {ev.image_path} 200 {ev.image_size} bytes; server saw "
        f"['HEAD {ev.image_path} 200 0', 'GET {ev.image_path} 200 100']"
    )
    nothing = servers(load(recorded, "ipv4-http-capture"), access=[])
    assert stop(nothing)[1] == "download"
    assert cause_of(nothing).endswith(" bytes; server saw none; responses "
                                      "['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']")  # fmt: skip


def test_a_missing_download_lists_the_captured_responses(recorded: Path) -> None:
    ev = access(load(recorded, "ipv4-http-capture"), the_get(bytes=100))
    assert cause_of(ev).endswith("; responses ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']")


# -- image, power-off --------------------------------------------------------------------------
def test_a_secure_boot_refusal_is_explained(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http")
    text = (recorded / "ipv4-http" / "console.txt").read_text().replace(ev.proof_line, "")
    refused = dataclasses.replace(
        ev, console=parse_console(text + "\nAccess Denied\n", ev.proof_line)
    )
    judgement = judge(refused)
    assert judgement.phase == "image"
    assert judgement.cause == (
        "Secure Boot refused the image: the firmware reported 'Access Denied' after the download"
    )


def test_a_return_to_the_menu_is_explained(recorded: Path) -> None:
    ev = console(load(recorded, "ipv4-http"), proof_seen=False)
    assert cause_of(ev) == "the image's proof line never appeared on the console"
    back = dataclasses.replace(ev, returned_to_menu=True)
    assert cause_of(back) == (
        "the firmware went back to its menu after the download without running the image"
    )
    refused = console(back, security_violation="Security Violation")
    assert cause_of(refused).startswith("Secure Boot refused the image")


def test_the_last_shutdown_event_explains_poweroff(recorded: Path) -> None:
    ev = dataclasses.replace(
        load(recorded, "ipv4-http"), shutdown_event={"guest": True, "reason": "guest-reset"}
    )
    assert cause_of(ev) == "last QMP shutdown event: {'guest': True, 'reason': 'guest-reset'}"
    assert cause_of(dataclasses.replace(ev, shutdown_event=None)) == "last QMP shutdown event: None"


# -- refused or failed -------------------------------------------------------------------------
def test_refused_when_the_firmware_reported_errors(recorded: Path) -> None:
    ev = load(recorded, "no-shared-cipher")
    judgement = judge(ev)
    errors = ev.console.firmware_errors
    assert errors == (
        "Error: Could not retrieve NBP file size from HTTP server.",
        "Error: Remote boot cancelled.",
    )
    assert judgement.verdict == "refused"
    assert judgement.summary == (
        f"the firmware refused at tls: {' / '.join(errors)}; {judgement.cause}"
    )
    assert list(judgement.proven) == ["firmware", "boot-entry", "dhcp", "dns"]


def test_failed_when_the_firmware_said_nothing(recorded: Path) -> None:
    ev = servers(load(recorded, "ipv4-http"), access=[])
    assert ev.console.firmware_errors == ()
    judgement = judge(ev)
    assert judgement.verdict == "failed"
    assert judgement.summary == f"no evidence of connect: {judgement.cause}"


def test_failed_not_refused_when_the_image_ran_despite_an_error_line(recorded: Path) -> None:
    """An error line before a run that printed the nonce is not the firmware refusing."""
    ev = load(recorded, "ipv4-http")
    noisy = console(ev, firmware_errors=("Error: Unexpected network error.",))
    assert stop(noisy) == ("booted", None)
    off = dataclasses.replace(noisy, shutdown_event=None)
    assert stop(off) == ("failed", "poweroff")
    lost = console(noisy, proof_seen=False)
    assert stop(lost) == ("refused", "image")


def test_the_judgement_serializes_to_a_dict(recorded: Path) -> None:
    judgement = judge(load(recorded, "no-shared-cipher"))
    data = judgement.to_dict()
    assert data["verdict"] == "refused"
    assert data["phase"] == "tls"
    assert data["cause"] == judgement.cause
    assert data["proven"] == judgement.proven
