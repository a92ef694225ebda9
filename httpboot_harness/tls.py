"""A throw-away CA and server certificate per run, and the EFI signature list OVMF trusts.

RSA-3072 keys: recent edk2 refuses 2048-bit server keys (TLS security level 3). The server
certificate names the boot host and both server addresses, so a URL with the name or an IP literal
verifies. The CA (not the server certificate) goes to the firmware, as a real deployment would.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .network import Addressing

KEY_BITS = 3072
# Any GUID will do as the signature owner; this one is ours, fixed so that lists compare equal.
SIGNATURE_OWNER = "8c1f2e07-6b4a-4f0c-9a53-7f4d1e0b7a11"


@dataclass(frozen=True)
class TlsMaterial:
    ca_certificate: Path
    server_certificate: Path
    server_key: Path
    ca_signature_list: Path
    """EFI_SIGNATURE_LIST of the CA, for ``-fw_cfg name=etc/edk2/https/cacerts,file=...``."""


def subject_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "httpboot-harness"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str, not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A throw-away CA (RSA, SHA-256) that may sign server certificates and nothing below them."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    ca_name = subject_name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, certificate


def make_tls_material(folder: Path, addressing: Addressing) -> TlsMaterial:
    """Write a CA, a server certificate and key, and the CA's signature list into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(days=1)
    not_after = now + datetime.timedelta(days=30)

    ca_key, ca_cert = make_ca("httpboot-harness throw-away CA", not_before, not_after)

    server_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName(addressing.hostname),
            x509.IPAddress(ipaddress.ip_address(addressing.server_v4.ip)),
            x509.IPAddress(ipaddress.ip_address(addressing.server_v6.ip)),
        ]
    )
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(subject_name(addressing.hostname))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    material = TlsMaterial(
        ca_certificate=folder / "ca.pem",
        server_certificate=folder / "server.pem",
        server_key=folder / "server.key",
        ca_signature_list=folder / "cacerts.esl",
    )
    material.ca_certificate.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.server_certificate.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    material.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    material.server_key.chmod(0o600)
    material.ca_signature_list.write_bytes(
        signature_list([ca_cert.public_bytes(serialization.Encoding.DER)])
    )
    return material


def signature_list(der_certificates: list[bytes]) -> bytes:
    """An EFI signature database holding each DER certificate (virt-firmware builds the lists)."""
    from virt.firmware.efi import siglist

    database = siglist.EfiSigDB()
    for der in der_certificates:
        database.add_cert_data(SIGNATURE_OWNER, der)
    return bytes(database)
