"""End to end with the seed's other server software: apache2 for HTTPS, ISC dhcpd for DHCPv4.

The default matrix runs on lighttpd and dnsmasq; each alternative boots one case here, chosen
the way a user would (the settings' http_server / dhcp_server), and must be proven by its own logs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import case_by_id
from httpboot_harness.config import Settings
from httpboot_harness.runner import run_case
from httpboot_harness.tls import TlsMaterial


@pytest.mark.httpboot
@pytest.mark.alt_servers
@pytest.mark.parametrize(
    "alternative",
    [
        ("ipv4-https", {"http_server": "apache2"}, "apache2/access.log"),
        ("ipv6-http", {"http_server": "apache2"}, "apache2/access.log"),
        ("ipv4-http", {"dhcp_server": "isc"}, "dhcpd4/dhcpd4.log"),
        ("pxe-ipv4", {"dhcp_server": "isc"}, "dhcpd4/dhcpd4.log"),
        ("ipv4-http-http-500", {"http_server": "apache2"}, "apache2/access.log"),
    ],
    ids=[
        "apache2-ipv4-https",
        "apache2-ipv6-http",
        "isc-ipv4-http",
        "isc-pxe-ipv4",
        "apache2-http-500",
    ],
)
def test_case_boots_on_the_alternative_server(
    httpboot_settings: Settings,
    httpboot_artifacts: Path,
    httpboot_tls: TlsMaterial,
    alternative: tuple[str, dict[str, str], str],
) -> None:
    case_id, change, server_log = alternative
    case = case_by_id(case_id)
    settings = dataclasses.replace(httpboot_settings, **change)  # type: ignore[arg-type]
    folder = httpboot_artifacts / "-".join(change.values())
    tls = httpboot_tls if case.scheme == "https" else None
    result = run_case(case, settings, folder, tls=tls)
    assert result.error is None, result.error
    assert result.passed, result.judgement.summary
    if case.expected == "booted":
        assert tuple(result.judgement.proven) == tuple(p.value for p in case.phases)
    assert (result.artifacts / server_log).stat().st_size > 0
    if "http_server" in change:
        assert not (result.artifacts / "lighttpd").exists(), "lighttpd ran beside apache2"
    else:
        conf = (result.artifacts / "dnsmasq/dnsmasq.conf").read_text()
        assert "dhcp-range" not in conf, "dnsmasq served DHCPv4 beside ISC dhcpd"
