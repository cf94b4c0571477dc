#!/usr/bin/env bash
# A short run of every fuzz target (about 60 s in all) over the checked-in corpora in
# fuzz/corpus/, which hold the inputs of every fixed finding. Needs the nightly toolchain and
# cargo-fuzz (installed here when missing); without a nightly it says so and exits 0, since the
# long runs are done locally (scripts/fuzz-long.sh).
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-8}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  if ! rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    echo "SKIP: no nightly toolchain here (cargo-fuzz needs one); fuzz targets not run"
    exit 0
  fi
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked >/dev/null 2>&1 || cargo +nightly install cargo-fuzz >/dev/null
fi
cargo +nightly fuzz build -O --debug-assertions >/dev/null
for t in $(cargo +nightly fuzz list); do
  work=$(mktemp -d)
  # Every checked-in input first (regressions), then new inputs for SECS seconds.
  cargo +nightly fuzz run -O --debug-assertions "$t" "$work" "corpus/$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=65536 >"$work.log" 2>&1 || {
    tail -n 40 "$work.log"
    echo "fuzz target $t failed"
    exit 1
  }
  echo "fuzz $t: $(grep -E '^#[0-9]+' "$work.log" | tail -n 1 | awk '{print $1, "runs"}')"
  rm -rf "$work" "$work.log"
done
