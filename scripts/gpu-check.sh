#!/usr/bin/env bash
# The GPU checks of ttt, for a machine with a CUDA GPU and PyTorch's libtorch
# (the `device` machines; scripts/gpu-kit.sh prepares .device-kit/ here, the
# CUDA kernels prebuilt in it for a machine without nvcc, to travel with carry
# [".device-kit"]): builds ttt against the CUDA libtorch, runs the model tests
# (their GPU cases compare CUDA with the CPU), and benchmarks training on the
# GPU. Results go to $OUT (default: gpu-check-out/).
#   scripts/gpu-check.sh [quick|bench]   quick: dalle-small only; bench: ttt and
#                                        the benchmarks only, with a profile
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
if [ ! -f .device-kit/gpu-env.sh ]; then
  echo "gpu-check: .device-kit/gpu-env.sh is missing (run scripts/gpu-kit.sh first)" >&2
  exit 2
fi
source .device-kit/gpu-env.sh > "$out/env.txt" 2>&1
torch_root=$(dirname "$TTT_TORCH_LIBDIR")
# CUDA's runtime headers (the GPU's name and memory statistics need them).
cuda_header=$(find /usr/local/cuda*/include /usr/include /opt/torch/.venv -name cuda_runtime_api.h 2>/dev/null | head -1)
[ -n "$cuda_header" ] && export CPATH=$CPATH:$(dirname "$cuda_header")
echo "gpu-check: cuda_runtime_api.h: ${cuda_header:-not found}"
# nvcc builds ttt's own CUDA kernels (model/kernels.cu); without it libtorch's ops do their work.
nvcc_path=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/bin/nvcc 2>/dev/null | head -1)
[ -n "$nvcc_path" ] && export PATH=$PATH:$(dirname "$nvcc_path")
echo "gpu-check: nvcc: ${nvcc_path:-not found}"
# Without nvcc and CUDA's static runtime here, the kernels scripts/gpu-kit.sh
# compiled off the machine from these same sources.
kernel_options=()
cudart_here=""
[ -n "$nvcc_path" ] && cudart_here=$(bash scripts/nvcc-kernels.sh --cudart "$nvcc_path")
if [ -z "$cudart_here" ] && [ -f .device-kit/cuda/kernels.o ]; then
  if [ "$(bash scripts/nvcc-kernels.sh --source-hash "$PWD")" = "$(cat .device-kit/cuda/source.sha256)" ]; then
    kernel_options=("-Dgpu_kernels_prebuilt=$PWD/.device-kit/cuda")
    echo "gpu-check: ttt's kernels prebuilt by scripts/gpu-kit.sh ($(cat .device-kit/cuda/nvcc.txt))"
  else
    echo "gpu-check: .device-kit/cuda/kernels.o was built from other sources (rerun scripts/gpu-kit.sh): not used"
  fi
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv | tee "$out/gpu.txt"
start=$(date +%s)
if [ ! -f build-gpu/build.ninja ]; then
  # -U_GLIBCXX_ASSERTIONS: the machine's g++ enables libstdc++ assertions,
  # which CAF 0.17's function-based actors trip (see the kit's README).
  LDFLAGS="$TTT_GPU_LDFLAGS" meson setup build-gpu -Dcpp_std=c++17 -Dbuildtype=release \
    -Dtorch_dir="$torch_root" -Dcpp_args=-U_GLIBCXX_ASSERTIONS "${kernel_options[@]}" > "$out/setup.txt" 2>&1 ||
    { tail -40 "$out/setup.txt"; exit 1; }
fi
targets="apps/ttt model/libttt_sentencepiece.so tests/model/model_test tests/trainer/swarm_dalle_test"
[ "${1:-}" = bench ] && targets="apps/ttt tests/model/model_test"
if ! ninja -C build-gpu -j"$(nproc)" $targets > "$out/build.txt" 2>&1; then
  grep -B2 -A15 -E "error|FAILED" "$out/build.txt" | head -150
  exit 1
fi
echo "gpu-check: built in $(( $(date +%s) - start )) s; $(grep -o "ttt CUDA kernels: .*" build-gpu/meson-logs/meson-log.txt | tail -1)"

summarize_bench() { # FILE: each bench train line shortened to its settings and figures
  awk '/^bench train config=/ {
    line = ""
    for (i = 3; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] ~ /^(config|batch|accumulate|reversible|graph|kernels|attention|samples_per_s|mfu|peak_step_mib)$/)
        line = line " " $i
    }
    print substr(line, 2)
  }' "$1"
}

model_test() {
  # Logged to stderr, unbuffered: a crash loses nothing.
  timeout "$1" build-gpu/tests/model/model_test --log_level=test_suite --log_sink=stderr --report_level=short "${@:2}" 2>&1
}
if [ "${1:-}" = bench ]; then
  # Most telling first; each run stops at the deadline (GPU_CHECK_SECONDS
  # from the build's start, 540 by default: a device call's limit is 600), so that
  # what ran comes back whole.
  deadline=$(( start + ${GPU_CHECK_SECONDS:-540} ))
  bounded() { # SECONDS COMMAND...: at most SECONDS, and never past the deadline
    local left=$(( deadline - $(date +%s) ))
    if [ "$left" -lt 20 ]; then
      echo "gpu-check: out of time, skipped: ${*:2}"
      return 0
    fi
    timeout $(( $1 < left ? $1 : left )) "${@:2}"
  }
  echo "== the GPU tests of the fast paths"
  bounded 120 build-gpu/tests/model/model_test --log_level=test_suite --log_sink=stderr --report_level=short \
    --run_test='gpu_*:graphed*:loss_*:token_*:fused_*:merged_*:the_attention_merge*' 2>&1 | grep -vE "Entering test (case|module)" | tail -12
  echo "== bench train, with a profile of dalle-ttt"
  peak=989.4
  bench() {
    bounded "$1" build-gpu/apps/ttt bench train --device cuda --peak-tflops $peak "${@:2}" 2>> "$out/bench-progress.txt" | tee -a "$out/bench.txt"
  }
  ttt_bench() { bench 150 --config configs/model/dalle-ttt.ini --steps 2 "$@"; }
  ttt_bench --batch 8 --accumulate 4 --reversible off --graph
  ttt_bench --batch 8 --accumulate 4 --reversible off --profile "$out/ttt-kept.json"
  # The same without the merged axial attention, then without ttt's kernels.
  ttt_bench --batch 8 --accumulate 4 --reversible off --graph --attention per-line
  ttt_bench --batch 8 --accumulate 4 --reversible off --graph --kernels off
  ttt_bench --batch 16 --accumulate 2 --reversible off --graph  # fits now? (text keys no longer copied per line)
  ttt_bench --batch 8 --accumulate 4 --reversible off
  ttt_bench --batch 32 --reversible on --graph
  ttt_bench --batch 1 --accumulate 16 --reversible on --graph
  bench 90 --config configs/model/dalle-small.ini --batch 64 --steps 3 --reversible on --compare-cpu --graph
  echo "== the profile (kernels by time)"
  head -30 "$out/ttt-kept.json.txt" 2>/dev/null
  tail -4 "$out/bench-progress.txt"
  echo "== summary"
  summarize_bench "$out/bench.txt"
  gzip -f "$out"/*.json 2>/dev/null
  exit 0
fi

echo "== the GPU model tests (CUDA against the CPU)"
model_test 120 --run_test='device_*:model_flops*:host_*:gpu_*:one_step*:gradients_are*:fused_*:merged_*' | tee "$out/gpu_tests.txt" |
  grep -vE "Entering test (case|module)" | tail -40

echo "== bench train"
# The bf16 dense peak of the GPU, for MFU (ttt knows it by name only when
# built with the whole CUDA toolkit's headers).
peak=0
grep -qE "H100|H200|H800" "$out/gpu.txt" && peak=989.4
grep -q "A100" "$out/gpu.txt" && peak=312
bench() {
  timeout "$1" build-gpu/apps/ttt bench train --device cuda --peak-tflops $peak "${@:2}" 2>> "$out/bench-progress.txt" | tee -a "$out/bench.txt"
}
bench 90 --config configs/model/dalle-small.ini --batch 64 --steps 5 --reversible both --compare-cpu
if [ "${1:-}" != quick ]; then
  bench 120 --config configs/model/dalle-ttt.ini --batch 32 --steps 3 --reversible on
fi
tail -4 "$out/bench-progress.txt"
summarize_bench "$out/bench.txt"

echo "== two dalle-tiny trainers averaging, on the GPU (device = auto)"
timeout 120 build-gpu/tests/trainer/swarm_dalle_test --log_level=test_suite --log_sink=stderr --report_level=short 2>&1 |
  grep -vE "Entering test" | tail -8
if [ -d .device-kit/shapes ]; then
  # Real processes on the dataset made off the machine (training a tokenizer
  # crashes in Debian's libsentencepiece there): plain, then overlapped.
  echo "== two trainer nodes on the GPU, real processes"
  for overlap in false true; do
    timeout 240 bash scripts/two-trainers.sh build-gpu/apps/ttt .device-kit/shapes "$out/two-trainers-$overlap" 5 cuda $overlap
  done
fi

echo "== SentencePiece training, library opened without RTLD_DEEPBIND"
TTT_SENTENCEPIECE_DEEPBIND=0 timeout 120 build-gpu/tests/model/model_test --run_test='sentencepiece_*:shapes_dataset_*' \
  --report_level=short 2>&1 | tail -4

echo "== all model tests"
model_test 120 > "$out/model_test.txt"
echo "model_test exit $?"
tail -5 "$out/model_test.txt"
