#!/usr/bin/env python3
"""Oracle check for a checkpoint written by our Swift code.

    tools/.venv/bin/python tools/check_written_checkpoint.py PATH
        [--compare OTHER [--as-dtype DT] [--nan-equal]] [--no-model]

PATH is a .safetensors file or a model directory (one model.safetensors, or
shards + model.safetensors.index.json, plus config.json).

* Every safetensors file is validated twice: by our own strict header parse
  (length, JSON, dtypes, shapes, offsets contiguous and covering the data)
  and by loading every tensor with `safetensors.safe_open(..., "pt")`.
* Directories: the index (if any) must map every tensor to the file that
  holds it, and nothing else; then `transformers.AutoModelForCausalLM
  .from_pretrained(PATH)` must load with no missing / unexpected /
  mismatched keys, the loaded weights must equal the file bytes, and a
  forward pass on a few token ids must give finite logits (skip with
  --no-model).
* --compare OTHER: same tensor names, shapes, dtypes and bitwise-equal bytes.
  --as-dtype DT (F32, F16, BF16, F64): OTHER's floating tensors are first
  converted with torch `.to()` (round-to-nearest-even), and PATH's floating
  tensors must already be DT. --nan-equal: a NaN matches any NaN (torch's
  NaN payloads depend on its code path; ours must only stay NaN).

Output: a JSON report on stdout (names, dtypes, shapes, sha256 of each
tensor's raw bytes); "OK: ..." / "FAIL: ..." lines on stderr.
Exit status: 0 all checks passed, 1 a check failed, 2 usage error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

ST_DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1), "U16": (torch.uint16, 2), "U32": (torch.uint32, 4),
    "U64": (torch.uint64, 8),
    "F8_E4M3": (torch.float8_e4m3fn, 1), "F8_E5M2": (torch.float8_e5m2, 1),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}
CAST_TARGETS = ("F64", "F32", "F16", "BF16")
INDEX_NAME = "model.safetensors.index.json"


class CheckFailed(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fail(msg: str):
    raise CheckFailed(msg)


def raw_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------------------
# reading

def parse_header(path: Path) -> tuple[int, dict]:
    """Strict independent parse of the safetensors layout."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            fail(f"{path}: file shorter than 8 bytes ({size})")
        (n,) = struct.unpack("<Q", head)
        if n == 0 or 8 + n > size:
            fail(f"{path}: header length {n} does not fit in file of {size} bytes")
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"{path}: header is not UTF-8: {e}")
    if not text.startswith("{"):
        fail(f"{path}: header does not start with '{{'")
    try:
        header = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{path}: header is not valid JSON: {e}")
    if not isinstance(header, dict):
        fail(f"{path}: header is not a JSON object")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict)
                                 and all(isinstance(v, str) for v in meta.values())):
        fail(f"{path}: __metadata__ must be an object of strings, got {meta!r}")
    spans = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}: tensor {name!r}: entry must have exactly dtype/shape/data_offsets, got {e!r}")
        if e["dtype"] not in ST_DTYPES:
            fail(f"{path}: tensor {name!r}: unknown dtype {e['dtype']!r}")
        shape = e["shape"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            fail(f"{path}: tensor {name!r}: bad shape {shape!r}")
        off = e["data_offsets"]
        if not (isinstance(off, list) and len(off) == 2 and all(isinstance(x, int) for x in off)
                and 0 <= off[0] <= off[1]):
            fail(f"{path}: tensor {name!r}: bad data_offsets {off!r}")
        want = math.prod(shape) * ST_DTYPES[e["dtype"]][1]
        if off[1] - off[0] != want:
            fail(f"{path}: tensor {name!r}: data_offsets {off} span {off[1] - off[0]} bytes, "
                 f"dtype {e['dtype']} shape {shape} needs {want}")
        spans.append((off[0], off[1], name))
    spans.sort()
    pos = 0
    for b0, b1, name in spans:
        if b0 != pos:
            fail(f"{path}: tensor {name!r} starts at {b0}, expected {pos} (gap or overlap)")
        pos = b1
    data_len = size - 8 - n
    if pos != data_len:
        fail(f"{path}: tensors cover {pos} bytes but the data section has {data_len}")
    return n, header


def load_file(path: Path, label: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, dict]]:
    n, header = parse_header(path)
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            for k in keys:
                tensors[k] = f.get_tensor(k)
            lib_meta = f.metadata()
    except Exception as e:  # noqa: BLE001
        fail(f"{path}: safetensors.safe_open failed: {type(e).__name__}: {e}")
    names = sorted(k for k in header if k != "__metadata__")
    if sorted(tensors) != names:
        fail(f"{path}: safetensors sees tensors {sorted(tensors)}, header lists {names}")
    if (lib_meta or None) != (header.get("__metadata__") or None):
        fail(f"{path}: metadata mismatch: library {lib_meta!r} vs header {header.get('__metadata__')!r}")
    info = {}
    for k in names:
        t, e = tensors[k], header[k]
        if TORCH_TO_ST.get(t.dtype) != e["dtype"] or list(t.shape) != e["shape"]:
            fail(f"{path}: tensor {k!r}: library gives {t.dtype} {list(t.shape)}, header says "
                 f"{e['dtype']} {e['shape']}")
        info[k] = {"file": label, "data_offsets": e["data_offsets"]}
    file_info = {"name": label, "size": path.stat().st_size, "header_len": n,
                 "metadata": header.get("__metadata__")}
    return file_info, tensors, info


def load_checkpoint(path: Path):
    """Returns (kind, files, tensors, locations)."""
    if path.is_file():
        fi, tensors, loc = load_file(path, path.name)
        return "file", [fi], tensors, loc
    if not path.is_dir():
        fail(f"{path}: no such file or directory")
    index_path = path / INDEX_NAME
    if index_path.exists():
        try:
            index = json.loads(index_path.read_text())
            weight_map = index["weight_map"]
            assert isinstance(weight_map, dict) and weight_map
        except Exception as e:  # noqa: BLE001
            fail(f"{index_path}: unreadable or no weight_map: {e}")
        fnames = sorted(set(weight_map.values()))
        for fn in fnames:
            if "/" in fn or not (path / fn).is_file():
                fail(f"{index_path}: references missing file {fn!r}")
        stray = sorted(p.name for p in path.glob("*.safetensors") if p.name not in fnames)
        if stray:
            fail(f"{path}: safetensors files not referenced by the index: {stray}")
    else:
        fnames = sorted(p.name for p in path.glob("*.safetensors"))
        if not fnames:
            fail(f"{path}: no *.safetensors files and no {INDEX_NAME}")
        weight_map = None
    files, tensors, loc = [], {}, {}
    for fn in fnames:
        fi, ts, li = load_file(path / fn, fn)
        files.append(fi)
        for k, t in ts.items():
            if k in tensors:
                fail(f"{path}: tensor {k!r} is in both {loc[k]['file']} and {fn}")
            tensors[k] = t
            loc[k] = li[k]
    if weight_map is not None:
        if sorted(weight_map) != sorted(tensors):
            missing = sorted(set(weight_map) - set(tensors))
            extra = sorted(set(tensors) - set(weight_map))
            fail(f"{index_path}: weight_map and shards disagree; in index only: {missing[:10]}, "
                 f"in shards only: {extra[:10]}")
        wrong = [k for k, fn in weight_map.items() if loc[k]["file"] != fn]
        if wrong:
            fail(f"{index_path}: tensors mapped to the wrong shard: "
                 + ", ".join(f"{k} -> {weight_map[k]} (is in {loc[k]['file']})" for k in wrong[:10]))
        total = index.get("metadata", {}).get("total_size")
        real = sum(len(raw_bytes(t)) for t in tensors.values())
        if total is not None and total != real:
            log(f"WARNING: {index_path}: metadata.total_size {total} != sum of tensor bytes {real}")
    return "dir", files, tensors, loc


# --------------------------------------------------------------------------
# checks

def describe(tensors: dict, loc: dict) -> list[dict]:
    return [{"name": k, "dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape),
             "sha256": sha256(raw_bytes(t)), "file": loc[k]["file"],
             "data_offsets": loc[k]["data_offsets"]}
            for k, t in sorted(tensors.items())]


def hexel(t: torch.Tensor, i: int) -> str:
    b = raw_bytes(t.reshape(-1)[i:i + 1])
    return b[::-1].hex()  # little-endian bytes -> big-endian hex of the bit pattern


def compare(a: dict, b: dict, as_dtype: str | None, nan_equal: bool) -> dict:
    problems = []
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a:
        problems.append(f"only in PATH: {only_a[:20]}")
    if only_b:
        problems.append(f"only in OTHER: {only_b[:20]}")
    equal = 0
    for k in sorted(set(a) & set(b)):
        ta, tb = a[k], b[k]
        if as_dtype is not None and tb.is_floating_point():
            target = ST_DTYPES[as_dtype][0]
            if ta.dtype != target:
                problems.append(f"{k}: PATH dtype {TORCH_TO_ST[ta.dtype]}, expected {as_dtype}")
                continue
            tb = tb.to(target)
        if ta.dtype != tb.dtype:
            problems.append(f"{k}: dtype {TORCH_TO_ST[ta.dtype]} vs {TORCH_TO_ST[tb.dtype]}")
            continue
        if ta.shape != tb.shape:
            problems.append(f"{k}: shape {list(ta.shape)} vs {list(tb.shape)}")
            continue
        if raw_bytes(ta) == raw_bytes(tb):
            equal += 1
            continue
        fa, fb = ta.reshape(-1), tb.reshape(-1)
        esz = ST_DTYPES[TORCH_TO_ST[ta.dtype]][1]
        ba = torch.frombuffer(bytearray(raw_bytes(fa)), dtype=torch.uint8).reshape(-1, esz)
        bb = torch.frombuffer(bytearray(raw_bytes(fb)), dtype=torch.uint8).reshape(-1, esz)
        diff = (ba != bb).any(dim=1)
        if nan_equal and ta.is_floating_point():
            diff &= ~(torch.isnan(fa) & torch.isnan(fb))
        idx = diff.nonzero().reshape(-1).tolist()
        if not idx:
            equal += 1
            continue
        samples = ", ".join(f"[{i}] {hexel(fa, i)} vs {hexel(fb, i)}" for i in idx[:5])
        problems.append(f"{k}: {len(idx)} of {fa.numel()} elements differ (bits PATH vs OTHER): {samples}")
    return {"compared": len(set(a) & set(b)), "bitwise_equal": equal, "problems": problems}


def check_model(path: Path, tensors: dict) -> dict:
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    if not (path / "config.json").is_file():
        fail(f"{path}: no config.json, transformers cannot load it")
    try:
        cfg = AutoConfig.from_pretrained(str(path))
        model, info = AutoModelForCausalLM.from_pretrained(str(path), output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        fail(f"{path}: transformers {transformers.__version__} from_pretrained failed: "
             f"{type(e).__name__}: {e}")
    model.eval()
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(key):
            fail(f"{path}: from_pretrained reported {key}: {sorted(map(str, info[key]))[:20]}")
    # every tensor in the files must be what the model now holds
    sd = model.state_dict()
    for k, t in tensors.items():
        if k not in sd:
            fail(f"{path}: tensor {k!r} is not a parameter/buffer of {type(model).__name__}")
        if raw_bytes(sd[k].to(t.dtype)) != raw_bytes(t) or list(sd[k].shape) != list(t.shape):
            fail(f"{path}: loaded parameter {k!r} differs from the file (dtype {sd[k].dtype} "
                 f"vs {t.dtype}, shape {list(sd[k].shape)} vs {list(t.shape)})")
    vocab = cfg.vocab_size
    ids = torch.tensor([[1, 2, 3, 5, 8, 13]], dtype=torch.long) % vocab
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    if list(logits.shape) != [1, ids.shape[1], vocab]:
        fail(f"{path}: logits shape {list(logits.shape)}, expected {[1, ids.shape[1], vocab]}")
    if not torch.isfinite(logits).all():
        fail(f"{path}: forward pass produced non-finite logits")
    return {"transformers": transformers.__version__, "class": type(model).__name__,
            "dtype": str(model.dtype).replace("torch.", ""), "input_ids": ids.tolist()[0],
            "logits_shape": list(logits.shape),
            "logits_sum": float(logits.float().sum()),
            "tie_word_embeddings": bool(getattr(cfg, "tie_word_embeddings", False))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Validate a safetensors file / HF model dir with the Python oracle.")
    ap.add_argument("path", type=Path, help=".safetensors file or model directory")
    ap.add_argument("--compare", type=Path, metavar="OTHER",
                    help="file or directory whose tensors must be bitwise equal")
    ap.add_argument("--as-dtype", choices=CAST_TARGETS,
                    help="convert OTHER's floating tensors to this dtype first (torch .to)")
    ap.add_argument("--nan-equal", action="store_true",
                    help="treat any NaN as equal to any NaN when comparing")
    ap.add_argument("--no-model", action="store_true",
                    help="for a directory, skip the transformers load + forward pass")
    args = ap.parse_args(argv)
    if args.as_dtype and not args.compare:
        ap.error("--as-dtype needs --compare")
    if args.nan_equal and not args.compare:
        ap.error("--nan-equal needs --compare")

    report: dict = {"path": str(args.path), "ok": False}
    try:
        kind, files, tensors, loc = load_checkpoint(args.path)
        report.update(kind=kind, files=files, tensors=describe(tensors, loc))
        log(f"OK: {args.path}: {len(tensors)} tensors in {len(files)} safetensors file(s), "
            "header and safe_open agree")
        if args.compare:
            _, _, other, _ = load_checkpoint(args.compare)
            res = compare(tensors, other, args.as_dtype, args.nan_equal)
            res.update(other=str(args.compare), as_dtype=args.as_dtype, nan_equal=args.nan_equal)
            report["compare"] = res
            if res["problems"]:
                fail(f"compare with {args.compare}: {len(res['problems'])} problem(s):\n  "
                     + "\n  ".join(res["problems"][:50]))
            log(f"OK: all {res['compared']} tensors equal to {args.compare}"
                + (f" as {args.as_dtype}" if args.as_dtype else ""))
        if kind == "dir" and not args.no_model:
            report["model"] = check_model(args.path, tensors)
            m = report["model"]
            log(f"OK: transformers loaded {m['class']} ({m['dtype']}) with no missing/unexpected "
                f"keys; forward pass logits {m['logits_shape']} finite")
        report["ok"] = True
    except CheckFailed as e:
        report["error"] = str(e)
        print(json.dumps(report, indent=2), flush=True)
        log(f"FAIL: {e}")
        return 1
    print(json.dumps(report, indent=2), flush=True)
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
