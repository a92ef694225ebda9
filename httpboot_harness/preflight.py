"""Bad input caught before anything starts, each as one line naming the problem and the fix.

The command checks what it was given before it makes a namespace or starts a daemon: the
firmware files (a volume, and a code/vars pair of one build; for Secure Boot cases their own
build, ``ovmf-secboot-code``, and a template with keys enrolled, ``ovmf-secboot-vars``) and the
artifacts folder (writable, with room); a user's tree is checked where the settings are made
(``config.Settings``). What only QEMU can judge
(an extra ``--qemu-arg``) is read from QEMU's own complaint when it refuses to start
(:func:`rejected_qemu_arg`). Each is a ``UsageError``: exit 2, and 128 for ``bisect-run``, since
no commit fixes a wrong path.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from .arch import ArchSpec
from .cases import Case
from .config import Settings
from .errors import PrerequisiteError, UsageError
from .firmware import find_arch_firmware, find_secure_boot_firmware

MIN_FREE_BYTES = 64 << 20
"""Room a case needs in the artifacts folder: about 1 MiB for a proof-image case (vars copy,
capture, logs), tens of MiB for the seed's chain; less than this is a folder about to fill."""


def check_inputs(settings: Settings, cases: Sequence[Case]) -> None:
    """Raise ``UsageError`` for the first bad input among the settings the cases will use."""
    for arch in _arches(cases):
        profiles = {case.firmware.secure_boot for case in cases if case.arch_spec is arch}
        # A missing firmware (PrerequisiteError) stays each case's "error" row in the report;
        # a file that is not one, or of another build, is the user's input: said here, once.
        if False in profiles:
            with contextlib.suppress(PrerequisiteError):
                find_arch_firmware(settings, arch)
        if True in profiles:
            with contextlib.suppress(PrerequisiteError):
                find_secure_boot_firmware(settings, arch)
    check_artifacts_folder(settings.artifacts)


def _arches(cases: Iterable[Case]) -> list[ArchSpec]:
    seen: list[ArchSpec] = []
    for case in cases:
        if case.arch_spec not in seen:
            seen.append(case.arch_spec)
    return seen


def check_artifacts_folder(folder: Path | None, min_free: int = MIN_FREE_BYTES) -> None:
    """The artifacts folder (or the temporary folder a run would use) can be written and has
    room; a folder made here for the check is removed again when the check fails."""
    given = folder is not None
    where = folder if folder is not None else Path(tempfile.gettempdir())
    flag = f"--artifacts {where}" if given else f"the temporary folder {where}"
    fix = (
        "pass --artifacts with a writable folder that has room"
        if given
        else "set TMPDIR or pass --artifacts DIR"
    )
    made = _missing_parents(where)
    try:
        try:
            where.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=where, prefix=".httpboot-probe-") as probe:
                probe.write(b"\0" * 4096)
                probe.flush()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise UsageError(f"{flag} is full (no space left on device); fix: {fix}") from None
            if exc.errno == errno.EROFS:
                raise UsageError(f"{flag} is on a read-only file system; fix: {fix}") from None
            raise UsageError(f"{flag} cannot be written ({exc.strerror}); fix: {fix}") from None
        free = shutil.disk_usage(where).free
        if free < min_free:
            raise UsageError(
                f"{flag} has {free >> 10} KiB free, a case needs about {min_free >> 20} MiB; "
                f"fix: {fix}"
            )
    except UsageError:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _missing_parents(folder: Path) -> list[Path]:
    """The outermost folder of ``folder``'s chain that does not exist yet (what mkdir makes)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    return missing[-1:]


_QEMU_COMPLAINT = re.compile(r"^[^:\s]*qemu[^:\s]*: (?P<arg>-[^:]+): (?P<why>.+)$")
"""QEMU names the option it refuses: ``qemu-system-x86_64: -bogus: invalid option``,
``qemu-system-x86_64: -device foo: 'foo' is not a valid device model name``."""


def rejected_qemu_arg(user_args: Sequence[str], qemu_output: str) -> UsageError | None:
    """The user's ``--qemu-arg`` QEMU refused, from QEMU's output; None if it was not one."""
    for line in qemu_output.splitlines():
        match = _QEMU_COMPLAINT.match(line.strip())
        if match is None:
            continue
        option = match.group("arg").strip()
        name, _, value = option.partition(" ")
        given = _user_option(user_args, name, value)
        if given is not None:
            return UsageError(
                f"QEMU rejects --qemu-arg {given}: {match.group('why').strip()}; "
                "fix: correct or drop that --qemu-arg (qemu-system-* -help lists the options)"
            )
    return None


def _user_option(user_args: Sequence[str], name: str, value: str) -> str | None:
    """``name [value]`` as the user gave it, when it is among their arguments."""
    for index, arg in enumerate(user_args):
        if arg != name:
            continue
        following = user_args[index + 1] if index + 1 < len(user_args) else ""
        if not value or following == value:
            return f"{name} {following}".strip() if value else name
    return None
