"""`qa serve` through FastAPI's TestClient: the queue, the review page (transcript escaped), an
override attributed to the reviewer that changes the final score, form tokens (403 without or with
a wrong one), sign-in with a users file, the audio route serving stored calls' files only, sampling
and calibration."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from qa.reviews import ReviewInput, Reviews
from qa.scoring_service import CallScoring
from qa.serve import check_password, create_app, hash_password, load_users
from qa.store import CallInfo, Store
from scoring import parse_rubric
from tests.builders import transcript
from tests.conftest import EXAMPLES, REPO

fastapi_testclient = pytest.importorskip("fastapi.testclient")

RUBRIC = """\
id: r
name: review rubric
pass_mark: 80
phrase_sets:
  hello: {en: ["thank you for calling"]}
  bye: {en: ["goodbye"]}
sections:
  - id: s
    criteria:
      - {id: greeting, name: Greets the caller, points: 10, check: {phrases: $hello, speaker: agent}}
      - {id: closing, name: Says goodbye, points: 10, check: {phrases: $bye, speaker: agent}}
"""
HOSTILE = "<script>alert(1)</script>"
GOOD = [("agent", 3, 5, "Thank you for calling."), ("customer", 6, 8, "Hi."), ("agent", 12, 14, "Goodbye.")]
NO_BYE = [("agent", 3, 5, "Thank you for calling."), ("customer", 6, 8, f"Hi {HOSTILE} there."),
          ("agent", 12, 14, "Bye then.")]
AUDIO = EXAMPLES / "en_01_alice_good.wav"


def build_db(path: Path, audio: Path = AUDIO) -> Path:
    """A database with two scored, queued calls whose recording is `audio`: c1 (closing fails,
    hostile customer text) and c2 (all pass)."""
    with Store(path) as store:
        with CallScoring(store, parse_rubric(RUBRIC), RUBRIC) as scoring:
            for call_id, lines in (("c1", NO_BYE), ("c2", GOOD)):
                info = CallInfo(call_id=call_id, file=str(audio), content_hash=call_id, agent="ann",
                                call_date=date(2026, 11, 2))
                assert scoring.score(info, transcript(list(lines), duration=27), run_id="t",
                                     decide_roles=False).status == "scored"
        version = store.call_rubric_hash("c1")
        store.queue_for_review([("c1", version, "near pass mark", "2026-W45"), ("c2", version, "random", "2026-W45")])
    return path


def token_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_db(tmp_path_factory.mktemp("serve") / "qa.duckdb")


@pytest.fixture
def db(built, tmp_path):
    """A fresh copy of the module's database for each test."""
    shutil.copy(built, tmp_path / "qa.duckdb")
    return tmp_path / "qa.duckdb"


@pytest.fixture
def client(db):
    with fastapi_testclient.TestClient(create_app(db, reviewer="maria"), follow_redirects=False) as c:
        yield c


def test_queue_lists_queued_calls(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/calls/c1"' in page.text and 'href="/calls/c2"' in page.text
    assert "near pass mark" in page.text and "Sample more calls" in page.text
    assert 'id="needs-review"' in page.text  # no reviews yet: every criterion's agreement is unknown


def test_review_page_shows_evidence_and_transcript_as_text(client):
    page = client.get("/calls/c1")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'class="seek" href="#t=3.0" data-start="3.0"' in page.text  # greeting evidence seeks the audio
    assert '<audio id="recording"' in page.text and 'src="/audio/c1"' in page.text
    assert client.get("/calls/nope").status_code == 404


def test_an_override_is_the_reviewers_and_changes_the_final_score(client, db):
    page = client.get("/calls/c1")
    assert "50" in page.text
    answer = client.post("/review/c1", data={"csrf": token_of(page.text), "criterion_id": "closing",
                                             "outcome": "pass", "reason": "wrong_outcome", "comment": "said <b>bye</b>"})
    assert answer.status_code == 303 and answer.headers["location"] == "/calls/c1#criterion-closing"
    with Store(db, read_only=True) as store:
        [row] = store.review_history("c1")
        assert (row["reviewer"], row["outcome"], row["machine_outcome"]) == ("maria", "pass", "fail")
        assert {c["call_id"]: c["score"] for c in store.report_calls(row["rubric_hash"])}["c1"] == 100
    page = client.get("/calls/c1")
    assert re.search(r'id="final-score">100<', page.text)
    assert '<td class="reviewer">maria</td>' in page.text and "said &lt;b&gt;bye&lt;/b&gt;" in page.text
    agree = client.post("/review/c1", data={"csrf": token_of(page.text), "criterion_id": "greeting", "outcome": "agree"})
    assert agree.status_code == 303


def test_a_post_without_or_with_a_wrong_token_is_refused(client, db):
    good = token_of(client.get("/calls/c1").text)
    form = {"criterion_id": "closing", "outcome": "pass", "reason": "wrong_outcome"}
    assert client.post("/review/c1", data=form).status_code == 403
    assert client.post("/review/c1", data={**form, "csrf": good[:-2] + "xx"}).status_code == 403
    assert client.post("/sample", data={"per_agent": 1, "period": "week", "seed": 1}).status_code == 403
    with fastapi_testclient.TestClient(create_app(db, reviewer="eve", secret="other")) as other:
        other.get("/")  # a session of its own: maria's token is not valid there
        assert other.post("/review/c1", data={**form, "csrf": good}).status_code == 403
    with Store(db, read_only=True) as store:
        assert store.review_history("c1") == []


def test_a_review_the_store_refuses_is_a_400_with_its_line(client):
    token = token_of(client.get("/calls/c1").text)
    answer = client.post("/review/c1", data={"csrf": token, "criterion_id": "nope", "outcome": "pass"})
    assert answer.status_code == 400 and "no such criterion" in answer.text and "Traceback" not in answer.text
    answer = client.post("/review/c1", data={"csrf": token, "criterion_id": "closing", "outcome": "maybe",
                                             "reason": "wrong_outcome"})
    assert answer.status_code == 400 and "outcome must be one of pass, fail, na" in answer.text
    answer = client.post("/review/c1", data={"csrf": token, "criterion_id": "closing", "outcome": "pass",
                                             "reason": "agree"})
    assert answer.status_code == 400 and "needs a reason" in answer.text


def test_a_criterion_reviewed_under_an_older_version_asks_for_a_new_look(client, db):
    from qa.rescore import rescore

    with Store(db) as store:
        Reviews(store).record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome"))
        newer = RUBRIC.replace("pass_mark: 80", "pass_mark: 90")
        rescore(store, parse_rubric(newer), newer)
    page = client.get("/calls/c1")
    assert 'id="new-look"' in page.text and "Says goodbye (was pass by maria)" in page.text
    assert re.search(r'id="final-score">50<', page.text)  # the new version's machine answers until reviewed


def test_sign_in_with_a_users_file(db, tmp_path):
    users = tmp_path / "users.toml"
    users.write_text(f'[[users]]\nname = "olga"\npassword_hash = "{hash_password("s3cret")}"\n')
    assert check_password("s3cret", load_users(users)["olga"]) and not check_password("nope", load_users(users)["olga"])
    with fastapi_testclient.TestClient(create_app(db, users=users), follow_redirects=False) as client:
        assert client.get("/").headers["location"] == "/login"
        assert client.get("/audio/c1").status_code == 303
        login = client.get("/login")
        wrong = client.post("/login", data={"csrf": token_of(login.text), "name": "olga", "password": "x"})
        assert wrong.status_code == 401
        assert client.post("/login", data={"name": "olga", "password": "s3cret"}).status_code == 403
        ok = client.post("/login", data={"csrf": token_of(login.text), "name": "olga", "password": "s3cret"})
        assert ok.status_code == 303
        page = client.get("/calls/c1")
        assert page.status_code == 200 and "Sign out" in page.text
        client.post("/review/c1", data={"csrf": token_of(page.text), "criterion_id": "closing", "outcome": "pass",
                                        "reason": "wrong_outcome"})
    with Store(db, read_only=True) as store:
        assert [r["reviewer"] for r in store.review_history("c1")] == ["olga"]


def test_a_users_file_in_yaml(tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text(f"users:\n  - name: ann\n    password_hash: '{hash_password('pw')}'\n")
    assert check_password("pw", load_users(users)["ann"])
    (tmp_path / "bad.yaml").write_text("users: [ann]\n")
    with pytest.raises(ValueError, match="password_hash"):
        load_users(tmp_path / "bad.yaml")


def test_audio_is_served_for_stored_calls_only(client, db, tmp_path):
    served = client.get("/audio/c1")
    assert served.status_code == 200 and served.content == AUDIO.read_bytes()
    assert client.get("/audio/c1", headers={"Range": "bytes=0-99"}).status_code == 206  # the browser can seek
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    for path in ("/audio/nope", f"/audio/{secret}", "/audio/..%2F..%2Fetc%2Fpasswd", "/audio/../../etc/passwd",
                 "/audio/c1/../../secret.txt"):
        answer = client.get(path)
        assert answer.status_code == 404 and b"private" not in answer.content and b"root:" not in answer.content


def test_sampling_from_the_queue_page(client, db):
    token = token_of(client.get("/").text)
    assert client.post("/sample", data={"csrf": token, "per_agent": "x", "period": "week", "seed": 1}).status_code == 400
    assert client.post("/sample", data={"csrf": token, "per_agent": 5, "period": "day", "seed": 7}).status_code == 303


def test_calibration_page(client, db):
    with Store(db) as store:
        Reviews(store).record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome"))
        Reviews(store).record(ReviewInput("c1", "closing", "fail", "olga", "agree"))
    page = client.get("/calibration")
    assert page.status_code == 200
    for text in ("Cohen", "AC1", "Raw agreement", "not enough reviews", "needs human review", "Says goodbye"):
        assert text in page.text
    assert re.search(r"<td>1<br>", page.text)  # n = 1 for "closing"
    assert client.get("/calibration?min_n=1").status_code == 200


def test_the_command_needs_a_reviewer_or_users(db):
    with pytest.raises(ValueError, match="--reviewer"):
        create_app(db)


def test_qa_serve_command(db, tmp_path):
    import httpx

    refused = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--db", str(db)], capture_output=True,
                             text=True, cwd=REPO, timeout=120)
    assert refused.returncode == 2 and "--reviewer NAME or --users FILE" in refused.stderr
    missing = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--db", str(tmp_path / "no.duckdb"),
                              "--reviewer", "maria"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert missing.returncode == 2 and "database not found" in missing.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--db", str(db), "--reviewer", "maria",
                               "--port", str(port)], cwd=REPO)
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/")
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "c1" in page.text
    finally:
        server.terminate()
        server.wait(30)
