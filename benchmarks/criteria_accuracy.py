"""Criteria accuracy: precision and recall of the inbound-support criteria on a labelled set of
agent utterances in six languages (benchmarks/criteria_eval.yaml), for three variants of each
criterion's check built from rubrics/inbound_support.yaml:

    (a) phrases  - the shipped phrase list alone
    (b) meaning  - the `meaning` check kind alone
    (c) either   - `any` of both

    .venv/bin/python -m benchmarks.criteria_accuracy [--eval FILE] [--rubric FILE] [--errors] [--threshold X]

Each utterance is scored as a one-turn agent transcript (two channels, roles known, like
`scoring.rubric_tests.case_transcript`); a criterion that passes counts as "positive". The
criterion's `within` window and `applies_when` condition are left out: a single utterance has
no hold event and no customer complaint, and what is measured is whether the words are
recognised, not when they are said.

The meaning check's examples come from the criterion's `meaning:` block in the rubric when it
has one; otherwise from DEFAULT_MEANING below (a few English phrasings per criterion, distinct
from the evaluation items), and the output says so. When the `meaning` kind is not registered
(scoring/checks/meaning.py absent), only the phrase figures are printed.

Before scoring, every item is checked against the rubric's phrase list for its criterion (all
languages): an item whose text equals or contains a listed phrase is named in a warning, since
the set is meant to be phrased unlike the lists.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

from ruamel.yaml import YAML

from qa_types import Outcome, Role, Transcript, Turn

ROOT = Path(__file__).resolve().parent.parent
EVAL_FILE = ROOT / "benchmarks" / "criteria_eval.yaml"
RUBRIC_FILE = ROOT / "rubrics" / "inbound_support.yaml"
LANGS = ["en", "ru", "tr", "el", "lt", "et"]

# eval-set criterion -> (rubric criterion id, phrase set name)
CRITERIA = {
    "greeting": ("greeting", "greeting"),
    "empathy": ("empathy", "empathy"),
    "hold_request": ("hold_permission", "hold_request"),
    "thanks_for_holding": ("thanks_for_holding", "thanks_for_holding"),
    "resolution_check": ("confirm_resolution", "confirm_resolution"),
    "further_help": ("offer_more_help", "more_help"),
    "closing": ("closing", "closing"),
}

# Used only when the rubric has no `meaning:` block for the criterion. English only, on purpose
# (the point of the kind is that meaning crosses languages); none of these is an eval item, and
# the counter-examples are kept away from the eval set's hard negatives so they do not flatter it.
DEFAULT_MEANING: dict[str, dict[str, list[str]]] = {
    "greeting": {
        "examples": ["Good morning, you've reached customer support, Anna speaking.",
                     "Hi there, this is the help desk, what brings you to us today?",
                     "Hello and welcome, I'm Tom from the service team."],
        "counter_examples": ["I'm calling to ask about my order.",
                             "Good morning, this is a reminder that your bill is overdue."],
    },
    "empathy": {
        "examples": ["That must be really annoying, I completely get why you're upset.",
                     "I'm so sorry you've had to deal with this.",
                     "I can see how stressful this has been for you."],
        "counter_examples": ["We followed the procedure correctly.", "Pardon, I didn't catch your name."],
    },
    "hold_request": {
        "examples": ["Is it okay if I put you on hold for a minute while I check?",
                     "Let me place you on a brief hold, if that's alright with you.",
                     "Do you mind waiting a moment on hold while I look this up?"],
        "counter_examples": ["Our hold times are long today.", "Keep holding the reset button for ten seconds."],
    },
    "thanks_for_holding": {
        "examples": ["Thanks for bearing with me, I'm back.",
                     "Sorry to keep you waiting, and thank you for staying on the line.",
                     "I appreciate you waiting while I checked that."],
        "counter_examples": ["Please keep waiting in the queue.", "Thanks for your email yesterday."],
    },
    "resolution_check": {
        "examples": ["Is everything working properly for you now?",
                     "Has that sorted out the problem for you?",
                     "Can you confirm the issue is fixed on your side?"],
        "counter_examples": ["The fault is on your side.", "The technician will fix it next week."],
    },
    "further_help": {
        "examples": ["Is there something more I could help you with today?",
                     "Can I assist you with any other matter?",
                     "Before you go, do you need help with anything more?"],
        "counter_examples": ["Unfortunately I'm unable to assist with that.", "That department is closed at weekends."],
    },
    "closing": {
        "examples": ["Thank you for your time today, goodbye now.",
                     "It was a pleasure helping you, farewell.",
                     "Thanks again for your call, all the best."],
        "counter_examples": ["Good morning, how are you?", "Let's go through the next step now."],
    },
}


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def load_items(path: Path) -> list[dict]:
    data = _yaml().load(path.read_text(encoding="utf-8"))
    items = data["items"] if isinstance(data, dict) else data
    problems = []
    for n, item in enumerate(items, 1):
        for key in ("criterion", "lang", "text", "label"):
            if key not in item:
                problems.append(f"item {n}: no '{key}'")
        if item.get("criterion") not in CRITERIA:
            problems.append(f"item {n}: unknown criterion {item.get('criterion')!r}")
        if item.get("lang") not in LANGS:
            problems.append(f"item {n}: unknown language {item.get('lang')!r}")
        extra = set(item) - {"criterion", "lang", "text", "label", "note"}
        if extra:
            problems.append(f"item {n}: unknown key(s) {sorted(extra)} (quote a note holding a comma)")
        if not isinstance(item.get("label"), bool):
            problems.append(f"item {n}: label must be true or false")
    if problems:
        sys.exit("criteria_eval: " + "; ".join(problems))
    return items


def _norm(text: str) -> str:
    """Lower case, accents kept (Lithuanian and Turkish letters are distinct), punctuation to spaces."""
    text = unicodedata.normalize("NFC", text).lower()
    text = text.replace("’", "'").replace("ё", "е")
    text = "".join(ch if (ch.isalnum() or ch in "'-") else " " for ch in text)
    return " " + " ".join(text.split()) + " "


def overlaps(items: list[dict], rubric: dict) -> list[str]:
    """Items whose text equals or contains (word-aligned) a phrase of their criterion's list, or
    equals one of the meaning examples the benchmark would use for it (rubric or built-in)."""
    warnings = []
    sections = [c for s in rubric["sections"] for c in s["criteria"]]
    for item in items:
        phrase_set = rubric["phrase_sets"][CRITERIA[item["criterion"]][1]]
        text = _norm(item["text"])
        for lang, phrases in phrase_set.items():
            for phrase in phrases:
                if _norm(phrase) in text:
                    warnings.append(f"{item['criterion']}/{item['lang']}: {item['text']!r} contains "
                                    f"the {lang} phrase {phrase!r}")
        found = _find_kind(_find_check(sections, CRITERIA[item["criterion"]][0]), "meaning")
        block = found["meaning"] if found is not None else DEFAULT_MEANING[item["criterion"]]
        for example in list(block.get("examples", [])) + list(block.get("counter_examples", [])):
            if _norm(example) == text:
                warnings.append(f"{item['criterion']}/{item['lang']}: {item['text']!r} is a meaning example")
    return warnings


def _find_check(criteria: list[dict], criterion_id: str) -> dict:
    for criterion in criteria:
        if criterion["id"] == criterion_id:
            return criterion["check"]
    raise KeyError(criterion_id)


def _find_kind(check, kind: str):
    """The first sub-check of `kind` inside a (possibly combined) check, else None."""
    if isinstance(check, dict):
        if kind in check:
            return check
        for value in check.values():
            found = _find_kind(value, kind)
            if found is not None:
                return found
    elif isinstance(check, list):
        for value in check:
            found = _find_kind(value, kind)
            if found is not None:
                return found
    return None


def variants(rubric: dict, name: str, meaning_ok: bool,
             threshold: float | None = None) -> tuple[dict[str, dict], str]:
    """The checks to compare for one criterion, and where the meaning examples came from."""
    criterion_id, set_name = CRITERIA[name]
    shipped = _find_check([c for s in rubric["sections"] for c in s["criteria"]], criterion_id)
    phrases = {"phrases": f"${set_name}", "speaker": "agent"}
    checks = {"phrases": phrases}
    source = ""
    if meaning_ok:
        found = _find_kind(shipped, "meaning")
        if found is not None:
            meaning = {"meaning": copy.deepcopy(found["meaning"]), "speaker": "agent"}
            source = "rubric"
        else:
            block = copy.deepcopy(DEFAULT_MEANING[name])
            meaning = {"meaning": block, "speaker": "agent"}
            source = "built-in default"
        if threshold is not None:
            meaning["meaning"]["threshold"] = threshold
            source += f", threshold {threshold:g}"
        checks["meaning"] = meaning
        checks["either"] = {"any": [phrases, meaning]}
    return checks, source


def one_criterion_rubric(rubric: dict, check: dict):
    from scoring import parse_rubric
    doc = {"id": "criteria-accuracy", "name": "criteria accuracy", "languages": LANGS,
           "phrase_sets": rubric["phrase_sets"],
           "sections": [{"id": "s", "criteria": [{"id": "c", "check": check}]}]}
    return parse_rubric(json.dumps(doc, ensure_ascii=False), "criteria_accuracy.yaml")


def utterance(text: str, lang: str) -> Transcript:
    """One agent turn as a two-channel transcript, as rubric test cases are built."""
    turn = Turn(speaker="agent", role=Role("agent"), start=0.0, end=4.0, text=text)
    return Transcript(turns=[turn], language=lang, duration=5.0, channels=2)


def _pr(tp: int, fp: int, fn: int) -> tuple[str, str]:
    p = f"{tp / (tp + fp):.2f}" if tp + fp else "  - "
    r = f"{tp / (tp + fn):.2f}" if tp + fn else "  - "
    return p, r


def meaning_available() -> tuple[bool, str]:
    try:
        from scoring.checks import check_kinds
    except Exception as exc:  # noqa: BLE001 - any import failure means the kind cannot be used
        return False, f"scoring.checks did not import ({exc})"
    if "meaning" not in check_kinds():
        return False, "no 'meaning' check kind is registered (scoring/checks/meaning.py not there yet)"
    return True, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", type=Path, default=EVAL_FILE)
    ap.add_argument("--rubric", type=Path, default=RUBRIC_FILE)
    ap.add_argument("--errors", action="store_true", help="list every wrong decision")
    ap.add_argument("--threshold", type=float, default=None,
                    help="meaning threshold for every criterion (default: the rubric's, else the kind's)")
    args = ap.parse_args(argv)

    items = load_items(args.eval)
    rubric = _yaml().load(args.rubric.read_text(encoding="utf-8"))

    print(f"{len(items)} items from {args.eval.relative_to(ROOT) if args.eval.is_relative_to(ROOT) else args.eval}")
    counts = defaultdict(lambda: [0, 0])
    for item in items:
        counts[(item["criterion"], item["lang"])][0 if item["label"] else 1] += 1
    print(f"{'criterion':20} " + " ".join(f"{lang:>7}" for lang in LANGS) + "   total (pos/neg)")
    for name in CRITERIA:
        row = [counts[(name, lang)] for lang in LANGS]
        pos, neg = sum(r[0] for r in row), sum(r[1] for r in row)
        print(f"{name:20} " + " ".join(f"{r[0]:>3}/{r[1]:<3}" for r in row) + f"   {pos + neg} ({pos}/{neg})")

    warnings = overlaps(items, rubric)
    for w in warnings:
        print("WARNING overlap:", w)
    print(f"overlap check: {len(warnings)} overlap(s) of items with their criterion's phrase list "
          f"or meaning examples")

    meaning_ok, why = meaning_available()
    if not meaning_ok:
        print(f"meaning: unavailable - {why}; only the phrase-list figures follow")

    from scoring import RubricScorer
    totals = defaultdict(lambda: [0, 0, 0, 0])  # variant -> tp, fp, fn, tn
    by_lang = defaultdict(lambda: [0, 0, 0, 0])  # (variant, lang) -> tp, fp, fn, tn
    errors = []
    for name in CRITERIA:
        checks, source = variants(rubric, name, meaning_ok, args.threshold)
        mine = [i for i in items if i["criterion"] == name]
        if source:
            print(f"\n== {name}  (meaning examples: {source})")
        else:
            print(f"\n== {name}")
        print(f"{'variant':8} {'lang':5} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>5} {'rec':>5}")
        for variant, check in checks.items():
            scorer = RubricScorer(one_criterion_rubric(rubric, check))
            per = defaultdict(lambda: [0, 0, 0, 0])
            for item in mine:
                result = scorer.score(utterance(item["text"], item["lang"])).result("c")
                said = result.outcome == Outcome.PASS
                cell = (0 if item["label"] else 1) if said else (2 if item["label"] else 3)
                for key in (item["lang"], "all"):
                    per[key][cell] += 1
                totals[variant][cell] += 1
                by_lang[(variant, item["lang"])][cell] += 1
                if said != item["label"]:
                    errors.append(f"{variant:8} {name}/{item['lang']} {'FP' if said else 'FN'}: {item['text']}")
            for key in LANGS + ["all"]:
                tp, fp, fn, tn = per[key]
                p, r = _pr(tp, fp, fn)
                print(f"{variant:8} {key:5} {tp + fp + fn + tn:>4} {tp:>4} {fp:>4} {fn:>4} {p:>5} {r:>5}")

    print("\n== totals over all criteria")
    print(f"{'variant':8} {'lang':5} {'n':>5} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>5} {'rec':>5}")
    for variant, (tp, fp, fn, tn) in totals.items():
        for lang in LANGS:
            ltp, lfp, lfn, ltn = by_lang[(variant, lang)]
            p, r = _pr(ltp, lfp, lfn)
            print(f"{variant:8} {lang:5} {ltp + lfp + lfn + ltn:>5} {ltp:>4} {lfp:>4} {lfn:>4} {p:>5} {r:>5}")
        p, r = _pr(tp, fp, fn)
        print(f"{variant:8} {'all':5} {tp + fp + fn + tn:>5} {tp:>4} {fp:>4} {fn:>4} {p:>5} {r:>5}")
    if args.errors:
        print("\n== wrong decisions")
        print("\n".join(errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
