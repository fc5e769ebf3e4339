#!/usr/bin/env python3
"""Render bench/results/*.json into BENCHMARKS.md (figures as ratios against the competitor
measured in the same run)."""
import json, os, platform, sys, datetime

results, out = sys.argv[1], sys.argv[2]
lines = ["# Benchmarks", "",
         "Written by `make bench` (bench/run.sh); every ratio compares figures measured in the same run on the same machine.",
         f"Last run: {datetime.date.today()}, {os.cpu_count()} cores, {platform.machine()}.", ""]

conv = os.path.join(results, "convert.json")
if os.path.exists(conv):
    r = json.load(open(conv))
    m, o, t = r["memcpy"], r["recall"], r["torch"]
    lines += ["## Read a bf16 checkpoint and convert it all to f32 (issue: foundation)", "",
              f"Checkpoint: random bf16 with SmolLM2-135M's shapes, {o['read_bytes']/1e6:.0f} MB read, {o['written_bytes']/1e6:.0f} MB of f32 produced; best of 5, page cache warm.",
              "Traffic = bytes read + bytes written; memcpy is a 2-thread memcpy of 512 MiB counted the same way.", "",
              "| path | seconds | GB/s read | GB/s traffic | vs torch | vs memcpy | peak RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| RecallCore (mmap + SIMD widen, {o['threads']} threads) | {o['seconds']:.3f} | {o['gbps_read']:.2f} | {o['gbps_traffic']:.2f} | **{t['seconds']/o['seconds']:.2f}x faster** | {o['gbps_traffic']/m['memcpy_gbps_traffic']:.0%} | {o['peak_rss_kib']/1024:.0f} MiB |",
              f"| safetensors.torch.load_file + .float() (torch {t['torch']}, {t['threads']} threads) | {t['seconds']:.3f} | {t['gbps_read']:.2f} | {t['gbps_traffic']:.2f} | 1.00x | {t['gbps_traffic']/m['memcpy_gbps_traffic']:.0%} | {t['peak_rss_kib']/1024:.0f} MiB |",
              f"| memcpy (2 threads) | | | {m['memcpy_gbps_traffic']:.2f} | | 100% | |", ""]
open(out, "w").write("\n".join(lines) + "\n")
