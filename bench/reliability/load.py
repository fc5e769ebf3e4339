#!/usr/bin/env python3
"""Issue #20 point 4: load on the daemon over TCP.

16 concurrent clients for --duration seconds (default 600) against one daemon on a temporary
home: --registrars clients upload a distinct tiny model and register it (waiting for the job),
one client rolls head back to a random version every --rollback-every seconds (and evaluates a
random version every fifth time), the rest read history / show / the accuracy matrix, paced so
the reads together aim at --read-rate requests/s. Figures: requests served, p50/p99 latency per
route, errors, registrations acknowledged vs versions present, daemon RSS at start and end
(sampled every 10 s). Written to bench/results/reliability-load.json.

    tools/.venv-rel/bin/python bench/reliability/load.py [--duration 600] [--bin /work/bin-main]
"""
import argparse
import random
import sys
import threading
import time

import requests

import common as c


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}        # route -> [seconds]
        self.status = {}     # route -> {status: n}
        self.errors = []     # (route, what)
        self.throttled = 0

    def record(self, route, seconds, status):
        with self.lock:
            self.lat.setdefault(route, []).append(seconds)
            s = self.status.setdefault(route, {})
            s[str(status)] = s.get(str(status), 0) + 1

    def error(self, route, what):
        with self.lock:
            if len(self.errors) < 200:
                self.errors.append({"route": route, "error": what, "t": c.now_utc()})
            self.lat.setdefault(route, [])
            s = self.status.setdefault(route, {})
            s["error"] = s.get("error", 0) + 1


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def timed(stats, route, fn, ok=(200,)):
    t = time.perf_counter()
    try:
        r = fn()
    except requests.RequestException as e:
        stats.error(route, f"{type(e).__name__}: {e}")
        return None
    dt = time.perf_counter() - t
    stats.record(route, dt, r.status_code)
    if r.status_code == 429:
        with stats.lock:
            stats.throttled += 1
        return r
    if r.status_code not in ok:
        stats.error(route, f"HTTP {r.status_code}: {r.text[:200]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--registrars", type=int, default=2)
    ap.add_argument("--register-pause", type=float, default=1.0, help="seconds a registrar waits between registers")
    ap.add_argument("--read-rate", type=float, default=300, help="target reads/s over all reader clients")
    ap.add_argument("--rollback-every", type=float, default=3.0)
    ap.add_argument("--bin", default=c.DEFAULT_BIN)
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--out", default="load")
    a = ap.parse_args()
    readers = a.clients - a.registrars - 1
    assert readers >= 1

    root = c.tmp_root("rel-load-")
    d = c.Daemon(root + "/home", bin_dir=a.bin)
    stats = Stats()
    acknowledged = []          # (version, task, job id) of registers whose job succeeded with a version
    existing_acks = []         # jobs that succeeded as "existing" (identical content): no version expected
    failed_jobs = []
    rollbacks = {"acknowledged": 0}
    stop = threading.Event()
    known_versions = []        # version numbers seen, for show/rollback targets
    kv_lock = threading.Lock()
    seed_counter = [0]
    seed_lock = threading.Lock()
    rss = []

    try:
        d.start()
        seeded = c.seed_registry(d)
        known_versions.extend(v["version"] for v in seeded)
        time.sleep(1)
        rss_start = d.rss_kib()
        mem_start = d.memory()
        rss.append((0.0, rss_start, mem_start.get("RssAnon"), mem_start.get("RssFile"), loadavg(), mem_start.get("Threads"), 0))
        t0 = time.time()

        def registrar(k):
            s = requests.Session()
            s.headers.update(d.session.headers)
            rnd = random.Random(1000 + k)
            while not stop.is_set():
                with seed_lock:
                    seed_counter[0] += 1
                    n = seed_counter[0]
                task = c.TASKS[n % len(c.TASKS)]
                data = c.variant_bytes(task, n)
                u = timed(stats, "POST /v1/uploads", lambda: s.post(d.url + "/v1/uploads", params={"name": f"{task}.safetensors"},
                                                                     data=data, timeout=120), ok=(201,))
                if u is None or u.status_code != 201:
                    time.sleep(1)
                    continue
                body = d.register_body(u.json(), task, with_eval=(n % 10 == 0))
                r = timed(stats, "POST /v1/register", lambda: s.post(d.url + "/v1/register", json=body, timeout=120), ok=(202,))
                if r is None or r.status_code != 202:
                    time.sleep(1)
                    continue
                jid = r.json()["id"]
                while True:  # finish following the job even after stop, so it is counted
                    j = timed(stats, "GET /v1/jobs/{id}", lambda: s.get(f"{d.url}/v1/jobs/{jid}", timeout=60))
                    if j is None or j.status_code != 200:
                        time.sleep(0.5)
                        continue
                    j = j.json()
                    if j["state"] in ("succeeded", "failed", "cancelled"):
                        break
                    time.sleep(0.1)
                if j["state"] == "succeeded":
                    res = j.get("result") or {}
                    if res.get("version") is not None and not res.get("existing"):
                        acknowledged.append({"version": res["version"], "task": task, "job": jid})
                        with kv_lock:
                            known_versions.append(res["version"])
                    else:
                        existing_acks.append(jid)
                else:
                    failed_jobs.append({"job": jid, "state": j["state"], "error": j.get("error")})
                    stats.error("job", f"job {jid} {j['state']}: {j.get('error')}")
                stop.wait(a.register_pause * (0.5 + rnd.random()))

        def roller():
            s = requests.Session()
            s.headers.update(d.session.headers)
            rnd = random.Random(7)
            n = 0
            while not stop.wait(a.rollback_every):
                n += 1
                with kv_lock:
                    v = rnd.choice(known_versions)
                r = timed(stats, "POST /v1/rollback", lambda: s.post(d.url + "/v1/rollback", json={"version": str(v)}, timeout=60))
                if r is not None and r.status_code == 200:
                    rollbacks["acknowledged"] += 1
                    if r.json().get("head") != v:
                        stats.error("POST /v1/rollback", f"rollback to {v} answered head {r.json().get('head')}")
                if n % 5 == 0:
                    with kv_lock:
                        v = rnd.choice(known_versions)
                    timed(stats, "POST /v1/versions/{ref}/eval", lambda: s.post(f"{d.url}/v1/versions/{v}/eval", timeout=120))

        def reader(k):
            s = requests.Session()
            s.headers.update(d.session.headers)
            rnd = random.Random(k)
            interval = readers / a.read_rate
            nxt = time.perf_counter()
            while not stop.is_set():
                x = rnd.random()
                if x < 0.25:
                    timed(stats, "GET /v1/versions", lambda: s.get(d.url + "/v1/versions", timeout=60))
                elif x < 0.75:
                    with kv_lock:
                        v = rnd.choice(known_versions) if rnd.random() < 0.8 else "head"
                    timed(stats, "GET /v1/versions/{ref}", lambda: s.get(f"{d.url}/v1/versions/{v}", timeout=60))
                elif x < 0.95:
                    timed(stats, "GET /v1/evaluations", lambda: s.get(d.url + "/v1/evaluations", timeout=60))
                else:
                    timed(stats, "GET /v1/status", lambda: s.get(d.url + "/v1/status", timeout=60))
                nxt += interval
                delay = nxt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    nxt = time.perf_counter()

        threads = [threading.Thread(target=registrar, args=(k,)) for k in range(a.registrars)]
        threads.append(threading.Thread(target=roller))
        threads += [threading.Thread(target=reader, args=(k,)) for k in range(readers)]
        for t in threads:
            t.start()
        last_print = 0
        while time.time() - t0 < a.duration:
            time.sleep(1)
            el = time.time() - t0
            if el - (rss[-1][0] if rss else 0) >= 10:
                m = d.memory()
                rss.append((round(el, 1), m.get("VmRSS"), m.get("RssAnon"), m.get("RssFile"), loadavg(), m.get("Threads"), len(acknowledged)))
            if el - last_print >= 60:
                last_print = el
                with stats.lock:
                    served = sum(len(v) for v in stats.lat.values())
                print(f"  {el:5.0f} s: {served} requests ({served / el:.0f}/s), {len(acknowledged)} registers acknowledged, "
                      f"{len(stats.errors)} errors, RSS {d.rss_kib() / 1024:.0f} MiB (anon {d.memory().get('RssAnon', 0) / 1024:.0f}), "
                      f"load average {loadavg()}", flush=True)
        stop.set()
        for t in threads:
            t.join(300)
        elapsed = time.time() - t0
        rss_end = d.rss_kib()
        mem_end = d.memory()
        rss.append((round(elapsed, 1), rss_end, mem_end.get("RssAnon"), mem_end.get("RssFile"), loadavg(), mem_end.get("Threads"), len(acknowledged)))

        # Acknowledged vs present.
        hist = d.get("/v1/versions").json()
        present = {v["version"]: v for v in hist}
        missing = [x for x in acknowledged if x["version"] not in present]
        wrong_task = [x for x in acknowledged if x["version"] in present and present[x["version"]]["task"] != x["task"]]
        seeded_n = len(seeded)
        unexplained = len(hist) - seeded_n - len(acknowledged)
        status = d.get("/v1/status").json()
        t = time.time()
        ver = c.verify(d)
        verify_s = time.time() - t
        exit_code = d.stop()

        routes = {}
        total = 0
        for route, xs in sorted(stats.lat.items()):
            n = len(xs)
            total += n
            routes[route] = {"requests": n, "per_s": round(n / elapsed, 2),
                             "p50_ms": round(pct(xs, 50) * 1000, 2) if xs else None,
                             "p99_ms": round(pct(xs, 99) * 1000, 2) if xs else None,
                             "max_ms": round(max(xs) * 1000, 2) if xs else None,
                             "status": stats.status.get(route, {})}
        reads = sum(routes[r]["requests"] for r in routes if r in ("GET /v1/versions", "GET /v1/versions/{ref}", "GET /v1/evaluations"))
        result = {
            "campaign": "load", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin),
            "parameters": {"duration_s": a.duration, "clients": a.clients, "registrars": a.registrars, "readers": readers,
                           "rollback_every_s": a.rollback_every, "register_pause_s": a.register_pause,
                           "read_rate_target": a.read_rate, "method": "regmean", "scenario": "experts", "nice": "see Makefile"},
            "elapsed_s": round(elapsed, 1),
            "requests_served": total, "requests_per_s": round(total / elapsed, 1),
            "reads_per_s": round(reads / elapsed, 1),
            "routes": routes,
            "errors": len([e for e in stats.errors]), "error_samples": stats.errors[:20],
            "throttled_429": stats.throttled,
            "registers": {"acknowledged": len(acknowledged), "existing_acknowledged": len(existing_acks),
                          "failed_jobs": failed_jobs[:20], "failed_jobs_n": len(failed_jobs),
                          "versions_present": len(hist), "seeded_versions": seeded_n,
                          "acknowledged_missing": missing[:20], "acknowledged_missing_n": len(missing),
                          "acknowledged_wrong_task": len(wrong_task),
                          "versions_not_acknowledged": unexplained},
            "rollbacks_acknowledged": rollbacks["acknowledged"],
            "rss_kib": {"start": rss_start, "end": rss_end, "max": max(x[1] or 0 for x in rss),
                        "anon_start": mem_start.get("RssAnon"), "anon_end": mem_end.get("RssAnon"),
                        "file_start": mem_start.get("RssFile"), "file_end": mem_end.get("RssFile"),
                        "samples_columns": ["elapsed_s", "VmRSS", "RssAnon", "RssFile", "loadavg_1min", "Threads", "registers_acknowledged"], "samples": rss},
            "machine_loadavg_mean": round(sum(x[4] for x in rss) / len(rss), 2),
            "store": status.get("store"), "jobs": status.get("jobs"),
            "verify": ver, "verify_s": round(verify_s, 2), "daemon_exit_code": exit_code,
        }
        result["goals"] = {
            "reads_per_s_ge_200": result["reads_per_s"] >= 200,
            "errors_eq_0": result["errors"] == 0,
            "acknowledged_eq_present": len(missing) == 0 and unexplained == 0 and not wrong_task,
            "verify_clean": ver.get("clean") is True and not ver.get("missing") and not ver.get("corrupt"),
        }
        path = c.write_result(a.out, result)
        print(f"load: {total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s, reads {result['reads_per_s']}/s), "
              f"errors {result['errors']}, 429s {stats.throttled}, acknowledged {len(acknowledged)} vs present "
              f"{len(hist)} - {seeded_n} seeded (missing {len(missing)}, unexplained {unexplained}), "
              f"RSS {rss_start / 1024:.0f} -> {rss_end / 1024:.0f} MiB (anon {mem_start.get('RssAnon', 0) / 1024:.0f} -> "
              f"{mem_end.get('RssAnon', 0) / 1024:.0f}, file {mem_start.get('RssFile', 0) / 1024:.0f} -> {mem_end.get('RssFile', 0) / 1024:.0f}), "
              f"load average {result['machine_loadavg_mean']}, verify clean {ver.get('clean')}; {path}")
        for route, r in routes.items():
            print(f"  {route:34s} {r['requests']:8d}  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  {r['status']}")
        return 0 if all(result["goals"].values()) else 1
    finally:
        stop.set()
        d.kill()
        if not a.keep:
            c.rmtree(root)
        else:
            print("kept", root)


if __name__ == "__main__":
    sys.exit(main())
