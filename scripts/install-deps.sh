#!/usr/bin/env bash
# Installs, from Debian's packages, whatever ttt needs that this machine lacks.
# Idempotent: packages already present are not touched, and apt-get is not
# called at all when nothing is missing.
set -euo pipefail

packages=(
  g++ meson ninja-build ccache pkg-config
  libcaf-dev            # actors and cross-machine messaging (CAF 0.17)
  capnproto libcapnp-dev
  librocksdb-dev
  libsodium-dev
  libboost-test-dev
  libtorch-dev
  libopenblas0-pthread  # an optimized BLAS for libtorch (the default reference BLAS is ~10x slower)
  libsentencepiece-dev
  libpng-dev
  libjpeg-dev           # JPEG input of `ttt vqgan encode` and `ttt data import`
  libwebp-dev           # WebP input of `ttt data import`
  libcpp-httplib-dev
  libgloo-dev           # benchmark baseline only
  gnuplot-nox           # bench/learn.sh draws its learning curves
  chromium              # headless: the dashboard's browser test and the demo's screenshot of it
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
