"""Debian packages from another suite or architecture, unpacked into a cache, never installed.

The harness tests firmware and boot images that the host does not ship (Debian 13's OVMF on a
Debian 12 machine, GRUB's arm64 modules on amd64). Installing them would change the machine, so
apt runs with a private state: its own sources, lists, caches, preferences and an empty dpkg
status, all inside the cache folder; the host's apt configuration files are not even read (their
hooks would run on the host). The package is fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x``. The archive URIs come from the host's own apt sources with the suite replaced,
so the cache uses whatever mirror the machine is allowed to reach.

Layout: ``<cache>/debian/<suite>-<arch>/<package>-<version>/`` holds the unpacked tree (with a
``.complete`` marker written last); ``apt/`` beside it the private apt state, ``debs/`` the
downloaded files. ``<cache>`` is ``$HTTPBOOT_CACHE`` or ``<repo>/.cache``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PrerequisiteError, UsageError

CACHE_VARIABLE = "HTTPBOOT_CACHE"
MIRROR_VARIABLE = "HTTPBOOT_DEBIAN_MIRROR"
"""A Debian archive URI to use when the host's apt sources name none (e.g. on another distro)."""
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
HOST_SOURCE_LIST = Path("/etc/apt/sources.list")
HOST_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
LISTS_MAX_AGE = 24 * 3600.0
"""Private package lists older than this are refreshed before a package not yet cached is
fetched; a package already cached never needs them."""
UPDATE_TIMEOUT = 300.0
DOWNLOAD_TIMEOUT = 600.0
LOCAL_TIMEOUT = 120.0
NO_SUFFIX_SUITES = {"sid", "unstable", "experimental", "rc-buggy"}
"""Suites without -updates/-security companions: only the suite itself is used."""
MARKER = ".complete"
_SAFE = re.compile(r"[^A-Za-z0-9.+~_-]")


@dataclass(frozen=True)
class SourceEntry:
    """One archive source as apt knows it: a URI, suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


@dataclass(frozen=True)
class CachedPackage:
    """An unpacked package: ``root`` is the filesystem tree the .deb holds."""

    package: str
    version: str
    suite: str
    arch: str
    root: Path
    depends: tuple[str, ...] = ()
    """The packages it depends on (first alternatives, names only): a metapackage such as
    ``linux-image-amd64`` holds no files, the package it names does."""

    def find(self, name: str) -> list[Path]:
        """Every file called ``name`` in the unpacked tree (firmware paths differ by release)."""
        return sorted(path for path in self.root.rglob(name) if path.is_file())


# -- the host's sources (pure parsing) -------------------------------------------------------
def parse_deb822_sources(text: str) -> list[SourceEntry]:
    """Entries of a deb822 ``.sources`` file that apt would use for binary packages."""
    entries: list[SourceEntry] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current: str | None = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and current is not None:  # a continuation line
                fields[current] += " " + line.strip()
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue
            current = key.strip().lower()
            fields[current] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            entries.append(
                SourceEntry(
                    uri=uri,
                    suites=tuple(fields.get("suites", "").split()),
                    components=tuple(fields.get("components", "").split()),
                    signed_by=fields.get("signed-by"),
                )
            )
    return entries


def parse_one_line_sources(text: str) -> list[SourceEntry]:
    """``deb [options] URI suite component...`` lines of a classic ``sources.list``."""
    entries: list[SourceEntry] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        rest = line[3:].strip()
        signed_by = None
        if rest.startswith("["):
            options, _, rest = rest[1:].partition("]")
            for option in options.split():
                key, _, value = option.partition("=")
                if key == "signed-by":
                    signed_by = value
        words = rest.split()
        if len(words) < 2:
            continue
        entries.append(SourceEntry(words[0], (words[1],), tuple(words[2:]), signed_by))
    return entries


def host_sources(
    source_list: Path = HOST_SOURCE_LIST, source_parts: Path = HOST_SOURCE_PARTS
) -> list[SourceEntry]:
    """Every binary source the host's apt reads (disabled files such as ``*.disabled`` skipped,
    as apt skips them)."""
    entries: list[SourceEntry] = []
    if source_list.is_file():
        entries += parse_one_line_sources(source_list.read_text(errors="replace"))
    if source_parts.is_dir():
        for path in sorted(source_parts.iterdir()):
            if path.suffix == ".sources":
                entries += parse_deb822_sources(path.read_text(errors="replace"))
            elif path.suffix == ".list":
                entries += parse_one_line_sources(path.read_text(errors="replace"))
    return entries


def host_codename(os_release: Path = Path("/etc/os-release")) -> str | None:
    """The host's release codename (``bookworm``): tells Debian archive entries from others."""
    with contextlib.suppress(OSError):
        for line in os_release.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "VERSION_CODENAME":
                return value.strip().strip('"') or None
    return None


def retarget(entries: Iterable[SourceEntry], codename: str, suite: str) -> list[SourceEntry]:
    """The host's Debian archive entries pointed at ``suite`` instead of ``codename``.

    An entry belongs to the Debian archive when one of its suites is the host's codename or
    ``<codename>-<suffix>`` (updates, security, backports are left out: only the suite and its
    -updates/-security companions are carried over, and none for sid or experimental).
    Other repositories (third-party ones name their own suites) are dropped.
    """
    wanted_suffixes = ("", "-updates", "-security")
    chosen: list[SourceEntry] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        suites = []
        for host_suite in entry.suites:
            for suffix in wanted_suffixes:
                if host_suite != codename + suffix:
                    continue
                if suffix and suite in NO_SUFFIX_SUITES:
                    continue
                target = suite + suffix
                if (entry.uri, target) not in seen:
                    seen.add((entry.uri, target))
                    suites.append(target)
        if suites:
            components = entry.components or ("main",)
            chosen.append(SourceEntry(entry.uri, tuple(suites), components, entry.signed_by))
    return chosen


def render_sources(entries: Iterable[SourceEntry], keyring: Path = DEBIAN_KEYRING) -> str:
    """The private deb822 sources file; every entry is checked against the Debian keyring."""
    stanzas = [
        "\n".join(
            (
                "Types: deb",
                f"URIs: {entry.uri}",
                f"Suites: {' '.join(entry.suites)}",
                f"Components: {' '.join(entry.components)}",
                f"Signed-By: {keyring}",
            )
        )
        for entry in entries
    ]
    return "\n\n".join(stanzas) + "\n"


def private_sources(suite: str, mirror: str | None = None) -> list[SourceEntry]:
    """The sources for ``suite``: the override mirror if given, else the host's Debian ones."""
    mirror = mirror or os.environ.get(MIRROR_VARIABLE) or None
    if mirror:
        return [SourceEntry(mirror, (suite,), ("main",))]
    codename = host_codename()
    entries = retarget(host_sources(), codename, suite) if codename else []
    if not entries:
        raise PrerequisiteError(
            "the host's apt sources name no Debian archive to fetch "
            f"{suite} packages from (codename {codename or 'unknown'})",
            f"set {MIRROR_VARIABLE} to a Debian archive URI",
        )
    return entries


# -- the private apt state (pure) ------------------------------------------------------------
@dataclass(frozen=True)
class AptState:
    """Where the private apt keeps everything, and the options that point apt there."""

    folder: Path
    arch: str

    @property
    def config(self) -> Path:
        return self.folder / "apt.conf"

    @property
    def sources(self) -> Path:
        return self.folder / "sources.list.d"

    @property
    def lists(self) -> Path:
        return self.folder / "lists"

    @property
    def status(self) -> Path:
        return self.folder / "status"

    def options(self, user: str | None = None) -> list[str]:
        """apt's ``-o`` options: state, cache, sources and preferences all private; the
        architecture fixed (a foreign one works like the native one); no sandbox user (the
        files are the caller's, apt's own user may not reach them); a Release file past its
        Valid-Until date accepted (its signature still checked)."""
        f = self.folder
        settings = {
            "Dir::State": f,
            "Dir::State::Lists": self.lists,
            "Dir::State::status": self.status,
            "Dir::State::extended_states": f / "extended_states",
            "Dir::Cache": f / "cache",
            "Dir::Cache::archives": f / "cache" / "archives",
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "Dir::Etc::SourceList": "/dev/null",
            "Dir::Etc::SourceParts": self.sources,
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": f / "preferences.d",
            "Dir::Etc::TrustedParts": f / "trusted.gpg.d",
            "Dir::Etc::Trusted": "/dev/null",
            "Dir::Log": f / "log",
            "APT::Architecture": self.arch,
            "APT::Architectures::": self.arch,
            "APT::Sandbox::User": user or pwd.getpwuid(os.geteuid()).pw_name,
            "Acquire::Languages": "none",
            "Acquire::GzipIndexes": "true",
            "Acquire::http::Timeout": "30",
            "Acquire::https::Timeout": "30",
            "Acquire::Retries": "2",
            # unstable's Release carries a Valid-Until a week ahead; a mirror that lags the
            # clock (seen here: 30 days) is refused without this. The signature is still
            # checked, and the package's version is recorded with what it unpacks.
            "Acquire::Check-Valid-Until": "false",
        }
        return [item for key, value in settings.items() for item in ("-o", f"{key}={value}")]

    def environment(self) -> dict[str, str]:
        """APT_CONFIG names a file that switches the host's apt.conf and apt.conf.d off: they
        are read before any ``-o`` option, and their hooks (AppStream, PackageKit) would run."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("APT_")}
        env.update(APT_CONFIG=str(self.config), LC_ALL="C.UTF-8", DEBIAN_FRONTEND="noninteractive")
        return env

    def prepare(self, entries: Sequence[SourceEntry]) -> None:
        """Create the folders and files apt expects; rewrite the sources when they changed."""
        for folder in (
            self.lists / "partial",
            self.sources,
            self.folder / "preferences.d",
            self.folder / "trusted.gpg.d",
            self.folder / "cache" / "archives" / "partial",
            self.folder / "log",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(APT_CONF)
        if not self.status.exists():
            self.status.write_text("")
        text = render_sources(entries)
        target = self.sources / "debian.sources"
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            # New sources make the old lists meaningless.
            for old in self.lists.glob("*_Packages*"):
                old.unlink()


APT_CONF = 'Dir::Etc::Parts "/dev/null";\nDir::Etc::Main "/dev/null";\n'


def cache_root() -> Path:
    """``$HTTPBOOT_CACHE``, else ``.cache`` in the source tree, else the user's cache folder."""
    override = os.environ.get(CACHE_VARIABLE)
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache"
    return Path.home() / ".cache" / "httpboot-harness"


def suite_folder(suite: str, arch: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "debian" / f"{safe_name(suite)}-{safe_name(arch)}"


def safe_name(text: str) -> str:
    """A version or name as a file name: an epoch's colon and any odd character become '_'."""
    return _SAFE.sub("_", text)


def package_folder(folder: Path, package: str, version: str) -> Path:
    return folder / f"{safe_name(package)}-{safe_name(version)}"


def parse_apt_show(text: str) -> dict[str, str]:
    """The first stanza of ``apt-cache show`` (its candidate): field name -> value."""
    fields: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and current:
            fields[current] += "\n" + line.strip()
            continue
        key, _, value = line.partition(":")
        current = key.strip()
        fields[current] = value.strip()
    return fields


# -- doing it --------------------------------------------------------------------------------
def _run(
    argv: Sequence[str],
    timeout: float,
    what: str,
    fix: str,
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """Run a command with a deadline; any failure becomes one PrerequisiteError line."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=cwd,
        )
    except FileNotFoundError:
        raise PrerequisiteError(f"{argv[0]} is not installed ({what})", fix) from None
    except subprocess.TimeoutExpired:
        raise PrerequisiteError(
            f"{what}: {argv[0]} took longer than {timeout:.0f} s", fix
        ) from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E:")] or lines[-1:]
        detail = errors[0] if errors else f"exit status {done.returncode}"
        raise PrerequisiteError(f"{what}: {detail}", fix)
    return done.stdout


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One fetch per suite folder at a time: parallel test workers share the cache."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _newer(a: str, b: str) -> bool:
    """dpkg's own version order (a local command, no network)."""
    done = subprocess.run(
        ["dpkg", "--compare-versions", a, "gt", b], timeout=LOCAL_TIMEOUT, check=False
    )
    return done.returncode == 0


def cached(package: str, suite: str, arch: str, root: Path | None = None) -> CachedPackage | None:
    """The newest complete unpacked copy of ``package`` already in the cache, or None."""
    folder = suite_folder(suite, arch, root)
    best: CachedPackage | None = None
    for marker in folder.glob(f"{safe_name(package)}-*/{MARKER}"):
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if info.get("package") != package:
            continue  # "foo-bar-1.0" also matches the glob for "foo"
        found = _from_marker(info, suite, arch, marker.parent)
        if best is None or _newer(found.version, best.version):
            best = found
    return best


def fetch_package(
    package: str,
    suite: str,
    arch: str = "amd64",
    *,
    version: str | None = None,
    refresh: bool = False,
    root: Path | None = None,
    mirror: str | None = None,
) -> CachedPackage:
    """Download ``package`` from Debian ``suite`` for ``arch`` and unpack it into the cache.

    With the package already unpacked (``version`` if given, else any version) nothing touches
    the network; ``refresh`` asks the archive for its current candidate first. The host's apt
    lists, caches and dpkg database are never written.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
        raise UsageError(f"{package!r} is not a Debian package name")
    folder = suite_folder(suite, arch, root)
    if not refresh:
        if version is not None:
            ready = package_folder(folder, package, version)
            if (ready / MARKER).is_file():
                info = json.loads((ready / MARKER).read_text())
                return _from_marker(info, suite, arch, ready)
        else:
            found = cached(package, suite, arch, root)
            if found is not None:
                return found
    with _locked(folder):
        state = AptState(folder / "apt", arch)
        state.prepare(private_sources(suite, mirror))
        _update_lists(state, suite, force=refresh)
        candidate = _candidate(state, package, suite, version)
        target = package_folder(folder, package, candidate)
        if (target / MARKER).is_file():
            return _from_marker(json.loads((target / MARKER).read_text()), suite, arch, target)
        deb = _download(state, folder / "debs", package, candidate, suite)
        return _unpack(deb, CachedPackage(package, candidate, suite, arch, target))


def _update_lists(state: AptState, suite: str, force: bool) -> None:
    lists = list(state.lists.glob("*_Packages*"))
    fresh = lists and time.time() - min(p.stat().st_mtime for p in lists) < LISTS_MAX_AGE
    if fresh and not force:
        return
    _run(
        ["apt-get", "-q", *state.options(), "update"],
        UPDATE_TIMEOUT,
        f"apt-get update of the private {suite} lists ({state.folder}) failed",
        "check that the Debian archive in the host's apt sources is reachable "
        f"(or set {MIRROR_VARIABLE})",
        env=state.environment(),
    )


def _candidate(state: AptState, package: str, suite: str, version: str | None) -> str:
    spec = f"{package}={version}" if version else package
    out = _run(
        ["apt-cache", *state.options(), "show", "--no-all-versions", spec],
        LOCAL_TIMEOUT,
        f"{spec} is not in Debian {suite} for {state.arch}",
        f"check the package name and suite (apt lists in {state.lists})",
        env=state.environment(),
    )
    found = parse_apt_show(out).get("Version")
    if not found:
        raise PrerequisiteError(
            f"{spec} is not in Debian {suite} for {state.arch}",
            "check the package name and suite",
        )
    return found


def _download(state: AptState, debs: Path, package: str, version: str, suite: str) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=debs, prefix=".download-") as scratch:
        _run(
            ["apt-get", "-q", *state.options(), "download", f"{package}={version}"],
            DOWNLOAD_TIMEOUT,
            f"downloading {package} {version} from Debian {suite} failed",
            "check that the Debian archive in the host's apt sources is reachable",
            env=state.environment(),
            cwd=scratch,
        )
        files = list(Path(scratch).glob("*.deb"))
        if len(files) != 1:
            raise PrerequisiteError(
                f"apt-get download of {package} {version} left {len(files)} .deb files",
                "run it again with --refresh",
            )
        deb = debs / files[0].name
        files[0].replace(deb)
    return deb


def _from_marker(info: dict[str, Any], suite: str, arch: str, root: Path) -> CachedPackage:
    depends = tuple(str(name) for name in info.get("depends", ()))
    return CachedPackage(str(info["package"]), str(info["version"]), suite, arch, root, depends)


def parse_depends(field: str) -> tuple[str, ...]:
    """Package names of a Depends field, the first of each alternative, versions dropped."""
    names = []
    for clause in field.split(","):
        first = clause.split("|")[0].strip()
        name = re.split(r"[\s(:\[]", first, maxsplit=1)[0]
        if name:
            names.append(name)
    return tuple(names)


def _unpack(deb: Path, into: CachedPackage) -> CachedPackage:
    """``dpkg-deb -x`` into a scratch folder renamed into place: a half-unpacked tree is never
    taken for a cached one (the marker is written last)."""
    target = into.root
    if target.exists():
        shutil.rmtree(target)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        _run(
            ["dpkg-deb", "-x", str(deb), str(scratch)],
            LOCAL_TIMEOUT,
            f"dpkg-deb could not unpack {deb}",
            f"delete {deb} and fetch again",
        )
        depends = parse_depends(
            _run(
                ["dpkg-deb", "-f", str(deb), "Depends"],
                LOCAL_TIMEOUT,
                f"dpkg-deb could not read {deb}",
                f"delete {deb} and fetch again",
            )
        )
        info = {
            "package": into.package,
            "version": into.version,
            "suite": into.suite,
            "arch": into.arch,
            "deb": deb.name,
            "depends": list(depends),
            "unpacked": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (scratch / MARKER).write_text(json.dumps(info, indent=1) + "\n")
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _from_marker(info, into.suite, into.arch, target)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m httpboot_harness.package_cache ovmf trixie``: prints the unpacked tree's path,
    or with ``--find NAME`` the paths of the files called NAME in it."""
    parser = argparse.ArgumentParser(prog="python -m httpboot_harness.package_cache")
    parser.add_argument("package")
    parser.add_argument("suite")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--version", dest="wanted_version")
    parser.add_argument("--refresh", action="store_true", help="ask the archive again")
    parser.add_argument("--find", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    try:
        got = fetch_package(
            args.package, args.suite, args.arch, version=args.wanted_version, refresh=args.refresh
        )
    except (PrerequisiteError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 125 if isinstance(exc, PrerequisiteError) else 2
    if not args.find:
        print(got.root)
    for name in args.find:
        for path in got.find(name):
            print(path)
    print(f"{got.package} {got.version} ({got.suite}, {got.arch})", file=sys.stderr)
    if got.depends:  # a metapackage's files are in what it depends on
        print(f"depends on: {', '.join(got.depends)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
