"""HTTP and HTTPS from lighttpd on both families, with an access log the verdict reads.

As in the seed, one server listens on 0.0.0.0 and [::] (port 80, and 443 with TLS). The access
log records client address, server port, request line, status, body bytes and user agent.
TLS settings: Debian's lighttpd 1.4.69 offers only forward-secret (ECDHE/DHE) suites by default,
and Debian 12's OVMF (edk2 2022.11) offers none of them: "no shared cipher" in the error log.
Measured here: ``ECDHE+AESGCM`` alone is refused, ``AES128-GCM-SHA256`` alone boots, so that RSA
key-exchange suite is the narrowest list this OVMF accepts. ECDHE suites stay first so that a newer
firmware that offers them gets forward secrecy. Keep-alive stays on: HTTPS boot fails right after
the HEAD over HTTP/1.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..process import ListeningSocket, Readiness
from .base import Binary, Service

ACCESS_LOG = "access.log"
ERROR_LOG = "error.log"
# Fields: client, server port, "request line", status, body bytes, "user agent".
ACCESS_LOG_FORMAT = '%h %p "%r" %>s %b "%{User-Agent}i"'
_ACCESS = re.compile(
    r'^(?P<client>\S+) (?P<port>\d+) "(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>[^"]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<agent>[^"]*)"$'
)
# Forward-secret suites for newer firmware, then the one suite Debian 12's OVMF shares with us.
TLS_CIPHERS = "ECDHE+AESGCM:AES128-GCM-SHA256"

MIME_TYPES = {
    ".efi": "application/efi",
    ".iso": "application/vnd.efi-iso",
    ".img": "application/vnd.efi-img",
    ".cfg": "text/plain",
}


@dataclass(frozen=True)
class TlsOffer:
    """What the HTTPS server offers: OpenSSL's cipher string and protocol range. The default is
    the harness's (see the module docstring); the TLS audit's conditions change it."""

    cipher_string: str = TLS_CIPHERS
    min_protocol: str = "TLSv1.2"
    max_protocol: str | None = None

    def conf_commands(self) -> tuple[tuple[str, str], ...]:
        """(command, value) pairs for OpenSSL's SSL_CONF (lighttpd's ssl.openssl.ssl-conf-cmd)."""
        commands = [("CipherString", self.cipher_string), ("MinProtocol", self.min_protocol)]
        if self.max_protocol is not None:
            commands.append(("MaxProtocol", self.max_protocol))
        return tuple(commands)


DEFAULT_TLS_OFFER = TlsOffer()


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    private_key: Path
    offer: TlsOffer = DEFAULT_TLS_OFFER


@dataclass(frozen=True)
class Lighttpd(Service):
    document_root: Path
    tls: TlsFiles | None = None
    status_overrides: tuple[tuple[str, int], ...] = ()
    """(URL path, status) answered with that status by a CGI instead of the file (faults)."""
    http_port: int = 80
    https_port: int = 443

    name = "lighttpd"
    binary = Binary("lighttpd", "lighttpd lighttpd-mod-openssl")

    def render(self, workdir: Path) -> dict[str, str]:
        mimes = ", ".join(f'"{ext}" => "{mime}"' for ext, mime in MIME_TYPES.items())
        lines = [
            f'server.document-root = "{self.document_root}"',
            f"server.port = {self.http_port}",
            'server.bind = "0.0.0.0"',
            f'server.errorlog = "{workdir / ERROR_LOG}"',
            f'server.pid-file = "{workdir / "lighttpd.pid"}"',
            'server.modules = ("mod_accesslog", "mod_openssl", "mod_cgi")',
            f'accesslog.filename = "{workdir / ACCESS_LOG}"',
            "accesslog.format = " + _quote(ACCESS_LOG_FORMAT),
            "server.max-keep-alive-requests = 100",
            f"mimetype.assign = ({mimes})",
            f'$SERVER["socket"] == "[::]:{self.http_port}" {{ }}',
        ]
        files: dict[str, str] = {}
        for path, status in self.status_overrides:
            # The file exists, so lighttpd runs the "interpreter" named here, which answers.
            script = f"status-{status}.sh"
            files[script] = status_script(status)
            lines.append(
                f'$HTTP["url"] == "{path}" {{ cgi.assign = ("" => "{workdir / script}") }}'
            )
        if self.tls is not None:
            tls_block = [
                '    ssl.engine = "enable"',
                f'    ssl.pemfile = "{self.tls.certificate}"',
                f'    ssl.privkey = "{self.tls.private_key}"',
                "    ssl.openssl.ssl-conf-cmd = ("
                + ", ".join(f'"{k}" => "{v}"' for k, v in self.tls.offer.conf_commands())
                + ")",
            ]
            for socket in (f"0.0.0.0:{self.https_port}", f"[::]:{self.https_port}"):
                lines += [f'$SERVER["socket"] == "{socket}" {{', *tls_block, "}"]
        return {**files, "lighttpd.conf": "\n".join(lines) + "\n"}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [executable, "-D", "-f", str(workdir / "lighttpd.conf")]

    def log_files(self, workdir: Path) -> dict[str, Path]:
        return {**super().log_files(workdir), "http access": workdir / ACCESS_LOG,
                "http error": workdir / ERROR_LOG}  # fmt: skip

    def readiness(self) -> list[Readiness]:
        ports = [self.http_port] + ([self.https_port] if self.tls else [])
        return [ListeningSocket("tcp", port, ipv6=v6) for port in ports for v6 in (False, True)]


def status_script(status: int) -> str:
    """A CGI program that answers with ``status`` and a short body (an induced fault)."""
    return (
        "#!/bin/sh\n"
        f"printf 'Status: {status} Induced by httpboot-harness\\r\\n"
        "Content-Type: text/plain\\r\\n\\r\\nfault\\n'\n"
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class AccessRecord:
    client: str
    port: int
    method: str
    path: str
    protocol: str
    status: int
    bytes: int
    agent: str


def parse_access_log(text: str) -> list[AccessRecord]:
    records = []
    for line in text.splitlines():
        m = _ACCESS.match(line.strip())
        if m:
            records.append(
                AccessRecord(
                    client=m["client"],
                    port=int(m["port"]),
                    method=m["method"],
                    path=m["path"],
                    protocol=m["protocol"],
                    status=int(m["status"]),
                    bytes=0 if m["bytes"] == "-" else int(m["bytes"]),
                    agent=m["agent"],
                )
            )
    return records


def tls_error_lines(error_log: str) -> list[str]:
    """lighttpd's error-log lines about failed TLS handshakes."""
    return [
        line.strip()
        for line in error_log.splitlines()
        if "SSL" in line and ("alert" in line or "error" in line.lower())
    ]


@dataclass(frozen=True)
class HttpLogs:
    """What an HTTP server logged for one case: its requests and its TLS handshake failures."""

    access: list[AccessRecord]
    tls_errors: list[str]


def read_http_logs(workdir: Path) -> HttpLogs:
    """The access and error logs in ``workdir`` (lighttpd's and apache2's share the format)."""

    def read(name: str) -> str:
        path = workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    return HttpLogs(parse_access_log(read(ACCESS_LOG)), tls_error_lines(read(ERROR_LOG)))
