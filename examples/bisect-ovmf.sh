#!/usr/bin/env bash
# Find the edk2 commit that broke HTTP boot:
#
#   cd edk2 && git bisect start BAD GOOD
#   git bisect run /path/to/httpboot-harness/examples/bisect-ovmf.sh ipv4-https ipv6-http
#
# Builds OVMF at the current commit and asks httpboot-harness to judge it. Exit codes follow
# `git bisect run`: 0 good, 1 bad, 125 skip. A commit that does not build is skipped (125), never
# blamed: the harness itself answers 125 when it cannot judge (missing file, server trouble).
set -u

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(ipv4-http ipv4-https ipv6-http ipv6-https)
harness=${HTTPBOOT_HARNESS:-httpboot-harness}
build_dir=${OVMF_BUILD_DIR:-Build/OvmfX64/DEBUG_GCC5/FV}
log=${OVMF_BUILD_LOG:-/tmp/ovmf-bisect-build.log}

build_ovmf() {
  if [ -n "${OVMF_BUILD_COMMAND:-}" ]; then
    bash -c "$OVMF_BUILD_COMMAND"
    return
  fi
  # shellcheck disable=SC1091
  source ./edksetup.sh >/dev/null &&
    make -s -C BaseTools >/dev/null &&
    build -q -a X64 -t GCC5 -b DEBUG -p OvmfPkg/OvmfPkgX64.dsc \
      -D NETWORK_HTTP_BOOT_ENABLE -D NETWORK_TLS_ENABLE -D NETWORK_IP6_ENABLE
}

if ! build_ovmf >"$log" 2>&1; then
  echo "bisect-ovmf: the build failed (see $log): skipping this commit" >&2
  exit 125
fi

exec "$harness" bisect-run "${cases[@]}" \
  --ovmf-code "$build_dir/OVMF_CODE.fd" --ovmf-vars "$build_dir/OVMF_VARS.fd"
