"""Every piece of knowledge about OVMF's setup menus: pages, entries, forms, typing, values.

The menus are read as a screen (``console.FirmwareScreen``). Nothing here takes a quiet serial
line for a finished drawing: each step waits for what it needs to see (a page title, exactly one
highlighted entry that moved, the typed value shown in the form), and keeps trying until the
deadline. A claim about the firmware ("the Boot Manager does not offer UEFI HTTPv6") is made only
after the page was drawn twice, by leaving it and coming back, with the same entries both times:
that is :class:`MenuEntryMissing`, a firmware verdict. Anything else that goes wrong while reading
the screen is the harness's own trouble (``HarnessTimeout``), never the firmware's.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import time
from collections.abc import Callable, Iterator

from .console import (
    KEY_BACKSPACE,
    KEY_DOWN,
    KEY_ENTER,
    KEY_ESC,
    KEY_F2,
    KEY_UP,
    LINES,
    Console,
    FirmwareScreen,
    help_column,
)
from .errors import HarnessTimeout, MachineError
from .waiting import Deadline

log = logging.getLogger(__name__)

FRONT_PAGE_ENTRIES = ("Boot Manager", "Reset")
BOOT_MANAGER_BODY = "Boot Manager Menu"
EDIT_BOX_TITLE = "Please type in your data"
SAVE_PROMPT = "Save Changes"
POPUP_TITLE = "select boot device"
"""BootManagerMenuApp's popup ("Please select boot device:"): edk2 2026.08 opens it for F2 and
ESC, where older builds open the setup application's Front Page."""
SETUP_ENTRIES = ("EFI Firmware Setup", "Enter Setup", "UiApp")
"""How a boot-device list names the setup application (edk2 2026.08: "EFI Firmware Setup")."""
HTTP_BOOT_FORM_PATH = (
    ("Device Manager", "Device Manager"),
    ("Network Device List", "Network Device List"),
    ("MAC:", "Network Device MAC:"),
    ("HTTP Boot Configuration", "HTTP Boot Configuration"),
)
"""(entry to choose, title of the page it leads to), from the Front Page to the form."""
PROTOCOL_FIELD, DESCRIPTION_FIELD, URI_FIELD = "Internet Protocol", "Input the description", (
    "Boot URI")  # fmt: skip
SETTLE_HINT = 0.12
"""A pause in the drawing after which the screen is worth reading again; never proof of an end."""
CONFIRMING_READS = 2
STEPS_BACK = 3
"""ESC presses that may be needed to get back where a stray key started."""
ESCAPE_INTERVAL = 0.3
TERMINAL_DRAWING = "\x1b["
"""The terminal driver's first escape sequence (it clears the screen): earlier lines come from
the firmware's early serial output (AAVMF prints its version), before anything reads keys."""
UI_APP_HANG = 15.0
"""Seconds of silence after the setup application started that mean it hung (it draws its
Front Page about 2 s after it starts under TCG); shorter than UI_APP_PATIENCE, so no ESC is
sent into a setup application that is still starting."""
MENU_RESTARTS = 1
"""Resets to power-on when the setup application hung; a second hang is the harness's end."""
F2_PATIENCE = 3.0
"""Seconds for F2 to start the setup application: BdsDxe reads keys once a second while it
waits for one, and a starved guest's second is longer."""


UI_APP_STARTING = re.compile(r'starting Boot\w+ "')
"""BdsDxe's line when it launches an application (the setup application, the boot-device
popup), which then draws its page unasked."""
UI_APP_PATIENCE = 20.0
"""Seconds without ESC once the setup application started: it draws its Front Page unasked,
and Debian 13's OVMF was seen (twice in a CI run) to start it again and then draw nothing while
ESC went on arriving every few tenths of a second."""

KEY_PATIENCE = 1.5
"""Quiet seconds after which a move that shows no effect is tried again."""


def _toward(targets: list[int], candidates: list[int]) -> bytes:
    """The arrow that brings any of the possibly highlighted rows closer to the entry."""
    if candidates and all(row > min(targets) for row in candidates):
        return KEY_UP
    return KEY_DOWN


MAX_BLIND_RETRIES = 3
"""Moves tried again without reading a single highlight before the page is drawn anew."""


class Surface(enum.Enum):
    """What the firmware shows, told apart by what is drawn, whichever key or release led there."""

    FRONT_PAGE = "the Front Page"
    BOOT_MANAGER = "the Boot Manager page"
    BOOT_POPUP = "the boot-device popup"
    OTHER = "another screen"


MENU_SURFACES = (Surface.FRONT_PAGE, Surface.BOOT_MANAGER, Surface.BOOT_POPUP)
"""Where a walk can start: what F2 or ESC opens, in one release or another."""


def surface_of(screen: FirmwareScreen) -> Surface:
    """The Boot Manager page says "Boot Manager Menu" in its body; the Front Page offers the
    Boot Manager and Reset as entries; the popup has its title. A page half drawn is OTHER."""
    if screen.rows_with(BOOT_MANAGER_BODY):
        return Surface.BOOT_MANAGER
    if all(screen.menu_rows(label) for label in FRONT_PAGE_ENTRIES):
        return Surface.FRONT_PAGE
    if screen.rows_with(POPUP_TITLE):
        return Surface.BOOT_POPUP
    return Surface.OTHER


def on_a_menu(screen: FirmwareScreen) -> bool:
    """The firmware shows one of its menus (after a boot: it gave up and went back)."""
    return surface_of(screen) in MENU_SURFACES or bool(screen.menu_rows("Boot Maintenance Manager"))


UNCHOSEN_START = re.compile(r">>Start [^\n]*|UEFI Interactive Shell[^\n]*")
"""A boot beginning: a network driver's first line, or the built-in Shell's banner."""


def unchosen_start(plain: str, since: int) -> str | None:
    """The first boot the console shows from ``since`` on (the plain text's offset)."""
    found = UNCHOSEN_START.search(plain, since)
    return found.group(0).rstrip(". ") if found else None


class UnchosenBoot(Exception):
    """The firmware started a boot the harness did not choose (its boot order, a timeout, a
    key that went astray), seen while the harness walked its menus."""

    def __init__(self, started: str) -> None:
        super().__init__(f"the firmware started {started!r} while the harness walked its menus")
        self.started = started


class ScreenUnreadable(HarnessTimeout):
    """The screen model lost track of the page (a clear or a redraw went missing): the caller
    makes the firmware draw the page anew; left alone, the harness's own error."""


class MenuEntryMissing(Exception):
    """The firmware's page, drawn twice the same way, does not offer the entry."""


def field_value(screen: str, label: str, columns: int = 80) -> str:
    """The value a form shows right of ``label`` (its first line; the help column cut off,
    where the label may appear in a sentence: "... created according to this Boot URI.")."""
    end = help_column(columns)
    for line in screen.splitlines():
        at = line.find(label)
        if -1 < at < end:
            return line[at + len(label) : end + 1].strip()
    return ""


def edit_box_text(screen: str) -> str:
    """What the open "Please type in your data" box holds: the line under its title."""
    lines = screen.splitlines()
    for number, line in enumerate(lines[:-1]):
        if EDIT_BOX_TITLE in line:
            return lines[number + 1].replace("\u2502", " ").strip()
    return ""


class OvmfMenu:
    """Drives OVMF's Front Page, Boot Manager and HTTP Boot Configuration like a person."""

    def __init__(
        self,
        console: Console,
        *,
        keep_screen: Callable[[str], None] = lambda _step: None,
        before_network_entry: Callable[[Deadline], None] = lambda _deadline: None,
        restart: Callable[[str], None] | None = None,
    ) -> None:
        self.console = console
        self.screen = console.screen
        self._keep_screen = keep_screen
        """Saves the current screen under a step name (the artifacts' screens/ folder)."""
        self._before_network_entry = before_network_entry
        """Called in the Boot Manager just before a network entry is chosen (IPv6: DAD)."""
        self._restart = restart
        """Resets the machine to power-on, saying why; None: a hung menu is the harness's end."""

    def reset(self, why: str) -> None:
        """Power-on again (``restart`` says why, where the caller keeps it); what the firmware
        prints from now on is read as a new power-on's."""
        if self._restart is None:
            raise HarnessTimeout(f"{why}; and this walk cannot reset the machine")
        self._restart(why)
        self.console.mark_power_on()

    # -- watching for a boot nobody chose --------------------------------------------------
    @contextlib.contextmanager
    def watching_for_unchosen_boots(self) -> Iterator[None]:
        """While the harness walks the menus, a boot that begins (its network driver's first
        line, the Shell's banner) is one it did not choose: every wait raises
        :class:`UnchosenBoot` as soon as that line is in (the console is read every 0.2 s)."""

        def guard() -> None:
            started = unchosen_start(self.console.plain, self.console.power_on[1])
            if started is not None:
                self.console.snapshot(f"the firmware started {started!r} on its own")
                raise UnchosenBoot(started)

        self.console.guard = guard
        try:
            yield
        finally:
            self.console.guard = None

    # -- pages ---------------------------------------------------------------------------------
    def enter_front_page(self, deadline: Deadline) -> None:
        """From power-on to the setup application's Front Page, whichever menu a key opens."""
        self.enter_menus(deadline)
        self._to_front_page(deadline)

    def enter_menus(self, deadline: Deadline) -> Surface:
        """Press F2 once, as soon as the firmware's terminal draws; if no menu has appeared
        F2_PATIENCE later, ESC at most every ESCAPE_INTERVAL in a quiet moment, none while an
        application is starting (UI_APP_PATIENCE), until one of its menus is on the screen: the
        Front Page (edk2 up to 2025.02), the boot-device popup (2026.08), or the Boot Manager.

        F2 and ESC both open the platform's boot manager menu. F2 is sent as ``ESC [ N``, a
        whole sequence that edk2's terminal driver passes on at once (a terminal type that reads
        it otherwise passes on its ESC at once). A lone ESC is held up to two seconds in case a
        sequence follows, and the next ESC, which releases it, is held in turn and reaches the
        page later, which then draws itself again and undoes the moves that follow; on the
        popup an ESC leaves it and the firmware boots its boot order. So no ESC is sent blindly,
        and none once a menu is recognised."""
        f2_sent: float | None = None
        last_escape = 0.0
        ui_app_since: float | None = None
        restarts = 0
        while (surface := surface_of(self.screen)) not in MENU_SURFACES:
            self.console.check_alive()
            if deadline.expired():
                raise HarnessTimeout(
                    "no firmware menu (Front Page, boot-device popup, Boot Manager) appeared "
                    "after F2 and ESC"
                )
            quiet = not self.console.pump(min(0.2, deadline.remaining()))
            now = time.monotonic()
            if self.console.first_output is None:
                continue
            since_power_on = self.console.power_on[0]
            raw = self.console.raw_text
            if f2_sent is None and TERMINAL_DRAWING in raw[since_power_on:]:
                self.console.send(KEY_F2)  # its terminal driver runs: it reads keys now
                f2_sent = now
                continue
            if ui_app_since is None and UI_APP_STARTING.search(raw, since_power_on):
                ui_app_since = now
            if ui_app_since is not None and self._hung(ui_app_since, now):
                if self._restart is None or restarts >= MENU_RESTARTS:
                    raise HarnessTimeout(
                        f"the firmware's setup application started and then printed nothing "
                        f"for {UI_APP_HANG:.0f} s ({restarts} reset(s) before)"
                    )
                restarts += 1
                self.reset(
                    f"the setup application printed nothing for {UI_APP_HANG:.0f} s after it "
                    "started: the machine was reset to power-on"
                )
                f2_sent, ui_app_since = None, None
                continue
            drawing = ui_app_since is not None and now - ui_app_since < UI_APP_PATIENCE
            waiting = now - (f2_sent or self.console.first_output) < F2_PATIENCE
            if quiet and not drawing and not waiting and now - last_escape >= ESCAPE_INTERVAL:
                self.console.send(KEY_ESC)
                last_escape = now
        self._settle(deadline)
        self.console.snapshot(surface.value)
        return surface

    def _to_front_page(self, deadline: Deadline) -> None:
        """From the menu shown to the Front Page: the popup's setup entry, or ESC from the Boot
        Manager page."""
        while (surface := surface_of(self.screen)) is not Surface.FRONT_PAGE:
            if surface is Surface.BOOT_POPUP:
                self._popup_to_setup(deadline)
            elif surface is Surface.BOOT_MANAGER:
                self._back_to_front_page(deadline)
            else:
                self.enter_menus(deadline)
        self._settle(deadline)

    def _popup_to_setup(self, deadline: Deadline) -> None:
        """Choose the popup's setup entry; its application draws the Front Page unasked (a
        hang there is handled as at power-on)."""
        self._wait_for_popup(deadline)
        entry = next((e for e in SETUP_ENTRIES if self.screen.menu_rows(e, anywhere=True)), None)
        if entry is None:
            raise HarnessTimeout(
                "the firmware's boot-device popup offers no way into its setup (none of "
                f"{', '.join(SETUP_ENTRIES)}):\n{self.screen.text()}"
            )
        self.choose(entry, deadline, anywhere=True)
        self._until_or_quiet(
            lambda: surface_of(self.screen) is not Surface.BOOT_POPUP,
            KEY_PATIENCE * 2,
            deadline,
            f"the popup to give way to {entry!r}",
        )
        if surface_of(self.screen) is not Surface.BOOT_POPUP:
            self.enter_menus(deadline)  # the application starting: wait for what it draws

    def _wait_for_popup(self, deadline: Deadline) -> None:
        """The popup is drawn to its end: its entries listed, one of them highlighted."""
        self.console.wait_for(
            lambda: len(self.screen.highlighted_rows()) == 1, deadline, "the popup's highlight"
        )
        self._settle(deadline)

    def boot_entry(self, entry: str, *, ipv6: bool, deadline: Deadline) -> None:
        """From power-on to ``entry`` chosen: straight from the boot-device popup when that is
        what the firmware shows and lists it; else through the Front Page and the Boot Manager,
        whose page, drawn twice, is the proof that an entry is not offered."""
        if self.enter_menus(deadline) is Surface.BOOT_POPUP:
            self._wait_for_popup(deadline)
            if self.screen.menu_rows(entry, anywhere=True):
                if ipv6:
                    self._before_network_entry(deadline)
                self.choose(entry, deadline, anywhere=True)
                return
            log.info("the popup does not list %r; looking in the Boot Manager", entry)
        self._to_front_page(deadline)
        self.boot_from_boot_manager(entry, ipv6=ipv6, deadline=deadline)

    def _hung(self, ui_app_since: float, now: float) -> bool:
        """The setup application started and the firmware has printed nothing since for
        UI_APP_HANG seconds. Debian 13's OVMF did so in 2 of about 30 starts of one CI run
        (its screen cleared, or not even that, then silence until the deadline), and twice in
        an earlier run, ESC or not."""
        last = max(ui_app_since, self.console.last_output or ui_app_since)
        return now - last >= UI_APP_HANG

    def _on_front_page(self) -> bool:
        return surface_of(self.screen) is Surface.FRONT_PAGE

    def open_page(self, label: str, title: str, deadline: Deadline) -> None:
        """Choose ``label`` on a titled page and arrive on the page titled ``title``."""
        here = self._title_text()
        home = self._on_front_page if self._on_front_page() else (
            lambda: self._title_text() == here)  # fmt: skip
        self._enter(
            label, arrived=lambda: title in self._title_text(), home=home, deadline=deadline
        )
        self._keep_screen(label)

    def _enter(
        self,
        label: str,
        *,
        arrived: Callable[[], bool],
        home: Callable[[], bool],
        deadline: Deadline,
    ) -> None:
        """Choose ``label`` and check where the firmware went: a starved guest may lose a key
        or read an arrow's ESC alone, and the screen may lag behind the firmware. Landing on
        another page steps back (ESC) and chooses again; an Enter that changed nothing is sent
        again. Only what the screen shows counts."""
        while True:
            try:
                self.choose(label, deadline)
            except ScreenUnreadable:
                if home != self._on_front_page:
                    raise
                log.info("the Front Page cannot be read; ESC makes it draw itself anew")
                self._back_to_front_page(deadline)
                continue
            self._until_or_quiet(arrived, KEY_PATIENCE * 2, deadline, f"the page behind {label!r}")
            if arrived():
                self._settle(deadline)
                return
            for _ in range(STEPS_BACK):
                if home():
                    break
                self.console.snapshot(f"choosing {label!r} led elsewhere: stepping back")
                self.console.send(KEY_ESC)
                self._until_or_quiet(home, KEY_PATIENCE * 2, deadline, "the page it came from")
            log.info("%r did not lead to its page; choosing it again", label)

    def _until_or_quiet(
        self, condition: Callable[[], bool], quiet: float, deadline: Deadline, what: str
    ) -> None:
        """Read until ``condition`` holds or the firmware has said nothing for ``quiet``
        seconds since now (the key just sent): then the caller looks at where it is."""
        since = time.monotonic()

        def done() -> bool:
            last = max(since, self.console.last_output or 0.0)
            return condition() or time.monotonic() - last >= quiet

        self.console.wait_for(done, deadline, what)

    def _settle(self, deadline: Deadline) -> None:
        """A short pause in the drawing: a good moment to read the screen, nothing more."""
        self.console.settle(deadline.sooner(SETTLE_HINT * 4), SETTLE_HINT)

    def _title_text(self) -> str:
        return "\n".join(self._title())

    def _title(self) -> list[str]:
        return self.screen.text().splitlines()[:3]

    def boot_from_boot_manager(
        self, entry: str, *, ipv6: bool, deadline: Deadline, opened: bool = False
    ) -> None:
        """Front Page -> Boot Manager -> ``entry``; an absent entry is confirmed by a redraw.
        ``opened``: the Boot Manager is already on the screen (a warm start)."""
        if not opened:
            self._open_boot_manager(deadline)
        if ipv6:
            self._before_network_entry(deadline)
        while True:
            try:
                self.choose(entry, deadline, redraw=lambda: self._reopen_boot_manager(deadline))
                return
            except ScreenUnreadable as exc:
                log.info("%s; drawing the Boot Manager anew", exc)
                self._reopen_boot_manager(deadline)

    def open_boot_manager(self, deadline: Deadline) -> None:
        """From power-on to the Boot Manager's page, drawn (where a warm start is saved)."""
        self.enter_front_page(deadline)
        self._open_boot_manager(deadline)
        self._settle(deadline)

    def wake_in_boot_manager(self, saved_screen: bytes, deadline: Deadline) -> None:
        """Take over a restored firmware sitting in its Boot Manager: the screen it drew before
        the save is shown again (``saved_screen``, its transcript), and an arrow key, which the
        firmware answers by redrawing the highlight, proves it runs and keeps that screen in
        step. (ESC would leave the page, and edk2's terminal driver holds a lone ESC up to two
        seconds, waiting for the rest of an escape sequence.) A key a starved guest lost is
        sent again after quiet; no answer at all is the harness's trouble (the firmware was at
        its menu when it was saved): a MachineError, never a timeout that could pass for a
        firmware that said nothing."""
        self.console.restore_screen(saved_screen)
        if not self.screen.rows_with(BOOT_MANAGER_BODY):
            raise MachineError("the screen saved with the warm start is not the Boot Manager")
        keys = (KEY_DOWN, KEY_UP)
        presses = 0
        while self.console.first_output is None:
            self.console.check_alive()
            if deadline.expired():
                raise MachineError("the restored firmware did not answer a key (warm start)")
            self.console.send(keys[presses % 2])
            presses += 1
            self.console.pump(min(KEY_PATIENCE, deadline.remaining()))
        self._settle(deadline)
        self.console.snapshot("the restored Boot Manager")

    def leave_to_front_page(self, deadline: Deadline) -> None:
        """From the page shown (a restored Boot Manager) to the Front Page, drawn anew."""
        self._back_to_front_page(deadline)

    def _open_boot_manager(self, deadline: Deadline) -> None:
        self._enter(
            "Boot Manager",
            arrived=lambda: bool(self.screen.rows_with(BOOT_MANAGER_BODY)),
            home=self._on_front_page,
            deadline=deadline,
        )

    def _reopen_boot_manager(self, deadline: Deadline) -> None:
        """Leave the Boot Manager and come back: the firmware draws the whole page again."""
        self.console.send(KEY_ESC)
        self.console.wait_for(self._on_front_page, deadline, "the Front Page after ESC")
        self._open_boot_manager(deadline)

    # -- choosing an entry ---------------------------------------------------------------------
    def choose(
        self,
        label: str,
        deadline: Deadline,
        *,
        redraw: Callable[[], None] | None = None,
        anywhere: bool = False,
    ) -> None:
        """Move the highlight to the entry whose text holds ``label`` and press Enter.

        Each key waits for the screen to show its effect (one highlighted row, other than
        before). An entry not on the screen is waited for; with ``redraw`` (a way to make the
        firmware draw the page again) its absence is confirmed by reading the same page twice
        and raised as :class:`MenuEntryMissing`. Otherwise time running out is the harness's.
        ``anywhere``: the entries are not in a page's menu column (the boot-device popup).
        """
        moved_from: list[int] | None = None
        pages: list[tuple[str, ...]] = []
        retries = 0
        while True:
            self.console.check_alive()
            if deadline.expired():
                raise HarnessTimeout(
                    f"timed out choosing {label!r} on the firmware screen:\n{self.screen.text()}"
                )
            targets = self.screen.menu_rows(label, anywhere=anywhere)
            highlighted = self.screen.highlighted_rows()
            if not targets or len(highlighted) != 1 or highlighted == moved_from:
                if self.console.pump(min(SETTLE_HINT, deadline.remaining())):
                    continue  # still drawing
                if not targets:
                    pages = self._confirm_absent(label, pages, redraw, deadline)
                elif self._quiet_for() >= KEY_PATIENCE:
                    # A redraw that stopped half-way, or a key the firmware lost (a starved
                    # guest may read an arrow's ESC alone): move toward the entry again.
                    retries += 1
                    if retries > MAX_BLIND_RETRIES:
                        self.console.snapshot(f"choosing {label!r}: the highlight cannot be read")
                        raise ScreenUnreadable(
                            f"cannot read which entry is highlighted while choosing {label!r}"
                        )
                    self.console.send(_toward(targets, highlighted or moved_from or []))
                    moved_from = highlighted
                continue
            current = highlighted[0]
            target = min(targets, key=lambda row: abs(row - current))
            if target == current:
                self.console.snapshot(f"pressing Enter on {label!r}")
                self.console.send(KEY_ENTER)
                return
            moved_from = highlighted
            self.console.send(KEY_DOWN if current < target else KEY_UP)

    def _quiet_for(self) -> float:
        last = self.console.last_output
        return 0.0 if last is None else time.monotonic() - last

    def _confirm_absent(
        self,
        label: str,
        pages: list[tuple[str, ...]],
        redraw: Callable[[], None] | None,
        deadline: Deadline,
    ) -> list[tuple[str, ...]]:
        """Record this drawing of the page; raise once it was drawn the same way twice."""
        if redraw is None:
            return pages  # nothing to confirm with: keep reading until the deadline
        page = self.screen.entries()
        pages = [*pages, page]
        if len(pages) >= CONFIRMING_READS and pages[-1] == pages[-2] and page:
            self.console.snapshot(f"looking for {label!r}: not offered (page read twice)")
            raise MenuEntryMissing(
                f"the firmware does not offer {label!r}; its page, drawn twice, lists: "
                + " | ".join(page)
            )
        log.info("%r not on the screen; making the firmware draw the page again", label)
        redraw()
        return pages

    # -- HTTP Boot Configuration ---------------------------------------------------------------
    def add_http_boot_option(
        self, description: str, uri: str, *, ipv6: bool, deadline: Deadline
    ) -> None:
        """The seed's manual way: Device Manager -> Network Device List -> the NIC -> HTTP Boot
        Configuration; description, protocol and Boot URI set and saved; back on the Front Page.
        The Boot Manager then lists the new option under ``description``."""
        while True:
            try:
                for label, title in HTTP_BOOT_FORM_PATH:
                    self.open_page(label, title, deadline)
                self._type_field(DESCRIPTION_FIELD, description, deadline)
                self._set_protocol("IP6" if ipv6 else "IP4", deadline)
                self._type_field(URI_FIELD, uri, deadline)
                break
            except ScreenUnreadable as exc:
                log.info("%s; back to the Front Page to walk the pages anew", exc)
                self._back_to_front_page(deadline)
        self._save_and_leave(deadline)

    def _back_to_front_page(self, deadline: Deadline) -> None:
        """Leave the pages shown, discarding unsaved changes, until the Front Page is drawn
        anew (ESC on the Front Page itself makes it draw again)."""
        for _ in range(STEPS_BACK + 3):
            if surface_of(self.screen) is Surface.BOOT_POPUP:  # ESC there would boot
                self._to_front_page(deadline)
                return
            key = b"N" if self.screen.rows_with(SAVE_PROMPT) else KEY_ESC
            self.console.send(key)
            self._until_or_quiet(
                lambda: False, KEY_PATIENCE, deadline, "the firmware to leave the page"
            )
            if self._on_front_page():
                return
        self.enter_front_page(deadline)

    def _type_field(self, label: str, value: str, deadline: Deadline) -> None:
        """Open the field's edit box, replace its text with ``value``, check the form shows it;
        a value the screen does not confirm is typed again."""
        while True:
            self.choose(label, deadline)
            self.console.wait_for(
                lambda: bool(self.screen.rows_with(EDIT_BOX_TITLE)),
                deadline,
                f"the edit box of {label!r}",
            )
            self._settle(deadline)
            self._erase(len(edit_box_text(self.screen.text())), deadline)
            self._type(value, deadline)
            self.console.send(KEY_ENTER)
            self.console.wait_for(
                lambda: not self.screen.rows_with(EDIT_BOX_TITLE), deadline, "the edit box to close"
            )
            self._settle(deadline)
            self._keep_screen(label)
            shown = self._field(label)
            if shown and value.startswith(shown):
                return
            log.info("%r shows %r after typing %r; typing it again", label, shown, value)

    def _field(self, label: str) -> str:
        return field_value(self.screen.text(), label, self.screen.size[0])

    def _set_protocol(self, wanted: str, deadline: Deadline) -> None:
        """The form's one-of "Internet Protocol": Enter opens its list, a move and Enter pick."""
        while self._field(PROTOCOL_FIELD).strip("<>") != wanted:
            self.choose(PROTOCOL_FIELD, deadline)
            before = self.screen.state()
            self.console.wait_for(
                lambda before=before: self.screen.state() != before,  # type: ignore[misc]
                deadline,
                "the protocol list",
            )
            self._settle(deadline)
            self.console.send(KEY_DOWN if wanted == "IP6" else KEY_UP)
            self._settle(deadline)
            self.console.send(KEY_ENTER)
            self._settle(deadline)
            self._keep_screen(PROTOCOL_FIELD)
            if deadline.expired():
                raise HarnessTimeout(f"could not set {PROTOCOL_FIELD!r} to {wanted}")

    def _type(self, text: str, deadline: Deadline) -> None:
        """Type one key at a time, each after the screen echoed the last."""
        for char in text:
            self._press_and_see(char.encode("ascii"), deadline, f"the firmware to echo {char!r}")

    def _erase(self, count: int, deadline: Deadline) -> None:
        for _ in range(count):
            self._press_and_see(KEY_BACKSPACE, deadline, "the firmware to erase a character")

    def _press_and_see(self, key: bytes, deadline: Deadline, what: str) -> None:
        before = self.screen.state()
        self.console.send(key)
        self.console.wait_for(lambda: self.screen.state() != before, deadline, what)
        self._settle(deadline)

    def _save_and_leave(self, deadline: Deadline) -> None:
        """ESC leaves the form; the browser asks whether to save ('Y' saves); ESC again until
        the Front Page is back."""
        self.console.send(KEY_ESC)
        self.console.wait_for(
            lambda: bool(self.screen.rows_with(SAVE_PROMPT)), deadline, "the save prompt"
        )
        self._settle(deadline)
        self._keep_screen("save prompt")
        for _ in range(4 * LINES):
            if self._on_front_page():
                return
            if surface_of(self.screen) is Surface.BOOT_POPUP:  # ESC there would boot
                self._to_front_page(deadline)
                return
            key = b"Y" if self.screen.rows_with(SAVE_PROMPT) else KEY_ESC
            title = self._title()
            self.console.send(key)
            # A key the firmware lost shows as no change: the next pass sends it again.
            self._until_or_quiet(
                lambda title=title: self._title() != title,  # type: ignore[misc]
                KEY_PATIENCE * 2,
                deadline,
                "the firmware to leave the page",
            )
            self._settle(deadline)
        raise HarnessTimeout("could not get back to the Front Page after saving the form")
