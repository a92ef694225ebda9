#!/usr/bin/env bash
# Misjudged cases under load: two busy loops take both cores while `matrix --jobs 2` runs RUNS
# times on each firmware build Debian ships (Debian 12's is the host's; 13's and unstable's are
# fetched into the cache). A case is misjudged when it did not meet its expectation: with
# firmware that boots every built-in case, any such row is the harness's doing under load.
#   benchmarks/misjudged_under_load.sh [RUNS] [SELECTION...]     (default: 3, the default matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
py=.venv/bin/python
d13=$($py -m httpboot_harness.package_cache ovmf trixie | head -n 1)/usr/share/OVMF
sid=$($py -m httpboot_harness.package_cache ovmf-generic sid | head -n 1)/usr/share/OVMF
declare -A folder=([debian12]=/usr/share/OVMF [debian13]=$d13 [unstable]=$sid)
out=$(mktemp -d /tmp/httpboot-load.XXXXXX)
sh -c 'while :; do :; done' & busy1=$!
sh -c 'while :; do :; done' & busy2=$!
trap 'kill $busy1 $busy2 2>/dev/null; rm -rf "$out"' EXIT
for build in debian12 debian13 unstable; do
  for run in $(seq "$runs"); do
    report=$out/$build-$run.json
    .venv/bin/httpboot-harness matrix "$@" --jobs 2 --json "$report" \
      --ovmf-code "${folder[$build]}/OVMF_CODE_4M.fd" --ovmf-vars "${folder[$build]}/OVMF_VARS_4M.fd" \
      >"$out/$build-$run.log" 2>&1 || true
    $py - "$report" "$build" "$run" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["cases"]
bad = [f"{r['id']}={r['verdict']}" for r in rows if not r["met_expectation"]]
slowest = max(r["timings"]["total"] for r in rows)
print(f"{sys.argv[2]} run {sys.argv[3]}: {len(bad)}/{len(rows)} misjudged {' '.join(bad)}"
      f"(slowest case {slowest:.1f} s)")
PY
  done
done
