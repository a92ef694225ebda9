"""The boot case value, its stable id, and the default matrix.

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

    @property
    def id(self) -> str:
        suffix = "-untrusted" if self.scheme == "https" and not self.enroll_ca else ""
        return f"{self.family}-{self.scheme}{suffix}"

    @property
    def markers(self) -> tuple[str, ...]:
        """Pytest marker names that select this case (``pytest -m "ipv6 and https"``)."""
        return (self.family, self.scheme)

    @property
    def boot_entry_label(self) -> str:
        """The Boot Manager entry that starts OVMF's HTTP boot for this family."""
        return "UEFI HTTPv4" if self.family == "ipv4" else "UEFI HTTPv6"

    def __str__(self) -> str:
        return self.id


DEFAULT_MATRIX: tuple[Case, ...] = (
    Case("ipv4", "http"),
    Case("ipv4", "https"),
    Case("ipv6", "http"),
    Case("ipv6", "https"),
    Case("ipv4", "https", enroll_ca=False, expected="refused", expected_phase="tls"),
)

ALL_CASES: tuple[Case, ...] = DEFAULT_MATRIX
"""Every case the harness knows; the default matrix is the part run when nothing is selected."""

MARKERS: dict[str, str] = {
    "ipv4": "boot cases over IPv4 (DHCPv4)",
    "ipv6": "boot cases over IPv6 (DHCPv6 and router advertisements)",
    "http": "boot cases that download the image over plain HTTP",
    "https": "boot cases that download the image over HTTPS",
}


def case_by_id(case_id: str, known: tuple[Case, ...] = DEFAULT_MATRIX) -> Case:
    """Return the known case named ``case_id``; an unknown id gets the list of valid ones."""
    for case in known:
        if case.id == case_id:
            return case
    valid = ", ".join(case.id for case in known)
    raise UsageError(f"unknown case id {case_id!r}; use one of: {valid}")
