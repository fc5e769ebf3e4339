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

# With other processes on the 2 cores, OpenMP's default active spin-waiting at barriers made every
# elementwise op cost a scheduler quantum (a 16x35-token forward took 18 s instead of 2.5 s).
# Passive waiting fixes it; it must be set before torch (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TASKS_DIR = os.path.join(ROOT, "examples", "tasks")
ADAPTERS_DIR = os.path.join(ROOT, "examples", "adapters")
DEFAULT_BASE = os.path.join(ROOT, "bench", ".cache", "smollm2-bf16")
TASKS = ["sentiment", "topic", "arithmetic", "dates", "entities"]
BASE_NAME = "SmolLM2-135M-Instruct"


def set_threads(n=None):
    n = n or int(os.environ.get("CL_THREADS", "2"))
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
    # Like the Swift TaskEvaluator: keep at least one context token and one continuation token.
    n = max(1, min(n, len(full) - 1))
    return full, n


@torch.inference_mode()
def continuation_logprobs(model, seqs, batch_size=32, pad_id=0):
    """Reference scorer. seqs: list of (ids, start). Returns list of (sum logprob, n continuation
    tokens): one forward of the full sequence each (right padding, lm_head only where needed)."""
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
        h = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        for r, i in enumerate(idx):
            s, start = seqs[i]
            lp = torch.log_softmax(model.lm_head(h[r, start - 1:len(s) - 1]).float(), -1)
            v = lp.gather(-1, torch.tensor(s[start:]).unsqueeze(-1))
            out[i] = (float(v.sum()), int(v.numel()))
    return out


def _cache_kw(module):
    """transformers 5.24 renamed LlamaModel.forward's past_key_values to cache (old name deprecated)."""
    import inspect
    return "cache" if "cache" in inspect.signature(type(module).forward).parameters else "past_key_values"


@torch.inference_mode()
def _score_group(model, groups, pad_id):
    """groups: list of (context ids, [continuation ids per choice]); all choices of a group share
    the context. The context is run once (right-padded batch, KV cache kept); then every choice's
    tokens run on a copy of its context's cache. Returns [[(sum, n) per choice] per group]."""
    B = len(groups)
    P = max(len(c) for c, _ in groups)
    ids = torch.full((B, P), pad_id, dtype=torch.long)
    pmask = torch.zeros((B, P), dtype=torch.long)
    for r, (c, _) in enumerate(groups):
        ids[r, :len(c)] = torch.tensor(c)
        pmask[r, :len(c)] = 1
    from transformers import DynamicCache
    cache = DynamicCache(config=model.config)
    ckw = _cache_kw(model.model)
    h = model.model(input_ids=ids, attention_mask=pmask, use_cache=True, **{ckw: cache}).last_hidden_state
    last = torch.stack([h[r, len(c) - 1] for r, (c, _) in enumerate(groups)])
    first_lp = torch.log_softmax(model.lm_head(last).float(), -1)          # [B, V]
    rows = [(g, k) for g, (_, conts) in enumerate(groups) for k in range(len(conts))]
    res = [[None] * len(conts) for _, conts in groups]
    C = max(len(groups[g][1][k]) for g, k in rows)
    if C == 1:
        for g, k in rows:
            t = groups[g][1][k][0]
            res[g][k] = (float(first_lp[g, t]), 1)
        return res
    cache.batch_select_indices(torch.tensor([g for g, _ in rows]))
    cids = torch.full((len(rows), C), pad_id, dtype=torch.long)
    cmask = torch.zeros((len(rows), C), dtype=torch.long)
    pos = torch.zeros((len(rows), C), dtype=torch.long)
    for r, (g, k) in enumerate(rows):
        t = groups[g][1][k]
        cids[r, :len(t)] = torch.tensor(t)
        cmask[r, :len(t)] = 1
        pos[r] = len(groups[g][0]) + torch.arange(C)
    mask = torch.cat([pmask[[g for g, _ in rows]], cmask], dim=1)
    h2 = model.model(input_ids=cids, attention_mask=mask, position_ids=pos, use_cache=True,
                     **{ckw: cache}).last_hidden_state
    for r, (g, k) in enumerate(rows):
        t = groups[g][1][k]
        total = float(first_lp[g, t[0]])
        if len(t) > 1:
            lp = torch.log_softmax(model.lm_head(h2[r, :len(t) - 1]).float(), -1)
            total += float(lp.gather(-1, torch.tensor(t[1:]).unsqueeze(-1)).sum())
        res[g][k] = (total, len(t))
    return res


def score_items(model, tok, items, batch_size=16):
    """Per item: list of (score_sum, score_mean) per choice. Choices whose shared prefix with the
    prompt is the same are scored from one pass over that prefix (in practice: the whole prompt)."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    groups, where = [], []   # where[i] = list of (group index, position in group) per choice
    for it in items:
        by_ctx, w = {}, []
        for c in it["choices"]:
            full, start = encode(tok, it["prompt"], c)
            key = tuple(full[:start])
            if key not in by_ctx:
                by_ctx[key] = len(groups)
                groups.append((list(key), []))
            g = by_ctx[key]
            w.append((g, len(groups[g][1])))
            groups[g][1].append(full[start:])
        where.append(w)
    order = sorted(range(len(groups)), key=lambda g: len(groups[g][0]))
    scored = [None] * len(groups)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        for g, r in zip(idx, _score_group(model, [groups[g] for g in idx], pad)):
            scored[g] = r
    return [[(scored[g][k][0], scored[g][k][0] / scored[g][k][1]) for g, k in w] for w in where]


def score_items_reference(model, tok, items, batch_size=32):
    """Same result as score_items, one full forward per (prompt + choice); used to check it."""
    seqs, spans = [], []
    for it in items:
        a = len(seqs)
        for c in it["choices"]:
            seqs.append(encode(tok, it["prompt"], c))
        spans.append((a, len(seqs)))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    lps = continuation_logprobs(model, seqs, batch_size, pad)
    return [[(s, s / n) for s, n in lps[a:b]] for a, b in spans]


def accuracy(model, tok, path_or_items, limit=None, batch_size=16):
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
    set_threads()
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
