"""The console decoder: code page 437 or UTF-8, settled from the stream, chunk cuts anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.console import FirmwareScreen
from httpboot_harness.terminal import TerminalDecoder

BOX = "┌──────┐\r\n│ Boot │\r\n└──────┘\r\n►Device Manager ↑↓=Move Highlight"


def decode_in_chunks(data: bytes, size: int) -> tuple[str, TerminalDecoder]:
    decoder = TerminalDecoder()
    text = "".join(decoder.decode(data[i : i + size]) for i in range(0, len(data), size))
    return text + decoder.flush(), decoder


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_utf8_boxes_are_read_whatever_the_chunk_cuts(size: int) -> None:
    text, decoder = decode_in_chunks(BOX.encode("utf-8"), size)
    assert text == BOX
    assert decoder.encoding == "utf-8"


@pytest.mark.parametrize("size", [1, 2, 3, 64])
def test_code_page_437_boxes_are_read_whatever_the_chunk_cuts(size: int) -> None:
    drawn = "┌──────┐\r\n│ Boot │\r\n└──────┘\r\n"
    text, decoder = decode_in_chunks(drawn.encode("cp437"), size)
    assert text == drawn
    assert decoder.encoding == "cp437"


def test_ascii_alone_settles_nothing() -> None:
    decoder = TerminalDecoder()
    assert decoder.decode(b"BdsDxe: loading Boot0001\r\n>Device Manager") == (
        "BdsDxe: loading Boot0001\r\n>Device Manager"
    )
    assert decoder.encoding is None


def test_a_sequence_cut_at_the_end_is_held_until_its_rest_comes() -> None:
    decoder = TerminalDecoder()
    arrow = "►".encode()
    assert decoder.decode(b"x" + arrow[:2]) == "x"
    assert decoder.decode(arrow[2:] + b"y") == "►y"


def test_one_short_sequence_does_not_settle_utf8() -> None:
    # Code page 437's "─┐" is C4 BF, a valid two-byte UTF-8 sequence: not evidence enough.
    decoder = TerminalDecoder()
    decoder.decode("─┐".encode("cp437"))
    assert decoder.encoding is None
    decoder.decode("└─".encode("cp437"))  # C0 is never UTF-8
    assert decoder.encoding == "cp437"
    assert decoder.decode("─┐".encode("cp437")) == "─┐"


def test_after_utf8_is_settled_a_bad_byte_is_kept_as_its_code_page_437_character() -> None:
    decoder = TerminalDecoder()
    assert decoder.decode("►".encode()) == "►"
    assert decoder.decode(b"\xff\xc4A\xe2\x94") == "\xa0─A"
    assert decoder.encoding == "utf-8"
    assert decoder.decode(b"\x80") == "─"


def test_bad_bytes_never_raise() -> None:
    decoder = TerminalDecoder()
    data = bytes(range(256)) * 3
    text = decoder.decode(data) + decoder.flush()
    assert len(text) == len(data)


def test_flush_gives_out_a_cut_sequence() -> None:
    decoder = TerminalDecoder()
    assert decoder.decode(b"ok\xe2\x94") == "ok"
    assert decoder.flush() == "Γö"
    assert decoder.flush() == ""


def test_escape_sequences_pass_through() -> None:
    decoder = TerminalDecoder()
    raw = "\x1b[0m\x1b[37m\x1b[40m\x1b[10;02H►\x1b[10;04HDevice Manager".encode()
    assert decoder.decode(raw) == raw.decode("utf-8")


def test_an_encoding_can_be_given() -> None:
    decoder = TerminalDecoder("cp437")
    assert decoder.decode("►".encode()) == "Γû║"


def screen_of(path: Path) -> tuple[FirmwareScreen, TerminalDecoder]:
    decoder = TerminalDecoder()
    screen = FirmwareScreen()
    data = path.read_bytes()
    for start in range(0, len(data), 997):  # chunks cut wherever they fall, as on the line
        screen.feed(decoder.decode(data[start : start + 997]))
    return screen, decoder


def test_debian_13_front_page_is_utf8_and_its_highlight_is_found(recorded: Path) -> None:
    screen, decoder = screen_of(recorded / "trixie-ovmf" / "front-page.raw")
    assert decoder.encoding == "utf-8"
    assert "► Boot Manager" in screen.text()
    assert "↑↓=Move Highlight" in screen.text()
    assert screen.highlighted_rows() == screen.rows_with("Boot Manager")[:1]


def test_debian_13_boot_manager_boxes_and_highlight(recorded: Path) -> None:
    screen, _ = screen_of(recorded / "trixie-ovmf" / "boot-manager.raw")
    lines = screen.text().splitlines()
    assert lines[0] == "┌" + "─" * 78 + "┐"
    assert "Boot Manager" in lines[1]
    assert screen.highlighted_rows() == screen.rows_with("UEFI HTTPv4")


def test_debian_13_http_boot_form_keeps_its_help_box_out_of_the_highlight(
    recorded: Path,
) -> None:
    # The help box's "F9=Reset to Defaults  F10=Save" row is drawn white on black too and
    # holds no help mark: only the box corner, read right, tells it from an entry.
    screen, _ = screen_of(recorded / "trixie-ovmf" / "http-boot-configuration.raw")
    assert screen.rows_with("F10=Save")
    assert screen.highlighted_rows() == screen.menu_rows("Input the description")


def test_debian_12_recordings_settle_code_page_437(recorded: Path) -> None:
    screen, decoder = screen_of(recorded / "ipv4-http" / "boot-manager.raw")
    assert decoder.encoding == "cp437"
    assert screen.text().splitlines()[0] == "┌" + "─" * 78 + "┐"
    assert screen.highlighted_rows() == screen.rows_with("UEFI HTTPv4")
