"""Each menu edk2 draws, told apart from what the screen shows, in whichever text mode the
firmware picked: real screens of Debian 12's (2022.11), 13's (2025.02) and unstable's (2026.08)
OVMF, and of unstable's AAVMF (its popup in plain ASCII: a VT100 terminal), cut from their
serial transcripts where the harness acted on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from httpboot_harness.console import FirmwareScreen, help_column
from httpboot_harness.ovmf_menu import (
    OvmfMenu,
    Surface,
    UnchosenBoot,
    field_value,
    on_a_menu,
    surface_of,
    unchosen_start,
)
from httpboot_harness.terminal import TerminalDecoder

SCREENS = {
    ("ipv4-http", "front-page.raw"): (Surface.FRONT_PAGE, (80, 50), "Boot Manager"),
    ("ipv4-http", "boot-manager.raw"): (Surface.BOOT_MANAGER, (80, 50), "UEFI HTTPv4"),
    ("trixie-ovmf", "front-page.raw"): (Surface.FRONT_PAGE, (80, 50), "Boot Manager"),
    ("trixie-ovmf", "boot-manager.raw"): (Surface.BOOT_MANAGER, (80, 50), "UEFI HTTPv4"),
    ("trixie-ovmf", "http-boot-configuration.raw"): (
        Surface.OTHER,
        (80, 50),
        "Input the description",
    ),
    ("sid-ovmf", "boot-popup.raw"): (Surface.BOOT_POPUP, (240, 56), "UEFI HTTPv4"),
    ("sid-aavmf", "boot-popup.raw"): (Surface.BOOT_POPUP, (240, 56), "UEFI HTTPv4"),
    ("sid-ovmf", "front-page.raw"): (Surface.FRONT_PAGE, (240, 56), "Select Language"),
    ("sid-ovmf", "boot-manager.raw"): (Surface.BOOT_MANAGER, (240, 56), "UEFI PXEv4"),
    ("sid-ovmf", "http-boot-configuration.raw"): (
        Surface.OTHER,
        (240, 56),
        "Input the description",
    ),
}


def screen_of(path: Path) -> FirmwareScreen:
    decoder, screen = TerminalDecoder(), FirmwareScreen()
    data = path.read_bytes()
    for start in range(0, len(data), 997):  # chunks cut wherever they fall, as on the line
        screen.feed(decoder.decode(data[start : start + 997]))
    return screen


@pytest.mark.parametrize("where", sorted(SCREENS), ids="/".join)
def test_each_recorded_screen_is_recognised_in_its_own_mode(
    recorded: Path, where: tuple[str, str]
) -> None:
    surface, size, highlighted = SCREENS[where]
    screen = screen_of(recorded.joinpath(*where))
    assert surface_of(screen) is surface
    assert screen.size == size
    assert screen.highlighted_rows() == screen.menu_rows(highlighted, anywhere=True)[:1]
    assert on_a_menu(screen) is (surface is not Surface.OTHER)


def test_the_popup_lists_the_boot_options_and_the_way_into_setup(recorded: Path) -> None:
    screen = screen_of(recorded / "sid-ovmf" / "boot-popup.raw")
    for entry in ("EFI Firmware Setup", "UEFI PXEv4", "UEFI HTTPv4", "UEFI HTTPv6"):
        (row,) = screen.menu_rows(entry, anywhere=True)
        assert 20 < row < 35  # inside the box drawn in the middle of a 56-row screen
    # Nothing of the popup is a page's key help: its one highlight is an entry.
    assert len(screen.highlighted_rows()) == 1


def test_the_wide_boot_manager_lists_every_entry_and_the_typed_one(recorded: Path) -> None:
    screen = screen_of(recorded / "sid-ovmf" / "boot-manager.raw")
    entries = screen.entries()
    for entry in ("UEFI PXEv4", "UEFI HTTPv4", "UEFI HTTPv6", "HBH-URI-BOOT"):
        assert any(line.startswith(entry) for line in entries), entries


def test_the_wide_form_shows_its_fields_left_of_the_help(recorded: Path) -> None:
    screen = screen_of(recorded / "sid-ovmf" / "http-boot-configuration.raw")
    text, columns = screen.text(), screen.size[0]
    assert field_value(text, "Input the description", columns) == "UEFI HTTP"
    assert field_value(text, "Internet Protocol", columns) == "<IP4>"


def test_a_firmware_that_announces_its_mode_gets_a_screen_that_size() -> None:
    screen = FirmwareScreen()
    screen.feed("\x1b[8;056;240t\x1b[2J\x1b[022;200Hfar right")
    assert screen.size == (240, 56)
    assert screen.text().splitlines()[21].index("far right") == 199
    screen.feed("\x1b[8;25;80t")
    assert screen.size == (80, 25)


def test_a_move_beyond_the_screen_grows_it_and_a_mangled_one_does_not() -> None:
    screen = FirmwareScreen()
    screen.feed("\x1b[60;100Hx")
    assert screen.size == (100, 60)
    screen.feed("\x1b[9999;9999Hy")  # bytes lost on a starved line
    assert screen.size == (100, 60)


def test_the_help_column_is_two_thirds_of_the_width() -> None:
    assert help_column(80) == 55  # where Debian 12's and 13's pages put their help
    assert help_column(240) == 162


def test_a_form_value_is_read_from_its_row_not_from_help_that_names_its_label() -> None:
    # Debian unstable's 240-column form: values from column 82, help from column 163.
    row = "   Input the description".ljust(82) + "HBH-URI-BOOT".ljust(81)
    help_text = "A new Boot Option will be created according to this Boot URI."
    form = "\n".join([row + help_text, "   Boot URI".ljust(82) + "http://www.httpboot.local/x.efi"])
    assert field_value(form, "Boot URI", 240) == "http://www.httpboot.local/x.efi"
    assert field_value(form, "Input the description", 240) == "HBH-URI-BOOT"


def test_a_boot_the_firmware_began_is_found_after_the_power_on_only() -> None:
    plain = (
        'BdsDxe: starting Boot0000 "BootManagerMenuApp"\n'
        ">>Start PXE over IPv4.\n  PXE-E21: Remote boot cancelled.\n"
    )
    assert unchosen_start(plain, 0) == ">>Start PXE over IPv4"
    assert unchosen_start(plain, len(plain)) is None
    shell = plain + "UEFI Interactive Shell v2.2\nShell> "
    assert unchosen_start(shell, len(plain)) == "UEFI Interactive Shell v2.2"


class _Console:
    """What ``OvmfMenu`` reads of a console for its watch: the text, the power-on, the guard."""

    def __init__(self) -> None:
        self.screen = FirmwareScreen()
        self.plain = ""
        self.power_on = (0, 0)
        self.guard: Callable[[], None] | None = None
        self.snapshots: list[str] = []

    def snapshot(self, label: str) -> None:
        self.snapshots.append(label)

    def mark_power_on(self) -> None:
        self.power_on = (0, len(self.plain))


def test_a_walk_is_stopped_by_a_boot_it_did_not_choose_and_a_reset_starts_afresh() -> None:
    console = _Console()
    resets: list[str] = []
    menu = OvmfMenu(console, restart=resets.append)  # type: ignore[arg-type]
    with menu.watching_for_unchosen_boots():
        assert console.guard is not None
        console.guard()  # nothing started yet
        console.plain += "BdsDxe: starting Boot0004\n>>Start HTTP Boot over IPv4....\n"
        with pytest.raises(UnchosenBoot) as raised:
            console.guard()
        assert raised.value.started == ">>Start HTTP Boot over IPv4"
        menu.reset("the firmware booted on its own")
        console.guard()  # what the earlier power-on printed no longer counts
    assert console.guard is None  # the watch ends with the walk
    assert resets == ["the firmware booted on its own"]
