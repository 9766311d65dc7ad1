#!/usr/bin/env bash
# End-to-end benchmark of `crest run`: NATS JetStream → three series pipelines (per user, bytes
# per host, all logins) and a peaks pipeline (hourly submissions per (type, host) pair, users as
# samples: 1,000 pairs) → a JSON Lines sink, on the NATS server at 127.0.0.1:4222.
#
#   bench/run.sh [SECONDS]     sustained phase length (default 600)
#
# 1. Burst: 2,000,000 events (bench/gen_events.py) published, then read by `crest run
#    --until-idle 1s`; once with one event per message, once with 50 per message. The rate is
#    crest's own, from its first batch to its last (the `stopped:` line).
# 2. Sustained: the generator, paced at $RATE events/s (default 250000, 50 per message), feeds
#    a stream capped at 2 GB for SECONDS while one worker reads it; every 30 s the worker's
#    /metrics give the events read and its resident memory.
# Streams are named CRESTBENCH*, deleted and made anew on each run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-600}
rate=${RATE:-250000}
cargo build --release -q -p crest --bins
crest=$root/target/release/crest
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
config() { # stream subject
  cat <<TOML
[service]
checkpoint_interval = "10s"
batch_size = 4096
listen = "127.0.0.1:18090"
[sources.bus]
type = "jetstream"
stream = "$1"
subject = "$2"
durable = "bench"
[pipelines.per-user]
detector = "series"
sources = ["bus"]
key = ["user"]
step = "5min"
method = "mad"
window = 48
threshold = 0.999
[pipelines.bytes-per-host]
detector = "series"
sources = ["bus"]
filter = { type = "process" }
key = ["host"]
value_field = "bytes_out"
step = "5min"
method = "ensemble"
threshold = 0.999
[pipelines.all-auth]
detector = "series"
sources = ["bus"]
filter = { type = "auth" }
step = "1min"
method = "ensemble"
threshold = 0.999
[pipelines.waves]
detector = "peaks"
sources = ["bus"]
time_field = "time"
dimensions = ["type", "host"]
sample_field = "user"
floors = {}
window = "1h"
[sinks.out]
type = "jsonl"
path = "findings.jsonl"
TOML
}
drop_stream() {
  python3 - "$1" <<'PY' 2>/dev/null || true
import asyncio, sys
try:
    import nats
except ImportError:
    sys.exit(0)
async def main():
    nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        await nc.jetstream().delete_stream(sys.argv[1])
    except Exception:
        pass
    await nc.close()
asyncio.run(main())
PY
}
python3 bench/gen_events.py --minutes 1000 > "$work/events.jsonl"
echo "| events per message | events | crest's rate | wall (incl. 1 s idle) | peak RSS |"
echo "|---|---|---|---|---|"
for per in 1 50; do
  stream=CRESTBENCH$per
  drop_stream "$stream"
  "$crest" publish --stream "$stream" --subject "crestbench.$per" --lines-per-message "$per" \
    "$work/events.jsonl" 2> "$work/publish.log"
  config "$stream" "crestbench.$per" | sed '/^listen/d' > "$work/burst-$per.toml"
  rm -rf "$work/state"
  /usr/bin/time -f '%e %M' -o "$work/time" "$crest" run -c "$work/burst-$per.toml" \
    --data-dir "$work/state" --until-idle 1s 2> "$work/run.log"
  got=$(grep -o '[0-9]*/s from the first batch' "$work/run.log" | cut -d/ -f1)
  read -r wall kib < "$work/time"
  echo "| $per | 2,000,000 | $got/s | $wall s | $((kib / 1024)) MiB |"
done

echo
echo "sustained: $rate events/s offered for $secs s (50 per message)"
drop_stream CRESTBENCHS
config CRESTBENCHS crestbench.s > "$work/sustained.toml"
rm -rf "$work/state"
"$crest" run -c "$work/sustained.toml" --data-dir "$work/state" 2> "$work/sustained.log" &
worker=$!
sleep 1
timeout "$secs" bash -c "python3 bench/gen_events.py --rate $rate | \
  '$crest' publish --stream CRESTBENCHS --subject crestbench.s --lines-per-message 50 \
  --max-bytes 2000000000 - 2>/dev/null" || true &
echo "| t (s) | events read | events/s (last 30 s) | resident memory |"
echo "|---|---|---|---|"
last=0
for t in $(seq 30 30 "$secs"); do
  sleep 30
  if ! kill -0 $worker 2>/dev/null; then
    echo "the worker stopped; its log:" >&2
    tail -20 "$work/sustained.log" >&2
    exit 1
  fi
  m=$(curl -s http://127.0.0.1:18090/metrics || true)
  n=$(echo "$m" | awk '/^crest_events_total /{print $2}')
  rss=$(echo "$m" | awk '/^crest_resident_memory_bytes /{print $2}')
  echo "| $t | $n | $(( (n - last) / 30 )) | $((rss / 1048576)) MiB |"
  last=$n
done
kill -TERM $worker
wait $worker || true
drop_stream CRESTBENCHS
