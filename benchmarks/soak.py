"""Soak: the default matrix N times with two jobs, counting what went wrong in each run.

    python benchmarks/soak.py --runs 30 --output soak-results/soak.json

Each run is the real command (``httpboot-harness matrix --jobs 2 --json ...``) in a child
process with a private temporary folder, so everything it leaves there is its own. After each
run it counts:

- misjudged: cases whose verdict (booted/refused/failed) is not the one the case expects;
- errors: cases with verdict ``error`` (the harness could not judge), plus a run that ended with
  no report at all;
- leftovers: what is still there of that run once it exited: namespaces ``hbh-<pid>-...``,
  processes tagged with its runs (daemons, QEMU, tcpdump, relays), anything in its temporary
  folder, lab records.

It prints one line per run and the totals, and writes them to JSON; it exits 1 when any count is
not 0, the goal. The artifacts of a run with anything to count are kept (their path is in the
JSON); the others are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from httpboot_harness.sweep import leftovers_of

RUN_TIMEOUT = 3600.0
"""One matrix run's deadline: the default matrix takes a few minutes, far more on a busy box."""


def count_report(report: Path) -> tuple[int, int, list[str]]:
    """(misjudged, errors, notes) from a matrix JSON report."""
    cases = json.loads(report.read_text())["cases"]
    misjudged = errors = 0
    notes = []
    for case in cases:
        if case["verdict"] == "error":
            errors += 1
            notes.append(f"{case['id']}: error: {case.get('error')}")
        elif not case["met_expectation"]:
            misjudged += 1
            notes.append(f"{case['id']}: {case['verdict']} (expected {case['expected']})")
    return misjudged, errors, notes


def one_run(index: int, workdir: Path, jobs: int, extra: list[str]) -> dict[str, Any]:
    folder = workdir / f"run-{index:03d}"
    temp = folder / "tmp"
    temp.mkdir(parents=True)
    temp.chmod(0o755)  # apache2's workers (www-data) read copies made here
    report = folder / "report.json"
    argv = [sys.executable, "-m", "httpboot_harness", "matrix", "--jobs", str(jobs),
            "--artifacts", str(folder / "artifacts"), "--json", str(report), *extra]  # fmt: skip
    started = time.monotonic()
    with (folder / "output.txt").open("w") as output:
        child = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(temp)}
        )
        try:
            code = child.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()  # the sweep below and the next run's own sweep remove what it left
            code = child.wait()
    seconds = time.monotonic() - started
    notes: list[str] = []
    if report.is_file():
        misjudged, errors, notes = count_report(report)
    else:
        misjudged, errors = 0, 1
        notes.append(f"no report (exit {code})")
    left = leftovers_of(child.pid, temp)
    left += [f"temp {p.name}" for p in sorted(temp.iterdir()) if not any(p.name in x for x in left)]
    row = {
        "run": index,
        "exit": code,
        "seconds": round(seconds, 1),
        "misjudged": misjudged,
        "errors": errors,
        "leftovers": len(left),
        "notes": notes,
        "left": left,
        "folder": str(folder),
    }
    if misjudged or errors or left or code != 0:
        return row
    shutil.rmtree(folder, ignore_errors=True)
    row["folder"] = None
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("SOAK_RUNS", "30")))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("soak-results/soak.json"))
    parser.add_argument("--workdir", type=Path, help="where runs keep their files (default: temp)")
    parser.add_argument("extra", nargs="*", help="more matrix arguments (after --)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="httpboot-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"soak: {args.runs} runs of the default matrix, --jobs {args.jobs}; files in {workdir}")
    for index in range(1, args.runs + 1):
        row = one_run(index, workdir, args.jobs, args.extra)
        rows.append(row)
        print(
            f"run {index:3d}/{args.runs}: exit {row['exit']:3d}  misjudged {row['misjudged']}  "
            f"errors {row['errors']}  leftovers {row['leftovers']}  {row['seconds']:7.1f} s",
            flush=True,
        )
        for line in [*row["notes"], *row["left"]]:
            print(f"    {line.splitlines()[0]}", flush=True)  # the JSON keeps all of it
    totals = {key: sum(r[key] for r in rows) for key in ("misjudged", "errors", "leftovers")}
    print(
        f"total over {len(rows)} runs: misjudged {totals['misjudged']}  errors "
        f"{totals['errors']}  leftovers {totals['leftovers']}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "runs": len(rows),
        "jobs": args.jobs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "totals": totals,
        "per_run": rows,
    }
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written: {args.output}")
    if not any(r["folder"] for r in rows) and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not any(totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
