#!/usr/bin/env bash
# Peak resident memory of `brisk run` at a long context, against the bound
# file size + KV cache size + 10%.
#
# Usage: scripts/peak-rss.sh MODEL [extra brisk run flags, e.g. -ctk q8_0 -ctv q8_0]
# Runs a prompt of exactly $N_PROMPT tokens (default 1792, BOS included) plus $N_GEN (256)
# generated tokens (--ignore-eos) at -c $CTX (2048) on $THREADS (1) threads, with the binary
# $BRISK (target/release/brisk). Peak RSS comes from /usr/bin/time -v when present, else from
# VmHWM in /proc polled while brisk runs; the KV cache size from brisk's own log line.
set -euo pipefail
model=${1:?usage: scripts/peak-rss.sh MODEL [brisk run flags]}
shift
brisk=${BRISK:-target/release/brisk}
n_prompt=${N_PROMPT:-1792}
n_gen=${N_GEN:-256}
ctx=${CTX:-2048}
threads=${THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count_tokens() {
  "$brisk" tokenize -m "$model" -f "$1" --ids --quiet | python3 -c 'import sys,json; print(len(json.loads(sys.stdin.read())))'
}

# A prompt of repeated words, trimmed or grown until it is exactly n_prompt tokens.
words=$((n_prompt - 1))
for _ in 1 2 3 4 5 6 7 8; do
  python3 -c 'import sys; print(" ".join(["the"] * int(sys.argv[1])), end="")' "$words" >"$tmp/prompt.txt"
  got=$(count_tokens "$tmp/prompt.txt")
  [ "$got" -eq "$n_prompt" ] && break
  words=$((words + n_prompt - got))
done
if [ "$got" -ne "$n_prompt" ]; then
  echo "peak-rss: could not build a $n_prompt-token prompt (got $got)" >&2
  exit 1
fi

cmd=("$brisk" run -m "$model" -f "$tmp/prompt.txt" -n "$n_gen" -c "$ctx" --ignore-eos --temp 0 -t "$threads" "$@")
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v "${cmd[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt"
  peak_kib=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tmp/err.txt")
else
  "${cmd[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt" &
  pid=$!
  peak_kib=0
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(sed -n 's/^VmHWM: *\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak_kib" ] && peak_kib=$hwm
    sleep 0.05
  done
  wait "$pid"
fi
kv_bytes=$(sed -n 's/.*KV cache .*, \([0-9]*\) bytes).*/\1/p' "$tmp/err.txt" | head -1)
if [ -z "$kv_bytes" ]; then
  echo "peak-rss: no KV cache size in brisk's log:" >&2
  cat "$tmp/err.txt" >&2
  exit 1
fi
file_bytes=$(stat -L -c %s "$model")
grep -h 'brisk: prompt' "$tmp/err.txt" || true
python3 - "$peak_kib" "$file_bytes" "$kv_bytes" "$n_prompt" "$n_gen" "$ctx" <<'PY'
import sys
peak = int(sys.argv[1]) * 1024
file_b, kv = int(sys.argv[2]), int(sys.argv[3])
mib = lambda b: b / 2**20
bound = 1.10 * (file_b + kv)
print(f"prompt {sys.argv[4]} + gen {sys.argv[5]} tokens at -c {sys.argv[6]}")
print(f"peak RSS   {mib(peak):9.1f} MiB")
print(f"file size  {mib(file_b):9.1f} MiB")
print(f"KV cache   {mib(kv):9.1f} MiB")
print(f"bound      {mib(bound):9.1f} MiB  (file + KV + 10%)")
print(f"peak / (file + KV) = {peak / (file_b + kv):.3f}; peak / bound = {peak / bound:.3f} "
      f"({'within' if peak <= bound else 'OVER'} the bound)")
PY
