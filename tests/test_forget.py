"""`qa forget --agent X` leaves nothing of X: no row, no byte in the database file or its log,
no exported row, no report page; everyone else's data stays."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from qa.store import Store, StoreError

X_WORDS = ["xylophonequartz", "zephyrmarmalade", "quagmirelantern"]  # only in X's transcripts
Y_WORDS = ["yellowtamarind", "yodelbiscuit"]
X_CALLS = ["x-call-1", "x-call-2"]


def qa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _call(call_id: str, agent: str, words: list[str]) -> dict:
    return {"call_id": call_id, "agent": agent, "team": "blue", "date": "2026-11-02", "language": "en",
            "turns": [
                {"role": "agent", "speaker": "A", "start": 0.5, "end": 3.0,
                 "text": f"Thank you for calling Acme, this is {words[0]}. How can I help you today?"},
                {"role": "customer", "speaker": "B", "start": 3.5, "end": 6.0,
                 "text": f"My {words[1]} order has not arrived."},
                {"role": "agent", "speaker": "A", "start": 6.5, "end": 9.0,
                 "text": f"Let me check the {words[-1]} for you. Have a nice day, goodbye."},
            ]}


def _all_rows(db: Path) -> list[str]:
    """Every row of every table, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return [f"{table}: {row}" for table in tables for row in con.execute(f"SELECT * FROM {table}").fetchall()]
    finally:
        con.close()


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


@pytest.fixture
def two_agents(tmp_path):
    """Two calls of xavier and one of yolanda imported and scored, a failure of each kind for
    xavier, both agents enrolled, and a report written."""
    calls = [_call(X_CALLS[0], "xavier", X_WORDS), _call(X_CALLS[1], "xavier", X_WORDS[::-1]),
             _call("y-call-1", "yolanda", Y_WORDS)]
    (tmp_path / "calls.json").write_text(json.dumps(calls))
    run = qa("import", "calls.json", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    db = tmp_path / "qa.duckdb"
    with Store(db) as store:
        store.save_voiceprint("xavier", [0.25] * 192, "xavier_enrol.wav", 12.0)
        store.save_voiceprint("yolanda", [0.5] * 192, "yolanda_enrol.wav", 15.0)
        store.record_failure("x-call-3.wav", "x-call-3", "x-call-3.wav: unreadable audio", "run1", agent="xavier")
        store.record_failure("x_call_2_again.wav", X_CALLS[1], "x_call_2_again.wav: silence only", "run1")
        store.record_failure("y-call-2.wav", "y-call-2", "y-call-2.wav: unreadable audio", "run1", agent="yolanda")
    run = qa("report", "--db", "qa.duckdb", "--out", "site", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return tmp_path, db


def test_forget_an_agent_leaves_nothing_of_it(two_agents):
    work, db = two_agents
    raw = _bytes(db) + _bytes(Path(f"{db}.wal"))
    assert all(w.encode() in raw for w in X_WORDS)  # the test can see the text before it is forgotten
    pages = " ".join(p.read_text(errors="replace") for p in (work / "site").rglob("*") if p.is_file())
    assert "xavier" in pages and X_WORDS[0] in pages

    run = qa("forget", "--agent", "xavier", "--db", "qa.duckdb", "--out", "site", cwd=work)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"removed 3 call(s): {X_CALLS[0]}, {X_CALLS[1]}, x-call-3" in run.stdout
    assert "calls 2" in run.stdout and "voiceprints 1" in run.stdout and "failures 2" in run.stdout
    assert "report in site written again" in run.stdout

    forgotten = ["xavier", *X_CALLS, "x-call-3", *X_WORDS]
    rows = _all_rows(db)
    assert [r for r in rows if any(name in r for name in forgotten)] == []
    raw = _bytes(db) + _bytes(Path(f"{db}.wal"))
    assert [w for w in forgotten if w.encode() in raw] == []

    run = qa("export", "--db", "qa.duckdb", "--out", "export", cwd=work)
    assert run.returncode == 0, run.stderr
    exported = " ".join(p.read_text() for p in (work / "export").iterdir())
    assert [w for w in forgotten if w in exported] == []
    assert "y-call-1" in exported

    site = [p for p in (work / "site").rglob("*") if p.is_file()]
    assert [str(p) for p in site if any(w.encode() in p.read_bytes() for w in forgotten)] == []
    assert any("y-call-1" in p.read_text(errors="replace") for p in site)

    with Store(db) as store:  # yolanda's data is whole
        assert store.query("SELECT call_id, agent FROM calls") == [{"call_id": "y-call-1", "agent": "yolanda"}]
        assert len(store.query("SELECT * FROM turns WHERE call_id = 'y-call-1'")) == 3
        assert len(store.query("SELECT * FROM scorecards WHERE call_id = 'y-call-1'")) == 1
        assert store.query("SELECT count(*) AS n FROM criterion_results WHERE call_id = 'y-call-1'")[0]["n"] > 0
        assert store.voiceprint("yolanda") == [0.5] * 192 and store.voiceprint("xavier") is None
        assert [f["call_id"] for f in store.failures()] == ["y-call-2"]
        assert Y_WORDS[0] in store.query("SELECT text FROM turns WHERE turn_index = 0")[0]["text"]


def test_forget_keeps_the_schema_and_the_database_usable(two_agents, inbound_rubric):
    _, db = two_agents
    with Store(db) as store:
        before = store.query("SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
                             "ORDER BY ALL")
        columns = store.query("SELECT table_name, column_name, data_type, column_index FROM duckdb_columns() "
                              "WHERE schema_name = 'main' ORDER BY ALL")
        version = store.query("SELECT * FROM schema_version")
        forgotten = store.forget(call_ids=[X_CALLS[0]])
        assert forgotten.call_ids == [X_CALLS[0]] and forgotten.rows["calls"] == 1
        # the same Store goes on working on the rewritten file
        assert store.query("SELECT count(*) AS n FROM calls")[0]["n"] == 2
        store.save_voiceprint("zoe", [0.1] * 4, "zoe.wav", 3.0)
    assert not Path(f"{db}.rewrite").exists()
    with Store(db) as store:
        assert store.query("SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
                           "ORDER BY ALL") == before
        assert store.query("SELECT table_name, column_name, data_type, column_index FROM duckdb_columns() "
                           "WHERE schema_name = 'main' ORDER BY ALL") == columns
        assert store.query("SELECT * FROM schema_version") == version
        assert store.voiceprint("zoe") == pytest.approx([0.1] * 4)
        with pytest.raises(duckdb.ConstraintException):  # primary keys still hold
            store.con.execute("INSERT INTO calls (call_id, file, content_hash) VALUES ('y-call-1', 'f', 'h')")


def test_forget_an_agent_with_only_a_voiceprint(tmp_path):
    db = tmp_path / "qa.duckdb"
    with Store(db) as store:
        store.save_voiceprint("walter", [0.3] * 8, "walter.wav", 10.0)
    run = qa("forget", "--agent", "walter", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "voiceprints 1" in run.stdout
    with Store(db) as store:
        assert store.voiceprint("walter") is None


def test_forget_is_all_or_nothing_when_the_file_cannot_be_rewritten(two_agents, monkeypatch):
    _, db = two_agents
    import qa.store as store_module

    real_replace = store_module.os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", disk_full)
    with Store(db) as store:
        with pytest.raises(StoreError) as err:
            store.forget(agents=["xavier"])
        message = str(err.value)
        assert message.startswith(f"{db}: ") and "no space left on device" in message
        assert "nothing was forgotten" in message
        # the old file is still there, whole, and the store still works on it
        assert len(store.query("SELECT call_id FROM calls")) == 3 and store.voiceprint("xavier") is not None
    assert not Path(f"{db}.rewrite").exists()
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    with Store(db) as store:  # the same command again, with space: done
        assert store.forget(agents=["xavier"]).rows["calls"] == 2
        assert store.query("SELECT call_id FROM calls") == [{"call_id": "y-call-1"}]
