"""Transcripts a contact centre already has -> `Transcript` plus `CallRecord`, scored like our own.

Each format is one reader in the `import_formats` registry, decorated with
``@import_format("name", detect=..., order=...)`` here, or, from another package, an entry point
in the group ``callqa_import_formats`` naming an `ImportFormat`. A reader takes
``(path, language, agent_names)`` and gives the file's calls, each an `ImportedCall` (a
`CallRecord` and a transcript made with `imported_transcript`) or a `BadCall`; ``--format auto``
tries the formats' ``detect(path, head)`` in ``order`` (lower first) on the file's name and
first 4096 characters. Formats here:

- ``json``: our documented format (one call, or a list of calls); what no other format claims::

      {"call_id": "c1", "agent": "alice", "team": "t1", "date": "2026-11-02", "language": "en",
       "duration": 61.5,
       "turns": [{"role": "agent", "speaker": "A", "start": 0.5, "end": 3.2, "text": "Hello ..."}, ...]}

  ``role`` is agent, customer or unknown; ``speaker``, ``duration`` and the call fields are optional.
  ``"holds": [[start, end], ...]`` gives hold periods the phone system recorded.
- ``vtt``: WebVTT (a ``.vtt`` file) with speaker tags (``<v Agent>...``) or ``Name: text`` cues;
  speaker names map to roles (agent/csr/representative -> agent, customer/caller/client ->
  customer, ``--agent-speaker`` names -> agent); other names keep an unknown role.
- ``harper-valley``: Gridspace/Stanford Harper Valley transcript JSON (``segments`` with
  ``speaker_role``, ``offset_ms``, ``duration_ms``, ``transcript``).

Turns whose role is unknown (speakers "A" and "B") are not guessed here: the importer has the
call's roles decided like a mono recording's (`scoring.roles`).

Every call is checked before it is used: times are finite, non-negative seconds, a turn (hold,
cue, segment) does not end before it starts nor after the call's ``duration`` when one is given,
texts and names are strings (a turn's text at most MAX_TEXT_CHARS characters). A call that fails
a check is a `BadCall` with one line naming the file (``file[n]`` for the n-th call of a list)
and the first fault (``turns[3].start: Input should be greater than or equal to 0 (got -10)``);
the other calls of the file are read as usual.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import catalogue
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from qa_types import CallRecord, Role, Transcript, Turn
from transcribe.errors import AudioError

AGENT_NAMES = {"agent", "csr", "rep", "representative", "operator", "advisor"}
CUSTOMER_NAMES = {"customer", "caller", "client", "user"}
NOISE = re.compile(r"\[[^\]]*\]|<unk>")

MAX_TEXT_CHARS = 100_000  # one turn: ~1.5 hours of one person talking; spaCy refuses 1M per text
MAX_NAME_CHARS = 200  # call ids, agents, teams, speakers
MAX_FILE_BYTES = 256 * 1024 * 1024
DURATION_SLACK_S = 0.5  # a turn may end this far after the stated duration (rounding)


class TranscriptImportError(AudioError):
    """A transcript file cannot be imported; the message names the file and the fault."""


@dataclass
class ImportedCall:
    """One call read from a transcript file: its `record` (the call fields the file states;
    `file` is the transcript file, `call_id` None when the file states no id), its `transcript`,
    `where` naming it in messages (the file, or ``file[n]`` for the n-th call of a list) and
    `default_id`, the id it is given from the file name when the file states none."""

    record: CallRecord
    transcript: Transcript
    where: str
    default_id: str

    @property
    def call_id(self) -> str:
        """The id the file gives the call: the one it states, else `default_id` (the importer
        takes in parent folders where two files' names would give one id)."""
        return self.record.call_id or self.default_id


@dataclass
class BadCall:
    """A call of a transcript file that fails a check: `reason` is one line naming the file and
    the fault; `call_id` is the id it would have had."""

    where: str
    call_id: str
    reason: str


# -- the registry ----------------------------------------------------------------------------

Reader = Callable[[Path, "str | None", "frozenset[str]"], "list[ImportedCall | BadCall]"]

import_formats = catalogue.create("callqa", "import_formats", entry_points=True)
DETECT_CHARS = 4096  # how much of a file `detect` sees


@dataclass(frozen=True)
class ImportFormat:
    """A transcript format `qa import` reads.

    name: the ``--format`` value.
    read: ``(path, language, agent_names) -> [ImportedCall | BadCall, ...]``: the file's calls;
        `language` is ``--language`` (for files that state none), `agent_names` the
        ``--agent-speaker`` names (speaker names that are the agent). Raises
        TranscriptImportError (one line naming the file) when the file as a whole is unreadable.
    detect: ``(path, head) -> bool``, whether ``--format auto`` takes a file (its path and first
        DETECT_CHARS characters) to be in this format; None: only chosen by name.
    order: formats are tried by ``--format auto`` in this order (lower first, ties by name).
    """

    name: str
    read: Reader
    detect: Callable[[Path, str], bool] | None = None
    order: int = 50


def import_format(name: str, *, detect: Callable[[Path, str], bool] | None = None,
                  order: int = 50) -> Callable[[Reader], Reader]:
    """Decorator: register a reader as the import format `name` (see `ImportFormat`). A name
    registered twice is an error."""
    def register(read: Reader) -> Reader:
        if catalogue.check_exists(*import_formats.namespace, name):
            raise ValueError(f"import format '{name}' is registered twice")
        import_formats.register(name, func=ImportFormat(name, read, detect, order))
        return read
    return register


def registered_formats() -> dict[str, ImportFormat]:
    """The import formats by name, in detection order."""
    found = import_formats.get_all()
    return {fmt.name: fmt for fmt in sorted(found.values(), key=lambda f: (f.order, f.name))}


def import_format_names() -> list[str]:
    """The names ``--format`` takes besides ``auto``, in detection order."""
    return list(registered_formats())


# -- checks ----------------------------------------------------------------------------------

def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number of seconds, not true/false")
    if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN, Infinity
        raise PydanticCustomError("finite_number", "Input should be a finite number (got {value})", {"value": value})
    return value


def _id_text(value: Any) -> Any:
    """Call ids are often numbers in exports: 12345 -> "12345" (never true/false)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Seconds = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, allow_inf_nan=False)]
Millis = Seconds
Text = Annotated[str, Field(strict=True, max_length=MAX_TEXT_CHARS)]
Name = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, max_length=MAX_NAME_CHARS)]
Label = Annotated[str, BeforeValidator(_id_text),  # speaker labels: "A", "spk_0", or 0 and 1
                  StringConstraints(strict=True, strip_whitespace=True, max_length=MAX_NAME_CHARS)]
CallId = Annotated[str, BeforeValidator(_id_text),
                   StringConstraints(strict=True, strip_whitespace=True, max_length=MAX_NAME_CHARS)]
Language = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, max_length=20)]  # "": --language


class _Checked(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _span_error(what: str, start: float, end: float) -> PydanticCustomError:
    return PydanticCustomError("span_order", "{what} ends at {end} s, before it starts ({start} s)",
                               {"what": what, "end": f"{end:g}", "start": f"{start:g}"})


class TurnIn(_Checked):
    """One turn of our JSON format (also what WebVTT cues become)."""

    role: Role = Role.UNKNOWN
    speaker: Label | None = None
    start: Seconds
    end: Seconds
    text: Text

    @model_validator(mode="after")
    def _in_order(self) -> "TurnIn":
        if self.end < self.start:
            raise _span_error("the turn", self.start, self.end)
        return self


class Hold(_Checked):
    start: Seconds
    end: Seconds

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise PydanticCustomError("hold_pair", "a hold is a [start, end] pair")
            return {"start": value[0], "end": value[1]}
        return value

    @model_validator(mode="after")
    def _in_order(self) -> "Hold":
        if self.end < self.start:
            raise _span_error("the hold", self.start, self.end)
        return self


def _within(items: list, duration: float | None, label: str) -> None:
    if duration is None:
        return
    for n, item in enumerate(items):
        if item.end > duration + DURATION_SLACK_S:
            raise PydanticCustomError("beyond_duration", "{where} ends at {end} s, after the call's duration ({d} s)",
                                      {"where": f"{label}[{n}]", "end": f"{item.end:g}", "d": f"{duration:g}"})


class CallIn(_Checked):
    """One call of our JSON format."""

    call_id: CallId | None = None
    agent: Name | None = None
    team: Name | None = None
    date: Annotated[str, Field(strict=True)] | None = None
    language: Language | None = None
    duration: Seconds | None = None
    turns: list[TurnIn]
    holds: list[Hold] | None = None

    @field_validator("date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value:
            _parse_date(value)
        return value

    @model_validator(mode="after")
    def _inside_the_call(self) -> "CallIn":
        _within(self.turns, self.duration, "turns")
        _within(self.holds or [], self.duration, "holds")
        return self


class HarperValleySegment(_Checked):
    speaker_role: Name
    offset_ms: Millis
    duration_ms: Millis
    transcript: Text | None = None
    human_transcript: Text | None = None


class HarperValleyAgent(_Checked):
    agent_name: Name | None = None


class HarperValleyMetadata(_Checked):
    agent: HarperValleyAgent | None = None


class HarperValleyCall(_Checked):
    sid: CallId | None = None
    segments: list[HarperValleySegment]
    metadata: HarperValleyMetadata | None = None


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise PydanticCustomError("date_format", "'{value}' is not YYYY-MM-DD", {"value": value[:40]}) from None


def _shown(value: Any) -> str:
    """A short description of an offending value (never a huge or deeply nested repr)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"a text of {len(value):,} characters"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def readable(exc: ValidationError) -> str:
    """The first error of a validation, as `field.path[3].name: problem (got value)`."""
    error = exc.errors(include_url=False)[0]
    loc = ""
    for part in error["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    message = {"model_type": "Input should be an object", "dict_type": "Input should be an object",
               "model_attributes_type": "Input should be an object"}.get(error["type"], error["msg"])
    if loc and error["type"] not in ("missing", "string_too_long", "finite_number", "date_format") and \
            not error["type"].startswith(("span_", "beyond_", "hold_")):
        message += f" (got {_shown(error.get('input'))})"
    return f"{loc}: {message}" if loc else message


# -- formats ---------------------------------------------------------------------------------

def role_of(name: str | None, agent_names: set[str] = AGENT_NAMES) -> Role:
    """The role a speaker name stands for: the agent for AGENT_NAMES and `agent_names` (lower
    case), the customer for CUSTOMER_NAMES, else unknown (left to `scoring.roles`)."""
    key = (name or "").strip().lower()
    if key in agent_names or key in AGENT_NAMES:
        return Role.AGENT
    if key in CUSTOMER_NAMES:
        return Role.CUSTOMER
    return Role.UNKNOWN


def imported_transcript(turns: list[Turn], language: str, duration: float | None, source: str) -> Transcript:
    """The transcript of an imported call: turns with text in time order, the duration as stated
    (at least the last turn's end), no audio (``channels=0``, which `scoring.roles` reads as
    "roles are the transcript's labels") and ``model`` ``imported:<source>``."""
    turns = sorted((t for t in turns if t.text), key=lambda t: (t.start, t.end))
    end = max((t.end for t in turns), default=0.0)
    return Transcript(turns=turns, language=language, duration=max(duration or 0.0, end),
                      channels=0, model=f"imported:{source}")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TranscriptImportError(f"{path}: {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB "
                                        "a transcript file may have")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise TranscriptImportError(f"{path}: cannot read ({detail})") from None


def _load_json(path: Path, what: str) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except RecursionError:
        raise TranscriptImportError(f"{path}: not a readable {what} (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise TranscriptImportError(f"{path}: not a readable {what} ({exc})") from None


@import_format("json", detect=lambda path, head: True, order=100)  # last: any file no other format takes
def read_json_calls(path: Path, language: str | None = None,
                    agent_names: frozenset[str] = frozenset()) -> list[ImportedCall | BadCall]:
    """The calls of a file in our JSON format (documented above); `agent_names` is not used (the
    turns carry roles)."""
    data = _load_json(path, "JSON transcript")
    if isinstance(data, list):
        if not data:
            raise TranscriptImportError(f"{path}: an empty list (no calls)")
        calls = data
    elif isinstance(data, dict):
        calls = [data]
    else:
        raise TranscriptImportError(f"{path}: a JSON transcript is an object with 'turns', or a list of them")
    out: list[ImportedCall | BadCall] = []
    for n, raw in enumerate(calls):
        where = f"{path}[{n}]" if isinstance(data, list) else str(path)
        default_id = path.stem if len(calls) == 1 else f"{path.stem}-{n}"
        stated = raw.get("call_id") if isinstance(raw, dict) else None
        guess = str(stated) if isinstance(stated, (str, int)) and not isinstance(stated, bool) and str(stated).strip() \
            else default_id
        if not isinstance(raw, dict):
            out.append(BadCall(where, guess, f"{where}: a call is an object with 'turns' (got {_shown(raw)})"))
            continue
        try:
            call = CallIn.model_validate(raw)
        except ValidationError as exc:
            out.append(BadCall(where, guess[:MAX_NAME_CHARS], f"{where}: {readable(exc)}"))
            continue
        lang = call.language or language
        if not lang:
            out.append(BadCall(where, guess, f"{where}: no 'language' in the file and none given with --language"))
            continue
        turns = [Turn(speaker=t.speaker or t.role.value, role=t.role, start=t.start, end=t.end, text=t.text.strip())
                 for t in call.turns]
        transcript = imported_transcript(turns, lang, call.duration, "json")
        transcript.holds = [(h.start, h.end) for h in call.holds or []]
        record = CallRecord(call_id=call.call_id or None, file=str(path), agent=call.agent or None,
                            team=call.team or None, call_date=_parse_date(call.date) if call.date else None,
                            language=lang)
        out.append(ImportedCall(record, transcript, where, default_id))
    return out


@import_format("vtt", detect=lambda path, head: path.suffix.lower() == ".vtt", order=10)
def read_vtt_calls(path: Path, language: str | None,
                   agent_names: frozenset[str] = frozenset()) -> list[ImportedCall | BadCall]:
    """The one call of a WebVTT file: each cue a turn, its speaker from the voice tag or a
    ``Name:`` prefix, the role from the name (`role_of`, `agent_names` counting as the agent)."""
    import webvtt

    _read_text(path)  # size and encoding first: one line for a file webvtt would choke on
    try:
        captions = webvtt.read(str(path))
    except Exception as exc:  # webvtt raises its own MalformedFileError and friends
        raise TranscriptImportError(f"{path}: not a readable WebVTT file ({exc})") from None
    if not language:
        raise TranscriptImportError(f"{path}: WebVTT has no language; give it with --language")
    names = {n.lower() for n in agent_names}
    turns = []
    for n, cue in enumerate(captions):
        speaker, text = cue.voice, cue.text.replace("\n", " ").strip()
        if speaker is None and ":" in text[:40]:
            speaker, text = (part.strip() for part in text.split(":", 1))
        try:
            turn = TurnIn.model_validate({"speaker": speaker, "start": cue.start_time.in_milliseconds() / 1000.0,
                                          "end": cue.end_time.in_milliseconds() / 1000.0, "text": text})
        except ValidationError as exc:
            return [BadCall(str(path), path.stem, f"{path}: cue {n + 1} ({cue.start} --> {cue.end}): {readable(exc)}")]
        turns.append(Turn(speaker=turn.speaker or "unknown", role=role_of(turn.speaker, names),
                          start=turn.start, end=turn.end, text=turn.text))
    record = CallRecord(file=str(path), language=language)
    return [ImportedCall(record, imported_transcript(turns, language, None, "vtt"), str(path), path.stem)]


def _is_harper_valley(path: Path, head: str) -> bool:
    return '"segments"' in head and '"speaker_role"' in head


@import_format("harper-valley", detect=_is_harper_valley, order=20)
def read_harper_valley_calls(path: Path, language: str | None = None, agent_names: frozenset[str] = frozenset(),
                             use_human: bool = False) -> list[ImportedCall | BadCall]:
    """The one call of a Harper Valley transcript (English; `language` and `agent_names` are not
    used): ASR text, or the human transcript with `use_human`; noise tags removed."""
    data = _load_json(path, "Harper Valley transcript")
    if not isinstance(data, dict) or "segments" not in data:
        raise TranscriptImportError(f"{path}: not a Harper Valley transcript (no 'segments')")
    stated = data.get("sid")
    guess = str(stated) if isinstance(stated, (str, int)) and not isinstance(stated, bool) and str(stated).strip() \
        else path.stem
    try:
        call = HarperValleyCall.model_validate(data)
    except ValidationError as exc:
        return [BadCall(str(path), guess[:MAX_NAME_CHARS], f"{path}: {readable(exc)}")]
    turns = []
    for seg in call.segments:
        text = NOISE.sub(" ", (seg.human_transcript if use_human else seg.transcript) or "")
        start = seg.offset_ms / 1000.0
        turns.append(Turn(speaker=seg.speaker_role, role=role_of(seg.speaker_role),
                          start=start, end=start + seg.duration_ms / 1000.0, text=" ".join(text.split())))
    agent = call.metadata.agent.agent_name if call.metadata and call.metadata.agent else None
    record = CallRecord(call_id=call.sid or None, file=str(path), agent=agent or None, language="en")
    return [ImportedCall(record, imported_transcript(turns, "en", None, "harper-valley"), str(path), path.stem)]


def _all_or_raise(calls: list[ImportedCall | BadCall]) -> list[ImportedCall]:
    for call in calls:
        if isinstance(call, BadCall):
            raise TranscriptImportError(call.reason)
    return calls


def detect_format(path: Path) -> str:
    """The name of the first registered format (in `order`) whose `detect` takes this file;
    TranscriptImportError when the file cannot be read or no format takes it."""
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(DETECT_CHARS)
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise TranscriptImportError(f"{path}: cannot read ({detail})") from None
    for fmt in registered_formats().values():
        if fmt.detect is not None and fmt.detect(path, head):
            return fmt.name
    raise TranscriptImportError(f"{path}: format not recognised; give it with --format "
                                f"({', '.join(import_format_names())})")


def read_calls(path: str | Path, fmt: str = "auto", language: str | None = None,
               agent_names: set[str] | frozenset[str] = frozenset()) -> list[ImportedCall | BadCall]:
    """The calls in one transcript file in format `fmt` (a registered name, or "auto" to detect
    it), each read or a BadCall naming its fault. TranscriptImportError when the file as a whole
    cannot be read, or the format is unknown."""
    path = Path(path)
    formats = registered_formats()
    if fmt != "auto" and fmt not in formats:
        raise TranscriptImportError(f"{path}: unknown format '{fmt}' ({', '.join(formats)})")
    if not path.is_file():
        raise TranscriptImportError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    return formats[fmt].read(path, language, frozenset(agent_names))


def read_transcripts(path: str | Path, fmt: str = "auto", language: str | None = None,
                     agent_names: set[str] | frozenset[str] = frozenset()) -> list[ImportedCall]:
    """Calls in one transcript file; TranscriptImportError on the first fault."""
    return _all_or_raise(read_calls(path, fmt, language, agent_names))
