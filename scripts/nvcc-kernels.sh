#!/usr/bin/env bash
# Compiles ttt's CUDA kernels (model/kernels.cu) into one object file: the one
# nvcc command of ttt, run by model/meson.build's kernels target and by
# scripts/gpu-kit.sh (which prebuilds the object for a GPU machine without nvcc).
#   scripts/nvcc-kernels.sh NVCC SOURCE_ROOT OUTPUT [DEPFILE]
#   scripts/nvcc-kernels.sh --source-hash SOURCE_ROOT   what a prebuilt object was built from
#   scripts/nvcc-kernels.sh --cudart NVCC               CUDA's static runtime beside NVCC, if any
set -euo pipefail
if [ "${1:-}" = --cudart ]; then
  root=$(dirname "$(dirname "$2")")
  for f in "$root"/lib64/libcudart_static.a "$root"/targets/x86_64-linux/lib/libcudart_static.a; do
    [ -f "$f" ] && { echo "$f"; break; }
  done
  exit 0
fi
if [ "${1:-}" = --source-hash ]; then
  cat "$2/model/kernels.cu" "$2/model/kernels.hpp" "$2/scripts/nvcc-kernels.sh" | sha256sum | cut -d' ' -f1
  exit 0
fi
if [ $# -lt 3 ]; then
  echo "usage: $0 NVCC SOURCE_ROOT OUTPUT [DEPFILE]" >&2
  exit 2
fi
nvcc=$1 root=$2 output=$3 depfile=${4:-}
# Turing (T4, as on Colab) and later: sm_86/89 run sm_80's code, newer GPUs
# JIT the PTX.
args=(-c -O3 -std=c++17 -Xcompiler -fPIC -I"$root"
  -gencode=arch=compute_75,code=sm_75
  -gencode=arch=compute_80,code=sm_80
  "-gencode=arch=compute_90,code=[sm_90,compute_90]")
[ -n "$depfile" ] && args+=(-MD -MF "$depfile")
exec "$nvcc" "${args[@]}" "$root/model/kernels.cu" -o "$output"
