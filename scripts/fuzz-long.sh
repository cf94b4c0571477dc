#!/usr/bin/env bash
# The long fuzz runs: every target for up to 10^7 executions or $SECS seconds (default 600), two
# at a time, new inputs kept in /tmp/fuzz-corpus/TARGET; counts in /tmp/fuzz-summary.log.
#   SECS=600 scripts/fuzz-long.sh
cd "$(dirname "$0")/../fuzz"
SECS=${SECS:-600}
run() {
  t=$1
  mkdir -p /tmp/fuzz-corpus/$t
  cargo +nightly fuzz run -O --debug-assertions $t /tmp/fuzz-corpus/$t corpus/$t -- -runs=10000000 -max_total_time=$SECS -rss_limit_mb=4096 -max_len=65536 > /tmp/fuzz-$t.log 2>&1
  echo "$t rc=$? $(grep -E '^(#[0-9]+|Done)' /tmp/fuzz-$t.log | tail -1)" >> /tmp/fuzz-summary.log
}
: > /tmp/fuzz-summary.log
for pair in "cli_args grammar" "safetensors chat_template" "tokenize tokenizer_json" "gguf"; do
  for t in $pair; do run $t & done
  wait
done
echo ALLDONE >> /tmp/fuzz-summary.log
