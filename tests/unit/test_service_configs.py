"""The rendered daemon configurations carry what the seed HOWTO configures."""

from __future__ import annotations

from pathlib import Path

from httpboot_harness.services.apache2 import Apache2
from httpboot_harness.services.dhcpd4 import Dhcpd4
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


def test_dnsmasq_is_the_seeds_mixed_pxe_and_http_server(tmp_path: Path) -> None:
    conf = Dnsmasq(URL, tftp_root=tmp_path / "www", pxe_boot_file="p/bootx64.efi").render(tmp_path)[
        "dnsmasq.conf"
    ]
    assert "dhcp-vendorclass=set:pxe,PXEClient" in conf
    assert "dhcp-boot=tag:pxe,p/bootx64.efi,,192.168.111.1" in conf
    assert f"dhcp-boot=tag:http,{URL}" in conf
    assert f"tftp-root={tmp_path / 'www'}" in conf
    assert "enable-tftp" in conf


def test_dnsmasq_without_url_or_name_server(tmp_path: Path) -> None:
    conf = Dnsmasq(None, name_server=False).render(tmp_path)["dnsmasq.conf"]
    assert "dhcp-boot" not in conf
    assert "dhcp-option=option:dns-server\n" in conf  # empty: the option is not sent
    assert "enable-tftp" not in conf


def test_dhcpd6_plain_string_form(tmp_path: Path) -> None:
    conf = Dhcpd6(URL, vendor_form="string").render(tmp_path)["dhcpd6.conf"]
    assert "option dhcp6.vendor-class code 16 = string;" in conf
    assert 'option dhcp6.vendor-class "HTTPClient";' in conf


def test_dhcpd6_classes_answer_pxe_and_http_and_log_inside_each(tmp_path: Path) -> None:
    tftp = "tftp://[2001:db8:f00f:cafe::1]/p/bootx64.efi"
    conf = Dhcpd6(URL, vendor_form="classes", pxe_url_v6=tftp).render(tmp_path)["dhcpd6.conf"]
    pxe = conf.index('subclass "PXEClient" "PXEClient" {')
    http = conf.index('subclass "HTTPClient" "HTTPClient" {')
    assert "match substring (option dhcp6.vendor-class, 6, 9);" in conf
    assert "match substring (option dhcp6.vendor-class, 6, 10);" in conf
    assert conf.index(f'"httpboot-offer vendor-class PXEClient url ", "{tftp}"') > pxe
    assert conf.index(f'"httpboot-offer vendor-class HTTPClient url ", "{URL}"') > http


def test_dhcpd6_arch_subclass(tmp_path: Path) -> None:
    conf = Dhcpd6(URL, vendor_form="arch").render(tmp_path)["dhcpd6.conf"]
    assert "match substring (option dhcp6.vendor-class, 6, 21);" in conf
    assert 'subclass "HTTPClient" "HTTPClient:Arch:00016" {' in conf


def test_dhcpd4_renders_the_seeds_dhcpd_conf(tmp_path: Path) -> None:
    conf = Dhcpd4(URL, pxe_boot_file="p/bootx64.efi").render(tmp_path)["dhcpd.conf"]
    assert "option domain-name-servers 192.168.111.1;" in conf
    assert "option routers 192.168.111.1;" in conf
    assert "subnet 192.168.111.0 netmask 255.255.255.0 {" in conf
    assert "range dynamic-bootp 192.168.111.100 192.168.111.120;" in conf
    assert 'match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";' in conf
    assert 'option vendor-class-identifier "HTTPClient";' in conf
    assert f'filename "{URL}";' in conf
    assert Dhcpd4(URL, name_server=False).render(tmp_path)["dhcpd.conf"].count("domain-name") == 0


def test_apache2_tls_suites_keepalive_and_mime_types(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "c.pem", tmp_path / "k.pem")
    conf = Apache2(tmp_path / "www", tmp_path / "served", tls).render(tmp_path)["apache2.conf"]
    assert "SSLCipherSuite ECDHE+AESGCM:AES128-GCM-SHA256" in conf
    assert "KeepAlive On" in conf
    assert "AddType application/vnd.efi-iso .iso" in conf
    assert f'DocumentRoot "{tmp_path / "served"}"' in conf
    assert "Listen 443" in conf
    plain = Apache2(tmp_path / "www", tmp_path / "served").render(tmp_path)["apache2.conf"]
    assert "SSLEngine" not in plain


ARCH_URLS = (
    ("HTTPClient:Arch:00016", "http://www.httpboot.local/x/bootx64.efi"),
    ("HTTPClient:Arch:00019", "http://www.httpboot.local/a/bootaa64.efi"),
)


def test_dnsmasq_gives_each_architecture_its_own_boot_file(tmp_path: Path) -> None:
    conf = Dnsmasq(URL, interface="br0", arch_boot_urls=ARCH_URLS).render(tmp_path)["dnsmasq.conf"]
    assert "dhcp-vendorclass=set:arch00019,HTTPClient:Arch:00019" in conf
    assert "dhcp-boot=tag:http,tag:arch00019,http://www.httpboot.local/a/bootaa64.efi" in conf
    assert "dhcp-boot=tag:http,tag:arch00016,http://www.httpboot.local/x/bootx64.efi" in conf
    assert f"dhcp-boot=tag:http,{URL}" not in conf  # no class-blind offer beside them
    assert "interface=br0" in conf


def test_dhcpd6_has_one_subclass_per_architecture_and_logs_the_class(tmp_path: Path) -> None:
    conf = Dhcpd6(URL, vendor_form="arch", arch_urls=ARCH_URLS).render(tmp_path)["dhcpd6.conf"]
    assert conf.count('subclass "HTTPClient" "HTTPClient:Arch:000') == 2
    assert "match substring (option dhcp6.vendor-class, 6, 21);" in conf
    assert "httpboot-offer vendor-class HTTPClient:Arch:00019 url " in conf
    assert '"http://www.httpboot.local/a/bootaa64.efi"' in conf


def test_radvd_interval_can_be_shortened_but_not_below_radvds_floor(tmp_path: Path) -> None:
    conf = Radvd(max_interval=4).render(tmp_path)["radvd.conf"]
    assert "MinRtrAdvInterval 3;" in conf
    assert "MaxRtrAdvInterval 4;" in conf
