from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.config import Settings
from httpboot_harness.errors import UsageError


def test_defaults_without_any_source() -> None:
    settings = Settings.merge()
    assert settings.accel == "auto"
    assert settings.qemu == "qemu-system-x86_64"
    assert settings.ovmf_code is None


def test_cli_beats_ini_beats_environment() -> None:
    env = {"HTTPBOOT_ACCEL": "kvm", "HTTPBOOT_QEMU": "env-qemu", "HTTPBOOT_TIMEOUT": "33"}
    ini = {"accel": "tcg", "qemu": "ini-qemu"}
    cli = {"accel": None, "qemu": "cli-qemu"}
    settings = Settings.merge(cli=cli, ini=ini, env=env)
    assert settings.qemu == "cli-qemu"
    assert settings.accel == "tcg"
    assert settings.timeout == 33.0


def test_environment_qemu_args_are_split_like_a_shell() -> None:
    env = {"HTTPBOOT_QEMU_ARGS": "-fw_cfg 'name=opt/x,string=no'"}
    assert Settings.merge(env=env).qemu_args == ("-fw_cfg", "name=opt/x,string=no")


def test_paths_become_absolute_paths() -> None:
    settings = Settings.merge(cli={"ovmf_code": "/x/CODE.fd", "report": "r.json"})
    assert settings.ovmf_code == Path("/x/CODE.fd")
    assert settings.report == Path.cwd() / "r.json"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("accel", "hvf", "accel must be one of auto, kvm, tcg"),
        ("timeout", "soon", "timeout must be a number of seconds"),
        ("timeout", "-1", "timeout must be positive"),
    ],
)
def test_bad_values_name_the_problem(key: str, value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Settings.merge(cli={key: value})


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown setting"):
        Settings.from_values({"colour": "blue"})


def test_server_choices_follow_the_precedence() -> None:
    env = {"HTTPBOOT_HTTP_SERVER": "apache2", "HTTPBOOT_DHCP_SERVER": "isc"}
    settings = Settings.merge(cli={"dhcp_server": "dnsmasq"}, env=env)
    assert (settings.http_server, settings.dhcp_server) == ("apache2", "dnsmasq")
    assert Settings.merge().http_server == "lighttpd"


def test_unknown_server_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="http-server must be one of lighttpd, apache2"):
        Settings.merge(cli={"http_server": "nginx"})


def test_memory_is_the_guests_ram_in_mib_everywhere() -> None:
    assert Settings().memory == 1024
    assert Settings.merge(env={"HTTPBOOT_MEMORY": "512"}).memory == 512
    assert Settings.merge(cli={"memory": "2048"}, env={"HTTPBOOT_MEMORY": "512"}).memory == 2048
    for wrong in ("lots", "64"):
        with pytest.raises(UsageError, match="memory"):
            Settings.merge(cli={"memory": wrong})
