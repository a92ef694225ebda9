"""A separate process between QEMU's serial socket and the harness: bytes out go to a file.

QEMU writes the serial line one byte per socket write, and a unix socket holds only a few
hundred of those; when the reader lags, QEMU's UART retries and then drops bytes (seen as
escape sequences cut in half on a busy machine). This process does nothing but move bytes: it
appends everything the firmware prints to the transcript file, which never pushes back, and
forwards the keys it reads on stdin to the firmware.

    python -m httpboot_harness.serial_relay SOCKET TRANSCRIPT
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys


def relay(socket_path: str, transcript: str) -> int:
    # Ctrl-C is the harness's to handle; the relay ends when the harness closes its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    serial.connect(socket_path)
    print("connected", flush=True)  # the harness resumes the guest only after this line
    keys = sys.stdin.fileno()
    with open(transcript, "ab", buffering=0) as out:
        selector = selectors.DefaultSelector()
        selector.register(serial, selectors.EVENT_READ)
        selector.register(keys, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is serial:
                    data = serial.recv(65536)
                    if not data:
                        return 0
                    out.write(data)
                else:
                    pressed = os.read(keys, 4096)
                    if not pressed:
                        return 0
                    serial.sendall(pressed)


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], sys.argv[2]))
