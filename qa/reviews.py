"""Human reviews: answers that replace the machine's for one criterion of one call, kept in an
append-only audit table, with the call's final scorecard recomputed from them; the review
sample; calibration of the machine against reviewers and of reviewers against each other.

Every entry point (`qa serve`, `qa review import`, `qa sample`, `qa calibrate`) goes through
`Reviews`; the SQL is in the store.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from qa.calibration import Agreement, HumanAnswer, MachineHumanRow, human_vs_human, machine_vs_human, needs_review
from qa.human_evals import HumanEval
from qa.sampling import CallRow, Pick, sample
from qa.store import NewReview, Store

OUTCOMES = ("pass", "fail", "na")
REASONS = {
    "agree": "agrees with the machine",
    "wrong_outcome": "wrong outcome",
    "wrong_evidence": "wrong evidence",
    "missing_evidence": "missing evidence",
    "does_not_apply": "criterion does not apply",
    "transcription_error": "transcription error",
    "imported": "imported evaluation",
}
"""Reason categories of a review (key -> label)."""


class ReviewError(ValueError):
    """A review that cannot be recorded; the message is one line naming the call and the fault."""


@dataclass(frozen=True)
class ReviewInput:
    """One answer to record: outcome pass/fail/na, or None to agree with the machine."""

    call_id: str
    criterion_id: str
    outcome: str | None
    reviewer: str
    reason: str = "agree"
    comment: str | None = None
    rubric_hash: str | None = None  # None: the version of the call's latest scorecard
    source: str = "review"
    reviewed_at: datetime | None = None


@dataclass(frozen=True)
class Calibration:
    """Agreement per criterion of one rubric version: machine vs reviewers, reviewers vs each
    other, and the criteria below the gate with why."""

    rubric_hash: str
    machine: dict[str, Agreement]
    humans: dict[str, Agreement]
    flagged: dict[str, str]


class Reviews:
    """Records reviews into one store and reads what review pages, sampling and calibration need."""

    def __init__(self, store: Store):
        self.store = store
        self._scorers: dict[str, object] = {}

    def scorer(self, rubric_hash: str):
        """The RubricScorer of a stored rubric version (parsed once)."""
        if rubric_hash not in self._scorers:
            from scoring import RubricScorer, parse_rubric

            text = self.store.rubric_yaml(rubric_hash)
            if text is None:
                raise ReviewError(f"rubric version {rubric_hash[:8]} is not stored")
            self._scorers[rubric_hash] = RubricScorer(parse_rubric(text, f"rubric {rubric_hash[:8]}"))
        return self._scorers[rubric_hash]

    def record(self, item: ReviewInput) -> int:
        """Record one answer; its review id."""
        return self.record_many([item])[0]

    def record_many(self, items: Iterable[ReviewInput]) -> list[int]:
        """Validate and record answers in one transaction (all or none), recomputing the final
        scorecard of each call they touch; the review ids, in order. ReviewError names the first
        bad item."""
        items = list(items)
        reviews: list[NewReview] = []
        state: dict[tuple[str, str], tuple[dict[str, str], dict[str, tuple[str, int]]]] = {}
        for n, item in enumerate(items):
            where = f"call {item.call_id!r}, criterion {item.criterion_id!r}"
            if not item.reviewer or not item.reviewer.strip():
                raise ReviewError(f"{where}: a review needs the reviewer's name")
            if item.reason not in REASONS:
                raise ReviewError(f"{where}: unknown reason {item.reason!r} (one of: {', '.join(REASONS)})")
            rubric_hash = item.rubric_hash or self.store.call_rubric_hash(item.call_id)
            if rubric_hash is None:
                raise ReviewError(f"{where}: no scored call with this id")
            key = (item.call_id, rubric_hash)
            if key not in state:
                machine = self.store.machine_results(rubric_hash, [item.call_id]).get(item.call_id)
                if not machine:
                    raise ReviewError(f"{where}: the call has no scorecard of rubric version {rubric_hash[:8]}")
                state[key] = (machine, dict(self.store.final_answers(rubric_hash, [item.call_id]).get(item.call_id, {})))
            machine, answers = state[key]
            if item.criterion_id not in machine:
                raise ReviewError(f"{where}: no such criterion in rubric version {rubric_hash[:8]}")
            outcome = machine[item.criterion_id] if item.outcome is None else item.outcome
            if outcome not in OUTCOMES:
                raise ReviewError(f"{where}: outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
            previous = answers.get(item.criterion_id, (machine[item.criterion_id], None))[0]
            reviews.append(NewReview(item.call_id, rubric_hash, item.criterion_id, item.reviewer.strip(), outcome,
                                     item.reason, item.comment or None, machine[item.criterion_id], previous,
                                     item.source, item.reviewed_at))
            answers[item.criterion_id] = (outcome, -1 - n)  # this batch's n-th review
        finals = []
        for (call_id, rubric_hash), (machine, answers) in state.items():
            card = self.scorer(rubric_hash).final_scorecard(machine, {c: o for c, (o, _) in answers.items()})
            finals.append((call_id, card, {c: review_id for c, (_, review_id) in answers.items()}))
        return self.store.save_reviews(reviews, finals)

    def import_evaluations(self, evaluations: Iterable[HumanEval]) -> tuple[int, list[str]]:
        """Record existing human evaluations (source "import"); rows naming a call that is not
        scored, or a criterion its rubric lacks, are skipped. (recorded, one line per skipped row)."""
        items, skipped = [], []
        for ev in evaluations:
            rubric_hash = self.store.call_rubric_hash(ev.call_id)
            machine = self.store.machine_results(rubric_hash, [ev.call_id]).get(ev.call_id, {}) if rubric_hash else {}
            if not machine:
                skipped.append(f"line {ev.line}: call {ev.call_id!r} is not scored in this database")
                continue
            if ev.criterion_id not in machine:
                skipped.append(f"line {ev.line}: criterion {ev.criterion_id!r} is not in the rubric call "
                               f"{ev.call_id!r} was scored with")
                continue
            when = ev.date if isinstance(ev.date, datetime) else (
                datetime.combine(ev.date, datetime.min.time()) if isinstance(ev.date, date) else None)
            items.append(ReviewInput(ev.call_id, ev.criterion_id, ev.outcome, ev.evaluator, "imported", ev.comment,
                                     rubric_hash, "import", when))
        return len(self.record_many(items)) if items else 0, skipped

    def calibration(self, rubric_hash: str, *, min_n: int = 20, gate_ac1: float = 0.6) -> Calibration:
        """Machine vs reviewers and reviewers vs each other per criterion of this rubric version,
        and the criteria below the gate (too few pairs, or AC1 under `gate_ac1`)."""
        answers = self.store.human_answers(rubric_hash)
        latest: dict[tuple[str, str], dict] = {}
        for row in answers:  # the final human answer per call and criterion (latest reviewer)
            key = (row["call_id"], row["criterion_id"])
            if key not in latest or row["reviewed_at"] > latest[key]["reviewed_at"]:
                latest[key] = row
        machine = machine_vs_human(
            [MachineHumanRow(r["criterion_id"], r["machine_outcome"], r["outcome"], rubric_hash)
             for r in latest.values() if r["machine_outcome"]], min_n=min_n)
        humans = human_vs_human(
            [HumanAnswer(r["call_id"], r["criterion_id"], r["reviewer"], r["outcome"]) for r in answers],
            min_n=min_n)
        criteria = list(self.store.criteria(rubric_hash))
        stats = {c: machine.get(c) or _no_pairs() for c in criteria}
        return Calibration(rubric_hash, machine, humans, needs_review(stats, gate_ac1=gate_ac1))

    def sample(self, rubric_hash: str, *, per_agent: int, period: str, seed: int,
               uncertain: set[str] = frozenset(), queue: bool = True) -> list[Pick]:
        """Pick calls to review (`qa.sampling.sample`: reviewed calls skipped; auto-fails, scores
        near the pass mark and calls deciding an `uncertain` criterion first) and, when `queue`,
        add them to the review queue."""
        rows = self.store.sampling_calls(rubric_hash)
        reviewed = {r["call_id"] for r in rows if r["reviewed"]}
        calls = [CallRow(r["call_id"], r["agent"], r["call_date"], r["score"], r["passed"], bool(r["auto_failed"]),
                         r["pass_mark"], r["outcomes"]) for r in rows if r["call_date"] is not None]
        picks = sample(calls, per_agent=per_agent, period=period, seed=seed, reviewed=reviewed,
                       uncertain_criteria=set(uncertain))
        if queue and picks:
            self.store.queue_for_review([(p.call_id, rubric_hash, p.reason, p.period) for p in picks])
        return picks

    def needs_new_look(self, call_id: str, rubric_hash: str) -> dict[str, dict]:
        """Criteria of this version reviewed only under an earlier version of the call's rubric:
        criterion_id -> that older review (its outcome, reviewer, version), where the new
        machine answer differs from that review."""
        current = self.store.final_answers(rubric_hash, [call_id]).get(call_id, {})
        machine = self.store.machine_results(rubric_hash, [call_id]).get(call_id, {})
        older: dict[str, dict] = {}
        for row in self.store.review_history(call_id):
            if row["rubric_hash"] != rubric_hash and row["criterion_id"] in machine:
                older[row["criterion_id"]] = row  # the latest older review wins (history is in order)
        return {c: row for c, row in older.items() if c not in current and row["outcome"] != machine[c]}


def _no_pairs() -> Agreement:
    from qa.calibration import agreement

    return agreement([])
