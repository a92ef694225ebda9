"""The pytest plugin seen from a user's test suite (pytester runs a separate pytest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from httpboot_harness.cases import ALL_CASES, DEFAULT_MATRIX

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


SHARDED_TEST = """
import json
import pytest
from httpboot_harness.cases import DEFAULT_MATRIX
from httpboot_harness.plugin import case_params

@pytest.mark.parametrize("httpboot_case", case_params(DEFAULT_MATRIX))
def test_boot(httpboot_case, request):
    row = {"id": httpboot_case.id, "verdict": "booted", "timings": {}, "met_expectation": True}
    request.node.user_properties.append(("httpboot_result", json.dumps(row)))

def test_without_a_case():
    pass
"""


@pytest.mark.parametrize("xdist", [[], ["-p", "xdist", "-n", "2"]], ids=["plain", "xdist"])
def test_shards_split_the_cases_and_their_reports_merge_whole(
    pytester: pytest.Pytester, tmp_path: Path, xdist: list[str]
) -> None:
    from httpboot_harness.report_merge import load_report, merge

    pytester.makepyfile(SHARDED_TEST)
    reports = []
    for index in (1, 2):
        report, page = tmp_path / f"shard-{index}.json", tmp_path / f"shard-{index}.html"
        # In a subprocess: the HTML page imports numpy, which cannot be loaded twice in one
        # process, and an in-process pytester unloads what was first imported inside it.
        outcome = pytester.runpytest_subprocess(
            *xdist,
            f"--httpboot-shard={index}/2",
            f"--httpboot-report={report}",
            f"--httpboot-html={page}",
        )
        ran = len(json.loads(report.read_text())["cases"])
        assert page.read_text().count("<tr id='case-") == ran
        # xdist's controller does not count what its workers deselected
        deselected = 0 if xdist else len(DEFAULT_MATRIX) - ran
        outcome.assert_outcomes(passed=ran + 1, deselected=deselected)
        reports.append((str(report), load_report(report)))
    selected = [set(document["selected"]) for _, document in reports]
    assert selected[0].isdisjoint(selected[1])
    assert selected[0] | selected[1] == {case.id for case in DEFAULT_MATRIX}
    merged = merge(reports)
    assert merged.problems == []
    assert [row["id"] for row in merged.rows] == sorted(case.id for case in DEFAULT_MATRIX)


def test_a_bad_shard_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("--httpboot-shard", "3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*shard must be K/N with 1 <= K <= N*"])
