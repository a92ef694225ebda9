"""The rendered daemon configurations carry what the seed HOWTO configures."""

from __future__ import annotations

from pathlib import Path

from httpboot_harness.services.dhcpd6 import Dhcpd6
from httpboot_harness.services.dnsmasq import Dnsmasq
from httpboot_harness.services.lighttpd import Lighttpd, TlsFiles
from httpboot_harness.services.radvd import Radvd

URL = "http://www.httpboot.local/ipv4-http/bootx64.efi"


def test_dnsmasq_answers_httpclient_with_url_router_and_dns(tmp_path: Path) -> None:
    files = Dnsmasq(URL).render(tmp_path)
    conf = files["dnsmasq.conf"]
    assert "dhcp-vendorclass=set:http,HTTPClient" in conf
    assert "dhcp-option-force=tag:http,60,HTTPClient" in conf
    assert f"dhcp-boot=tag:http,{URL}" in conf
    assert "dhcp-option=option:router,192.168.111.1" in conf
    assert "dhcp-option=option:dns-server,192.168.111.1" in conf
    assert "dhcp-range=192.168.111.100,192.168.111.120" in conf
    assert files["hosts"].splitlines() == [
        "192.168.111.1 www.httpboot.local",
        "2001:db8:f00f:cafe::1 www.httpboot.local",
    ]


def test_dnsmasq_without_dhcp_serves_dns_only(tmp_path: Path) -> None:
    conf = Dnsmasq(URL, dhcp_v4=False).render(tmp_path)["dnsmasq.conf"]
    assert "dhcp-range" not in conf
    assert "addn-hosts=" in conf


def test_dhcpd6_uses_the_seeds_rfc3315_vendor_class(tmp_path: Path) -> None:
    conf = Dhcpd6(URL).render(tmp_path)["dhcpd6.conf"]
    assert "option dhcp6.vendor-class code 16 = {integer 32, integer 16, string};" in conf
    assert "option dhcp6.bootfile-url code 59 = string;" in conf
    assert "subnet6 2001:db8:f00f:cafe::/64 {" in conf
    assert "range6 2001:db8:f00f:cafe::42:10 2001:db8:f00f:cafe::42:99;" in conf
    assert 'option dhcp6.vendor-class 0 10 "HTTPClient";' in conf
    assert "option dhcp6.name-servers 2001:db8:f00f:cafe::1;" in conf
    assert "option dhcp6.preference 255;" in conf


def test_dhcpd6_preference_can_be_left_out(tmp_path: Path) -> None:
    conf = Dhcpd6(URL, preference=None).render(tmp_path)["dhcpd6.conf"]
    assert "preference" not in conf


def test_radvd_sets_managed_flag_and_on_link_prefix(tmp_path: Path) -> None:
    conf = Radvd().render(tmp_path)["radvd.conf"]
    assert "AdvManagedFlag on;" in conf
    assert "prefix 2001:db8:f00f:cafe::/64" in conf
    assert "AdvOnLink on;" in conf


def test_lighttpd_listens_on_both_families_and_tls_only_when_asked(tmp_path: Path) -> None:
    plain = Lighttpd(tmp_path / "www").render(tmp_path)["lighttpd.conf"]
    assert 'server.bind = "0.0.0.0"' in plain
    assert '$SERVER["socket"] == "[::]:80" { }' in plain
    assert "ssl.engine" not in plain
    tls = TlsFiles(tmp_path / "server.pem", tmp_path / "server.key")
    secure = Lighttpd(tmp_path / "www", tls).render(tmp_path)["lighttpd.conf"]
    assert '$SERVER["socket"] == "0.0.0.0:443" {' in secure
    assert '$SERVER["socket"] == "[::]:443" {' in secure
    assert secure.count('ssl.engine = "enable"') == 2
    assert "AES128-GCM-SHA256" in secure
    assert '".efi" => "application/efi"' in secure


def test_readiness_checks_cover_every_socket(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "c", tmp_path / "k")
    checks = [str(c) for c in Lighttpd(tmp_path, tls).readiness()]
    assert checks == [
        "TCP port 80 (IPv4)",
        "TCP port 80 (IPv6)",
        "TCP port 443 (IPv4)",
        "TCP port 443 (IPv6)",
    ]
