#!/usr/bin/env python3
"""`make bench-scale`: the registry on a 7B-class checkpoint, against cp / zstd / sha256sum of the
same file measured in the same run (bench/results/scale.json; bench/report.py renders it).

    python3 bench/scale/run_scale.py --bin RELEASE_BIN_DIR [--work bench/.cache/scale] [--keep]

Steps: init (linear) of the 12.1 GB model, two registers of q/v LoRA adapters with `linear`,
export head, verify, gc; then a fresh registry with the default method (regmean) and the same two
adapters with a task's 64 samples. For every step: wall seconds and the daemon's peak anonymous and
total resident memory (polled from /proc every 0.1 s); for registers also the time per job phase.
Everything it writes is removed at the end unless --keep (the generated model stays in --work).
Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "cl"))
from run_cl import sh  # noqa: E402  (runs a command, exits with its stderr when it fails)


def timed(args):
    t = time.time()
    sh(args)
    return time.time() - t


class Poller:
    """A background thread that runs `self.run` while a `with` block runs (it checks `self.stop`)."""
    def __enter__(self):
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


class MemoryWatch(Poller):
    """Peak RssAnon and VmRSS of a process while a step runs."""
    def __init__(self, pid):
        self.pid, self.anon, self.total = pid, 0, 0

    def run(self):
        while not self.stop:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            self.anon = max(self.anon, int(line.split()[1]) * 1024)
                        elif line.startswith("VmRSS:"):
                            self.total = max(self.total, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.1)


class PhaseWatch(Poller):
    """Seconds per job phase of the register running now, polled from `recallctl jobs`."""
    def __init__(self, ctl, sock):
        self.ctl, self.sock, self.phases = ctl, sock, {}

    def run(self):
        last, since = None, time.time()
        while not self.stop:
            r = subprocess.run([self.ctl, "jobs", "--json", "--socket", self.sock], capture_output=True, text=True)
            try:
                running = [j for j in json.loads(r.stdout) if j.get("state") == "running"]
            except ValueError:
                running = []
            phase = running[0].get("phase") if running else None
            if phase != last:
                now = time.time()
                if last:
                    self.phases[last] = self.phases.get(last, 0) + now - since
                last, since = phase, now
            time.sleep(0.2)
        if last:
            self.phases[last] = self.phases.get(last, 0) + time.time() - since


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default=os.path.join(REPO, "bench", ".cache", "scale"))
    ap.add_argument("--tokenizer-from", default=os.path.join(REPO, "bench", ".cache", "smollm2-bf16"))
    ap.add_argument("--samples", default=os.path.join(REPO, "examples", "tasks", "sentiment", "samples.jsonl"))
    ap.add_argument("--results", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", choices=["all", "default", "linear"], default="all",
                    help="default (or linear): only that method's registry (with its own floors), kept next to the last run's figures of the other")
    a = ap.parse_args()
    ctl = os.path.join(a.bin, "recallctl")
    sh([sys.executable, os.path.join(REPO, "tools", "gen_scale_model.py"), a.work, "--tokenizer-from", a.tokenizer_from])
    base = os.path.join(a.work, "base")
    model = os.path.join(base, "model.safetensors")
    size = os.path.getsize(model)
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    # forward_weights: this script's builds (630ab04 on) run forward passes over a file-backed copy,
    # so the report no longer explains the anonymous peak by the old whole-model decode.
    out = {"model_bytes": size, "floors": {}, "linear": {}, "default": {}, "commit": commit, "forward_weights": True}
    previous = os.path.join(a.results, "scale.json")
    if os.path.exists(previous):
        # The floors move between runs with the VM's memory state (cp of this file took 29.6 s in
        # one run and 61.2 s in the next): the report shows the last run's next to this one's.
        kept = json.load(open(previous))
        out["previous_run"] = {"commit": kept.get("commit"), "floors": kept.get("floors", {})}
    if a.only == "default" and os.path.exists(previous):
        kept = json.load(open(previous))
        out["linear"], out["linear_floors"] = kept.get("linear", {}), kept.get("linear_floors", kept["floors"])
    if a.only == "linear" and os.path.exists(previous):
        kept = json.load(open(previous))
        out["default"], out["default_floors"] = kept.get("default", {}), kept.get("default_floors", kept["floors"])
        out["default_commit"] = kept.get("default_commit", kept.get("commit"))
    scratch = os.path.join(a.work, "scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    try:
        # Warm the page cache once, so every tool below (and the registry) starts from the same state.
        subprocess.run(["cat", model], stdout=subprocess.DEVNULL, check=True)
        copy = os.path.join(scratch, "copy.safetensors")
        out["floors"]["cp"] = timed(["cp", model, copy]) + timed(["sync"])
        os.remove(copy)
        t = time.time()
        z = subprocess.run(f"zstd -1 -T2 -c '{model}' | wc -c", shell=True, capture_output=True, text=True, check=True)
        out["floors"]["zstd"] = time.time() - t
        out["floors"]["zstd_ratio"] = int(z.stdout.strip()) / size
        out["floors"]["sha256sum"] = timed(["sha256sum", model])
        # This machine's cost of new page cache: 1 GB written in 4 MB and in 64 KB calls, each
        # after the same idle (the kernel sizes folios by the write; large ones are slow to touch
        # here, which is why the store and the safetensors writer write small pieces).
        for label, bs, count in (("new_file_1g_4m_writes", "4M", 256), ("new_file_1g_64k_writes", "64K", 16384)):
            time.sleep(10)
            target = os.path.join(scratch, "dd.bin")
            out["floors"][label] = timed(["dd", "if=/dev/zero", f"of={target}", f"bs={bs}", f"count={count}", "status=none"])
            os.remove(target)
        print("floors:", out["floors"], flush=True)

        def registry(name, method, steps):
            home = os.path.join(scratch, name)
            sock = f"/tmp/recall-scale-{os.getpid()}-{name}.sock"
            sh([ctl, "daemon", "start", "--home", home, "--socket", sock])
            pid = int(open(os.path.join(home, "daemon.lock")).read().split()[0])
            res = out[name]
            try:
                for label, args, phases in steps(home, sock):
                    with MemoryWatch(pid) as mem, PhaseWatch(ctl, sock) as ph:
                        seconds = timed([ctl] + args + ["--socket", sock])
                    res[label] = {"seconds": seconds, "peak_anon_bytes": mem.anon, "peak_rss_bytes": mem.total}
                    if phases:
                        res[label]["phases"] = ph.phases
                    print(f"  {name} {label}: {seconds:.1f} s, anon {mem.anon / 2**30:.2f} GiB, rss {mem.total / 2**30:.2f} GiB", flush=True)
            finally:
                sh([ctl, "daemon", "stop", "--home", home])

        adapters = [os.path.join(a.work, f"adapter-{i}") for i in (1, 2)]

        def linear_steps(home, sock):
            yield "init", ["init", base, "--method", "linear"], False
            for i, ad in enumerate(adapters):
                yield f"register_{i + 1}", ["register", ad, "--task", f"t{i + 1}", "--samples", a.samples], True
            yield "export", ["export", "head", os.path.join(scratch, "export")], False
            yield "verify", ["verify"], False
            yield "gc", ["gc"], False
        if a.only in ("all", "linear"):
            registry("linear", "linear", linear_steps)
            shutil.rmtree(os.path.join(scratch, "export"), ignore_errors=True)
            shutil.rmtree(os.path.join(scratch, "linear"), ignore_errors=True)

        def default_steps(home, sock):
            yield "init", ["init", base], False
            for i, ad in enumerate(adapters):
                yield f"register_{i + 1}", ["register", ad, "--task", f"t{i + 1}", "--samples", a.samples], True
        if a.only in ("all", "default"):
            registry("default", "regmean", default_steps)
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    with open(os.path.join(a.results, "scale.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
