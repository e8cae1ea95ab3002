"""HTML reports from the database: pages per agent and call, transcript text escaped."""
from __future__ import annotations

from qa.store import CallInfo, Store
from reports.render import render_reports
from scoring import RubricScorer
from tests.builders import transcript
from tests.test_scoring_engine import GOOD_CALL

HOSTILE = [
    ("customer", 26.5, 28.0, "<script>alert(1)</script>"),
    ("customer", 28.5, 30.0, '"><img src=x onerror=alert(1)>'),
]


def _db(tmp_path, inbound_rubric):
    scorer = RubricScorer(inbound_rubric)
    db = tmp_path / "qa.duckdb"
    with Store(db) as store:
        store.save_rubric(inbound_rubric, "yaml")
        for call_id, agent, lines in [("c1", "alice", GOOD_CALL + HOSTILE),
                                      ("c2", "bob", GOOD_CALL[1:]),
                                      ("c3/<b>", "<b>bob</b>", GOOD_CALL)]:
            t = transcript(lines)
            store.save_call(CallInfo(call_id=call_id, file=f"{call_id}.wav", content_hash=call_id, agent=agent),
                            t, scorer.score(t))
    return db


def test_pages_for_team_agents_and_calls(tmp_path, inbound_rubric):
    out = tmp_path / "site"
    written = render_reports(_db(tmp_path, inbound_rubric), out)
    names = {p.relative_to(out).as_posix() for p in written}
    assert "index.html" in names and "agents/alice.html" in names and "calls/c1.html" in names
    assert len([n for n in names if n.startswith("agents/")]) == 3
    assert len([n for n in names if n.startswith("calls/")]) == 3
    bob = (out / "agents" / "bob.html").read_text()
    assert "Greets the caller and offers help" in bob and "Open every call with the company greeting" in bob
    call = (out / "calls" / "c1.html").read_text()
    assert 'data-start="0.5"' in call and "Thank you for calling" in call


def test_transcript_text_is_escaped(tmp_path, inbound_rubric):
    out = tmp_path / "site"
    render_reports(_db(tmp_path, inbound_rubric), out)
    for page in out.rglob("*.html"):
        html = page.read_text()
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bob" not in html
    call = (out / "calls" / "c1.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in call
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in call


def test_report_compares_one_rubric_version_and_filters(tmp_path, inbound_rubric):
    from datetime import date

    from reports.data import ReportFilters, load
    from scoring import parse_rubric

    db = _db(tmp_path, inbound_rubric)
    text = inbound_rubric.model_dump_json()  # any different text gives a new version hash
    newer = parse_rubric(__import__("rubrics").rubric_path(None).read_text(encoding="utf-8").replace("pass_mark: 80", "pass_mark: 90"))
    with Store(db) as store:
        store.save_rubric(newer, text)
        t = transcript(GOOD_CALL)
        store.save_call(CallInfo(call_id="c4", file="c4.wav", content_hash="c4", agent="alice",
                                 call_date=date(2026, 11, 20)), t, RubricScorer(newer).score(t))
    latest = load(db)
    assert latest.rubric["rubric_hash"] == newer.content_hash
    assert [c["call_id"] for c in latest.calls] == ["c4"] and latest.other_versions == 3
    older = load(db, ReportFilters(rubric=inbound_rubric.content_hash[:10]))
    assert sorted(c["call_id"] for c in older.calls) == ["c1", "c2", "c3/<b>"]
    assert [c["call_id"] for c in load(db, ReportFilters(rubric=inbound_rubric.content_hash, agents=["bob"])).calls] == ["c2"]
    assert load(db, ReportFilters(since=date(2026, 12, 1))).calls == []
    out = tmp_path / "site"
    render_reports(db, out)
    assert "3 call(s) are scored only with other rubric versions" in (out / "index.html").read_text()
