#!/usr/bin/env python3
"""Competitors for the import benchmarks, one JSON object per run:
  gguf GGUF_FILE OUT_DIR          transformers' GGUF load (gguf_file=) + save_pretrained (bf16)
  lora BASE_DIR ADAPTER_DIR OUT   peft: load base + adapter, merge_and_unload, save_pretrained
  make-adapter BASE_DIR OUT_DIR   a seeded random LoRA (r=8 on q_proj, v_proj) for the lora runs"""
import json, os, resource, sys, time
import torch

torch.set_num_threads(2)
mode = sys.argv[1]
t = time.perf_counter()
if mode == "gguf":
    from transformers import AutoModelForCausalLM
    path = sys.argv[2]
    from transformers import LlamaForCausalLM
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.bfloat16)
    # transformers refuses to save a GGUF-loaded model; copying the weights into a fresh model
    # of the same config is the documented way out.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = LlamaForCausalLM(config).to(torch.bfloat16)
    fresh.load_state_dict(model.state_dict())
    fresh.save_pretrained(sys.argv[3])
elif mode == "lora":
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(sys.argv[2], dtype=torch.bfloat16)
    merged = PeftModel.from_pretrained(base, sys.argv[3]).merge_and_unload()
    merged.save_pretrained(sys.argv[4])
elif mode == "make-adapter":
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(sys.argv[2], dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(sys.argv[3])
print(json.dumps({"mode": mode, "seconds": time.perf_counter() - t,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
