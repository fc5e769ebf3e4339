#!/usr/bin/env python3
"""Write a random bf16 checkpoint with SmolLM2-135M's tensor names and shapes (~270 MB).
Usage: make_checkpoint.py OUT.safetensors [--seed 0]"""
import sys
import torch
from safetensors.torch import save_file

out = sys.argv[1]
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
g = torch.Generator().manual_seed(seed)
hidden, ffn, layers, vocab, heads, kv, hd = 576, 1536, 30, 49152, 9, 3, 64
shapes = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
for i in range(layers):
    p = f"model.layers.{i}."
    shapes.update({
        p + "self_attn.q_proj.weight": (heads * hd, hidden), p + "self_attn.k_proj.weight": (kv * hd, hidden),
        p + "self_attn.v_proj.weight": (kv * hd, hidden), p + "self_attn.o_proj.weight": (hidden, heads * hd),
        p + "mlp.gate_proj.weight": (ffn, hidden), p + "mlp.up_proj.weight": (ffn, hidden),
        p + "mlp.down_proj.weight": (hidden, ffn),
        p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
    })
tensors = {k: (torch.randn(s, generator=g) * 0.05).to(torch.bfloat16) for k, s in shapes.items()}
save_file(tensors, out, metadata={"format": "pt"})
print(f"wrote {out}: {sum(t.numel() for t in tensors.values())} parameters")
