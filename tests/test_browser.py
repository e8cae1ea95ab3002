"""The reports in a real browser (Debian's chromium driven by Playwright): every page kind
renders without console errors, an evidence link and a metric's span seek the recording,
hostile transcript text stays text."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "build" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    page.close()


def _page_of_each_kind(site: Path) -> list[tuple[str, Path]]:
    """One page of every registered page kind the report wrote: the ones named below, else the
    first it wrote (a kind may write none: the calibration page needs reviews)."""
    from reports.pages import registered_pages
    from reports.render import read_manifest

    preferred = {"overview": "index.html", "agent": "agents/alice.html", "call": "calls/en_05_alice_hold_ok.html"}
    written = read_manifest(site)["pages"]
    chosen = []
    for page in registered_pages():
        pattern = re.escape(page.files).replace(re.escape("{slug}"), "[^/]+")
        name = preferred.get(page.name) or next((n for n in written if re.fullmatch(pattern, n)), None)
        if name:
            chosen.append((page.name, site / name))
    return sorted(chosen, key=lambda kind: kind[0] == "call")  # the call page last: the seek test uses it


def test_every_page_kind_renders_and_evidence_seeks_the_audio(scored, page):
    site = scored[0] / "site"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for kind, path in _page_of_each_kind(site):
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        shot = SCREENSHOTS / f"{'team' if kind == 'overview' else kind}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert page.locator("h1").inner_text()
        assert page.locator("svg").count() >= (1 if kind in ("overview", "agent") else 0)
    # On the call page: click the evidence of "thanks for holding" and the recording jumps there.
    page.wait_for_function("document.getElementById('recording').readyState >= 1", timeout=15000)
    rows = page.locator("tr", has_text="Thanks the customer for holding")
    link = rows.locator("div.evidence a.seek").first
    target = float(link.get_attribute("data-start"))
    assert target > 10
    link.click()
    page.wait_for_function(f"Math.abs(document.getElementById('recording').currentTime - {target}) < 0.25",
                           timeout=10000)
    current = page.evaluate("document.getElementById('recording').currentTime")
    assert current == pytest.approx(target, abs=0.25)
    assert page.problems == []


def test_metric_spans_on_the_call_page_seek_the_audio(scored, page):
    page.goto((scored[0] / "site" / "calls" / "en_05_alice_hold_ok.html").as_uri())
    page.wait_for_function("document.getElementById('recording').readyState >= 1", timeout=15000)
    assert page.locator("#metric-hold_count td").nth(2).inner_text() == "count"
    link = page.locator("#metric-hold_count a.seek").first
    target = float(link.get_attribute("data-start"))
    link.click()
    page.wait_for_function(f"Math.abs(document.getElementById('recording').currentTime - {target}) < 0.25",
                           timeout=10000)
    assert page.problems == []


def test_agent_page_links_open_the_call_at_the_evidence(scored, page):
    site = scored[0] / "site"
    page.goto((site / "agents" / "bob.html").as_uri())
    link = page.locator("a[href*='#t=']").first
    href = link.get_attribute("href")
    second = float(href.split("#t=")[1])
    link.click()
    page.wait_for_load_state("load")
    page.wait_for_function(f"Math.abs(document.getElementById('recording').currentTime - {second}) < 0.25",
                           timeout=10000)
    assert page.problems == []


def test_sorting_the_agent_table(scored, page):
    page.goto((scored[0] / "site" / "index.html").as_uri())
    names = lambda: page.locator("#agents tbody tr td:first-child").all_inner_texts()  # noqa: E731
    page.locator("#agents th", has_text="Agent").click()
    first = names()
    page.locator("#agents th", has_text="Agent").click()
    assert names() == list(reversed(first)) and sorted(first) in (first, list(reversed(first)))
    assert page.problems == []


def test_hostile_transcript_text_is_shown_not_run(tmp_path, page, inbound_rubric):
    from tests.test_reports import _db
    from reports.render import render_reports

    render_reports(_db(tmp_path, inbound_rubric), tmp_path / "site")
    page.goto((tmp_path / "site" / "calls" / "c1.html").as_uri())
    page.wait_for_load_state("load")
    body = page.locator("body").inner_text()
    assert "<script>alert(1)</script>" in body
    assert '"><img src=x onerror=alert(1)>' in body
    assert page.locator("img").count() == 0
    assert not [p for p in page.problems if p.startswith("dialog")]
