"""The user's own Secure Boot build (``ovmf-secboot-code``/``ovmf-secboot-vars``): declared once,
so every way in knows it; honoured by Secure Boot cases only; discovery when unset; bad input
named with its fix before anything starts (exit 2). Real Debian 12 OVMF files stand for a
user's build: the checks read their sizes and their enrolled keys."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from httpboot_harness import cli, firmware
from httpboot_harness.arch import X86_64
from httpboot_harness.artifacts import CaseArtifacts
from httpboot_harness.cases import case_by_id
from httpboot_harness.config import Settings, add_arguments, option_flag
from httpboot_harness.errors import InfrastructureError, UsageError
from httpboot_harness.firmware import find_secure_boot_firmware
from httpboot_harness.preflight import check_inputs
from httpboot_harness.rig import Rig
from httpboot_harness.runner import _CaseRun

from .firmware_files import descriptor

OVMF = Path("/usr/share/OVMF")
SB_CODE, SB_VARS = OVMF / "OVMF_CODE_4M.secboot.fd", OVMF / "OVMF_VARS_4M.ms.fd"
PLAIN_CODE, PLAIN_VARS = OVMF / "OVMF_CODE_4M.fd", OVMF / "OVMF_VARS_4M.fd"
SECURE_CASE = "ipv4-http-secureboot"


def secure_descriptor(folder: Path, code: Path, template: Path) -> None:
    """A descriptor with Secure Boot, SMM and enrolled keys, as Debian's 40-...-enrolled.json."""
    descriptor(folder, "40-secure-enrolled.json", code, template,
               ["secure-boot", "requires-smm", "enrolled-keys"])  # fmt: skip


@pytest.fixture
def descriptors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty descriptor folder and no fallback paths: only what a test puts there is found."""
    folder = tmp_path / "firmware"
    monkeypatch.setattr(firmware, "DESCRIPTOR_DIRS", (folder,))
    monkeypatch.setattr(firmware, "SECURE_BOOT_FALLBACK", (tmp_path / "no-code", tmp_path / "no"))
    return folder


def given(**values: object) -> Settings:
    return Settings.merge(cli=values)


# -- declared once: every way in ---------------------------------------------------------------
def test_the_settings_come_from_cli_ini_and_environment_in_that_order() -> None:
    env = {"HTTPBOOT_OVMF_SECBOOT_CODE": "/env/CODE.fd", "HTTPBOOT_OVMF_SECBOOT_VARS": "/env/V.fd"}
    settings = Settings.merge(
        cli={"ovmf_secboot_code": "/cli/CODE.fd"}, ini={"ovmf_secboot_vars": "/ini/V.fd"}, env=env
    )
    assert settings.ovmf_secboot_code == Path("/cli/CODE.fd")
    assert settings.ovmf_secboot_vars == Path("/ini/V.fd")
    assert Settings.merge(env=env).ovmf_secboot_code == Path("/env/CODE.fd")
    assert Settings.merge().ovmf_secboot_code is None


def test_the_command_and_the_plugin_get_their_options() -> None:
    args = cli.build_parser().parse_args(
        ["run", SECURE_CASE, "--ovmf-secboot-code", "C.fd", "--ovmf-secboot-vars", "V.fd"]
    )
    settings = cli._settings(args)
    assert settings.ovmf_secboot_code == Path.cwd() / "C.fd"
    assert settings.ovmf_secboot_vars == Path.cwd() / "V.fd"
    assert option_flag("ovmf_secboot_code") == "--httpboot-ovmf-secboot-code"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "--ovmf-secboot-vars" in parser.format_help()


# -- which build a case runs -------------------------------------------------------------------
def test_unset_the_secure_boot_profile_uses_discovery(descriptors: Path) -> None:
    secure_descriptor(descriptors, SB_CODE, SB_VARS)
    found = find_secure_boot_firmware(Settings(), X86_64)
    assert (found.code, found.vars_template) == (SB_CODE, SB_VARS)
    assert "40-secure-enrolled.json" in found.why


def test_the_given_build_and_template_win_over_discovery(tmp_path: Path, descriptors: Path) -> None:
    secure_descriptor(descriptors, tmp_path / "other.fd", tmp_path / "other-vars.fd")
    found = find_secure_boot_firmware(
        given(ovmf_secboot_code=SB_CODE, ovmf_secboot_vars=SB_VARS), X86_64
    )
    assert (found.code, found.vars_template) == (SB_CODE, SB_VARS)
    assert found.why == "given explicitly (ovmf-secboot-code)"


def test_code_alone_takes_the_enrolled_template_its_descriptor_names(descriptors: Path) -> None:
    secure_descriptor(descriptors, SB_CODE, SB_VARS)
    found = find_secure_boot_firmware(given(ovmf_secboot_code=SB_CODE), X86_64)
    assert found.vars_template == SB_VARS


def test_vars_alone_go_with_the_discovered_build(tmp_path: Path, descriptors: Path) -> None:
    """The user's own keys with the build found here."""
    own = tmp_path / "MY_VARS.fd"
    own.write_bytes(SB_VARS.read_bytes())
    secure_descriptor(descriptors, SB_CODE, SB_VARS)
    found = find_secure_boot_firmware(given(ovmf_secboot_vars=own), X86_64)
    assert (found.code, found.vars_template) == (SB_CODE, own)


def test_the_plain_settings_never_reach_a_secure_boot_case(descriptors: Path) -> None:
    """ovmf-code is a plain build; the Secure Boot profile still asks for its own."""
    secure_descriptor(descriptors, SB_CODE, SB_VARS)
    found = find_secure_boot_firmware(given(ovmf_code=PLAIN_CODE, ovmf_vars=PLAIN_VARS), X86_64)
    assert found.code == SB_CODE


def test_the_settings_belong_to_the_architecture_they_were_given_for(descriptors: Path) -> None:
    secure_descriptor(descriptors, SB_CODE, SB_VARS)
    other = given(arch="aarch64", ovmf_secboot_code="/not/there.fd")
    assert find_secure_boot_firmware(other, X86_64).code == SB_CODE


# -- bad input: one line, the problem and the fix ---------------------------------------------
@pytest.mark.parametrize("key", ["ovmf_secboot_code", "ovmf_secboot_vars"])
def test_a_path_that_does_not_exist_is_named_with_its_setting(key: str, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.fd"
    with pytest.raises(UsageError) as raised:
        find_secure_boot_firmware(given(**{key: missing}), X86_64)
    setting = key.replace("_", "-")
    assert str(raised.value).startswith(f"{setting} {missing} does not exist; fix: ")
    assert f"leave {setting} unset" in str(raised.value)


def test_code_without_vars_and_no_descriptor_for_it_asks_for_the_vars(descriptors: Path) -> None:
    """No file-name guess: OVMF_VARS_4M.fd beside the code has no keys, and Secure Boot would
    silently be off."""
    with pytest.raises(UsageError) as raised:
        find_secure_boot_firmware(given(ovmf_secboot_code=SB_CODE), X86_64)
    assert "is given without ovmf-secboot-vars" in str(raised.value)
    assert "fix: pass ovmf-secboot-vars with the template that has Microsoft's keys" in str(
        raised.value
    )


def test_a_vars_template_of_another_build_is_refused_by_its_size(descriptors: Path) -> None:
    """OVMF_VARS.ms.fd (the 2 MiB build's 128 KiB store) beside the 4 MiB code."""
    settings = given(ovmf_secboot_code=SB_CODE, ovmf_secboot_vars=OVMF / "OVMF_VARS.ms.fd")
    with pytest.raises(UsageError) as raised:
        find_secure_boot_firmware(settings, X86_64)
    assert "(131072 bytes) does not belong to the code file" in str(raised.value)
    assert str(raised.value).endswith(
        "fix: pass --ovmf-secboot-vars with the VARS file built with that code "
        "(OVMF_VARS_4M.ms.fd for OVMF_CODE_4M.secboot.fd)"
    )


def test_a_vars_template_without_enrolled_keys_is_refused(descriptors: Path) -> None:
    settings = given(ovmf_secboot_code=SB_CODE, ovmf_secboot_vars=PLAIN_VARS)
    with pytest.raises(UsageError) as raised:
        find_secure_boot_firmware(settings, X86_64)
    assert "has no keys enrolled (no PK" in str(raised.value)
    assert "fix: pass the template with Microsoft's keys enrolled" in str(raised.value)


def test_a_file_that_is_not_a_firmware_volume_is_refused(tmp_path: Path, descriptors: Path) -> None:
    notes = tmp_path / "notes.fd"
    notes.write_bytes(b"not firmware" * 100)
    with pytest.raises(UsageError, match=r"Secure Boot code \(ovmf-secboot-code\) file .* is not"):
        find_secure_boot_firmware(given(ovmf_secboot_code=notes, ovmf_secboot_vars=SB_VARS), X86_64)


def test_preflight_checks_the_secure_boot_settings_only_for_secure_boot_cases(
    tmp_path: Path,
) -> None:
    bad = given(ovmf_secboot_code=tmp_path / "nothing.fd", artifacts=tmp_path / "artifacts")
    with pytest.raises(UsageError, match=r"ovmf-secboot-code .* does not exist"):
        check_inputs(bad, [case_by_id(SECURE_CASE)])
    check_inputs(dataclasses.replace(bad, ovmf_code=PLAIN_CODE), [case_by_id("ipv4-http")])


def test_the_command_answers_bad_secure_boot_input_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.fd"
    code = cli.main(["run", SECURE_CASE, "--ovmf-secboot-code", str(missing)])
    assert code == cli.EXIT_USAGE == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"httpboot-harness: ovmf-secboot-code {missing} does not exist; fix: ")
    assert len(err.splitlines()) == 1


# -- the row says which code ran ---------------------------------------------------------------
@pytest.fixture
def own_build(tmp_path: Path) -> tuple[Path, Path]:
    """The Secure Boot pair copied elsewhere: a path that discovery would never choose."""
    code, template = tmp_path / "own" / "CODE.fd", tmp_path / "own" / "VARS.fd"
    code.parent.mkdir()
    code.write_bytes(SB_CODE.read_bytes())
    template.write_bytes(SB_VARS.read_bytes())
    return code, template


@pytest.mark.parametrize("secure", [True, False], ids=["secureboot", "plain"])
def test_a_cases_rig_takes_its_profiles_build_from_the_settings(
    secure: bool, own_build: tuple[Path, Path], tmp_path: Path
) -> None:
    """The runner's row reports ``rig.firmware.code`` as details["firmware"]."""
    code, template = own_build
    settings = given(
        accel="tcg", ovmf_code=PLAIN_CODE, ovmf_vars=PLAIN_VARS,
        ovmf_secboot_code=code, ovmf_secboot_vars=template,
    )  # fmt: skip
    case_id = SECURE_CASE if secure else "ipv4-http"
    rig = Rig(case_by_id(case_id), settings, CaseArtifacts(tmp_path, case_id), None)
    rig.check_prerequisites()
    assert rig.firmware is not None
    expected = (code, template) if secure else (PLAIN_CODE, PLAIN_VARS)
    assert (rig.firmware.code, rig.firmware.vars_template) == expected


def test_a_case_that_fails_after_choosing_its_build_still_names_it(
    own_build: tuple[Path, Path], tmp_path: Path
) -> None:
    code, template = own_build
    settings = given(accel="tcg", ovmf_secboot_code=code, ovmf_secboot_vars=template)
    run = _CaseRun(
        case_by_id(SECURE_CASE), settings, CaseArtifacts(tmp_path, SECURE_CASE), None,
        progress=lambda _p: None, console_sink=None,
    )  # fmt: skip
    run.rig.check_prerequisites()
    result = run.error_result(InfrastructureError("the lab could not be made"))
    assert result.details["firmware"] == str(code)
