"""QMP against a small fake QEMU monitor on a unix socket: retries, and every failure typed.

No QEMU: the server below speaks just enough QMP (greeting, capabilities, one answer per
command) to drive qemu.qmp's client, and can be told to listen late, answer with an error,
hang up or stay silent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError

from httpboot_harness.errors import HarnessTimeout, InfrastructureError, MachineError, QmpError
from httpboot_harness.machine import Qmp

GREETING = {
    "QMP": {
        "version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"},
        "capabilities": [],
    }
}


class FakeQemu:
    """A QMP server in a thread. ``answers`` maps a command to a reply (``"hang up"``,
    ``"silence"``, or a dict sent as is with the request's id); unknown commands get
    ``{"return": {}}``. ``events`` are sent right after the capabilities are negotiated."""

    def __init__(
        self,
        path: Path,
        *,
        bind_after: float = 0.0,
        listen_after: float = 0.0,
        greeting: bytes | None = None,
        answers: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> None:
        self.path = path
        self.bind_after = bind_after
        self.listen_after = listen_after
        self.greeting = greeting or json.dumps(GREETING).encode() + b"\n"
        self.answers = answers or {}
        self.events = events or []
        self.received: list[dict[str, Any]] = []
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeQemu:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)  # ends a recv() of the server thread
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        self._stop.wait(self.bind_after)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(self.path))  # the file exists from here on: connects are refused
            self._stop.wait(self.listen_after)
            server.listen(1)
            server.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                self._conn = conn
                with conn:
                    self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        conn.sendall(self.greeting)
        for request in _messages(conn):
            self.received.append(request)
            command = request.get("execute")
            answer = self.answers.get(str(command), {"return": {}})
            if answer == "hang up":
                return
            if answer == "silence":
                self._stop.wait()
                return
            reply = dict(answer)
            if "id" in request:
                reply["id"] = request["id"]
            conn.sendall(json.dumps(reply).encode() + b"\n")
            if command == "qmp_capabilities":
                for event in self.events:
                    conn.sendall(json.dumps(event).encode() + b"\n")


def _messages(conn: socket.socket) -> Iterator[dict[str, Any]]:
    """JSON objects as the client sends them: back to back, not one per line."""
    decoder = json.JSONDecoder()
    buffered = ""
    while data := conn.recv(65536):
        buffered += data.decode()
        while buffered.strip():
            try:
                message, end = decoder.raw_decode(buffered.lstrip())
            except json.JSONDecodeError:
                break  # incomplete: read more
            buffered = buffered.lstrip()[end:]
            yield message


@pytest.fixture
def qmp_path(tmp_path: Path) -> Iterator[Path]:
    # unix socket paths are limited to 108 bytes; tmp_path can be longer
    short = Path(f"/tmp/hbh-qmp-test-{time.monotonic_ns()}.sock")
    yield short
    short.unlink(missing_ok=True)


@pytest.fixture
def qmp(qmp_path: Path) -> Iterator[Qmp]:
    client = Qmp(qmp_path)
    yield client
    client.close()


def test_connect_retries_until_qemu_listens(qmp: Qmp, qmp_path: Path) -> None:
    """The socket file appears first and is refused for a while, as with a busy QEMU."""
    with FakeQemu(qmp_path, bind_after=0.3, listen_after=0.5) as fake:
        qmp.connect(timeout=10.0)
        assert qmp.execute("query-status") == {}
        assert [r["execute"] for r in fake.received] == ["qmp_capabilities", "query-status"]


def test_a_socket_that_never_appears_is_a_machine_error_after_retries(
    qmp: Qmp, qmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    with pytest.raises(QmpError, match=r"attempts in 0\.6 s") as raised:
        qmp.connect(timeout=0.6)
    assert 0.5 <= time.monotonic() - started < 3.0
    assert isinstance(raised.value, MachineError)
    assert isinstance(raised.value, InfrastructureError)
    assert str(qmp_path) in str(raised.value)
    assert "FileNotFoundError" in str(raised.value) or "No such file" in str(raised.value)
    # the library's per-attempt lines are demoted: a retry is not an error for the user
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_qemu_that_died_ends_the_connect_at_once(qmp: Qmp) -> None:
    started = time.monotonic()
    with pytest.raises(MachineError, match="QEMU ended before QMP connected: qemu exited"):
        qmp.connect(timeout=30.0, still_alive=lambda: "qemu exited with code 1")
    assert time.monotonic() - started < 2.0


def test_an_error_answer_keeps_the_command_that_was_sent(qmp: Qmp, qmp_path: Path) -> None:
    refusal = {"error": {"class": "GenericError", "desc": "no such device"}}
    with FakeQemu(qmp_path, answers={"device_del": refusal}):
        qmp.connect(timeout=10.0)
        with pytest.raises(QmpError) as raised:
            qmp.execute("device_del", id="net0")
    assert raised.value.sent == "execute 'device_del' {'id': 'net0'}"
    assert isinstance(raised.value.cause, ExecuteError)
    assert "no such device" in str(raised.value)


def test_a_monitor_that_hangs_up_mid_command_is_a_machine_error(qmp: Qmp, qmp_path: Path) -> None:
    with FakeQemu(qmp_path, answers={"cont": "hang up"}):
        qmp.connect(timeout=10.0)
        with pytest.raises(QmpError, match="execute 'cont'"):
            qmp.execute("cont", timeout=5.0)


def test_a_silent_monitor_is_a_harness_timeout(qmp: Qmp, qmp_path: Path) -> None:
    with FakeQemu(qmp_path, answers={"cont": "silence"}):
        qmp.connect(timeout=10.0)
        with pytest.raises(HarnessTimeout, match="'cont'"):
            qmp.execute("cont", timeout=0.5)


def test_a_garbled_greeting_is_a_machine_error_at_once(qmp: Qmp, qmp_path: Path) -> None:
    """Only a refused or missing socket is worth another try; a protocol error is not."""
    started = time.monotonic()
    with (
        FakeQemu(qmp_path, greeting=b'{"not": "qmp"}\n'),
        pytest.raises(QmpError, match="Did not understand Greeting"),
    ):
        qmp.connect(timeout=10.0)
    assert time.monotonic() - started < 5.0


def test_events_arrive_and_none_means_nothing_came(qmp: Qmp, qmp_path: Path) -> None:
    shutdown = {
        "event": "SHUTDOWN",
        "data": {"guest": True, "reason": "guest-shutdown"},
        "timestamp": {"seconds": 100, "microseconds": 0},
    }
    with FakeQemu(qmp_path, events=[shutdown]):
        qmp.connect(timeout=10.0)
        event = qmp.next_event(5.0)
        assert event is not None
        assert event["event"] == "SHUTDOWN"
        assert qmp.next_event(0.1) is None


def test_a_closed_connection_is_a_machine_error_without_warnings(qmp: Qmp) -> None:
    qmp.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MachineError, match="already closed"):
            qmp.execute("cont")
    qmp.close()  # twice is fine, and close never raises
