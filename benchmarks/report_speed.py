"""`qa report` at contact-centre scale: time, peak memory, pages and megabytes written for a
database of N stored calls (default 100,000 calls of 200 agents over one quarter), beside a
baseline measured in the same run, and the database's size per hour of stored audio.

The database has the shape `qa score` leaves: calls of 25-80 turns with word timings in six
languages (assembled from the shipped rubric's test cases), scored with the real scorer
(`scoring.RubricScorer`, inbound_support: evidence per criterion, metrics, meaning-check
sentences with their vectors), about 3% auto-failed. Scoring 100,000 calls would take hours, so
--distinct calls (default 40) are scored once and stored again and again under other call ids,
agents and dates with `Store.save_calls`, 2,000 calls per transaction. The distinct calls and each
built database are kept under build/bench/ (keyed by their counts), so a rerun skips the build.

Measured, each `qa report` in its own process (peak RSS from that process's rusage):
- at N calls with the default `--calls reached`;
- the baseline: the same report code on --baseline calls (default 1,000) with `--calls all`, a
  page for every call, as every report was written before (the old report wrote 1,021 pages,
  18.6 MB for 1,000 calls), and with `--calls reached`.

    .venv/bin/python -m benchmarks.report_speed [--calls 100000] [--agents 200] [--baseline 1000]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "build" / "bench"
QUARTER_START = date(2026, 7, 1)
QUARTER_DAYS = 92
AUTO_FAIL_SHARE = 0.03
BATCH = 2000


# --- distinct calls, scored once ------------------------------------------------------------------

def _case_words(turn, offset: float):
    """The case turn moved by `offset` seconds, with one timed word per space-separated word."""
    from qa_types import Turn, Word

    parts = turn.text.split()
    step = (turn.end - turn.start) / max(1, len(parts))
    start = turn.start + offset
    words = [Word((" " if i else "") + w, round(start + i * step, 2), round(start + (i + 1) * step, 2), 0.9,
                  turn.speaker) for i, w in enumerate(parts)]
    return Turn(turn.speaker, turn.role, start, turn.end + offset, turn.text, words)


def distinct_transcripts(count: int, seed: int = 11) -> list:
    """`count` calls of 25-80 turns, one language each, made of the inbound rubric's test cases
    laid end to end with pauses; some (one in eight) hold a case that auto-fails (`build` stores
    those as AUTO_FAIL_SHARE of the calls)."""
    from qa_types import Transcript
    from rubrics import rubric_path
    from scoring.rubric_tests import case_transcript, load_cases, tests_path_for

    cases = load_cases(tests_path_for(rubric_path("inbound_support")))
    clean: dict[str, list] = {}
    abusive: dict[str, list] = {}
    for case in cases:
        (abusive if case.expect_auto_fail else clean).setdefault(case.language, []).append(case)
    rng = random.Random(seed)
    languages = sorted(clean)
    calls = []
    for i in range(count):
        lang = languages[i % len(languages)]
        turns = rng.randint(25, 80)
        bad = lang in abusive and (i // len(languages)) % 4 == 0  # 3 of 6 languages have such cases
        made, offset = [], 0.0
        while len(made) < turns:
            pool = abusive[lang] if bad and len(made) > turns // 2 else clean[lang]
            if pool is abusive.get(lang):
                bad = False  # one abusive case per call
            part = case_transcript(rng.choice(pool))
            made += [_case_words(t, offset) for t in part.turns]
            offset += part.duration + rng.uniform(1.0, 6.0)
        made = made[:turns]
        calls.append(Transcript(turns=made, language=lang, duration=made[-1].end + 2.0, channels=2,
                                model="synthetic"))
    return calls


_SCORER = None
WORKERS = 2


def _start_scorer() -> None:
    global _SCORER
    from rubrics import rubric_path
    from scoring import RubricScorer, load_rubric

    _SCORER = RubricScorer(load_rubric(rubric_path("inbound_support"))[0])


def _score(t) -> "Scored":
    from qa.scoring_service import _stored  # the sentences as `qa score` stores them

    ctx = _SCORER.context(t)
    card = _SCORER.score_context(ctx)
    return Scored(t, card, _stored(ctx.call))


@dataclass
class Scored:
    transcript: object
    scorecard: object
    sentences: object


def scored_calls(count: int) -> tuple[str, str, list[Scored]]:
    """(rubric YAML, rubric file name, the distinct calls scored), cached in build/bench."""
    from rubrics import rubric_path
    from scoring import load_rubric

    path = BENCH / f"distinct-{count}.pickle"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    _, text = load_rubric(rubric_path("inbound_support"))
    out = []
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(WORKERS, initializer=_start_scorer) as pool:
        for i, item in enumerate(pool.imap(_score, distinct_transcripts(count), chunksize=4)):
            out.append(item)
            if (i + 1) % 25 == 0:
                print(f"  scored {i + 1}/{count} distinct calls ({time.perf_counter() - t0:.0f} s)", flush=True)
    BENCH.mkdir(parents=True, exist_ok=True)
    made = (text, str(rubric_path("inbound_support")), out)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(made, f)
    tmp.replace(path)
    return made


# --- the stored database --------------------------------------------------------------------------

def stored_format() -> str:
    """Names what a built database holds (schema version and text analysis), so a cached one made
    by another version is built again."""
    import hashlib

    from qa.store import SCHEMA_VERSION
    from scoring.text import analyser_id

    return f"v{SCHEMA_VERSION}-{hashlib.sha256(analyser_id().encode()).hexdigest()[:8]}"


def analysis(scored: list[Scored]) -> dict:
    """id(scored call) -> its text analysis as `qa score` stores it with the transcript."""
    from qa.scoring_service import _stored_tokens
    from scoring.calltext import CallText

    return {id(s): _stored_tokens(CallText(s.transcript)) for s in scored}


def build(n_calls: int, n_agents: int, distinct: int) -> tuple[Path, dict]:
    """The database of `n_calls` stored calls (cached), and what it holds: calls, agents, audio_s."""
    db = BENCH / f"report-{n_calls}-{n_agents}-{distinct}-{stored_format()}.duckdb"
    meta_path = db.with_suffix(".json")
    if db.is_file() and meta_path.is_file():
        return db, json.loads(meta_path.read_text())
    from qa.store import CallInfo, Store, StoredCall
    from scoring import parse_rubric

    text, _, scored = scored_calls(distinct)
    tokens = analysis(scored)
    rubric = parse_rubric(text)
    rng = random.Random(n_calls)
    bad = [s for s in scored if s.scorecard.auto_failed]
    good = [s for s in scored if not s.scorecard.auto_failed]
    tmp = db.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    audio_s = 0.0
    t0 = time.perf_counter()
    with Store(tmp) as store:
        store.save_rubric(rubric, text)
        batch = []
        for i in range(n_calls):
            s = rng.choice(bad) if bad and rng.random() < AUTO_FAIL_SHARE else rng.choice(good or bad)
            call_id = f"call-{i:06d}"
            agent = f"agent-{rng.randrange(n_agents):03d}"
            record = CallInfo(call_id=call_id, file=f"audio/{call_id}.wav", content_hash=f"sha-{i}", agent=agent,
                              team=f"team-{int(agent[-3:]) % 10}",
                              call_date=QUARTER_START + timedelta(days=rng.randrange(QUARTER_DAYS)), redactions={})
            batch.append(StoredCall(record, s.transcript, s.scorecard, s.sentences, tokens=tokens[id(s)]))
            audio_s += s.transcript.duration
            if len(batch) >= BATCH:
                store.save_calls(batch)
                batch = []
                if (i + 1) % 20000 == 0:
                    print(f"  stored {i + 1:,}/{n_calls:,} calls ({time.perf_counter() - t0:.0f} s)", flush=True)
        store.save_calls(batch)
    tmp.replace(db)
    meta = {"calls": n_calls, "agents": n_agents, "distinct": distinct, "audio_s": audio_s,
            "build_s": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return db, meta


def distinct_db(distinct: int) -> tuple[Path, dict]:
    """A database holding each distinct call once (no repeated text for DuckDB's compression to
    fold together, as in real data): what a stored call costs on disk."""
    db = BENCH / f"distinct-{distinct}-{stored_format()}.duckdb"
    meta_path = db.with_suffix(".json")
    if db.is_file() and meta_path.is_file():
        return db, json.loads(meta_path.read_text())
    from qa.store import CallInfo, Store, StoredCall
    from scoring import parse_rubric

    text, _, scored = scored_calls(distinct)
    tokens = analysis(scored)
    tmp = db.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    with Store(tmp) as store:
        store.save_rubric(parse_rubric(text), text)
        store.save_calls([StoredCall(CallInfo(call_id=f"d{i:04d}", file=f"audio/d{i:04d}.wav", content_hash=f"d{i}",
                                              agent=f"agent-{i % 7}", call_date=QUARTER_START, redactions={}),
                                     s.transcript, s.scorecard, s.sentences, tokens=tokens[id(s)])
                          for i, s in enumerate(scored)])
    tmp.replace(db)
    empty = BENCH / "empty.duckdb"  # the schema and the rubric alone: subtracted from the size
    empty.unlink(missing_ok=True)
    with Store(empty) as store:
        store.save_rubric(parse_rubric(text), text)
    meta = {"calls": distinct, "audio_s": sum(s.transcript.duration for s in scored),
            "empty_bytes": empty.stat().st_size}
    meta_path.write_text(json.dumps(meta))
    return db, meta


def _per_hour(db: Path, meta: dict) -> str:
    size_mb = (db.stat().st_size - meta.get("empty_bytes", 0)) / 1e6
    hours = meta["audio_s"] / 3600
    return (f"{meta['calls']:,} calls, {hours:,.1f} h of audio (mean call {meta['audio_s'] / meta['calls'] / 60:.1f} min), "
            f"{size_mb:,.1f} MB = {size_mb / hours:.2f} MB per call hour ({size_mb * 1e3 / meta['calls']:.1f} kB per call)")


# --- one `qa report` in its own process ----------------------------------------------------------

# Runs a command and prints its peak RSS (kB) as the last line of stderr. Linux carries a process's
# peak RSS across fork and exec, so a `qa report` started straight from this (large) process would
# report this process's peak: it is started from this small one instead.
_LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\npeak-rss-kb {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _measured(args: list[str]) -> tuple[int, str, float]:
    """Run `python -m qa.cli ARGS` through the small launcher: exit code, its output, peak RSS (MB)."""
    child = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, sys.executable, "-m", "qa.cli", *args],
                           capture_output=True, text=True)
    err, _, last = child.stderr.rstrip().rpartition("\n")
    peak = float(last.split()[-1]) / 1024 if last.startswith("peak-rss-kb") else float("nan")
    return child.returncode, (err or "") + child.stdout, peak


def timed_report(db: Path, calls: str) -> dict:
    """Run `qa report --calls <calls>` in a child process: seconds, peak RSS (MB) of that process,
    pages and MB written."""
    out = Path(tempfile.mkdtemp(prefix="report-speed-")) / "site"
    try:
        t0 = time.perf_counter()
        code, output, peak = _measured(["report", "--db", str(db), "--out", str(out), "--calls", calls])
        elapsed = time.perf_counter() - t0
        if code:
            raise SystemExit(f"qa report failed ({code}): {output}")
        pages = list(out.rglob("*.html"))
        return {"seconds": elapsed, "rss_mb": peak, "pages": len(pages),
                "call_pages": sum(1 for p in pages if p.parent.name == "calls"),
                "mb": sum(p.stat().st_size for p in pages) / 1e6}
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def imports_rss() -> float:
    """Peak RSS (MB) of `qa report --help`: what the `qa` command's imports alone take."""
    return _measured(["report", "--help"])[2]


def _line(label: str, r: dict) -> str:
    return (f"{label:<44} {r['seconds']:7.1f} s  {r['rss_mb']:6.0f} MB peak RSS  {r['pages']:6,} pages "
            f"({r['call_pages']:,} call pages)  {r['mb']:7.1f} MB written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=1000, help="calls of the baseline database")
    parser.add_argument("--distinct", type=int, default=40, help="distinct calls scored with the real scorer")
    args = parser.parse_args()

    t0 = time.perf_counter()
    db, meta = build(args.calls, args.agents, args.distinct)
    base_db, base_meta = build(args.baseline, args.agents, args.distinct)
    one_each, one_meta = distinct_db(args.distinct)
    print(f"databases ready in {time.perf_counter() - t0:.1f} s (kept in {BENCH}; "
          f"the {args.calls:,}-call one built in {meta['build_s']} s)")
    print(f"database of the benchmark: {_per_hour(db, meta)}; {meta['agents']} agents")
    print(f"  (its {args.distinct} distinct calls repeat, and DuckDB compresses repeated text: a lower bound)")
    print(f"database of the distinct calls stored once each (every call different, as in real data; "
          f"less an empty database's {one_meta['empty_bytes'] / 1e6:.1f} MB): {_per_hour(one_each, one_meta)}")

    big = timed_report(db, "reached")
    base_all = timed_report(base_db, "all")
    base_reached = timed_report(base_db, "reached")
    print(_line(f"qa report, {args.calls:,} calls (--calls reached)", big))
    print(_line(f"baseline: {args.baseline:,} calls --calls all", base_all))
    print(_line(f"baseline: {args.baseline:,} calls --calls reached", base_reached))
    scale = args.calls / args.baseline
    print(f"ratios, {args.calls:,} reached / {args.baseline:,} all ({scale:.0f}x the calls): "
          f"time {big['seconds'] / base_all['seconds']:.1f}x, peak RSS {big['rss_mb'] / base_all['rss_mb']:.2f}x, "
          f"pages {big['pages'] / base_all['pages']:.1f}x, MB written {big['mb'] / base_all['mb']:.1f}x")
    start = imports_rss()
    print(f"of the peak RSS, `qa report --help` alone (the qa command's imports) takes {start:.0f} MB: "
          f"the report itself adds {big['rss_mb'] - start:.0f} MB at {args.calls:,} calls, "
          f"{base_all['rss_mb'] - start:.0f} MB at {args.baseline:,} calls --calls all")
    ok = big["seconds"] < 60 and big["rss_mb"] < 300
    print(f"goal (under 60 s and 300 MB peak RSS at {args.calls:,} calls): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
