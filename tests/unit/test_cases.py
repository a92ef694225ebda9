from __future__ import annotations

import pytest

from httpboot_harness.cases import DEFAULT_MATRIX, Case, case_by_id
from httpboot_harness.errors import UsageError


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
    assert case.markers == ("ipv6", "https", "core")
    assert Case("ipv6", "http", url_host="literal").markers == ("ipv6", "http", "literal")
    assert case.boot_entry_label == "UEFI HTTPv6"
    assert Case("ipv4", "http").boot_entry_label == "UEFI HTTPv4"


def test_untrusted_suffix_only_for_https() -> None:
    assert Case("ipv4", "https", enroll_ca=False).id == "ipv4-https-untrusted"
    assert Case("ipv4", "http", enroll_ca=False).id == "ipv4-http"
