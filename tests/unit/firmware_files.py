"""Stand-ins for firmware files the tests write: a volume that passes the header check, and a
QEMU firmware descriptor naming code and vars."""

from __future__ import annotations

import json
from pathlib import Path


def volume(path: Path, size: int = 256 * 1024) -> Path:
    data = bytearray(size)
    data[40:44] = b"_FVH"
    path.write_bytes(bytes(data))
    return path


def descriptor(folder: Path, name: str, code: Path, template: Path, features: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        json.dumps(
            {
                "description": name,
                "interface-types": ["uefi"],
                "mapping": {
                    "device": "flash",
                    "executable": {"filename": str(code), "format": "raw"},
                    "nvram-template": {"filename": str(template), "format": "raw"},
                },
                "targets": [{"architecture": "x86_64", "machines": ["pc-q35-*"]}],
                "features": features,
            }
        )
    )
