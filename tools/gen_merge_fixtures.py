#!/usr/bin/env python3
"""Golden merges computed by mergekit (the independent oracle) for RecallCore's baseline methods.

Inputs: the tiny f32 Llama fixture (Fixtures/hf-tiny-llama-sharded) as the base, plus three task
models = base + seeded random task vectors (f32), and a bf16 copy of each for the bf16 cases.
For every case in CASES, a mergekit YAML is written and `mergekit-yaml` runs it; the merged
weights are saved as one safetensors file. cases.json describes each case in a neutral form that
the Swift test turns into a MergeConfiguration, so the YAML and the test cannot drift apart.

Run (mergekit pins its own deps, so it has a venv of its own):
  python3 -m venv tools/.venv-mergekit
  tools/.venv-mergekit/bin/pip install --find-links /opt/wheels torch==2.13.0+cpu mergekit==0.1.5
  tools/.venv-mergekit/bin/python tools/gen_merge_fixtures.py
"""
import json, os, shutil, subprocess, sys, tempfile
import torch
import yaml
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "Fixtures")
OUT = os.path.join(FIX, "merge")
BASE = os.path.join(FIX, "hf-tiny-llama-sharded")

CASES = [
    {"name": "linear", "method": "linear", "dtype": "float32", "base": None,
     "models": [{"model": "task_a", "parameters": {"weight": 1.0}}, {"model": "task_b", "parameters": {"weight": 2.0}},
                {"model": "task_c", "parameters": {"weight": 0.5}}], "parameters": {}},
    {"name": "linear_unnormalized_gradient", "method": "linear", "dtype": "float32", "base": None,
     "models": [{"model": "task_a", "parameters": {"weight": [0.2, 1.0]}}, {"model": "task_b", "parameters": {"weight": 0.7}}],
     "parameters": {"normalize": False}},
    {"name": "task_arithmetic", "method": "task_arithmetic", "dtype": "float32", "base": "base",
     "models": [{"model": "task_a", "parameters": {"weight": 0.5}}, {"model": "task_b", "parameters": {"weight": 1.0}},
                {"model": "task_c", "parameters": {"weight": 0.3}}], "parameters": {"lambda": 1.5}},
    {"name": "task_arithmetic_filters", "method": "task_arithmetic", "dtype": "float32", "base": "base",
     "models": [{"model": "task_a", "parameters": {"weight": [{"filter": "self_attn", "value": 0.9}, {"value": [0.1, 0.6]}]}},
                {"model": "task_b", "parameters": {"weight": [{"filter": "mlp", "value": [1.0, 0.0]}, {"value": 0.4}]}}],
     "parameters": {}},
    {"name": "ties", "method": "ties", "dtype": "float32", "base": "base",
     "models": [{"model": "task_a", "parameters": {"weight": 1.0, "density": 0.5}},
                {"model": "task_b", "parameters": {"weight": 0.8, "density": 0.3}},
                {"model": "task_c", "parameters": {"weight": 0.6, "density": 0.7}}], "parameters": {}},
    {"name": "ties_unnormalized_lambda", "method": "ties", "dtype": "float32", "base": "base",
     "models": [{"model": "task_a", "parameters": {"weight": 1.0, "density": 0.4}},
                {"model": "task_b", "parameters": {"weight": [0.3, 0.9], "density": 0.6}}],
     "parameters": {"normalize": False, "lambda": 0.7}},
    {"name": "slerp", "method": "slerp", "dtype": "float32", "base": "base",
     "models": [{"model": "task_a"}], "parameters": {"t": 0.3}},
    {"name": "slerp_gradient", "method": "slerp", "dtype": "float32", "base": "task_b",
     "models": [{"model": "task_c"}], "parameters": {"t": [{"filter": "self_attn", "value": [0.0, 0.5, 1.0]}, {"value": 0.6}]}},
    {"name": "linear_bf16", "method": "linear", "dtype": "bfloat16", "base": None,
     "models": [{"model": "task_a_bf16", "parameters": {"weight": 1.0}}, {"model": "task_b_bf16", "parameters": {"weight": 3.0}}],
     "parameters": {}},
    {"name": "task_arithmetic_bf16_in_f32", "method": "task_arithmetic", "dtype": "float32", "base": "base_bf16",
     "models": [{"model": "task_a_bf16", "parameters": {"weight": 0.7}}, {"model": "task_c_bf16", "parameters": {"weight": 1.1}}],
     "parameters": {}},
]


def make_models(work):
    """base (f32, as committed), three task models, and bf16 copies; written as HF dirs."""
    g = torch.Generator().manual_seed(1234)
    base = {}
    index = json.load(open(os.path.join(BASE, "model.safetensors.index.json")))
    for shard in sorted(set(index["weight_map"].values())):
        base.update(load_file(os.path.join(BASE, shard)))
    paths = {}

    def save(name, tensors, dtype):
        d = os.path.join(OUT, "models", name)
        os.makedirs(d, exist_ok=True)
        save_file({k: v.to(dtype).contiguous() for k, v in sorted(tensors.items())}, os.path.join(d, "model.safetensors"),
                  metadata={"format": "pt"})
        cfg = json.load(open(os.path.join(BASE, "config.json")))
        cfg["dtype"] = "float32" if dtype == torch.float32 else "bfloat16"
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2, sort_keys=True)
        paths[name] = d

    save("base", base, torch.float32)
    save("base_bf16", base, torch.bfloat16)
    for name, scale in [("task_a", 0.05), ("task_b", 0.08), ("task_c", 0.03)]:
        task = {k: v + scale * torch.randn(v.shape, generator=g) for k, v in base.items()}
        save(name, task, torch.float32)
        save(name + "_bf16", task, torch.bfloat16)
    return paths


def to_yaml(case, paths):
    cfg = {"merge_method": case["method"], "dtype": case["dtype"],
           "models": [{"model": paths[m["model"]], **({"parameters": m["parameters"]} if "parameters" in m else {})}
                      for m in case["models"]]}
    if case["base"]:
        cfg["base_model"] = paths[case["base"]]
    if case["parameters"]:
        cfg["parameters"] = case["parameters"]
    return cfg


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    paths = make_models(OUT)
    import mergekit
    results = []
    for case in CASES:
        cfg = to_yaml(case, paths)
        with tempfile.TemporaryDirectory() as tmp:
            yml = os.path.join(tmp, "merge.yml")
            yaml.safe_dump(cfg, open(yml, "w"))
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "mergekit-yaml"), yml, os.path.join(tmp, "out"),
                            "--quiet", "--random-seed", "0"], check=True)
            merged = {}
            for f in sorted(os.listdir(os.path.join(tmp, "out"))):
                if f.endswith(".safetensors"):
                    merged.update(load_file(os.path.join(tmp, "out", f)))
        save_file(dict(sorted(merged.items())), os.path.join(OUT, case["name"] + ".safetensors"), metadata={"format": "pt"})
        # The YAML as mergekit saw it, with fixture-relative model paths, for humans.
        readable = to_yaml(case, {k: "models/" + k for k in paths})
        results.append({**case, "yaml": readable, "output": case["name"] + ".safetensors"})
    json.dump({"generator": {"script": "tools/gen_merge_fixtures.py", "mergekit": mergekit.__version__ if hasattr(mergekit, "__version__") else "0.1.5",
                             "torch": torch.__version__}, "cases": results},
              open(os.path.join(OUT, "cases.json"), "w"), indent=1, sort_keys=True)
    print("wrote", len(results), "cases to", OUT)


if __name__ == "__main__":
    main()
