#!/usr/bin/env bash
# bench/attack.sh: what one lying trainer does to a run, with and without
# CenteredClip (docs/HOSTILE.md).
#
# Four trainers train dalle-tiny on the shapes set in hivemind mode (target
# batch 192, one LAMB step per epoch, all four in one group):
#   none           four honest trainers, the plain mean;
#   none-clip      four honest trainers, centered_clip (what the defence costs);
#   mean           three honest trainers and the attacker, the plain mean;
#   centered_clip  three honest trainers and the attacker, centered_clip.
# The attacker (tests/adversary/attacker_node: `ttt node` whose model sends
# its gradients times ATTACK_SCALE, -1000 by default) has its own valid
# identity and computes like the others. Per run one result line: the honest
# trainers' last swarm loss, the validation loss and shapes score of an
# honest trainer's last checkpoint, whether the honest trainers agree (equal
# parameter digests) and how many honest trainers dropped the attacker from
# their groups for being clipped in most rounds.
#
#   bench/attack.sh [OUT]          (default OUT: bench-attack)
# From the environment: ATTACK_RUNS ("none none-clip mean centered_clip"),
# ATTACK_EPOCHS (100), ATTACK_SCALE (-1000), ATTACK_DATA (an existing shapes
# set; default: make 20,000 scenes in OUT/shapes), TTT_BUILD_DIR (build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${TTT_BUILD_DIR:-build}
ttt="$root/$build_dir/apps/ttt"
attacker="$root/$build_dir/tests/adversary/attacker_node"
out=$(realpath -m "${1:-bench-attack}")
runs=${ATTACK_RUNS:-none none-clip mean centered_clip}
epochs=${ATTACK_EPOCHS:-100}
scale=${ATTACK_SCALE:--1000}
batch=192
for program in "$ttt" "$attacker"; do
  [ -x "$program" ] || { echo "attack: no $program; build first (ninja -C $build_dir)"; exit 1; }
done
source "$root/bench/swarm-lib.sh"
trap swarm_stop EXIT
mkdir -p "$out"

data=${ATTACK_DATA:-$out/shapes}
if [ ! -f "$data/codebook.safetensors" ]; then
  echo "attack: making the shapes set (20000 samples)"
  "$ttt" data shapes --out "$data" --count 20000 | tail -1
fi
model="$out/model.ini"
sed -e "s/^total_steps = .*/total_steps = $epochs/; s/^warmup_steps = .*/warmup_steps = 10/" \
    -e "s/^learning_rate = .*/learning_rate = 0.012/" "$root/configs/model/dalle-tiny.ini" >"$model"

rm -f "$out/results.txt"
for run in $runs; do
  case $run in
    none) aggregation=mean; lying=0 ;;
    none-clip) aggregation=centered_clip; lying=0 ;;
    mean) aggregation=mean; lying=1 ;;
    centered_clip) aggregation=centered_clip; lying=1 ;;
    *) echo "attack: unknown run '$run'"; exit 2 ;;
  esac
  dir="$out/$run"
  rm -rf "$dir"; mkdir -p "$dir"
  echo "attack: $run: 4 trainers ($lying lying, gradients x$scale), aggregation $aggregation, $epochs epochs"
  swarm_dht "$dir"
  swarm_profile "$model" "$dir/trainer.ini" \
    "s/^target_batch_size = .*/target_batch_size = $batch/; s/^epochs = .*/epochs = $epochs/;
     s/^group_size = .*/group_size = 4/; s/^checkpoint_every = .*/checkpoint_every = $epochs/;
     s/^aggregation = .*/aggregation = $aggregation/"
  start=$(now)
  for i in 1 2 3; do swarm_trainer "$dir" "t$i" "$dir/trainer.ini" "$data"; done
  if [ "$lying" -eq 1 ]; then
    swarm_trainer "$dir" attacker "$dir/trainer.ini" "$data" "$attacker" --scale "$scale"
  else
    swarm_trainer "$dir" t4 "$dir/trainer.ini" "$data"
  fi
  # The honest trainers' end is the run's; the attacker may lag or stop.
  swarm_wait "$dir" "$epochs" 3 "$run" "$start"
  wall=$(since "$start" "$(now)")
  swarm_stop
  last=$((epochs - 1))
  loss=$(grep -h "epoch $last done" "$dir"/t[123].log | grep -o "loss [-0-9.naife+]*" |
         awk '{ s += $2; n++ } END { print n ? s / n : "nan" }')
  digests=$(grep -h "epoch $last done" "$dir"/t[123].log | grep -o "parameters [0-9a-f]\{16\}" | sort -u | wc -l)
  agree=$([ "$digests" -eq 1 ] && echo yes || echo no)
  ckpt=$(ls -d "$dir"/t1/checkpoints/epoch-* | tail -1)
  valid=$("$ttt" eval loss --checkpoint "$ckpt" --data "$data" --samples 512 | awk '{print $3}')
  score=$("$ttt" eval shapes --checkpoint "$ckpt" --data "$data" --count 64 | awk '/^score/ {print $2}')
  dropped=0
  if [ "$lying" -eq 1 ]; then
    # "peer ID clipped in 6 of the last 8 rounds: dropped from this peer's groups"
    who=$(grep -o "ttt node [0-9a-f]*" "$dir/attacker.log" | head -1 | awk '{print substr($3, 1, 12)}')
    dropped=$( (grep -l "$who.*clipped in .*dropped from this peer's groups" "$dir"/t[123].log || true) | wc -l)
  fi
  line="attack: run=$run aggregation=$aggregation attacker=$([ "$lying" -eq 1 ] && echo "x$scale" || echo none)"
  line+=" epochs=$epochs wall_s=${wall%.*} swarm_loss=$loss valid_loss=$valid score=$score honest_agree=$agree"
  line+=" honest_dropping_attacker=$dropped/3"
  echo "$line" | tee -a "$out/results.txt"
done
# The baseline beside each attacked run: the same aggregation without the attacker.
awk '{ for (i = 2; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
       v[f["run"]] = f["valid_loss"] }
     END { if (("none" in v) && ("mean" in v)) printf "attack: mean: valid_loss %s with the attacker, %s without\n", v["mean"], v["none"];
           if (("none-clip" in v) && ("centered_clip" in v))
             printf "attack: centered_clip: valid_loss %s with the attacker, %s without\n", v["centered_clip"], v["none-clip"] }' \
  "$out/results.txt" | tee -a "$out/results.txt"
