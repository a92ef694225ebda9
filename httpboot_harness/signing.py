"""Secure Boot trust for what the harness builds: a throw-away key per run, enrolled in db.

The firmware trusts Microsoft's CAs (the ``.ms`` vars template), so Debian's shim runs; the
program the harness builds itself (the proof image, or a chain's GRUB) is signed here with a
fresh RSA key whose certificate goes into the vars copy's ``db``. Shim checks db as well as its
own Debian certificate, so the same enrolment covers a GRUB that shim loads. The key is made
with cryptography, the signature by sbsigntool's ``sbsign`` and the enrolment by virt-firmware.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .errors import PrerequisiteError, UsageError
from .tls import SIGNATURE_OWNER

KEY_BITS = 2048
"""What signing keys in db commonly are; verification (not TLS) takes them."""
SIGN_TIMEOUT = 60.0


@dataclass(frozen=True)
class SigningKey:
    key: Path
    certificate: Path


def make_signing_key(folder: Path) -> SigningKey:
    """A fresh self-signed code-signing certificate and key, valid for a day around now."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    common_name = "httpboot-harness throw-away db key"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    made = SigningKey(folder / "db.key", folder / "db.pem")
    made.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    made.key.chmod(0o600)
    made.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return made


def sign_program(program: Path, key: SigningKey) -> None:
    """Sign the EFI program in place (Authenticode, sbsign)."""
    sbsign = shutil.which("sbsign")
    if sbsign is None:
        raise PrerequisiteError("sbsign is not installed", "apt-get install sbsigntool")
    signed = program.with_name(program.name + ".signed")
    done = subprocess.run(
        [sbsign, "--key", str(key.key), "--cert", str(key.certificate), "--output", str(signed),
         str(program)],
        capture_output=True, text=True, timeout=SIGN_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise PrerequisiteError(
            f"sbsign failed ({done.returncode}): {done.stderr.strip()}",
            "apt-get install --reinstall sbsigntool",
        )
    signed.replace(program)


def enroll_in_db(vars_copy: Path, certificate: Path) -> None:
    """Add ``certificate`` to the db of the vars copy (what ``virt-fw-vars --add-db`` does)."""
    from virt.firmware.varstore import autodetect

    varstore = autodetect.open_varstore(str(vars_copy))
    if varstore is None:
        raise UsageError(f"{vars_copy} is not a varstore virt-firmware can read")
    varlist = varstore.get_varlist()
    varlist.add_cert("db", SIGNATURE_OWNER, str(certificate))
    varstore.write_varstore(str(vars_copy), varlist)
