"""Split the selected cases into N shards, the same way on every machine.

``--shard K/N`` (``matrix``) and ``--httpboot-shard K/N`` (pytest) both call :func:`pick`, so a
CI matrix can mix the two and still run every case exactly once. The split is a pure function
of the selected case ids, N and, when given, an earlier JSON report's durations
(``--durations-from``): cases sorted by id, then placed longest first into the least-loaded shard
(ties to the lower shard number). Without durations every case weighs the same, which deals the
sorted ids out in turn. A case the earlier report lacks weighs the median of those it has.

Why not pytest-split: it splits pytest items by its own ``.test_durations`` file, keyed by node
id, and only under pytest. The harness's unit of work is the case, run by ``matrix`` as well as
by pytest, and its durations already sit in the JSON report that CI keeps anyway; one small
function here gives both ways in the same shards from that report. pytest-split can still share
out a project's other tests beside it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, slash, count = str(text).partition("/")
        try:
            shard = cls(int(index), int(count)) if slash else None
        except ValueError:
            shard = None
        if shard is None or not 1 <= shard.index <= shard.count:
            raise UsageError(f"shard must be K/N with 1 <= K <= N (e.g. 1/4), not {text!r}")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def durations_from(path: Path) -> dict[str, float]:
    """Each case's total seconds from an earlier JSON report (``matrix --json``, a merge)."""
    try:
        document = json.loads(path.read_text())
        rows = document["cases"]
        return {
            str(row["id"]): float(row["timings"]["total"])
            for row in rows
            if isinstance(row.get("timings", {}).get("total"), int | float)
        }
    except OSError as exc:
        raise UsageError(f"durations-from {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(
            f"durations-from {path} is not a harness JSON report (from matrix --json)"
        ) from None


def split(case_ids: Iterable[str], count: int, durations: dict[str, float]) -> list[list[str]]:
    """The ids of each of ``count`` shards, each in sorted order."""
    ids = sorted(set(case_ids))
    known = [durations[i] for i in ids if i in durations]
    fallback = statistics.median(known) if known else 1.0
    weight = {i: durations.get(i, fallback) for i in ids}
    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for case_id in sorted(ids, key=lambda i: (-weight[i], i)):
        target = min(range(count), key=lambda n: (loads[n], n))
        shards[target].append(case_id)
        loads[target] += weight[case_id]
    return [sorted(shard) for shard in shards]


def pick(
    items: Sequence[T],
    shard: Shard,
    durations: dict[str, float],
    case_id: Callable[[T], str],
) -> list[T]:
    """The items whose case falls in ``shard``, in their given order."""
    mine = set(split((case_id(i) for i in items), shard.count, durations)[shard.index - 1])
    return [item for item in items if case_id(item) in mine]
