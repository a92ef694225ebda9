"""HTTPS boot conformance: TLS conditions the firmware must refuse, and two controls.

Each :class:`TlsCondition` is a fault-like part of a case: it says how the server's certificate,
key and protocol range are made (a :class:`CertRecipe` and a :class:`TlsOffer`), what the firmware
is then given to trust, and what a secure firmware does (refuse at ``tls``). The material is made
per run with ``cryptography``, like the harness's own CA (``tls.py``); :func:`condition_material`
is the rig's hook. Two controls (TLS 1.3 only, an ECDSA key) have no expectation: the audit
records what the firmware negotiated.

Where a firmware build is known to accept what it should refuse, the condition carries a
:class:`KnownWeakness` with its upstream reference; a build that stops accepting turns the
strict xfail of its test into a failure someone reads. Builds are told apart by the edk2 release
of the package the code file came from (:func:`firmware_release`).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from .cases import RANK_FAULT, Case, Dhcp, Expectation, Fault, Pxe
from .firmware_identity import package_of, release_of
from .network import Addressing
from .phases import Phase
from .server import ServerPlan
from .services.lighttpd import DEFAULT_TLS_OFFER, TLS_CIPHERS, TlsOffer
from .tls import KEY_BITS, TlsMaterial, make_ca, signature_list, subject_name

if TYPE_CHECKING:
    from .evidence import Judgement

KeyKind = Literal["rsa-3072", "rsa-2048", "ecdsa-p256"]
Digest = Literal["sha256", "sha1"]
Validity = Literal["current", "expired", "not-yet-valid"]
Names = Literal["host", "other-host"]
Signer = Literal["enrolled-ca", "other-ca", "self"]

OTHER_HOST = "elsewhere.example"
VALID_DAYS = 30
CONTROL = "recorded"
"""What the table says a control expects: nothing, its observation is recorded."""


@dataclass(frozen=True)
class CertRecipe:
    """How the server's certificate and key are made; the defaults make a good one."""

    key: KeyKind = "rsa-3072"
    digest: Digest = "sha256"
    validity: Validity = "current"
    names: Names = "host"
    signer: Signer = "enrolled-ca"


@dataclass(frozen=True)
class KnownWeakness:
    """A firmware build accepts what it should refuse: why, and the upstream reference.

    Keyed on the edk2 release (``2022.11``, from the package the code came from): releases
    before ``fixed_in`` are known to accept. A firmware whose release is unknown is held to the
    secure expectation: its acceptance is reported as a difference, for a person to read.
    """

    reason: str
    reference: str
    fixed_in: str | None = None
    """The first edk2 stable release (``YYYY.MM``) with the fix upstream; None: not fixed."""

    def applies_to(self, release: str | None) -> bool:
        if release is None:
            return False
        return self.fixed_in is None or release < self.fixed_in


@dataclass(frozen=True)
class TlsCondition(Fault):
    """One HTTPS conformance condition: the server's certificate, key and protocols, and what a
    secure firmware does with them."""

    name: str = "good"
    title: str = ""
    recipe: CertRecipe = CertRecipe()
    offer: TlsOffer = DEFAULT_TLS_OFFER
    control: bool = False
    """A control: no expectation, the audit records what the firmware negotiated."""
    weaknesses: tuple[KnownWeakness, ...] = ()
    causes: tuple[str, ...] = (
        "TLS alert", "gave up during the TLS handshake", "the HTTPS server logged",
    )  # fmt: skip
    """What the refusal's cause must mention: evidence from the server's side or the capture."""

    @property
    def word(self) -> str:  # type: ignore[override]
        return f"tls-{self.name}"

    def id_words(self, case: Case) -> tuple[tuple[int, str], ...]:
        return ((RANK_FAULT, self.word),)

    def markers(self, case: Case) -> tuple[str, ...]:
        return ("tls_audit",)

    def conflict(self, case: Case) -> str | None:
        if case.scheme != "https" or isinstance(case.source, Pxe):
            return f"TLS condition {self.name!r} needs an https case"
        return None

    def plan(self, case: Case, plan: ServerPlan) -> ServerPlan:
        return dataclasses.replace(plan, tls_offer=self.offer)

    def expectation(self, case: Case) -> Expectation | None:
        if self.control:
            return Expectation(recorded=True)
        return Expectation("refused", Phase.TLS, self.causes)

    def weakness(self, release: str | None) -> KnownWeakness | None:
        """The known weakness of this condition on a firmware of ``release``, if any."""
        return next((w for w in self.weaknesses if w.applies_to(release)), None)


NO_CHECK_TIME = KnownWeakness(
    "edk2's TlsLib sets X509_V_FLAG_NO_CHECK_TIME: a server certificate's dates are never "
    "checked (the flag was dropped by tianocore/edk2#11250, merged July 2025)",
    "tianocore/edk2#10286",
    fixed_in="2025.08",
)
LOW_SECURITY_LEVEL = KnownWeakness(
    "edk2's TlsLib did not raise OpenSSL's security level (Debian 13's build, on OpenSSL 3, even "
    "takes SHA-1 signatures, which level 1 refuses) until tianocore/edk2#11534 (merged September "
    "2025) set level 3; #12681 (June 2026) lowered it to 2, which admits RSA-2048 again",
    "tianocore/edk2#11534",
    fixed_in="2025.11",
)
OLD_PROTOCOLS = KnownWeakness(
    "Debian 12's edk2 2022.11 completes a TLS 1.1 handshake with a server that offers nothing "
    "newer and boots; Debian 13's 2025.02 gives up after the server's hello (no upstream report "
    "found)",
    "RFC 8996 (TLS 1.0 and 1.1 deprecated)",
    fixed_in="2025.02",
)
"""Seen here: 2022.11 negotiated TLS_DHE_RSA_WITH_AES_256_CBC_SHA over TLS 1.1 and booted; the
release that first refused is not known, so 2025.02 (the first one seen refusing) stands as the
fix."""

TLS_CONDITIONS: tuple[TlsCondition, ...] = (
    TlsCondition(
        "wrong-ca", "signed by a CA other than the enrolled one", CertRecipe(signer="other-ca")
    ),
    TlsCondition(
        "wrong-name",
        "names another host than the URL's (CVE-2019-14553)",
        CertRecipe(names="other-host"),
    ),
    TlsCondition("expired", "expired", CertRecipe(validity="expired"), weaknesses=(NO_CHECK_TIME,)),
    TlsCondition(
        "not-yet-valid",
        "not valid yet",
        CertRecipe(validity="not-yet-valid"),
        weaknesses=(NO_CHECK_TIME,),
    ),
    TlsCondition(
        "rsa-2048",
        "an RSA-2048 server key",
        CertRecipe(key="rsa-2048"),
        weaknesses=(LOW_SECURITY_LEVEL,),
    ),
    TlsCondition(
        "sha1",
        "signed with SHA-1",
        CertRecipe(digest="sha1"),
        # OpenSSL 3 counts SHA-1 as 63 bits: at level 1 lighttpd would refuse its own certificate.
        TlsOffer(cipher_string=f"{TLS_CIPHERS}:@SECLEVEL=0"),
        weaknesses=(LOW_SECURITY_LEVEL,),
    ),
    TlsCondition(
        "tls1.0-1.1",
        "a server that speaks only TLS 1.0 and 1.1",
        offer=TlsOffer(
            # OpenSSL 3 refuses TLS below 1.2 at security level 1: level 0 lets lighttpd offer it.
            cipher_string="DEFAULT:@SECLEVEL=0",
            min_protocol="TLSv1",
            max_protocol="TLSv1.1",
        ),
        weaknesses=(OLD_PROTOCOLS,),
    ),
    TlsCondition("self-signed", "self-signed and not enrolled", CertRecipe(signer="self")),
    TlsCondition(
        "tls1.3-only",
        "control: a server that speaks only TLS 1.3",
        offer=TlsOffer(min_protocol="TLSv1.3"),
        control=True,
    ),
    TlsCondition(
        "ecdsa", "control: an ECDSA P-256 server key", CertRecipe(key="ecdsa-p256"), control=True
    ),
)


def condition_of(case: Case) -> TlsCondition | None:
    return next((f for f in case.faults if isinstance(f, TlsCondition)), None)


def audit_case(condition: TlsCondition) -> Case:
    """The case that audits ``condition``: IPv4, HTTPS, the URL from DHCP by host name."""
    return Case("ipv4", "https", Dhcp(), faults=(condition,))


TLS_AUDIT_CASES: tuple[Case, ...] = tuple(audit_case(c) for c in TLS_CONDITIONS)


# -- the material ----------------------------------------------------------------------------
def condition_material(case: Case, folder: Path, addressing: Addressing) -> TlsMaterial | None:
    """The rig's hook: a case with a TLS condition gets its own material, made now."""
    condition = condition_of(case)
    if condition is None:
        return None
    return make_condition_material(folder, addressing, condition.recipe)


def _key(kind: KeyKind) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = 2048 if kind == "rsa-2048" else KEY_BITS
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def _ca(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A throw-away CA, valid a year either side of now; one per name and process (RSA-3072 keys
    take a second or more each on a busy machine)."""
    now = datetime.datetime.now(datetime.UTC)
    year = datetime.timedelta(days=365)
    return make_ca(common_name, now - year, now + year)


def _validity(validity: Validity, now: datetime.datetime) -> tuple[datetime.datetime, ...]:
    day = datetime.timedelta(days=1)
    if validity == "expired":
        return now - 2 * VALID_DAYS * day, now - VALID_DAYS * day
    if validity == "not-yet-valid":
        return now + VALID_DAYS * day, now + 2 * VALID_DAYS * day
    return now - day, now + VALID_DAYS * day


def _names(names: Names, addressing: Addressing) -> tuple[str, list[x509.GeneralName]]:
    if names == "other-host":
        return OTHER_HOST, [x509.DNSName(OTHER_HOST)]
    return addressing.hostname, [
        x509.DNSName(addressing.hostname),
        x509.IPAddress(ipaddress.ip_address(addressing.server_v4.ip)),
        x509.IPAddress(ipaddress.ip_address(addressing.server_v6.ip)),
    ]


def make_condition_material(
    folder: Path, addressing: Addressing, recipe: CertRecipe
) -> TlsMaterial:
    """Write the enrolled CA, the server's certificate and key as ``recipe`` says, and the
    enrolled CA's signature list, into ``folder``. The firmware is always given a CA (with none,
    it does not even connect): the harness's, whoever signed the server's certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    enrolled_key, enrolled = _ca("httpboot-harness audit CA (enrolled)")
    server_key = _key(recipe.key)
    common_name, alt_names = _names(recipe.names, addressing)
    subject = subject_name(common_name)
    if recipe.signer == "self":
        signer_key, issuer = server_key, subject
    elif recipe.signer == "other-ca":
        signer_key, other = _ca("httpboot-harness audit CA (not enrolled)")
        issuer = other.subject
    else:
        signer_key, issuer = enrolled_key, enrolled.subject
    not_before, not_after = _validity(recipe.validity, now)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    )
    server = builder.sign(signer_key, hashes.SHA256())
    if recipe.digest == "sha1":
        assert isinstance(signer_key, rsa.RSAPrivateKey), "SHA-1 certificates are RSA-signed here"
        server = resign_with_sha1(server, signer_key)
    material = TlsMaterial(
        ca_certificate=folder / "ca.pem",
        server_certificate=folder / "server.pem",
        server_key=folder / "server.key",
        ca_signature_list=folder / "cacerts.esl",
    )
    pem = serialization.Encoding.PEM
    material.ca_certificate.write_bytes(enrolled.public_bytes(pem))
    material.server_certificate.write_bytes(server.public_bytes(pem))
    material.server_key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    material.server_key.chmod(0o600)
    material.ca_signature_list.write_bytes(
        signature_list([enrolled.public_bytes(serialization.Encoding.DER)])
    )
    return material


SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")
"""DER of the two signature algorithms' OIDs: the same length, so one can stand for the other."""


def resign_with_sha1(certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """``certificate`` signed again with SHA-1 by ``key``.

    cryptography refuses to sign certificates with SHA-1 (and rightly), but SHA-1 still signs
    RSA messages: the to-be-signed part is kept, its algorithm OID swapped for sha1WithRSA, signed
    with PKCS#1 v1.5 and SHA-1, and wrapped as a Certificate again (three DER elements).
    """
    tbs = certificate.tbs_certificate_bytes
    if tbs.count(SHA256_WITH_RSA) != 1:
        raise ValueError("expected one sha256WithRSAEncryption in the certificate")
    tbs = tbs.replace(SHA256_WITH_RSA, SHA1_WITH_RSA)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    algorithm = _der(0x30, SHA1_WITH_RSA + b"\x05\x00")
    der = _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def _der(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


# -- which firmware ----------------------------------------------------------------------------
def firmware_release(code: Path) -> str | None:
    """The edk2 release (``2022.11``) of the package that holds ``code``: an unpacked package in
    the harness's cache, or one dpkg installed; None when neither says. The package, not the
    image: a known weakness is a distribution build's (``firmware_identity`` reads the image)."""
    return release_of(package_of(code)[1])


def observed_outcome(judgement: Judgement) -> str:
    """``booted``, or the verdict with its phase (``refused at tls``)."""
    if judgement.phase:
        return f"{judgement.verdict} at {judgement.phase}"
    return judgement.verdict
