"""The pytest plugin: options, markers, the case matrix as parameters, fixtures and reports.

Registered through the ``pytest11`` entry point, so installing the package is enough. A test that
asks for the ``httpboot_case`` fixture is run once per case (the default matrix and the seed's
other scenarios), with the case id as test id and its markers (``pytest -m "ipv6 and https"``,
``pytest -m iso``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from . import stop
from .cases import ALL_CASES, MARKERS, Case
from .config import OPTIONS, Settings, option_flag
from .errors import UsageError
from .report import format_table, write_report
from .runner import CaseResult, run_case
from .sharding import durations_from, pick
from .timeline import format_timeline
from .tls import TlsMaterial, make_tls_material

SETTINGS_KEY = pytest.StashKey[Settings]()
RESULT_KEY = pytest.StashKey[CaseResult]()
REPORT_PROPERTY = "httpboot_result"

SKIP_MISSING_FLAG = "--httpboot-skip-missing"


def _dest(key: str) -> str:
    return "httpboot_" + option_flag(key).removeprefix("--httpboot-").replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("httpboot", "UEFI HTTP boot harness")
    for key, option in OPTIONS.items():
        extra: dict[str, Any] = {"choices": option.choices} if option.choices else {}
        if option.repeatable:
            extra["action"] = "append"
        if option.switch:
            extra.update(action="store_const", const=True)
        group.addoption(option_flag(key), dest=_dest(key), default=None, help=option.help, **extra)
        parser.addini(_dest(key), option.help, default=None)
    help_skip = (
        "skip (instead of fail) a boot test whose prerequisite is missing on this machine; "
        "off by default, so a run never passes by skipping"
    )
    group.addoption(SKIP_MISSING_FLAG, action="store_true", default=False, help=help_skip)
    parser.addini("httpboot_skip_missing", help_skip, type="bool", default=False)


def _settings_from(config: pytest.Config) -> Settings:
    cli: dict[str, Any] = {}
    ini: dict[str, Any] = {}
    for key in OPTIONS:
        cli[key] = config.getoption(_dest(key))
        ini_value = config.getini(_dest(key))
        ini[key] = ini_value if ini_value not in (None, "", []) else None
    try:
        return Settings.merge(cli=cli, ini=ini, env=os.environ)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.addinivalue_line("markers", "httpboot: a test that boots OVMF (slow, needs root)")
    config.addinivalue_line(
        "markers", "alt_servers: boots on the seed's other servers (apache2, ISC dhcpd for DHCPv4)"
    )
    config.stash[SETTINGS_KEY] = _settings_from(config)
    config.pluginmanager.register(_ReportCollector(config), "httpboot-report-collector")


def case_params(cases: tuple[Case, ...] = ALL_CASES) -> list[Any]:
    """The cases as pytest parameters: id = case id, marks = the case's markers and httpboot."""
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[getattr(pytest.mark, m) for m in case.markers] + [pytest.mark.httpboot],
        )
        for case in cases
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "httpboot_case" in metafunc.fixturenames and not _already_parametrized(metafunc):
        metafunc.parametrize("httpboot_case", case_params())


def _already_parametrized(metafunc: pytest.Metafunc) -> bool:
    return any(
        "httpboot_case" in marker.args[0]
        for marker in metafunc.definition.iter_markers("parametrize")
    )


@pytest.fixture(scope="session")
def httpboot_settings(pytestconfig: pytest.Config) -> Settings:
    """The merged settings (options > ini > HTTPBOOT_* environment > defaults)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def httpboot_artifacts(
    httpboot_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where each case writes ``<case id>/``: the option's folder or a pytest temp folder."""
    if httpboot_settings.artifacts is not None:
        httpboot_settings.artifacts.mkdir(parents=True, exist_ok=True)
        return httpboot_settings.artifacts
    return tmp_path_factory.mktemp("httpboot")


@pytest.fixture(scope="session")
def httpboot_tls(httpboot_artifacts: Path) -> TlsMaterial:
    """One throw-away CA and server certificate for the whole session (RSA-3072 keys are slow)."""
    from .network import Addressing

    return make_tls_material(httpboot_artifacts / "tls", Addressing())


@pytest.fixture
def httpboot_run(
    request: pytest.FixtureRequest,
    httpboot_settings: Settings,
    httpboot_artifacts: Path,
    httpboot_tls: TlsMaterial,
) -> Callable[[Case], CaseResult]:
    """Return ``run(case) -> CaseResult``: boots the case. A missing prerequisite fails the test
    with its one-line fix, unless the run opted into skipping (--httpboot-skip-missing)."""

    def run(case: Case) -> CaseResult:
        tls = httpboot_tls if case.scheme == "https" else None

        with stop.signals_handled():  # SIGINT/SIGTERM mid-boot: torn down, then pytest's stop
            result = run_case(case, httpboot_settings, httpboot_artifacts, tls=tls)
        request.node.stash[RESULT_KEY] = result
        row = result.to_report()
        request.node.user_properties.append((REPORT_PROPERTY, json.dumps(row)))
        for key, value in row["timings"].items():
            request.node.user_properties.append((f"httpboot_seconds_{key}", value))
        if result.error_kind == "prerequisite":
            message = result.error or "a prerequisite is missing"
            if _skip_missing(request.config):
                pytest.skip(message)
            pytest.fail(message, pytrace=False)
        return result

    return run


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``pytest -n auto``: as many workers as ``matrix --jobs auto`` runs cases (parallel.py)."""
    from .parallel import jobs_here

    return jobs_here(_settings_from(config))


def _skip_missing(config: pytest.Config) -> bool:
    return bool(config.getoption(SKIP_MISSING_FLAG) or config.getini("httpboot_skip_missing"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the verdict, the last console lines and server log lines to a failing test."""
    report = yield
    result = item.stash.get(RESULT_KEY, None)
    if result is not None and report.when == "call" and report.failed:
        judgement = result.judgement
        report.sections.append(
            (
                "httpboot verdict",
                f"{result.case.id}: {judgement.verdict} (phase {judgement.phase}); expected "
                f"{result.case.expected}\n{judgement.summary}\nerror: {result.error}\n"
                f"artifacts: {result.artifacts}",
            )
        )
        report.sections.append(("httpboot timeline", format_timeline(result.timeline)))
        report.sections.append(("httpboot console (last lines)", "\n".join(result.console_tail)))
        for name, lines in result.log_tails.items():
            report.sections.append((f"httpboot {name} log (last lines)", "\n".join(lines)))
    return report


SELECTED_OUTPUT = "httpboot_selected"
"""The key of xdist's ``workeroutput`` that carries a worker's selected case ids home."""


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("httpboot_case") if callspec is not None else None
    return case if isinstance(case, Case) else None


class _ReportCollector:
    """Gathers one row per case from the test reports and writes the JSON report at the end.

    Rows travel as user properties, which pytest-xdist sends from its workers to the controller,
    so the controller's collector sees every case however the run was split. The case ids the
    session was to judge (after ``-m``, ``-k`` and ``--httpboot-shard``) travel in each worker's
    ``workeroutput``, so ``report merge`` can name a case that never reported.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[dict[str, Any]] = []
        self.selected: set[str] = set()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """``--httpboot-shard K/N``: keep the tests of this shard's cases (after ``-m``/``-k``);
        tests without a case are left alone (pytest-split or a marker can share those out)."""
        settings = self.config.stash[SETTINGS_KEY]
        cased = [(item, case) for item in items if (case := _case_of(item)) is not None]
        if settings.shard is not None:
            try:
                durations = (
                    durations_from(settings.durations_from) if settings.durations_from else {}
                )
            except UsageError as exc:
                raise pytest.UsageError(str(exc)) from None
            kept = pick(cased, settings.shard, durations, case_id=lambda pair: pair[1].id)
            dropped = {id(item) for item, _ in cased} - {id(item) for item, _ in kept}
            if dropped:
                self.config.hook.pytest_deselected(items=[i for i in items if id(i) in dropped])
                items[:] = [i for i in items if id(i) not in dropped]
            cased = kept
        self.selected = {case.id for _, case in cased}
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[SELECTED_OUTPUT] = sorted(self.selected)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist's controller: a worker is done; add the cases it selected."""
        self.selected |= set(getattr(node, "workeroutput", {}).get(SELECTED_OUTPUT, []))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == REPORT_PROPERTY:
                self.rows.append(json.loads(str(value)))

    def pytest_sessionfinish(self) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller writes the report
        settings = self.config.stash[SETTINGS_KEY]
        if settings.report is not None:
            shard = str(settings.shard) if settings.shard else None
            extra = {"selected": sorted(self.selected), "shard": shard}
            write_report(settings.report, self.rows, extra=extra)
        if settings.html is not None:
            from .html_report import write_html

            write_html(settings.html, self.rows)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rows:
            terminalreporter.write_sep("-", "httpboot cases")
            terminalreporter.write(format_table(self.rows))
