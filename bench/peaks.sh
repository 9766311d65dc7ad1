#!/usr/bin/env bash
# End-to-end benchmark of `crest peaks`, optionally side by side with the reference.
#
#   bench/peaks.sh [1m|5m|all]        (default: 1m)
#
# Makes the inputs of the spec's §15 with ../shared/tools/gen_telemetry.py (once; they are
# cached in $CREST_BENCH_DIR, default target/bench-data), builds crest in release mode and
# times three runs per input, best of $RUNS (default 3), with wall time and peak memory:
#
#   build    no global table, window 2020-11-01..04 (the reference: 2 passes)
#   detect   global table present, window 2020-11-04 (1 pass)
#   backend  no table, clock pinned at 2020-11-04 00:00 so the baseline week has 3 data days
#            (the reference: 5 passes)
#
# With REFERENCE_PYTHON set to a Python that has telemetry-peak-analyzer==0.1.6 installed
# (and faketime on PATH for the backend run), the reference runs the same steps and the table
# shows the speed-up and memory ratio (the reference runs $REFERENCE_RUNS times, default 1).
# Output is a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
which=${1:-1m}
runs=${RUNS:-3}
data=${CREST_BENCH_DIR:-$root/target/bench-data}
gen=$root/../shared/tools/gen_telemetry.py
mkdir -p "$data"

cargo build --release -q
crest=$root/target/release/crest

make_input() { # name records peak-records
  local f=$data/$1.json
  if [ ! -s "$f" ]; then
    echo "generating $f ..." >&2
    python3 "$gen" --out "$f.tmp" --records "$2" --start 2020-11-01 --days 7 \
      --peak-day 2020-11-04 --peak-records "$3" >&2
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# best-of-N wall seconds and max RSS (KiB) of a command; prints "secs kib".
# N is $RUNS, or $REFERENCE_RUNS (default 1) for the reference, which is slow.
measure() {
  local best_s="" best_k="" n=$runs
  case "$*" in *telemetry_peak_analyzer*) n=${REFERENCE_RUNS:-1} ;; esac
  for _ in $(seq "$n"); do
    [ -n "${PREP:-}" ] && eval "$PREP"
    local tf out
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$tf" >&2; exit 1; }
    out=$(tail -1 "$tf")
    rm -f "$tf"
    local s=${out% *} k=${out#* }
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; fi
    if [ -z "$best_k" ] || [ "$k" -gt "$best_k" ]; then best_k=$k; fi
  done
  echo "$best_s $best_k"
}

row() { # label bytes crest(secs kib) [ref(secs kib)]
  local label=$1 bytes=$2 c_s=$3 c_k=$4 r_s=${5:-} r_k=${6:-}
  local mbps
  mbps=$(awk "BEGIN{printf \"%.0f\", $bytes / $c_s / 1e6}")
  if [ -n "$r_s" ]; then
    awk -v l="$label" -v cs="$c_s" -v ck="$c_k" -v rs="$r_s" -v rk="$r_k" -v m="$mbps" 'BEGIN{
      printf "| %s | %.2f s | %.0f MiB | %s MB/s | %.2f s | %.0f MiB | %.1f× | %.2f |\n", l, cs, ck/1024, m, rs, rk/1024, rs/cs, ck/rk }'
  else
    awk -v l="$label" -v cs="$c_s" -v ck="$c_k" -v m="$mbps" 'BEGIN{
      printf "| %s | %.2f s | %.0f MiB | %s MB/s | | | | |\n", l, cs, ck/1024, m }'
  fi
}

bench_input() { # name records peak-records
  local input
  input=$(make_input "$1" "$2" "$3")
  local bytes
  bytes=$(stat -L -c %s "$input")
  local work
  work=$(mktemp -d)
  echo "" >&2
  echo "## $1: $(awk "BEGIN{printf \"%.2f\", $2/1e6}")M records + $3 peak, $(awk "BEGIN{printf \"%.0f\", $bytes/1e6}") MB" 
  echo ""
  echo "| run | crest | crest RSS | crest input rate | reference | reference RSS | speed-up | memory ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  local gst=$work/gst.json
  # build: no table
  local c r=""
  c=$(PREP="rm -f $gst" measure "$crest" peaks -n "$input" -s 2020-11-01 -e 2020-11-04 -m "$gst" -q --no-progress)
  if [ -n "${REFERENCE_PYTHON:-}" ]; then
    r=$(cd "$work" && PREP="rm -f $work/ref_gst.json" TZ=UTC measure "$REFERENCE_PYTHON" -m telemetry_peak_analyzer -n "$input" -s 2020-11-01 -e 2020-11-04 -m "$work/ref_gst.json")
  fi
  row build "$bytes" $c $r
  # detect: table present (made by the build above)
  "$crest" peaks -n "$input" -s 2020-11-01 -e 2020-11-04 -m "$gst" -q --no-progress
  cp "$gst" "$work/gst.base.json"
  c=$(PREP="cp $work/gst.base.json $gst" measure "$crest" peaks -n "$input" -s 2020-11-04 -e 2020-11-05 -m "$gst" -q --no-progress)
  r=""
  if [ -n "${REFERENCE_PYTHON:-}" ]; then
    r=$(cd "$work" && PREP="cp $work/gst.base.json $work/ref_gst.json" TZ=UTC measure "$REFERENCE_PYTHON" -m telemetry_peak_analyzer -n "$input" -s 2020-11-04 -e 2020-11-05 -m "$work/ref_gst.json")
  fi
  row detect "$bytes" $c $r
  # backend: no table, clock pinned so that the baseline week has 3 data days
  c=$(PREP="rm -f $gst" measure "$crest" peaks -n "$input" --now "2020-11-04 00:00:00" -s 2020-11-04 -e 2020-11-05 -m "$gst" -q --no-progress)
  r=""
  if [ -n "${REFERENCE_PYTHON:-}" ] && command -v faketime >/dev/null; then
    r=$(cd "$work" && PREP="rm -f $work/ref_gst.json" TZ=UTC measure faketime -f "2020-11-04 00:00:00" "$REFERENCE_PYTHON" -m telemetry_peak_analyzer -n "$input" -s 2020-11-04 -e 2020-11-05 -m "$work/ref_gst.json")
  fi
  row backend "$bytes" $c $r
  rm -rf "$work"
}

echo "# crest peaks benchmark ($(nproc) cores, best of $runs, $(date -u +%Y-%m-%d))"
case $which in
  1m) bench_input t1m 1000000 20000 ;;
  5m) bench_input t5m 5000000 100000 ;;
  all) bench_input t1m 1000000 20000; bench_input t5m 5000000 100000 ;;
  *) echo "usage: $0 [1m|5m|all]" >&2; exit 2 ;;
esac
