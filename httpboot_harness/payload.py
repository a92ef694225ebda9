"""The image the server hands out: an EFI program that proves it ran, built per case at run time.

It is GRUB's EFI core made by the host's grub-mkimage from the architecture's GRUB modules
(grub-efi-amd64-bin installed; grub-efi-arm64-bin unpacked into the cache), with an embedded
script that prints ``HTTPBOOT-PROOF <case> <nonce>`` and powers the machine off through UEFI
ResetSystem. The printed line is assembled by GRUB's interpreter from a variable, so it appears on
the console only if the downloaded image really executed; the nonce is fresh for every run.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .arch import X86_64, ArchSpec
from .errors import PrerequisiteError

PROOF_PREFIX = "HTTPBOOT-PROOF"
NONCE_BYTES = 8
GRUB_MODULES = ("echo", "halt")


@dataclass(frozen=True)
class Served:
    """A file a boot chain fetches after the firmware's download, in the order it must come."""

    phase: str
    """The phase whose proof it is (``loader``, ``kernel``, ``initrd``; ``image`` for what the
    firmware's image fetches)."""
    path: str
    """Its URL path, as the server logs it (shim's double slash aside)."""
    size: int
    what: str
    """What it is, for the proof line (``grubx64.efi``, ``grub.cfg``, ``the kernel``...)."""
    members: tuple[str, ...] = ()
    """For a certificate initrd: the files the proof initrd must find."""


@dataclass(frozen=True)
class ProofImage:
    path: Path
    case_id: str
    nonce: str
    served: tuple[Served, ...] = ()
    """What a chain fetches after the image, in order; empty for the proof program."""
    kernel_cmdline: str = ""
    """The kernel command line the chain's GRUB config serves."""
    own_program: Path | None = None
    """The EFI program the harness built that the firmware (or shim) must trust under Secure
    Boot: the image itself, or a chain's GRUB. None: the image as built."""
    expect: str | None = None
    """A user's tree: the regular expression of the console line that proves success (the
    proof line is then the line that matched)."""

    def expected_line(self, plain: str) -> str | None:
        """The console line matching ``expect``, once it is there (complete: newline-ended)."""
        if self.expect is None:
            return None
        pattern = re.compile(self.expect)
        return next((ln.strip() for ln in plain.splitlines(True)[:-1] if pattern.search(ln)), None)

    @property
    def trusted_program(self) -> Path:
        return self.own_program or self.path

    def measured(self, document_root: Path) -> ProofImage:
        """The same, with each served file's size read again (signing makes a file larger)."""
        served = tuple(
            dataclasses.replace(s, size=(document_root / s.path.lstrip("/")).stat().st_size)
            for s in self.served
        )
        return dataclasses.replace(self, served=served)

    @property
    def proof_line(self) -> str:
        """What the image prints when it runs; the verdict looks for exactly this."""
        return f"{PROOF_PREFIX} {self.case_id} {self.nonce}"

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def grub_script(case_id: str, nonce: str) -> str:
    """The embedded GRUB script: print the proof line, then power off."""
    return (
        f"set proof_case={case_id}\n"
        f"set proof_nonce={nonce}\n"
        f'echo "{PROOF_PREFIX} $proof_case $proof_nonce"\n'
        "halt\n"
    )


def build_proof_image(
    destination: Path,
    case_id: str,
    *,
    script: Path,
    nonce: str | None = None,
    arch: ArchSpec = X86_64,
) -> ProofImage:
    """Build the proof EFI program at ``destination``; ``script`` keeps the embedded script."""
    mkimage = shutil.which("grub-mkimage")
    if mkimage is None:
        raise PrerequisiteError("grub-mkimage is not installed", "apt-get install grub-common")
    modules = arch.grub_modules()
    nonce = nonce or new_nonce()
    destination.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(grub_script(case_id, nonce))
    argv = [
        mkimage,
        f"--format={arch.grub_format}",
        f"--directory={modules}",
        "--prefix=/EFI/BOOT",
        f"--config={script}",
        f"--output={destination}",
        *GRUB_MODULES,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise PrerequisiteError(
            f"grub-mkimage failed ({result.returncode}): {result.stderr.strip()}",
            f"apt-get install --reinstall grub-common {arch.grub_package}",
        )
    return ProofImage(destination, case_id, nonce)


ESP_SIZE_KIB = 2880
"""The EFI system partition image inside the ISO: room for the proof image, a FAT12 floppy size."""


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise PrerequisiteError(f"{name} is not installed", f"apt-get install {package}")
    return path


def _run(argv: list[str], package: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise PrerequisiteError(
            f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}",
            f"apt-get install --reinstall {package}",
        )


def build_proof_iso(
    image: ProofImage, destination: Path, workdir: Path, arch: ArchSpec = X86_64
) -> ProofImage:
    """Wrap the proof program in an ISO the firmware boots as a RAM disk (the seed's "boot an
    ISO from a URL"): an El Torito EFI boot image, a FAT file system holding it at the removable
    media path (\\EFI\\BOOT\\BOOTX64.EFI, BOOTAA64.EFI), which the firmware looks for on the
    RAM disk."""
    mkfs = _tool("mkfs.fat", "dosfstools")
    mmd, mcopy = _tool("mmd", "mtools"), _tool("mcopy", "mtools")
    xorriso = _tool("xorriso", "xorriso")
    iso_root = workdir / "iso-root"
    iso_root.mkdir(parents=True, exist_ok=True)
    esp = iso_root / "efiboot.img"
    esp.unlink(missing_ok=True)
    _run([mkfs, "-C", "-n", "HBHPROOF", str(esp), str(ESP_SIZE_KIB)], "dosfstools")
    _run([mmd, "-i", str(esp), "::/EFI", "::/EFI/BOOT"], "mtools")
    _run(
        [mcopy, "-i", str(esp), str(image.path), f"::/EFI/BOOT/{arch.boot_file.upper()}"], "mtools"
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    _run(
        [xorriso, "-as", "mkisofs", "-quiet", "-V", "HBHPROOF", "-o", str(destination),
         "-e", esp.name, "-no-emul-boot", str(iso_root)],
        "xorriso",
    )  # fmt: skip
    return ProofImage(destination, image.case_id, image.nonce)
