"""A boot case, composed of parts; its id, markers and expectation are derived here, once.

A :class:`Case` is a family and a scheme plus one part of each kind:

- ``source``: how the firmware learns the URL (:class:`Dhcp`, :class:`Pxe`, :class:`TypedUri`,
  :class:`Preset`) and so how its boot entry is reached;
- ``payload``: what is served (:class:`ProofEfi`, :class:`ProofIso`, :class:`Chain`,
  :class:`UserTree`);
- ``firmware``: the firmware profile (:class:`PlainFirmware`, :class:`SecureBoot`);
- ``faults``: zero or more induced failures (:class:`Untrusted`, :class:`NoDhcp`, ...);
- ``arch``: the client architecture (``x86_64``, ``aarch64``); everything that differs between
  them (QEMU, board, firmware, GRUB format, boot file, vendor class) is in ``arch.py``.

Each part owns everything about itself through the hooks of :class:`Part`: the words it adds to
the id, its markers, its edits to the URL, the server plan and the machine, the phases it skips,
its own proofs, its expectation, and the combinations it cannot take part in (checked when the
case is built: a :class:`UsageError` naming the conflict). A new kind of fault is one subclass.

Users compose their own cases from the same parts, e.g. ``Case("ipv6", "https",
source=TypedUri())``; a case id (``ipv6-https``) is used everywhere: pytest ids, CLI arguments,
artifact folders and report rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from .arch import ARCHES, Arch, ArchSpec, arch_spec
from .errors import UsageError
from .evidence import Verdict
from .network import Addressing
from .phases import (
    CHAIN_PHASES,
    TREE_PROVERS,
    Phase,
    Prover,
    prove_dhcp4_without_router,
    prove_dhcp6_without_router_adverts,
    prove_download_acknowledged,
    prove_redirect_followed,
    prove_shim_ran,
    prove_tftp_download,
)
from .server import ServerPlan
from .services.dhcpd6 import Dhcp6Vendor
from .services.faulty_http import FaultKind, HttpFault

if TYPE_CHECKING:
    from .machine import MachineSpec
    from .ovmf_menu import OvmfMenu
    from .payload import ProofImage as BuiltImage
    from .tls import TlsMaterial
    from .waiting import Deadline

Family = Literal["ipv4", "ipv6"]
Scheme = Literal["http", "https"]
UrlHost = Literal["name", "literal"]

FAMILIES: tuple[Family, ...] = ("ipv4", "ipv6")
SCHEMES: tuple[Scheme, ...] = ("http", "https")
IPV4_OFF = ("-fw_cfg", "name=opt/org.tianocore/IPv4Support,string=no")
PRESET_IPV6_WAIT_MS = 3000

# Where each part's words stand in an id, so that ids made before parts existed stay valid:
# ipv4-https-untrusted, ipv4-http-literal, ipv4-http-iso-uri, ipv6-http-dhcp6-string, ...
RANK_TRUST, RANK_HOST, RANK_PAYLOAD, RANK_SOURCE, RANK_DHCP6, RANK_FAULT = range(6)


@dataclass(frozen=True)
class Expectation:
    """What a case expects: booted, or refused/failed at a phase, for a named cause."""

    verdict: Verdict = "booted"
    phase: Phase | None = None
    cause: str | tuple[str, ...] | None = None
    """Text the verdict's cause must contain (from the server side, not the console alone);
    a tuple: any one of them (firmware builds explain the same refusal differently)."""
    recorded: bool = False
    """A control: any verdict of the firmware's is as expected (its observation is recorded);
    only the harness's own ``error`` is not."""

    changes: tuple[ReleaseChange, ...] = ()
    """What upstream edk2 changed: from each change's release on, its expectation holds."""

    def cause_matches(self, cause: str | None) -> bool:
        wanted = (self.cause,) if isinstance(self.cause, str) else self.cause
        return wanted is None or any(text in (cause or "") for text in wanted)

    def for_release(self, release: str | None) -> tuple[Expectation, ReleaseChange | None]:
        """The expectation on a firmware of edk2 ``release`` (``YYYY.MM``) and the change that
        made it, if any. A release that cannot be read (a build from a git tree with no version
        string) is held to any of them: which one applies is not known, and the report says so
        (``expected_release``)."""
        if not self.changes:
            return self, None
        if release is None:
            causes = [self.cause, *(change.after.cause for change in self.changes)]
            flat = tuple(c for cause in causes for c in ((cause,) if isinstance(cause, str)
                                                        else cause or ()))  # fmt: skip
            return dataclasses.replace(self, cause=flat or None, changes=()), None
        applied = [change for change in self.changes if change.since <= release]
        if not applied:
            return self, None
        latest = max(applied, key=lambda change: change.since)
        return latest.after, latest


@dataclass(frozen=True)
class ReleaseChange:
    """Behaviour that changed upstream, the way the TLS audit's known weaknesses are kept: the
    first edk2 stable release (``YYYY.MM``) with the change, what is expected from it on, and the
    upstream reference."""

    since: str
    after: Expectation
    reference: str
    what: str

    def to_report(self) -> dict[str, str]:
        return {"since": self.since, "reference": self.reference, "what": self.what}


BOOTED = Expectation()


@dataclass(frozen=True)
class Locations:
    """Where a case's image lives and how the firmware is told about it."""

    served_file: str
    """The image's path under the document root (also the TFTP root)."""
    http_url: str
    """The HTTP(S) URL of the image (what DHCP offers HTTPClient, or what is typed/preset)."""
    pxe_file: str
    """The PXEClient file name, relative to the TFTP root."""
    pxe_url_v6: str
    boot_url: str = ""
    """What the case boots from: the HTTP(S) URL, the PXE file (v4) or the tftp:// URL (v6)."""
    image_path: str = ""
    """The path the server logs: ``/<id>/bootx64.efi`` (HTTP) or ``<id>/bootx64.efi`` (TFTP);
    ``bootaa64.efi`` for aarch64."""


class Part:
    """One ingredient of a case. Every hook defaults to "changes nothing"."""

    kind: ClassVar[str]
    skips: ClassVar[frozenset[Phase]] = frozenset()
    provers: ClassVar[Mapping[Phase, Prover]] = {}

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        """(rank, word) pairs for the case id."""
        return ()

    def markers(self, case: Case) -> tuple[str, ...]:
        return ()

    def conflict(self, case: Case) -> str | None:
        """Why this part cannot be in ``case``, or None."""
        return None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        return where

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return plan

    def machine(self, case: Case, spec: MachineSpec) -> MachineSpec:
        return spec

    def expectation(self, case: Case) -> Expectation | None:
        """What this part makes the case expect; None: it leaves the expectation alone."""
        return None


# -- how the firmware learns the URL -----------------------------------------------------------
class UrlSource(Part):
    kind = "source"
    offer: ClassVar[str | None] = "HTTPClient"
    """The vendor class whose DHCP offer carries the boot file; None: an address only."""

    def entry_label(self, case: Case) -> str:
        """The Boot Manager entry that starts the boot."""
        return "UEFI HTTPv4" if case.family == "ipv4" else "UEFI HTTPv6"

    def entry_note(self, case: Case) -> str:
        return f"selected {self.entry_label(case)!r} in the Boot Manager"

    def start_line(self, case: Case) -> str:
        """What the firmware prints when the chosen entry starts: another start line first
        means the harness's keys chose another entry."""
        return f">>Start HTTP Boot over {'IPv4' if case.family == 'ipv4' else 'IPv6'}"

    def reach_entry(self, case: Case, menu: OvmfMenu, where: Locations, deadline: Deadline) -> None:
        """Drive the firmware's menus from power-on to the chosen boot entry."""
        menu.boot_entry(self.entry_label(case), ipv6=case.family == "ipv6", deadline=deadline)

    def prepare_vars(self, vars_copy: Path, where: Locations) -> None:
        """Edit the private vars copy before power-on."""

    def reach_entry_restored(
        self, case: Case, menu: OvmfMenu, where: Locations, deadline: Deadline
    ) -> None:
        """A warm start: the rest of :meth:`reach_entry` from the Boot Manager the machine was
        saved in (``menu.wake_in_boot_manager`` has shown it)."""
        menu.boot_from_boot_manager(self.entry_label(case), ipv6=case.family == "ipv6",
                                    deadline=deadline, opened=True)  # fmt: skip


@dataclass(frozen=True)
class Dhcp(UrlSource):
    """The seed's way: DHCPv4/DHCPv6 offer the URL to the HTTPClient vendor class."""

    host: UrlHost = "name"
    """name: www.httpboot.local through DNS; literal: the server's address (no DNS offered)."""
    dhcp6_vendor: Dhcp6Vendor = "rfc3315"
    """How dhcpd6.conf writes the vendor class (the seed's four DHCPv6 configurations)."""

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        words = [(RANK_HOST, "literal")] if self.host == "literal" else []
        if self.dhcp6_vendor != "rfc3315":
            words.append((RANK_DHCP6, f"dhcp6-{self.dhcp6_vendor}"))
        return tuple(words)

    def markers(self, case: Case) -> tuple[str, ...]:
        marks: tuple[str, ...] = ("literal",) if self.host == "literal" else ()
        if (case.family == "ipv6" and self.dhcp6_vendor != "rfc3315") or case.id == "ipv6-http":
            marks += ("dhcp6_variants",)
        return marks

    def conflict(self, case: Case) -> str | None:
        if self.dhcp6_vendor != "rfc3315" and case.family == "ipv4":
            return f"dhcp6_vendor={self.dhcp6_vendor!r} is a DHCPv6 form; use it with ipv6"
        return None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        if self.host == "name":
            return where
        host = str(addressing.server_v4.ip) if case.family == "ipv4" else (
            f"[{addressing.server_v6.ip}]")  # fmt: skip
        return dataclasses.replace(
            where, http_url=where.http_url.replace(f"//{addressing.hostname}/", f"//{host}/", 1)
        )

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(
            plan, name_server=self.host == "name", dhcp6_vendor=self.dhcp6_vendor
        )

    def expectation(self, case: Case) -> Expectation | None:
        if self.dhcp6_vendor == "string":
            # The older plain-string form: dhcpd6 advertises, this firmware does not read the
            # class in it and never requests the offer.
            return Expectation("refused", Phase.DHCP, "never requested")
        return None


@dataclass(frozen=True)
class Pxe(UrlSource):
    """PXE (TFTP) boot from the same mixed DHCP servers: the seed's PXEClient class."""

    dhcp6_vendor: Dhcp6Vendor = "rfc3315"
    offer = "PXEClient"
    skips = frozenset({Phase.CONNECT, Phase.TLS})
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.DOWNLOAD: prove_tftp_download}

    def entry_label(self, case: Case) -> str:
        return "UEFI PXEv4" if case.family == "ipv4" else "UEFI PXEv6"

    def start_line(self, case: Case) -> str:
        return f">>Start PXE over {'IPv4' if case.family == 'ipv4' else 'IPv6'}"

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("pxe",)

    def conflict(self, case: Case) -> str | None:
        if case.scheme != "http":
            return "PXE downloads over TFTP; give the case scheme 'http'"
        if case.family == "ipv6" and self.dhcp6_vendor not in ("classes", "arch"):
            return "PXE over IPv6 needs the DHCPv6 classes form: Pxe(dhcp6_vendor='classes')"
        return None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        boot = where.pxe_file if case.family == "ipv4" else where.pxe_url_v6
        return dataclasses.replace(where, boot_url=boot, image_path=where.pxe_file)

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, dhcp6_vendor=self.dhcp6_vendor)


@dataclass(frozen=True)
class TypedUri(UrlSource):
    """The seed's manual way: the URL typed into HTTP Boot Configuration; DHCP gives addresses."""

    description: str = "HBH-URI-BOOT"
    offer = None

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_SOURCE, "uri"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("uri",)

    def entry_note(self, case: Case) -> str:
        return f"typed the Boot URI in HTTP Boot Configuration, selected {self.description!r}"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, boot_url=None)

    def reach_entry(self, case: Case, menu: OvmfMenu, where: Locations, deadline: Deadline) -> None:
        menu.enter_front_page(deadline)
        menu.add_http_boot_option(self.description, where.http_url,
                                  ipv6=case.family == "ipv6", deadline=deadline)  # fmt: skip
        menu.boot_from_boot_manager(self.description, ipv6=case.family == "ipv6",
                                    deadline=deadline)  # fmt: skip

    def reach_entry_restored(
        self, case: Case, menu: OvmfMenu, where: Locations, deadline: Deadline
    ) -> None:
        """The form is reached from the Front Page: back there, then the cold way."""
        menu.leave_to_front_page(deadline)
        self.reach_entry(case, menu, where, deadline)


@dataclass(frozen=True)
class Preset(UrlSource):
    """The URL written into the vars copy as BootNext before power-on: no key is pressed."""

    offer = None

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_SOURCE, "preset"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("uri",)

    def entry_note(self, case: Case) -> str:
        return "BootNext with the boot URI, written into the vars copy before power-on"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, boot_url=None)

    def machine(self, case: Case, spec: MachineSpec) -> MachineSpec:
        """Nobody presses a key, so the firmware waits only as long as IPv6 needs.

        A bare Uri() boot option is tried on every network stack, IPv4 first, so an IPv6 case
        switches IPv4 off. And over IPv6, Debian 12's OVMF fails at once ("Unexpected network
        error") when the boot starts during its link-local address's duplicate address
        detection (about 1 s, begun right before the boot): the firmware's own boot timeout
        lets the detection end first, as the menu-driven cases wait for it in the capture.
        """
        if case.family == "ipv4":
            return dataclasses.replace(spec, boot_menu_ms=0)
        return dataclasses.replace(
            spec, boot_menu_ms=PRESET_IPV6_WAIT_MS, extra_args=(*IPV4_OFF, *spec.extra_args)
        )

    def reach_entry(self, case: Case, menu: OvmfMenu, where: Locations, deadline: Deadline) -> None:
        """BootNext picks the entry."""

    def prepare_vars(self, vars_copy: Path, where: Locations) -> None:
        from .firmware import set_boot_uri

        set_boot_uri(vars_copy, where.http_url)


# -- what is served --------------------------------------------------------------------------
class Payload(Part):
    kind = "payload"
    skips = CHAIN_PHASES
    silence_after_download: ClassVar[float | None] = None
    """Seconds of console silence after the download that end the boot: the image would have
    spoken by then. None: the payload may run silently (a kernel), so only the deadline ends it."""

    def file_name(self, case: Case) -> str:
        """The served file's name."""
        return case.arch_spec.boot_file

    def build(
        self, image: BuiltImage, destination: Path, workdir: Path, case: Case,
        tls: TlsMaterial | None,
    ) -> BuiltImage:  # fmt: skip
        """Turn the proof program into what is served at ``destination``."""
        return image


@dataclass(frozen=True)
class ProofEfi(Payload):
    """The harness's GRUB program that prints the case's nonce and powers off."""

    silence_after_download = 5.0  # GRUB greets within a second of starting


@dataclass(frozen=True)
class ProofIso(Payload):
    """The proof program inside an ISO the firmware boots as a RAM disk."""

    silence_after_download = 5.0

    def file_name(self, case: Case) -> str:
        return "boot.iso"

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_PAYLOAD, "iso"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("iso",)

    def conflict(self, case: Case) -> str | None:
        return "an ISO is not a PXE boot file" if isinstance(case.source, Pxe) else None

    def build(
        self, image: BuiltImage, destination: Path, workdir: Path, case: Case,
        tls: TlsMaterial | None,
    ) -> BuiltImage:  # fmt: skip
        from .payload import build_proof_iso

        return build_proof_iso(image, destination, workdir, case.arch_spec)


@dataclass(frozen=True)
class Chain(Payload):
    """The seed's tree: Debian's signed shim -> a per-run GRUB with http -> the Debian-signed
    kernel -> a proof initrd (HTTPS: and the seed's ssl.img). Built per run (``chain.py``)."""

    skips = frozenset()
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.IMAGE: prove_shim_ran}
    silence_after_download = 30.0
    """Shim is silent, and so is GRUB while it fetches the kernel: only the stages' own stops
    (a prompt, a panic, the menu again) or the deadline end a chain early."""

    def file_name(self, case: Case) -> str:
        return "EFI/BOOT/bootx64.efi"

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_PAYLOAD, "chain"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("chain",)

    def conflict(self, case: Case) -> str | None:
        if not isinstance(case.source, Dhcp | Preset):
            return "a chain is booted from DHCP's offer or a preset URL"
        if case.arch != "x86_64":
            return "the chain is built from Debian's amd64 shim, GRUB and kernel: use x86_64"
        return None

    def expectation(self, case: Case) -> Expectation | None:
        if isinstance(case.source, Dhcp) and case.source.host == "name":
            # The seed's DNS device-path note, today: with a name server in the offer, shim
            # copes, and Debian's GRUB 2.06 has empty root, prefix and cmdpath.
            return Expectation("failed", Phase.LOADER, "did not fetch its grub.cfg")
        return None

    def build(
        self, image: BuiltImage, destination: Path, workdir: Path, case: Case,
        tls: TlsMaterial | None,
    ) -> BuiltImage:  # fmt: skip
        from .chain import ChainSpec, build_chain

        where = case.locations(Addressing())
        tree_url = where.http_url.rsplit("/EFI/", 1)[0]
        certificate = tls.server_certificate if tls is not None and case.scheme == "https" else None
        spec = ChainSpec(image.case_id, image.nonce, tree_url, certificate)
        return build_chain(destination, workdir, spec)


@dataclass(frozen=True)
class UserTree(Payload):
    """The user's own tree (``--boot-tree``) served at the document root; the firmware boots
    ``boot_path`` and the console line matching ``expect`` proves success, after which the
    harness stops the guest (an installer does not power off)."""

    tree: Path = Path()
    boot_path: str = ""
    expect: str = ""
    skips = frozenset({Phase.POWEROFF})
    provers: ClassVar[Mapping[Phase, Prover]] = TREE_PROVERS
    silence_after_download = 60.0

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_PAYLOAD, "tree"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("tree",)

    def conflict(self, case: Case) -> str | None:
        return "a tree is served over HTTP(S), not PXE" if isinstance(case.source, Pxe) else None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        path = self.boot_path.lstrip("/")
        origin = where.http_url.split("/", 3)[:3]
        return dataclasses.replace(
            where, served_file=path, http_url="/".join([*origin, path]), image_path=f"/{path}"
        )

    def build(
        self, image: BuiltImage, destination: Path, workdir: Path, case: Case,
        tls: TlsMaterial | None,
    ) -> BuiltImage:  # fmt: skip
        """Link the tree's entries into the document root (a copied ISO may be large)."""
        root = workdir / "www"
        for entry in self.tree.iterdir():
            link = root / entry.name
            if not link.exists():
                link.symlink_to(entry)
        served = self.tree / self.boot_path.lstrip("/")
        # Under Secure Boot the user's files are never signed: the harness's own (unserved)
        # proof program stands as what it built.
        return dataclasses.replace(image, path=served, expect=self.expect, own_program=image.path)


def with_user_tree(
    case: Case, tree: Path | None, boot_path: str | None, expect: str | None
) -> Case:
    """``case`` serving the user's tree instead of the harness's image (--boot-tree)."""
    if tree is None or boot_path is None or expect is None:
        return case
    return dataclasses.replace(case, payload=UserTree(tree, boot_path, expect), expect=BOOTED)


# -- firmware profile ------------------------------------------------------------------------
class FirmwareProfile(Part):
    kind = "firmware"
    secure_boot: ClassVar[bool] = False
    secure_boot_readings: ClassVar[frozenset[str]] = frozenset({"0", "absent"})
    """The SecureBoot variable's readings in a chain's initrd (``phases.SECURE_BOOT_READINGS``)
    that agree with this profile. Secure Boot off has two forms, one per kind of build: a build
    with Secure Boot support sets it to 0, one without (Debian 13's plain OVMF) defines none."""

    def trust(self, program: Path, workdir: Path) -> Path | None:
        """Make ``program`` (what the harness built) trusted; the certificate to enroll."""
        return None

    def prepare_vars(self, vars_copy: Path, certificate: Path | None) -> None:
        """Edit the private vars copy before power-on."""


@dataclass(frozen=True)
class PlainFirmware(FirmwareProfile):
    """The firmware as discovered (or given with --ovmf-code), no Secure Boot."""


SECURE_BOOT_ARGS = ("-machine", "smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on")
"""SMM, and the vars flash writable only from SMM: what OVMF's Secure Boot build requires."""


@dataclass(frozen=True)
class SecureBoot(FirmwareProfile):
    """OVMF's Secure Boot build with Microsoft's keys enrolled (a private copy of the ``.ms``
    vars), as discovered or the user's own (``ovmf-secboot-code``/``ovmf-secboot-vars``,
    ``firmware.find_secure_boot_firmware``). ``sign``: the harness signs what it built (the
    proof image, a chain's GRUB) with a throw-away key and enrolls its certificate in db;
    without, it is neither signed nor enrolled, and must be refused."""

    sign: bool = True
    secure_boot = True
    secure_boot_readings = frozenset({"1"})
    """Only 1: an absent variable here means the build that ran has no Secure Boot at all."""

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_FAULT, "secureboot" if self.sign else "secureboot-unsigned"),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("secureboot",)

    def conflict(self, case: Case) -> str | None:
        return "an ISO is not signed per run; boot it without Secure Boot" if isinstance(
            case.payload, ProofIso) else None  # fmt: skip

    def machine(self, case: Case, spec: MachineSpec) -> MachineSpec:
        return dataclasses.replace(spec, extra_args=(*SECURE_BOOT_ARGS, *spec.extra_args))

    def expectation(self, case: Case) -> Expectation | None:
        if self.sign:
            return None
        if isinstance(case.payload, Chain):
            return Expectation("failed", Phase.LOADER, "Verification failed")
        return Expectation("failed", Phase.IMAGE, "Secure Boot")

    def trust(self, program: Path, workdir: Path) -> Path | None:
        if not self.sign:
            return None
        from .signing import make_signing_key, sign_program

        key = make_signing_key(workdir / "secureboot")
        sign_program(program, key)
        return key.certificate

    def prepare_vars(self, vars_copy: Path, certificate: Path | None) -> None:
        if certificate is not None:
            from .signing import enroll_in_db

            enroll_in_db(vars_copy, certificate)


# -- faults ----------------------------------------------------------------------------------
class Fault(Part):
    """An induced failure: the verdict must name the phase it hits, and its cause."""

    kind = "fault"
    word: ClassVar[str]

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_FAULT, self.word),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("fault",)


TLS_NO_CA = ReleaseChange(
    "2024.02",
    Expectation("refused", Phase.TLS, ("gave up during the TLS handshake", "TLS alert")),
    "tianocore/edk2@43ab6622a8 in edk2-stable202402, 'NetworkPkg/HttpDxe: Consider TLS "
    "certificate not found as a success case'",
    "with no CA enrolled the firmware no longer refuses before connecting: it connects and "
    "gives up in the handshake (seen on 2025.02 and 2026.08; 2022.11 never connects)",
)


@dataclass(frozen=True)
class Untrusted(Fault):
    """HTTPS without the CA handed to the firmware: it must refuse the server."""

    word = "untrusted"

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.TLS, "did not even connect", changes=(TLS_NO_CA,))

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_TRUST, self.word),)

    def conflict(self, case: Case) -> str | None:
        return None if case.scheme == "https" else "an untrusted certificate needs https"

    def machine(self, case: Case, spec: MachineSpec) -> MachineSpec:
        return dataclasses.replace(spec, fw_cfg_files=())


@dataclass(frozen=True)
class NoDhcp(Fault):
    """No DHCP server for the case's family."""

    word = "no-dhcp"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        if case.family == "ipv4":
            return dataclasses.replace(plan, dhcp_v4=False)
        return dataclasses.replace(plan, dhcp_v6=False)

    def expectation(self, case: Case) -> Expectation:
        family_dhcp = "DHCPv4" if case.family == "ipv4" else "DHCPv6"
        return Expectation("refused", Phase.DHCP, f"no {family_dhcp} answer")


@dataclass(frozen=True)
class NoHttpClient(Fault):
    """The DHCPv4 offer lacks option 60 HTTPClient, so the firmware ignores it."""

    word = "no-httpclient"

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DHCP, "without the HTTPClient class")

    def conflict(self, case: Case) -> str | None:
        return None if case.family == "ipv4" else "no-httpclient is a DHCPv4 (dnsmasq) fault"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, http_vendor_class=False)


@dataclass(frozen=True)
class UnknownHost(Fault):
    """The URL names a host the lab's DNS does not know."""

    word = "unknown-host"

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DNS, "NXDOMAIN")

    def conflict(self, case: Case) -> str | None:
        if (
            not isinstance(case.source, Dhcp | TypedUri | Preset)
            or getattr(case.source, "host", "name") != "name"
        ):
            return "unknown-host needs a URL that names its host (not PXE, not an IP literal)"
        return None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        unknown = f"//nowhere.{addressing.domain}/"
        return dataclasses.replace(
            where, http_url=where.http_url.replace(f"//{addressing.hostname}/", unknown, 1)
        )


@dataclass(frozen=True)
class NotFound(Fault):
    """The URL names a file the server does not have."""

    word = "not-found"

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, "HTTP 404")

    def conflict(self, case: Case) -> str | None:
        return "not-found is an HTTP fault, not PXE" if isinstance(case.source, Pxe) else None

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        head, _, _ = where.http_url.rpartition("/")
        return dataclasses.replace(where, http_url=f"{head}/missing.efi")


@dataclass(frozen=True)
class HttpStatus(Fault):
    """The server answers the image's URL with an error status instead of the file."""

    status: int = 500

    @property
    def word(self) -> str:  # type: ignore[override]
        return f"http-{self.status}"

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, f"HTTP {self.status}")

    def conflict(self, case: Case) -> str | None:
        if isinstance(case.source, Pxe):
            return "an HTTP status is an HTTP fault, not PXE"
        if not 400 <= self.status <= 599:
            return f"HttpStatus({self.status}): give an error status, 400 to 599"
        return None

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        path = "/" + case.locations(plan.addressing).served_file
        return dataclasses.replace(plan, status_overrides=((path, self.status),))


@dataclass(frozen=True)
class NoRouter(Fault):
    """The DHCPv4 offer has no router option. The seed's note: shim then failed with "Invalid
    Parameter". Today's shim 16.1 fetches GRUB from its own subnet all the same: the case shows
    that the whole chain boots, with proof that no router was offered."""

    word = "no-router"
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.DHCP: prove_dhcp4_without_router}

    def conflict(self, case: Case) -> str | None:
        return None if case.family == "ipv4" else "no-router is a DHCPv4 (dnsmasq) fault"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, router=False)


# -- faults of the transfer, the name server and the router ---------------------------------
@dataclass(frozen=True)
class SpoiledTransfer(Fault):
    """The faulty HTTP server (``services/faulty_http.py``) spoils the image's transfer; plain
    HTTP over DHCP's offer or a typed URL (the server replaces lighttpd for the case)."""

    spoil: ClassVar[FaultKind]

    def conflict(self, case: Case) -> str | None:
        if isinstance(case.source, Pxe) or case.scheme != "http":
            return f"{self.word} is staged by a plain HTTP server: give the case http, not PXE"
        if isinstance(case.payload, Chain | UserTree):
            return f"{self.word} spoils the harness's own image: not a chain or a user's tree"
        return None

    def http_fault(self, path: str) -> HttpFault:
        return HttpFault(self.spoil, path)

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        path = "/" + case.locations(plan.addressing).served_file
        return dataclasses.replace(plan, http_faults=(*plan.http_faults, self.http_fault(path)))


@dataclass(frozen=True)
class ResetMidImage(SpoiledTransfer):
    """The server sends the headers and ``after`` bytes of the image, then a TCP reset."""

    after: int = 65536
    word = "reset"
    spoil = "reset"

    def http_fault(self, path: str) -> HttpFault:
        return HttpFault(self.spoil, path, self.after)

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, "the server reset the connection after")


@dataclass(frozen=True)
class ShortBody(SpoiledTransfer):
    """The body ends (the server's FIN) before its Content-Length."""

    after: int = 65536
    word = "short-body"
    spoil = "short"

    def http_fault(self, path: str) -> HttpFault:
        return HttpFault(self.spoil, path, self.after)

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, "the body ended at")


@dataclass(frozen=True)
class Stall(SpoiledTransfer):
    """The server sends ``after`` bytes and then nothing, holding the connection open: the
    firmware's own receive timeout ends the boot (measured from the capture and the server)."""

    after: int = 65536
    word = "stall"
    spoil = "stall"

    def http_fault(self, path: str) -> HttpFault:
        return HttpFault(self.spoil, path, self.after)

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, "the server stalled after")


@dataclass(frozen=True)
class Redirect(SpoiledTransfer):
    """The image's URL answers ``302 Found`` with the real image's path as Location."""

    word = "redirect"
    spoil = "redirect"
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.DOWNLOAD: prove_redirect_followed}
    """A firmware that follows the redirect proves its download by both requests, boots, and
    so fails this case's expectation: the change of behaviour is reported, not hidden."""

    def http_fault(self, path: str) -> HttpFault:
        head, _, name = path.rpartition("/")
        return HttpFault(self.spoil, path, target=f"{head}/moved/{name}")

    def expectation(self, case: Case) -> Expectation:
        # Debian 12's OVMF prints "HTTP ERROR: Resource Redirected." and the new location,
        # and stops (edk2 2022.11 does not follow redirects).
        return Expectation("refused", Phase.DOWNLOAD, "HTTP 302 not followed")


@dataclass(frozen=True)
class NotEfi(SpoiledTransfer):
    """The image's URL serves text of the image's size under ``application/efi``."""

    word = "not-efi"
    spoil = "garbage"
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.DOWNLOAD: prove_download_acknowledged}

    def expectation(self, case: Case) -> Expectation:
        # Debian 12's OVMF downloads it all, says nothing (no error line, "Press any key to
        # continue...") and goes back to its menu: the judge's "failed", as for an unsigned
        # image under Secure Boot. A build that prints why makes it "refused": set expect=.
        return Expectation("failed", Phase.IMAGE, "not an EFI image")


@dataclass(frozen=True)
class WrongContentType(SpoiledTransfer):
    """An ISO served as ``content_type`` under a name without ``.iso``: the firmware decides
    RAM disk boot from the Content-Type or the extension, and here has neither."""

    content_type: str = "application/octet-stream"
    word = "wrong-type"
    spoil = "content-type"

    def conflict(self, case: Case) -> str | None:
        if not isinstance(case.payload, ProofIso):
            return "wrong-type serves an ISO: give the case payload=ProofIso()"
        return super().conflict(case)

    def locate(self, case: Case, where: Locations, addressing: Addressing) -> Locations:
        served = where.served_file.removesuffix(".iso")
        return dataclasses.replace(
            where, served_file=served, http_url=where.http_url.removesuffix(".iso")
        )

    def http_fault(self, path: str) -> HttpFault:
        return HttpFault(self.spoil, path, target=self.content_type)

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DOWNLOAD, f"Content-Type {self.content_type}")


@dataclass(frozen=True)
class SilentDnsServer(Fault):
    """The name server DHCP offers is reachable and reads every query, and answers none."""

    word = "dns-silent"

    def conflict(self, case: Case) -> str | None:
        return UnknownHost().conflict(case) or (
            None if case.family == "ipv4" else "dns-silent is staged over IPv4 (dnsmasq's offer)"
        )

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, dns_answers=False)

    def expectation(self, case: Case) -> Expectation:
        return Expectation("refused", Phase.DNS, "no DNS answer")


@dataclass(frozen=True)
class NoRouterAdverts(Fault):
    """IPv6 without router advertisements (radvd off), as in the seed's profile: the firmware
    solicits a router, waits, and goes on with DHCPv6; the wait is proven and dated."""

    word = "no-ra"
    provers: ClassVar[Mapping[Phase, Prover]] = {Phase.DHCP: prove_dhcp6_without_router_adverts}

    def conflict(self, case: Case) -> str | None:
        return None if case.family == "ipv6" else "no-ra is an IPv6 fault (router adverts)"

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, router_adverts=False)


# -- the case --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One row of the matrix: parts that say how the firmware boots, and what we expect."""

    family: Family
    scheme: Scheme = "http"
    source: UrlSource = field(default_factory=Dhcp)
    payload: Payload = field(default_factory=ProofEfi)
    firmware: FirmwareProfile = field(default_factory=PlainFirmware)
    faults: tuple[Fault, ...] = ()
    arch: Arch = "x86_64"
    expect: Expectation | None = None
    """Overrides the expectation the parts give (for a user's own case)."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"family must be one of {FAMILIES}, not {self.family!r}")
        if self.scheme not in SCHEMES:
            raise UsageError(f"scheme must be one of {SCHEMES}, not {self.scheme!r}")
        if self.arch not in ARCHES:
            raise UsageError(f"architecture must be one of {ARCHES}, not {self.arch!r}")
        if self.arch != "x86_64" and isinstance(self.source, Pxe | Preset):
            # PXE: AAVMF runs with its PXE options removed (they cost ~130 s). Preset over IPv6
            # needs the IPv4Support switch, which AAVMF ignores.
            raise UsageError(
                f"case {self.family}-{self.scheme}: {type(self.source).__name__} is "
                f"x86_64 only; use Dhcp or TypedUri for {self.arch}"
            )
        if not isinstance(self.faults, tuple):
            object.__setattr__(self, "faults", tuple(self.faults))
        kinds = [type(f) for f in self.faults]
        if len(set(kinds)) != len(kinds):
            raise UsageError(f"a fault is given twice in {self.faults}")
        for part in self.parts:
            problem = part.conflict(self)
            if problem is not None:
                raise UsageError(f"case {self.family}-{self.scheme}: {problem}")
        expecting = [p for p in self.parts if p.expectation(self) is not None]
        if len(expecting) > 1 and self.expect is None:
            raise UsageError(
                f"parts {expecting} each expect their own verdict; "
                "say which one to expect with expect=Expectation(...)"
            )

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.source, self.payload, self.firmware, *self.faults)

    @property
    def id(self) -> str:
        head = (
            f"pxe-{self.family}" if isinstance(self.source, Pxe) else f"{self.family}-{self.scheme}"
        )
        if self.arch != "x86_64":
            head = f"{self.arch}-{head}"
        words = sorted((w for p in self.parts for w in p.id_words(self)), key=lambda w: w[0])
        return "-".join([head, *(word for _, word in words)])

    @property
    def markers(self) -> tuple[str, ...]:
        """Pytest marker names that select this case (``pytest -m "ipv6 and https"``)."""
        marks: list[str] = [self.family]
        if not isinstance(self.source, Pxe):
            marks.append(self.scheme)
        for part in self.parts:
            marks += [m for m in part.markers(self) if m not in marks]
        if self in DEFAULT_MATRIX:
            marks.append("core")
        marks.append(self.arch)
        return tuple(marks)

    @property
    def arch_spec(self) -> ArchSpec:
        return arch_spec(self.arch)

    @property
    def expectation(self) -> Expectation:
        if self.expect is not None:
            return self.expect
        for part in self.parts:
            expectation = part.expectation(self)
            if expectation is not None:
                return expectation
        return BOOTED

    @property
    def expected(self) -> str:
        """The expected verdict, or ``recorded`` for a control."""
        return "recorded" if self.expectation.recorded else self.expectation.verdict

    @property
    def expected_phase(self) -> str | None:
        phase = self.expectation.phase
        return None if phase is None else phase.value

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The phases a booted case must prove, in order."""
        skipped: set[Phase] = {Phase.CONNECT if self.scheme == "https" else Phase.TLS}
        for part in self.parts:
            skipped |= part.skips
        return tuple(p for p in Phase if p not in skipped)

    def prover(self, phase: Phase) -> Prover | None:
        """A part's own proof of ``phase``, if one brings it."""
        for part in self.parts:
            if phase in part.provers:
                return part.provers[phase]
        return None

    def locations(self, addressing: Addressing) -> Locations:
        served = f"{self.id}/{self.payload.file_name(self)}"
        pxe_file = f"{self.id}/{self.arch_spec.boot_file}"
        where = Locations(
            served_file=served,
            http_url=f"{self.scheme}://{addressing.hostname}/{served}",
            pxe_file=pxe_file,
            pxe_url_v6=f"tftp://[{addressing.server_v6.ip}]/{pxe_file}",
        )
        for part in self.parts:
            where = part.locate(self, where, addressing)
        return dataclasses.replace(
            where,
            boot_url=where.boot_url or where.http_url,
            image_path=where.image_path or f"/{served}",
        )

    def server_plan(self, base: ServerPlan) -> ServerPlan:
        """The servers for this case: the base plan (settings, files) with each part's edits."""
        where = self.locations(base.addressing)
        plan = dataclasses.replace(
            base, boot_url=where.http_url, pxe_boot_file=where.pxe_file,
            pxe_url_v6=where.pxe_url_v6,
        )  # fmt: skip
        for part in self.parts:
            plan = part.plan(self, plan)
        return plan

    def machine_spec(self, base: MachineSpec) -> MachineSpec:
        arch = self.arch_spec
        base = dataclasses.replace(
            base,
            machine_args=arch.machine_args,
            extra_args=(*arch.firmware_args, *base.extra_args),
        )
        for part in self.parts:
            base = part.machine(self, base)
        return base

    def __str__(self) -> str:
        return self.id


def fault_case(family: Family, scheme: Scheme, fault: Fault) -> Case:
    return Case(family, scheme, faults=(fault,))


DEFAULT_MATRIX: tuple[Case, ...] = (
    Case("ipv4", "http"),
    Case("ipv4", "https"),
    Case("ipv6", "http"),
    Case("ipv6", "https"),
    Case("ipv4", "https", faults=(Untrusted(),)),
)

SEED_SCENARIOS: tuple[Case, ...] = (
    # "To work around this issue, ... replace the domain name with the server IP."
    Case("ipv4", "http", Dhcp(host="literal")),
    Case("ipv6", "http", Dhcp(host="literal")),
    # "Another way to test http boot is to download a iso image from a URL."
    Case("ipv4", "http", payload=ProofIso()),
    Case("ipv6", "http", payload=ProofIso()),
    # DHCPv6 Server: the older plain-string form, the PXE/HTTP classes, the arch subclass.
    Case("ipv6", "http", Dhcp(dhcp6_vendor="string")),
    Case("ipv6", "http", Dhcp(dhcp6_vendor="classes")),
    Case("ipv6", "http", Dhcp(dhcp6_vendor="arch")),
    # "Here we will set up the mixed DHCPv4 server for both PXEBoot and HTTPBoot."
    Case("ipv4", "http", Pxe()),
    Case("ipv6", "http", Pxe(dhcp6_vendor="classes")),
    # "Edit "Boot URI", point to the position of ISO file" (and the vars fast path).
    Case("ipv4", "http", TypedUri()),
    Case("ipv4", "http", TypedUri(), payload=ProofIso()),
    Case("ipv4", "http", Preset()),
    Case("ipv6", "http", TypedUri()),
    Case("ipv6", "http", Preset()),
)

# Induced failures (and ipv4-https-untrusted in the default matrix): each must be refused, and
# the verdict must name where and why, told apart by the server logs and the capture.
FAULT_CASES: tuple[Case, ...] = (
    fault_case("ipv4", "http", NoDhcp()),
    fault_case("ipv4", "http", NoHttpClient()),
    fault_case("ipv4", "http", UnknownHost()),
    fault_case("ipv4", "http", NotFound()),
    fault_case("ipv4", "http", HttpStatus(500)),
    fault_case("ipv4", "http", ResetMidImage()),
    fault_case("ipv4", "http", ShortBody()),
    fault_case("ipv4", "http", Stall()),
    fault_case("ipv4", "http", Redirect()),
    fault_case("ipv4", "http", NotEfi()),
    Case("ipv4", "http", payload=ProofIso(), faults=(WrongContentType(),)),
    fault_case("ipv4", "http", SilentDnsServer()),
    fault_case("ipv6", "http", NoRouterAdverts()),
)

# AAVMF (Debian's qemu-efi-aarch64) from the same servers: both families and schemes, and the
# refusal of an untrusted certificate.
AARCH64_MATRIX: tuple[Case, ...] = tuple(
    dataclasses.replace(case, arch="aarch64") for case in DEFAULT_MATRIX
)


def default_matrix(arch: Arch = "x86_64") -> tuple[Case, ...]:
    """The default matrix of ``arch`` (what ``matrix --arch aarch64`` runs with no selection)."""
    return DEFAULT_MATRIX if arch == "x86_64" else AARCH64_MATRIX


# The seed's installation tree booted for real (shim -> GRUB -> Linux + initrd). Debian's GRUB
# 2.06 needs the seed's workaround (an IP URL, no name server); without it, the DNS-node case.
CHAIN_CASES: tuple[Case, ...] = (
    Case("ipv4", "http", Dhcp(host="literal"), payload=Chain()),
    Case("ipv6", "http", Dhcp(host="literal"), payload=Chain()),
    Case("ipv4", "https", Dhcp(host="literal"), payload=Chain()),
    Case("ipv4", "http", Dhcp(host="name"), payload=Chain()),
    Case("ipv4", "http", Dhcp(host="literal"), payload=Chain(), faults=(NoRouter(),)),
)

SECURE_BOOT_CASES: tuple[Case, ...] = (
    Case("ipv4", "http", Dhcp(host="literal"), payload=Chain(), firmware=SecureBoot()),
    Case("ipv4", "http", firmware=SecureBoot(sign=False)),
    Case("ipv4", "http", firmware=SecureBoot()),
    Case("ipv4", "http", Dhcp(host="literal"), payload=Chain(), firmware=SecureBoot(sign=False)),
)

ALL_CASES: tuple[Case, ...] = (
    DEFAULT_MATRIX + SEED_SCENARIOS + FAULT_CASES + CHAIN_CASES + SECURE_BOOT_CASES + AARCH64_MATRIX
)

MARKERS: dict[str, str] = {
    "core": "the five cases of the default matrix",
    "fault": "induced failures: the verdict must name the phase where the boot stopped",
    "ipv4": "boot cases over IPv4 (DHCPv4)",
    "ipv6": "boot cases over IPv6 (DHCPv6 and router advertisements)",
    "http": "boot cases that download the image over plain HTTP",
    "https": "boot cases that download the image over HTTPS",
    "literal": "the boot URL names the server by IP address: no DNS",
    "iso": "an ISO image downloaded and booted as a RAM disk",
    "dhcp6_variants": "the seed's DHCPv6 vendor-class configurations",
    "pxe": "PXE (TFTP) boot from the same mixed DHCP servers",
    "uri": "the boot URI set in the firmware, not offered by DHCP",
    "x86_64": "x86_64 clients (q35, OVMF)",
    "aarch64": "aarch64 clients (virt, AAVMF)",
    "chain": "the seed's tree: shim -> GRUB -> Linux kernel + initrd, every stage proven",
    "secureboot": "OVMF with Secure Boot on and Microsoft's keys enrolled",
    "tree": "the user's own tree (--boot-tree), proven by the --expect line",
    "tls_audit": "HTTPS conformance: a TLS condition the firmware must refuse, or a control",
}


def case_by_id(case_id: str, known: tuple[Case, ...] = ALL_CASES) -> Case:
    """Return the known case named ``case_id``; an unknown id gets the list of valid ones."""
    for case in known:
        if case.id == case_id:
            return case
    valid = ", ".join(case.id for case in known)
    raise UsageError(f"unknown case id {case_id!r}; use one of: {valid}")
