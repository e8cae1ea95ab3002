"""Report pages as registered definitions, evidence and verdicts drawn by shared template macros,
and the call page's metrics read through the metric registry (unit, description, spans that seek
the recording)."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from jinja2 import ChoiceLoader, DictLoader

import reports.pages as pages
import reports.render as render
from qa.store import CallInfo, Store
from reports.data import ReportData, ReportFilters
from reports.evidence import attach_metrics, metric_rows
from reports.pages import PageError, Site, linker, registered_pages, report_page
from reports.render import MANIFEST, read_manifest, render_reports, rerender
from scoring import RubricScorer
from scoring.metrics import registered_metrics
from tests.builders import transcript
from tests.test_metrics import CALL as TIMED_CALL
from tests.test_scoring_engine import GOOD_CALL

TEMPLATES = Path(render.__file__).parent / "templates"


def _db(tmp_path, rubric, calls=(("c1", "alice", GOOD_CALL), ("c2", "bob", GOOD_CALL[1:]))) -> Path:
    db = tmp_path / "qa.duckdb"
    scorer = RubricScorer(rubric)
    with Store(db) as store:
        store.save_rubric(rubric, "yaml")
        for call_id, agent, lines in calls:
            t = transcript(lines, duration=131.0 if lines is TIMED_CALL else None)
            store.save_call(CallInfo(call_id=call_id, file=f"{call_id}.wav", content_hash=call_id, agent=agent),
                            t, scorer.score(t))
    return db


@pytest.fixture
def own_registry(monkeypatch):
    """Pages registered in a test disappear after it."""
    registered_pages()  # every shipped page imported first, so they stay registered
    monkeypatch.setattr(pages, "_PAGES", dict(pages._PAGES))


# --- pages are definitions found through a registry --------------------------------------------

def test_the_shipped_pages_are_registered_definitions():
    kinds = {p.name: p for p in registered_pages()}
    assert {"overview", "agent", "call"} <= set(kinds)
    assert (kinds["overview"].template, kinds["overview"].files) == ("index.html", "index.html")
    assert (kinds["agent"].template, kinds["agent"].files) == ("agent.html", "agents/{slug}.html")
    assert (kinds["call"].template, kinds["call"].files) == ("call.html", "calls/{slug}.html")
    assert set(kinds["overview"].links) == {"agent", "call"}
    assert set(kinds["agent"].links) == {"overview", "call"} and set(kinds["call"].links) == {"overview", "agent"}
    assert kinds["call"].file("A/1") == "calls/" + render.page_slug("A/1") + ".html"
    for page in kinds.values():
        assert (TEMPLATES / page.template).is_file()
    # Written agents first and the overview last, as before pages were registered.
    order = [p.name for p in registered_pages()]
    assert order.index("agent") < order.index("call") < order.index("overview")


EXTRA_TEMPLATE = """{% extends "base.html" %}
{% import "evidence.html" as show with context %}
{% block body %}<h1>Calibration: {{ agent }}</h1>
<a id="back" href="{{ link('agent', agent) }}">coaching page</a>
{% for c in calls %}<p><a href="{{ link('call', c.call_id) }}">{{ c.call_id }}</a> {{ show.verdict(c) }}</p>{% endfor %}
{% endblock %}"""


def test_a_new_page_kind_is_one_definition_plus_its_template(tmp_path, inbound_rubric, monkeypatch, own_registry):
    made = render.environment

    def environment():
        env = made()
        env.loader = ChoiceLoader([env.loader, DictLoader({"calibration.html": EXTRA_TEMPLATE})])
        return env

    monkeypatch.setattr(render, "environment", environment)

    @report_page("calibration", template="calibration.html", files="calibration/{slug}.html",
                 keys=lambda site: site.agents, links=("overview", "agent", "call"))
    def calibration(site: Site, agent: str) -> dict:
        return {"agent": agent, "calls": site.calls_of(agent)}

    db, out = _db(tmp_path, inbound_rubric), tmp_path / "site"
    written = {p.relative_to(out).as_posix() for p in render_reports(db, out)}
    assert {"calibration/alice.html", "calibration/bob.html", "index.html", "calls/c1.html"} <= written
    assert set(read_manifest(out)["pages"]) == written
    html = (out / "calibration" / "alice.html").read_text(encoding="utf-8")
    assert 'href="../agents/alice.html"' in html and 'href="../calls/c1.html"' in html
    assert 'href="../index.html">Team overview' in html  # base.html's header, through link()
    assert '<span class="pass">pass</span>' in html
    # The new folder is part of the report: re-rendering replaces it instead of refusing it.
    assert rerender(db, out) is not None and (out / "calibration" / "bob.html").is_file()
    # Unregistered again: the next report drops its pages and folder's files.
    monkeypatch.setattr(pages, "_PAGES", {k: v for k, v in pages._PAGES.items() if k != "calibration"})
    render_reports(db, out)
    assert not (out / "calibration").exists() and (out / MANIFEST).is_file()


def test_page_definitions_are_checked(own_registry):
    def context(site, key):
        return {}

    with pytest.raises(PageError, match="lower-case .html"):
        report_page("bad", template="x.html", files="../x/{slug}.html", keys=lambda s: [])(context)
    with pytest.raises(PageError, match="slug"):
        report_page("bad", template="x.html", files="x/{slug}.html")(context)  # keys missing
    with pytest.raises(PageError, match="slug"):
        report_page("bad", template="x.html", files="x.html", keys=lambda s: [])(context)
    with pytest.raises(PageError, match="two report pages are called 'call'"):
        report_page("call", template="x.html", files="x.html")(context)
    report_page("dangling", template="x.html", files="dangling.html", links=("nowhere",))(context)
    with pytest.raises(PageError, match="nowhere"):
        registered_pages()


def test_links_are_relative_to_the_page_being_written():
    kinds = {p.name: p for p in registered_pages()}
    on_index = linker(kinds["overview"], None)
    assert on_index("agent", "alice") == "agents/alice.html" and on_index("overview") == "index.html"
    assert on_index("call", "c1", t=12.5) == "calls/c1.html#t=12.5"
    on_agent = linker(kinds["agent"], "alice")
    assert on_agent("call", "c1", t=3.0) == "../calls/c1.html#t=3.0" and on_agent("overview") == "../index.html"
    assert on_agent("call", "c1", t=float("nan")) == "../calls/c1.html"  # no seeking to NaN
    on_call = linker(kinds["call"], "c1")
    assert on_call("call", "c1", t=3.0) == "#t=3.0"  # its own recording
    assert on_call("call", "c1", anchor="metric-dead_air_s") == "#metric-dead_air_s"
    assert on_call("call", "c2", t=3.0) == "c2.html#t=3.0"
    assert on_call("agent", "A B") == "../agents/" + render.page_slug("A B") + ".html"


def test_a_link_the_definition_does_not_name_is_refused(own_registry):
    page = pages.Page(name="lonely", template="x.html", files="lonely.html", context=lambda s, k: {})
    with pytest.raises(PageError, match="'lonely' links to 'call'"):
        linker(page, None)("call", "c1")


# --- evidence and verdicts: one macro each, every page ------------------------------------------

def _macro(page: str, key: str | None, call: str):
    """A function rendering `call` (using the macros) as on the page of kind `page` for `key`."""
    kinds = {p.name: p for p in registered_pages()}
    template = render.environment().from_string('{% import "evidence.html" as show with context %}' + call)
    return lambda **values: template.render(link=linker(kinds[page], key), **values)


QUOTE = {"kind": "quote", "quote": "<b>hi</b>", "role": "agent", "start_s": 12.5, "end_s": 13.0}
WINDOW = {"kind": "window", "quote": "", "role": "agent", "start_s": 0.0, "end_s": 20.0}
EVENT = {"kind": "event", "quote": "dead air (6.0 s)", "role": "", "start_s": 12.0, "end_s": 18.0}
METRIC = {"kind": "metric", "quote": "dead_air_s = 6", "role": "", "start_s": 0.0, "end_s": 131.0,
          "metric": {"name": "dead_air_s", "unit": "s", "description": "total dead air", "value": 6.0,
                     "spans": [(12.0, 18.0)]}}


def test_each_evidence_kind_has_its_macro_and_seeks_on_its_call_page():
    on_call = _macro("call", "c1", "{{ show.evidence(e, 'c1') }}")
    on_agent = _macro("agent", "alice", "{{ show.evidence(e, 'c1') }}")
    quote = on_call(e=QUOTE)
    assert quote == ('<div class="evidence quote"><a class="seek" href="#t=12.5" data-start="12.5">▶ 0:12.5</a> '
                     'agent: “&lt;b&gt;hi&lt;/b&gt;”</div>')
    assert on_agent(e=QUOTE) == ('<div class="evidence quote"><a href="../calls/c1.html#t=12.5">▶ 0:12.5</a> '
                                 'agent: “&lt;b&gt;hi&lt;/b&gt;”</div>')
    assert on_call(e=WINDOW) == ('<div class="evidence window muted">searched <a class="seek" href="#t=0.0" '
                                 'data-start="0.0">0:00.0</a>–0:20.0</div>')
    assert on_call(e=EVENT) == ('<div class="evidence event muted"><a class="seek" href="#t=12.0" '
                                'data-start="12.0">0:12.0</a> dead air (6.0 s)</div>')
    metric = on_call(e=METRIC)
    assert metric.startswith('<div class="evidence metric muted"><a href="#metric-dead_air_s">total dead air</a>: 6 s')
    assert '<a class="seek" href="#t=12.0" data-start="12.0">0:12.0</a>–0:18.0' in metric
    assert 'href="../calls/c1.html#metric-dead_air_s"' in on_agent(e=METRIC)
    assert on_call(e=dict(METRIC, metric=None)) == '<div class="evidence metric muted">dead_air_s = 6</div>'
    assert on_call(e=dict(QUOTE, kind="something new")) == ""
    assert "href" not in on_call(e=dict(QUOTE, start_s=float("inf")))  # no link to a time that is not one


def test_verdict_and_outcome_markup_live_in_one_macro():
    verdict = _macro("overview", None, "{{ show.verdict(c) }}")
    assert verdict(c={"auto_failed": True, "passed": False}) == '<span class="auto">AUTO-FAIL</span>'
    assert verdict(c={"auto_failed": False, "passed": True}) == '<span class="pass">pass</span>'
    assert verdict(c={"auto_failed": False, "passed": False}) == '<span class="fail">fail</span>'
    outcome = _macro("call", "c1", "{{ show.outcome(r) }}")
    assert outcome(r={"outcome": "na"}) == '<span class="na">N/A</span>'
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        if template.name != "evidence.html":
            assert "AUTO-FAIL" not in text and "e.kind" not in text, template.name


def test_every_page_draws_evidence_and_verdicts_with_the_macros(tmp_path, inbound_rubric):
    db, out = _db(tmp_path, inbound_rubric), tmp_path / "site"
    render_reports(db, out)
    index = (out / "index.html").read_text(encoding="utf-8")
    agent = (out / "agents" / "bob.html").read_text(encoding="utf-8")
    call = (out / "calls" / "c2.html").read_text(encoding="utf-8")
    assert '<span class="pass">pass</span>' in index and '<span class="fail">fail</span>' in call
    # bob's missed greeting: the window searched, on his page and on the call page.
    assert '<div class="evidence window muted">searched <a href="../calls/c2.html#t=0.0">' in agent
    assert '<div class="evidence window muted">searched <a class="seek" href="#t=0.0" data-start="0.0">' in call


# --- metrics on the call page --------------------------------------------------------------------

def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr id="metric-([^"]+)">(.*?)</tr>', html, re.S))


def test_the_call_page_shows_every_registered_metric_with_unit_description_and_spans(tmp_path, inbound_rubric):
    db, out = _db(tmp_path, inbound_rubric, [("c1", "alice", TIMED_CALL)]), tmp_path / "site"
    render_reports(db, out)
    html = (out / "calls" / "c1.html").read_text(encoding="utf-8")
    rows = _rows(html)
    assert list(rows) == [m.name for m in registered_metrics()]
    for metric in registered_metrics():
        assert metric.description in rows[metric.name] and f"<td>{metric.unit}</td>" in rows[metric.name]
    assert "<td>6</td>" in rows["dead_air_s"]  # 12-18 s
    assert '<a class="seek" href="#t=12.0" data-start="12.0">0:12.0</a>–0:18.0' in rows["dead_air_s"]
    assert '<a class="seek" href="#t=32.0" data-start="32.0">0:32.0</a>–2:02.0' in rows["hold_count"]
    assert "<td>90</td>" in rows["longest_hold_s"]
    assert 'data-start="126.2"' in rows["agent_interruptions"]
    # The dead-air criterion's evidence: the metric (linked to its row) and its span, seekable, once.
    scorecard = html[html.index("<h2>Scorecard</h2>"):html.index('<h2 id="metrics">')]
    assert '<a href="#metric-dead_air_s">total dead air</a>: 6 s' in scorecard
    assert scorecard.count('href="#t=12.0" data-start="12.0"') == 1


def test_metric_evidence_stored_without_its_spans_gets_them_from_the_registry(tmp_path, inbound_rubric):
    db, out = _db(tmp_path, inbound_rubric, [("c1", "alice", TIMED_CALL)]), tmp_path / "site"
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM evidence WHERE kind = 'event'")  # as scored before metric checks listed spans
    con.close()
    render_reports(db, out)
    html = (out / "calls" / "c1.html").read_text(encoding="utf-8")
    scorecard = html[html.index("<h2>Scorecard</h2>"):html.index('<h2 id="metrics">')]
    assert ('<a href="#metric-dead_air_s">total dead air</a>: 6 s · <a class="seek" href="#t=12.0" '
            'data-start="12.0">0:12.0</a>–0:18.0') in scorecard


def test_metric_spans_are_shown_once_per_criterion():
    call = {"call_id": "c1", "metrics": {"duration_s": 60.0, "dead_air": [[12.0, 18.0]], "dead_air_s": 6.0}}
    with_events = [dict(METRIC, metric=None), dict(EVENT)]
    alone = [dict(METRIC, metric=None)]
    unknown = [dict(METRIC, quote="retired_metric = 3", metric=None)]
    data = ReportData(calls=[call], turns={}, criteria={}, results={"c1": [
        {"evidence": with_events}, {"evidence": alone}, {"evidence": unknown}]})
    attach_metrics(data)
    assert with_events[0]["metric"]["value"] == 6.0 and with_events[0]["metric"]["spans"] == []
    assert alone[0]["metric"]["spans"] == [(12.0, 18.0)] and alone[0]["metric"]["unit"] == "s"
    assert unknown[0]["metric"] is None


def test_scorecards_with_old_or_no_metric_records_still_render(tmp_path, inbound_rubric):
    # A record stored before the newer CallMetrics fields: what it has is read, the rest is missing.
    old = metric_rows({"metrics": {"duration_s": 60.0, "dead_air_s": 6.0, "dead_air": [[12.0, 18.0]],
                                   "agent_interruptions": 2, "retired_field": 1}})
    by_name = {r["name"]: r for r in old}
    assert by_name["dead_air_s"]["spans"] == [(12.0, 18.0)] and by_name["agent_interruptions"]["value"] == 2
    assert metric_rows({"metrics": None}) == [] and metric_rows({"metrics": {"no": "duration"}}) == []
    db, out = _db(tmp_path, inbound_rubric), tmp_path / "site"
    con = duckdb.connect(str(db))
    con.execute("UPDATE scorecards SET metrics = NULL WHERE call_id = 'c1'")
    con.close()
    render_reports(db, out)
    html = (out / "calls" / "c1.html").read_text(encoding="utf-8")
    assert "No metrics were stored with this scorecard" in html and _rows(html) == {}
    assert _rows((out / "calls" / "c2.html").read_text(encoding="utf-8"))


def test_site_reads_pages_data_once(tmp_path, inbound_rubric):
    from reports.data import open_report

    with open_report(_db(tmp_path, inbound_rubric)) as source:
        site = Site(source, ReportFilters(), tmp_path)
        assert site.agents == ["alice", "bob"] and [c["call_id"] for c in site.calls_of("bob")] == ["c2"]
        assert site.folder_of("call") == tmp_path / "calls" and site.folder_of("overview") == tmp_path
        assert [r["name"] for r in site.metrics("c1")] == [m.name for m in registered_metrics()]
