"""Plain data shared by every stage: transcribe -> scoring -> store -> reports.

Nothing here knows about audio decoding, rubrics' YAML or the database; each stage
imports these types and no stage imports another stage's internals.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from enum import Enum
from typing import Any


class Role(str, Enum):
    """Who a speaker is in the call."""

    AGENT = "agent"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"


class Outcome(str, Enum):
    """Result of one criterion on one call."""

    PASS = "pass"
    FAIL = "fail"
    NA = "na"


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds from the start of the call."""

    text: str
    start: float
    end: float
    probability: float = 1.0
    speaker: str = ""


@dataclass
class Turn:
    """Consecutive words of one speaker."""

    speaker: str
    role: Role
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class SpeakerSpan:
    """One stretch of speech by one speaker (seconds from the start of the call): what
    diarization finds (spans may overlap; `transcribe.diarizer.Diarization` also keeps the
    exclusive version) and what a transcript stores in `speaker_spans`."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class RoleDecision:
    """Which speaker is the agent and how sure that is.

    method: "channel" (stereo: each party on its own channel), "labels" (an imported transcript
    whose turns carry agent/customer roles), "voiceprint" (enrolled agent voice), "phrases" (the
    rubric's agent phrases, opening lines first), "first speaker" (no other evidence) or
    "single speaker".
    """

    agent_speaker: str | None
    method: str
    confidence: float
    detail: str = ""


@dataclass
class CallRecord:
    """What is known about one call besides its words: the one record a metadata row (calls.csv),
    an imported transcript's call fields and a stored call all are.

    A record fills in along the way: a metadata row or a transcript file may leave `call_id` None
    (no id stated: the batch gives one from the file name); the runner and the importer add the
    call id, `file` (the recording or transcript file) and `content_hash` (SHA-256 of the file,
    ``:n`` appended for the n-th call of a transcript list) before it is stored; scoring adds
    `redactions`. `language` and `agent_channel` are what the call was transcribed with (from the
    metadata, else the batch's options); the store keeps neither (the transcript holds the
    language found). `line` is the row's line in calls.csv, for messages naming it.
    """

    call_id: str | None = None
    file: str = ""
    content_hash: str | None = None
    agent: str | None = None
    team: str | None = None
    call_date: date | None = None
    language: str | None = None
    agent_channel: int | None = None
    redactions: dict[str, int] | None = None  # kind -> count; None when redaction was off
    line: int | None = None


@dataclass
class Transcript:
    """A whole call as text: turns in time order plus what is known about the audio."""

    turns: list[Turn]
    language: str
    duration: float
    language_probability: float | None = None
    channels: int = 1  # of the recording: 1 mono, 2 stereo; 0 for an imported transcript (no audio)
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    holds: list[tuple[float, float]] = field(default_factory=list)  # hold spans known from metadata
    speaker_spans: list[SpeakerSpan] = field(default_factory=list)  # diarization of a mono call
    voice_similarity: dict[str, float] = field(default_factory=dict)  # speaker -> cosine to agent voiceprint
    role_decision: RoleDecision | None = None

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first speech."""
        seen: dict[str, None] = {}
        for turn in self.turns:
            seen.setdefault(turn.speaker, None)
        return list(seen)


@dataclass(frozen=True)
class Evidence:
    """Why a criterion got its outcome: a quote with speaker and time, or the window searched."""

    quote: str
    role: str
    start: float
    end: float
    kind: str = "quote"  # "quote" for matched text, "window" for the span searched on a miss


@dataclass
class CriterionResult:
    """Outcome of one rubric criterion on one call."""

    section_id: str
    criterion_id: str
    name: str
    outcome: Outcome
    points_awarded: float
    points_possible: float
    critical: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    note: str = ""

    @property
    def auto_failed(self) -> bool:
        return self.critical == "auto_fail" and self.outcome == Outcome.FAIL


@dataclass
class SectionScore:
    """Points of one rubric section on one call (None when every criterion was N/A)."""

    section_id: str
    name: str
    weight: float
    points_awarded: float
    points_possible: float

    @property
    def fraction(self) -> float | None:
        return None if self.points_possible == 0 else self.points_awarded / self.points_possible


@dataclass
class CallMetrics:
    """Timing measurements of one call, shared by checks and reports (seconds).

    This is the record stored with a scorecard (as JSON, see `to_plain` / `from_plain`).
    Named metrics with units and evidence are read from it through `scoring.metrics`
    (`registered_metrics()`, `get_metric(name)`).
    """

    duration_s: float
    talk_s: dict[str, float] = field(default_factory=dict)          # role -> seconds speaking
    talk_to_listen: float | None = None                              # agent talk / customer talk
    dead_air: list[tuple[float, float]] = field(default_factory=list)
    dead_air_s: float = 0.0
    overtalk: list[tuple[float, float]] = field(default_factory=list)
    overtalk_s: float = 0.0
    holds: list[tuple[float, float]] = field(default_factory=list)
    longest_hold_s: float = 0.0
    words_per_minute: dict[str, float] = field(default_factory=dict)
    longest_agent_monologue_s: float = 0.0
    agent_interruptions: int = 0
    longest_agent_monologue: tuple[float, float] | None = None       # span of that monologue
    interruptions: list[tuple[float, float]] = field(default_factory=list)  # agent start -> overlap end
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> {"value", "spans"}

    @property
    def overtalk_count(self) -> int:
        return len(self.overtalk)

    @property
    def hold_count(self) -> int:
        return len(self.holds)

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> "CallMetrics":
        """Back from the JSON dict `to_plain` made (spans as tuples); keys it does not know are
        ignored, and missing ones, or null lists and tables, take their defaults, so records
        stored by older versions load."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("talk_s", "words_per_minute", "measured"):
            if key in known and known[key] is None:
                del known[key]
        for key in ("dead_air", "overtalk", "holds", "interruptions"):
            if key in known:
                known[key] = [tuple(span) for span in known[key] or []]
        if known.get("longest_agent_monologue") is not None:
            known["longest_agent_monologue"] = tuple(known["longest_agent_monologue"])
        return cls(**known)


@dataclass
class Scorecard:
    """A call scored against one rubric."""

    rubric_id: str
    rubric_hash: str
    results: list[CriterionResult]
    sections: list[SectionScore]
    score: float
    passed: bool
    auto_failed: bool
    pass_mark: float
    flags: list[str] = field(default_factory=list)
    band: str | None = None
    metrics: CallMetrics | None = None

    def result(self, criterion_id: str) -> CriterionResult:
        """The result of one criterion by id."""
        for r in self.results:
            if r.criterion_id == criterion_id:
                return r
        raise KeyError(criterion_id)


def to_plain(obj: Any) -> Any:
    """Dataclass tree -> JSON-ready dicts and lists (enums become their values)."""
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
