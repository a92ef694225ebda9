"""The firmware's serial console: the line (transport) and what it draws (a pyte screen).

OVMF's setup UI is a full-screen terminal application, so it is read as a screen, never grepped
from the raw stream: the highlighted entry is the one drawn white on black. What the menus mean
lives in ``ovmf_menu``. Progress lines of the boot itself (``Station IP address is``,
``Downloading...100%``) are read from the plain text of the stream, escape sequences removed.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import queue
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pyte

from . import stop
from .errors import HarnessTimeout, InfrastructureError, MachineError
from .terminal import EscapeRestarter, TerminalDecoder
from .waiting import Deadline

# The screen starts in the terminal mode OVMF's setup pages used up to edk2 2025.02: 80 columns
# (the width of their boxes) and 50 rows (their help box sits on rows 45-48). A firmware that
# picks another mode says so (xterm's "resize to R rows, C columns", ``ESC [ 8 ; R ; C t``, sent
# by edk2 2026.08 for its 240 x 56 mode), and a cursor move beyond the screen grows it: a screen
# smaller than the firmware's would clamp its moves and pile rows on top of each other.
COLUMNS, LINES = 80, 50
MAX_COLUMNS, MAX_LINES = 320, 128
"""Beyond these a size or cursor move is taken for bytes mangled on a starved line."""
HIGHLIGHT = ("white", "black")  # (foreground, background) of the selected menu entry


def help_column(columns: int) -> int:
    """Where a setup page's help text begins: edk2's form browser gives prompts, values and
    help a third of the width each, so on 80 columns the help starts at column 55."""
    return (2 * columns) // 3 + 2


HELP_MARKS = ("=Select Entry", "=Move Highlight", "Esc=Exit", "=Discard Changes")
KEY_UP, KEY_DOWN, KEY_ENTER, KEY_ESC = b"\x1b[A", b"\x1b[B", b"\r", b"\x1b"
KEY_F2 = b"\x1b[N"
"""F2 as edk2's PC-ANSI terminal reads it (OVMF's serial console); others read its ESC."""
KEY_BACKSPACE = b"\x08"
RELAY_EXIT_GRACE = 2.0
RELAY_NICENESS = -10
READER_JOIN_SECONDS = 20.0
"""The reader thread reads a local file to its end and stops; the bound is for a frozen host."""
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
"""The relay's PYTHONPATH: it starts without site (``-S``), so it finds the package here."""
_ESCAPES = re.compile(r"\x1b(\[[0-9;?=]*[A-Za-z]|[()][0-9A-Za-z]|[=>78cDEHM])")


class MachineGone(Exception):
    """QEMU ended while the console was being read or written (who ended it decides)."""


class SerialLineLost(InfrastructureError):
    """The serial line broke while QEMU ran: the harness lost its view, the firmware did not."""


def plain_text(raw: str) -> str:
    """The stream without terminal escape sequences, carriage-return overwrites kept as lines."""
    return _ESCAPES.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")


def _hurry(pid: int) -> None:
    """Run the relay ahead of ordinary work: on a starved machine the firmware's output was
    seen to lose bytes while the reader lagged (escape sequences cut, progress lines missing).
    Best effort: an unprivileged user may not raise a priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, RELAY_NICENESS)


class _LenientScreen(pyte.Screen):
    """pyte's screen, applying a cursor or edit sequence that carries more parameters than the
    standard gives it (the firmware sends some) with the first one, instead of raising; taking
    the size the firmware announces, and growing to hold a cursor move beyond its edge."""

    def window_manipulation(self, *params: int, **_flags: object) -> None:
        """``ESC [ 8 ; rows ; columns t``: the terminal is to be that size (edk2 2026.08 sends
        it when it sets its text mode). Other window operations mean nothing here."""
        if len(params) >= 3 and params[0] == 8:
            self._grow_to(params[1], params[2], exact=True)

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        self._grow_to(line or 0, column or 0, exact=False)
        super().cursor_position(line, column)

    def _grow_to(self, lines: int, columns: int, *, exact: bool) -> None:
        if not (0 < lines <= MAX_LINES and 0 < columns <= MAX_COLUMNS):
            return
        if exact:
            if (lines, columns) != (self.lines, self.columns):
                self.resize(lines, columns)
        elif lines > self.lines or columns > self.columns:
            self.resize(max(lines, self.lines), max(columns, self.columns))

    def cursor_up(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_up(count)

    def cursor_up1(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_up1(count)

    def cursor_down(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_down(count)

    def cursor_down1(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_down1(count)

    def cursor_back(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_back(count)

    def cursor_forward(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_forward(count)

    def cursor_to_column(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_to_column(count)

    def cursor_to_line(self, count: int | None = None, *_extra: object) -> None:
        super().cursor_to_line(count)

    def insert_lines(self, count: int | None = None, *_extra: object) -> None:
        super().insert_lines(count)

    def delete_lines(self, count: int | None = None, *_extra: object) -> None:
        super().delete_lines(count)

    def insert_characters(self, count: int | None = None, *_extra: object) -> None:
        super().insert_characters(count)

    def delete_characters(self, count: int | None = None, *_extra: object) -> None:
        super().delete_characters(count)

    def erase_characters(self, count: int | None = None, *_extra: object) -> None:
        super().erase_characters(count)


class _FirmwareStream(pyte.Stream):
    """pyte's parser, also passing on xterm's window operations (``CSI ... t``)."""

    csi = {**pyte.Stream.csi, "t": "window_manipulation"}  # noqa: RUF012 (pyte's own shape)


class FirmwareScreen:
    """What a person would see on the firmware's terminal, fed with the decoded stream."""

    def __init__(self) -> None:
        self._screen = _LenientScreen(COLUMNS, LINES)
        self._stream = _FirmwareStream(self._screen)
        self._escapes = EscapeRestarter()
        self.unparsed = 0
        """Chunks the emulator could not apply (kept in the raw transcript all the same)."""

    def feed(self, text: str) -> None:
        try:
            self._stream.feed(self._escapes.filter(text))
        except (TypeError, ValueError, IndexError, KeyError):
            # pyte resets its parser after such an error; the screen misses part of one chunk.
            self.unparsed += 1

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self._screen.display).rstrip() + "\n"

    @property
    def size(self) -> tuple[int, int]:
        """(columns, lines) of the terminal mode the firmware is in."""
        return self._screen.columns, self._screen.lines

    @property
    def help_column(self) -> int:
        """Where a setup page's help text begins, in the mode shown."""
        return help_column(self._screen.columns)

    def state(self) -> tuple[tuple[str, ...], int, int]:
        """Every cell and the cursor: changes on any echo, even of a trailing space."""
        cursor = self._screen.cursor
        return tuple(self._screen.display), cursor.x, cursor.y

    def entries(self) -> tuple[str, ...]:
        """The page's text between its title box and its help box: what a page offers, for
        comparing two drawings of it. Empty while the help box is not drawn (an unfinished page)."""
        display = [line.rstrip() for line in self._screen.display]
        help_rows = [y for y, line in enumerate(display) if any(m in line for m in HELP_MARKS)]
        if not help_rows:
            return ()
        body, cut = display[3 : min(help_rows)], self.help_column
        return tuple(line[:cut].strip() for line in body if line[:cut].strip())

    def rows_with(self, label: str) -> list[int]:
        return [y for y, line in enumerate(self._screen.display) if label in line]

    def menu_rows(self, label: str, *, anywhere: bool = False) -> list[int]:
        """Rows where ``label`` starts in the menu column, not in the help text on the right;
        ``anywhere``: wherever it starts (a popup drawn in the middle of the screen)."""
        cut = self._screen.columns if anywhere else self.help_column
        return [y for y, line in enumerate(self._screen.display) if -1 < line.find(label) < cut]

    def highlighted_rows(self) -> list[int]:
        """Rows (not the bottom help line) with text drawn in the highlight colours."""
        display = self._screen.display
        # The key help at the bottom is drawn white on black too; it is never an entry. It is
        # the box below the entries (the title box is at the top), or a line of key names.
        help_rows = {y for y, line in enumerate(display) if any(m in line for m in HELP_MARKS)}
        box_tops = [y for y, line in enumerate(display) if line.startswith("┌") and y > 3]
        lines, columns = self._screen.lines, self._screen.columns
        if box_tops:
            help_rows.update(range(box_tops[-1], lines))
        # Nor is anything below the key help: bytes lost on a starved serial line leave stray
        # text there (an escape's tail drawn as "[46;01H" in the highlight colours), and the
        # firmware never draws those rows again.
        if help_rows:
            help_rows.update(range(min(help_rows), lines))
        rows = []
        for y in range(lines):
            if y in help_rows:
                continue
            line = self._screen.buffer[y]
            if any(
                (cell.fg, cell.bg) == HIGHLIGHT and cell.data.strip()
                for cell in (line[x] for x in range(columns))
            ):
                rows.append(y)
        return rows


class Console:
    """Reads and writes the serial line; keeps the raw transcript, the screen and the plain text.

    The bytes travel through :mod:`serial_relay`, a process of its own that appends them to
    the raw transcript as they come, so a busy harness never makes QEMU drop any; a thread
    here follows that file and dates each chunk as it appears.
    """

    def __init__(
        self,
        serial_pipe: Path,
        transcript: Path,
        alive: Callable[[], str | None],
        sink: Callable[[str], None] | None = None,
    ) -> None:
        transcript.write_bytes(b"")
        self._raw_file: IO[bytes] = transcript.open("rb")
        # -S: no site packages to scan at start; the relay needs the standard library only.
        self._relay = subprocess.Popen(
            [sys.executable, "-S", "-m", "httpboot_harness.serial_relay", str(serial_pipe),
             str(transcript)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _PACKAGE_PARENT},
        )  # fmt: skip
        _hurry(self._relay.pid)
        self._await_relay()
        self.screen = FirmwareScreen()
        self._decoder = TerminalDecoder()
        self._alive = alive
        self._sink = sink
        """Receives every decoded chunk as it arrives (``httpboot-harness run`` shows it live)."""
        self._decoded: list[str] = []
        self._arrivals: list[tuple[int, float]] = []
        """(end offset in the raw text, monotonic time) of each chunk, to date what was printed."""
        self._raw_length = 0
        self.snapshots: list[tuple[float, str, str]] = []
        self._text_cache: tuple[int, str, str] = (0, "", "")
        self.first_output: float | None = None
        self.last_output: float | None = None
        self._chunks: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._closed = False
        self._keys_sent: list[float] = []
        self.power_on: tuple[int, int] = (0, 0)
        """(raw, plain) offsets where the latest power-on's output begins (a reset moves it)."""
        self.guard: Callable[[], None] | None = None
        """Called on every liveness check: raises when what was printed ends the wait (a menu
        walk watching for a boot it did not choose)."""
        self._reader = threading.Thread(target=self._drain, name="serial-reader", daemon=True)
        self._reader.start()

    def _await_relay(self, seconds: float = 15.0) -> None:
        """Wait until the relay has the pipes open; the guest is resumed only then. A stop
        meanwhile ends the relay here: the caller has no Console to close yet."""
        line = b""
        deadline = Deadline(seconds)
        try:
            while self._relay.stdout is not None and not deadline.expired():
                stop.check()
                slice_ = min(0.2, deadline.remaining())
                ready, _, _ = select.select([self._relay.stdout], [], [], slice_)
                if ready:
                    line = self._relay.stdout.readline()
                    break
        except stop.Interrupted:
            self._end_relay()
            raise
        if line.strip() != b"ready":
            self._end_relay()
            said = line.decode(errors="replace").strip() or f"no word within {seconds:.0f} s"
            raise MachineError(f"the serial relay could not start: {said}")

    def _end_relay(self) -> None:
        self._relay.kill()
        self._relay.wait()
        self._close_pipes()
        self._raw_file.close()

    def _close_pipes(self) -> None:
        for pipe in (self._relay.stdin, self._relay.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _drain(self) -> None:
        """The follower thread: move what the relay appended to the queue, dated on arrival."""
        idle = 0.0
        while True:
            data = self._raw_file.read(65536)
            if data:
                self._chunks.put((time.monotonic(), data))
                idle = 0.0
                continue
            if self._stop.is_set() or self._relay.poll() is not None:
                break
            idle = min(idle + 0.002, 0.02)
            time.sleep(idle)  # polling a growing file: the only wait is for new bytes
        rest = self._raw_file.read()
        if rest:
            self._chunks.put((time.monotonic(), rest))
        self._chunks.put(None)

    # -- reading ---------------------------------------------------------------------------
    def pump(self, timeout: float) -> bool:
        """Take in what the reader thread received, waiting up to ``timeout`` for the first
        chunk; False when nothing came. Every menu walk and the boot loop read through here, so
        a requested stop raises :class:`stop.Interrupted` here (before the wait and after it)."""
        stop.check()
        took = self._pump(timeout)
        stop.check()
        return took

    def _pump(self, timeout: float) -> bool:
        """:meth:`pump` without the stop check: :meth:`close` takes in the last bytes also on
        the way out of a stop."""
        try:
            item = self._chunks.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return False
        if item is None:  # the line closed: keep answering "nothing came"
            self._chunks.put(None)
            time.sleep(min(timeout, 0.05))
            return False
        self._take(*item)
        while True:  # and whatever else is already there
            try:
                item = self._chunks.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._chunks.put(None)
                break
            self._take(*item)
        return True

    def _take(self, arrived: float, data: bytes) -> None:
        if self.first_output is None:
            self.first_output = arrived
        self.last_output = arrived
        text = self._decoder.decode(data)  # code page 437 or UTF-8, whichever the firmware uses
        self._decoded.append(text)
        self._raw_length += len(text)
        self._arrivals.append((self._raw_length, arrived))
        self.screen.feed(text)
        if self._sink is not None:
            self._sink(text)

    def settle(self, deadline: Deadline, pause: float = 0.12) -> None:
        """Read until the firmware pauses for ``pause`` or the deadline passes. A pause is only
        a good moment to look at the screen, never proof that a drawing is finished."""
        while not deadline.expired() and self.pump(min(pause, deadline.remaining())):
            self.check_alive()

    def _texts(self) -> tuple[str, str]:
        """(raw, plain) of everything so far, rebuilt only when new chunks came in: the boot
        loop asks for both on every pass."""
        count, raw, plain = self._text_cache
        if count != len(self._decoded):
            raw = "".join(self._decoded)
            plain = plain_text(raw)
            self._text_cache = (len(self._decoded), raw, plain)
        return raw, plain

    @property
    def raw_text(self) -> str:
        return self._texts()[0]

    @property
    def plain(self) -> str:
        return self._texts()[1]

    def mark_power_on(self) -> None:
        """The machine was reset: what it prints from now on is a new power-on's."""
        raw, plain = self._texts()
        self.power_on = (len(raw), len(plain))

    @property
    def plain_since_power_on(self) -> str:
        return self.plain[self.power_on[1] :]

    def arrival(self, needle: str) -> float | None:
        """Monotonic time at which ``needle`` was complete in the raw stream since the latest
        power-on, or None."""
        index = self.raw_text.find(needle, self.power_on[0])
        if index < 0:
            return None
        end = index + len(needle)
        position = bisect.bisect_left(self._arrivals, end, key=lambda item: item[0])
        return self._arrivals[position][1] if position < len(self._arrivals) else None

    def restore_screen(self, transcript: bytes) -> None:
        """Show what a terminal that stayed connected would show: the screen of a restored
        machine, rebuilt from the transcript saved with it. Fed to the screen only: it is not
        this run's output (no arrival, no plain text, no ``first_output``)."""
        self.screen.feed(TerminalDecoder().decode(transcript))

    def snapshot(self, label: str) -> None:
        """Keep the screen as a person saw it when the harness acted (for screens.txt)."""
        self.snapshots.append((time.monotonic(), label, self.screen.text()))

    def held_keys_back(self) -> float:
        """Seconds between the firmware's latest output and each key sent so far, summed: the
        harness's own share of a menu walk (looking, deciding, waiting for a quiet moment). The
        rest of the walk is the firmware's (starting its setup application, drawing pages)."""
        held = 0.0
        for sent in self._keys_sent:
            before = bisect.bisect_right(self._arrivals, sent, key=lambda item: item[1]) - 1
            if before >= 0:  # a key before any output waits for the firmware, not the harness
                held += sent - self._arrivals[before][1]
        return held

    # -- writing ---------------------------------------------------------------------------
    def send(self, keys: bytes) -> None:
        self.check_alive()
        assert self._relay.stdin is not None
        try:
            self._relay.stdin.write(keys)
            self._relay.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            self.check_alive()
            raise SerialLineLost(f"the serial line is closed: {exc}") from exc
        self._keys_sent.append(time.monotonic())

    def check_alive(self) -> None:
        """MachineGone when QEMU ended; SerialLineLost when the line broke while QEMU runs;
        Interrupted when a stop was requested."""
        stop.check()
        death = self._alive()
        if death is not None:
            raise MachineGone(death)
        code = self._relay.poll()
        if code is None:
            if self.guard is not None:
                self.guard()
            return
        # QEMU closes the line as it exits: give its exit a moment to show before blaming the line.
        settle = Deadline(RELAY_EXIT_GRACE)
        while not settle.expired():
            death = self._alive()
            if death is not None:
                raise MachineGone(death)
            time.sleep(0.05)
        raise SerialLineLost(f"the serial relay ended (status {code}) while QEMU was running")

    def wait_for(self, predicate: Callable[[], bool], deadline: Deadline, what: str) -> None:
        """Read until ``predicate`` holds; the deadline running out is the harness's timeout."""
        while not predicate():
            self.check_alive()
            if deadline.expired():
                raise HarnessTimeout(f"timed out waiting for {what}")
            self.pump(min(0.2, deadline.remaining()))

    def close(self) -> None:
        """Stop the relay (closing its stdin ends it), then take in the last bytes. Twice is
        once."""
        if self._closed:
            return
        self._closed = True
        if self._relay.stdin is not None:
            with contextlib.suppress(OSError):
                self._relay.stdin.close()
        try:
            self._relay.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._relay.kill()
            self._relay.wait()
        self._close_pipes()
        self._stop.set()
        self._reader.join(timeout=READER_JOIN_SECONDS)
        while self._pump(0.0):  # keep what arrived before the thread stopped
            pass
        self._raw_file.close()
