"""Which firmware ran: the edk2 release and build string read from the code image itself.

A report row that says "refused at download" means little without the firmware that refused;
the file name (``OVMF_CODE_4M.fd``) is the same for every release. The image knows better, but
only partly, and what it holds differs by build (measured on Debian's 2022.11, 2025.02 and
2026.08 builds, x86_64 and aarch64, plain and Secure Boot):

- Most of a code image is LZMA-compressed: edk2's ``LzmaCompress`` writes a GUID-defined section
  (``EE4E5898-…``, LZMA custom decompress) holding the "alone" format (5 bytes of properties,
  8 bytes of size), which ``lzma.FORMAT_ALONE`` reads. Text is only legible once unpacked.
- ``PcdFirmwareVersionString`` (UTF-16) is the build's own version. Debian sets it from 2025.02
  on (``2025.02-8+deb13u1``, ``2026.08+ds-2``); it sits in several modules (the SMBIOS type 0
  driver, AAVMF's early ``UEFI firmware (version %s built at %a on %a)`` banner, the setup
  pages), 3 or 4 copies per image. Debian's 2022.11 left it empty: no version string at all.
- aarch64 builds keep their debug paths (``/build/reproducible-path/edk2-2022.11/Build/…``): the
  source tree's name carries the release even where the version string is empty. x86_64 builds
  strip them, so Debian 12's OVMF carries no release anywhere; its edk2 release then comes from
  the package's upstream version (Debian numbers edk2 by its release, ``2022.11-6+deb12u2``).

So :func:`identify` reads, in order of trust: an ``edk2-stableYYYYMM`` tag, the source tree's
name in a debug path, the build string's leading ``YYYY.MM``, the package's upstream version.
Releases are written ``YYYY.MM`` (upstream's ``edk2-stable202508`` is Debian's ``2025.08``): one
spelling, so a column compares like with like.
"""

from __future__ import annotations

import json
import logging
import lzma
import re
import struct
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .package_cache import MARKER

log = logging.getLogger(__name__)

LZMA_SECTION_GUID = uuid.UUID("EE4E5898-3914-4259-9D6E-DC7BD79403CF").bytes_le
"""edk2's LzmaCustomDecompress GUID; every LZMA section of an edk2 image is GUID-defined."""
_GUID_DEFINED = 0x02
"""EFI_SECTION_GUID_DEFINED, the section type byte before the GUID."""
_WHOLE_FILE_LIMIT = 8 << 20
"""Images up to this size are read whole; AAVMF's are padded to 64 MiB of zeros for the flash
device (its volumes fill the first 1.5 MiB), so larger ones are read until a padding block."""
_BLOCK = 1 << 20
_MAX_DEPTH = 3
"""Sections nest (an FV inside an LZMA section may hold another); real images nest once."""
DPKG_TIMEOUT = 10.0

_WORD_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.+~:_-")
"""The characters of a version word (Debian's version characters); no spaces."""
_VERSION_SHAPE = re.compile(r"\d\.\d")
_DOT_DIGIT = re.compile(rb"\.\x00(?=[0-9]\x00)")
_EDK2_UTF16 = re.compile(rb"e\x00d\x00k\x002\x00-\x00")
_STABLE_TAG = re.compile(rb"edk2-stable(20\d\d)(0[1-9]|1[0-2])(?!\d)")
_STABLE_TAG_UTF16 = re.compile(
    rb"e\x00d\x00k\x002\x00-\x00s\x00t\x00a\x00b\x00l\x00e\x00((?:[0-9]\x00){6})(?![0-9]\x00)"
)
_SOURCE_TREE = re.compile(rb"/edk2-(20\d\d)\.(0[1-9]|1[0-2])(?!\d)[^/\x00]*/")
"""Debian builds in ``edk2-<upstream version>/``; the path stays in aarch64 images."""
_RELEASE_PREFIX = re.compile(r"(?:edk2-stable)?(20\d\d)\.?(0[1-9]|1[0-2])(?!\d)")
_BANNER = b"UEFI firmware (version"
_BANNER_REACH = 64 << 10
"""The banner's version string lies in the same small PEI module as the format string."""


@dataclass(frozen=True)
class FirmwareIdentity:
    """What one code image says about itself, and what its distribution says about it.

    ``edk2``: the release, ``YYYY.MM``. ``build``: the image's ``PcdFirmwareVersionString``.
    ``package``/``package_version``: the Debian package holding the file (dpkg for host files,
    the cache marker for unpacked ones). Any of them may be None: nothing here ever raises.
    """

    edk2: str | None = None
    build: str | None = None
    package: str | None = None
    package_version: str | None = None

    @property
    def label(self) -> str:
        """One short line for a table: ``edk2 2026.08 (ovmf-generic 2026.08+ds-2)``.

        The build string is added only when it says something the package does not (a build
        not from a package, or one whose version string differs from its package's)."""
        extras = []
        if self.package:
            extras.append(f"{self.package} {self.package_version or '?'}")
        if self.build and self.build != self.package_version:
            extras.append(self.build if not self.package else f"build {self.build}")
        if self.edk2 is None and not extras:
            return "unknown"
        head = f"edk2 {self.edk2}" if self.edk2 else "edk2 unknown"
        return f"{head} ({', '.join(extras)})" if extras else head

    def fields(self) -> dict[str, str | None]:
        """The report's ``firmware_identity``."""
        return {
            "edk2": self.edk2,
            "build": self.build,
            "package": self.package,
            "package_version": self.package_version,
        }


@dataclass(frozen=True)
class ImageText:
    """What the image's own bytes say (the package left aside)."""

    edk2: str | None = None
    build: str | None = None


_cache: dict[tuple[str, int, int], FirmwareIdentity] = {}


def identify(code: Path) -> FirmwareIdentity:
    """The identity of the firmware code image at ``code`` (symlinks followed).

    Cached per (path, size, mtime) for the process: a matrix asks once per case, and an image
    replaced in place is read again. An unreadable image gives the fields it can (the package
    may still be known), never an exception. About 0.2-0.4 s per image, nearly all of it LZMA.
    """
    try:
        real = Path(code).resolve()
        stat = real.stat()
    except (OSError, RuntimeError, ValueError):
        return FirmwareIdentity()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    if (known := _cache.get(key)) is not None:
        return known
    query = _PackageQuery(Path(code))
    try:
        text = read_image_text(_read_volumes(real))
    except Exception as exc:  # a damaged image is a row without a version, never a failed case
        log.debug("could not read %s: %s", real, exc)
        text = ImageText()
    package, version = query.result()
    edk2 = text.edk2 or release_of(version)
    identity = FirmwareIdentity(edk2, text.build, package, version)
    _cache[key] = identity
    return identity


# -- the image (pure) ------------------------------------------------------------------------
def read_image_text(raw: bytes) -> ImageText:
    """The release and build string found in ``raw`` and in every LZMA section it holds."""
    blobs = [raw, *lzma_sections(raw)]
    builds: Counter[str] = Counter()
    for blob in blobs:
        builds.update(version_strings(blob))
    build = choose_build(builds, banner_versions(raw))
    edk2 = None
    for blob in blobs:
        if edk2 := release_in_text(blob):
            break
    return ImageText(edk2 or release_of(build), build)


def lzma_sections(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """The unpacked contents of each LZMA GUID-defined section in ``data``, nested ones too.

    The GUID is found by a byte search (no volume or file parsing needed); the section header
    before it (4 bytes, or 8 when the size is 0xFFFFFF) gives the size, the word after it the
    data offset. A match that is not a section (the GUID also appears in tables) fails to
    decompress and is skipped."""
    position = 0
    while (found := data.find(LZMA_SECTION_GUID, position)) >= 0:
        position = found + 1
        for start, size in _section_headers(data, found):
            if found + 18 > len(data):
                continue
            offset = struct.unpack_from("<H", data, found + 16)[0]
            payload = data[start + offset : start + size]
            try:
                unpacked = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(payload)
            except lzma.LZMAError:
                continue
            yield unpacked
            if depth < _MAX_DEPTH:
                yield from lzma_sections(unpacked, depth + 1)
            position = max(position, start + size)
            break


def _section_headers(data: bytes, guid_at: int) -> Iterator[tuple[int, int]]:
    """(section start, section size) for the plain and the extended-size header."""
    start = guid_at - 4
    if start >= 0 and data[start + 3] == _GUID_DEFINED:
        size = int.from_bytes(data[start : start + 3], "little")
        if size != 0xFFFFFF and size > 24:
            yield start, size
    start = guid_at - 8
    if start >= 0 and data[start + 3] == _GUID_DEFINED and data[start : start + 3] == b"\xff" * 3:
        yield start, int.from_bytes(data[start + 4 : start + 8], "little")


def version_strings(blob: bytes) -> Iterator[str]:
    """Each NUL-terminated UTF-16 word in ``blob`` shaped like a version, once per copy.

    A version has a digit, a dot and a digit (``2026.08+ds-2``), or is an ``edk2-…`` tag. The
    search looks for those literal pieces (a fast byte search) and widens each hit to the word
    around it; a regular expression that starts with a character class would try every byte
    of 16 MiB and cost a third of a second. The byte pair before a string is often not a
    terminator (a length, a table entry) and may read as a stray letter ("R2026.08+ds-2"):
    a word must begin with a digit, or with ``edk2``, after at most one such letter."""
    spans: set[tuple[int, int]] = set()
    for anchor in (_DOT_DIGIT, _EDK2_UTF16):
        for match in anchor.finditer(blob):
            spans.add(_utf16_word(blob, match.start()))
    for start, end in sorted(spans):
        if end - start < 10 or blob[end : end + 2] != b"\x00\x00":
            continue
        word = blob[start:end].decode("utf-16le")
        if word[0].isalpha() and word[1:2].isdigit():
            word = word[1:]
        if len(word) < 5:
            continue
        if (word[0].isdigit() and _VERSION_SHAPE.search(word)) or word.startswith("edk2-"):
            yield word


def _utf16_word(blob: bytes, at: int) -> tuple[int, int]:
    """The span of the UTF-16LE run of version characters through the character at ``at``."""
    start = at
    while start >= 2 and blob[start - 1] == 0 and blob[start - 2] in _WORD_BYTES:
        start -= 2
    end = at
    while end + 1 < len(blob) and blob[end + 1] == 0 and blob[end] in _WORD_BYTES:
        end += 2
    return start, end


def banner_versions(raw: bytes) -> set[str]:
    """Version words in the module that prints AAVMF's ``UEFI firmware (version %s …)``."""
    at = raw.find(_BANNER)
    if at < 0:
        return set()
    return set(version_strings(raw[max(0, at - _BANNER_REACH) : at + _BANNER_REACH]))


def choose_build(counts: Counter[str], banner: set[str]) -> str | None:
    """The build string among the version words: the one the banner prints, else one repeated.

    The fixed-at-build PCD is copied into every module that reads it (3-4 copies in Debian's
    images); the other version-shaped words (shell help's ``0.001x``) appear once."""
    repeated = [word for word, n in counts.items() if n >= 2]
    chosen = [word for word in repeated if word in banner] or repeated
    if not chosen:
        return None
    return max(chosen, key=lambda word: (counts[word], len(word)))


def release_in_text(blob: bytes) -> str | None:
    """The release from an ``edk2-stableYYYYMM`` tag (ASCII or UTF-16) or a source tree path."""
    if (match := _STABLE_TAG.search(blob)) is not None:
        return f"{match[1].decode()}.{match[2].decode()}"
    if (match := _STABLE_TAG_UTF16.search(blob)) is not None:
        return release_of("edk2-stable" + match[1].decode("utf-16le"))
    if (match := _SOURCE_TREE.search(blob)) is not None:
        return f"{match[1].decode()}.{match[2].decode()}"
    return None


def release_of(version: str | None) -> str | None:
    """``YYYY.MM`` from a version that starts with the release (Debian's, after any epoch, or
    upstream's tag)."""
    if not version or (match := _RELEASE_PREFIX.match(version.split(":", 1)[-1])) is None:
        return None
    return f"{match[1]}.{match[2]}"


def _read_volumes(path: Path) -> bytes:
    """The image's bytes without the trailing flash padding (see ``_WHOLE_FILE_LIMIT``)."""
    with path.open("rb") as file:
        if path.stat().st_size <= _WHOLE_FILE_LIMIT:
            return file.read()
        blocks = []
        while block := file.read(_BLOCK):
            if block.count(block[:1]) == len(block) and block[:1] in (b"\x00", b"\xff"):
                break
            blocks.append(block)
        return b"".join(blocks)


# -- the distribution ------------------------------------------------------------------------
def package_of(path: Path) -> tuple[str | None, str | None]:
    """(package, version): the package cache's marker above ``path``, else dpkg's answer."""
    return _PackageQuery(path).result()


class _PackageQuery:
    """Who ships ``path``, asked before the image is read and answered after.

    ``dpkg -S`` reads every package's file list (about 0.2 s here), as long as the image takes
    to unpack: started first, it costs nothing more. A file in the package cache is answered by
    the cache's own marker (``.complete``, written by ``package_cache``) without dpkg."""

    def __init__(self, path: Path) -> None:
        self.known: tuple[str | None, str | None] | None = None
        self.process: subprocess.Popen[str] | None = None
        try:
            real = path.resolve()
            markers = [folder / MARKER for folder in real.parents]
            marker = next((m for m in markers if m.is_file()), None)
        except (OSError, RuntimeError):
            self.known = (None, None)
            return
        if marker is not None:
            self.known = _marker_package(marker)
            return
        # dpkg knows the path it installed: the symlink's own, or the file it names.
        paths = [str(p) for p in dict.fromkeys((path.absolute(), real))]
        try:
            self.process = subprocess.Popen(
                ["dpkg", "-S", *paths], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True,
            )  # fmt: skip
        except OSError:
            self.known = (None, None)

    def result(self) -> tuple[str | None, str | None]:
        if self.known is not None:
            return self.known
        assert self.process is not None
        try:
            out, _ = self.process.communicate(timeout=DPKG_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return None, None
        # dpkg -S exits 1 when one of the paths is not found, but names the owner of the other.
        package = dpkg_owner(out)
        return package, (_dpkg_version(package) if package else None)


def _marker_package(marker: Path) -> tuple[str | None, str | None]:
    try:
        info = json.loads(marker.read_text())
        return str(info["package"]), str(info["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def dpkg_owner(output: str) -> str | None:
    """The package in ``dpkg -S`` output (``ovmf: /usr/share/OVMF/OVMF_CODE_4M.fd``); the first
    when several share a path, without its ``:arch``; diversion lines are not owners."""
    for line in output.splitlines():
        owners, sep, _ = line.partition(": ")
        if not sep or owners.startswith("diversion by"):
            continue
        if owner := owners.split(",")[0].strip().split(":")[0]:
            return owner
    return None


def _dpkg_version(package: str) -> str | None:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True, text=True, timeout=DPKG_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None
