#!/usr/bin/env python3
"""Issue #20 point 3: the API attacked by its own contract.

Starts the daemon (as `nobody`, TCP with a token) on a temporary home, seeds a small registry
over the Unix socket (init + three registers + a tag), runs Schemathesis against docs/openapi.yaml
over TCP with the token (every operation; examples, coverage, fuzzing and stateful phases; every
check), then probes the path-isolation rules the document states, checks the daemon is alive,
`verify` is clean, every failed job has a reason, and what uploads were left in incoming/, stops
the daemon (SIGTERM, exit code) and removes the home. Figures go to
bench/results/reliability-schemathesis.json, Schemathesis' own reports next to the home while it
runs (kept with --keep).

    bench/reliability/schemathesis.sh   (or: tools/.venv-rel/bin/python bench/reliability/contract.py) [--max-examples 100] [--seed 20]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import common as c

VENV_BIN = os.path.dirname(sys.executable)


def probe_paths(d, sandbox):
    """What the document says about server paths over TCP (info: TCP 403 for any server path)."""
    probes = []

    def add(name, r, want):
        probes.append({"probe": name, "status": r.status_code, "expected": want, "ok": r.status_code in want,
                       "body": r.text[:200]})

    add("POST /v1/init {base} over TCP", d.post("/v1/init", {"base": os.path.join(c.FIXTURE, "base")}), [403])
    add("POST /v1/register {model: server path} over TCP",
        d.post("/v1/register", {"model": os.path.join(c.FIXTURE, "expert-count"), "task": "probe", "samples": c.samples_text("count")}), [403])
    target = os.path.join(sandbox, "probe-export")
    r = d.post("/v1/versions/head/export", {"path": target})
    add("POST /v1/versions/head/export {path} over TCP", r, [403])
    probes[-1]["files_written"] = sorted(os.listdir(target)) if os.path.isdir(target) else []
    r = d.upload(b"x" * 10, name="../../../../tmp/escape.safetensors")
    add("POST /v1/uploads?name=../../.. (201 with a name the daemon makes)", r, [201])
    probes[-1]["reply_keys"] = sorted(r.json().keys()) if r.status_code == 201 else []
    probes[-1]["ok"] = probes[-1]["ok"] and "upload" in probes[-1]["reply_keys"] and "path" not in probes[-1]["reply_keys"] \
        and not os.path.exists("/tmp/escape.safetensors")
    add("POST /v1/register {upload: ../x} over TCP",
        d.post("/v1/register", {"upload": "../registry.sqlite", "task": "probe", "samples": c.samples_text("count")}), [400, 403, 404])
    return probes


def parse_ndjson(path):
    failures = {}
    statuses = {}
    requests_n = 0
    for line in open(path):
        ev = json.loads(line)
        (kind, body), = ev.items()
        if kind != "ScenarioFinished":
            continue
        rec = body.get("recorder") or {}
        for case_id, inter in (rec.get("interactions") or {}).items():
            resp = inter.get("response") or {}
            if resp:
                requests_n += 1
                s = str(resp.get("status_code"))
                statuses[s] = statuses.get(s, 0) + 1
        for case_id, checks in (rec.get("checks") or {}).items():
            for ch in checks:
                if ch.get("status") != "failure":
                    continue
                f = ch["failure_info"]["failure"]
                key = (f.get("code"), f.get("operation"), f.get("title"))
                if key in failures:
                    failures[key]["count"] += 1
                    continue
                case = (rec.get("cases") or {}).get(case_id, {}).get("value", {})
                inter = (rec.get("interactions") or {}).get(case_id) or {}
                resp = inter.get("response") or {}
                content = resp.get("content") or {}
                if "$base64" in content:
                    import base64
                    content = base64.b64decode(content["$base64"]).decode(errors="replace")
                failures[key] = {"code": f.get("code"), "operation": f.get("operation"), "title": f.get("title"),
                                 "message": (f.get("message") or "")[:400], "count": 1,
                                 "request": {"method": case.get("method"), "path": case.get("path"),
                                             "query": case.get("query"), "body": case.get("body")},
                                 "response": {"status": resp.get("status_code"), "body": str(content)[:300]}}
    return list(failures.values()), statuses, requests_n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=c.DEFAULT_BIN)
    ap.add_argument("--max-examples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--workers", default="2")
    ap.add_argument("--user", default="nobody", help="run the daemon as this user ('' for the current one)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    root = c.tmp_root("rel-st-")
    os.chmod(root, 0o755)
    home = os.path.join(root, "home")
    sandbox = os.path.join(root, "sandbox")
    report_dir = os.path.join(root, "report")
    for p in (home, sandbox):
        os.makedirs(p)
        if a.user:
            shutil.chown(p, a.user, None)
    marker = os.path.join(root, "marker")
    open(marker, "w").close()
    d = c.Daemon(home, bin_dir=a.bin, cwd=sandbox, user=a.user or None)
    result = {"campaign": "schemathesis", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin)}
    rc = 1
    try:
        d.start()
        seeded = c.seed_registry(d)
        d.ctl("tag", "stable", "2")
        pid = d.proc.pid
        result["seeded_versions"] = len(seeded)
        env = dict(os.environ, SCHEMATHESIS_HOOKS="st_hooks", RR_SANDBOX=sandbox,
                   PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
        cmd = [os.path.join(VENV_BIN, "schemathesis"), "run", os.path.join(c.REPO, "docs", "openapi.yaml"),
               "--url", d.url, "-H", f"Authorization: Bearer {d.token}", "--checks", "all",
               "--phases", "examples,coverage,fuzzing,stateful", "-n", str(a.max_examples), "--seed", str(a.seed),
               "-w", a.workers, "--request-timeout", "60", "--report", "json,ndjson", "--report-dir", report_dir,
               "--suppress-health-check", "all"]
        t = time.time()
        st = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
        result["schemathesis_s"] = round(time.time() - t, 1)
        log = os.path.join(root, "schemathesis.log")
        keep_dir = os.path.join(c.RESULTS, "tmp")  # git-ignored: the last full log, for the details of each failure
        os.makedirs(keep_dir, exist_ok=True)
        with open(log, "w") as f:
            f.write(st.stdout + st.stderr)
        shutil.copy(log, os.path.join(keep_dir, "schemathesis.log"))
        summary = st.stdout[st.stdout.rfind("=== SUMMARY"):] if "SUMMARY" in st.stdout else st.stdout[-3000:]
        print(summary)
        rep = json.load(open(glob.glob(os.path.join(report_dir, "json-*.json"))[0]))
        failures, statuses, nreq = parse_ndjson(glob.glob(os.path.join(report_dir, "ndjson-*.ndjson"))[0])
        result["schemathesis"] = {"version": rep.get("schemathesis_version"), "exit_code": st.returncode,
                                  "command": " ".join(x if "Bearer" not in x else "Authorization: Bearer ***" for x in cmd[1:]),
                                  "operations": rep.get("operations"), "phases": rep.get("phases"),
                                  "test_cases": rep.get("test_cases"), "requests": nreq, "status_codes": statuses,
                                  "failure_kinds": rep.get("failures"), "errors": rep.get("errors"), "warnings": {k: v for k, v in (rep.get("warnings") or {}).items() if v}}
        result["server_errors_5xx"] = sum(n for s, n in statuses.items() if s.startswith("5"))
        result["failures"] = failures
        result["daemon_alive_after"] = d.alive() and d.proc.pid == pid
        result["path_probes"] = probe_paths(d, sandbox)
        ver = c.verify(d)
        result["verify"] = ver
        status = d.get("/v1/status").json()
        jobs = d.get("/v1/jobs").json()
        result["status_after"] = {"versions": status["versions"], "head": status["head"], "jobs": status["jobs"]}
        result["failed_jobs_without_reason"] = [j["id"] for j in jobs if j["state"] == "failed" and not j.get("error")]
        result["failed_job_reasons"] = sorted({(j.get("error") or "")[:120] for j in jobs if j["state"] == "failed"})[:20]
        leftover = sorted(os.listdir(os.path.join(home, "incoming")))
        result["incoming_leftover"] = {"files": len(leftover), "bytes": sum(os.path.getsize(os.path.join(home, "incoming", x)) for x in leftover)}
        result["daemon_exit_code"] = d.stop()
        # Anything the daemon user wrote outside the temporary root during the run.
        if a.user:
            out = subprocess.run(["find", "/", "-xdev", "-user", a.user, "-newer", marker, "-not", "-path", root + "/*",
                                  "-not", "-path", "/proc/*"], capture_output=True, text=True)
            result["written_outside_root"] = [x for x in out.stdout.split() if x][:20]
        result["sandbox_entries"] = len(os.listdir(sandbox))
        result["goals"] = {"no_5xx": result["server_errors_5xx"] == 0,
                           "no_schema_violations": not any(f["code"] == "ST108" for f in failures),
                           "verify_clean": ver.get("clean") is True,
                           "daemon_alive": result["daemon_alive_after"],
                           "path_isolation_as_documented": all(p["ok"] for p in result["path_probes"])}
        path = c.write_result("schemathesis", result)
        print(json.dumps({k: result[k] for k in ("server_errors_5xx", "goals", "incoming_leftover", "status_after")}, indent=1))
        for f in failures:
            print(f"  {f['code']} {f['operation']}: {f['title']} (x{f['count']}) -> {f['response']['status']} {f['response']['body'][:120]}")
        for p in result["path_probes"]:
            print(f"  probe {p['probe']}: {p['status']} (expected {p['expected']}) {'ok' if p['ok'] else 'NOT OK'}")
        print("written", path)
        rc = 0 if all(result["goals"].values()) else 1
    finally:
        d.kill()
        if a.keep:
            print("kept", root)
        else:
            c.rmtree(root)
    return rc


if __name__ == "__main__":
    sys.exit(main())
