"""HTTP and HTTPS from apache2, the seed's other web server, with the same access log as lighttpd.

Apache refuses to serve as root, so its children run as www-data and serve a world-readable copy
of the case's document root (the artifacts folder may sit under a private 0700 folder); the
runner removes that copy. TLS: Debian 12's OVMF shares only the RSA key-exchange suite
AES128-GCM-SHA256 with OpenSSL 3, so it follows the forward-secret suites (as for lighttpd), and
keep-alive stays on (HTTPS boot fails right after the HEAD without it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..process import ListeningSocket, ManagedProcess, Readiness
from ..waiting import Deadline
from .base import Binary, Service
from .lighttpd import ACCESS_LOG, ACCESS_LOG_FORMAT, ERROR_LOG, MIME_TYPES, TLS_CIPHERS, TlsFiles

MODULES = Path("/usr/lib/apache2/modules")
RUN_AS = "www-data"


@dataclass(frozen=True)
class Apache2(Service):
    document_root: Path
    served_root: Path
    """Where apache serves from: a world-readable copy of ``document_root`` made at start."""
    tls: TlsFiles | None = None
    status_overrides: tuple[tuple[str, int], ...] = ()
    """(URL path, status) answered with that status instead of the file (faults)."""
    http_port: int = 80
    https_port: int = 443

    name = "apache2"
    binary = Binary("apache2", "apache2-bin media-types")

    def render(self, workdir: Path) -> dict[str, str]:
        modules = ["mpm_event", "authz_core", "mime"]
        if self.tls is not None:
            modules += ["socache_shmcb", "ssl"]
        if self.status_overrides:
            modules.append("rewrite")
        lines = [
            f'ServerRoot "{workdir}"',
            "ServerName www.httpboot.local",
            f'PidFile "{workdir / "apache2.pid"}"',
            f'DefaultRuntimeDir "{workdir}"',
            f"Mutex file:{workdir} default",
            *(f"LoadModule {m}_module {MODULES / f'mod_{m}.so'}" for m in modules),
            f"User {RUN_AS}",
            f"Group {RUN_AS}",
            f"Listen {self.http_port}",
            f'ErrorLog "{workdir / ERROR_LOG}"',
            "LogLevel info",
            "LogFormat " + _quote(ACCESS_LOG_FORMAT) + " harness",
            f'CustomLog "{workdir / ACCESS_LOG}" harness',
            "KeepAlive On",
            "MaxKeepAliveRequests 100",
            "TypesConfig /etc/mime.types",
            *(f"AddType {mime} {ext}" for ext, mime in MIME_TYPES.items()),
            f'DocumentRoot "{self.served_root}"',
            f'<Directory "{self.served_root}">',
            "    Require all granted",
            "</Directory>",
        ]
        if self.status_overrides:
            lines.append("RewriteEngine On")
            # A status outside 300-399 ends rewriting with that status, no substitution.
            lines += [
                f"RewriteRule ^{path}$ - [R={status}]" for path, status in self.status_overrides
            ]
        if self.tls is not None:
            lines += [
                f"Listen {self.https_port}",
                f'SSLSessionCache "shmcb:{workdir / "ssl_scache"}(512000)"',
                f"<VirtualHost *:{self.https_port}>",
                "    SSLEngine on",
                f'    SSLCertificateFile "{self.tls.certificate}"',
                f'    SSLCertificateKeyFile "{self.tls.private_key}"',
                "    SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1",
                f"    SSLCipherSuite {TLS_CIPHERS}",
                "</VirtualHost>",
            ]
        return {"apache2.conf": "\n".join(lines) + "\n"}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [executable, "-DFOREGROUND", "-f", str(workdir / "apache2.conf")]

    def log_files(self, workdir: Path) -> dict[str, Path]:
        return {**super().log_files(workdir), "http access": workdir / ACCESS_LOG,
                "http error": workdir / ERROR_LOG}  # fmt: skip

    def readiness(self) -> list[Readiness]:
        ports = [self.http_port] + ([self.https_port] if self.tls else [])
        return [ListeningSocket("tcp", port, ipv6=True) for port in ports]

    def start(
        self, *, netns: str | None, workdir: Path, tag: str, deadline: Deadline
    ) -> ManagedProcess:
        """Copy the document root where www-data can read it, then start as any service."""
        shutil.copytree(self.document_root, self.served_root, dirs_exist_ok=True)
        for path in [self.served_root, *self.served_root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return super().start(netns=netns, workdir=workdir, tag=tag, deadline=deadline)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
