"""``httpboot-harness doctor``: every prerequisite of a boot, one row each, with the fix.

Each check returns a :class:`Check`; none raises. The command exits 0 exactly when every required
check passed, i.e. when a boot can run on this machine.

The checks of installed tools find executables through one ``lookup`` (by default PATH, then the
sbin folders), so a test can show doctor a machine with a package missing, without root.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .accel import resolve_accel
from .arch import SPECS, ArchSpec, arch_spec, qemu_for
from .config import Settings
from .errors import HarnessError
from .firmware import Firmware, find_arch_firmware, find_secure_boot_firmware
from .network import ROOTLESS_FIX, TUN_DEVICE, Lab, new_tag
from .services.apache2 import Apache2
from .services.base import Binary
from .services.dhcpd6 import Dhcpd6
from .services.dnsmasq import Dnsmasq
from .services.lighttpd import Lighttpd
from .services.radvd import Radvd
from .services.tcpdump import Tcpdump
from .userns import LabMode, choose_mode

LIGHTTPD_TLS_MODULE = Path("/usr/lib/lighttpd/mod_openssl.so")
SBIN = "/usr/sbin:/sbin"
"""Daemons live here, and PATH lacks it under sudo on some machines (as Binary.resolve does)."""

Lookup = Callable[[str], str | None]
"""Finds an executable by name (or checks a path): its full path, or None."""


def path_lookup(path: str | None = None) -> Lookup:
    """Look executables up in ``path`` (default: PATH, then the sbin folders) and nowhere else."""
    search = path if path is not None else f"{os.environ.get('PATH', os.defpath)}:{SBIN}"
    return lambda name: shutil.which(name, path=search)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _lab_mode(settings: Settings) -> Check:
    mode, why = choose_mode(settings.lab_mode)
    return Check("lab mode", True, f"{mode}: {why}")


def _root(mode: LabMode) -> Check:
    if mode == "rootless":
        return Check("root", True, "not needed: the lab is a user namespace")
    if os.geteuid() == 0:
        return Check("root", True, "running as root")
    return Check(
        "root", False, "not root", "run as root (sudo httpboot-harness ...), or --lab-mode rootless"
    )


def tun_check(mode: LabMode, device: Path = Path(TUN_DEVICE)) -> Check:
    if not device.exists():
        return Check(str(device), False, "missing", "modprobe tun")
    permissions = stat.S_IMODE(device.stat().st_mode)
    if mode == "root":
        return Check(str(device), True, f"present, mode {permissions:04o}")
    if os.access(device, os.R_OK | os.W_OK):
        return Check(str(device), True, f"open to this user (mode {permissions:04o})")
    return Check(
        str(device),
        False,
        f"mode {permissions:04o}: a user cannot create a tap with it",
        f"sudo chmod 0666 {device} (Debian's udev default)",
    )


def user_namespaces_check(sysctl: Path = Path("/proc/sys")) -> Check:
    """Unprivileged user namespaces: off when ``user.max_user_namespaces`` is 0, or (Debian
    kernels before 6.x, some others) ``kernel.unprivileged_userns_clone`` is 0."""
    limits = {
        "user.max_user_namespaces": sysctl / "user" / "max_user_namespaces",
        "kernel.unprivileged_userns_clone": sysctl / "kernel" / "unprivileged_userns_clone",
    }
    found = []
    for name, path in limits.items():
        try:
            value = int(path.read_text().strip())
        except (OSError, ValueError):
            continue  # this kernel has no such switch
        if value == 0:
            return Check(
                "user namespaces",
                False,
                f"{name} = 0",
                f"sudo sysctl -w {name}={15000 if name.startswith('user.') else 1}, or run as root",
            )
        found.append(f"{name} = {value}")
    return Check("user namespaces", True, ", ".join(found) or "no switch limits them")


def _namespaces(mode: LabMode) -> Check:
    try:
        with Lab(new_tag(), mode=mode):
            pass
    except HarnessError as exc:
        fix = ROOTLESS_FIX if mode == "rootless" else "run as root with CAP_SYS_ADMIN"
        return Check("network namespaces", False, str(exc), fix)
    where = "in a user namespace" if mode == "rootless" else "under /run/netns"
    return Check(
        "network namespaces", True, f"created a namespace with tap0 {where}, then removed it"
    )


def _ip(lookup: Lookup) -> Check:
    if path := lookup("ip"):
        return Check("ip (iproute2)", True, path)
    return Check("ip (iproute2)", False, "missing", "apt-get install iproute2")


def _qemu(settings: Settings, lookup: Lookup) -> Check:
    arch = arch_spec(settings.arch)
    qemu = qemu_for(arch.name, settings.qemu, settings.arch)
    path = lookup(qemu)
    if path is None:
        return Check(
            "qemu",
            False,
            f"{qemu} not found",
            f"apt-get install {arch.qemu_package} (or make setup), or pass --qemu",
        )
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(
            "qemu", False, f"{path} --version failed: {exc}", f"reinstall {arch.qemu_package}"
        )
    return Check("qemu", True, f"{path}: {out.splitlines()[0] if out else 'unknown version'}")


def _binary(binary: Binary, lookup: Lookup) -> Check:
    if path := lookup(binary.name):
        return Check(binary.name, True, path)
    return Check(
        binary.name,
        False,
        f"{binary.name} is not installed",
        f"apt-get install {binary.package} (or make setup)",
    )


def _grub(lookup: Lookup, arch: ArchSpec) -> Check:
    mkimage = lookup("grub-mkimage")
    if mkimage is None:
        return Check("grub-mkimage", False, "missing", "apt-get install grub-common")
    modules = arch.cached_grub_modules()
    if modules is None:
        fix = "make setup" if arch.grub_foreign_arch else f"apt-get install {arch.grub_package}"
        return Check("grub-mkimage", False, f"no {arch.grub_format} modules", fix)
    return Check("grub-mkimage", True, f"{mkimage}, modules in {modules}")


def _architecture(arch: ArchSpec, settings: Settings, lookup: Lookup) -> Check:
    """One row per client architecture: its QEMU, firmware and GRUB modules. Required only for
    the architecture the settings name; the others are notes."""
    required = arch.name == settings.arch
    name = f"arch {arch.name}"
    qemu = qemu_for(arch.name, settings.qemu, settings.arch)
    if lookup(qemu) is None:
        return Check(name, False, f"{qemu} not found", f"apt-get install {arch.qemu_package}",
                     required)  # fmt: skip
    try:
        firmware = find_arch_firmware(settings, arch)
    except HarnessError as exc:
        return Check(name, False, str(exc), f"apt-get install {arch.firmware_package}", required)
    modules = arch.cached_grub_modules()
    if modules is None:
        return Check(name, False, f"no GRUB {arch.grub_format} modules", "make setup", required)
    return Check(
        name, True, f"{qemu}, {firmware.code.name}, GRUB {arch.grub_format}, {arch.vendor_class}"
    )


def _lighttpd_tls() -> Check:
    if LIGHTTPD_TLS_MODULE.is_file():
        return Check("lighttpd TLS", True, str(LIGHTTPD_TLS_MODULE))
    return Check(
        "lighttpd TLS", False, "mod_openssl missing", "apt-get install lighttpd-mod-openssl"
    )


def run_checks(settings: Settings, lookup: Lookup | None = None) -> list[Check]:
    """Every row of ``httpboot-harness doctor``: the lab's mode and what it needs of the host
    (root, or /dev/net/tun open to users and user namespaces), the namespaces, the tools."""
    mode = choose_mode(settings.lab_mode)[0]
    host = [_lab_mode(settings), _root(mode), tun_check(mode)]
    if mode == "rootless":
        host += [user_namespaces_check(), _binary(Binary("unshare", "util-linux"), path_lookup())]
    return [*host, _namespaces(mode), *tool_checks(settings, lookup)]


def tool_checks(settings: Settings, lookup: Lookup | None = None) -> list[Check]:
    """The installed tools a boot needs, found through ``lookup``; needs no root."""
    find = lookup or path_lookup()
    qemu = _qemu(settings, find)
    checks = [_ip(find), qemu]
    firmware: Firmware | None = None
    try:
        firmware = find_arch_firmware(settings, arch_spec(settings.arch))
        checks.append(
            Check(
                "OVMF", True, f"code {firmware.code}, vars {firmware.vars_template}; {firmware.why}"
            )
        )
    except HarnessError as exc:
        checks.append(Check("OVMF", False, str(exc), "apt-get install ovmf, or pass --ovmf-code"))
    try:
        secure = find_secure_boot_firmware(settings, arch_spec(settings.arch))
        checks.append(
            Check(
                "OVMF Secure Boot",
                True,
                f"code {secure.code}, vars {secure.vars_template}; {secure.why}",
                required=False,
            )
        )
    except HarnessError as exc:
        hint = "apt-get install ovmf"
        checks.append(Check("OVMF Secure Boot", False, str(exc), hint, required=False))
    if firmware is not None and qemu.ok:
        try:
            qemu_binary = qemu_for(settings.arch, settings.qemu, settings.arch)
            accel, why = resolve_accel(settings.accel, qemu_binary, firmware, settings.arch)
            checks.append(Check("accelerator", True, f"{accel}: {why}", required=False))
        except HarnessError as exc:
            checks.append(Check("accelerator", False, str(exc), "use --accel tcg or auto"))
    http = Apache2.binary if settings.http_server == "apache2" else Lighttpd.binary
    for binary in (Dnsmasq.binary, Dhcpd6.binary, Radvd.binary, http, Tcpdump.binary):
        checks.append(_binary(binary, find))
    if settings.http_server != "apache2":
        checks.append(_lighttpd_tls())
    checks.append(_grub(find, arch_spec(settings.arch)))
    checks += [_architecture(arch, settings, find) for arch in SPECS.values()]
    return checks


def format_checks(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        status = "ok" if check.ok else ("missing" if check.required else "note")
        line = f"{status:8} {check.name:{width}}  {check.detail}"
        if not check.ok and check.fix:
            line += f"  -> fix: {check.fix}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def boot_can_run(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.required)
