"""Reports show reviews: a reviewed criterion reads "(reviewed; machine: …)", the call's score says
it includes reviewed answers, overview and agent figures are the final ones, and the calibration
page lists agreement per criterion with "needs human review" below the gate (marked on the
overview too). Without reviews no calibration page is written."""
from __future__ import annotations

import html as entities
import re

import pytest

from qa.reviews import ReviewInput, Reviews
from reports.data import page_slug
from reports.render import render_reports
from tests.test_reviews import GOOD, scored_store

NO_HELLO = [("agent", 0, 2, "Hello there."), ("customer", 2.5, 4, "Hi."), ("agent", 5, 6, "Goodbye.")]


def _text(html: str) -> str:
    """The page's text: tags dropped, white space collapsed."""
    return " ".join(entities.unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """20 calls of ann. The machine fails greeting on c01 only (machine score 50). Maria answers
    greeting on every call: pass on c01, fail on c02, the machine's answer elsewhere; and closing
    on c03: fail (the machine passed it).

    Greeting pairs (machine, maria): c01 (fail, pass), c02 (pass, fail), 18 × (pass, pass):
      raw = 18/20 = 0.90; kappa: p_e = 0.95² + 0.05² = 0.905, (0.90 - 0.905) / 0.095 = -0.053 -> -0.05;
      AC1 (q = 3): p_e = (0.95·0.05 · 2) / 2 = 0.0475, (0.90 - 0.0475) / 0.9525 = 0.895 -> 0.90.
    Closing: 1 pair, below 20: "n < 20" and needs human review.
    Final scores: c01 100, c02 50, c03 50, the rest 100: average 95 (the machine's would be 97.5)."""
    folder = tmp_path_factory.mktemp("reviewed")
    calls = [(f"c{i:02d}", NO_HELLO if i == 1 else GOOD) for i in range(1, 21)]
    with scored_store(folder / "qa.duckdb", calls=calls) as store:
        answers = {"c01": "pass", "c02": "fail"}
        Reviews(store).record_many(
            [ReviewInput(cid, "greeting", answers.get(cid), "maria", "wrong_outcome" if cid in answers else "agree")
             for cid, _ in calls] + [ReviewInput("c03", "closing", "fail", "maria", "wrong_outcome", "<b>no</b>")])
        version = store.call_rubric_hash("c01")
    render_reports(folder / "qa.duckdb", folder / "site")
    return folder / "site", version


def test_the_call_page_shows_the_reviewed_answer_beside_the_machines(site):
    out, _ = site
    text = _text((out / "calls" / "c01.html").read_text(encoding="utf-8"))
    assert "Greeting pass (reviewed; machine: fail)" in text
    assert "Closing pass 10 / 10" in text and "Closing pass (reviewed" not in text  # the machine's answer
    assert "Score 100 (machine 50; 1 criterion reviewed)" in text
    plain = _text((out / "calls" / "c05.html").read_text(encoding="utf-8"))
    assert "Greeting pass (reviewed; machine: pass)" in plain  # the reviewer agreed
    assert "Score 100 (machine 100; 1 criterion reviewed)" in plain


def test_overview_and_agent_pages_use_the_final_answers(site):
    out, _ = site
    overview = _text((out / "index.html").read_text(encoding="utf-8"))
    assert "Average score 95" in overview  # the machine's answers would give 98
    assert re.search(r"Closing 95%", overview)  # c03's closing was failed by the reviewer
    agent = _text((out / "agents" / "ann.html").read_text(encoding="utf-8"))
    assert "Average score 95" in agent
    assert "Missed on c03 (reviewed; machine: pass)" in agent  # the reviewer failed closing


def test_the_calibration_page_lists_the_figures_and_marks_criteria_below_the_gate(site):
    out, version = site
    name = f"calibration-{page_slug(version[:8])}.html"
    html = (out / name).read_text(encoding="utf-8")
    greeting = _text(re.search(r'<tr id="criterion-greeting">.*?</tr>', html, re.S).group(0))
    assert greeting.startswith("Greeting 20 0.90 -0.05 0.90 95% / 5% / 0%")
    assert "18 agree; machine pass, reviewer fail 1; machine fail, reviewer pass 1" in greeting
    assert greeting.endswith("ok")
    closing = _text(re.search(r'<tr id="criterion-closing">.*?</tr>', html, re.S).group(0))
    assert closing.startswith("Closing 1 n < 20 n < 20 n < 20")
    assert "needs human review (only 1 pairs, too few to judge)" in closing
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'<a id="calibration-link" href="{name}">' in index
    marks = re.findall(r"<tr><td>(\w+)</td>.*?</tr>", index, re.S)
    rows = {m: re.search(rf"<tr><td>{m}</td>.*?</tr>", index, re.S).group(0) for m in marks}
    assert "needs human review" in rows["Closing"] and "needs human review" not in rows["Greeting"]
    assert 'href="index.html">Team overview' in html


def test_without_reviews_there_is_no_calibration_page(tmp_path):
    scored_store(tmp_path / "qa.duckdb").close()
    written = {p.name for p in render_reports(tmp_path / "qa.duckdb", tmp_path / "site")}
    assert not any(n.startswith("calibration") for n in written)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "No human reviews of this rubric version yet" in index
    assert "needs-review" not in index  # one line says so; no criterion is marked before any review
