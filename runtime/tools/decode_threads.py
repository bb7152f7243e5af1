#!/usr/bin/env python3
"""Decode ms/token and prefill ms of one model at 1 and 2 kernel threads for every setting, and
the speed-up of each over FP16 at the same thread count: `hil-run --bench` (quantize on load),
run in interleaved rounds so that every setting and thread count sees the same machine, the
median of the rounds reported with their range and the load average before and after.

    runtime/tools/decode_threads.py MODEL.safetensors [--rounds 3] [--out decode_threads.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

SETTINGS = ["FP32", "FP16", "W8A8", "W4A8", "W4A4", "W4A4-TA8/4", "W8A8-E8", "W4A8-E8",
            "W4A4-E8", "W4A4-TA8/4-E8", "W4A8-E4", "W2A8", "W4A8g32"]


def bench(hil_run, model, setting, threads, min_time):
    cmd = [hil_run, "--model", model, "--bench", "--json", "--threads", str(threads),
           "--min-time", str(min_time)]
    cmd += ["--weights", setting.lower()] if setting in ("FP32", "FP16") else ["--setting", setting]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return d["decode_ms_per_token"]["median"], d["prefill_ms"]["median"], d["weight_bytes"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--hil-run", default="build/release/runtime/hil-run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    settings = a.settings.split(",")
    load_before = os.getloadavg()
    raw = {}  # (setting, threads) -> [(decode, prefill)]
    size = {}
    for r in range(a.rounds):
        for s in settings:
            for t in (1, 2):
                dec, pre, wb = bench(a.hil_run, a.model, s, t, a.min_time)
                raw.setdefault((s, t), []).append((dec, pre))
                size[s] = wb
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    load_after = os.getloadavg()
    rows = []
    for s in settings:
        row = {"setting": s, "weight_bytes": size[s]}
        for t in (1, 2):
            dec = [x[0] for x in raw[(s, t)]]
            pre = [x[1] for x in raw[(s, t)]]
            fp16 = statistics.median(x[0] for x in raw[("FP16", t)]) if ("FP16", t) in raw else None
            row[f"decode_ms_{t}t"] = statistics.median(dec)
            row[f"decode_ms_{t}t_range"] = [min(dec), max(dec)]
            row[f"prefill_ms_{t}t"] = statistics.median(pre)
            row[f"speedup_vs_fp16_{t}t"] = fp16 / statistics.median(dec) if fp16 else None
        row["decode_2t_over_1t"] = row["decode_ms_1t"] / row["decode_ms_2t"]
        rows.append(row)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"{a.rounds} interleaved rounds, median (range) ms")
    print("| setting | MB | decode 1T | decode 2T | 2T/1T | x FP16 1T | x FP16 2T | prefill 1T | prefill 2T |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def rng(t):
            lo, hi = r[f"decode_ms_{t}t_range"]
            return f"{r[f'decode_ms_{t}t']:.3f} ({lo:.3f}-{hi:.3f})"
        f1 = r["speedup_vs_fp16_1t"]
        f2 = r["speedup_vs_fp16_2t"]
        print(f"| {r['setting']} | {r['weight_bytes'] / 1e6:.2f} | {rng(1)} | {rng(2)} | "
              f"{r['decode_2t_over_1t']:.2f} | {f1:.2f} | {f2:.2f} | "
              f"{r['prefill_ms_1t']:.2f} | {r['prefill_ms_2t']:.2f} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"load_before": load_before, "load_after": load_after, "rounds": a.rounds,
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
