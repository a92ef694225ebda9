"""``compare`` on synthetic rows: the differences named, the table, the JSON, the HTML section,
the command's validation of ``--firmware`` (exit 2 with the problem and the fix), and its wiring
through the job pool with ``run_case`` replaced (no QEMU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from httpboot_harness import cli
from httpboot_harness.cases import Case
from httpboot_harness.compare import (
    Build,
    compare_document,
    differences,
    format_compare_table,
    parse_builds,
    seconds_differ,
)
from httpboot_harness.config import Settings
from httpboot_harness.errors import UsageError
from httpboot_harness.evidence import Judgement
from httpboot_harness.html_report import render_html
from httpboot_harness.runner import CaseResult
from tests.unit.report_rows import PRESET_TIMELINE, UNTRUSTED_TIMELINE, row

CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
D12 = f"d12={CODE},{VARS}"
D13 = f"d13={CODE},{VARS}"


def _rows(total: float = 20.0, **untrusted: Any) -> list[dict[str, Any]]:
    fields = {"verdict": "refused", "phase": "tls", "expected": "refused",
              "expected_phase": "tls", "cause": "the CA is not enrolled", **untrusted}  # fmt: skip
    return [
        row("ipv4-http-preset", PRESET_TIMELINE, timings={"total": total}),
        row("ipv4-https-untrusted", UNTRUSTED_TIMELINE, **fields),
    ]


def test_identical_builds_have_no_difference() -> None:
    assert differences({"d12": _rows(), "d13": _rows()}) == []
    assert format_compare_table({"d12": _rows(), "d13": _rows()}).endswith("differences: none\n")


def test_each_differing_field_is_named_with_every_builds_value() -> None:
    by_build = {
        "2022": _rows(),
        "2026": _rows(phase="download", verdict="failed", cause="HTTP 404", met_expectation=False),
    }
    found = differences(by_build)
    assert [(d.case, d.field) for d in found] == [
        ("ipv4-https-untrusted", "verdict"),
        ("ipv4-https-untrusted", "phase"),
        ("ipv4-https-untrusted", "cause"),
    ]
    assert found[1].values == {"2022": "tls", "2026": "download"}
    assert found[1].describe() == "ipv4-https-untrusted: phase: 2022=tls, 2026=download"


def test_a_case_missing_on_one_build_differs_there() -> None:
    found = differences({"a": _rows(), "b": _rows()[:1]})
    assert ("ipv4-https-untrusted", "verdict") in [(d.case, d.field) for d in found]
    verdict = next(d for d in found if d.field == "verdict")
    assert verdict.values == {"a": "refused", "b": None}


@pytest.mark.parametrize(
    ("values", "differ"),
    [
        ((20.0, 29.0), False),  # 45 % longer: TCG's noise on a short case
        ((10.0, 14.0), False),  # 40 % but only 4 s
        ((8.0, 13.5), True),  # 5.5 s and 69 %
        ((100.0, 140.0), False),  # 40 s but only 40 %
        ((100.0, 151.0), True),
        ((20.0, None), False),  # one build has no timing: nothing to compare
    ],
)
def test_seconds_differ_only_beyond_both_margins(
    values: tuple[float | None, ...], differ: bool
) -> None:
    assert seconds_differ(values) is differ


def test_seconds_are_a_difference_when_beyond_the_noise() -> None:
    found = differences({"fast": _rows(total=10.0), "slow": _rows(total=31.26)})
    assert [(d.case, d.field, d.values) for d in found] == [
        ("ipv4-http-preset", "seconds", {"fast": 10.0, "slow": 31.3})
    ]
    assert found[0].describe() == "ipv4-http-preset: seconds: fast=10.0s, slow=31.3s"


def test_table_has_a_column_per_build_and_lists_the_differences() -> None:
    by_build = {"d12": _rows(), "d13": _rows(met_expectation=False, phase="dns")}
    lines = format_compare_table(by_build).splitlines()
    assert lines[0].split() == ["case", "d12", "d13"]
    preset, untrusted = lines[2], lines[3]
    assert preset.split() == ["ipv4-http-preset", "booted", "20s", "ok", "booted", "20s", "ok"]
    assert "refused at tls 10s ok" in untrusted
    assert untrusted.endswith("refused at dns 10s FAIL")
    assert lines[4:] == ["differences:", "  ipv4-https-untrusted: phase: d12=tls, d13=dns"]


def test_json_rows_carry_the_label_and_the_rows_version() -> None:
    builds = [Build("d12", CODE, VARS), Build("d13", CODE, VARS)]
    later = [{**r, "firmware_version": "edk2-stable202502"} for r in _rows(phase="dns")]
    rows, extra = compare_document(builds, {"d12": _rows(), "d13": later})
    assert [(r["id"], r["firmware_label"], r["firmware_version"]) for r in rows] == [
        ("ipv4-http-preset", "d12", None),
        ("ipv4-https-untrusted", "d12", None),
        ("ipv4-http-preset", "d13", "edk2-stable202502"),
        ("ipv4-https-untrusted", "d13", "edk2-stable202502"),
    ]
    assert extra["builds"] == [
        {"label": "d12", "code": str(CODE), "vars": str(VARS), "firmware_version": None},
        {"label": "d13", "code": str(CODE), "vars": str(VARS),
         "firmware_version": "edk2-stable202502"},
    ]  # fmt: skip
    assert extra["differences"] == [
        {"case": "ipv4-https-untrusted", "field": "phase", "values": {"d12": "tls", "d13": "dns"}}
    ]


def test_html_shows_the_comparison_and_keeps_each_builds_rows_apart(tmp_path: Path) -> None:
    builds = [Build("d12", CODE, VARS), Build("d13", CODE, VARS)]
    failing = _rows(phase="dns", met_expectation=False)
    rows, _ = compare_document(builds, {"d12": _rows(), "d13": failing})
    page = render_html(rows, tmp_path / "compare.html")
    assert "<table id='compare'>" in page
    assert "<th>d12</th><th>d13</th>" in page
    assert "<td class='not-met' data-firmware='d13'>refused at dns 10s FAIL</td>" in page
    assert "ipv4-https-untrusted: phase: d12=tls, d13=dns" in page
    # the same case twice: anchors by case and build, never one id for two rows
    assert page.count("id='case-ipv4-https-untrusted_d12'") == 1
    assert page.count("id='case-ipv4-https-untrusted_d13'") == 1
    assert "id='detail-ipv4-https-untrusted_d13'" in page


def test_html_of_a_matrix_has_no_comparison(tmp_path: Path) -> None:
    assert "id='compare'" not in render_html(_rows(), tmp_path / "r.html")


@pytest.mark.parametrize(
    ("firmware", "message"),
    [
        ([D12], "needs at least two --firmware LABEL=CODE,VARS (got 1)"),
        ([D12, f"{CODE},{VARS}"], "has no '=': it must be LABEL=CODE,VARS"),
        ([D12, f"new build={CODE},{VARS}"], "label 'new build' is not a word"),
        ([D12, f"../up={CODE},{VARS}"], "label '../up' is not a word"),
        ([D12, f"d13={CODE}"], "must be two paths, CODE,VARS"),
        ([D12, f"d13={CODE},{VARS},{VARS}"], "must be two paths, CODE,VARS"),
        ([D12, f"d13=/nonexistent/CODE.fd,{VARS}"], "d13: CODE /nonexistent/CODE.fd does not"),
        ([D12, f"d13={CODE},/nonexistent/VARS.fd"], "d13: VARS /nonexistent/VARS.fd does not"),
        ([D12, D12], "label d12 is given more than once"),
    ],
)
def test_bad_firmware_is_refused_with_the_problem_and_the_fix(
    firmware: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match="fix: ") as caught:
        parse_builds(firmware)
    assert message in str(caught.value)


def test_the_command_answers_bad_firmware_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["compare", "ipv4-http", "--firmware", D12, "--firmware", "d13=/nonexistent,x",
            "--artifacts", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("httpboot-harness: --firmware d13: CODE /nonexistent does not exist")
    assert len(err.splitlines()) == 1
    assert "fix: " in err


def test_a_vars_file_of_another_build_is_named_with_its_label(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = f"small={CODE},/usr/share/OVMF/OVMF_VARS.fd"
    argv = ["compare", "ipv4-http", "--firmware", D12, "--firmware", other,
            "--artifacts", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "--firmware small: OVMF vars file" in capsys.readouterr().err


def test_compare_takes_no_ovmf_code_of_its_own() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["compare", "--firmware", D12, "--ovmf-code", str(CODE)])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["aarch64-ipv4-http"], "aarch64-ipv4-http is not; fix: select cases of one"),
        (["secureboot"], "with Secure Boot"),
    ],
)
def test_cases_the_builds_would_not_reach_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match="fix: ") as caught:
        cli.compare_cases(Settings(), argv)
    assert message in str(caught.value)


def test_compare_selects_as_matrix_does() -> None:
    assert [c.id for c in cli.compare_cases(Settings(), [])] == [c.id for c in cli.select_cases([])]
    assert [c.id for c in cli.compare_cases(Settings(), ["ipv4-http-preset"])] == [
        "ipv4-http-preset"
    ]


@pytest.fixture
def fake_boots(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``run_case`` replaced: each (case, build) is answered from ``outcomes`` by the build's
    folder name, and what it was called with is kept."""
    state: dict[str, Any] = {"calls": [], "outcomes": {}}

    def run_case(case: Case, settings: Settings, artifacts: Path, **_: Any) -> CaseResult:
        state["calls"].append((case.id, settings.ovmf_code, artifacts.name))
        verdict, error = state["outcomes"].get(artifacts.name, ("booted", None))
        judgement = Judgement(verdict, "dhcp" if verdict == "failed" else None, "synthetic")
        return CaseResult(case, judgement, "tcg", artifacts / case.id, {"total": 12.0},
                          error=error)  # fmt: skip

    monkeypatch.setattr(cli, "run_case", run_case)
    return state


def _compare(tmp_path: Path, *extra: str) -> int:
    other = tmp_path / "other"
    other.mkdir(exist_ok=True)
    for name in (CODE, VARS):
        (other / name.name).write_bytes(name.read_bytes())
    return cli.main(["compare", "ipv4-http-preset", "--jobs", "2", "--artifacts",
                     str(tmp_path / "art"), "--firmware", D12, "--firmware",
                     f"d13={other / CODE.name},{other / VARS.name}", *extra])  # fmt: skip


def test_every_pair_runs_with_its_builds_files_and_folder(
    fake_boots: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    assert _compare(tmp_path, "--json", str(report)) == cli.EXIT_OK
    assert sorted(fake_boots["calls"], key=lambda call: call[2]) == [
        ("ipv4-http-preset", CODE, "d12"),
        ("ipv4-http-preset", tmp_path / "other" / CODE.name, "d13"),
    ]
    out = capsys.readouterr().out
    assert "ipv4-http-preset@d13" in out  # the live progress names the pair
    assert "differences: none" in out
    document = json.loads(report.read_text())
    assert [(r["firmware_label"], r["artifacts"]) for r in document["cases"]] == [
        ("d12", str(tmp_path / "art" / "d12" / "ipv4-http-preset")),
        ("d13", str(tmp_path / "art" / "d13" / "ipv4-http-preset")),
    ]
    assert [b["label"] for b in document["builds"]] == ["d12", "d13"]
    assert document["differences"] == []


@pytest.mark.parametrize(
    ("outcome", "code"),
    [(("failed", None), cli.EXIT_FIRMWARE_FAILED),
     (("error", "infrastructure problem: QEMU died"), cli.EXIT_CANNOT_JUDGE)],
)  # fmt: skip
def test_one_build_not_as_expected_sets_the_exit_code(
    fake_boots: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    outcome: tuple[str, str | None],
    code: int,
) -> None:
    fake_boots["outcomes"]["d13"] = outcome
    assert _compare(tmp_path) == code
    assert f"ipv4-http-preset: verdict: d12=booted, d13={outcome[0]}" in capsys.readouterr().out
