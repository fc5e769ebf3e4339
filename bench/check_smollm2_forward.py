#!/usr/bin/env python3
"""Real-model check of the forward pass: SmolLM2-135M-Instruct imported by `recallctl import`,
our per-layer mean-pooled hidden states (recallctl hidden-states) against transformers' on the
same directory for 20 prompts, in f32. Prints one JSON object; exits 1 over the 1e-4 bound.
Usage: check_smollm2_forward.py BIN_DIR MODEL_DIR WORK_DIR"""
import json, os, subprocess, sys
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

bin_dir, model_dir, work = sys.argv[1:4]
prompts = [
    "The capital of France is", "def fibonacci(n):\n    if n < 2:\n        return n", "Merging models layer by layer keeps",
    "Once upon a time, in a small village,", "SELECT name, count(*) FROM users GROUP BY name;", "2 + 2 = 4, and 3 * 7 =",
    "<|im_start|>user\nWhat is RECALL?<|im_end|>\n<|im_start|>assistant\n", "The quick brown fox jumps over the lazy dog.",
    "In 1969, the first humans landed on", "import numpy as np\nx = np.zeros((3, 4))", "Dear Sir or Madam, I am writing to",
    "Photosynthesis converts light energy into", "The derivative of x^2 is", "A list of fruits: apple, banana,",
    "To be, or not to be: that is", "Error: file not found. Please check the path", "Water boils at 100 degrees Celsius at",
    "The mitochondria is the powerhouse of", "for i in range(10):\n    print(i)", "Machine learning models forget old tasks when",
]
os.makedirs(work, exist_ok=True)
samples = os.path.join(work, "prompts.jsonl")
with open(samples, "w") as f:
    for p in prompts:
        f.write(json.dumps({"text": p}) + "\n")
reps = os.path.join(work, "reps.safetensors")
subprocess.run([os.path.join(bin_dir, "recallctl"), "hidden-states", model_dir, "--samples", samples, "--out", reps, "--pooling", "mean"], check=True, stdout=subprocess.DEVNULL)
ours = load_file(reps)

torch.set_num_threads(2)
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
model.eval()
worst = 0.0
per_layer = []
with torch.no_grad():
    refs = None
    for i, p in enumerate(prompts):
        ids = tok(p, return_tensors="pt").input_ids
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states
        pooled = [h[0].mean(dim=0) for h in hs]
        refs = [[] for _ in hs] if refs is None else refs
        for l, v in enumerate(pooled):
            refs[l].append(v)
for l, rows in enumerate(refs):
    ref = torch.stack(rows)
    got = ours[f"layer.{l}"]
    err = ((got - ref).abs().max() / ref.abs().max()).item()
    per_layer.append(err)
    worst = max(worst, err)
print(json.dumps({"prompts": len(prompts), "layers": len(refs), "max_rel_err": worst, "per_layer": per_layer}))
sys.exit(0 if worst <= 1e-4 else 1)
