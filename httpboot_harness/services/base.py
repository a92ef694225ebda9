"""What every daemon of the lab shares: render config, build argv, start in the namespace, be ready.

A service is a frozen description (what to serve) plus a :class:`ManagedProcess` once started.
Rendering is pure (unit-tested against the seed's configuration shapes); starting is the only part
that touches the machine.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrerequisiteError
from ..process import ManagedProcess, Readiness
from ..waiting import Deadline


@dataclass(frozen=True)
class Binary:
    """An executable the harness needs, and the Debian package that provides it."""

    name: str
    package: str

    def resolve(self) -> str:
        path = shutil.which(self.name) or shutil.which(self.name, path="/usr/sbin:/sbin")
        if path is None:
            raise PrerequisiteError(
                f"{self.name} is not installed", f"apt-get install {self.package} (or make setup)"
            )
        return path


class Service(ABC):
    """One daemon of the lab. Subclasses render their config and say how to know they are ready."""

    name: str
    binary: Binary

    @abstractmethod
    def render(self, workdir: Path) -> dict[str, str]:
        """Config files to write, by file name relative to ``workdir``."""

    @abstractmethod
    def argv(self, executable: str, workdir: Path) -> list[str]:
        """The daemon's command line, running in the foreground and logging to stdout/stderr."""

    @abstractmethod
    def readiness(self) -> list[Readiness]:
        """Checks that all pass once the daemon serves."""

    def log_files(self, workdir: Path) -> dict[str, Path]:
        """Every log the daemon writes in ``workdir``, by label (``serve`` follows them)."""
        return {self.name: workdir / f"{self.name}.log"}

    def start(
        self, *, netns: str | None, workdir: Path, tag: str, deadline: Deadline
    ) -> ManagedProcess:
        """Write the config, start the daemon (inside ``netns``, if given) and wait for it."""
        executable = self.binary.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        for file_name, text in self.render(workdir).items():
            (workdir / file_name).write_text(text)
            if file_name.endswith(".sh"):
                (workdir / file_name).chmod(0o755)
        process = ManagedProcess(
            self.name,
            self.argv(executable, workdir),
            log_path=self.log_files(workdir)[self.name],
            netns=netns,
            tag=tag,
        )
        process.start()
        try:
            process.wait_ready(self.readiness(), deadline)
        except BaseException:
            process.stop()
            raise
        return process
