#!/usr/bin/env python3
"""Generate golden fixtures for the Swift Llama-family forward pass (LlamaModel).

The oracle is HF transformers (eager attention, float32), never our Swift code.

    bash tools/setup-venv.sh && tools/.venv/bin/python tools/gen_llama_fixtures.py

Output: Tests/Fixtures/llama/<name>/ (the folder is wiped and rewritten)
  config.json, generation_config.json, model.safetensors   (save_pretrained)
  golden.safetensors                                       (reference outputs, see README.md)

Models are tiny, seeded and randomised with larger-than-default weights so that errors are
not hidden by tiny activations. The oracle is each saved checkpoint reloaded by transformers
in float32 (bf16/f16 weights upcast exactly, rotary inv_freq recomputed in f32): the Swift
engine computes in f32 from the same stored weights, so the comparison isolates the forward
pass. Each sample runs alone (batch 1, no padding). See the fixtures README for the keys.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "llama"

OUTLIER_RATIO = 1.1  # ratio for the meanExcludingFirstAndOutliers golden pooling


def models() -> list[dict]:
    """The fixture models: name, config, storage dtype."""
    return [
        dict(
            name="llama-gqa",
            seed=1,
            dtype=torch.float32,
            config=LlamaConfig(
                vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            ),
        ),
        dict(
            # Tied embeddings (no lm_head.weight in the file), head_dim 10 != hidden/heads (5 rope pairs),
            # linear rope scaling, attention_bias (q/k/v/o) and mlp_bias.
            name="llama-tied-linear",
            seed=2,
            dtype=torch.float32,
            config=LlamaConfig(
                vocab_size=96, hidden_size=48, intermediate_size=56, num_hidden_layers=3,
                num_attention_heads=3, num_key_value_heads=1, head_dim=10, max_position_embeddings=64,
                rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "linear", "factor": 2.5, "rope_theta": 1000.0},
            ),
        ),
        dict(
            name="qwen2-bias",
            seed=3,
            dtype=torch.float16,
            config=Qwen2Config(
                vocab_size=160, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            ),
        ),
        dict(
            # llama3 rope with a small original context so all three frequency bands occur;
            # head_dim 32 > hidden/heads (16 rope pairs: the SIMD path).
            name="llama3-bf16",
            seed=4,
            dtype=torch.bfloat16,
            config=LlamaConfig(
                vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=1, head_dim=32, max_position_embeddings=128,
                rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                 "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 32},
            ),
        ),
        dict(
            # Mistral with a sliding window shorter than the longest sample.
            name="mistral-window",
            seed=5,
            dtype=torch.float32,
            config=MistralConfig(
                vocab_size=112, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=5,
                bos_token_id=1, eos_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            ),
        ),
    ]


def randomise(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Weights with visible magnitudes: norms ~ N(1, 0.2), embeddings N(0, 1), linears N(0, 0.2),
    biases N(0, 0.2)."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def sample_inputs(vocab: int, gen: torch.Generator) -> list[list[int]]:
    lengths = [7, 2, 20, 13]
    return [torch.randint(3, vocab, (n,), generator=gen).tolist() for n in lengths]


def outlier_pool(states: torch.Tensor, ratio: float) -> torch.Tensor:
    """[tokens, hidden] -> [hidden]: mean over positions 1... whose L2 norm <= ratio * median."""
    rest = states[1:].double()
    norms = rest.norm(dim=-1).numpy()
    med = float(np.median(norms))
    keep = norms <= ratio * med
    margin = np.min(np.abs(norms - ratio * med) / (ratio * med))
    if margin < 1e-4:
        print(f"    warning: an outlier norm is within {margin:.1e} of the threshold", file=sys.stderr)
    return rest[torch.from_numpy(keep)].mean(dim=0)


def generate(spec: dict) -> dict:
    name, cfg, dtype = spec["name"], spec["config"], spec["dtype"]
    cfg._attn_implementation = "eager"
    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()
    randomise(model, gen)

    out_dir = OUT / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.to(dtype).save_pretrained(out_dir)
    for f in out_dir.iterdir():
        f.chmod(0o644)
    # The oracle is the saved checkpoint as transformers loads it in f32: weights exactly as
    # stored (rounded to `dtype`), rotary inv_freq recomputed in f32 (converting the in-memory
    # model instead would keep a bf16-rounded inv_freq buffer).
    model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()

    L = cfg.num_hidden_layers
    samples = sample_inputs(cfg.vocab_size, gen)
    golden: dict[str, torch.Tensor] = {}
    per_token = []
    with torch.no_grad():
        for i, ids in enumerate(samples):
            inp = torch.tensor([ids])
            out = model(input_ids=inp, output_hidden_states=True, use_cache=False)
            hs = torch.stack([h[0] for h in out.hidden_states])  # [L+1, n, H]
            assert hs.shape[0] == L + 1
            golden[f"sample.{i}.input_ids"] = inp[0].to(torch.int64)
            golden[f"sample.{i}.hidden_states"] = hs.float().contiguous()
            golden[f"sample.{i}.logits_last"] = out.logits[0, -1].float().contiguous()
            per_token.append(hs)

        # Final-norm check: the last entry equals norm(output of the last decoder layer).
        ids0 = torch.tensor([samples[0]])
        captured = {}
        hook = model.model.layers[-1].register_forward_hook(lambda m, a, o: captured.setdefault("o", o[0] if isinstance(o, tuple) else o))
        out = model(input_ids=ids0, output_hidden_states=True, use_cache=False)
        hook.remove()
        raw_last = captured["o"][0]
        normed = model.model.norm(raw_last)
        assert torch.allclose(out.hidden_states[-1][0], normed), "hidden_states[-1] is not the normed output"
        assert not torch.allclose(out.hidden_states[-1][0], raw_last)

        mean = torch.stack([torch.stack([h[l].double().mean(0) for h in per_token]) for l in range(L + 1)])
        excl = torch.stack([torch.stack([h[l, 1:].double().mean(0) for h in per_token]) for l in range(L + 1)])
        outl = torch.stack([torch.stack([outlier_pool(h[l], OUTLIER_RATIO) for h in per_token]) for l in range(L + 1)])
        golden["pooled.mean"] = mean.float().contiguous()
        golden["pooled.mean_excluding_first"] = excl.float().contiguous()
        golden["pooled.mean_excluding_first_and_outliers"] = outl.float().contiguous()
        golden["pooled.outlier_ratio"] = torch.tensor([OUTLIER_RATIO], dtype=torch.float32)

        # Log-probabilities of continuations given prompts.
        pairs = [(samples[0], samples[1] + [5, 9]), (samples[3][:4], samples[2][:9])]
        for k, (prompt, cont) in enumerate(pairs):
            full = torch.tensor([prompt + cont])
            logits = model(input_ids=full, use_cache=False).logits[0].double()
            lp = torch.log_softmax(logits, dim=-1)
            vals = torch.stack([lp[len(prompt) - 1 + j, t] for j, t in enumerate(cont)])
            golden[f"logprob.{k}.prompt"] = torch.tensor(prompt, dtype=torch.int64)
            golden[f"logprob.{k}.continuation"] = torch.tensor(cont, dtype=torch.int64)
            golden[f"logprob.{k}.values"] = vals.float()

        # Greedy decoding (with KV cache, as generate does) from the third sample's prefix.
        prompt = samples[2][:6]
        stop = [2]
        gen_out = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                                 eos_token_id=stop, pad_token_id=0, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
        new = gen_out[0, len(prompt):].tolist()
        # Check the argmax margins so an f32 summation-order difference cannot flip a token.
        seq = list(prompt)
        margins = []
        for t in new:
            lg = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
            top = torch.topk(lg, 2).values
            margins.append(float(top[0] - top[1]))
            assert int(lg.argmax()) == t
            seq.append(t)
        golden["greedy.prompt"] = torch.tensor(prompt, dtype=torch.int64)
        golden["greedy.output"] = torch.tensor(new, dtype=torch.int64)
        golden["greedy.stop"] = torch.tensor(stop, dtype=torch.int64)
        golden["greedy.max_new_tokens"] = torch.tensor([12], dtype=torch.int64)

    meta = {
        "generator": "tools/gen_llama_fixtures.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
        "attn_implementation": "eager",
        "storage_dtype": str(dtype).replace("torch.", ""),
        "oracle_dtype": "float32",
    }
    # One metadata key: safetensors writes its metadata map in hash order, so several keys
    # would make the bytes differ from run to run.
    save_file(golden, str(out_dir / "golden.safetensors"), metadata={"generator_info": json.dumps(meta, sort_keys=True)})
    (out_dir / "golden.safetensors").chmod(0o644)
    abs_max = [float(per_token_l.abs().max()) for per_token_l in torch.cat([h for h in per_token], dim=1)]
    print(f"{name}: L={L} samples={[len(s) for s in samples]} max|h| per layer={[round(a, 2) for a in abs_max]} "
          f"greedy={new} min margin={min(margins) if margins else None:.3g}")
    return meta


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    metas = [generate(spec) for spec in models()]
    print(json.dumps(metas[0], indent=1))
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"total fixture size: {total} bytes")


if __name__ == "__main__":
    main()
