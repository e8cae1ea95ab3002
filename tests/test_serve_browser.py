"""`qa serve` for real: a uvicorn server on a free port over a database of scored calls with a real
recording. In Chromium (Debian's, driven by Playwright): queue -> call, an evidence link seeks the
audio, an override changes the final score and its history row names the reviewer, the static
report shows the reviewed answer, a forged POST gets 403, hostile transcript text stays text;
screenshots in build/screenshots. And the server keeps answering while another process writes a
batch into the same file."""
from __future__ import annotations

import multiprocessing
import re
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from qa.serve import create_app
from qa.store import CallInfo, Store
from tests.test_browser import ARGS, CHROMIUM, SCREENSHOTS
from tests.test_serve import GOOD, HOSTILE, RUBRIC, build_db, token_of

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed (apt-get install chromium)")


@pytest.fixture
def server(tmp_path):
    """(base URL, database) of a workbench served by uvicorn in a thread, reviewer "maria"."""
    uvicorn = pytest.importorskip("uvicorn")
    db = build_db(tmp_path / "qa.duckdb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(db, reviewer="maria"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}", db
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.problems = []
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        yield page
        browser.close()


@needs_chromium
def test_review_a_call_in_the_browser(server, page, tmp_path):
    base, db = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(base + "/")
    assert page.locator("h1").inner_text() == "Review queue"
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)
    page.locator("#queue a", has_text="c1").click()
    page.wait_for_url(base + "/calls/c1")

    # An evidence link seeks the recording to the evidence start.
    page.wait_for_function("document.getElementById('recording').readyState >= 1", timeout=15000)
    link = page.locator("#criterion-greeting div.evidence a.seek").first
    target = float(link.get_attribute("data-start"))
    assert target == pytest.approx(3.0)
    link.click()
    page.wait_for_function(f"Math.abs(document.getElementById('recording').currentTime - {target}) < 0.25",
                           timeout=10000)
    # Hostile transcript text is shown as text, never run.
    assert HOSTILE in page.locator(".turn.customer").inner_text()

    # Override "closing" with a reason; after a reload the final score and the history show it.
    assert page.locator("#final-score").inner_text() == "50"
    form = page.locator("#criterion-closing form.review")
    form.locator("select[name=outcome]").select_option("pass")
    form.locator("select[name=reason]").select_option("wrong_outcome")
    form.locator("input[name=comment]").fill("she said bye then")
    form.locator("button").click()
    page.wait_for_load_state("load")
    page.reload()
    assert page.locator("#final-score").inner_text() == "100"
    assert page.locator("#criterion-closing td.final").inner_text().startswith("pass")
    assert page.locator("#history td.reviewer").all_inner_texts() == ["maria"]
    page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)

    # A forged POST (no token, or a made-up one) is refused.
    for extra in ("", "&csrf=forged"):
        status = page.evaluate("""body => fetch('/review/c1', {method: 'POST', body: body,
            headers: {'Content-Type': 'application/x-www-form-urlencoded'}}).then(r => r.status)""",
                               "criterion_id=greeting&outcome=fail&reason=wrong_outcome" + extra)
        assert status == 403
    with Store(db, read_only=True) as store:
        assert len(store.review_history("c1")) == 1

    page.goto(base + "/calibration")
    assert page.locator("text=not enough reviews").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "calibration.png"), full_page=True)
    assert page.problems == []

    # The static report, written from the same database, shows the reviewed answer.
    from reports.data import ReportFilters
    from reports.render import render_reports

    render_reports(db, tmp_path / "site", ReportFilters())
    page.goto((tmp_path / "site" / "calls" / "c1.html").as_uri())
    closing = page.locator("tr", has_text="Says goodbye")
    assert closing.locator("td").nth(2).inner_text().startswith("pass")  # the reviewed answer, not the machine's
    assert page.locator(".card .v").first.inner_text() == "100"


def _write_calls(path: str, count: int, started) -> None:
    """A batch in another process: scores `count` calls, giving the file back between calls."""
    from qa.scoring_service import CallScoring
    from scoring import parse_rubric
    from tests.builders import transcript

    store = Store(path, hold=False)
    with CallScoring(store, parse_rubric(RUBRIC), RUBRIC) as scoring:
        started.set()
        for i in range(count):
            scoring.score(CallInfo(call_id=f"batch{i}", file=f"batch{i}.wav", content_hash=str(i), agent="bob",
                                   call_date=date(2026, 11, 3)), transcript(list(GOOD)), run_id="batch",
                          decide_roles=False)
            store.release()
            time.sleep(0.05)  # transcribing the next call
    store.close()


def test_the_server_answers_while_a_batch_writes_the_same_file(server):
    import httpx

    base, db = server
    started = multiprocessing.get_context("spawn").Event()
    writer = multiprocessing.get_context("spawn").Process(target=_write_calls, args=(str(db), 20, started))
    writer.start()
    saved = pages = 0
    try:
        assert started.wait(60)
        with httpx.Client(base_url=base, timeout=60) as client:
            while writer.is_alive() or saved < 5:
                page = client.get("/calls/c1")
                assert page.status_code == 200
                pages += 1
                answer = client.post("/review/c1", data={"csrf": token_of(page.text), "criterion_id": "closing",
                                                         "outcome": "pass" if saved % 2 else "fail",
                                                         "reason": "wrong_outcome"})
                assert answer.status_code == 303, answer.text
                saved += 1
                assert client.get("/").status_code == 200
    finally:
        writer.join(120)
    assert writer.exitcode == 0 and saved >= 5
    with Store(db, read_only=True) as store:
        assert len(store.review_history("c1")) == saved
        assert len(store.query("SELECT call_id FROM calls WHERE call_id LIKE 'batch%'")) == 20
    print(f"{pages} pages and {saved} reviews while the batch wrote 20 calls")
