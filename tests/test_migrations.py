"""Databases made by every released schema open, are brought to the current version, and work:
saving a call, rescoring, exporting and reporting, with the old rows kept."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

import qa.store as store_module
from qa.export import export_tables
from qa.rescore import rescore
from qa.store import SCHEMA_VERSION, CallInfo, Store, StoreError
from scoring import RubricScorer, meaning
from tests.builders import transcript
from tests.test_meaning import StubEmbedder, rubric
from tests.test_scoring_engine import GOOD_CALL

# The DDL of each released schema, exactly as `git log -p -- qa/store.py` shows it, frozen as data
# in tests/schemas/v<version>.yaml (each names its release and what it added).
SCHEMAS = Path(__file__).parent / "schemas"
RELEASED = {version: yaml.safe_load((SCHEMAS / f"v{version}.yaml").read_text(encoding="utf-8"))["ddl"]
            for version in range(1, 10)}
# What the version-5 release ran on every open after its SCHEMA (its MIGRATIONS).
V5_OPEN = [f"ALTER TABLE calls ADD COLUMN IF NOT EXISTS {column}"
           for column in ("speakers INTEGER", "agent_speaker VARCHAR", "role_method VARCHAR",
                          "role_confidence DOUBLE", "role_detail VARCHAR", "voice_similarity VARCHAR")]

# The metrics a scorecard of release 2 on stored (json.dumps of its CallMetrics), as text.
OLD_METRICS = {"duration_s": 30.0, "talk_s": {"agent": 1.5, "customer": 1.5}, "talk_to_listen": 1.0,
               "dead_air": [[10.0, 14.5]], "dead_air_s": 4.5, "overtalk": [], "overtalk_s": 0.0, "holds": [],
               "longest_hold_s": 0.0, "words_per_minute": {"agent": 160.0, "customer": 200.0},
               "longest_agent_monologue_s": 1.5, "agent_interruptions": 0}

OLD_WORDS = [["Thank", 0.5, 0.9, 0.9], ["you", 0.9, 1.2, 0.9], ["for", 1.2, 1.4, 0.9], ["calling", 1.4, 2.0, 0.9]]


def _columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                                      [table]).fetchall()}


def make_old_database(path, version: int, opened_by_v5: bool = False, metrics: str | None = None):
    """A database as release `version` left it, holding one scored call (from version 2 with its
    metrics as JSON text: `metrics`, by default OLD_METRICS), a failure, a finished run and a run
    that never finished. `opened_by_v5`: then opened by the version-5 release, which added its
    tables and role columns but not the columns of versions in between."""
    con = duckdb.connect(str(path))
    con.execute(RELEASED[version])
    if version >= 6:  # releases from 6 on record their version
        con.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, '2026-01-05 09:00:00')", [version])
    if opened_by_v5:
        con.execute(RELEASED[5])
        for statement in V5_OPEN:
            con.execute(statement)
    calls = _columns(con, "calls")
    row = {"call_id": "old1", "file": "old1.wav", "content_hash": "oldhash", "agent": "olga", "team": "t1",
           "call_date": "2026-01-05", "duration_s": 30.0, "language": "en", "language_probability": 0.99,
           "channels": 2, "model": "base", "warnings": "[]", "transcribed_at": "2026-01-05 10:00:00"}
    if "redactions" in calls:
        row["redactions"] = json.dumps({"card": 1})
    if "holds" in calls:
        row["holds"] = "[]"
    con.execute(f"INSERT INTO calls ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    con.execute("INSERT INTO turns VALUES ('old1', 0, 'A', 'agent', 0.5, 2.0, 'Thank you for calling', ?)",
                [json.dumps(OLD_WORDS)])
    con.execute("INSERT INTO turns VALUES ('old1', 1, 'B', 'customer', 2.5, 4.0, 'my card was charged twice', "
                "'[]')")
    con.execute("INSERT INTO rubrics VALUES ('oldrubric', 'inbound_support', 'Old', 70, 'yaml', "
                "'2026-01-05 10:00:00')")
    con.execute("INSERT INTO criteria VALUES ('oldrubric', 0, 'open', 'Opening', 'greeting', 'Greeting', 10, "
                "NULL, 'Greet')")
    score = {"call_id": "old1", "rubric_hash": "oldrubric", "rubric_id": "inbound_support", "score": 81.5,
             "passed": True, "auto_failed": False, "pass_mark": 70.0, "flags": "[]",
             "scored_at": "2026-01-05 10:00:01", "run_id": "oldrun"}
    if "metrics" in _columns(con, "scorecards"):
        score["metrics"] = json.dumps(OLD_METRICS) if metrics is None else metrics
    con.execute(f"INSERT INTO scorecards ({', '.join(score)}) VALUES ({', '.join('?' * len(score))})",
                list(score.values()))
    con.execute("INSERT INTO section_scores VALUES ('old1', 'oldrubric', 'open', 'Opening', 1, 10, 10)")
    con.execute("INSERT INTO criterion_results VALUES ('old1', 'oldrubric', 'open', 'greeting', 'Greeting', "
                "'met', 10, 10, NULL, '')")
    con.execute("INSERT INTO evidence VALUES ('old1', 'oldrubric', 'greeting', 0, 'phrase', "
                "'Thank you for calling', 'agent', 0.5, 2.0)")
    con.execute("INSERT INTO failures (file, call_id, reason, run_id, failed_at) VALUES ('bad.wav', 'bad', "
                "'bad.wav: unreadable audio', 'oldrun', '2026-01-05 10:00:02')")
    runs = "run_id, started_at, finished_at, rubric_hash, model, files, scored, failed"
    con.execute(f"INSERT INTO runs ({runs}) VALUES ('oldrun', '2026-01-05 09:59:00', '2026-01-05 10:00:03', "
                "'oldrubric', 'base', 2, 1, 1)")
    con.execute(f"INSERT INTO runs ({runs}) VALUES ('deadrun', '2026-01-06 09:00:00', NULL, 'oldrubric', 'base', "
                "5, 0, 0)")
    if "status" in _columns(con, "runs"):  # as release 6 left them: the run that never finished still 'running'
        con.execute("UPDATE runs SET status = CASE WHEN finished_at IS NULL THEN 'running' ELSE 'finished' END")
    con.close()
    return path


def _old_rows_survive(con) -> None:
    call = con.execute("SELECT call_id, agent, team, duration_s, content_hash FROM calls WHERE call_id = 'old1'"
                       ).fetchall()
    assert call == [("old1", "olga", "t1", 30.0, "oldhash")]
    assert con.execute("SELECT count(*) FROM turns WHERE call_id = 'old1'").fetchone()[0] == 2
    assert con.execute("SELECT score FROM scorecards WHERE call_id = 'old1' AND rubric_hash = 'oldrubric'"
                       ).fetchone()[0] == 81.5
    assert con.execute("SELECT quote FROM evidence WHERE call_id = 'old1'").fetchone()[0] == "Thank you for calling"
    assert con.execute("SELECT reason FROM failures WHERE call_id = 'bad'").fetchone()[0] == "bad.wav: unreadable audio"


def _schema(con) -> tuple[set, set]:
    columns = set(con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main'").fetchall())
    constraints = set(con.execute(
        "SELECT table_name, constraint_type, array_to_string(constraint_column_names, ',') "
        "FROM duckdb_constraints() WHERE schema_name = 'main'").fetchall())
    return columns, constraints


@pytest.mark.parametrize("version, opened_by_v5", [(1, False), (2, False), (3, False), (4, False), (5, False),
                                                   (6, False), (7, False), (8, False), (1, True), (3, True)],
                         ids=["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v1-then-opened-by-v5",
                              "v3-then-opened-by-v5"])
def test_every_released_schema_is_migrated_and_works(tmp_path, inbound_rubric, version, opened_by_v5):
    db = make_old_database(tmp_path / "old.duckdb", version, opened_by_v5)
    t = transcript(GOOD_CALL)
    with Store(db) as store:
        _old_rows_survive(store.con)
        # a new call is saved (the insert that failed with "20 columns but 21 values")
        store.save_rubric(inbound_rubric, "yaml text")
        store.save_call(CallInfo(call_id="new1", file="new1.wav", content_hash="h", agent="alice"), t,
                        RubricScorer(inbound_rubric).score(t))
        # the old call's transcript loads and is rescored with the current rubric
        loaded = dict((info.call_id, tr) for info, tr in store.load_transcripts())
        assert [turn.text for turn in loaded["old1"].turns] == ["Thank you for calling", "my card was charged twice"]
        assert loaded["old1"].holds == []
        result = rescore(store, inbound_rubric, "yaml text", force=True)
        assert result.scored == 2
        assert store.scored_calls(inbound_rubric.content_hash) == {"old1", "new1"}
        _old_rows_survive(store.con)
    written = export_tables(db, tmp_path / "export", "csv")
    scorecards = written[0].read_text()
    assert "old1" in scorecards and "new1" in scorecards
    # the old scorecard's metrics (stored as text from release 2 on) are JSON that SQL reads, and exported
    with Store(db, read_only=True) as store:
        old = store.query("SELECT typeof(metrics) AS type, (metrics->>'dead_air_s')::DOUBLE AS dead_air, "
                          "(metrics->'talk_s'->>'agent')::DOUBLE AS agent_talk "
                          "FROM scorecards WHERE call_id = 'old1' AND rubric_hash = 'oldrubric'")
    assert old == [{"type": "JSON", "dead_air": 4.5 if version >= 2 else None,
                    "agent_talk": 1.5 if version >= 2 else None}]
    exported = duckdb.connect().execute(
        "SELECT metric_dead_air_s, metric_talk_s_agent FROM read_csv_auto(?) "
        "WHERE call_id = 'old1' AND rubric_hash = 'oldrubric'", [str(written[0])]).fetchall()
    assert exported == [(4.5, 1.5) if version >= 2 else (None, None)]
    from reports.data import load

    assert {c["call_id"] for c in load(db).calls} == {"old1", "new1"}
    with Store(db, read_only=True) as store:  # the version is recorded; the run that never finished is marked
        assert store.query("SELECT max(version) AS v FROM schema_version") == [{"v": SCHEMA_VERSION}]
        statuses = dict(store.con.execute("SELECT run_id, status FROM runs").fetchall())
        assert statuses == {"oldrun": "finished", "deadrun": "interrupted"}


def test_a_migrated_database_has_the_schema_of_a_new_one(tmp_path):
    with Store(tmp_path / "new.duckdb") as fresh:
        expected = _schema(fresh.con)
    for version in RELEASED:
        db = make_old_database(tmp_path / f"v{version}.duckdb", version)
        with Store(db) as store:
            assert _schema(store.con) == expected, f"version {version}"
            steps = store.con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
            recorded = [version] if version >= 6 else []  # the release's own row, from 6 on
            assert [r[0] for r in steps] == recorded + list(range(version + 1, SCHEMA_VERSION + 1))


def test_each_step_is_one_transaction(tmp_path, monkeypatch):
    """A step that fails leaves the database at the version before it, with its data; the next
    open finishes the upgrade."""
    db = make_old_database(tmp_path / "old.duckdb", 3)
    steps = dict(store_module.MIGRATIONS)
    monkeypatch.setitem(store_module.MIGRATIONS, 5, steps[5] + ["SELECT no_such_function()"])
    with pytest.raises(StoreError) as err:
        Store(db)
    assert "cannot upgrade the database from schema version 4 to 5" in str(err.value) and str(db) in str(err.value)
    con = duckdb.connect(str(db))
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 4
    assert "holds" in _columns(con, "calls") and "speakers" not in _columns(con, "calls")
    _old_rows_survive(con)
    con.close()
    monkeypatch.setitem(store_module.MIGRATIONS, 5, steps[5])
    with Store(db) as store:
        assert store.query("SELECT max(version) AS v FROM schema_version") == [{"v": SCHEMA_VERSION}]
        _old_rows_survive(store.con)


def test_a_newer_database_gives_one_clear_line(tmp_path):
    db = tmp_path / "future.duckdb"
    with Store(db) as store:
        store.con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    for read_only in (False, True):
        with pytest.raises(StoreError) as err:
            Store(db, read_only=read_only)
        message = str(err.value)
        assert str(db) in message and f"schema version {SCHEMA_VERSION + 1} is newer" in message
        assert "\n" not in message
    run = subprocess.run([sys.executable, "-m", "qa.cli", "failures", "--db", str(db)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "is newer than this qa knows" in run.stderr


def test_reading_an_old_database_upgrades_it_first(tmp_path):
    db = make_old_database(tmp_path / "old.duckdb", 1)
    run = subprocess.run([sys.executable, "-m", "qa.cli", "failures", "--db", str(db)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "bad.wav" in run.stdout and "run deadrun" in run.stdout and "interrupted" in run.stdout
    with Store(db, read_only=True) as store:
        assert store.query("SELECT max(version) AS v FROM schema_version") == [{"v": SCHEMA_VERSION}]
        _old_rows_survive(store.con)


def test_an_old_database_that_cannot_be_upgraded_for_reading_says_what_to_do(tmp_path, monkeypatch):
    db = make_old_database(tmp_path / "old.duckdb", 2)
    real_connect = duckdb.connect

    def connect(path, read_only=False, **kwargs):
        if not read_only:
            raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Permission denied')
        return real_connect(path, read_only=read_only, **kwargs)

    monkeypatch.setattr(store_module.duckdb, "connect", connect)
    with pytest.raises(StoreError) as err:
        Store(db, read_only=True)
    message = str(err.value)
    assert str(db) in message and "older release (schema version 2" in message
    assert "permission denied" in message.lower() and "run a command that writes to it" in message


def test_reading_a_file_without_our_tables_writes_nothing(tmp_path):
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales (id INTEGER)")
    con.close()
    with pytest.raises(StoreError) as err:
        Store(db, read_only=True)
    assert str(db) in str(err.value) and "not a qa database" in str(err.value)
    con = duckdb.connect(str(db), read_only=True)
    assert [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()] == ["sales"]
    con.close()


@pytest.mark.parametrize("command", [["report", "--out", "{tmp}/site"], ["export", "--out", "{tmp}/bi"]])
def test_reports_and_exports_of_a_database_nothing_has_upgraded_yet(tmp_path, command):
    """`qa report` and `qa export` are often the first commands run on an old database: they read
    through the store, which upgrades it first (they used to stop on a missing column)."""
    db = make_old_database(tmp_path / "old.duckdb", 1)
    args = [a.format(tmp=tmp_path) for a in command]
    run = subprocess.run([sys.executable, "-m", "qa.cli", *args, "--db", str(db)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    with Store(db, read_only=True) as store:
        assert store.query("SELECT max(version) AS v FROM schema_version") == [{"v": SCHEMA_VERSION}]
    if command[0] == "report":
        assert "old1" in " ".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))


def test_metrics_text_with_nan_becomes_json(tmp_path):
    """Releases before 7 stored metrics with json.dumps, which writes NaN for a number that is not
    one: the step to version 7 keeps the row, SQL still reads the other metrics, and the export
    writes no NaN (a NULL instead)."""
    text = json.dumps({**OLD_METRICS, "talk_to_listen": float("nan")})
    assert "NaN" in text
    db = make_old_database(tmp_path / "v6.duckdb", 6, metrics=text)
    with Store(db) as store:
        rows = store.query("SELECT typeof(metrics) AS type, metrics->>'talk_to_listen' AS ratio, "
                           "(metrics->>'dead_air_s')::DOUBLE AS dead_air FROM scorecards")
        assert store.query("SELECT max(version) AS v FROM schema_version") == [{"v": SCHEMA_VERSION}]
    assert rows == [{"type": "JSON", "ratio": "NaN", "dead_air": 4.5}]
    written = export_tables(db, tmp_path / "bi", "json")
    card, = json.loads(written[0].read_text())
    assert card["metric_talk_to_listen"] is None and card["metric_dead_air_s"] == 4.5


def test_a_call_of_version_7_gets_its_sentences_when_first_rescored(tmp_path):
    """Version 8 stores calls' sentences and rubric examples' embeddings: a call stored before
    has none, and the first rescoring with a meaning check embeds and stores them."""
    db = make_old_database(tmp_path / "v7.duckdb", 7)
    meaning.set_embedder(StubEmbedder(), "stub")
    try:
        with Store(db) as store:
            assert store.load_sentences() == {}
            rescore(store, rubric('check: {meaning: {examples: ["Thank you for calling"]}}'), "yaml")
            stored = store.load_sentences()
            examples = store.query("SELECT model, text FROM example_embeddings")
    finally:
        meaning.set_embedder(None)
    assert list(stored) == ["old1"] and stored["old1"].model == "stub"
    assert stored["old1"].spans == [(0, 0, 21, 0.5, 2.0), (1, 0, 25, 2.5, 4.0)]
    assert examples == [{"model": "stub", "text": "Thank you for calling"}]
