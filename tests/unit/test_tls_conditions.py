"""Each TLS audit condition's certificate really has its property, and the server offers it."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from httpboot_harness.cases import Case
from httpboot_harness.errors import UsageError
from httpboot_harness.network import Addressing
from httpboot_harness.phases import Phase
from httpboot_harness.server import ServerPlan
from httpboot_harness.services.lighttpd import Lighttpd, TlsFiles
from httpboot_harness.tls import TlsMaterial
from httpboot_harness.tls_conditions import (
    NO_CHECK_TIME,
    OTHER_HOST,
    TLS_AUDIT_CASES,
    TLS_CONDITIONS,
    KnownWeakness,
    TlsCondition,
    condition_material,
    firmware_release,
)

ADDRESSING = Addressing()
BY_NAME = {c.name: c for c in TLS_CONDITIONS}


@pytest.fixture(scope="module")
def materials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsMaterial]:
    """Every condition's material, made once (RSA-3072 keys take a second each)."""
    root = tmp_path_factory.mktemp("tls-conditions")
    made = {}
    for case in TLS_AUDIT_CASES:
        material = condition_material(case, root / case.id, ADDRESSING)
        assert material is not None
        made[case.id.removeprefix("ipv4-https-tls-")] = material
    return made


def server_of(material: TlsMaterial) -> x509.Certificate:
    return x509.load_pem_x509_certificate(material.server_certificate.read_bytes())


def ca_of(material: TlsMaterial) -> x509.Certificate:
    return x509.load_pem_x509_certificate(material.ca_certificate.read_bytes())


def signed_by_enrolled_ca(material: TlsMaterial) -> bool:
    server = server_of(material)
    try:
        server.verify_directly_issued_by(ca_of(material))
    except (ValueError, InvalidSignature):
        return False
    return True


def names_of(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in san]


def test_the_condition_names_are_the_ids_of_the_audit_cases() -> None:
    assert [c.id for c in TLS_AUDIT_CASES] == [f"ipv4-https-tls-{c.name}" for c in TLS_CONDITIONS]
    assert all("tls_audit" in c.markers for c in TLS_AUDIT_CASES)


@pytest.mark.parametrize("name", ["tls1.0-1.1", "tls1.3-only", "rsa-2048", "expired"])
def test_conditions_that_are_not_about_the_signer_have_a_certificate_of_the_enrolled_ca(
    materials: dict[str, TlsMaterial], name: str
) -> None:
    material = materials[name]
    assert signed_by_enrolled_ca(material)
    assert ADDRESSING.hostname in names_of(server_of(material))


def test_wrong_ca_is_signed_by_another_ca_than_the_one_enrolled(
    materials: dict[str, TlsMaterial],
) -> None:
    material = materials["wrong-ca"]
    assert not signed_by_enrolled_ca(material)
    assert server_of(material).issuer != server_of(material).subject
    assert server_of(material).issuer != ca_of(material).subject


def test_the_signature_list_holds_the_enrolled_ca_only(materials: dict[str, TlsMaterial]) -> None:
    material = materials["self-signed"]
    enrolled = ca_of(material).public_bytes(serialization.Encoding.DER)
    listed = material.ca_signature_list.read_bytes()
    assert enrolled in listed
    assert server_of(material).public_bytes(serialization.Encoding.DER) not in listed


def test_wrong_name_names_neither_the_host_nor_its_addresses(
    materials: dict[str, TlsMaterial],
) -> None:
    server = server_of(materials["wrong-name"])
    names = names_of(server)
    assert names == [OTHER_HOST]
    assert ADDRESSING.hostname not in server.subject.rfc4514_string()
    assert str(ipaddress.ip_address(ADDRESSING.server_v4.ip)) not in names
    assert signed_by_enrolled_ca(materials["wrong-name"])


def test_expired_and_not_yet_valid_lie_outside_today(materials: dict[str, TlsMaterial]) -> None:
    now = datetime.datetime.now(datetime.UTC)
    expired = server_of(materials["expired"])
    early = server_of(materials["not-yet-valid"])
    assert expired.not_valid_after_utc < now
    assert early.not_valid_before_utc > now
    good = server_of(materials["tls1.3-only"])
    assert good.not_valid_before_utc < now < good.not_valid_after_utc
    # The CA itself is valid: only the server's certificate is out of date.
    ca = ca_of(materials["expired"])
    assert ca.not_valid_before_utc < now < ca.not_valid_after_utc


def test_key_types_and_sizes(materials: dict[str, TlsMaterial]) -> None:
    small = server_of(materials["rsa-2048"]).public_key()
    assert isinstance(small, rsa.RSAPublicKey)
    assert small.key_size == 2048
    usual = server_of(materials["wrong-ca"]).public_key()
    assert isinstance(usual, rsa.RSAPublicKey)
    assert usual.key_size == 3072
    curve = server_of(materials["ecdsa"]).public_key()
    assert isinstance(curve, ec.EllipticCurvePublicKey)
    assert curve.curve.name == "secp256r1"
    key = serialization.load_pem_private_key(materials["ecdsa"].server_key.read_bytes(), None)
    assert key.public_key() == curve
    assert materials["ecdsa"].server_key.stat().st_mode & 0o077 == 0


def test_sha1_certificate_is_signed_with_sha1_by_the_enrolled_ca(
    materials: dict[str, TlsMaterial],
) -> None:
    server = server_of(materials["sha1"])
    assert isinstance(server.signature_hash_algorithm, hashes.SHA1)
    ca_key = ca_of(materials["sha1"]).public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    ca_key.verify(server.signature, server.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(InvalidSignature):
        ca_key.verify(
            server.signature, server.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
        )
    assert ADDRESSING.hostname in names_of(server)


def test_self_signed_is_its_own_issuer_and_not_enrolled(
    materials: dict[str, TlsMaterial],
) -> None:
    server = server_of(materials["self-signed"])
    assert server.issuer == server.subject
    server.verify_directly_issued_by(server)
    assert not signed_by_enrolled_ca(materials["self-signed"])


def lighttpd_conf(condition: TlsCondition, material: TlsMaterial, tmp_path: Path) -> str:
    case = Case("ipv4", "https", faults=(condition,))
    plan = case.server_plan(ServerPlan(None, tmp_path, tls=material))
    (lighttpd,) = [s for s in plan.services() if isinstance(s, Lighttpd)]
    return lighttpd.render(tmp_path)["lighttpd.conf"]


def test_the_server_offers_only_the_protocols_of_its_condition(
    materials: dict[str, TlsMaterial], tmp_path: Path
) -> None:
    old = lighttpd_conf(BY_NAME["tls1.0-1.1"], materials["tls1.0-1.1"], tmp_path)
    assert (
        '"CipherString" => "DEFAULT:@SECLEVEL=0", "MinProtocol" => "TLSv1", '
        '"MaxProtocol" => "TLSv1.1"'
    ) in old
    assert str(materials["tls1.0-1.1"].server_certificate) in old
    new = lighttpd_conf(BY_NAME["tls1.3-only"], materials["tls1.3-only"], tmp_path)
    assert '"MinProtocol" => "TLSv1.3")' in new
    # Every other condition keeps the harness's own offer.
    usual = lighttpd_conf(BY_NAME["wrong-ca"], materials["wrong-ca"], tmp_path)
    assert (
        'ssl.openssl.ssl-conf-cmd = ("CipherString" => "ECDHE+AESGCM:AES128-GCM-SHA256", '
        '"MinProtocol" => "TLSv1.2")'
    ) in usual
    plain = Lighttpd(tmp_path, TlsFiles(Path("/c.pem"), Path("/k.pem"))).render(tmp_path)
    conf_line = next(line for line in usual.splitlines() if "ssl-conf-cmd" in line)
    assert conf_line in plain["lighttpd.conf"].splitlines()


def test_the_protocol_conditions_refuse_apache2(materials: dict[str, TlsMaterial]) -> None:
    case = Case("ipv4", "https", faults=(BY_NAME["tls1.3-only"],))
    plan = case.server_plan(
        ServerPlan(None, Path("/srv"), tls=materials["tls1.3-only"], http_server="apache2")
    )
    with pytest.raises(UsageError, match="need lighttpd"):
        plan.services(Path("/srv-copy"))


def test_a_condition_needs_https() -> None:
    with pytest.raises(UsageError, match="needs an https case"):
        Case("ipv4", "http", faults=(BY_NAME["expired"],))


def test_conditions_expect_a_refusal_at_tls_and_controls_expect_nothing() -> None:
    for case in TLS_AUDIT_CASES:
        (condition,) = case.faults
        assert isinstance(condition, TlsCondition)
        expectation = condition.expectation(case)
        if condition.control:
            assert expectation is not None
            assert expectation.recorded
            assert case.expected == "recorded"
        else:
            assert expectation is not None
            assert (expectation.verdict, expectation.phase) == ("refused", Phase.TLS)
    assert [c.name for c in TLS_CONDITIONS if c.control] == ["tls1.3-only", "ecdsa"]


def test_a_weakness_applies_to_releases_before_its_fix() -> None:
    fixed = dataclasses.replace(NO_CHECK_TIME, fixed_in="2025.08")
    assert fixed.applies_to("2022.11")
    assert fixed.applies_to("2025.05")
    assert not fixed.applies_to("2025.08")
    assert not fixed.applies_to("2026.02")
    assert not fixed.applies_to(None), "an unknown build is held to the secure expectation"
    assert KnownWeakness("r", "ref").applies_to("2030.02")


def test_the_release_comes_from_the_package_cache_marker(tmp_path: Path) -> None:
    unpacked = tmp_path / "ovmf-2025.02-8+deb13u1"
    code = unpacked / "usr/share/OVMF/OVMF_CODE_4M.fd"
    code.parent.mkdir(parents=True)
    code.write_bytes(b"\0")
    (unpacked / ".complete").write_text(json.dumps({"package": "ovmf", "version": "2025.02-8"}))
    assert firmware_release(code) == "2025.02"
    (unpacked / ".complete").write_text(json.dumps({"package": "ovmf", "version": "1:2023.05-2"}))
    assert firmware_release(code) == "2023.05"
    assert firmware_release(tmp_path / "elsewhere.fd") is None
