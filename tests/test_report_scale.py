"""Reports at scale: figures aggregated in DuckDB equal the plain Python computation over the
data loaded whole; call pages only for the calls the reports reach (latest per agent, coaching
evidence, auto-fails, the team's latest, reviewed and queued calls), every call with
`--calls all`; no link in the written site points at a page that was not written."""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

import reports.pages as pages
from qa.reviews import ReviewInput, Reviews
from qa.store import CallInfo, Store
from reports import stats
from reports.data import ReportFilters, load, open_report, page_slug
from reports.pages import Site
from reports.render import read_manifest, render_reports
from scoring import RubricScorer
from tests.builders import transcript
from tests.conftest import qa
from tests.test_scoring_engine import GOOD_CALL

NO_GREETING = GOOD_CALL[1:]
NO_BYE = GOOD_CALL[:-1]
ABUSE = GOOD_CALL[:3] + [("agent", 14.5, 17.0, "Shut up, you idiot.")] + GOOD_CALL[4:]
DAY = date(2026, 9, 1)

# (call id, agent, transcript lines, day offset or None for an undated call)
CALLS = [
    ("a01", "alice", NO_GREETING, 0), ("a02", "alice", GOOD_CALL, 3), ("a03", "alice", NO_BYE, 8),
    ("a04", "alice", GOOD_CALL, 15), ("a05", "alice", NO_GREETING, 22), ("a06", "alice", GOOD_CALL, 30),
    ("a07", "alice", GOOD_CALL, 31),
    ("b01", "bob", ABUSE, 1), ("b02", "bob", GOOD_CALL, 9), ("b03", "bob", NO_BYE, 16),
    ("b04", "bob", GOOD_CALL, 23), ("b05", "bob", GOOD_CALL, 29),
    ("c01", "carol", NO_BYE, None), ("c02", "carol", GOOD_CALL, 5), ("c03", "carol", ABUSE, 12),
    ("c04", "carol", GOOD_CALL, 26),
    ("u01", None, NO_GREETING, 4), ("u02", None, GOOD_CALL, 18),
]
LATEST = 2


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """18 calls of alice, bob, carol and two without an agent over a month (one undated), two
    auto-failed; a reviewer flips alice's greeting on a05 to pass and a04 is queued for review."""
    from rubrics import rubric_path
    from scoring import load_rubric

    inbound_rubric, text = load_rubric(rubric_path("inbound_support"))
    path = tmp_path_factory.mktemp("scale") / "qa.duckdb"
    scorer = RubricScorer(inbound_rubric)
    with Store(path) as store:
        store.save_rubric(inbound_rubric, text)
        for call_id, agent, lines, day in CALLS:
            t = transcript(lines)
            store.save_call(CallInfo(call_id=call_id, file=f"{call_id}.wav", content_hash=call_id, agent=agent,
                                     team="t1", call_date=None if day is None else DAY + timedelta(days=day)),
                            t, scorer.score(t))
        Reviews(store).record(ReviewInput("a05", "greeting", "pass", "maria", "wrong_outcome"))
        store.queue_for_review([("a04", inbound_rubric.content_hash, "random", "2026-09")])
    return path


@pytest.fixture
def few_overview_calls(monkeypatch):
    """The overview lists the team's 3 latest calls (so not every call is reached in 18)."""
    monkeypatch.setattr(pages, "OVERVIEW_CALLS", 3)


def _call_pages(out: Path) -> set[str]:
    return {p.name for p in (out / "calls").glob("*.html")}


def _local_links(out: Path) -> list[tuple[Path, str]]:
    """(page, href) of every link in the site to a local page (not http:, mailto:, a fragment
    only, or an audio file)."""
    found = []
    for page in out.rglob("*.html"):
        for href in re.findall(r'href="([^"]*)"', page.read_text(encoding="utf-8")):
            target = href.split("#", 1)[0]
            if target and not re.match(r"[a-z]+:", target) and target.endswith(".html"):
                found.append((page, target))
    return found


def _expected_reached(db: Path) -> set[str]:
    """The calls that should get a page, computed in plain Python from the data loaded whole."""
    data = load(db)
    by_agent: dict[str, list[dict]] = {}
    for c in data.calls:
        by_agent.setdefault(c["agent"] or pages.UNKNOWN_AGENT, []).append(c)
    recent = lambda c: (c["call_date"] is None, c["call_date"] or date.min, c["call_id"])  # noqa: E731
    reached = set()
    team_rates = stats.pass_rates(data)
    for agent, calls in by_agent.items():
        reached |= {c["call_id"] for c in sorted(calls, key=recent, reverse=True)[:LATEST]}
        failed = [c for c in calls if c["auto_failed"]]
        reached |= {c["call_id"] for c in sorted(failed, key=recent, reverse=True)[:pages.AUTO_FAILED_PER_AGENT]}
        for p in stats.coaching_priorities(data, {c["call_id"] for c in calls}, team_rates):
            reached |= {m["call_id"] for m in p["misses"][:pages.MISSES_SHOWN]}
            if p["model"]:
                reached.add(p["model"]["call_id"])
    reached |= {c["call_id"] for c in sorted(data.calls, key=recent, reverse=True)[:pages.OVERVIEW_CALLS]}
    reached |= {c["call_id"] for c in data.calls if c["reviewed"]} | {"a04"}  # reviewed, queued
    return reached


def test_only_reached_calls_get_pages_and_no_link_is_dead(db, tmp_path, few_overview_calls):
    out = tmp_path / "site"
    written = render_reports(db, out, latest=LATEST)
    expected = _expected_reached(db)
    assert _call_pages(out) == {f"{page_slug(c)}.html" for c in expected}
    assert {"a07.html", "a06.html", "b05.html", "c04.html"} <= _call_pages(out)  # latest of each agent
    assert {"b01.html", "c03.html"} <= _call_pages(out)  # auto-failed, not among the latest
    assert {"a04.html", "a05.html"} <= _call_pages(out)  # queued; reviewed
    assert "a01.html" in _call_pages(out)  # alice's greeting miss, quoted on her page
    unreached = {f"{c[0]}.html" for c in CALLS} - _call_pages(out)
    assert unreached, "every call was reached: the test shows nothing"
    assert len(written) == 1 + 4 + len(expected) + 1  # index, 4 agents (one unknown), calls, calibration
    # Calls listed without a page are shown as text, not as links; no link is dead.
    links = _local_links(out)
    assert links and all((page.parent / unquote(href)).resolve().is_file() for page, href in links), [
        (page.name, href) for page, href in links if not (page.parent / unquote(href)).resolve().is_file()]
    alice = (out / "agents" / "alice.html").read_text(encoding="utf-8")
    assert 'href="../calls/a01.html"' in alice  # misses link to their pages
    assert "The latest 2 of 7 calls" in alice
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "The latest 3 of 18 calls" in index


def test_unreached_calls_are_text_with_their_id(db, tmp_path, monkeypatch):
    """A call listed on a page but given none (here: the overview lists more than get pages)."""
    out = tmp_path / "site"
    monkeypatch.setattr(Site, "call_page_ids", property(lambda site: ["a07"]))
    render_reports(db, out, latest=LATEST)
    assert _call_pages(out) == {"a07.html"}
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="calls/a07.html"' in index and 'href="calls/b05.html"' not in index
    assert '<span class="no-page"' in index and ">b05</span>" in index
    assert all((page.parent / href).resolve().is_file() for page, href in _local_links(out))


def test_calls_all_writes_every_call_page_through_the_cli(db, tmp_path):
    run = qa("report", "--db", str(db), "--out", "site", "--calls", "all", "--latest", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "site"
    assert _call_pages(out) == {f"{c[0]}.html" for c in CALLS}
    assert read_manifest(out)["calls"] == "all"
    links = _local_links(out)
    assert all((page.parent / href).resolve().is_file() for page, href in links)
    # With every call written, each agent page lists all the agent's calls.
    alice = (out / "agents" / "alice.html").read_text(encoding="utf-8")
    assert all(f'href="../calls/a0{i}.html"' in alice for i in range(1, 8))
    bad = qa("report", "--db", str(db), "--out", "site2", "--calls", "some", cwd=tmp_path)
    assert bad.returncode == 2 and "--calls" in bad.stderr


def test_aggregates_in_duckdb_equal_the_python_computation(db, tmp_path):
    data = load(db)
    by_agent: dict[str, list[dict]] = {}
    for c in data.calls:
        by_agent.setdefault(c["agent"] or pages.UNKNOWN_AGENT, []).append(c)
    team_rates = stats.pass_rates(data)
    with open_report(db, ReportFilters()) as source:
        site = Site(source, ReportFilters(), tmp_path)
        assert site.agents == sorted(by_agent)

        def same_summary(got: dict, want: dict) -> None:
            assert {k: got[k] for k in ("calls", "auto_failed", "trend")} == {
                k: want[k] for k in ("calls", "auto_failed", "trend")}
            assert got["average"] == pytest.approx(want["average"]) and got["pass_rate"] == pytest.approx(want["pass_rate"])

        same_summary(site.summary(), stats.summary(data.calls))
        assert site.team_rates == pytest.approx(team_rates) and list(site.team_rates) == [
            c for c in data.criteria if c in team_rates]
        assert [(w, pytest.approx(a), pytest.approx(p), n) for w, a, p, n in site.team_weeks] == stats.weekly(data.calls)
        assert site.pass_mark == data.calls[0]["pass_mark"]
        for agent, calls in by_agent.items():
            ids = {c["call_id"] for c in calls}
            same_summary(site.summary(agent), stats.summary(calls))
            assert site.rates_of(agent) == pytest.approx(stats.pass_rates(data, ids))
            assert site.weakest(agent) == stats.weakest(data, ids)
            points, weekly = site.trend_points(agent)
            assert not weekly and points == [(c["call_date"], c["score"], bool(c["passed"])) for c in calls
                                             if c["call_date"]]
            want = stats.coaching_priorities(data, ids, team_rates)
            got = site.priorities(agent)
            assert [p["criterion_id"] for p in got] == [p["criterion_id"] for p in want]
            for g, w in zip(got, want):
                assert g["agent_rate"] == pytest.approx(w["agent_rate"]) and g["priority"] == pytest.approx(w["priority"])
                assert [(m["call_id"], m["outcome"], m["machine_outcome"], m["review_id"], m["note"])
                        for m in g["misses"]] == [(m["call_id"], m["outcome"], m["machine_outcome"], m["review_id"],
                                                   m["note"]) for m in w["misses"][:pages.MISSES_SHOWN]]
                assert [[(e["kind"], e["quote"], e["start_s"]) for e in m["evidence"]] for m in g["misses"]] == [
                    [(e["kind"], e["quote"], e["start_s"]) for e in m["evidence"]] for m in w["misses"][:pages.MISSES_SHOWN]]
                if w["model"] is None:
                    assert g["model"] is None
                else:
                    assert {k: g["model"][k] for k in ("call_id", "agent", "quote", "start_s", "role")} == {
                        k: w["model"][k] for k in ("call_id", "agent", "quote", "start_s", "role")}
        # The reviewer's answer counts: a05's greeting passed, though the machine failed it.
        assert [m["call_id"] for p in site.priorities("alice") if p["criterion_id"] == "greeting"
                for m in p["misses"]] == ["a01"]


def test_an_agent_with_many_calls_gets_a_weekly_trend(db, tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "TREND_CALLS", 3)
    data = load(db)
    with open_report(db) as source:
        site = Site(source, ReportFilters(), tmp_path)
        points, weekly = site.trend_points("alice")
        alice = [c for c in data.calls if c["agent"] == "alice"]
        assert weekly and [(w, pytest.approx(a)) for w, a, _ in points] == [
            (w, a) for w, a, _, _ in stats.weekly(alice)]
        assert site.trend_points("carol") == (
            [(c["call_date"], c["score"], bool(c["passed"])) for c in data.calls
             if c["agent"] == "carol" and c["call_date"]], False)


def test_call_pages_are_read_in_chunks(db, tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "CHUNK_CALLS", 4)
    asked: list[list[str]] = []
    with open_report(db) as source:
        read = source.calls_with_details
        monkeypatch.setattr(source, "calls_with_details", lambda ids: asked.append(list(ids)) or read(ids))
        site = Site(source, ReportFilters(), tmp_path, calls="all")
        for call_id in site.call_page_ids:
            assert site.call(call_id)["call_id"] == call_id and site.turns_of(call_id)
    assert [len(ids) for ids in asked] == [4, 4, 4, 4, 2]
    assert sorted(i for ids in asked for i in ids) == sorted(c[0] for c in CALLS)
