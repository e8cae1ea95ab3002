"""A stereo call whose metadata names the wrong agent channel is flagged (the warning reaches the
database, the batch summary and the call page)."""
from __future__ import annotations

import csv

import duckdb
import pytest

from scoring import RubricScorer
from scoring.roles import decide_roles
from tests.builders import transcript
from tests.conftest import EXAMPLES, qa

OPENING = "Thank you for calling Northwind, this is Alice. How can I help you today?"
COMPLAINT = "Hi. I ordered a kettle last week and it has not arrived yet."


def test_agent_phrases_on_the_customers_channel_give_a_warning(inbound_rubric):
    swapped = transcript([("customer", 0.3, 4.0, OPENING), ("agent", 4.5, 8.0, COMPLAINT),
                          ("customer", 8.5, 11.0, "Is there anything else I can help you with?")])
    decided = decide_roles(swapped, RubricScorer(inbound_rubric))
    assert len(decided.warnings) == 1 and "channels may be swapped" in decided.warnings[0]


def test_agent_phrases_on_the_agents_channel_give_none(inbound_rubric):
    right = transcript([("agent", 0.3, 4.0, OPENING), ("customer", 4.5, 8.0, COMPLAINT)])
    assert decide_roles(right, RubricScorer(inbound_rubric)).warnings == []


@pytest.mark.slow
def test_swapped_channel_in_metadata_is_shown_in_summary_database_and_call_page(tmp_path):
    rows = list(csv.DictReader((EXAMPLES / "calls.csv").open()))
    row = next(r for r in rows if r["call_id"] == "en_01_alice_good")
    row["agent_channel"] = "1"  # the agent is on channel 0 in this recording
    metadata = tmp_path / "calls.csv"
    with metadata.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    db = tmp_path / "qa.duckdb"
    run = qa("score", str(EXAMPLES / "en_01_alice_good.wav"), "--metadata", str(metadata), "--db", str(db),
             "--workers", "1", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "channels may be swapped" in " ".join(run.stdout.split())
    with duckdb.connect(str(db), read_only=True) as con:
        warnings = con.execute("SELECT warnings FROM calls WHERE call_id = 'en_01_alice_good'").fetchone()[0]
    assert "channels may be swapped" in warnings
    report = qa("report", "--db", str(db), "--out", str(tmp_path / "site"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "site" / "calls" / "en_01_alice_good.html").read_text()
    assert "channels may be swapped" in page
