#!/usr/bin/env python3
"""The competitor for the convert benchmark: safetensors.torch.load_file + .float() on every tensor,
best of N runs, same thread count as ours. Prints one JSON object."""
import json, resource, sys, time
import torch
from safetensors.torch import load_file

path = sys.argv[1]
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5
threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
torch.set_num_threads(threads)
best = float("inf")
for _ in range(runs):
    t = time.perf_counter()
    tensors = load_file(path)
    out = {k: v.float() for k, v in tensors.items() if v.is_floating_point()}
    best = min(best, time.perf_counter() - t)
    read = sum(v.numel() * v.element_size() for v in tensors.values() if v.is_floating_point())
    written = sum(v.numel() * 4 for v in out.values())
    del tensors, out
print(json.dumps({"seconds": best, "read_bytes": read, "written_bytes": written,
                  "gbps_read": read / best / 1e9, "gbps_traffic": (read + written) / best / 1e9,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
