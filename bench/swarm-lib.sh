# Shell functions the swarm benchmarks (bench/learn.sh, bench/attack.sh)
# share: a local swarm of `ttt node` processes on loopback. Source it after
# setting `ttt` (the binary) and `root` (the source tree).

swarm_pids=()
swarm_boot=

swarm_stop() {
  for p in "${swarm_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${swarm_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  swarm_pids=()
}

now() { date +%s.%N; }
# Seconds from stamp $1 to stamp $2 (`date +%s.%N`).
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# A log line's HH:MM:SS.mmm (today, UTC) as a stamp.
clock_of() {
  awk -v t="$1" -v d="$(date -u +%s)" 'BEGIN { split(t, p, ":"); s = p[1] * 3600 + p[2] * 60 + p[3];
    day = d - d % 86400; printf "%.3f", day + s }'
}

# A DHT node in $1 that the trainers join through: sets swarm_boot.
swarm_dht() {
  local dir=$1
  mkdir -p "$dir"
  "$ttt" node --profile "$root/configs/node.ini" --listen 127.0.0.1:0 --data-dir "$dir/dht" >"$dir/dht.log" 2>&1 &
  swarm_pids+=($!)
  swarm_boot=
  for _ in $(seq 1 100); do
    swarm_boot=$( (grep -o "others join through [^)]*" "$dir/dht.log" || true) | awk '{print $4}')
    [ -n "$swarm_boot" ] && return 0
    sleep 0.1
  done
  echo "swarm: the DHT node did not start:"; cat "$dir/dht.log"; return 1
}

# The trainer profile $2 made from configs/trainer.ini for model config $1,
# with the sed expressions $3 applied last.
swarm_profile() {
  sed -e "s|^config = .*|config = $1|; s/^keep_activations = .*/keep_activations = true/" \
      -e "s/^keep_checkpoints = .*/keep_checkpoints = 0/" -e "$3" "$root/configs/trainer.ini" >"$2"
}

# Trainer $2 of the swarm in $1 with profile $3 and data $4; the program is
# `ttt node` unless more words follow (e.g. the attacker and its flags).
swarm_trainer() {
  local dir=$1 name=$2 profile=$3 data=$4
  shift 4
  local program=("$ttt" node)
  [ $# -gt 0 ] && program=("$@")
  "${program[@]}" --profile "$profile" --listen 127.0.0.1:0 --initial-peer "$swarm_boot" \
    --data "$data" --data-dir "$dir/$name" >"$dir/$name.log" 2>&1 &
  swarm_pids+=($!)
}

# Waits until the $3 trainer logs $1/t*.log say they trained $2 epochs,
# printing progress every 10 epochs (label $4, start stamp $5).
swarm_wait() {
  local dir=$1 epochs=$2 count=$3 label=$4 start=$5 last=0
  while :; do
    local done_count; done_count=$( (grep -l "trained $epochs epochs" "$dir"/t*.log || true) | wc -l)
    [ "$done_count" -ge "$count" ] && return 0
    local e; e=$( (grep -o "epoch [0-9]* done" "$dir/t1.log" || true) | tail -1 | awk '{print $2}')
    if [ -n "$e" ] && (( e / 10 > last / 10 )); then
      echo "  $label: epoch $e of $epochs, $(since "$start" "$(now)") s"; last=$e
    fi
    for p in "${swarm_pids[@]}"; do
      kill -0 "$p" 2>/dev/null || { echo "swarm: a process of $label died; see $dir"; return 1; }
    done
    sleep 1
  done
}

# Samples the trainers of $1 (logs t*.log) computed in epochs before $2.
swarm_samples_before() {
  cat "$1"/t*.log | grep -o "epoch [0-9]* done: loss [0-9.naif-]*, [0-9]* samples here" |
    awk -v n="$2" '$2 < n { s += $6 } END { print s + 0 }'
}
