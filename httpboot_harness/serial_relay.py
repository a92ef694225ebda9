"""A separate process between QEMU's serial socket and the harness: bytes out go to a file.

QEMU writes the serial line one byte per socket write, and a unix socket holds only a few
hundred of those; when the reader lags, QEMU's UART retries and then drops bytes (seen as
escape sequences cut in half on a busy machine). This process does nothing but move bytes: it
appends everything the firmware prints to the transcript file, which never pushes back, and
forwards the keys it reads on stdin to the firmware.

    python -m httpboot_harness.serial_relay SOCKET TRANSCRIPT [CONNECT_SECONDS]

Its first line on stdout is ``connected`` once the socket is open (the harness resumes the guest
only then), or one line saying why it could not connect (exit status 2). It ends, with status 0,
when its stdin closes (after taking in what the firmware had already sent) or the peer hangs up.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

CONNECT_SECONDS = 10.0
"""How long a refused or missing socket is tried again: a loaded QEMU can be slow to listen.
Shorter than the harness's own wait for the first line, so the reason printed here is seen."""
DRAIN_QUIET = 0.1
DRAIN_LIMIT = 1.0
"""When stdin closes: read on until the firmware was quiet for DRAIN_QUIET, at most DRAIN_LIMIT."""


def relay(socket_path: str, transcript: str, connect_seconds: float = CONNECT_SECONDS) -> int:
    # Ctrl-C is the harness's to handle; the relay ends when the harness closes its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serial = _connect(socket_path, connect_seconds)
    except OSError as exc:
        print(f"cannot connect to {socket_path} within {connect_seconds:.1f} s: {exc}", flush=True)
        return 2
    print("connected", flush=True)  # the harness resumes the guest only after this line
    keys = sys.stdin.fileno()
    out = os.open(transcript, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with serial, selectors.DefaultSelector() as selector:
            selector.register(serial, selectors.EVENT_READ)
            selector.register(keys, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is serial:
                        if not _take(serial, out):
                            return 0
                        continue
                    pressed = os.read(keys, 4096)
                    if not pressed:
                        _drain(serial, out)
                        return 0
                    try:
                        serial.sendall(pressed)
                    except OSError:  # the peer is gone: keep what it sent before
                        _drain(serial, out)
                        return 0
    finally:
        os.close(out)


def _connect(path: str, seconds: float) -> socket.socket:
    """Connect, trying again while the socket is missing or refused, until ``seconds`` pass."""
    give_up = time.monotonic() + seconds
    while True:
        serial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            serial.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            serial.close()
            if time.monotonic() >= give_up:
                raise
            time.sleep(0.05)
            continue
        except OSError:
            serial.close()
            raise
        return serial


def _take(serial: socket.socket, out: int) -> bool:
    """Append what the socket has to the transcript; False once the peer has hung up."""
    try:
        data = serial.recv(65536)
    except OSError:  # reset by the peer
        return False
    if not data:
        return False
    view = memoryview(data)
    while view:  # a write to a file may be short; no byte may be lost
        view = view[os.write(out, view) :]
    return True


def _drain(serial: socket.socket, out: int) -> None:
    """Take in what the firmware had already sent, without waiting for a peer that stays."""
    stop = time.monotonic() + DRAIN_LIMIT
    with selectors.DefaultSelector() as selector:
        selector.register(serial, selectors.EVENT_READ)
        while (left := stop - time.monotonic()) > 0:
            if not selector.select(min(DRAIN_QUIET, left)) or not _take(serial, out):
                return


if __name__ == "__main__":
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else CONNECT_SECONDS
    sys.exit(relay(sys.argv[1], sys.argv[2], seconds))
