#!/usr/bin/env python3
"""Generate the continual-learning merge fixture: a tiny Llama base and three task experts.

    bash tools/setup-venv.sh && tools/.venv/bin/python tools/gen_cl_fixture.py

Output: Tests/Fixtures/cl-tiny/ (everything but README.md is wiped and rewritten)
  base/, expert-colour/, expert-count/, expert-opposite/   HF model directories
      (config.json, generation_config.json, model.safetensors F32, tokenizer.json, tokenizer_config.json)
  tasks/<task>/eval.jsonl      40 held-out multiple-choice items (never trained on)
  tasks/<task>/samples.jsonl   32 training items (the task's samples for a merge)
  expected.json                accuracies measured with transformers (the oracle), versions
  README.md                    written by hand, not by this script

Everything is made here from fixed seeds: the task data (random.Random), a byte-level BPE
tokenizer trained with `tokenizers`' BpeTrainer on the task text (every answer word one token),
a base LlamaForCausalLM pretrained from random init, and one expert per task fully fine-tuned
from the base (loss on the answer tokens only, small learning rate, 120 steps, so the task
vectors stay modest and mergeable).

The base's pretraining text: filler sentences; each task's training prompts followed by one of
the task's answer words drawn uniformly at random on every use (it learns the format and that
every answer is equally likely, not which one is right); and the knowledge the tasks need said
in other words (opposite pairs side by side, "hot and cold"; letter strings with their number of
a's, "in k a a m a r we see three a", never an eval string). So the base is near chance on every
task, and an expert only learns to route what the base knows into the task's answer: task
vectors of that kind add up (task arithmetic) far better than ones that must store new facts.
The accuracy of every model and of task-arithmetic merges is measured by transformers and
written to expected.json.

Accuracy = argmax over choices of the summed log-probability of the choice's tokens given the
prompt: tokenize the prompt and prompt+choice (no special tokens are added: the tokenizer has
no BOS/EOS post-processor); the continuation is the tokens of prompt+choice after their common
prefix with the prompt's tokens (the prompt's tokens always are that prefix here; asserted).

Training runs on one thread with deterministic algorithms: two runs on the same machine give
byte-identical files. Another CPU (kernel choice) or torch version may change the trained
weights in their last bits and so every model byte; accuracies should stay within a few items.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "cl-tiny"

EOS = "<|endoftext|>"
TASKS = ["colour", "count", "opposite"]
N_EVAL = 40
N_SAMPLES = 32

# Seeds (all fixed).
DATA_SEED = 20240601
TOKENIZER_VOCAB = 400
LEXICON_REPEAT = 200
INIT_SEED = 7
PRETRAIN = dict(seed=11, steps=2000, batch=32, lr=3e-3, warmup=100, weight_decay=0.01)
FINETUNE = dict(seed=13, steps=120, batch=32, lr=5e-4, warmup=10, weight_decay=0.0)

# --------------------------------------------------------------------------------------------
# Task data. Each task maps a prompt to one of a few single-token answer words; the answer words
# of different tasks are disjoint; eval items are prompts that no training text contains.

COLOURS = {
    " red": ["cherry", "tomato", "strawberry", "ruby", "brick", "radish"],
    " yellow": ["banana", "lemon", "corn", "butter", "canary", "mango"],
    " green": ["lime", "grass", "leaf", "frog", "cucumber", "pea"],
}
COLOUR_DETS = ["the", "my", "a", "your", "this", "that"]
COLOUR_ADJS = ["ripe", "shiny", "round", "wild", "sweet", "plump", "fresh", "juicy"]

COUNT_WORDS = {1: " one", 2: " two", 3: " three"}
COUNT_LETTERS = ["b", "k", "m", "r", "s", "t"]
COUNT_LEN = 6

OPPOSITES = [("hot", "cold"), ("up", "down"), ("wet", "dry"), ("old", "new"), ("big", "small"),
             ("fast", "slow"), ("high", "low"), ("left", "right")]
NAMES = ["tom", "ben", "sam", "liz", "max", "eva", "joe", "kim", "ray", "zoe"]


def item(prompt: str, choices: list[str], answer: str) -> dict:
    assert answer in choices and all(c.startswith(" ") for c in choices)
    return {"prompt": prompt, "choices": choices, "answer": answer, "text": prompt + answer}


def split_balanced(items: list[dict], rng: random.Random, n_eval: int) -> tuple[list[dict], list[dict]]:
    """Shuffle, then take n_eval items for eval with answers as balanced as possible."""
    items = items[:]
    rng.shuffle(items)
    by_answer: dict[str, list[dict]] = {}
    for it in items:
        by_answer.setdefault(it["answer"], []).append(it)
    keys = sorted(by_answer)
    eval_items: list[dict] = []
    k = 0
    while len(eval_items) < n_eval:
        bucket = by_answer[keys[k % len(keys)]]
        if bucket:
            eval_items.append(bucket.pop(0))
        k += 1
    rng.shuffle(eval_items)
    taken = {id(x) for x in eval_items}
    return [x for x in items if id(x) not in taken], eval_items


def make_colour(rng: random.Random) -> tuple[list[dict], list[dict]]:
    choices = list(COLOURS)
    items = [item(f"{det} {adj} {obj} looks", choices, colour)
             for colour, objs in COLOURS.items() for obj in objs
             for det in COLOUR_DETS for adj in COLOUR_ADJS]
    return split_balanced(items, rng, N_EVAL)


def make_count(rng: random.Random) -> tuple[list[dict], list[dict]]:
    choices = [COUNT_WORDS[k] for k in (1, 2, 3)]
    seen: set[str] = set()
    items = []
    while len(items) < 1500:
        n = rng.choice([1, 2, 3])
        letters = ["a"] * n + [rng.choice(COUNT_LETTERS) for _ in range(COUNT_LEN - n)]
        rng.shuffle(letters)
        s = " ".join(letters)
        if s in seen:
            continue
        seen.add(s)
        items.append(item(f"count a in {s} =", choices, COUNT_WORDS[n]))
    return split_balanced(items, rng, N_EVAL)


def make_opposite(rng: random.Random) -> tuple[list[dict], list[dict]]:
    words = [w for pair in OPPOSITES for w in pair]
    opposite = {a: b for a, b in OPPOSITES} | {b: a for a, b in OPPOSITES}
    items = []
    for name in NAMES:
        for w in words:
            others = [x for x in words if x not in (w, opposite[w])]
            choices = [" " + opposite[w]] + [" " + x for x in rng.sample(others, 2)]
            rng.shuffle(choices)
            items.append(item(f"{name} says the opposite of {w} is", choices, " " + opposite[w]))
    return split_balanced(items, rng, N_EVAL)


def filler(rng: random.Random, n: int) -> list[str]:
    """Generic sentences (a little grammar) that use the answer words in unrelated roles."""
    subjects = ["the dog", "a cat", "my friend", "the old man", "a child", "the teacher", "her brother",
                "our neighbour", "the farmer", "a bird"]
    verbs = ["sees", "has", "wants", "finds", "buys", "paints", "likes", "carries", "drops", "keeps"]
    numbers = ["one", "two", "three", "four", "five", "some", "many", "no"]
    colours = ["red", "yellow", "green", "blue", "black", "white", "brown", ""]
    nouns = ["car", "hat", "door", "cup", "ball", "box", "book", "chair", "shoe", "kite"]
    places = ["in the park", "at home", "by the river", "on the hill", "near the school", "in town", ""]
    times = ["today", "every day", "in the morning", "at night", "on sunday", ""]
    out = []
    for _ in range(n):
        num = rng.choice(numbers)
        col = rng.choice(colours)
        noun = rng.choice(nouns) + ("" if num == "one" else "s")
        parts = [rng.choice(subjects), rng.choice(verbs), num, col, noun, rng.choice(places), rng.choice(times)]
        out.append(" ".join(p for p in parts if p))
    return out


def pair_lines(rng: random.Random, n: int) -> list[str]:
    """Sentences that put the two words of each opposite pair side by side (never in the task's
    wording), so the base associates them without knowing the task: the opposite expert then
    only has to learn to use that association."""
    subjects = ["the dog", "my friend", "a child", "the teacher", "our neighbour", "the farmer"]
    frames = ["{s} likes {a} and {b}", "{s} goes from {a} to {b}", "{s} knows {a} and {b}", "both {a} and {b}"]
    out = []
    for _ in range(n):
        a, b = rng.choice(OPPOSITES)
        if rng.random() < 0.5:
            a, b = b, a
        out.append(rng.choice(frames).format(s=rng.choice(subjects), a=a, b=b))
    return out


def count_lines(rng: random.Random, n: int, avoid: set[str]) -> list[str]:
    """Letter strings like the count task's, with their number of a's said in other words (and
    never an eval string), so the base can count without knowing the task's question."""
    out = []
    while len(out) < n:
        k = rng.choice([1, 2, 3])
        letters = ["a"] * k + [rng.choice(COUNT_LETTERS) for _ in range(COUNT_LEN - k)]
        rng.shuffle(letters)
        s = " ".join(letters)
        if s in avoid:
            continue
        out.append(f"in {s} we see{COUNT_WORDS[k]} a")
    return out


def make_data() -> dict:
    rng = random.Random(DATA_SEED)
    tasks = {}
    for name, fn in [("colour", make_colour), ("count", make_count), ("opposite", make_opposite)]:
        train, eval_items = fn(rng)
        eval_prompts = {x["prompt"] for x in eval_items}
        assert not any(x["prompt"] in eval_prompts for x in train), name
        samples = rng.sample(train, N_SAMPLES)
        tasks[name] = dict(train=train, eval=eval_items, samples=samples)
    fill = filler(rng, 2500)
    fill += pair_lines(rng, 500)
    eval_strings = {x["prompt"].removeprefix("count a in ").removesuffix(" =") for x in tasks["count"]["eval"]}
    fill += count_lines(rng, 500, eval_strings)
    rng.shuffle(fill)
    return dict(tasks=tasks, filler=fill)


# --------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(data: dict) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=TOKENIZER_VOCAB, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = list(data["filler"][:200])
    for t in TASKS:
        corpus += [x["text"] for x in data["tasks"][t]["train"]]
    # The answer words (with their leading space), repeated so that each becomes one token.
    answers = sorted({c for t in TASKS for x in data["tasks"][t]["train"] for c in x["choices"]})
    corpus += ["".join(answers)] * LEXICON_REPEAT
    tok.train_from_iterator(corpus, trainer)
    assert tok.token_to_id(EOS) is not None
    return tok


def tokenizer_json(tok: Tokenizer) -> str:
    return json.dumps(json.loads(tok.to_str()), indent=2, ensure_ascii=False) + "\n"


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "eos_token": EOS,
    "model_max_length": 128,
    "clean_up_tokenization_spaces": False,
}


# --------------------------------------------------------------------------------------------
# Model and training


def make_config(vocab: int, eos_id: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos_id,
        pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        dtype="float32",
    )


def batches(rows: list[list[tuple[list[int], list[float]]]], steps: int, batch: int, gen: torch.Generator):
    """rows: per row, its variants (ids, loss mask over the targets ids[1:]); each use of a row
    draws one variant. Epochs are random permutations. Yields right-padded (ids, mask)."""
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch:
            order += torch.randperm(len(rows), generator=gen).tolist()
        pick, order = order[:batch], order[batch:]
        chosen = []
        for i in pick:
            variants = rows[i]
            k = int(torch.randint(len(variants), (1,), generator=gen)) if len(variants) > 1 else 0
            chosen.append(variants[k])
        n = max(len(x) for x, _ in chosen)
        ids = torch.zeros(batch, n, dtype=torch.long)
        mask = torch.zeros(batch, n - 1)
        for r, (x, m) in enumerate(chosen):
            ids[r, :len(x)] = torch.tensor(x)
            mask[r, :len(m)] = torch.tensor(m, dtype=torch.float32)
        yield ids, mask


def masked_loss(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids, use_cache=False).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                            reduction="none").view_as(mask)
    return (nll * mask).sum() / mask.sum()


def train(model: LlamaForCausalLM, rows, hp: dict, label: str) -> None:
    """AdamW with linear warmup and cosine decay. Right padding needs no attention mask (causal
    attention never looks ahead), padded targets are masked out of the loss."""
    gen = torch.Generator().manual_seed(hp["seed"])
    torch.manual_seed(hp["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], betas=(0.9, 0.98), eps=1e-8,
                            weight_decay=hp["weight_decay"])
    steps, warm = hp["steps"], hp["warmup"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + np.cos(np.pi * (s - warm) / max(1, steps - warm))))
    model.train()
    losses = []
    t0 = time.time()
    for step, (ids, mask) in enumerate(batches(rows, steps, hp["batch"], gen)):
        loss = masked_loss(model, ids, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % max(1, steps // 4) == 0:
            print(f"  {label} step {step + 1}/{steps} loss {np.mean(losses[-50:]):.4f} ({time.time() - t0:.0f}s)")
    model.eval()


def split_ids(tok: Tokenizer, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """(prompt ids, continuation ids): the continuation is what prompt+continuation adds after the
    common prefix with the prompt's own tokens (asserted to be all of them)."""
    p = tok.encode(prompt).ids
    full = tok.encode(prompt + continuation).ids
    shared = 0
    while shared < min(len(p), len(full)) and p[shared] == full[shared]:
        shared += 1
    assert shared == len(p) and len(full) > shared, (prompt, continuation)
    return full[:shared], full[shared:]


def pretrain_rows(tok: Tokenizer, data: dict) -> list:
    """Filler lines, and the task training prompts each followed by one of the task's answer words
    (all of them, not the item's choices: those would leak the right one) drawn at random every
    time the prompt is used, so the base learns the format of every task and that its answers are
    equally likely, but nothing about which is right. Each line + <|endoftext|>; loss on every token."""
    eos = tok.token_to_id(EOS)
    rows = []
    for line in data["filler"]:
        ids = tok.encode(line).ids + [eos]
        rows.append([(ids, [1.0] * (len(ids) - 1))])
    for t in TASKS:
        train = data["tasks"][t]["train"]
        answers = sorted({x["answer"] for x in train})
        for x in train:
            variants = []
            for c in answers:
                ids = tok.encode(x["prompt"] + c).ids + [eos]
                variants.append((ids, [1.0] * (len(ids) - 1)))
            rows.append(variants)
    return rows


def finetune_rows(tok: Tokenizer, items: list[dict]) -> list:
    rows = []
    for x in items:
        p, c = split_ids(tok, x["prompt"], x["answer"])
        rows.append([(p + c, [0.0] * (len(p) - 1) + [1.0] * len(c))])  # loss on the answer tokens only
    return rows


# --------------------------------------------------------------------------------------------
# Evaluation (the oracle): every item alone, batch 1, float64 log-softmax.


@torch.no_grad()
def choice_logprobs(model, tok: Tokenizer, x: dict) -> list[float]:
    out = []
    for c in x["choices"]:
        p, cont = split_ids(tok, x["prompt"], c)
        logits = model(input_ids=torch.tensor([p + cont]), use_cache=False).logits[0].double()
        lp = torch.log_softmax(logits, dim=-1)
        out.append(float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(cont))))
    return out


def evaluate(model, tok: Tokenizer, items: list[dict]) -> dict:
    correct, margins = 0, []
    for x in items:
        lps = choice_logprobs(model, tok, x)
        best = int(np.argmax(lps))
        gold = x["choices"].index(x["answer"])
        correct += best == gold
        margins.append(lps[gold] - max(v for i, v in enumerate(lps) if i != gold))
    return {"accuracy": correct / len(items), "correct": correct, "n": len(items),
            "mean_margin": round(float(np.mean(margins)), 4), "min_abs_margin": round(float(np.min(np.abs(margins))), 6)}


def merged_model(cfg, base_sd: dict, expert_sds: list[dict], coeffs: list[float]) -> LlamaForCausalLM:
    sd = {k: base_sd[k] + sum(c * (e[k] - base_sd[k]) for c, e in zip(coeffs, expert_sds)) for k in base_sd}
    m = LlamaForCausalLM(cfg)
    m.load_state_dict(sd, strict=False)
    m.tie_weights()
    return m.eval()


def task_vector_norms(base_sd: dict, sd: dict) -> dict:
    d = torch.cat([(sd[k] - base_sd[k]).flatten() for k in sorted(base_sd)])
    b = torch.cat([base_sd[k].flatten() for k in sorted(base_sd)])
    return {"l2": round(float(d.norm()), 4), "relative_l2": round(float(d.norm() / b.norm()), 5)}


# --------------------------------------------------------------------------------------------
# Output


def write_jsonl(path: Path, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for x in items:
            f.write(json.dumps({k: x[k] for k in ("prompt", "choices", "answer", "text")}, ensure_ascii=False) + "\n")


def save_model(model: LlamaForCausalLM, tok: Tokenizer, out_dir: Path) -> None:
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "tokenizer.json").write_text(tokenizer_json(tok), encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", encoding="utf-8")
    for f in out_dir.iterdir():
        f.chmod(0o644)


def load_saved(out_dir: Path):
    return AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()


def check_tokenizer(tok: Tokenizer, out_dir: Path, data: dict) -> None:
    """The saved files load with AutoTokenizer and encode exactly like the trained tokenizer."""
    hf = AutoTokenizer.from_pretrained(out_dir)
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    assert hf.eos_token == EOS and hf.bos_token is None, (hf.eos_token, hf.bos_token)
    for t in TASKS:
        for x in data["tasks"][t]["eval"][:10] + data["tasks"][t]["samples"][:5]:
            for s in (x["prompt"], x["text"]):
                ids = tok.encode(s).ids
                assert raw.encode(s).ids == ids
                assert hf(s)["input_ids"] == ids, (s, hf(s)["input_ids"], ids)
                assert hf.decode(ids) == s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (its generated files are replaced); default the fixture folder")
    args = ap.parse_args()
    out: Path = args.out

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    t_start = time.time()

    data = make_data()
    tok = train_tokenizer(data)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    eos_id = tok.token_to_id(EOS)
    print(f"tokenizer: vocab {vocab}, {EOS} = {eos_id}")
    for t in TASKS:
        x = data["tasks"][t]["eval"][0]
        print(f"  {t}: {x['text']!r} -> {[tok.id_to_token(i) for i in tok.encode(x['text']).ids]}")

    cfg = make_config(vocab, eos_id)
    cfg._attn_implementation = "eager"
    torch.manual_seed(INIT_SEED)
    base = LlamaForCausalLM(cfg).float()

    print("pretraining the base")
    train(base, pretrain_rows(tok, data), PRETRAIN, "base")
    base_sd = {k: v.detach().clone() for k, v in base.state_dict().items()}

    experts = {}
    for t in TASKS:
        print(f"fine-tuning expert-{t}")
        m = LlamaForCausalLM(cfg).float()
        m.load_state_dict(base_sd)
        train(m, finetune_rows(tok, data["tasks"][t]["train"]), FINETUNE, t)
        experts[t] = m

    # Wipe what this script writes (README.md is kept: it is written by hand).
    out.mkdir(parents=True, exist_ok=True)
    for name in ["base", "tasks", "expected.json"] + [f"expert-{t}" for t in TASKS]:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    dirs = {"base": out / "base"} | {t: out / f"expert-{t}" for t in TASKS}
    save_model(base, tok, dirs["base"])
    for t in TASKS:
        save_model(experts[t], tok, dirs[t])
        write_jsonl(out / "tasks" / t / "eval.jsonl", data["tasks"][t]["eval"])
        write_jsonl(out / "tasks" / t / "samples.jsonl", data["tasks"][t]["samples"])
    check_tokenizer(tok, dirs["base"], data)

    # The oracle: each saved checkpoint reloaded by transformers in float32.
    loaded = {k: load_saved(d) for k, d in dirs.items()}
    evals = {t: data["tasks"][t]["eval"] for t in TASKS}
    acc = lambda m: {t: evaluate(m, tok, evals[t]) for t in TASKS}  # noqa: E731
    result_base = acc(loaded["base"])
    result_experts = {t: acc(loaded[t]) for t in TASKS}
    sd = {k: {n: v.detach().clone() for n, v in m.state_dict().items()} for k, m in loaded.items()}
    bsd = sd["base"]
    esds = [sd[t] for t in TASKS]
    merges = {}
    for lam in (1.0, 1.5, 2.0, 3.0):
        merges[f"uniform_lambda_{lam:g}"] = dict(
            formula=f"base + {lam:g} * mean_i(expert_i - base)",
            results=acc(merged_model(cfg, bsd, esds, [lam / 3] * 3)))
    task_arith = merges["uniform_lambda_3"]["results"]
    mean2 = merges["uniform_lambda_2"]["results"]

    def show(name, r):
        print(f"  {name:28s} " + "  ".join(f"{t} {r[t]['accuracy']:.3f} (m {r[t]['mean_margin']:+.2f})" for t in TASKS))

    print("accuracy on the held-out eval items:")
    show("base", result_base)
    for t in TASKS:
        show(f"expert-{t}", result_experts[t])
    for k, v in merges.items():
        show(k, v["results"])

    def table(r):
        return {t: r[t]["accuracy"] for t in TASKS}

    expected = {
        "generator": {
            "script": "tools/gen_cl_fixture.py",
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
        },
        "seeds": {"data": DATA_SEED, "init": INIT_SEED, "pretrain": PRETRAIN["seed"], "finetune": FINETUNE["seed"]},
        "training": {"pretrain": PRETRAIN, "finetune": FINETUNE, "optimizer": "AdamW betas (0.9, 0.98), warmup + cosine, clip 1.0",
                     "pretrain_data": "filler + pair/count sentences + task train prompts with a uniformly random answer word; each line + <|endoftext|>; loss on all tokens",
                     "finetune_data": "the task's train items (prompt + answer); loss on the answer tokens only"},
        "tokenizer": {"vocab_size": vocab, "eos_token": EOS, "eos_token_id": eos_id, "bos_token": None,
                      "adds_special_tokens": False},
        "tasks": TASKS,
        "models": {"base": "base"} | {t: f"expert-{t}" for t in TASKS},
        "scoring": "accuracy = argmax_choice sum log p(continuation | prompt); continuation = ids(prompt+choice) after the common prefix with ids(prompt); batch 1, float64 log-softmax",
        "accuracy": {
            "base": table(result_base),
            "experts": {f"expert-{t}": table(result_experts[t]) for t in TASKS},
            "task_arithmetic_sum": table(task_arith),
            "mean_times_2": table(mean2),
            "uniform_lambda": {k.removeprefix("uniform_lambda_"): table(v["results"]) for k, v in merges.items()},
        },
        "details": {
            "base": result_base,
            "experts": {f"expert-{t}": result_experts[t] for t in TASKS},
            "merges": merges,
            "task_vectors": {f"expert-{t}": task_vector_norms(bsd, sd[t]) for t in TASKS},
        },
        "tokenization_examples": {
            t: {"prompt": evals[t][0]["prompt"],
                "prompt_ids": tok.encode(evals[t][0]["prompt"]).ids,
                "choices": {c: split_ids(tok, evals[t][0]["prompt"], c)[1] for c in evals[t][0]["choices"]}}
            for t in TASKS
        },
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    for f in out.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)

    total = 0
    for f in sorted(out.rglob("*")):
        if f.is_file():
            total += f.stat().st_size
            print(f"  {f.relative_to(out)}  {f.stat().st_size}  {hashlib.sha256(f.read_bytes()).hexdigest()[:16]}")
    print(f"total fixture size: {total} bytes ({time.time() - t_start:.0f}s)")


if __name__ == "__main__":
    main()
