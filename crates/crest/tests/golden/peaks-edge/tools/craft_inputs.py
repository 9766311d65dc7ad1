#!/usr/bin/env python3
r"""Hand-crafted inputs for the extra golden runs (deterministic, no arguments needed
besides the output directory).

    python3 craft_inputs.py OUT_DIR

Writes:
  ties.json             T_ties: exact binary ties of the 2-decimal ratio, ratios near 0.5,
                        LOCAL_MIN_COUNT boundary (50 vs 51), integral / non-integral means,
                        non-ASCII / quote / backslash / control-character dimension values,
                        a sample id that is the number 7 in some records and the string "7"
                        in others.  Days 2020-12-01 (build) and 2020-12-02 (detect).
  ties_backend.json     T2_ties_backend: baseline days 2020-11-28 (a single record at exactly
                        now-7d), 12-01, 12-02, 12-03 designed so that the backend averages hit
                        .5 ties (round half to even) and the per-day ratios are non-trivial
                        doubles; records exactly on the window bounds (ms precision);
                        detect day 2020-12-05.
  numeric_ids.json      X_cli2: sample ids written as 1, 1.0, 1e0, 1.00, true, "1", 2, 2.5,
                        "2.5", null, 0, -0, 0.0 (the reference merges the numerically equal
                        ones).  Days 2020-12-01 / 2020-12-02.
  missing_sha1.json     X_cli2: base file + one record without "file.sha1" on 2020-11-02 12:00 UTC
  missing_sha1_late.json  base + one record without "file.sha1" on 2020-11-07 12:00 UTC
  missing_origin.json   base + one record without "source.origin" on 2020-11-02 12:00 UTC
  ts_string.json        base + one record whose utc_timestamp is the string "1604318400000"
  ts_float.json         base + one record whose utc_timestamp is 1604318400000.0 (integral
                        value written with a decimal point)

The "base" is the output of
  gen_telemetry.py --out base.json --records 1400 --start 2020-11-01 --days 7 --minimal --seed 801
(generated into a temporary file, not kept).  The bad record is inserted at position 700
(the middle of the file), the file is re-written one compact record per line.

Hand-crafted global tables (gst_before of some X_cli2 steps) are also defined here
(GST_GARBAGE, GST_MICROSECONDS, GST_EMPTY) and written by run_reference.py.
"""
import datetime
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = "/work/shared/tools/gen_telemetry.py"
BASE_ARGS = ["--records", "1400", "--start", "2020-11-01", "--days", "7", "--minimal", "--seed", "801"]


def day_ms(date_str):
    d = datetime.datetime.strptime(date_str, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000


def sha(*parts):
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()


def rec_json(d0, d1, sid_raw, ts, uid, ascii_):
    """One compact record.  sid_raw is the already-serialised JSON text of the sample id."""
    d0s = json.dumps(d0, ensure_ascii=ascii_)
    d1s = json.dumps(d1, ensure_ascii=ascii_)
    return ('{"file.llfile_type":%s,"file.sha1":%s,"source.origin":"API","source.user_id":%d,'
            '"task.severity":%s,"utc_timestamp":%d}' % (d1s, sid_raw, uid, d0s, ts))


def write_records(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(lines))
        f.write("\n]\n")


def expand(day, pairs, rng, ascii_every=2):
    """pairs: list of (dim0, dim1, [(sid_json_text, count), ...]).  Returns shuffled lines."""
    out = []
    for d0, d1, samples in pairs:
        for sid_raw, count in samples:
            for _ in range(count):
                out.append((d0, d1, sid_raw))
    rng.shuffle(out)
    base = day_ms(day)
    lines = []
    for i, (d0, d1, sid_raw) in enumerate(out):
        ts = base + ((i * 37) % 86400) * 1000
        lines.append(rec_json(d0, d1, sid_raw, ts, i % 5, ascii_=(i % ascii_every == 0)))
    return lines


def sids(tag, counts):
    """Sample ids for a list of per-sample submission counts."""
    return [(json.dumps(sha(tag, k)), c) for k, c in enumerate(counts)]


# --------------------------------------------------------------------------- ties.json
QUOTE_BS = 'Quo"te\\Back'
CTRL = "Tab\tCtl\x01Del\x7f"


def ties():
    rng = random.Random(1)
    S = "suspicious"
    day1 = [
        (S, "TieLow", sids("TieLow1", [1])),
        (S, "TieMid", sids("TieMid1", [1])),
        (S, "TieHigh", sids("TieHigh1", [1])),
        (S, "TieTop", sids("TieTop1", [1])),
        (S, "HalfExact", sids("HalfExact1", [60])),
        (S, "Near505", sids("Near5051", [200])),
        (S, "Near504", sids("Near5041", [250])),
        (S, "Sub50", sids("Sub501", [1])),
        (S, "Sub51", sids("Sub511", [1])),
        (S, "IntMean", sids("IntMean1", [1])),
        (S, "FracMean", sids("FracMean1", [1])),
        (S, "MixedIds", [('"x"', 1)]),
        (S, "ZipArchiv\u00e9", sids("zipe1", [2, 1])),
        (S, "\u6587\u4ef6", sids("wenjian1", [1])),
        (S, "\U0001F4E6", sids("package1", [1])),
        (S, "\uff5aenkaku", sids("zenkaku1", [1])),
        (S, QUOTE_BS, sids("quote1", [1])),
        (S, CTRL, sids("ctrl1", [1])),
        (S, "OnlyDay1", sids("only1", [3, 2])),
        ("critiqu\u00e9", "ZipArchiv\u00e9", sids("crit1", [1])),
        ("malicious", "PeExeFile", sids("mal1", [2] * 40)),
        ("benign", "PdfDocFile", sids("ben1", [1] * 10)),
    ]
    day2 = [
        (S, "TieLow", sids("TieLow2", [10] + [1] * 70)),      # 10/80 = 0.125 -> 0.12
        (S, "TieMid", sids("TieMid2", [30] + [1] * 50)),      # 30/80 = 0.375 -> 0.38
        (S, "TieHigh", sids("TieHigh2", [50] + [1] * 30)),    # 50/80 = 0.625 -> 0.62
        (S, "TieTop", sids("TieTop2", [70] + [1] * 10)),      # 70/80 = 0.875 -> 0.88
        (S, "HalfExact", sids("HalfExact2", [40, 40])),      # 0.5 exactly, no rule fires
        (S, "Near505", sids("Near5052", [101, 99])),         # 0.505 -> 0.51, rule (b) only
        (S, "Near504", sids("Near5042", [126, 124])),        # 0.504 -> 0.5, no rule fires
        (S, "Sub50", sids("Sub502", [30] + [1] * 20)),        # sub 50 -> ratio 0.0
        (S, "Sub51", sids("Sub512", [30] + [1] * 21)),        # sub 51 -> 30/51 -> 0.59
        (S, "IntMean", sids("IntMean2", [5, 3, 2, 2])),      # mean 3 (int)
        (S, "FracMean", sids("FracMean2", [5, 3, 2])),       # mean 10/3
        (S, "MixedIds", [("7", 5), ('"7"', 3), ('"abc"', 1)]),  # 3 samples: 7, "7", "abc"
        (S, "ZipArchiv\u00e9", sids("zipe2", [6, 1, 1, 1])),
        (S, "\u6587\u4ef6", sids("wenjian2", [4, 2, 2, 1])),
        (S, "\U0001F4E6", sids("package2", [3, 1, 1])),
        (S, "\uff5aenkaku", sids("zenkaku2", [3, 1])),
        (S, QUOTE_BS, sids("quote2", [5, 2])),
        (S, CTRL, sids("ctrl2", [4, 1])),
        (S, "NewOnDay2", sids("new2", [9, 1])),              # no GST entry -> never a peak
        ("critiqu\u00e9", "ZipArchiv\u00e9", sids("crit2", [3, 1, 1])),
        ("malicious", "PeExeFile", sids("mal2", [3] * 30)),  # sub 90 == threshold 90
        ("benign", "PdfDocFile", sids("ben2", [2] + [1] * 497)),  # 499 < 500, ratio 0.0 computed
    ]
    return expand("2020-12-01", day1, rng) + expand("2020-12-02", day2, rng)


# ------------------------------------------------------------------- ties_backend.json
def ties_backend():
    """Backend window with now = 2020-12-05 00:00:00 UTC: [2020-11-28 00:00, 2020-12-05 00:00).
    D = {11-28 (one boundary record at exactly now-7d), 12-01, 12-02, 12-03}: |D| = 4, so the
    daily averages are sums/4 and hit .5 ties.  A record at 11-27 23:59:59.999 must stay out
    of D; records at exactly 12-05 00:00:00.000 are in the local window but not in the global
    one; records at exactly 12-06 00:00:00.000 are outside the local window."""
    rng = random.Random(2)
    S = "suspicious"
    days = {
        "2020-12-01": [
            (S, "Avg2.5", sids("a25d1", [3])),
            (S, "Avg3.5", sids("a35d1", [2, 2])),
            (S, "Frac", sids("fracd1", [4] + [1] * 9)),     # 13/10 = 1.3
            ("malicious", "OnlyMal", sids("omd1", [5])),
        ],
        "2020-12-02": [
            (S, "Avg2.5", sids("a25d2", [2, 1])),
            (S, "Avg3.5", sids("a35d2", [1, 1, 1, 1, 1])),
            (S, "Frac", sids("fracd2", [2, 1, 1])),         # 4/3
            ("malicious", "OnlyMal", sids("omd2", [1, 1])),
        ],
        "2020-12-03": [
            (S, "Avg2.5", sids("a25d3", [4])),              # sub 0,3,3,4 -> avg 2.5 -> 2
            (S, "Avg3.5", sids("a35d3", [3, 1, 1])),        # sub 0,4,5,5 -> avg 3.5 -> 4
            (S, "Frac", sids("fracd3", [3, 2, 2])),         # 7/3
            ("benign", "Quiet", sids("quietd3", [1])),
        ],
        "2020-12-05": [
            (S, "Avg2.5", sids("a25d5", [3, 1])),
            (S, "Avg3.5", sids("a35d5", [6])),
            (S, "Frac", sids("fracd5", [9, 1, 1])),
            (S, "OnlyMal", sids("omd5", [2, 1])),           # zero cross-product entry -> peak
            ("malicious", "OnlyMal", sids("omd5m", [1])),
            ("benign", "Quiet", sids("quietd5", [1])),
        ],
    }
    lines = []
    edge = lambda ms, d1, k: rec_json(S, d1, json.dumps(sha("edge", d1, k)), ms, 0, True)
    lines.append(edge(day_ms("2020-11-28") - 1, "EdgeBefore", 0))      # 11-27 23:59:59.999
    lines.append(edge(day_ms("2020-11-28"), "EdgeStart", 0))           # exactly now - 7d
    for day in sorted(days):
        lines += expand(day, days[day], rng)
    lines.append(edge(day_ms("2020-12-05"), "EdgeNow", 0))             # exactly now
    lines.append(edge(day_ms("2020-12-05"), "EdgeNow", 1))
    lines.append(edge(day_ms("2020-12-06"), "EdgeEnd", 0))             # exactly the -e bound
    lines.append(edge(day_ms("2020-12-06") - 1, "EdgeLast", 0))        # 12-05 23:59:59.999
    return lines


# -------------------------------------------------------------------- numeric_ids.json
def numeric_ids():
    rng = random.Random(3)
    forms = [("1", 2), ("1.0", 2), ("1e0", 1), ("1.00", 1), ("true", 1), ('"1"', 3), ("2", 1),
             ("2.5", 2), ('"2.5"', 1), ("null", 2), ("0", 1), ("-0", 1), ("0.0", 1)]
    day1 = [("suspicious", "NumIds", forms), ("suspicious", "Plain", sids("plain1", [2, 1]))]
    day2 = [("suspicious", "NumIds", forms + [("2.50", 4), ("3", 1)]),
            ("suspicious", "Plain", sids("plain2", [4, 1, 1]))]
    return expand("2020-12-01", day1, rng) + expand("2020-12-02", day2, rng)


# ------------------------------------------------------------ damaged copies of a base
def base_lines():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "base.json")
        subprocess.run([sys.executable, GEN, "--out", out] + BASE_ARGS, check=True,
                       stderr=subprocess.DEVNULL)
        with open(out) as f:
            recs = json.load(f)
    return [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in recs]


BAD = {
    "missing_sha1.json": ('{"file.llfile_type":"PeExeFile","source.origin":"API","source.user_id":1,'
                          '"task.severity":"malicious","utc_timestamp":1604318400000}'),
    "missing_sha1_late.json": ('{"file.llfile_type":"PeExeFile","source.origin":"API","source.user_id":1,'
                               '"task.severity":"malicious","utc_timestamp":1604750400000}'),
    "missing_origin.json": ('{"file.llfile_type":"PeExeFile","file.sha1":"%s","source.user_id":1,'
                            '"task.severity":"malicious","utc_timestamp":1604318400000}' % sha("bad")),
    "ts_string.json": ('{"file.llfile_type":"PeExeFile","file.sha1":"%s","source.origin":"API",'
                       '"source.user_id":1,"task.severity":"malicious","utc_timestamp":"1604318400000"}'
                       % sha("bad")),
    "ts_float.json": ('{"file.llfile_type":"PeExeFile","file.sha1":"%s","source.origin":"API",'
                      '"source.user_id":1,"task.severity":"malicious","utc_timestamp":1604318400000.0}'
                      % sha("bad")),
}

BASE_CMD = "python3 /work/shared/tools/gen_telemetry.py --out base.json " + " ".join(BASE_ARGS)
DESC = {
    "ties.json": "hand-crafted by craft_inputs.ties(): 2020-12-01 (build) / 2020-12-02 (detect), ratio ties, "
                 "non-ASCII/quote/backslash/control-char dimension values, sample id 7 vs \"7\"",
    "ties_backend.json": "hand-crafted by craft_inputs.ties_backend(): backend days 2020-11-28 (one record at "
                         "exactly now-7d), 12-01..12-03 with .5 average ties; window-bound records; detect day 12-05",
    "numeric_ids.json": "hand-crafted by craft_inputs.numeric_ids(): sample ids 1, 1.0, 1e0, 1.00, true, \"1\", 2, "
                        "2.5, 2.50, \"2.5\", null, 0, -0, 0.0, 3 on 2020-12-01 / 2020-12-02",
    "missing_sha1.json": BASE_CMD + " + a record without file.sha1 at 2020-11-02 12:00:00 UTC inserted at index 700",
    "missing_sha1_late.json": BASE_CMD + " + a record without file.sha1 at 2020-11-07 12:00:00 UTC inserted at index 700",
    "missing_origin.json": BASE_CMD + " + a record without source.origin at 2020-11-02 12:00:00 UTC inserted at index 700",
    "ts_string.json": BASE_CMD + " + a record with \"utc_timestamp\": \"1604318400000\" (string) inserted at index 700",
    "ts_float.json": BASE_CMD + " + a record with \"utc_timestamp\": 1604318400000.0 inserted at index 700",
}

# ------------------------------------------------------------- hand-made global tables
GST_GARBAGE = "this is { not json\n"
GST_EMPTY = "{}"


def gst_microseconds():
    """A GST whose dates carry microseconds (as a real, non-faked clock writes them).
    Detect window of the step using it: 2020-11-05 .. 2020-11-06 on nov_a.json."""
    def e(start, end, *vals):
        return [start, end] + list(vals)
    table = {
        "malicious": {
            # end parses to 2020-11-05 00:00:00 (fraction dropped) -> S == end -> update
            "ZipArchiveFile": e("2020-10-29 00:00:00.123456", "2020-11-05 00:00:00.654321",
                                7, 40, 61, 30, 44, 1, 1.3076923076923077, 90),
            # end 2020-11-04 23:59:59.999999 -> 23:59:59 -> S > end -> update
            "PeExeFile": e("2020-10-29 00:00:00.000001", "2020-11-04 23:59:59.999999",
                           7, 150, 170, 120, 133, 1, 1.25, 150),
            # end 2020-11-05 00:00:01.5 (non-standard fraction) -> 00:00:01 -> S < end -> keep
            "PdfDocFile": e("2020-10-29 00:00:00.5", "2020-11-05 00:00:01.5",
                            7, 70, 80, 60, 66, 1, 1.2, 90),
        },
        "benign": {
            # only in the GST (no such file type in the data): kept, dates re-written
            "NoSuchType": e("2020-10-29 12:34:56.789012", "2020-11-05 00:00:00.000001",
                            3, 5, 9, 4, 7, 1, 2.0, 500),
            "PeExeFile": e("2020-11-01 00:00:00", "2020-11-05 00:00:00",
                           1, 400, 400, 300, 300, 1, 1, 500),
        },
    }
    return json.dumps(table, indent=2, sort_keys=True)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    write_records(os.path.join(out_dir, "ties.json"), ties())
    write_records(os.path.join(out_dir, "ties_backend.json"), ties_backend())
    write_records(os.path.join(out_dir, "numeric_ids.json"), numeric_ids())
    base = base_lines()
    for name, bad in BAD.items():
        lines = base[:700] + [bad] + base[700:]
        write_records(os.path.join(out_dir, name), lines)


if __name__ == "__main__":
    main()
