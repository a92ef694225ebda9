"""Settings, declared once: CLI or pytest options > pytest ini > HTTPBOOT_* > defaults.

Each :class:`Option` holds a setting's help, choices, default and converter. The command's
``--flags``, the pytest plugin's ``--httpboot-*`` options and ini keys, and the ``HTTPBOOT_*``
environment variables are all generated from :data:`OPTIONS`, so a setting has the same name,
meaning and default everywhere.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from .arch import ARCHES, Arch
from .errors import UsageError
from .sharding import Shard

ENV_PREFIX = "HTTPBOOT_"
Accel = Literal["auto", "kvm", "tcg"]
HttpServer = Literal["lighttpd", "apache2"]
DhcpServer = Literal["dnsmasq", "isc"]
Profile = Literal["tuned", "seed"]
LabMode = Literal["auto", "root", "rootless"]


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; each field is declared as an :class:`Option` below."""

    ovmf_code: Path | None = None
    ovmf_vars: Path | None = None
    ovmf_secboot_code: Path | None = None
    ovmf_secboot_vars: Path | None = None
    qemu: str = "qemu-system-x86_64"
    arch: Arch = "x86_64"
    accel: Accel = "auto"
    qemu_args: tuple[str, ...] = ()
    artifacts: Path | None = None
    timeout: float = 180.0
    report: Path | None = None
    http_server: HttpServer = "lighttpd"
    dhcp_server: DhcpServer = "dnsmasq"
    profile: Profile = "tuned"
    memory: int = 1024
    boot_tree: Path | None = None
    boot_path: str | None = None
    expect: str | None = None
    shard: Shard | None = None
    durations_from: Path | None = None
    html: Path | None = None
    warm_start: bool = False
    lab_mode: LabMode = "auto"

    def __post_init__(self) -> None:
        """A user's tree needs the file to boot and the line that proves success, both real."""
        if self.boot_tree is None:
            return
        example = "EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI on aarch64)"
        if not self.boot_tree.is_dir():
            raise UsageError(
                f"boot-tree {self.boot_tree} is not a folder; fix: pass the folder holding the "
                "tree (an ISO's files, mounted or unpacked)"
            )
        if not self.boot_path or not self.expect:
            raise UsageError(
                "boot-tree needs boot-path (the file to boot) and expect (a regex); fix: add "
                f"boot-path {example} and expect 'a line your boot prints'"
            )
        if not (self.boot_tree / self.boot_path.lstrip("/")).is_file():
            raise UsageError(
                f"boot-path {self.boot_path} is not a file in {self.boot_tree} (the file the "
                f"firmware would boot); fix: pass the path of that file inside the tree, "
                f"e.g. {example}"
            )

    @classmethod
    def merge(
        cls,
        *,
        cli: Mapping[str, Any] | None = None,
        ini: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Merge the sources, later ones winning; a value of None or ``()`` means "not given"."""
        merged: dict[str, Any] = {}
        for source in (from_environment(env or {}), ini or {}, cli or {}):
            for key, value in source.items():
                if value is None or value in ((), [], ""):
                    continue
                merged[key] = value
        return cls.from_values(merged)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from raw values (strings allowed), checking each with a clear message."""
        unknown = set(values) - set(OPTIONS)
        if unknown:
            raise UsageError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(OPTIONS)}")
        return cls(**{key: OPTIONS[key].convert(key, value) for key, value in values.items()})


def _absolute_path(_key: str, value: Any) -> Path:
    # Absolute: daemons and QEMU get these paths in their configs and run elsewhere.
    return Path(value).expanduser().absolute()


def _seconds(key: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise UsageError(f"{key} must be positive, not {seconds}")
    return seconds


def _arguments(_key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    return tuple(str(v) for v in value)


def _mebibytes(key: str, value: Any) -> int:
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be a whole number of MiB, not {value!r}") from None
    if amount < 128:
        raise UsageError(f"{key} must be at least 128 MiB (OVMF needs it), not {amount}")
    return amount


def _regex(key: str, value: Any) -> str:
    try:
        re.compile(str(value))
    except re.error as exc:
        raise UsageError(f"{key} is not a regular expression: {exc}") from None
    return str(value)


def _text(_key: str, value: Any) -> str:
    return str(value)


def _shard(_key: str, value: Any) -> Shard:
    return value if isinstance(value, Shard) else Shard.parse(str(value))


def _boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{key.replace('_', '-')} must be true or false (1/0, yes/no), not {value!r}")


@dataclass(frozen=True)
class Option:
    """One setting: its help, its choices and how a raw value (often a string) becomes it."""

    help: str
    choices: tuple[str, ...] = ()
    convert_value: Callable[[str, Any], Any] = _text
    repeatable: bool = False
    """Given once per value on the command line (``--qemu-arg A --qemu-arg B``)."""
    flag_name: str | None = None
    """The option's name where it differs from the setting's (``qemu-arg`` for qemu_args)."""
    switch: bool = False
    """A flag without a value on the command line (``--warm-start``); true/false elsewhere."""

    def convert(self, key: str, value: Any) -> Any:
        if self.choices and value not in self.choices:
            raise UsageError(
                f"{key.replace('_', '-')} must be one of {', '.join(self.choices)}, not {value!r}"
            )
        return self.convert_value(key, value)

    def flag(self, key: str) -> str:
        return self.flag_name or key.replace("_", "-")


OPTIONS: dict[str, Option] = {
    "ovmf_code": Option(
        "OVMF code volume (default: found through QEMU's firmware descriptors)",
        convert_value=_absolute_path,
    ),
    "ovmf_vars": Option(
        "OVMF vars template, copied per case and never written (default: the code's template)",
        convert_value=_absolute_path,
    ),
    "ovmf_secboot_code": Option(
        "the Secure Boot OVMF code volume that Secure Boot cases run (built with SMM; default: "
        "found through QEMU's firmware descriptors, then OVMF_CODE_4M.secboot.fd)",
        convert_value=_absolute_path,
    ),
    "ovmf_secboot_vars": Option(
        "the vars template of Secure Boot cases, with the keys enrolled (PK, KEK, db: "
        "OVMF_VARS_4M.ms.fd); copied per case and never written (default: the descriptor's)",
        convert_value=_absolute_path,
    ),
    "qemu": Option("QEMU binary (default: the architecture's, qemu-system-x86_64)"),
    "arch": Option(
        "the architecture that --qemu and --ovmf-code/--ovmf-vars are for, and of the cases run "
        "when none are named (default: x86_64; the other's cases use its own QEMU and firmware)",
        choices=ARCHES,
    ),
    "accel": Option(
        "accelerator: auto probes KVM and falls back to TCG (default: auto)",
        choices=("auto", "kvm", "tcg"),
    ),
    "qemu_args": Option(
        "extra QEMU argument, appended to its argv (repeatable; may start with -)",
        convert_value=_arguments,
        repeatable=True,
        flag_name="qemu-arg",
    ),
    "artifacts": Option(
        "folder for per-case artifacts (default: a temporary folder)",
        convert_value=_absolute_path,
    ),
    "timeout": Option(
        "deadline in seconds for one case, from lab setup to verdict (default: 180)",
        convert_value=_seconds,
    ),
    "report": Option(
        "write the JSON report of all cases to this path",
        convert_value=_absolute_path,
        flag_name="json",
    ),
    "http_server": Option(
        "the seed's web server for HTTP and HTTPS (default: lighttpd)",
        choices=("lighttpd", "apache2"),
    ),
    "dhcp_server": Option(
        "DHCPv4 from dnsmasq, or ISC dhcpd with the seed's dhcpd.conf (default: dnsmasq)",
        choices=("dnsmasq", "isc"),
    ),
    "profile": Option(
        'server settings: "tuned" lets the firmware go fastest, "seed" is the HOWTO as written '
        "(default: tuned)",
        choices=("tuned", "seed"),
    ),
    "memory": Option(
        "the guest's RAM in MiB (default: 1024)",
        convert_value=_mebibytes,
    ),
    "boot_tree": Option(
        "your own tree (e.g. an ISO's files), served at the document root instead of the "
        "harness's image; needs boot-path and expect",
        convert_value=_absolute_path,
    ),
    "boot_path": Option("the file the firmware boots, relative to boot-tree"),
    "expect": Option(
        "regular expression for the console line that proves success (with boot-tree)",
        convert_value=_regex,
    ),
    "shard": Option(
        "run only shard K of N (K/N) of the selected cases, split the same way on every machine "
        "(balanced by durations-from when given, else by count)",
        convert_value=_shard,
    ),
    "durations_from": Option(
        "an earlier JSON report whose case durations balance the shards",
        convert_value=_absolute_path,
    ),
    "html": Option(
        "write the HTML report (table, phase timelines, failing cases' logs) to this path",
        convert_value=_absolute_path,
    ),
    "warm_start": Option(
        "start each case from a machine saved at its Boot Manager, once per distinct firmware, "
        "instead of power-on (faster; the firmware's power-on path then runs once per firmware, "
        "not per case; cases that change anything before the Boot Manager start cold)",
        convert_value=_boolean,
        switch=True,
    ),
    "lab_mode": Option(
        "how the lab is made: root (named namespaces, needs root), rootless (a user namespace, "
        "no sudo; needs /dev/net/tun open to users) or auto: root when run as root (default)",
        choices=("auto", "root", "rootless"),
    ),
}

if set(OPTIONS) != {f.name for f in fields(Settings)}:  # pragma: no cover - a developer's slip
    raise RuntimeError("every Settings field needs exactly one Option")


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Read HTTPBOOT_OVMF_CODE, HTTPBOOT_ACCEL, ... (HTTPBOOT_QEMU_ARGS is split like a shell)."""
    return {
        key: env[ENV_PREFIX + key.upper()] for key in OPTIONS if env.get(ENV_PREFIX + key.upper())
    }


def add_arguments(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """The command's ``--flag`` for each setting (values are converted by Settings.merge)."""
    for key, option in OPTIONS.items():
        if key in skip:
            continue
        extra: dict[str, Any] = {"choices": option.choices} if option.choices else {}
        if option.repeatable:
            extra.update(action="append", metavar="ARG")
        if option.switch:
            extra.update(action="store_const", const=True)
        parser.add_argument(f"--{option.flag(key)}", dest=key, help=option.help, **extra)


def option_flag(key: str) -> str:
    """``--httpboot-<setting>`` (``--httpboot-qemu-arg``, ``--httpboot-report``)."""
    name = OPTIONS[key].flag(key) if OPTIONS[key].repeatable else key.replace("_", "-")
    return f"--httpboot-{name}"
