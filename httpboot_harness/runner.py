"""Run one boot case end to end; the only module that knows the order of the steps.

    rig (lab, image, servers, capture, QEMU paused) -> cont -> the case's source reaches its
    boot entry through the menus -> follow the boot until it ends -> teardown (the rig)
    -> evidence (server logs, console, QMP, capture) -> verdict

Who stopped the boot decides what the result can say. The firmware's doing (it powered off, went
back to its menu, printed an error, did not offer an entry, or did nothing until the deadline)
becomes booted / refused / failed with the phase it stopped at. The harness's own trouble (it
could not read a screen, QEMU was killed or failed on the host, the serial line was lost, any
unexpected exception) becomes the verdict "error", never a firmware verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import stop
from .artifacts import CaseArtifacts
from .cases import Case, Expectation, ReleaseChange, with_user_tree
from .config import Settings
from .console import Console, MachineGone, SerialLineLost
from .errors import (
    HarnessError,
    HarnessTimeout,
    InfrastructureError,
    MachineError,
    PrerequisiteError,
    UsageError,
)
from .evidence import Evidence, Judgement, ServerLogs, judge, parse_console
from .firmware_identity import identify
from .machine import Machine
from .netcapture import NetEvent, read_capture, wait_for_link_local_dad
from .ovmf_menu import MenuEntryMissing, OvmfMenu, UnchosenBoot, on_a_menu
from .phases import PHASES, SPECS, STOP_LINE, Phase, console_marks
from .rig import Rig
from .timeline import TimelineEvent, build_timeline
from .tls import TlsMaterial
from .waiting import Deadline

log = logging.getLogger(__name__)

START_MARK = ">>Start "
ERROR_GRACE_SECONDS = 2.0
"""After the firmware printed an error: time to finish its message before the case stops."""

Progress = Callable[[str], None]
ConsoleSink = Callable[[str], None]


@dataclass
class CaseResult:
    case: Case
    judgement: Judgement
    accel: str
    artifacts: Path
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    """"prerequisite" (something to install) or "infrastructure"; None when the harness judged."""
    console_tail: list[str] = field(default_factory=list)
    log_tails: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    timeline: list[TimelineEvent] = field(default_factory=list)

    @property
    def release(self) -> str | None:
        """The edk2 release read from the firmware that ran (``firmware_identity``)."""
        identity = self.details.get("firmware_identity") or {}
        return identity.get("edk2")

    @property
    def expectation(self) -> tuple[Expectation, ReleaseChange | None]:
        """What the case expects of this release of the firmware, and the change behind it."""
        return self.case.expectation.for_release(self.release)

    @property
    def passed(self) -> bool:
        return self.error is None and meets_expectation(self.case, self.judgement, self.release)

    def to_report(self) -> dict[str, Any]:
        """One row of the JSON report; the documented keys first, extras after."""
        return {
            "id": self.case.id,
            "arch": self.case.arch,
            "verdict": self.judgement.verdict,
            "phase": self.judgement.phase,
            "accel": self.accel,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "artifacts": str(self.artifacts),
            "expected": self.case.expected,
            "expected_phase": self.case.expected_phase,
            "expected_cause": self.expectation[0].cause,
            "expected_release": _release_note(self.case, self.release, self.expectation[1]),
            "met_expectation": self.passed,
            "summary": self.judgement.summary,
            "cause": self.judgement.cause,
            "proven": self.judgement.proven,
            "error": self.error,
            **self.details,
            "console_tail": self.console_tail,
            "log_tails": self.log_tails,
            "timeline": [event.to_dict() for event in self.timeline],
        }


def _release_note(
    case: Case, release: str | None, change: ReleaseChange | None
) -> dict[str, str] | None:
    """The report's ``expected_release``: the upstream change the expectation follows on this
    release, or that the release could not be read where the expectation depends on it."""
    if change is not None:
        return change.to_report()
    if case.expectation.changes and release is None:
        return {"since": "unknown", "reference": "", "what": "the firmware's edk2 release could "
                "not be read: any of the releases' expectations is taken"}  # fmt: skip
    return None


def meets_expectation(case: Case, judgement: Judgement, release: str | None = None) -> bool:
    """The verdict, the phase and the cause are the ones the case expects of a firmware of edk2
    ``release`` (None: not known)."""
    expected, _change = case.expectation.for_release(release)
    if expected.recorded:
        return judgement.verdict != "error"
    if judgement.verdict != expected.verdict:
        return False
    if expected.phase is not None and judgement.phase != expected.phase.value:
        return False
    return expected.cause_matches(judgement.cause)


@dataclass
class Observations:
    """What the harness saw while the machine ran, beside the console transcript."""

    reached_entry: bool = False
    menu_problem: str | None = None
    returned_to_menu: bool = False
    harness_failure: str | None = None
    """Set when the harness, not the firmware, ended the boot: the verdict is then "error"."""
    restarts: list[str] = field(default_factory=list)
    """Why the harness reset the machine to power-on while driving its menus."""
    unchosen_boots: list[str] = field(default_factory=list)
    """Boots the firmware began while the harness walked its menus (each then reset)."""
    expected_line: str | None = None
    """A user's tree: the console line that matched --expect; the harness then stops QEMU."""


def run_case(
    case: Case,
    settings: Settings,
    artifacts: Path,
    *,
    tls: TlsMaterial | None = None,
    progress: Progress | None = None,
    console_sink: ConsoleSink | None = None,
) -> CaseResult:
    """Boot ``case`` and judge it; artifacts go to ``artifacts/<case id>``. Never raises for the
    harness's own trouble: that becomes the verdict "error". A stop (:class:`stop.Interrupted`,
    raised by any wait once SIGINT or SIGTERM asked for it) and KeyboardInterrupt clean up and
    propagate: they say nothing about the firmware, so no verdict is written."""
    stop.check()
    started = time.monotonic()
    case = with_user_tree(case, settings.boot_tree, settings.boot_path, settings.expect)
    files = CaseArtifacts(artifacts, case.id)
    run = _CaseRun(
        case, settings, files, tls, progress=progress or (lambda _label: None),
        console_sink=console_sink,
    )  # fmt: skip
    try:
        result = run.execute()
    except HarnessError as exc:
        result = run.error_result(exc)
    except Exception as exc:  # a library's surprise is still the harness's, never the firmware's
        result = run.error_result(InfrastructureError(f"unexpected {type(exc).__name__}: {exc}"),
                                  cause=exc)  # fmt: skip
    result.timings["total"] = time.monotonic() - started
    files.write_verdict(result.to_report())
    return result


def harness_error_result(case: Case, exc: BaseException, artifacts: Path) -> CaseResult:
    """The result of a case the harness could not even start (verdict ``error``)."""
    kind = "prerequisite" if isinstance(exc, PrerequisiteError) else "infrastructure"
    if isinstance(exc, UsageError):
        kind = "usage"  # the user's input, not the machine: the command answers exit 2
    message = f"{kind} problem: {exc}"
    judgement = Judgement("error", None, f"the harness could not judge the firmware: {exc}")
    return CaseResult(
        case, judgement, "unknown", artifacts.absolute() / case.id, error=message, error_kind=kind
    )


KEYS_HELD_BACK = "keys_held_back"
"""The timing of the harness's own share of the walk to the entry (Console.held_keys_back)."""


class _CaseRun:
    """One run: the rig, the console and what was observed, until the verdict."""

    def __init__(
        self,
        case: Case,
        settings: Settings,
        files: CaseArtifacts,
        tls: TlsMaterial | None,
        *,
        progress: Progress,
        console_sink: ConsoleSink | None,
    ) -> None:
        self.case = case
        self.settings = settings
        self.files = files
        self.progress = progress
        self.console_sink = console_sink
        self.rig = Rig(case, settings, files, tls)
        self.console: Console | None = None
        self.seen = Observations()

    def error_result(self, exc: HarnessError, cause: BaseException | None = None) -> CaseResult:
        result = harness_error_result(self.case, exc, self.files.folder.parent)
        if result.error_kind != "usage":  # bad input is said once, by the command
            log.error("%s: %s", self.case.id, result.error)
        self.files.write_harness_error(result.error or "", cause or exc)
        result.accel = self.rig.accel
        result.timings = self.rig.timings
        result.console_tail = self._console_tail()
        result.log_tails = self.rig.log_tails()
        result.details.update(self._start_details())
        result.details["unchosen_boots"] = self.seen.unchosen_boots
        result.details.update(self._firmware_details())
        return result

    def execute(self) -> CaseResult:
        deadline = Deadline(self.settings.timeout)
        self.progress("prepare")
        self.rig.check_prerequisites()
        with self.rig:
            self.progress("lab")
            machine = self.rig.start(deadline)
            if (choice := self.rig.start_choice) is not None:
                self.progress(
                    f"{choice.mode} start" + (f" ({choice.reason})" if choice.reason else "")
                )
            console = Console(
                machine.spec.serial_pipe, self.files.console_raw, machine.death_notice,
                sink=self.console_sink,
            )  # fmt: skip
            self.console = console
            try:
                machine.resume()
                self._drive_and_follow(machine, console, deadline)
            finally:
                console.close()  # every byte the guest printed is in now (serial_relay)
                self.files.write_console(console, machine.started_monotonic or 0.0)
            if self.seen.expected_line is None and self.rig.image is not None:
                # The guest may have powered off right after the line (it is still the proof).
                self.seen.expected_line = self.rig.image.expected_line(console.plain_since_power_on)
        # The daemons have stopped now: lighttpd writes its buffered access log when it stops.
        end = machine.end()
        if self.seen.harness_failure is None and end.by_host and self.seen.expected_line is None:
            self.seen.harness_failure = f"QEMU ended without the guest asking: {end.detail}"
        if self.seen.harness_failure is not None:
            raise InfrastructureError(self.seen.harness_failure)
        return self._judged(machine, console)

    # -- the boot ----------------------------------------------------------------------------
    def _drive_and_follow(self, machine: Machine, console: Console, deadline: Deadline) -> None:
        """Reach the boot entry the case's way, then follow the boot until it ends; note who
        ended it."""
        t0 = machine.started_monotonic or time.monotonic()
        warm = self._warm
        menu = OvmfMenu(
            console,
            keep_screen=lambda step: self.files.keep_screen(console, step),
            # Restored: the detection ended before the save (warm_start waits it out).
            before_network_entry=(lambda _d: None) if warm else self._wait_for_link_local_address,
            restart=lambda why: self._restart(machine, why),
        )
        try:
            self.progress(SPECS[Phase.BOOT_ENTRY].label)
            self._reach_entry(menu, deadline)
            self.seen.reached_entry = True
            self.rig.timings[SPECS[Phase.BOOT_ENTRY].timing_key] = time.monotonic() - t0
            self.rig.timings[KEYS_HELD_BACK] = console.held_keys_back()
            self._follow_boot(machine, console, deadline)
        except MenuEntryMissing as exc:
            self.seen.menu_problem = str(exc)
        except UnchosenBoot as exc:
            self.seen.harness_failure = (
                f"{exc}, again after a reset (before: {self.seen.unchosen_boots[0]!r}): the "
                "case's entry could not be chosen, so nothing was judged"
            )
        except HarnessTimeout as exc:
            if self.seen.reached_entry or console.first_output is None:
                # The firmware had the boot in hand, or never said a word: its verdict.
                log.info("%s: %s", self.case.id, exc)
            else:
                self.seen.harness_failure = f"could not drive the firmware's menus: {exc}"
        except MachineGone as exc:
            log.info("%s: %s", self.case.id, exc)
        _poll_events(machine)
        console.snapshot("the end of the boot")

    def _reach_entry(self, menu: OvmfMenu, deadline: Deadline) -> None:
        """The case's source walks to its entry, watched for a boot the firmware begins on its
        own. The first such boot is noticed at its first line and reset (said in the report's
        ``unchosen_boots`` and ``restarts``), and the walk starts again from power-on, so the
        verdict is always about the entry the case asked for; a second one ends the case as
        ``error``: the harness could not choose, so it cannot judge."""
        snapshot = self.rig.start_choice.snapshot if self.rig.start_choice else None
        source, where = self.case.source, self.rig.locations
        with menu.watching_for_unchosen_boots():
            try:
                if snapshot is not None:
                    menu.wake_in_boot_manager(snapshot.screen.read_bytes(), deadline)
                    source.reach_entry_restored(self.case, menu, where, deadline)
                else:
                    source.reach_entry(self.case, menu, where, deadline)
                return
            except UnchosenBoot as exc:
                self.seen.unchosen_boots.append(exc.started)
                menu.reset(f"{exc}: the machine was reset to power-on to walk them again")
            source.reach_entry(self.case, menu, where, deadline)

    def _restart(self, machine: Machine, why: str) -> None:
        """The firmware hung in its menus before the boot began: power-on again, said in the
        log, the progress and the report (``restarts``)."""
        log.warning("%s: %s", self.case.id, why)
        self.progress("firmware reset")
        self.seen.restarts.append(why)
        machine.restart()

    def _follow_boot(self, machine: Machine, console: Console, deadline: Deadline) -> None:
        """Read the console and QMP until the guest powers off, the firmware gives up (an error,
        its menu again, silence after a download) or the deadline passes."""
        menu_left = False
        error_seen_at: float | None = None
        proof_line = self._proof_line()
        label = ""
        while True:
            console.pump(min(0.1, deadline.remaining()))
            _poll_events(machine)
            now = time.monotonic()
            if machine.guest_powered_off() or machine.death_notice() is not None:
                return  # what the guest printed last is taken in when the console closes
            console.check_alive()  # a lost serial line is the harness's, not the firmware's
            plain = console.plain_since_power_on
            self._check_started_entry(plain)
            assert self.rig.image is not None
            if (line := self.rig.image.expected_line(plain)) is not None:
                self.seen.expected_line = line  # success: the harness stops the guest
                return
            if (phase := _latest_phase(plain, proof_line)) and phase != label:
                label = phase
                self.progress(label)
            on_menu = on_a_menu(console.screen)
            menu_left = menu_left or not on_menu
            if menu_left and on_menu and proof_line not in plain:
                self.seen.returned_to_menu = True
                console.settle(deadline.sooner(1.0))
                return
            if error_seen_at is None and "Error: " in plain[-4000:]:
                error_seen_at = now
                self.progress("firmware error")
            if error_seen_at is not None and now - error_seen_at > ERROR_GRACE_SECONDS:
                return
            if STOP_LINE.search(plain[-8000:]):  # a prompt, a panic, a refusal: nothing more comes
                console.settle(deadline.sooner(1.0))
                return
            last = console.last_output or now
            limit = self.case.payload.silence_after_download
            attempt_over = "Downloading...100%" in plain or "NBP file downloaded" in plain
            if attempt_over and proof_line not in plain and limit and now - last > limit:
                return
            if deadline.expired():
                raise HarnessTimeout("the case's deadline passed while the firmware was booting")

    def _check_started_entry(self, plain: str) -> None:
        """The first boot the firmware starts must be the chosen one; otherwise a key of the
        harness went astray, and the verdict could not be about the case."""
        first = plain.find(START_MARK)
        if first < 0:
            return
        started = plain[first:].split("\n", 1)[0].rstrip(". ")
        wanted = self.case.source.start_line(self.case)
        # Compare word by word what is there: a starved reader may have lost a few bytes.
        if any(word not in wanted for word in ("HTTP", "PXE", "IPv4", "IPv6") if word in started):
            raise InfrastructureError(
                f"the firmware started {started!r}, not {wanted!r}: the harness's keys "
                "chose another boot entry"
            )

    def _wait_for_link_local_address(self, deadline: Deadline) -> None:
        """Do not start an IPv6 boot while the client's link-local address is tentative.

        Debian 12's OVMF (edk2 2022.11) fails at once with "Unexpected network error" when
        HTTP or PXE boot over IPv6 starts during the duplicate address detection of its
        link-local address (an edk2 race, fixed upstream): seen here when the entry was chosen
        0.7 s after the detection began. A person is never that fast; the harness is, so it
        waits until the capture shows the detection began one RetransTimer (1 s) ago.
        """
        console = self.console
        assert console is not None
        if not wait_for_link_local_dad(self.rig.capture_file, console.pump, deadline):
            log.info(
                "%s: no duplicate address detection seen; choosing the entry anyway", self.case.id
            )

    @property
    def _warm(self) -> bool:
        return self.rig.start_choice is not None and self.rig.start_choice.snapshot is not None

    def _firmware_details(self) -> dict[str, Any]:
        """The report's ``firmware`` (the code path), ``firmware_version`` (one line) and
        ``firmware_identity`` (its parts), read from the code image itself once the rig has
        chosen it (see firmware_identity); an error row before that has none of them."""
        if self.rig.firmware is None:
            return {}
        code = self.rig.firmware.code
        identity = identify(code)
        return {
            "firmware": str(code),
            "firmware_version": identity.label,
            "firmware_identity": identity.fields(),
        }

    def _start_details(self) -> dict[str, Any]:
        """The report's ``start`` (warm or cold); when a warm start was asked for and not given,
        ``start_reason``; when given, ``start_snapshot`` (the firmware key it was restored from)."""
        choice = self.rig.start_choice
        return {
            "start": "warm" if self._warm else "cold",
            "start_reason": choice.reason if choice is not None else None,
            "start_snapshot": choice.snapshot.key if choice and choice.snapshot else None,
        }

    # -- the verdict -------------------------------------------------------------------------
    def _proof_line(self) -> str:
        assert self.rig.image is not None
        return self.seen.expected_line or self.rig.image.proof_line

    def _judged(self, machine: Machine, console: Console) -> CaseResult:
        image = self.rig.image
        assert image is not None
        network = read_capture(self.rig.capture_file, machine.started_wall or time.time())
        self._date_phases(machine, console)
        timeline = self._timeline(machine, console, network)
        self.files.write_timeline(timeline)
        judgement = judge(self._evidence(machine, console, network))
        if judgement.verdict == "error":  # the evidence itself was damaged on the way
            raise SerialLineLost(judgement.summary)
        if self.seen.expected_line is not None and judgement.verdict == "booted":
            judgement.summary = "the expected line appeared; the harness stopped the guest"
        if self.seen.unchosen_boots:
            judgement.summary += (
                f" (after a reset: the firmware had first started "
                f"{self.seen.unchosen_boots[0]!r} on its own)"
            )
        where = self.rig.locations
        return CaseResult(
            self.case, judgement, self.rig.accel, self.files.folder, self.rig.timings,
            console_tail=self._console_tail(), log_tails=self.rig.log_tails(),
            timeline=timeline,
            details={"accel_reason": self.rig.accel_reason,
                     "boot_url": where.boot_url, "nonce": image.nonce,
                     "image_path": where.image_path, "image_size": image.size,
                     "servers": sorted(self.rig.services), "restarts": self.seen.restarts,
                     "unchosen_boots": self.seen.unchosen_boots,
                     **self._start_details(), **self._firmware_details()},
        )  # fmt: skip

    def _date_phases(self, machine: Machine, console: Console) -> None:
        """Each phase's timing key, from when its console marks arrived (seconds from cont)."""
        t0 = machine.started_monotonic or 0.0
        timings = self.rig.timings
        if console.first_output is not None:
            timings[SPECS[Phase.FIRMWARE].timing_key] = console.first_output - t0
        for spec in PHASES:
            if spec.phase not in self.case.phases:
                continue
            arrivals = [a for needle, _ in spec.console_marks if (a := console.arrival(needle))]
            if arrivals and spec.timing_key not in timings:
                timings[spec.timing_key] = max(arrivals) - t0
        if arrived := console.arrival(self._proof_line()):
            timings[SPECS[Phase.IMAGE].timing_key] = arrived - t0
        elif SPECS[Phase.IMAGE].timing_key in timings:
            del timings[SPECS[Phase.IMAGE].timing_key]  # GRUB's banner alone proves nothing
        if off := machine.guest_powered_off():
            timings[SPECS[Phase.POWEROFF].timing_key] = off.seconds

    def _timeline(
        self, machine: Machine, console: Console, network: list[NetEvent]
    ) -> list[TimelineEvent]:
        origin = machine.started_monotonic or 0.0

        def arrival(needle: str) -> float | None:
            arrived = console.arrival(needle)
            return None if arrived is None else arrived - origin

        entry = self.rig.timings.get(SPECS[Phase.BOOT_ENTRY].timing_key)
        return build_timeline(
            harness_marks={"firmware reached the boot option (entry chosen)": entry}
            if entry is not None else {},
            console_arrival=arrival,
            marks=(*console_marks(), (self._proof_line(), "image output (the proof line)")),
            network=network,
            qmp=[(e.seconds, f"QMP {e.name}", str(e.data) if e.data else "")
                 for e in machine.events if e.name != "RESUME"],
        )  # fmt: skip

    def _evidence(self, machine: Machine, console: Console, network: list[NetEvent]) -> Evidence:
        image = self.rig.image
        assert image is not None
        event = machine.guest_powered_off()
        where = self.rig.locations
        return Evidence(
            case=self.case,
            image_path=where.image_path,
            image_size=image.size,
            boot_url=where.boot_url,
            proof_line=self._proof_line(),
            reached_boot_entry=self.seen.reached_entry,
            console=parse_console(console.plain_since_power_on, self._proof_line()),
            servers=ServerLogs.from_case_dir(self.files.folder),
            shutdown_event=event.data if event else None,
            firmware_output=console.first_output is not None,
            network=network,
            menu_problem=self.seen.menu_problem,
            returned_to_menu=self.seen.returned_to_menu,
            served=image.served,
            kernel_cmdline=image.kernel_cmdline,
        )

    def _console_tail(self, count: int = 20) -> list[str]:
        if self.console is None:
            return []
        return [line for line in self.console.plain.splitlines() if line.strip()][-count:]


def _latest_phase(plain: str, proof_line: str) -> str | None:
    """The progress label of the latest phase whose console mark has appeared."""
    label = None
    for spec in PHASES:
        if any(needle in plain for needle, _ in spec.console_marks):
            label = spec.label
    return SPECS[Phase.IMAGE].label if proof_line in plain else label


def _poll_events(machine: Machine) -> None:
    """Read QMP's events; a QEMU that is gone has nothing more to say (``Machine.end`` then
    tells who ended it)."""
    try:
        machine.poll_events()
    except MachineError:
        if machine.death_notice() is None:
            raise
