#!/usr/bin/env python3
"""Accuracy of the base model and of every task expert on every task's eval.jsonl.

    python bench/cl/eval_experts.py [--base DIR] [--adapters examples/adapters]
                                    [--out bench/results/cl-experts-python.json] [--limit N]

Each expert is the base (float32) with its LoRA merged in (peft merge_and_unload). Scoring is
common.accuracy: `acc` = argmax of the summed log-probability of the choice tokens, `acc_norm` =
argmax of the mean per token. The JSON is rewritten after every model, and models already in it
(same limit) are skipped, so an interrupted run can be resumed; --redo-tasks T recomputes task
T's column for every model, --redo-experts E recomputes expert E's row (after retraining it).

Derived numbers (from `acc`):
  gain[e]         = expert e on its own task - base on that task
  interference[e] = mean over the other tasks t of (expert e on t - base on t)
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import torch  # noqa: E402


def derive(res, tasks):
    base = res["base"]
    out = {"gain": {}, "interference": {}, "interference_per_task": {}}
    for e, row in res["experts"].items():
        if e in row:
            out["gain"][e] = round(row[e]["acc"] - base[e]["acc"], 4)
        others = {t: round(row[t]["acc"] - base[t]["acc"], 4) for t in tasks if t != e and t in row}
        out["interference_per_task"][e] = others
        if others:
            out["interference"][e] = round(sum(others.values()) / len(others), 4)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=common.DEFAULT_BASE)
    ap.add_argument("--adapters", default=common.ADAPTERS_DIR)
    ap.add_argument("--tasks", default=",".join(common.TASKS))
    ap.add_argument("--out", default=os.path.join(common.ROOT, "bench", "results", "cl-experts-python.json"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--redo-tasks", default="", help="recompute these task columns for every model")
    ap.add_argument("--redo-experts", default="", help="recompute these experts' rows")
    args = ap.parse_args()
    common.set_threads()
    tasks = args.tasks.split(",")
    res = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            res = json.load(f)
        if res.get("settings", {}).get("limit") != args.limit:
            res = {}
    redo_tasks = [t for t in args.redo_tasks.split(",") if t]
    for e in [e for e in args.redo_experts.split(",") if e]:
        res.get("experts", {}).pop(e, None)
    res.setdefault("settings", {
        "base": common.BASE_NAME, "dtype": "float32", "split": "eval", "limit": args.limit,
        "scoring": "sum (acc) and mean (acc_norm) log-prob of the choice tokens after the prompt; "
                   "prompt and prompt+choice tokenized separately without special tokens, "
                   "continuation = tokens after their shared prefix",
        "threads": torch.get_num_threads()})
    res.setdefault("experts", {})
    res.setdefault("eval_seconds", {})

    def save():
        res["derived"] = derive(res, tasks) if "base" in res else {}
        # training logs of the adapters, if present
        train = {}
        for e in tasks:
            p = os.path.join(args.adapters, e, "train_log.json")
            if os.path.exists(p):
                with open(p) as f:
                    lg = json.load(f)
                train[e] = {k: lg[k] for k in ("seed", "steps", "batch", "lr", "r", "alpha", "targets",
                                                "train_items", "threads", "adapter_bytes", "train_seconds")
                            if k in lg}
                train[e]["loss_first"] = lg["loss"][0]
                train[e]["loss_last5_mean"] = round(sum(lg["loss"][-5:]) / 5, 5)
        res["train"] = train
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")

    def run(name, model, tok, row=None):
        row, t0, done = dict(row or {}), time.perf_counter(), []
        for t in tasks:
            if t in row and t not in redo_tasks:
                continue
            done.append(t)
            t1 = time.perf_counter()
            row[t] = common.accuracy(model, tok, common.task_file(t, "eval"), args.limit)
            print(f"{name:>10} on {t:<10} acc {row[t]['acc']:.3f} acc_norm {row[t]['acc_norm']:.3f} "
                  f"({time.perf_counter() - t1:.0f}s)", flush=True)
        key = name if len(done) == len(tasks) else f"{name} ({','.join(done)})"
        res["eval_seconds"][key] = round(time.perf_counter() - t0, 1)
        return row

    def complete(row):
        return row is not None and all(t in row for t in tasks) and not redo_tasks

    if not complete(res.get("base")):
        model, tok = common.load_base(args.base)
        res["base"] = run("base", model, tok, res.get("base"))
        save()
    for e in tasks:
        if complete(res["experts"].get(e)):
            continue
        adir = os.path.join(args.adapters, e)
        if not os.path.exists(os.path.join(adir, "adapter_model.safetensors")):
            print(f"no adapter for {e}, skipped", flush=True)
            continue
        model, tok = common.load_with_adapter(args.base, adir)
        res["experts"][e] = run(e, model, tok, res["experts"].get(e))
        save()
    save()
    print(json.dumps(res["derived"]), flush=True)


if __name__ == "__main__":
    main()
