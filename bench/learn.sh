#!/usr/bin/env bash
# bench/learn.sh: does a swarm learn what one machine learns?
#
# On one shapes set (large enough not to overfit in the budget) and with the
# same global batch and about the same number of samples, trains dalle-tiny
#   single          one process (ttt train),
#   hivemind        3 trainers averaging gradients every step (ttt node),
#   diloco          3 trainers in DiLoCo mode (local AdamW steps, 8-bit
#                   pseudo-gradients averaged every INNER steps),
#   diloco-overlap  the same with the round overlapping the next inner steps,
# then scores every checkpoint of each run: validation loss (ttt eval loss)
# and whether its pictures follow their captions (ttt eval shapes). Prints
# one result line per run, writes every point to OUT/curves.tsv and draws
# OUT/learning.png (loss and score against samples seen and wall time).
#
#   bench/learn.sh [OUT]          (default OUT: bench-learn)
# Settings, from the environment: LEARN_RUNS ("single hivemind diloco
# diloco-overlap"), LEARN_SAMPLES (training set, 20000), LEARN_BATCH (global
# batch, 192), LEARN_STEPS (optimizer steps of the single run and hivemind
# epochs, 200), LEARN_INNER (DiLoCo's inner steps per outer step, 25),
# LEARN_EVERY (steps between checkpoints scored, 20), LEARN_INNER_LR
# (DiLoCo's inner AdamW rate, 0.003), LEARN_INNER_DECAY (1: that rate decays
# to 0 over the run as LAMB's does; 0, the default: constant, which did
# better here), TTT_BUILD_DIR (build). A run named again replaces its own figures
# in OUT and keeps the others'.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${TTT_BUILD_DIR:-build}
ttt="$root/$build_dir/apps/ttt"
out=$(realpath -m "${1:-bench-learn}")
runs=${LEARN_RUNS:-single hivemind diloco diloco-overlap}
samples=${LEARN_SAMPLES:-20000}
batch=${LEARN_BATCH:-192}
steps=${LEARN_STEPS:-200}
inner=${LEARN_INNER:-25}
every=${LEARN_EVERY:-20}
inner_lr=${LEARN_INNER_LR:-0.003}
inner_total=$(( ${LEARN_INNER_DECAY:-0} ? steps : 0 ))
trainers=3
[ -x "$ttt" ] || { echo "learn: no $ttt; build first (scripts/test.sh or ninja -C $build_dir)"; exit 1; }
command -v gnuplot >/dev/null || { echo "learn: gnuplot missing; run scripts/install-deps.sh"; exit 1; }
if (( batch % trainers != 0 || steps % inner != 0 || steps % every != 0 )); then
  echo "learn: LEARN_BATCH must divide by $trainers, LEARN_STEPS by LEARN_INNER and by LEARN_EVERY"; exit 2
fi
mkdir -p "$out"
source "$root/bench/swarm-lib.sh"
trap swarm_stop EXIT

data="$out/shapes"
if [ ! -f "$data/codebook.safetensors" ]; then
  echo "learn: making the shapes set ($samples samples)"
  "$ttt" data shapes --out "$data" --count "$samples" | tail -1
fi
# The 2021 recipe (LAMB) with its schedule fitted to the budget.
model="$out/model.ini"
sed -e "s/^total_steps = .*/total_steps = $steps/; s/^warmup_steps = .*/warmup_steps = 10/" \
    -e "s/^learning_rate = .*/learning_rate = 0.012/" "$root/configs/model/dalle-tiny.ini" >"$model"

# Scores checkpoint $2 of run $1 seen after $3 samples and $4 seconds, $5 MB sent per trainer.
score() {
  local run=$1 ckpt=$2 seen=$3 wall=$4 sent=$5 loss sc
  loss=$("$ttt" eval loss --checkpoint "$ckpt" --data "$data" --samples 512 | awk '{print $3}')
  sc=$("$ttt" eval shapes --checkpoint "$ckpt" --data "$data" --count 64 | awk '/^score/ {print $2}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$seen" "$wall" "$loss" "$sc" "$sent" >>"$out/curves.tsv"
  printf '  %-15s samples %6s  %7s s  validation loss %s  score %s\n' "$run" "$seen" "$wall" "$loss" "$sc"
}

run_single() {
  echo "learn: single: ttt train, batch $batch, $steps steps"
  local start; start=$(now)
  "$ttt" train --config "$model" --data "$data" --batch "$batch" --micro-batch 32 --keep-activations \
    --checkpoint-every "$every" --eval-every "$steps" --out "$out/single" --fresh >"$out/single.log" 2>&1
  local end; end=$(now)
  for ckpt in "$out"/single/checkpoints/step-*; do
    local n=$((10#${ckpt##*step-}))
    local wall; wall=$(since "$start" "$(stat -c %.Y "$ckpt/model.safetensors" 2>/dev/null || stat -c %Y "$ckpt")")
    score single "$ckpt" $((n * batch)) "$wall" 0
  done
  printf 'single\t%s\t%s\n' "$(since "$start" "$end")" "$((steps * batch))" >>"$out/runs.tsv"
}

# A swarm of $trainers trainer nodes in mode $2 (run name $1), $3 epochs,
# with the profile lines $4 (sed expressions).
run_swarm() {
  local run=$1 mode=$2 epochs=$3 extra=$4 dir="$out/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  swarm_dht "$dir"
  swarm_profile "$model" "$dir/trainer.ini" \
    "s/^target_batch_size = .*/target_batch_size = $batch/; s/^epochs = .*/epochs = $epochs/;
     s/^group_size = .*/group_size = $trainers/; s/^mode = .*/mode = $mode/; $extra"
  local start; start=$(now)
  for i in $(seq 1 $trainers); do swarm_trainer "$dir" "t$i" "$dir/trainer.ini" "$data"; done
  swarm_wait "$dir" "$epochs" "$trainers" "$run" "$start"
  local end; end=$(now)
  swarm_stop
  # What each trainer sent in all its rounds (its last epoch line), on average.
  local sent; sent=$(for i in $(seq 1 $trainers); do grep -o "[0-9.]* MB sent so far" "$dir/t$i.log" | tail -1; done |
                     awk '{ s += $1; n++ } END { printf "%.2f", n ? s / n : 0 }')
  compgen -G "$dir/t1/checkpoints/epoch-*" >/dev/null || { echo "learn: $run wrote no checkpoint; see $dir"; exit 1; }
  for ckpt in "$dir"/t1/checkpoints/epoch-*; do
    local n=$((10#${ckpt##*epoch-}))
    local seen; seen=$(swarm_samples_before "$dir" "$n")
    local line; line=$(grep "written (epoch $n)" "$dir/t1.log" | head -1)
    local wall; wall=$(since "$start" "$(clock_of "${line%% *}")")
    score "$run" "$ckpt" "$seen" "$wall" "$sent"
  done
  local total; total=$(cat "$dir"/t?.log | grep -o "[0-9]* samples here" | awk '{ s += $1 } END { print s }')
  printf '%s\t%s\t%s\n' "$run" "$(since "$start" "$end")" "$total" >>"$out/runs.tsv"
}

# Figures of runs not run again stay.
touch "$out/curves.tsv" "$out/runs.tsv"
for run in $runs; do
  awk -F'\t' -v r="$run" '$1 != r' "$out/curves.tsv" >"$out/curves.tmp" && mv "$out/curves.tmp" "$out/curves.tsv"
  awk -F'\t' -v r="$run" '$1 != r' "$out/runs.tsv" >"$out/runs.tmp" && mv "$out/runs.tmp" "$out/runs.tsv"
done
if ! grep -q "^run" "$out/curves.tsv"; then
  { printf 'run\tsamples\twall_s\tvalid_loss\tscore\tsent_mb_per_trainer\n'; cat "$out/curves.tsv"; } >"$out/curves.tmp"
  mv "$out/curves.tmp" "$out/curves.tsv"
fi
diloco_profile() {
  # Each trainer's inner batch is its share of the global batch, so an outer
  # step covers as many samples as $inner steps of the others.
  echo "s/^inner_steps = .*/inner_steps = $inner/; s/^inner_batch_size = .*/inner_batch_size = $((batch / trainers))/;
        s/^inner_lr = .*/inner_lr = $inner_lr/; s/^inner_warmup_steps = .*/inner_warmup_steps = 10/;
        s/^inner_total_steps = .*/inner_total_steps = $inner_total/;
        s/^outer_overlap = .*/outer_overlap = $1/; s/^checkpoint_every = .*/checkpoint_every = 1/"
}
for run in $runs; do
  case $run in
    single) run_single ;;
    hivemind) echo "learn: hivemind: $trainers trainers, target batch $batch, $steps epochs"
              run_swarm hivemind hivemind "$steps" "s/^checkpoint_every = .*/checkpoint_every = $every/" ;;
    diloco) echo "learn: diloco: $trainers trainers, $inner inner steps of $((batch / trainers)), $((steps / inner)) outer steps"
            run_swarm diloco diloco $((steps / inner)) "$(diloco_profile false)" ;;
    diloco-overlap) echo "learn: diloco-overlap: as diloco, rounds overlapping the next inner steps"
                    run_swarm diloco-overlap diloco $((steps / inner)) "$(diloco_profile true)" ;;
    *) echo "learn: unknown run '$run'"; exit 2 ;;
  esac
done

# One result line per run: its last checkpoint's figures beside the single run's.
awk -F'\t' -v batch="$batch" '
  FNR == NR { if (FNR > 1) { last[$1] = $0; loss[$1] = $4; score[$1] = $5; seen[$1] = $2; sent[$1] = $6 } next }
  { wall[$1] = $2; total[$1] = $3; order[++n] = $1 }
  END {
    for (i = 1; i <= n; ++i) {
      r = order[i]
      line = sprintf("learn: run=%s batch=%d samples=%d wall_s=%.0f samples_per_s=%.1f valid_loss=%s score=%s sent_mb_per_trainer=%s",
                     r, batch, total[r], wall[r], total[r] / wall[r], loss[r], score[r], sent[r])
      if (r != "single" && ("single" in loss))
        line = line sprintf(" baseline=single baseline_valid_loss=%s baseline_score=%s baseline_samples_per_s=%.1f loss_ratio=%.3f",
                            loss["single"], score["single"], total["single"] / wall["single"], loss[r] / loss["single"])
      print line
    }
  }' "$out/curves.tsv" "$out/runs.tsv" | tee "$out/results.txt"

gnuplot <<EOF
set terminal pngcairo size 1400,1000 font "sans,11"
set output "$out/learning.png"
set datafile separator "\t"
set key autotitle columnhead
set multiplot layout 2,2 title "dalle-tiny on $samples shapes, global batch $batch: one machine vs a swarm of $trainers"
set grid
runs = "$(awk -F'\t' 'NR > 1 && !seen[$1]++ { printf "%s ", $1 }' "$out/curves.tsv")"
set logscale y
set xlabel "samples seen"; set ylabel "validation loss"
plot for [r in runs] "< awk -F'\\t' '\$1 == \"".r."\"' $out/curves.tsv" using 2:4 with linespoints title r
set xlabel "wall time (s)"
plot for [r in runs] "< awk -F'\\t' '\$1 == \"".r."\"' $out/curves.tsv" using 3:4 with linespoints title r
unset logscale y
set yrange [0:1]
set xlabel "samples seen"; set ylabel "shapes score (pictures follow the captions)"
plot for [r in runs] "< awk -F'\\t' '\$1 == \"".r."\"' $out/curves.tsv" using 2:5 with linespoints title r
set xlabel "wall time (s)"
plot for [r in runs] "< awk -F'\\t' '\$1 == \"".r."\"' $out/curves.tsv" using 3:5 with linespoints title r
unset multiplot
EOF
echo "learn: curves in $out/curves.tsv, plot in $out/learning.png"
