"""The faults of issue 12 from the server's side: the faulty HTTP server and the silent name
server (their mechanics over loopback, their logs), the capture's account of how a connection
ended, the router-advert wait, and the causes the judge names from recorded runs."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpboot_harness.cases import (
    FAULT_CASES,
    Case,
    NotEfi,
    ProofIso,
    Pxe,
    ResetMidImage,
    SilentDnsServer,
    Stall,
    WrongContentType,
    case_by_id,
)
from httpboot_harness.errors import UsageError
from httpboot_harness.evidence import judge
from httpboot_harness.netcapture import NetEvent, unanswered_solicitations
from httpboot_harness.network import Addressing
from httpboot_harness.server import ServerPlan
from httpboot_harness.services import faulty_http
from httpboot_harness.services.dnsmasq import Dnsmasq
from httpboot_harness.services.faulty_http import (
    FaultRecord,
    FaultyHttp,
    HttpFault,
    parse_fault_log,
    read_fault_log,
)
from httpboot_harness.services.lighttpd import parse_access_log
from httpboot_harness.services.silent_dns import parse_query_log, question

from .judge_edits import servers
from .recorded_runs import load

BODY = bytes(range(256)) * 1024  # 256 KiB: more than the socket buffers hold at once


# -- the faulty HTTP server, for real, over loopback ---------------------------------------------
@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The faulty server on a free loopback port, serving /f/bootx64.efi spoiled four ways."""
    root, logs = tmp_path / "www", tmp_path / "logs"
    (root / "f").mkdir(parents=True)
    (root / "f" / "bootx64.efi").write_bytes(BODY)
    (root / "f" / "image").write_bytes(BODY[:1000])
    faults = {
        "/reset": HttpFault("reset", "/reset", 4096),
        "/short": HttpFault("short", "/short", 4096),
        "/stall": HttpFault("stall", "/stall", 4096),
        "/f/bootx64.efi": HttpFault("garbage", "/f/bootx64.efi"),
        "/moved": HttpFault("redirect", "/moved", target="/moved-to"),
        "/f/image": HttpFault("content-type", "/f/image", target="application/octet-stream"),
    }
    for path in ("/reset", "/short", "/stall"):
        (root / path.lstrip("/")).write_bytes(BODY)
    (root / "moved").write_bytes(BODY[:2000])
    written = faulty_http._Logs(logs)
    server = faulty_http._DualStackServer(("::", 0), faulty_http._handler(root, faults, written, 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], logs
    finally:
        server.shutdown()
        server.server_close()
        written.close()


@contextlib.contextmanager
def _get(port: int, path: str, method: str = "GET") -> Iterator[http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers={"User-Agent": "UefiHttpBoot/1.0"})
        yield connection.getresponse()
    finally:
        connection.close()


def _wait_for_fault(logs: Path, kind: str) -> faulty_http.FaultRecord:
    ends = time.monotonic() + 10
    while time.monotonic() < ends:
        found = [r for r in read_fault_log(logs) if r.kind == kind]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {kind} record in {read_fault_log(logs)}")


def test_reset_sends_part_of_the_body_then_a_reset(faulty: tuple[int, Path]) -> None:
    port, logs = faulty
    with _get(port, "/reset") as response:
        assert response.getheader("Content-Length") == str(len(BODY))
        with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
            response.read()
    record = _wait_for_fault(logs, "reset")
    assert (record.method, record.sent, record.total) == ("GET", 4096, len(BODY))
    logged_text = (logs / "access.log").read_text()
    (logged,) = [r for r in parse_access_log(logged_text) if r.method == "GET"]
    assert (logged.status, logged.bytes, logged.agent) == (200, 4096, "UefiHttpBoot/1.0")


def test_short_body_ends_with_an_orderly_close(faulty: tuple[int, Path]) -> None:
    port, logs = faulty
    with _get(port, "/short") as response, pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    assert len(raised.value.partial) == 4096
    assert _wait_for_fault(logs, "short").sent == 4096


def test_a_stall_holds_the_connection_until_the_client_gives_up(
    faulty: tuple[int, Path],
) -> None:
    port, logs = faulty
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while len(received) < 4096 or b"\r\n\r\n" not in received:
            received += client.recv(65536)
        _head, _, body = received.partition(b"\r\n\r\n")
        assert len(body) == 4096
        client.settimeout(1.0)
        with pytest.raises(TimeoutError):  # nothing more comes
            client.recv(1)
    assert _wait_for_fault(logs, "stall").waited is None  # logged when it began
    record = _wait_for_fault(logs, "stall-end")
    assert record.ended == "fin"
    assert record.waited is not None
    assert record.waited >= 0.8


def test_garbage_keeps_the_size_and_has_no_pe_header(faulty: tuple[int, Path]) -> None:
    port, logs = faulty
    with _get(port, "/f/bootx64.efi") as response:
        body = response.read()
        assert response.getheader("Content-Type") == "application/efi"
    assert len(body) == len(BODY)
    assert not body.startswith(b"MZ")
    assert _wait_for_fault(logs, "garbage").detail == "text, no MZ header"


def test_a_redirect_points_at_where_the_file_is_served(faulty: tuple[int, Path]) -> None:
    port, logs = faulty
    with _get(port, "/moved", "HEAD") as response:
        assert (response.status, response.getheader("Location")) == (302, "/moved-to")
    assert _wait_for_fault(logs, "redirect").detail == "/moved-to"
    with _get(port, "/moved-to") as moved:
        assert moved.read() == BODY[:2000]


def test_a_content_type_fault_sends_that_type(faulty: tuple[int, Path]) -> None:
    port, logs = faulty
    with _get(port, "/f/image") as response:
        assert response.getheader("Content-Type") == "application/octet-stream"
        assert response.read() == BODY[:1000]
    assert _wait_for_fault(logs, "content-type").detail == "application/octet-stream"


def test_fault_arguments_round_trip() -> None:
    fault = HttpFault("content-type", "/a/b", 0, "application/octet-stream")
    assert HttpFault.parse(fault.argument()) == fault
    with pytest.raises(ValueError, match="unknown fault kind"):
        HttpFault.parse("melt:/a:0:")
    argv = FaultyHttp(Path("/www"), (fault,)).argv("python3", Path("/w"))
    assert argv[argv.index("--fault") + 1] == fault.argument()


def test_the_fault_log_is_parsed() -> None:
    records = parse_fault_log(
        "1.5 stall GET /a sent=65536 total=167936 waited=5.223 ended=reset\n"
        "2.0 redirect HEAD /a sent=0 total=0 detail=/b\n"
        "junk\n"
    )
    assert [(r.kind, r.sent, r.waited, r.ended, r.detail) for r in records] == [
        ("stall", 65536, 5.223, "reset", ""),
        ("redirect", 0, None, None, "/b"),
    ]


# -- the silent name server -----------------------------------------------------------------
def test_the_question_of_a_query_is_read() -> None:
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        b"\x03www\x08httpboot\x05local\x00\x00\x01\x00\x01"
    )
    assert question(query) == ("www.httpboot.local", 1)


def test_the_dropped_queries_are_parsed() -> None:
    (query,) = parse_query_log("9.25 dropped query www.httpboot.local type 28 from 192.0.2.7\n")
    assert (query.name, query.rtype, query.client) == ("www.httpboot.local", "AAAA", "192.0.2.7")


def test_dnsmasq_without_dns_still_names_the_server(tmp_path: Path) -> None:
    plain = Dnsmasq("http://x/y").render(tmp_path)["dnsmasq.conf"]
    silent = Dnsmasq("http://x/y", dns=False).render(tmp_path)["dnsmasq.conf"]
    assert "port=0" in silent.splitlines()
    assert "port=0" not in plain.splitlines()
    assert "dhcp-option=option:dns-server,192.168.111.1" in silent
    assert [str(r) for r in Dnsmasq("http://x/y", dns=False).readiness()] == ["UDP port 67 (IPv4)"]


# -- the parts and the plan -------------------------------------------------------------------
def _plan(case: Case) -> ServerPlan:
    return case.server_plan(ServerPlan(boot_url=None, document_root=Path("/www")))


def test_the_new_faults_are_in_the_fault_cases_with_their_expectations() -> None:
    wanted = {
        "ipv4-http-reset": ("refused", "download"),
        "ipv4-http-short-body": ("refused", "download"),
        "ipv4-http-stall": ("refused", "download"),
        "ipv4-http-redirect": ("refused", "download"),
        "ipv4-http-not-efi": ("failed", "image"),
        "ipv4-http-iso-wrong-type": ("refused", "download"),
        "ipv4-http-dns-silent": ("refused", "dns"),
        "ipv6-http-no-ra": ("booted", None),
    }
    ids = {case.id for case in FAULT_CASES}
    assert set(wanted) <= ids
    for case_id, (verdict, phase) in wanted.items():
        case = case_by_id(case_id)
        assert (case.expected, case.expected_phase) == (verdict, phase)
        assert "fault" in case.markers


def test_a_spoiled_transfer_replaces_the_http_server_for_its_path() -> None:
    plan = _plan(Case("ipv4", "http", faults=(ResetMidImage(after=10),)))
    assert plan.http_faults == (HttpFault("reset", "/ipv4-http-reset/bootx64.efi", 10),)
    (http,) = [s for s in plan.services() if s.name in ("lighttpd", "apache2", "faulty-http")]
    assert isinstance(http, FaultyHttp)
    assert not _plan(Case("ipv4", "http")).http_faults


def test_the_wrong_type_iso_loses_its_extension_and_its_type() -> None:
    case = Case("ipv4", "http", payload=ProofIso(), faults=(WrongContentType(),))
    where = case.locations(Addressing())
    assert where.served_file == "ipv4-http-iso-wrong-type/boot"
    assert where.http_url.endswith("/ipv4-http-iso-wrong-type/boot")
    (fault,) = _plan(case).http_faults
    assert (fault.kind, fault.target) == ("content-type", "application/octet-stream")


def test_the_silent_name_server_and_the_missing_router_are_plan_switches() -> None:
    silent = _plan(case_by_id("ipv4-http-dns-silent"))
    names = [s.name for s in silent.services()]
    assert not silent.dns_answers
    assert "silent-dns" in names
    assert "radvd" not in [s.name for s in _plan(case_by_id("ipv6-http-no-ra")).services()]
    assert "radvd" in [s.name for s in _plan(Case("ipv6", "http")).services()]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        (lambda: Case("ipv4", "https", faults=(Stall(),)), "plain HTTP"),
        (lambda: Case("ipv4", "http", Pxe(), faults=(NotEfi(),)), "plain HTTP"),
        (lambda: Case("ipv4", "http", faults=(WrongContentType(),)), "ProofIso"),
        (lambda: Case("ipv6", "http", faults=(SilentDnsServer(),)), "IPv4"),
    ],
)
def test_the_faults_refuse_cases_they_cannot_stage(case: object, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        case()  # type: ignore[operator]


# -- the capture: router adverts awaited --------------------------------------------------------
def _ra_events(*extra: NetEvent) -> list[NetEvent]:
    return [
        NetEvent(1.0, "ra", "router solicitation", "from fe80::1"),  # the server's own
        NetEvent(39.98, "dhcp6", "DHCPv6 REPLY", "vendor class HTTPClient"),
        NetEvent(41.1, "ra", "router solicitation", "from ::"),
        NetEvent(46.6, "ra", "router solicitation", "from ::"),
        NetEvent(51.5, "ra", "router solicitation", "from ::"),
        NetEvent(53.83, "dad", "duplicate address detection", "for 2001:db8::42:98"),
        *extra,
    ]


def test_unanswered_solicitations_are_dated_at_the_clients_next_step() -> None:
    (wait,) = unanswered_solicitations(_ra_events())
    assert wait.seconds == 53.83
    assert wait.detail.startswith(
        "3 router solicitation(s) from the client unanswered; it waited 13.9 s from its "
        "DHCPv6 reply to its next step (duplicate address detection"
    )
    answered = _ra_events(NetEvent(41.2, "ra", "router advertisement", "to ff02::1"))
    assert unanswered_solicitations(answered) == []
    assert unanswered_solicitations(_ra_events()[:2]) == []  # only the server solicited


# -- the recorded runs' causes ------------------------------------------------------------------
RECORDED_CAUSES = {
    "ipv4-http-reset-capture": (
        "the server reset the connection after 65536 of 167936 bytes; the capture shows its "
        "RST (port 80"
    ),
    "ipv4-http-short-body-capture": "the body ended at 65536 of 167936 bytes: the server closed",
    "ipv4-http-stall-capture": "the server stalled after 65536 of 167936 bytes; the firmware "
    "gave up after 6.3 s (reset the connection",
    "ipv4-http-redirect-capture": "HTTP 302 not followed: the server redirected HEAD "
    "/ipv4-http-redirect/bootx64.efi to /ipv4-http-redirect/moved/bootx64.efi",
    "ipv4-http-not-efi-capture": "not an EFI image: the firmware downloaded all 167936 bytes",
    "ipv4-http-not-efi-console-lost-capture": "not an EFI image: the firmware downloaded all",
    "ipv4-http-iso-wrong-type-capture": "the server sent Content-Type application/octet-stream "
    "for /ipv4-http-iso-wrong-type/boot",
    "ipv4-http-dns-silent-capture": "no DNS answer: 2 queries (A www.httpboot.local)",
}


@pytest.mark.parametrize("name", sorted(RECORDED_CAUSES))
def test_each_recorded_fault_names_its_cause_from_the_server_side(
    recorded: Path, name: str
) -> None:
    cause = judge(load(recorded, name)).cause
    assert cause is not None
    assert cause.startswith(RECORDED_CAUSES[name]), cause


@pytest.mark.parametrize("name", sorted(RECORDED_CAUSES))
def test_without_the_faulty_servers_log_the_cause_is_the_generic_one(
    recorded: Path, name: str
) -> None:
    """The fault's words come from the server's record, not from the case's name."""
    cause = judge(servers(load(recorded, name), http_faults=[], dropped_dns=[])).cause or ""
    assert not cause.startswith(RECORDED_CAUSES[name])


def test_a_silent_name_server_is_told_apart_from_nxdomain(recorded: Path) -> None:
    silent = judge(load(recorded, "ipv4-http-dns-silent-capture"))
    unknown = judge(load(recorded, "ipv4-http-unknown-host-capture"))
    assert "NXDOMAIN" not in (silent.cause or "")
    assert "timeout" in (silent.cause or "")
    assert "NXDOMAIN" in (unknown.cause or "")
    assert "no DNS answer" not in (unknown.cause or "")


def test_a_stall_without_the_clients_end_in_the_capture_uses_the_servers_measure(
    recorded: Path,
) -> None:
    ev = load(recorded, "ipv4-http-stall-capture")
    blind = dataclasses.replace(
        ev, network=[e for e in ev.network or [] if "from the client" not in e.what]
    )
    assert (judge(blind).cause or "").endswith(
        "the firmware gave up after 6.2 s (reset the connection, as the server measured it)"
    )
    began = FaultRecord(1.0, "stall", "GET", ev.image_path, 65536, 167936)
    assert (judge(servers(blind, http_faults=[began])).cause or "").endswith(
        "the firmware had not given up when the case ended"
    )
    limit = dataclasses.replace(began, kind="stall-end", waited=120.0, ended="limit")
    assert (judge(servers(blind, http_faults=[began, limit])).cause or "").endswith(
        "the firmware had not given up after 120 s"
    )


def test_a_lost_progress_line_is_replaced_by_the_clients_acknowledgements(
    recorded: Path,
) -> None:
    ev = load(recorded, "ipv4-http-not-efi-console-lost-capture")
    assert not ev.console.download_complete
    proof = judge(ev).proven["download"]
    assert proof.endswith("capture: the client acknowledged all 168252 stream bytes (the "
                          "console's progress line was lost)")  # fmt: skip
    unacknowledged = [
        dataclasses.replace(e, detail=e.detail.replace("168252 acknowledged", "65536 acknowledged"))
        for e in ev.network or []
    ]
    assert judge(dataclasses.replace(ev, network=unacknowledged)).phase == "download"


def test_a_followed_redirect_is_proven_by_both_requests(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-redirect-capture")
    moved = "/ipv4-http-redirect/moved/bootx64.efi"
    fetched = dataclasses.replace(ev.access[-1], path=moved, status=200, bytes=ev.image_size)
    followed = dataclasses.replace(
        servers(ev, access=[*ev.access, fetched]),
        console=dataclasses.replace(ev.console, download_complete=True),
    )
    judgement = judge(followed)
    assert judgement.proven["download"] == (
        f"HEAD {ev.image_path} 302 to {moved}, followed: GET {moved} 200 167936 bytes to "
        "192.168.111.102 (UefiHttpBoot/1.0)"
    )
    assert judgement.phase == "image"  # the recorded console has no proof line


def test_the_stall_is_measured_from_the_capture(recorded: Path) -> None:
    ev = load(recorded, "ipv4-http-stall-capture")
    (ended,) = ev.net("TCP reset from the client")
    assert "6.300 s after the server's last byte" in ended.detail
    assert ev.net("TCP reset from the server") == []


def test_no_router_adverts_boot_with_the_wait_proven_and_dated(recorded: Path) -> None:
    ev = load(recorded, "ipv6-http-no-ra-capture")
    judgement = judge(ev)
    assert judgement.verdict == "booted"
    assert "no router advert on the wire (3 router solicitation(s)" in judgement.proven["dhcp"]
    adverts = [NetEvent(2.0, "ra", "router advertisement", "to ff02::1")]
    with_ra = dataclasses.replace(ev, network=[*(ev.network or []), *adverts])
    assert judge(with_ra).phase == "dhcp"


def test_a_redirect_the_firmware_reports_only_in_capitals_is_still_a_refusal(
    recorded: Path,
) -> None:
    """Seen in CI: this firmware sometimes prints only its 'HTTP ERROR: Resource Redirected.'
    lines, without the 'Error: ...' ones; it still said why it stopped."""
    from httpboot_harness.evidence import parse_console

    ev = load(recorded, "ipv4-http-redirect-capture")
    plain = (recorded / "ipv4-http-redirect-capture" / "console.txt").read_text()
    capitals_only = "\n".join(line for line in plain.splitlines() if "Error: " not in line)
    ev = dataclasses.replace(ev, console=parse_console(capitals_only, ev.proof_line))
    assert ev.console.firmware_errors == ("HTTP ERROR: Resource Redirected.",)
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("refused", "download")
