"""Reading the firmware's screens from recorded serial bytes."""

from __future__ import annotations

from pathlib import Path

from httpboot_harness.console import FirmwareScreen, plain_text


def screen_of(path: Path) -> FirmwareScreen:
    screen = FirmwareScreen()
    screen.feed(path.read_bytes().decode("cp437"))
    return screen


def test_front_page_shows_its_entries_and_the_highlight(recorded: Path) -> None:
    screen = screen_of(recorded / "ipv4-http" / "front-page.raw")
    text = screen.text()
    for entry in ("Device Manager", "Boot Manager", "Boot Maintenance Manager", "Reset"):
        assert entry in text
    assert screen.highlighted_rows() == screen.rows_with("Boot Manager")[:1]


def test_boot_manager_lists_network_entries_with_the_chosen_one_highlighted(
    recorded: Path,
) -> None:
    screen = screen_of(recorded / "ipv4-http" / "boot-manager.raw")
    for label in ("UEFI PXEv4", "UEFI PXEv6", "UEFI HTTPv4", "UEFI HTTPv6"):
        assert screen.rows_with(label), label
    assert screen.highlighted_rows() == screen.rows_with("UEFI HTTPv4")


def test_plain_text_drops_escapes_and_splits_carriage_returns() -> None:
    raw = "\x1b[0m\x1b[37m\x1b[40m  Downloading...99%\r  Downloading...100%\x1b[2J\r\nOK"
    assert plain_text(raw).splitlines() == ["  Downloading...99%", "  Downloading...100%", "OK"]


def test_a_move_tried_again_goes_toward_the_entry_from_every_possible_highlight() -> None:
    from httpboot_harness.console import KEY_DOWN, KEY_UP
    from httpboot_harness.ovmf_menu import _toward

    assert _toward([12], [8, 11]) == KEY_DOWN  # from either row, down is closer
    assert _toward([8], [11, 12]) == KEY_UP
    assert _toward([12], []) == KEY_DOWN  # nothing highlighted: any move draws one
    assert _toward([9], [8, 11]) == KEY_DOWN  # between them: one way, then read again


def test_an_abandoned_escape_leaves_no_text_that_reads_as_a_second_highlight(
    recorded: Path,
) -> None:
    """ESC ESC [0m: a terminal abandons the first ESC; drawn as text in white on black, the
    '[0m' read as a second highlighted entry, and the menu could not be driven (a soak run)."""
    raw = (recorded / "ipv4-http" / "front-page-escape-escape.raw").read_bytes()
    assert b"\x1b\x1b[0m" in raw
    screen = screen_of_chunks(raw, 100)
    assert screen.highlighted_rows() == screen.rows_with("Boot Manager")[:1]
    assert "[0m" not in screen.text()


def screen_of_chunks(raw: bytes, size: int) -> FirmwareScreen:
    screen = FirmwareScreen()
    for start in range(0, len(raw), size):
        screen.feed(raw[start : start + size].decode("cp437"))
    return screen


def test_a_new_escape_abandons_an_unfinished_one_wherever_the_chunks_are_cut() -> None:
    raw = b"ab\x1b\x1b[31mcd\x1b[1;1\x1b[2;1Hxy\x1b(Bz"
    for size in range(1, len(raw) + 1):
        screen = screen_of_chunks(raw, size)
        lines = screen.text().splitlines()
        assert lines[:2] == ["abcd", "xyz"], size


def test_stray_text_below_the_key_help_is_never_an_entry(recorded: Path) -> None:
    """A starved serial line loses bytes: an escape without its ESC is drawn as text, here in
    white on black below the key help, where the firmware never draws again (seen in CI)."""
    raw = (recorded / "ipv4-http" / "front-page.raw").read_bytes()
    stray = b"\x1b[0m\x1b[37m\x1b[40m\x1b[49;03H[46;01H"
    screen = screen_of_chunks(raw + stray, 4096)
    assert "[46;01H" in screen.text()
    assert screen.highlighted_rows() == screen.rows_with("Boot Manager")[:1]


def test_a_front_page_whose_serial_line_lost_bytes_still_shows_one_highlight(
    recorded: Path,
) -> None:
    raw = (recorded / "ipv4-http" / "front-page-lost-bytes.raw").read_bytes()
    screen = screen_of_chunks(raw, 100)
    assert "[46;01H" in screen.text()
    assert screen.highlighted_rows() == screen.rows_with("Boot Manager")[:1]
