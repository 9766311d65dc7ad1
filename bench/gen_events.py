#!/usr/bin/env python3
"""Endless (or --minutes) synthetic telemetry for `bench/run.sh`: 2,000 users on 500 hosts,
2,000 events per minute of event time, one JSON object per line on standard output, event time
advancing a minute per block (so no event is late). Deterministic (fixed seed)."""
import argparse, random, sys, time

p = argparse.ArgumentParser()
p.add_argument("--minutes", type=int, default=0, help="stop after this many minutes of events (0: never)")
p.add_argument("--start", type=int, default=1790000040, help="first minute, epoch seconds")
p.add_argument("--rate", type=float, default=0, help="events per second of wall time at most (0: as fast as it can)")
a = p.parse_args()
rnd = random.Random(7)
# Each minute reuses these templates with the minute's second stamps filled in.
rows = []
for i in range(2000):
    kind = "auth" if i % 3 == 0 else "process"
    rows.append((i * 60 // 2000, '","user":"u%04d","host":"h%03d","type":"%s","bytes_out":%d}' % (
        rnd.randrange(2000), rnd.randrange(500), kind, rnd.randrange(100, 100000))))
out = sys.stdout
m = 0
began = time.monotonic()
try:
    while a.minutes == 0 or m < a.minutes:
        t0 = a.start + m * 60
        stamps = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + s)) for s in range(60)]
        out.write("".join('{"time":"' + stamps[s] + rest + "\n" for s, rest in rows))
        m += 1
        if a.rate > 0:
            ahead = m * len(rows) / a.rate - (time.monotonic() - began)
            if ahead > 0:
                out.flush()
                time.sleep(ahead)
except BrokenPipeError:
    pass
