"""How many cases run side by side: the rule behind ``matrix --jobs auto`` and ``pytest -n auto``.

Under TCG a guest does not need its core all the time: for about 3.5 s of an 8 s IPv4 case its
firmware only collects DHCPv4 offers, and it waits for the servers, the menus and its timers
elsewhere too. So more cases than cores keep the cores busier. Measured on 2 cores (the default
matrix against one case at a time): 2 jobs took 0.56 to 0.62 of the time, 3 jobs 0.51; ``make
bench`` measures 1, 2, 3, 4 jobs and ``auto`` (``matrix_jobs`` in its JSON) to check this rule
on the machine at hand. Under KVM a guest runs at the host's speed and its cores are busy when
it runs: one case per core.

Each case may hold its guest's whole RAM plus about ``CASE_OVERHEAD_MIB`` for QEMU itself, the
daemons, the capture and the harness's share, so the number is bounded by the memory available.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .config import Settings
from .errors import HarnessError

log = logging.getLogger(__name__)

TCG_JOBS_PER_CPU = 2
"""Cases per core under TCG: a guest spends close to half its case waiting (see above)."""
CASE_OVERHEAD_MIB = 256


def auto_jobs(cpus: int, accel: str, available_mib: int | None, guest_mib: int) -> int:
    """The rule: ``TCG_JOBS_PER_CPU`` cases per core under TCG, one per core under KVM, never
    more than the available memory holds (a guest's RAM plus ``CASE_OVERHEAD_MIB`` each), at
    least one."""
    by_cpu = max(1, cpus) * (TCG_JOBS_PER_CPU if accel == "tcg" else 1)
    if available_mib is None:
        return by_cpu
    by_memory = available_mib // (guest_mib + CASE_OVERHEAD_MIB)
    return max(1, min(by_cpu, by_memory))


def usable_cpus() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_mib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in MiB, or None when it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def expected_accel(settings: Settings) -> str:
    """The accelerator the cases will use: asked for, or what the probe finds (cached)."""
    if settings.accel != "auto":
        return settings.accel
    from .accel import resolve_accel
    from .arch import arch_spec, qemu_for
    from .firmware import find_arch_firmware

    arch = arch_spec(settings.arch)
    try:
        firmware = find_arch_firmware(settings, arch)
        qemu = qemu_for(settings.arch, settings.qemu, settings.arch)
        return resolve_accel("auto", qemu, firmware, arch.name)[0]
    except HarnessError as exc:  # the cases themselves will report it; count on TCG meanwhile
        log.info("accelerator unknown (%s); counting jobs for TCG", exc)
        return "tcg"


def jobs_here(settings: Settings) -> int:
    """``auto`` on this machine, for these settings."""
    return auto_jobs(usable_cpus(), expected_accel(settings), available_mib(), settings.memory)


def parse_jobs(value: str) -> int | str:
    """``--jobs``: a positive whole number or ``auto`` (argparse's type)."""
    if value == "auto":
        return value
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"must be a positive whole number or auto, not {value!r}")
    return jobs
