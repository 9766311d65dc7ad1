#!/usr/bin/env bash
# End-to-end benchmark of `crest profile collect`: messages per second from a JSON Lines file
# through examples/auth.toml's two profiles into the embedded store and into PostgreSQL.
#
#   bench/profile.sh [ACTORS]        (default 1000: about 900k messages over 4 weeks)
#
# Batch sizes (pipeline.queue_size) come from $BATCHES (default "5000 50000").
#
# The input comes from our generator (crest_testing::actors), cached in $CREST_BENCH_DIR
# (default target/bench-data). PostgreSQL is the one on 127.0.0.1:5432 (database test, user
# postgres; override with PG_URL), in a schema of its own that is dropped afterwards. Best of
# $RUNS (default 3) wall-clock runs; memory is the peak resident size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
actors=${1:-1000}
runs=${RUNS:-3}
data=${CREST_BENCH_DIR:-$root/target/bench-data}
pg_url=${PG_URL:-host=127.0.0.1 port=5432 user=postgres dbname=test}
mkdir -p "$data"
cargo build --release -q -p crest --bins && cargo build --release -q -p crest-testing --examples
crest=$root/target/release/crest
input=$data/auth-$actors.jsonl
if [ ! -s "$input" ]; then
  "$root/target/release/examples/make_auth_logs" --actors "$actors" --days 28 > "$input"
fi
lines=$(wc -l < "$input")
echo "input: $input ($lines messages, $(du -h "$input" | cut -f1))"
echo
echo "| store | batch | best of $runs | messages/s | peak RSS |"
echo "|---|---|---|---|---|"
run() {
  local store=$1 batch=$2 best=999999 rss=0
  for _ in $(seq "$runs"); do
    local dir
    dir=$(mktemp -d)
    local args=(profile collect -c examples/auth.toml "$input" --batch-size "$batch" --data-dir "$dir")
    if [ "$store" = postgres ]; then
      args+=(--store postgres --url "$pg_url" --schema crest_bench_$$)
      psql "$pg_url" -qc "drop schema if exists crest_bench_$$ cascade" >/dev/null 2>&1 || true
    fi
    local t0 t1 out
    t0=$(date +%s.%N)
    out=$( { /usr/bin/time -f '%M' "$crest" "${args[@]}" 2>&1 >/dev/null; } | tail -n1)
    t1=$(date +%s.%N)
    local secs
    secs=$(echo "$t1 - $t0" | bc -l)
    if (( $(echo "$secs < $best" | bc -l) )); then best=$secs; rss=$out; fi
    rm -rf "$dir"
  done
  [ "$store" = postgres ] && psql "$pg_url" -qc "drop schema if exists crest_bench_$$ cascade" >/dev/null 2>&1
  printf '| %s | %s | %.2f s | %.0f | %d MiB |\n' "$store" "$batch" "$best" "$(echo "$lines / $best" | bc -l)" "$((rss / 1024))"
}
for batch in ${BATCHES:-5000 50000}; do
  run embedded "$batch"
  run postgres "$batch"
done
