#!/usr/bin/env bash
# Oracle check of our writer (needs the Python venv): files that `recallctl convert` writes must
# load with the Python safetensors library and transformers.from_pretrained, and dtype changes
# must equal torch's. Run: make check-writer
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")/.." && pwd)"
fx="$here/Tests/Fixtures"
bash "$here/tools/setup-venv.sh" >/dev/null
py="$here/tools/.venv/bin/python"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$bin/recallctl" convert "$fx/hf-tiny-llama" "$out/f32" --dtype f32 >/dev/null
"$bin/recallctl" convert "$fx/hf-tiny-llama-sharded" "$out/bf16-sharded" --dtype bf16 --shard-size 8KB >/dev/null
"$bin/recallctl" convert "$fx/safetensors/dtypes.safetensors" "$out/dtypes.safetensors" >/dev/null
"$py" "$here/tools/check_written_checkpoint.py" "$out/f32" --compare "$fx/hf-tiny-llama" --as-dtype F32 >/dev/null
"$py" "$here/tools/check_written_checkpoint.py" "$out/bf16-sharded" --compare "$fx/hf-tiny-llama-sharded" --as-dtype BF16 >/dev/null
"$py" "$here/tools/check_written_checkpoint.py" "$out/dtypes.safetensors" --compare "$fx/safetensors/dtypes.safetensors" --nan-equal >/dev/null
echo "writer oracle check: all OK"
