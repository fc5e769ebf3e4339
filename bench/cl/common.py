#!/usr/bin/env python3
"""Shared helpers for the continual-learning benchmark (Python side).

Multiple-choice scoring
-----------------------
For an item {prompt, choices, answer}, every choice c is scored by the log-probability the model
gives to c's tokens after the prompt:
  * prompt and prompt+c are tokenized *separately*, both with add_special_tokens=False
    (SmolLM2's tokenizer has add_bos_token=false, so this equals the default: no BOS, no EOS);
  * the continuation tokens are those of tok(prompt+c) after the longest common prefix with
    tok(prompt) (choices start with a space and prompts end in ":", so in practice the prefix is
    the whole prompt; the LCP rule only matters if BPE merged across the boundary);
  * score_sum  = sum of log p(token | everything before it) over the continuation tokens,
    score_mean = score_sum / number of continuation tokens (length-normalised).
`acc` picks argmax score_sum, `acc_norm` picks argmax score_mean (ties -> first choice).
The same tokenization is used for training (train_lora.py): loss only on the continuation tokens.

CLI:  python bench/cl/common.py --base DIR [--adapter DIR] [--tasks a,b] [--split eval] [--limit N]
prints one JSON line per task: {"task", "split", "n", "acc", "acc_norm"}.
"""
import argparse
import json
import os
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TASKS_DIR = os.path.join(ROOT, "examples", "tasks")
ADAPTERS_DIR = os.path.join(ROOT, "examples", "adapters")
DEFAULT_BASE = os.path.join(ROOT, "bench", ".cache", "smollm2-bf16")
TASKS = ["sentiment", "topic", "arithmetic", "dates", "entities"]
BASE_NAME = "SmolLM2-135M-Instruct"


def set_threads(n=2):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def load_base(base_dir=DEFAULT_BASE, dtype=torch.float32):
    """Base model (float32 by default: CPU training/eval) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if not os.path.isdir(base_dir):
        raise SystemExit(f"base model directory missing: {base_dir}")
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    model.eval()
    return model, tok


def load_with_adapter(base_dir, adapter_dir, dtype=torch.float32):
    from peft import PeftModel
    model, tok = load_base(base_dir, dtype)
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    model.eval()
    return model, tok


def load_jsonl(path, limit=None):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def task_file(task, split):
    return os.path.join(TASKS_DIR, task, f"{split}.jsonl")


def encode(tok, prompt, continuation):
    """(ids of prompt+continuation, index where the continuation tokens start)."""
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    full = tok(prompt + continuation, add_special_tokens=False)["input_ids"]
    n = 0
    while n < len(p) and n < len(full) and p[n] == full[n]:
        n += 1
    if n == len(full) or n == 0:
        raise ValueError(f"empty continuation or context: {prompt!r} + {continuation!r}")
    return full, n


@torch.inference_mode()
def continuation_logprobs(model, seqs, batch_size=32, pad_id=0):
    """seqs: list of (ids, start). Returns list of (sum logprob, n continuation tokens)."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
    out = [None] * len(seqs)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        L = max(len(seqs[i][0]) for i in idx)
        ids = torch.full((len(idx), L), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), L), dtype=torch.long)
        for r, i in enumerate(idx):
            s = seqs[i][0]
            ids[r, :len(s)] = torch.tensor(s)
            mask[r, :len(s)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt_lp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # [B, L-1], pos t predicts t+1
        for r, i in enumerate(idx):
            s, start = seqs[i]
            v = tgt_lp[r, start - 1:len(s) - 1]
            out[i] = (float(v.sum()), int(v.numel()))
    return out


def score_items(model, tok, items, batch_size=32):
    """Per item: list of (score_sum, score_mean) per choice."""
    seqs, spans = [], []
    for it in items:
        a = len(seqs)
        for c in it["choices"]:
            seqs.append(encode(tok, it["prompt"], c))
        spans.append((a, len(seqs)))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    lps = continuation_logprobs(model, seqs, batch_size, pad)
    return [[(s, s / n) for s, n in lps[a:b]] for a, b in spans]


def accuracy(model, tok, path_or_items, limit=None, batch_size=32):
    items = load_jsonl(path_or_items, limit) if isinstance(path_or_items, str) else path_or_items
    scores = score_items(model, tok, items, batch_size)
    hit = hit_norm = 0
    for it, sc in zip(items, scores):
        gold = it["choices"].index(it["answer"])
        best = max(range(len(sc)), key=lambda j: (sc[j][0], -j))
        best_n = max(range(len(sc)), key=lambda j: (sc[j][1], -j))
        hit += best == gold
        hit_norm += best_n == gold
    n = len(items)
    return {"n": n, "acc": hit / n, "acc_norm": hit_norm / n}


def evaluate_tasks(model, tok, tasks=TASKS, split="eval", limit=None):
    res = {}
    for t in tasks:
        res[t] = accuracy(model, tok, task_file(t, split), limit)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=DEFAULT_BASE)
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--split", default="eval")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    set_threads(2)
    if args.adapter:
        model, tok = load_with_adapter(args.base, args.adapter)
    else:
        model, tok = load_base(args.base)
    for t in args.tasks.split(","):
        t0 = time.perf_counter()
        r = accuracy(model, tok, task_file(t, args.split), args.limit)
        print(json.dumps({"task": t, "split": args.split, **r, "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
