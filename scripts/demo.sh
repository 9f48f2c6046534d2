#!/usr/bin/env bash
# The ttt demo: installs what is missing, builds, starts a small local swarm
# of DHT peers on loopback, shows values stored through one peer being read
# through others, kills a peer with SIGKILL and restarts it from its data
# directory; then makes the synthetic shapes dataset and runs a training
# swarm on it: an aux peer that keeps the run's state, serves the dashboard
# (leaderboard, curves, latest pictures and weights) and seeds the data, and
# three trainers, two of which join with `ttt join URL` alone, that train
# dalle-tiny together, averaging every epoch and checkpointing, while the aux
# peer prints the swarm's loss and, every 25 epochs, how well its pictures
# follow their captions; finally it scores the swarm's last checkpoint beside
# the reference, draws pictures for a few prompts into PNG files and leaves a
# screenshot of the dashboard (about 10 minutes on 2 cores).
# Stops every process it started (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=${TTT_BUILD_DIR:-build}
[ -f "$build_dir/build.ninja" ] || meson setup "$build_dir"
ninja -C "$build_dir" -j"$(nproc)" apps/ttt
ttt="$PWD/$build_dir/apps/ttt"

run_dir="$PWD/demo-run"
rm -rf "$run_dir"
mkdir -p "$run_dir"
pids=()
tail_pid=
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, stopping the swarm"; exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Starts peer $1 (optionally joining through $2, listening on $3); waits for its ready line.
start_peer() {
  local i=$1 join=${2:-} listen=${3:-127.0.0.1:0}
  local args=(node --profile configs/node.ini --listen "$listen" --data-dir "$run_dir/peer$i")
  [ -n "$join" ] && args+=(--initial-peer "$join")
  "$ttt" "${args[@]}" >>"$run_dir/peer$i.log" 2>&1 &
  pids[$i]=$!
  for _ in $(seq 1 200); do
    if grep -q "listening on" "$run_dir/peer$i.log" 2>/dev/null; then
      # PEERID@HOST:PORT: whoever dials it checks that the peer proves this id.
      peer[$i]=$(grep -o "others join through [^)]*" "$run_dir/peer$i.log" | tail -1 | awk '{print $4}')
      addr[$i]=${peer[$i]#*@}
      echo "peer $i: ${peer[$i]:0:12}… at ${addr[$i]}"
      return 0
    fi
    sleep 0.05
  done
  echo "demo: peer $i did not start; its log:"; cat "$run_dir/peer$i.log"; exit 1
}

declare -a addr peer
say "Starting a swarm of 5 DHT peers on loopback"
start_peer 0
for i in 1 2 3 4; do start_peer "$i" "${peer[0]}"; done
sleep 1

say "Storing values through peer 1"
"$ttt" dht store --initial-peer "${peer[1]}" run/name "ttt demo swarm" --ttl 600
for who in alice bob carol; do
  "$ttt" dht store --initial-peer "${peer[1]}" run/peers "$who is training" --subkey "$who" --ttl 600
done

say "Reading them through peers 2, 3 and 4"
for i in 2 3 4; do
  echo "via peer $i: run/name = $("$ttt" dht get --initial-peer "${peer[$i]}" run/name)"
done
echo "via peer 4: run/peers ="
"$ttt" dht get --initial-peer "${peer[4]}" run/peers --latest | sed 's/^/  /'

say "A peer refuses bad input: a value that breaks the schema of its key prefix"
"$ttt" dht store --initial-peer "${peer[2]}" example.bad "not a Cap'n Proto message" || true

say "Killing peer 3 with SIGKILL, then restarting it from its data directory"
kill -9 "${pids[3]}"
wait "${pids[3]}" 2>/dev/null || true
old=${addr[3]}
start_peer 3 "" "$old"
sleep 1
grep -E "loaded|bootstrap done" "$run_dir/peer3.log" | tail -2 | sed 's/^/  peer 3 log: /'
echo "via restarted peer 3: run/name = $("$ttt" dht get --initial-peer "${peer[3]}" run/name)"

say "Making the synthetic dataset (captioned scenes of coloured shapes)"
# 20,000 scenes: enough that the swarm learns to draw captions it never saw
# rather than memorizing the training set.
"$ttt" data shapes --out "$run_dir/shapes" --count 20000 | tail -3
echo "a preview of the scenes: $run_dir/shapes/preview.png"

say "Training dalle-tiny: an aux peer (state, dashboard, data) and 3 trainers, 2 of them joined with ttt join"
epochs=${TTT_DEMO_EPOCHS:-250}
# The 2021 recipe (LAMB, warmup then linear decay) over the demo's epochs:
# global batch 192, one optimizer step per epoch (bench/RESULTS.md, "learning").
# Trainer 1 also scores the model every 25 epochs for the dashboard.
sed -e "s/^total_steps = .*/total_steps = $epochs/; s/^warmup_steps = .*/warmup_steps = 10/" \
    -e "s/^learning_rate = .*/learning_rate = 0.012/" configs/model/dalle-tiny.ini >"$run_dir/dalle-tiny.ini"
sed -e "s|^config = .*|config = $run_dir/dalle-tiny.ini|; s/^target_batch_size = .*/target_batch_size = 192/" \
    -e "s/^epochs = .*/epochs = $epochs/; s/^group_size = .*/group_size = 3/" \
    -e "s/^keep_activations = .*/keep_activations = true/; s/^checkpoint_every = .*/checkpoint_every = 25/" \
    -e "s/^status_every = .*/status_every = 120/" \
    configs/trainer.ini >"$run_dir/trainer.ini"
sed -e "s/^eval_every = .*/eval_every = 25/" "$run_dir/trainer.ini" >"$run_dir/trainer-eval.ini"
# The aux peer, as in the 2021 run: it keeps the run's state, aggregates the
# metrics for the dashboard (leaderboard, curves, the latest pictures and
# weights), seeds the data set and hands volunteers the run's kit.
sed -e "s/poll_interval = [0-9]*/poll_interval = 1/; s/^dashboard = .*/dashboard = 127.0.0.1:0/" \
    -e "s/^roles = .*/roles = dht, checkpointer, monitor, seeder/; s/^sample_every = .*/sample_every = 25/" \
    -e "s|^shards =.*|shards = $run_dir/shapes|; s|^profile =.*|profile = $run_dir/trainer.ini|" \
    configs/aux.ini >"$run_dir/aux.ini"
"$ttt" node --profile "$run_dir/aux.ini" --listen 127.0.0.1:0 --initial-peer "${peer[0]}" \
  --data-dir "$run_dir/aux" >"$run_dir/aux.log" 2>&1 &
pids+=($!)
dashboard=
for _ in $(seq 1 100); do
  dashboard=$( (grep -o "at http://[0-9.:]*/" "$run_dir/aux.log" || true) | head -1 | cut -c4-)
  [ -n "$dashboard" ] && break
  sleep 0.1
done
[ -n "$dashboard" ] || { echo "demo: the aux peer did not start its dashboard; its log:"; cat "$run_dir/aux.log"; exit 1; }
echo "dashboard (leaderboard, curves, latest pictures and weights; Prometheus at /metrics): $dashboard"
"$ttt" node --profile "$run_dir/trainer-eval.ini" --listen 127.0.0.1:0 --initial-peer "${peer[0]}" \
  --name trainer-1 --data "$run_dir/shapes" --data-dir "$run_dir/trainer1" >"$run_dir/trainer1.log" 2>&1 &
pids+=($!)
# A volunteer needs only the run's address: ttt join gets the kit, fits the
# machine, fetches the data from the seeder and trains.
for i in 2 3; do
  echo "volunteer $i: ttt join ${dashboard%/} --name volunteer-$i"
  "$ttt" join "${dashboard%/}" --name "volunteer-$i" --listen 127.0.0.1:0 \
    --data-dir "$run_dir/trainer$i" >"$run_dir/trainer$i.log" 2>&1 &
  pids+=($!)
done
for i in 2 3; do
  for _ in $(seq 1 300); do grep -q "hivemind trainer of run" "$run_dir/trainer$i.log" 2>/dev/null && break; sleep 0.1; done
  (grep -E "^[0-9:.]+ (hardware|data: [0-9]+ files in)" "$run_dir/trainer$i.log" || true) | sed "s/^[0-9:.]* /  volunteer $i: /"
done
# The aux peer's monitor line per epoch is the swarm's progress.
tail -n +1 -f "$run_dir/aux.log" > >(grep --line-buffered -E "^[0-9:.]+ epoch [0-9]+:") &
tail_pid=$!
for _ in $(seq 1 2400); do
  done_count=$( (grep -l "trained $epochs epochs" "$run_dir"/trainer?.log 2>/dev/null || true) | wc -l)
  [ "$done_count" -eq 3 ] && break
  sleep 0.5
done
sleep 2
kill "$tail_pid" 2>/dev/null || true
tail_pid=
first=$( (grep -o "epoch [0-9]*: loss [0-9.]*" "$run_dir/aux.log" || true) | head -1 | awk '{print $4}')
last=$( (grep -o "epoch [0-9]*: loss [0-9.]*" "$run_dir/aux.log" || true) | tail -1 | awk '{print $4}')
echo "swarm loss: ${first:-?} at the first epoch, ${last:-?} at the last"
echo "trainer 1 says: $( (grep "done" "$run_dir/trainer1.log" || true) | tail -1 | cut -d' ' -f2-)"
echo "(the same parameter digest on every trainer means they hold the same model:)"
for i in 1 2 3; do
  (grep "done" "$run_dir/trainer$i.log" || true) | tail -1 | (grep -o "parameters [0-9a-f]\{16\}" || true) | sed "s/^/  trainer $i: /"
done
# The dashboard as the run ended, as a browser shows it.
if command -v chromium >/dev/null; then
  sleep 3 # the aux peer publishes the last epoch's weights and pictures
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2200 \
    --user-data-dir="$run_dir/chromium" --screenshot="$run_dir/dashboard.png" "$dashboard" >/dev/null 2>&1 &&
    echo "the dashboard as the run ended: $run_dir/dashboard.png"
fi

say "Generating images from the swarm's latest checkpoint"
checkpoint=$(ls -d "$run_dir"/trainer1/checkpoints/epoch-* 2>/dev/null | tail -1)
if [ -z "$checkpoint" ]; then
  echo "demo: trainer 1 wrote no checkpoint; its log:"; tail -20 "$run_dir/trainer1.log"; exit 1
fi
echo "checkpoint: $checkpoint"
mkdir -p "$run_dir/images"
# 64 random captions drawn and scored: are the asked colours and shapes
# where the caption says? The reference is the codebook's own rendering of
# the true scenes, the best any model drawing through it can do.
"$ttt" eval shapes --checkpoint "$checkpoint" --data "$run_dir/shapes" --out "$run_dir/images/eval.png" \
  >"$run_dir/eval.txt" 2>&1 || true
n=0
for prompt in "big red circle top left" "small blue square middle center" "big green triangle bottom right" \
              "small yellow circle top right and big purple square bottom left"; do
  n=$((n + 1))
  "$ttt" generate --checkpoint "$checkpoint" --prompt "$prompt" --count 4 --seed "$n" \
    --out "$run_dir/images/prompt$n.png" | tail -1 | sed "s|^|  \"$prompt\": |"
done
echo "images: $run_dir/images/prompt1.png … prompt$n.png (4 samples per prompt, side by side),"
echo "        $run_dir/images/eval.png (the 64 scored captions' pictures)"
score=$( (grep "^score" "$run_dir/eval.txt" || true) | awk '{print $2}')
reference=$( (grep "^reference" "$run_dir/eval.txt" || true) | awk '{print $NF}')
if [ -n "$score" ]; then
  echo "shapes score of the swarm's model: $score (the reference, drawing the true scenes: $reference;"
  echo "  1 = every asked shape and colour where the caption says, near 0 = untrained)"
else
  echo "demo: the evaluation failed:"; cat "$run_dir/eval.txt"
fi

say "Done"
echo "The dashboard: $dashboard (the latest weights: ${dashboard}weights/latest.safetensors)"
echo "Logs: $run_dir/*.log. Stopping the swarm."
