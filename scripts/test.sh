#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
# Extra arguments go to `meson test` (e.g. a test name, or --suite dht).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${TTT_BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir"
fi
ninja -C "$build_dir" -j"$(nproc)"

set +e
meson test -C "$build_dir" --print-errorlogs --num-processes "$(nproc)" "$@"
status=$?
set -e

log="$build_dir/meson-logs/testlog.json"
passed=$(grep -c '"result": "OK"' "$log" || true)
failed=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
skipped=$(grep -c '"result": "SKIP"' "$log" || true)
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
  exit 1
fi
