"""The pytest plugin seen from a user's test suite (pytester runs a separate pytest)."""

from __future__ import annotations

import pytest

from httpboot_harness.cases import ALL_CASES

USER_TEST = """
def test_boot(httpboot_case):
    pass
"""


def test_matrix_cases_become_test_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "*test_boot[[]ipv4-http[]]",
            "*test_boot[[]ipv4-https[]]",
            "*test_boot[[]ipv6-http[]]",
            "*test_boot[[]ipv6-https[]]",
            "*test_boot[[]ipv4-https-untrusted[]]",
        ]
    )


@pytest.mark.parametrize(
    ("expression", "count"),
    [
        ("ipv6", 14),
        ("ipv4", 32),
        ("https", 7),
        ("ipv6 and https", 2),
        ("http and not https", 37),
        ("literal", 8),
        ("iso", 4),
        ("dhcp6_variants", 4),
        ("pxe", 2),
        ("uri", 5),
        ("core", 5),
        ("core and ipv6", 2),
        ("fault", 16),
        ("aarch64", 5),
        ("aarch64 and https", 3),
        ("x86_64", 41),
        ("chain", 7),
        ("secureboot", 4),
    ],
)
def test_markers_select_cases(pytester: pytest.Pytester, expression: str, count: int) -> None:
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("--collect-only", "-q", "-m", expression)
    result.stdout.fnmatch_lines([f"{count}/{len(ALL_CASES)} tests collected*"])


def test_options_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--httpboot-ovmf-code*",
            "*--httpboot-accel*",
            "*--httpboot-qemu-arg*",
            "*--httpboot-report*",
        ]
    )


def test_bad_option_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("--httpboot-timeout", "soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*timeout must be a number of seconds*"])
