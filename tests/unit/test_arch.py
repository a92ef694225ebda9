"""The architecture as a part of a case: ids, markers, machine, firmware discovery, payload."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from httpboot_harness import firmware
from httpboot_harness.arch import AARCH64, X86_64
from httpboot_harness.cases import AARCH64_MATRIX, Case, Preset, ProofIso, Pxe, TypedUri
from httpboot_harness.errors import UsageError
from httpboot_harness.firmware import find_firmware
from httpboot_harness.machine import MachineSpec
from httpboot_harness.network import Addressing


def test_aarch64_ids_carry_the_architecture_and_its_marker() -> None:
    assert [c.id for c in AARCH64_MATRIX] == [
        "aarch64-ipv4-http",
        "aarch64-ipv4-https",
        "aarch64-ipv6-http",
        "aarch64-ipv6-https",
        "aarch64-ipv4-https-untrusted",
    ]
    assert AARCH64_MATRIX[3].markers == ("ipv6", "https", "aarch64")
    assert "x86_64" in Case("ipv4").markers
    assert "aarch64" not in Case("ipv4").markers


def test_aarch64_serves_bootaa64_and_the_iso_names_it_in_capitals() -> None:
    where = Case("ipv6", arch="aarch64").locations(Addressing())
    assert where.image_path == "/aarch64-ipv6-http/bootaa64.efi"
    iso = Case("ipv4", payload=ProofIso(), arch="aarch64")
    assert iso.locations(Addressing()).served_file == "aarch64-ipv4-http-iso/boot.iso"
    assert AARCH64.boot_file.upper() == "BOOTAA64.EFI"


@pytest.mark.parametrize("source", [Pxe(), Preset()])
def test_sources_aavmf_cannot_take_are_refused_when_built(source: Pxe | Preset) -> None:
    with pytest.raises(UsageError, match="x86_64 only"):
        Case("ipv4", source=source, arch="aarch64")


def test_unknown_architecture_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="architecture must be one of"):
        Case("ipv4", arch="riscv64")  # type: ignore[arg-type]


def test_aarch64_machine_is_virt_with_pxe_off_and_menu_chosen_ipv6(tmp_path: Path) -> None:
    base = MachineSpec("qemu-system-aarch64", "tcg", Path("/c"), tmp_path / "v", tmp_path)
    argv = Case("ipv6", "https", source=TypedUri(), arch="aarch64").machine_spec(base).argv()
    joined = " ".join(argv)
    assert "-machine virt -cpu cortex-a57" in joined
    assert "q35" not in joined
    assert "name=opt/org.tianocore/IPv4PXESupport,string=no" in joined
    assert "IPv4Support" not in joined  # AAVMF ignores it: IPv6 is chosen in the Boot Manager
    x86 = " ".join(Case("ipv6").machine_spec(base).argv())
    assert "-machine q35" in x86
    assert "PXESupport" not in x86


def test_vendor_classes_are_the_dhcp_client_architecture_types() -> None:
    assert X86_64.vendor_class == "HTTPClient:Arch:00016"
    assert AARCH64.vendor_class == "HTTPClient:Arch:00019"


def _descriptor(folder: Path, name: str, target: tuple[str, str], code: Path, vars_: Path) -> None:
    arch, machine = target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        json.dumps(
            {
                "interface-types": ["uefi"],
                "mapping": {
                    "device": "flash",
                    "executable": {"filename": str(code), "format": "raw"},
                    "nvram-template": {"filename": str(vars_), "format": "raw"},
                },
                "targets": [{"architecture": arch, "machines": [machine]}],
                "features": [],
            }
        )
    )


def test_aarch64_discovery_skips_missing_files_and_takes_a_blank_vars_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "firmware"
    monkeypatch.setattr(firmware, "DESCRIPTOR_DIRS", (folder,))
    code = tmp_path / "AAVMF_CODE.fd"
    image = bytearray(256 * 1024)
    image[4096 + 40 : 4096 + 44] = b"_FVH"  # after AAVMF's 4 KiB reset stub
    code.write_bytes(bytes(image))
    blank_vars = tmp_path / "AAVMF_VARS.fd"
    blank_vars.write_bytes(bytes(256 * 1024))
    _descriptor(folder, "50-secure.json", ("aarch64", "virt-*"), tmp_path / "absent.fd", blank_vars)
    _descriptor(folder, "60-plain.json", ("aarch64", "virt-*"), code, blank_vars)
    _descriptor(folder, "61-x86.json", ("x86_64", "pc-q35-*"), tmp_path / "x.fd", blank_vars)
    arch = dataclasses.replace(AARCH64, fallback_firmware=())
    found = find_firmware(arch=arch)
    assert (found.code, found.vars_template) == (code, blank_vars)
    assert "60-plain.json" in found.why
    copy = found.copy_vars(tmp_path / "copy.fd")
    assert copy.read_bytes() == blank_vars.read_bytes()


def test_a_guests_link_local_suffix_comes_from_its_mac() -> None:
    from httpboot_harness.mixed import _eui64_suffix

    assert _eui64_suffix("52:54:00:12:34:57") == "5054:ff:fe12:3457"
