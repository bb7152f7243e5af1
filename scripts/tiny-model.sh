#!/usr/bin/env bash
# The main job's model: the tiny causal LM teacher (about 4.5M parameters), trained once on the
# LM corpus and cached; later runs reuse it. Prints the model file's path on stdout, progress on
# stderr. Interrupted training resumes from its last checkpoint (every 100 steps) on the next run.
#
#   scripts/tiny-model.sh [BUILD_DIR]     (default build/release; needs hil-train built)
#
# Cache: $HILQ_CACHE (default ~/.cache/hilq)/models. Training costs about 20-30 minutes on a
# 2-core machine (1,500 steps of 16 x 128 tokens at 1,500-2,500 tokens/s).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
train="$build/qat/hil-train"
cache="${HILQ_CACHE:-$HOME/.cache/hilq}/models"
model="$cache/tiny-lm.safetensors"
tokenizer="$cache/tokenizer-4096.json"
partial="$cache/tiny-lm.partial.safetensors"
steps=1500

if [ -f "$model" ]; then
  echo "$model"
  exit 0
fi
[ -x "$train" ] || { echo "tiny-model.sh: $train is not built" >&2; exit 1; }
mkdir -p "$cache"
if [ ! -f "$tokenizer" ]; then
  echo "tiny-model.sh: training the 4096-token BPE on the LM train split (once)" >&2
  "$train" tokenizer --vocab 4096 --out "$tokenizer.tmp" --data "$root/data" >&2
  mv "$tokenizer.tmp" "$tokenizer"
fi
args=(train --task lm --model tiny --tokenizer "$tokenizer" --steps "$steps" --lr 2e-3
      --ckpt-every 100 --log-every 50 --out "$partial" --data "$root/data")
if [ -f "$partial" ]; then
  echo "tiny-model.sh: resuming the tiny LM's training from $partial" >&2
  args+=(--resume "$partial")
else
  echo "tiny-model.sh: training the tiny LM teacher once ($steps steps, about 20-30 min;" \
    "cached in $cache; Ctrl-C is safe, the next run resumes)" >&2
fi
"$train" "${args[@]}" >&2
mv "$partial" "$model"
echo "$model"
