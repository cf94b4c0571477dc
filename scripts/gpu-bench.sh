#!/usr/bin/env bash
# GPU speed in one short run (sized for a 15-minute device budget): brisk on the GPU (-ngl 99)
# and on the CPU, and llama.cpp's Vulkan / CUDA llama-bench when given, on the same model, with
# decode bandwidth as a share of the GPU's memory bandwidth.
# Usage: scripts/gpu-bench.sh BRISK_BINARY MODEL.gguf [HBM_GBS=4800]
#   LLAMA_BENCH_VULKAN=/path/llama-bench LLAMA_BENCH_CUDA=/path/llama-bench  (optional)
#   P=512 N=128 R=3 (prompt, generated tokens, repetitions)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BRISK_BINARY MODEL.gguf [HBM_GBS]" >&2; exit 2; }
brisk=$1 model=$2 hbm=${3:-4800}
p=${P:-512} n=${N:-128} r=${R:-3}
out=${OUT:-/tmp}/gpu-bench
mkdir -p "$out"
"$brisk" run --list-devices
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv 2>/dev/null || true
echo "== brisk -ngl 99 and -ngl 0"
timeout 400 "$brisk" bench -m "$model" -p "$p" -n "$n" -r "$r" -ngl 99,0 -o json > "$out/brisk.json"
python3 - "$out/brisk.json" "$hbm" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
hbm = float(sys.argv[2])
print(f"{'backend':<48} {'test':<8} {'t/s':>9} {'GB/s':>8} {'%HBM':>6}")
for r in rows:
    bw = r.get("bw_gbs")
    pct = f"{100 * bw / hbm:6.1f}" if bw and r["n_gpu_layers"] else "     -"
    print(f"{r['backends'][:48]:<48} {r['test']:<8} {r['avg_ts']:9.1f} {bw or 0:8.1f} {pct}")
PY
for kind in VULKAN CUDA; do
  var=LLAMA_BENCH_$kind
  if [ -n "${!var:-}" ]; then
    echo "== llama.cpp $kind"
    timeout 300 "${!var}" -m "$model" -p "$p" -n "$n" -r "$r" -ngl 99 -o md | tee "$out/llama-$kind.md"
  fi
done
