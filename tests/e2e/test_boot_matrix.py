"""End to end: every built-in case boots real OVMF from real servers, and is judged.

The test runs once per case (``httpboot_case`` is parametrized by the plugin), so
``pytest -m ipv6`` runs the IPv6 cases and ``pytest -k ipv4-https`` the HTTPS ones over IPv4.
Beyond the verdict, a booted case is checked against the artifacts themselves: the nonce line in
the raw console, the full GET in the access log, the guest's power-off in QMP's event log.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

import psutil
from pyroute2 import netns

from httpboot_harness.cases import Case, Pxe
from httpboot_harness.process import TAG_VARIABLE
from httpboot_harness.runner import CaseResult


def tagged_processes(prefix: str) -> list[int]:
    """Live processes carrying a tag of ours (a rootless lab has no named namespace to list)."""
    found = []
    for proc in psutil.process_iter():
        try:
            tag = proc.environ().get(TAG_VARIABLE, "")
            if tag.startswith(prefix) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def assert_booted_from_artifacts(result: CaseResult) -> None:
    folder = result.artifacts
    details = result.details
    raw = (folder / "console.raw").read_bytes().decode("utf-8", "replace")
    assert f"HTTPBOOT-PROOF {result.case.id} {details['nonce']}" in raw
    events = [json.loads(line) for line in (folder / "qmp-events.jsonl").read_text().splitlines()]
    shutdowns = [e["data"] for e in events if e["event"] == "SHUTDOWN"]
    assert shutdowns, events
    assert shutdowns[0]["guest"] is True, events
    if isinstance(result.case.source, Pxe):
        log = (folder / "dnsmasq" / "dnsmasq.log").read_text()
        assert re.search(rf"dnsmasq-tftp\[\d+\]: sent \S*/{details['image_path']} to ", log)
        return
    (http_server,) = {"lighttpd", "apache2"} & set(details["servers"])
    access = (folder / http_server / "access.log").read_text()
    get = f'"GET {details["image_path"]} HTTP/1.1" 200 {details["image_size"]} '
    assert get in access, access


def test_case_meets_its_expected_verdict_with_proof(
    httpboot_case: Case, httpboot_run: Callable[[Case], CaseResult]
) -> None:
    result = httpboot_run(httpboot_case)
    judgement = result.judgement
    leftovers = [n for n in netns.listnetns() if n.startswith(f"hbh-{os.getpid()}-")]
    assert leftovers == [], "the case left its namespace behind"
    assert tagged_processes(f"hbh-{os.getpid()}-") == [], "the case left processes behind"

    assert result.error is None, result.error
    expected = httpboot_case.expectation
    assert judgement.verdict == expected.verdict, judgement.summary
    if expected.verdict == "booted":
        assert tuple(judgement.proven) == tuple(p.value for p in httpboot_case.phases)
        assert result.timings["firmware"] > 0
        assert_booted_from_artifacts(result)
    else:
        assert expected.phase is not None, "a refusal needs its phase"
        assert expected.cause, "a refusal needs its cause"
        assert judgement.phase == expected.phase.value, judgement.summary
        assert expected.cause_matches(judgement.cause), judgement.summary
        assert result.timeline, "a failed case must come with its timeline"
        # Nothing at or after the phase it stopped at is proven (a chain stage's failure comes
        # after the firmware's download and image, which are then proven).
        order = [p.value for p in httpboot_case.phases]
        stopped = order.index(expected.phase.value)
        assert list(judgement.proven) == order[:stopped], judgement.proven
