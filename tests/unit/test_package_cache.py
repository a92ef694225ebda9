"""The package cache's pure parts: the host's sources, retargeted; apt's private options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from httpboot_harness import package_cache
from httpboot_harness.errors import PrerequisiteError, UsageError
from httpboot_harness.package_cache import (
    AptState,
    SourceEntry,
    fetch_package,
    parse_apt_show,
    parse_deb822_sources,
    parse_one_line_sources,
    render_sources,
    retarget,
    safe_name,
)

DEB822 = """\
Types: deb deb-src
# a comment between fields
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://sources-only.example/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://third-party.example/node
Suites: nodistro
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://archive.example/debian bookworm main non-free-firmware
deb-src http://archive.example/debian bookworm main
deb https://vendor.example/apt cloud-sdk-bookworm main
"""


def test_deb822_binary_entries_only() -> None:
    entries = parse_deb822_sources(DEB822)
    assert [e.uri for e in entries] == [
        "http://archive.example/debian",
        "http://archive.example/debian-security",
        "https://third-party.example/node",
    ]
    assert entries[0].suites == ("bookworm", "bookworm-updates")
    assert entries[0].components == ("main", "contrib")
    assert entries[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_one_line_entries_with_options() -> None:
    entries = parse_one_line_sources(ONE_LINE)
    assert entries[0] == SourceEntry(
        "http://archive.example/debian", ("bookworm",), ("main", "non-free-firmware"), "/k.gpg"
    )
    assert len(entries) == 2


def test_retarget_keeps_the_debian_archive_with_the_suite_replaced() -> None:
    entries = retarget(parse_deb822_sources(DEB822), "bookworm", "trixie")
    assert entries == [
        SourceEntry(
            "http://archive.example/debian",
            ("trixie", "trixie-updates"),
            ("main", "contrib"),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        ),
        SourceEntry("http://archive.example/debian-security", ("trixie-security",), ("main",)),
    ]


def test_retarget_to_sid_drops_the_companion_suites() -> None:
    entries = retarget(parse_deb822_sources(DEB822), "bookworm", "sid")
    assert [(e.uri, e.suites) for e in entries] == [("http://archive.example/debian", ("sid",))]


def test_retarget_drops_vendor_suites_that_merely_contain_the_codename() -> None:
    entries = retarget(parse_one_line_sources(ONE_LINE), "bookworm", "trixie")
    assert [e.uri for e in entries] == ["http://archive.example/debian"]


def test_rendered_sources_name_the_debian_keyring() -> None:
    text = render_sources(
        [SourceEntry("http://archive.example/debian", ("trixie",), ("main",), "/k.gpg")]
    )
    assert "Suites: trixie\n" in text
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in text
    assert parse_deb822_sources(text)[0].uri == "http://archive.example/debian"


def test_no_debian_source_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(package_cache.MIRROR_VARIABLE, raising=False)
    monkeypatch.setattr(package_cache, "host_sources", list)
    monkeypatch.setattr(package_cache, "host_codename", lambda: "bookworm")
    with pytest.raises(PrerequisiteError) as caught:
        package_cache.private_sources("trixie")
    assert package_cache.MIRROR_VARIABLE in caught.value.fix
    assert "\n" not in str(caught.value)


def test_the_mirror_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(package_cache.MIRROR_VARIABLE, "http://mirror.example/debian")
    assert package_cache.private_sources("trixie") == [
        SourceEntry("http://mirror.example/debian", ("trixie",), ("main",))
    ]


def test_apt_options_keep_everything_private(tmp_path: Path) -> None:
    state = AptState(tmp_path / "apt", "arm64")
    options = state.options(user="root")
    pairs = dict(option.split("=", 1) for option in options[1::2])
    assert set(options[0::2]) == {"-o"}
    for key in ("Dir::State", "Dir::State::Lists", "Dir::State::status", "Dir::Cache"):
        assert pairs[key].startswith(str(tmp_path)), key
    assert pairs["Dir::Etc::SourceParts"] == str(tmp_path / "apt" / "sources.list.d")
    assert pairs["Dir::Etc::SourceList"] == "/dev/null"
    assert pairs["Dir::Etc::Preferences"] == "/dev/null"
    assert pairs["APT::Architecture"] == "arm64"
    assert pairs["APT::Architectures::"] == "arm64"


def test_apt_reads_none_of_the_hosts_configuration(tmp_path: Path) -> None:
    state = AptState(tmp_path / "apt", "amd64")
    state.prepare([SourceEntry("http://archive.example/debian", ("trixie",), ("main",))])
    env = state.environment()
    config = Path(env["APT_CONFIG"]).read_text()
    assert 'Dir::Etc::Parts "/dev/null";' in config
    assert 'Dir::Etc::Main "/dev/null";' in config
    assert state.status.read_text() == ""
    assert "trixie" in (state.sources / "debian.sources").read_text()


def test_new_sources_drop_the_old_lists(tmp_path: Path) -> None:
    state = AptState(tmp_path / "apt", "amd64")
    state.prepare([SourceEntry("http://a.example/debian", ("trixie",), ("main",))])
    stale = state.lists / "a.example_debian_dists_trixie_main_binary-amd64_Packages.gz"
    stale.write_text("")
    state.prepare([SourceEntry("http://a.example/debian", ("trixie",), ("main",))])
    assert stale.exists()
    state.prepare([SourceEntry("http://b.example/debian", ("trixie",), ("main",))])
    assert not stale.exists()


def test_apt_show_first_stanza() -> None:
    text = "Package: ovmf\nVersion: 2025.02-8\nDescription: x\n more\n\nPackage: ovmf\nVersion: 1\n"
    assert parse_apt_show(text) == {
        "Package": "ovmf",
        "Version": "2025.02-8",
        "Description": "x\nmore",
    }


def test_safe_names() -> None:
    assert safe_name("1:2025.02-8+deb13u1") == "1_2025.02-8+deb13u1"


def test_a_cached_package_needs_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "debian" / "trixie-amd64" / "ovmf-2025.02-8"
    (tree / "usr/share/OVMF").mkdir(parents=True)
    (tree / "usr/share/OVMF/OVMF_CODE_4M.fd").write_bytes(b"")
    (tree / ".complete").write_text(json.dumps({"package": "ovmf", "version": "2025.02-8"}))

    def no_network(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("apt was run although the package is cached")

    monkeypatch.setattr(package_cache, "_run", no_network)
    got = fetch_package("ovmf", "trixie", root=tmp_path)
    assert got.version == "2025.02-8"
    assert got.find("OVMF_CODE_4M.fd") == [tree / "usr/share/OVMF/OVMF_CODE_4M.fd"]
    assert fetch_package("ovmf", "trixie", version="2025.02-8", root=tmp_path).root == tree


def test_a_bad_package_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        fetch_package("../etc", "trixie", root=tmp_path)


def test_depends_names_first_alternatives() -> None:
    field = "linux-image-6.12.38+deb13-amd64 (= 6.12.38-1), kmod | busybox, libc6:any [amd64]"
    assert package_cache.parse_depends(field) == (
        "linux-image-6.12.38+deb13-amd64",
        "kmod",
        "libc6",
    )
    assert package_cache.parse_depends("") == ()
