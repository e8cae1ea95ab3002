"""Diarization accuracy (DER) on the shared references, and its cost next to transcription.

1. DER with pyannote.metrics on pyannote's sample (collar 0) and the two Callytics phone
   calls (collar 0.25), the number of speakers found automatically (bounds 1..4).
2. For each mono call, alternately in one run: transcription alone (Whisper, the shipped
   base model, diarization off) and diarization alone as the pipeline runs it (in its own
   process), on the same decoded audio. Prints both times and diarization / transcription
   (goal <= 1.0 on a 2-core machine).

    .venv/bin/python -m benchmarks.diarization [--rounds 2]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from qa.diarization_eval import evaluate
from transcribe import Transcriber, TranscriberOptions
from transcribe.audio import load_audio
from transcribe.diarizer import Diarizer, DiarizerProcess

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
REFERENCES = [
    ("pyannote_sample/sample.wav", "pyannote_sample/sample.rttm", 0.0),
    ("callytics_csvd/call/Call01.wav", "callytics_csvd/call/Call01.rttm", 0.25),
    ("callytics_csvd/call/Call02.wav", "callytics_csvd/call/Call02.rttm", 0.25),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    diarizer = Diarizer()
    print(f"{'recording':12} {'collar':>6} {'DER':>6} {'missed':>7} {'false al.':>9} {'confusion':>9} {'speakers':>9}")
    for audio, reference, collar in REFERENCES:
        r = evaluate(EVAL / reference, EVAL / audio, collar=collar, diarizer=diarizer)
        print(f"{Path(audio).stem:12} {collar:6.2f} {r.der:6.3f} {r.missed:7.3f} {r.false_alarm:9.3f} "
              f"{r.confusion:9.3f} {r.found_speakers:>4} / {r.reference_speakers}")

    transcriber = Transcriber(TranscriberOptions(diarization=None))
    diarizer = DiarizerProcess()
    print(f"\n{'call':12} {'audio s':>8} {'transcribe s':>13} {'diarize s':>10} {'ratio':>6}")
    total_t = total_d = 0.0
    for audio, _, _ in REFERENCES[1:]:
        samples = load_audio(EVAL / audio).channels[0]
        seconds_t = seconds_d = 0.0
        for _ in range(args.rounds):
            started = time.perf_counter()
            transcriber.transcribe(EVAL / audio, language="en")
            seconds_t += time.perf_counter() - started
            started = time.perf_counter()
            diarizer(samples)
            seconds_d += time.perf_counter() - started
        total_t, total_d = total_t + seconds_t, total_d + seconds_d
        print(f"{Path(audio).stem:12} {len(samples) / 16000:8.1f} {seconds_t / args.rounds:13.2f} "
              f"{seconds_d / args.rounds:10.2f} {seconds_d / seconds_t:6.2f}")
    print(f"{'total':12} {'':8} {total_t / args.rounds:13.2f} {total_d / args.rounds:10.2f} {total_d / total_t:6.2f}")


if __name__ == "__main__":
    main()
