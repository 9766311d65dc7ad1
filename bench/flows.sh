#!/usr/bin/env bash
# End-to-end benchmark of `crest flows`: Zeek conn.log rows per second, parsed and analysed with
# every detector on (seed checks, RITA beacons/strobes/long connections, scans, TRW, trust).
#
#   bench/flows.sh [HOURS] [HOSTS] [RATE]     (default 48 hours, 240 hosts, 500 conns/host/hour:
#                                              about 2.9M rows, 380 MB of TSV)
#
# The input comes from our generator (crest_testing::flows), cached in $CREST_BENCH_DIR
# (default target/bench-data), plain and gzipped. Best of $RUNS (default 3) wall-clock runs;
# memory is the peak resident size. Output is a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
hours=${1:-48}
hosts=${2:-240}
rate=${3:-500}
runs=${RUNS:-3}
data=${CREST_BENCH_DIR:-$root/target/bench-data}
mkdir -p "$data"
cargo build --release -q -p crest -p crest-testing --examples
crest=$root/target/release/crest
input=$data/conn-$hours-$hosts-$rate.log
if [ ! -s "$input" ]; then
  "$root/target/release/examples/make_flow_logs" --hours "$hours" --hosts "$hosts" --rate "$rate" > "$input.tmp"
  mv "$input.tmp" "$input"
fi
[ -s "$input.gz" ] || gzip -1 -n -c "$input" > "$input.gz"
rows=$(grep -vc '^#' "$input")
echo "input: $input ($rows rows, $(du -h "$input" | cut -f1); gzip $(du -h "$input.gz" | cut -f1))"
echo
echo "| input | best of $runs | rows/s | MB/s | peak RSS |"
echo "|---|---|---|---|---|"
run() {
  local file=$1 best=999999 rss=0
  for _ in $(seq "$runs"); do
    local t0 t1 out secs
    t0=$(date +%s.%N)
    out=$( { /usr/bin/time -f '%M' "$crest" flows --zeek "$file" --format jsonl --no-progress 2>&1 >/dev/null; } | tail -n1)
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc -l)
    if (( $(echo "$secs < $best" | bc -l) )); then best=$secs; rss=$out; fi
  done
  local mb
  mb=$(echo "$(stat -c %s "$input") / 1000000 / $best" | bc -l)
  printf '| %s | %.2f s | %.0f | %.0f | %d MiB |\n' "$(basename "$file")" "$best" "$(echo "$rows / $best" | bc -l)" "$mb" "$((rss / 1024))"
}
run "$input"
run "$input.gz"
