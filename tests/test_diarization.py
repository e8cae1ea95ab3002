"""Mono calls: offline pyannote diarization with CAM++ embeddings, word attribution, roles.

Diarization is tested on real speech only (pyannote hears espeak voices as one speaker). Tests
that run a model (pyannote, CAM++, Whisper) are marked slow; the in-process ones share one
pipeline and each recording is diarized once per session (the `diarizer` fixture of conftest).
"""
from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from tests.conftest import EXAMPLES, REPO, eval_file, qa

CALLS = "callytics_csvd/call"
slow = pytest.mark.slow


def _audio(relative: str) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(eval_file(relative)), sampling_rate=16_000)


def _rttm(relative: str) -> list[tuple[float, float, str]]:
    rows = []
    for line in eval_file(relative).read_text().splitlines():
        parts = line.split()
        rows.append((float(parts[3]), float(parts[3]) + float(parts[4]), parts[7]))
    return rows


def _overlap(spans, reference, speaker, label) -> float:
    return sum(max(0.0, min(e, re) - max(s, rs))
               for s, e, who in spans if who == speaker
               for rs, re, lab in reference if lab == label)


# -- CAM++ weights --------------------------------------------------------------------------

@slow
def test_campplus_checkpoint_loads_every_key_and_separates_voices():
    from transcribe.diarization_models import SpeakerEmbedder
    from transcribe.speakers import cosine

    embedder = SpeakerEmbedder()
    audio = _audio(f"{CALLS}/Call01.wav")
    voices = [(embedder.embed(audio[int(s * 16000):int(e * 16000)]), who)
              for s, e, who in _rttm(f"{CALLS}/Call01.rttm") if e - s > 2]
    same = [cosine(a, b) for i, (a, x) in enumerate(voices) for b, y in voices[i + 1:] if x == y]
    different = [cosine(a, b) for i, (a, x) in enumerate(voices) for b, y in voices[i + 1:] if x != y]
    assert min(same) > max(different)


def test_checkpoint_key_mismatch_fails_loudly(tmp_path):
    import torch

    from transcribe.diarization_models import (CAMPLUS_FILE, EmbeddingWeightsError, load_campplus,
                                               model_file)

    state = torch.load(model_file(CAMPLUS_FILE), map_location="cpu", weights_only=True)
    state["xvector.dense.projection.weight"] = state.pop("xvector.dense.linear.weight")
    del state["head.bn1.running_var"]
    broken = tmp_path / "renamed.pt"
    torch.save(state, broken)
    with pytest.raises(EmbeddingWeightsError) as error:
        load_campplus(broken)
    message = str(error.value)
    assert "xvector.dense.linear.weight" in message and "head.bn1.running_var" in message
    assert "xvector.dense.projection.weight" in message and str(broken) in message


def test_checkpoint_that_is_not_a_state_dict_names_the_file(tmp_path):
    from transcribe.diarization_models import load_campplus
    from transcribe.errors import ModelError

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="junk.pt"):
        load_campplus(junk)


# -- who spoke when -------------------------------------------------------------------------

@slow
def test_one_speaker_file_gives_one_speaker(diarizer):
    result = diarizer(_audio("callytics_csvd/voiceprint/CSR01.wav"))
    assert result.speakers == ["S1"]
    assert result.exclusive and all(s.speaker == "S1" for s in result.exclusive)


@slow
def test_third_voice_is_a_third_speaker(diarizer):
    """An IVR prompt (another recorded voice) before a two-party call: three speakers, and the
    prompt is not merged with the agent or the customer."""
    ivr = _audio("asterisk_prompts/en/basic-pbx-ivr-main.wav")
    call = _audio(f"{CALLS}/Call01.wav")
    offset = (len(ivr) + 8000) / 16000
    result = diarizer(np.concatenate([ivr, np.zeros(8000, np.float32), call]))
    assert len(result.speakers) == 3
    ivr_speaker = max(result.speakers, key=lambda s: sum(
        max(0.0, min(x.end, len(ivr) / 16000) - x.start) for x in result.exclusive if x.speaker == s))
    reference = [(s + offset, e + offset, who) for s, e, who in _rttm(f"{CALLS}/Call01.rttm")]
    spans = [(x.start, x.end, x.speaker) for x in result.exclusive]
    assert _overlap(spans, reference, ivr_speaker, "CSR") < 1.0
    assert _overlap(spans, reference, ivr_speaker, "Customer") < 1.0


def test_speaker_bounds_are_respected():
    from transcribe.diarizer import DiarizationOptions, Diarizer

    with pytest.raises(ValueError):
        Diarizer(DiarizationOptions(min_speakers=3, max_speakers=2))


@slow
def test_sample_der_within_target(diarizer):
    from qa.diarization_eval import evaluate

    result = evaluate(eval_file("pyannote_sample/sample.rttm"), eval_file("pyannote_sample/sample.wav"), collar=0.0,
                      diarizer=diarizer)
    print(f"\nsample.wav DER {result.der:.3f}")
    assert result.found_speakers == 2
    assert result.der <= 0.07


@slow
@pytest.mark.parametrize("call", ["Call01", "Call02"])
def test_callytics_der_within_target(diarizer, call):
    from qa.diarization_eval import evaluate

    result = evaluate(eval_file(f"{CALLS}/{call}.rttm"), eval_file(f"{CALLS}/{call}.wav"), collar=0.25,
                      diarizer=diarizer)
    print(f"\n{call} DER {result.der:.3f} confusion {result.confusion:.3f}")
    assert result.der <= 0.13 and result.confusion <= 0.02


@slow
def test_no_telemetry_is_attempted(tmp_path):
    """Even with PYANNOTE_METRICS_ENABLED=true in the environment, diarizing sends nothing:
    no span reaches pyannote's exporter and no socket connects."""
    script = tmp_path / "probe.py"
    script.write_text(f"""
import socket, sys
sys.path.insert(0, {str(REPO)!r})
attempts = []
def refuse(self, address, *a, **k):
    attempts.append(address)
    raise OSError("network disabled in test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
from transcribe.diarizer import Diarizer
from faster_whisper import decode_audio
from pyannote.audio.telemetry import metrics
exported = []
metrics.exporter.export = lambda spans: exported.append(spans)
result = Diarizer()(decode_audio({str(eval_file('pyannote_sample/sample.wav'))!r}, sampling_rate=16000))
metrics.provider.force_flush()
print(metrics.is_metrics_enabled(), len(exported), len(attempts), len(result.speakers))
""")
    env = {"PYANNOTE_METRICS_ENABLED": "true", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "0", "0", "2"]


# -- through the pipeline -------------------------------------------------------------------

@pytest.fixture(scope="module")
def mono_scored(tmp_path_factory):
    """Both Callytics calls scored through the CLI: Call01 with roles from the rubric's phrases,
    Call02 with the agent's enrolled voiceprint."""
    work = tmp_path_factory.mktemp("mono")
    db = work / "qa.duckdb"
    enrol = qa("enrol", "CSR01", str(eval_file("callytics_csvd/voiceprint/CSR01.wav")), "--db", str(db), cwd=work)
    assert enrol.returncode == 0, enrol.stderr
    metadata = work / "calls.csv"
    metadata.write_text("file,call_id,agent,language\nCall01.wav,Call01,,en\nCall02.wav,Call02,CSR01,en\n")
    run = qa("score", str(eval_file(f"{CALLS}/Call01.wav")), str(eval_file(f"{CALLS}/Call02.wav")),
             "--metadata", str(metadata), "--db", str(db), "--workers", "1", cwd=work)
    assert run.returncode == 0, run.stdout + run.stderr
    return work, db


def _call(db, call_id: str) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM calls WHERE call_id = ?", [call_id])
        row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        row["spans"] = con.execute("SELECT start_s, end_s, speaker FROM speaker_spans WHERE call_id = ?",
                                   [call_id]).fetchall()
        row["greeting"] = con.execute(
            "SELECT r.outcome, e.role, e.quote FROM criterion_results r JOIN evidence e USING (call_id, rubric_hash, criterion_id) "
            "WHERE call_id = ? AND criterion_id = 'greeting'", [call_id]).fetchall()
        return row
    finally:
        con.close()


@slow
@pytest.mark.parametrize("call, method", [("Call01", "phrases"), ("Call02", "voiceprint")])
def test_agent_is_the_csr(mono_scored, call, method):
    _, db = mono_scored
    row = _call(db, call)
    reference = _rttm(f"{CALLS}/{call}.rttm")
    agent = row["agent_speaker"]
    assert row["speakers"] == 2 and row["role_method"] == method and row["role_confidence"] >= 0.7
    assert _overlap(row["spans"], reference, agent, "CSR") > 5 * _overlap(row["spans"], reference, agent, "Customer")


@slow
def test_greeting_passes_with_agent_evidence_on_call01(mono_scored):
    _, db = mono_scored
    greeting = _call(db, "Call01")["greeting"]
    assert greeting and all(outcome == "pass" and role == "agent" for outcome, role, _ in greeting)


@slow
def test_exports_of_a_mono_call(mono_scored):
    work, db = mono_scored
    rttm = qa("export", "Call01", "--db", str(db), "--format", "rttm", cwd=work)
    assert rttm.returncode == 0, rttm.stderr
    lines = [line.split() for line in rttm.stdout.splitlines()]
    assert lines and all(p[0] == "SPEAKER" and p[1] == "Call01" and float(p[4]) > 0 for p in lines)
    assert {p[7] for p in lines} == {"S1", "S2"}
    srt_file = work / "Call01.srt"
    assert qa("export", "Call01", "--db", str(db), "-f", "srt", "-o", str(srt_file), cwd=work).returncode == 0
    assert "[agent S" in srt_file.read_text() and "[customer S" in srt_file.read_text()
    document = json.loads(qa("export", "Call01", "--db", str(db), cwd=work).stdout)
    assert document["role_decision"]["method"] == "phrases"
    assert {t["role"] for t in document["turns"]} == {"agent", "customer"}
    missing = qa("export", "NoSuchCall", "--db", str(db), cwd=work)
    assert missing.returncode == 2 and "NoSuchCall" in missing.stderr and "Traceback" not in missing.stderr


@slow
def test_call_page_shows_the_role_decision(mono_scored):
    work, db = mono_scored
    assert qa("report", "--db", str(db), "--out", str(work / "site"), cwd=work).returncode == 0
    from reports.data import page_slug  # page names are case-safe slugs: "Call01" -> "call01--<hash>"

    page = (work / "site" / "calls" / f"{page_slug('Call01')}.html").read_text()
    assert 'id="role-decision"' in page and "by phrases, confidence" in page


@slow
def test_eval_command_prints_der(tmp_path):
    run = qa("eval", "diarization", str(eval_file("pyannote_sample/sample.rttm")),
             str(eval_file("pyannote_sample/sample.wav")), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "DER 0.0" in run.stdout and "2 found / 2 in reference" in run.stdout
    bad = qa("eval", "diarization", str(tmp_path / "none.rttm"), str(eval_file("pyannote_sample/sample.wav")),
             cwd=tmp_path)
    assert bad.returncode == 2 and "none.rttm" in bad.stderr


@slow
def test_stereo_calls_skip_diarization(transcriber, inbound_rubric):
    from scoring import RubricScorer
    from scoring.roles import decide_roles

    transcript = transcriber.transcribe(EXAMPLES / "en_01_alice_good.wav", language="en")
    assert transcriber._diarizer is None and not transcript.speaker_spans
    decided = decide_roles(transcript, RubricScorer(inbound_rubric))
    assert decided.role_decision.method == "channel"
    assert {t.speaker for t in decided.turns} == {"agent", "customer"}
