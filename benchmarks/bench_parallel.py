"""How many cases at once, and warm starts against cold ones (issue 13).

    python benchmarks/bench_parallel.py --runs 3 --output bench-results/parallel.json

Per run: the default matrix cold with 1, 2, 3, 4 jobs and ``auto`` (its wall time, and how many
cases were not judged as expected: a faster setting that misjudges is no use); then the matrix
warm (``--warm-start``) one case at a time, for the warm/cold ratio of a case's total; then warm
with 2 jobs. Each warm matrix starts with an empty snapshot cache, so its wall time includes
making the snapshots (one per distinct firmware: two in the default matrix, with and without the
HTTPS CA). Nothing is asserted: numbers are measured and kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from httpboot_harness import warm_start
from httpboot_harness.cases import DEFAULT_MATRIX
from httpboot_harness.cli import run_cases
from httpboot_harness.config import Settings
from httpboot_harness.parallel import jobs_here
from httpboot_harness.runner import CaseResult

JOBS: tuple[int | str, ...] = (1, 2, 3, 4, "auto")
TARGETS = {"warm_over_cold_case_total": 0.5, "best_jobs_over_one_job": 0.45}


def matrix(settings: Settings, jobs: int, artifacts: Path) -> tuple[float, list[CaseResult]]:
    """One default matrix: its wall time and results."""
    started = time.monotonic()
    results = run_cases(list(DEFAULT_MATRIX), settings, artifacts, jobs=jobs)
    return time.monotonic() - started, results


def warm_matrix(settings: Settings, jobs: int, artifacts: Path) -> tuple[float, list[CaseResult]]:
    """The default matrix warm, with an empty snapshot cache (its snapshots are paid for)."""
    warm_start.WARM_STARTS.close()
    warm_start.WARM_STARTS = warm_start.WarmStarts()
    return matrix(replace(settings, warm_start=True), jobs, artifacts)


def misjudged(results: list[CaseResult]) -> int:
    return sum(not r.passed for r in results)


def case_seconds(results: list[CaseResult]) -> list[float]:
    """Each case's total without the one-off snapshot it made or waited for."""
    return [r.timings["total"] - r.timings.get("warm_snapshot", 0.0) for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench-results/parallel.json"))
    args = parser.parse_args()
    base = Settings.merge(env=os.environ)
    auto = jobs_here(base)
    walls: dict[str, list[float]] = {str(j): [] for j in JOBS}
    wrong: dict[str, int] = {str(j): 0 for j in JOBS}
    cold_cases: list[float] = []
    warm_cases: list[float] = []
    warm_walls: dict[str, list[float]] = {"1": [], "2": []}
    warm_wrong = 0
    starts: dict[str, int] = {"warm": 0, "cold": 0}
    snapshots: list[float] = []
    with tempfile.TemporaryDirectory(prefix="httpboot-bench-parallel-") as tmp:
        folder = Path(tmp)
        for run in range(args.runs):
            for jobs in JOBS:
                count = auto if jobs == "auto" else int(jobs)
                wall, results = matrix(base, count, folder / f"cold-{jobs}-{run}")
                walls[str(jobs)].append(wall)
                wrong[str(jobs)] += misjudged(results)
                if jobs == 1:
                    cold_cases += case_seconds(results)
                print(f"run {run + 1}/{args.runs} cold --jobs {jobs} ({count}): {wall:6.1f} s, "
                      f"{misjudged(results)} misjudged", flush=True)  # fmt: skip
            for jobs in (1, 2):
                wall, results = warm_matrix(base, jobs, folder / f"warm-{jobs}-{run}")
                warm_walls[str(jobs)].append(wall)
                warm_wrong += misjudged(results)
                for result in results:
                    starts[str(result.details.get("start", "cold"))] += 1
                    if result.timings.get("warm_snapshot", 0.0) > 1.0:
                        snapshots.append(result.timings["warm_snapshot"])
                if jobs == 1:
                    warm_cases += case_seconds(results)
                print(f"run {run + 1}/{args.runs} warm --jobs {jobs}: {wall:6.1f} s, "
                      f"{misjudged(results)} misjudged", flush=True)  # fmt: skip
    one = statistics.median(walls["1"])
    document: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": args.runs,
        "auto_jobs": auto,
        "matrix_jobs": {
            jobs: {
                "median_seconds": round(statistics.median(w), 1),
                "over_one_job": round(statistics.median(w) / one, 3),
                "misjudged": wrong[jobs],
                "seconds": [round(s, 1) for s in w],
            }
            for jobs, w in walls.items()
        },
        "warm": {
            "median_case_seconds_cold": round(statistics.median(cold_cases), 2),
            "median_case_seconds_warm": round(statistics.median(warm_cases), 2),
            "warm_over_cold_case_total": round(
                statistics.median(warm_cases) / statistics.median(cold_cases), 3
            ),
            "snapshot_seconds": [round(s, 1) for s in snapshots],
            "matrix_jobs_1_seconds": {
                "cold": _rounded(walls["1"]),
                "warm": _rounded(warm_walls["1"]),
            },
            "matrix_jobs_2_seconds": {
                "cold": _rounded(walls["2"]),
                "warm": _rounded(warm_walls["2"]),
            },
            "starts": starts,
            "misjudged": warm_wrong,
        },
        "targets": TARGETS,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print_summary(document)
    print(f"written: {args.output}")
    return 0


def _rounded(seconds: list[float]) -> list[float]:
    return [round(s, 1) for s in seconds]


def print_summary(document: dict[str, Any]) -> None:
    print(f"\ndefault matrix, cold, median wall seconds ({document['runs']} runs; "
          f"auto = {document['auto_jobs']} jobs)")  # fmt: skip
    print(f"{'jobs':>6}  {'seconds':>8}  {'/ 1 job':>8}  misjudged")
    for jobs, row in document["matrix_jobs"].items():
        print(f"{jobs:>6}  {row['median_seconds']:8.1f}  {row['over_one_job']:8.3f}  "
              f"{row['misjudged']}")  # fmt: skip
    best = min(row["over_one_job"] for row in document["matrix_jobs"].values())
    _against("best jobs / 1 job", best, "best_jobs_over_one_job")
    warm = document["warm"]
    made = ", ".join(f"{s:.1f}" for s in warm["snapshot_seconds"])
    print(f"\nwarm start: median case {warm['median_case_seconds_warm']:.2f} s warm against "
          f"{warm['median_case_seconds_cold']:.2f} s cold (snapshots {made} s)")  # fmt: skip
    _against(
        "warm / cold case total", warm["warm_over_cold_case_total"], "warm_over_cold_case_total"
    )
    for jobs in ("1", "2"):
        walls = warm[f"matrix_jobs_{jobs}_seconds"]
        print(f"matrix --jobs {jobs}: cold {statistics.median(walls['cold']):.1f} s, "
              f"warm {statistics.median(walls['warm']):.1f} s (snapshots included)")  # fmt: skip
    print(f"warm runs: {warm['starts']['warm']} cases started warm, {warm['starts']['cold']} cold, "
          f"{warm['misjudged']} misjudged")  # fmt: skip


def _against(label: str, value: float, target_key: str) -> None:
    target = TARGETS[target_key]
    verdict = "within target" if value <= target else "OVER target"
    print(f"{label:28} {value:7.3f}  (target <= {target})  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
