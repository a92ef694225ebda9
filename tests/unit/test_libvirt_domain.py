"""The libvirt form of serve's client: the domain XML validates against libvirt's own schema."""

from __future__ import annotations

import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

from httpboot_harness.libvirt_domain import QEMU_NAMESPACE, domain_xml, virt_install_command
from httpboot_harness.machine import MachineSpec

CA = ("etc/edk2/https/cacerts", Path("/srv/lab/tls/ca.esl"))
NO_PXE = ("-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no")


def _spec() -> MachineSpec:
    return MachineSpec(
        qemu="qemu-system-x86_64",
        accel="tcg",
        firmware_code=Path("/usr/share/OVMF/OVMF_CODE_4M.fd"),
        vars_copy=Path("/srv/lab/OVMF_VARS.fd"),
        socket_dir=Path("/srv/lab"),
        fw_cfg_files=(CA,),
        extra_args=NO_PXE,
    )


def _validate(xml: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    return subprocess.run(
        ["virt-xml-validate", str(path), "domain"], capture_output=True, text=True, check=False
    )


def test_the_domain_validates_against_libvirts_schema(tmp_path: Path) -> None:
    checked = _validate(domain_xml(_spec(), "hbhtap0"), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_validator_does_reject_a_broken_domain(tmp_path: Path) -> None:
    """The check above can fail: a ROM switch libvirt does not know is refused."""
    broken = domain_xml(_spec(), "hbhtap0").replace('bar="off"', 'bar="sideways"')
    assert _validate(broken, tmp_path).returncode != 0


def test_the_domain_is_the_same_machine_as_the_qemu_command() -> None:
    domain = ET.fromstring(domain_xml(_spec(), "hbhtap0"))
    assert domain.get("type") == "qemu"
    assert domain.findtext("os/loader") == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert domain.find("os/loader").attrib == {"readonly": "yes", "type": "pflash"}  # type: ignore[union-attr]
    assert domain.findtext("os/nvram") == "/srv/lab/OVMF_VARS.fd"
    assert domain.find("os/type").attrib["machine"] == "q35"  # type: ignore[union-attr]
    assert domain.findtext("memory") == "1024"
    nic = domain.find("devices/interface")
    assert nic is not None
    assert nic.get("type") == "ethernet"
    assert nic.find("target").attrib == {"dev": "hbhtap0", "managed": "no"}  # type: ignore[union-attr]
    assert nic.find("rom").attrib == {"bar": "off"}  # type: ignore[union-attr]
    assert nic.find("mac").attrib["address"] == "52:54:00:12:34:56"  # type: ignore[union-attr]
    args = [a.get("value") for a in domain.iter(f"{{{QEMU_NAMESPACE}}}arg")]
    assert args == ["-fw_cfg", f"name={CA[0]},file={CA[1]}", *NO_PXE]


def test_virt_install_line_names_the_same_firmware_tap_and_rom() -> None:
    command = virt_install_command(_spec(), "hbhtap0")
    options = dict(zip(command[1:-1:2], command[2:-1:2], strict=True))
    assert "nvram=/srv/lab/OVMF_VARS.fd" in options["--boot"]
    assert "loader=/usr/share/OVMF/OVMF_CODE_4M.fd,loader.readonly=yes" in options["--boot"]
    assert "target.dev=hbhtap0" in options["--network"]
    assert "rom.bar=off" in options["--network"]
    assert "managed=no" in command[command.index("--xml") + 1]
    extra = f"-fw_cfg name={CA[0]},file={CA[1]} {NO_PXE[0]} {NO_PXE[1]}"
    assert command[-1] == f"--qemu-commandline={extra}"
