"""Which files a batch holds, which calls.csv row describes each and the call id each is stored
under: recordings with the same name in two folders stay two calls with their own metadata; a
batch that would still store two files under one call id, a row that could be two files, and a
calls.csv with repeated files or call ids are refused with one line before anything is written;
calls.csv headers are read forgivingly (spaces, aliases) and unused columns named; symbolic links
to folders are followed once, loops and broken links reported."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from qa.inputs import InputError, find_inputs, plan_calls
from qa.metadata import MetadataError, read_metadata
from qa.runner import BatchRunner, BatchSettings, find_audio
from qa.store import Store
from tests.builders import transcript
from tests.test_cli import _one_line_error, qa
from tests.test_scoring_engine import GOOD_CALL
from transcribe import TranscriberOptions


def _touch(path: Path, content: bytes = b"RIFF not really audio") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


class _FakeTranscriber:
    """Stands in for Whisper: what is tested here is which call each file becomes, not speech."""

    def __init__(self):
        self.seen = []

    def transcribe(self, path, *, language=None, agent_channel=0, voiceprint=None):
        self.seen.append(Path(path))
        return transcript(GOOD_CALL)


def _run(tmp_path, files, metadata=None, inbound_rubric=None):
    model_dir = tmp_path / "model"  # an existing folder resolves without loading anything
    model_dir.mkdir(exist_ok=True)
    settings = BatchSettings(transcriber=TranscriberOptions(model=str(model_dir), diarization=None), language="en")
    with Store(tmp_path / "qa.duckdb") as store:
        runner = BatchRunner(store, inbound_rubric, "yaml text", settings, metadata)
        runner._transcriber = _FakeTranscriber()
        result = runner.run(files, workers=1)
        calls = store.query("SELECT call_id, agent, file FROM calls ORDER BY call_id")
    return result, calls


# -- task 1: the same file name in two folders ------------------------------------------------

def test_same_name_in_two_folders_is_two_calls_each_with_its_own_row(tmp_path, inbound_rubric):
    root = tmp_path / "calls"
    _touch(root / "day1" / "call.wav", b"first recording")
    _touch(root / "day2" / "call.wav", b"second recording")
    (root / "calls.csv").write_text("file,call_id,agent\nday1/call.wav,c1,alice\nday2/call.wav,c2,bob\n")
    result, calls = _run(tmp_path, find_audio([root]), read_metadata(root / "calls.csv"), inbound_rubric)
    assert len(result.of("scored")) == 2
    assert [(c["call_id"], c["agent"], Path(c["file"]).parent.name) for c in calls] == [
        ("c1", "alice", "day1"), ("c2", "bob", "day2")]


def test_same_name_in_two_folders_without_metadata_gets_two_ids(tmp_path, inbound_rubric):
    day1 = _touch(tmp_path / "day1" / "call.wav", b"first recording")
    day2 = _touch(tmp_path / "day2" / "call.wav", b"second recording")
    result, calls = _run(tmp_path, [day1, day2], None, inbound_rubric)
    assert len(result.of("scored")) == 2
    assert [c["call_id"] for c in calls] == ["day1/call", "day2/call"]


def test_call_ids_come_from_the_path_below_the_folder_argument(tmp_path):
    root = tmp_path / "calls"
    for name in ("day1/call.wav", "day2/call.wav", "day2/other.wav"):
        _touch(root / name)
    flat = tmp_path / "flat"
    for name in ("a.wav", "b.flac"):
        _touch(flat / name)
    planned = plan_calls(find_inputs([root, flat]))
    assert [c.call_id for c in planned] == ["day1/call", "day2/call", "day2/other", "a", "b"]  # flat: the stem
    # a file named directly keeps its stem unless another file of the batch has it too
    assert [c.call_id for c in plan_calls(find_inputs([root / "day2" / "other.wav"]))] == ["other"]
    assert [c.call_id for c in plan_calls(find_inputs([root / "day1", root / "day2"]))] == [
        "day1/call", "day2/call", "other"]


def test_metadata_matches_by_path_first_and_by_bare_name_only_when_unique(tmp_path):
    root = tmp_path / "calls"
    for name in ("day1/call.wav", "day2/call.wav", "day2/solo.wav"):
        _touch(root / name)
    (tmp_path / "calls.csv").write_text("file,call_id,agent\ncalls/day2/call.wav,c2,bob\nsolo.wav,s1,carol\n")
    planned = {c.name: c for c in plan_calls(find_inputs([root]), read_metadata(tmp_path / "calls.csv"))}
    assert (planned["day2/call.wav"].call_id, planned["day2/call.wav"].meta.agent) == ("c2", "bob")
    assert (planned["day2/solo.wav"].call_id, planned["day2/solo.wav"].meta.agent) == ("s1", "carol")
    assert planned["day1/call.wav"].row is None and planned["day1/call.wav"].call_id == "day1/call"


def test_a_row_that_could_be_two_files_is_refused(tmp_path):
    _touch(tmp_path / "day1" / "call.wav")
    _touch(tmp_path / "day2" / "call.wav")
    (tmp_path / "calls.csv").write_text("file,call_id,agent\ncall.wav,c1,alice\n")
    line = _one_line_error(qa("score", "day1/call.wav", "day2/call.wav", "--metadata", "calls.csv",
                              "--db", "qa.duckdb", cwd=tmp_path))
    assert "calls.csv:2: 'call.wav' could be day1/call.wav or day2/call.wav" in line
    assert not (tmp_path / "qa.duckdb").exists()


def test_two_files_that_would_share_a_call_id_are_refused_before_anything_is_written(tmp_path):
    _touch(tmp_path / "rec" / "call.wav")
    _touch(tmp_path / "rec" / "call.flac")
    line = _one_line_error(qa("score", "rec", "--db", "qa.duckdb", cwd=tmp_path))
    assert "rec/call.flac and rec/call.wav would both be stored as call 'call'" in line
    assert not (tmp_path / "qa.duckdb").exists()
    with pytest.raises(InputError, match="would both be stored as call 'call'"):
        plan_calls(find_inputs([tmp_path / "rec"]))


# -- task 2 and 3: calls.csv ---------------------------------------------------------------------

def test_two_rows_with_one_call_id_are_refused_naming_both(tmp_path):
    (tmp_path / "calls.csv").write_text("file,call_id,agent\na.wav,c1,alice\nb.wav,c1,bob\n")
    _touch(tmp_path / "a.wav")
    line = _one_line_error(qa("score", "a.wav", "--metadata", "calls.csv", "--db", "qa.duckdb", cwd=tmp_path))
    assert "calls.csv: call_id 'c1' is on lines 2 (a.wav) and 3 (b.wav)" in line
    assert not (tmp_path / "qa.duckdb").exists()


def test_a_repeated_file_row_is_refused_with_both_line_numbers(tmp_path):
    (tmp_path / "calls.csv").write_text("file,agent\na.wav,alice\nb.wav,bob\n./a.wav,carol\n")
    with pytest.raises(MetadataError, match=r"calls.csv: file './a.wav' is on lines 2 and 4"):
        read_metadata(tmp_path / "calls.csv")


def test_header_spaces_and_common_column_names_are_understood(tmp_path):
    (tmp_path / "calls.csv").write_text(
        "File, Call ID , agent_id,team_name,call_date,lang, Agent Channel\n"
        "a.wav,c1,alice,tier1,2026-11-02T09:30:00,en,1\n")
    row = read_metadata(tmp_path / "calls.csv")["a.wav"]
    assert (row.call_id, row.agent, row.team, str(row.call_date), row.language, row.agent_channel) == (
        "c1", "alice", "tier1", "2026-11-02", "en", 1)


def test_unknown_columns_are_named_once_each(tmp_path):
    (tmp_path / "calls.csv").write_text("file,agent,notes,queue\na.wav,alice,x,q1\nb.wav,bob,y,q2\n")
    run = qa("score", "missing.wav", "--metadata", "calls.csv", "--db", "qa.duckdb", cwd=tmp_path)
    assert "Traceback" not in run.stderr
    assert run.stderr.count("column 'notes' is not used") == 1
    assert run.stderr.count("column 'queue' is not used") == 1
    assert "missing.wav: file not found" in run.stdout + run.stderr


def test_an_ambiguous_alias_is_refused_and_a_shadowed_one_named(tmp_path):
    (tmp_path / "both.csv").write_text("file,agent_id,agent_name\na.wav,42,alice\n")
    with pytest.raises(MetadataError, match="columns 'agent_id' and 'agent_name' could both be the 'agent' column"):
        read_metadata(tmp_path / "both.csv")
    (tmp_path / "shadow.csv").write_text("file,agent,agent_name\na.wav,a42,alice\n")
    table = read_metadata(tmp_path / "shadow.csv")
    assert table["a.wav"].agent == "a42"
    assert table.warnings == [f"{tmp_path / 'shadow.csv'}: column 'agent_name' is not used ('agent' gives the agent)"]


# -- task 5: symbolic links ----------------------------------------------------------------------

def test_linked_folders_are_followed_once_and_loops_and_broken_links_reported(tmp_path):
    root = tmp_path / "calls"
    _touch(root / "real" / "a.wav")
    _touch(tmp_path / "elsewhere" / "b.wav")
    os.symlink(tmp_path / "elsewhere", root / "linked")  # a folder outside the tree: followed
    os.symlink(root / "real", root / "again")  # the same real folder: walked once
    os.symlink(root, root / "real" / "loop")  # back up the tree
    os.symlink(tmp_path / "nowhere", root / "broken")
    os.symlink(root / "self", root / "self")  # a link to itself
    warnings: list[str] = []
    found = find_audio([root], warn=warnings.append)
    assert sorted(p.relative_to(root).as_posix() for p in found) == ["linked/b.wav", "real/a.wav"]
    assert len(warnings) == 3, warnings
    assert any(w.startswith(f"{root / 'real' / 'loop'}: symbolic link loop") for w in warnings)
    assert any(w.startswith(f"{root / 'broken'}: broken symbolic link") for w in warnings)
    assert any(w.startswith(f"{root / 'self'}: symbolic link loop") for w in warnings)


def test_link_faults_are_warning_lines_not_tracebacks(tmp_path):
    root = tmp_path / "calls"
    root.mkdir()
    os.symlink(root, root / "loop")
    os.symlink(tmp_path / "nowhere.wav", root / "gone.wav")
    run = qa("score", "calls", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("warning: calls/gone.wav: broken symbolic link")
    assert lines[1].startswith("warning: calls/loop: symbolic link loop")
    assert lines[2] == "error: no audio files found in calls"


def test_a_file_reached_twice_is_scored_once(tmp_path):
    real = _touch(tmp_path / "calls" / "a.wav")
    os.symlink(real, tmp_path / "calls" / "same.wav")
    assert [p.name for p in find_audio([tmp_path / "calls", real])] == ["a.wav"]
    assert [c.call_id for c in plan_calls([real, tmp_path / "calls" / "same.wav"])] == ["a"]


def test_metadata_matched_as_the_batch_is_shown_in_the_mismatch_warning(tmp_path):
    (tmp_path / "calls.csv").write_text("file,call_id\nday1/call.wav,c1\nday9/call.wav,c9\n")
    run = qa("score", "day1/call.wav", "missing.wav", "--metadata", "calls.csv", "--db", "qa.duckdb",
             cwd=tmp_path)
    assert "calls.csv: no row for 1 file(s) (missing.wav)" in run.stderr
    assert "calls.csv: 1 row(s) name calls not in this batch (c9)" in run.stderr
