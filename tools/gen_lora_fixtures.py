#!/usr/bin/env python3
"""Generate the PEFT LoRA fixtures under Tests/Fixtures/lora/.

Oracle: peft (0.21.2) on transformers (5.24.0) / torch (2.13.0+cpu). Each variant wraps a tiny
base model from Fixtures/ with `get_peft_model`, overwrites every adapter weight with seeded
numpy values (torch's own random init differs between CPU kernels), saves the
adapter with `save_pretrained` (adapter_config.json + adapter_model.safetensors), then records
what `merge_and_unload()` makes of the base: only the tensors that differ from the base go to
`expected.safetensors` (every other tensor must come through unchanged).

Variants (base = hf-tiny-llama-sharded, F32, unless noted):
  plain/            r=4, alpha=8 on q_proj, v_proj
  rslora/           r=4, alpha=8, use_rslora, on every linear layer of the blocks
  modules-to-save/  r=4, alpha=16 on q_proj, k_proj; modules_to_save=["lm_head"] (new lm_head values)
  patterns/         r=4, alpha=8 on q_proj, v_proj, embed_tokens; rank_pattern {v_proj: 2},
                    alpha_pattern {layers.1.self_attn.q_proj: 16} (and an embedding LoRA)
  bf16/             base = hf-tiny-llama (BF16): r=4, alpha=8 on q_proj, v_proj, o_proj; adapter in F32
                    (peft's autocast); peft rounds the delta to BF16 before adding, so a merge
                    rounded once may differ by 1 BF16 ulp.
  on-expert/        base = cl-tiny/expert-colour (a fine-tuned model, not the registry's base):
                    r=4, alpha=8 on every block linear

Usage:  bash tools/setup-venv.sh && tools/.venv/bin/python tools/gen_lora_fixtures.py
Deterministic: two runs give byte-identical files.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(FIX, "lora")

from peft import LoraConfig, get_peft_model  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

BLOCK_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

VARIANTS = [
    ("plain", "hf-tiny-llama-sharded", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])),
    ("rslora", "hf-tiny-llama-sharded", dict(r=4, lora_alpha=8, use_rslora=True, target_modules=BLOCK_LINEAR)),
    ("modules-to-save", "hf-tiny-llama-sharded",
     dict(r=4, lora_alpha=16, target_modules=["q_proj", "k_proj"], modules_to_save=["lm_head"])),
    ("patterns", "hf-tiny-llama-sharded",
     dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "embed_tokens"], rank_pattern={"v_proj": 2},
          alpha_pattern={"layers.1.self_attn.q_proj": 16})),
    ("bf16", "hf-tiny-llama", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"])),
    # An adapter trained from a model that is not the registry's base (the sequential loop: each
    # task is fine-tuned from the exported head): the registry must apply it to that model.
    ("on-expert", "cl-tiny/expert-colour", dict(r=4, lora_alpha=8, target_modules=BLOCK_LINEAR)),
]


def versions():
    import importlib.metadata as md
    out = {"python": sys.version.split()[0]}
    for p in ("peft", "transformers", "torch", "safetensors", "numpy"):
        out[p] = md.version(p)
    return out


def gen_variant(name, base_dir, kwargs, seed):
    base_path = os.path.join(FIX, base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_path)
    base_sd = {k: v.detach().clone() for k, v in base.state_dict().items()}
    cfg = LoraConfig(init_lora_weights=False, lora_dropout=0.0, **kwargs)
    pm = get_peft_model(base, cfg)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for pname, p in sorted(pm.named_parameters()):
            if "lora_" in pname:
                vals = rng.normal(0, 0.25, size=tuple(p.shape)).astype(np.float32)
                p.copy_(torch.from_numpy(vals).to(p.dtype))
            elif "modules_to_save" in pname:
                vals = rng.normal(0, 0.5, size=tuple(p.shape)).astype(np.float32)
                p.copy_(torch.from_numpy(vals).to(p.dtype))
    d = os.path.join(OUT, name)
    pm.save_pretrained(d)
    # The config names its base by an absolute path; keep the fixture portable.
    cpath = os.path.join(d, "adapter_config.json")
    with open(cpath) as fh:
        conf = json.load(fh)
    conf["base_model_name_or_path"] = f"Fixtures/{base_dir}"
    # peft keeps target_modules as a set: its order follows Python's string hashing.
    for key in ("target_modules", "modules_to_save"):
        if isinstance(conf.get(key), list):
            conf[key] = sorted(conf[key])
    with open(cpath, "w") as fh:
        json.dump(conf, fh, indent=2, sort_keys=True)
        fh.write("\n")
    if os.path.exists(os.path.join(d, "README.md")):
        os.remove(os.path.join(d, "README.md"))
    merged = pm.merge_and_unload()
    msd = merged.state_dict()
    changed = {}
    for k, v in msd.items():
        if not torch.equal(v, base_sd[k]):
            changed[k] = v.detach().contiguous()
    save_file(dict(sorted(changed.items())), os.path.join(d, "expected.safetensors"), metadata={"format": "pt"})
    return {"base": base_dir, "config": {k: (v if not isinstance(v, set) else sorted(v)) for k, v in kwargs.items()},
            "changed": sorted(changed), "dtype": str(next(iter(msd.values())).dtype).replace("torch.", "")}


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        for f in os.listdir(OUT):
            p = os.path.join(OUT, f)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif f != "README.md":
                os.remove(p)
    os.makedirs(OUT, exist_ok=True)
    meta = {"generator": versions(), "variants": {}}
    for i, (name, base, kwargs) in enumerate(VARIANTS):
        meta["variants"][name] = gen_variant(name, base, kwargs, 1000 + i)
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
