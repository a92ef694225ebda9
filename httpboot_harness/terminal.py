"""Serial bytes to text, whichever terminal type the firmware chose.

edk2's terminal driver writes its setup pages in one of several encodings, and builds differ:
PC-ANSI draws boxes and arrows in code page 437 (Debian 12's OVMF), VT-UTF8 writes them as UTF-8
(Debian 13's OVMF), VT100 falls back to plain ASCII. Nothing on the line says which one is in
use, so the decoder reads the evidence: a byte that cannot be part of UTF-8 settles code page
437, a multi-byte sequence that code page 437 text practically never forms settles UTF-8. Until
then ASCII passes through, valid UTF-8 sequences are taken as UTF-8 and any other byte as code
page 437. Bytes split across chunks are kept until their sequence is complete. Nothing here
raises: a bad byte becomes its code page 437 character, so the transcript keeps every byte.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["utf-8", "cp437"]

# Two-byte sequences (lead 0xC2-0xDF) occur in code page 437 text by chance ("─┐" is C4 BF),
# three- and four-byte ones almost never do; so one long sequence settles UTF-8, short ones
# only when this many came with no invalid byte among them.
SHORT_SEQUENCES_TO_SETTLE = 4


def _sequence_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence a lead byte starts; 0 when it cannot start one."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


_SECOND_BYTE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def _continuation_ok(lead: int, index: int, byte: int) -> bool:
    """Whether ``byte`` may follow at ``index`` (1-based) of a sequence started by ``lead``:
    the second byte's range is narrower after E0, ED, F0 and F4 (no overlong forms, no
    surrogates, nothing above U+10FFFF)."""
    low, high = _SECOND_BYTE.get(lead, (0x80, 0xBF)) if index == 1 else (0x80, 0xBF)
    return low <= byte <= high


class TerminalDecoder:
    """Incremental: feed each chunk as it arrives, get back the text it completes."""

    def __init__(self, encoding: Encoding | None = None) -> None:
        self.encoding: Encoding | None = encoding
        """None until the stream has shown which one it is (or as given)."""
        self._pending = b""
        self._short_sequences = 0

    def decode(self, data: bytes) -> str:
        """The text of ``data`` (with any bytes held back from the last chunk); a sequence cut
        at the end is held back for the next call."""
        buffer = self._pending + data
        self._pending = b""
        if self._is_cp437():
            return buffer.decode("cp437")
        out: list[str] = []
        plain_from = 0  # start of the run of bytes not yet written out
        i, size = 0, len(buffer)
        while i < size:
            byte = buffer[i]
            if byte < 0x80:
                i += 1
                continue
            if plain_from < i:
                out.append(buffer[plain_from:i].decode("ascii"))
            length = _sequence_length(byte)
            valid = 1
            while valid < length and i + valid < size:
                if not _continuation_ok(byte, valid, buffer[i + valid]):
                    break
                valid += 1
            if length and valid < length and i + valid == size:
                self._pending = buffer[i:]  # cut at the chunk's end: wait for the rest
                return "".join(out)
            if length and valid == length:
                out.append(buffer[i : i + length].decode("utf-8"))
                self._note_utf8(length)
                i += length
            else:
                out.append(bytes([byte]).decode("cp437"))
                self._note_invalid()
                i += 1
            plain_from = i
            if self._is_cp437():  # settled just now: the rest needs no more evidence
                out.append(buffer[i:].decode("cp437"))
                return "".join(out)
        out.append(buffer[plain_from:].decode("ascii"))
        return "".join(out)

    def flush(self) -> str:
        """What is held back, as it stands (the stream ended mid-sequence)."""
        rest, self._pending = self._pending, b""
        return rest.decode("cp437")

    def _is_cp437(self) -> bool:
        return self.encoding == "cp437"

    def _note_utf8(self, length: int) -> None:
        if self.encoding is not None:
            return
        self._short_sequences += length == 2
        if length > 2 or self._short_sequences >= SHORT_SEQUENCES_TO_SETTLE:
            self.encoding = "utf-8"

    def _note_invalid(self) -> None:
        if self.encoding is None:
            self.encoding = "cp437"


ESC = "\x1b"
_TWO_CHARACTER_INTRODUCERS = "()#%"
"""ESC ( B and the like: the escape takes one more character before it is complete."""
LONGEST_SEQUENCE = 64
"""An escape longer than any edk2 writes: passed on as it is rather than held forever."""


class EscapeRestarter:
    """Applies a real terminal's rule that pyte lacks: an ESC arriving inside an unfinished
    escape sequence abandons it and starts a new one. pyte instead prints what follows as text
    (``ESC ESC [0m`` leaves a literal ``[0m`` in the current colours); in the highlight colours
    that reads as a second highlighted entry until the row is drawn again, which OVMF's
    Front Page never does for its bottom rows. Sequences split across chunks are held back
    until complete, so the cut is right wherever the chunks end."""

    def __init__(self) -> None:
        self._pending = ""

    def filter(self, text: str) -> str:
        out: list[str] = []
        index, size = 0, len(text)
        while index < size:
            if not self._pending:
                escape = text.find(ESC, index)
                if escape < 0:
                    out.append(text[index:])
                    break
                out.append(text[index:escape])
                self._pending, index = ESC, escape + 1
                continue
            char = text[index]
            index += 1
            if char == ESC:
                self._pending = ESC  # the unfinished sequence is abandoned
                continue
            self._pending += char
            if _complete(self._pending) or len(self._pending) >= LONGEST_SEQUENCE:
                out.append(self._pending)
                self._pending = ""
        return "".join(out)


def _complete(sequence: str) -> bool:
    """Whether ``sequence`` (ESC and what followed so far, at least one character) is whole."""
    introducer = sequence[1]
    if introducer == "[":
        return len(sequence) > 2 and "\x40" <= sequence[-1] <= "\x7e"
    if introducer == "]":  # an operating system command ends with BEL or ST
        return sequence.endswith(("\x07", ESC + "\\"))
    if introducer in _TWO_CHARACTER_INTRODUCERS:
        return len(sequence) > 2
    return True
