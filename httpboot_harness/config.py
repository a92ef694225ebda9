"""One frozen settings object: CLI or pytest options > pytest ini > HTTPBOOT_* > defaults.

The pytest plugin and the command-line tool both build their settings here, so an option has the
same name, meaning and default in both.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast

from .errors import UsageError

Accel = Literal["auto", "kvm", "tcg"]
ACCEL_CHOICES: tuple[Accel, ...] = ("auto", "kvm", "tcg")
ENV_PREFIX = "HTTPBOOT_"
HttpServer = Literal["lighttpd", "apache2"]
DhcpServer = Literal["dnsmasq", "isc"]
HTTP_SERVER_CHOICES: tuple[HttpServer, ...] = ("lighttpd", "apache2")
DHCP_SERVER_CHOICES: tuple[DhcpServer, ...] = ("dnsmasq", "isc")
Profile = Literal["tuned", "seed"]
PROFILES: tuple[Profile, ...] = ("tuned", "seed")


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; each field is also an option, an ini key and a variable."""

    ovmf_code: Path | None = None
    """OVMF code volume; None: discover it through QEMU's firmware descriptors."""
    ovmf_vars: Path | None = None
    """OVMF vars template (copied per case, never written); None: the descriptor's template."""
    qemu: str = "qemu-system-x86_64"
    accel: Accel = "auto"
    qemu_args: tuple[str, ...] = ()
    """Extra arguments appended to QEMU's argv, e.g. ``-fw_cfg name=...,string=no``."""
    artifacts: Path | None = None
    """Folder for per-case artifacts; None: a temporary folder chosen by the caller."""
    timeout: float = 180.0
    """Deadline for one case, from lab setup to verdict, in seconds."""
    report: Path | None = None
    """Where to write the JSON report of all cases run."""
    http_server: HttpServer = "lighttpd"
    """The seed's web servers: lighttpd or apache2, for HTTP and HTTPS."""
    dhcp_server: DhcpServer = "dnsmasq"
    """DHCPv4 from dnsmasq, or ISC dhcpd with the seed's dhcpd.conf (DHCPv6 is always ISC)."""
    profile: Profile = "tuned"
    """Server settings: "tuned" lets the firmware go fastest, "seed" is the HOWTO as written."""

    @classmethod
    def merge(
        cls,
        *,
        cli: Mapping[str, Any] | None = None,
        ini: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Merge the sources, earlier ones winning; a value of None or ``()`` means "not given"."""
        merged: dict[str, Any] = {}
        env_values = _from_environment(env or {})
        for source in (env_values, ini or {}, cli or {}):
            for key, value in source.items():
                if value is None or value in ((), [], ""):
                    continue
                merged[key] = value
        return cls.from_values(merged)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from raw values (strings allowed), checking each with a clear message."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise UsageError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            kwargs[key] = _convert(key, value)
        return cls(**kwargs)


def _convert(key: str, value: Any) -> Any:
    if key in ("ovmf_code", "ovmf_vars", "artifacts", "report"):
        # Absolute: daemons and QEMU get these paths in their configs and run elsewhere.
        return Path(value).expanduser().absolute()
    if key == "accel":
        if value not in ACCEL_CHOICES:
            raise UsageError(
                f"accel must be one of {', '.join(ACCEL_CHOICES)}, not {value!r}; "
                "use auto to let the harness probe KVM"
            )
        return cast(Accel, value)
    if key == "http_server":
        return _choice(key, value, HTTP_SERVER_CHOICES)
    if key == "dhcp_server":
        return _choice(key, value, DHCP_SERVER_CHOICES)
    if key == "profile":
        return _choice(key, value, PROFILES)
    if key == "timeout":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"timeout must be a number of seconds, not {value!r}") from None
        if seconds <= 0:
            raise UsageError(f"timeout must be positive, not {seconds}")
        return seconds
    if key == "qemu_args":
        if isinstance(value, str):
            return tuple(shlex.split(value))
        return tuple(str(v) for v in value)
    return str(value)


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        name = key.replace("_", "-")
        raise UsageError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Read HTTPBOOT_OVMF_CODE, HTTPBOOT_ACCEL, ... (HTTPBOOT_QEMU_ARGS is split like a shell)."""
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw:
            values[name] = raw
    return values
