"""Your own tests with the plugin's fixtures: compose the cases you care about from parts.

Run it like any test file once httpboot-harness is installed (the plugin loads itself):

    sudo .venv/bin/pytest examples/test_my_firmware.py --httpboot-ovmf-code=/path/to/OVMF_CODE.fd
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from httpboot_harness.cases import Case, Dhcp, HttpStatus, TypedUri
from httpboot_harness.runner import CaseResult

MY_CASES = [
    Case("ipv4", "http"),
    Case("ipv6", "http", Dhcp(host="literal")),
    Case("ipv6", "https", TypedUri()),
    Case("ipv4", "http", faults=(HttpStatus(503),)),
]


@pytest.mark.parametrize("httpboot_case", MY_CASES, ids=str)
def test_my_firmware_boots_as_expected(
    httpboot_case: Case, httpboot_run: Callable[[Case], CaseResult]
) -> None:
    result = httpboot_run(httpboot_case)

    # The verdict, its phase and its cause are what the case's parts expect.
    assert result.passed, result.judgement.summary
    if result.judgement.verdict == "booted":
        # Every link of the proof is there: DHCP offer, DNS, the GET, the image's own output.
        assert {"dhcp", "dns", "download", "image", "poweroff"} <= set(result.judgement.proven)
        # Record, don't assert, the speed: JUnit XML carries it as a property.
        print(f"firmware reached the image after {result.timings['firmware']:.1f} s")
