"""The ``httpboot-harness`` command: nightly matrices, firmware bisects, and manual server work.

Exit codes of the commands that boot (matrix, compare, run, bisect-run):
  0    every case met its expectation
  1    the firmware failed a case (a verdict other than the expected one)
  2    bad usage (unknown case id or marker, bad option value); bisect-run answers 128 instead,
       which makes ``git bisect run`` stop, since a typo says nothing about the commit
  125  the harness could not judge (a prerequisite is missing, a server or QEMU failed, the
       firmware file is absent): ``git bisect run`` skips such a commit instead of blaming it
  130  interrupted by Ctrl-C (143 by SIGTERM), in any state, within 10 s: every case in every
       job stops where it is, and everything started was stopped (the temporary artifacts
       folder is removed; --artifacts DIR keeps what was written)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from _pytest.mark.expression import Expression, ExpressionMatcher

from . import stop
from .cases import ALL_CASES, DEFAULT_MATRIX, Case, case_by_id, default_matrix
from .compare import (
    FIRMWARE_FORM,
    compare_document,
    differences,
    format_compare_table,
    parse_builds,
)
from .config import OPTIONS, Settings, add_arguments
from .console import plain_text
from .doctor import boot_can_run, format_checks, run_checks
from .errors import HarnessError, UsageError
from .network import Addressing
from .parallel import jobs_here, parse_jobs
from .preflight import check_inputs
from .progress import LiveProgress
from .report import format_table, write_report
from .report_merge import merge_command
from .runner import CaseResult, harness_error_result, run_case
from .sharding import durations_from, pick
from .timeline import format_timeline
from .tls import TlsMaterial, make_tls_material
from .tls_conditions import TLS_AUDIT_CASES
from .waiting import Deadline

EXIT_OK, EXIT_FIRMWARE_FAILED, EXIT_USAGE, EXIT_CANNOT_JUDGE = 0, 1, 2, 125
EXIT_BISECT_ABORT, EXIT_INTERRUPTED = 128, 130


BOOTING_COMMANDS = ("matrix", "run", "bisect-run", "tls-audit")
"""Commands whose SIGINT and SIGTERM request a stop (:mod:`stop`) that every case's waits obey."""
_TERMINATED: list[int] = []


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """``serve``, ``packcert``: SIGTERM unwinds like Ctrl-C, so every cleanup step still runs;
    the exit code is 143. (They wait in one thread only; the booting commands use :mod:`stop`.)"""
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


REPORT_SETTINGS = ("report", "html")
MATRIX_ONLY_SETTINGS = ("shard", "durations_from")
"""Settings only ``matrix`` takes: a shard of one case, or of a bisect, makes no sense."""


COMPARE_SKIPS_SETTINGS = ("ovmf_code", "ovmf_vars")
"""``compare`` takes every build's files from ``--firmware``: an --ovmf-code beside them would
name a build without a label, or be silently replaced, so compare has no such flag."""


def _common_options(
    parser: argparse.ArgumentParser,
    *,
    report: bool,
    matrix: bool = False,
    skip_also: tuple[str, ...] = (),
) -> None:
    skip = (*(() if report else REPORT_SETTINGS), *skip_also)
    add_arguments(parser, skip=skip if matrix else (*skip, *MATRIX_ONLY_SETTINGS))
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="httpboot-harness",
        description="Boot OVMF over HTTP(S) from real servers in a private network namespace.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="check every prerequisite and say how to fix it")
    matrix = sub.add_parser("matrix", help="run cases (ids or marker expressions) with a table")
    matrix.add_argument(
        "select", nargs="*", help='case ids or marker expressions ("ipv6 and https"); default: all'
    )
    matrix.add_argument(
        "--jobs",
        type=parse_jobs,
        default="auto",
        help="cases to run at once, or auto: as many as this machine carries (under TCG two "
        "per core, bounded by memory; default auto)",
    )
    _compare_command(sub)
    run = sub.add_parser("run", help="run one case with its console streamed live")
    run.add_argument("case", help="case id, e.g. ipv6-https")
    bisect = sub.add_parser("bisect-run", help="for git bisect run: 0 good, 1 bad, 125 skip")
    bisect.add_argument("cases", nargs="+", help="case ids or marker expressions")
    serve = sub.add_parser("serve", help="start the server side only, for manual work")
    serve.add_argument("--scheme", choices=("http", "https"), default="http")
    serve.add_argument("--interface", help="serve on this existing interface, not a namespace")
    serve.add_argument("--duration", type=float, help="stop after this many seconds")
    packcert = sub.add_parser(
        "packcert", help="build the seed's certificate initrd (ssl.img) from a PEM certificate"
    )
    packcert.add_argument("certificate", type=Path, help="the server's PEM certificate")
    packcert.add_argument("output", type=Path, help="where to write the initrd (ssl.img)")
    sweep = sub.add_parser(
        "sweep", help="remove what killed runs left (namespaces, daemons, QEMU, temp folders)"
    )
    sweep.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    audit = sub.add_parser(
        "tls-audit", help="HTTPS conformance: each TLS condition's expected and observed verdict"
    )
    audit.add_argument("--jobs", type=int, default=1, help="conditions to run at once (default 1)")
    _common_options(audit, report=True)
    for command in (doctor, serve):
        _common_options(command, report=False)
    for command in (matrix, run, bisect):
        _common_options(command, report=True, matrix=command is matrix)
    _report_commands(sub)
    return parser


def _compare_command(sub: Any) -> None:
    """``compare``: the matrix's cases on two or more firmware builds, one table."""
    compare = sub.add_parser(
        "compare",
        help="run the same cases on several firmware builds; one table, differences named",
        description="Exit codes as for matrix: 0 every case met its expectation on every "
        "build, 1 one did not, 125 one could not be judged, 2 bad input.",
    )
    compare.add_argument(
        "select",
        nargs="*",
        help="case ids or marker expressions, as for matrix; default: the default matrix",
    )
    compare.add_argument(
        "--firmware",
        action="append",
        metavar=FIRMWARE_FORM,
        help="one build: a label (a word: a column, a JSON key, its artifacts folder) and its "
        "code and vars files; at least two",
    )
    compare.add_argument(
        "--jobs",
        type=parse_jobs,
        default="auto",
        help="(case, build) pairs to run at once, or auto (as for matrix; default auto)",
    )
    _common_options(compare, report=True, skip_also=COMPARE_SKIPS_SETTINGS)


def _report_commands(sub: Any) -> None:
    """``report merge``: the shards' JSON reports into one, with JUnit XML and the HTML page."""
    report = sub.add_parser("report", help="work on JSON reports (merge the shards' reports)")
    actions = report.add_subparsers(dest="report_command", required=True)
    merge = actions.add_parser(
        "merge",
        help="merge JSON reports into one; flags duplicate and missing cases and shards",
        description="Exit 0: complete and all as expected; 1: a case not as expected; "
        "2: an input is not a report; 125: a duplicate or missing case or shard, or a case "
        "the harness could not judge (everything is still written).",
    )
    merge.add_argument("inputs", nargs="+", type=Path, help="JSON reports (matrix --json)")
    merge.add_argument("-o", "--output", type=Path, help="write the merged JSON report here")
    merge.add_argument("--junit", type=Path, help="write JUnit XML here")
    merge.add_argument("--html", type=Path, help="write the HTML report here")


def _join_dash_values(argv: Sequence[str]) -> list[str]:
    """``--qemu-arg -fw_cfg`` would read -fw_cfg as an option: glue such values to the flag."""
    joined: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if item == "--qemu-arg" and index + 1 < len(items):
            joined.append(f"--qemu-arg={items[index + 1]}")
            index += 2
            continue
        joined.append(item)
        index += 1
    return joined


def _has_marker(case: Case) -> ExpressionMatcher:
    def matcher(name: str, /, **_kwargs: str | int | bool | None) -> bool:
        return name in case.markers

    return matcher


def select_cases(selectors: Sequence[str], known: tuple[Case, ...] = ALL_CASES) -> list[Case]:
    """Case ids pick themselves; anything else is a marker expression over the known cases."""
    if not selectors:
        return list(DEFAULT_MATRIX)
    chosen: list[Case] = []
    ids = {case.id for case in known}
    for selector in selectors:
        if selector in ids:
            matches = [case_by_id(selector, known)]
        else:
            try:
                expression = Expression.compile(selector)
            except SyntaxError as exc:
                raise UsageError(
                    f"{selector!r} is neither a case id nor a marker expression: {exc}"
                ) from None
            matches = [c for c in known if expression.evaluate(_has_marker(c))]
            if not matches:
                valid = ", ".join(sorted(ids))
                raise UsageError(f"{selector!r} selects no case; case ids: {valid}")
        chosen += [case for case in matches if case not in chosen]
    return chosen


def _settings(args: argparse.Namespace) -> Settings:
    cli = {key: getattr(args, key, None) for key in OPTIONS}
    return Settings.merge(cli=cli, env=os.environ)


@dataclass(frozen=True)
class Job:
    """One boot for the job pool: a case with the settings it runs with, where its artifacts
    go, and its name on the progress lines (``ipv4-http@d13`` when it runs on several builds)."""

    case: Case
    settings: Settings
    artifacts: Path
    name: str


def run_cases(
    cases: Sequence[Case],
    settings: Settings,
    artifacts: Path,
    *,
    jobs: int = 1,
    durations: dict[str, float] | None = None,
) -> list[CaseResult]:
    """Run the cases, ``jobs`` at a time, each in its own namespace, with live progress."""
    work = [Job(case, settings, artifacts, case.id) for case in cases]
    return run_jobs(work, artifacts, jobs=jobs, durations=durations)


def run_jobs(
    work: Sequence[Job],
    artifacts: Path,
    *,
    jobs: int = 1,
    durations: dict[str, float] | None = None,
) -> list[CaseResult]:
    """Run each job, ``jobs`` at a time, in the order given, with one live progress for all;
    the results come back in that order. The run's TLS material (``artifacts/tls``) is made
    once and shared; ``durations`` are by case id, so every build of a case gets its estimate."""
    tls: TlsMaterial | None = None
    if any(job.case.scheme == "https" for job in work):
        try:
            tls = make_tls_material(artifacts / "tls", Addressing())
        except HarnessError as exc:  # every case would need it: none can be judged
            return [harness_error_result(job.case, exc, job.artifacts) for job in work]
    estimates = {
        job.name: durations[job.case.id] for job in work if durations and job.case.id in durations
    }
    live = LiveProgress([job.name for job in work], estimates=estimates, jobs=jobs)

    def one(job: Job) -> CaseResult:
        stop.check()  # a stop between two cases: the next one does not begin
        result = run_case(
            job.case, job.settings, job.artifacts, tls=tls,
            progress=lambda p: live.update(job.name, p),
        )  # fmt: skip
        outcome = "as expected" if result.passed else "NOT as expected"
        phase = f" at {result.judgement.phase}" if result.judgement.phase else ""
        live.finish(job.name, f"{result.judgement.verdict}{phase}, {outcome}")
        return result

    if jobs <= 1:
        return [one(job) for job in work]
    return stop.run_parallel(one, work, jobs)


def exit_code(results: Sequence[CaseResult]) -> int:
    """125 when any case could not be judged, else 1 when any case failed, else 0."""
    if any(r.error is not None for r in results):
        return EXIT_CANNOT_JUDGE
    if any(not r.passed for r in results):
        return EXIT_FIRMWARE_FAILED
    return EXIT_OK


def _console_writer() -> object:
    """Where ``run`` streams the firmware console: raw on a terminal, plain text elsewhere."""
    if sys.stdout.isatty():
        return lambda text: (sys.stdout.write(text), sys.stdout.flush())
    return lambda text: (sys.stdout.write(plain_text(text)), sys.stdout.flush())


def _boot(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        # `run` also takes a TLS audit condition's case (ipv4-https-tls-expired).
        cases = [case_by_id(args.case, ALL_CASES + TLS_AUDIT_CASES)]
    else:
        selectors = args.select if args.command == "matrix" else args.cases
        cases = select_cases(selectors) if selectors else list(default_matrix(settings.arch))
    check_inputs(settings, cases)
    durations = durations_from(settings.durations_from) if settings.durations_from else {}
    selected = [case.id for case in cases]
    if args.command == "matrix" and settings.shard is not None:
        cases = pick(cases, settings.shard, durations, case_id=lambda case: case.id)
        selected = [case.id for case in cases]
        print(f"shard {settings.shard}: {', '.join(selected) or 'no case'}")
    artifacts = settings.artifacts or Path(tempfile.mkdtemp(prefix="httpboot-artifacts-"))
    try:
        return _boot_into(args, settings, cases, artifacts, selected=selected, durations=durations)
    except KeyboardInterrupt:
        if settings.artifacts is None:  # a stop leaves nothing of ours, this folder neither
            shutil.rmtree(artifacts, ignore_errors=True)
        raise


def _boot_into(
    args: argparse.Namespace,
    settings: Settings,
    cases: list[Case],
    artifacts: Path,
    *,
    selected: list[str],
    durations: dict[str, float],
) -> int:
    if args.command == "run":
        sink = _console_writer()
        results = [run_case(cases[0], settings, artifacts, console_sink=sink)]  # type: ignore[arg-type]
        _raise_usage_problem(results, artifacts, temporary=settings.artifacts is None)
        print()
        print(format_timeline(results[0].timeline), end="")
        print(results[0].judgement.summary)
        for phase, proof in results[0].judgement.proven.items():
            print(f"  {phase:10} {proof}")
    else:
        jobs = getattr(args, "jobs", 1)
        results = run_cases(
            cases,
            settings,
            artifacts,
            jobs=jobs_here(settings) if jobs == "auto" else jobs,
            durations=durations,
        )
        _raise_usage_problem(results, artifacts, temporary=settings.artifacts is None)
    rows = [r.to_report() for r in results]
    if settings.report is not None:
        shard = str(settings.shard) if settings.shard else None
        write_report(settings.report, rows, extra={"selected": selected, "shard": shard})
    if settings.html is not None:
        from .html_report import write_html

        write_html(settings.html, rows)
    print()
    print(format_table(rows), end="")
    for result in results:
        if result.error:
            print(f"{result.case.id}: {result.error}", file=sys.stderr)
    code = exit_code(results)
    _keep_or_remove(artifacts, results, code, temporary=settings.artifacts is None)
    return code


def _keep_or_remove(
    artifacts: Path, results: Sequence[CaseResult], code: int, *, temporary: bool, every: str = ""
) -> None:
    """A temporary artifacts folder goes when every case was as expected, or when no case
    could begin (a prerequisite missing: its rows say all there is, and a bisect that skips
    commit after commit would leave one folder each); otherwise it is kept and named."""
    if temporary and code == EXIT_OK:
        shutil.rmtree(artifacts, ignore_errors=True)
        print(f"artifacts: removed, every case was as expected{every} (--artifacts DIR keeps them)")
    elif temporary and all(r.error_kind == "prerequisite" for r in results):
        shutil.rmtree(artifacts, ignore_errors=True)
        print("artifacts: removed, no case could begin (a prerequisite is missing)")
    else:
        print(f"artifacts: {artifacts}")


def compare_cases(settings: Settings, selectors: Sequence[str]) -> list[Case]:
    """The cases ``compare`` runs: as for matrix, all of one architecture (the setting ``arch``,
    which the builds are for: a case of another one would run on its discovered firmware, the
    same on every build), none with Secure Boot (its profile finds its own build)."""
    cases = select_cases(selectors) if selectors else list(default_matrix(settings.arch))
    other = [case.id for case in cases if case.arch != settings.arch]
    if other:
        raise UsageError(
            f"compare runs the --firmware builds on {settings.arch} cases; "
            f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} not; fix: select cases of "
            f"one architecture and pass --arch with it (--arch aarch64 for AAVMF builds)"
        )
    secure = [case.id for case in cases if case.firmware.secure_boot]
    if secure:
        raise UsageError(
            f"{', '.join(secure)} boot{'s' if len(secure) == 1 else ''} with Secure Boot, whose "
            "build is found by discovery, not taken from --firmware: it would be the same on "
            "every build; fix: leave Secure Boot cases out of compare"
        )
    return cases


def _compare(args: argparse.Namespace, settings: Settings) -> int:
    """``compare``: every (case, build) pair through one job pool, then the table and the
    differences; artifacts under ``<artifacts>/<LABEL>/<case id>``."""
    builds = parse_builds(args.firmware)
    cases = compare_cases(settings, args.select)
    per_build: dict[str, Settings] = {}
    for build in builds:
        # Only these two: a case of the setting `arch` takes them (firmware.find_arch_firmware).
        per_build[build.label] = replace(settings, ovmf_code=build.code, ovmf_vars=build.vars)
        try:  # a file that is not a volume, or vars of another build: named with its label
            check_inputs(per_build[build.label], cases)
        except UsageError as exc:
            raise UsageError(f"--firmware {build.label}: {exc}") from None
    artifacts = settings.artifacts or Path(tempfile.mkdtemp(prefix="httpboot-artifacts-"))
    pairs = [(case, build.label) for case in cases for build in builds]
    work = [
        Job(case, per_build[label], artifacts / label, f"{case.id}@{label}")
        for case, label in pairs
    ]
    jobs = jobs_here(per_build[builds[0].label]) if args.jobs == "auto" else args.jobs
    results = run_jobs(work, artifacts, jobs=jobs)
    _raise_usage_problem(results, artifacts, temporary=settings.artifacts is None)
    rows_by_build: dict[str, list[dict[str, Any]]] = {build.label: [] for build in builds}
    for (_case, label), result in zip(pairs, results, strict=True):
        rows_by_build[label].append(result.to_report())
    found = differences(rows_by_build)
    rows, extra = compare_document(builds, rows_by_build, found)
    if settings.report is not None:
        write_report(settings.report, rows, extra=extra)
    if settings.html is not None:
        from .html_report import write_html

        write_html(settings.html, rows, title="httpboot-harness firmware comparison")
    print()
    print(format_compare_table(rows_by_build, found), end="")
    for job, result in zip(work, results, strict=True):
        if result.error:
            print(f"{job.name}: {result.error}", file=sys.stderr)
    code = exit_code(results)
    _keep_or_remove(
        artifacts, results, code, temporary=settings.artifacts is None, every=" on every build"
    )
    return code


def _raise_usage_problem(
    results: Sequence[CaseResult], artifacts: Path, *, temporary: bool
) -> None:
    """A case that met bad input (QEMU refused a --qemu-arg) makes the command a usage error,
    said once; a temporary artifacts folder goes with it."""
    for result in results:
        if result.error_kind == "usage" and result.error:
            if temporary:
                shutil.rmtree(artifacts, ignore_errors=True)
            raise UsageError(result.error.removeprefix("usage problem: "))


def _sweep() -> int:
    """``httpboot-harness sweep``: say what was removed, or that nothing was left."""
    from .sweep import sweep

    swept = sweep(announce=False)
    for line in swept.lines():
        print(f"removed {line}")
    if not swept:
        print("nothing left by a killed run")
    return EXIT_OK


def _packcert(certificate: Path, output: Path) -> int:
    from .packcert import packcert

    print("\n".join(packcert(certificate, output)))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    usage_exit = EXIT_BISECT_ABORT if args.command == "bisect-run" else EXIT_USAGE
    try:
        settings = _settings(args)
    except UsageError as exc:
        print(f"httpboot-harness: {exc}", file=sys.stderr)
        return usage_exit
    if args.command == "sweep":
        return _sweep()
    if args.command == "doctor":
        checks = run_checks(settings)
        print(format_checks(checks), end="")
        return EXIT_OK if boot_can_run(checks) else EXIT_FIRMWARE_FAILED
    if args.command == "report":
        try:
            return merge_command(args.inputs, output=args.output, junit=args.junit, html=args.html)
        except UsageError as exc:
            print(f"httpboot-harness: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:  # an output path that cannot be written
            print(f"httpboot-harness: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    if args.command != "packcert" and os.geteuid() != 0 and settings.lab_mode == "root":
        print(
            "httpboot-harness: lab-mode root needs root (named namespaces, tap devices); "
            "fix: sudo httpboot-harness ..., or --lab-mode rootless",
            file=sys.stderr,
        )
        return EXIT_CANNOT_JUDGE
    if args.command in BOOTING_COMMANDS:
        with stop.signals_handled():
            return _guarded(args, settings, usage_exit)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return _guarded(args, settings, usage_exit)


def _guarded(args: argparse.Namespace, settings: Settings, usage_exit: int) -> int:
    """The command, with every way it can end turned into a line and an exit code."""
    try:
        if args.command == "packcert":
            return _packcert(args.certificate, args.output)
        if args.command == "serve":
            from .serve import serve

            workdir = settings.artifacts or Path(tempfile.mkdtemp(prefix="httpboot-serve-"))
            serve(
                settings,
                scheme=args.scheme,
                interface=args.interface,
                workdir=workdir,
                duration=args.duration,
            )
            return EXIT_OK
        if args.command == "tls-audit":
            from .tls_audit import run_audit

            code = run_audit(settings, jobs=args.jobs)
        elif args.command == "compare":
            code = _compare(args, settings)
        else:
            code = _boot(args, settings)
        stop.check()  # a signal while the table was printed still ends the command as a stop
        return code
    except UsageError as exc:
        print(f"httpboot-harness: {exc}", file=sys.stderr)
        return usage_exit
    except HarnessError as exc:
        print(f"httpboot-harness: {exc}", file=sys.stderr)
        return EXIT_CANNOT_JUDGE
    except Exception as exc:  # never a traceback and exit 1, which a bisect reads as "bad"
        logging.getLogger(__name__).info("unexpected error", exc_info=True)
        print(
            f"httpboot-harness: the harness failed ({type(exc).__name__}: {exc}); "
            "nothing was judged (run with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_JUDGE
    except KeyboardInterrupt:
        if stop.requested():
            code, by = stop.exit_code(), stop.signal_name()
        else:  # serve, packcert; or a KeyboardInterrupt the handlers did not make
            code = 128 + _TERMINATED[0] if _TERMINATED else EXIT_INTERRUPTED
            by = signal.Signals(code - 128).name
        if stop.requested() and _workers_left():
            _leave_now(code, by)
        print(f"httpboot-harness: interrupted ({by}); everything it started was stopped",
              file=sys.stderr)  # fmt: skip
        return code


def _workers_left() -> list[threading.Thread]:
    """Worker threads still tearing down their case after the bounded wait of a stop; the
    interpreter's exit would wait for them without a bound."""
    main_thread = threading.main_thread()
    workers = [t for t in threading.enumerate() if t is not main_thread and not t.daemon]
    finishing = Deadline(1.0)  # a pool's worker whose case is done may take a moment to end
    for worker in workers:
        worker.join(timeout=finishing.remaining())
    return [t for t in workers if t.is_alive()]


def _leave_now(code: int, by: str) -> NoReturn:
    """The last resort of a stop: end this run's own processes, namespaces and folders as a
    sweep would, and leave at once, so the exit stays within its bound."""
    from .sweep import sweep_own
    from .warm_start import WARM_STARTS

    swept = sweep_own()
    WARM_STARTS.close()
    print(
        f"httpboot-harness: interrupted ({by}); cases still tearing down after "
        f"{stop.UNWIND_SECONDS:.0f} s were ended"
        + (f": {'; '.join(swept.lines())}" if swept else ""),
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
