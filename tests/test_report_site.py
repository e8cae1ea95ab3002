"""The report folder as a whole: written beside --out and swapped in (an interrupted report keeps
the previous one, pages of forgotten calls disappear), recognised by its manifest, re-rendered with
the filters it recorded, page names distinct on any file system, and bad values in the database
(TeX in names, very long ids, Infinity/NaN times) that do not stop `qa report`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.store import CallInfo, Store
from reports.data import ReportError, ReportFilters, page_slug
from reports.render import MANIFEST, render_reports, rerender
from scoring import RubricScorer, parse_rubric
from tests.builders import transcript
from tests.conftest import one_line_error
from tests.conftest import qa as run_qa
from tests.test_scoring_engine import GOOD_CALL


def qa(*args: str, cwd) -> subprocess.CompletedProcess:
    return run_qa(*args, cwd=cwd, timeout=180)


def _add(db: Path, rubric, calls: list[tuple[str, str | None]], **transcript_args) -> None:
    scorer = RubricScorer(rubric)
    with Store(db) as store:
        store.save_rubric(rubric, rubric.model_dump_json())
        for call_id, agent in calls:
            t = transcript(GOOD_CALL, **transcript_args)
            store.save_call(CallInfo(call_id=call_id, file=f"{call_id[:40]}.wav", content_hash=call_id, agent=agent),
                            t, scorer.score(t))


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name and p.name.startswith("."))


# --- page names ----------------------------------------------------------------------------------

def test_page_names_differ_beyond_case_stay_short_and_inside_the_folder(tmp_path, inbound_rubric):
    ids = ["A1", "a1", "x" * 300, "X" * 300, "../../etc/passwd", "..", "con", "c1", "Ünïcode 名前", "a/b", "a_b"]
    names = [page_slug(i) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)  # distinct on a case-insensitive file system too
    for name in names:
        assert 0 < len(name) <= 80 and "/" not in name and "\\" not in name and not name.startswith(".")
    assert page_slug("c1") == "c1" and page_slug("alice") == "alice"  # plain ids keep readable names
    db = tmp_path / "qa.duckdb"
    _add(db, inbound_rubric, [(i, "alice") for i in ids])
    out = tmp_path / "site"
    written = render_reports(db, out)
    calls = [p for p in written if p.parent.name == "calls"]
    assert len(calls) == len(ids) == len({p.name.lower() for p in calls})
    assert all(p.resolve().parent == (out / "calls").resolve() and p.is_file() for p in calls)


# --- the folder is swapped in whole ------------------------------------------------------------

def test_pages_of_forgotten_calls_disappear_and_the_manifest_lists_the_pages(tmp_path, inbound_rubric):
    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice"), ("c2", "bob")])
    render_reports(db, out)
    assert (out / "calls" / "c2.html").is_file() and (out / "agents" / "bob.html").is_file()
    with Store(db) as store:
        store.forget(["c2"])
    written = render_reports(db, out)
    assert not (out / "calls" / "c2.html").exists() and not (out / "agents" / "bob.html").exists()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["pages"]) == sorted(p.relative_to(out).as_posix() for p in written)
    assert _files(out) == set(manifest["pages"]) | {MANIFEST}
    assert _siblings(out) == []  # no staging or old folder left beside it


def test_an_interrupted_report_leaves_the_previous_one_untouched(tmp_path, inbound_rubric, monkeypatch):
    import reports.pages.call as call_page

    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice")])
    render_reports(db, out)
    before = {name: (out / name).read_bytes() for name in _files(out)}
    _add(db, inbound_rubric, [("c2", "alice"), ("c3", "bob")])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(call_page, "call_view", killed)  # dies after the agent pages are written
    with pytest.raises(KeyboardInterrupt):
        render_reports(db, out)
    assert {name: (out / name).read_bytes() for name in _files(out)} == before
    assert _siblings(out) == []
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        render_reports(db, fresh)
    assert not fresh.exists()  # no half site, no index.html
    assert _siblings(fresh) == []


def test_leftovers_of_a_killed_report_are_removed_by_the_next(tmp_path, inbound_rubric):
    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice")])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".site.callqa-{int(dead.stdout)}-0123abcd"
    (leftover / "calls").mkdir(parents=True)
    (leftover / "calls" / "c9.html").write_text("half")
    render_reports(db, out)
    assert not leftover.exists() and (out / "index.html").is_file()


def test_a_folder_holding_other_files_is_refused_and_kept(tmp_path, inbound_rubric):
    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice")])
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="notes.txt"):
        render_reports(db, out)
    assert _files(out) == {"notes.txt"}
    line = one_line_error(qa("report", "--db", str(db), "--out", "site", cwd=tmp_path))
    assert "site" in line and "notes.txt" in line
    assert _files(out) == {"notes.txt"}
    # Our own report folder with a file someone added to it is refused too.
    (out / "notes.txt").unlink()
    render_reports(db, out)
    (out / "calls" / "keep.pdf").write_text("mine")
    with pytest.raises(ReportError, match="keep.pdf"):
        render_reports(db, out)
    assert (out / "calls" / "keep.pdf").read_text() == "mine"


def test_a_report_folder_from_before_manifests_is_replaced(tmp_path, inbound_rubric):
    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice")])
    for name in ("index.html", "agents/alice.html", "calls/c1.html", "calls/gone.html"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("old")
    render_reports(db, out)
    assert not (out / "calls" / "gone.html").exists() and (out / MANIFEST).is_file()


def test_out_that_is_a_file_is_one_line(tmp_path, inbound_rubric):
    db = tmp_path / "qa.duckdb"
    _add(db, inbound_rubric, [("c1", "alice")])
    (tmp_path / "site").write_text("not a folder")
    line = one_line_error(qa("report", "--db", "qa.duckdb", "--out", "site", cwd=tmp_path))
    assert "site" in line and "not a folder" in line
    assert (tmp_path / "site").read_text() == "not a folder"


# --- rerender -----------------------------------------------------------------------------------

def test_rerender_uses_the_recorded_filters_and_drops_forgotten_calls(tmp_path, inbound_rubric):
    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice"), ("c2", "bob"), ("c3", "alice")])
    render_reports(db, out, ReportFilters(rubric=inbound_rubric.content_hash, agents=["alice"]))
    assert {"calls/c1.html", "calls/c3.html", "agents/alice.html"} <= _files(out)
    with Store(db) as store:
        store.forget(["c1"])
    _add(db, inbound_rubric, [("c4", "alice"), ("c5", "bob")])
    written = rerender(db, out)
    names = {p.relative_to(out).as_posix() for p in written}
    assert names == {"index.html", "agents/alice.html", "calls/c3.html", "calls/c4.html"}
    assert _files(out) == names | {MANIFEST}
    # Every call of the recorded rubric forgotten: an empty report, not an error and not stale pages.
    with Store(db) as store:
        store.forget(["c2", "c3", "c4", "c5"])
    assert [p.relative_to(out).as_posix() for p in rerender(db, out)] == ["index.html"]
    assert _files(out) == {"index.html", MANIFEST}


def test_the_manifest_records_every_filter(tmp_path, inbound_rubric):
    from datetime import date

    db, out = tmp_path / "qa.duckdb", tmp_path / "site"
    _add(db, inbound_rubric, [("c1", "alice")])
    filters = ReportFilters(rubric="inbound-support", since=date(2026, 1, 2), until=date(2026, 3, 4),
                            agents=["alice", "Zoë"], teams=["t1"])
    render_reports(db, out, filters)
    recorded = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["filters"]
    assert recorded == {"rubric": "inbound-support", "since": "2026-01-02", "until": "2026-03-04",
                        "agents": ["alice", "Zoë"], "teams": ["t1"]}


def test_rerender_leaves_folders_it_did_not_write(tmp_path, inbound_rubric):
    db = tmp_path / "qa.duckdb"
    _add(db, inbound_rubric, [("c1", "alice")])
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "index.html").write_text("mine")
    (tmp_path / "file").write_text("mine")
    assert rerender(db, plain) is None and (plain / "index.html").read_text() == "mine"
    assert rerender(db, tmp_path / "missing") is None and not (tmp_path / "missing").exists()
    assert rerender(db, tmp_path / "file") is None and (tmp_path / "file").read_text() == "mine"
    (plain / MANIFEST).write_text("{not json")
    assert rerender(db, plain) is None and (plain / "index.html").read_text() == "mine"


# --- bad values in the database do not stop `qa report` ----------------------------------------

TEX = "$\\frac{1}{$"


def _bad_db(tmp_path, inbound_rubric, case: str) -> tuple[Path, str]:
    """A database with one bad value; returns it and the call id to find the page of."""
    from rubrics import rubric_path

    db = tmp_path / "qa.duckdb"
    if case == "tex agent":
        _add(db, inbound_rubric, [("c1", TEX), ("c2", "bob")])
        return db, "c1"
    if case == "tex criterion":
        text = rubric_path("inbound_support").read_text(encoding="utf-8")
        rubric = parse_rubric(text.replace("name: Greets the caller and offers help", f"name: '{TEX}'"))
        assert any(c.name == TEX for s in rubric.sections for c in s.criteria)
        _add(db, rubric, [("c1", "alice")])
        return db, "c1"
    if case == "long id":
        long_id = "call-" + "9" * 300
        _add(db, inbound_rubric, [(long_id, "a" * 300)])
        return db, long_id
    scorer = RubricScorer(inbound_rubric)
    with Store(db) as store:
        store.save_rubric(inbound_rubric, "yaml")
        t = transcript(GOOD_CALL, duration=float("inf"))
        t.turns[1].start = float("nan")
        t.turns[2].end = float("inf")
        store.save_call(CallInfo(call_id="c1", file="c1.wav", content_hash="c1", agent="alice"), t, scorer.score(t))
    return db, "c1"


@pytest.mark.parametrize("case", ["tex agent", "tex criterion", "long id", "infinite and nan times"])
def test_one_bad_value_does_not_stop_qa_report(tmp_path, inbound_rubric, case):
    db, call_id = _bad_db(tmp_path, inbound_rubric, case)
    run = qa("report", "--db", str(db), "--out", "site", cwd=tmp_path)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    page = tmp_path / "site" / "calls" / f"{page_slug(call_id)}.html"
    html = page.read_text(encoding="utf-8")
    assert (tmp_path / "site" / "index.html").is_file()
    if case == "tex criterion":
        assert TEX in html
    if case == "infinite and nan times":
        for bad in ("nan", "inf"):
            assert f'data-start="{bad}"' not in html and f"#t={bad}" not in html and f"{bad}%" not in html
        assert "· – ·" in html  # the unknown duration, shown as a dash
