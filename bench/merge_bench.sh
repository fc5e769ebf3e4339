#!/usr/bin/env bash
# Merge engine vs mergekit (issue: Benchmark of the merge engine), called by bench/run.sh.
#
#   bench/merge_bench.sh BIN_DIR WORK_DIR RESULTS_DIR
#
# Six random bf16 models with SmolLM2-135M's tensor names and shapes (a base and five task models,
# HF directories with SmolLM2's config.json and tokenizer files) are cached under WORK_DIR/merge/models.
# Then, in the same run:
#   - linear (the 5 task models) and TIES (base + 5) from the same mergekit YAML, `recallctl merge
#     --config` against `mergekit-yaml`, interleaved, best of 3 each; whole processes (wall time, CPU
#     time and peak RSS from /usr/bin/time), page cache warm, `sync` before every run;
#   - the memcpy bandwidth (RecallBench memcpy, at the start and at the end; the faster counts), which
#     bounds any merge at (bytes of all inputs + bytes of the output) / bandwidth;
#   - the page-cache floor: one process reading every input (cat) and writing an output-sized file (cp);
#   - our outputs against mergekit's, tensor by tensor (max abs difference in f32, in bf16 ulps), for the
#     bf16 YAMLs that are timed and for the same YAMLs with dtype float32 (the algorithms without bf16 rounding);
#   - RECALL over the same models (the last is the new task's; 64 samples of it, 16 typical samples of
#     each earlier task as probes, 16 clusters, lambda 1), best of 3, split into load / forward passes /
#     clustering / similarity / fusion+writing.
# Machine load is recorded for every run: the 1-minute load average and the CPU seconds other processes
# used during the run (from /proc/stat). Writes RESULTS_DIR/merge.json.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 BIN_DIR WORK_DIR RESULTS_DIR" >&2; exit 2; }
bin="$(cd "$1" && pwd)"
mkdir -p "$2" "$3"
work="$(cd "$2" && pwd)/merge"
results="$(cd "$3" && pwd)"
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$here/tools/.venv/bin/python"
mergekit="$here/tools/.venv-mergekit/bin/mergekit-yaml"
smol="$here/bench/.cache/smollm2-bf16"   # real SmolLM2-135M HF dir (bench/run.sh imports it): config + tokenizer
runs="${MERGE_RUNS:-3}"   # MERGE_RUNS=1 for a quick pass (mergekit TIES alone takes minutes per run)
for f in "$bin/recallctl" "$bin/RecallBench" "$py" "$mergekit" "$smol/config.json" "$smol/tokenizer.json" "$smol/tokenizer_config.json"; do
  [ -e "$f" ] || { echo "merge_bench: missing $f" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "merge_bench: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
mkdir -p "$work"
bin_mtime=$(stat -c %Y "$bin/recallctl")   # checked again at the end: a rebuild during the run would mix binaries
models="$work/models"
names=(base task1 task2 task3 task4 task5)

echo "== merge: 6 random bf16 models with SmolLM2-135M's shapes (cached in $models)"
if [ ! -f "$models/.complete" ]; then
  rm -rf "$models" && mkdir -p "$models"
  for i in "${!names[@]}"; do
    m="$models/${names[$i]}"
    "$py" "$here/bench/make_checkpoint.py" "$work/tmp-model.safetensors" --seed $((100 + i)) --hf-dir "$m" >/dev/null
    for f in config.json tokenizer.json tokenizer_config.json special_tokens_map.json; do
      [ -f "$smol/$f" ] && cp "$smol/$f" "$m/$f"
    done
  done
  echo "seeds 100..105, make_checkpoint.py + SmolLM2-135M config/tokenizer" > "$models/.complete"
fi

# Samples: 64 short lines per task (the new task's file, and 16 of each earlier task's as RECALL probes).
# Configs: the same YAML for both tools; the *-f32 twins only serve the equality check.
"$py" - "$work" "$models" <<'EOF'
import json, os, random, sys
work, models = sys.argv[1], sys.argv[2]
topics = {
    "task1": ("{n} has {a} {obj} and buys {b} more. How many {obj} does {n} have now?",
              "A train leaves at {h}:00 and travels {a} km at {b} km per hour. When does it arrive?",
              "What is {a} times {b}, minus {c}?",
              "{n} splits {a} {obj} equally among {b} friends. How many are left over?",
              "Solve for x: {a}x + {b} = {c}.",
              "The sum of two numbers is {a} and their difference is {b}. Find the numbers.",
              "A rectangle is {a} cm long and {b} cm wide. What is its area?",
              "If {c} percent of a number is {a}, what is the number?"),
    "task2": ("Whisk {a} eggs with a pinch of salt, then fold in the {food}.",
              "Roast the {food} at {t} degrees for {a} minutes, turning once.",
              "Simmer the {food} in stock for {a} minutes until tender.",
              "Chop {a} cloves of garlic and fry them gently in olive oil.",
              "Knead the dough for {a} minutes and let it rise for {b} hours.",
              "Season the {food} with pepper, lemon and a little {herb}.",
              "Blend the {food} with {a} tablespoons of yogurt until smooth.",
              "Serve the {food} warm, sprinkled with fresh {herb}."),
    "task3": ("The capital of {country} is {city}.",
              "Which river flows through {city}?",
              "{country} borders {a} other countries.",
              "The highest mountain in {country} is over {h}00 metres tall.",
              "Most people in {city} speak the language of {country}.",
              "How long does it take to fly from {city} to the coast?",
              "{city} lies in the {dir} of {country}.",
              "The population of {city} is about {a} million people."),
    "task4": ("def {fn}(xs): return [x * {a} for x in xs]",
              "for i in range({a}): print(i, i ** {b})",
              "with open('{file}') as f: lines = f.read().splitlines()",
              "import json; data = json.loads(text); print(data['{key}'])",
              "class {cls}: def __init__(self, {key}): self.{key} = {key}",
              "if len({key}) > {a}: raise ValueError('{key} too long')",
              "result = sorted(items, key=lambda item: item.{key})[:{a}]",
              "{fn} = lambda a, b: a if a > b else b + {a}"),
    "task5": ("The {prod} arrived {adv} and works {qual}. {stars} stars.",
              "I returned the {prod}: it broke after {a} days.",
              "Great value for the price, my {prod} still runs {qual}.",
              "Terrible support; the {prod} never charged past {a} percent.",
              "The {prod} is {qual} but the battery lasts only {a} hours.",
              "Would buy this {prod} again, it exceeded my expectations.",
              "Packaging was damaged and the {prod} had a scratch.",
              "After {a} weeks the {prod} feels {qual} and solid."),
}
fill = dict(n="Ana Ben Chen Dara Eli Fay Gus Hana".split(), obj="apples marbles books coins stamps pens".split(),
            food="carrots chicken lentils mushrooms salmon potatoes rice spinach".split(), herb="parsley basil dill thyme".split(),
            country="France Kenya Peru Japan Norway Egypt Canada Vietnam".split(),
            city="Paris Nairobi Lima Osaka Bergen Cairo Toronto Hanoi".split(), dir="north south east west".split(),
            fn="scale double normalise clip parse".split(), file="data.txt log.csv notes.md".split(),
            key="name size path value count".split(), cls="Node Buffer Parser Cache".split(),
            prod="kettle headphones blender lamp charger keyboard".split(), adv="quickly late early".split(),
            qual="well poorly quietly fine smoothly".split(), stars="1 2 3 4 5".split())
rng = random.Random(0)
lines = {}
for task, templates in topics.items():
    seen, attempt = set(), 0
    while len(seen) < 64:
        t = templates[attempt % len(templates)]
        attempt += 1
        values = {k: rng.choice(v) for k, v in fill.items()}
        values.update(a=rng.randint(2, 40), b=rng.randint(2, 12), c=rng.randint(5, 90), h=rng.randint(5, 23), t=rng.choice((160, 180, 200, 220)))
        seen.add(t.format(**values))
    lines[task] = sorted(seen)
    rng.shuffle(lines[task])
os.makedirs(os.path.join(work, "samples"), exist_ok=True)
for task, ls in lines.items():
    with open(os.path.join(work, "samples", task + ".jsonl"), "w") as f:
        f.writelines(json.dumps({"text": s}) + "\n" for s in ls)
with open(os.path.join(work, "samples", "probe.jsonl"), "w") as f:   # 16 samples of each earlier task
    for task in ("task1", "task2", "task3", "task4"):
        f.writelines(json.dumps({"text": s, "task": task}) + "\n" for s in lines[task][::4])
open(os.path.join(work, "samples", "empty.jsonl"), "w").close()

def yaml(method, dtype):
    out = [f"merge_method: {method}"]
    if method == "ties":
        out.append(f"base_model: {models}/base")
    out.append("models:")
    for i in range(1, 6):
        p = f"weight: {1.2 - 0.2 * i:.1f}" + (", density: 0.5" if method == "ties" else "")
        out += [f"  - model: {models}/task{i}", f"    parameters: {{{p}}}"]
    if method == "ties":
        out.append("parameters: {normalize: true}")
    out.append(f"dtype: {dtype}")
    return "\n".join(out) + "\n"
for method in ("linear", "ties"):
    open(os.path.join(work, f"{method}.yml"), "w").write(yaml(method, "bfloat16"))
    open(os.path.join(work, f"{method}-f32.yml"), "w").write(yaml(method, "float32"))
EOF

# Timed runs: /usr/bin/time writes its JSON to a file (mergekit logs on stderr), plus the load figures.
clk=$(getconf CLK_TCK)
runlog="$work/runs.jsonl"
: > "$runlog"
machine_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
warm() { for m in "$@"; do cat "$m"/*.safetensors > /dev/null; done; }
# timed LABEL METHOD REP OUT_DIR -- COMMAND...   (expects the command to succeed unless LABEL ends in -load)
timed() {
  local label=$1 method=$2 rep=$3 out=$4; shift 5
  rm -rf "$out"; sync
  local load1 busy0 busy1 status=0
  load1=$(cut -d' ' -f1 /proc/loadavg); busy0=$(machine_busy)
  /usr/bin/time -f '{"seconds": %e, "user": %U, "sys": %S, "peak_rss_kib": %M}' -o "$work/time.json" "$@" >"$work/stdout.log" 2>"$work/stderr.log" || status=$?
  busy1=$(machine_busy)
  if [ $status -ne 0 ] && [[ $label != *-load ]]; then
    echo "merge_bench: $label $method failed ($status):" >&2; tail -n 20 "$work/stderr.log" >&2; exit 1
  fi
  local t; t=$(grep '^{' "$work/time.json" | tail -n 1)
  printf '{"tool": "%s", "method": "%s", "rep": %s, "exit": %s, "time": %s, "loadavg1": %s, "machine_cpu_seconds": %s}\n' \
    "$label" "$method" "$rep" "$status" "$t" "$load1" "$(awk -v a="$busy0" -v b="$busy1" -v c="$clk" 'BEGIN{print (b - a) / c}')" >> "$runlog"
  echo "  $label $method #$rep: $t (load $load1)"
}

echo "== merge: memcpy bandwidth"
memcpy_start=$("$bin/RecallBench" memcpy --mib 512)
echo "  $memcpy_start"

# mergekit on CPU, as fast as it goes here: torch on both cores (-j 2), no GPU flags (the default --no-cuda),
# --lazy-unpickle (no effect on safetensors inputs, kept as in mergekit's docs), no model card (we write none),
# tokenizer copied (file copy, as ours), one output shard (the default 5B --out-shard-size), --quiet.
mk_flags=(--no-cuda -j 2 --lazy-unpickle --no-write-model-card --copy-tokenizer --quiet)
task_dirs=("$models"/task1 "$models"/task2 "$models"/task3 "$models"/task4 "$models"/task5)
for method in linear ties; do
  echo "== merge: $method, recallctl merge --config vs mergekit-yaml, same YAML, interleaved, best of $runs"
  for rep in $(seq 1 $runs); do
    warm "${task_dirs[@]}" "$models/base"
    timed ours "$method" "$rep" "$work/out-ours-$method" -- "$bin/recallctl" merge --config "$work/$method.yml" --out "$work/out-ours-$method"
    warm "${task_dirs[@]}" "$models/base"
    timed mergekit "$method" "$rep" "$work/out-mergekit-$method" -- "$mergekit" "$work/$method.yml" "$work/out-mergekit-$method" "${mk_flags[@]}"
  done
done

echo "== merge: our outputs against mergekit's, and both against a reference on a few tensors"
# The timed bf16 outputs, plus the same merges from the dtype float32 YAMLs (not timed): mergekit's
# `dtype` is its compute dtype, ours always computes in f32 and rounds once, so the f32 pair shows
# the algorithms without bf16 rounding.
for method in linear ties; do
  rm -rf "$work/f32-ours-$method" "$work/f32-mergekit-$method"
  "$bin/recallctl" merge --config "$work/$method-f32.yml" --out "$work/f32-ours-$method" >/dev/null
  "$mergekit" "$work/$method-f32.yml" "$work/f32-mergekit-$method" "${mk_flags[@]}" >/dev/null 2>&1
done
"$py" - "$work" > "$work/equality.json" <<'EOF'
import glob, json, math, sys
import torch
from safetensors import safe_open
work = sys.argv[1]
def tensors(d):
    idx = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        h = safe_open(f, "pt")
        for k in h.keys(): idx[k] = h
    return idx
def get(idx, k): return idx[k].get_tensor(k)
P = {torch.bfloat16: 7, torch.float32: 23}
def ulps(a, b, dtype):
    """|a - b| in ulps of `dtype` at max(|a|, |b|) (so a sign flip near zero is not 30000 ulps)."""
    a, b = a.double(), b.double()
    m = torch.maximum(a.abs(), b.abs())
    e = torch.frexp(m).exponent
    ulp = torch.ldexp(torch.ones_like(m), e - 1 - P[dtype]).clamp(min=2.0 ** -149)
    return (a - b).abs() / ulp
def diff(a, b, dtype):
    """max_ulp: in ulps at each element's own magnitude (large where f32 cancellation leaves values near 0);
    max_ulp_at_tensor_scale: the largest difference in ulps at the tensor's largest magnitude."""
    d = (a.double() - b.double()).abs()
    nz = d > 0
    n = int(nz.sum())
    scale = max(float(a.abs().max()), float(b.abs().max()))
    r = {"max_abs_diff": float(d.max()), "differing": n, "elements": a.numel(), "max_ulp": 0.0, "over_1_ulp": 0,
         "max_ulp_at_tensor_scale": float(d.max()) / math.ldexp(1.0, math.frexp(scale)[1] - 1 - P[dtype]) if scale > 0 else 0.0}
    if n:
        u = ulps(a[nz], b[nz], dtype)
        r["max_ulp"], r["over_1_ulp"] = round(float(u.max()), 2), int((u > 1).sum())
    return r
shown = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.15.mlp.down_proj.weight",
         "model.layers.29.post_attention_layernorm.weight", "model.norm.weight"]
def pairwise(da, db):
    A, B = tensors(da), tensors(db)
    common = sorted(set(A) & set(B))
    tot = {"max_abs_diff": 0.0, "max_ulp": 0.0, "max_ulp_at_tensor_scale": 0.0, "differing": 0, "over_1_ulp": 0, "elements": 0}
    per = {}
    for k in common:
        a, b = get(A, k), get(B, k)
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape, a.dtype, b.dtype)
        r = diff(a, b, a.dtype)
        for key in ("differing", "over_1_ulp", "elements"): tot[key] += r[key]
        for key in ("max_abs_diff", "max_ulp", "max_ulp_at_tensor_scale"): tot[key] = max(tot[key], r[key])
        if k in shown: per[k] = r
    tot["differing_fraction"] = tot["differing"] / tot["elements"]
    return {"dtype": str(a.dtype).replace("torch.", ""), "tensors_compared": len(common), "only_ours": sorted(set(A) - set(B)),
            "only_mergekit": sorted(set(B) - set(A)), **tot, "tensors": per}

# References: mergekit's formulas (linear: sum w x / sum w; TIES: deltas, top-k by magnitude, weight,
# sign election by sum, masked mean, + base) in a given compute dtype, ties at the top-k threshold
# broken by position (a stable sort).
W = [1.0, 0.8, 0.6, 0.4, 0.2]
M = tensors(work + "/models/base"), [tensors(f"{work}/models/task{i}") for i in range(1, 6)]
def linear_ref(k):
    xs = [get(t, k).double() for t in M[1]]
    return sum(w * x for w, x in zip(W, xs)) / sum(W)
def ties_ref(k, dtype):
    base = get(M[0], k).to(dtype)
    deltas, thresholds = [], []
    for t in M[1]:
        d = get(t, k).to(dtype) - base
        n = int(0.5 * d.numel())
        order = torch.argsort(d.abs().float().reshape(-1), descending=True, stable=True)
        mask = torch.zeros(d.numel(), dtype=torch.bool); mask[order[:n]] = True
        thresholds.append(d.abs().reshape(-1)[order[n - 1]])
        deltas.append((d.reshape(-1) * mask).reshape(d.shape))
    D = torch.stack(deltas)
    w = torch.tensor(W, dtype=dtype).reshape(-1, *([1] * base.dim()))
    D = D * w
    majority = (D.sum(0) >= 0).to(dtype) * 2 - 1
    mask = (D.sign() == majority).to(dtype)
    mixed, divisor = (D * mask).sum(0), (w * mask).sum(0)
    divisor[divisor == 0] = 1
    raw = torch.stack([get(t, k).to(dtype) - base for t in M[1]]).abs()
    at_threshold = (raw == torch.stack(thresholds).to(dtype).reshape(-1, *([1] * base.dim()))).any(0)
    return base + mixed / divisor, at_threshold
ref_tensors = ["model.layers.0.self_attn.k_proj.weight", "model.layers.15.mlp.down_proj.weight", "model.norm.weight"]
out = {}
for method in ("linear", "ties"):
    ours16, mk16 = tensors(f"{work}/out-ours-{method}"), tensors(f"{work}/out-mergekit-{method}")
    ours32, mk32 = tensors(f"{work}/f32-ours-{method}"), tensors(f"{work}/f32-mergekit-{method}")
    ref = {}
    for k in ref_tensors:
        if method == "linear":
            r = linear_ref(k)
            ref[k] = {"ours_bf16_vs_ref": diff(get(ours16, k), r.to(torch.bfloat16), torch.bfloat16),
                      "mergekit_bf16_vs_ref": diff(get(mk16, k), r.to(torch.bfloat16), torch.bfloat16),
                      "ours_f32_vs_ref": diff(get(ours32, k), r.float(), torch.float32),
                      "mergekit_f32_vs_ref": diff(get(mk32, k), r.float(), torch.float32)}
        else:
            r32, tie32 = ties_ref(k, torch.float32)
            r16, tie16 = ties_ref(k, torch.bfloat16)
            m16, m32, o32 = get(mk16, k), get(mk32, k), get(ours32, k)
            # "material": beyond rounding (a different top-k set or sign election moves an element by ~0.01 or more)
            material = lambda a, b: (a.float() - b.float()).abs() > 1e-4
            ref[k] = {"ours_bf16_vs_ref_f32_rounded": diff(get(ours16, k), r32.to(torch.bfloat16), torch.bfloat16),
                      "mergekit_bf16_vs_ref_f32_rounded": diff(m16, r32.to(torch.bfloat16), torch.bfloat16),
                      "mergekit_bf16_vs_ref_computed_in_bf16": diff(m16, r16, torch.bfloat16),
                      "mergekit_bf16_material_vs_ref_computed_in_bf16": int(material(m16, r16).sum()),
                      "of_which_at_a_bf16_threshold_tie": int((material(m16, r16) & tie16).sum()),
                      "ours_f32_vs_ref": diff(o32, r32, torch.float32),
                      "ours_f32_material_vs_ref": int(material(o32, r32).sum()),
                      "mergekit_f32_vs_ref": diff(m32, r32, torch.float32),
                      "mergekit_f32_material_vs_ref": int(material(m32, r32).sum()),
                      "of_which_at_an_f32_threshold_tie": int((material(m32, r32) & tie32).sum()),
                      "elements_at_an_f32_threshold_tie": int(tie32.sum())}
    out[method] = {"bf16": pairwise(f"{work}/out-ours-{method}", f"{work}/out-mergekit-{method}"),
                   "f32": pairwise(f"{work}/f32-ours-{method}", f"{work}/f32-mergekit-{method}"), "reference": ref}
print(json.dumps(out))
EOF
rm -rf "$work"/f32-ours-* "$work"/f32-mergekit-*
"$py" -c "
import json, sys
e = json.load(open(sys.argv[1]))
for m in ('linear', 'ties'):
    for dt in ('bf16', 'f32'):
        r = e[m][dt]
        print(f'  {m} {dt}: max abs diff {r[\"max_abs_diff\"]:.3g} = {r[\"max_ulp_at_tensor_scale\"]:.3g} ulp at the tensor scale, {r[\"differing_fraction\"]:.4%} of elements differ, {r[\"over_1_ulp\"]} by more than 1 ulp of their own magnitude')
    for k, v in e[m]['reference'].items(): print(f'    {k}:', json.dumps(v))
" "$work/equality.json"

echo "== merge: RECALL over the same models (64 new-task samples, 16 typical samples per task, 16 clusters, lambda 1)"
recall_dirs=$(IFS=,; echo "${task_dirs[*]}")
recall_args=(merge --method recall --base "$models/base" --models "$recall_dirs" --probe "$work/samples/probe.jsonl" --lambda 1 --clusters 16)
merge_help=$("$bin/recallctl" merge --help 2>&1 || true)   # not piped into grep -q: under pipefail, SIGPIPE would read as "unsupported"
if [[ $merge_help == *--samples* ]]; then
  recall_supported=true
  for rep in $(seq 1 $runs); do
    warm "${task_dirs[@]}" "$models/base"
    # Load: the same command on an empty samples file stops right after opening the six checkpoints,
    # the tokenizer and the samples (process start included).
    timed recall-load recall "$rep" "$work/out-recall" -- "$bin/recallctl" "${recall_args[@]}" --samples "$work/samples/empty.jsonl" --out "$work/out-recall"
    grep -q "no samples" "$work/stderr.log" || { echo "merge_bench: the load-only RECALL run failed elsewhere:" >&2; cat "$work/stderr.log" >&2; exit 1; }
    warm "${task_dirs[@]}" "$models/base"
    timed recall recall "$rep" "$work/out-recall" -- "$bin/recallctl" "${recall_args[@]}" --samples "$work/samples/task5.jsonl" \
      --out "$work/out-recall" --report "$work/recall-report-$rep.json" --json
  done
else
  recall_supported=false
  echo "  $bin/recallctl has no --method recall (binary older than the sources?): RECALL skipped"
fi

# The page-cache floor of a whole-process merge: one process that reads every input through the
# page cache (cat to /dev/null) and writes an output of the same size (cp of our output), best of
# the same number of runs. No merge can beat it by much; the memcpy bound ignores it.
echo "== merge: page-cache I/O floor (cat every input to /dev/null + cp an output-sized file, one process)"
for method in linear ties; do
  if [ "$method" = ties ]; then ins=(base task1 task2 task3 task4 task5); else ins=(task1 task2 task3 task4 task5); fi
  files=()
  for m in "${ins[@]}"; do files+=("$models/$m"/*.safetensors); done
  best=""
  for rep in $(seq 1 "$runs"); do
    rm -f "$work/floor.out"; sync
    s=$(/usr/bin/time -f '%e' bash -c 'out="$1"; src="$2"; shift 2; cat "$@" > /dev/null && cp "$src" "$out"' _ \
          "$work/floor.out" "$work/out-ours-$method/model.safetensors" "${files[@]}" 2>&1 >/dev/null | tail -n 1)
    echo "  floor $method #$rep: $s s"
    best=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:] if x))" $best $s)
  done
  rm -f "$work/floor.out"
  echo "{\"seconds\": $best}" > "$work/floor-$method.json"
done

memcpy_end=$("$bin/RecallBench" memcpy --mib 512)
echo "  memcpy at the end: $memcpy_end"

[ "$(stat -c %Y "$bin/recallctl")" = "$bin_mtime" ] || { echo "merge_bench: $bin/recallctl changed during the run; run again" >&2; exit 1; }

# The summary: best run per tool and method, bytes, the memcpy bound, ratios, equality, load.
newer=$(find "$here/Sources" "$here/Package.swift" -newer "$bin/recallctl" -type f 2>/dev/null | sed "s|^$here/||" | sort | paste -sd, -)
MK_FLAGS="${mk_flags[*]}" MK_PY="$here/tools/.venv-mergekit/bin/python" "$py" - "$work" "$models" "$runlog" "$results/merge.json" "$memcpy_start" "$memcpy_end" \
  "$work/equality.json" "$recall_supported" "$bin/recallctl" "$newer" "$runs" <<'EOF'
import datetime, glob, json, os, platform, subprocess, sys
(work, models, runlog, out, m0, m1, equality, recall_supported, recallctl, newer, runs) = sys.argv[1:]
newer = [f for f in newer.split(",") if f]
runs_ = [json.loads(l) for l in open(runlog)]
size = lambda d: sum(os.path.getsize(f) for f in glob.glob(d + "/*.safetensors"))
model_bytes = size(models + "/task1")
memcpy = max(json.loads(m0)["memcpy_gbps_traffic"], json.loads(m1)["memcpy_gbps_traffic"])

def summary(tool, method):
    rs = [r for r in runs_ if r["tool"] == tool and r["method"] == method]
    for r in rs:   # CPU seconds other processes used during the run, and their share of the 2 cores
        ours = r["time"]["user"] + r["time"]["sys"]
        r["others_cpu_seconds"] = round(max(0.0, r["machine_cpu_seconds"] - ours), 2)
        r["others_cpu_share"] = round(r["others_cpu_seconds"] / max(r["time"]["seconds"], 1e-3) / os.cpu_count(), 3)
    best = min(rs, key=lambda r: r["time"]["seconds"])
    return {"seconds": best["time"]["seconds"], "user": best["time"]["user"], "sys": best["time"]["sys"],
            "peak_rss_kib": best["time"]["peak_rss_kib"], "max_peak_rss_kib": max(r["time"]["peak_rss_kib"] for r in rs),
            "all_seconds": [r["time"]["seconds"] for r in rs], "runs": rs}

res = {"date": str(datetime.date.today()), "cores": os.cpu_count(), "machine": platform.machine(), "runs_per_figure": int(runs),
       "recallctl": {"path": recallctl, "mtime": datetime.datetime.fromtimestamp(os.path.getmtime(recallctl)).isoformat(timespec="seconds"),
                     "source_files_newer_than_binary": len(newer), "newer_source_files": newer},
       "mergekit": {"version": subprocess.run([os.environ["MK_PY"], "-c", "import mergekit.merge, importlib.metadata as m, torch; print(m.version('mergekit'), torch.__version__)"],
                                               capture_output=True, text=True).stdout.split(), "flags": os.environ["MK_FLAGS"]},
       "models": {"count": 5, "with_base": 6, "dtype": "bf16", "bytes_per_model": model_bytes, "shapes": "SmolLM2-135M, random (make_checkpoint.py seeds 100..105)"},
       "memcpy": {"start": json.loads(m0), "end": json.loads(m1), "memcpy_gbps_traffic": memcpy}}
eq = json.load(open(equality))
for method, inputs in (("linear", 5), ("ties", 6)):
    o, k = summary("ours", method), summary("mergekit", method)
    read, written = inputs * model_bytes, size(f"{work}/out-ours-{method}")
    bound = (read + written) / (memcpy * 1e9)
    res[method] = {"yaml": open(f"{work}/{method}.yml").read(), "inputs": inputs, "read_bytes": read, "written_bytes": written,
                   "memcpy_bound_seconds": bound, "ours": o, "mergekit": k,
                   "speedup": k["seconds"] / o["seconds"], "of_memcpy_bound": bound / o["seconds"],
                   "io_floor_seconds": json.load(open(f"{work}/floor-{method}.json"))["seconds"],
                   "ours_peak_rss_over_model": o["peak_rss_kib"] * 1024 / model_bytes,
                   "mergekit_peak_rss_over_model": k["peak_rss_kib"] * 1024 / model_bytes,
                   "equality": eq[method]}
    res[method]["of_io_floor"] = res[method]["io_floor_seconds"] / o["seconds"]
    res[method]["goals"] = {"speedup_10x": res[method]["speedup"] >= 10, "half_of_memcpy_bound": res[method]["of_memcpy_bound"] >= 0.5,
                            "peak_rss_1_5x_model": res[method]["ours_peak_rss_over_model"] <= 1.5}
if recall_supported == "true":
    load, full = summary("recall-load", "recall"), summary("recall", "recall")
    best = min(full["runs"], key=lambda r: r["time"]["seconds"])
    rep = json.load(open(f"{work}/recall-report-{best['rep']}.json"))
    s = rep["seconds"]
    total = best["time"]["seconds"]
    forward = s["embed"] + s["represent"]
    # With a fixed lambda the fusion runs while the output is written, after the report's last lap.
    fusion = total - load["seconds"] - forward - s["cluster"] - s["similarity"]
    res["recall"] = {"models": 5, "new_samples": 64, "probe_samples": rep["probe_samples"], "clusters": len(rep["typical_samples"]), "lambda": rep["lambda"],
                     "total_seconds": total, "peak_rss_kib": best["time"]["peak_rss_kib"], "all_seconds": full["all_seconds"],
                     "split": {"load": load["seconds"], "forward_passes": forward, "embed": s["embed"], "represent": s["represent"],
                               "clustering": s["cluster"], "similarity": s["similarity"], "fusion_and_writing": fusion},
                     "report_seconds": s, "runs": full["runs"], "load_runs": load["runs"]}
else:
    res["recall"] = {"skipped": "recallctl merge has no --method recall in this binary"}
json.dump(res, open(out, "w"), indent=1)
for method in ("linear", "ties"):
    r = res[method]
    print(f"  {method}: ours {r['ours']['seconds']:.2f} s, mergekit {r['mergekit']['seconds']:.2f} s, {r['speedup']:.1f}x; "
          f"memcpy bound {r['memcpy_bound_seconds']:.3f} s = {r['of_memcpy_bound']:.1%}; page-cache floor {r['io_floor_seconds']:.2f} s = {r['of_io_floor']:.0%}; "
          f"ours peak RSS {r['ours_peak_rss_over_model']:.2f} x one model")
if "split" in res["recall"]:
    print("  recall:", json.dumps(res["recall"]["split"]), "total", res["recall"]["total_seconds"])
EOF
echo "  wrote $results/merge.json"
