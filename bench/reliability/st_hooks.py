"""Schemathesis hooks for bench/reliability/schemathesis.py.

Export bodies name a directory on the daemon's machine. A daemon with path isolation answers 403
over TCP whatever the path; a daemon without it (binaries before 81bab0a) would write model files
wherever the generated string points, so the path is moved under $RR_SANDBOX first (keeping its
characters, so odd names are still sent). The daemon also runs as `nobody`, which can write almost
nowhere else.
"""
import os
import re

import schemathesis

SANDBOX = os.environ.get("RR_SANDBOX", "/nonexistent-sandbox")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.path.endswith("/export") and isinstance(case.body, dict) and isinstance(case.body.get("path"), str):
        tail = re.sub(r"[/\x00]", "_", case.body["path"])[:80]
        if tail in ("", ".", ".."):
            tail = f"dot{len(tail)}"
        case.body["path"] = os.path.join(SANDBOX, tail)
