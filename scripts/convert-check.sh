#!/usr/bin/env bash
# llama.cpp reads what brisk writes from Hugging Face checkpoints. The convert_hf tests build the
# checkpoints (every architecture fixture written back as HF safetensors + tokenizer, and Qwen2
# with the real GPT-2 tokenizer); brisk quantizes each from its safetensors directory. Checked:
#   1. its tensors equal llama-quantize's on the GGUF the checkpoint came from (tensor data);
#   2. llama.cpp's llama-completion gives the same greedy text on brisk's file as on its own;
#      brisk run's text on brisk's file is shown beside it (near-ties may part them).
#   LLAMA_BIN=~/.cache/brisk-anchor/bin scripts/convert-check.sh [TYPE ...]   (default Q8_0 Q4_K_M F16)
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_BIN=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/bin}
[ -x "$LLAMA_BIN/llama-completion" ] || { echo "no llama-completion in $LLAMA_BIN (../shared/scripts/llamacpp-anchor.sh builds it)" >&2; exit 1; }
export LD_LIBRARY_PATH="$LLAMA_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
types=("$@"); [ ${#types[@]} -gt 0 ] || types=(Q8_0 Q4_K_M F16)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cargo build --release -q
BRISK_KEEP_CONVERTED="$work" cargo test --release -q --test convert_hf >/dev/null 2>&1
prompt="Once upon a time"
fail=0
for ckpt in "$work"/tensors/* "$work"/gpt2/ckpt; do
  case "$ckpt" in
    */gpt2/ckpt) orig=../shared/fixtures/models/rand-qwen2-gpt2-64-f16.gguf; name=rand-qwen2-gpt2 ;;
    *) name=$(basename "$ckpt"); orig=tests/fixtures/arch/$name.gguf ;;
  esac
  for ty in "${types[@]}"; do
    out="$work/$name-$ty.gguf"; ref="$work/$name-$ty-llama.gguf"
    # llama.cpp keys some tokenizer quirks on general.name ("phi3" wants Phi-3's real special
    # tokens, which the random fixture vocabulary lacks): name the file neutrally.
    target/release/brisk quantize --quiet --override-kv general.name=str:checkpoint "$ckpt" "$out" "$ty" 2 </dev/null
    "$LLAMA_BIN/llama-quantize" "$orig" "$ref" "$ty" 2 >/dev/null 2>&1 </dev/null
    target/release/brisk run -m "$out" -p "$prompt" -n 16 --temp 0 --ignore-eos 2>/dev/null </dev/null > "$work/b.txt"
    # This llama-completion build now and then prints less than it generated (or nothing) when
    # run from a script; a short answer is asked again and the longest kept.
    complete() {
      local best=0 n
      for _ in 1 2 3 4 5; do
        "$LLAMA_BIN/llama-completion" -m "$1" -p "$prompt" -n 16 --temp 0 --ignore-eos \
          -no-cnv --no-display-prompt -t 1 2>/dev/null </dev/null > "$work/try.txt" || true
        n=$(wc -c < "$work/try.txt")
        if [ "$n" -gt "$best" ]; then best=$n; cp "$work/try.txt" "$work/best.txt"; fi
      done
      if [ "$best" -gt 0 ]; then cat "$work/best.txt"; fi
    }
    complete "$out" > "$work/l.txt"
    complete "$ref" > "$work/r.txt"
    python3 - "$out" "$ref" "$work/b.txt" "$work/l.txt" "$work/r.txt" "$name $ty" <<'PY' || fail=1
import sys, gguf
out, ref, b, l, r, label = sys.argv[1:]
A = {t.name: t for t in gguf.GGUFReader(out).tensors}
B = {t.name: t for t in gguf.GGUFReader(ref).tensors}
import numpy as np
# Tensors the round trip recomputes (Gemma's norms stored as w - 1 in the checkpoint and given
# back their 1 in f32; Llama 3's rope factors from config.json) may differ in the last bit.
recomputed = lambda n: n == "rope_freqs.weight" or ("gemma" in label and n.endswith("norm.weight"))
def equal(n):
    a, b = A[n], B[n]
    if a.tensor_type != b.tensor_type:
        return False
    if a.data.tobytes() == b.data.tobytes():
        return True
    return recomputed(n) and np.allclose(a.data, b.data, rtol=1e-6, atol=0)
same = A.keys() == B.keys() and all(equal(n) for n in A)
text = lambda p: open(p, "rb").read().decode("utf-8", "replace").rstrip("\n")
bt, lt, rt = text(b), text(l), text(r)
print(f"{'tensors = llama-quantize' if same else 'TENSORS DIFFER'}  "
      f"{'llama.cpp: same text as on its own file' if lt == rt else 'LLAMA.CPP TEXT DIFFERS'}  "
      f"{'brisk = llama.cpp' if bt == lt else 'brisk != llama.cpp'}  {label}")
if lt != rt or bt != lt:
    print(f"   brisk on brisk's file:      {bt!r}\n   llama.cpp on brisk's file:  {lt!r}\n"
          f"   llama.cpp on its own file:  {rt!r}")
sys.exit(0 if same and lt == rt else 1)
PY
  done
done
exit $fail
