#!/usr/bin/env bash
# The starter kit: on a fresh Debian machine, installs what is missing,
# builds ttt and joins the run at RUN (its aux peer's address,
# http://HOST:PORT, or a trainer profile file) as a volunteer. Every option
# after RUN goes to `ttt join` (e.g. --name NAME, --max-data MB, --device cuda).
#   scripts/join.sh http://203.0.113.7:8080 --name alice
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
  echo "usage: scripts/join.sh RUN [ttt join options]   (RUN: http://HOST:PORT of the run's aux peer)"
  [ $# -ge 1 ] && exit 0 || exit 2
fi
scripts/install-deps.sh
build_dir=${TTT_BUILD_DIR:-build}
[ -f "$build_dir/build.ninja" ] || meson setup "$build_dir"
ninja -C "$build_dir" -j"$(nproc)" apps/ttt
exec "$build_dir/apps/ttt" join "$@"
