#!/usr/bin/env python3
"""Generate the GGUF fixtures under Tests/Fixtures/gguf/.

Oracles (never our Swift code):
  * the `gguf` package (0.19.0): `GGUFWriter` writes the files, `gguf.quants.quantize` makes the
    blocks, `gguf.quants.dequantize` gives the golden F32 values;
  * transformers (5.24.0): its own GGUF loader (`from_pretrained(..., gguf_file=)`, which undoes
    llama.cpp's Q/K row permutation and dequantises) gives the golden HF tensors and config of the
    llama fixtures; `AutoTokenizer.from_pretrained(..., gguf_file=)` gives token ids;
  * HF `tokenizers` (0.23.3): the BPE tokenizer trained here, whose vocabulary the llama fixtures
    carry, gives the reference ids of the corpus.

Files written (the folder is wiped first; README.md is kept):
  quants.gguf                 v3, default alignment: one tensor per supported type (F32, F16, BF16,
                              Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) in odd shapes, plus
                              `iq4_nl` (a known type we do not dequantise), and metadata of every
                              value type incl. nested arrays and non-ASCII strings.
  quants.expected.safetensors golden F32 values of every supported tensor, numpy shapes.
  aligned64.gguf              `general.alignment = 64` with three small tensors; expected values in
                              expected.json under "aligned64".
  tiny-llama.gguf             a llama model (hidden 32, 2 layers, 4 heads / 2 kv heads, head_dim 8,
                              ffn 64, vocab 320) converted as llama.cpp does (names, Q/K permute,
                              metadata, gpt2 tokenizer with pre "smollm"), tensors in a mix of
                              Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 F16 BF16 F32.
  tiny-llama-tied.gguf        the same without `output.weight` (tied embeddings).
  tiny-llama.expected.safetensors  HF tensors as transformers loads tiny-llama.gguf (F32).
  expected.json               quants / aligned64: metadata (type chain + value) and tensor tables as
                              gguf.GGUFReader reads them; tiny_llama: the config transformers
                              builds, tokenizer facts, and a corpus with ids.

Usage:  bash tools/setup-venv.sh && tools/.venv/bin/python tools/gen_gguf_fixtures.py
Deterministic: two runs give byte-identical files.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gguf")

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q, GGUFValueType as V  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402


def versions():
    import importlib.metadata as md
    out = {"python": sys.version.split()[0]}
    for p in ("gguf", "numpy", "transformers", "tokenizers", "torch", "safetensors"):
        out[p] = md.version(p)
    return out


def f16_scales(rng, n, lo=1e-3, hi=2e-2):
    """n random positive float16 scales as raw bytes (no NaN/inf in K-quant headers)."""
    return rng.uniform(lo, hi, size=n).astype(np.float16)


def kquant_blocks(rng, qtype, n_blocks):
    """Random but valid K-quant blocks (the gguf package cannot quantise K types)."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, ts), dtype=np.uint8)
    if qtype in (Q.Q4_K, Q.Q5_K):
        # d and dmin are the first two float16 values
        raw[:, 0:2] = f16_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
        raw[:, 2:4] = f16_scales(rng, n_blocks, 1e-4, 5e-3).view(np.uint8).reshape(n_blocks, 2)
    elif qtype == Q.Q6_K:
        # d is the last float16
        raw[:, ts - 2:ts] = f16_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def special_rows(shape, rng):
    """Data for quantisation tests: random normal, plus a zero row, a constant row, a wide row."""
    data = rng.normal(0, 1, size=shape).astype(np.float32)
    data[0, :] = 0.0
    if shape[0] > 1:
        data[1, :] = 0.75
    if shape[0] > 2:
        data[2, :] *= 1000.0
    if shape[0] > 3:
        data[3, : shape[1] // 2] = -np.abs(data[3, : shape[1] // 2])
    return data


def json_value(v):
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
    return v


def reader_metadata(path):
    """Every key as (type names, value), read back by gguf.GGUFReader (nested arrays by hand)."""
    r = gguf.GGUFReader(path)
    out = []
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [t.name for t in f.types]
        out.append({"key": key, "types": types, "value": read_field_value(r, f)})
    tensors = [
        {"name": t.name, "ggml_type": t.tensor_type.name, "type_id": int(t.tensor_type), "ne": [int(x) for x in t.shape],
         "offset": int(t.data_offset - r.data_offset), "n_bytes": int(t.n_bytes)}
        for t in r.tensors
    ]
    return out, tensors, int(r.data_offset), int(r.alignment)


def read_field_value(r, f):
    """Decodes a field's value from the raw bytes (the reader flattens nested arrays)."""
    data = r.data
    off = f.offset
    klen = int(np.frombuffer(data[off:off + 8], dtype="<u8")[0])
    off += 8 + klen
    vtype = int(np.frombuffer(data[off:off + 4], dtype="<u4")[0])
    off += 4
    v, _ = decode_value(data, off, vtype)
    return v


SCALARS = {V.UINT8: "<u1", V.INT8: "<i1", V.UINT16: "<u2", V.INT16: "<i2", V.UINT32: "<u4", V.INT32: "<i4",
           V.FLOAT32: "<f4", V.UINT64: "<u8", V.INT64: "<i8", V.FLOAT64: "<f8"}


def decode_value(data, off, vtype):
    vtype = V(vtype)
    if vtype in SCALARS:
        dt = np.dtype(SCALARS[vtype])
        x = np.frombuffer(data[off:off + dt.itemsize], dtype=dt)[0]
        return json_value(x.item()), off + dt.itemsize
    if vtype == V.BOOL:
        return bool(data[off]), off + 1
    if vtype == V.STRING:
        n = int(np.frombuffer(data[off:off + 8], dtype="<u8")[0])
        return bytes(data[off + 8:off + 8 + n]).decode("utf-8"), off + 8 + n
    if vtype == V.ARRAY:
        itype = int(np.frombuffer(data[off:off + 4], dtype="<u4")[0])
        n = int(np.frombuffer(data[off + 4:off + 12], dtype="<u8")[0])
        off += 12
        items = []
        for _ in range(n):
            x, off = decode_value(data, off, itype)
            items.append(x)
        return {"array_of": V(itype).name, "items": items}, off
    raise ValueError(vtype)


# ---------------------------------------------------------------------------------------------
# quants.gguf and aligned64.gguf

QUANT_TENSORS = [
    # name, qtype, numpy shape
    ("q8_0", Q.Q8_0, (5, 64)),
    ("q4_0", Q.Q4_0, (5, 64)),
    ("q4_1", Q.Q4_1, (5, 64)),
    ("q5_0", Q.Q5_0, (5, 96)),
    ("q5_1", Q.Q5_1, (5, 96)),
    ("q8_0_3d", Q.Q8_0, (2, 3, 32)),
]
KQUANT_TENSORS = [
    ("q4_k", Q.Q4_K, (3, 256)),
    ("q5_k", Q.Q5_K, (2, 512)),
    ("q6_k", Q.Q6_K, (3, 256)),
]


def gen_quants(meta_out):
    rng = np.random.default_rng(20240404)
    path = os.path.join(OUT, "quants.gguf")
    w = gguf.GGUFWriter(path, arch="quanttest")
    # every value type, in a fixed order
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float32("test.f32", 3.25)
    w.add_float64("test.f64", -1.0e300)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "h\u00e9llo, w\u00f6rld \u2603 \U0001F600")
    w.add_string("test.empty_string", "")
    w.add_key_value("test.arr_u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_i16", [-1, 2, -32768], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.arr_u64", [0, 1, 18446744073709551615], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.arr_i64", [-5, 5], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("test.arr_f32", [0.5, -2.0, 1e-3], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.arr_f64", [0.1, 1e100], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("test.arr_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_array("test.arr_str", ["a", "", "\u00fcber", "x y"])
    w.add_array("test.arr_nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("test.arr_nested_str", [["a", "b"], ["c"]])
    w.add_array("test.arr_nested3", [[[1, 2], [3]], [[4]]])

    expected = {}
    for name, qt, shape in QUANT_TENSORS:
        data = special_rows(shape if len(shape) == 2 else (int(np.prod(shape[:-1])), shape[-1]), rng).reshape(shape)
        q = gguf.quants.quantize(data, qt)
        w.add_tensor(name, q, raw_dtype=qt)
        expected[name] = gguf.quants.dequantize(q, qt).astype(np.float32).reshape(shape)
    for name, qt, shape in KQUANT_TENSORS:
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        n_blocks = int(np.prod(shape)) // bs
        raw = kquant_blocks(rng, qt, n_blocks).reshape(shape[0], -1)
        w.add_tensor(name, raw, raw_dtype=qt)
        expected[name] = gguf.quants.dequantize(raw, qt).astype(np.float32).reshape(shape)
    # plain float types, with special values
    f32 = rng.normal(0, 1, size=(3, 7)).astype(np.float32)
    f32[0, :4] = [0.0, -0.0, np.inf, -np.inf]
    f32[1, 0] = np.float32(1e-40)  # subnormal
    w.add_tensor("f32", f32)
    expected["f32"] = f32
    f32_3d = rng.normal(0, 1, size=(2, 3, 4)).astype(np.float32)
    w.add_tensor("f32_3d", f32_3d)
    expected["f32_3d"] = f32_3d
    f16 = rng.normal(0, 10, size=(5, 9)).astype(np.float16)
    f16[0, :5] = [0.0, -0.0, np.inf, 65504.0, 6e-8]  # incl. max and a subnormal
    w.add_tensor("f16", f16)
    expected["f16"] = f16.astype(np.float32)
    bf16_src = rng.normal(0, 3, size=(4, 33)).astype(np.float32)
    bf16_src[0, :3] = [0.0, -np.inf, 1e-39]
    bf = gguf.quants.quantize(bf16_src, Q.BF16)
    w.add_tensor("bf16", bf, raw_dtype=Q.BF16)
    expected["bf16"] = gguf.quants.dequantize(bf, Q.BF16).astype(np.float32).reshape(4, 33)
    # a 1-d tensor
    vec = rng.normal(0, 1, size=(10,)).astype(np.float32)
    w.add_tensor("f32_vec", vec)
    expected["f32_vec"] = vec
    # a known type we do not dequantise
    iq = rng.integers(0, 256, size=(2, 18), dtype=np.uint8)
    iq[:, 0:2] = f16_scales(rng, 2).view(np.uint8).reshape(2, 2)
    w.add_tensor("iq4_nl", iq, raw_dtype=Q.IQ4_NL)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file({k: np.ascontiguousarray(v) for k, v in sorted(expected.items())},
              os.path.join(OUT, "quants.expected.safetensors"))
    md, tensors, data_offset, alignment = reader_metadata(path)
    meta_out["quants"] = {"metadata": md, "tensors": tensors, "data_offset": data_offset, "alignment": alignment,
                          "file_size": os.path.getsize(path), "supported": sorted(expected.keys())}

    # general.alignment = 64
    path = os.path.join(OUT, "aligned64.gguf")
    w = gguf.GGUFWriter(path, arch="quanttest")
    w.add_custom_alignment(64)
    vals = {}
    a = np.arange(3, dtype=np.float32) + 0.5
    b = (np.arange(10, dtype=np.float32) - 5).astype(np.float16)
    c = rng.normal(0, 1, size=(2, 32)).astype(np.float32)
    cq = gguf.quants.quantize(c, Q.Q8_0)
    w.add_tensor("a", a)
    w.add_tensor("b", b)
    w.add_tensor("c", cq, raw_dtype=Q.Q8_0)
    vals["a"] = a.tolist()
    vals["b"] = b.astype(np.float32).tolist()
    vals["c"] = gguf.quants.dequantize(cq, Q.Q8_0).astype(np.float32).reshape(-1).tolist()
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    md, tensors, data_offset, alignment = reader_metadata(path)
    meta_out["aligned64"] = {"metadata": md, "tensors": tensors, "data_offset": data_offset,
                             "alignment": alignment, "values": vals}


# ---------------------------------------------------------------------------------------------
# tiny-llama.gguf

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 32, 2, 4, 2, 64, 320
HEAD_DIM = HIDDEN // HEADS
CTX, EPS, THETA = 256, 1e-5, 100000.0

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog. The dog did not mind; it was asleep.",
    "A model registry keeps every version of a model, and merging task models into one model",
    "needs careful bookkeeping: which tasks were merged, with which weights, and when.",
    "Tokenization splits text into pieces. Byte-level BPE never fails: every byte has a token.",
    "It's here, they're there, we've seen it, I'm sure you'll agree, he'd say.",
    "def tokenize(text):\n    ids = []\n    for word in text.split():\n        ids.append(word)\n    return ids\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 65536 3.14159 and 2024-01-15.",
    "Le caf\u00e9 \u00e9tait ferm\u00e9, mais la cr\u00e8me br\u00fbl\u00e9e restait d\u00e9licieuse.",
    "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\nHi! How can I help?<|im_end|>\n",
]

CORPUS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space and  double  spaces",
    "trailing spaces   ",
    "line one\nline two\n\nline four",
    "tabs\tand\ttabs",
    "Numbers 1234567 and 3.14159 and 2024-01-15",
    "x1 = y22 + z333",
    "It's they're we've I'm you'll he'd",
    "def f(x):\n    return x * 2\n",
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "emoji \U0001F600\U0001F44D and flags \U0001F1EB\U0001F1F7",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<think>inner</think>more",
    "<|im_end|><|im_end|>",
    "    indented",
    "!!!???...",
    "",
    " ",
    "mixedCASE Words AND MORE",
]


def train_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - 1, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN_TEXT * 3, trainer)
    tok.add_tokens([AddedToken("<think>", normalized=False, special=False)])
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB, tok.get_vocab_size(with_added_tokens=True)
    return tok


def permute(w, n_head, n_head_kv):
    """llama.cpp's converter permutation of Q/K rows (what the GGUF stores)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# per layer, the stored type of each tensor
LAYER_TYPES = [
    {"attn_q": Q.Q4_1, "attn_k": Q.Q5_0, "attn_v": Q.Q4_0, "attn_output": Q.Q8_0,
     "ffn_gate": Q.Q5_1, "ffn_up": Q.F16, "ffn_down": Q.BF16},
    {"attn_q": Q.Q8_0, "attn_k": Q.Q4_1, "attn_v": Q.F16, "attn_output": Q.Q4_0,
     "ffn_gate": Q.BF16, "ffn_up": Q.Q5_0, "ffn_down": Q.F32},
]
HF_OF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_weights(rng):
    w = {"model.embed_tokens.weight": rng.normal(0, 0.5, (VOCAB, HIDDEN)),
         "model.norm.weight": 1 + 0.1 * rng.normal(0, 1, (HIDDEN,)),
         "lm_head.weight": rng.normal(0, 0.5, (VOCAB, HIDDEN))}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, 0.3, (HEADS * HEAD_DIM, HIDDEN))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, 0.3, (KV_HEADS * HEAD_DIM, HIDDEN))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, 0.3, (KV_HEADS * HEAD_DIM, HIDDEN))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, 0.3, (HIDDEN, HEADS * HEAD_DIM))
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.3, (FFN, HIDDEN))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, 0.3, (FFN, HIDDEN))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, 0.3, (HIDDEN, FFN))
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, (HIDDEN,))
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, (HIDDEN,))
    return {k: v.astype(np.float32) for k, v in w.items()}


def add_stored(w, name, data, qt):
    if qt == Q.F32:
        w.add_tensor(name, data.astype(np.float32))
    elif qt == Q.F16:
        w.add_tensor(name, data.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(data, qt), raw_dtype=qt)


def stored_roundtrip(data, qt):
    """What a reader dequantises from `data` stored as `qt` (numpy shape kept)."""
    if qt == Q.F32:
        return data.astype(np.float32)
    if qt == Q.F16:
        return data.astype(np.float16).astype(np.float32)
    return gguf.quants.dequantize(gguf.quants.quantize(data, qt), qt).astype(np.float32).reshape(data.shape)


def write_llama(path, hf, tok, tied):
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_name("Tiny Llama Fixture")
    w.add_context_length(CTX)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(THETA)
    w.add_layer_norm_rms_eps(EPS)
    w.add_file_type(3)
    w.add_vocab_size(VOCAB)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_add_space_prefix(False)
    w.add_add_bos_token(False)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    added = {a.content: a for a in tok.get_added_tokens_decoder().values()}
    types = []
    for t in tokens:
        if t in added:
            types.append(3 if added[t].special else 4)
        else:
            types.append(1)
    w.add_token_list(tokens)
    w.add_token_types(types)
    merges = json.loads(tok.to_str())["model"]["merges"]
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_chat_template("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    w.add_quantization_version(2)

    add_stored(w, "token_embd.weight", hf["model.embed_tokens.weight"], Q.Q8_0)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for g in ("attn_norm", "ffn_norm"):
            add_stored(w, f"blk.{i}.{g}.weight", hf[p + HF_OF[g] + ".weight"], Q.F32)
        for g, qt in LAYER_TYPES[i].items():
            data = hf[p + HF_OF[g] + ".weight"]
            if g == "attn_q":
                data = permute(data, HEADS, HEADS)
            elif g == "attn_k":
                data = permute(data, HEADS, KV_HEADS)
            add_stored(w, f"blk.{i}.{g}.weight", data, qt)
    add_stored(w, "output_norm.weight", hf["model.norm.weight"], Q.F32)
    if not tied:
        add_stored(w, "output.weight", hf["lm_head.weight"], Q.Q5_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def numpy_expected(hf, tied):
    """Our own independent expectation (dequantise what was stored, then undo the permutation
    as transformers' legacy loader does); checked against transformers' load below."""
    def unpermute(w, n_head, n_kv):
        if n_kv is not None and n_head != n_kv:
            n_head = n_kv
        dim = w.shape[0] // n_head // 2
        return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)
    out = {"model.embed_tokens.weight": stored_roundtrip(hf["model.embed_tokens.weight"], Q.Q8_0),
           "model.norm.weight": hf["model.norm.weight"]}
    if not tied:
        out["lm_head.weight"] = stored_roundtrip(hf["lm_head.weight"], Q.Q5_1)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = hf[p + "input_layernorm.weight"]
        out[p + "post_attention_layernorm.weight"] = hf[p + "post_attention_layernorm.weight"]
        for g, qt in LAYER_TYPES[i].items():
            name = p + HF_OF[g] + ".weight"
            data = hf[name]
            if g == "attn_q":
                out[name] = unpermute(stored_roundtrip(permute(data, HEADS, HEADS), qt), HEADS, HEADS)
            elif g == "attn_k":
                out[name] = unpermute(stored_roundtrip(permute(data, HEADS, KV_HEADS), qt), HEADS, KV_HEADS)
            else:
                out[name] = stored_roundtrip(data, qt)
    return out


def gen_llama(meta_out):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    rng = np.random.default_rng(7)
    hf = hf_weights(rng)
    tok = train_tokenizer()
    main = os.path.join(OUT, "tiny-llama.gguf")
    tied = os.path.join(OUT, "tiny-llama-tied.gguf")
    write_llama(main, hf, tok, tied=False)
    write_llama(tied, hf, tok, tied=True)

    # Oracle 1: transformers' GGUF load.
    model = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="tiny-llama.gguf", dtype=torch.float32)
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    mine = numpy_expected(hf, tied=False)
    assert set(sd) == set(mine), (sorted(set(sd) ^ set(mine)))
    for k in sd:
        assert sd[k].shape == mine[k].shape, k
        assert np.array_equal(sd[k], mine[k]), (k, float(np.abs(sd[k] - mine[k]).max()))
    save_file({k: np.ascontiguousarray(sd[k]) for k in sorted(sd)}, os.path.join(OUT, "tiny-llama.expected.safetensors"))

    model_t = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="tiny-llama-tied.gguf", dtype=torch.float32)
    assert model_t.config.tie_word_embeddings is True
    sd_t = model_t.state_dict()
    for k, v in sd_t.items():
        if k == "lm_head.weight":
            assert np.array_equal(v.numpy(), sd["model.embed_tokens.weight"])
        else:
            assert np.array_equal(v.numpy(), sd[k]), k

    cfg = AutoConfig.from_pretrained(OUT, gguf_file="tiny-llama.gguf").to_dict()
    cfg_keys = ["model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "vocab_size",
                "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"]
    config = {k: cfg.get(k) for k in cfg_keys}
    config["rope_theta"] = (cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta"))

    # Oracle 2: the trained tokenizer itself (the vocabulary's origin), and transformers' GGUF tokenizer.
    ttok = AutoTokenizer.from_pretrained(OUT, gguf_file="tiny-llama.gguf")
    corpus = []
    for text in CORPUS:
        ref = tok.encode(text, add_special_tokens=False).ids
        tf = ttok.encode(text, add_special_tokens=False)
        tf_special = ttok.encode(text, add_special_tokens=True)
        corpus.append({"text": text, "ids": ref, "transformers_ids": tf, "transformers_ids_special": tf_special,
                       "decoded": tok.decode(ref, skip_special_tokens=False)})
    vocab = tok.get_vocab(with_added_tokens=True)
    meta_out["tiny_llama"] = {
        "config": config,
        "tensors": {k: list(v.shape) for k, v in sorted(sd.items())},
        "vocab_size": len(vocab),
        "merges": len(json.loads(tok.to_str())["model"]["merges"]),
        "special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "user_defined_tokens": ["<think>"],
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
        "corpus": corpus,
        "reference_tokenizer_pre_tokenizer": json.loads(tok.to_str())["pre_tokenizer"],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f != "README.md":
            os.remove(os.path.join(OUT, f))
    meta = {"generator": versions()}
    gen_quants(meta)
    gen_llama(meta)
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
