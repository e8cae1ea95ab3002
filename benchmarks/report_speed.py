"""Report generation time for a synthetic database of N calls and M agents.

Builds the database first (calls from the shipped rubric's test cases, scored with the inbound
rubric, dates spread over eight weeks), then times `qa report`'s rendering alone.

    .venv/bin/python -m benchmarks.report_speed [--calls 1000] [--agents 20]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.rescore_throughput import synthetic_calls
from qa.store import CallInfo, Store
from reports.render import render_reports
from rubrics import rubric_path
from scoring import RubricScorer, load_rubric


def build(db: Path, n_calls: int, n_agents: int) -> None:
    rubric, text = load_rubric(rubric_path("inbound_support"))
    scorer = RubricScorer(rubric)
    calls = synthetic_calls(n_calls)
    with Store(db) as store:
        store.save_rubric(rubric, text)
        for i, t in enumerate(calls):
            store.save_call(CallInfo(call_id=f"call-{i:05d}", file=f"audio/call-{i:05d}.wav", content_hash=str(i),
                                     agent=f"agent-{i % n_agents:02d}", team=f"team-{i % 3}",
                                     call_date=date(2026, 9, 1) + timedelta(days=i % 56)),
                            t, scorer.score(t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        build(db, args.calls, args.agents)
        print(f"built database of {args.calls} calls, {args.agents} agents in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        pages = render_reports(db, Path(tmp) / "site")
        elapsed = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in pages) / 1e6
        print(f"report: {len(pages)} pages ({size:.1f} MB) in {elapsed:.2f} s (goal: under 10 s)")


if __name__ == "__main__":
    main()
