"""The --jobs auto rule and its option."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from httpboot_harness.cli import build_parser
from httpboot_harness.parallel import auto_jobs, available_mib, parse_jobs


def test_tcg_runs_two_cases_per_core_kvm_one() -> None:
    assert auto_jobs(2, "tcg", 64 * 1024, 1024) == 4
    assert auto_jobs(2, "kvm", 64 * 1024, 1024) == 2
    assert auto_jobs(0, "tcg", None, 1024) == 2


def test_memory_bounds_the_number_but_never_below_one() -> None:
    assert auto_jobs(8, "tcg", 3 * (1024 + 256), 1024) == 3
    assert auto_jobs(8, "tcg", 100, 1024) == 1


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683520 kB\nMemAvailable:    2097152 kB\n")
    assert available_mib(meminfo) == 2048
    meminfo.write_text("MemTotal: 1 kB\n")
    assert available_mib(meminfo) is None
    assert available_mib(tmp_path / "absent") is None


def test_jobs_option_takes_a_number_or_auto_and_defaults_to_auto() -> None:
    parser = build_parser()
    assert parser.parse_args(["matrix"]).jobs == "auto"
    assert parser.parse_args(["matrix", "--jobs", "3"]).jobs == 3
    assert parse_jobs("auto") == "auto"
    for bad in ("0", "-2", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive whole number or auto"):
            parse_jobs(bad)


def test_warm_start_is_a_switch_of_the_boot_commands() -> None:
    parser = build_parser()
    assert parser.parse_args(["matrix", "--warm-start"]).warm_start is True
    assert parser.parse_args(["run", "ipv4-http"]).warm_start is None
