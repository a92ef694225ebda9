"""Choose the accelerator: KVM only where a probe shows it can really run OVMF, otherwise TCG.

/dev/kvm can exist and still be unable to run firmware (a paravirtual KVM without vmx/svm: QEMU
dies with "KVM internal error" or "failed to set MSR"). So ``auto`` first asks the CPU flags, and
only if they promise hardware virtualisation boots OVMF under KVM for a moment to be sure.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

from .errors import PrerequisiteError
from .firmware import Firmware
from .labstate import own_prefix

Resolved = Literal["kvm", "tcg"]
PROBE_SECONDS = 20.0


def cpu_has_virtualisation(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return "vmx" in flags or "svm" in flags
    return False


def kvm_device_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


@functools.cache
def kvm_runs_firmware(qemu: str, firmware: Firmware) -> tuple[bool, str]:
    """Boot OVMF under KVM until it prints on the serial line; (works, why)."""
    if not kvm_device_usable():
        return False, "/dev/kvm is missing or not accessible"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    if not cpu_has_virtualisation(cpuinfo):
        return False, "the CPU flags show neither vmx nor svm (no hardware virtualisation)"
    with tempfile.TemporaryDirectory(prefix=f"{own_prefix()}kvm-probe-") as tmp:
        serial = Path(tmp) / "serial.txt"
        vars_copy = Path(tmp) / "vars.fd"
        argv = [
            qemu, "-accel", "kvm", "-machine", "q35", "-m", "256", "-nodefaults",
            "-display", "none", "-no-reboot",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={firmware.code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
            "-serial", f"file:{serial}",
        ]  # fmt: skip
        firmware.copy_vars(vars_copy)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    return False, f"QEMU with KVM exited: {err.strip()[:200]}"
                if serial.exists() and serial.stat().st_size > 0:
                    return True, "OVMF ran under KVM"
                time.sleep(0.1)
            return False, "OVMF printed nothing under KVM within the probe time"
        finally:
            proc.kill()
            proc.wait()


def resolve_accel(
    requested: str, qemu: str, firmware: Firmware, guest: str | None = None
) -> tuple[Resolved, str]:
    """Turn auto|kvm|tcg into kvm|tcg with the reason, refusing a kvm request that cannot work.

    ``guest``: the guest's architecture; KVM runs only the host's own."""
    if requested == "tcg":
        return "tcg", "TCG requested"
    host = platform.machine()
    if guest is not None and guest != host:
        works, why = False, f"KVM cannot run an {guest} guest on this {host} host"
    else:
        works, why = kvm_runs_firmware(qemu, firmware)
    if requested == "kvm":
        if not works:
            raise PrerequisiteError(
                f"KVM was requested but cannot run OVMF here: {why}", "use --accel tcg or auto"
            )
        return "kvm", why
    return ("kvm", why) if works else ("tcg", f"TCG, because {why}")
