"""An HTTP server that misbehaves on purpose, for the faults lighttpd and apache2 cannot stage.

It serves the case's document root as lighttpd does (HEAD and GET, keep-alive, the same MIME
types, the same access-log format), except on the paths it is told to spoil. What each spoiled
transfer did is written to its fault log, so the verdict can name the server's side of it:

- ``reset``: the headers with the full Content-Length, ``after`` bytes of the body, then a TCP
  reset (``SO_LINGER`` 0 and close);
- ``short``: the same, then an orderly close (FIN) before the body is complete;
- ``stall``: the same, then nothing: the connection stays open until the client gives up (its
  FIN or reset, dated: a ``stall-end`` line) or ``STALL_LIMIT_SECONDS`` pass;
- ``redirect``: ``302 Found`` to ``target``, where the file is served as usual;
- ``garbage``: a body of the file's size that is not an EFI image (text);
- ``content-type``: the file under another Content-Type.

Run on its own (``python -m httpboot_harness.services.faulty_http --help``) for manual work. The
server part uses the standard library only; the log lines are parsed by :func:`parse_fault_log`.
"""

from __future__ import annotations

import argparse
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from ..process import ListeningSocket, Readiness
from .base import Binary, Service
from .lighttpd import ACCESS_LOG, ERROR_LOG, MIME_TYPES

FAULT_LOG = "faults.log"
FaultKind = Literal["reset", "short", "stall", "redirect", "garbage", "content-type"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "reset", "short", "stall", "redirect", "garbage", "content-type",
)  # fmt: skip
STALL_LIMIT_SECONDS = 120.0
"""How long a stalled connection is held open at most, waiting for the client to give up."""
SEND_BLOCK = 16384
GARBAGE_LINE = b"httpboot-harness: this is not an EFI image\n"


@dataclass(frozen=True)
class HttpFault:
    """One spoiled path: what goes wrong there, and after how many body bytes."""

    kind: FaultKind
    path: str
    after: int = 0
    """Body bytes sent before the reset, the early close or the stall."""
    target: str = ""
    """redirect: where to; content-type: the Content-Type sent."""

    def argument(self) -> str:
        return f"{self.kind}:{self.path}:{self.after}:{self.target}"

    @classmethod
    def parse(cls, text: str) -> HttpFault:
        kind, path, after, target = text.split(":", 3)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")
        return cls(kind, path, int(after or 0), target)


@dataclass(frozen=True)
class FaultyHttp(Service):
    """The service description: the document root, the faults, port 80 on both families."""

    document_root: Path
    faults: tuple[HttpFault, ...]
    http_port: int = 80

    name = "faulty-http"
    binary = Binary("python3", "python3")

    def render(self, workdir: Path) -> dict[str, str]:
        return {}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        # The harness's own interpreter: the module is part of the installed package.
        return [
            sys.executable, "-m", __name__, "--root", str(self.document_root),
            "--port", str(self.http_port), "--logs", str(workdir),
            *(arg for fault in self.faults for arg in ("--fault", fault.argument())),
        ]  # fmt: skip

    def log_files(self, workdir: Path) -> dict[str, Path]:
        return {**super().log_files(workdir), "http access": workdir / ACCESS_LOG,
                "http faults": workdir / FAULT_LOG}  # fmt: skip

    def readiness(self) -> list[Readiness]:
        return [ListeningSocket("tcp", self.http_port, ipv6=True)]


# -- what the fault log says ------------------------------------------------------------------
_FAULT_LINE = re.compile(
    r"^(?P<wall>[\d.]+) (?P<kind>[a-z-]+) (?P<method>[A-Z]+) (?P<path>\S+) "
    r"sent=(?P<sent>\d+) total=(?P<total>\d+)(?: waited=(?P<waited>[\d.]+))?"
    r"(?: ended=(?P<ended>\S+))?(?: detail=(?P<detail>.*))?$"
)


@dataclass(frozen=True)
class FaultRecord:
    """One spoiled response, as the faulty server logged it."""

    wall: float
    kind: str
    method: str
    path: str
    sent: int
    """Body bytes sent."""
    total: int
    """The Content-Length announced (the file's size)."""
    waited: float | None = None
    """stall: seconds from the last byte sent until the client closed (or the limit)."""
    ended: str | None = None
    """stall: how the client ended it (``fin``, ``reset``) or ``limit``."""
    detail: str = ""
    """redirect: the Location; content-type: the Content-Type; garbage: what was sent."""


def parse_fault_log(text: str) -> list[FaultRecord]:
    records = []
    for line in text.splitlines():
        if m := _FAULT_LINE.match(line.strip()):
            records.append(
                FaultRecord(
                    wall=float(m["wall"]), kind=m["kind"], method=m["method"], path=m["path"],
                    sent=int(m["sent"]), total=int(m["total"]),
                    waited=float(m["waited"]) if m["waited"] else None,
                    ended=m["ended"], detail=m["detail"] or "",
                )
            )  # fmt: skip
    return records


def read_fault_log(workdir: Path) -> list[FaultRecord]:
    path = workdir / FAULT_LOG
    return parse_fault_log(path.read_text(errors="replace")) if path.exists() else []


# -- the server itself (standard library only) ------------------------------------------------
class _Logs:
    """The access and fault logs, one line each, flushed at once (the verdict reads them)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._access = (folder / ACCESS_LOG).open("a", buffering=1)
        self._faults = (folder / FAULT_LOG).open("a", buffering=1)
        self._errors = (folder / ERROR_LOG).open("a", buffering=1)

    def access(self, line: str) -> None:
        with self._lock:
            self._access.write(line + "\n")

    def fault(self, line: str) -> None:
        with self._lock:
            self._faults.write(f"{time.time():.3f} {line}\n")

    def error(self, line: str) -> None:
        with self._lock:
            self._errors.write(f"{time.time():.3f} {line}\n")

    def close(self) -> None:
        for log in (self._access, self._faults, self._errors):
            log.close()


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _handler(
    root: Path, faults: dict[str, HttpFault], logs: _Logs, port: int
) -> type[BaseHTTPRequestHandler]:
    targets = {f.target: f.path for f in faults.values() if f.kind == "redirect"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "httpboot-harness-faulty"

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def log_message(self, format: str, *args: object) -> None:
            logs.error(format % args)

        def _client(self) -> str:
            host = str(self.client_address[0])
            return host.removeprefix("::ffff:") if "." in host else host

        def _logged(self, status: int, sent: int) -> None:
            agent = self.headers.get("User-Agent", "-")
            logs.access(f'{self._client()} {port} "{self.requestline}" {status} {sent} "{agent}"')

        def _answer(self, *, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            fault = faults.get(path)
            if fault is not None and fault.kind == "redirect":
                self.send_response(302)
                self.send_header("Location", fault.target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                logs.fault(f"redirect {self.command} {path} sent=0 total=0 detail={fault.target}")
                self._logged(302, 0)
                return
            file = root / targets.get(path, path).lstrip("/")
            if ".." in path.split("/") or not file.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._logged(404, 0)
                return
            data = file.read_bytes()
            content_type = MIME_TYPES.get(file.suffix, "application/octet-stream")
            if fault is not None and fault.kind == "content-type":
                content_type = fault.target
                logs.fault(f"content-type {self.command} {path} sent=0 total={len(data)} "
                           f"detail={content_type}")  # fmt: skip
            if fault is not None and fault.kind == "garbage":
                data = (GARBAGE_LINE * (len(data) // len(GARBAGE_LINE) + 1))[: len(data)]
                if body:
                    logs.fault(f"garbage GET {path} sent={len(data)} total={len(data)} "
                               f"detail=text, no MZ header")  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                self._logged(200, 0)
                return
            if fault is None or fault.kind not in ("reset", "short", "stall"):
                sent = self._send(data)
                self._logged(200, sent)
                if sent < len(data):
                    logs.fault(f"client-abort GET {path} sent={sent} total={len(data)}")
                return
            self._spoil(fault, path, data)

        def _send(self, data: bytes) -> int:
            """Write ``data`` in blocks; the bytes written before the client went away."""
            sent = 0
            try:
                for start in range(0, len(data), SEND_BLOCK):
                    self.wfile.write(data[start : start + SEND_BLOCK])
                    sent = min(len(data), start + SEND_BLOCK)
            except OSError:  # the client reset or closed: what it did is in the logs
                self.close_connection = True
            return sent

        def _spoil(self, fault: HttpFault, path: str, data: bytes) -> None:
            sent = min(fault.after, len(data))
            self.wfile.write(data[:sent])
            self.wfile.flush()
            self._logged(200, sent)
            self.close_connection = True
            head = f"GET {path} sent={sent} total={len(data)}"
            if fault.kind == "reset":
                # A reset drops what the kernel has not sent yet: wait until the client has
                # acknowledged every byte written, so "sent" is what it received. Linger 0:
                # closing sends a reset at once, with no FIN before it. The reader holds a
                # reference to the socket: it goes first, or close would wait for it.
                _drain(self.connection)
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()
                self.connection.close()
                logs.fault(f"reset {head}")
            elif fault.kind == "short":
                self.connection.shutdown(socket.SHUT_WR)
                logs.fault(f"short {head}")
            else:
                # Logged when it begins too: a case that ends first still leaves the record.
                logs.fault(f"stall {head}")
                waited, ended = self._until_client_gives_up()
                logs.fault(f"stall-end {head} waited={waited:.3f} ended={ended}")

        def _until_client_gives_up(self) -> tuple[float, str]:
            """Seconds from the last byte sent until the client's FIN or reset (or the limit)."""
            started = time.monotonic()
            self.connection.settimeout(0.2)
            while (waited := time.monotonic() - started) < STALL_LIMIT_SECONDS:
                try:
                    if self.connection.recv(4096) == b"":
                        return waited, "fin"
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    return waited, "reset"
            return waited, "limit"

    return Handler


def _drain(connection: socket.socket, limit: float = 10.0) -> None:
    """Wait (at most ``limit`` seconds) until the send queue is empty: every byte acknowledged."""
    import fcntl
    import termios

    ends = time.monotonic() + limit
    while time.monotonic() < ends:
        queued = fcntl.ioctl(connection.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        if struct.unpack("i", queued)[0] == 0:
            return
        time.sleep(0.01)


def serve(root: Path, port: int, logs_folder: Path, faults: list[HttpFault]) -> None:
    logs = _Logs(logs_folder)
    handler = _handler(root, {f.path: f for f in faults}, logs, port)
    try:
        with _DualStackServer(("::", port), handler) as server:
            print(f"faulty-http: serving {root} on port {port} with {len(faults)} fault(s)",
                  flush=True)  # fmt: skip
            server.serve_forever()
    finally:
        logs.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument(
        "--fault",
        action="append",
        type=HttpFault.parse,
        default=[],
        help="KIND:PATH:AFTER:TARGET, KIND one of " + ", ".join(FAULT_KINDS),
    )
    args = parser.parse_args(argv)  # fmt: skip
    serve(args.root, args.port, args.logs, args.fault)


if __name__ == "__main__":
    main()
