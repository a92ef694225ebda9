"""The ``httpboot-harness`` command: run cases outside pytest, with exit codes a script can use.

Exit codes (the same for every subcommand that boots):
  0    every case met its expectation
  1    the firmware failed a case (a verdict other than the expected one)
  2    bad usage (unknown case id, bad option value)
  125  the harness could not judge (a prerequisite or a server or QEMU failed): ``git bisect run``
       skips such a commit instead of blaming it
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .cases import DEFAULT_MATRIX, Case, case_by_id
from .config import ACCEL_CHOICES, DHCP_SERVER_CHOICES, HTTP_SERVER_CHOICES, Settings
from .errors import HarnessError, UsageError
from .report import format_table, write_report
from .runner import CaseResult, run_case
from .tls import TlsMaterial, make_tls_material

EXIT_OK, EXIT_FIRMWARE_FAILED, EXIT_USAGE, EXIT_CANNOT_JUDGE = 0, 1, 2, 125
EXIT_INTERRUPTED = 130


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every cleanup step still runs."""
    raise SystemExit(128 + signum)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ovmf-code", help="OVMF code volume (default: discovered)")
    parser.add_argument("--ovmf-vars", help="OVMF vars template (default: the code's template)")
    parser.add_argument("--qemu", help="QEMU binary (default: qemu-system-x86_64)")
    parser.add_argument("--accel", choices=ACCEL_CHOICES, help="accelerator (default: auto)")
    parser.add_argument(
        "--qemu-arg", action="append", dest="qemu_args", help="extra QEMU argument (repeatable)"
    )
    parser.add_argument("--artifacts", help="folder for per-case artifacts")
    parser.add_argument("--timeout", help="deadline in seconds for one case (default: 180)")
    parser.add_argument("--json", dest="report", help="write the JSON report to this path")
    parser.add_argument(
        "--http-server", choices=HTTP_SERVER_CHOICES, help="HTTP(S) server (default: lighttpd)"
    )
    parser.add_argument(
        "--dhcp-server", choices=DHCP_SERVER_CHOICES, help="DHCPv4 server (default: dnsmasq)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="httpboot-harness",
        description="Boot OVMF over HTTP(S) from real servers in a private network namespace.",
        epilog="Exit codes: 0 as expected, 1 the firmware failed, 2 usage, 125 cannot judge.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    matrix = sub.add_parser("matrix", help="run several cases and print a summary table")
    matrix.add_argument(
        "cases", nargs="*", help="case ids, also the seed scenarios (default: the default matrix)"
    )
    run = sub.add_parser("run", help="run one case and print its verdict and console")
    run.add_argument("case", help="case id, e.g. ipv6-https")
    for command in (matrix, run):
        _common_options(command)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    keys = (
        "ovmf_code",
        "ovmf_vars",
        "qemu",
        "accel",
        "qemu_args",
        "artifacts",
        "timeout",
        "report",
        "http_server",
        "dhcp_server",
    )
    cli = {key: getattr(args, key, None) for key in keys}
    return Settings.merge(cli=cli, env=os.environ)


def _select(ids: Sequence[str]) -> tuple[Case, ...]:
    if not ids:
        return DEFAULT_MATRIX
    return tuple(case_by_id(case_id) for case_id in ids)


def run_cases(cases: Sequence[Case], settings: Settings, artifacts: Path) -> list[CaseResult]:
    """Run the cases one after another, printing one progress line per case."""
    tls: TlsMaterial | None = None
    results = []
    for case in cases:
        if case.scheme == "https" and tls is None:
            from .network import Addressing

            tls = make_tls_material(artifacts / "tls", Addressing())
        print(f"{case.id}: ...", flush=True)
        result = run_case(case, settings, artifacts, tls=tls)
        outcome = "ok" if result.passed else "FAIL"
        print(
            f"{case.id}: {result.judgement.verdict} "
            f"({result.judgement.phase or 'all phases proven'}) "
            f"in {result.timings.get('total', 0):.1f} s [{outcome}]",
            flush=True,
        )
        results.append(result)
    return results


def exit_code(results: Sequence[CaseResult]) -> int:
    """125 when any case could not be judged, else 1 when any case failed, else 0."""
    if any(r.error is not None for r in results):
        return EXIT_CANNOT_JUDGE
    if any(not r.passed for r in results):
        return EXIT_FIRMWARE_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = _settings(args)
        cases = _select(args.cases if args.command == "matrix" else [args.case])
    except UsageError as exc:
        print(f"httpboot-harness: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if os.geteuid() != 0:
        print(
            "httpboot-harness: must run as root (network namespaces, tap devices); "
            "fix: sudo httpboot-harness ...",
            file=sys.stderr,
        )
        return EXIT_CANNOT_JUDGE
    artifacts = settings.artifacts or Path(tempfile.mkdtemp(prefix="httpboot-artifacts-"))
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        results = run_cases(cases, settings, artifacts)
    except HarnessError as exc:  # raised before any case could start
        print(f"httpboot-harness: {exc}", file=sys.stderr)
        return EXIT_CANNOT_JUDGE
    except KeyboardInterrupt:
        print("httpboot-harness: interrupted; everything it started was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    rows = [r.to_report() for r in results]
    if settings.report is not None:
        write_report(settings.report, rows)
    if args.command == "run":
        result = results[0]
        print("\n".join(result.console_tail))
        print(result.judgement.summary)
        for phase, proof in result.judgement.proven.items():
            print(f"  {phase:10} {proof}")
    print()
    print(format_table(rows), end="")
    for result in results:
        if result.error:
            print(f"{result.case.id}: {result.error}", file=sys.stderr)
    print(f"artifacts: {artifacts}")
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
