"""End to end: each case of the default matrix boots real OVMF from real servers, and is judged.

The test runs once per case (``httpboot_case`` is parametrized by the plugin), so
``pytest -m ipv6`` runs the two IPv6 cases and ``pytest -k ipv4-https`` the HTTPS ones over IPv4.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pyroute2 import netns

from httpboot_harness.cases import Case
from httpboot_harness.evidence import phases_for
from httpboot_harness.runner import CaseResult

# For induced failures the verdict must also name the cause, from the server logs and capture.
EXPECTED_CAUSE = {
    "ipv4-http-no-dhcp": "no DHCPv4 answer",
    "ipv4-http-no-httpclient": "without the HTTPClient class",
    "ipv4-http-unknown-host": "NXDOMAIN",
    "ipv4-http-not-found": "HTTP 404",
    "ipv4-https-untrusted": "did not even connect",
}


def test_case_meets_its_expected_verdict_with_proof(
    httpboot_case: Case, httpboot_run: Callable[[Case], CaseResult]
) -> None:
    result = httpboot_run(httpboot_case)
    judgement = result.judgement
    leftovers = [n for n in netns.listnetns() if n.startswith(f"hbh-{os.getpid()}-")]
    assert leftovers == [], "the case left its namespace behind"

    assert result.error is None, result.error
    assert judgement.verdict == httpboot_case.expected, judgement.summary
    if httpboot_case.expected == "booted":
        assert tuple(judgement.proven) == phases_for(httpboot_case), judgement.summary
        assert result.timings["firmware"] > 0
    else:
        assert judgement.phase == httpboot_case.expected_phase, judgement.summary
        if httpboot_case.id in EXPECTED_CAUSE:
            assert EXPECTED_CAUSE[httpboot_case.id] in judgement.summary
        assert result.timeline, "a failed case must come with its timeline"
        assert "download" not in judgement.proven
        assert "image" not in judgement.proven
