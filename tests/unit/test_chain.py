"""The boot chain (shim -> GRUB -> Linux + initrd) and Secure Boot: each stage is judged on its
own evidence, recorded from real runs (fixtures/recorded/chain/), and a stage that loses one
link of its proof is the one the verdict names. Also the seed's packcert archive."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from httpboot_harness.cases import (
    CHAIN_CASES,
    SECURE_BOOT_CASES,
    Case,
    Chain,
    Dhcp,
    NoRouter,
    ProofIso,
    SecureBoot,
    TypedUri,
    case_by_id,
)
from httpboot_harness.chain import early_config, grub_config, init_script
from httpboot_harness.errors import UsageError
from httpboot_harness.evidence import judge
from httpboot_harness.packcert import packcert
from httpboot_harness.phases import CHAIN_PHASES, STOP_LINE, Phase
from httpboot_harness.signing import make_signing_key

from .judge_edits import access, console
from .recorded_runs import CHAIN, chain_run


def without_get(path_end: str):  # type: ignore[no-untyped-def]
    return lambda r: None if r.path.endswith(path_end) else r


# -- the judge over recorded chain runs ---------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["ipv4-http-literal-chain", "ipv4-http-literal-chain-secureboot-unsigned",
     "ipv4-https-literal-chain"],
)  # fmt: skip
def test_recorded_chain_runs_are_judged_as_recorded(name: str) -> None:
    expected = json.loads((CHAIN / name / "expected.json").read_text())
    judgement = judge(chain_run(name))
    assert (judgement.verdict, judgement.phase) == (expected["verdict"], expected["phase"])


def test_a_booted_chain_proves_every_stage_with_its_own_evidence() -> None:
    judgement = judge(chain_run("ipv4-http-literal-chain"))
    proven = judgement.proven
    assert list(proven)[-4:] == ["loader", "kernel", "initrd", "poweroff"]
    assert proven["image"].startswith("shim ran")
    assert "//grubx64.efi" in proven["image"]
    assert "Welcome to GRUB!" in proven["loader"]
    assert "GRUB 2.06" in proven["loader"]
    assert "Linux version" in proven["kernel"]
    assert "hbh.nonce=" in proven["kernel"]
    assert "SecureBoot=0" in proven["initrd"]


def test_https_chain_says_which_stage_used_which_scheme() -> None:
    proven = judge(chain_run("ipv4-https-literal-chain")).proven
    assert "on port 443" in proven["download"]
    assert "over https (UefiHttpBoot" in proven["image"]  # shim follows the firmware
    for stage in ("loader", "kernel", "initrd"):
        assert "over http (GRUB" in proven[stage]  # GRUB 2.06 has no https
    assert "pem/285397ef.0" in proven["initrd"]
    assert "openssl/server.pem" in proven["initrd"]


@pytest.mark.parametrize(
    ("missing", "stage"),
    [("//grubx64.efi", "image"), ("grub.cfg", "loader"), ("loader/linux", "kernel"),
     ("loader/initrd", "initrd"), ("ssl.img", "initrd")],
)  # fmt: skip
def test_a_missing_get_fails_its_own_stage(missing: str, stage: str) -> None:
    ev = access(chain_run("ipv4-https-literal-chain"), without_get(missing))
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("failed", stage)


def test_a_short_kernel_download_fails_the_kernel_stage() -> None:
    ev = chain_run("ipv4-http-literal-chain")
    short = access(ev, lambda r: dataclasses.replace(r, bytes=r.bytes - 1) if (
        r.path.endswith("/linux")) else r)  # fmt: skip
    assert judge(short).phase == "kernel"


def test_stages_out_of_order_are_not_proven() -> None:
    ev = chain_run("ipv4-http-literal-chain")
    records = ev.access
    kernel = next(r for r in records if r.path.endswith("/linux"))
    config = next(r for r in records if r.path.endswith("grub.cfg"))
    swapped = [kernel if r is config else config if r is kernel else r for r in records]
    ev = dataclasses.replace(ev, servers=dataclasses.replace(ev.servers, access=swapped))
    assert judge(ev).phase == "kernel"  # grub.cfg still came after GRUB; the kernel before it


def test_a_kernel_that_got_another_command_line_fails_at_kernel() -> None:
    ev = dataclasses.replace(chain_run("ipv4-http-literal-chain"), kernel_cmdline="quiet other=1")
    judgement = judge(ev)
    assert judgement.phase == "kernel"
    assert judgement.cause is not None
    assert "not the served" in judgement.cause


def test_secure_boot_state_must_match_the_profile() -> None:
    ev = chain_run("ipv4-http-literal-chain")
    secure = dataclasses.replace(ev, case=dataclasses.replace(ev.case, firmware=SecureBoot()))
    judgement = judge(secure)
    assert judgement.phase == "initrd"
    assert judgement.cause == (
        "the initrd saw SecureBoot=0 (Secure Boot off), expected 1 (Secure Boot on)"
    )


def test_missing_certificate_files_fail_the_initrd() -> None:
    ev = chain_run("ipv4-https-literal-chain")
    lines = tuple(line.replace("pem/285397ef.0,", "") for line in ev.console.stage_lines)
    judgement = judge(console(ev, stage_lines=lines))
    assert judgement.phase == "initrd"
    assert judgement.cause is not None
    assert "pem/285397ef.0" in judgement.cause


def test_shims_refusal_of_an_unsigned_grub_is_quoted_without_its_box() -> None:
    judgement = judge(chain_run("ipv4-http-literal-chain-secureboot-unsigned"))
    assert (judgement.verdict, judgement.phase) == ("failed", "loader")
    assert judgement.cause is not None
    assert "console: Verification failed: (0x1A) Security Violation;" in judgement.cause
    assert "│" not in judgement.cause
    assert "GRUB never started" in judgement.cause


def test_chain_phases_apply_only_to_a_chain() -> None:
    assert not CHAIN_PHASES & set(Case("ipv4").phases)
    chain = case_by_id("ipv4-http-literal-chain")
    assert set(chain.phases) >= CHAIN_PHASES
    assert chain.phases[-4:] == (Phase.LOADER, Phase.KERNEL, Phase.INITRD, Phase.POWEROFF)


# -- cases: ids, expectations, conflicts --------------------------------------------------------
def test_chain_and_secure_boot_case_ids() -> None:
    ids = [c.id for c in (*CHAIN_CASES, *SECURE_BOOT_CASES)]
    assert ids == [
        "ipv4-http-literal-chain", "ipv6-http-literal-chain", "ipv4-https-literal-chain",
        "ipv4-http-chain", "ipv4-http-literal-chain-no-router",
        "ipv4-http-literal-chain-secureboot", "ipv4-http-secureboot-unsigned",
        "ipv4-http-secureboot", "ipv4-http-literal-chain-secureboot-unsigned",
    ]  # fmt: skip


def test_what_the_regression_and_secure_boot_cases_expect() -> None:
    dns_node = case_by_id("ipv4-http-chain").expectation
    assert (dns_node.verdict, dns_node.phase) == ("failed", Phase.LOADER)
    unsigned = case_by_id("ipv4-http-secureboot-unsigned").expectation
    assert (unsigned.verdict, unsigned.phase, unsigned.cause) == (
        "failed", Phase.IMAGE, "Secure Boot")  # fmt: skip
    grub = case_by_id("ipv4-http-literal-chain-secureboot-unsigned").expectation
    assert (grub.phase, grub.cause) == (Phase.LOADER, "Verification failed")
    assert case_by_id("ipv4-http-literal-chain-no-router").expected == "booted"


@pytest.mark.parametrize(
    "build",
    [lambda: Case("ipv4", "http", TypedUri(), payload=Chain()),
     lambda: Case("ipv4", "http", payload=ProofIso(), firmware=SecureBoot()),
     lambda: Case("ipv6", "http", Dhcp(host="literal"), payload=Chain(), faults=(NoRouter(),))],
)  # fmt: skip
def test_impossible_combinations_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        build()


def test_secure_boot_adds_smm_and_the_secure_flash() -> None:
    from httpboot_harness.machine import MachineSpec

    base = MachineSpec("qemu", "tcg", Path("c"), Path("v"), Path("s"))
    spec = case_by_id("ipv4-http-secureboot").machine_spec(base)
    argv = spec.argv()
    assert "smm=on" in argv
    assert "driver=cfi.pflash01,property=secure,value=on" in argv


# -- what is served -----------------------------------------------------------------------------
def test_grub_config_is_the_seeds_form() -> None:
    text = grub_config(
        "http://192.0.2.1/t", "/t", "console=ttyS0 hbh.nonce=1", ["initrd", "ssl.img"]
    )
    assert "  linux /t/boot/x86_64/loader/linux install=http://192.0.2.1/t console=" in text
    assert "  initrd /t/boot/x86_64/loader/initrd /t/boot/x86_64/loader/ssl.img\n" in text


def test_grubs_early_config_fetches_over_http_from_its_own_location() -> None:
    text = early_config("grub.cfg")
    assert "if " not in text  # the rescue parser runs it: no if
    assert "set root=http,$hbh_server" in text
    assert text.endswith("configfile $prefix/grub.cfg\n")


def test_the_proof_initrd_reads_the_nonce_from_the_kernel_command_line() -> None:
    script = init_script("case-1")
    assert 'nonce="${word#hbh.nonce=}"' in script
    assert "HTTPBOOT-PROOF case-1 $nonce secureboot=$sb" in script
    assert script.rstrip().endswith("poweroff -f")


@pytest.mark.parametrize(
    ("screen", "stops"),
    [("grub> ", True), ("Kernel panic - not syncing: VFS", True), ("Shell> ", True),
     ("│ Verification failed: (0x1A) Security Violation │", True), ("Welcome to GRUB!", False),
     ("error: no suitable video mode found.", False)],
)  # fmt: skip
def test_stops_that_are_judged_at_once(screen: str, stops: bool) -> None:
    assert bool(STOP_LINE.search(screen)) is stops


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio lists the archive")
def test_packcert_archive_listing(tmp_path: Path) -> None:
    key = make_signing_key(tmp_path / "key")
    members = packcert(key.certificate, tmp_path / "ssl.img")
    data = (tmp_path / "ssl.img").read_bytes()
    assert data[3] & 0x08 == 0
    assert data[4:8] == b"\0\0\0\0"  # gzip -n: no name, no time
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"], input=gzip.decompress(data), capture_output=True,
        check=True,
    ).stdout.decode()  # fmt: skip
    rows = [line.split() for line in listing.splitlines()]
    assert {(row[2], row[3]) for row in rows} == {("root", "root")}
    names = [row[8] for row in rows]
    assert names == members
    hash_link = next(n for n in names if n.endswith(".0"))
    link_name = hash_link.rsplit("/", 1)[1]
    for folder in ("openssl", "pem"):
        assert f"var/lib/ca-certificates/{folder}/db.pem" in names
        link = next(
            row for row in rows if row[8] == f"var/lib/ca-certificates/{folder}/{link_name}"
        )
        assert link[0].startswith("l")
        assert link[-1] == "db.pem"


# -- the command and the user's tree settings ---------------------------------------------------
def test_packcert_command_writes_the_archive_and_refuses_a_missing_certificate(
    tmp_path: Path,
) -> None:
    key = make_signing_key(tmp_path / "key")

    def packcert_command(certificate: Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "httpboot_harness", "packcert", str(certificate)]
        return subprocess.run(
            [*argv, str(tmp_path / "ssl.img")], capture_output=True, text=True, check=False
        )

    done = packcert_command(key.certificate)
    assert done.returncode == 0, done.stderr
    assert "var/lib/ca-certificates/pem/db.pem" in done.stdout.splitlines()
    missing = packcert_command(tmp_path / "none.crt")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_a_user_tree_needs_a_boot_path_that_is_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from httpboot_harness.cli import main
    from httpboot_harness.config import Settings

    (tmp_path / "EFI").mkdir()
    (tmp_path / "EFI" / "boot.efi").write_bytes(b"MZ")
    tree = {"boot_tree": str(tmp_path), "expect": "ok"}
    with pytest.raises(UsageError, match="needs boot-path"):
        Settings.merge(cli=tree)
    with pytest.raises(UsageError, match="is not a file in"):
        Settings.merge(cli={**tree, "boot_path": "EFI/none.efi"})
    assert Settings.merge(cli={**tree, "boot_path": "EFI/boot.efi"}).boot_path == "EFI/boot.efi"
    argv = ["run", "ipv4-http", "--boot-tree", str(tmp_path), "--boot-path", "x.efi"]
    assert main([*argv, "--expect", "ok"]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one clear line


def test_a_user_tree_replaces_the_payload_and_is_served_at_the_root(tmp_path: Path) -> None:
    from httpboot_harness.cases import with_user_tree
    from httpboot_harness.network import Addressing

    case = with_user_tree(
        case_by_id("ipv4-http-literal"), tmp_path, "sle/EFI/BOOT/bootx64.efi", "ready"
    )
    assert case.id == "ipv4-http-literal-tree"
    assert case.expected == "booted"
    where = case.locations(Addressing())
    assert where.http_url == "http://192.168.111.1/sle/EFI/BOOT/bootx64.efi"
    assert where.image_path == "/sle/EFI/BOOT/bootx64.efi"
    assert Phase.POWEROFF not in case.phases
    assert set(case.phases) >= CHAIN_PHASES
