#!/usr/bin/env bash
# Prepares .device-kit/ for scripts/gpu-check.sh on a `device` GPU machine
# (no package registry there): the shared kit (../shared/device: CAF, Cap'n
# Proto, RocksDB, libsodium, Boost.Test as Debian packages) plus what ttt's
# model/ needs beyond it (SentencePiece, libpng, zlib headers), downloaded
# here with apt-get. Then run, with carry [".device-kit"]:
#   bash scripts/gpu-check.sh [quick|bench]
set -euo pipefail
cd "$(dirname "$0")/.."
kit=${1:-../shared/device}
if [ ! -f "$kit/gpu-env.sh" ]; then
  echo "gpu-kit: no kit at $kit (give its folder as the argument)" >&2
  exit 2
fi
rm -rf .device-kit
mkdir -p .device-kit
cp -r "$kit"/. .device-kit/
extra=(libsentencepiece0 libsentencepiece-dev libpng16-16 libpng-dev zlib1g-dev)
(cd .device-kit/debs && apt-get download "${extra[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
for p in "${extra[@]}"; do
  ls .device-kit/debs/"${p}"_*.deb >/dev/null 2>&1 || { echo "gpu-kit: could not download $p" >&2; exit 1; }
done
# ttt's CUDA kernels, compiled here for a GPU machine without nvcc, with
# CUDA's static runtime beside them (scripts/gpu-check.sh links them there
# when it finds no nvcc and the sources still hash the same).
nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -n "$nvcc" ]; then
  cudart=$(bash scripts/nvcc-kernels.sh --cudart "$nvcc")
  if [ -n "$cudart" ]; then
    mkdir -p .device-kit/cuda
    bash scripts/nvcc-kernels.sh "$nvcc" "$PWD" .device-kit/cuda/kernels.o
    cp "$cudart" .device-kit/cuda/
    bash scripts/nvcc-kernels.sh --source-hash "$PWD" > .device-kit/cuda/source.sha256
    "$nvcc" --version | tail -2 | head -1 > .device-kit/cuda/nvcc.txt
    echo "gpu-kit: kernels prebuilt with $nvcc ($(cat .device-kit/cuda/nvcc.txt))"
  else
    echo "gpu-kit: no libcudart_static.a beside $nvcc: kernels not prebuilt" >&2
  fi
else
  echo "gpu-kit: no nvcc here: kernels not prebuilt (the GPU machine's nvcc, if any, builds them)" >&2
fi
# The shapes dataset, made here: scripts/gpu-check.sh runs two trainer nodes
# on it there (training its tokenizer crashes on that machine).
ttt=${TTT_BINARY:-build/apps/ttt}
if [ -x "$ttt" ]; then
  "$ttt" data shapes --out .device-kit/shapes --count 600 | tail -1
else
  echo "gpu-kit: no $ttt (a model-enabled build): no dataset for the two-trainer run" >&2
fi
echo "gpu-kit: .device-kit ready ($(du -sh .device-kit | cut -f1)); it is ignored by git and travels with carry"
