"""A separate process between QEMU's serial pipes and the harness: bytes out go to a file.

QEMU's ``-chardev pipe`` writes each byte the firmware sends to ``BASE.out`` at once, from the
guest's own write to the UART, and reads keys from ``BASE.in``. The relay widens ``BASE.out`` to
a mebibyte, more than a whole boot prints, so QEMU's write never waits and its UART never drops
a byte however late the reader is (a unix socket holds only a few hundred one-byte writes; on a
starved machine QEMU gave up on the last bytes before a power-off). Because every byte is in the
pipe by the time the guest's next instruction runs, an empty pipe after the guest stopped means
everything it printed was taken in: no quiet pause stands for "done".

    python -m httpboot_harness.serial_relay BASE TRANSCRIPT

Its first line on stdout is ``ready`` once both pipes are open (the harness resumes the guest
only then), or one line saying why they could not be opened (exit status 2). It appends what
the firmware prints to TRANSCRIPT and forwards the keys it reads on stdin; it ends, with status
0, when its stdin closes, after taking in everything already in the pipe.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import selectors
import signal
import sys
from pathlib import Path

PIPE_BYTES = 1 << 20
"""The output pipe's size: a whole boot's console (a few hundred KiB) fits with room to spare."""
PIPE_MAX = Path("/proc/sys/fs/pipe-max-size")


def pipe_paths(base: str | os.PathLike[str]) -> tuple[Path, Path]:
    """QEMU's names for a pipe chardev's two FIFOs: (keys in, output out)."""
    return Path(f"{os.fspath(base)}.in"), Path(f"{os.fspath(base)}.out")


def relay(base: str, transcript: str) -> int:
    # Ctrl-C is the harness's to handle; the relay ends when the harness closes its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keys_path, output_path = pipe_paths(base)
    try:
        # Read-write opens of a FIFO never wait for the other side, and never read an end of
        # file while QEMU restarts or is slow to open its ends.
        output = os.open(output_path, os.O_RDWR | os.O_NONBLOCK)
        keys_in = os.open(keys_path, os.O_RDWR)
    except OSError as exc:
        print(f"cannot open the serial pipes {base}.in/.out: {exc}", flush=True)
        return 2
    _widen(output)
    print("ready", flush=True)  # the harness resumes the guest only after this line
    keys = sys.stdin.fileno()
    out = os.open(transcript, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(output, selectors.EVENT_READ)
            selector.register(keys, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fd == output:
                        _take(output, out)
                        continue
                    pressed = os.read(keys, 4096)
                    if not pressed:
                        _take(output, out)
                        return 0
                    _write_all(keys_in, pressed)
    finally:
        for fd in (out, output, keys_in):
            os.close(fd)


def _widen(fd: int) -> None:
    """As large as the system lets this user make it; the default 64 KiB still works."""
    sizes = [PIPE_BYTES]
    with contextlib.suppress(OSError, ValueError):
        sizes.append(min(PIPE_BYTES, int(PIPE_MAX.read_text())))
    for size in sizes:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
            return


def _take(output: int, out: int) -> None:
    """Append everything the pipe holds now to the transcript."""
    while True:
        try:
            data = os.read(output, 65536)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            raise
        if not data:
            return
        _write_all(out, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # a write may be short; no byte may be lost
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], sys.argv[2]))
