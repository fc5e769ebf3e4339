#!/usr/bin/env python3
"""Forgetting baseline: sequential LoRA fine-tuning with merging after every task.

    python bench/cl/train_sequential.py [--base DIR] [--tasks sentiment,topic,arithmetic,dates,entities]
        [--steps 40] [--lr 1e-3] [--seed 0] [--first-adapter examples/adapters/sentiment]
        [--work bench/.cache/cl-seq] [--out bench/results/cl-sequential-finetune.json] [--limit N]

model_0 = base (float32). For task k = 1..5: a fresh LoRA (same settings, seed and batch order as
train_lora.py) is trained on task k's train.jsonl starting from model_{k-1}, then merged in
(merge_and_unload) giving model_k; model_k is evaluated on the eval.jsonl of tasks 1..k.
matrix[k][j] = accuracy (`acc`, summed log-prob) of model_k on task j; matrix_norm likewise for acc_norm.

--first-adapter reuses an adapter that train_lora.py trained from the base on task 1 with the
same settings (the computation is identical and deterministic), saving one training run.

Per step, bench/.cache/cl-seq/<k>-<task>/ gets the LoRA delta (relative to model_{k-1}) and the
merged model_k (save_pretrained, float32 = exactly the evaluated weights, ~540 MB each;
--no-save-models skips them). Metrics (over acc): average accuracy after the last task, backward transfer
BWT = mean_{j<T}(a[T][j] - a[j][j]), forgetting per task = max_{k<T} a[k][j] - a[T][j].
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import torch  # noqa: E402
import train_lora  # noqa: E402


def metrics(matrix, tasks):
    T = len(matrix)
    if T == 0:
        return {}
    last = matrix[-1]
    done = [t for t in tasks[:T]]
    out = {"average_accuracy_final": round(sum(last[t] for t in done) / len(done), 4)}
    if T > 1:
        out["bwt"] = round(sum(last[t] - matrix[j][t] for j, t in enumerate(done[:-1])) / (T - 1), 4)
        out["forgetting"] = {t: round(max(matrix[k][t] for k in range(j, T - 1)) - last[t], 4)
                             for j, t in enumerate(done[:-1])}
    out["average_accuracy_per_step"] = [round(sum(row[t] for t in tasks[:k + 1]) / (k + 1), 4)
                                        for k, row in enumerate(matrix)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=common.DEFAULT_BASE)
    ap.add_argument("--tasks", default=",".join(common.TASKS))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first-adapter", default=None)
    ap.add_argument("--work", default=os.path.join(common.ROOT, "bench", ".cache", "cl-seq"))
    ap.add_argument("--out", default=os.path.join(common.ROOT, "bench", "results", "cl-sequential-finetune.json"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-save-models", action="store_true")
    args = ap.parse_args()
    common.set_threads()
    tasks = args.tasks.split(",")
    model, tok = common.load_base(args.base)
    res = {"settings": {"base": common.BASE_NAME, "order": tasks, "steps": args.steps, "lr": args.lr,
                        "batch": args.batch, "seed": args.seed, "r": 8, "alpha": 16, "dropout": 0.0,
                        "targets": train_lora.TARGETS, "split": "eval", "limit": args.limit,
                        "first_adapter": os.path.relpath(args.first_adapter, common.ROOT) if args.first_adapter else None,
                        "threads": torch.get_num_threads()},
           "matrix": [], "matrix_norm": [], "steps": []}

    def save():
        res["metrics"] = metrics(res["matrix"], tasks)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")

    t_all = time.perf_counter()
    for k, task in enumerate(tasks):
        step_dir = os.path.join(args.work, f"{k + 1}-{task}")
        print(f"== step {k + 1}: {task}", flush=True)
        info = {"task": task}
        if k == 0 and args.first_adapter:
            from peft import PeftModel
            pm = PeftModel.from_pretrained(model, args.first_adapter)
            info["reused_adapter"] = os.path.relpath(args.first_adapter, common.ROOT)
            lg = os.path.join(args.first_adapter, "train_log.json")
            if os.path.exists(lg):
                with open(lg) as f:
                    info["train_seconds"] = json.load(f).get("train_seconds")
        else:
            items = common.load_jsonl(common.task_file(task, "train"))
            pm, hist = train_lora.train(model, tok, items, args.steps, args.lr, args.batch, args.seed,
                                        log=lambda m: print(m, flush=True))
            info["train_seconds"] = hist["train_seconds"]
            info["loss_first"] = hist["loss"][0]
            info["loss_last5_mean"] = round(sum(hist["loss"][-5:]) / 5, 5)
            train_lora.save_adapter(pm, os.path.join(step_dir, "adapter"))
        model = pm.merge_and_unload()
        model.eval()
        if not args.no_save_models:
            model.save_pretrained(os.path.join(step_dir, "model"))   # float32: exactly the chain's weights
            tok.save_pretrained(os.path.join(step_dir, "model"))
        row, row_n = {}, {}
        t0 = time.perf_counter()
        for t in tasks[:k + 1]:
            r = common.accuracy(model, tok, common.task_file(t, "eval"), args.limit)
            row[t], row_n[t] = r["acc"], r["acc_norm"]
            print(f"  after {task}: {t:<10} acc {r['acc']:.3f} acc_norm {r['acc_norm']:.3f}", flush=True)
        info["eval_seconds"] = round(time.perf_counter() - t0, 1)
        res["matrix"].append(row)
        res["matrix_norm"].append(row_n)
        res["steps"].append(info)
        save()
    res["total_seconds"] = round(time.perf_counter() - t_all, 1)
    save()
    print(json.dumps(res["metrics"]), flush=True)


if __name__ == "__main__":
    main()
