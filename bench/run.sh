#!/usr/bin/env bash
# `make bench`: measure, then write the figures into BENCHMARKS.md and bench/results/.
# Needs the Python venv (tools/setup-venv.sh: torch CPU + safetensors) for the competitor runs.
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$here/bench/work"
results="$here/bench/results"
mkdir -p "$work" "$results"
bash "$here/tools/setup-venv.sh" >/dev/null
py="$here/tools/.venv/bin/python"

ckpt="$work/smollm2-shaped-bf16.safetensors"
[ -f "$ckpt" ] || "$py" "$here/bench/make_checkpoint.py" "$ckpt"

echo "== convert: read a bf16 checkpoint and widen every tensor to f32 (best of 5, page cache warm)"
cat "$ckpt" > /dev/null
memcpy=$("$bin/RecallBench" memcpy --mib 512)
ours=$("$bin/RecallBench" convert "$ckpt" --runs 5)
torch=$("$py" "$here/bench/convert_torch.py" "$ckpt" --runs 5 --threads 2)
echo "memcpy: $memcpy"; echo "ours:   $ours"; echo "torch:  $torch"
printf '{"memcpy": %s, "recall": %s, "torch": %s}\n' "$memcpy" "$ours" "$torch" > "$results/convert.json"

"$py" "$here/bench/report.py" "$results" "$here/BENCHMARKS.md"
echo "figures written to BENCHMARKS.md"
