#!/usr/bin/env python3
"""How the cost of one read grows with the registry (the load campaign's reads slowed down as
versions piled up): one client, sequential, median of --n requests per route at 4 versions and
after --versions more registers. Written to bench/results/reliability-read-cost.json.

    tools/.venv-rel/bin/python bench/reliability/read_cost.py [--versions 400]
"""
import argparse
import statistics
import sys
import time

import common as c

ROUTES = ["/v1/versions", "/v1/versions/head", "/v1/evaluations", "/v1/status", "/metrics", "/v1/jobs"]


def measure(d, n):
    out = {}
    for p in ROUTES:
        xs = []
        size = 0
        for _ in range(n):
            t = time.perf_counter()
            r = d.get(p)
            xs.append(time.perf_counter() - t)
            size = len(r.content)
        out[p] = {"median_ms": round(statistics.median(xs) * 1000, 2), "bytes": size}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=400)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--bin", default=c.DEFAULT_BIN)
    a = ap.parse_args()
    root = c.tmp_root("rel-readcost-")
    d = c.Daemon(root + "/home", bin_dir=a.bin)
    try:
        d.start()
        c.seed_registry(d)
        small = measure(d, a.n)
        for k in range(a.versions):
            task = c.TASKS[k % 3]
            up = d.upload(c.variant_bytes(task, 10_000 + k))
            d.wait_job(d.post("/v1/register", d.register_body(up.json(), task, with_eval=(k % 10 == 0))).json()["id"])
        st = d.get("/v1/status").json()
        big = measure(d, a.n)
        res = {"campaign": "read-cost", "date": c.now_utc(), "machine": c.machine(), "binaries": c.binary_info(a.bin),
               "small": {"versions": 4, "routes": small},
               "large": {"versions": st["versions"], "chunks": st["store"]["chunks"], "stored_bytes": st["store"]["stored_bytes"], "routes": big}}
        c.write_result("read-cost", res)
        for p in ROUTES:
            print(f"  {p:22s} {small[p]['median_ms']:8.2f} ms ({small[p]['bytes']} B) -> {big[p]['median_ms']:8.2f} ms ({big[p]['bytes']} B) at {st['versions']} versions")
        d.stop()
    finally:
        d.kill()
        c.rmtree(root)


if __name__ == "__main__":
    sys.exit(main())
