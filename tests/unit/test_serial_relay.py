"""The serial relay as the harness runs it, against a plain unix socket server standing in
for QEMU's serial chardev: every byte reaches the transcript, keys reach the peer, and it ends
cleanly from either side."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpboot_harness.waiting import Deadline, wait_until


@pytest.fixture
def socket_path() -> Iterator[Path]:
    path = Path(f"/tmp/hbh-relay-test-{os.getpid()}-{time.monotonic_ns()}.sock")
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def server(socket_path: Path) -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(1)
    listener.settimeout(20)
    yield listener
    listener.close()


class Relay:
    """``python -m httpboot_harness.serial_relay`` with pipes, as console.Console starts it."""

    def __init__(self, socket_path: Path, transcript: Path, *extra: str) -> None:
        self.transcript = transcript
        self.process = subprocess.Popen(
            [sys.executable, "-m", "httpboot_harness.serial_relay", str(socket_path),
             str(transcript), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def first_line(self) -> bytes:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def press(self, keys: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(keys)
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def finish(self, timeout: float = 20) -> tuple[int, bytes]:
        """Exit status and stderr, once it has ended by itself."""
        code = self.process.wait(timeout=timeout)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def relays() -> Iterator[list[Relay]]:
    started: list[Relay] = []
    yield started
    for relay in started:
        relay.kill()


def connect(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> tuple[Relay, socket.socket]:
    relay = Relay(socket_path, tmp_path / "console.raw")
    relays.append(relay)
    peer, _ = server.accept()
    assert relay.first_line() == b"connected"
    return relay, peer


def test_output_is_appended_and_keys_are_forwarded(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    (tmp_path / "console.raw").write_bytes(b"before|")
    relay, peer = connect(server, socket_path, tmp_path, relays)
    with peer:
        peer.sendall(b"\x1b[2J Boot Manager")
        wait_until(
            lambda: relay.transcript.read_bytes() == b"before|\x1b[2J Boot Manager",
            deadline=Deadline(20),
            what="the transcript",
        )
        relay.press(b"\x1b[B\r")
        peer.settimeout(20)
        received = b""
        while len(received) < 4:
            received += peer.recv(16)
        assert received == b"\x1b[B\r"
        relay.close_stdin()
        assert relay.finish() == (0, b"")


def test_a_mebibyte_burst_arrives_whole_and_the_peers_hangup_ends_it(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    burst = os.urandom(1024 * 1024)
    relay, peer = connect(server, socket_path, tmp_path, relays)
    with peer:
        peer.sendall(burst)
    assert relay.finish() == (0, b"")  # stdin is still open: the hang-up alone ends it
    assert relay.transcript.read_bytes() == burst


def test_bytes_written_one_at_a_time_as_qemu_does_are_all_kept(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    text = bytes(range(256)) * 64
    relay, peer = connect(server, socket_path, tmp_path, relays)
    with peer:
        for index in range(len(text)):
            peer.send(text[index : index + 1])
    assert relay.finish() == (0, b"")
    assert relay.transcript.read_bytes() == text


def test_closing_stdin_ends_it_after_taking_in_what_was_already_sent(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    """The harness closes stdin at teardown; what the firmware sent before is still read."""
    burst = os.urandom(1024 * 1024)
    relay, peer = connect(server, socket_path, tmp_path, relays)
    relay.process.send_signal(signal.SIGSTOP)  # a relay lagging behind: the socket fills up
    sender = threading.Thread(target=peer.sendall, args=(burst,))
    sender.start()
    time.sleep(0.2)
    relay.close_stdin()  # the end of stdin and a full socket are both waiting for it
    relay.process.send_signal(signal.SIGCONT)
    sender.join(timeout=20)
    peer.close()
    assert relay.finish() == (0, b"")
    assert relay.transcript.read_bytes() == burst


def test_a_peer_that_keeps_talking_does_not_hold_up_the_end(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    relay, peer = connect(server, socket_path, tmp_path, relays)
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            try:
                peer.sendall(b"Downloading...")
            except OSError:
                return
            time.sleep(0.01)

    talker = threading.Thread(target=chatter)
    talker.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        relay.close_stdin()
        assert relay.finish()[0] == 0
        assert time.monotonic() - started < 5.0
    finally:
        stop.set()
        talker.join()
        peer.close()


def test_ctrl_c_is_left_to_the_harness(
    server: socket.socket, socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    relay, peer = connect(server, socket_path, tmp_path, relays)
    with peer:
        relay.process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert relay.process.poll() is None
        relay.close_stdin()
        assert relay.finish() == (0, b"")


def test_a_socket_that_listens_late_is_tried_again(
    socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    relay = Relay(socket_path, tmp_path / "console.raw")
    relays.append(relay)
    time.sleep(0.3)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(socket_path))
        time.sleep(0.3)  # the file exists but nothing listens: refused
        listener.listen(1)
        listener.settimeout(20)
        peer, _ = listener.accept()
        with peer:
            assert relay.first_line() == b"connected"
    assert relay.finish() == (0, b"")


def test_no_listener_is_one_line_and_status_2_without_a_traceback(
    socket_path: Path, tmp_path: Path, relays: list[Relay]
) -> None:
    relay = Relay(socket_path, tmp_path / "console.raw", "0.3")
    relays.append(relay)
    line = relay.first_line()
    assert line.startswith(b"cannot connect to ")
    assert str(socket_path).encode() in line
    assert relay.finish() == (2, b"")
