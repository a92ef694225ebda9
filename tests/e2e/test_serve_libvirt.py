"""``serve`` prints its client for libvirt too: a domain that libvirt's schema accepts, naming the
same firmware files, vars copy and CA list as the QEMU command it prints beside it."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

from httpboot_harness.libvirt_domain import QEMU_NAMESPACE


def test_serve_prints_a_libvirt_domain_of_the_same_machine(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "httpboot_harness", "serve", "--scheme", "https",
         "--duration", "1", "--artifacts", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    domain_file = tmp_path / "domain.xml"
    checked = subprocess.run(
        ["virt-xml-validate", str(domain_file), "domain"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert domain_file.read_text() in done.stdout

    qemu_line = next(line for line in done.stdout.splitlines() if line.startswith("QEMU: "))
    qemu = shlex.split(qemu_line.removeprefix("QEMU: "))
    domain = ET.parse(domain_file).getroot()
    drives = [qemu[i + 1] for i, arg in enumerate(qemu) if arg == "-drive"]
    assert drives[0].endswith(f"file={domain.findtext('os/loader')}")
    assert drives[1].endswith(f"file={domain.findtext('os/nvram')}")
    fw_cfg = [a.get("value") for a in domain.iter(f"{{{QEMU_NAMESPACE}}}arg")]
    assert [qemu[i + 1] for i, arg in enumerate(qemu) if arg == "-fw_cfg"] == fw_cfg[1::2]
    assert any(line.startswith("virt-install: virt-install ") for line in done.stdout.splitlines())
