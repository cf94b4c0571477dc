#!/usr/bin/env bash
# A/B of brisk binaries on a noisy machine: ROUNDS interleaved `brisk bench -r 2` runs of each
# binary, printing the best avg_ts per binary and test (best-of filters out other tenants' load).
# Usage: scripts/ab-bench.sh MODEL P N THREADS ROUNDS BINARY...
#   e.g. scripts/ab-bench.sh model.gguf 512 32 1,2 3 /tmp/brisk-old target/release/brisk
set -euo pipefail
[ $# -ge 6 ] || { echo "usage: $0 MODEL P N THREADS ROUNDS BINARY..." >&2; exit 2; }
m=$1 p=$2 n=$3 t=$4 rounds=$5
shift 5
for _ in $(seq "$rounds"); do
  for b in "$@"; do
    "$b" bench -m "$m" -p "$p" -n "$n" -r 2 -t "$t" -o csv 2>/dev/null |
      python3 -c '
import csv, sys
for r in csv.DictReader(sys.stdin):
    print(sys.argv[1], r["n_threads"], r["n_prompt"], r["n_gen"], r["avg_ts"])' "$b"
  done
done | python3 -c '
import sys
best = {}
for line in sys.stdin:
    b, t, p, n, v = line.split()
    best[(b, t, p, n)] = max(best.get((b, t, p, n), 0.0), float(v))
print("binary threads n_prompt n_gen best_t/s")
for k, v in sorted(best.items()):
    print(*k, round(v, 2))'
