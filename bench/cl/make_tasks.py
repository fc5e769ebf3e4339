#!/usr/bin/env python3
"""Generate the five synthetic continual-learning tasks (pure Python, deterministic, no downloads).

    python bench/cl/make_tasks.py [--out examples/tasks]

Every example is a multiple-choice item (one JSON object per line):
    prompt   short instruction + input, ending in "\\nAnswer:" so the answer continues it
    choices  candidate continuations, each starting with a space
    answer   the correct choice (exactly one of `choices`)
    text     prompt + answer
Per task: train.jsonl (600), dev.jsonl (100), eval.jsonl (200), samples.jsonl (64, drawn from train).

Tasks (all share the "...\\nAnswer:" cue so that their experts compete for the same slot):
    sentiment   product review -> positive / negative (contrast "X, but Y" and negations decide)
    topic       news headline -> sports / business / science / politics; the event decides, the
                subject is usually from another topic ("Football club shares slide ..." = business)
    arithmetic  one-step word problem with small numbers -> one of 4 numbers
    dates       day-first date ("05/03/21", "5.3.2021", "5 March 21") -> ISO date among 4 choices
                (distractors: month-first reading, wrong century, neighbouring day)
    entities    sentence with an invented name -> person / city / company / animal; 40% of the
                sentences tell, in the rest only the fictional naming convention (name suffix) does

Class labels are balanced (the k-th accepted item gets label k mod #labels).
Seeds: task i uses random.Random(SEED_BASE + i) with SEED_BASE = 20240; items are generated
until enough *distinct prompts* exist, shuffled, then split train/dev/eval, so the splits never
share a prompt (checked below, also after whitespace/case normalisation).
"""
import argparse
import json
import os
import random

SEED_BASE = 20240
N_TRAIN, N_DEV, N_EVAL, N_SAMPLES = 600, 100, 200, 64
TASKS = ["sentiment", "topic", "arithmetic", "dates", "entities"]


# ---------------------------------------------------------------- sentiment
PRODUCTS = ["blender", "headphones", "backpack", "kettle", "laptop stand", "phone case", "desk lamp",
            "running shoes", "coffee grinder", "keyboard", "water bottle", "tent", "vacuum", "monitor",
            "toaster", "jacket", "printer", "speaker", "mattress", "umbrella", "mouse", "charger",
            "frying pan", "office chair", "smart watch", "hair dryer", "suitcase", "drill", "router", "camera"]
POS_CLAUSES = ["it works perfectly", "it is worth every penny", "it exceeded my expectations",
               "it feels really sturdy", "it is my new favorite", "it is so easy to use",
               "I would buy it again", "it does exactly what I need", "the quality is excellent",
               "my whole family loves it", "it runs quietly", "it still works like new"]
NEG_CLAUSES = ["it broke after two days", "it is a waste of money", "it stopped working within a week",
               "it feels cheap and flimsy", "I returned it immediately", "it is noisy and slow",
               "the quality is terrible", "it never worked properly", "I regret buying it",
               "it overheats constantly", "it fell apart quickly", "support ignored my emails"]
# Negated clauses: surface words point the wrong way.
POS_NEG_SURFACE = ["it is not bad at all", "I have no complaints", "it never lets me down",
                   "it is not cheap-feeling in any way", "nothing about it disappoints me",
                   "I was wrong to doubt it"]
NEG_POS_SURFACE = ["it is not worth the price", "it is not good enough", "it is far from great",
                   "I cannot recommend it", "it is not as nice as the photos", "I would not call it reliable"]
POS_OPENERS = ["The box looked great", "Shipping was fast", "The color is lovely", "The price seemed fair",
               "It looks great", "The reviews were glowing", "Setup was easy"]
NEG_OPENERS = ["Shipping was slow", "The box arrived dented", "The manual is confusing",
               "It looked cheap in the photos", "Setup took forever", "The price seemed high",
               "I almost sent it back"]


def gen_sentiment(rng, k):
    label = ["positive", "negative"][k % 2]
    p = rng.choice(PRODUCTS)
    kind = rng.random()
    pos = label == "positive"
    if kind < 0.3:  # plain
        clause = rng.choice(POS_CLAUSES if pos else NEG_CLAUSES)
        review = f"My new {p}: {clause}."
    elif kind < 0.7:  # contrast: the clause after "but" decides
        opener = rng.choice(NEG_OPENERS if pos else POS_OPENERS)
        clause = rng.choice(POS_CLAUSES if pos else NEG_CLAUSES)
        review = f"{opener}, but as for the {p}, {clause}."
    else:  # negation, sometimes after an opener of the *same* polarity as the surface words
        clause = rng.choice(POS_NEG_SURFACE if pos else NEG_POS_SURFACE)
        if rng.random() < 0.5:
            opener = rng.choice(NEG_OPENERS if pos else POS_OPENERS)
            review = f"{opener}, and the {p}? {clause[0].upper() + clause[1:]}."
        else:
            review = f"About the {p}: {clause}."
    prompt = f"Is this review positive or negative?\nReview: {review}\nAnswer:"
    return prompt, [" positive", " negative"], " " + label


# ---------------------------------------------------------------- topic
# The *event* decides the topic; the subject is drawn from any topic (70% of the time from another
# one), so subject words mislead: "Football club shares slide after weak forecast" is business.
TOPIC_SUBJ = {
    "sports": ["Football club", "Tennis champion", "Olympic team", "The league", "Star striker",
               "Rookie pitcher", "Club captain", "The coach"],
    "business": ["Chipmaker", "Retail giant", "The central bank", "Airline", "Carmaker", "Startup founder",
                 "Investors", "Food chain"],
    "science": ["Space agency", "University lab", "Astronomers", "Biologists", "Climate researchers",
                "Physicists", "The research team", "Geologists"],
    "politics": ["The senator", "Parliament", "The prime minister", "City council", "The governor",
                 "Opposition leaders", "The cabinet", "Lawmakers"],
}
TOPIC_EVENT = {
    "sports": ["wins title after extra time", "breaks world record in final", "loses derby to rivals",
               "qualifies for world cup finals", "names new head coach", "is benched for semifinal",
               "scores hat-trick in cup match", "withdraws from marathon with injury"],
    "business": ["reports record quarterly profit", "cuts 2,000 jobs", "agrees to billion-dollar merger",
                 "shares slide after weak forecast", "files for bankruptcy", "raises prices again",
                 "opens 50 new stores", "beats earnings estimates"],
    "science": ["discovers new species of frog", "detects signal from distant galaxy",
                "sequences genome of rare orchid", "finds fossil of unknown dinosaur",
                "publishes study on sleep and memory", "observes black hole merger",
                "measures record ocean temperatures", "grows neurons in the lab"],
    "politics": ["calls snap election", "wins confidence vote", "proposes new immigration law",
                 "faces impeachment inquiry", "announces tax reform plan", "vetoes budget bill",
                 "signs trade treaty with neighbors", "resigns after vote scandal"],
}
TOPIC_TAIL = ["", "", " on Monday", " this week", ", reports say", " in surprise move", " after long delay"]


def gen_topic(rng, k):
    labels = list(TOPIC_SUBJ)
    label = labels[k % 4]
    subj_topic = label if rng.random() < 0.3 else rng.choice([t for t in labels if t != label])
    head = f"{rng.choice(TOPIC_SUBJ[subj_topic])} {rng.choice(TOPIC_EVENT[label])}{rng.choice(TOPIC_TAIL)}"
    prompt = f"Classify the news headline.\nHeadline: {head}\nAnswer:"
    return prompt, [" sports", " business", " science", " politics"], " " + label


# ---------------------------------------------------------------- arithmetic
NAMES = ["Ava", "Ben", "Mia", "Leo", "Zoe", "Sam", "Ivy", "Max", "Ada", "Tom", "Eli", "Nia", "Raj", "Uma", "Kai", "Lia"]
OBJECTS = ["apples", "pens", "marbles", "stickers", "books", "coins", "cards", "shells", "cookies", "stamps"]


def gen_arithmetic(rng, k):
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    op = rng.choice(["add", "sub", "add", "sub", "mul"])
    if op == "add":
        a, b = rng.randint(2, 19), rng.randint(2, 19)
        ans, wrong_op = a + b, abs(a - b)
        q = rng.choice([f"{name} has {a} {obj} and gets {b} more. How many {obj} now?",
                        f"{name} had {a} {obj}, then found {b} more. How many in total?"])
    elif op == "sub":
        a = rng.randint(6, 25)
        b = rng.randint(2, a - 2)
        ans, wrong_op = a - b, a + b
        q = rng.choice([f"{name} has {a} {obj} and gives away {b}. How many {obj} are left?",
                        f"{name} had {a} {obj} but lost {b}. How many are left?"])
    else:
        a, b = rng.randint(2, 9), rng.randint(2, 5)
        ans, wrong_op = a * b, a + b
        q = f"{name} has {b} bags with {a} {obj} in each. How many {obj} in all?"
    distract = [wrong_op, ans + rng.choice([-6, -5, -4, -3, 3, 4, 5, 6]), ans + rng.choice([-10, -9, -8, 7, 8, 9, 10])]
    nums = [ans]
    for d in distract + [ans + k for k in (11, 12, 13, 14, 15)]:
        if d > 0 and d not in nums:
            nums.append(d)
        if len(nums) == 4:
            break
    rng.shuffle(nums)
    prompt = f"Solve the problem.\n{q}\nAnswer:"
    return prompt, [f" {n}" for n in nums], f" {ans}"


# ---------------------------------------------------------------- dates
# Numeric dates are day-first (European: 05/03/2021 is 5 March); two-digit years are 2000-2049
# for 00-49 and 1950-1999 for 50-99. Distractors: the month-first reading, the wrong century,
# a neighbouring day.
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def ordinal(d):
    suf = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suf}"


def gen_dates(rng, k):
    y, m = rng.randint(1950, 2049), rng.randint(1, 12)
    # mostly days <= 12 so that the month-first reading is a valid date too
    d = rng.randint(1, 12) if rng.random() < 0.8 else rng.randint(13, MDAYS[m - 1])
    yy = y % 100
    fmt = rng.randrange(6)
    written = [f"{d:02d}/{m:02d}/{y}", f"{d}.{m}.{y}", f"{d:02d}/{m:02d}/{yy:02d}", f"{d}.{m}.{yy:02d}",
               f"{d:02d}-{m:02d}-{yy:02d}", f"{d} {MONTHS[m - 1]} {yy:02d}"][fmt]
    iso = lambda Y, M, D: f" {Y:04d}-{M:02d}-{D:02d}"
    ans = iso(y, m, d)
    cands = []
    if d <= 12 and d != m:
        cands.append(iso(y, d, m))                                  # month-first reading
    if fmt >= 2:
        cands.append(iso(y + 100 if y < 2000 else y - 100, m, d))   # wrong century
    else:
        cands.append(iso(y + rng.choice([-1, 1]), m, d))
    dd = d + rng.choice([-1, 1]) if 1 < d < MDAYS[m - 1] else (2 if d == 1 else d - 1)
    cands.append(iso(y, m, dd))                                     # neighbouring day
    if d <= 12 and d != m:
        cands.append(iso(y, d, dd if dd <= MDAYS[d - 1] else m))    # month-first, other day
    else:
        cands.append(iso(y, m % 12 + 1, min(d, MDAYS[m % 12])))     # next month
    choices = [ans]
    for c in cands:
        if c not in choices:
            choices.append(c)
    choices = choices[:4]
    rng.shuffle(choices)
    prompt = f"Rewrite the date as YYYY-MM-DD.\nDate: {written}\nAnswer:"
    return prompt, choices, ans


# ---------------------------------------------------------------- entities
# Entity typing in a fictional world. Names are a root + a type suffix (the world's naming
# convention: -vek/-ossa people, -umbra/-ilt cities, -orn/-adi companies, -ip/-eth animals).
# 40% of the sentences also say what the thing is; the other 60% are neutral, so only the
# suffix convention (learnable from train.jsonl, unknown to the base) decides them.
ENT_ROOTS = ["Zor", "Bel", "Tam", "Qui", "Var", "Mol", "Kest", "Dru", "Fen", "Lor", "Pim", "Sar",
             "Ul", "Nox", "Gri", "Hal", "Brun", "Cal", "Dov", "Ers"]
ENT_SUFFIX = {"person": ["vek", "ossa"], "city": ["umbra", "ilt"], "company": ["orn", "adi"],
              "animal": ["ip", "eth"]}
ENT_CTX = {
    "person": ["{X} finished her shift and drove home to her kids.", "We invited {X} to the birthday party.",
               "{X} was promoted to head nurse last spring.", "The teacher asked {X} to read aloud.",
               "{X} married his college sweetheart.", "Everyone clapped when {X} finished the speech."],
    "city": ["The new subway line in {X} opens next year.", "Thousands of tourists visit {X} each summer.",
             "The mayor of {X} closed the old bridge.", "We rented a flat downtown in {X}.",
             "Rain flooded the streets of {X} overnight.", "{X} elected a new city council."],
    "company": ["Shares of {X} rose after the earnings call.", "{X} hired two hundred engineers.",
                "The CEO of {X} announced a merger.", "{X} recalled its latest phone model.",
                "{X} opened a new factory overseas.", "Investors sued {X} over its accounts."],
    "animal": ["{X} wagged its tail at the mailman.", "The zookeeper fed {X} fresh fish.",
               "{X} curled up and purred by the fire.", "The vet trimmed the claws of {X}.",
               "{X} laid three eggs in the nest.", "{X} chewed through the fence and escaped."],
}
ENT_NEUTRAL = ["Everyone was talking about {X} last week.", "I read a long article about {X}.",
               "{X} was in the news again.", "We finally saw {X} yesterday.",
               "Nobody expected {X} to change so much.", "There is a new photo of {X} online.",
               "My uncle keeps mentioning {X}.", "{X} looked different this morning.",
               "The documentary about {X} airs tonight.", "We argued about {X} over dinner."]


def gen_entities(rng, k):
    label = list(ENT_SUFFIX)[k % 4]
    x = rng.choice(ENT_ROOTS) + rng.choice(ENT_SUFFIX[label])
    ctx = ENT_CTX[label] if rng.random() < 0.4 else ENT_NEUTRAL
    sent = rng.choice(ctx).format(X=x)
    prompt = f"What kind of thing is {x}?\nText: {sent}\nAnswer:"
    return prompt, [" person", " city", " company", " animal"], " " + label


GENERATORS = {"sentiment": gen_sentiment, "topic": gen_topic, "arithmetic": gen_arithmetic,
              "dates": gen_dates, "entities": gen_entities}


def norm(s):
    return " ".join(s.lower().split())


def build(task, seed):
    rng = random.Random(seed)
    need = N_TRAIN + N_DEV + N_EVAL
    seen, items = set(), []
    tries = 0
    while len(items) < need:
        tries += 1
        if tries > 200 * need:
            raise SystemExit(f"{task}: only {len(items)} distinct prompts")
        prompt, choices, answer = GENERATORS[task](rng, len(items))
        assert answer in choices and len(set(choices)) == len(choices)
        assert all(c.startswith(" ") for c in choices)
        k = norm(prompt)
        if k in seen:
            continue
        seen.add(k)
        items.append({"prompt": prompt, "choices": choices, "answer": answer, "text": prompt + answer})
    rng.shuffle(items)
    train, dev, ev = items[:N_TRAIN], items[N_TRAIN:N_TRAIN + N_DEV], items[N_TRAIN + N_DEV:]
    for a, b in [(train, dev), (train, ev), (dev, ev)]:
        assert not ({norm(x["prompt"]) for x in a} & {norm(x["prompt"]) for x in b}), task
    samples = random.Random(seed + 1000).sample(train, N_SAMPLES)
    return {"train": train, "dev": dev, "eval": ev, "samples": samples}


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "examples", "tasks"))
    args = ap.parse_args()
    for i, task in enumerate(TASKS):
        splits = build(task, SEED_BASE + i)
        d = os.path.join(args.out, task)
        os.makedirs(d, exist_ok=True)
        for name, rows in splits.items():
            with open(os.path.join(d, f"{name}.jsonl"), "w") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        labels = {}
        for r in splits["eval"]:
            labels[r["answer"]] = labels.get(r["answer"], 0) + 1
        top = sorted(labels.items(), key=lambda kv: -kv[1])[:4]
        print(f"{task}: " + ", ".join(f"{k}={len(v)}" for k, v in splits.items()) + f"  eval labels(top) {top}")


if __name__ == "__main__":
    main()
