"""One exception root, with infrastructure problems kept apart from firmware failures.

    HarnessError                    anything this package raises on purpose
     +-- InfrastructureError        the harness could not judge the firmware (bisect: skip, 125)
     |    +-- PrerequisiteError     something to install or fix on the machine first
     |    +-- ServiceError          a daemon did not start or died
     |    +-- MachineError          QEMU did not start, died, or QMP failed
     |    |    +-- QmpError         one QMP exchange failed; keeps what was sent and the cause
     |    +-- HarnessTimeout        a wait of the harness itself ran out of time
     +-- UsageError                 bad input from the user (a case id, an option value)

A firmware that fails to boot is *not* an exception: it is a verdict (see ``evidence``), because a
bisect must blame the firmware (exit 1) only for that and skip (exit 125) everything above.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error raised on purpose by httpboot-harness."""


class InfrastructureError(HarnessError):
    """The harness could not run or judge the case; says nothing about the firmware."""


class PrerequisiteError(InfrastructureError):
    """A tool, file or permission the harness needs is missing.

    ``fix`` is the command or action that repairs it, shown to the user in the same line.
    """

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; fix: {fix}")
        self.what = what
        self.fix = fix


class ServiceError(InfrastructureError):
    """A server daemon failed to start, to become ready, or died while it was needed."""


class MachineError(InfrastructureError):
    """QEMU could not be started or controlled."""


class QmpError(MachineError):
    """A QMP exchange failed in qemu.qmp, asyncio or the socket (a timeout is HarnessTimeout).

    ``sent`` says what the harness sent or tried (``connect to PATH``, ``execute 'cont'``), and
    ``cause`` is the library's exception, also chained as ``__cause__``.
    """

    def __init__(self, sent: str, cause: BaseException) -> None:
        super().__init__(f"QMP {sent} failed: {type(cause).__name__}: {cause}")
        self.sent = sent
        self.cause = cause


class HarnessTimeout(InfrastructureError):
    """A wait that belongs to the harness (not to the firmware) ran out of time."""


class UsageError(HarnessError):
    """The user's input is wrong: the message names the problem and the fix."""
