#!/usr/bin/env bash
# Builds brisk-kernels for aarch64 on an x86-64 Debian machine and runs its tests under qemu, so
# the NEON table (kernels/src/arm/) is tested against the scalar reference without ARM hardware.
#
# Toolchain (docs/ARCHITECTURE.md): Debian's rustc 1.63 (/usr/bin/rustc; rustup's toolchains
# have no aarch64 std here) with libstd-rust-dev:arm64, gcc-aarch64-linux-gnu as the linker,
# libc6-dev-arm64-cross, and qemu-user-static. Missing packages are installed with apt-get (as
# root, or through `sudo -n`); set NEON_QEMU_NO_INSTALL=1 to fail instead.
#
# What runs: the crate's unit tests and every kernels/tests/*.rs (compiled with plain rustc
# against the crate's rlib), first on `-cpu max` (NEON + dotprod: the SDOT paths), then the
# table tests again on `-cpu cortex-a53` (NEON without dotprod: the widening-multiply paths),
# and the `BRISK_CPU` selection test with BRISK_CPU=neon and BRISK_CPU=scalar.
# Exits non-zero when anything fails to build or any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
rustc=/usr/bin/rustc
qemu=qemu-aarch64-static
out=${NEON_QEMU_OUT:-${CARGO_TARGET_DIR:-$root/target}/neon-qemu}
# The table tests use `available()`; only the selection test below sets BRISK_CPU.
unset BRISK_CPU

have_toolchain() {
  [ -x "$rustc" ] && command -v aarch64-linux-gnu-gcc >/dev/null && command -v "$qemu" >/dev/null &&
    [ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] &&
    compgen -G "/usr/lib/rustlib/$target/lib/libstd-*.rlib" >/dev/null
}

if ! have_toolchain; then
  if [ "${NEON_QEMU_NO_INSTALL:-}" = 1 ]; then
    echo "neon-qemu-test: aarch64 toolchain missing and NEON_QEMU_NO_INSTALL=1" >&2
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo -n)
  else
    echo "neon-qemu-test: need root or sudo to install the aarch64 toolchain" >&2
    exit 1
  fi
  echo "== installing the aarch64 cross toolchain (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo[@]}" dpkg --add-architecture arm64
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rustc libstd-rust-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static \
    </dev/null >/dev/null
  have_toolchain || { echo "neon-qemu-test: toolchain still incomplete after apt-get" >&2; exit 1; }
fi

echo "== $("$rustc" --version), $("$qemu" --version | head -n1)"
mkdir -p "$out"
# Optimised (qemu is slow) but with debug assertions and overflow checks, like `cargo test`.
flags=(--edition 2021 --target "$target" -C linker=aarch64-linux-gnu-gcc -C opt-level=2
  -C debug-assertions=on -C overflow-checks=on -D warnings)
src=kernels/src/lib.rs

echo "== rustc (aarch64): brisk-kernels rlib and unit tests"
"$rustc" "${flags[@]}" --crate-type rlib --crate-name brisk_kernels "$src" \
  -o "$out/libbrisk_kernels.rlib"
"$rustc" "${flags[@]}" --test --crate-name brisk_kernels "$src" -o "$out/unit"
tests=(unit)
for t in kernels/tests/*.rs; do
  name=$(basename "$t" .rs)
  echo "== rustc (aarch64): kernels/tests/$name.rs"
  # `env!("CARGO_MANIFEST_DIR")` in the tests points at the golden files.
  CARGO_MANIFEST_DIR="$root/kernels" "$rustc" "${flags[@]}" --test --crate-name "$name" "$t" \
    --extern brisk_kernels="$out/libbrisk_kernels.rlib" -L "$out" -o "$out/$name"
  tests+=("$name")
done

run() { # run CPU BINARY [TEST-ARGS...]; fails when a test fails or when none ran
  local cpu=$1 bin=$2 log
  shift 2
  echo "== ${BRISK_CPU:+BRISK_CPU=$BRISK_CPU }qemu -cpu $cpu: $bin $*"
  log=$out/$bin.log
  # One test thread: multi-threaded test binaries can stall under qemu-user 7.2.
  if ! "$qemu" -cpu "$cpu" -L "$sysroot" "$out/$bin" -q --test-threads=1 "$@" >"$log" 2>&1; then
    cat "$log"
    echo "neon-qemu-test: FAILED: -cpu $cpu $bin $*" >&2
    exit 1
  fi
  grep -E '^test result: ' "$log"
  if ! grep -qE '^test result: ok\. [1-9]' "$log"; then
    cat "$log"
    echo "neon-qemu-test: no test ran: -cpu $cpu $bin $*" >&2
    exit 1
  fi
}

for t in "${tests[@]}"; do
  run max "$t"
done
# No dotprod: the base-NEON paths of every kernel.
run cortex-a53 unit arm::
run cortex-a53 isa
run cortex-a53 vec_dot
# BRISK_CPU picks the NEON table (and can still ask for the scalar one).
BRISK_CPU=neon run max unit arm::tests::brisk_cpu_override_is_honoured --exact
BRISK_CPU=scalar run max unit arm::tests::brisk_cpu_override_is_honoured --exact
echo "== neon-qemu-test: all passed"
