"""Which firmware ran: the release and build string read from the image, the package beside it."""

from __future__ import annotations

import json
import lzma
import os
import struct
import subprocess
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from httpboot_harness import firmware_identity
from httpboot_harness.firmware_identity import (
    LZMA_SECTION_GUID,
    FirmwareIdentity,
    choose_build,
    dpkg_owner,
    identify,
    read_image_text,
    release_of,
    version_strings,
)
from httpboot_harness.package_cache import MARKER, fetch_package
from httpboot_harness.runner import _CaseRun

HOST_OVMF = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
HOST_AAVMF = Path("/usr/share/AAVMF/AAVMF_CODE.fd")


def utf16(text: str) -> bytes:
    return text.encode("utf-16le") + b"\x00\x00"


def lzma_section(payload: bytes, *, extended: bool = False) -> bytes:
    """An EFI GUID-defined section holding ``payload`` as edk2's LzmaCompress writes it."""
    packed = lzma.compress(payload, format=lzma.FORMAT_ALONE)
    if extended:  # EFI_COMMON_SECTION_HEADER2: size 0xFFFFFF, the real size in 4 more bytes
        header_size = 8 + 16 + 4
        size = header_size + len(packed)
        header = b"\xff\xff\xff\x02" + struct.pack("<I", size)
    else:
        header_size = 4 + 16 + 4
        size = header_size + len(packed)
        header = size.to_bytes(3, "little") + b"\x02"
    return header + LZMA_SECTION_GUID + struct.pack("<HH", header_size, 1) + packed


def image(*sections: bytes) -> bytes:
    """Padding around the sections, as a firmware volume's free space is."""
    return b"\xff" * 64 + b"".join(s + b"\xff" * 3 for s in sections) + b"\xff" * 64


# -- the image's text, on small images made here ------------------------------------------------
def test_the_build_string_is_read_from_inside_an_lzma_section() -> None:
    module = b"\x90" * 40 + utf16("2039.01+x-3") + b"\xc3" * 30 + utf16("2039.01+x-3")
    raw = image(lzma_section(module + utf16("0.001x")))
    assert utf16("2039.01+x-3") not in raw  # only legible once unpacked
    assert read_image_text(raw) == firmware_identity.ImageText(edk2="2039.01", build="2039.01+x-3")


def test_the_extended_section_header_is_read_too() -> None:
    raw = image(lzma_section(utf16("2031.05-1") * 2, extended=True))
    assert read_image_text(raw).build == "2031.05-1"


def test_a_version_word_seen_once_is_not_the_build() -> None:
    """The PCD is copied into each module that reads it; help text's "0.001x" appears once."""
    raw = image(lzma_section(b"\x00\x00" + utf16("2031.05-1") + b"\x01\x00" + utf16("3.3.3-x")))
    assert read_image_text(raw).build is None


def test_a_stray_letter_before_the_string_is_not_part_of_it() -> None:
    blob = b"R\x00" + utf16("2026.08+ds-2") + b"@\x00" + utf16("2026.08+ds-2")
    assert list(version_strings(blob)) == ["2026.08+ds-2", "2026.08+ds-2"]


def test_words_that_only_contain_a_version_are_not_versions() -> None:
    blob = utf16("TPM2.0") * 2 + utf16("UEFI v2.70") * 2 + utf16("EBBR_2.1") * 2
    assert list(version_strings(blob)) == []


def test_the_banner_module_decides_between_two_repeated_words() -> None:
    counts = Counter({"4.5.6-other": 3, "2031.05-1": 2})
    assert choose_build(counts, banner={"2031.05-1"}) == "2031.05-1"
    assert choose_build(counts, banner=set()) == "4.5.6-other"


def test_the_release_comes_from_a_debug_path_when_the_version_string_is_empty() -> None:
    """Debian's 2022.11 aarch64 build: no version string, its source tree named in each path."""
    dll = b"/build/reproducible-path/edk2-2022.11/Build/ArmVirtQemu-AARCH64/x/PeiCore.dll\x00"
    raw = image(lzma_section(dll * 3))
    assert read_image_text(raw) == firmware_identity.ImageText(edk2="2022.11", build=None)


def test_an_upstream_tag_is_the_release_in_one_spelling() -> None:
    raw = image(lzma_section(utf16("edk2-stable202508") * 2))
    assert read_image_text(raw) == firmware_identity.ImageText("2025.08", "edk2-stable202508")


def test_nothing_legible_gives_nothing() -> None:
    assert read_image_text(os.urandom(4096)) == firmware_identity.ImageText()
    damaged = bytearray(lzma_section(utf16("2031.05-1") * 2))
    damaged[40:60] = b"\x00" * 20  # the stream decodes to garbage, or not at all
    assert read_image_text(image(bytes(damaged))) == firmware_identity.ImageText()
    truncated = lzma_section(utf16("2031.05-1") * 2)[:30]
    assert read_image_text(image(truncated)) == firmware_identity.ImageText()


@pytest.mark.parametrize(
    ("version", "release"),
    [("2022.11-6+deb12u2", "2022.11"), ("2026.08+ds-2", "2026.08"),
     ("edk2-stable202505", "2025.05"), ("1:2023.05-2", "2023.05"), ("1.2.3", None),
     ("2024.13-1", None), (None, None)],
)  # fmt: skip
def test_the_release_from_a_version(version: str | None, release: str | None) -> None:
    assert release_of(version) == release


def test_dpkg_s_output_names_the_package() -> None:
    assert dpkg_owner("ovmf: /usr/share/OVMF/OVMF_CODE_4M.fd\n") == "ovmf"
    assert dpkg_owner("diversion by x from: /a\nqemu-efi-aarch64:arm64, y: /a\n") == (
        "qemu-efi-aarch64"
    )
    assert dpkg_owner("") is None


# -- the label ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("identity", "label"),
    [
        (FirmwareIdentity("2026.08", "2026.08+ds-2", "ovmf-generic", "2026.08+ds-2"),
         "edk2 2026.08 (ovmf-generic 2026.08+ds-2)"),
        (FirmwareIdentity("2022.11", None, "ovmf", "2022.11-6+deb12u2"),
         "edk2 2022.11 (ovmf 2022.11-6+deb12u2)"),
        (FirmwareIdentity("2025.08", "edk2-stable202508"), "edk2 2025.08 (edk2-stable202508)"),
        (FirmwareIdentity("2025.02", "2025.02-9", "ovmf", "2025.02-8"),
         "edk2 2025.02 (ovmf 2025.02-8, build 2025.02-9)"),
        (FirmwareIdentity(None, None, "ovmf", "1:0.1"), "edk2 unknown (ovmf 1:0.1)"),
        (FirmwareIdentity(), "unknown"),
    ],
)  # fmt: skip
def test_the_label_says_what_is_known_once(identity: FirmwareIdentity, label: str) -> None:
    assert identity.label == label


# -- files ------------------------------------------------------------------------------------
def test_an_absent_or_unreadable_image_is_unknown_not_an_error(tmp_path: Path) -> None:
    assert identify(tmp_path / "missing.fd").label == "unknown"
    garbage = tmp_path / "garbage.fd"
    garbage.write_bytes(b"\x00" * 100)
    assert identify(garbage) == FirmwareIdentity()
    folder = tmp_path / "folder.fd"
    folder.mkdir()
    assert identify(folder) == FirmwareIdentity()


def test_a_file_in_the_package_cache_is_named_by_its_marker(tmp_path: Path) -> None:
    tree = tmp_path / "debian" / "sid-amd64" / "ovmf-2039.01-1"
    code = tree / "usr" / "share" / "OVMF" / "OVMF_CODE_4M.fd"
    code.parent.mkdir(parents=True)
    (tree / MARKER).write_text(json.dumps({"package": "ovmf", "version": "2039.01-1"}))
    code.write_bytes(image(lzma_section(utf16("2039.01-1") * 2)))
    (code.parent / "OVMF_CODE_4M.ms.fd").symlink_to(code.name)
    expected = FirmwareIdentity("2039.01", "2039.01-1", "ovmf", "2039.01-1")
    assert identify(code) == expected
    assert identify(code.parent / "OVMF_CODE_4M.ms.fd") == expected


def test_an_image_replaced_in_place_is_read_again(tmp_path: Path) -> None:
    code = tmp_path / "OVMF_CODE.fd"
    code.write_bytes(image(lzma_section(utf16("2031.05-1") * 2)))
    assert identify(code).build == "2031.05-1"
    code.write_bytes(image(lzma_section(utf16("2031.08-1") * 2)))
    os.utime(code, ns=(1, 1))  # a different mtime even on a coarse clock
    assert identify(code).build == "2031.08-1"


def test_the_report_gets_the_label_and_the_parts(tmp_path: Path) -> None:
    code = tmp_path / "OVMF_CODE.fd"
    code.write_bytes(image(lzma_section(utf16("2031.05-1") * 2)))
    run = SimpleNamespace(rig=SimpleNamespace(firmware=SimpleNamespace(code=code)))
    details = _CaseRun._firmware_details(cast(Any, run))
    assert details == {
        "firmware": str(code),
        "firmware_version": "edk2 2031.05 (2031.05-1)",
        "firmware_identity": {"edk2": "2031.05", "build": "2031.05-1", "package": None,
                              "package_version": None},
    }  # fmt: skip
    before_firmware = SimpleNamespace(rig=SimpleNamespace(firmware=None))
    assert _CaseRun._firmware_details(cast(Any, before_firmware)) == {}


# -- the real images ----------------------------------------------------------------------------
def dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_debian_12s_ovmf_is_2022_11_from_its_package() -> None:
    """Debian 12's x86_64 build carries no version string and no debug path: the release is
    the package's upstream version."""
    got = identify(HOST_OVMF)
    assert got == FirmwareIdentity("2022.11", None, "ovmf", dpkg_version("ovmf"))
    assert got.label == f"edk2 2022.11 (ovmf {dpkg_version('ovmf')})"
    assert identify(HOST_OVMF.with_name("OVMF_CODE_4M.ms.fd")).package == "ovmf"  # a symlink


def test_debian_12s_aavmf_names_its_release_in_its_own_bytes() -> None:
    raw = firmware_identity._read_volumes(HOST_AAVMF.resolve())
    assert read_image_text(raw) == firmware_identity.ImageText(edk2="2022.11", build=None)
    assert identify(HOST_AAVMF).package_version == dpkg_version("qemu-efi-aarch64")


@pytest.mark.network
@pytest.mark.parametrize(
    ("package", "suite", "arch", "name"),
    [("ovmf-generic", "sid", "amd64", "OVMF_CODE_4M.fd"),
     ("ovmf", "trixie", "amd64", "OVMF_CODE_4M.secboot.fd"),
     ("qemu-efi-aarch64", "trixie", "arm64", "AAVMF_CODE.fd")],
)  # fmt: skip
def test_debian_builds_carry_their_package_version_as_their_build_string(
    package: str, suite: str, arch: str, name: str
) -> None:
    """From 2025.02 on Debian sets PcdFirmwareVersionString to the package's version."""
    cached = fetch_package(package, suite, arch)
    (code,) = cached.find(name) or [cached.root / "usr/share/AAVMF" / name]
    got = identify(code)
    assert got == FirmwareIdentity(
        release_of(cached.version), cached.version, package, cached.version
    )
    assert got.label == f"edk2 {release_of(cached.version)} ({package} {cached.version})"
