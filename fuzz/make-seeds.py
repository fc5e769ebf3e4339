#!/usr/bin/env python3
"""Writes fuzz/corpus/<harness>/seed-* from the committed test fixtures (small files only) and a
few hand-made inputs. Run from the repository root: python3 fuzz/make-seeds.py. Deterministic."""
import json, os, random, shutil, struct, subprocess, sys

try:
    import yaml
except ImportError:  # the mergekit seeds fall back to JSON, which is YAML too
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests/Fixtures")
OUT = os.path.join(ROOT, "fuzz/corpus")
MAX = 64 * 1024  # no seed above 64 KiB: libFuzzer's -max_len follows the largest seed
rng = random.Random(20)


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) <= MAX, (harness, name, len(data))
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def fixture(rel):
    with open(os.path.join(FIX, rel), "rb") as f:
        return f.read()


def safetensors(tensors, metadata=None):
    header, at, body = {}, 0, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
        at += len(raw)
        body += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


for harness in os.listdir(OUT) if os.path.isdir(OUT) else []:
    for f in os.listdir(os.path.join(OUT, harness)):
        if f.startswith("seed-"):
            os.remove(os.path.join(OUT, harness, f))

# json: small JSON documents of every kind we read.
for c in sorted(os.listdir(os.path.join(FIX, "configs"))):
    p = os.path.join("configs", c, "config.json")
    if os.path.exists(os.path.join(FIX, p)):
        put("json", c, fixture(p))
        put("config", c, fixture(p))
for c in ["hf-tiny-llama/config.json", "hf-tiny-llama/generation_config.json", "llama/llama-gqa/config.json",
          "llama/qwen2-bias/config.json", "llama/mistral-window/config.json", "llama/llama3-bf16/config.json"]:
    if os.path.exists(os.path.join(FIX, c)):
        put("config", c.replace("/", "-"), fixture(c))
put("json", "index", fixture("hf-tiny-llama-sharded/model.safetensors.index.json"))
put("json", "adapter", fixture("lora/plain/adapter_config.json"))
put("json", "escapes", '{"a":"\\u00e9\\ud83d\\ude42\\n","b":[1,-2.5e-3,true,false,null,{}],"c":1e308,"d":-0}')

# safetensors: the fixtures' small files plus a few shapes of header.
for p in ["safetensors/dtypes.safetensors", "lora/plain/adapter_model.safetensors", "lora/bf16/adapter_model.safetensors",
          "hf-tiny-llama/model.safetensors"]:
    put("safetensors", p.replace("/", "-"), fixture(p))
put("safetensors", "metadata", safetensors([("w", "BF16", [2, 3], bytes(12)), ("b", "F16", [3], bytes(6)), ("e", "F32", [0], b"")],
                                           {"format": "pt"}))
put("safetensors", "scalar", safetensors([("s", "F32", [], struct.pack("<f", 1.5)), ("i", "I64", [1], bytes(8))]))

# safetensors-index: indexes over the harness's own shards a.safetensors (x, y) and b.safetensors (z).
put("safetensors-index", "ok", json.dumps({"metadata": {"total_size": 36}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}))
put("safetensors-index", "one-shard", json.dumps({"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}))
put("safetensors-index", "fixture", fixture("hf-tiny-llama-sharded/model.safetensors.index.json"))

# gguf: the fixtures (header, metadata, tensor infos, every quant type in quants.gguf).
for p in ["gguf/aligned64.gguf", "gguf/quants.gguf", "gguf/tiny-llama-tied.gguf", "gguf/tiny-llama.gguf"]:
    put("gguf", p.replace("/", "-"), fixture(p))

# gguf-quant: first byte picks the type in GGMLType.dequantizable order, then two blocks.
quant_sizes = [("f32", 4), ("f16", 2), ("bf16", 2), ("f64", 8), ("q8_0", 34), ("q4_0", 18), ("q4_1", 20), ("q5_0", 22),
               ("q5_1", 24), ("q4_K", 144), ("q5_K", 176), ("q6_K", 210)]
for k, (name, size) in enumerate(quant_sizes):
    body = bytes(rng.randrange(256) for _ in range(2 * size * (8 if size < 10 else 1)))
    put("gguf-quant", name, bytes([k]) + body)

# tokenizer: the two small tokenizer.json fixtures (SmolLM2's is 1.5 MB).
for t in ["gpt2-bpe", "llama3-bpe"]:
    put("tokenizer", t, fixture(f"tokenizers/{t}/tokenizer.json"))
put("tokenizer", "tiny-bytelevel", json.dumps({
    "version": "1.0", "added_tokens": [{"id": 5, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
    "normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": ["a b", "Ġ ab"]}}))

# peft: 4-byte length of adapter_config.json, the config, then adapter_model.safetensors.
for a in ["plain", "bf16", "patterns", "modules-to-save", "rslora"]:
    cfg = fixture(f"lora/{a}/adapter_config.json")
    put("peft", a, struct.pack("<I", len(cfg)) + cfg + fixture(f"lora/{a}/adapter_model.safetensors"))

# mergekit: every case's YAML from merge/cases.json.
for case in json.loads(fixture("merge/cases.json"))["cases"]:
    doc = case["yaml"]
    text = yaml.safe_dump(doc, sort_keys=False) if yaml else json.dumps(doc, indent=1)
    put("mergekit", case["name"], text)
put("mergekit", "anchors", """merge_method: ties
base_model: &b ./base
models:
  - model: ./a
    parameters: {weight: [0.1, 0.5, 1.0], density: 0.5}
  - model: ./b
    parameters:
      weight:
        - filter: self_attn
          value: 0.3
        - value: [0.7, 0.2]
parameters: {normalize: true, lambda: 1.2}
dtype: bfloat16
random_seed: 7
""")

# samples: the benchmark fixture's samples and eval JSONL.
for t in ["colour", "count", "opposite"]:
    for f in ["samples", "eval"]:
        put("samples", f"{t}-{f}", fixture(f"cl-tiny/tasks/{t}/{f}.jsonl"))
put("samples", "mixed", '{"text": "plain"}\r\n\n  \n{"prompt": "Q: 1+1?", "answer": " 2", "choices": [" 1", " 2"]}\n{"text": "t", "task": "x"}\n')

# chunk: the stored BF16 chunk (format 3) and chunks of formats 0 and 2 (raw and zstd planes).
chunk3 = fixture("store/bf16-format3-v1.chunk")
put("chunk", "bf16-format3", chunk3)
raw = bytes(rng.randrange(256) for _ in range(64))
put("chunk", "raw", bytes([0, 1, 0, 0]) + struct.pack("<I", len(raw)) + raw)
def plane_chunk(planes, transform, raw, compress):
    n = len(raw) // planes
    planes_bytes = [bytes(raw[i * n:(i + 1) * n]) for i in range(planes)]
    out = bytes([2, planes, transform, 0]) + struct.pack("<I", len(raw))
    for p in planes_bytes:
        if compress:
            z = subprocess.run(["zstd", "-q", "-c", "-1"], input=p, capture_output=True, check=True).stdout
            out += bytes([1]) + struct.pack("<I", len(z)) + z
        else:
            out += bytes([0]) + struct.pack("<I", len(p)) + p
    return out
smooth = b"".join(struct.pack("<f", 0.01 * rng.gauss(0, 1)) for _ in range(256))
put("chunk", "f32-zstd", plane_chunk(4, 1, smooth, True))
put("chunk", "f32-raw-planes", plane_chunk(4, 1, smooth[:64], False))
put("chunk", "f16-zstd", plane_chunk(2, 0, smooth[:512], True))

# bf16: the format-3 payload with its element count in front.
count = struct.unpack("<I", chunk3[4:8])[0] // 2
put("bf16", "fixture", struct.pack("<H", count) + chunk3[8:])

# rans: scale byte (12 bits: 11), 16 frequencies summing to 4096, symbol count, words.
freqs = [2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1, 1, 0, 0, 0]
put("rans", "skewed", bytes([11]) + b"".join(struct.pack("<H", f) for f in freqs) + struct.pack("<H", 64)
    + struct.pack("<I", 1 << 16) + bytes(rng.randrange(256) for _ in range(96)))
put("rans", "flat", bytes([3]) + b"".join(struct.pack("<H", f) for f in [1] * 8 + [0] * 8) + struct.pack("<H", 16)
    + struct.pack("<I", 1 << 20) + bytes(rng.randrange(256) for _ in range(32)))

# manifest: what BlobStore writes.
def entry(name, dtype, shape, chunks):
    return {"name": name, "dtype": dtype, "shape": shape, "sha256": "ab" * 32, "chunks": ["cd" * 32] * chunks}
put("manifest", "model", json.dumps({"version": 1, "metadata": {"format": "pt"},
                                     "files": [entry("config.json", "U8", [714], 1)],
                                     "tensors": [entry("model.embed_tokens.weight", "BF16", [64, 32], 2), entry("model.norm.weight", "F32", [32], 1)]}))
put("manifest", "empty", json.dumps({"version": 1, "metadata": {}, "files": [], "tensors": []}))
print("seeds written under", OUT)
