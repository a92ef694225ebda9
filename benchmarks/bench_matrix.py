"""Where the seconds of a boot go, per case and server profile, and the four ratios of issue 5.

    python benchmarks/bench_matrix.py --runs 3 --output bench-results/bench.json

Each default case runs ``--runs`` times per profile (tuned: the harness's server settings; seed:
the HOWTO's files as written), one after another so cases do not compete for the two cores;
then the default matrix runs with two jobs to compare against one at a time. It writes JSON, a
table, and a picture of each case's phases. Nothing is asserted: numbers are measured and kept.
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

from httpboot_harness.cases import DEFAULT_MATRIX, Case, case_by_id
from httpboot_harness.cli import run_cases
from httpboot_harness.config import OPTIONS, Settings
from httpboot_harness.network import Addressing
from httpboot_harness.runner import KEYS_HELD_BACK, CaseResult, run_case
from httpboot_harness.segments import find_milestones, segments
from httpboot_harness.tls import TlsMaterial, make_tls_material

PRESET_CASE = "ipv4-http-preset"
AARCH64_CASE = "aarch64-ipv4-http"
"""The aarch64 row (AAVMF, virt, TCG), beside its x86_64 twin ipv4-http."""
CHAIN_PAIR = ("ipv4-http-literal", "ipv4-http-literal-chain")
"""The proof image and the seed's whole chain, from the same source (an IP URL, no DNS)."""
CHAIN_CASES = (*CHAIN_PAIR, "ipv6-http-literal-chain", "ipv4-https-literal-chain",
               "ipv4-http-literal-chain-secureboot")  # fmt: skip
STAGE_KEYS = ("entry_selected", "dhcp", "download", "loader", "kernel", "initrd", "poweroff",
              "total")  # fmt: skip
CHAIN_TARGET = 2.5
"""Issue 10: a chain case takes at most 2.5 times the proof case's total under TCG."""
MENU_CASE = "ipv4-http"


def milestones(result: CaseResult) -> dict[str, float]:
    """The shared milestones (``segments.MILESTONES``) of one run, and its total."""
    found = find_milestones(result.timeline)
    found["total"] = result.timings.get("total", 0.0)
    return found


def median_of(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s}, key=lambda k: max(s.get(k, 0) for s in samples))
    return {
        k: round(statistics.median(s[k] for s in samples if k in s), 3)
        for k in keys
        if any(k in s for s in samples)
    }


def bench_profile(
    profile: str, runs: int, artifacts: Path, tls: TlsMaterial, base: Settings
) -> dict[str, Any]:
    settings = replace(base, profile=profile)  # type: ignore[arg-type]
    cases: list[Case] = list(DEFAULT_MATRIX)
    if profile == "tuned":
        cases += [case_by_id(PRESET_CASE), case_by_id(AARCH64_CASE)]
    samples: dict[str, list[dict[str, float]]] = {c.id: [] for c in cases}
    timings: dict[str, list[dict[str, float]]] = {c.id: [] for c in cases}
    verdicts: dict[str, list[str]] = {c.id: [] for c in cases}
    accel: set[str] = set()
    sequential: list[float] = []
    for run in range(runs):
        matrix_started = time.monotonic()
        for case in cases:
            if case.id in (PRESET_CASE, AARCH64_CASE) and len(sequential) <= run:
                sequential.append(time.monotonic() - matrix_started)
            result = run_case(case, settings, artifacts / profile, tls=tls)
            accel.add(result.accel)
            samples[case.id].append(milestones(result))
            timings[case.id].append(result.timings)
            verdicts[case.id].append(result.judgement.verdict)
            print(
                f"{profile} run {run + 1}/{runs} {case.id:22} {result.judgement.verdict:8} "
                f"{result.timings.get('total', 0):6.2f} s",
                flush=True,
            )
        if PRESET_CASE not in samples:
            sequential.append(time.monotonic() - matrix_started)
    return {
        "accel": sorted(accel),
        "sequential_matrix_seconds": sequential,
        "cases": {
            case_id: {
                "verdicts": verdicts[case_id],
                "median_milestones": median_of(samples[case_id]),
                "median_timings": median_of(timings[case_id]),
            }
            for case_id in samples
        },
    }


def parallel_matrix(runs: int, artifacts: Path, base: Settings) -> list[float]:
    walls = []
    for run in range(runs):
        started = time.monotonic()
        results = run_cases(list(DEFAULT_MATRIX), base, artifacts / f"jobs2-{run}", jobs=2)
        walls.append(time.monotonic() - started)
        passed = sum(r.passed for r in results)
        print(f"matrix --jobs 2, run {run + 1}/{runs}: {walls[-1]:.1f} s, {passed} as expected")
    return walls


def ratios(tuned: dict[str, Any], parallel: list[float]) -> dict[str, float]:
    cases = tuned["cases"]

    def total(case_id: str) -> float:
        return float(cases[case_id]["median_timings"]["total"])

    def off(case_id: str) -> float:
        return float(cases[case_id]["median_milestones"]["power-off"])

    def held(case_id: str) -> float:
        return float(cases[case_id]["median_timings"].get(KEYS_HELD_BACK, 0.0))

    overheads = [
        row["median_timings"]["total"] - row["median_milestones"]["power-off"]
        for row in cases.values()
        if "power-off" in row["median_milestones"]
    ]
    return {
        "ipv6_over_ipv4_http": round(total("ipv6-http") / total("ipv4-http"), 3),
        "ipv6_over_ipv4_https": round(total("ipv6-https") / total("ipv4-https"), 3),
        "harness_overhead_max_seconds": round(max(overheads), 3),
        "lab_setup_max_seconds": round(
            max(row["median_timings"].get("lab_setup", 0) for row in cases.values()), 3
        ),
        "parallel_over_sequential": round(
            statistics.median(parallel) / statistics.median(tuned["sequential_matrix_seconds"]),
            3,
        ),
        # The firmware's own time (guest start to power-off): writing BootNext into the vars
        # copy happens before the guest starts and is not what the menu walk costs.
        "menu_over_preset": round(off(MENU_CASE) / off(PRESET_CASE), 3),
        # The walk's cost split: the harness's share (each key held back after the firmware's
        # latest output) and the firmware's (starting its setup application, drawing pages),
        # which no menu-driving harness can shorten.
        "menu_harness_over_preset": round(
            (off(PRESET_CASE) + held(MENU_CASE)) / off(PRESET_CASE), 3
        ),
        "menu_firmware_floor_over_preset": round(
            (off(MENU_CASE) - held(MENU_CASE)) / off(PRESET_CASE), 3
        ),
        "menu_keys_held_back_seconds": round(held(MENU_CASE), 3),
        "menu_over_preset_case_total": round(total(MENU_CASE) / total(PRESET_CASE), 3),
        "aarch64_over_x86_64_ipv4_http": round(total(AARCH64_CASE) / total(MENU_CASE), 3),
    }


TARGETS = {
    "ipv6_over_ipv4_http": 1.3,
    "ipv6_over_ipv4_https": 1.3,
    "harness_overhead_max_seconds": 1.0,
    "lab_setup_max_seconds": 0.5,
    "parallel_over_sequential": 0.65,
    "menu_harness_over_preset": 1.15,
}
"""Issue 5's targets. The menu walk's is charged to the harness's share only: the firmware's
own part (about 1.9 s for OVMF to start its setup application after ESC, under TCG) puts
menu_over_preset near 1.3 for any harness that walks the Boot Manager (printed beside it)."""


def plot(document: dict[str, Any], path: Path) -> None:
    """Stacked bars: each case's time cut at its milestones, every piece named for what was
    being done then (``segments``: the HTML report names them the same way), one panel per
    profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from httpboot_harness.html_report import activity_colour

    profiles = document["profiles"]
    figure, axes = plt.subplots(len(profiles), 1, figsize=(11, 2.2 + 1.6 * len(profiles) * 2))
    axes = axes if len(profiles) > 1 else [axes]
    for axis, (profile, data) in zip(axes, profiles.items(), strict=True):
        for row, (case_id, case) in enumerate(data["cases"].items()):
            marks = dict(case["median_milestones"])
            total = marks.pop("total", None)
            tls = "https" in case_id.split("-")
            for piece in segments(marks, tls=tls, total=total):
                colour = activity_colour(piece.activity)
                axis.barh(row, piece.seconds, left=piece.start, color=colour, label=piece.activity)
        axis.set_yticks(range(len(data["cases"])), list(data["cases"]))
        axis.invert_yaxis()
        axis.set_title(f"profile {profile}: median seconds from the guest's start")
        axis.set_xlabel("seconds")
    by_label: dict[str, Any] = {}
    for axis in axes:
        handles, labels = axis.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            by_label.setdefault(label, handle)
    figure.legend(by_label.values(), list(by_label), loc="lower center", ncol=4, fontsize=8)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=110)


def bench_chain(runs: int, artifacts: Path, tls: TlsMaterial, base: Settings) -> dict[str, Any]:
    """Each chain case beside the proof image, split by stage (seconds from the guest's start;
    ``total`` is the whole case with lab setup and teardown)."""
    timings: dict[str, list[dict[str, float]]] = {case_id: [] for case_id in CHAIN_CASES}
    for run in range(runs):
        for case_id in CHAIN_CASES:
            result = run_case(case_by_id(case_id), base, artifacts / "chain", tls=tls)
            timings[case_id].append(result.timings)
            print(
                f"chain run {run + 1}/{runs} {case_id:36} {result.judgement.verdict:8} "
                f"{result.timings.get('total', 0):6.2f} s",
                flush=True,
            )
    medians = {case_id: median_of(samples) for case_id, samples in timings.items()}
    proof, chain = (medians[c].get("total", 0.0) for c in CHAIN_PAIR)
    return {"cases": medians, "ratio": round(chain / proof, 3) if proof else None}


def print_chain(chain: dict[str, Any]) -> None:
    print("\nchain beside the proof image (TCG), median seconds from the guest's start")
    header = ["entry", "dhcp", "download", "loader", "kernel", "initrd", "off", "total"]
    print(f"{'case':36}" + "  ".join(f"{h:>9}" for h in header))
    for case_id, marks in chain["cases"].items():
        cells = [f"{marks[k]:9.2f}" if k in marks else f"{'-':>9}" for k in STAGE_KEYS]
        print(f"{case_id:36}" + "  ".join(cells))
    ratio = chain["ratio"]
    if ratio is not None:
        verdict = "within target" if ratio <= CHAIN_TARGET else "OVER target"
        print(
            f"{'chain total / proof total':36}{ratio:9.3f}  (target <= {CHAIN_TARGET})  {verdict}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default=",".join(OPTIONS["profile"].choices))
    parser.add_argument("--output", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument(
        "--chain-only", action="store_true", help="only the chain cases beside the proof image"
    )
    args = parser.parse_args()
    base = Settings.merge(env=os.environ)
    profiles = [] if args.chain_only else [p for p in args.profiles.split(",") if p]
    document: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": args.runs,
        "profiles": {},
    }
    with tempfile.TemporaryDirectory(prefix="httpboot-bench-") as tmp:
        artifacts = Path(tmp)
        tls = make_tls_material(artifacts / "tls", Addressing())
        for profile in profiles:
            document["profiles"][profile] = bench_profile(profile, args.runs, artifacts, tls, base)
        if "tuned" in profiles:
            parallel = parallel_matrix(args.runs, artifacts, base)
            document["parallel_matrix_seconds"] = parallel
            document["ratios"] = ratios(document["profiles"]["tuned"], parallel)
            document["targets"] = TARGETS
        document["chain"] = bench_chain(args.runs, artifacts, tls, base)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    picture = args.output.with_suffix(".png")
    if profiles:
        plot(document, picture)
    print_table(document)
    print_chain(document["chain"])
    print(f"written: {args.output}" + (f" and {picture}" if profiles else ""))
    return 0


def print_table(document: dict[str, Any]) -> None:
    for profile, data in document["profiles"].items():
        print(f"\nprofile {profile} (accelerator {', '.join(data['accel'])}), median seconds")
        header = ["case", "entry", "dhcp", "dns", "size", "last byte", "image", "off", "total"]
        keys = ["entry chosen", "dhcp done", "dns answered", "size known", "last byte",
                "image output", "power-off", "total"]  # fmt: skip
        print("  ".join(f"{h:>9}" if i else f"{h:24}" for i, h in enumerate(header)))
        for case_id, row in data["cases"].items():
            marks = row["median_milestones"]
            cells = [f"{marks[k]:9.2f}" if k in marks else f"{'-':>9}" for k in keys]
            print(f"{case_id:24}" + "  " + "  ".join(cells))
    for name, value in document.get("ratios", {}).items():
        if name not in TARGETS:
            print(f"{name:32} {value:7.3f}")
            continue
        target = TARGETS[name]
        verdict = "within target" if value <= target else "OVER target"
        print(f"{name:32} {value:7.3f}  (target <= {target})  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
