"""Your own test with the plugin's fixtures: boot the cases you care about, assert what you need.

Run it like any test file once httpboot-harness is installed (the plugin loads itself):

    sudo .venv/bin/pytest examples/test_my_firmware.py --httpboot-ovmf-code=/path/to/OVMF_CODE.fd
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from httpboot_harness.cases import Case, case_by_id
from httpboot_harness.runner import CaseResult


@pytest.mark.parametrize("httpboot_case", [case_by_id("ipv4-http")], ids=lambda c: c.id)
def test_http_boot_reaches_the_image_quickly(
    httpboot_case: Case, httpboot_run: Callable[[Case], CaseResult]
) -> None:
    result = httpboot_run(httpboot_case)

    assert result.judgement.verdict == "booted", result.judgement.summary
    # Every link of the proof is there: DHCP offer, DNS, the GET, the image's own output.
    assert {"dhcp", "dns", "download", "image", "poweroff"} <= set(result.judgement.proven)
    # Record, don't assert, the speed: JUnit XML carries it as a property.
    print(f"firmware reached the image after {result.timings['firmware']:.1f} s")
