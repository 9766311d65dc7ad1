#!/usr/bin/env python3
"""Writes examples/failed-logins.csv: failed logins per 5 minutes over two weeks.

Deterministic (seeded), standard library only. The series has a daily rhythm (office hours),
quieter weekends and Poisson noise, and three things an analyst wants to see:
  * the collector down on 2026-11-19 from 14:00 to 16:00 (empty values: missing, not zero);
  * a password-spraying burst on 2026-11-25 from 03:00 to 03:40 (UTC), ~8x the usual night;
  * from 2026-11-26 09:00 a new VPN gateway doubles the weekday daytime failures (a level
    shift).
Run: python3 examples/make_failed_logins.py > examples/failed-logins.csv
"""
import math
import random
import sys
from datetime import datetime, timedelta, timezone

STEP = 300
START = datetime(2026, 11, 16, tzinfo=timezone.utc)  # a Monday
DAYS = 14


def poisson(rng, lam):
    # Knuth for small means, a rounded normal for large ones.
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    rng = random.Random(20261202)
    out = sys.stdout
    out.write("timestamp,value\n")
    for i in range(DAYS * 86400 // STEP):
        t = START + timedelta(seconds=i * STEP)
        hour = t.hour + t.minute / 60
        office = math.exp(-((hour - 13.0) ** 2) / (2 * 3.0**2))
        weekend = t.weekday() >= 5
        lam = 6 + (18 if weekend else 60) * office
        if t >= datetime(2026, 11, 26, 9, tzinfo=timezone.utc) and not weekend and 8 <= hour < 19:
            lam *= 2.0
        if datetime(2026, 11, 25, 3, tzinfo=timezone.utc) <= t < datetime(2026, 11, 25, 3, 40, tzinfo=timezone.utc):
            lam += 55
        stamp = t.strftime("%Y-%m-%d %H:%M:%S")
        if datetime(2026, 11, 19, 14, tzinfo=timezone.utc) <= t < datetime(2026, 11, 19, 16, tzinfo=timezone.utc):
            out.write(f"{stamp},\n")
            continue
        out.write(f"{stamp},{poisson(rng, lam)}\n")


if __name__ == "__main__":
    main()
