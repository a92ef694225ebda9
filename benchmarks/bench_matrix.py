"""Per-case boot timings, the median of several runs, written to JSON for the record.

    python benchmarks/bench_matrix.py --runs 3 --output bench-results/bench.json [CASE ...]

Nothing here asserts a speed: the numbers are measured and kept, and a human or a dashboard reads
them. Cases run one after another so that they do not compete for the two cores.
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
from pathlib import Path

from httpboot_harness.cases import DEFAULT_MATRIX, case_by_id
from httpboot_harness.config import Settings
from httpboot_harness.network import Addressing
from httpboot_harness.runner import run_case
from httpboot_harness.tls import make_tls_material


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case ids (default: the default matrix)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench-results/bench.json"))
    args = parser.parse_args()
    cases = [case_by_id(c) for c in args.cases] or list(DEFAULT_MATRIX)
    settings = Settings.merge(env=os.environ)
    with tempfile.TemporaryDirectory(prefix="httpboot-bench-") as tmp:
        artifacts = Path(tmp)
        tls = make_tls_material(artifacts / "tls", Addressing())
        samples: dict[str, list[dict[str, float]]] = {c.id: [] for c in cases}
        accel = {}
        verdicts: dict[str, list[str]] = {c.id: [] for c in cases}
        for run in range(args.runs):
            for case in cases:
                result = run_case(case, settings, artifacts, tls=tls)
                samples[case.id].append(result.timings)
                accel[case.id] = result.accel
                verdicts[case.id].append(result.judgement.verdict)
                print(
                    f"run {run + 1}/{args.runs} {case.id}: {result.judgement.verdict} "
                    f"{result.timings.get('total', 0):.2f} s",
                    flush=True,
                )
    rows = {}
    for case_id, timings in samples.items():
        keys = sorted({k for t in timings for k in t})
        rows[case_id] = {
            "accel": accel[case_id],
            "verdicts": verdicts[case_id],
            "median_seconds": {
                k: round(statistics.median(t[k] for t in timings if k in t), 3) for k in keys
            },
        }
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": args.runs,
        "cases": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{'case':22} {'accel':5} {'lab setup':>9} {'firmware':>9} {'total':>7}")
    for case_id, row in rows.items():
        m = row["median_seconds"]
        print(
            f"{case_id:22} {row['accel']:5} {m.get('lab_setup', 0):9.2f} "
            f"{m.get('firmware', float('nan')):9.2f} {m.get('total', 0):7.2f}"
        )
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
