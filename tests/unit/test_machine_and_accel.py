from __future__ import annotations

from pathlib import Path

from httpboot_harness.accel import cpu_has_virtualisation
from httpboot_harness.machine import MachineSpec


def spec(tmp_path: Path, **overrides: object) -> MachineSpec:
    values: dict[str, object] = {
        "qemu": "qemu-system-x86_64",
        "accel": "tcg",
        "firmware_code": Path("/fw/CODE.fd"),
        "vars_copy": tmp_path / "VARS.fd",
        "socket_dir": tmp_path,
    }
    values.update(overrides)
    return MachineSpec(**values)  # type: ignore[arg-type]


def test_argv_has_the_seeds_client_options(tmp_path: Path) -> None:
    argv = " ".join(spec(tmp_path).argv())
    assert "-accel tcg" in argv
    assert "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd" in argv
    assert f"if=pflash,format=raw,unit=1,file={tmp_path / 'VARS.fd'}" in argv
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=" in argv
    assert "tap,id=net0,ifname=tap0,script=no,downscript=no" in argv
    assert f"-qmp unix:{tmp_path / 'qmp.sock'},server=on,wait=off" in argv
    # The serial line on FIFOs the relay widens: a socket made QEMU drop bytes (serial_relay).
    assert f"-chardev pipe,id=serial0,path={tmp_path / 'serial'} -serial chardev:serial0" in argv
    assert "-no-shutdown" in argv


def test_cacerts_and_extra_arguments_are_appended(tmp_path: Path) -> None:
    argv = spec(
        tmp_path,
        fw_cfg_files=(("etc/edk2/https/cacerts", Path("/x/ca.esl")),),
        extra_args=("-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no"),
    ).argv()
    assert argv[-2:] == ["-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no"]
    index = argv.index("name=etc/edk2/https/cacerts,file=/x/ca.esl")
    assert argv[index - 1] == "-fw_cfg"


def test_command_for_a_person_has_the_console_on_the_terminal(tmp_path: Path) -> None:
    argv = spec(tmp_path).command_for_person()
    assert argv[argv.index("-serial") + 1] == "mon:stdio"
    assert "-qmp" not in argv
    assert "-no-shutdown" not in argv
    assert "romfile=" in " ".join(argv)


def test_cpu_flags_decide_whether_kvm_is_worth_probing() -> None:
    assert cpu_has_virtualisation("processor: 0\nflags\t\t: fpu vme vmx sse\n")
    assert cpu_has_virtualisation("flags\t\t: fpu svm\n")
    assert not cpu_has_virtualisation("flags\t\t: fpu vme hypervisor\n")
    assert not cpu_has_virtualisation("")
