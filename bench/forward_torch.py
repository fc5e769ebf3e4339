#!/usr/bin/env python3
"""Competitor for the forward benchmark: transformers (torch CPU) on the same model directory,
output_hidden_states, the same seeded-size batch (samples x tokens), best of N, same threads; plus
torch's own peak on a square 2048 matmul (best of 5)."""
import json, resource, sys, time
import torch
from transformers import AutoModelForCausalLM

path = sys.argv[1]
arg = lambda k, d: int(sys.argv[sys.argv.index(k) + 1]) if k in sys.argv else d
samples, tokens, runs, threads = arg("--samples", 32), arg("--tokens", 64), arg("--runs", 3), arg("--threads", 2)
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
model.eval()
g = torch.Generator().manual_seed(5)
ids = torch.randint(0, model.config.vocab_size, (samples, tokens), generator=g)
best = float("inf")
with torch.no_grad():
    model.model(input_ids=ids[:1, :8], output_hidden_states=True)
    for _ in range(runs):
        t = time.perf_counter()
        model.model(input_ids=ids, output_hidden_states=True)
        best = min(best, time.perf_counter() - t)
    # torch's own matmul peak on the same square product RecallBench uses for OpenBLAS.
    a, b = torch.full((2048, 2048), 0.5), torch.full((2048, 2048), 0.25)
    mm = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b.t())
        mm = min(mm, time.perf_counter() - t)
print(json.dumps({"seconds": best, "mm_peak_gflops": 2 * 2048 ** 3 / mm / 1e9, "tokens_per_second": samples * tokens / best, "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
