#!/usr/bin/env python3
"""Train one LoRA task expert on examples/tasks/<task>/train.jsonl.

    python bench/cl/train_lora.py --task T --base DIR --out ADAPTER_DIR [--seed 0] [--steps N]
                                  [--lr 1e-3] [--batch 16] [--eval-split eval] [--no-eval]

* PEFT LoRA r=8, alpha=16, dropout 0 on q,k,v,o,gate,up,down projections of all 30 layers;
  base weights frozen, everything in float32 on CPU.
* Loss: cross-entropy on the answer tokens only (the tokens of prompt+answer after their shared
  prefix with the prompt, exactly as common.encode / the scorer split them), mean over answer tokens
  of the batch; lm_head is only applied at those positions.
* Batches of 16 drawn from a seeded permutation of train.jsonl (reshuffled every epoch); AdamW
  (betas 0.9/0.999, weight decay 0), linear warm-up over 10% of the steps then linear decay to 0.
* Seeded: random, numpy and torch all get --seed (LoRA init uses torch's generator).
* Output: save_pretrained (adapter_config.json + adapter_model.safetensors, float32), then
  adapter_config.json's base_model_name_or_path is rewritten to "SmolLM2-135M-Instruct" (and
  target_modules sorted), peft's template README.md is removed, and train_log.json is written
  (losses, timings, settings, accuracy on the task's eval split unless --no-eval).
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (sets OMP_WAIT_POLICY before torch is imported)
import numpy as np  # noqa: E402
import torch  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config():
    from peft import LoraConfig
    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                      task_type="CAUSAL_LM")


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode_train(tok, items):
    out = []
    for it in items:
        ids, start = common.encode(tok, it["prompt"], it["answer"])
        out.append((ids, start))
    return out


def batch_loss(causal_lm, batch, pad_id):
    """causal_lm: the (LoRA-injected) LlamaForCausalLM. Mean CE over the answer tokens."""
    L = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), L), dtype=torch.long)
    rows, cols, tgts = [], [], []
    for r, (s, start) in enumerate(batch):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
        for p in range(start, len(s)):
            rows.append(r)
            cols.append(p - 1)          # hidden state at p-1 predicts token p
            tgts.append(s[p])
    h = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    logits = causal_lm.lm_head(h[torch.tensor(rows), torch.tensor(cols)]).float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(tgts))


def train(model, tok, items, steps, lr=1e-3, batch_size=16, seed=0, log_every=10, log=print):
    """Wrap `model` (a plain causal LM) in a fresh LoRA and train it in place. Returns (peft model,
    history). Seeds everything with `seed` first, so the LoRA init and batch order are reproducible."""
    from peft import get_peft_model
    seed_all(seed)
    pm = get_peft_model(model, lora_config())
    causal_lm = pm.get_base_model()
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    data = encode_train(tok, items)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rng = random.Random(seed)
    perm, pos = [], 0
    hist = []
    pm.train()
    t0 = time.perf_counter()
    for step in range(steps):
        batch = []
        while len(batch) < batch_size:
            if pos >= len(perm):
                perm, pos = list(range(len(data))), 0
                rng.shuffle(perm)
            batch.append(data[perm[pos]])
            pos += 1
        loss = batch_loss(causal_lm, batch, pad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append(round(loss.item(), 5))
        if log_every and ((step + 1) % log_every == 0 or step == 0 or step + 1 == steps):
            recent = hist[-log_every:]
            log(f"  step {step + 1}/{steps} loss {sum(recent) / len(recent):.4f} "
                f"({time.perf_counter() - t0:.0f}s)")
    pm.eval()
    return pm, {"loss": hist, "train_seconds": round(time.perf_counter() - t0, 1)}


def save_adapter(pm, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    pm.save_pretrained(out_dir, safe_serialization=True)
    cfg_path = os.path.join(out_dir, "adapter_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = common.BASE_NAME
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])   # peft writes them in set order
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    card = os.path.join(out_dir, "README.md")   # peft's empty model-card template (names the local base path)
    if os.path.exists(card):
        os.remove(card)
    weights = os.path.join(out_dir, "adapter_model.safetensors")
    os.chmod(weights, 0o644)
    return os.path.getsize(weights)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True)
    ap.add_argument("--base", default=common.DEFAULT_BASE)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--eval-split", default="eval")
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args()
    common.set_threads()
    model, tok = common.load_base(args.base)
    items = common.load_jsonl(common.task_file(args.task, "train"))
    print(f"{args.task}: {len(items)} train items, {args.steps} steps x {args.batch}, lr {args.lr}, seed {args.seed}", flush=True)
    pm, hist = train(model, tok, items, args.steps, args.lr, args.batch, args.seed,
                     log=lambda m: print(m, flush=True))
    size = save_adapter(pm, args.out)
    log = {"task": args.task, "seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
           "r": 8, "alpha": 16, "dropout": 0.0, "targets": TARGETS, "train_items": len(items),
           "threads": torch.get_num_threads(), "adapter_bytes": size, **hist}
    print(f"saved {args.out} ({size} bytes), trained in {hist['train_seconds']}s", flush=True)
    if not args.no_eval:
        merged = pm.merge_and_unload()
        merged.eval()
        t = time.perf_counter()
        r = common.accuracy(merged, tok, common.task_file(args.task, args.eval_split))
        log["eval"] = {args.eval_split: r, "seconds": round(time.perf_counter() - t, 1)}
        print(json.dumps({"task": args.task, "split": args.eval_split, **r}), flush=True)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
