"""The boot case value, its stable id, the default matrix and the seed HOWTO's other scenarios.

A case id (``ipv6-https``) is used everywhere: pytest ids and markers, CLI arguments, artifact
folders and report rows, so it is derived in one place and parsed back in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import UsageError

Family = Literal["ipv4", "ipv6"]
Scheme = Literal["http", "https"]
Verdict = Literal["booted", "refused", "failed", "error"]
Boot = Literal["http", "pxe"]
UrlSource = Literal["dhcp", "uri", "preset"]
"""dhcp: the DHCP offer carries the URL; uri: typed into HTTP Boot Configuration over the
console; preset: written into the vars copy before boot (virt-fw-vars --set-boot-uri)."""
Payload = Literal["efi", "iso"]
Fault = Literal["no-dhcp", "no-httpclient", "unknown-host", "not-found"]
UrlHost = Literal["name", "literal"]
Dhcp6Vendor = Literal["rfc3315", "string", "classes", "arch"]
"""How dhcpd6.conf writes the vendor class (the seed's four DHCPv6 configurations)."""

FAMILIES: tuple[Family, ...] = ("ipv4", "ipv6")
SCHEMES: tuple[Scheme, ...] = ("http", "https")


@dataclass(frozen=True)
class Case:
    """One row of the matrix: how the firmware boots and what we expect of it."""

    family: Family
    scheme: Scheme
    enroll_ca: bool = True
    """For https: hand the throw-away CA to the firmware (fw_cfg etc/edk2/https/cacerts)."""
    expected: Verdict = "booted"
    expected_phase: str | None = None
    """For an expected failure: the phase the verdict must name (None: any)."""
    boot: Boot = "http"
    url_source: UrlSource = "dhcp"
    payload: Payload = "efi"
    url_host: UrlHost = "name"
    dhcp6_vendor: Dhcp6Vendor = "rfc3315"
    fault: Fault | None = None
    """A failure the server side induces, to show that the verdict names the phase it hits."""

    @property
    def id(self) -> str:
        if self.boot == "pxe":
            return f"pxe-{self.family}"
        suffix = "-untrusted" if self.scheme == "https" and not self.enroll_ca else ""
        if self.url_host == "literal":
            suffix += "-literal"
        if self.payload == "iso":
            suffix += "-iso"
        if self.url_source != "dhcp":
            suffix += f"-{self.url_source}"
        if self.dhcp6_vendor != "rfc3315":
            suffix += f"-dhcp6-{self.dhcp6_vendor}"
        if self.fault is not None:
            suffix += f"-{self.fault}"
        return f"{self.family}-{self.scheme}{suffix}"

    @property
    def markers(self) -> tuple[str, ...]:
        """Pytest marker names that select this case (``pytest -m "ipv6 and https"``)."""
        marks: list[str] = [self.family, self.scheme if self.boot == "http" else "pxe"]
        if self.url_host == "literal":
            marks.append("literal")
        if self.payload == "iso":
            marks.append("iso")
        if self.url_source != "dhcp":
            marks.append("uri")
        if self.boot == "http" and (self.dhcp6_vendor != "rfc3315" or self in _DHCP6_VARIANT_BASE):
            marks.append("dhcp6_variants")
        if self in DEFAULT_MATRIX:
            marks.append("core")
        if self.fault is not None or not self.enroll_ca:
            marks.append("fault")
        return tuple(marks)

    @property
    def boot_entry_label(self) -> str:
        """The Boot Manager entry that starts OVMF's network boot for this family."""
        if self.boot == "pxe":
            return "UEFI PXEv4" if self.family == "ipv4" else "UEFI PXEv6"
        return "UEFI HTTPv4" if self.family == "ipv4" else "UEFI HTTPv6"

    @property
    def vendor_class(self) -> str:
        """The vendor class the client sends and the DHCP server's answer must carry."""
        return "PXEClient" if self.boot == "pxe" else "HTTPClient"

    def __str__(self) -> str:
        return self.id


DEFAULT_MATRIX: tuple[Case, ...] = (
    Case("ipv4", "http"),
    Case("ipv4", "https"),
    Case("ipv6", "http"),
    Case("ipv6", "https"),
    Case("ipv4", "https", enroll_ca=False, expected="refused", expected_phase="tls"),
)

# The RFC 3315 vendor-class form is the default ipv6-http case; it is also a DHCPv6 variant.
_DHCP6_VARIANT_BASE: tuple[Case, ...] = (Case("ipv6", "http"),)

SEED_SCENARIOS: tuple[Case, ...] = (
    # "To work around this issue, ... replace the domain name with the server IP."
    Case("ipv4", "http", url_host="literal"),
    Case("ipv6", "http", url_host="literal"),
    # "Another way to test http boot is to download a iso image from a URL."
    Case("ipv4", "http", payload="iso"),
    Case("ipv6", "http", payload="iso"),
    # DHCPv6 Server: the older plain-string form, the PXE/HTTP classes, the arch subclass.
    Case("ipv6", "http", dhcp6_vendor="string", expected="refused", expected_phase="dhcp"),
    Case("ipv6", "http", dhcp6_vendor="classes"),
    Case("ipv6", "http", dhcp6_vendor="arch"),
    # "Here we will set up the mixed DHCPv4 server for both PXEBoot and HTTPBoot."
    Case("ipv4", "http", boot="pxe"),
    Case("ipv6", "http", boot="pxe", dhcp6_vendor="classes"),
    # "Edit "Boot URI", point to the position of ISO file" (and the vars fast path).
    Case("ipv4", "http", url_source="uri"),
    Case("ipv4", "http", payload="iso", url_source="uri"),
    Case("ipv4", "http", url_source="preset"),
)

# Induced failures (and ipv4-https-untrusted in the default matrix): each must be refused, and
# the verdict must name where, told apart by the server logs and the capture.
FAULT_CASES: tuple[Case, ...] = (
    Case("ipv4", "http", fault="no-dhcp", expected="refused", expected_phase="dhcp"),
    Case("ipv4", "http", fault="no-httpclient", expected="refused", expected_phase="dhcp"),
    Case("ipv4", "http", fault="unknown-host", expected="refused", expected_phase="dns"),
    Case("ipv4", "http", fault="not-found", expected="refused", expected_phase="download"),
)

ALL_CASES: tuple[Case, ...] = DEFAULT_MATRIX + SEED_SCENARIOS + FAULT_CASES

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
}


def case_by_id(case_id: str, known: tuple[Case, ...] = ALL_CASES) -> Case:
    """Return the known case named ``case_id``; an unknown id gets the list of valid ones."""
    for case in known:
        if case.id == case_id:
            return case
    valid = ", ".join(case.id for case in known)
    raise UsageError(f"unknown case id {case_id!r}; use one of: {valid}")
