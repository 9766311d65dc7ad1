#!/usr/bin/env python3
r"""Produce the extra golden runs of the reference telemetry-peak-analyzer 0.1.6.

    python3 /work/golden-extra/tools/run_reference.py                # (re)build /work/golden-extra
    python3 /work/golden-extra/tools/run_reference.py --out DIR      # build into DIR instead
    python3 /work/golden-extra/tools/run_reference.py --out DIR --compare /work/golden-extra
            # build into DIR, then compare every file with the reference tree: byte for byte,
            # except log.txt, which is compared after removing the "[time] [mem]" prefix.

What it does
  1. Generates the inputs into OUT/inputs (gen_telemetry.py commands in GEN_INPUTS, and
     tools/craft_inputs.py for the hand-made ones).
  2. For every chain: creates the scratch directory SCRATCH_ROOT/<chain> (tmpfs), copies ALL
     inputs into ./data (in reverse-sorted order: tmpfs lists a directory newest first, so
     glob() then returns the files in sorted order; this is asserted for every run from the
     "Loaded files" log lines).
  3. For every step, in order: deletes ./global_table.json and ./peaks.json, writes the step's
     gst_before (if any) to ./global_table.json, runs
        env -i PATH=... LANG=C.UTF-8 TZ=<tz> [faketime -f '<now as local wall clock of tz>'] \
            /work/refvenv/bin/python -m telemetry_peak_analyzer ARGS
     and stores log.txt (stderr), global_table.before.json, global_table.json (gst_after, rc 0
     only) and peaks.json (rc 0 and -o given) under OUT/<chain>/<step>/.
  Pinned clock: `now` is a UTC wall clock.  faketime reads its (absolute, hence frozen) date in
  the process time zone, so it is converted to the local wall clock of `tz` first.  Each pinned
  step is verified twice: a probe prints datetime.utcnow() under the same faketime/TZ setting
  (must equal `now`), and a probe run of the reference with the same -a/-n and `-d 0` (empty local
  window, no GST file) must write a backend table whose every entry has end_ts == now and
  start_ts == now - 7 days.
"""
import argparse
import datetime
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import craft_inputs  # noqa: E402

DEFAULT_OUT = os.path.dirname(HERE)
PY = "/work/refvenv/bin/python"
GEN = "/work/shared/tools/gen_telemetry.py"
SCRATCH_ROOT = "/dev/shm/crest-golden-extra"
ABOUT = json.load(open("/work/shared/data/peak-analyzer/golden/manifest.json"))["about"]
NETWORK = ["-a", "telemetry_peak_analyzer.analyzers.NetworkTypePeakAnalyzer"]

# ------------------------------------------------------------------------------- inputs
GEN_INPUTS = {
    "nov_a.json": "--records 8000 --start 2020-10-28 --days 11 --peak-day 2020-11-05 --peak-records 600 --minimal --seed 101",
    "dst_fall.json": "--records 4000 --start 2020-10-28 --days 8 --peak-day 2020-11-01 --peak-records 500 --minimal --seed 202",
    "dst_spring.json": "--records 4000 --start 2021-03-10 --days 8 --peak-day 2021-03-14 --peak-records 500 --minimal --seed 203",
    "sparse_1.json": "--records 1500 --start 2020-11-01 --days 2 --minimal --seed 301",
    "sparse_2.json": "--records 1500 --start 2020-11-05 --days 2 --minimal --seed 302",
    "sparse_3.json": "--records 800 --start 2020-11-08 --days 1 --peak-day 2020-11-08 --peak-records 300 --minimal --seed 303",
    "ov_a.json": "--records 2400 --start 2020-11-01 --days 4 --minimal --seed 501",
    "ov_b.json": "--records 2400 --start 2020-11-03 --days 4 --peak-day 2020-11-05 --peak-records 300 --minimal --seed 502",
    "net.json": "--kind network --records 7000 --start 2022-03-26 --days 8 --peak-day 2022-04-01 --peak-records 400 --minimal --seed 11",
    "full_pretty.json": "--records 1000 --start 2020-11-01 --days 4 --peak-day 2020-11-04 --peak-records 250 --peak-samples 20 --pretty --seed 601",
    "jan.json": "--records 1500 --start 2020-01-04 --days 4 --minimal --seed 701",
}
for _i in range(1, 8):
    GEN_INPUTS["part_%d.json" % _i] = (
        "--records 1000 --start 2020-11-0%d --days 1 --minimal --seed %d" % (_i, 400 + _i)
        + (" --peak-day 2020-11-04 --peak-records 400" if _i == 4 else ""))
CRAFTED = ["ties.json", "ties_backend.json", "numeric_ids.json"] + list(craft_inputs.BAD)


def gen_command(name):
    return "python3 /work/shared/tools/gen_telemetry.py --out %s %s" % (name, GEN_INPUTS[name])


def make_inputs(inp):
    os.makedirs(inp, exist_ok=True)
    for name in sorted(GEN_INPUTS):
        subprocess.run([sys.executable, GEN, "--out", os.path.join(inp, name)] + GEN_INPUTS[name].split(),
                       check=True, stderr=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(HERE, "craft_inputs.py"), inp], check=True)
    for name in os.listdir(inp):
        assert os.path.getsize(os.path.join(inp, name)) < 2_000_000, name


# ------------------------------------------------------------------------------- chains
def S(name, args, tz="UTC", now=None, gst=None):
    """gst: None (no table), "prev" (previous step's gst_after), "step:<chain>/<step>",
    or "craft:<NAME>" (text from craft_inputs)."""
    return {"name": name, "args": args, "tz": tz, "now": now, "gst": gst}


def detect(inp, s, e, extra=(), out=True):
    return ["-n", inp, "-s", s, "-e", e] + list(extra) + (["-o", "peaks.json"] if out else [])


NOV = "./data/nov_a.json"
NY = "America/New_York"
KOL = "Asia/Kolkata"

CHAINS = [
    ("D_backend", [
        S("0_backend_only_d0", ["-n", NOV, "-d", "0", "-o", "peaks.json"], now="2020-11-05 00:00:00"),
        S("1_backend_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), now="2020-11-05 00:00:00"),
        S("2_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), gst="prev"),
        S("3_detect_2020-11-07", detect(NOV, "2020-11-07", "2020-11-08"), gst="prev"),
        S("4_rerun_covered_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), gst="prev"),
    ]),
    ("D2_backend_midday", [
        S("1_backend_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), now="2020-11-05 13:30:00"),
        S("2_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), gst="prev"),
        S("3_detect_2020-11-07", detect(NOV, "2020-11-07", "2020-11-08"), gst="prev"),
    ]),
    ("D2b_backend_first_day_cut", [
        S("1_backend_detect_2020-11-04", detect(NOV, "2020-11-04", "2020-11-05"), now="2020-11-04 12:00:00"),
        S("2_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), gst="prev"),
    ]),
    ("D3_backend_sparse", [
        S("1_backend_detect_2020-11-08", detect("./data/sparse_*.json", "2020-11-08", "2020-11-09"),
          now="2020-11-08 00:00:00"),
        S("2_detect_empty_2020-11-09", detect("./data/sparse_*.json", "2020-11-09", "2020-11-10"), gst="prev"),
        S("3_rerun_covered_2020-11-08", detect("./data/sparse_*.json", "2020-11-08", "2020-11-09"), gst="prev"),
    ]),
    ("N_network_backend", [
        S("0_backend_only_d0", NETWORK + ["-n", "./data/net.json", "-d", "0", "-o", "peaks.json"],
          now="2022-04-01 00:00:00"),
        S("1_backend_detect_2022-04-01", NETWORK + detect("./data/net.json", "2022-04-01", "2022-04-02"),
          now="2022-04-01 00:00:00"),
        S("2_detect_2022-04-02", NETWORK + detect("./data/net.json", "2022-04-02", "2022-04-03"), gst="prev"),
    ]),
    ("H_timezone", [
        S("1_build_2020-11-02_05", detect(NOV, "2020-11-02", "2020-11-05", out=False), tz=NY),
        S("2_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), tz=NY, gst="prev"),
        S("3_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), tz=NY, gst="prev"),
    ]),
    ("H2_timezone_backend", [
        S("0_backend_only_d0", ["-n", NOV, "-d", "0", "-o", "peaks.json"], tz=NY, now="2020-11-05 00:00:00"),
        S("1_backend_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), tz=NY, now="2020-11-05 00:00:00"),
        S("2_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), tz=NY, gst="prev"),
    ]),
    ("H3_timezone_kolkata", [
        S("1_backend_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), tz=KOL, now="2020-11-04 20:00:00"),
        S("2_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), tz=KOL, gst="prev"),
        S("3_detect_2020-11-07", detect(NOV, "2020-11-07", "2020-11-08"), tz=KOL, gst="prev"),
    ]),
    ("H3b_timezone_kolkata_file", [
        S("1_build_2020-11-01_05", detect(NOV, "2020-11-01", "2020-11-05", out=False), tz=KOL),
        S("2_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), tz=KOL, gst="prev"),
    ]),
    ("H4_timezone_dst_fall", [
        S("1_build_2020-10-29_11-01", detect("./data/dst_fall.json", "2020-10-29", "2020-11-01", out=False), tz=NY),
        S("2_detect_2020-11-01_25h", detect("./data/dst_fall.json", "2020-11-01", "2020-11-02"), tz=NY, gst="prev"),
        S("3_detect_2020-11-02", detect("./data/dst_fall.json", "2020-11-02", "2020-11-03"), tz=NY, gst="prev"),
    ]),
    ("H5_timezone_dst_spring", [
        S("1_build_2021-03-11_14", detect("./data/dst_spring.json", "2021-03-11", "2021-03-14", out=False), tz=NY),
        S("2_detect_2021-03-14_23h", detect("./data/dst_spring.json", "2021-03-14", "2021-03-15"), tz=NY, gst="prev"),
        S("3_detect_2021-03-15", detect("./data/dst_spring.json", "2021-03-15", "2021-03-16"), tz=NY, gst="prev"),
    ]),
    ("G_glob", [
        S("1_build_2020-11-01_04", detect("./data/part_*.json", "2020-11-01", "2020-11-04", out=False)),
        S("2_detect_2020-11-04", detect("./data/part_*.json", "2020-11-04", "2020-11-05"), gst="prev"),
        S("3_detect_2020-11-05", detect("./data/part_*.json", "2020-11-05", "2020-11-06"), gst="prev"),
    ]),
    ("G2_glob_overlap", [
        S("1_build_2020-11-01_03", detect("./data/ov_*.json", "2020-11-01", "2020-11-03", out=False)),
        S("2_detect_2020-11-03", detect("./data/ov_*.json", "2020-11-03", "2020-11-04"), gst="prev"),
        S("3_detect_2020-11-04", detect("./data/ov_*.json", "2020-11-04", "2020-11-05"), gst="prev"),
        S("4_detect_2020-11-05", detect("./data/ov_*.json", "2020-11-05", "2020-11-06"), gst="prev"),
    ]),
    ("G3_glob_backend", [
        S("1_backend_detect_2020-11-05", detect("./data/part_*.json", "2020-11-05", "2020-11-06"),
          now="2020-11-05 00:00:00"),
        S("2_detect_2020-11-06", detect("./data/part_*.json", "2020-11-06", "2020-11-07"), gst="prev"),
    ]),
    ("P_pretty_full", [
        S("1_backend_detect_2020-11-04", detect("./data/full_pretty.json", "2020-11-04", "2020-11-05"),
          now="2020-11-04 00:00:00"),
        S("2_rerun_t10", detect("./data/full_pretty.json", "2020-11-04", "2020-11-05", ["-t", "10"]), gst="prev"),
    ]),
    ("T_ties", [
        S("1_build_2020-12-01", detect("./data/ties.json", "2020-12-01", "2020-12-02", out=False)),
        S("2_detect_2020-12-02", detect("./data/ties.json", "2020-12-02", "2020-12-03"), gst="prev"),
        S("3_detect_2020-12-02_t1", detect("./data/ties.json", "2020-12-02", "2020-12-03", ["-t", "1"]),
          gst="step:T_ties/1_build_2020-12-01"),
    ]),
    ("T2_ties_backend", [
        S("0_backend_only_d0", ["-n", "./data/ties_backend.json", "-d", "0", "-o", "peaks.json"],
          now="2020-12-05 00:00:00"),
        S("1_backend_detect_2020-12-05", detect("./data/ties_backend.json", "2020-12-05", "2020-12-06"),
          now="2020-12-05 00:00:00"),
        S("2_rerun_2020-12-05", detect("./data/ties_backend.json", "2020-12-05", "2020-12-06"), gst="prev"),
    ]),
    ("U_now_microseconds", [
        S("1_backend_detect_2020-11-05", detect(NOV, "2020-11-05", "2020-11-06"), now="2020-11-05 00:00:00.250000"),
        S("2_detect_2020-11-06", detect(NOV, "2020-11-06", "2020-11-07"), gst="prev"),
    ]),
    ("X_cli2", [
        S("01_build_2020-11-01_05", detect(NOV, "2020-11-01", "2020-11-05", out=False)),
        S("02_t0", detect(NOV, "2020-11-05", "2020-11-06", ["-t", "0"]), gst="step:X_cli2/01_build_2020-11-01_05"),
        S("03_t_omitted", detect(NOV, "2020-11-05", "2020-11-06"), gst="step:X_cli2/01_build_2020-11-01_05"),
        S("04_t_negative", detect(NOV, "2020-11-05", "2020-11-06", ["-t", "-1"]),
          gst="step:X_cli2/01_build_2020-11-01_05"),
        S("05_d3_k1_pinned_now", ["-n", NOV, "-d", "3", "-k", "1", "-o", "peaks.json"], now="2020-11-07 15:00:00"),
        S("06_d0_pinned_now", ["-n", NOV, "-d", "0", "-o", "peaks.json"], now="2020-11-06 00:00:00"),
        S("07_d_negative_pinned_now", ["-n", NOV, "-d", "-2", "-o", "peaks.json"], now="2020-11-06 00:00:00",
          gst="step:X_cli2/01_build_2020-11-01_05"),
        S("08_lenient_dates", detect("./data/jan.json", "2020-1-5", "2020-1-7")),
        S("09_garbage_gst", detect(NOV, "2020-11-05", "2020-11-06"), gst="craft:GST_GARBAGE"),
        S("10_microsecond_gst", detect(NOV, "2020-11-05", "2020-11-06"), gst="craft:GST_MICROSECONDS"),
        S("11_empty_gst_file", detect(NOV, "2020-11-05", "2020-11-06"), gst="craft:GST_EMPTY"),
        S("12_string_timestamp", detect("./data/ts_string.json", "2020-11-05", "2020-11-06")),
        S("13_float_timestamp", detect("./data/ts_float.json", "2020-11-05", "2020-11-06")),
        S("14_missing_sha1_outside_window", detect("./data/missing_sha1.json", "2020-11-05", "2020-11-06")),
        S("15_missing_sha1_inside_window", detect("./data/missing_sha1.json", "2020-11-02", "2020-11-03")),
        S("16_missing_sha1_outside_both_windows_backend",
          detect("./data/missing_sha1_late.json", "2020-11-05", "2020-11-06"), now="2020-11-05 00:00:00"),
        S("17_missing_origin_outside_window_backend",
          detect("./data/missing_origin.json", "2020-11-05", "2020-11-06"), now="2020-11-05 00:00:00"),
        S("18_missing_sha1_outside_window_gst_file", detect("./data/missing_sha1_late.json", "2020-11-05", "2020-11-06"),
          gst="step:X_cli2/01_build_2020-11-01_05"),
        S("19_numeric_ids_build", detect("./data/numeric_ids.json", "2020-12-01", "2020-12-02", out=False)),
        S("20_numeric_ids_detect_t1", detect("./data/numeric_ids.json", "2020-12-02", "2020-12-03", ["-t", "1"]),
          gst="prev"),
    ]),
]

CRAFT_GST = {
    "GST_GARBAGE": craft_inputs.GST_GARBAGE,
    "GST_EMPTY": craft_inputs.GST_EMPTY,
    "GST_MICROSECONDS": craft_inputs.gst_microseconds(),
}

PREFIX = re.compile(r"^(\w+) -> \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[\d+mb\] ", re.M)


# ------------------------------------------------------------------------------- running
def parse_now(now):
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in now else "%Y-%m-%d %H:%M:%S"
    return datetime.datetime.strptime(now, fmt)


def local_wall_clock(now, tz):
    """UTC wall clock string -> wall clock string of `tz` for faketime (refuses ambiguous)."""
    utc = parse_now(now).replace(tzinfo=datetime.timezone.utc)
    local = utc.astimezone(zoneinfo.ZoneInfo(tz)).replace(tzinfo=None)
    for fold in (0, 1):
        back = local.replace(fold=fold, tzinfo=zoneinfo.ZoneInfo(tz)).astimezone(datetime.timezone.utc)
        assert back == utc, ("ambiguous or skipped local time", now, tz)
    s = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        s += ".%06d" % local.microsecond
    return s


def base_env(tz):
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": tz, "HOME": "/tmp"}


def command(argv, tz, now):
    pre = ["faketime", "-f", local_wall_clock(now, tz)] if now else []
    return pre + argv


def verify_now(scratch, step):
    """Probe 1: utcnow under the same setting.  Probe 2: a `-d 0` run writes the bare backend GST."""
    now, tz = step["now"], step["tz"]
    r = subprocess.run(command([PY, "-c", "import datetime; print(datetime.datetime.utcnow())"], tz, now),
                       env=base_env(tz), capture_output=True, text=True, check=True)
    assert r.stdout.strip() == str(parse_now(now)), (step["name"], r.stdout, now)
    probe = os.path.join(scratch, "_probe")
    os.makedirs(probe)
    os.symlink(os.path.join(scratch, "data"), os.path.join(probe, "data"))
    args = step["args"]
    keep = []
    for flag in ("-a", "-n"):
        if flag in args:
            keep += [flag, args[args.index(flag) + 1]]
    r = subprocess.run(command([PY, "-m", "telemetry_peak_analyzer"] + keep + ["-d", "0"], tz, now),
                       cwd=probe, env=base_env(tz), capture_output=True, text=True)
    if r.returncode == 0:
        gst = json.load(open(os.path.join(probe, "global_table.json")))
        start = str(parse_now(now) - datetime.timedelta(days=7))
        n = 0
        for d0 in gst:
            for d1 in gst[d0]:
                assert gst[d0][d1][1] == str(parse_now(now)) and gst[d0][d1][0] == start, (step["name"], gst[d0][d1])
                n += 1
        info = "utcnow=%s; backend GST: %d entries, end_ts=now" % (r.stdout.strip() or str(parse_now(now)), n)
    else:
        info = "utcnow ok; -d 0 probe rc=%d" % r.returncode
    shutil.rmtree(probe)
    return info


def run_all(out, only=None):
    inp = os.path.join(out, "inputs")
    if os.path.exists(inp):
        shutil.rmtree(inp)
    make_inputs(inp)
    input_names = sorted(os.listdir(inp))
    manifest = {"about": ABOUT, "steps": [], "inputs": {}}
    for name in input_names:
        if name in GEN_INPUTS:
            manifest["inputs"][name] = gen_command(name)
        else:
            manifest["inputs"][name] = ("python3 /work/golden-extra/tools/craft_inputs.py <dir>: "
                                        + craft_inputs.DESC[name])
    after = {}   # "<chain>/<step>" -> path of gst_after
    if not only:
        for chain, _ in CHAINS:
            if os.path.isdir(os.path.join(out, chain)):
                shutil.rmtree(os.path.join(out, chain))
    for chain, steps in CHAINS:
        if only and chain not in only:
            continue
        scratch = os.path.join(SCRATCH_ROOT, chain)
        if os.path.exists(scratch):
            shutil.rmtree(scratch)
        os.makedirs(os.path.join(scratch, "data"))
        for name in sorted(input_names, reverse=True):
            shutil.copyfile(os.path.join(inp, name), os.path.join(scratch, "data", name))
        prev = None
        for step in steps:
            sid = "%s/%s" % (chain, step["name"])
            sdir = os.path.join(out, chain, step["name"])
            if os.path.exists(sdir):
                shutil.rmtree(sdir)
            os.makedirs(sdir)
            for f in ("global_table.json", "peaks.json"):
                if os.path.exists(os.path.join(scratch, f)):
                    os.remove(os.path.join(scratch, f))
            files = {}
            gst = step["gst"]
            if gst:
                if gst == "prev":
                    assert prev is not None, sid
                    shutil.copyfile(prev, os.path.join(sdir, "global_table.before.json"))
                elif gst.startswith("step:"):
                    shutil.copyfile(after[gst[5:]], os.path.join(sdir, "global_table.before.json"))
                else:
                    with open(os.path.join(sdir, "global_table.before.json"), "w") as f:
                        f.write(CRAFT_GST[gst[6:]])
                shutil.copyfile(os.path.join(sdir, "global_table.before.json"),
                                os.path.join(scratch, "global_table.json"))
                files["gst_before"] = "global_table.before.json"
            check = ""
            if step["now"] and not gst:
                check = verify_now(scratch, step)
            r = subprocess.run(command([PY, "-m", "telemetry_peak_analyzer"] + step["args"], step["tz"], step["now"]),
                               cwd=scratch, env=base_env(step["tz"]), capture_output=True)
            with open(os.path.join(sdir, "log.txt"), "wb") as f:
                f.write(r.stderr)
            assert not r.stdout, (sid, r.stdout)
            log = r.stderr.decode("utf-8")
            loaded = re.findall(r"^\w+ -> \[[^]]*\] \[\d+mb\] \t(/.*)$", log, re.M)
            assert loaded == sorted(loaded), (sid, "glob order not sorted", loaded)
            if r.returncode == 0:
                shutil.copyfile(os.path.join(scratch, "global_table.json"), os.path.join(sdir, "global_table.json"))
                files["gst_after"] = "global_table.json"
                after[sid] = os.path.join(sdir, "global_table.json")
                prev = after[sid]
                if "-o" in step["args"]:
                    shutil.copyfile(os.path.join(scratch, "peaks.json"), os.path.join(sdir, "peaks.json"))
                    files["peaks"] = "peaks.json"
            npeaks = len(re.findall(r"TelemetryPeak\(", log))
            print("%-70s rc=%d peaks=%-3d %s" % (sid, r.returncode, npeaks, check), flush=True)
            manifest["steps"].append({
                "step": sid, "args": step["args"], "tz": step["tz"], "now": step["now"],
                "rc": r.returncode, "files": files,
            })
        shutil.rmtree(scratch)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")


def compare(out, ref):
    bad = 0
    n = 0
    for root, _, names in os.walk(ref):
        if os.path.relpath(root, ref).startswith("tools"):
            continue
        for name in names:
            if root == ref and name == "README.md":
                continue
            a = os.path.join(root, name)
            b = os.path.join(out, os.path.relpath(a, ref))
            n += 1
            if not os.path.exists(b):
                print("MISSING", b)
                bad += 1
            elif name == "log.txt":
                if PREFIX.sub(r"\1 -> ", open(a).read()) != PREFIX.sub(r"\1 -> ", open(b).read()):
                    print("LOG DIFFERS", a)
                    bad += 1
            elif not filecmp.cmp(a, b, shallow=False):
                print("DIFFERS", a)
                bad += 1
    for root, _, names in os.walk(out):
        for name in names:
            if not os.path.exists(os.path.join(ref, os.path.relpath(os.path.join(root, name), out))):
                print("EXTRA", os.path.join(root, name))
                bad += 1
    print("compared %d files, %d problems" % (n, bad))
    return bad


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--compare", default=None)
    p.add_argument("--only", nargs="*")
    a = p.parse_args()
    run_all(os.path.abspath(a.out), a.only)
    if a.compare:
        sys.exit(1 if compare(os.path.abspath(a.out), os.path.abspath(a.compare)) else 0)


if __name__ == "__main__":
    main()
