"""Shards: every case in exactly one, the same split everywhere, balanced by earlier durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from httpboot_harness.cases import ALL_CASES, DEFAULT_MATRIX
from httpboot_harness.config import Settings
from httpboot_harness.errors import UsageError
from httpboot_harness.sharding import Shard, durations_from, pick, split

IDS = [case.id for case in ALL_CASES]


@pytest.mark.parametrize("count", [1, 2, 3, 7, len(IDS) + 2])
def test_every_case_is_in_exactly_one_shard(count: int) -> None:
    shards = split(IDS, count, {})
    flat = [case_id for shard in shards for case_id in shard]
    assert sorted(flat) == sorted(IDS)
    assert len(flat) == len(set(flat))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1, sizes


def test_the_split_ignores_the_order_the_cases_came_in() -> None:
    durations = {case_id: float(len(case_id)) for case_id in IDS[::2]}
    assert split(IDS, 4, durations) == split(list(reversed(IDS)), 4, durations)


def test_durations_balance_the_shards_longest_first() -> None:
    durations = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 4.0, "e": 1.0}
    # a -> 1; b -> 2; c -> 2 (6 < 10); d -> 1 (10 < 11); e -> 2 (11 < 14)
    assert split(durations, 2, durations) == [["a", "d"], ["b", "c", "e"]]


def test_a_case_without_a_duration_weighs_the_median() -> None:
    durations = {"a": 10.0, "b": 2.0, "c": 3.0}
    # new weighs 3 (the median): a -> 1; c (3, "c" < "new") -> 2; new -> 2; b -> 2 (8 < 10)
    assert split(["a", "b", "c", "new"], 2, durations) == [["a"], ["b", "c", "new"]]


def test_pick_keeps_the_given_order_of_the_shards_cases() -> None:
    cases = list(DEFAULT_MATRIX)
    picked = [pick(cases, Shard(k, 2), {}, case_id=lambda c: c.id) for k in (1, 2)]
    for chosen in picked:
        assert chosen == [c for c in cases if c in chosen]
    assert {c.id for c in picked[0]} | {c.id for c in picked[1]} == {c.id for c in cases}
    assert not {c.id for c in picked[0]} & {c.id for c in picked[1]}


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "/", "2/-1"])
def test_a_bad_shard_is_a_usage_error_with_the_form(text: str) -> None:
    with pytest.raises(UsageError, match=r"K/N with 1 <= K <= N"):
        Shard.parse(text)


def test_the_setting_comes_from_the_environment_like_every_other() -> None:
    settings = Settings.merge(env={"HTTPBOOT_SHARD": "2/3"})
    assert settings.shard == Shard(2, 3)
    assert str(settings.shard) == "2/3"


def test_durations_are_read_from_a_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"version": 1, "cases": [
        {"id": "ipv4-http", "timings": {"total": 41.5}},
        {"id": "ipv6-http", "timings": {}},
    ]}))  # fmt: skip
    assert durations_from(report) == {"ipv4-http": 41.5}


def test_a_durations_file_that_is_no_report_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    with pytest.raises(UsageError, match="is not a harness JSON report"):
        durations_from(junk)
    with pytest.raises(UsageError, match="No such file"):
        durations_from(tmp_path / "absent.json")
