#!/usr/bin/env python3
"""`make bench-cl`: the continual-learning benchmark, through the real daemon and our own eval.

Phases (all by default; --phase picks one):
  bounds      base accuracy (lower bound) and each expert alone (upper bound), with `recallctl accuracy`
  experts     experts scenario: register the five adapters in order with each merge method through a
              fresh daemon; after each register the daemon evaluates every task seen so far
  orders      the experts scenario in two more task orders for the methods whose head could depend on it
  sweep       RECALL's open choices on the dev split, on the final (five-expert) merge, plus the
              scale-matched control (uniform weights, same lambda) and the baselines
  sequential  sequential scenario: export head, fine-tune a LoRA on the next task from it (Python),
              register it (scenario sequential) with recall

Writes bench/results/cl-*.json; bench/cl/report.py turns them into BENCHMARKS.md tables.
Only the Python standard library here; training goes through tools/.venv (torch, peft).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(args)}\n{r.stderr[-3000:]}")
    return r.stdout


class Bench:
    def __init__(self, a):
        self.a = a
        self.ctl = os.path.join(a.bin, "recallctl")
        self.tasks = open(os.path.join(a.tasks, "order.txt")).read().split()
        os.makedirs(a.work, exist_ok=True)
        os.makedirs(a.results, exist_ok=True)

    def task_file(self, task, name):
        return os.path.join(self.a.tasks, task, name)

    def eval_file(self, task, split):
        """`split` items of the task, the first --items of them (cached copy)."""
        src = self.task_file(task, f"{split}.jsonl")
        if not self.a.items:
            return src
        dst = os.path.join(self.a.work, "evals", f"{task}-{split}-{self.a.items}.jsonl")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src) as f, open(dst, "w") as g:
            g.writelines(f.readlines()[: self.a.items])
        return dst

    def expert_dir(self, task):
        """The adapter applied to the base (for one-shot merges and the upper bound), cached."""
        out = os.path.join(self.a.work, "experts", task)
        if not os.path.exists(os.path.join(out, "model.safetensors")):
            shutil.rmtree(out, ignore_errors=True)
            sh([self.ctl, "apply-lora", self.a.base, os.path.join(self.a.adapters, task), out])
        return out

    def accuracy(self, model, tasks, split):
        out = json.loads(sh([self.ctl, "accuracy", model, "--json"] + sum((["--eval", self.eval_file(t, split)] for t in tasks), [])))
        return {t: r for t, r in zip(tasks, out)}

    # --- the daemon -------------------------------------------------------------------------
    def start(self, name):
        home = os.path.join(self.a.work, "homes", name)
        shutil.rmtree(home, ignore_errors=True)
        sock = f"/tmp/recall-bench-{os.getpid()}-{name[:20]}.sock"
        sh([self.ctl, "daemon", "start", "--home", home, "--socket", sock])
        return home, sock

    def stop(self, home):
        sh([self.ctl, "daemon", "stop", "--home", home])

    def run_registry(self, name, method, options, split, scenario="experts", models=None, gate=None, tasks=None, evaluate=True):
        """Registers the tasks in order (`tasks`, default order.txt); returns the accuracy matrix (when
        `evaluate`: the daemon evaluates every task seen so far after each register) and wall time per register."""
        tasks = tasks or self.tasks
        home, sock = self.start(name)
        try:
            init = [self.ctl, "init", self.a.base, "--method", method, "--scenario", scenario, "--socket", sock]
            for k, v in options.items():
                init += ["--opt", f"{k}={v}"]
            sh(init)
            seconds = []
            for i, t in enumerate(tasks):
                model = models(t, i, sock) if models else os.path.join(self.a.adapters, t)
                t0 = time.time()
                sh([self.ctl, "register", model, "--task", t, "--samples", self.task_file(t, "samples.jsonl"),
                    "--socket", sock, "--json"] + (["--eval", self.eval_file(t, split)] if evaluate else []))
                seconds.append(time.time() - t0)
                print(f"  {name}: registered {t} in {seconds[-1]:.1f} s", flush=True)
            matrix = json.loads(sh([self.ctl, "history", "--eval", "--json", "--socket", sock])) if evaluate else None
            head = json.loads(sh([self.ctl, "show", "head", "--json", "--socket", sock]))
            return {"method": method, "options": options, "scenario": scenario, "split": split,
                    "matrix": matrix, "register_seconds": seconds, "head": head, "home": home, "socket": sock}
        finally:
            self.stop(home)

    def final_items(self, run, name, split, keep=True):
        """Per-item accuracy of a registry run's head on every task (its daemon restarted to export it)."""
        final = os.path.join(self.a.work, "final", name)
        shutil.rmtree(final, ignore_errors=True)
        home, sock = run["home"], run["socket"]
        sh([self.ctl, "daemon", "start", "--home", home, "--socket", sock])
        try:
            sh([self.ctl, "export", "head", final, "--socket", sock])
        finally:
            self.stop(home)
        items = self.accuracy(final, self.tasks, split)
        if not keep:
            shutil.rmtree(final, ignore_errors=True)
        return items

    # --- phases -------------------------------------------------------------------------------
    def bounds(self):
        res = {"base": self.accuracy(self.a.base, self.tasks, "eval"), "experts": {}}
        for t in self.tasks:
            res["experts"][t] = self.accuracy(self.expert_dir(t), self.tasks, "eval")
            print(f"  expert {t}: own task {res['experts'][t][t]['accuracy']:.3f}", flush=True)
        self.save("cl-bounds.json", res)

    # (label, method, options): the label names the run in results and reports.
    METHODS = [
        ("recall", "recall", {}),
        ("regmean", "regmean", {}),
        ("recall+regmean", "recall", {"fusion": "regmean"}),
        ("linear", "linear", {}),
        ("task_arithmetic", "task_arithmetic", {"lambda": "0.5"}),
        ("ties", "ties", {"density": "0.5", "lambda": "1.0"}),
        ("dare_ties", "dare_ties", {"density": "0.5", "lambda": "1.0", "seed": "0"}),
        # Comparators with their papers' defaults. The experts are rank-8 LoRAs the registry
        # stores as full bf16 weights, so the subspace methods cut each task vector back to its
        # rank (task_rank=8) instead of decomposing bf16 rounding noise (docs/ARCHITECTURE.md).
        ("magmax", "magmax", {}),
        ("iso_c", "iso_c", {"task_rank": "8"}),
        ("iso_cts", "iso_cts", {"task_rank": "8"}),
        ("tsv_m", "tsv_m", {"task_rank": "8"}),
        ("opcm", "opcm", {}),
    ]

    def experts(self):
        # Runs of other methods from an earlier --methods invocation are kept (replaced by label).
        split = self.a.split
        name = "cl-experts.json" if split == "eval" else f"cl-experts-{split}.json"
        path = os.path.join(self.a.results, name)
        runs = json.load(open(path)) if self.a.methods and os.path.exists(path) else []
        for label, method, options in self.METHODS:
            if self.a.methods and label not in self.a.methods.split(","):
                continue
            run = self.run_registry(f"experts-{label}-{split}", method, options, split)
            run["method"] = label
            # Per-item results of the final model, for paired bootstrap intervals.
            run["final_items"] = self.final_items(run, f"{label}-{split}", split)
            runs = [r for r in runs if r["method"] != label] + [run]
            order = [m for m, _, _ in self.METHODS]
            runs.sort(key=lambda r: order.index(r["method"]) if r["method"] in order else len(order))
            self.save(name, runs)

    # Methods whose final head could depend on arrival order, and the two extra orders tried.
    ORDER_METHODS = ["recall", "regmean", "tsv_m", "opcm"]

    def orders(self):
        """The experts scenario in two more task orders (reversed; rotated by two): does a method's
        final head depend on the order the tasks arrived in? Registers without per-register evaluation;
        the final head is exported and evaluated on every eval item, paired with order.txt's run."""
        path = os.path.join(self.a.results, "cl-orders.json")
        runs = json.load(open(path)) if os.path.exists(path) else []
        methods = self.a.methods.split(",") if self.a.methods else self.ORDER_METHODS
        orders = [list(reversed(self.tasks)), self.tasks[2:] + self.tasks[:2]]
        for label in methods:
            _, method, options = next(m for m in self.METHODS if m[0] == label)
            for order in orders:
                if any(r["method"] == label and r["order"] == order for r in runs):
                    continue
                run = self.run_registry(f"order-{label}-{order[0]}", method, options, "eval", tasks=order, evaluate=False)
                runs.append({"method": label, "options": options, "order": order, "register_seconds": run["register_seconds"],
                             "content_hash": run["head"]["model"]["content_hash"],
                             "final_items": self.final_items(run, f"order-{label}-{order[0]}", "eval", keep=False)})
                shutil.rmtree(run["home"], ignore_errors=True)
                print(f"  order {label} {' '.join(order)}: head {runs[-1]['content_hash'][:12]}", flush=True)
                self.save("cl-orders.json", runs)

    def sweep(self):
        """RECALL's open choices on the dev split, on the final merge of all five experts.
        With --only LABELS: (re)runs just those rows, reusing the earlier registry run's probe set."""
        probe = os.path.join(self.a.work, "probe-1-4.jsonl")
        path = os.path.join(self.a.results, "cl-sweep.json")
        only = [x for x in self.a.only.split(";") if x]
        if only:
            previous = json.load(open(path))
            base_run = previous["registry_run"]
            chosen_lambda = next(r["lambda"] for r in previous["rows"] if r["config"] == "default")
        else:
            previous = None
            base_run = self.run_registry("sweep-default", "recall", {}, "dev")
            # Typical samples the registry kept for tasks 1-4, as the probe set of the final merge.
            home, sock = base_run["home"], base_run["socket"]
            sh([self.ctl, "daemon", "start", "--home", home, "--socket", sock])
            try:
                with open(probe, "w") as f:
                    for v in range(2, 2 + len(self.tasks) - 1):
                        show = json.loads(sh([self.ctl, "show", str(v), "--json", "--socket", sock]))
                        for s in show["typical_samples"]:
                            f.write(json.dumps({"text": s["text"], "task": show["task"]}) + "\n")
                chosen_lambda = json.loads(sh([self.ctl, "show", "head", "--json", "--socket", sock]))["details"].get("lambda")
            finally:
                self.stop(home)
        experts = [self.expert_dir(t) for t in self.tasks]
        new_samples = self.task_file(self.tasks[-1], "samples.jsonl")
        configs = [
            ("default", []),
            ("pooling=mean (first token kept)", ["--pooling", "mean"]),
            ("pooling=exclude-outliers", ["--pooling", "exclude-outliers"]),
            ("sigma=within", ["--sigma", "within"]),
            ("kernel=linear-cka", ["--kernel", "linear-cka"]),
            ("kernel=rbf-cka", ["--kernel", "rbf-cka"]),
            ("score=anchor-new", ["--score", "anchor-new"]),
            ("score=routing", ["--score", "routing"]),
            ("tau=0.03", ["--tau", "0.03"]),
            ("tau=0.3", ["--tau", "0.3"]),
            ("lambda=1", ["--lambda", "1"]),
            ("lambda=2", ["--lambda", "2"]),
            ("lambda=4", ["--lambda", "4"]),
            ("sparsify=ties:0.5", ["--sparsify", "ties:0.5"]),
            ("probe=new task only", ["--no-probe"]),
            ("clusters=4", ["--clusters", "4"]),
            ("seed=1 (other typical samples)", ["--seed", "1"]),
            (f"control: uniform weights, lambda {chosen_lambda}", ["--tau", "1e9", "--lambda", str(chosen_lambda)]),
        ]
        rows = list(previous["rows"]) if previous else []
        for label, flags in configs:
            if only and label not in only:
                continue
            out = os.path.join(self.a.work, "sweep", label.replace(" ", "_").replace("/", "_"))
            shutil.rmtree(out, ignore_errors=True)
            args = [self.ctl, "merge", "--method", "recall", "--base", self.a.base, "--models", ",".join(experts),
                    "--samples", new_samples, "--out", out, "--json"]
            if "--no-probe" not in flags:
                args += ["--probe", probe]
            args += [f for f in flags if f != "--no-probe"]
            t0 = time.time()
            report = json.loads(sh(args))["report"]
            acc = self.accuracy(out, self.tasks, "dev")
            row = {"config": label, "flags": flags, "seconds": time.time() - t0, "lambda": report["lambda"], "accuracy": acc}
            # Replace a row of the same label, else insert it in the configs' order.
            order = [c[0] for c in configs]
            rows = [r for r in rows if r["config"] != label] + [row]
            rows.sort(key=lambda r: order.index(r["config"]) if r["config"] in order else len(order))
            print(f"  sweep {label}: mean {sum(r['accuracy'] for r in acc.values()) / len(acc):.3f}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            self.save("cl-sweep.json", {"registry_run": {k: base_run[k] for k in ("matrix", "register_seconds")},
                                        "rows": rows})

    def regmean_sweep(self):
        """RegMean's open choices on the dev split: one-shot merges of the five experts (each model's
        statistics from its own task's samples), one change from the defaults per row."""
        experts = [self.expert_dir(t) for t in self.tasks]
        samples = [self.task_file(t, "samples.jsonl") for t in self.tasks]
        path = os.path.join(self.a.results, "cl-regmean-sweep.json")
        # Rows already measured are kept (a sweep cut short resumes where it stopped).
        rows = json.load(open(path))["rows"] if os.path.exists(path) else []
        for label, flags in [("default", []), ("rank=8", ["--rank", "8"]), ("rank=64", ["--rank", "64"]),
                             ("ridge=1e-4", ["--ridge", "1e-4"]), ("ridge=1e-2", ["--ridge", "1e-2"]),
                             ("alpha=1 (plain Gram)", ["--alpha", "1"]), ("alpha=0.5", ["--alpha", "0.5"]),
                             ("16 samples per task", ["--stats-samples", "16"])]:
            if any(r["config"] == label for r in rows):
                continue
            out = os.path.join(self.a.work, "regmean-sweep", label.replace(" ", "_"))
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.time()
            summary = json.loads(sh([self.ctl, "merge", "--method", "regmean", "--base", self.a.base, "--models", ",".join(experts),
                                     "--samples", ",".join(samples), "--out", out, "--json"] + flags))
            seconds = time.time() - t0
            acc = self.accuracy(out, self.tasks, "dev")
            rows.append({"config": label, "flags": flags, "seconds": seconds, "statistics_bytes": summary["statistics_bytes"], "accuracy": acc})
            print(f"  regmean sweep {label}: mean {sum(r['accuracy'] for r in acc.values()) / len(acc):.3f} ({seconds:.0f} s)", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            self.save("cl-regmean-sweep.json", {"rows": rows})

    def sequential(self):
        """Fine-tune each task's LoRA from the exported head and register the adapter (scenario
        sequential): the registry applies it to the head it was trained from."""
        py = os.path.join(REPO, "tools", ".venv", "bin", "python")
        def model(task, i, sock):
            head = os.path.join(self.a.work, "seq", f"head-{i}")
            shutil.rmtree(head, ignore_errors=True)
            sh([self.ctl, "export", "head", head, "--socket", sock])
            adapter = os.path.join(self.a.work, "seq", f"adapter-{self.a.seq_method}-{task}")
            shutil.rmtree(adapter, ignore_errors=True)
            sh([py, os.path.join(HERE, "train_lora.py"), "--task", task, "--base", head, "--out", adapter, "--seed", "0"])
            return adapter
        label, method, options = next(m for m in self.METHODS if m[0] == self.a.seq_method)
        run = self.run_registry(f"sequential-{label}", method, options, "eval", scenario="sequential", models=model)
        run["method"] = label
        self.save("cl-sequential-recall.json" if label == "recall" else f"cl-sequential-{label}.json", run)

    def save(self, name, obj):
        with open(os.path.join(self.a.results, name), "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--base", default=os.path.join(REPO, "bench", ".cache", "smollm2-bf16"))
    p.add_argument("--tasks", default=os.path.join(REPO, "examples", "tasks"))
    p.add_argument("--adapters", default=os.path.join(REPO, "examples", "adapters"))
    p.add_argument("--work", default=os.path.join(REPO, "bench", ".cache", "cl"))
    p.add_argument("--results", default=os.path.join(REPO, "bench", "results"))
    p.add_argument("--phase", default="all", choices=["all", "bounds", "experts", "orders", "sweep", "regmean_sweep", "sequential"])
    p.add_argument("--methods", default="", help="comma list to restrict the experts phase")
    p.add_argument("--items", type=int, default=0, help="use only the first N eval/dev items per task (0 = all)")
    p.add_argument("--seq-method", default="recall", help="sequential phase: the method label (see METHODS)")
    p.add_argument("--split", default="eval", choices=["eval", "dev"],
                   help="experts phase: the split evaluated (dev to choose defaults, eval to report)")
    p.add_argument("--only", default="", help="sweep: run only these rows (labels separated by ';'), keeping the others")
    a = p.parse_args()
    b = Bench(a)
    for phase in (["bounds", "experts", "orders", "sweep", "regmean_sweep", "sequential"] if a.phase == "all" else [a.phase]):
        print(f"== {phase}", flush=True)
        getattr(b, phase)()


if __name__ == "__main__":
    main()
