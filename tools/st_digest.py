#!/usr/bin/env python3
"""Print name, dtype, shape and SHA-256 of every tensor in a safetensors file, a sharded index or
an HF directory, using only the Python standard library (an independent reader of the format).
Usage: st_digest.py PATH  -> one line per tensor, sorted by name."""
import hashlib, json, os, struct, sys

def files(path):
    if os.path.isdir(path):
        idx = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(idx):
            path = idx
        else:
            return [os.path.join(path, "model.safetensors")]
    if path.endswith(".index.json"):
        d = os.path.dirname(path)
        with open(path) as f:
            return sorted({os.path.join(d, v) for v in json.load(f)["weight_map"].values()})
    return [path]

rows = []
for fn in files(sys.argv[1]):
    with open(fn, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start = 8 + n
        for name, e in header.items():
            if name == "__metadata__":
                continue
            b, end = e["data_offsets"]
            f.seek(start + b)
            rows.append((name, e["dtype"], e["shape"], hashlib.sha256(f.read(end - b)).hexdigest()))
for r in sorted(rows):
    print(r[0], r[1], r[2], r[3])
