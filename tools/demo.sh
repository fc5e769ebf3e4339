#!/usr/bin/env bash
# `make demo`: the main job on the embedded default models (the bundled tiny fixtures).
# Today that is the checkpoint tool chain (inspect, convert, import, merge); the daemon flow
# (init, register with RECALL, history) replaces it when the daemon lands.
set -euo pipefail
bin="$1"
home="$2"
here="$(cd "$(dirname "$0")/.." && pwd)"
model="$here/Tests/RecallCoreTests/Fixtures/hf-tiny-llama"
rm -rf "$home"
mkdir -p "$home"
ctl="$bin/recallctl"

echo "== recallctl inspect (bf16 HF directory written by transformers)"
"$ctl" inspect "$model" | head -n 12
echo
echo "== recallctl convert -> f32, then back to bf16 in 8 KB shards"
"$ctl" convert "$model" "$home/tiny-f32" --dtype f32
"$ctl" convert "$home/tiny-f32" "$home/tiny-bf16-sharded" --dtype bf16 --shard-size 8KB
"$ctl" inspect "$home/tiny-bf16-sharded" | head -n 6
echo
echo "== bf16 -> f32 -> bf16 is exact: comparing every tensor with the original"
"$ctl" convert "$home/tiny-bf16-sharded" "$home/roundtrip.safetensors"
python3 "$here/tools/st_digest.py" "$model" > "$home/original.digest"
python3 "$here/tools/st_digest.py" "$home/roundtrip.safetensors" > "$home/roundtrip.digest"
if cmp -s "$home/original.digest" "$home/roundtrip.digest"; then
  echo "all $(wc -l < "$home/original.digest") tensors bit-identical (SHA-256 by an independent stdlib reader)"
else
  echo "round trip changed tensors:"; diff "$home/original.digest" "$home/roundtrip.digest" || true; exit 1
fi
echo
echo "== recallctl import: a tiny llama GGUF (quantised) into an HF directory"
"$ctl" import "$here/Tests/RecallCoreTests/Fixtures/gguf/tiny-llama.gguf" "$home/from-gguf" --dtype f32
"$ctl" inspect "$home/from-gguf" | sed -n 2,4p
echo
echo "== recallctl merge: three task models into their base with TIES (mergekit semantics)"
m="$here/Tests/RecallCoreTests/Fixtures/merge/models"
"$ctl" merge --method ties --base "$m/base" --models "$m/task_a,$m/task_b,$m/task_c" \
  --weight 1,0.8,0.6 --density 0.5,0.3,0.7 --out "$home/merged-ties"
python3 "$here/tools/st_digest.py" "$home/merged-ties" > "$home/merged.digest"
echo "merged model: $(wc -l < "$home/merged.digest") tensors"
echo
echo "demo done; outputs in $home"
