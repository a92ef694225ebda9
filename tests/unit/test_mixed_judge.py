"""The mixed case's download proof: which image each guest fetched, told from the access log
and each guest's address, including the address dhcpd6 handed to both guests in turn."""

from __future__ import annotations

from pathlib import Path

from httpboot_harness.artifacts import CaseArtifacts
from httpboot_harness.evidence import ServerLogs
from httpboot_harness.mixed import Guest, MixedCase, _download_proof
from httpboot_harness.payload import ProofImage
from httpboot_harness.services.dhcpd6 import Dhcp6Log
from httpboot_harness.services.lighttpd import AccessRecord

SIZE = 4096
X86_ADDRESS, ARM_ADDRESS = "2001:db8:111::102", "2001:db8:111::103"


def guests(tmp_path: Path) -> tuple[Guest, Guest]:
    made = []
    for index, case in enumerate(MixedCase("ipv6").guests):
        image = tmp_path / f"{case.id}.efi"
        image.write_bytes(b"\0" * SIZE)
        path = f"/{case.id}/boot.efi"
        made.append(
            Guest(case, f"tap{index}", f"52:54:00:00:00:0{index}",
                  CaseArtifacts(tmp_path / "art", case.id),
                  ProofImage(image, case.id, "0123456789abcdef"), f"http://h{path}", path)
        )  # fmt: skip
    return made[0], made[1]


def get(client: str, path: str) -> AccessRecord:
    return AccessRecord(client, 80, "GET", path, "HTTP/1.1", 200, SIZE, "UefiHttpBoot/1.0")


def test_a_guest_that_fetched_its_own_image_is_proven(tmp_path: Path) -> None:
    x86, arm = guests(tmp_path)
    proof = _download_proof(x86, arm, logs([get(X86_ADDRESS, x86.image_path)]), X86_ADDRESS,
                            ARM_ADDRESS)  # fmt: skip
    assert proof == f"GET {x86.image_path} 200 {SIZE} bytes to {X86_ADDRESS} (UefiHttpBoot/1.0)"


def test_the_other_architectures_image_from_a_guests_own_address_is_its_mistake(
    tmp_path: Path,
) -> None:
    x86, arm = guests(tmp_path)
    records = [get(X86_ADDRESS, arm.image_path), get(X86_ADDRESS, x86.image_path)]
    assert _download_proof(x86, arm, logs(records), X86_ADDRESS, ARM_ADDRESS) is None


def test_an_address_both_guests_held_does_not_count_the_others_fetch_against_it(
    tmp_path: Path,
) -> None:
    """dhcpd6 gave a released address to the other guest (seen in CI): both GETs come from
    one address, and each guest's own image still proves its download."""
    x86, arm = guests(tmp_path)
    records = [get(X86_ADDRESS, arm.image_path), get(X86_ADDRESS, x86.image_path)]
    for guest, other in ((x86, arm), (arm, x86)):
        proof = _download_proof(guest, other, logs(records), X86_ADDRESS, f"[{X86_ADDRESS}]")
        assert (
            proof == f"GET {guest.image_path} 200 {SIZE} bytes to {X86_ADDRESS} (UefiHttpBoot/1.0)"
        )


def test_no_fetch_of_its_own_image_is_no_proof(tmp_path: Path) -> None:
    x86, arm = guests(tmp_path)
    assert _download_proof(x86, arm, logs([get(ARM_ADDRESS, arm.image_path)]), X86_ADDRESS,
                           ARM_ADDRESS) is None  # fmt: skip


def logs(access: list[AccessRecord]) -> ServerLogs:
    return ServerLogs(access, dhcp4=[], dhcp6=Dhcp6Log((), ()), dns_queries=[], tls_errors=[])
