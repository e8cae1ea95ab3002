"""Stereo transcription accuracy and speed, measured side by side in one run.

For each stereo call with a reference (../shared/eval/spokenwoz_stereo, faster-whisper's
stereo_diarization.wav, the example calls) it prints the WER of:

- pipeline: `Transcriber.transcribe` as `qa score` runs it (default stereo mode);
- channels: the same transcriber decoding each channel on its own (the method before the mixdown);
- plain: faster-whisper alone on the mixdown, with the same loaded model, language, beam and VAD;

the wall-time ratio pipeline / plain (alternated per call), per-role WER (the agent's words
against the agent's reference words, the same for the customer) for pipeline and channels, and
duplicated words: the same word given to both parties at the same moment (channel bleed).

    .venv/bin/python -m benchmarks.stereo_accuracy [--rounds 1] [--only MUL1423 ...]
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
from ruamel.yaml import YAML

from qa_types import Role, Transcript
from transcribe import Transcriber, TranscriberOptions

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO.parent / "shared" / "eval"
SPOKENWOZ = EVAL / "spokenwoz_stereo"
# faster-whisper's own test expectations for its stereo_diarization.wav (left and right channel).
FW_STEREO = EVAL / "faster_whisper_tests" / "stereo_diarization.wav"
FW_STEREO_TEXT = ("He began a confused complaint against the wizard, who had vanished behind the curtain on the left.",
                  "The horizon seems extremely distant.")


def words_of(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    return re.sub(r"[^\w' ]+", " ", text).split()


@dataclass
class Call:
    """A stereo recording with reference words per role, in time order."""

    name: str
    group: str
    path: Path
    language: str
    agent_channel: int
    reference: list[tuple[str, str]] = field(default_factory=list)  # (role, word), in spoken order

    def text(self, role: str | None = None) -> list[str]:
        return [w for r, w in self.reference if role is None or r == role]


def spokenwoz_calls() -> list[Call]:
    calls = []
    for row in csv.DictReader((SPOKENWOZ / "calls.csv").open()):
        path = SPOKENWOZ / row["file"]
        words = json.loads(path.with_suffix(".words.json").read_text())
        agent_label = "B"  # SpokenWOZ: speaker B is the agent (on channel 1 per calls.csv)
        reference = [("agent" if w["speaker"] == agent_label else "customer", token)
                     for w in sorted(words, key=lambda w: w["start"]) for token in words_of(w["word"])]
        calls.append(Call(row["call_id"], "spokenwoz", path, row["language"], int(row["agent_channel"]), reference))
    return calls


def faster_whisper_call() -> list[Call]:
    if not FW_STEREO.is_file():
        return []
    left, right = FW_STEREO_TEXT  # both start together; left is the longer utterance
    reference = [("agent", w) for w in words_of(left)] + [("customer", w) for w in words_of(right)]
    return [Call("stereo_diarization", "faster-whisper", FW_STEREO, "en", 0, reference)]


def example_calls() -> list[Call]:
    script = YAML(typ="safe").load((REPO / "examples" / "dialogues.yaml").read_text())
    calls = []
    for call in script["calls"]:
        reference = [(line[0], w) for line in call["lines"] for w in words_of(line[1])]
        calls.append(Call(call["call_id"], "examples", REPO / "examples" / f"{call['call_id']}.wav",
                          call["language"], int(call["agent_channel"]), reference))
    return calls


def hypothesis(transcript: Transcript, role: str | None = None) -> list[str]:
    words = sorted((w for t in transcript.turns if role is None or t.role.value == role for w in t.words),
                   key=lambda w: (w.start, w.end))
    return [token for w in words for token in words_of(w.text)]


def duplicated_words(transcript: Transcript) -> int:
    """Words given to both parties at once: the same text, overlapping in time (channel bleed)."""
    by_role = {role: [(w, words_of(w.text)) for t in transcript.turns if t.role == role for w in t.words]
               for role in (Role.AGENT, Role.CUSTOMER)}
    return sum(1 for a, text_a in by_role[Role.AGENT] for b, text_b in by_role[Role.CUSTOMER]
               if text_a and text_a == text_b and min(a.end, b.end) - max(a.start, b.start) > -0.1)


class Errors:
    """Word errors summed over calls."""

    def __init__(self):
        self.errors = self.words = 0

    def add(self, reference: list[str], hyp: list[str]) -> float:
        if not reference:
            return 0.0
        out = jiwer.process_words(" ".join(reference), " ".join(hyp) or "<empty>")
        errors = out.substitutions + out.deletions + out.insertions
        self.errors += errors
        self.words += len(reference)
        return errors / len(reference)

    @property
    def wer(self) -> float:
        return self.errors / max(self.words, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="timing rounds per call (WER from the first)")
    parser.add_argument("--only", nargs="*", help="call names to run")
    args = parser.parse_args()
    calls = spokenwoz_calls() + faster_whisper_call() + example_calls()
    if args.only:
        calls = [c for c in calls if c.name in args.only]
    transcriber = Transcriber(TranscriberOptions())
    model = transcriber.model  # plain faster-whisper uses the very same loaded model
    opts = transcriber.options
    totals: dict[tuple[str, str, str], Errors] = {}
    times: dict[str, list[float]] = {}

    def tally(group: str, method: str, part: str, reference, hyp) -> float:
        return totals.setdefault((group, method, part), Errors()).add(reference, hyp)

    print(f"{'call':22} {'WER pipe':>8} {'chan':>6} {'plain':>6} | {'agent pipe/chan':>15} "
          f"{'cust pipe/chan':>15} | {'dup pipe/chan':>13} | {'time pipe/plain':>15}")
    for call in calls:
        pipe_s = plain_s = 0.0
        for round_ in range(args.rounds):
            t0 = time.perf_counter()
            opts.stereo = "mixdown"
            pipeline = transcriber.transcribe(call.path, language=call.language, agent_channel=call.agent_channel)
            pipe_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            segments, _ = model.transcribe(str(call.path), language=call.language, beam_size=opts.beam_size,
                                           word_timestamps=True, vad_filter=opts.vad_filter)
            plain_words = [token for s in segments for w in (s.words or []) for token in words_of(w.word)]
            plain_s += time.perf_counter() - t0
            if round_ == 0:
                opts.stereo = "channels"
                channels = transcriber.transcribe(call.path, language=call.language, agent_channel=call.agent_channel)
                opts.stereo = "mixdown"
        times.setdefault(call.group, [0.0, 0.0])
        times[call.group][0] += pipe_s
        times[call.group][1] += plain_s
        wer_pipe = tally(call.group, "pipeline", "all", call.text(), hypothesis(pipeline))
        wer_chan = tally(call.group, "channels", "all", call.text(), hypothesis(channels))
        wer_plain = tally(call.group, "plain", "all", call.text(), plain_words)
        roles = {}
        for role in ("agent", "customer"):
            roles[role] = (tally(call.group, "pipeline", role, call.text(role), hypothesis(pipeline, role)),
                           tally(call.group, "channels", role, call.text(role), hypothesis(channels, role)))
        dup = (duplicated_words(pipeline), duplicated_words(channels))
        print(f"{call.name:22} {wer_pipe:8.3f} {wer_chan:6.3f} {wer_plain:6.3f} | "
              f"{roles['agent'][0]:7.3f}/{roles['agent'][1]:<7.3f} {roles['customer'][0]:7.3f}/{roles['customer'][1]:<7.3f} | "
              f"{dup[0]:6d}/{dup[1]:<6d} | {pipe_s:6.1f}/{plain_s:<6.1f}s {pipe_s / plain_s:5.2f}", flush=True)
    print()
    for group in dict.fromkeys(c.group for c in calls):
        t = {(m, p): totals[(group, m, p)].wer for (g, m, p) in totals if g == group}
        pipe_s, plain_s = times[group]
        print(f"{group}: total WER pipeline {t['pipeline', 'all']:.3f}, channels {t['channels', 'all']:.3f}, "
              f"plain on mixdown {t['plain', 'all']:.3f}; ratio pipeline/plain "
              f"{t['pipeline', 'all'] / max(t['plain', 'all'], 1e-9):.3f}")
        print(f"{group}: per-role WER pipeline agent {t['pipeline', 'agent']:.3f} customer "
              f"{t['pipeline', 'customer']:.3f}; channels agent {t['channels', 'agent']:.3f} customer "
              f"{t['channels', 'customer']:.3f}")
        print(f"{group}: wall time pipeline {pipe_s:.1f} s / plain {plain_s:.1f} s = {pipe_s / plain_s:.3f}")


if __name__ == "__main__":
    main()
