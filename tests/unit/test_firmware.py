"""Firmware discovery through QEMU's descriptors and the checks on explicit paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness import firmware
from httpboot_harness.arch import X86_64
from httpboot_harness.errors import PrerequisiteError, UsageError
from httpboot_harness.firmware import check_volume, find_firmware

from .firmware_files import descriptor, volume


@pytest.fixture
def descriptors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "firmware"
    monkeypatch.setattr(firmware, "DESCRIPTOR_DIRS", (folder,))
    monkeypatch.setattr(firmware, "X86_64", dataclasses.replace(X86_64, fallback_firmware=()))
    return folder


def test_descriptor_without_secure_boot_is_chosen(tmp_path: Path, descriptors: Path) -> None:
    sb_code, sb_vars = volume(tmp_path / "SB_CODE.fd"), volume(tmp_path / "SB_VARS.fd")
    code, template = volume(tmp_path / "CODE.fd"), volume(tmp_path / "VARS.fd")
    descriptor(descriptors, "40-secure.json", sb_code, sb_vars, ["secure-boot", "requires-smm"])
    descriptor(descriptors, "60-plain.json", code, template, ["acpi-s3"])
    found = find_firmware()
    assert (found.code, found.vars_template) == (code, template)
    assert "60-plain.json" in found.why


def test_nothing_found_says_how_to_install(descriptors: Path) -> None:
    with pytest.raises(PrerequisiteError, match="apt-get install ovmf"):
        find_firmware()


def test_explicit_code_path_wins_and_finds_its_vars_beside_it(
    tmp_path: Path, descriptors: Path
) -> None:
    code = volume(tmp_path / "MY_CODE.fd", size=1966080)  # the halves of a 2 MiB build
    template = volume(tmp_path / "MY_VARS.fd", size=131072)
    found = find_firmware(code)
    assert (found.code, found.vars_template, found.why) == (code, template, "given explicitly")


def test_missing_explicit_file_is_a_prerequisite_error(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match="does not exist"):
        check_volume(tmp_path / "absent.fd", "OVMF code")


def test_a_file_that_is_not_a_firmware_volume_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.fd"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(UsageError, match="not a UEFI firmware volume"):
        check_volume(path, "OVMF code")


def test_a_vars_file_that_is_too_small_is_refused(tmp_path: Path) -> None:
    path = volume(tmp_path / "VARS.fd", size=4096)
    with pytest.raises(UsageError, match="smaller than any OVMF vars store"):
        check_volume(path, "OVMF vars", min_bytes=firmware.MIN_VARS_BYTES)


def test_the_vars_copy_is_private_and_the_template_untouched(tmp_path: Path) -> None:
    code, template = volume(tmp_path / "CODE.fd"), volume(tmp_path / "VARS.fd")
    found = firmware.Firmware(code, template, "test")
    copy = found.copy_vars(tmp_path / "copy.fd")
    copy.write_bytes(b"changed")
    assert template.read_bytes()[40:44] == b"_FVH"


@pytest.mark.parametrize("template", ["OVMF_VARS_4M.fd", "OVMF_VARS_4M.ms.fd"])
def test_boot_uri_store_is_byte_for_byte_what_virt_firmware_writes(
    tmp_path: Path, template: str
) -> None:
    from virt.firmware.efi import devpath
    from virt.firmware.varstore import autodetect

    source = Path("/usr/share/OVMF") / template
    ours, theirs = tmp_path / "ours.fd", tmp_path / "theirs.fd"
    ours.write_bytes(source.read_bytes())
    theirs.write_bytes(source.read_bytes())
    url = "http://www.httpboot.local/case/bootx64.efi"

    firmware.set_boot_uri(ours, url)
    store = autodetect.open_varstore(str(theirs))
    variables = store.get_varlist()
    variables.set_boot_entry(0x99, "netboot bootx64.efi", devpath.DevicePath.uri(url))
    variables.set_boot_next(0x99)
    store.write_varstore(str(theirs), variables)

    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.read_bytes() != source.read_bytes()
