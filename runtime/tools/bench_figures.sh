#!/bin/sh
# The runtime issue's figures: decode ms/token and prefill ms of the tiny LM as FP32, FP16
# storage, W8A8, W4A8, W4 with 50/50 token-adaptive 4/8 and W4A4, their speed-up over FP16 and
# their model sizes, from one FP teacher checkpoint (PTQ-calibrated and exported by hil-train,
# then run by hil-run --bench). Under qemu the timings are not board timings; the greedy tokens
# are what to compare with x86.
#
#   runtime/tools/bench_figures.sh TEACHER.safetensors OUT_DIR
#   HIL_RUN="qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu build/rt-arm/runtime/hil-run" \
#     RUNS=1 MIN_TIME=0 runtime/tools/bench_figures.sh TEACHER.safetensors OUT_DIR
#
# Environment: BUILD (default build/release: hil-train and hil-run), HIL_RUN, THREADS (1),
# RUNS (5), MIN_TIME (2 seconds per configuration), EXTRA (more hil-run flags, e.g.
# "--float-storage fp16"), TAG (suffix of the JSON files).
set -eu
TEACHER=${1:?usage: bench_figures.sh TEACHER.safetensors OUT_DIR}
OUT=${2:?usage: bench_figures.sh TEACHER.safetensors OUT_DIR}
BUILD=${BUILD:-build/release}
HIL_RUN=${HIL_RUN:-$BUILD/runtime/hil-run}
THREADS=${THREADS:-1}
RUNS=${RUNS:-5}
MIN_TIME=${MIN_TIME:-2}
EXTRA=${EXTRA:-}
TAG=${TAG:-}
mkdir -p "$OUT"

for s in W8A8 W4A8 W4A4-TA8/4 W4A4; do
  n=$(echo "$s" | tr 'A-Z/' 'a-z_')
  if [ ! -f "$OUT/$n.safetensors" ]; then
    "$BUILD/qat/hil-train" qat --task lm --teacher "$TEACHER" --setting "$s" --method ptq \
      --calib-batches 2 --eval-windows 1 --out "$OUT/$n-qat.safetensors" >/dev/null
    "$BUILD/qat/hil-train" export --checkpoint "$OUT/$n-qat.safetensors" --out "$OUT/$n.safetensors"
  fi
done

bench() {
  name=$1
  shift
  # shellcheck disable=SC2086
  $HIL_RUN "$@" $EXTRA --bench --json --threads "$THREADS" --runs "$RUNS" --min-time "$MIN_TIME" \
    >"$OUT/$name$TAG.json"
}
bench fp32 --model "$TEACHER" --weights fp32
bench fp16 --model "$TEACHER" --weights fp16
for n in w8a8 w4a8 w4a4-ta8_4 w4a4; do bench "$n" --model "$OUT/$n.safetensors"; done

python3 - "$OUT" "$TAG" <<'EOF'
import json, os, sys
out, tag = sys.argv[1], sys.argv[2]
rows = [json.load(open(os.path.join(out, n + tag + ".json")))
        for n in ["fp32", "fp16", "w8a8", "w4a8", "w4a4-ta8_4", "w4a4"]]
f = rows[1]
print(f"kernel path {rows[0]['isa']}, {rows[0]['threads']} thread(s), prompt {rows[0]['prompt_tokens']}, "
      f"decode {rows[0]['decode_tokens']} tokens/run; wall = median of wall-clock steps, "
      f"cpu = median of thread CPU time")
print("| config | decode ms/token wall (p90) | decode cpu | prefill ms wall | prefill cpu "
      "| decode x FP16 wall / cpu | prefill x FP16 wall / cpu | weights MB | file MB | greedy tokens (first 8) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    d, p, c = r["decode_ms_per_token"], r["prefill_ms"], r["cpu_time"]
    file_mb = f"{r['file_bytes'] / 1e6:.2f}" if r["label"] not in ("FP32", "FP16") else "-"
    print(f"| {r['label']} | {d['median']:.4f} ({d['p90']:.4f}) | {c['decode_ms_per_token_median']:.4f} | "
          f"{p['median']:.2f} | {c['prefill_ms_median']:.2f} | "
          f"{f['decode_ms_per_token']['median'] / d['median']:.2f} / "
          f"{f['cpu_time']['decode_ms_per_token_median'] / c['decode_ms_per_token_median']:.2f} | "
          f"{f['prefill_ms']['median'] / p['median']:.2f} / "
          f"{f['cpu_time']['prefill_ms_median'] / c['prefill_ms_median']:.2f} | "
          f"{r['weight_bytes'] / 1e6:.2f} | {file_mb} | {' '.join(str(t) for t in r['tokens'][:8])} |")
EOF
