"""The seed's certificate initrd (its packcert.sh): a server certificate for the installer.

``httpboot-harness packcert server.crt ssl.img`` writes a cpio "newc" archive, compressed like
``gzip -9 -n`` (no name, no time), every member owned by root, holding the certificate in
``/var/lib/ca-certificates/openssl/`` and ``/var/lib/ca-certificates/pem/`` beside its
``<subject hash>.0`` link, the layout SUSE's installer reads. GRUB hands it to the kernel as a
second initrd (``initrdefi .../initrd .../ssl.img``) and the kernel unpacks both.

The archive is written by the distribution's ``cpio`` and the hash is OpenSSL's own
(``openssl x509 -subject_hash``); nothing here re-implements either.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import PrerequisiteError, UsageError
from .labstate import own_prefix

CERT_DIRS = ("var/lib/ca-certificates/openssl", "var/lib/ca-certificates/pem")
TOOL_TIMEOUT = 60.0


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteError(f"{name} is not installed", f"apt-get install {package}")
    return path


def subject_hash(certificate: Path) -> str:
    """OpenSSL's subject hash, the name of the ``<hash>.0`` link its c_rehash would make."""
    done = subprocess.run(
        [_tool("openssl", "openssl"), "x509", "-noout", "-subject_hash", "-in", str(certificate)],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        said = " ".join(done.stderr.split())
        raise UsageError(
            f"{certificate} is not a PEM certificate (openssl: {said}); fix: pass the server's "
            "certificate in PEM form (-----BEGIN CERTIFICATE-----; from DER: openssl x509 "
            "-inform DER -in CERT -out CERT.pem)"
        )
    return done.stdout.strip()


def pack_tree(tree: Path, destination: Path) -> list[str]:
    """Archive everything under ``tree`` as a root-owned newc cpio, gzip -9 -n; returns the
    member names in archive order (sorted, directories before their contents)."""
    members = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    done = subprocess.run(
        [_tool("cpio", "cpio"), "--create", "--format=newc", "--owner=0:0", "--reproducible",
         "--quiet"],
        input="\n".join(members).encode() + b"\n", cwd=tree, capture_output=True,
        timeout=TOOL_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise PrerequisiteError(
            f"cpio failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}",
            "apt-get install --reinstall cpio",
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(gzip.compress(done.stdout, compresslevel=9, mtime=0))
    return members


def packcert(certificate: Path, destination: Path) -> list[str]:
    """Build the seed's ssl.img from ``certificate``; returns the archive's members."""
    if not certificate.is_file():
        raise UsageError(f"certificate {certificate} does not exist")
    link = f"{subject_hash(certificate)}.0"
    name = certificate.with_suffix(".pem").name
    with tempfile.TemporaryDirectory(prefix=f"{own_prefix()}packcert-") as scratch:
        tree = Path(scratch)
        for folder in CERT_DIRS:
            (tree / folder).mkdir(parents=True)
            shutil.copyfile(certificate, tree / folder / name)
            (tree / folder / link).symlink_to(name)
        return pack_tree(tree, destination)
