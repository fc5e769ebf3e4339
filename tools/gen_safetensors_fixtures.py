#!/usr/bin/env python3
"""Generate the golden checkpoint-format fixtures for the Swift tests.

Everything here is written by the *independent* oracle (the Python
`safetensors` library, `torch` and `transformers`), never by our Swift code.
The Swift tests read these files and compare exactly.

    bash tools/setup-venv.sh && tools/.venv/bin/python tools/gen_safetensors_fixtures.py

Output (all under Tests/Fixtures/, each folder is wiped and
rewritten on every run):

  safetensors/dtypes.safetensors        one tensor per dtype + scalar + empties
  safetensors/dtypes.expected.json      layout, raw bytes (hex) and exact values
  safetensors/f32_to_bf16.expected.json conversion oracle (torch), RNE + NaN notes
  safetensors/f32_to_f16.expected.json  conversion oracle (torch)
  safetensors/bf16_to_f32.expected.json conversion oracle (torch)
  safetensors/f16_to_f32.expected.json  conversion oracle (torch)
  hf-tiny-llama-sharded/                tiny LlamaForCausalLM, F32, >=2 shards + index
  hf-tiny-llama/                        the same model, BF16, one file
  configs/<name>/config.json            config.json files (transformers + legacy)
  configs/expected.json                 values a config reader must extract

The script is deterministic: two runs produce byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import struct
import sys
from pathlib import Path

# No hub access, no telemetry, no progress bars: the fixtures are made offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import transformers  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

REPO = Path(__file__).resolve().parent.parent
# The only Fixtures/ sub-folders this script owns (wipes and rewrites).
OWNED_DIRS = ("safetensors", "hf-tiny-llama-sharded", "hf-tiny-llama", "configs")
FIXTURES = REPO / "Tests" / "Fixtures"

# safetensors dtype spelling <-> torch dtype (the ones used here).
ST_DTYPE = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
    torch.uint16: "U16",
    torch.uint32: "U32",
    torch.uint64: "U64",
}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}
ELEM_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
             "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def generator_info(with_cpu: bool = False) -> dict:
    info = {
        "script": "tools/gen_safetensors_fixtures.py",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }
    if with_cpu:
        # NaN bit patterns in the conversion files depend on torch's CPU kernel
        # (vectorized vs scalar); everything else is CPU-independent.
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


class SplitMix64:
    """Tiny, version-independent PRNG (so fixture values never depend on the
    numpy/torch RNG implementation)."""

    def __init__(self, seed: int):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def uniform(self) -> float:  # [0, 1)
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def int_range(self, lo: int, hi: int) -> int:  # inclusive
        return lo + self.next_u64() % (hi - lo + 1)

    def signed_float(self, scale: float) -> float:
        return (self.uniform() * 2.0 - 1.0) * scale


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(p: Path) -> str:
    return sha256_bytes(p.read_bytes())


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a tensor, row-major (what safetensors stores)."""
    assert sys.byteorder == "little"
    flat = t.detach().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def json_float(x: float):
    """float64 -> JSON value; non-finite values as strings."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=True)
    path.write_text(text + "\n", encoding="utf-8")


def read_safetensors_header(path: Path) -> tuple[int, dict, list[str]]:
    """Parse the header ourselves: u64 LE length, then JSON. Returns
    (header_len, header dict, key order as stored)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    raw = data[8:8 + n]
    header = json.loads(raw.decode("utf-8"))  # dict keeps the stored key order
    order = list(header.keys())
    return n, header, order


def bits_to_tensor(bits: list[int], dtype: torch.dtype) -> torch.Tensor:
    np_u = {torch.float16: np.uint16, torch.bfloat16: np.uint16,
            torch.float32: np.uint32, torch.float64: np.uint64}[dtype]
    np_i = {np.uint16: np.int16, np.uint32: np.int32, np.uint64: np.int64}[np_u]
    arr = np.array(bits, dtype=np_u).view(np_i)
    return torch.from_numpy(arr.copy()).view(dtype)


def round_via_f32(values: list[float], dtype: torch.dtype) -> torch.Tensor:
    """float64 -> float32 (RNE) -> dtype (RNE), the documented way the
    'not exactly representable' fixture values were produced."""
    return torch.tensor(values, dtype=torch.float64).to(torch.float32).to(dtype)


def clean_dir(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


# --------------------------------------------------------------------------
# 1. dtypes.safetensors
# --------------------------------------------------------------------------

def build_dtype_tensors() -> dict[str, torch.Tensor]:
    rng = SplitMix64(20240601)
    t: dict[str, torch.Tensor] = {}

    # F32 [3,7]: 12 special bit patterns + 7 inexact values + 2 random
    f32_special = [
        0x00000000,  # +0
        0x80000000,  # -0
        0x00000001,  # min subnormal
        0x807FFFFF,  # -max subnormal
        0x00800000,  # min normal
        0x7F7FFFFF,  # max finite
        0xFF7FFFFF,  # lowest finite
        0x7F800000,  # +inf
        0xFF800000,  # -inf
        0x7FC00000,  # canonical quiet NaN
        0xFFC00001,  # negative quiet NaN with payload
        0x3F800000,  # 1.0
    ]
    f32_inexact = [0.1, 1.0 / 3.0, -2.718281828459045, 1e-40, 16777217.0,
                   -123456.789, 3.0e38]
    f32_rand = [rng.signed_float(10.0) for _ in range(2)]
    t["f32"] = torch.cat([
        bits_to_tensor(f32_special, torch.float32),
        torch.tensor(f32_inexact + f32_rand, dtype=torch.float64).to(torch.float32),
    ]).reshape(3, 7)

    # F16 [2,3,4]: 13 specials + 7 inexact + 4 random
    f16_special = [0x0000, 0x8000, 0x0001, 0x03FF, 0x8001, 0x0400, 0x7BFF,
                   0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x3C00, 0xBC00]
    f16_inexact = [0.1, 1.0 / 3.0, -2.718281828459045, 65519.0, 1e-6,
                   2049.0, 3.14159265358979]
    f16_rand = [rng.signed_float(100.0) for _ in range(4)]
    t["f16"] = torch.cat([
        bits_to_tensor(f16_special, torch.float16),
        round_via_f32(f16_inexact + f16_rand, torch.float16),
    ]).reshape(2, 3, 4)

    # BF16 [5,5]: 12 specials + 9 inexact + 4 random
    bf16_special = [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x7F7F, 0xFF7F,
                    0x7F80, 0xFF80, 0x7FC0, 0x3F80, 0xBF80]
    bf16_inexact = [0.1, 1.0 / 3.0, -2.718281828459045, 257.0, 259.0, 1e-40,
                    3.14159265358979, 65504.0, 1e30]
    bf16_rand = [rng.signed_float(1.0) for _ in range(4)]
    t["bf16"] = torch.cat([
        bits_to_tensor(bf16_special, torch.bfloat16),
        round_via_f32(bf16_inexact + bf16_rand, torch.bfloat16),
    ]).reshape(5, 5)

    # F64 [3,5]: 11 specials + 2 inexact + 2 random
    f64_special = [0x0000000000000000, 0x8000000000000000, 0x0000000000000001,
                   0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
                   0xFFEFFFFFFFFFFFFF, 0x7FF0000000000000, 0xFFF0000000000000,
                   0x7FF8000000000000, 0x3FF0000000000000]
    t["f64"] = torch.cat([
        bits_to_tensor(f64_special, torch.float64),
        torch.tensor([0.1, 1.0 / 3.0] + [rng.signed_float(1e6) for _ in range(2)],
                     dtype=torch.float64),
    ]).reshape(3, 5)

    def ints(lo, hi, fixed, n):
        return fixed + [rng.int_range(lo, hi) for _ in range(n - len(fixed))]

    i64 = ints(-2**63, 2**63 - 1, [-2**63, 2**63 - 1, -1, 0, 1], 7)
    t["i64"] = torch.tensor(i64, dtype=torch.int64)
    i32 = ints(-2**31, 2**31 - 1, [-2**31, 2**31 - 1, -1, 0, 1], 24)
    t["i32"] = torch.tensor(i32, dtype=torch.int32).reshape(2, 3, 4)
    i16 = ints(-2**15, 2**15 - 1, [-2**15, 2**15 - 1, -1, 0, 1], 14)
    t["i16"] = torch.tensor(i16, dtype=torch.int16).reshape(2, 7)
    i8 = ints(-128, 127, [-128, 127, -1, 0, 1], 15)
    t["i8"] = torch.tensor(i8, dtype=torch.int8).reshape(3, 5)
    u8 = ints(0, 255, [0, 255, 1, 127, 128], 13)
    t["u8"] = torch.tensor(u8, dtype=torch.uint8)
    u16 = ints(0, 2**16 - 1, [0, 2**16 - 1, 1, 2**15], 9)
    t["u16"] = torch.from_numpy(np.array(u16, dtype=np.uint16))
    u32 = ints(0, 2**32 - 1, [0, 2**32 - 1, 2**31, 1], 5)
    t["u32"] = torch.from_numpy(np.array(u32, dtype=np.uint32)).reshape(5, 1)
    u64 = [0, 2**64 - 1, 2**63]
    t["u64"] = torch.from_numpy(np.array(u64, dtype=np.uint64)).reshape(1, 3, 1)
    bools = [bool(rng.next_u64() & 1) for _ in range(9)]
    bools[0], bools[1] = True, False
    t["bool"] = torch.tensor(bools, dtype=torch.bool).reshape(3, 3)

    # 0-d scalars and empty tensors
    t["scalar_f32"] = torch.tensor(3.14159265358979, dtype=torch.float64).to(torch.float32)
    t["scalar_i64"] = torch.tensor(-42, dtype=torch.int64)
    t["empty_f32"] = torch.zeros(0, dtype=torch.float32)
    t["empty_bf16_2x0"] = torch.zeros(2, 0, dtype=torch.bfloat16)
    return t


DTYPES_METADATA = {
    "format": "pt",
    "note": "RecallRegistry golden dtype fixture written by python safetensors",
    "unicode": "caf\u00e9 \u2713",  # non-ASCII (raw UTF-8 in the header)
}


def tensor_values(t: torch.Tensor, dtype: str) -> list:
    flat = t.reshape(-1)
    if dtype in FLOAT_DTYPES:
        return [json_float(v) for v in flat.to(torch.float64).tolist()]
    if dtype == "BOOL":
        return [bool(v) for v in flat.tolist()]
    if dtype in ("U16", "U32", "U64"):
        np_t = {"U16": np.uint16, "U32": np.uint32, "U64": np.uint64}[dtype]
        return [int(v) for v in np.frombuffer(tensor_bytes(t), dtype=np_t)]
    return [int(v) for v in flat.tolist()]


def gen_dtypes(out: Path) -> None:
    tensors = build_dtype_tensors()
    path = out / "dtypes.safetensors"
    # safetensors serializes __metadata__ from a Rust HashMap: its key order is
    # random per call. Retry (bounded) until the library happens to write the
    # keys sorted, so the file is reproducible and still 100% library-written.
    for attempt in range(1000):
        save_file(tensors, str(path), metadata=DTYPES_METADATA)
        header_len, header, order = read_safetensors_header(path)
        if list(header["__metadata__"]) == sorted(DTYPES_METADATA):
            break
    else:
        raise SystemExit("could not get a canonical __metadata__ key order from safetensors")
    data = path.read_bytes()
    data_start = 8 + header_len
    assert header.get("__metadata__") == DTYPES_METADATA, header.get("__metadata__")

    # Read back through the library too and check it agrees with our parse.
    from safetensors import safe_open
    entries = []
    with safe_open(str(path), framework="pt") as f:
        assert sorted(f.keys()) == sorted(tensors)
        for name in [k for k in order if k != "__metadata__"]:
            h = header[name]
            b0, b1 = h["data_offsets"]
            raw = data[data_start + b0:data_start + b1]
            t = f.get_tensor(name)
            assert raw == tensor_bytes(tensors[name]) == tensor_bytes(t), name
            assert h["dtype"] == ST_DTYPE[t.dtype], name
            assert h["shape"] == list(t.shape), name
            assert b1 - b0 == t.numel() * ELEM_SIZE[h["dtype"]], name
            entries.append({
                "name": name,
                "dtype": h["dtype"],
                "shape": h["shape"],
                "data_offsets": [b0, b1],
                "hex": raw.hex(),
                "values": tensor_values(t, h["dtype"]),
            })

    expected = {
        "generator": generator_info(),
        "file": "dtypes.safetensors",
        "file_size": len(data),
        "file_sha256": sha256_bytes(data),
        "header_len": header_len,
        "data_start": data_start,
        "header_key_order": order,
        "metadata": header["__metadata__"],
        "notes": [
            "data_offsets are relative to data_start (= 8 + header_len), as stored in the header",
            "hex is the raw little-endian bytes of the tensor as stored in the file (row-major)",
            "values: flattened row-major; float dtypes converted exactly to float64, non-finite as "
            "strings 'nan'/'inf'/'-inf' (-0.0 appears as -0.0; use hex to tell NaN payloads and "
            "signed zeros apart); integer dtypes as exact JSON integers (I64/U64 exceed 2^53); "
            "BOOL as true/false",
            "tensors are listed in header order, which is the order of their data in the file "
            "(safetensors sorts by dtype alignment, then name)",
            "inexact fixture values were produced float64 -> float32 -> dtype with torch (RNE)",
            "safetensors writes __metadata__ keys in random (HashMap) order; the generator re-saves "
            "until they come out sorted. Readers must not depend on metadata key order",
        ],
        "tensors": entries,
    }
    write_json(out / "dtypes.expected.json", expected)


# --------------------------------------------------------------------------
# 2. conversion oracle
# --------------------------------------------------------------------------

def ref_f32_to_bf16(b: int) -> int:
    """IEEE 754 round-to-nearest-even; NaN: keep sign and top payload bits,
    set the quiet bit (what hardware converters do)."""
    if (b & 0x7F800000) == 0x7F800000 and (b & 0x007FFFFF):
        return ((b >> 16) | 0x0040) & 0xFFFF
    lsb = (b >> 16) & 1
    return ((b + 0x7FFF + lsb) >> 16) & 0xFFFF


def ref_f32_to_f16(b: int) -> int:
    if (b & 0x7F800000) == 0x7F800000 and (b & 0x007FFFFF):
        return ((b >> 16) & 0x8000) | 0x7E00 | ((b >> 13) & 0x03FF)
    # numpy implements IEEE RNE for float32 -> float16 (incl. subnormals)
    with np.errstate(over="ignore"):
        return int(np.array([b], dtype=np.uint32).view(np.float32).astype(np.float16)
                   .view(np.uint16)[0])


def ref_bf16_to_f32(b: int) -> int:
    return (b << 16) & 0xFFFFFFFF


def ref_f16_to_f32(b: int) -> int:
    if (b & 0x7C00) == 0x7C00 and (b & 0x03FF):
        return ((b & 0x8000) << 16) | 0x7FC00000 | ((b & 0x03FF) << 13)
    return int(np.array([b], dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32)[0])


def value_of(bits: int, dtype: torch.dtype) -> float:
    return bits_to_tensor([bits], dtype).to(torch.float64).item()


def out_bits(t: torch.Tensor) -> list[int]:
    ints = {torch.float16: torch.int16, torch.bfloat16: torch.int16,
            torch.float32: torch.int32}[t.dtype]
    mask = {torch.int16: 0xFFFF, torch.int32: 0xFFFFFFFF}[ints]
    return [v & mask for v in t.reshape(-1).view(ints).tolist()]


def torch_convert_paths(bits: int, src: torch.dtype, dst: torch.dtype) -> dict:
    x = bits_to_tensor([bits], src)
    single = out_bits(x.to(dst))[0]                       # 1-element tensor .to()
    zero_d = out_bits(x[0].to(dst).reshape(1))[0]          # 0-d tensor .to()
    batch = out_bits(x.repeat(64).to(dst))                 # inside a 64-element tensor
    assert len(set(batch)) == 1, ("non-uniform batched conversion", hex(bits), batch)
    return {"single": single, "zero_d": zero_d, "batched": batch[0]}


def is_nan_bits(bits: int, width: int) -> bool:
    if width == 32:
        return (bits & 0x7F800000) == 0x7F800000 and (bits & 0x007FFFFF) != 0
    if width == 16:  # f16
        return (bits & 0x7C00) == 0x7C00 and (bits & 0x03FF) != 0
    if width == -16:  # bf16
        return (bits & 0x7F80) == 0x7F80 and (bits & 0x007F) != 0
    raise ValueError


def conversion_file(out: Path, name: str, src: torch.dtype, dst: torch.dtype,
                    cases: list[tuple[str, int]], ref, description: str) -> dict:
    in_w = {torch.float32: 8, torch.float16: 4, torch.bfloat16: 4}[src]
    out_w = {torch.float32: 8, torch.float16: 4, torch.bfloat16: 4}[dst]
    nan_kind = {torch.float32: 32, torch.float16: 16, torch.bfloat16: -16}
    rows = []
    nan_paths: dict[str, set] = {"single": set(), "zero_d": set(), "batched": set()}
    disagreements = []
    for cname, b in cases:
        p = torch_convert_paths(b, src, dst)
        r = ref(b)
        in_nan = is_nan_bits(b, nan_kind[src])
        out_nan = is_nan_bits(p["single"], nan_kind[dst])
        assert in_nan == out_nan, (name, cname, hex(b), hex(p["single"]))
        for k in ("zero_d", "batched"):
            assert is_nan_bits(p[k], nan_kind[dst]) == in_nan, (name, cname, k)
        if not in_nan:
            # Non-NaN results must be unique: all torch paths == IEEE reference.
            if not (p["single"] == p["zero_d"] == p["batched"] == r):
                disagreements.append((cname, hex(b), {k: hex(v) for k, v in p.items()}, hex(r)))
        else:
            for k in nan_paths:
                nan_paths[k].add(f"{p[k]:0{out_w}x}")
        rows.append({
            "name": cname,
            "input": f"{b:0{in_w}x}",
            "input_value": json_float(value_of(b, src)),
            "expected": f"{p['single']:0{out_w}x}",
            "expected_value": json_float(value_of(p["single"], dst)),
            "nan": in_nan,
            "torch_zero_d": f"{p['zero_d']:0{out_w}x}",
            "torch_batched": f"{p['batched']:0{out_w}x}",
            "reference": f"{r:0{out_w}x}",
        })
    if disagreements:
        raise SystemExit(f"{name}: torch disagrees with IEEE RNE on non-NaN input: {disagreements}")
    doc = {
        "generator": generator_info(with_cpu=True),
        "conversion": name,
        "description": description,
        "fields": {
            "input": f"source bit pattern, lowercase hex, {in_w} digits",
            "expected": "torch: torch.tensor([x]).to(dst) on a 1-element tensor (bit pattern)",
            "nan": "input is NaN; then only NaN-ness of the result is guaranteed (payload/sign "
                   "depend on the torch code path, see torch_zero_d / torch_batched, and on "
                   "the CPU kernel torch picked: generator.torch_cpu_capability)",
            "torch_zero_d": "torch result when converting a 0-d tensor (scalar code path)",
            "torch_batched": "torch result when the value sits inside a 64-element tensor "
                             "(vectorized code path)",
            "reference": "independent IEEE 754 round-to-nearest-even; for NaN: sign and top "
                         "payload bits kept, quiet bit set. Equals expected for every non-NaN case",
        },
        "nan_results_seen": {k: sorted(v) for k, v in nan_paths.items()},
        "cases": rows,
    }
    write_json(out / f"{name}.expected.json", doc)
    return doc


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


NAN_F32_CASES = [
    ("nan_quiet", 0x7FC00000),
    ("nan_quiet_negative", 0xFFC00000),
    ("nan_signaling_low_payload", 0x7F800001),   # truncation would give inf
    ("nan_signaling_high_payload", 0x7FA00000),
    ("nan_quiet_low_payload", 0x7FC00001),
    ("nan_all_ones_positive", 0x7FFFFFFF),
    ("nan_all_ones_negative", 0xFFFFFFFF),
]


def gen_conversions(out: Path) -> dict:
    rng = SplitMix64(7)
    summary = {}

    # ---- f32 -> bf16
    cases = [
        ("zero", 0x00000000), ("neg_zero", 0x80000000),
        ("one", 0x3F800000), ("neg_one", 0xBF800000),
        ("exact_bf16", 0x40490000),
        ("pi_round_down", 0x40490FDB), ("point_one_round_up", 0x3DCCCCCD),
        ("tie_even_stays", 0x3F808000), ("tie_odd_rounds_up", 0x3F818000),
        ("neg_tie_even_stays", 0xBF808000), ("neg_tie_odd_rounds_up", 0xBF818000),
        ("just_above_tie", 0x3F808001), ("just_below_tie", 0x3F807FFF),
        ("carry_into_exponent", 0x3FFFFFFF), ("tie_carry_into_exponent", 0x3FFF8000),
        ("f32_max_overflows_to_inf", 0x7F7FFFFF), ("tie_overflows_to_inf", 0x7F7F8000),
        ("largest_not_overflowing", 0x7F7F7FFF), ("neg_f32_max_overflows", 0xFF7FFFFF),
        ("min_normal", 0x00800000),
        ("subnormal_min_to_zero", 0x00000001), ("neg_subnormal_min_to_neg_zero", 0x80000001),
        ("subnormal_tie_even", 0x00008000), ("subnormal_tie_odd", 0x00018000),
        ("subnormal_above_tie", 0x00008001),
        ("max_subnormal_rounds_to_min_normal", 0x007FFFFF),
        ("inf", 0x7F800000), ("neg_inf", 0xFF800000),
    ] + NAN_F32_CASES
    for i in range(24):
        while True:
            b = rng.next_u64() & 0xFFFFFFFF
            if (b & 0x7F800000) != 0x7F800000:
                break
        cases.append((f"random_{i:02d}", b))
    summary["f32_to_bf16"] = conversion_file(
        out, "f32_to_bf16", torch.float32, torch.bfloat16, cases, ref_f32_to_bf16,
        "float32 -> bfloat16, round-to-nearest-even (torch)")

    # ---- f32 -> f16
    cases = [
        ("zero", 0x00000000), ("neg_zero", 0x80000000),
        ("one", 0x3F800000), ("point_one", f32_bits(0.1)), ("one_third", f32_bits(1 / 3)),
        ("pi", f32_bits(math.pi)),
        ("tie_even_stays", 0x3F801000), ("tie_odd_rounds_up", 0x3F803000),
        ("just_above_tie", 0x3F801001), ("just_below_tie", 0x3F800FFF),
        ("neg_tie_odd_rounds_up", 0xBF803000),
        ("f16_max", f32_bits(65504.0)), ("below_overflow_tie", 0x477FEFFF),
        ("tie_65520_overflows_to_inf", f32_bits(65520.0)),
        ("f32_max_to_inf", 0x7F7FFFFF), ("1e10_to_inf", f32_bits(1e10)),
        ("neg_tie_overflows_to_neg_inf", f32_bits(-65520.0)),
        ("min_normal", f32_bits(2.0 ** -14)),
        ("max_subnormal", f32_bits(1023 * 2.0 ** -24)),
        ("tie_max_subnormal_to_min_normal", f32_bits(1023.5 * 2.0 ** -24)),
        ("min_subnormal", f32_bits(2.0 ** -24)),
        ("half_min_subnormal_ties_to_zero", f32_bits(2.0 ** -25)),
        ("just_above_half_min_subnormal", f32_bits(2.0 ** -25) + 1),
        ("subnormal_tie_1_5_to_2", f32_bits(1.5 * 2.0 ** -24)),
        ("subnormal_tie_2_5_to_2", f32_bits(2.5 * 2.0 ** -24)),
        ("quarter_min_subnormal_to_zero", f32_bits(2.0 ** -26)),
        ("neg_min_subnormal", f32_bits(-(2.0 ** -24))),
        ("neg_underflow_to_neg_zero", f32_bits(-(2.0 ** -25))),
        ("f32_subnormal_to_zero", 0x00000001),
        ("subnormal_inexact_1e-6", f32_bits(1e-6)),
        ("subnormal_inexact_3e-5", f32_bits(3e-5)),
        ("inf", 0x7F800000), ("neg_inf", 0xFF800000),
    ] + NAN_F32_CASES
    for i in range(24):
        # random finite f32 whose exponent covers f16 subnormal..overflow range
        exp = rng.int_range(127 - 27, 127 + 17)
        b = ((rng.next_u64() & 1) << 31) | (exp << 23) | (rng.next_u64() & 0x7FFFFF)
        cases.append((f"random_{i:02d}", b))
    summary["f32_to_f16"] = conversion_file(
        out, "f32_to_f16", torch.float32, torch.float16, cases, ref_f32_to_f16,
        "float32 -> float16, round-to-nearest-even (torch), overflow to inf, gradual underflow")

    # ---- bf16 -> f32 (exact)
    cases = [
        ("zero", 0x0000), ("neg_zero", 0x8000), ("one", 0x3F80), ("neg_one", 0xBF80),
        ("pi", 0x4049), ("point_one", 0x3DCD),
        ("min_subnormal", 0x0001), ("neg_min_subnormal", 0x8001), ("max_subnormal", 0x007F),
        ("min_normal", 0x0080), ("max", 0x7F7F), ("lowest", 0xFF7F),
        ("inf", 0x7F80), ("neg_inf", 0xFF80),
        ("nan_quiet", 0x7FC0), ("nan_quiet_negative", 0xFFC0), ("nan_signaling", 0x7F81),
        ("nan_quiet_payload", 0x7FC1), ("nan_all_ones_positive", 0x7FFF),
        ("nan_all_ones_negative", 0xFFFF),
    ]
    for i in range(16):
        while True:
            b = rng.next_u64() & 0xFFFF
            if (b & 0x7F80) != 0x7F80:
                break
        cases.append((f"random_{i:02d}", b))
    summary["bf16_to_f32"] = conversion_file(
        out, "bf16_to_f32", torch.bfloat16, torch.float32, cases, ref_bf16_to_f32,
        "bfloat16 -> float32, exact (bits << 16) (torch)")

    # ---- f16 -> f32 (exact)
    cases = [
        ("zero", 0x0000), ("neg_zero", 0x8000), ("one", 0x3C00), ("neg_one", 0xBC00),
        ("point_one", 0x2E66), ("min_subnormal", 0x0001), ("neg_min_subnormal", 0x8001),
        ("max_subnormal", 0x03FF), ("min_normal", 0x0400), ("max", 0x7BFF),
        ("lowest", 0xFBFF), ("inf", 0x7C00), ("neg_inf", 0xFC00),
        ("nan_quiet", 0x7E00), ("nan_quiet_negative", 0xFE00), ("nan_signaling", 0x7C01),
        ("nan_signaling_high", 0x7D00), ("nan_quiet_payload", 0x7E01),
        ("nan_all_ones_positive", 0x7FFF), ("nan_all_ones_negative", 0xFFFF),
    ]
    for i in range(16):
        while True:
            b = rng.next_u64() & 0xFFFF
            if (b & 0x7C00) != 0x7C00:
                break
        cases.append((f"random_{i:02d}", b))
    summary["f16_to_f32"] = conversion_file(
        out, "f16_to_f32", torch.float16, torch.float32, cases, ref_f16_to_f32,
        "float16 -> float32, exact (torch)")
    return summary


# --------------------------------------------------------------------------
# 3. tiny HF Llama checkpoints
# --------------------------------------------------------------------------

TINY_LLAMA = dict(
    hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=64, tie_word_embeddings=False,
    max_position_embeddings=128,
)
SHARD_SIZE = "10KB"


def describe_checkpoint_dir(d: Path, extra: dict) -> dict:
    from safetensors import safe_open
    st_files = sorted(p.name for p in d.glob("*.safetensors"))
    index_path = d / "model.safetensors.index.json"
    weight_map = None
    if index_path.exists():
        weight_map = json.loads(index_path.read_text())["weight_map"]
    files, tensors = [], []
    for fname in st_files:
        p = d / fname
        header_len, header, order = read_safetensors_header(p)
        data = p.read_bytes()
        start = 8 + header_len
        files.append({"name": fname, "size": len(data), "sha256": sha256_bytes(data),
                      "header_len": header_len, "metadata": header.get("__metadata__")})
        with safe_open(str(p), framework="pt") as f:
            for name in [k for k in order if k != "__metadata__"]:
                h = header[name]
                b0, b1 = h["data_offsets"]
                raw = data[start + b0:start + b1]
                assert raw == tensor_bytes(f.get_tensor(name)), name
                if weight_map is not None:
                    assert weight_map[name] == fname, name
                tensors.append({"name": name, "dtype": h["dtype"], "shape": h["shape"],
                                "file": fname, "data_offsets": [b0, b1],
                                "sha256": sha256_bytes(raw)})
    tensors.sort(key=lambda e: e["name"])
    if weight_map is not None:
        assert sorted(weight_map) == [e["name"] for e in tensors]
    other = sorted(p.name for p in d.iterdir()
                   if p.is_file() and not p.name.endswith(".safetensors") and p.name != "expected.json")
    return {
        "generator": generator_info(),
        **extra,
        "index": index_path.name if index_path.exists() else None,
        "other_files": [{"name": n, "sha256": sha256_file(d / n)} for n in other],
        "safetensors_files": files,
        "tensors": tensors,
    }


def fill_portable_weights(model: torch.nn.Module) -> None:
    """torch's own init (normal_) gives different bits on AVX2 / AVX512 /
    scalar CPUs, so after the seeded torch init every parameter is overwritten
    with SplitMix64 values that are exact in F32 (24-bit dyadic fractions):
    the fixture is then identical on any machine. Linear/embedding weights are
    in [-0.125, 0.125); RMSNorm weights in [0.96875, 1.03125)."""
    rng = SplitMix64(0x11A3A)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            n = p.numel()
            if name.endswith("norm.weight"):
                v = [1.0 + ((rng.next_u64() >> 48) - (1 << 15)) * 2.0 ** -20 for _ in range(n)]
            else:
                v = [((rng.next_u64() >> 40) - (1 << 23)) * 2.0 ** -26 for _ in range(n)]
            t = torch.tensor(v, dtype=torch.float64)
            t32 = t.to(torch.float32)
            assert torch.equal(t32.to(torch.float64), t), name  # exact, no rounding
            p.copy_(t32.reshape(p.shape))


def gen_tiny_llama(fixtures: Path) -> dict:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**TINY_LLAMA)
    model = LlamaForCausalLM(cfg).eval()
    assert model.dtype == torch.float32
    fill_portable_weights(model)

    sharded = clean_dir(fixtures / "hf-tiny-llama-sharded")
    model.save_pretrained(str(sharded), max_shard_size=SHARD_SIZE)
    n_shards = len(list(sharded.glob("model-*-of-*.safetensors")))
    assert n_shards >= 2, n_shards
    model_desc = {"class": "LlamaForCausalLM", "config_kwargs": TINY_LLAMA,
                  "weights": "torch.manual_seed(0) init, then every parameter overwritten with "
                             "portable SplitMix64 values exact in F32 (see fill_portable_weights): "
                             "linear/embedding in [-0.125, 0.125), norms in [0.96875, 1.03125)"}
    doc_sh = describe_checkpoint_dir(sharded, {
        "model": model_desc, "dtype": "F32",
        "saved_with": f"save_pretrained(dir, max_shard_size={SHARD_SIZE!r})",
    })
    write_json(sharded / "expected.json", doc_sh)

    single = clean_dir(fixtures / "hf-tiny-llama")
    model = model.to(torch.bfloat16)  # same weights, RNE-converted by torch
    model.save_pretrained(str(single))
    assert not (single / "model.safetensors.index.json").exists()
    doc_bf = describe_checkpoint_dir(single, {
        "model": model_desc, "dtype": "BF16",
        "saved_with": "model.to(torch.bfloat16).save_pretrained(dir)",
        "converted_from": "../hf-tiny-llama-sharded (same tensors, F32 -> BF16 via torch .to(), "
                          "round-to-nearest-even; no NaN/inf in these weights)",
    })
    write_json(single / "expected.json", doc_bf)

    # Cross-check: every BF16 tensor == torch conversion of the F32 shard tensor.
    from safetensors import safe_open
    f32_tensors = {}
    for p in sorted(sharded.glob("*.safetensors")):
        with safe_open(str(p), framework="pt") as f:
            for k in f.keys():
                f32_tensors[k] = f.get_tensor(k)
    with safe_open(str(single / "model.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == sorted(f32_tensors)
        for k in f.keys():
            assert tensor_bytes(f.get_tensor(k)) == tensor_bytes(f32_tensors[k].to(torch.bfloat16)), k
    return {"shards": n_shards}


# --------------------------------------------------------------------------
# 4. config.json fixtures
# --------------------------------------------------------------------------

def config_specs():
    from transformers import GPTNeoXConfig, LlamaConfig, MistralConfig, Qwen2Config
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    return [
        # name, class, kwargs, expected semantic values, legacy rope spelling
        ("llama-headdim-tied", LlamaConfig, dict(
            architectures=["LlamaForCausalLM"], hidden_size=64, intermediate_size=176,
            num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
            rms_norm_eps=1e-5, vocab_size=1000, max_position_embeddings=4096,
            tie_word_embeddings=True, attention_bias=False,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
         dict(model_type="llama", hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=32, intermediate_size=176, rms_norm_eps=1e-5,
              rope_theta=500000.0, rope_scaling=None, tie_word_embeddings=True,
              attention_bias=False, vocab_size=1000, max_position_embeddings=4096),
         None),
        ("llama-rope-linear-bias", LlamaConfig, dict(
            architectures=["LlamaForCausalLM"], hidden_size=64, intermediate_size=128,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
            rms_norm_eps=3e-6, vocab_size=512, max_position_embeddings=8192,
            tie_word_embeddings=False, attention_bias=True,
            rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 250000.0}),
         dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=4, head_dim=16, intermediate_size=128, rms_norm_eps=3e-6,
              rope_theta=250000.0, rope_scaling={"rope_type": "linear", "factor": 4.0},
              tie_word_embeddings=False, attention_bias=True, vocab_size=512,
              max_position_embeddings=8192),
         "type"),  # legacy variant spells it {"type": "linear", ...}, omits head_dim + kv heads
        ("llama3-rope-scaling", LlamaConfig, dict(
            architectures=["LlamaForCausalLM"], hidden_size=64, intermediate_size=224,
            num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2, head_dim=16,
            rms_norm_eps=1e-5, vocab_size=1024, max_position_embeddings=131072,
            tie_word_embeddings=True, attention_bias=False, bos_token_id=128000,
            eos_token_id=128001, rope_parameters={**llama3, "rope_theta": 500000.0}),
         dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
              num_key_value_heads=2, head_dim=16, intermediate_size=224, rms_norm_eps=1e-5,
              rope_theta=500000.0, rope_scaling=dict(llama3), tie_word_embeddings=True,
              attention_bias=False, vocab_size=1024, max_position_embeddings=131072),
         "rope_type"),
        ("mistral-headdim", MistralConfig, dict(
            architectures=["MistralForCausalLM"], hidden_size=64, intermediate_size=192,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=24,
            rms_norm_eps=1e-5, vocab_size=768, max_position_embeddings=32768,
            tie_word_embeddings=False, sliding_window=None,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         dict(model_type="mistral", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=24, intermediate_size=192, rms_norm_eps=1e-5,
              rope_theta=1000000.0, rope_scaling=None, tie_word_embeddings=False,
              attention_bias=None, vocab_size=768, max_position_embeddings=32768),
         None),
        ("qwen2-tied", Qwen2Config, dict(
            architectures=["Qwen2ForCausalLM"], hidden_size=64, intermediate_size=160,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            rms_norm_eps=1e-6, vocab_size=1000, max_position_embeddings=32768,
            tie_word_embeddings=True, use_sliding_window=False, sliding_window=32768,
            max_window_layers=2, bos_token_id=151643, eos_token_id=151645,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         dict(model_type="qwen2", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, intermediate_size=160, rms_norm_eps=1e-6,
              rope_theta=1000000.0, rope_scaling=None, tie_word_embeddings=True,
              attention_bias=None, vocab_size=1000, max_position_embeddings=32768),
         None),
        ("gpt-neox-unsupported", GPTNeoXConfig, dict(
            architectures=["GPTNeoXForCausalLM"], hidden_size=64, intermediate_size=256,
            num_hidden_layers=2, num_attention_heads=4, vocab_size=512,
            max_position_embeddings=2048, tie_word_embeddings=False),
         None, None),
    ]


def loaded_semantics(cfg) -> dict:
    """What transformers itself makes of a config.json (the oracle)."""
    rp = getattr(cfg, "rope_parameters", None)
    if rp is None:  # transformers 4.x
        theta = cfg.rope_theta
        rs = dict(cfg.rope_scaling) if getattr(cfg, "rope_scaling", None) else None
        if rs is not None and "rope_type" not in rs:
            rs["rope_type"] = rs.pop("type")
        rs = None if rs is None or rs.get("rope_type") == "default" else rs
    else:
        rp = dict(rp)
        theta = rp.pop("rope_theta")
        if "rope_type" in rp and "type" in rp:  # legacy {"type": ...} kept alongside
            assert rp.pop("type") == rp["rope_type"], rp
        rs = None if rp.get("rope_type", "default") == "default" else rp
    kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return dict(
        model_type=cfg.model_type, hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=kv, head_dim=head_dim, intermediate_size=cfg.intermediate_size,
        rms_norm_eps=cfg.rms_norm_eps, rope_theta=float(theta), rope_scaling=rs,
        tie_word_embeddings=bool(cfg.tie_word_embeddings),
        attention_bias=getattr(cfg, "attention_bias", None), vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.max_position_embeddings,
    )


def model_effective(cfg) -> dict:
    """Instantiate the (tiny) model from the config and read what it really does."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_config(cfg)
    attn = m.model.layers[0].self_attn
    mlp = m.model.layers[0].mlp
    return {
        "q_proj_bias": attn.q_proj.bias is not None,
        "k_proj_bias": attn.k_proj.bias is not None,
        "v_proj_bias": attn.v_proj.bias is not None,
        "o_proj_bias": attn.o_proj.bias is not None,
        "mlp_bias": mlp.gate_proj.bias is not None,
        "q_proj_weight_shape": list(attn.q_proj.weight.shape),
        "k_proj_weight_shape": list(attn.k_proj.weight.shape),
        "lm_head_tied": m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr(),
        "state_dict_has_lm_head": "lm_head.weight" in m.state_dict(),
    }


def legacy_variant(cfg_dict: dict, type_key: str | None, spec_name: str) -> dict:
    """Hand-written transformers-4.x style: top-level rope_theta + rope_scaling,
    `torch_dtype`, no rope_parameters."""
    d = {k: v for k, v in cfg_dict.items() if k not in ("transformers_version",)}
    rp = dict(d.pop("rope_parameters"))
    theta = rp.pop("rope_theta")
    rtype = rp.pop("rope_type")
    if rtype == "default":
        scaling = None
    elif type_key == "type":
        scaling = {"type": rtype, **rp}
    else:
        scaling = {**rp, "rope_type": rtype}
    d["rope_theta"] = theta
    d["rope_scaling"] = scaling
    if "dtype" in d:
        d["torch_dtype"] = d.pop("dtype")
    else:
        d["torch_dtype"] = "bfloat16"
    if spec_name == "llama-rope-linear-bias":
        # old (pre-4.45) Llama configs: no head_dim, and LLaMA-1 style: no
        # num_key_value_heads (=> MHA, kv heads = attention heads)
        d.pop("head_dim", None)
        d.pop("num_key_value_heads", None)
    return dict(sorted(d.items()))


def gen_configs(fixtures: Path) -> dict:
    from transformers import AutoConfig
    out = clean_dir(fixtures / "configs")
    entries = []
    rope_style_written = None
    for name, cls, kwargs, spec, legacy_key in config_specs():
        d = out / name
        cls(**kwargs).save_pretrained(str(d))
        written = json.loads((d / "config.json").read_text())
        style = "rope_parameters" if "rope_parameters" in written else "legacy"
        rope_style_written = rope_style_written or style
        loaded = AutoConfig.from_pretrained(str(d))
        entry = {
            "name": name,
            "path": f"{name}/config.json",
            "written_by": f"transformers {transformers.__version__} {cls.__name__}.save_pretrained",
            "rope_style": style,
            "supported": spec is not None,
        }
        if spec is not None:
            sem = loaded_semantics(loaded)
            assert sem == spec, (name, sem, spec)
            entry["expected"] = spec
            entry["model_effective"] = model_effective(loaded)
        else:
            entry["expected"] = {
                "model_type": loaded.model_type,
                "hidden_size": loaded.hidden_size,
                "num_hidden_layers": loaded.num_hidden_layers,
                "num_attention_heads": loaded.num_attention_heads,
                "vocab_size": loaded.vocab_size,
            }
        entries.append(entry)

        if spec is not None and style == "rope_parameters":
            lname = f"legacy-{name}"
            ld = out / lname
            ld.mkdir()
            legacy = legacy_variant(written, legacy_key, name)
            write_json(ld / "config.json", legacy)
            lsem = loaded_semantics(AutoConfig.from_pretrained(str(ld)))
            assert lsem == spec, (lname, lsem, spec)
            entries.append({
                "name": lname,
                "path": f"{lname}/config.json",
                "written_by": f"hand-written by gen_safetensors_fixtures.py from {name} "
                              "(transformers 4.x spelling); values verified by loading with "
                              f"transformers {transformers.__version__} AutoConfig",
                "rope_style": "legacy",
                "supported": True,
                "expected": spec,
                "model_effective": model_effective(AutoConfig.from_pretrained(str(ld))),
            })
    assert rope_style_written == "rope_parameters", \
        "this transformers writes legacy rope_theta/rope_scaling: add hand-written rope_parameters variants"
    write_json(out / "expected.json", {
        "generator": generator_info(),
        "transformers_writes": rope_style_written,
        "notes": [
            "expected = semantic values a reader must extract; verified equal to what "
            "transformers AutoConfig.from_pretrained makes of each file",
            "head_dim: effective value (hidden_size / num_attention_heads when the file has none)",
            "num_key_value_heads: effective value (= num_attention_heads when the file has none)",
            "rope_theta: from rope_parameters.rope_theta (new style) or top-level rope_theta (legacy)",
            "rope_scaling: null for rope_type 'default'; otherwise the scaling dict without "
            "rope_theta, with the type always under 'rope_type' (legacy files may spell it 'type')",
            "attention_bias: value of the key, null when the config class has no such key "
            "(mistral, qwen2); model_effective gives the real per-projection biases "
            "(qwen2: q/k/v bias true, o_proj false)",
            "supported=false: the reader must reject / report unsupported model_type",
        ],
        "configs": entries,
    })
    return {"rope_style": rope_style_written, "count": len(entries)}


# --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=FIXTURES, help="Fixtures root (default: %(default)s)")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    fixtures: Path = args.out
    fixtures.mkdir(parents=True, exist_ok=True)

    st = clean_dir(fixtures / "safetensors")
    gen_dtypes(st)
    conv = gen_conversions(st)
    tl = gen_tiny_llama(fixtures)
    cf = gen_configs(fixtures)

    for k, doc in conv.items():
        print(f"{k}: {len(doc['cases'])} cases; NaN results seen: {doc['nan_results_seen']}")
    print(f"tiny llama: {tl['shards']} shards; configs: {cf['count']} (transformers writes {cf['rope_style']})")
    total = sum(p.stat().st_size for d in OWNED_DIRS for p in (fixtures / d).rglob("*")
                if p.is_file())
    print(f"fixtures written to {fixtures} ({total} bytes total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
