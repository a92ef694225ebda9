"""QEMU's save and restore as the warm start uses them, on a machine that never runs: a state
loads into the same machine, and a machine of another size refuses it as the harness's error,
never a firmware verdict. Needs root and the Debian packages (``make setup``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.errors import MachineError
from httpboot_harness.firmware import find_firmware
from httpboot_harness.machine import Machine, MachineSpec
from httpboot_harness.network import Lab, new_tag
from httpboot_harness.waiting import Deadline


def _machine(spec: MachineSpec, lab: Lab, folder: Path) -> Machine:
    folder.mkdir(parents=True, exist_ok=True)
    spec = dataclasses.replace(
        spec, vars_copy=folder / "vars.fd", socket_dir=Machine.new_socket_dir()
    )
    return Machine(spec, netns=lab.name, tag=lab.name, workdir=folder)


def test_a_saved_state_loads_into_the_same_machine_only(tmp_path: Path) -> None:
    firmware = find_firmware()
    spec = MachineSpec(
        qemu="qemu-system-x86_64", accel="tcg", firmware_code=firmware.code,
        vars_copy=tmp_path, socket_dir=tmp_path, memory_mb=256,
    )  # fmt: skip
    state = tmp_path / "state.bin"
    with Lab(new_tag()) as lab:
        saver = _machine(spec, lab, tmp_path / "saver")
        firmware.copy_vars(saver.spec.vars_copy)
        try:
            saver.launch(Deadline(60))
            saver.save_state(state, Deadline(60))
        finally:
            saver.stop()
        assert state.stat().st_size > 0

        same = _machine(spec, lab, tmp_path / "same")
        firmware.copy_vars(same.spec.vars_copy)
        try:
            same.launch(Deadline(60), incoming=state)
            assert same.death_notice() is None
        finally:
            same.stop()

        bigger = _machine(dataclasses.replace(spec, memory_mb=512), lab, tmp_path / "bigger")
        firmware.copy_vars(bigger.spec.vars_copy)
        try:
            with pytest.raises(
                MachineError, match="QEMU ended while waiting for QEMU to load"
            ) as refused:
                bigger.launch(Deadline(60), incoming=state)
        finally:
            bigger.stop()
        assert "Size mismatch: pc.ram" in str(refused.value)
