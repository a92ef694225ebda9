"""The client of ``serve`` for people whose VMs live in libvirt: a domain XML and a virt-install
line for the same machine as the printed QEMU command.

The same firmware files (the code read-only, a private vars copy as NVRAM), q35, the RAM, a
virtio NIC with the lab's MAC on the serving interface with its option ROM off (the seed's
``<rom bar='off'/>``, libvirt's form of ``romfile=``, so OVMF's own HTTP boot driver runs), a
virtio RNG, the console on a pty (``virsh console``). libvirt has no element for the fw_cfg files
(the HTTPS CA list is named ``etc/edk2/https/cacerts``, outside the ``opt/`` names its
``<sysinfo type='fwcfg'>`` takes), so they and the other extra QEMU options go through
``<qemu:commandline>``.

libvirt starts QEMU in the host's network namespace, never in the lab's: the NIC is an
``ethernet`` interface on a tap device that exists beforehand in the host namespace and that
libvirt uses as it is (``managed='no'``). ``serve --interface TAP`` serves on such a device.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

from .machine import MachineSpec

QEMU_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0"
DEFAULT_NAME = "httpboot-client"


def _board(spec: MachineSpec) -> tuple[str, str]:
    """(libvirt machine type, architecture) from QEMU's ``-machine`` and binary name."""
    args = list(spec.machine_args)
    machine = args[args.index("-machine") + 1].split(",", 1)[0] if "-machine" in args else "q35"
    arch = Path(spec.qemu).name.removeprefix("qemu-system-") or "x86_64"
    return machine, arch


def _absolute(program: str) -> str:
    """libvirt takes the emulator by absolute path only."""
    if Path(program).is_absolute():
        return program
    return shutil.which(program) or f"/usr/bin/{program}"


def _extra_qemu_args(spec: MachineSpec) -> list[str]:
    """What libvirt has no element for: fw_cfg files and the extra QEMU options."""
    args: list[str] = []
    for name, path in spec.fw_cfg_files:
        args += ["-fw_cfg", f"name={name},file={path}"]
    return [*args, *spec.extra_args]


def domain_xml(spec: MachineSpec, tap: str, name: str = DEFAULT_NAME) -> str:
    """The libvirt domain of ``spec``'s client, its NIC on the host-namespace tap ``tap``."""
    ET.register_namespace("qemu", QEMU_NAMESPACE)
    machine, arch = _board(spec)
    domain = ET.Element("domain", type="kvm" if spec.accel == "kvm" else "qemu")
    ET.SubElement(domain, "name").text = name
    ET.SubElement(domain, "memory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(domain, "vcpu").text = "1"
    os_element = ET.SubElement(domain, "os")
    ET.SubElement(os_element, "type", arch=arch, machine=machine).text = "hvm"
    ET.SubElement(os_element, "loader", readonly="yes", type="pflash").text = str(
        spec.firmware_code
    )
    ET.SubElement(os_element, "nvram").text = str(spec.vars_copy)
    features = ET.SubElement(domain, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(domain, "on_reboot").text = "destroy"  # QEMU's -no-reboot
    devices = ET.SubElement(domain, "devices")
    ET.SubElement(devices, "emulator").text = _absolute(spec.qemu)
    interface = ET.SubElement(devices, "interface", type="ethernet")
    ET.SubElement(interface, "mac", address=spec.mac)
    ET.SubElement(interface, "target", dev=tap, managed="no")
    ET.SubElement(interface, "model", type="virtio")
    ET.SubElement(interface, "rom", bar="off")
    rng = ET.SubElement(devices, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    extra = _extra_qemu_args(spec)
    if extra:
        commandline = ET.SubElement(domain, f"{{{QEMU_NAMESPACE}}}commandline")
        for value in extra:
            ET.SubElement(commandline, f"{{{QEMU_NAMESPACE}}}arg", value=value)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode") + "\n"


def virt_install_command(spec: MachineSpec, tap: str, name: str = DEFAULT_NAME) -> list[str]:
    """virt-install (Debian 12's 4.1) arguments that define and start the same domain.

    Its ``--network`` has no sub-option for ``managed='no'``: ``--xml`` sets it on the XML."""
    machine, arch = _board(spec)
    command = [
        "virt-install", "--connect", "qemu:///system", "--name", name,
        "--virt-type", "kvm" if spec.accel == "kvm" else "qemu",
        "--arch", arch, "--machine", machine,
        "--memory", str(spec.memory_mb), "--vcpus", "1",
        "--boot", f"loader={spec.firmware_code},loader.readonly=yes,loader.type=pflash,"
                  f"nvram={spec.vars_copy}",
        "--network", f"type=ethernet,target.dev={tap},model.type=virtio,"
                     f"mac.address={spec.mac},rom.bar=off",
        "--xml", "./devices/interface/target/@managed=no",
        "--rng", "/dev/urandom",
        "--disk", "none", "--graphics", "none", "--console", "pty,target.type=serial",
        "--events", "on_reboot=destroy",
        "--osinfo", "detect=on,require=off",
    ]  # fmt: skip
    extra = _extra_qemu_args(spec)
    if extra:
        # Glued to its flag: a value that starts with "-" would be read as an option.
        command.append(f"--qemu-commandline={shlex.join(extra)}")
    return command
