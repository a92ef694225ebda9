"""Cases composed of parts: ids, markers, validation, expectations and each part's edits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from httpboot_harness.cases import (
    DEFAULT_MATRIX,
    Case,
    Dhcp,
    Expectation,
    HttpStatus,
    NoDhcp,
    NoHttpClient,
    NotFound,
    Preset,
    ProofIso,
    Pxe,
    TypedUri,
    UnknownHost,
    Untrusted,
    case_by_id,
)
from httpboot_harness.errors import UsageError
from httpboot_harness.machine import MachineSpec
from httpboot_harness.phases import Phase
from httpboot_harness.server import ServerPlan


def test_default_matrix_has_the_five_cases_of_the_core() -> None:
    assert [c.id for c in DEFAULT_MATRIX] == [
        "ipv4-http",
        "ipv4-https",
        "ipv6-http",
        "ipv6-https",
        "ipv4-https-untrusted",
    ]


def test_every_id_parses_back_to_its_case() -> None:
    for case in DEFAULT_MATRIX:
        assert case_by_id(case.id) is case


def test_unknown_id_names_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown case id 'ipv5-http'.*ipv4-http, ipv4-https"):
        case_by_id("ipv5-http")


def test_markers_and_boot_entry_follow_family_and_scheme() -> None:
    case = Case("ipv6", "https")
    assert case.markers == ("ipv6", "https", "core", "x86_64")
    assert Case("ipv6", "http", Dhcp(host="literal")).markers == (
        "ipv6", "http", "literal", "x86_64"
    )  # fmt: skip
    assert case.source.entry_label(case) == "UEFI HTTPv6"
    assert Case("ipv4", "http").source.entry_label(Case("ipv4", "http")) == "UEFI HTTPv4"


def test_the_untrusted_fault_needs_https() -> None:
    assert Case("ipv4", "https", faults=(Untrusted(),)).id == "ipv4-https-untrusted"
    with pytest.raises(UsageError, match="untrusted certificate needs https"):
        Case("ipv4", "http", faults=(Untrusted(),))


@pytest.mark.parametrize(
    ("build", "conflict"),
    [
        (lambda: Case("ipv4", "https", Pxe()), "PXE downloads over TFTP"),
        (lambda: Case("ipv6", "http", Pxe()), "classes form"),
        (lambda: Case("ipv4", "http", Dhcp(dhcp6_vendor="string")), "use it with ipv6"),
        (lambda: Case("ipv4", "http", Pxe(), payload=ProofIso()), "not a PXE boot file"),
        (lambda: Case("ipv6", "http", faults=(NoHttpClient(),)), "DHCPv4"),
        (lambda: Case("ipv4", "http", Dhcp(host="literal"), faults=(UnknownHost(),)), "names"),
        (lambda: Case("ipv4", "http", faults=(HttpStatus(200),)), "400 to 599"),
        (lambda: Case("ipv4", "http", faults=(NotFound(), NotFound())), "given twice"),
        (lambda: Case("ipv4", "http", faults=(NotFound(), NoDhcp())), "each expect"),
        (lambda: Case("ipv5", "http"), "family"),  # type: ignore[arg-type]
    ],
)
def test_an_impossible_combination_is_a_usage_error_naming_the_conflict(
    build: Callable[[], Case], conflict: str
) -> None:
    with pytest.raises(UsageError, match=conflict):
        build()


def test_each_fault_brings_its_expectation_and_cause() -> None:
    case = Case("ipv4", "http", faults=(HttpStatus(500),))
    assert case.id == "ipv4-http-http-500"
    assert case.expectation == Expectation("refused", Phase.DOWNLOAD, "HTTP 500")
    assert Case("ipv6", "http", faults=(NoDhcp(),)).expectation.cause == "no DHCPv6 answer"
    assert Case("ipv4", "http").expectation == Expectation()
    mine = Expectation("failed", Phase.IMAGE, "anything")
    assert Case("ipv4", "http", faults=(NotFound(),), expect=mine).expectation == mine


def test_http_status_fault_edits_only_the_server_plan_of_its_image() -> None:
    case = Case("ipv4", "http", faults=(HttpStatus(503),))
    base = ServerPlan(boot_url=None, document_root=Path("/srv"))
    plan = case.server_plan(base)
    assert plan.status_overrides == (("/ipv4-http-http-503/bootx64.efi", 503),)
    assert plan.boot_url == "http://www.httpboot.local/ipv4-http-http-503/bootx64.efi"
    assert Case("ipv4", "http").server_plan(base).status_overrides == ()


def test_sources_edit_plan_and_machine() -> None:
    base = ServerPlan(boot_url=None, document_root=Path("/srv"))
    assert Case("ipv6", "http", TypedUri()).server_plan(base).boot_url is None
    assert Case("ipv4", "http", Dhcp(host="literal")).server_plan(base).name_server is False
    spec = MachineSpec("qemu", "tcg", Path("c"), Path("v"), Path("s"), extra_args=("-x",))
    preset6 = Case("ipv6", "http", Preset()).machine_spec(spec)
    assert preset6.boot_menu_ms == 3000
    assert Case("ipv4", "http", Preset()).machine_spec(spec).boot_menu_ms == 0
    assert preset6.extra_args == ("-fw_cfg", "name=opt/org.tianocore/IPv4Support,string=no", "-x")
    untrusted = dataclasses.replace(spec, fw_cfg_files=(("etc/edk2/https/cacerts", Path("ca")),))
    assert Case("ipv4", "https", faults=(Untrusted(),)).machine_spec(untrusted).fw_cfg_files == ()


def test_phases_follow_scheme_and_source() -> None:
    assert Phase.TLS not in Case("ipv4", "http").phases
    assert Phase.CONNECT not in Case("ipv4", "https").phases
    pxe = Case("ipv4", "http", Pxe())
    assert {Phase.CONNECT, Phase.TLS}.isdisjoint(pxe.phases)
    assert pxe.prover(Phase.DOWNLOAD) is not None
    assert Case("ipv4", "http").prover(Phase.DOWNLOAD) is None
