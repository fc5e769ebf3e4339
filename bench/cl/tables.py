#!/usr/bin/env python3
"""Print the measured matrices as Markdown tables (used for examples/README.md).

    python bench/cl/tables.py [--experts bench/results/cl-experts-python.json]
                              [--sequential bench/results/cl-sequential-finetune.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TASKS = ["sentiment", "topic", "arithmetic", "dates", "entities"]


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", default=os.path.join(ROOT, "bench", "results", "cl-experts-python.json"))
    ap.add_argument("--sequential", default=os.path.join(ROOT, "bench", "results", "cl-sequential-finetune.json"))
    args = ap.parse_args()
    if os.path.exists(args.experts):
        r = json.load(open(args.experts))
        for key, title in (("acc", "acc (summed log-prob)"), ("acc_norm", "acc_norm (mean log-prob per token)")):
            print(f"Accuracy in % on eval.jsonl (200 items per task), {title}; rows = model, columns = task:\n")
            print("| model | " + " | ".join(TASKS) + " |")
            print("| --- |" + " ---: |" * len(TASKS))
            print("| base | " + " | ".join(pct(r["base"][t][key]) for t in TASKS) + " |")
            for e in TASKS:
                if e in r["experts"]:
                    row = r["experts"][e]
                    print(f"| {e} expert | " + " | ".join(
                        (f"**{pct(row[t][key])}**" if t == e else pct(row[t][key])) for t in TASKS) + " |")
            print()
        d = r.get("derived", {})
        tr = r.get("train", {})
        print("| expert | gain on own task (points) | mean change on the other 4 tasks (points) | train seconds | adapter bytes |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for e in TASKS:
            if e in d.get("gain", {}):
                print(f"| {e} | {100 * d['gain'][e]:+.1f} | {100 * d['interference'][e]:+.1f} | "
                      f"{tr.get(e, {}).get('train_seconds', '-')} | {tr.get(e, {}).get('adapter_bytes', '-')} |")
        print()
    if os.path.exists(args.sequential):
        s = json.load(open(args.sequential))
        order = s["settings"]["order"]
        print("Sequential fine-tuning (acc in %), row k = model after training tasks 1..k:\n")
        print("| after | " + " | ".join(order) + " | average so far |")
        print("| --- |" + " ---: |" * (len(order) + 1))
        for k, row in enumerate(s["matrix"]):
            avg = s["metrics"]["average_accuracy_per_step"][k]
            print(f"| {k + 1}. {order[k]} | " + " | ".join(pct(row.get(t)) for t in order) + f" | {pct(avg)} |")
        m = s["metrics"]
        print()
        if "bwt" in m:
            print(f"Final average accuracy {pct(m['average_accuracy_final'])} %, backward transfer "
                  f"{100 * m['bwt']:+.1f} points, forgetting: " +
                  ", ".join(f"{t} {100 * v:.1f}" for t, v in m["forgetting"].items()))


if __name__ == "__main__":
    main()
