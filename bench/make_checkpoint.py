#!/usr/bin/env python3
"""Write a random bf16 checkpoint with SmolLM2-135M's tensor names and shapes (~270 MB).
Usage: make_checkpoint.py OUT.safetensors [--seed 0] [--hf-dir DIR]  (with --hf-dir the file is moved into DIR with a config.json)"""
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
if "--hf-dir" in sys.argv:
    # A loadable HF directory around the same weights (SmolLM2-135M's config; tied embeddings).
    import json, os
    d = sys.argv[sys.argv.index("--hf-dir") + 1]
    os.makedirs(d, exist_ok=True)
    os.replace(out, os.path.join(d, "model.safetensors"))
    json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden, "intermediate_size": ffn,
               "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": hd,
               "vocab_size": vocab, "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "max_position_embeddings": 8192,
               "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2},
              open(os.path.join(d, "config.json"), "w"), indent=2)
print(f"wrote {out}: {sum(t.numel() for t in tensors.values())} parameters")
