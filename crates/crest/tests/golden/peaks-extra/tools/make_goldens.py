#!/usr/bin/env python3
"""Makes crest's extra golden runs of telemetry-peak-analyzer 0.1.6.

Inputs come from ../shared/tools/gen_telemetry.py (our generator) and small hand-made files;
outputs come from the reference itself, run with its clock pinned by faketime. The result is
a manifest in the format of shared/data/peak-analyzer/golden/manifest.json, plus each step's
global_table.json, peaks.json and log.txt (stderr).

Usage: make_goldens.py OUT_DIR PYTHON_WITH_REFERENCE GEN_TELEMETRY_PY

PYTHON_WITH_REFERENCE is a Python with `pip install telemetry-peak-analyzer==0.1.6`;
faketime (Debian's package) must be on PATH. Inputs end up gzipped in OUT_DIR/inputs.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import zoneinfo

OUT, PY, GEN = sys.argv[1], sys.argv[2], sys.argv[3]
INPUTS = os.path.join(OUT, "inputs")
os.makedirs(INPUTS, exist_ok=True)
made = {}


def gen(name, *args):
    """Generate an input with our generator (deterministic)."""
    path = os.path.join(INPUTS, name)
    cmd = ["python3", GEN, "--out", path] + [str(a) for a in args]
    subprocess.run(cmd, check=True, capture_output=True)
    made[name] = "gen_telemetry.py " + " ".join(str(a) for a in args)


def write(name, records, how):
    path = os.path.join(INPUTS, name)
    with open(path, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in records) + "\n]\n")
    made[name] = how


DAY = 86400000
NOV1 = 1604188800000


def rec(ts, sev, ft, sha1, user=1, origin="API"):
    return {"utc_timestamp": ts, "file.sha1": sha1, "task.severity": sev, "file.llfile_type": ft,
            "source.user_id": user, "source.origin": origin}


# ---- inputs -------------------------------------------------------------------------------
gen("week.json", "--records", 8000, "--start", "2020-11-01", "--days", 7, "--peak-day", "2020-11-04",
    "--peak-records", 600, "--minimal", "--seed", 11)
gen("week_full_pretty.json", "--records", 1200, "--start", "2020-11-01", "--days", 7, "--peak-day",
    "2020-11-04", "--peak-records", 150, "--pretty", "--seed", 12)
gen("dst.json", "--records", 7000, "--start", "2020-10-29", "--days", 7, "--peak-day", "2020-11-01",
    "--peak-records", 500, "--minimal", "--seed", 13)
gen("net.json", "--kind", "network", "--records", 6000, "--start", "2022-03-28", "--days", 5,
    "--peak-day", "2022-04-01", "--peak-records", 400, "--minimal", "--seed", 14)
gen("sparse_a.json", "--records", 2000, "--start", "2020-11-01", "--days", 2, "--minimal", "--seed", 15)
gen("sparse_b.json", "--records", 1500, "--start", "2020-11-05", "--days", 1, "--peak-day", "2020-11-05",
    "--peak-records", 300, "--minimal", "--seed", 16)
for day in range(1, 8):
    gen("part_%d.json" % day, "--records", 1000, "--start", "2020-11-%02d" % day, "--days", 1,
        "--minimal", "--seed", 20 + day, *(["--peak-day", "2020-11-04", "--peak-records", 400] if day == 4 else []))

# Hand-made: exact rounding ties, non-ASCII and escaped values, mixed sample id types.
ties = []
t0 = NOV1
def burst(day, sev, ft, counts, prefix):
    for i, c in enumerate(counts):
        for k in range(c):
            ties.append(rec(t0 + day * DAY + 1000 * (len(ties) % 80000), sev, ft, "%s-%d" % (prefix, i)))
for day in range(3):  # quiet baseline days
    burst(day, "malicious", "ZipArchivé", [1] * 20, "z%d" % day)
    burst(day, "malicious", "文件", [2] * 10, "c%d" % day)
    burst(day, "benign", 'Q"uo\\te', [1] * 12, "q%d" % day)
    burst(day, "suspicious", "Emoji😀File", [3, 1], "e%d" % day)
    burst(day, "malicious", "Ratio", [1] * 30, "r%d" % day)
    burst(day, "malicious", "Tie", [1] * 30, "t%d" % day)
burst(3, "malicious", "ZipArchivé", [10] + [1] * 70, "z")            # 10/80 = 0.125 -> 0.12
burst(3, "malicious", "文件", [30] + [5] * 10, "c")                    # 30/80 = 0.375 -> 0.38
burst(3, "benign", 'Q"uo\\te', [50] + [3] * 10, "q")                   # 50/80 = 0.625 -> 0.62
burst(3, "suspicious", "Emoji😀File", [70] + [1] * 10, "e")            # 70/80 = 0.875 -> 0.88
burst(3, "malicious", "Ratio", [101] + [1] * 99, "r")                  # 101/200 = 0.505 -> 0.51
burst(3, "malicious", "Tie", [126] + [1] * 124, "t")                   # 126/250 = 0.504 -> 0.5
for i in range(40):  # numeric and string sample ids that look alike
    ties.append(rec(t0 + 3 * DAY + 50000 + i, "malicious", "Mixed", i % 7 if i % 2 else str(i % 7)))
    if i < 20:
        for day in range(3):
            ties.append(rec(t0 + day * DAY + 60000 + i, "malicious", "Mixed", i % 3))
ties.sort(key=lambda r: r["utc_timestamp"])
write("ties.json", ties, "hand-made by tools/make_goldens.py (exact rounding ties, non-ASCII values)")

# Records missing a field inside and outside the window, and a string timestamp.
base = [rec(NOV1 + 3 * DAY + i * 1000, "malicious", "PeExeFile", "h%d" % (i % 9)) for i in range(60)]
gap_out = list(base) + [{"utc_timestamp": NOV1 + 1000, "task.severity": "benign", "file.llfile_type": "PdfDocFile",
                          "source.user_id": 1, "source.origin": "API"}]
write("missing_outside.json", gap_out, "hand-made: a record without file.sha1 outside the window")
gap_in = list(base) + [{"utc_timestamp": NOV1 + 3 * DAY + 5000, "task.severity": "benign",
                         "file.llfile_type": "PdfDocFile", "source.user_id": 1, "source.origin": "API"}]
write("missing_inside.json", gap_in, "hand-made: a record without file.sha1 inside the window")
strts = list(base) + [dict(base[0], utc_timestamp=str(base[0]["utc_timestamp"]))]
write("string_ts.json", strts, "hand-made: one string utc_timestamp")

# ---- steps --------------------------------------------------------------------------------
steps = []
CHAINS = {}


def step(chain, name, args, tz="UTC", now=None, before=None):
    steps.append({"chain": chain, "step": "%s/%s" % (chain, name), "args": args, "tz": tz, "now": now,
                  "before": before})


W = ["-n", "./data/week.json"]
step("D_backend", "1_now_11-04_detect_11-04", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], now="2020-11-04 00:00:00")
step("D_backend", "2_detect_11-05", W + ["-s", "2020-11-05", "-e", "2020-11-06", "-o", "peaks.json"])
step("D_backend", "3_detect_11-06", W + ["-s", "2020-11-06", "-e", "2020-11-07", "-o", "peaks.json"])
step("D_backend", "4_rerun_11-06_t40", W + ["-s", "2020-11-06", "-e", "2020-11-07", "-t", "40", "-o", "peaks.json"])
step("D2_backend_midday", "1_now_11-04_1330", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], now="2020-11-04 13:30:00")
step("D2_backend_midday", "2_no_dates_now_11-06_0815", W + ["-o", "peaks.json"], now="2020-11-06 08:15:00")
step("D2b_backend_first_day_cut", "1_now_11-08_1200", W + ["-o", "peaks.json"], now="2020-11-08 12:00:00")
step("D2b_backend_first_day_cut", "2_d3_k1", W + ["-d", "3", "-k", "1", "-o", "peaks.json"], now="2020-11-09 00:00:00")
step("D3_backend_sparse", "1_now_11-06_detect_11-05", ["-n", "./data/sparse_*.json", "-s", "2020-11-05", "-e", "2020-11-06", "-o", "peaks.json"], now="2020-11-06 00:00:00")
step("D3_backend_sparse", "2_detect_11-05_again", ["-n", "./data/sparse_*.json", "-s", "2020-11-05", "-e", "2020-11-06", "-o", "peaks.json"])
step("D4_backend_empty_week", "1_now_2021", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], now="2021-06-01 00:00:00")
step("D5_backend_pretty_full", "1_now_11-05", ["-n", "./data/week_full_pretty.json", "-o", "peaks.json"], now="2020-11-05 00:00:00")
NET = ["-a", "telemetry_peak_analyzer.analyzers.NetworkTypePeakAnalyzer", "-n", "./data/net.json"]
step("N_network_backend", "1_now_04-01", NET + ["-s", "2022-04-01", "-e", "2022-04-02", "-o", "peaks.json"], now="2022-04-01 00:00:00")
step("N_network_backend", "2_rerun_t5", NET + ["-s", "2022-04-01", "-e", "2022-04-02", "-t", "5", "-o", "peaks.json"])
step("H_timezone", "1_build_ny", W + ["-s", "2020-11-01", "-e", "2020-11-04"], tz="America/New_York")
step("H_timezone", "2_detect_ny", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], tz="America/New_York")
step("H2_timezone_backend", "1_now_ny_midnight", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], tz="America/New_York", now="2020-11-04 05:00:00")
step("H3_timezone_kolkata", "1_build", W + ["-s", "2020-11-01", "-e", "2020-11-04"], tz="Asia/Kolkata")
step("H3_timezone_kolkata", "2_detect", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], tz="Asia/Kolkata")
step("H3_timezone_kolkata", "3_backend_now", W + ["-s", "2020-11-05", "-e", "2020-11-06", "-o", "peaks.json"], tz="Asia/Kolkata", now="2020-11-05 00:00:00", before="none")
D = ["-n", "./data/dst.json"]
step("H4_timezone_dst", "1_build_ny", D + ["-s", "2020-10-29", "-e", "2020-11-01"], tz="America/New_York")
step("H4_timezone_dst", "2_detect_dst_day", D + ["-s", "2020-11-01", "-e", "2020-11-02", "-o", "peaks.json"], tz="America/New_York")
step("H4_timezone_dst", "3_backend_across_dst", D + ["-s", "2020-11-02", "-e", "2020-11-03", "-o", "peaks.json"], tz="America/New_York", now="2020-11-02 12:00:00", before="none")
G = ["-n", "./data/part_*.json"]
step("G_glob", "1_build", G + ["-s", "2020-11-01", "-e", "2020-11-04"])
step("G_glob", "2_detect", G + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"])
step("G_glob", "3_backend_now", G + ["-s", "2020-11-05", "-e", "2020-11-06", "-o", "peaks.json"], now="2020-11-05 00:00:00", before="none")
T = ["-n", "./data/ties.json"]
step("T_ties", "1_build", T + ["-s", "2020-11-01", "-e", "2020-11-02"])
step("T_ties", "2_day2", T + ["-s", "2020-11-02", "-e", "2020-11-03", "-o", "peaks.json"])
step("T_ties", "3_day3", T + ["-s", "2020-11-03", "-e", "2020-11-04", "-o", "peaks.json"])
step("T_ties", "4_detect_t1", T + ["-s", "2020-11-04", "-e", "2020-11-05", "-t", "1", "-o", "peaks.json"])
step("T_ties", "5_detect_again", T + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"])
step("T2_ties_backend", "1_now_11-04", T + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], now="2020-11-04 00:00:00")
step("X_cli2", "1_t0_same_as_none", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-t", "0", "-o", "peaks.json"], now="2020-11-04 00:00:00", before="none")
step("X_cli2", "2_d0_empty_window", W + ["-d", "0", "-o", "peaks.json"], now="2020-11-06 00:00:00")
step("X_cli2", "3_negative_d", W + ["-d", "-2", "-o", "peaks.json"], now="2020-11-06 00:00:00")
step("X_cli2", "4_lenient_dates", W + ["-s", "2020-11-5", "-e", "2020-11-7", "-o", "peaks.json"])
step("X_cli2", "5_long_flags", ["--backend-input", "./data/week.json", "--start-date", "2020-11-07", "--end-date", "2020-11-08", "--threshold", "3", "--output-file", "peaks.json"])
step("X_cli2", "6_invalid_gst", W + ["-s", "2020-11-04", "-e", "2020-11-05"], before="garbage")
step("X_cli2", "7_gst_with_microseconds", W + ["-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], before="micro")
step("X_cli2", "8_string_timestamp", ["-n", "./data/string_ts.json", "-s", "2020-11-04", "-e", "2020-11-05"], before="none")
step("X_cli2", "9_missing_outside_window", ["-n", "./data/missing_outside.json", "-s", "2020-11-04", "-e", "2020-11-05", "-o", "peaks.json"], before="none")
step("X_cli2", "10_missing_inside_window", ["-n", "./data/missing_inside.json", "-s", "2020-11-04", "-e", "2020-11-05"], before="none")
step("X_cli2", "11_network_backend_class_json", ["-b", "telemetry_peak_analyzer.backends.JsonBackend"] + W + ["-s", "2020-11-06", "-e", "2020-11-07", "-o", "peaks.json"], before="none")

# ---- run ----------------------------------------------------------------------------------
# On tmpfs, readdir lists the newest file first: copying inputs in reverse sorted order makes
# the reference's glob return them sorted, as crest reads them (its documented difference).
work = "/dev/shm/crest-make-goldens"
shutil.rmtree(work, ignore_errors=True)
manifest = {"about": ("Extra golden runs of the reference telemetry peak analyzer 0.1.6, made by "
                      "tools/make_goldens.py. Same format as shared/data/peak-analyzer/golden/manifest.json: "
                      "run each step's args in a scratch directory holding ./data/<inputs> and, when "
                      "files.gst_before is set, a copy of it named global_table.json; clock pinned to `now` "
                      "(UTC wall clock), time zone `tz`. Expect exit status rc and, when set, byte-identical "
                      "peaks.json and global_table.json; log.txt holds the reference's stderr."),
            "inputs": made, "steps": []}
MICRO = {"malicious": {"ZipArchiveFile": ["2020-10-28 09:05:01.250000", "2020-11-04 09:05:01.250000", 7, 40, 90,
                                          30, 60, 1, 1.3333333333333333, 90]}}
for st in steps:
    chain_dir = os.path.join(work, st["chain"])
    if not os.path.isdir(chain_dir):
        os.makedirs(os.path.join(chain_dir, "data"))
        for f in sorted(os.listdir(INPUTS), reverse=True):
            shutil.copy(os.path.join(INPUTS, f), os.path.join(chain_dir, "data", f))
    gst = os.path.join(chain_dir, "global_table.json")
    if st["before"] == "none" and os.path.exists(gst):
        os.remove(gst)
    elif st["before"] == "garbage":
        with open(gst, "w") as f:
            f.write('{"malicious": {"ZipArchiveFile": [1, 2')
    elif st["before"] == "micro":
        with open(gst, "w") as f:
            json.dump(MICRO, f, indent=2, sort_keys=True)
    peaks = os.path.join(chain_dir, "peaks.json")
    if os.path.exists(peaks):
        os.remove(peaks)
    out_dir = os.path.join(OUT, st["step"])
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    if os.path.exists(gst):
        shutil.copy(gst, os.path.join(out_dir, "global_table.before.json"))
        files["gst_before"] = "global_table.before.json"
    env = dict(os.environ, TZ=st["tz"])
    cmd = [PY, "-m", "telemetry_peak_analyzer"] + st["args"]
    if st["now"]:
        utc = datetime.datetime.strptime(st["now"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        local = utc.astimezone(zoneinfo.ZoneInfo(st["tz"])).strftime("%Y-%m-%d %H:%M:%S")
        cmd = ["faketime", "-f", local] + cmd
    r = subprocess.run(cmd, cwd=chain_dir, env=env, capture_output=True, text=True)
    with open(os.path.join(out_dir, "log.txt"), "w") as f:
        f.write(r.stderr)
    loaded = [l.split("\t", 1)[1] for l in r.stderr.splitlines() if "] \t/" in l and "Failed" not in l]
    assert loaded == sorted(loaded), (st["step"], loaded)
    if r.returncode == 0:
        if os.path.exists(gst):
            shutil.copy(gst, os.path.join(out_dir, "global_table.json"))
            files["gst_after"] = "global_table.json"
            if st["now"] and not st["before"] and not files.get("gst_before"):
                # Check the pinned clock took: a table built from the input ends at `now`.
                table = json.load(open(gst))
                ends = {e[1] for d in table.values() for e in d.values() if e[2] == 7}
                assert not ends or ends == {st["now"]}, (st["step"], ends)
        if os.path.exists(peaks):
            shutil.copy(peaks, os.path.join(out_dir, "peaks.json"))
            files["peaks"] = "peaks.json"
    manifest["steps"].append({"step": st["step"], "args": st["args"], "tz": st["tz"], "now": st["now"],
                              "rc": r.returncode, "files": files})
    print("%-50s rc=%d %s" % (st["step"], r.returncode, sorted(files)))
shutil.rmtree(work)
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
    f.write("\n")
# Inputs are kept gzipped in the repository (the test harness unpacks them into ./data).
for name in os.listdir(INPUTS):
    if name.endswith(".json"):
        subprocess.run(["gzip", "-9", "-n", "-f", os.path.join(INPUTS, name)], check=True)
