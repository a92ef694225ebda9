"""End to end: cases started warm, from one machine saved at its Boot Manager, are judged on the
same proof as cold ones, each in its own namespace against its own servers."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from pyroute2 import netns

from httpboot_harness.cases import case_by_id
from httpboot_harness.cli import run_cases
from httpboot_harness.config import Settings

from .test_boot_matrix import assert_booted_from_artifacts


def test_warm_cases_share_one_snapshot_and_keep_their_full_proof(
    httpboot_settings: Settings, tmp_path: Path
) -> None:
    booted, refused = case_by_id("ipv4-http"), case_by_id("ipv4-https-untrusted")
    settings = dataclasses.replace(httpboot_settings, warm_start=True)
    results = run_cases([booted, refused], settings, tmp_path, jobs=2)

    assert [n for n in netns.listnetns() if n.startswith(f"hbh-{os.getpid()}-")] == []
    for result in results:
        assert result.error is None, result.error
        assert result.details["start"] == "warm", result.details
        argv = json.loads((result.artifacts / "qemu-argv.json").read_text())
        assert argv[-2:] == ["-incoming", "defer"], argv
    # The untrusted case differs from the plain one only on the server side (and in the CA it
    # is not given): both restore the same saved machine.
    assert results[0].details["start_snapshot"] == results[1].details["start_snapshot"]

    good = results[0]
    assert good.judgement.verdict == "booted", good.judgement.summary
    assert tuple(good.judgement.proven) == tuple(p.value for p in booted.phases)
    assert_booted_from_artifacts(good)

    bad = results[1]
    expected = refused.expectation
    assert (bad.judgement.verdict, bad.judgement.phase) == (expected.verdict, "tls")
    assert expected.cause_matches(bad.judgement.cause), bad.judgement.summary
