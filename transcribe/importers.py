"""Transcripts a contact centre already has -> `Transcript`, scored like our own.

Formats:
- ``json``: our documented format (one call, or a list of calls)::

      {"call_id": "c1", "agent": "alice", "team": "t1", "date": "2026-11-02", "language": "en",
       "duration": 61.5,
       "turns": [{"role": "agent", "speaker": "A", "start": 0.5, "end": 3.2, "text": "Hello ..."}, ...]}

  ``role`` is agent, customer or unknown; ``speaker``, ``duration`` and the call fields are optional.
  ``"holds": [[start, end], ...]`` gives hold periods the phone system recorded.
- ``vtt``: WebVTT with speaker tags (``<v Agent>...``) or ``Name: text`` cues; speaker names
  map to roles (agent/csr/representative -> agent, customer/caller/client -> customer).
- ``harper-valley``: Gridspace/Stanford Harper Valley transcript JSON (``segments`` with
  ``speaker_role``, ``offset_ms``, ``duration_ms``, ``transcript``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qa_types import Role, Transcript, Turn
from transcribe.errors import AudioError

AGENT_NAMES = {"agent", "csr", "rep", "representative", "operator", "advisor"}
CUSTOMER_NAMES = {"customer", "caller", "client", "user"}
NOISE = re.compile(r"\[[^\]]*\]|<unk>")


class TranscriptImportError(AudioError):
    """A transcript file cannot be imported; the message names the file and the fault."""


@dataclass
class ImportedCall:
    """One call read from a transcript file."""

    call_id: str
    transcript: Transcript
    agent: str | None = None
    team: str | None = None
    call_date: date | None = None


def role_of(name: str | None, agent_names: set[str] = AGENT_NAMES) -> Role:
    key = (name or "").strip().lower()
    if key in agent_names or key in AGENT_NAMES:
        return Role.AGENT
    if key in CUSTOMER_NAMES:
        return Role.CUSTOMER
    return Role.UNKNOWN


def _transcript(turns: list[Turn], language: str, duration: float | None, source: str) -> Transcript:
    turns = sorted((t for t in turns if t.text), key=lambda t: (t.start, t.end))
    end = max((t.end for t in turns), default=0.0)
    return Transcript(turns=turns, language=language, duration=max(duration or 0.0, end),
                      channels=0, model=f"imported:{source}")


def _date(value, path: Path) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise TranscriptImportError(f"{path}: date '{value}' is not YYYY-MM-DD") from None


def read_json(path: Path, language: str | None = None) -> list[ImportedCall]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TranscriptImportError(f"{path}: not a readable JSON transcript ({exc})") from None
    calls = data if isinstance(data, list) else [data]
    out = []
    for n, call in enumerate(calls):
        where = f"{path}" + (f"[{n}]" if isinstance(data, list) else "")
        if not isinstance(call, dict) or not isinstance(call.get("turns"), list):
            raise TranscriptImportError(f"{where}: a call needs a 'turns' list")
        turns = []
        for i, turn in enumerate(call["turns"]):
            try:
                role = Role(turn.get("role", "unknown"))
                turns.append(Turn(speaker=str(turn.get("speaker") or role.value), role=role,
                                  start=float(turn["start"]), end=float(turn["end"]), text=str(turn["text"]).strip()))
            except (KeyError, TypeError, ValueError) as exc:
                raise TranscriptImportError(f"{where}: turns[{i}]: needs role (agent/customer/unknown), start, end and text ({exc})") from None
        lang = call.get("language") or language
        if not lang:
            raise TranscriptImportError(f"{where}: no 'language' in the file and none given with --language")
        transcript = _transcript(turns, lang, call.get("duration"), "json")
        try:
            transcript.holds = [(float(a), float(b)) for a, b in call.get("holds") or []]
        except (TypeError, ValueError):
            raise TranscriptImportError(f"{where}: holds must be a list of [start, end] pairs") from None
        out.append(ImportedCall(
            call_id=str(call.get("call_id") or (path.stem if len(calls) == 1 else f"{path.stem}-{n}")),
            transcript=transcript,
            agent=call.get("agent"), team=call.get("team"), call_date=_date(call.get("date"), path),
        ))
    return out


def read_vtt(path: Path, language: str | None, agent_names: set[str] = frozenset()) -> list[ImportedCall]:
    import webvtt

    try:
        captions = webvtt.read(str(path))
    except Exception as exc:  # webvtt raises its own MalformedFileError and friends
        raise TranscriptImportError(f"{path}: not a readable WebVTT file ({exc})") from None
    if not language:
        raise TranscriptImportError(f"{path}: WebVTT has no language; give it with --language")
    names = {n.lower() for n in agent_names}
    turns = []
    for cue in captions:
        speaker, text = cue.voice, cue.text.replace("\n", " ").strip()
        if speaker is None and ":" in text[:40]:
            speaker, text = (part.strip() for part in text.split(":", 1))
        turns.append(Turn(speaker=speaker or "unknown", role=role_of(speaker, names),
                          start=cue.start_time.in_milliseconds() / 1000.0,
                          end=cue.end_time.in_milliseconds() / 1000.0,
                          text=text))
    return [ImportedCall(call_id=path.stem, transcript=_transcript(turns, language, None, "vtt"))]


def read_harper_valley(path: Path, use_human: bool = False) -> list[ImportedCall]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        segments = data["segments"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TranscriptImportError(f"{path}: not a Harper Valley transcript ({exc})") from None
    turns = []
    for seg in segments:
        text = NOISE.sub(" ", seg.get("human_transcript" if use_human else "transcript") or "")
        start = seg["offset_ms"] / 1000.0
        turns.append(Turn(speaker=seg["speaker_role"], role=role_of(seg["speaker_role"]),
                          start=start, end=start + seg["duration_ms"] / 1000.0, text=" ".join(text.split())))
    agent = (data.get("metadata", {}).get("agent") or {}).get("agent_name")
    return [ImportedCall(call_id=str(data.get("sid") or path.stem),
                         transcript=_transcript(turns, "en", None, "harper-valley"), agent=agent)]


def detect_format(path: Path) -> str:
    if path.suffix.lower() == ".vtt":
        return "vtt"
    try:
        head = path.read_text(encoding="utf-8")[:4096]
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptImportError(f"{path}: cannot read ({exc})") from None
    return "harper-valley" if '"segments"' in head and '"speaker_role"' in head else "json"


def read_transcripts(path: str | Path, fmt: str = "auto", language: str | None = None,
                     agent_names: set[str] = frozenset()) -> list[ImportedCall]:
    """Calls in one transcript file."""
    path = Path(path)
    if not path.is_file():
        raise TranscriptImportError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "json":
        return read_json(path, language)
    if fmt == "vtt":
        return read_vtt(path, language, agent_names)
    if fmt == "harper-valley":
        return read_harper_valley(path)
    raise TranscriptImportError(f"{path}: unknown format '{fmt}' (json, vtt, harper-valley)")
