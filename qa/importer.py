"""Import transcripts that already exist (no audio), score them and store them like our own."""
from __future__ import annotations

from pathlib import Path

from qa.runner import CallOutcome, file_hash
from qa.store import CallInfo, Store
from scoring import Rubric, RubricScorer
from transcribe.errors import AudioError
from transcribe.importers import read_transcripts
from transcribe.redact import redact


def import_transcripts(store: Store, rubric: Rubric, rubric_text: str, files: list[Path], fmt: str = "auto",
                       language: str | None = None, agent_names: set[str] = frozenset(),
                       redact_personal_data: bool = True) -> list[CallOutcome]:
    """Read, score and store every call in `files`; a bad file is recorded as failed, the rest go on."""
    store.save_rubric(rubric, rubric_text)
    scorer = RubricScorer(rubric)
    outcomes = []
    for path in files:
        try:
            calls = read_transcripts(path, fmt, language, agent_names)
            digest = file_hash(path)
        except (AudioError, OSError) as exc:
            store.record_failure(str(path), None, str(exc), "import")
            outcomes.append(CallOutcome(file=str(path), call_id=Path(path).stem, status="failed", reason=str(exc)))
            continue
        for n, call in enumerate(calls):
            transcript, counts = redact(call.transcript) if redact_personal_data else (call.transcript, None)
            card = scorer.score(transcript)
            info = CallInfo(call_id=call.call_id, file=str(path), content_hash=f"{digest}:{n}",
                            agent=call.agent, team=call.team, call_date=call.call_date, redactions=counts)
            store.save_call(info, transcript, card, "import")
            outcomes.append(CallOutcome(file=str(path), call_id=call.call_id, status="scored", scorecard=card,
                                        agent=call.agent, language=call.transcript.language,
                                        audio_s=call.transcript.duration))
    return outcomes
