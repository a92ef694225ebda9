"""What the judge proves and says at each stage of a boot chain (shim -> GRUB -> kernel -> initrd)
and of a user's own tree: the recorded chain boots (fixtures/recorded/chain/), edited so that
exactly one link of a stage's proof breaks, or one console line is lost as a starved reader
loses it. A stage is proven only by its own evidence; a stopped one is explained by the files
it fetched (path and HTTP status) and the words the stages printed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import (
    CHAIN_CASES,
    SECURE_BOOT_CASES,
    FirmwareProfile,
    PlainFirmware,
    SecureBoot,
    case_by_id,
    with_user_tree,
)
from httpboot_harness.evidence import Evidence, judge, parse_console

from .judge_edits import access, console, dhcp4, other_family_client, stop
from .recorded_runs import CHAIN, chain_run, expected_of

HTTP = "ipv4-http-literal-chain"
HTTPS = "ipv4-https-literal-chain"
UNSIGNED = "ipv4-http-literal-chain-secureboot-unsigned"
TREE = f"/{HTTP}"
KERNEL = f"{TREE}/boot/x86_64/loader/linux"
INITRD = f"{TREE}/boot/x86_64/loader/initrd"
GRUB_CFG = f"{TREE}/EFI/BOOT/grub.cfg"
GRUB_EFI = f"{TREE}/EFI/BOOT//grubx64.efi"


def cause_of(ev: Evidence) -> str:
    cause = judge(ev).cause
    assert cause is not None
    return cause


def lose_lines(ev: Evidence, *marks: str) -> Evidence:
    """The console without the stage lines that contain any of ``marks`` (bytes lost)."""
    kept = tuple(line for line in ev.console.stage_lines if not any(m in line for m in marks))
    return console(ev, stage_lines=kept)


def lose_proof(ev: Evidence) -> Evidence:
    """The initrd's proof line never reached the console."""
    return console(lose_lines(ev, ev.proof_line), proof_seen=False)


def add_lines(ev: Evidence, *lines: str) -> Evidence:
    return console(ev, stage_lines=(*ev.console.stage_lines, *lines))


def gets_after_image(ev: Evidence) -> list[str]:
    return [f"{r.method} {r.path} {r.status}" for r in ev.access if r.path != ev.image_path]


def status_of(path_end: str, status: int):  # type: ignore[no-untyped-def]
    return lambda r: dataclasses.replace(r, status=status) if r.path.endswith(path_end) else r


def dropped(path_end: str):  # type: ignore[no-untyped-def]
    return lambda r: None if r.path.endswith(path_end) else r


def user_tree(expect: str = f"HTTPBOOT-PROOF {HTTP}") -> Evidence:
    """The recorded HTTP chain judged as a user's own tree (--boot-tree): no file list, no proof
    initrd; ``expect`` is the line that proves success."""
    ev = chain_run(HTTP)
    boot_path = ev.image_path.lstrip("/")
    case = with_user_tree(ev.case, Path("tree"), boot_path, expect)
    text = (CHAIN / HTTP / "console.txt").read_text()
    return dataclasses.replace(
        ev, case=case, served=(), kernel_cmdline="", proof_line=expect,
        console=parse_console(text, expect),
    )  # fmt: skip


# -- what a failed chain says, as recorded ------------------------------------------------------
def test_shims_refusal_of_grub_is_explained_as_recorded() -> None:
    """The cause names the missing banner, shim's refusal and every request after the image."""
    judgement = judge(chain_run(UNSIGNED))
    assert judgement.cause == expected_of(CHAIN, UNSIGNED)["cause"]


def test_a_chain_that_stops_after_the_firmware_is_failed_not_refused() -> None:
    """Shim's "Failed to fetch image" lines (its optional files) are not the firmware refusing."""
    ev = chain_run(HTTP)
    assert ev.console.firmware_errors
    for stopped in (access(ev, dropped("grub.cfg")), access(ev, dropped("/linux")), lose_proof(ev)):
        assert judge(stopped).verdict == "failed"


# -- dhcp: the chain booted without a router (the seed's no-gateway note) -----------------------
def test_the_no_router_chain_is_proven_only_when_no_answer_carried_a_router() -> None:
    ev = chain_run(HTTP)
    no_router = dataclasses.replace(ev, case=case_by_id(f"{HTTP}-no-router"))
    assert "3" in ev.servers.dhcp4[0].options_sent  # the recorded run had a router
    assert stop(no_router) == ("failed", "dhcp")
    without = tuple(o for o in ev.servers.dhcp4[0].options_sent if o != "3")
    judgement = judge(dhcp4(no_router, options_sent=without))
    assert judgement.verdict == "booted"
    assert judgement.proven["dhcp"] == (
        "DHCPACK 192.168.111.102 to 52:54:00:12:34:56 with option 60 HTTPClient and boot file "
        f"http://192.168.111.1{TREE}/EFI/BOOT/bootx64.efi; no router option (3) sent"
    )
    assert stop(dhcp4(no_router, options_sent=without, messages=())) == ("failed", "dhcp")


# -- image: shim -------------------------------------------------------------------------------
def test_shim_is_proven_only_by_fetching_grub_from_the_cases_family() -> None:
    ev = chain_run(HTTP)
    assert stop(access(ev, dropped("grubx64.efi")))[1] == "image"
    moved = access(ev, lambda r: other_family_client(r) if r.path == GRUB_EFI else r)
    assert stop(moved)[1] == "image"


def test_a_chain_file_counts_only_after_the_image_was_served() -> None:
    """Files logged before the firmware's GET of the image were not fetched by what it ran."""
    ev = chain_run(HTTP)
    image = [r for r in ev.access if r.path == ev.image_path and r.method == "GET"]
    rest = [r for r in ev.access if r.path != ev.image_path]
    before = dataclasses.replace(ev.servers, access=[*rest, *image])
    assert stop(dataclasses.replace(ev, servers=before))[1] == "image"


# -- loader: GRUB ------------------------------------------------------------------------------
def test_grub_that_started_without_fetching_its_config_names_where_it_looked() -> None:
    """The seed's DNS note: GRUB runs, and its early config shows where it thinks it came from."""
    ev = access(chain_run(HTTP), dropped("grub.cfg"))
    assert stop(ev) == ("failed", "loader")
    assert cause_of(ev) == (
        "GRUB started but did not fetch its grub.cfg (its early config saw "
        "'cmdpath=(http,192.168.111.1)/ipv4-http-literal-chain/EFI/BOOT'); after the image "
        f"the server saw {gets_after_image(ev)}"
    )
    quiet = lose_lines(ev, "hbh-grub: ")
    assert cause_of(quiet).startswith("GRUB started but did not fetch its grub.cfg; after")


def test_grub_config_fetched_by_the_other_family_does_not_prove_the_loader() -> None:
    ev = chain_run(HTTP)
    moved = access(ev, lambda r: other_family_client(r) if r.path == GRUB_CFG else r)
    assert stop(moved) == ("failed", "loader")


def test_grubs_banner_lost_on_the_console_is_stood_for_by_the_initrds_proof() -> None:
    ev = lose_lines(chain_run(HTTP), "Welcome to GRUB!")
    judgement = judge(ev)
    assert judgement.verdict == "booted"
    assert judgement.proven["loader"] == (
        f"GET {GRUB_CFG} 200 379 bytes over http (GRUB 2.06-13+deb12u2); "
        "(console line lost; the initrd's proof stands for it)"
    )
    assert stop(lose_proof(ev)) == ("failed", "loader")


# -- kernel ------------------------------------------------------------------------------------
BANNER_60 = "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@l"


def test_a_booted_chains_kernel_proof_quotes_its_banner_and_the_command_line() -> None:
    ev = chain_run(HTTP)
    assert judge(ev).proven["kernel"] == (
        f"GET {KERNEL} 200 8247232 bytes over http (GRUB 2.06-13+deb12u2); "
        f"console: {BANNER_60!r}; command line as served: {ev.kernel_cmdline!r}"
    )


def test_a_kernel_whose_banner_was_lost_is_proven_by_the_initrds_report() -> None:
    ev = lose_lines(chain_run(HTTP), "Linux version ")
    judgement = judge(ev)
    assert judgement.verdict == "booted"
    assert judgement.proven["kernel"].endswith(
        f"; its banner was lost; command line as served: {ev.kernel_cmdline!r}"
    )


def test_a_kernel_banner_without_the_initrds_report_proves_the_kernel_alone() -> None:
    """The initrd never reported: the kernel ran, and nothing claims its command line."""
    judgement = judge(lose_proof(chain_run(HTTP)))
    assert judgement.phase == "initrd"
    assert judgement.proven["kernel"] == (
        f"GET {KERNEL} 200 8247232 bytes over http (GRUB 2.06-13+deb12u2); console: {BANNER_60!r}"
    )


def test_a_kernel_fetched_but_never_started_fails_at_kernel_naming_the_kernel() -> None:
    ev = lose_proof(lose_lines(chain_run(HTTP), "Linux version "))
    assert stop(ev) == ("failed", "kernel")
    assert cause_of(ev) == (
        f"the kernel was fetched and never printed its banner; after the image the server "
        f"saw {gets_after_image(ev)}"
    )
    assert f"GET {KERNEL} 200" in cause_of(ev)


def test_a_kernel_grub_could_not_fetch_is_explained_by_grubs_error_and_the_status() -> None:
    ev = access(chain_run(HTTP), status_of("/linux", 404))
    ev = add_lines(lose_proof(lose_lines(ev, "Linux version ")),
                   f"error: file `{KERNEL}' not found.", "grub> ")  # fmt: skip
    assert stop(ev) == ("failed", "kernel")
    assert cause_of(ev) == (
        f"GRUB did not fetch the whole kernel; console: error: file `{KERNEL}' not found. / "
        f"grub>; after the image the server saw {gets_after_image(ev)}"
    )
    assert f"GET {KERNEL} 404" in cause_of(ev)


def test_a_kernel_that_ran_with_another_command_line_is_named_with_both_lines() -> None:
    ev = dataclasses.replace(chain_run(HTTP), kernel_cmdline="console=ttyS0 hbh.nonce=other")
    assert stop(ev) == ("failed", "kernel")
    ran = (f"BOOT_IMAGE={KERNEL} install=http://192.168.111.1{TREE} console=ttyS0,115200 "
           "loglevel=6 hbh.nonce=9c9af71eaa1fac0c")  # fmt: skip
    assert cause_of(ev) == (
        f"the kernel ran with {ran!r}, not the served 'console=ttyS0 hbh.nonce=other'"
    )


def test_trailing_blanks_after_the_initrds_report_do_not_change_the_command_line() -> None:
    """A console screen pads its lines with blanks."""
    ev = chain_run(HTTP)
    padded = tuple(
        line + "   " if line.startswith(ev.proof_line) else line for line in ev.console.stage_lines
    )
    assert stop(console(ev, stage_lines=padded)) == ("booted", None)


# -- initrd ------------------------------------------------------------------------------------
def test_an_initrd_the_server_refused_is_named_with_its_status() -> None:
    ev = lose_proof(access(chain_run(HTTP), status_of("/initrd", 404)))
    assert stop(ev) == ("failed", "initrd")
    assert cause_of(ev) == (
        f"GRUB did not fetch every initrd whole; after the image the server saw "
        f"{gets_after_image(ev)}"
    )
    assert f"GET {INITRD} 404" in cause_of(ev)


def test_an_initrd_fetched_whose_proof_never_appeared_is_explained() -> None:
    ev = lose_proof(chain_run(HTTP))
    assert cause_of(ev) == "the initrd's proof line never appeared"
    panicked = add_lines(ev, "Kernel panic - not syncing: No working init found.")
    assert cause_of(panicked) == (
        "the initrd's proof line never appeared; console: Kernel panic - not syncing: "
        "No working init found."
    )


def test_the_initrd_proof_names_the_certificate_files_it_found() -> None:
    https = judge(chain_run(HTTPS)).proven["initrd"]
    boot = f"/{HTTPS}/boot/x86_64/loader"
    assert https.startswith(
        f"GET {boot}/initrd 200 1041678 bytes over http (GRUB 2.06-13+deb12u2); "
        f"GET {boot}/ssl.img 200 1459 bytes over http (GRUB 2.06-13+deb12u2); console: "
    )
    assert https.endswith(
        "with SecureBoot=0 (Secure Boot off), certificate files "
        "openssl/285397ef.0,openssl/server.pem,pem/285397ef.0,pem/server.pem"
    )
    http = chain_run(HTTP)
    assert judge(http).proven["initrd"] == (
        f"GET {INITRD} 200 1041674 bytes over http (GRUB 2.06-13+deb12u2); "
        f"console: {http.proof_line!r} with SecureBoot=0 (Secure Boot off)"
    )  # certs=none: no certificate files are claimed


def test_an_empty_certificate_list_claims_no_certificate_files() -> None:
    ev = chain_run(HTTP)
    empty = tuple(line.replace("certs=none", "certs=") for line in ev.console.stage_lines)
    proof = judge(console(ev, stage_lines=empty)).proven["initrd"]
    assert proof.endswith("with SecureBoot=0 (Secure Boot off)")


def test_a_report_without_its_fields_does_not_prove_the_initrd() -> None:
    """The proof line with the nonce, but not the initrd's report of what it found."""
    ev = chain_run(HTTP)
    bare = tuple(line.split(" secureboot=")[0] + " " if line.startswith(ev.proof_line) else line
                 for line in ev.console.stage_lines)  # fmt: skip
    judgement = judge(console(ev, stage_lines=bare))
    assert (judgement.verdict, judgement.phase) == ("failed", "initrd")
    assert judgement.cause == "the initrd's proof line never appeared"


def secure_boot_reading(ev: Evidence, reading: str) -> Evidence:
    """The recorded proof line with ``secureboot=<reading>`` in place of the recorded 0."""
    lines = tuple(
        line.replace(" secureboot=0 ", f" secureboot={reading} ")
        if line.startswith(ev.proof_line) else line
        for line in ev.console.stage_lines
    )  # fmt: skip
    assert lines != ev.console.stage_lines
    return console(ev, stage_lines=lines)


def under(ev: Evidence, firmware: FirmwareProfile) -> Evidence:
    return dataclasses.replace(ev, case=dataclasses.replace(ev.case, firmware=firmware))


ABSENT_OFF = "absent (no SecureBoot variable: Secure Boot off)"


@pytest.mark.parametrize("name", [HTTP, HTTPS])
@pytest.mark.parametrize(
    ("reading", "said"), [("0", "0 (Secure Boot off)"), ("absent", ABSENT_OFF)]
)
def test_a_plain_builds_chain_is_off_with_secure_boot_zero_or_no_variable(
    name: str, reading: str, said: str
) -> None:
    """Debian 12's plain OVMF sets SecureBoot=0; Debian 13's (edk2 2025.02) defines no
    SecureBoot variable at all. Both are Secure Boot off, what the plain profile implies."""
    ev = secure_boot_reading(chain_run(name), reading) if reading != "0" else chain_run(name)
    assert isinstance(ev.case.firmware, PlainFirmware)
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("booted", None)
    assert f" with SecureBoot={said}" in judgement.proven["initrd"]


def test_every_plain_chain_case_accepts_both_forms_of_secure_boot_off() -> None:
    """The rule is the profile's, not one build's: every built-in chain case without the
    Secure Boot profile takes 0 and absent, and nothing else."""
    plain = [c for c in CHAIN_CASES + SECURE_BOOT_CASES if not c.firmware.secure_boot]
    secure = [c for c in CHAIN_CASES + SECURE_BOOT_CASES if c.firmware.secure_boot]
    assert len(plain) == len(CHAIN_CASES)
    assert secure
    assert {c.firmware.secure_boot_readings for c in plain} == {frozenset({"0", "absent"})}
    assert {c.firmware.secure_boot_readings for c in secure} == {frozenset({"1"})}


def test_a_plain_builds_chain_that_saw_secure_boot_on_fails_at_the_initrd() -> None:
    ev = secure_boot_reading(chain_run(HTTP), "1")
    assert stop(ev) == ("failed", "initrd")
    assert cause_of(ev) == (
        f"the initrd saw SecureBoot=1 (Secure Boot on), expected 0 (Secure Boot off) or "
        f"{ABSENT_OFF}"
    )


def test_a_secure_boot_chain_is_proven_only_by_secure_boot_one() -> None:
    ev = under(secure_boot_reading(chain_run(HTTP), "1"), SecureBoot())
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("booted", None)
    assert judgement.proven["initrd"].endswith(" with SecureBoot=1 (Secure Boot on)")
    assert stop(under(chain_run(HTTP), SecureBoot())) == ("failed", "initrd")


def test_a_secure_boot_chain_without_the_variable_names_a_build_without_secure_boot() -> None:
    """Absent is Secure Boot off on any build; under the Secure Boot profile it means the code
    that ran has no Secure Boot at all (a plain build given as the Secure Boot one)."""
    ev = under(secure_boot_reading(chain_run(HTTP), "absent"), SecureBoot())
    assert stop(ev) == ("failed", "initrd")
    assert cause_of(ev) == (
        f"the initrd saw SecureBoot={ABSENT_OFF}, expected 1 (Secure Boot on): the firmware "
        "that ran has no Secure Boot support; fix: give the Secure Boot build "
        "(ovmf-secboot-code, e.g. OVMF_CODE_4M.secboot.fd) and its vars template with enrolled "
        "keys (ovmf-secboot-vars, e.g. OVMF_VARS_4M.ms.fd)"
    )


@pytest.mark.parametrize("firmware", [PlainFirmware(), SecureBoot()], ids=str)
def test_a_secure_boot_reading_uefi_does_not_define_proves_no_profile(
    firmware: FirmwareProfile,
) -> None:
    ev = under(secure_boot_reading(chain_run(HTTP), "7"), firmware)
    assert stop(ev) == ("failed", "initrd")
    assert cause_of(ev).startswith("the initrd saw SecureBoot=7 (not a value UEFI defines), ")


def test_every_initrd_must_be_fetched_but_in_any_order() -> None:
    """GRUB opens every initrd before reading one: ssl.img before the initrd is fine."""
    ev = chain_run(HTTPS)
    order = [r.path.rsplit("/", 1)[1] for r in ev.access if r.path.startswith(f"/{HTTPS}/boot")]
    assert order[-2:] == ["ssl.img", "initrd"]
    assert stop(ev) == ("booted", None)
    moved = access(ev, lambda r: other_family_client(r) if r.path.endswith("ssl.img") else r)
    assert stop(moved) == ("failed", "initrd")


# -- the stages' own words ---------------------------------------------------------------------
def test_the_cause_quotes_the_last_five_stage_errors_each_once() -> None:
    """A GRUB that loops on one error shows it once; older errors give way to the last ones."""
    ev = lose_proof(chain_run(HTTP))
    errors = [f"error: attempt {n}." for n in range(1, 8)]
    noisy = add_lines(ev, *errors, "error: attempt 7.", "grub> ")
    assert cause_of(noisy) == (
        "the initrd's proof line never appeared; console: error: attempt 5. / "
        "error: attempt 6. / error: attempt 7. / grub>"
    )


def test_grub_that_never_started_is_explained_by_what_shim_fetched() -> None:
    ev = access(chain_run(HTTP), dropped("grub.cfg"))
    ev = lose_lines(lose_proof(ev), "Welcome to GRUB!", "hbh-grub: ", "Linux version ")
    assert stop(ev) == ("failed", "loader")
    assert cause_of(ev) == (
        "GRUB never started (no 'Welcome to GRUB!'): shim did not run it; after the image the "
        f"server saw {gets_after_image(ev)}"
    )


# -- a user's own tree -------------------------------------------------------------------------
def test_a_user_trees_stages_are_proven_by_what_they_print() -> None:
    judgement = judge(user_tree())
    assert judgement.verdict == "booted"
    assert judgement.proven["loader"] == "console: 'Welcome to GRUB!'"
    # A banner is quoted up to 70 characters.
    assert judgement.proven["kernel"] == (
        "console: '[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debia'"
    )


def test_a_user_trees_lost_marks_are_stood_for_by_the_expected_line() -> None:
    ev = lose_lines(user_tree(), "Welcome to GRUB!", "Linux version ")
    judgement = judge(ev)
    assert judgement.verdict == "booted"
    assert judgement.proven["loader"] == "the loader ran (the expected line came later)"
    assert judgement.proven["kernel"] == "the kernel ran (the expected line came later)"


def test_a_user_tree_that_stopped_after_grub_is_failed_at_the_kernel() -> None:
    ev = user_tree(expect="installer ready")
    ev = lose_lines(ev, "Linux version ")
    assert stop(ev) == ("failed", "kernel")
    assert cause_of(ev) == (
        f"no kernel printed its banner; after the image the server saw {gets_after_image(ev)}"
    )


def test_a_user_tree_whose_expected_line_never_came_is_failed_at_the_initrd() -> None:
    ev = user_tree(expect="installer ready")
    assert stop(ev) == ("failed", "initrd")
    assert cause_of(ev) == (
        f"the expected line never appeared; after the image the server saw {gets_after_image(ev)}"
    )


def test_a_user_tree_that_fetched_nothing_more_says_so() -> None:
    """A tree whose image carries its loader (one file): no request after the image."""
    ev = user_tree(expect="installer ready")
    alone = access(
        lose_lines(ev, "Linux version "), lambda r: r if r.path == ev.image_path else None
    )
    assert stop(alone) == ("failed", "kernel")
    assert (
        cause_of(alone) == "no kernel printed its banner; after the image the server saw no request"
    )


def test_a_user_tree_whose_loader_printed_nothing_is_failed_at_the_loader() -> None:
    ev = lose_lines(user_tree(expect="installer ready"), "Welcome to GRUB!", "Linux version ")
    assert stop(ev) == ("failed", "loader")
    assert cause_of(ev).startswith("GRUB never started (no 'Welcome to GRUB!')")


def test_a_user_trees_image_that_fetched_nothing_more_is_proven_by_what_it_printed() -> None:
    """A tree whose image is the loader itself: GRUB's banner, or the expected line, shows it
    ran; with neither, the tree stops at its image."""
    ev = user_tree()
    alone = access(ev, lambda r: r if r.path == ev.image_path else None)
    assert judge(alone).proven["image"] == "console: 'Welcome to GRUB!'"
    lost = lose_lines(alone, "Welcome to GRUB!")
    assert judge(lost).proven["image"] == "the image ran (the expected line came later)"
    silent = console(lost, proof_seen=False)
    assert judge(silent).phase == "image"


def test_a_marks_quote_is_cut_to_seventy_characters() -> None:
    """GRUB's banner on the end of the firmware's unfinished line: the proof stays one short
    line."""
    ev = user_tree()
    alone = access(ev, lambda r: r if r.path == ev.image_path else None)
    firmware = 'BdsDxe: starting Boot0001 "UEFI HTTPv4 (MAC:525400123456)" from PciRoot(0x0)'
    joined = tuple(
        firmware + line if line == "Welcome to GRUB!" else line for line in ev.console.stage_lines
    )
    proof = judge(console(alone, stage_lines=joined)).proven["image"]
    assert proof == f"console: {(firmware + 'Welcome to GRUB!')[:70]!r}"


def test_a_booted_user_tree_lists_what_its_image_fetched_and_every_request() -> None:
    """The image's proof names its first four further requests (a short line); the expected
    line's proof lists every request after the image, for the user to see what the tree did."""
    ev = user_tree()
    further = gets_after_image(ev)
    assert len(further) > 4
    proven = judge(ev).proven
    assert proven["image"] == "the image fetched more: " + ", ".join(further[:4])
    assert proven["initrd"] == (
        f"console: {ev.proof_line!r} (the expected line); requests after the image: {further}"
    )
