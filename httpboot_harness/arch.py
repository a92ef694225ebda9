"""Everything that differs between the client architectures, in one table.

A case's ``arch`` picks one :class:`ArchSpec`: which QEMU runs it and with which machine, which
firmware descriptors fit, how the proof image is built (GRUB's format and where its modules come
from), what the removable-media boot file is called, and which vendor class the firmware sends
(``HTTPClient:Arch:000NN``, the DHCP client architecture type of RFC 4578 / IANA). Nothing outside
this module spells an architecture's QEMU binary, firmware path or GRUB format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import PrerequisiteError

Arch = Literal["x86_64", "aarch64"]
ARCHES: tuple[Arch, ...] = ("x86_64", "aarch64")
DEFAULT_QEMU = "qemu-system-x86_64"
NO_PXE = (
    "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
    "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
)  # fmt: skip
"""Removes the PXE boot options: AAVMF tries them first and spends about 130 s on them."""
OS_RELEASE = Path("/etc/os-release")


def host_suite() -> str:
    """The host's Debian suite: foreign GRUB modules must match the host's grub-mkimage."""
    try:
        text = OS_RELEASE.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME" and value.strip('"'):
            return value.strip('"')
    return "bookworm"


@dataclass(frozen=True)
class ArchSpec:
    """One client architecture: QEMU, firmware, boot file, GRUB and DHCP vendor class."""

    name: Arch
    qemu: str
    qemu_package: str
    firmware_package: str
    machine_args: tuple[str, ...]
    descriptor_arch: str
    """``targets[].architecture`` in QEMU's firmware descriptors."""
    descriptor_machine: str
    """The prefix of a machine pattern the descriptor must name (``pc-q35``, ``virt``)."""
    fallback_firmware: tuple[tuple[Path, Path], ...]
    """(code, vars) at known distribution paths, when no descriptor fits."""
    grub_format: str
    grub_package: str
    grub_foreign_arch: str | None
    """The Debian architecture of the GRUB modules when they cannot be installed on the host
    (fetched into the cache with package_cache); None: the host's installed package."""
    boot_file: str
    """The removable-media file name (``\\EFI\\BOOT\\BOOTX64.EFI``), lower case as served."""
    client_arch: int
    """DHCP option 93 of the firmware's HTTP boot client: 16 x64 UEFI HTTP, 19 arm64."""
    firmware_args: tuple[str, ...] = ()
    """fw_cfg switches every case of this architecture needs."""

    @property
    def vendor_class(self) -> str:
        """The start of the vendor class the firmware's HTTP client sends."""
        return f"HTTPClient:Arch:{self.client_arch:05d}"

    def grub_modules(self) -> Path:
        """GRUB's module folder for this architecture, fetched into the cache if foreign."""
        if self.grub_foreign_arch is None:
            folder = Path("/usr/lib/grub") / self.grub_format
            if not (folder / "halt.mod").is_file():
                raise PrerequisiteError(
                    f"GRUB's {self.grub_format} modules are missing ({folder})",
                    f"apt-get install {self.grub_package}",
                )
            return folder
        from .package_cache import fetch_package

        unpacked = fetch_package(self.grub_package, host_suite(), self.grub_foreign_arch)
        folder = unpacked.root / "usr/lib/grub" / self.grub_format
        if not (folder / "halt.mod").is_file():
            raise PrerequisiteError(
                f"the cached {self.grub_package} has no {self.grub_format} modules ({folder})",
                f"delete {unpacked.root} and run make setup again",
            )
        return folder

    def cached_grub_modules(self) -> Path | None:
        """The module folder if it is already there (no network): for ``doctor``."""
        if self.grub_foreign_arch is None:
            folder = Path("/usr/lib/grub") / self.grub_format
            return folder if (folder / "halt.mod").is_file() else None
        from .package_cache import cached

        found = cached(self.grub_package, host_suite(), self.grub_foreign_arch)
        if found is None:
            return None
        folder = found.root / "usr/lib/grub" / self.grub_format
        return folder if (folder / "halt.mod").is_file() else None


X86_64 = ArchSpec(
    name="x86_64",
    qemu=DEFAULT_QEMU,
    qemu_package="qemu-system-x86",
    firmware_package="ovmf",
    machine_args=("-machine", "q35"),
    descriptor_arch="x86_64",
    descriptor_machine="pc-q35",
    fallback_firmware=(
        (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd")),
        (Path("/usr/share/OVMF/OVMF_CODE.fd"), Path("/usr/share/OVMF/OVMF_VARS.fd")),
        (Path("/usr/share/edk2/ovmf/OVMF_CODE.fd"), Path("/usr/share/edk2/ovmf/OVMF_VARS.fd")),
        (
            Path("/usr/share/qemu/ovmf-x86_64-code.bin"),
            Path("/usr/share/qemu/ovmf-x86_64-vars.bin"),
        ),
    ),
    grub_format="x86_64-efi",
    grub_package="grub-efi-amd64-bin",
    grub_foreign_arch=None,
    boot_file="bootx64.efi",
    client_arch=16,
)

AARCH64 = ArchSpec(
    name="aarch64",
    qemu="qemu-system-aarch64",
    qemu_package="qemu-system-arm",
    firmware_package="qemu-efi-aarch64",
    machine_args=("-machine", "virt", "-cpu", "cortex-a57"),
    descriptor_arch="aarch64",
    descriptor_machine="virt",
    fallback_firmware=(
        (Path("/usr/share/AAVMF/AAVMF_CODE.fd"), Path("/usr/share/AAVMF/AAVMF_VARS.fd")),
        (
            Path("/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw"),
            Path("/usr/share/edk2/aarch64/vars-template-pflash.raw"),
        ),
    ),
    grub_format="arm64-efi",
    grub_package="grub-efi-arm64-bin",
    grub_foreign_arch="arm64",
    boot_file="bootaa64.efi",
    client_arch=19,
    firmware_args=NO_PXE,
)

SPECS: dict[Arch, ArchSpec] = {spec.name: spec for spec in (X86_64, AARCH64)}


def arch_spec(arch: str) -> ArchSpec:
    try:
        return SPECS[arch]  # type: ignore[index]
    except KeyError:
        from .errors import UsageError

        raise UsageError(f"architecture must be one of {ARCHES}, not {arch!r}") from None


def qemu_for(arch: Arch, given: str, given_for: Arch) -> str:
    """The QEMU binary for ``arch``: ``--qemu`` when it was given for this architecture (the
    setting ``arch``), else the architecture's own."""
    if arch == given_for and given != DEFAULT_QEMU:
        return given
    return SPECS[arch].qemu


def main() -> int:
    """``python -m httpboot_harness.arch`` (make setup): fetch every architecture's GRUB modules
    into the cache; silent when they are there, one line and 125 when they cannot be had."""
    import sys

    for spec in SPECS.values():
        try:
            spec.grub_modules()
        except PrerequisiteError as exc:
            print(f"httpboot-harness setup: {exc}", file=sys.stderr)
            return 125
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
