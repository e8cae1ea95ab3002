"""Exports are registries: each table format (csv, parquet, json) and each one-call format (json,
rttm, srt) is one registered definition, found by name, also from other packages' entry points;
the scorecards table has one column per registered call metric; only the store names tables."""
from __future__ import annotations

import dataclasses
import json
import re
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import catalogue
import duckdb
import pytest
from typer.testing import CliRunner

from qa.call_export import CALL_FORMATS, call_format, export_call
from qa.cli import app
from qa.export import ExportError, TableFormat, export_tables, register_table_format, table_format_names
from qa.store import CallInfo, Store
from qa.store_read import call_metrics_from_json, metric_column
from scoring import RubricScorer
from scoring.metrics import registered_metrics
from tests.builders import transcript
from tests.test_scoring_engine import GOOD_CALL

REPO = Path(__file__).resolve().parent.parent
READERS = {"csv": "read_csv_auto", "parquet": "read_parquet", "json": "read_json_auto"}

# A format another package could publish through an entry point (see the discovery test).
TSV = TableFormat("tsv", "FORMAT csv, DELIMITER '\t', HEADER true", quote_formulas=True)


@pytest.fixture
def registries(monkeypatch):
    """Registrations made by a test are dropped after it (catalogue keeps one module-level dict)."""
    monkeypatch.setattr(catalogue, "REGISTRY", dict(catalogue.REGISTRY))


@pytest.fixture
def db(tmp_path, inbound_rubric):
    """c1 scored with its call metrics; c2 scored by a release that stored none."""
    t = transcript(GOOD_CALL)
    card = RubricScorer(inbound_rubric).score(t)
    path = tmp_path / "qa.duckdb"
    with Store(path) as store:
        store.save_rubric(inbound_rubric, "yaml")
        store.save_call(CallInfo(call_id="c1", file="c1.wav", content_hash="h1", agent="alice"), t, card)
        store.save_call(CallInfo(call_id="c2", file="c2.wav", content_hash="h2", agent="bob"), t,
                        dataclasses.replace(card, metrics=None))
    return path, card


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_every_registered_metric_is_a_scorecards_column(tmp_path, db, fmt):
    path, card = db
    scorecards, _ = export_tables(path, tmp_path / "bi", fmt)
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM {READERS[fmt]}(?) ORDER BY call_id", [str(scorecards)])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row)) for row in cur.fetchall()]
    metrics = registered_metrics()
    assert [n for n in names if n.startswith("metric_")] == [metric_column(m.name) for m in metrics]
    assert "metric_dead_air_s" in names and "metric_talk_s_agent" in names
    c1, c2 = rows
    for m in metrics:
        expected = m.value(card.metrics)
        assert c1[metric_column(m.name)] == (None if expected is None else pytest.approx(expected)), m.name
        assert c2[metric_column(m.name)] is None, m.name
    assert c1["metric_talk_s_agent"] == pytest.approx(card.metrics.talk_s["agent"]) and c1["metric_talk_s_agent"] > 0


def test_stored_metrics_load_back_for_the_registry(db):
    path, card = db
    with Store(path, read_only=True) as store:
        text = store.query("SELECT metrics FROM scorecards WHERE call_id = 'c1'")[0]["metrics"]
    assert call_metrics_from_json(text) == card.metrics
    assert call_metrics_from_json(None) is None and call_metrics_from_json("null") is None


def test_a_table_format_is_one_registration(tmp_path, db, registries):
    path, _ = db
    register_table_format(TSV)
    assert table_format_names()[:3] == ["csv", "parquet", "json"] and "tsv" in table_format_names()
    written = export_tables(path, tmp_path / "bi", "tsv")
    assert [p.name for p in written] == ["scorecards.tsv", "criterion_results.tsv"]
    header = written[0].read_text().splitlines()[0].split("\t")
    assert header[:2] == ["call_id", "agent"] and "metric_dead_air_s" in header


def test_an_unknown_table_format_names_the_registered_ones(tmp_path, db):
    path, _ = db
    with pytest.raises(ExportError) as err:
        export_tables(path, tmp_path / "bi", "xlsx")
    assert str(err.value) == "unknown format 'xlsx' (csv, parquet, json)"


def test_formats_of_other_packages_are_discovered(tmp_path, db, registries, monkeypatch):
    """A package publishes a format with an entry point (group callqa_table_formats or
    callqa_call_formats); nothing in callqa names it."""
    path, _ = db
    monkeypatch.setattr(catalogue, "AVAILABLE_ENTRY_POINTS", EntryPoints([
        EntryPoint("tsv", f"{__name__}:TSV", "callqa_table_formats"),
        EntryPoint("plain", f"{__name__}:_plain_text", "callqa_call_formats")]))
    assert "tsv" in table_format_names()
    assert [p.name for p in export_tables(path, tmp_path / "bi", "tsv")] == ["scorecards.tsv",
                                                                             "criterion_results.tsv"]
    assert "plain" in CALL_FORMATS and list(CALL_FORMATS)[0] == "plain"


def _plain_text(info: CallInfo, t) -> str:
    return "".join(f"{turn.role.value}: {turn.text}\n" for turn in t.turns)


def test_a_call_format_is_one_decorated_function(tmp_path, db, registries):
    path, _ = db

    @call_format("plain")
    def plain(info: CallInfo, t) -> str:
        return f"{info.call_id}\n" + _plain_text(info, t)

    assert "plain" in CALL_FORMATS and list(CALL_FORMATS) == ["rttm", "srt", "json", "plain"]
    with Store(path, read_only=True) as store:
        (info, t), = store.load_transcripts(["c1"])
    assert export_call(info, t, "plain").startswith("c1\nagent: ")
    run = CliRunner().invoke(app, ["export", "c1", "--db", str(path), "--format", "plain"])
    assert run.exit_code == 0, run.output
    assert run.output.splitlines()[:2] == ["c1", f"agent: {t.turns[0].text}"]


def test_the_shipped_call_formats(db):
    path, _ = db
    with Store(path, read_only=True) as store:
        (info, t), = store.load_transcripts(["c1"])
    assert list(CALL_FORMATS) == ["rttm", "srt", "json"] and "srt" in CALL_FORMATS and "txt" not in CALL_FORMATS
    assert export_call(info, t, "rttm").startswith("SPEAKER c1 1 ")
    assert export_call(info, t, "srt").startswith("1\n00:00:00,")
    assert json.loads(export_call(info, t, "json"))["call_id"] == "c1"
    with pytest.raises(ValueError) as err:
        export_call(info, t, "txt")
    assert str(err.value) == "unknown format 'txt' for one call (rttm, srt, json)"


SQL = re.compile(r"\b(SELECT|INSERT|DELETE|UPDATE)\b|duckdb\.connect|\.con\.execute")
STORE_MODULES = {"qa/store.py", "qa/store_read.py"}


def test_only_the_store_names_tables_and_columns():
    """No SQL statement and no DuckDB connection outside the store modules."""
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
             for package in ("qa", "reports", "scoring", "transcribe")
             for path in sorted((REPO / package).rglob("*.py"))
             if str(path.relative_to(REPO)) not in STORE_MODULES
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if SQL.search(line)]
    assert found == []
