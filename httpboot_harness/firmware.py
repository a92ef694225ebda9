"""Find OVMF and give each case a private copy of its variable store.

Discovery reads QEMU's firmware descriptors (/usr/share/qemu/firmware/*.json, the interop format
QEMU and libvirt share) and picks a UEFI flash build of the case's architecture (x86_64 q35 OVMF,
aarch64 virt AAVMF) without Secure Boot or SMM, skipping descriptors whose files are not there
(Debian's 50-edk2-aarch64-secure.json names one it does not ship), then falls back to known
distribution paths. Explicit paths always win and are checked for what usually goes
wrong: a missing or unreadable file, a file that is not a firmware volume, a vars file too small.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arch import X86_64, ArchSpec
from .errors import PrerequisiteError, UsageError

if TYPE_CHECKING:
    from .config import Settings

DESCRIPTOR_DIRS = (
    Path("/etc/qemu/firmware"),
    Path("/usr/local/share/qemu/firmware"),
    Path("/usr/share/qemu/firmware"),
)
# EFI_FIRMWARE_VOLUME_HEADER.Signature "_FVH" sits at byte 40 of a volume.
FV_SIGNATURE = b"_FVH"
FV_SIGNATURE_OFFSET = 40
FV_ALIGN = 4096
FV_SEARCH_BYTES = 64 * 1024
"""AAVMF's code starts with a 4 KiB reset stub; its first volume follows, so the signature is
looked for at every 4 KiB boundary of the first 64 KiB."""
MIN_VARS_BYTES = 128 * 1024
UNWANTED_FEATURES = {"secure-boot", "requires-smm", "enrolled-keys", "amd-sev-snp", "intel-tdx"}
SECURE_BOOT_FEATURES = {"secure-boot", "requires-smm", "enrolled-keys"}
"""The Secure Boot profile: Secure Boot on, Microsoft's keys enrolled in the vars template."""
SECURE_BOOT_FALLBACK = (
    Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"),
    Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd"),
)
INSTALL_HINT = "apt-get install ovmf (or make setup), or pass --httpboot-ovmf-code/--ovmf-code"


def _install_hint(arch: ArchSpec) -> str:
    return INSTALL_HINT.replace("ovmf", arch.firmware_package, 1)


_ZERO_BLOCK = bytes(1 << 20)
"""Compared whole (a memcmp): AAVMF's 64 MiB vars store is read in a tenth of the time that
counting its zeros took, twice per case (the check, then the copy)."""


@dataclass(frozen=True)
class Firmware:
    code: Path
    vars_template: Path
    why: str
    """How this pair was chosen, for ``doctor`` and the report."""

    def copy_vars(self, destination: Path) -> Path:
        """A writable private copy of the vars template: the template is never written.

        Sparse where the template is zero: AAVMF's store is 64 MiB, almost all of it empty."""
        with self.vars_template.open("rb") as source, destination.open("wb") as target:
            while block := source.read(len(_ZERO_BLOCK)):
                if block == _ZERO_BLOCK[: len(block)]:
                    target.seek(len(block), 1)
                else:
                    target.write(block)
            target.truncate()
        destination.chmod(0o600)
        return destination


def find_firmware(
    code: Path | None = None,
    vars_template: Path | None = None,
    arch: ArchSpec | None = None,
    *,
    secure_boot: bool = False,
) -> Firmware:
    """Explicit paths win; otherwise ``arch``'s descriptors, then known distribution paths.
    ``secure_boot`` asks for a build with Secure Boot and SMM and a template with Microsoft's
    keys enrolled."""
    arch = arch or X86_64
    if code is not None:
        check_volume(code, "OVMF code")
        if vars_template is None:
            vars_template = _matching_vars(code, arch)
        check_volume(vars_template, "OVMF vars", min_bytes=MIN_VARS_BYTES)
        check_pair(code, vars_template, arch)
        return Firmware(code, vars_template, "given explicitly")
    for _, described in _descriptor_candidates(arch, secure_boot):
        chosen = Firmware(described.code, vars_template or described.vars_template, described.why)
        if chosen.code.is_file() and chosen.vars_template.is_file():
            check_volume(chosen.vars_template, "OVMF vars", min_bytes=MIN_VARS_BYTES)
            return chosen
    fallbacks = (SECURE_BOOT_FALLBACK,) if secure_boot else arch.fallback_firmware
    for code_path, vars_path in fallbacks:
        if code_path.is_file() and (vars_template or vars_path).is_file():
            chosen_vars = vars_template or vars_path
            check_volume(chosen_vars, "OVMF vars", min_bytes=MIN_VARS_BYTES)
            return Firmware(code_path, chosen_vars, f"known distribution path {code_path}")
    raise PrerequisiteError(
        f"no {arch.name} UEFI firmware found (no descriptor, no known path)", _install_hint(arch)
    )


def find_arch_firmware(settings: Settings, arch: ArchSpec) -> Firmware:
    """The firmware of ``arch``: the paths given (``--ovmf-code``/``--ovmf-vars``) when they were
    given for this architecture (the setting ``arch``), else discovery."""
    if settings.arch == arch.name:
        return find_firmware(settings.ovmf_code, settings.ovmf_vars, arch)
    return find_firmware(arch=arch)


SECURE_BOOT_CODE_SETTING, SECURE_BOOT_VARS_SETTING = "ovmf-secboot-code", "ovmf-secboot-vars"
SECURE_BOOT_EXAMPLE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd with OVMF_VARS_4M.ms.fd"
SECURE_BOOT_PAIR = "OVMF_VARS_4M.ms.fd for OVMF_CODE_4M.secboot.fd"


def find_secure_boot_firmware(settings: Settings, arch: ArchSpec) -> Firmware:
    """The build and vars template of the Secure Boot profile: the user's own
    (``ovmf-secboot-code``/``ovmf-secboot-vars``) when given for this architecture (the setting
    ``arch``), else discovery of a build with Secure Boot, SMM and enrolled keys.

    ``ovmf-code`` never reaches these cases: it is a plain build, and a Secure Boot case run on
    one says nothing about Secure Boot. A given template is checked for its Platform Key, since
    a store without one leaves the firmware in setup mode, where Secure Boot is off and every
    case would fail at its initrd for a reason that is the input's, not the commit's."""
    code, template = settings.ovmf_secboot_code, settings.ovmf_secboot_vars
    if settings.arch != arch.name or (code is None and template is None):
        return find_firmware(arch=arch, secure_boot=True)
    for setting, path in ((SECURE_BOOT_CODE_SETTING, code), (SECURE_BOOT_VARS_SETTING, template)):
        if path is not None and not path.exists():
            raise UsageError(
                f"{setting} {path} does not exist; fix: pass the path of an existing file "
                f"(Debian's ovmf package: {SECURE_BOOT_EXAMPLE}), or leave {setting} unset "
                "to use the Secure Boot build found on this machine"
            )
    if template is not None:
        check_volume(template, f"OVMF Secure Boot vars ({SECURE_BOOT_VARS_SETTING})",
                     min_bytes=MIN_VARS_BYTES)  # fmt: skip
        check_enrolled_keys(template)
    if code is None:  # the user's own keys with the build found here
        found = find_firmware(vars_template=template, arch=arch, secure_boot=True)
        check_pair(
            found.code, found.vars_template, arch, SECURE_BOOT_VARS_SETTING, SECURE_BOOT_PAIR
        )
        return dataclasses.replace(
            found, why=f"{found.why}; vars given ({SECURE_BOOT_VARS_SETTING})"
        )
    check_volume(code, f"OVMF Secure Boot code ({SECURE_BOOT_CODE_SETTING})")
    if template is None:
        template = _secure_boot_template(code, arch)
    check_pair(code, template, arch, SECURE_BOOT_VARS_SETTING, SECURE_BOOT_PAIR)
    return Firmware(code, template, f"given explicitly ({SECURE_BOOT_CODE_SETTING})")


def _secure_boot_template(code: Path, arch: ArchSpec) -> Path:
    """The enrolled-keys template a Secure Boot descriptor names for ``code``. No file-name
    guess: beside a Secure Boot code file lie templates with and without keys (and test keys,
    ``.snakeoil``), and only the one with Microsoft's keys boots Debian's shim."""
    for _, candidate in _descriptor_candidates(arch, secure_boot=True):
        if candidate.code == code:
            return candidate.vars_template
    raise UsageError(
        f"{SECURE_BOOT_CODE_SETTING} {code} is given without {SECURE_BOOT_VARS_SETTING}, and no "
        "QEMU firmware descriptor with enrolled keys names that code file, so which vars "
        f"template holds its keys cannot be told; fix: pass {SECURE_BOOT_VARS_SETTING} with the "
        "template that has Microsoft's keys enrolled (OVMF_VARS_4M.ms.fd beside "
        "OVMF_CODE_4M.secboot.fd)"
    )


def check_enrolled_keys(template: Path) -> None:
    """A Secure Boot template must hold a Platform Key (PK): without one the firmware is in
    setup mode, Secure Boot is off, and shim's chain of trust is never checked."""
    from virt.firmware.varstore import autodetect

    varstore = autodetect.open_varstore(str(template))
    if varstore is None:
        raise UsageError(
            f"{SECURE_BOOT_VARS_SETTING} {template} is not a vars store virt-firmware can read; "
            "fix: pass an OVMF VARS .fd file with keys enrolled (OVMF_VARS_4M.ms.fd)"
        )
    if "PK" not in varstore.get_varlist():
        raise UsageError(
            f"{SECURE_BOOT_VARS_SETTING} {template} has no keys enrolled (no PK: the firmware "
            "would run in setup mode, Secure Boot off); fix: pass the template with Microsoft's "
            "keys enrolled (OVMF_VARS_4M.ms.fd, not OVMF_VARS_4M.fd)"
        )


def _matching_vars(code: Path, arch: ArchSpec) -> Path:
    """For an explicit code file, its descriptor's vars template or the file beside it."""
    for _, candidate in _descriptor_candidates(arch):
        if candidate.code == code:
            return candidate.vars_template
    guess = code.with_name(code.name.replace("CODE", "VARS"))
    if guess != code and guess.is_file():
        return guess
    raise UsageError(
        f"cannot tell which vars file belongs to {code}; pass --httpboot-ovmf-vars/--ovmf-vars"
    )


def _descriptor_candidates(
    arch: ArchSpec, secure_boot: bool = False
) -> Iterable[tuple[Path, Firmware]]:
    """Descriptors in QEMU's order: by file name across dirs, earlier dirs shadowing later."""
    by_name: dict[str, Path] = {}
    for folder in DESCRIPTOR_DIRS:
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                by_name.setdefault(path.name, path)
    for name in sorted(by_name):
        path = by_name[name]
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        firmware = _usable(data, path, arch, secure_boot)
        if firmware is not None:
            yield path, firmware


def _usable(
    data: dict[str, Any], path: Path, arch: ArchSpec = X86_64, secure_boot: bool = False
) -> Firmware | None:
    if "uefi" not in data.get("interface-types", []):
        return None
    features = set(data.get("features", []))
    unwanted = UNWANTED_FEATURES - SECURE_BOOT_FEATURES if secure_boot else UNWANTED_FEATURES
    if unwanted & features or (secure_boot and not features >= SECURE_BOOT_FEATURES):
        return None
    targets = data.get("targets", [])
    if not any(
        t.get("architecture") == arch.descriptor_arch
        and any(m.startswith(arch.descriptor_machine) for m in t.get("machines", []))
        for t in targets
    ):
        return None
    mapping = data.get("mapping", {})
    if mapping.get("device") != "flash":
        return None
    code = mapping.get("executable", {})
    template = mapping.get("nvram-template", {})
    if code.get("format", "raw") != "raw" or "filename" not in template:
        return None
    return Firmware(
        Path(code["filename"]),
        Path(template["filename"]),
        f"QEMU firmware descriptor {path} ({data.get('description', 'no description')})",
    )


def check_volume(path: Path, what: str, min_bytes: int = 0) -> None:
    """Raise a clear error unless ``path`` is a readable UEFI firmware volume of sensible size."""
    if not path.exists():
        raise PrerequisiteError(f"{what} file {path} does not exist", INSTALL_HINT)
    if not path.is_file():
        raise UsageError(f"{what} path {path} is not a regular file; pass the .fd file itself")
    if not os.access(path, os.R_OK):
        raise PrerequisiteError(f"{what} file {path} is not readable", f"chmod a+r {path}")
    with path.open("rb") as handle:
        head = handle.read(FV_SEARCH_BYTES)
    if not _has_volume(head) and not (min_bytes > 0 and _all_zero(path)):
        raise UsageError(
            f"{what} file {path} is not a UEFI firmware volume (no _FVH signature); "
            "fix: pass an OVMF .fd file"
        )
    size = path.stat().st_size
    if size < min_bytes:
        raise UsageError(
            f"{what} file {path} is {size} bytes, smaller than any OVMF vars store "
            f"({min_bytes}); pass the VARS file that belongs to the code file"
        )


X86_FLASH_SIZES = (1 << 20, 2 << 20, 4 << 20)
"""The flash sizes of OVMF builds (FD_SIZE_1MB/2MB/4MB): its CODE and VARS files add up to one."""


def check_pair(
    code: Path,
    vars_template: Path,
    arch: ArchSpec,
    vars_setting: str = "ovmf-vars",
    example: str = "OVMF_VARS_4M.fd for OVMF_CODE_4M.fd",
) -> None:
    """An x86 OVMF build's code and vars halves fill one flash of 1, 2 or 4 MiB together.

    A vars file of another build (the 2 MiB build's 128 KiB store beside a 4 MiB code) is not
    refused by QEMU, and the firmware then runs without the store it was built for: whatever it
    does says nothing about the commit. AAVMF's halves are padded to 64 MiB each: no such rule.
    """
    if arch.name != "x86_64":
        return
    code_size, vars_size = code.stat().st_size, vars_template.stat().st_size
    if code_size + vars_size in X86_FLASH_SIZES:
        return
    raise UsageError(
        f"OVMF vars file {vars_template} ({vars_size} bytes) does not belong to the code file "
        f"{code} ({code_size} bytes): together they must fill a 1, 2 or 4 MiB flash; "
        f"fix: pass --{vars_setting} with the VARS file built with that code ({example})"
    )


def _has_volume(head: bytes) -> bool:
    return any(
        head[start + FV_SIGNATURE_OFFSET : start + FV_SIGNATURE_OFFSET + len(FV_SIGNATURE)]
        == FV_SIGNATURE
        for start in range(0, len(head), FV_ALIGN)
    )


def _all_zero(path: Path) -> bool:
    """An empty vars store (AAVMF_VARS.fd is 64 MiB of zeros): the firmware formats it itself."""
    with path.open("rb") as handle:
        while block := handle.read(len(_ZERO_BLOCK)):
            if block != _ZERO_BLOCK[: len(block)]:
                return False
    return True


def set_boot_uri(vars_copy: Path, url: str) -> None:
    """Write a one-time network boot entry for ``url`` into the vars copy (BootNext=Boot0099):
    the fast path of the seed's "Boot URI", what ``virt-fw-vars --set-boot-uri`` does, done
    in-process through virt-firmware's API (starting the command cost almost a second)."""
    from virt.firmware.efi import devpath
    from virt.firmware.varstore import autodetect

    varstore = autodetect.open_varstore(str(vars_copy))
    if varstore is None:
        raise UsageError(f"{vars_copy} is not a varstore virt-firmware can read")
    varlist = varstore.get_varlist()
    varlist.set_boot_entry(0x99, f"netboot {url.rsplit('/', 1)[-1]}", devpath.DevicePath.uri(url))
    varlist.set_boot_next(0x99)
    _write_varstore(varstore, vars_copy, varlist)


def _write_varstore(varstore: Any, vars_copy: Path, varlist: Any) -> None:
    """Write ``varlist`` back. virt-firmware's raw edk2 writer pads the store one byte at a
    time onto an immutable bytes object (quadratic: 0.8-1.5 s for a 4 MiB store, before every
    preset case's power-on); the same layout is built here with one padding step."""
    layout = ("filedata", "start", "end", "bytes_varlist")
    if not all(hasattr(varstore, name) for name in layout):
        varstore.write_varstore(str(vars_copy), varlist)  # another store format (qcow2, ...)
        return
    variables = varstore.bytes_varlist(varlist)
    free = varstore.end - varstore.start - len(variables)
    blob = b"".join(
        (
            varstore.filedata[: varstore.start],
            variables,
            b"\xff" * free,
            varstore.filedata[varstore.end :],
        )
    )
    vars_copy.write_bytes(blob)
