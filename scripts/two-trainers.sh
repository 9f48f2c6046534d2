#!/usr/bin/env bash
# Two trainer nodes on loopback training dalle-tiny together on a prepared
# shapes dataset, then a check that both ended with the same parameters:
# the end-to-end run of real processes, on the CPU or a GPU.
#   scripts/two-trainers.sh TTT DATA OUT [EPOCHS] [DEVICE] [OVERLAP]
# TTT: the ttt binary; DATA: a folder `ttt data shapes` wrote; OUT: where the
# profiles and logs go (made anew); DEVICE: auto (default), cpu, cuda...;
# OVERLAP: true to overlap averaging with compute. Exits 1 when a trainer
# did not finish or the two disagree.
set -uo pipefail
if [ $# -lt 3 ]; then
  echo "usage: scripts/two-trainers.sh TTT DATA OUT [EPOCHS] [DEVICE] [OVERLAP]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
ttt=$1 data=$2 out=$3 epochs=${4:-5} device=${5:-auto} overlap=${6:-false}
for f in "$ttt" "$data/tokenizer.model"; do
  [ -e "$f" ] || { echo "two-trainers: $f is missing" >&2; exit 2; }
done
rm -rf "$out"
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$ttt" node --profile configs/node.ini --listen 127.0.0.1:0 --data-dir "$out/dht" >"$out/dht.log" 2>&1 &
pids+=($!)
addr=
for _ in $(seq 1 200); do
  addr=$( (grep -o "listening on .*" "$out/dht.log" || true) | head -1 | awk '{print $3}')
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "two-trainers: the DHT node did not start:"; cat "$out/dht.log"; exit 1; }

sed -e "s|^config = .*|config = $PWD/configs/model/dalle-tiny.ini|; s/target_batch_size = [0-9]*/target_batch_size = 64/" \
    -e "s/epochs = [0-9]*/epochs = $epochs/; s/group_size = 16/group_size = 2/" \
    -e "s/matchmaking_time = [0-9]*/matchmaking_time = 5/; s/^device = .*/device = $device/" \
    -e "s/overlap_averaging = .*/overlap_averaging = $overlap/" configs/trainer.ini >"$out/trainer.ini"
for i in 1 2; do
  "$ttt" node --profile "$out/trainer.ini" --listen 127.0.0.1:0 --initial-peer "$addr" \
    --data "$data" --data-dir "$out/trainer$i" >"$out/trainer$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 1200); do
  finished=$( (grep -l "trained $epochs epochs" "$out"/trainer?.log 2>/dev/null || true) | wc -l)
  [ "$finished" -eq 2 ] && break
  died=0 # a trainer gone without finishing
  for i in 1 2; do
    kill -0 "${pids[$i]}" 2>/dev/null || grep -q "trained $epochs epochs" "$out/trainer$i.log" || died=1
  done
  [ "$died" -eq 1 ] && break
  sleep 0.5
done
status=0
digests=()
for i in 1 2; do
  (grep -o "computing on .*" "$out/trainer$i.log" || true) | head -1 | sed "s/^/trainer $i: /"
  last=$( (grep "done" "$out/trainer$i.log" || true) | tail -1)
  echo "trainer $i: ${last:-no epoch finished}"
  digests+=("$(echo "$last" | (grep -o "parameters [0-9a-f]\{16\}" || true))")
  grep -q "trained $epochs epochs" "$out/trainer$i.log" || { echo "trainer $i did not finish; its log ends:"; tail -5 "$out/trainer$i.log"; status=1; }
done
if [ -z "${digests[0]}" ] || [ "${digests[0]}" != "${digests[1]}" ]; then
  echo "two-trainers: the trainers disagree (${digests[0]:-none} / ${digests[1]:-none})"
  status=1
else
  echo "two-trainers: both hold the same model (${digests[0]}) after $epochs epochs"
fi
exit $status
