"""The serial relay as the harness runs it, against FIFOs held the way QEMU's pipe chardev
holds them: every byte reaches the transcript, keys reach the other side, a stopped relay never
makes the writer wait, and it ends cleanly when the harness closes its stdin."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpboot_harness.console import KEY_DOWN, KEY_ESC, Console
from httpboot_harness.serial_relay import pipe_paths
from httpboot_harness.waiting import Deadline, wait_until


class FakeQemu:
    """Both FIFOs opened read-write and non-blocking, as ``-chardev pipe`` opens them."""

    def __init__(self, base: Path) -> None:
        keys_path, output_path = pipe_paths(base)
        for fifo in (keys_path, output_path):
            os.mkfifo(fifo, 0o600)
        self.keys = os.open(keys_path, os.O_RDWR | os.O_NONBLOCK)
        self.output = os.open(output_path, os.O_RDWR | os.O_NONBLOCK)

    def print_bytewise(self, data: bytes) -> int:
        """Write one byte per call as the UART does; how many writes found the pipe full."""
        full = 0
        for index in range(len(data)):
            while True:
                try:
                    os.write(self.output, data[index : index + 1])
                    break
                except BlockingIOError:
                    full += 1
                    time.sleep(0.001)
        return full

    def read_keys(self, count: int) -> bytes:
        received = b""
        deadline = Deadline(20)
        while len(received) < count and not deadline.expired():
            try:
                received += os.read(self.keys, 64)
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    raise
                time.sleep(0.01)
        return received

    def close(self) -> None:
        os.close(self.keys)
        os.close(self.output)


class Relay:
    """``python -m httpboot_harness.serial_relay`` with pipes, as console.Console starts it."""

    def __init__(self, base: Path, transcript: Path) -> None:
        self.transcript = transcript
        self.process = subprocess.Popen(
            [sys.executable, "-m", "httpboot_harness.serial_relay", str(base), str(transcript)],
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
def qemu(tmp_path: Path) -> Iterator[FakeQemu]:
    fake = FakeQemu(tmp_path / "serial")
    yield fake
    fake.close()


@pytest.fixture
def relays() -> Iterator[list[Relay]]:
    started: list[Relay] = []
    yield started
    for relay in started:
        relay.kill()


def start(tmp_path: Path, relays: list[Relay]) -> Relay:
    relay = Relay(tmp_path / "serial", tmp_path / "console.raw")
    relays.append(relay)
    assert relay.first_line() == b"ready"
    return relay


def test_output_is_appended_and_keys_are_forwarded(
    qemu: FakeQemu, tmp_path: Path, relays: list[Relay]
) -> None:
    (tmp_path / "console.raw").write_bytes(b"before|")
    relay = start(tmp_path, relays)
    qemu.print_bytewise(b"\x1b[2J Boot Manager")
    wait_until(
        lambda: relay.transcript.read_bytes() == b"before|\x1b[2J Boot Manager",
        deadline=Deadline(20),
        what="the transcript",
    )
    relay.press(b"\x1b[B\r")
    assert qemu.read_keys(4) == b"\x1b[B\r"
    relay.close_stdin()
    assert relay.finish() == (0, b"")


def test_a_stopped_relay_never_makes_the_writer_wait_and_loses_nothing(
    qemu: FakeQemu, tmp_path: Path, relays: list[Relay]
) -> None:
    """Half a mebibyte, one byte per write, while the relay is not running at all: the pipe
    takes every byte at once (the UART never retries, so never drops), and closing stdin
    afterwards still takes all of it in."""
    text = bytes(range(256)) * 2048
    relay = start(tmp_path, relays)
    relay.process.send_signal(signal.SIGSTOP)
    try:
        assert qemu.print_bytewise(text) == 0
        relay.close_stdin()
    finally:
        relay.process.send_signal(signal.SIGCONT)
    assert relay.finish() == (0, b"")
    assert relay.transcript.read_bytes() == text


def test_a_writer_that_keeps_talking_does_not_hold_up_the_end(
    qemu: FakeQemu, tmp_path: Path, relays: list[Relay]
) -> None:
    relay = start(tmp_path, relays)
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            qemu.print_bytewise(b"Downloading...")
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
    assert relay.transcript.read_bytes().startswith(b"Downloading...")


def test_ctrl_c_is_left_to_the_harness(qemu: FakeQemu, tmp_path: Path, relays: list[Relay]) -> None:
    relay = start(tmp_path, relays)
    relay.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert relay.process.poll() is None
    relay.close_stdin()
    assert relay.finish() == (0, b"")


def test_missing_pipes_are_one_line_and_status_2_without_a_traceback(
    tmp_path: Path, relays: list[Relay]
) -> None:
    relay = Relay(tmp_path / "serial", tmp_path / "console.raw")
    relays.append(relay)
    line = relay.first_line()
    assert line.startswith(b"cannot open the serial pipes ")
    assert str(tmp_path / "serial").encode() in line
    assert relay.finish() == (2, b"")


def test_the_console_counts_how_long_it_held_each_key_back(qemu: FakeQemu, tmp_path: Path) -> None:
    """Console over the relay: what the firmware printed arrives, keys go out, and the time
    between the latest output and a key is the harness's (a key before any output is not)."""
    console = Console(tmp_path / "serial", tmp_path / "console.raw", alive=lambda: None)
    try:
        console.send(KEY_ESC)
        assert console.held_keys_back() == 0.0
        qemu.print_bytewise(b"Boot Manager")
        console.wait_for(lambda: "Boot Manager" in console.plain, Deadline(20), "the output")
        time.sleep(0.3)
        console.send(KEY_DOWN)
        assert console.held_keys_back() >= 0.3
        assert qemu.read_keys(4) == KEY_ESC + KEY_DOWN
    finally:
        console.close()
    assert (tmp_path / "console.raw").read_bytes() == b"Boot Manager"
