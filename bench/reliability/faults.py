#!/usr/bin/env python3
"""Issue #20 point 5: fault campaigns against the daemon (run as root: (a) mounts a tmpfs).

  disk-full  a home on a small tmpfs filled to several levels of free space before a register:
             a clear error, the job failed with its reason (or the request refused), nothing
             half-written visible, reads still served, verify clean, and the next register after
             space is freed succeeds.
  kill       N rounds (default 200): a client runs registers / rollbacks / gc / tags over TCP while
             the daemon is SIGKILLed at a random moment; restart, let interrupted jobs resume,
             then check what that round could have touched: every acknowledged job still known
             and finished (resumed or failed with a reason), every acknowledged version present
             with the same content hash, head where the acknowledged operations left it, the
             touched versions' weights readable; `verify` every 25 rounds and at the end.
  corrupt    on a stopped home: flip bytes in one LMDB chunk (and in its encoded header), flip
             raw bytes of data.mdb pages, truncate registry.sqlite, remove data.mdb /
             registry.sqlite / cache; then start: verify reports it (model and tensor), other
             versions still read, the hit version's download fails clearly, the daemon stays up.

    tools/.venv-rel/bin/python bench/reliability/faults.py [disk-full|kill|corrupt|all] [--rounds 200]
Figures: bench/results/reliability-{diskfull,kill,corrupt}.json.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import requests

import common as c


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def safe(fn, *a, **kw):
    try:
        r = fn(*a, **kw)
        return r
    except requests.RequestException as e:
        return e


def status_of(r):
    return r.status_code if isinstance(r, requests.Response) else f"{type(r).__name__}"


def body_of(r, n=200):
    return r.text[:n] if isinstance(r, requests.Response) else str(r)[:n]


def reads_ok(d):
    out = {}
    for p in ("/v1/versions", "/v1/versions/head", "/v1/status", "/v1/evaluations"):
        r = safe(d.get, p, timeout=30)
        out[p] = status_of(r)
    return out


# ----------------------------------------------------------------------------------------------
# (a) disk full

def fill(mnt, filler, free_target):
    """Grow `filler` until `free_target` bytes are left on the file system."""
    st = os.statvfs(mnt)
    want = max(0, st.f_bavail * st.f_frsize - free_target)
    block = b"\0" * (1 << 20)
    with open(filler, "ab") as f:
        try:
            while want > 0:
                want -= f.write(block[:min(len(block), want)])
            f.flush()
        except OSError:
            pass


def attempt_register(d, n):
    """Upload a distinct tiny model over TCP and register it; every answer recorded, nothing raised."""
    task = c.TASKS[n % 3]
    out = {}
    up = safe(d.upload, c.variant_bytes(task, n))
    out["upload"] = {"status": status_of(up), "body": body_of(up)}
    if not (isinstance(up, requests.Response) and up.status_code == 201):
        return out
    rg = safe(d.post, "/v1/register", d.register_body(up.json(), task))
    out["register"] = {"status": status_of(rg), "body": body_of(rg)}
    if not (isinstance(rg, requests.Response) and rg.status_code == 202):
        return out
    out["job_id"] = rg.json()["id"]
    try:
        j = d.wait_job(out["job_id"], timeout=30)
        res = j.get("result") or {}
        out["job"] = {"state": j["state"], "phase": j.get("phase"), "error": j.get("error"),
                      "version": res.get("version"), "existing": bool(res.get("existing"))}
    except Exception as e:  # noqa: BLE001 - the daemon may have died
        out["job"] = {"state": "unknown", "error": f"{type(e).__name__}: {str(e)[:200]}"}
    return out


def disk_full(a):
    root = c.tmp_root("rel-disk-")
    mnt = os.path.join(root, "mnt")
    os.makedirs(mnt)
    size_mib = a.tmpfs_mib
    r = run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", mnt])
    if r.returncode != 0:
        raise SystemExit(f"mount tmpfs: {r.stderr.strip()} (run as root)")
    d = c.Daemon(os.path.join(mnt, "home"), bin_dir=a.bin)
    res = {"campaign": "disk-full", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin),
           "tmpfs_mib": size_mib, "levels": []}
    filler = os.path.join(mnt, "filler")
    n = 100
    d.extra = ["--shutdown-timeout", "10"]
    try:
        d.start()
        c.seed_registry(d)
        st = os.statvfs(mnt)
        res["after_seed_free_bytes"] = st.f_bavail * st.f_frsize
        for free_target in a.free_levels:
            n += 2
            lvl = {"free_target_bytes": free_target}
            before = d.get("/v1/versions").json()
            fill(mnt, filler, free_target)
            st = os.statvfs(mnt)
            lvl["free_bytes_at_register"] = st.f_bavail * st.f_frsize
            att = attempt_register(d, n)
            lvl.update(att)
            lvl["daemon_alive"] = d.alive()
            if not d.alive():
                lvl["daemon_exit"] = d.proc.returncode
                lvl["daemon_killed_by_signal"] = signal.Signals(-d.proc.returncode).name if d.proc.returncode < 0 else None
                lvl["log_tail"] = d.tail_log(8)
                os.remove(filler)
                d.start()
                lvl["restarted"] = True
                lvl["reads_after_restart"] = reads_ok(d)
                after = d.get("/v1/versions").json()
                lvl["versions_before_after"] = [len(before), len(after)]
            else:
                lvl["reads_while_full"] = reads_ok(d)
                after = safe(d.get, "/v1/versions")
                after = after.json() if isinstance(after, requests.Response) and after.status_code == 200 else None
                lvl["versions_before_after"] = [len(before), len(after) if after is not None else None]
                v = safe(d.post, "/v1/verify", timeout=600)
                lvl["verify_while_full"] = v.json() if isinstance(v, requests.Response) and v.status_code == 200 else {"status": status_of(v), "body": body_of(v)}
                os.remove(filler)
            job = lvl.get("job") or {}
            succeeded = job.get("state") == "succeeded" and not job.get("existing")
            lvl["nothing_half_written"] = lvl["versions_before_after"][1] == len(before) + (1 if succeeded else 0)
            # Space freed: the next register must succeed.
            nxt = attempt_register(d, n + 1)
            lvl["next_register_after_freeing"] = nxt
            lvl["alive_after_next"] = d.alive()
            settled = None
            if d.alive():
                try:
                    settled = wait_settled(d, 30)
                except requests.RequestException:
                    settled = None
            if not d.alive() or settled is None:
                # A job stuck `running` or a dead daemon: restart it (SIGTERM, else SIGKILL) so the next
                # level starts clean, and record what became of this level's jobs.
                lvl["restart_needed"] = "daemon dead" if not d.alive() else "jobs still running 30 s after space was freed"
                if not d.alive():
                    lvl["exit_next"] = d.proc.returncode
                    lvl["log_tail_next"] = d.tail_log(8)
                d.stop(timeout=15)
                d.start()
                wait_settled(d, 120)
                for key, jid in (("job_after_restart", lvl.get("job_id")), ("next_job_after_restart", nxt.get("job_id"))):
                    if jid:
                        j = d.get(f"/v1/jobs/{jid}").json()
                        lvl[key] = {"state": j["state"], "error": j.get("error")}
            v = c.verify(d)
            lvl["verify_after_freeing"] = {k: v[k] for k in ("clean", "manifests", "missing", "corrupt", "unreferenced_chunks")}
            lvl["incoming_leftover"] = len(os.listdir(os.path.join(d.home, "incoming")))
            res["levels"].append(lvl)
            print(f"  disk-full free {free_target:>8d}: upload {lvl.get('upload', {}).get('status')}, register "
                  f"{(lvl.get('register') or {}).get('status')}, job {job.get('state')} [{job.get('phase')}] "
                  f"{(job.get('error') or '')[:100]!r}; alive {lvl['daemon_alive']} {lvl.get('daemon_killed_by_signal') or ''}; "
                  f"half-written none {lvl['nothing_half_written']}, next register {(nxt.get('job') or {}).get('state')}, "
                  f"verify clean {(lvl.get('verify_after_freeing') or {}).get('clean')}; restart {lvl.get('restart_needed')} "
                  f"{lvl.get('job_after_restart')} {lvl.get('next_job_after_restart')}", flush=True)
        res["daemon_exit_code"] = d.stop()
        res["goals"] = {
            "daemon_survived_every_level": all(l["daemon_alive"] and l.get("alive_after_next", True) for l in res["levels"]),
            "clear_error_every_level": all(
                (l["upload"]["status"] != 201 and "error" in l["upload"]["body"]) or
                (l.get("register", {}).get("status") not in (202, None) and "error" in l["register"]["body"]) or
                ((l.get("job") or {}).get("state") == "failed" and bool((l.get("job") or {}).get("error"))) or
                ((l.get("job") or {}).get("state") == "succeeded")
                for l in res["levels"]),
            "nothing_half_written": all(l.get("nothing_half_written") for l in res["levels"]),
            "reads_served_while_full": all(set(l.get("reads_while_full", {}).values()) == {200} for l in res["levels"]),
            "next_register_succeeds": all((l.get("next_register_after_freeing", {}).get("job") or {}).get("state") == "succeeded" for l in res["levels"]),
            "no_restart_needed": not any(l.get("restart_needed") for l in res["levels"]),
            "verify_clean": all(l.get("verify_after_freeing", {}).get("clean") for l in res["levels"]),
        }
        print("  disk-full goals:", res["goals"])
        return res
    finally:
        d.kill()
        run(["umount", mnt])
        c.rmtree(root)
        c.write_result("diskfull", res)


# ----------------------------------------------------------------------------------------------
# (b) SIGKILL rounds

class Round(threading.Thread):
    """One client's operations in a round, each one's acknowledgement recorded."""

    def __init__(self, d, rnd, n0, known, ops=None):
        super().__init__(daemon=True)
        self.d, self.rnd, self.n0, self.known = d, rnd, n0, known
        self.ops = ops
        self.events = []
        self.doing = "idle"
        self.s = requests.Session()
        self.s.headers.update(d.session.headers)

    def op_register(self, k):
        d = self.d
        task = c.TASKS[(self.n0 + k) % 3]
        ev = {"op": "register", "task": task}
        self.events.append(ev)
        self.doing = "upload"
        up = self.s.post(d.url + "/v1/uploads", data=c.variant_bytes(task, self.n0 + k), timeout=30)
        if up.status_code != 201:
            ev["upload_status"] = up.status_code
            return
        ev["upload_ack"] = True
        self.doing = "register-request"
        rg = self.s.post(d.url + "/v1/register", json=d.register_body(up.json(), task, with_eval=True), timeout=30)
        ev["register_status"] = rg.status_code
        if rg.status_code != 202:
            return
        ev["job"] = rg.json()["id"]
        while True:
            j = self.s.get(f"{d.url}/v1/jobs/{ev['job']}", timeout=30).json()
            if j.get("phase"):
                self.doing = "job:" + j["phase"]
            else:
                self.doing = "job:" + j["state"]
            if j["state"] in ("succeeded", "failed", "cancelled"):
                ev["final"] = j["state"]
                res = j.get("result") or {}
                ev["version"] = res.get("version")
                ev["gated"] = bool(res.get("gated"))
                ev["existing"] = bool(res.get("existing"))
                ev["error"] = j.get("error")
                if ev["version"] and not ev["existing"]:
                    show = self.s.get(f"{d.url}/v1/versions/{ev['version']}", timeout=30).json()
                    ev["content_hash"] = show["model"]["content_hash"]
                self.doing = "idle"
                return
            time.sleep(0.005)

    def run(self):
        try:
            ops = self.ops or ["register"] + [self.rnd.choice(["register", "register", "rollback", "gc", "tag", "eval"]) for _ in range(2)]
            for k, op in enumerate(ops):
                if op == "register":
                    self.op_register(k)
                elif op == "rollback":
                    v = self.rnd.choice(self.known)
                    ev = {"op": "rollback", "target": v}
                    self.events.append(ev)
                    self.doing = "rollback"
                    r = self.s.post(self.d.url + "/v1/rollback", json={"version": str(v)}, timeout=30)
                    ev["status"] = r.status_code
                    if r.status_code == 200:
                        ev["ack_head"] = r.json()["head"]
                elif op == "gc":
                    ev = {"op": "gc"}
                    self.events.append(ev)
                    self.doing = "gc"
                    r = self.s.post(self.d.url + "/v1/gc", timeout=60)
                    ev["status"] = r.status_code
                elif op == "tag":
                    v = self.rnd.choice(self.known)
                    ev = {"op": "tag", "name": f"t{self.n0}", "target": v}
                    self.events.append(ev)
                    self.doing = "tag"
                    r = self.s.post(self.d.url + "/v1/tags", json={"name": ev["name"], "version": str(v)}, timeout=30)
                    ev["status"] = r.status_code
                elif op == "eval":
                    v = self.rnd.choice(self.known)
                    ev = {"op": "eval", "target": v}
                    self.events.append(ev)
                    self.doing = "evaluate"
                    r = self.s.post(f"{self.d.url}/v1/versions/{v}/eval", timeout=60)
                    ev["status"] = r.status_code
                self.doing = "idle"
            self.doing = "done"
        except (requests.RequestException, ValueError) as e:
            if self.events:
                self.events[-1]["interrupted"] = type(e).__name__


def wait_settled(d, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = d.get("/v1/status", timeout=30).json()
        if s["jobs"]["queued"] == 0 and s["jobs"]["running"] == 0 and s.get("running_job") is None:
            return s
        time.sleep(0.1)
    return None


def kill_campaign(a):
    rnd = random.Random(a.seed)
    root = c.tmp_root("rel-kill-")
    d = c.Daemon(os.path.join(root, "home"), bin_dir=a.bin)
    res = {"campaign": "kill", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin),
           "rounds": a.rounds, "method": a.method, "problems": []}
    counts = {"kills": 0, "kill_moment": {}, "register_jobs_acknowledged": 0, "versions_acknowledged": 0,
              "versions_intact": 0, "jobs_in_flight_at_kill": 0, "resumed_succeeded": 0, "failed_with_reason": 0,
              "failed_without_reason": 0, "jobs_lost": 0, "jobs_stuck": 0, "rollbacks_acknowledged": 0,
              "head_as_acknowledged": 0, "head_checks": 0, "verify_runs": 0, "verify_clean": 0,
              "restart_failures": 0, "incoming_leftover_max": 0}
    acked = {}   # version -> (task, content_hash)
    problems = res["problems"]
    t_start = time.time()
    try:
        d.start()
        seeded = c.seed_registry(d, method=a.method)
        known = [v["version"] for v in seeded]
        for v in seeded:
            acked[v["version"]] = (v["task"], d.get(f"/v1/versions/{v['version']}").json()["model"]["content_hash"])
        head = d.get("/v1/status").json()["head"]
        targets = ["upload", "job:store", "job:select", "job:represent", "job:fuse", "job:store-merged", "job:evaluate",
                   "job:commit", "rollback", "gc"]
        counts["targeted"] = {}
        for rn in range(a.rounds):
            # Odd rounds: SIGKILL at a uniformly random moment; even rounds: as soon as the client sees
            # the daemon in a chosen phase (round robin over every phase), plus 0-10 ms.
            target = targets[(rn // 2) % len(targets)] if rn % 2 == 0 else None
            ops = None
            if target in ("rollback", "gc"):
                ops = ["register", target, "register"]
            worker = Round(d, random.Random(rnd.random()), 1000 + rn * 10, list(known), ops=ops)
            worker.start()
            if target is None:
                worker.join(rnd.uniform(0, a.max_delay))
            else:
                deadline = time.time() + 10
                while worker.is_alive() and worker.doing != target and time.time() < deadline:
                    time.sleep(0.0005)
                time.sleep(rnd.uniform(0, 0.01))
                hit = worker.doing == target
                k = counts["targeted"].setdefault(target, {"rounds": 0, "hit": 0})
                k["rounds"] += 1
                k["hit"] += 1 if hit else 0
            moment = worker.doing
            d.kill()
            counts["kills"] += 1
            counts["kill_moment"][moment] = counts["kill_moment"].get(moment, 0) + 1
            worker.join(30)
            try:
                d.start(timeout=60)
            except RuntimeError as e:
                counts["restart_failures"] += 1
                problems.append({"round": rn, "what": "restart failed", "detail": str(e)[:300]})
                break
            settled = wait_settled(d)
            if settled is None:
                counts["jobs_stuck"] += 1
                problems.append({"round": rn, "what": "jobs still queued/running 180 s after restart"})
            # Check what this round touched.
            expected_heads = {head}
            unacked_register = False
            for ev in worker.events:
                if ev["op"] == "register" and "job" not in ev and ev.get("interrupted"):
                    # Killed before the 202 arrived: the job may still have been queued, and run after the restart.
                    unacked_register = True
                if ev["op"] == "register" and "job" in ev:
                    counts["register_jobs_acknowledged"] += 1
                    r = d.get(f"/v1/jobs/{ev['job']}", timeout=30)
                    if r.status_code == 404:
                        counts["jobs_lost"] += 1
                        problems.append({"round": rn, "what": f"acknowledged job {ev['job']} unknown after restart"})
                        continue
                    j = r.json()
                    jres = j.get("result") or {}
                    if "final" not in ev:
                        counts["jobs_in_flight_at_kill"] += 1
                        if j["state"] == "succeeded":
                            counts["resumed_succeeded"] += 1
                        elif j["state"] == "failed" and j.get("error"):
                            counts["failed_with_reason"] += 1
                            problems.append({"round": rn, "what": "interrupted job failed (with reason)", "job": ev["job"],
                                             "error": j["error"][:200], "moment": moment})
                        elif j["state"] == "failed":
                            counts["failed_without_reason"] += 1
                        else:
                            counts["jobs_stuck"] += 1
                            problems.append({"round": rn, "what": f"job {ev['job']} {j['state']} after restart"})
                    elif ev["final"] != j["state"]:
                        problems.append({"round": rn, "what": f"job {ev['job']} was {ev['final']}, now {j['state']}"})
                    v = jres.get("version")
                    if j["state"] == "succeeded" and v and not jres.get("existing"):
                        if "final" in ev and ev.get("version") != v:
                            problems.append({"round": rn, "what": f"job {ev['job']} version {ev.get('version')} became {v}"})
                        show = d.get(f"/v1/versions/{v}", timeout=30)
                        if show.status_code != 200:
                            problems.append({"round": rn, "what": f"version {v} of job {ev['job']} missing ({show.status_code})"})
                            continue
                        h = show.json()["model"]["content_hash"]
                        if ev.get("content_hash") and ev["content_hash"] != h:
                            problems.append({"round": rn, "what": f"version {v} content hash changed"})
                        acked[v] = (ev["task"], h)
                        counts["versions_acknowledged"] += 1
                        known.append(v)
                        if not jres.get("gated"):
                            expected_heads = {v}
                        # The weights still read (the daemon checks every chunk and tensor hash on the way out).
                        f = d.get(f"/v1/versions/{v}/files/model.safetensors", timeout=60)
                        if f.status_code == 200 and len(f.content) > 8:
                            counts["versions_intact"] += 1
                        else:
                            problems.append({"round": rn, "what": f"version {v} weights unreadable: {f.status_code} {f.text[:150]}"})
                elif ev["op"] == "rollback":
                    if "ack_head" in ev:
                        counts["rollbacks_acknowledged"] += 1
                        expected_heads = {ev["ack_head"]}
                    else:
                        expected_heads = expected_heads | {ev["target"]}
            hist = d.get("/v1/versions", timeout=60).json()
            present = {v["version"]: v for v in hist}
            for v, (task, h) in acked.items():
                if v not in present:
                    problems.append({"round": rn, "what": f"acknowledged version {v} missing from history"})
                elif present[v]["task"] != task:
                    problems.append({"round": rn, "what": f"version {v} task {present[v]['task']} != {task}"})
            for v in present:
                if v not in acked:
                    # A version whose job was never acknowledged (register answered only after the kill).
                    acked[v] = (present[v]["task"], d.get(f"/v1/versions/{v}").json()["model"]["content_hash"])
                    known.append(v)
                    counts["unacknowledged_registers_that_took_effect"] = counts.get("unacknowledged_registers_that_took_effect", 0) + 1
                    if unacked_register and not present[v]["gated"]:
                        expected_heads = {v}
            head = d.get("/v1/status").json()["head"]
            counts["head_checks"] += 1
            if head in expected_heads:
                counts["head_as_acknowledged"] += 1
            else:
                problems.append({"round": rn, "what": f"head {head} not in expected {sorted(expected_heads)}", "events": worker.events})
            counts["incoming_leftover_max"] = max(counts["incoming_leftover_max"], len(os.listdir(os.path.join(d.home, "incoming"))))
            if (rn + 1) % 25 == 0 or rn == a.rounds - 1:
                v = c.verify(d)
                counts["verify_runs"] += 1
                counts["verify_clean"] += 1 if v["clean"] else 0
                if not v["clean"]:
                    problems.append({"round": rn, "what": "verify not clean", "missing": v["missing"][:5], "corrupt": v["corrupt"][:5]})
                print(f"  kill round {rn + 1}: {counts['versions_acknowledged']} versions acknowledged, "
                      f"{counts['jobs_in_flight_at_kill']} jobs in flight at kill ({counts['resumed_succeeded']} resumed), "
                      f"{len(problems)} problems, verify clean {v['clean']} ({v['manifests']} manifests, "
                      f"{v['unreferenced_chunks']} unreferenced chunks), {time.time() - t_start:.0f} s", flush=True)
        final = c.verify(d)
        res["final_verify"] = {k: final[k] for k in ("clean", "manifests", "chunks_checked", "missing", "corrupt", "unreferenced_chunks")}
        g = d.post("/v1/gc", timeout=600)
        res["final_gc"] = g.json() if g.status_code == 200 else {"status": g.status_code, "body": g.text[:200]}
        res["final_versions"] = len(d.get("/v1/versions").json())
        inc = os.path.join(d.home, "incoming")
        res["incoming_leftover_end"] = {"files": len(os.listdir(inc)), "bytes": sum(os.path.getsize(os.path.join(inc, x)) for x in os.listdir(inc))}
        res["daemon_exit_code"] = d.stop()
        res["elapsed_s"] = round(time.time() - t_start, 1)
        res["counts"] = counts
        serious = [p for p in problems if p["what"] != "interrupted job failed (with reason)"]
        res["goals"] = {"every_acknowledged_version_intact": counts["versions_intact"] == counts["versions_acknowledged"] and not any("missing" in p["what"] or "content" in p["what"] for p in problems),
                        "verify_clean": counts["verify_clean"] == counts["verify_runs"] and final["clean"],
                        "every_interrupted_job_resumed_or_failed_with_reason": counts["failed_without_reason"] == 0 and counts["jobs_stuck"] == 0 and counts["jobs_lost"] == 0,
                        "head_as_acknowledged": counts["head_as_acknowledged"] == counts["head_checks"],
                        "no_other_problems": not serious}
        print("  kill:", json.dumps(counts), "\n  goals:", res["goals"])
        return res
    finally:
        d.kill()
        res.setdefault("counts", counts)
        c.write_result("kill", res)
        c.rmtree(root)


# ----------------------------------------------------------------------------------------------
# (c) corruption

def lmdb_open(home, readonly=False):
    import lmdb
    return lmdb.open(os.path.join(home, "store"), max_dbs=16, readonly=readonly, lock=not readonly, subdir=True)


def pick_chunk(home, model_hash, others):
    """A chunk of `model_hash`'s manifest that no other manifest uses: (tensor, chunk hex)."""
    env = lmdb_open(home)
    manifests = env.open_db(b"manifests", create=False)
    refs = {}
    own = None
    with env.begin() as txn:
        for k, v in txn.cursor(db=manifests):
            m = json.loads(bytes(v))
            for t in m.get("tensors", []) + m.get("files", []):
                for ch in t.get("chunks", []):
                    refs.setdefault(ch, set()).add(k.hex())
            if k.hex() == model_hash:
                own = m
    env.close()
    for t in own["tensors"]:
        for ch in t["chunks"]:
            if refs[ch] == {model_hash}:
                return t.get("name") or t.get("info", {}).get("name"), ch
    return None, None


def mutate_chunk(home, chunk_hex, how):
    env = lmdb_open(home)
    chunks = env.open_db(b"chunks", create=False)
    with env.begin(write=True, db=chunks) as txn:
        v = bytearray(txn.get(bytes.fromhex(chunk_hex)))
        if how == "flip-middle":
            v[len(v) // 2] ^= 0xFF
        elif how == "flip-header":
            for i in range(min(8, len(v))):
                v[i] ^= 0x5A
        elif how == "truncate":
            v = v[: len(v) // 3]
        txn.put(bytes.fromhex(chunk_hex), bytes(v))
    env.close()


def corrupt_campaign(a):
    root = c.tmp_root("rel-corrupt-")
    pristine = os.path.join(root, "pristine")
    d = c.Daemon(pristine, bin_dir=a.bin)
    res = {"campaign": "corrupt", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin), "cases": []}
    try:
        d.start()
        c.seed_registry(d)
        for n in range(2):
            up = d.upload(c.variant_bytes("count", 500 + n))
            j = d.wait_job(d.post("/v1/register", d.register_body(up.json(), "count")).json()["id"])
            assert j["state"] == "succeeded", j
        hist = d.get("/v1/versions").json()
        info = {v["version"]: d.get(f"/v1/versions/{v['version']}").json()["model"] for v in hist}
        d.stop()
        target = hist[-1]["version"]            # the newest merged version
        other = hist[-2]["version"]
        thash = info[target]["content_hash"]
        tname, chunk = pick_chunk(pristine, thash, None)
        res["target"] = {"version": target, "model_hash": thash, "tensor": tname, "chunk": chunk, "other_version": other}

        def case(name, mutate, expect):
            home = os.path.join(root, name)
            shutil.copytree(pristine, home, symlinks=True)
            for leftover in ("recall.sock", "daemon.lock"):
                try:
                    os.remove(os.path.join(home, leftover))
                except OSError:
                    pass
            detail = mutate(home) or {}
            dd = c.Daemon(home, bin_dir=a.bin)
            out = {"case": name, "expect": expect, **detail}
            try:
                try:
                    dd.start(timeout=30)
                    out["started"] = True
                except RuntimeError as e:
                    out["started"] = False
                    out["start_error"] = str(e)[:400]
                    out["exit_code"] = dd.proc.returncode
                    out["crashed_by_signal"] = dd.proc.returncode is not None and dd.proc.returncode < 0
                    return out
                out["health"] = status_of(safe(dd.get, "/v1/health"))
                out["history"] = status_of(safe(dd.get, "/v1/versions"))
                h = safe(dd.get, "/v1/versions")
                out["versions_listed"] = len(h.json()) if isinstance(h, requests.Response) and h.status_code == 200 else None
                v = safe(dd.post, "/v1/verify", timeout=600)
                out["verify_status"] = status_of(v)
                out["verify"] = v.json() if isinstance(v, requests.Response) and v.status_code == 200 else body_of(v, 300)
                for label, ver in (("target", target), ("other", other)):
                    f = safe(dd.get, f"/v1/versions/{ver}/files/model.safetensors", timeout=60)
                    got = {"status": status_of(f)}
                    if isinstance(f, requests.Response):
                        got["bytes"] = len(f.content)
                        got["content_length_header"] = f.headers.get("Content-Length")
                        if f.status_code != 200:
                            got["body"] = f.text[:200]
                    else:
                        got["error"] = str(f)[:200]
                    out[f"download_{label}"] = got
                ex = os.path.join(root, f"export-{name}")
                r = dd.ctl("export", str(target), ex, check=False)
                out["export_target"] = {"exit": r.returncode, "stderr": r.stderr.strip()[:300],
                                        "left_files": sorted(os.listdir(ex)) if os.path.isdir(ex) else []}
                out["alive_after"] = dd.alive()
                if not dd.alive():
                    out["exit_code"] = dd.proc.returncode
                    out["log_tail"] = dd.tail_log(6)
                else:
                    out["status_after"] = status_of(safe(dd.get, "/v1/status"))
                    if name in ("remove-registry-sqlite", "truncate-registry-sqlite"):
                        st = safe(dd.get, "/v1/status")
                        out["status_body"] = body_of(st, 400)
                        # What a routine gc would do to the blobs now.
                        g = safe(dd.post, "/v1/gc", timeout=600)
                        out["gc_after"] = g.json() if isinstance(g, requests.Response) and g.status_code == 200 else body_of(g)
                    out["exit_code"] = dd.stop()
                return out
            finally:
                dd.kill()
                c.rmtree(home)
                c.rmtree(os.path.join(root, f"export-{name}"))

        def flip_raw(seed):
            def m(home):
                p = os.path.join(home, "store", "data.mdb")
                size = os.path.getsize(p)
                r = random.Random(seed)
                offs = []
                with open(p, "r+b") as f:
                    for _ in range(16):
                        off = r.randrange(0, size)
                        f.seek(off)
                        b = f.read(1)
                        f.seek(off)
                        f.write(bytes([b[0] ^ 0xFF]) if b else b"\xff")
                        offs.append(off)
                return {"offsets": offs, "file_bytes": size}
            return m

        cases = [
            ("chunk-flip-middle", lambda h: mutate_chunk(h, chunk, "flip-middle"), "verify names the model and tensor as corrupt; other versions read; target download/export fail clearly"),
            ("chunk-flip-header", lambda h: mutate_chunk(h, chunk, "flip-header"), "as above; the decoder refuses the bad header without crashing"),
            ("chunk-truncate", lambda h: mutate_chunk(h, chunk, "truncate"), "as above"),
            ("chunk-delete", lambda h: _delete_chunk(h, chunk), "verify names it missing"),
        ]
        cases += [(f"data-mdb-raw-flips-{s}", flip_raw(s), "no crash; LMDB or verify reports the damage") for s in range(a.raw_trials)]
        cases += [
            ("truncate-registry-sqlite", lambda h: _truncate(os.path.join(h, "registry.sqlite")), "a clear refusal to start or errors; no crash"),
            ("remove-registry-sqlite", lambda h: os.remove(os.path.join(h, "registry.sqlite")), "a clear refusal (store holds versions the database does not know), not a silent fresh registry"),
            ("remove-data-mdb", lambda h: os.remove(os.path.join(h, "store", "data.mdb")), "a clear refusal or verify reporting every version's model missing"),
            ("remove-cache-dir", lambda h: shutil.rmtree(os.path.join(h, "cache")), "rebuilt from the store; everything works"),
        ]
        for name, m, expect in cases:
            out = case(name, m, expect)
            res["cases"].append(out)
            v = out.get("verify")
            vs = (f"clean={v.get('clean')} manifests={v.get('manifests')} missing={len(v.get('missing', []))} corrupt={len(v.get('corrupt', []))}"
                  if isinstance(v, dict) else str(v)[:100])
            print(f"  corrupt {name}: started {out.get('started')}, verify {out.get('verify_status')} {vs}, "
                  f"target dl {out.get('download_target')}, other dl {(out.get('download_other') or {}).get('status')}, "
                  f"export exit {(out.get('export_target') or {}).get('exit')}, alive {out.get('alive_after')}, "
                  f"exit {out.get('exit_code')} {out.get('start_error', '')[:150]}", flush=True)
        return res
    finally:
        d.kill()
        c.write_result("corrupt", res)
        c.rmtree(root)


def _delete_chunk(home, chunk_hex):
    env = lmdb_open(home)
    chunks = env.open_db(b"chunks", create=False)
    with env.begin(write=True, db=chunks) as txn:
        txn.delete(bytes.fromhex(chunk_hex))
    env.close()


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return {"bytes_before": size, "bytes_after": size // 2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["all", "disk-full", "kill", "corrupt"])
    ap.add_argument("--bin", default=c.DEFAULT_BIN)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--max-delay", type=float, default=0.7, help="kill moment: uniform in [0, this] s after the round starts")
    ap.add_argument("--method", default="recall", help="merge method of the kill campaign's registry (recall has the most phases)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--tmpfs-mib", type=int, default=24)
    ap.add_argument("--free-levels", type=lambda s: [int(x) for x in s.split(",")],
                    default=[0, 64 << 10, 512 << 10, 1 << 20, 2 << 20, 3 << 20, 5 << 20])
    ap.add_argument("--raw-trials", type=int, default=6)
    a = ap.parse_args()
    ok = True
    if a.what in ("all", "disk-full"):
        r = disk_full(a)
        ok &= all(r["goals"].values())
    if a.what in ("all", "kill"):
        r = kill_campaign(a)
        ok &= all(r["goals"].values())
    if a.what in ("all", "corrupt"):
        corrupt_campaign(a)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
