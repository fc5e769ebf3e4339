"""Shared pieces of the reliability campaigns (bench/reliability/*.py).

A daemon on a temporary home (Unix socket + TCP with a token), a seeded registry built from the
bundled tiny models (Tests/Fixtures/cl-tiny), distinct tiny task models made by
nudging a few weights of the fixture experts, and a small TCP client.
"""
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "cl-tiny")
TASKS = ["colour", "count", "opposite"]
DEFAULT_BIN = os.environ.get("RECALL_BIN", "/work/bin-main")
RESULTS = os.path.join(REPO, "bench", "results")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples_text(task):
    with open(os.path.join(FIXTURE, "tasks", task, "samples.jsonl")) as f:
        return f.read()


def eval_text(task, items=10):
    with open(os.path.join(FIXTURE, "tasks", task, "eval.jsonl")) as f:
        return "".join(f.readlines()[:items])


def variant_bytes(task, seed):
    """The fixture expert of `task` with a handful of F32 weights of one layer nudged by a
    seed-dependent amount: distinct content (so a register makes a version), still finite and
    still the base's names and shapes."""
    with open(os.path.join(FIXTURE, f"expert-{task}", "model.safetensors"), "rb") as f:
        data = bytearray(f.read())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    names = sorted(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32"
                   and k.endswith("mlp.up_proj.weight"))
    name = names[seed % len(names)]
    start = 8 + n + header[name]["data_offsets"][0]
    for i in range(8):
        off = start + 4 * ((seed * 7919 + i * 131) % 256)
        (x,) = struct.unpack_from("<f", data, off)
        struct.pack_into("<f", data, off, x + 1e-3 * (1 + (seed % 97)) * (1 if i % 2 else -1))
    return bytes(data)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "kernel": platform.release(),
            "python": platform.python_version()}


def binary_info(bin_dir):
    out = {}
    for name in ("recall-registry", "recallctl"):
        p = os.path.join(bin_dir, name)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[name] = {"path": p, "sha256": h.hexdigest()}
    out["repo_commit"] = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                                        text=True).stdout.strip()
    return out


def now_utc():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_result(name, payload):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"reliability-{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=False)
        f.write("\n")
    return path


class Daemon:
    """`recall-registry serve` on HOME, on its socket and on 127.0.0.1:PORT with a token."""

    def __init__(self, home, bin_dir=DEFAULT_BIN, port=None, token=None, cwd=None, extra=None, user=None):
        self.home = home
        self.bin = bin_dir
        self.port = port or free_port()
        self.token = token or secrets.token_hex(16)
        self.cwd = cwd or home
        self.extra = extra or []
        self.user = user
        self.proc = None
        self.token_file = os.path.join(os.path.dirname(home.rstrip("/")), f"token-{os.path.basename(home)}")
        self.log_path = os.path.join(os.path.dirname(home.rstrip("/")), f"daemon-{os.path.basename(home)}.log")
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = os.path.join(home, "recall.sock")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def start(self, timeout=30, wait=True):
        os.makedirs(self.home, exist_ok=True)
        with open(self.token_file, "w") as f:
            f.write(self.token + "\n")
        os.chmod(self.token_file, 0o644)
        cmd = [os.path.join(self.bin, "recall-registry"), "serve", "--home", self.home,
               "--listen", f"127.0.0.1:{self.port}", "--token-file", self.token_file, "--log-level", "warning"] + self.extra
        if self.user:
            cmd = ["setpriv", f"--reuid={self.user}", "--regid=65534" if self.user == "nobody" else f"--regid={self.user}", "--clear-groups", "--"] + cmd
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}; log {self.log_path}: {self.tail_log()}")
            try:
                r = self.session.get(self.url + "/v1/health", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not answer in {timeout} s; log {self.log_path}")

    def tail_log(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                return b" | ".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self):
        return self.memory().get("VmRSS")

    def memory(self):
        """VmRSS split into RssAnon (heap) and RssFile (mostly LMDB's mapped data.mdb pages), KiB; and the thread count."""
        out = {}
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    k = line.split(":")[0]
                    if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
                        out[k] = int(line.split()[1])
        except OSError:
            pass
        return out

    def stop(self, timeout=90):
        """SIGTERM, wait; returns the exit code (None if it had to be killed)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self.log.close()

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        try:
            self.log.close()
        except Exception:
            pass

    # -- TCP API ---------------------------------------------------------------
    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        return self.session.get(self.url + path, **kw)

    def post(self, path, body=None, **kw):
        kw.setdefault("timeout", 120)
        if body is not None:
            kw["json"] = body
        return self.session.post(self.url + path, **kw)

    def upload(self, data, name="model.safetensors", timeout=120):
        return self.session.post(self.url + "/v1/uploads", params={"name": name}, data=data,
                                 headers={"Content-Type": "application/octet-stream"}, timeout=timeout)

    def register_body(self, upload_reply, task, with_eval=False):
        """The register body for an upload reply: the id when the daemon gave one, else its path
        (daemons before path isolation answered only a path)."""
        body = {"task": task, "samples": samples_text(task)}
        if "upload" in upload_reply:
            body["upload"] = upload_reply["upload"]
        else:
            body["model"] = upload_reply["path"]
            body["uploaded"] = True
        if with_eval:
            body["eval"] = eval_text(task)
        return body

    def wait_job(self, job_id, timeout=600, poll=0.05):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get(f"/v1/jobs/{job_id}")
            r.raise_for_status()
            j = r.json()
            if j["state"] in ("succeeded", "failed", "cancelled"):
                return j
            time.sleep(poll)
        raise TimeoutError(f"job {job_id} not finished in {timeout} s")

    # -- recallctl over the Unix socket ------------------------------------------
    def ctl(self, *args, check=True, timeout=600):
        env = dict(os.environ, RECALL_SOCKET=self.socket)
        r = subprocess.run([os.path.join(self.bin, "recallctl"), *args], env=env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"recallctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r


def seed_registry(d, method="regmean", with_eval=True):
    """init from the tiny base (over the socket: init names a server path) and one register of
    each fixture expert; returns the versions."""
    d.ctl("init", os.path.join(FIXTURE, "base"), "--method", method)
    for t in TASKS:
        args = ["register", os.path.join(FIXTURE, f"expert-{t}"), "--task", t,
                "--samples", os.path.join(FIXTURE, "tasks", t, "samples.jsonl")]
        if with_eval:
            ev = os.path.join(d.home, "..", f"eval-{t}.jsonl")
            with open(ev, "w") as f:
                f.write(eval_text(t))
            args += ["--eval", ev]
        d.ctl(*args)
    return d.get("/v1/versions").json()


def verify(d):
    r = d.post("/v1/verify", timeout=1800)
    r.raise_for_status()
    return r.json()


def tmp_root(prefix):
    base = os.environ.get("RELIABILITY_TMP", "/tmp")
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
