#!/usr/bin/env python3
"""Check an HF directory that `GGUFImporter` wrote against transformers' own load of the GGUF.

    tools/.venv/bin/python tools/check_gguf_import.py MODEL.gguf IMPORTED_DIR [--max-rel 1e-4]

Checks (transformers 5.24, tokenizers 0.23):
  1. IMPORTED_DIR loads with `AutoModelForCausalLM.from_pretrained` (and `AutoTokenizer`).
  2. Every weight equals transformers' `from_pretrained(dir, gguf_file=MODEL.gguf)` one:
     per tensor, max |a - b| / max |b| <= --max-rel (default 1e-4). Same tensor names and shapes.
  3. Logits of both models on a few prompts: max |a - b| / max |b| <= --max-rel.
  4. Token ids: our tokenizer.json (loaded by the `tokenizers` library) against transformers'
     tokenizer for the GGUF, on ~24 varied strings. Differences are listed with both id lists.

Prints a JSON report on stdout; `OK:` / `FAIL:` / `NOTE:` lines on stderr. Exit 0 when all pass,
1 otherwise, 2 on usage errors. `--tokenizer-only` skips 2 and 3.
"""
import argparse
import json
import os
import sys

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and trailing   ",
    "line one\nline two\n\n\tindented",
    "It's they're we've I'm you'll he'd",
    "Numbers: 0 7 42 1234567 3.14159 2024-01-15 +1 (800) 555-0199",
    "$1,234,567.89 and 100% of 7/8",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { sum += a[i]; }",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    "<|endoftext|>after",
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e \u00e0 la fran\u00e7aise",
    "Gr\u00f6\u00dfe \u00dcbung Stra\u00dfe",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "emoji \U0001F600 \U0001F44D\U0001F3FD \U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001F1EB\U0001F1F7",
    "https://example.com/path?query=1&x=y#frag",
    "MixedCASE camelCase snake_case kebab-case",
    "!!!???... --- ***",
    "\u00bd \u00be \u00b2 \u00b3",
    "",
    " ",
    "a",
]


def rel_err(a, b):
    import torch
    a = a.detach().double()
    b = b.detach().double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("imported")
    ap.add_argument("--max-rel", type=float, default=1e-4)
    ap.add_argument("--tokenizer-only", action="store_true")
    args = ap.parse_args()
    if not os.path.isfile(args.gguf) or not os.path.isdir(args.imported):
        print("usage: check_gguf_import.py MODEL.gguf IMPORTED_DIR", file=sys.stderr)
        return 2

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = {"gguf": args.gguf, "imported": args.imported, "max_rel": args.max_rel}
    ok = True

    def say(flag, msg):
        nonlocal ok
        if flag == "FAIL":
            ok = False
        print(f"{flag}: {msg}", file=sys.stderr)

    gdir, gname = os.path.split(os.path.abspath(args.gguf))

    if not args.tokenizer_only:
        ours = AutoModelForCausalLM.from_pretrained(args.imported, dtype=torch.float32)
        theirs = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32)
        say("OK", f"imported directory loads: {type(ours).__name__}")
        sd_o, sd_t = ours.state_dict(), theirs.state_dict()
        if set(sd_o) != set(sd_t):
            say("FAIL", f"tensor names differ: only ours {sorted(set(sd_o) - set(sd_t))[:5]}, only transformers {sorted(set(sd_t) - set(sd_o))[:5]}")
        worst = (0.0, None)
        per = {}
        for k in sorted(set(sd_o) & set(sd_t)):
            if sd_o[k].shape != sd_t[k].shape:
                say("FAIL", f"{k}: shape {tuple(sd_o[k].shape)} vs {tuple(sd_t[k].shape)}")
                continue
            e = rel_err(sd_o[k], sd_t[k])
            per[k] = e
            if e > worst[0] or worst[1] is None:
                worst = (e, k)
        bad = {k: e for k, e in per.items() if e > args.max_rel}
        report["weights"] = {"tensors": len(per), "max_rel_err": worst[0], "worst_tensor": worst[1],
                             "exact": sum(1 for e in per.values() if e == 0.0), "over_limit": bad}
        say("FAIL" if bad else "OK", f"weights: {len(per)} tensors, max rel err {worst[0]:.3g} ({worst[1]}), {len(bad)} over {args.max_rel}")

        ttok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
        prompts = ["The capital of France is", "def add(a, b):\n    return", "<|im_start|>user\nHi!<|im_end|>\n"]
        logit_errs = []
        with torch.no_grad():
            for p in prompts:
                ids = torch.tensor([ttok.encode(p, add_special_tokens=False)])
                lo = ours(ids).logits
                lt = theirs(ids).logits
                logit_errs.append(rel_err(lo, lt))
        report["logits_max_rel_err"] = max(logit_errs)
        say("FAIL" if max(logit_errs) > args.max_rel else "OK", f"logits on {len(prompts)} prompts: max rel err {max(logit_errs):.3g}")

    ttok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    ours_tok = Tokenizer.from_file(os.path.join(args.imported, "tokenizer.json"))
    ours_auto = AutoTokenizer.from_pretrained(args.imported)
    diffs = []
    for t in TEXTS:
        want = ttok.encode(t, add_special_tokens=False)
        got = ours_tok.encode(t, add_special_tokens=False).ids
        got_auto = ours_auto.encode(t, add_special_tokens=False)
        if got != got_auto:
            say("FAIL", f"AutoTokenizer on the imported directory disagrees with its tokenizer.json on {t!r}")
        if got != want:
            diffs.append({"text": t, "ours": got, "transformers": want})
    report["tokenizer"] = {"texts": len(TEXTS), "equal": len(TEXTS) - len(diffs), "differences": diffs}
    if diffs:
        say("FAIL", f"token ids differ on {len(diffs)} of {len(TEXTS)} strings: " + "; ".join(repr(d["text"]) for d in diffs))
    else:
        say("OK", f"token ids equal on all {len(TEXTS)} strings")
    report["ok"] = ok
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
