"""The command run as a child with a private TMPDIR, so what it leaves there is its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HARNESS = [sys.executable, "-m", "httpboot_harness"]


@dataclass(frozen=True)
class Finished:
    pid: int
    code: int
    stdout: str
    stderr: str


def env_with_temp(temp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(temp)}


def harness(temp: Path, *args: str, timeout: float = 300) -> Finished:
    child = subprocess.Popen(
        [*HARNESS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with_temp(temp),
    )
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    return Finished(child.pid, child.returncode, stdout, stderr)


@pytest.fixture
def temp() -> Iterator[Path]:
    """A short private temporary folder (QEMU's socket paths must stay under 108 bytes),
    readable by apache2's workers."""
    folder = Path(tempfile.mkdtemp(prefix="hbt-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
