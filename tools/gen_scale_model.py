#!/usr/bin/env python3
"""Write the 7B-class checkpoint `make bench-scale` measures, and two PEFT LoRA adapters for it.

    python3 tools/gen_scale_model.py OUT_DIR --tokenizer-from DIR [--layers 32]

A Llama-shaped model of 6.1B parameters (hidden 4096, 32 layers, intermediate 11008, 32 heads,
8 KV heads, vocab 49152 with SmolLM2's tokenizer, untied lm_head), bf16, weights N(0, 0.02) from
a seeded generator (norms 1.0): 12.1 GB. Streamed tensor by tensor into one safetensors file,
so it never holds more than one tensor. Adapters: r=8, alpha=16 on q_proj and v_proj of every
layer (PEFT's file layout), seeds 1 and 2. numpy only. Checks free disk space first.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

HIDDEN, INTER, HEADS, KV, VOCAB = 4096, 11008, 32, 8, 49152


def shapes(layers):
    head_dim = HIDDEN // HEADS
    out = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (HIDDEN,)), (p + "post_attention_layernorm.weight", (HIDDEN,)),
                (p + "self_attn.q_proj.weight", (HIDDEN, HIDDEN)), (p + "self_attn.k_proj.weight", (KV * head_dim, HIDDEN)),
                (p + "self_attn.v_proj.weight", (KV * head_dim, HIDDEN)), (p + "self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
                (p + "mlp.gate_proj.weight", (INTER, HIDDEN)), (p + "mlp.up_proj.weight", (INTER, HIDDEN)),
                (p + "mlp.down_proj.weight", (HIDDEN, INTER))]
    out += [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]
    return out


def bf16(x):
    """float32 -> bfloat16 bits, round to nearest even."""
    b = x.astype(np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, produce, dtype="BF16", elem=2):
    """Streams `produce(name, shape)` (uint16/float32 arrays) into one safetensors file."""
    header, offset = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * elem
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in tensors:
            f.write(produce(name, shape).tobytes())
    os.replace(tmp, path)
    return offset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from", required=True, help="an HF directory with SmolLM2's tokenizer files")
    ap.add_argument("--layers", type=int, default=32)
    a = ap.parse_args()
    table = shapes(a.layers)
    need = sum(int(np.prod(s)) for _, s in table) * 2
    os.makedirs(a.out, exist_ok=True)
    free = shutil.disk_usage(a.out).free
    if free < need * 1.1 + (1 << 30):
        sys.exit(f"gen_scale_model: {a.out} has {free / 1e9:.1f} GB free; the model needs {need / 1e9:.1f} GB "
                 "(and `make bench-scale` about 3.5x that for the store and an export)")
    base = os.path.join(a.out, "base")
    os.makedirs(base, exist_ok=True)
    model = os.path.join(base, "model.safetensors")
    if not os.path.exists(model) or os.path.getsize(model) < need:
        rng = np.random.default_rng(20261207)

        def produce(name, shape):
            if len(shape) == 1:
                return bf16(np.ones(shape, dtype=np.float32))
            return bf16(rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02))
        write_safetensors(model, table, produce)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
              "intermediate_size": INTER, "num_hidden_layers": a.layers, "num_attention_heads": HEADS,
              "num_key_value_heads": KV, "vocab_size": VOCAB, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
              "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(base, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(a.tokenizer_from, name)
        if os.path.exists(src):
            shutil.copy(src, base)
    head_dim = HIDDEN // HEADS
    for seed in (1, 2):
        d = os.path.join(a.out, f"adapter-{seed}")
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(seed)
        tensors = []
        for i in range(a.layers):
            for proj, out_dim in (("q_proj", HIDDEN), ("v_proj", KV * head_dim)):
                p = f"base_model.model.model.layers.{i}.self_attn.{proj}."
                tensors += [(p + "lora_A.weight", (8, HIDDEN)), (p + "lora_B.weight", (out_dim, 8))]
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors,
                          lambda n, s: (rng.standard_normal(s, dtype=np.float32) * np.float32(0.01)), dtype="F32", elem=4)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"],
                       "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False, "task_type": "CAUSAL_LM",
                       "base_model_name_or_path": "scale-base"}, f, indent=1)
    print(f"wrote {a.out}: {need / 1e9:.1f} GB model and two q/v adapters")


if __name__ == "__main__":
    main()
