"""The phase table: the one place that lists the links of a boot and how each one is proven.

    firmware -> boot-entry -> dhcp -> dns -> connect (http) | tls (https) -> download -> image
    -> [loader -> kernel -> initrd] -> poweroff

The bracketed stages belong to a boot chain (shim -> GRUB -> Linux + initrd) and apply only to
a payload that brings them (``CHAIN_PHASES``).

For every phase the table holds its progress label, the timing key set when it is reached, the
console lines that mark it in the timeline, the default proof (a function of the evidence that
returns one line of proof, or None) and the default explanation of its failure. A case's parts
may skip a phase (plain HTTP has no TLS) or bring their own proof (PXE proves the download from
the TFTP log). The judge (``evidence.judge``) walks this table; nothing else lists phases.

A proof never rests on a console line alone when a server log, the capture or a later phase can
speak: console bytes can be lost when the reader is starved, so a later phase's proof (the
image's nonce) stands for the console lines of the earlier ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .evidence import Evidence
    from .services.faulty_http import FaultRecord

Prover = Callable[["Evidence"], "str | None"]
Explainer = Callable[["Evidence"], str]

HTTP_PORT, HTTPS_PORT = 80, 443
NBP_OK = "NBP file downloaded successfully."
DOWNLOAD_DONE = "Downloading...100%"


class Phase(StrEnum):
    FIRMWARE = "firmware"
    BOOT_ENTRY = "boot-entry"
    DHCP = "dhcp"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    DOWNLOAD = "download"
    IMAGE = "image"
    LOADER = "loader"
    KERNEL = "kernel"
    INITRD = "initrd"
    POWEROFF = "poweroff"


CHAIN_PHASES = frozenset({Phase.LOADER, Phase.KERNEL, Phase.INITRD})
GRUB_BANNER = "Welcome to GRUB!"
KERNEL_BANNER = "Linux version "
STAGE_LINE = re.compile(
    r"Welcome to GRUB!|Linux version |HTTPBOOT-PROOF|EFI stub: |hbh-grub: |^\s*error: |"
    r"Verification failed|[Ss]ecurity [Vv]iolation|Kernel panic|grub> |Failed to |start_image"
)
"""Console lines a chain's stages print: their marks, their errors and their prompts."""
STOP_LINE = re.compile(
    r"grub> *$|Kernel panic - not syncing|^Shell> *$|Verification failed: ", re.MULTILINE
)
"""A boot that stopped at a prompt, in a panic or at shim's refusal (a box that waits for a
key): judged when it appears, not at the deadline (GRUB's normal mode may print nothing before
its prompt)."""
STAGE_ERROR = re.compile(r"error: [^│\n]*|Verification failed: [^│\n]*|Kernel panic[^│\n]*|grub>")
"""The words of a stage's error, without the box shim draws around it (shim's "Failed to fetch
image" for its optional files is noise: the server's 404s are in the cause anyway)."""


@dataclass(frozen=True)
class PhaseSpec:
    """Everything about one phase that does not depend on a case's parts."""

    phase: Phase
    label: str
    """What the live progress shows while the boot is in this phase."""
    timing_key: str
    """The key of ``timings`` (seconds from the guest's start) set when the phase is reached."""
    console_marks: tuple[tuple[str, str], ...]
    """(console text, what it marks) dated in the timeline."""
    prove: Prover
    explain: Explainer


def family_of(address: str) -> str | None:
    """``ipv4``, ``ipv6`` (an IPv4-mapped IPv6 address counts as IPv4) or None."""
    try:
        parsed = ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return "ipv4"
    return "ipv4" if isinstance(parsed, IPv4Address) else "ipv6"


# -- proofs ----------------------------------------------------------------------------------
def _prove_firmware(ev: Evidence) -> str | None:
    return "the firmware drew its screens on the serial line" if ev.firmware_output else None


def _prove_boot_entry(ev: Evidence) -> str | None:
    return ev.case.source.entry_note(ev.case) if ev.reached_boot_entry else None


def _prove_dhcp(ev: Evidence) -> str | None:
    if ev.case.family == "ipv4":
        return _prove_dhcp4(ev)
    return _prove_dhcp6(ev)


def _prove_dhcp4(ev: Evidence) -> str | None:
    offer = ev.case.source.offer
    station = ev.console.station_address
    for ex in ev.servers.dhcp4:
        if "DHCPACK" not in ex.messages or station not in (None, ex.address):
            continue
        if offer is None and ex.bootfile is None:
            return f"DHCPACK {ex.address} to {ex.mac}: an address and no boot file"
        if offer is None or ex.bootfile != ev.offered_url:
            continue
        if offer == "PXEClient":
            return f"DHCPACK {ex.address} to {ex.mac} with PXE boot file {ex.bootfile}"
        if ex.vendor_class_sent:
            return (
                f"DHCPACK {ex.address} to {ex.mac} with option 60 HTTPClient "
                f"and boot file {ex.bootfile}"
            )
    return None


def prove_dhcp4_without_router(ev: Evidence) -> str | None:
    """The offer was taken, and no DHCPv4 answer carried a router (option 3)."""
    proof = _prove_dhcp4(ev)
    if proof is None or any("3" in ex.options_sent for ex in ev.servers.dhcp4):
        return None
    return f"{proof}; no router option (3) sent"


def prove_dhcp6_without_router_adverts(ev: Evidence) -> str | None:
    """The DHCPv6 offer was taken, and the capture shows no router advertisement at all."""
    proof = _prove_dhcp6(ev)
    if proof is None or ev.network is None or ev.net("router advertisement"):
        return None
    waited = ev.net("no router advert")
    said = waited[0].detail if waited else "no router solicitation either"
    return f"{proof}; no router advert on the wire ({said})"


def _boot_client_class(ev: Evidence) -> str:
    """The vendor class the boot client sends: its offer's (PXE: PXEClient), else HTTPClient."""
    return ev.case.source.offer or "HTTPClient"


def _prove_dhcp6(ev: Evidence) -> str | None:
    offer = ev.case.source.offer
    replies = [addr for kind, addr in ev.servers.dhcp6.replies if kind == "Reply"]
    if not replies:
        return None
    client_class = _boot_client_class(ev)
    if ev.network is not None and not any(
        client_class in e.detail for e in ev.net("DHCPv6 REQUEST")
    ):
        # The firmware's IPv6 stack also asks for an address on its own (router adverts say
        # "managed"); only a Request in the boot client's class shows the boot asked (and, with
        # an offer, took it), even when the URL came from elsewhere (Boot URI, BootNext).
        return None
    if offer is None:
        if ev.servers.dhcp6.offers:
            return None
        return f"dhcpd6: Reply NA {replies[-1]}: an address and no boot URL"
    if (offer, ev.offered_url) in ev.servers.dhcp6.offers:
        return f"dhcpd6: Reply NA {replies[-1]} with {offer} offer {ev.offered_url}"
    return None


def _prove_dns(ev: Evidence) -> str | None:
    wanted = "A" if ev.case.family == "ipv4" else "AAAA"
    if "://" not in ev.boot_url or ev.boot_url.startswith("tftp://"):
        return "no DNS needed: the boot file is named by the server's address"
    host = ev.boot_url.split("/")[2]
    if family_of(host) is not None:
        if any(rtype == wanted for rtype, _, _ in ev.servers.dns_queries):
            return None  # the URL named an address, yet the client resolved a name
        return f"no DNS needed: the URL names {host}, and no {wanted} query was logged"
    if ev.network is not None:
        # A query alone proves nothing: the answer must carry a record.
        for e in ev.net("DNS answer"):
            if e.detail.startswith(f"{wanted} {host}:") and not e.detail.endswith(" 0 record(s)"):
                return f"DNS answer {e.detail}"
        return None
    for rtype, name, client in ev.servers.dns_queries:
        if rtype == wanted and name == host:
            return f"dnsmasq answered {rtype} {name} for {client}"
    return None


def _wanted_port(ev: Evidence) -> int:
    return HTTPS_PORT if ev.case.scheme == "https" else HTTP_PORT


def _prove_connect(ev: Evidence) -> str | None:
    port = _wanted_port(ev)
    if ev.network is None:  # no capture: a logged request shows the connection was made
        requests = ev.requests_on(port)
        return f"the server logged {len(requests)} request(s) on port {port}" if requests else None
    if any(e.detail == f"port {port}" for e in ev.net("TCP connected")):
        return f"TCP connection to port {port} accepted"
    return None


def _prove_tls(ev: Evidence) -> str | None:
    requests = ev.requests_on(HTTPS_PORT)
    return f"{len(requests)} request(s) over TLS on port {HTTPS_PORT}" if requests else None


def _prove_http_download(ev: Evidence) -> str | None:
    # The server sent every byte; the client's side is its console line, or, when console
    # bytes were lost, the image running at all.
    if ev.console.download_complete:
        client_side = f"console: {DOWNLOAD_DONE}"
    elif ev.console.proof_seen:
        client_side = "the image ran (its nonce is on the console)"
    else:
        return None
    for r in ev.requests_on(_wanted_port(ev)):
        if r.method == "GET" and r.path == ev.image_path and r.status == 200:
            if r.bytes != ev.image_size:
                continue
            return (
                f"GET {r.path} 200 {r.bytes} bytes to {r.client} on port {r.port} ({r.agent}); "
                + client_side
            )
    return None


def prove_download_acknowledged(ev: Evidence) -> str | None:
    """The usual proof, or, when the console lost the firmware's progress line (a starved
    reader), the server's full GET and the client's acknowledgement of every byte of it in the
    capture: for an image that is downloaded and then not run, so no later phase stands in."""
    if proof := _prove_http_download(ev):
        return proof
    for r in ev.requests_on(_wanted_port(ev)):
        if r.method != "GET" or r.path != ev.image_path or r.status != 200:
            continue
        if r.bytes != ev.image_size:
            continue
        for end in ev.net("TCP reset from the client") + ev.net("TCP FIN from the client"):
            found = re.search(r"after (\d+) stream bytes, (\d+) acknowledged", end.detail)
            if found and found[1] == found[2] and int(found[2]) >= ev.image_size:
                return (
                    f"GET {r.path} 200 {r.bytes} bytes to {r.client} on port {r.port} "
                    f"({r.agent}); capture: the client acknowledged all {found[2]} stream bytes "
                    "(the console's progress line was lost)"
                )
    return None


def prove_redirect_followed(ev: Evidence) -> str | None:
    """The image's URL answered 302 (the faulty server's record), and the firmware fetched the
    whole image from the Location: both requests are the proof."""
    for record in ev.servers.http_faults:
        if record.kind != "redirect":
            continue
        for r in ev.requests_on(_wanted_port(ev)):
            whole = r.method == "GET" and r.status == 200 and r.bytes == ev.image_size
            if (
                whole
                and r.path == record.detail
                and (ev.console.download_complete or ev.console.proof_seen)
            ):
                return (
                    f"{record.method} {record.path} 302 to {record.detail}, followed: GET "
                    f"{r.path} 200 {r.bytes} bytes to {r.client} ({r.agent})"
                )
    return None


def prove_tftp_download(ev: Evidence) -> str | None:
    """PXE: the TFTP server sent the whole file to the client of the case's family."""
    wanted = "/" + ev.image_path.lstrip("/")
    if not (ev.console.nbp_downloaded or ev.console.proof_seen):
        return None
    for record in ev.servers.tftp:
        if record.path.endswith(wanted) and family_of(record.client) == ev.case.family:
            return f"dnsmasq-tftp: sent {record.path} to {record.client}"
    return None


def _prove_image(ev: Evidence) -> str | None:
    return f"console: {ev.proof_line!r}" if ev.console.proof_seen else None


# -- a boot chain's stages -----------------------------------------------------------------
def _scheme(port: int) -> str:
    return "https" if port == HTTPS_PORT else "http"


def _squeezed(path: str) -> str:
    """Shim asks for ``<dir>//grubx64.efi``: the same file."""
    return re.sub("/+", "/", path)


def _chain_fetches(ev: Evidence) -> dict[str, str]:
    """Each chain file fetched whole (GET, 200, its full size, from the case's family) after the
    firmware's image and after every file of the stages before its own (within a stage GRUB
    may fetch in any order: it opens every initrd before reading one): path -> proof line."""
    found: dict[str, str] = {}
    start = next(
        (i for i, r in enumerate(ev.access) if r.path == ev.image_path and r.status == 200), None
    )
    if start is None:
        return found
    stages = list(dict.fromkeys(s.phase for s in ev.served))
    for stage in stages:
        last = start
        for served in (s for s in ev.served if s.phase == stage):
            index = next(
                (i for i, r in enumerate(ev.access) if i > start and r.method == "GET"
                 and r.status == 200 and r.bytes == served.size
                 and _squeezed(r.path) == served.path
                 and family_of(r.client) == ev.case.family),
                None,
            )  # fmt: skip
            if index is None:
                return found
            r = ev.access[index]
            found[served.path] = (
                f"GET {r.path} 200 {r.bytes} bytes over {_scheme(r.port)} ({r.agent})"
            )
            last = max(last, index)
        start = last
    return found


def _stage_fetched(ev: Evidence, phase: Phase) -> str | None:
    """Every file of ``phase`` fetched in order, joined; None when one is missing."""
    fetches = _chain_fetches(ev)
    files = [s for s in ev.served if s.phase == phase.value]
    if not files or any(s.path not in fetches for s in files):
        return None
    return "; ".join(fetches[s.path] for s in files)


def _stage_line(ev: Evidence, needle: str) -> str | None:
    return next((line for line in ev.console.stage_lines if needle in line), None)


def _chain_report(ev: Evidence) -> dict[str, str] | None:
    """The proof initrd's line, split: secureboot, certs, cmdline."""
    line = _stage_line(ev, ev.proof_line + " ")
    if line is None:
        return None
    found = re.search(r"secureboot=(?P<sb>\S+) certs=(?P<certs>\S*) cmdline=(?P<cmdline>.*)$", line)
    return found.groupdict() if found else None


def prove_shim_ran(ev: Evidence) -> str | None:
    """A chain's image is shim, silent on the console: it ran when it fetched its second stage."""
    fetched = _stage_fetched(ev, Phase.IMAGE)
    return f"shim ran: it fetched its second stage: {fetched}" if fetched else None


def _prove_loader(ev: Evidence) -> str | None:
    fetched = _stage_fetched(ev, Phase.LOADER)
    if fetched is None:
        return None
    if _stage_line(ev, GRUB_BANNER) is not None:
        return f"console: {GRUB_BANNER!r}; {fetched}"
    return f"{fetched}; (console line lost; the initrd's proof stands for it)" if (
        ev.console.proof_seen) else None  # fmt: skip


def _prove_kernel(ev: Evidence) -> str | None:
    fetched = _stage_fetched(ev, Phase.KERNEL)
    banner = _stage_line(ev, KERNEL_BANNER)
    if fetched is None or (banner is None and not ev.console.proof_seen):
        return None
    report = _chain_report(ev)
    if report is not None and not report["cmdline"].strip().endswith(ev.kernel_cmdline):
        return None
    said = f"console: {banner.strip()[:60]!r}" if banner else "its banner was lost"
    got = f"; command line as served: {ev.kernel_cmdline!r}" if report else ""
    return f"{fetched}; {said}{got}"


SECURE_BOOT_READINGS = {
    "0": "0 (Secure Boot off)",
    "1": "1 (Secure Boot on)",
    "absent": "absent (no SecureBoot variable: Secure Boot off)",
}
"""What the proof initrd's ``secureboot=`` means (``chain.init_script`` writes ``absent`` when
efivarfs has no SecureBoot variable). A build without Secure Boot support defines no such
variable at all (Debian 13's plain OVMF, edk2 2025.02); Debian 12's sets it to 0. Each firmware
profile says which readings agree with it (``FirmwareProfile.secure_boot_readings``)."""


def _secure_boot_said(reading: str) -> str:
    return SECURE_BOOT_READINGS.get(reading, f"{reading} (not a value UEFI defines)")


def _secure_boot_agrees(ev: Evidence, report: dict[str, str]) -> bool:
    """The initrd's reading is one the case's firmware profile implies, whatever the build."""
    return report["sb"] in ev.case.firmware.secure_boot_readings


def _secure_boot_disagreement(ev: Evidence, report: dict[str, str]) -> str:
    """The reading, what it means, and what the profile expected; a Secure Boot profile whose
    firmware has no SecureBoot variable ran a build without Secure Boot, and the cause says so."""
    firmware = ev.case.firmware
    expected = " or ".join(_secure_boot_said(r) for r in sorted(firmware.secure_boot_readings))
    said = f"the initrd saw SecureBoot={_secure_boot_said(report['sb'])}, expected {expected}"
    if report["sb"] == "absent" and firmware.secure_boot:
        said += (
            ": the firmware that ran has no Secure Boot support; fix: give the Secure Boot "
            "build (ovmf-secboot-code, e.g. OVMF_CODE_4M.secboot.fd) and its vars template "
            "with enrolled keys (ovmf-secboot-vars, e.g. OVMF_VARS_4M.ms.fd)"
        )
    return said


def _missing_certs(ev: Evidence, report: dict[str, str]) -> list[str]:
    present = set(report["certs"].split(","))
    wanted = {"/".join(m.split("/")[-2:]) for s in ev.served for m in s.members}
    return sorted(wanted - present)


def _prove_initrd(ev: Evidence) -> str | None:
    fetched = _stage_fetched(ev, Phase.INITRD)
    report = _chain_report(ev)
    if fetched is None or report is None:
        return None
    if not _secure_boot_agrees(ev, report) or _missing_certs(ev, report):
        return None
    files = report["certs"].rstrip(",")
    certs = f", certificate files {files}" if files not in ("", "none") else ""
    state = _secure_boot_said(report["sb"])
    return f"{fetched}; console: {ev.proof_line!r} with SecureBoot={state}{certs}"


# -- a user's own tree: its stages are proven by what they print (the expect line stands for all)
def _seen_or_expected(mark: str, what: str) -> Prover:
    def prove(ev: Evidence) -> str | None:
        if (line := _stage_line(ev, mark)) is not None:
            return f"console: {line.strip()[:70]!r}"
        return f"{what} (the expected line came later)" if ev.console.proof_seen else None

    return prove


def _prove_tree_image(ev: Evidence) -> str | None:
    """The firmware's image ran: it fetched more from the tree, or a later stage printed."""
    further = [f"{r.method} {r.path} {r.status}" for r in ev.access if r.path != ev.image_path]
    if further:
        return f"the image fetched more: {', '.join(further[:4])}"
    return _seen_or_expected(GRUB_BANNER, "the image ran")(ev)


def _prove_expect_line(ev: Evidence) -> str | None:
    if not ev.console.proof_seen:
        return None
    gets = [f"{r.method} {r.path} {r.status}" for r in ev.access if r.path != ev.image_path]
    return f"console: {ev.proof_line!r} (the expected line); requests after the image: {gets}"


TREE_PROVERS: dict[Phase, Prover] = {
    Phase.IMAGE: _prove_tree_image,
    Phase.LOADER: _seen_or_expected(GRUB_BANNER, "the loader ran"),
    Phase.KERNEL: _seen_or_expected(KERNEL_BANNER, "the kernel ran"),
    Phase.INITRD: _prove_expect_line,
}
"""A user's tree is not the harness's: no file list, no proof initrd; the stage marks that are
seen, every request, and the expect line."""


def _prove_poweroff(ev: Evidence) -> str | None:
    event = ev.shutdown_event
    if event and event.get("guest") is True and event.get("reason") == "guest-shutdown":
        return "QMP SHUTDOWN (guest=true, reason=guest-shutdown)"
    return None


# -- explanations ----------------------------------------------------------------------------
def _explain_firmware(_ev: Evidence) -> str:
    return "QEMU ran, but the firmware printed nothing on the serial line"


def _explain_boot_entry(ev: Evidence) -> str:
    return ev.menu_problem or "the firmware's menu never offered the boot entry"


def _explain_dhcp(ev: Evidence) -> str:
    family_dhcp = "DHCPv4" if ev.case.family == "ipv4" else "DHCPv6"
    if ev.case.family == "ipv6" and ev.servers.dhcp6.offers and _offer_never_requested(ev):
        return "dhcpd6 advertised the boot URL, and the client never requested it"
    answers = ev.net(f"{family_dhcp} OFFER") + ev.net(f"{family_dhcp} ADVERTISE")
    client_class = _boot_client_class(ev)
    if ev.network is not None and not ev.net(family_dhcp):
        return f"the client sent no {family_dhcp} message"
    if ev.network is not None and not any(client_class in e.detail for e in ev.net(family_dhcp)):
        return (
            f"the boot client sent no {family_dhcp} message in the {client_class} class "
            "(only the firmware's own network stack asked for an address)"
        )
    if ev.network is not None and not answers:
        return f"no {family_dhcp} answer: the client asked, no server offered"
    if (
        ev.case.source.offer is not None
        and answers
        and not any("HTTPClient" in e.detail for e in answers)
    ):
        return f"{family_dhcp} answer without the HTTPClient class, so the firmware ignored it"
    return "no HTTPClient offer/reply for this family in the DHCP server's log"


def _offer_never_requested(ev: Evidence) -> bool:
    """dhcpd6 advertised the boot URL and the boot client never asked for it. The firmware's own
    IPv6 stack may still request an address (a Reply in dhcpd6's log), so with a capture only a
    Request in the boot client's class counts, as in the proof."""
    offer = ev.case.source.offer
    if ev.network is None or offer is None:
        return {kind for kind, _ in ev.servers.dhcp6.replies} == {"Advertise"}
    advertised = any("boot URL" in e.detail for e in ev.net("DHCPv6 ADVERTISE"))
    return advertised and not any(offer in e.detail for e in ev.net("DHCPv6 REQUEST"))


def _explain_dns(ev: Evidence) -> str:
    if nxdomain := ev.net("DNS answer NXDOMAIN"):
        return f"DNS: the name is unknown ({nxdomain[0].detail}: NXDOMAIN)"
    if silent := _unanswered_dns(ev):
        return silent
    if ev.net("DNS query") and not ev.net("DNS answer"):
        return "DNS: the query got no answer"
    return "no DNS query for the boot host was answered"


def _explain_connect(ev: Evidence) -> str:
    if refused := ev.net("TCP refused"):
        return f"TCP connection refused ({refused[0].detail})"
    if ev.net("TCP SYN"):
        return "TCP SYN sent, no answer"
    return "the firmware never opened a TCP connection"


def _explain_tls(ev: Evidence) -> str:
    alerts = ev.net("TLS alert")
    words = "the HTTPS server logged: " + " | ".join(ev.servers.tls_errors[-2:])
    if alerts:
        return f"TLS alert ({alerts[0].detail}); " + (words if ev.servers.tls_errors else "")
    if ev.servers.tls_errors:
        return words
    if ev.network is not None and not ev.net("TCP SYN"):
        return "the firmware did not even connect: no CA certificates enrolled, or TLS off"
    if ev.net("TLS ServerHello"):  # (with a request logged, TLS would be proven)
        return (
            "the firmware gave up during the TLS handshake after the server's hello and "
            "certificate, without an alert: it did not accept the server"
        )
    return "no TLS handshake completed"


def _explain_download(ev: Evidence) -> str:
    if spoiled := _spoiled_transfer(ev):
        return spoiled
    got = [f"{r.method} {r.path} {r.status} {r.bytes}" for r in ev.access]
    for r in ev.access:
        if r.status >= 400:
            return f"HTTP {r.status}: the server answered {r.method} {r.path} with {r.status}"
    statuses = [e.detail for e in ev.net("HTTP ")]
    return f"expected GET {ev.image_path} 200 {ev.image_size} bytes; server saw {got or 'none'}" + (
        f"; responses {statuses}" if statuses else ""
    )


def _explain_image(ev: Evidence) -> str:
    if ev.console.security_violation:
        return (
            "Secure Boot refused the image: the firmware reported "
            f"{ev.console.security_violation!r} after the download"
        )
    if ev.returned_to_menu and ev.case.firmware.secure_boot:
        return (
            "Secure Boot: the firmware downloaded the image and went back to its menu without "
            "running it (an image it does not trust)"
        )
    if spoiled := _spoiled_image(ev):
        return spoiled
    if ev.returned_to_menu:
        return "the firmware went back to its menu after the download without running the image"
    return "the image's proof line never appeared on the console"


def _stage_errors(ev: Evidence) -> str:
    """The chain's error and refusal lines, quoted."""
    said = [m.strip() for line in ev.console.stage_lines for m in STAGE_ERROR.findall(line)]
    return f"; console: {' / '.join(dict.fromkeys(said[-5:]))}" if said else ""


def _chain_gets(ev: Evidence) -> str:
    got = [f"{r.method} {r.path} {r.status}" for r in ev.access if r.path != ev.image_path]
    return f"; after the image the server saw {got or 'no request'}"


def _explain_loader(ev: Evidence) -> str:
    if _stage_line(ev, GRUB_BANNER) is None:
        said = "GRUB never started (no 'Welcome to GRUB!'): shim did not run it"
    else:  # (a user's tree is proven at loader by GRUB's banner: this is the harness's chain)
        said = "GRUB started but did not fetch its grub.cfg"
        if (own := _stage_line(ev, "hbh-grub: ")) is not None:
            said += f" (its early config saw {own.strip().removeprefix('hbh-grub: ')!r})"
    return said + _stage_errors(ev) + _chain_gets(ev)


def _explain_kernel(ev: Evidence) -> str:
    report = _chain_report(ev)
    if report is not None and not report["cmdline"].strip().endswith(ev.kernel_cmdline):
        return f"the kernel ran with {report['cmdline']!r}, not the served {ev.kernel_cmdline!r}"
    if not ev.served:  # a user's tree
        said = "no kernel printed its banner"
    elif _stage_fetched(ev, Phase.KERNEL) is None:
        said = "GRUB did not fetch the whole kernel"
    else:
        said = "the kernel was fetched and never printed its banner"
    return said + _stage_errors(ev) + _chain_gets(ev)


def _explain_initrd(ev: Evidence) -> str:
    report = _chain_report(ev)
    if not ev.served:  # a user's tree
        return "the expected line never appeared" + _stage_errors(ev) + _chain_gets(ev)
    if _stage_fetched(ev, Phase.INITRD) is None:
        return "GRUB did not fetch every initrd whole" + _stage_errors(ev) + _chain_gets(ev)
    if report is None:
        return "the initrd's proof line never appeared" + _stage_errors(ev)
    if not _secure_boot_agrees(ev, report):
        return _secure_boot_disagreement(ev, report)
    return f"the initrd did not find the certificate files {_missing_certs(ev, report)}"


# -- the faulty servers' side: a spoiled transfer, a silent name server ------------------------
def _unanswered_dns(ev: Evidence) -> str | None:
    """Queries that went out and got nothing back (not NXDOMAIN: no answer at all), when the
    name server's own log says it read them (the silent name server of the dns-silent fault)."""
    queries = ev.net("DNS query")
    if not queries or ev.net("DNS answer") or not ev.servers.dropped_dns:
        return None
    span = queries[-1].seconds - queries[0].seconds
    said = (
        f"no DNS answer: {len(queries)} quer{'y' if len(queries) == 1 else 'ies'} "
        f"({queries[0].detail}) in {span:.1f} s, none answered"
    )
    return said + (
        f"; the name server read {len(ev.servers.dropped_dns)} and answered none "
        "(a timeout, not a name error)"
    )


def _stalled(ev: Evidence, record: FaultRecord) -> str:
    """How long the firmware waited on a stalled transfer: from the capture (its FIN or reset
    after the server's last byte), else from the server's own measure, else that it never did."""
    said = f"the server stalled after {record.sent} of {record.total} bytes; "
    ends = ev.net("TCP reset from the client") + ev.net("TCP FIN from the client")
    waited = _seconds_after_last_byte(ends[0].detail) if ends else None
    if ends and waited is not None:
        how = "reset" if "reset" in ends[0].what else "closed"
        return said + (
            f"the firmware gave up after {waited:.1f} s ({how} the connection; "
            f"capture: {ends[0].detail})"
        )
    end = next((r for r in ev.servers.http_faults if r.kind == "stall-end"), record)
    if end.waited is not None and end.ended in ("fin", "reset"):
        how = "reset" if end.ended == "reset" else "closed"
        return said + (
            f"the firmware gave up after {end.waited:.1f} s ({how} the connection, as the "
            "server measured it)"
        )
    if end.waited is not None:
        return said + f"the firmware had not given up after {end.waited:.0f} s"
    return said + "the firmware had not given up when the case ended"


def _spoiled_transfer(ev: Evidence) -> str | None:
    """The faulty server's record of the image's transfer, with what the capture saw."""
    for record in ev.servers.http_faults:
        if record.kind == "reset":
            wire = ev.net("TCP reset from the server")
            return (
                f"the server reset the connection after {record.sent} of {record.total} bytes"
                + (f"; the capture shows its RST ({wire[0].detail})" if wire else "")
            )
        if record.kind == "short":
            wire = ev.net("TCP FIN from the server")
            return (
                f"the body ended at {record.sent} of {record.total} bytes: the server closed "
                "the connection (FIN) before its Content-Length"
                + (f"; the capture shows the FIN ({wire[0].detail})" if wire else "")
            )
        if record.kind == "stall":
            return _stalled(ev, record)
        if record.kind == "redirect":
            followed = [r for r in ev.access if r.path == record.detail]
            if followed:
                continue
            return (
                f"HTTP 302 not followed: the server redirected {record.method} {record.path} "
                f"to {record.detail}, and the firmware never asked for it"
            )
        if record.kind == "content-type":
            return (
                f"the server sent Content-Type {record.detail} for {record.path} (a name "
                f"without .efi, .iso or .img), and the firmware {_what_client_did(ev, record)}"
            )
    return None


def _what_client_did(ev: Evidence, record: FaultRecord) -> str:
    """After the response's headers: the client's GET, and how it ended it."""
    gets = [r for r in ev.access if r.method == "GET" and r.path == record.path]
    if not gets and not ev.net("GET"):
        return "never asked for the body (GET)"
    ended = ev.net("TCP reset from the client") + ev.net("TCP FIN from the client")
    aborted = [r for r in ev.servers.http_faults if r.kind == "client-abort"]
    if aborted or ended:
        said = "asked for it (GET) and closed the connection after the headers"
        return said + (f" (capture: TCP {ended[0].what[4:]}, {ended[0].detail})" if ended else "")
    return "downloaded it"


def _seconds_after_last_byte(detail: str) -> float | None:
    found = re.search(r"([\d.]+) s after the server's last byte", detail)
    return float(found[1]) if found else None


def _spoiled_image(ev: Evidence) -> str | None:
    """What the faulty server sent in place of the image, when the firmware took it all."""
    for record in ev.servers.http_faults:
        if record.kind == "garbage":
            return (
                f"not an EFI image: the firmware downloaded all {record.sent} bytes and did not "
                f"run them (the server sent {record.detail})"
                + ("; it went back to its menu" if ev.returned_to_menu else "")
            )
        if record.kind == "content-type":
            return (
                f"the firmware downloaded the file sent as Content-Type {record.detail} and did "
                "not boot it"
            )
    return None


def _explain_poweroff(ev: Evidence) -> str:
    return f"last QMP shutdown event: {ev.shutdown_event}"


PHASES: tuple[PhaseSpec, ...] = (
    PhaseSpec(Phase.FIRMWARE, "firmware", "firmware_output", (), _prove_firmware,
              _explain_firmware),
    PhaseSpec(Phase.BOOT_ENTRY, "boot entry", "entry_selected", (), _prove_boot_entry,
              _explain_boot_entry),
    PhaseSpec(Phase.DHCP, "dhcp", "dhcp", (
        (">>Start HTTP Boot over IPv4", "firmware starts HTTP boot over IPv4"),
        (">>Start HTTP Boot over IPv6", "firmware starts HTTP boot over IPv6"),
        (">>Start PXE over IPv4", "firmware starts PXE over IPv4"),
        (">>Start PXE over IPv6", "firmware starts PXE over IPv6"),
        ("Station IP address is", "firmware has its address"),
        ("Station IPv6 address is", "firmware has its address"),
    ), _prove_dhcp, _explain_dhcp),
    PhaseSpec(Phase.DNS, "dns", "dns", (("URI: ", "firmware has the boot URI"),),
              _prove_dns, _explain_dns),
    PhaseSpec(Phase.CONNECT, "connect", "connect", (), _prove_connect, _explain_connect),
    PhaseSpec(Phase.TLS, "tls", "tls", (), _prove_tls, _explain_tls),
    PhaseSpec(Phase.DOWNLOAD, "download", "download", (
        ("File Size: ", "firmware knows the file size (HEAD answered)"),
        (DOWNLOAD_DONE, "firmware finished the download"),
        (NBP_OK, "firmware finished the download"),
    ), _prove_http_download, _explain_download),
    PhaseSpec(Phase.IMAGE, "image running", "firmware", (("Welcome to GRUB!", "image started"),),
              _prove_image, _explain_image),
    PhaseSpec(Phase.LOADER, "loader", "loader", ((GRUB_BANNER, "GRUB started"),), _prove_loader,
              _explain_loader),
    PhaseSpec(Phase.KERNEL, "kernel", "kernel", ((KERNEL_BANNER, "the kernel started"),),
              _prove_kernel, _explain_kernel),
    PhaseSpec(Phase.INITRD, "initrd", "initrd", (("HTTPBOOT-PROOF", "the initrd's proof line"),),
              _prove_initrd, _explain_initrd),
    PhaseSpec(Phase.POWEROFF, "power-off", "poweroff", (), _prove_poweroff, _explain_poweroff),
)  # fmt: skip
"""In boot order. The ``firmware`` timing key (guest start to the image running) is kept from
the first reports; ``image`` is the phase it dates."""

SPECS: dict[Phase, PhaseSpec] = {spec.phase: spec for spec in PHASES}

FIRMWARE_ERROR_MARK = ("Error: ", "firmware reports an error")


def console_marks() -> tuple[tuple[str, str], ...]:
    """Every console mark of the table, in phase order, then the firmware's error line."""
    return (*(mark for spec in PHASES for mark in spec.console_marks), FIRMWARE_ERROR_MARK)
