#!/usr/bin/env bash
# brisk bench beside llama.cpp's llama-bench on the same files, thread counts and tests, one
# after the other, as a markdown table with brisk/llama.cpp ratios. Run it on a quiet machine.
# Usage: scripts/bench-vs-llamacpp.sh [-p 512] [-n 128] [-r 3] [-t 1,2] MODEL.gguf...
# Needs llama.cpp built by ../shared/scripts/llamacpp-anchor.sh (ANCHOR_DIR, default
# ~/.cache/brisk-anchor) and a release build of brisk (BRISK, default target/release/brisk).
set -euo pipefail
p=512 n=128 r=3 t=1,2
while getopts "p:n:r:t:" o; do
  case $o in p) p=$OPTARG ;; n) n=$OPTARG ;; r) r=$OPTARG ;; t) t=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
anchor=${ANCHOR_DIR:-$HOME/.cache/brisk-anchor}/bin
brisk=${BRISK:-target/release/brisk}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
i=0
for m in "$@"; do
  i=$((i + 1))
  "$brisk" bench -m "$m" -p "$p" -n "$n" -r "$r" -t "$t" -o json >"$out/brisk$i.json"
  LD_LIBRARY_PATH="$anchor" "$anchor/llama-bench" -m "$m" -p "$p" -n "$n" -r "$r" -t "$t" \
    -o json >"$out/llama$i.json" 2>/dev/null
done
python3 - "$out" "$i" <<'PY'
import json, os, sys
out, count = sys.argv[1], int(sys.argv[2])
def key(x):
    return (os.path.basename(x["model_filename"]), x["n_threads"], x["n_prompt"], x["n_gen"])
print("| model | threads | test | llama.cpp t/s | brisk t/s | brisk / llama.cpp |")
print("|---|---:|---|---:|---:|---:|")
for i in range(1, count + 1):
    b = {key(x): x for x in json.load(open(f"{out}/brisk{i}.json"))}
    l = {key(x): x for x in json.load(open(f"{out}/llama{i}.json"))}
    for k in sorted(b, key=lambda k: (k[1], -k[2])):
        if k not in l:
            continue
        name, th, np_, ng = k
        test = f"pp{np_}" if np_ else f"tg{ng}"
        lb, bb = l[k], b[k]
        print(f"| {name} | {th} | {test} | {lb['avg_ts']:.2f} ± {lb['stddev_ts']:.2f} | "
              f"{bb['avg_ts']:.2f} ± {bb['stddev_ts']:.2f} | {bb['avg_ts'] / lb['avg_ts']:.2f}× |")
PY
