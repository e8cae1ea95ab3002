"""Import formats are a registry (`transcribe.importers.import_formats`): a new format is one
decorated reader, `--format auto` detection asks the registered formats in order, and an unknown
`--format` is one line naming the registered ones."""
from __future__ import annotations

import json
from pathlib import Path

import catalogue
import pytest

from qa.importer import import_transcripts
from qa.store import Store
from qa_types import CallRecord, Role, Turn
from tests.test_cli import _one_line_error, qa
from tests.test_import_rescore import VTT
from transcribe.importers import (BadCall, ImportedCall, TranscriptImportError, detect_format, import_format,
                                  imported_transcript, import_format_names, import_formats, read_calls)


@pytest.fixture
def lines_format():
    """A throwaway format: ``.lines`` files of ``start end role text`` lines, registered for one
    test and removed after it."""
    @import_format("lines", detect=lambda path, head: path.suffix == ".lines", order=5)
    def read_lines(path: Path, language: str | None, agent_names: frozenset[str]) -> list[ImportedCall | BadCall]:
        turns = []
        for n, line in enumerate(path.read_text().splitlines()):
            start, end, role, text = line.split(" ", 3)
            turns.append(Turn(role, Role(role), float(start), float(end), text))
        transcript = imported_transcript(turns, language or "en", None, "lines")
        return [ImportedCall(CallRecord(file=str(path), agent="lines-agent"), transcript, str(path), path.stem)]

    yield read_lines
    del catalogue.REGISTRY[(*import_formats.namespace, "lines")]


def test_a_new_import_format_is_one_decorated_reader(tmp_path, inbound_rubric, lines_format):
    path = tmp_path / "call.lines"
    path.write_text("0.5 3.0 agent Thank you for calling, how can I help?\n3.5 6.0 customer My card is blocked.\n")
    assert "lines" in import_format_names()
    assert detect_format(path) == "lines"
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, inbound_rubric, "yaml", [path])
        calls = store.query("SELECT call_id, agent, role_method FROM calls")
        greeting = store.query("SELECT outcome FROM criterion_results WHERE criterion_id = 'greeting'")
    assert [o.status for o in outcomes] == ["scored"]
    assert calls == [{"call_id": "call", "agent": "lines-agent", "role_method": "labels"}]
    assert greeting == [{"outcome": "pass"}]


def test_auto_detection_asks_the_registered_formats_in_order(tmp_path):
    (tmp_path / "call.vtt").write_text(VTT)
    (tmp_path / "hv.json").write_text(json.dumps({"segments": [{"speaker_role": "agent", "offset_ms": 0,
                                                                "duration_ms": 900, "transcript": "hello"}]}))
    (tmp_path / "ours.json").write_text(json.dumps({"language": "en", "turns": []}))
    (tmp_path / "notes.txt").write_text("anything else is read as our JSON format")
    assert import_format_names() == ["vtt", "harper-valley", "json"]
    assert [detect_format(tmp_path / name) for name in ("call.vtt", "hv.json", "ours.json", "notes.txt")] == [
        "vtt", "harper-valley", "json", "json"]


def test_a_format_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="import format 'json' is registered twice"):
        import_format("json")(lambda path, language, agent_names: [])


def test_an_unknown_format_is_refused(tmp_path):
    (tmp_path / "call.vtt").write_text(VTT)
    with pytest.raises(TranscriptImportError, match=r"unknown format 'xml' \(vtt, harper-valley, json\)"):
        read_calls(tmp_path / "call.vtt", "xml")
    line = _one_line_error(qa("import", "call.vtt", "--format", "xml", "--db", "qa.duckdb", cwd=tmp_path))
    assert "--format xml: unknown import format (auto, vtt, harper-valley, json)" in line
    assert not (tmp_path / "qa.duckdb").exists()
