"""``httpboot-harness serve``: the seed's server side, up in one command, for manual work.

It builds a lab (or uses an interface the user names), starts every daemon with the harness's own
configuration, prints the QEMU command line that boots against it and the URLs it serves, then
follows the server logs until Ctrl-C, when everything it started is stopped.
"""

from __future__ import annotations

import shlex
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from pyroute2 import IPRoute

from .accel import resolve_accel
from .cases import Scheme
from .config import Settings
from .errors import ServiceError, UsageError
from .firmware import find_firmware
from .libvirt_domain import domain_xml, virt_install_command
from .machine import MachineSpec
from .network import TAP, Addressing, Lab, new_tag
from .payload import build_proof_image
from .process import ManagedProcess
from .rig import CACERTS_FW_CFG
from .server import ServerPlan, start_servers
from .tls import make_tls_material
from .userns import choose_mode, enter_prefix
from .waiting import Deadline

IMAGE_PATH = "/boot/bootx64.efi"
# Without these the firmware tries PXE first and waits tens of seconds for a boot file.
NO_PXE = (
    "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
    "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
)  # fmt: skip


def _check_interface(name: str, addressing: Addressing) -> None:
    """A user-named interface must exist and already carry the seed's server addresses."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            raise UsageError(
                f"no interface {name!r}; create it first (ip tuntap add {name} mode tap)"
            )
        present = {a.get("IFA_ADDRESS") for a in ipr.get_addr(index=found[0])}
    for wanted in (addressing.server_v4, addressing.server_v6):
        if str(wanted.ip) not in present:
            raise UsageError(
                f"{name} lacks the seed address {wanted}; fix: ip addr add {wanted} dev {name}"
            )


def serve(
    settings: Settings,
    *,
    scheme: Scheme = "http",
    interface: str | None = None,
    workdir: Path,
    duration: float | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Run the servers until Ctrl-C (or ``duration`` seconds); raises HarnessError on failure."""
    addressing = Addressing()
    if interface is not None:
        _check_interface(interface, addressing)
    firmware = find_firmware(settings.ovmf_code, settings.ovmf_vars)
    workdir.mkdir(parents=True, exist_ok=True)
    tag = new_tag()
    with ExitStack() as stack:
        netns: str | None = None
        if interface is None:
            netns = stack.enter_context(
                Lab(tag, addressing, mode=choose_mode(settings.lab_mode)[0])
            ).name
        image = build_proof_image(
            workdir / "www" / IMAGE_PATH.lstrip("/"), "serve", script=workdir / "proof-image.cfg"
        )
        tls = make_tls_material(workdir / "tls", addressing)
        url = f"{scheme}://{addressing.hostname}{IMAGE_PATH}"
        root = workdir / "www"
        if settings.boot_tree is not None and settings.boot_path is not None:
            # --boot-tree: the user's tree at the document root, its boot path offered.
            root = settings.boot_tree
            url = f"{scheme}://{addressing.hostname}/{settings.boot_path.lstrip('/')}"
        plan = ServerPlan(
            url,
            root,
            tls,
            addressing,
            interface=interface or TAP,
            dhcp_server=settings.dhcp_server,
            http_server=settings.http_server,
            profile=settings.profile,
        )
        services = start_servers(
            plan, stack, netns=netns, workdir=workdir, tag=tag, deadline=Deadline(30)
        )
        spec = MachineSpec(
            qemu=settings.qemu,
            accel=resolve_accel(settings.accel, settings.qemu, firmware)[0],
            firmware_code=firmware.code,
            vars_copy=firmware.copy_vars(workdir / "OVMF_VARS.fd"),
            socket_dir=workdir,
            fw_cfg_files=((CACERTS_FW_CFG, tls.ca_signature_list),),
            memory_mb=settings.memory,
            extra_args=(*NO_PXE, *settings.qemu_args),
        )
        command = spec.command_for_person()
        if interface is not None:
            command = [a.replace("ifname=tap0", f"ifname={interface}") for a in command]
        if netns is not None:
            command = [*enter_prefix(netns), *command]
        _announce(
            out,
            netns=netns,
            interface=interface,
            a=addressing,
            scheme=scheme,
            proof=image.proof_line,
            command=command,
            workdir=workdir,
        )
        _announce_libvirt(out, spec, interface or TAP, workdir, in_namespace=netns is not None)
        logs = {
            label: path
            for service in plan.services()
            for label, path in service.log_files(workdir / service.name).items()
        }
        _follow_logs(services, logs, out, duration)


def _announce(
    out: TextIO,
    *,
    netns: str | None,
    interface: str | None,
    a: Addressing,
    scheme: str,
    proof: str,
    command: list[str],
    workdir: Path,
) -> None:
    where = f"namespace {netns}, interface {TAP}" if netns else f"interface {interface}"
    out.write(
        f"serving on {where}: {a.server_v4.ip} and {a.server_v6.ip} ({a.hostname})\n"
        f"boot URL handed out by DHCPv4 and DHCPv6: {scheme}://{a.hostname}{IMAGE_PATH}\n"
        f"also served: http://{a.server_v4.ip}{IMAGE_PATH}  https://[{a.server_v6.ip}]{IMAGE_PATH}\n"
        f"the image prints: {proof}, then powers off\n"
        f"files, configs and logs: {workdir}\n"
        "boot a client (the firmware tries UEFI HTTPv4 first; ESC at start for the Boot Manager):\n"
        f"QEMU: {shlex.join(command)}\n"
        "Ctrl-C stops the servers.\n"
    )
    out.flush()


def _announce_libvirt(
    out: TextIO, spec: MachineSpec, tap: str, workdir: Path, *, in_namespace: bool
) -> None:
    """The same client for libvirt: its domain XML (also written to ``domain.xml``) and a
    virt-install line. libvirt's QEMU runs in the host namespace, so it needs a host tap."""
    xml = domain_xml(spec, tap)
    (workdir / "domain.xml").write_text(xml)
    out.write(f"libvirt domain ({workdir / 'domain.xml'}; virsh define it, then virsh start):\n")
    out.write(xml)
    out.write(f"virt-install: {shlex.join(virt_install_command(spec, tap))}\n")
    if in_namespace:
        out.write(
            f"(libvirt cannot reach {tap} inside the lab's namespace: for a libvirt domain, make "
            "a tap in the host namespace and serve on it with --interface; see the README)\n"
        )
    out.flush()


def _follow_logs(
    services: dict[str, ManagedProcess],
    files: dict[str, Path],
    out: TextIO,
    duration: float | None,
) -> None:
    """Print new server log lines as they appear; stop when a daemon dies or time is up.

    lighttpd buffers its access log and writes it out late (at the latest when it stops).
    """
    offsets = dict.fromkeys(files, 0)
    until = Deadline(duration) if duration is not None else None
    while until is None or not until.expired():
        for label, path in files.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            for line in text[offsets[label] :].splitlines():
                out.write(f"[{label}] {line}\n")
            offsets[label] = len(text)
        out.flush()
        for process in services.values():
            death = process.death_notice()
            if death is not None:
                raise ServiceError(death)
        time.sleep(0.2)
